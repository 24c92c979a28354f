package slack

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/nodewatch/nodewatch/tracker"
)

// Slack's documented limits, in characters, that text here could reach: Slack rejects a
// message over them (invalid_blocks), except the fallback text, which it cuts. Fields
// (2000 characters, 10 a section) and blocks (50) stay far below theirs: a message has
// at most 4 fields of a few short values, a digest at most maxDigest+2 blocks.
const (
	maxHeader   = 150
	maxText     = 3000 // a section's or context element's text
	maxFallback = 40000
)

// What a message shows, kept small enough that every block fits the limits above by
// construction, whatever upstream writes.
const (
	maxValue              = 150  // one upstream value: an OS name, a version, a version list
	maxURL                = 500  // a longer upstream URL is shown as text, not linked
	maxChanges            = 12   // changes listed in full
	maxPoolChanges        = 8    // changes a pool's upgrade brings, listed in full
	maxGroups             = 10   // lines of an AKS release's node images, one per OS
	maxPerGroup           = 6    // versions of one OS on such a line
	maxDigest             = 20   // messages of a digest shown in a section each
	maxInline             = 6    // changes or node images on one line of a digest entry
	maxLine               = 800  // such a line
	maxSummary            = 2000 // a message of no known kind, as its summary
	maxDigestFallbackLine = 4000 // one message's line in a digest's fallback text
)

// escaper is Slack's escaping: with &, < and > escaped, upstream text can neither
// mention (<!channel>, <@U123>) nor link (<https://x|y>). slack-go escapes nothing in blocks.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// urlText makes a URL safe inside <url|text>: | would end the URL, > the link.
var urlText = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20")

// esc makes upstream text inert: one line, escaped, at most max characters.
func esc(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return clip(escaper.Replace(s), max)
}

// clip cuts escaped text to max characters ending in "…", never inside an entity.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	cut := 0
	for range max - 1 {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
	}
	// Escaped text has & only where an entity starts, and every entity ends in ;.
	if amp := strings.LastIndexByte(s[:cut], '&'); amp >= 0 && !strings.Contains(s[amp:cut], ";") {
		cut = amp
	}
	return s[:cut] + "…"
}

// link links label to an upstream URL, or shows both as text when the URL is not a
// plain web address. A | in the label would end the link's text: it becomes ¦.
func link(raw, label string) string {
	label = esc(strings.ReplaceAll(label, "|", "¦"), maxValue)
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > maxURL {
		if raw == "" {
			return label
		}
		return label + " " + esc(raw, maxValue)
	}
	return "<" + urlText.Replace(u.String()) + "|" + label + ">"
}

// list joins items while they fit in limit characters and, when maxItems (0: any
// number) or the limit stops it, ends with more(number of items left).
func list(items []string, sep string, limit, maxItems int, more func(left int) string) string {
	var b strings.Builder
	n := 0
	for i, it := range items {
		next := utf8.RuneCountInString(it)
		if i > 0 {
			next += utf8.RuneCountInString(sep)
		}
		if left := len(items) - i - 1; left > 0 {
			next += utf8.RuneCountInString(sep + more(left))
		}
		if (maxItems > 0 && i == maxItems) || n+next > limit {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(more(len(items) - i))
			break
		}
		if i > 0 {
			b.WriteString(sep)
			n += utf8.RuneCountInString(sep)
		}
		b.WriteString(it)
		n += utf8.RuneCountInString(it)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func header(raw string) slackapi.Block {
	return slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, esc(raw, maxHeader), false, false))
}

// mrkdwn is a text object of built text. Verbatim keeps Slack from turning bare words
// into mentions, channel links or links: every link is one this package built.
func mrkdwn(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, true)
}

func section(text string) slackapi.Block { return slackapi.NewSectionBlock(mrkdwn(text), nil, nil) }

func footer(text string) slackapi.Block { return slackapi.NewContextBlock("", mrkdwn(text)) }

func field(name, value string) *slackapi.TextBlockObject { return mrkdwn("*" + name + "*\n" + value) }

