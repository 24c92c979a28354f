package flatcar

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/nodewatch/nodewatch/tracker"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A release note is read for its "Security fixes" in two steps: a front end per format
// (markdownBlocks for the JSON's release_notes, htmlBlocks for the feed's content, which
// is HTML rendered from the same markdown) turns the note into noteBlocks, and
// securityOf applies the rules once, to either.

type blockKind int

const (
	blockText    blockKind = iota // a paragraph (HTML <p>) or a run of markdown lines
	blockHeading                  // a markdown or HTML heading, or a line that is all bold
	blockItem                     // a list item, without the lists nested in it
)

// noteBlock is one block of a release note.
type noteBlock struct {
	kind  blockKind
	depth int       // items: 0 for a top-level list, 1 for a list nested in an item, ...
	segs  []segment // the block's inline text, in order (HTML)
	md    string    // or its markdown source, read when needed (most items never are)
	raw   string    // headings: as written (a markdown line, or the HTML element's tag and text)
}

// segment is a run of inline text: a link when href is set, plain text otherwise.
type segment struct {
	text, href string
}

// segments returns the block's inline text.
func (b noteBlock) segments() []segment {
	if b.md != "" {
		return mdInline(b.md)
	}
	return b.segs
}

func (b noteBlock) text() string {
	var sb strings.Builder
	for _, s := range b.segments() {
		sb.WriteString(s.text)
	}
	return strings.Join(strings.Fields(sb.String()), " ")
}

var (
	// CAN- is the candidate spelling of a CVE id, which some notes still write
	// (4820.0.0: "unzip (CAN-2026-2034440, ...)").
	cveRe     = regexp.MustCompile(`(?i)\b(?:CVE|CAN)-\d{4}-\d{4,}\b`)
	ghsaRe    = regexp.MustCompile(`(?i)\bGHSA(-[0-9a-z]{4}){3}\b`)
	bareURLRe = regexp.MustCompile(`https?://[^\s()<>]+`)
	// idTokenRe is a link text that is an upstream id: one word with a letter and a
	// digit, such as libarchive-1565, GNUTLS-SA-2022-01-17 or Gentoo#866237.
	idTokenRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+#-]*$`)
	// partRe is the line that opens a part of a note: "_Changes since **Alpha 4669.0.0**_",
	// "Changes compared to **Stable 3139.2.3**".
	partRe = regexp.MustCompile(`(?i)^changes (since|compared to)\b`)
	// noneRe is an item saying there is nothing: "No changes since Alpha 2705.0.0".
	noneRe = regexp.MustCompile(`(?i)^(no\b|none\b|nothing\b|n/a\b)`)
)

// isSecurityHeading reports whether a heading's text opens the security section, in any
// spelling: "Security fixes:", "**Security Fixes**", "Security updates", "CVEs fixed".
func isSecurityHeading(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "security") || strings.Contains(t, "cve") || strings.Contains(t, "vulnerab")
}

// isPlainHeading reports whether a paragraph of plain text is a heading in the old
// style of the notes, "Security fixes:", "Bug fixes", "Updates:": a few words, no link,
// no sentence.
func isPlainHeading(b noteBlock) bool {
	for _, s := range b.segments() {
		if s.href != "" {
			return false
		}
	}
	t := b.text()
	if t == "" || len(t) > 40 || !unicode.IsLetter([]rune(t)[0]) || strings.HasSuffix(t, ".") || advisoryIDs(t) != nil {
		return false
	}
	return strings.HasSuffix(t, ":") || len(strings.Fields(t)) <= 4
}

// securitySection is what securityOf found.
type securitySection struct {
	found      bool     // a security heading in the note's first part
	headings   []string // the headings as written
	advisories []tracker.Advisory
	unreadable []string // blocks that name nothing and do not say "no changes"
	said       bool     // some block says there is nothing, or lists ids below it
}

