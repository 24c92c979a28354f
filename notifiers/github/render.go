package github

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/tracker"
)

const (
	// GitHub answers 422 to a longer title or body.
	maxTitle = 256
	maxBody  = 65536

	eventPrefix  = "<!-- nodewatch:event="
	familyPrefix = "<!-- nodewatch:family="
	poolPrefix   = "<!-- nodewatch:pool="
	markerSuffix = " -->"

	// zwj keeps GitHub from acting on upstream text: "@\u200dname" reads as @name but
	// mentions no one, "#\u200d12" references nothing.
	zwj = "\u200d"
)

var (
	// reference is what GitHub links to an issue or pull request: #12, GH-12, owner/repo#12.
	reference = regexp.MustCompile(`(?i)(#|\bgh-)(\d)`)
	// autolink starts a link GitHub makes of bare text; a link to an issue references it.
	autolink = regexp.MustCompile(`(?i)://|\bwww\.`)
	// markdown escapes what could format, link, start inline HTML or math, or end a table
	// cell. The text never starts a line, so block syntax (#, -, >) cannot take effect.
	markdown = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
		"|", `\|`, "~", `\~`, "$", `\$`, "<", "&lt;", ">", "&gt;", "&", "&amp;")
	// issueURL is the path of a link GitHub turns into a reference to an issue.
	issueURL    = regexp.MustCompile(`^/[^/]+/[^/]+/(issues|pull|discussions)/\d`)
	destination = strings.NewReplacer("<", "%3C", ">", "%3E", " ", "%20", `\`, "%5C")
)

// neutral makes upstream text inert on GitHub: one line, no mention, no reference, no
// autolink. It is all a title needs; GitHub does not render Markdown there.
func neutral(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	s = strings.ReplaceAll(s, "@", "@"+zwj)
	s = reference.ReplaceAllString(s, "${1}"+zwj+"${2}")
	return autolink.ReplaceAllStringFunc(s, func(m string) string {
		if m == "://" {
			return ":" + zwj + "//"
		}
		return m + zwj
	})
}

// text is upstream text for a Markdown body: inert, and shown as written.
func text(s string) string { return markdown.Replace(neutral(s)) }

// link links label to an upstream URL, or shows the URL as inert text when it is not a
// plain web address or would reference an issue.
func link(label, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || issueURL.MatchString(u.Path) {
		return text(raw)
	}
	return "[" + text(label) + "](<" + destination.Replace(u.String()) + ">)"
}

func eventMarker(key string) string     { return eventPrefix + markerValue(key) + markerSuffix }
func familyMarker(family string) string { return familyPrefix + markerValue(family) + markerSuffix }
func poolMarker(pool string) string     { return poolPrefix + markerValue(pool) + markerSuffix }

// markerValue percent-encodes what could end the comment or the line, so that a marker
// is one line whatever the key holds.
func markerValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '<' || c == '>' || c <= ' ' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// hasLine reports whether body holds line as a line of its own.
func hasLine(body, line string) bool {
	for l := range strings.Lines(body) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// markedEvent returns the key in body's event marker.
func markedEvent(body string) (string, bool) {
	for l := range strings.Lines(body) {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), eventPrefix)
		if v, ok2 := strings.CutSuffix(v, markerSuffix); ok && ok2 {
			key, err := url.PathUnescape(v)
			return key, err == nil
		}
	}
	return "", false
}

// title is the issue title: the message's headline, or a count for a digest.
func title(note tracker.Notification) string {
	if len(note.Messages) != 1 {
		return fmt.Sprintf("nodewatch: %d updates", len(note.Messages))
	}
	t := neutral(headline(note.Messages[0]))
	if utf8.RuneCountInString(t) > maxTitle {
		t = string([]rune(t)[:maxTitle-1]) + "…"
	}
	return t
}

// headline is a message in a few words, as upstream wrote them.
func headline(m tracker.Message) string {
	e := m.Event
	switch e.Kind {
	case tracker.EventNodeImage:
		s := e.Subject + " " + e.Version
		if im := m.Image; im != nil {
			s += ": " + osSummary(im)
			if im.Kernel != nil {
				s += ", kernel " + *im.Kernel
			}
		}
		return s
	case tracker.EventFlatcarRelease:
		return "Flatcar " + e.Version + " in " + e.Subject
	case tracker.EventAKSRelease:
		return "AKS release " + e.Version
	case tracker.EventFamilyAdded:
		return "New AKS node image family " + e.Subject
	case tracker.EventFamilyQuiet:
		return "AKS node image family " + e.Subject + " fell quiet at " + e.Version
	case tracker.EventPoolBehind:
		if p := m.Pool; p != nil && p.ImagesBehind != nil {
			return fmt.Sprintf("%s is %s behind: %s is out", p.Key(), count(*p.ImagesBehind, "image"), newestImage(p))
		}
		return e.Subject + " is behind: " + e.Version + " is out"
	case tracker.EventPoolCurrent:
		if p := m.Pool; p != nil {
			return p.Key() + " caught up: runs " + orDash(p.NodeImageVersion) + ", the newest of " + orDash(p.Family)
		}
		return e.Subject + " caught up: runs " + e.Version
	}
	return e.Subject + " " + e.Version
}

func osSummary(im *tracker.ImageView) string {
	if f := im.Flatcar; f != nil {
		if f.Channel == nil {
			return "Flatcar " + f.Version + " (not in Flatcar's feeds yet)"
		}
		return "Flatcar " + f.Version + " (" + *f.Channel + ")"
	}
	if im.OS.Version == nil {
		return im.OS.Name
	}
	return im.OS.Name + " " + *im.OS.Version
}

// body is the issue body: each message's facts, then the markers. A digest too long for
// GitHub names how many messages it leaves out rather than being refused.
func body(note tracker.Notification) string {
	markers := "\n" + eventMarker(note.Key) + "\n"
	if e := imageEvent(note); e != nil {
		markers += familyMarker(e.Subject) + "\n"
	}
	if e := poolEvent(note); e != nil {
		markers += poolMarker(e.Subject) + "\n"
	}
	var b strings.Builder
	for i, m := range note.Messages {
		var s strings.Builder
		if len(note.Messages) > 1 {
			fmt.Fprintf(&s, "### %s\n\n", text(headline(m)))
		}
		writeMessage(&s, m)
		if i < len(note.Messages)-1 {
			s.WriteString("\n")
		}
		more := fmt.Sprintf("\nAnd %d more, left out: GitHub limits the length of an issue.\n", len(note.Messages)-i)
		if b.Len()+s.Len()+len(more)+len(markers) > maxBody {
			b.WriteString(more)
			break
		}
		b.WriteString(s.String())
	}
	b.WriteString(markers)
	return b.String()
}

func writeMessage(b *strings.Builder, m tracker.Message) {
	switch {
	case m.Image != nil:
		writeImage(b, m.Image, m.SecurityLine())
	case m.Flatcar != nil:
		writeFlatcar(b, m.Flatcar)
	case m.AKS != nil:
		writeAKS(b, m.AKS)
	case m.Family != nil:
		writeFamily(b, m.Event.Kind, m.Family)
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolBehind:
		writePoolBehind(b, m.Pool)
	case m.Pool != nil && m.Event.Kind == tracker.EventPoolCurrent:
		fmt.Fprintf(b, "%s.\n", text(headline(m)))
	default:
		fmt.Fprintf(b, "%s: no details in nodewatch's history.\n", text(headline(m)))
	}
}

func writeFamily(b *strings.Builder, kind tracker.EventKind, f *tracker.FamilyStatus) {
	if kind == tracker.EventFamilyQuiet {
		fmt.Fprintf(b, "The %s family **%s** fell quiet.\n\n", text(f.OSLine), text(f.Family))
	} else {
		fmt.Fprintf(b, "A new %s family appeared upstream: **%s**.\n\n", text(f.OSLine), text(f.Family))
	}
	os := f.OSName
	if f.OSVersion != nil {
		os += " " + *f.OSVersion
	}
	fact(b, "OS", text(os))
	fact(b, "Newest image", text(f.Newest)+" (built "+f.NewestDay.Format(time.DateOnly)+")")
	if f.NodeImageVersion != "" {
		fact(b, "Node image version", text(f.NodeImageVersion))
	}
	if kind == tracker.EventFamilyQuiet {
		fact(b, "Quiet", text(f.QuietText()))
	} else if f.Kernel != nil {
		fact(b, "Kernel", text(*f.Kernel))
	}
	fact(b, "Notes", link("VHD notes", f.NotesURL))
}

// maxPoolChanges is how many changes of a pool's upgrade the body lists; the notes of the
// newest image have the rest.
const maxPoolChanges = 100

func writePoolBehind(b *strings.Builder, p *tracker.NodePool) {
	fmt.Fprintf(b, "Node pool **%s** runs **%s**; **%s** is the newest image of **%s**.\n\n",
		text(p.Key()), text(orDash(p.NodeImageVersion)), text(newestImage(p)), text(orDash(p.Family)))
	fact(b, "Cluster", text(orDash(p.Cluster)))
	fact(b, "Pool", text(p.Pool))
	fact(b, "Nodes", fmt.Sprint(p.Nodes))
	fact(b, "Runs", text(orDash(p.NodeImageVersion)))
	fact(b, "Newest image", text(newestImage(p)))
	var behind []string
	if p.ImagesBehind != nil {
		behind = append(behind, count(*p.ImagesBehind, "image"))
	}
	if p.DaysBehind != nil {
		behind = append(behind, count(*p.DaysBehind, "day"))
	}
	if len(behind) > 0 {
		fact(b, "Behind", strings.Join(behind, ", "))
	}
	fact(b, "Kernel running", text(orUnknown(p.RunningKernel())))
	kernel := ""
	if p.NewestKernel != nil {
		kernel = *p.NewestKernel
	}
	fact(b, "Newest kernel", text(orUnknown(kernel)))
	if p.NewestNotesURL != "" {
		fact(b, "Notes", link("VHD notes of the newest image", p.NewestNotesURL))
	}
	for _, n := range p.Notes {
		fact(b, "Note", text(n))
	}
	if len(p.Changes) == 0 {
		return
	}
	fmt.Fprintf(b, "\nThe upgrade to %s changes:\n\n| What | From | To |\n| --- | --- | --- |\n", text(newestImage(p)))
	for i, c := range p.Changes {
		if i == maxPoolChanges {
			fmt.Fprintf(b, "\nAnd %d more: see the notes of the newest image.\n", len(p.Changes)-i)
			break
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", text(c.What), text(orDash(c.From)), text(orDash(c.To)))
	}
}

// newestImage is the newest image of a pool's family as AKS names it, or its version.
func newestImage(p *tracker.NodePool) string {
	if p.NewestNodeImageVersion != "" {
		return p.NewestNodeImageVersion
	}
	if p.Newest != nil {
		return *p.Newest
	}
	return "-"
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func writeImage(b *strings.Builder, im *tracker.ImageView, securityLine string) {
	fmt.Fprintf(b, "New node image **%s** of **%s**.\n\n", text(im.Version), text(im.Family))
	os := im.OS.Name
	if im.OS.Version != nil {
		os += " " + *im.OS.Version
	}
	fact(b, "OS", text(os))
	if im.Kernel != nil {
		fact(b, "Kernel", text(*im.Kernel))
	} else {
		fact(b, "Kernel", "none named in the notes")
	}
	if im.Flatcar != nil {
		fact(b, "Flatcar", flatcarFacts(im.Flatcar))
	}
	if im.NodeImageVersion != "" {
		fact(b, "Node image version", text(im.NodeImageVersion))
	}
	if im.BuildTime != nil {
		fact(b, "Built", timestamp(*im.BuildTime))
	}
	if line := securityLine; line != "" {
		fact(b, "Security", text(line)+" (`nodewatch show "+text(im.NodeImageVersion)+"` lists them)")
	}
	fact(b, "Notes", link("VHD notes", im.NotesURL))
	b.WriteString("\n")
	switch {
	case im.Previous == nil:
		b.WriteString("The first image of the family nodewatch has seen: nothing to compare with.\n")
	case len(im.Changes) == 0:
		fmt.Fprintf(b, "No change against %s.\n", text(*im.Previous))
	default:
		fmt.Fprintf(b, "Changes against %s:\n\n| What | From | To |\n| --- | --- | --- |\n", text(*im.Previous))
		for _, c := range im.Changes {
			fmt.Fprintf(b, "| %s | %s | %s |\n", text(c.What), text(orDash(c.From)), text(orDash(c.To)))
		}
	}
}

func flatcarFacts(f *tracker.FlatcarLink) string {
	if f.Channel == nil {
		return text(f.Version) + " (not in Flatcar's release feeds yet)"
	}
	s := fmt.Sprintf("%s from the %s channel", text(f.Version), text(*f.Channel))
	if f.ReleasedAt != nil {
		s += ", released " + timestamp(*f.ReleasedAt)
	}
	if d := f.DaysAfterRelease; d != nil {
		s += fmt.Sprintf("; the image was built %d days after the release", *d)
	}
	var newest []string
	if f.ChannelLatest != nil {
		newest = append(newest, text(*f.Channel)+" "+text(*f.ChannelLatest))
	}
	if f.StableLatest != nil && *f.Channel != "stable" {
		newest = append(newest, "stable "+text(*f.StableLatest))
	}
	if len(newest) > 0 {
		s += "; newest on the build day: " + strings.Join(newest, ", ")
	}
	return s
}

func writeFlatcar(b *strings.Builder, r *tracker.FlatcarRelease) {
	fmt.Fprintf(b, "New Flatcar Container Linux release **%s** in the **%s** channel.\n\n", text(r.Version), text(r.Channel))
	fact(b, "Released", timestamp(r.ReleasedAt))
	for _, f := range []struct{ label, value string }{
		{"Kernel", r.Kernel}, {"containerd", r.Containerd}, {"systemd", r.Systemd},
		{"Architectures", strings.Join(r.Architectures, ", ")},
	} {
		if f.value != "" {
			fact(b, f.label, text(f.value))
		}
	}
	if r.NotesURL != "" {
		fact(b, "Notes", link("release notes", r.NotesURL))
	}
}

func writeAKS(b *strings.Builder, r *tracker.AKSRelease) {
	fmt.Fprintf(b, "New AKS release **%s**", text(r.Tag))
	if r.Name != "" && r.Name != r.Tag {
		fmt.Fprintf(b, " (%s)", text(r.Name))
	}
	fmt.Fprintf(b, ", published %s: %s.\n\n", timestamp(r.PublishedAt), link("release notes", r.URL))
	if len(r.NodeImages) == 0 {
		b.WriteString("It names no node image versions.\n")
		return
	}
	b.WriteString("| Node image | Version |\n| --- | --- |\n")
	for _, n := range r.NodeImages {
		fmt.Fprintf(b, "| %s | %s |\n", text(n.OS), text(n.Version))
	}
}

func fact(b *strings.Builder, label, value string) { fmt.Fprintf(b, "- **%s:** %s\n", label, value) }

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