// render turns a notification's messages into blocks and the fallback text Slack shows
// in notifications: one message in full, several as a digest.
func render(msgs []tracker.Message) ([]slackapi.Block, string) {
	if len(msgs) == 1 {
		return full(msgs[0]), esc(msgs[0].Summary(), maxFallback)
	}
	head := fmt.Sprintf("nodewatch: %d updates", len(msgs))
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		lines[i] = esc(m.Summary(), maxDigestFallbackLine)
	}
	text := head + "\n" + list(lines, "\n", maxFallback-len(head)-1, 0, func(left int) string { return fmt.Sprintf("…and %d more", left) })

	blocks := []slackapi.Block{header(head)}
	for _, m := range msgs[:min(len(msgs), maxDigest)] {
		blocks = append(blocks, section(compact(m)))
	}
	if rest := msgs[min(len(msgs), maxDigest):]; len(rest) > 0 {
		links := make([]string, len(rest))
		for i, m := range rest {
			links[i] = link(source(m), m.Event.Subject+" "+m.Event.Version)
		}
		intro := fmt.Sprintf("*…and %d more:* ", len(rest))
		blocks = append(blocks, section(intro+list(links, ", ", maxText-len(intro), 0, func(left int) string { return fmt.Sprintf("and %d more", left) })))
	}
	return blocks, text
}

func title(m tracker.Message) string {
	switch m.Event.Kind {
	case tracker.EventNodeImage:
		return "New AKS node image " + m.Event.Subject + " " + m.Event.Version
	case tracker.EventFlatcarRelease:
		return "Flatcar " + m.Event.Version + " in " + m.Event.Subject
	case tracker.EventAKSRelease:
		return "AKS release " + m.Event.Version
	case tracker.EventFamilyAdded:
		return "New AKS node image family " + m.Event.Subject
	case tracker.EventFamilyQuiet:
		return "AKS node image family " + m.Event.Subject + " fell quiet"
	case tracker.EventPoolBehind:
		if p := m.Pool; p != nil && p.ImagesBehind != nil {
			return p.Key() + " is " + plural(*p.ImagesBehind, "image", "images") + " behind"
		}
		return m.Event.Subject + " is behind " + m.Event.Version
	case tracker.EventPoolCurrent:
		return m.Event.Subject + " caught up"
	}
	return fmt.Sprintf("%s %s %s", m.Event.Kind, m.Event.Subject, m.Event.Version)
}

// source is the upstream page a message is about.
func source(m tracker.Message) string {
	switch {
	case m.Image != nil:
		return m.Image.NotesURL
	case m.Flatcar != nil:
		return m.Flatcar.NotesURL
	case m.AKS != nil:
		return m.AKS.URL
	case m.Family != nil:
		return m.Family.NotesURL
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolBehind:
		return m.Pool.NewestNotesURL
	}
	return ""
}

func full(m tracker.Message) []slackapi.Block {
	if m.Pool != nil && m.Event.Kind == tracker.EventPoolCurrent {
		return []slackapi.Block{section(caughtUp(m.Pool))}
	}
	blocks := []slackapi.Block{header(title(m))}
	switch {
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolBehind:
		blocks = append(blocks, poolBlocks(m.Pool)...)
	case m.Image != nil:
		blocks = append(blocks, imageBlocks(m.Image, m.SecurityLine())...)
	case m.Flatcar != nil:
		r := m.Flatcar
		blocks = append(blocks, slackapi.NewSectionBlock(nil, []*slackapi.TextBlockObject{
			field("Kernel", orNone(r.Kernel)), field("containerd", orNone(r.Containerd)),
			field("systemd", orNone(r.Systemd)), field("Released", r.ReleasedAt.UTC().Format(time.RFC3339)),
		}, nil))
	case m.AKS != nil:
		r := m.AKS
		blocks = append(blocks,
			slackapi.NewSectionBlock(nil, []*slackapi.TextBlockObject{field("Published", r.PublishedAt.UTC().Format(time.RFC3339))}, nil),
			section(aksImages(r)))
	case m.Family != nil:
		blocks = append(blocks, familyBlocks(m.Event.Kind, m.Family))
	default:
		blocks = append(blocks, section(esc(m.Summary(), maxText)))
	}
	if src := source(m); src != "" {
		blocks = append(blocks, footer(link(src, "Release notes")))
	}
	return blocks
}