// securityOf reads the "Security fixes" of a note's first part: everything up to the
// second "Changes since" (or "Changes compared to") line, as notes repeat earlier
// releases' changes below it. A section runs from its heading to the next heading.
// Each item gives its ids (see itemIDs) and its package (see packageOf; a nested item
// takes its parent's). Advisories come in the order of the note, each (id, package) once.
func securityOf(blocks []noteBlock, version string) securitySection {
	var sec securitySection
	seen := make(map[tracker.Advisory]bool)
	parts := 0
	in := false
	var parents []string // the package of the last item at each depth
	for i, b := range blocks {
		if b.kind != blockItem && partRe.MatchString(strings.Trim(b.text(), "_* ")) {
			if parts++; parts > 1 {
				break
			}
			in = false
			continue
		}
		if b.kind == blockItem && !in {
			continue
		}
		if b.kind == blockHeading || b.kind == blockText && isPlainHeading(b) {
			in = isSecurityHeading(b.text())
			if in {
				sec.found = true
				sec.headings = append(sec.headings, b.raw)
				parents = parents[:0]
			}
			continue
		}
		if !in {
			continue
		}
		depth := 0
		if b.kind == blockItem {
			depth = b.depth
		}
		ids, first := itemIDs(b.segments())
		pkg := packageOf(first)
		if depth > 0 && depth <= len(parents) && parents[depth-1] != "" {
			pkg = parents[depth-1]
		}
		parents = append(parents[:min(depth, len(parents))], pkg)
		if len(ids) == 0 {
			// A package line such as "* Linux" has its ids in the items below it;
			// "No changes since Alpha 2705.0.0" says there are none.
			parent := b.kind == blockItem && i+1 < len(blocks) && blocks[i+1].kind == blockItem && blocks[i+1].depth > depth
			if !parent && !noneRe.MatchString(b.text()) {
				sec.unreadable = append(sec.unreadable, b.text())
			} else {
				sec.said = true
			}
			continue
		}
		for _, id := range ids {
			a := tracker.Advisory{ID: id, Package: pkg, In: version}
			if !seen[a] {
				seen[a] = true
				sec.advisories = append(sec.advisories, a)
			}
		}
	}
	return sec
}

// itemIDs returns the advisory ids of an item, and the text before the first of them
// (where the package is named). A link gives the CVE or GHSA ids of its text, or its
// text when that is one id-like word (libarchive-1565, Gentoo#866237); plain text gives
// the CVE and GHSA ids written bare. A reference with no id (a link to a mailing-list
// post, "[multiple vulnerabilities](https://...)", a bare URL) gives its URL, but only
// when the item names no id at all: next to ids it is the announcement of those ids.
func itemIDs(segs []segment) (ids []string, before string) {
	var urls []string
	var prefix strings.Builder
	found := false
	mark := func() {
		if !found {
			found = true
			before = prefix.String()
		}
	}
	for _, s := range segs {
		if s.href != "" {
			text := strings.TrimSpace(s.text)
			if m := advisoryIDs(text); len(m) > 0 {
				mark()
				ids = append(ids, m...)
			} else if isIDToken(text) {
				mark()
				ids = append(ids, text)
			} else {
				mark()
				urls = append(urls, s.href)
			}
			prefix.WriteString(s.text)
			continue
		}
		type hit struct {
			at  int
			id  string
			url bool
		}
		var hits []hit
		for _, loc := range cveRe.FindAllStringIndex(s.text, -1) {
			hits = append(hits, hit{loc[0], strings.ToUpper(s.text[loc[0]:loc[1]]), false})
		}
		for _, loc := range ghsaRe.FindAllStringIndex(s.text, -1) {
			hits = append(hits, hit{loc[0], normalGHSA(s.text[loc[0]:loc[1]]), false})
		}
		for _, loc := range bareURLRe.FindAllStringIndex(s.text, -1) {
			u := strings.TrimRight(s.text[loc[0]:loc[1]], ".,;:")
			hits = append(hits, hit{loc[0], u, true})
		}
		if len(hits) == 0 {
			prefix.WriteString(s.text)
			continue
		}
		first := hits[0].at
		for _, h := range hits {
			first = min(first, h.at)
		}
		if !found {
			prefix.WriteString(s.text[:first])
			mark()
		}
		// in the order written
		for len(hits) > 0 {
			j := 0
			for i := range hits {
				if hits[i].at < hits[j].at {
					j = i
				}
			}
			h := hits[j]
			hits = append(hits[:j], hits[j+1:]...)
			if h.url {
				if advisoryIDs(h.id) == nil {
					urls = append(urls, h.id)
				}
			} else {
				ids = append(ids, h.id)
			}
		}
		prefix.WriteString(s.text[first:])
	}
	if !found {
		before = prefix.String()
	}
	if len(ids) == 0 {
		ids = urls
	}
	return ids, before
}

