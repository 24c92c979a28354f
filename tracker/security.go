package tracker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// What an image fixes. For a Flatcar image the source is Flatcar's own release notes:
// the "Security fixes" of the releases of the image's channel after the previous image's
// Flatcar version up to its own are what it fixes; those of later releases of the
// channel are what it lacks. It is what Flatcar announced, not a scan of the image.

// SecuritySourceFlatcar labels advisories as Flatcar announced them.
const SecuritySourceFlatcar = "Flatcar release notes"

// ImageSecurity is what an image fixes against the previous image of its family and
// what it lacks, with the source they are taken from.
type ImageSecurity struct {
	Source   string     `json:"source"`
	Previous *string    `json:"previous"`
	Fixed    []Advisory `json:"fixed"`
	Missing  []Advisory `json:"missing"`
}

// SecurityCounts is ImageSecurity counted: what `images` lists for every image.
type SecurityCounts struct {
	Fixed   int `json:"fixed"`
	Missing int `json:"missing"`
}

// channelAdvisories is one Flatcar channel's releases in version order, with what each
// announces, and how many distinct advisories the releases after each announce: the
// missing count of an image, without building its list.
type channelAdvisories struct {
	releases []FlatcarRelease
	// laterDistinct[i] is the number of distinct (id, package) in releases[i+1:], and
	// distinct[i] in releases[i] alone.
	laterDistinct, distinct []int
	counts                  map[[2]int]int // fixedCount of a span of more than one release
}

func newChannelAdvisories(releases []FlatcarRelease) *channelAdvisories {
	rs := slices.Clone(releases)
	slices.SortFunc(rs, func(a, b FlatcarRelease) int { return CompareDotted(a.Version, b.Version) })
	c := &channelAdvisories{releases: rs, laterDistinct: make([]int, len(rs)), distinct: make([]int, len(rs)), counts: map[[2]int]int{}}
	seen := map[advisoryKey]bool{}
	for i := len(rs) - 1; i >= 0; i-- {
		c.laterDistinct[i] = len(seen)
		for _, a := range rs[i].Security {
			seen[advisoryKey{a.ID, a.Package}] = true
		}
		// The parser keeps each id and package of a release once.
		c.distinct[i] = len(rs[i].Security)
	}
	return c
}

type advisoryKey struct{ id, pkg string }

// flatcarChannels is the table of each channel of releases (any order).
func flatcarChannels(releases []FlatcarRelease) map[string]*channelAdvisories {
	byChannel := map[string][]FlatcarRelease{}
	for _, r := range releases {
		byChannel[r.Channel] = append(byChannel[r.Channel], r)
	}
	out := make(map[string]*channelAdvisories, len(byChannel))
	for ch, rs := range byChannel {
		out[ch] = newChannelAdvisories(rs)
	}
	return out
}

// flatcarChannelsOnce is flatcarChannels of releases, built when first asked: only
// Flatcar images need the tables, and a query links and judges with the same ones.
func flatcarChannelsOnce(releases []FlatcarRelease) func() map[string]*channelAdvisories {
	return sync.OnceValue(func() map[string]*channelAdvisories { return flatcarChannels(releases) })
}

// index is the position of version in the channel, or -1.
func (c *channelAdvisories) index(version string) int {
	i, ok := slices.BinarySearchFunc(c.releases, version, func(r FlatcarRelease, v string) int { return CompareDotted(r.Version, v) })
	if !ok {
		return -1
	}
	return i
}

// span is the releases after prev (none: version's own alone) up to version, as a range
// of indexes into the channel; lo == hi for none.
func (c *channelAdvisories) span(prev *string, version string) (lo, hi int) {
	hi = c.index(version) + 1
	if hi == 0 {
		return 0, 0
	}
	if prev == nil {
		return hi - 1, hi
	}
	lo, found := slices.BinarySearchFunc(c.releases, *prev, func(r FlatcarRelease, v string) int { return CompareDotted(r.Version, v) })
	if found {
		lo++
	}
	return min(lo, hi), hi
}