// poolBlocks are the facts of a pool behind the newest image of its family: what it
// runs, what it would run, how far apart they are, and what the upgrade changes.
func poolBlocks(p *tracker.NodePool) []slackapi.Block {
	fields := []*slackapi.TextBlockObject{
		field("Runs", esc(orDash(p.NodeImageVersion), maxValue)),
		field("Newest image", esc(newestImage(p), maxValue)),
		field("Behind", behindText(p)),
		field("Nodes", fmt.Sprint(p.Nodes)),
		field("Kernel running", kernelOrUnknown(p.RunningKernel())),
		field("Newest kernel", kernelOrUnknown(deref(p.NewestKernel))),
	}
	blocks := []slackapi.Block{slackapi.NewSectionBlock(nil, fields, nil)}
	if len(p.Changes) > 0 {
		head := "*What changes*\n"
		lines := make([]string, len(p.Changes))
		for i, c := range p.Changes {
			lines[i] = clip("• "+changeText(c), maxLine)
		}
		more := func(left int) string {
			return fmt.Sprintf("…and %d more in the %s", left, link(p.NewestNotesURL, "notes of "+newestImage(p)))
		}
		blocks = append(blocks, section(head+list(lines, "\n", maxText-utf8.RuneCountInString(head), maxPoolChanges, more)))
	}
	if len(p.Notes) > 0 {
		notes := make([]string, len(p.Notes))
		for i, n := range p.Notes {
			notes[i] = esc(n, maxLine)
		}
		blocks = append(blocks, footer(list(notes, " · ", maxText, 0, func(left int) string { return fmt.Sprintf("and %d more notes", left) })))
	}
	return blocks
}

// caughtUp is the one line of a pool that now runs the newest image of its family.
func caughtUp(p *tracker.NodePool) string {
	return "*" + esc(p.Key(), maxValue) + "* caught up: runs " + esc(orDash(p.NodeImageVersion), maxValue) +
		", the newest of " + esc(orDash(p.Family), maxValue)
}

// newestImage is the newest image of a pool's family as AKS names it, or its version.
func newestImage(p *tracker.NodePool) string {
	if p.NewestNodeImageVersion != "" {
		return p.NewestNodeImageVersion
	}
	return deref(p.Newest)
}