// advisoryIDs returns the CVE and GHSA ids in s, in their usual spelling.
func advisoryIDs(s string) []string {
	var ids []string
	for _, m := range cveRe.FindAllString(s, -1) {
		ids = append(ids, strings.ToUpper(m))
	}
	for _, m := range ghsaRe.FindAllString(s, -1) {
		ids = append(ids, normalGHSA(m))
	}
	return ids
}

func normalGHSA(s string) string { return "GHSA" + strings.ToLower(s[4:]) }

func isIDToken(s string) bool {
	if len(s) > 48 || !idTokenRe.MatchString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsLetter) >= 0 && strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// packageOf reads the package an item names before its first id: "Linux (", "SDK:
// nasm (", "Linux kernel:", "curl - ", "Bind: fixes for ", "azure, dev: python (", or
// in the oldest notes "Fix curl out of bounds read (", "Fix heap-based buffer over-read
// in libexpat (". Prose that names no package gives "".
func packageOf(before string) string {
	p, _, _ := strings.Cut(before, "(")
	p = strings.Join(strings.Fields(p), " ")
	p = strings.TrimRight(p, " -–:,[")
	if name, rest, ok := strings.Cut(p, ": "); ok {
		if len(strings.Fields(rest)) > 1 {
			return cleanPackage(name) // "Bind: fixes for", "Linux kernel: Fix AF_PACKET overflow in tpacket_rcv"
		}
		return cleanPackage(p) // "SDK: nasm", "sysext-podman: podman"
	}
	words := strings.Fields(p)
	if len(words) > 1 {
		switch strings.ToLower(words[0]) {
		case "fix", "fixes", "fixed", "downgraded", "updated", "upgraded":
			rest := words[1:]
			for len(rest) > 1 && fillers[strings.ToLower(rest[0])] {
				rest = rest[1:]
			}
			if !descriptive[strings.ToLower(strings.Trim(rest[0], "`*_,.:"))] {
				return cleanPackage(rest[0]) // "Fix curl out of bounds read"
			}
			return packageIn(words) // "Fix race condition in Intel microprocessors"
		}
	}
	if len(words) > 4 {
		return packageIn(words) // "Use secure_getenv to fix a vulnerability around XDG_SEAT in pam_systemd"
	}
	if len(words) == 0 {
		return ""
	}
	switch strings.ToLower(words[len(words)-1]) {
	case "to", "for", "of", "in", "and", "with": // "Similar to [CVE-2020-5260], ..."
		return ""
	}
	return cleanPackage(p)
}

var (
	fillers = map[string]bool{"a": true, "an": true, "the": true, "multiple": true, "several": true}
	// descriptive are the words "Fix ..." starts with in the old notes when it does not
	// name the package first.
	descriptive = map[string]bool{"race": true, "heap-based": true, "stack-based": true, "panic": true,
		"incorrect": true, "code": true, "denial-of-service": true, "buffer": true, "memory": true,
		"integer": true, "use-after-free": true, "privilege": true, "remote": true, "local": true,
		"out-of-bounds": true, "vulnerability": true, "vulnerabilities": true, "issue": true, "issues": true,
		"security": true, "crash": true}
)