// fixed is every advisory of the releases after prev (none: only version's own) up to
// version, each once with the first release that announced it.
func (c *channelAdvisories) fixed(prev *string, version string) []Advisory {
	out := []Advisory{}
	seen := map[advisoryKey]bool{}
	lo, hi := c.span(prev, version)
	for _, r := range c.releases[lo:hi] {
		out = appendNew(out, seen, r)
	}
	return out
}

// fixedCount is len(fixed(prev, version)), remembered: images of many families share a
// Flatcar release and the one before.
func (c *channelAdvisories) fixedCount(prev *string, version string) int {
	lo, hi := c.span(prev, version)
	switch {
	case hi-lo == 0:
		return 0
	case hi-lo == 1:
		return c.distinct[lo]
	}
	k := [2]int{lo, hi}
	if n, ok := c.counts[k]; ok {
		return n
	}
	seen := map[advisoryKey]bool{}
	for _, r := range c.releases[lo:hi] {
		for _, a := range r.Security {
			seen[advisoryKey{a.ID, a.Package}] = true
		}
	}
	c.counts[k] = len(seen)
	return len(seen)
}

// missing is every advisory of the releases of the channel after version.
func (c *channelAdvisories) missing(version string) []Advisory {
	out := []Advisory{}
	seen := map[advisoryKey]bool{}
	for _, r := range c.releases {
		if CompareDotted(r.Version, version) > 0 {
			out = appendNew(out, seen, r)
		}
	}
	return out
}

func appendNew(out []Advisory, seen map[advisoryKey]bool, r FlatcarRelease) []Advisory {
	for _, a := range r.Security {
		k := advisoryKey{a.ID, a.Package}
		if !seen[k] {
			seen[k] = true
			a.In = r.Version
			out = append(out, a)
		}
	}
	return out
}

// flatcarSecurity is what a Flatcar image fixes and lacks; nil while its release is not
// in Flatcar's feeds (its channel is unknown, and nothing would be claimed on a guess).
func flatcarSecurity(channels map[string]*channelAdvisories, link *FlatcarLink, prevFlatcar *string) *ImageSecurity {
	if link == nil || link.Channel == nil {
		return nil
	}
	c := channels[*link.Channel]
	if c == nil || c.index(link.Version) < 0 {
		return nil
	}
	return &ImageSecurity{Source: SecuritySourceFlatcar, Fixed: c.fixed(prevFlatcar, link.Version), Missing: c.missing(link.Version)}
}

// previousFlatcar is the Flatcar version of the previous image of a family, nil for none
// (or an image that was no Flatcar image).
func previousFlatcar(prev *NodeImage) *string {
	if prev == nil || !prev.IsFlatcar() {
		return nil
	}
	return prev.OS.Version
}

// ImageDetail is an image as `show` gives it: its view with what it fixes and lacks in
// full, where `images` counts them, and what changed in what it carries.
type ImageDetail struct {
	ImageView
	Security *ImageSecurity `json:"security"`
	ContentChanges
}

// detail is an image's view completed from the history (sorted by SortImages), the
// Flatcar channels' tables and what the store keeps of what each image carries.
func detail(s Store, v ImageView, sorted []NodeImage, src *securitySources) (ImageDetail, error) {
	d := ImageDetail{ImageView: v}
	var prev *NodeImage
	if v.Previous != nil {
		if i := slices.IndexFunc(sorted, func(im NodeImage) bool { return im.Family == v.Family && im.Version == *v.Previous }); i >= 0 {
			prev = &sorted[i]
		}
	}
	return d, withContents(s, &d, prev, src)
}