// behindText is how far a pool is behind: "3 images, 22 days".
func behindText(p *tracker.NodePool) string {
	var parts []string
	if p.ImagesBehind != nil {
		parts = append(parts, plural(*p.ImagesBehind, "image", "images"))
	}
	if p.DaysBehind != nil {
		parts = append(parts, plural(*p.DaysBehind, "day", "days"))
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

func kernelOrUnknown(k string) string {
	if k == "" {
		return "unknown"
	}
	return esc(k, maxValue)
}

// changeText is one change, escaped, read compactly: a component whose versions are
// lists ("1.32.19, 1.33.5") names what goes (-) and what comes (+); one version to
// another reads "a → b".
func changeText(c tracker.Change) string {
	what := esc(c.What, maxValue)
	if !strings.Contains(c.From, ",") && !strings.Contains(c.To, ",") && c.From != "" && c.To != "" {
		return what + " " + esc(c.From, maxValue) + " → " + esc(c.To, maxValue)
	}
	from, to := splitList(c.From), splitList(c.To)
	var parts []string
	for _, v := range from {
		if !slices.Contains(to, v) {
			parts = append(parts, "-"+esc(v, maxValue))
		}
	}
	for _, v := range to {
		if !slices.Contains(from, v) {
			parts = append(parts, "+"+esc(v, maxValue))
		}
	}
	if len(parts) == 0 {
		return what + " reordered"
	}
	return what + " " + strings.Join(parts, " ")
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// familyBlocks are the facts of a family that appeared or fell quiet.
func familyBlocks(kind tracker.EventKind, f *tracker.FamilyStatus) slackapi.Block {
	os := tracker.OS{Name: f.OSName, Version: f.OSVersion}
	fields := []*slackapi.TextBlockObject{field("OS", osText(os)), field("Newest image", esc(f.Newest, maxValue))}
	if f.NodeImageVersion != "" {
		fields = append(fields, field("Node image version", esc(f.NodeImageVersion, maxValue)))
	}
	if kind == tracker.EventFamilyQuiet {
		interval := "unknown (one image)"
		if f.IntervalDays != nil {
			interval = fmt.Sprintf("%.1f days", *f.IntervalDays)
		}
		fields = append(fields, field("Built", f.NewestDay.Format(time.DateOnly)),
			field("Quiet for", fmt.Sprintf("%d days", f.BehindDays)), field("Usual interval", interval))
	} else {
		fields = append(fields, field("Kernel", kernelText(f.Kernel)))
	}
	return slackapi.NewSectionBlock(nil, fields, nil)
}

func imageBlocks(im *tracker.ImageView, securityLine string) []slackapi.Block {
	fields := []*slackapi.TextBlockObject{field("OS", osText(im.OS)), field("Kernel", kernelText(im.Kernel))}
	if im.Flatcar != nil {
		fields = append(fields, field("Flatcar", flatcarText(im.Flatcar)))
	}
	if im.NodeImageVersion != "" {
		fields = append(fields, field("Node image version", esc(im.NodeImageVersion, maxValue)))
	}
	blocks := []slackapi.Block{slackapi.NewSectionBlock(nil, fields, nil)}
	if line := securityLine; line != "" {
		blocks = append(blocks, section("*Security:* "+esc(line, maxText/2)))
	}
	if im.Previous == nil {
		return blocks
	}
	head := "*Changes since " + esc(*im.Previous, maxValue) + "*\n"
	if len(im.Changes) == 0 {
		return append(blocks, section(head+"none in the OS version, the kernel or a component both notes list"))
	}
	lines := make([]string, len(im.Changes))
	for i, c := range im.Changes {
		lines[i] = "• " + esc(c.What, maxValue) + " " + esc(orDash(c.From), 2*maxValue) + " → " + esc(orDash(c.To), 2*maxValue)
	}
	more := func(left int) string {
		return fmt.Sprintf("…and %d more in the %s", left, link(im.NotesURL, "notes"))
	}
	return append(blocks, section(head+list(lines, "\n", maxText-utf8.RuneCountInString(head), maxChanges, more)))
}

func osText(o tracker.OS) string {
	v := "(version unknown)"
	if o.Version != nil {
		v = esc(*o.Version, maxValue)
	}
	return esc(o.Name, maxValue) + " " + v
}

func kernelText(k *string) string {
	if k == nil {
		return "none named"
	}
	return esc(*k, maxValue)
}

func flatcarText(f *tracker.FlatcarLink) string {
	s := esc(f.Version, maxValue)
	if f.Channel == nil || f.ReleasedAt == nil {
		return s + ", not in Flatcar's feeds yet"
	}
	s += " in " + esc(*f.Channel, maxValue) + ", released " + f.ReleasedAt.UTC().Format(time.DateOnly)
	if f.DaysAfterRelease != nil {
		s += ": " + plural(*f.DaysAfterRelease, "day", "days") + " old at build"
	}
	if f.ChannelLatest != nil && *f.ChannelLatest != f.Version {
		s += " (newest in " + esc(*f.Channel, maxValue) + " then: " + esc(*f.ChannelLatest, maxValue) + ")"
	}
	return s
}

// aksImages lists an AKS release's node images, one line per OS in the order named.
func aksImages(r *tracker.AKSRelease) string {
	if len(r.NodeImages) == 0 {
		return "*Node images*\nnone named"
	}
	var oses []string
	versions := map[string][]string{}
	for _, n := range r.NodeImages {
		if _, ok := versions[n.OS]; !ok {
			oses = append(oses, n.OS)
		}
		versions[n.OS] = append(versions[n.OS], esc(n.Version, maxValue))
	}
	lines := make([]string, len(oses))
	for i, o := range oses {
		lines[i] = "• " + esc(o, maxValue) + ": " + list(versions[o], ", ", maxLine, maxPerGroup, func(left int) string { return fmt.Sprintf("and %d more", left) })
	}
	more := func(left int) string {
		n := 0
		for _, o := range oses[len(oses)-left:] {
			n += len(versions[o])
		}
		return fmt.Sprintf("…and %d more in the %s", n, link(r.URL, "release"))
	}
	head := "*Node images*\n"
	return head + list(lines, "\n", maxText-len(head), maxGroups, more)
}

// compact is a digest's entry for a message: a linked title and a line or two.
func compact(m tracker.Message) string {
	lines := []string{"*" + link(source(m), title(m)) + "*"}
	switch {
	case m.Image != nil:
		im := m.Image
		lines = append(lines, osText(im.OS)+" · kernel "+kernelText(im.Kernel))
		if im.Flatcar != nil {
			lines = append(lines, "Flatcar "+flatcarText(im.Flatcar))
		}
		if im.Previous != nil && len(im.Changes) > 0 {
			changes := make([]string, len(im.Changes))
			for i, c := range im.Changes {
				changes[i] = esc(c.What, maxValue)
				if c.What == "os.version" || c.What == "kernel" || c.What == "flatcar" {
					changes[i] += " " + esc(orDash(c.From), maxValue) + " → " + esc(orDash(c.To), maxValue)
				}
			}
			lines = append(lines, "Since "+esc(*im.Previous, maxValue)+": "+list(changes, ", ", maxLine, maxInline, func(left int) string { return fmt.Sprintf("and %d more", left) }))
		}
	case m.Flatcar != nil:
		r := m.Flatcar
		lines = append(lines, "kernel "+orNone(r.Kernel)+" · containerd "+orNone(r.Containerd)+" · systemd "+orNone(r.Systemd)+
			" · released "+r.ReleasedAt.UTC().Format(time.DateOnly))
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolCurrent:
		return caughtUp(m.Pool)
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolBehind:
		p := m.Pool
		lines = append(lines, "runs "+esc(orDash(p.NodeImageVersion), maxValue)+" · newest "+esc(newestImage(p), maxValue)+
			" · "+behindText(p)+" · "+plural(p.Nodes, "node", "nodes")+
			" · kernel "+kernelOrUnknown(p.RunningKernel())+" → "+kernelOrUnknown(deref(p.NewestKernel)))
		if len(p.Changes) > 0 {
			changes := make([]string, len(p.Changes))
			for i, c := range p.Changes {
				changes[i] = clip(changeText(c), maxLine/4)
			}
			lines = append(lines, "Changes: "+list(changes, ", ", maxLine, maxInline, func(left int) string { return fmt.Sprintf("and %d more", left) }))
		}
	case m.AKS != nil:
		r := m.AKS
		refs := make([]string, len(r.NodeImages))
		for i, n := range r.NodeImages {
			refs[i] = esc(n.OS, maxValue) + " " + esc(n.Version, maxValue)
		}
		line := "published " + r.PublishedAt.UTC().Format(time.DateOnly)
		if len(refs) > 0 {
			line += " · node images " + list(refs, ", ", maxLine, maxInline, func(left int) string { return fmt.Sprintf("and %d more", left) })
		}
		lines = append(lines, line)
	default:
		lines = append(lines, esc(m.Summary(), maxSummary))
	}
	return strings.Join(lines, "\n")
}

func orNone(s string) string {
	if s == "" {
		return "not listed"
	}
	return esc(s, maxValue)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