// packageIn returns the word after the last "in" of prose, or "".
func packageIn(words []string) string {
	for i := len(words) - 2; i >= 0; i-- {
		if words[i] == "in" {
			return cleanPackage(words[i+1])
		}
	}
	return ""
}

func cleanPackage(p string) string { return strings.Trim(p, "`*_,.: ") }

// releaseSecurity reads a release's advisories from its blocks. A note without a
// security section has none; a section from which nothing could be read is an error
// (the caller names the channel and the release), and what could be read is kept.
func releaseSecurity(blocks []noteBlock, version string) ([]tracker.Advisory, error) {
	sec := securityOf(blocks, version)
	if !sec.found {
		return nil, nil
	}
	switch {
	case len(sec.advisories) > 0:
	case len(sec.unreadable) > 0:
		return nil, fmt.Errorf("security section %q: no advisory could be read from %q", sec.headings[0], sec.unreadable[0])
	case !sec.said:
		return nil, fmt.Errorf("security section %q is empty", sec.headings[0])
	}
	return sec.advisories, nil
}

// ---- markdown

var (
	mdHeadingRe = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	mdBoldRe    = regexp.MustCompile(`^(?:\*\*|__)(.+?)(?:\*\*|__)\s*(:?)\s*$`)
	mdRuleRe    = regexp.MustCompile(`^ {0,3}([-*_])(\s*([-*_]))*\s*$`)
)

// markdownBlocks splits a markdown note into blocks, line by line: "#" headings and
// lines that are all bold are headings; list items are nested by indentation; a line
// that is not an item continues the item or paragraph before it unless a blank line or a
// heading came between (as a markdown renderer reads it).
func markdownBlocks(notes string) []noteBlock {
	var blocks []noteBlock
	var indents []int // the text columns of the open list items, outermost first
	open := -1        // the block a next line of text continues, or -1
	afterBlank := false
	for line := range strings.Lines(notes) {
		line = strings.TrimRight(line, "\r\n")
		line = strings.ReplaceAll(line, "\t", "    ")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			afterBlank = true
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if trimmed[0] != '#' {
			// not a heading
		} else if m := mdHeadingRe.FindStringSubmatch(line); m != nil {
			blocks = append(blocks, noteBlock{kind: blockHeading, segs: mdInline(m[2]), raw: trimmed})
			open, indents, afterBlank = -1, indents[:0], false
			continue
		}
		if strings.IndexByte("-*_", trimmed[0]) >= 0 && mdRuleRe.MatchString(line) && strings.Count(trimmed, string(trimmed[0])) >= 3 {
			open, indents, afterBlank = -1, indents[:0], false
			continue
		}
		if item, ok := mdItem(trimmed); ok && !(indent == 0 && mdBoldRe.MatchString(trimmed)) {
			// An item is nested in the one above when it starts at or after that
			// item's text: "- Linux" then " - curl" are siblings, " * Linux" then
			// "   - [CVE-...]" parent and child.
			for len(indents) > 0 && indent < indents[len(indents)-1] {
				indents = indents[:len(indents)-1]
			}
			blocks = append(blocks, noteBlock{kind: blockItem, depth: len(indents), md: item})
			indents = append(indents, len(line)-len(item))
			open, afterBlank = len(blocks)-1, false
			continue
		}
		// text: continues the open block, or starts a paragraph
		if open >= 0 && (!afterBlank || blocks[open].kind == blockItem && indent >= 2) {
			b := &blocks[open]
			if b.md == "" {
				b.segs = append(b.segs, segment{text: " "})
				b.segs = append(b.segs, mdInline(trimmed)...)
			} else {
				b.md += " " + trimmed
			}
			afterBlank = false
			continue
		}
		if indent < 2 {
			indents = indents[:0]
		}
		if m := mdBoldRe.FindStringSubmatch(trimmed); m != nil && !strings.Contains(m[1], "**") {
			blocks = append(blocks, noteBlock{kind: blockHeading, segs: mdInline(m[1] + m[2]), raw: trimmed})
			open, afterBlank = -1, false
			continue
		}
		blocks = append(blocks, noteBlock{kind: blockText, md: trimmed, raw: trimmed})
		open, afterBlank = len(blocks)-1, false
	}
	return blocks
}