// counts is ImageSecurity counted, the missing count from the channel's table.
func flatcarCounts(channels map[string]*channelAdvisories, link *FlatcarLink, prevFlatcar *string) *SecurityCounts {
	if link == nil || link.Channel == nil {
		return nil
	}
	c := channels[*link.Channel]
	i := -1
	if c != nil {
		i = c.index(link.Version)
	}
	if i < 0 {
		return nil
	}
	return &SecurityCounts{Fixed: c.fixedCount(prevFlatcar, link.Version), Missing: c.laterDistinct[i]}
}

// SecurityLine is what a message says of an image's security, "" where nodewatch has
// no source: "fixes 56 advisories, as announced by Flatcar 4694.0.1", or for Ubuntu
// "fixes CVE-2024-11053 in curl (USN-7162-1)", with the first few named where the
// message knows them (Message.Security).
func (m Message) SecurityLine() string {
	if m.Image == nil {
		return ""
	}
	v := *m.Image
	if m.Security != nil && m.Security.Source == SecuritySourceUbuntu {
		return ubuntuLine(m.Security)
	}
	line := v.SecurityLine()
	if m.Security != nil && len(m.Security.Fixed) > 0 && line != "" {
		line += ": " + namedAdvisories(m.Security.Fixed, 3, false)
	}
	return line
}

// ubuntuLine says what an Ubuntu image fixes and lacks, from Canonical's records.
func ubuntuLine(s *ImageSecurity) string {
	var line string
	switch n := len(s.Fixed); {
	case n == 0:
		line = "fixes no CVE Canonical's records name since the previous image"
	case n == 1:
		line = "fixes " + namedAdvisories(s.Fixed, 1, true)
	default:
		line = fmt.Sprintf("fixes %d CVEs: %s", n, namedAdvisories(s.Fixed, 3, true))
	}
	if len(s.Missing) > 0 {
		line += fmt.Sprintf("; lacks %d fixed in newer package versions", len(s.Missing))
	}
	return line
}

// namedAdvisories names the first n advisories, the newest ids first (the latest
// disclosures; the records carry no ranking nodewatch could trust across sources), as
// "CVE-2024-11053 in curl (USN-7162-1)", and how many more.
func namedAdvisories(as []Advisory, n int, withIn bool) string {
	sorted := slices.Clone(as)
	slices.SortStableFunc(sorted, func(a, b Advisory) int { return compareAdvisoryIDs(b.ID, a.ID) })
	parts := make([]string, 0, n+1)
	for i, a := range sorted {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(sorted)-n))
			break
		}
		p := a.ID + " in " + a.Package
		if withIn && a.In != "" {
			p += " (" + a.In + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// compareAdvisoryIDs orders CVE-YYYY-N ids by year, then number; other ids after them.
func compareAdvisoryIDs(a, b string) int {
	ya, na, oka := cveParts(a)
	yb, nb, okb := cveParts(b)
	switch {
	case oka != okb:
		if oka {
			return 1
		}
		return -1
	case !oka:
		return strings.Compare(a, b)
	case ya != yb:
		return ya - yb
	}
	return na - nb
}

func cveParts(id string) (year, n int, ok bool) {
	if _, err := fmt.Sscanf(id, "CVE-%d-%d", &year, &n); err != nil {
		return 0, 0, false
	}
	return year, n, true
}

// SecurityLine is the image's security counted, for Flatcar images: "fixes 56
// advisories, as announced by Flatcar 4694.0.1"; "" for the others (see Message).
func (v ImageView) SecurityLine() string {
	if v.Security == nil || v.Flatcar == nil {
		return ""
	}
	line := fmt.Sprintf("fixes %d advisor%s, as announced by Flatcar %s", v.Security.Fixed, plural2(v.Security.Fixed), v.Flatcar.Version)
	if v.Security.Fixed == 0 {
		line = fmt.Sprintf("fixes no advisory Flatcar announced since the previous image (Flatcar %s)", v.Flatcar.Version)
	}
	if v.Security.Missing > 0 {
		line += fmt.Sprintf("; lacks %d fixed in later %s releases", v.Security.Missing, deref(v.Flatcar.Channel, "Flatcar"))
	}
	return line
}

func plural2(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}