// mdItem reads a list item's marker, "- ", "* ", "+ " or "1. ", off a line without
// leading space, and returns the item's text.
func mdItem(trimmed string) (text string, ok bool) {
	i := 0
	switch c := trimmed[0]; {
	case c == '-' || c == '*' || c == '+':
		i = 1
	case c >= '0' && c <= '9':
		for i < len(trimmed) && i < 9 && trimmed[i] >= '0' && trimmed[i] <= '9' {
			i++
		}
		if i == len(trimmed) || trimmed[i] != '.' && trimmed[i] != ')' {
			return "", false
		}
		i++
	default:
		return "", false
	}
	if i == len(trimmed) {
		return "", true // an empty item
	}
	if trimmed[i] != ' ' && trimmed[i] != '\t' {
		return "", false
	}
	return strings.TrimLeft(trimmed[i:], " \t"), true
}

// mdInline splits markdown inline text into plain text and links, [text](url); emphasis
// and code marks are dropped, as the rendered HTML's text has none.
func mdInline(s string) []segment {
	var segs []segment
	var plain strings.Builder
	flush := func() {
		if plain.Len() > 0 {
			segs = append(segs, segment{text: plain.String()})
			plain.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte("\\`*_{}[]()#+-.!<>|", s[i+1]) >= 0:
			plain.WriteByte(s[i+1])
			i += 2
			continue
		case c == '`':
			i++
			continue
		case c == '*' || (c == '_' && (i+1 < len(s) && s[i+1] == '_' || i == 0 || !isWordByte(s[i-1]) || i+1 == len(s) || !isWordByte(s[i+1]))):
			i++
			continue
		case c == '[' || c == '!' && i+1 < len(s) && s[i+1] == '[':
			start := i
			if c == '!' {
				start++
			}
			if text, href, n, ok := mdLink(s[start:]); ok {
				flush()
				if c != '!' {
					segs = append(segs, segment{text: plainText(text), href: href})
				}
				i = start + n
				continue
			}
		}
		plain.WriteByte(c)
		i++
	}
	flush()
	return segs
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// plainText is the text of markdown inline content, links reduced to their text.
func plainText(s string) string {
	var sb strings.Builder
	for _, seg := range mdInline(s) {
		sb.WriteString(seg.text)
	}
	return sb.String()
}

// mdLink reads "[text](url)" at the start of s, brackets and parentheses nested.
func mdLink(s string) (text, href string, n int, ok bool) {
	depth := 0
	end := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				end = i
			}
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 || end+1 >= len(s) || s[end+1] != '(' {
		return "", "", 0, false
	}
	depth = 0
	for j := end + 1; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				dest := strings.TrimSpace(s[end+2 : j])
				if k := strings.IndexAny(dest, " \t"); k >= 0 { // [text](url "title")
					dest = dest[:k]
				}
				dest = strings.TrimSuffix(strings.TrimPrefix(dest, "<"), ">")
				return s[1:end], dest, j + 1, true
			}
		}
	}
	return "", "", 0, false
}

// ---- HTML

// htmlBlocks splits an HTML note into blocks: h1-h6 and paragraphs that are all
// <strong> are headings, other paragraphs text, and each <li> an item at the depth of
// its list, its text without the lists nested in it.
func htmlBlocks(content string) []noteBlock {
	doc, err := html.Parse(strings.NewReader(content))
	if err != nil { // html.Parse reads any input; this is not expected
		return nil
	}
	var blocks []noteBlock
	var list func(l *html.Node, depth int)
	list = func(l *html.Node, depth int) {
		for li := l.FirstChild; li != nil; li = li.NextSibling {
			if li.Type != html.ElementNode || li.DataAtom != atom.Li {
				continue
			}
			blocks = append(blocks, noteBlock{kind: blockItem, depth: depth, segs: htmlInline(li, nil)})
			for sub := li.FirstChild; sub != nil; sub = sub.NextSibling {
				if sub.Type == html.ElementNode && (sub.DataAtom == atom.Ul || sub.DataAtom == atom.Ol) {
					list(sub, depth+1)
				}
			}
		}
	}
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				if t := strings.TrimSpace(c.Data); t != "" {
					blocks = append(blocks, noteBlock{kind: blockText, segs: []segment{{text: t}}, raw: t})
				}
				continue
			}
			if c.Type != html.ElementNode {
				continue
			}
			switch c.DataAtom {
			case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				segs := htmlInline(c, nil)
				b := noteBlock{kind: blockHeading, segs: segs}
				b.raw = "<" + c.Data + ">" + b.text() + "</" + c.Data + ">"
				blocks = append(blocks, b)
			case atom.P:
				segs := htmlInline(c, nil)
				b := noteBlock{kind: blockText, segs: segs}
				if strong := onlyChild(c); strong != nil && (strong.DataAtom == atom.Strong || strong.DataAtom == atom.B) {
					b.kind = blockHeading
				}
				b.raw = "<p>" + b.text() + "</p>"
				blocks = append(blocks, b)
			case atom.Ul, atom.Ol:
				list(c, depth)
			case atom.Pre, atom.Table, atom.Hr, atom.Script, atom.Style:
				// not part of any list the rules read; a break between sections
				blocks = append(blocks, noteBlock{kind: blockText, segs: []segment{{text: "."}}})
			default: // html, body, div, blockquote, ...
				walk(c, depth)
			}
		}
	}
	walk(doc, 0)
	return blocks
}

// onlyChild returns the one element child of n when n has no other content but space
// and an optional trailing ":".
func onlyChild(n *html.Node) *html.Node {
	var only *html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			if t := strings.TrimSpace(c.Data); t != "" && t != ":" {
				return nil
			}
		case html.ElementNode:
			if only != nil {
				return nil
			}
			only = c
		}
	}
	return only
}

// htmlInline returns the inline text of n, links apart, skipping nested lists.
func htmlInline(n *html.Node, segs []segment) []segment {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			segs = append(segs, segment{text: c.Data})
		case html.ElementNode:
			switch c.DataAtom {
			case atom.Ul, atom.Ol:
				continue
			case atom.A:
				var href string
				for _, a := range c.Attr {
					if a.Key == "href" {
						href = a.Val
					}
				}
				var sb strings.Builder
				for _, s := range htmlInline(c, nil) {
					sb.WriteString(s.text)
				}
				if href == "" {
					segs = append(segs, segment{text: sb.String()})
				} else {
					segs = append(segs, segment{text: sb.String(), href: href})
				}
			case atom.Img:
				continue
			case atom.P, atom.Br:
				segs = append(segs, segment{text: " "})
				segs = htmlInline(c, segs)
			default:
				segs = htmlInline(c, segs)
			}
		}
	}
	return segs
}

// securityFromMarkdown reads the advisories of a note in markdown (the JSON).
func securityFromMarkdown(notes, version string) ([]tracker.Advisory, error) {
	if notes == "" {
		return nil, nil
	}
	return releaseSecurity(markdownBlocks(notes), version)
}

// securityFromHTML reads the advisories of a note in HTML (the Atom feed).
func securityFromHTML(content, version string) ([]tracker.Advisory, error) {
	if content == "" {
		return nil, nil
	}
	return releaseSecurity(htmlBlocks(content), version)
}
