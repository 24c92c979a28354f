package tracker

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"
)

// Meta keys of Canonical's security data.
const (
	metaUbuntuSecurityRead   = "ubuntu_security:read_at" // when the archive was last read (or found unchanged)
	metaUbuntuSecurityWanted = "ubuntu_security:wanted"  // what the stored fixes were kept for
)

// DefaultUbuntuSecurityEvery is how often Canonical's archive is read by default: it is
// published a few times a day and weighs tens of megabytes.
const DefaultUbuntuSecurityEvery = 24 * time.Hour

// ubuntuSecurityDue reports whether the archive is to be read this cycle.
func (t *Tracker) ubuntuSecurityDue() (bool, error) {
	last, err := t.Store.Meta(metaUbuntuSecurityRead)
	if err != nil || last == "" {
		return err == nil, err
	}
	at, err := time.Parse(time.RFC3339, last)
	if err != nil {
		return true, nil
	}
	every := t.UbuntuSecurityEvery
	if every <= 0 {
		every = DefaultUbuntuSecurityEvery
	}
	return !t.now().Before(at.Add(every)), nil
}

// readUbuntuSecurity reads Canonical's archive, conditionally, keeping the fixes of the
// Ubuntu releases and the packages the stored images carry. It runs after the notes, so
// that a first cycle knows the packages it has just stored. When those grew since the
// last read, the archive is read whole again: the stored fixes were kept for fewer.
func (t *Tracker) readUbuntuSecurity(ctx context.Context, sr *SourceReport) (Batch, error) {
	var b Batch
	releases, inUse, err := t.ubuntuInUse()
	if err != nil || len(releases) == 0 {
		return b, err
	}
	wanted := wantedFingerprint(releases, inUse)
	lk := newLookup(t.Store)
	url := t.UbuntuSecurityURL
	v, err := lk.get(url)
	if err != nil {
		return b, err
	}
	if old, err := t.Store.Meta(metaUbuntuSecurityWanted); err != nil {
		return b, err
	} else if old != wanted {
		v = Validator{}
	}
	ecosystems := map[string]bool{}
	for _, r := range releases {
		for _, e := range UbuntuEcosystems(r) {
			ecosystems[e] = true
		}
	}
	keep := SecurityFilter{
		Ecosystem: func(e string) bool { return ecosystems[e] },
		Package:   func(name string) bool { return inUse[KernelPackageKey(name)] },
	}
	archive, err := t.UbuntuSecurity.Archive(ctx, v, keep)
	if err != nil {
		return b, err
	}
	b.setMeta(metaUbuntuSecurityRead, t.now().Format(time.RFC3339))
	b.setValidator(lk, url, archive.Validator)
	if archive.NotModified {
		return b, nil
	}
	for _, e := range archive.RecordErrors {
		sr.Warnings = append(sr.Warnings, "ubuntu_security: "+e)
	}
	fixes := GroupFixes(pruneFixes(archive.Fixes, inUse))
	b.PackageFixes = &fixes
	images, err := t.Store.Images("")
	if err != nil {
		return b, err
	}
	if b.SecurityCounts, err = t.ubuntuCounts(ctx, images, NewFixIndex(memoryFixes(fixes))); err != nil {
		return b, err
	}
	b.setMeta(metaUbuntuSecurityWanted, wanted)
	sr.UpdatedItems = len(fixes)
	t.logger().Info("ubuntu security data read", "records", archive.Records, "fixes_kept", len(fixes),
		"unfixed", archive.Unfixed, "record_errors", len(archive.RecordErrors))
	return b, nil
}

// ubuntuInUse is the Ubuntu releases of the stored images and the package names (by
// KernelPackageKey) they carry.
func (t *Tracker) ubuntuInUse() ([]string, map[string]bool, error) {
	images, err := t.Store.Images("")
	if err != nil {
		return nil, nil, err
	}
	var releases []string
	for _, im := range images {
		if im.IsUbuntu() && im.OS.VersionID != "" && !slices.Contains(releases, im.OS.VersionID) {
			releases = append(releases, im.OS.VersionID)
		}
	}
	if len(releases) == 0 {
		return nil, nil, nil
	}
	names, err := t.Store.PackageNames()
	if err != nil {
		return nil, nil, err
	}
	inUse := make(map[string]bool, len(names))
	for _, n := range names {
		inUse[KernelPackageKey(n)] = true
	}
	slices.Sort(releases)
	return releases, inUse, nil
}

func wantedFingerprint(releases []string, inUse map[string]bool) string {
	h := fnv.New64a()
	for _, r := range releases {
		fmt.Fprintf(h, "r%s\n", r)
	}
	for _, n := range slices.Sorted(maps.Keys(inUse)) {
		fmt.Fprintf(h, "p%s\n", n)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// pruneFixes keeps of each fix the binaries some image carries (a kernel notice lists a
// hundred), and only the fixes left with one.
func pruneFixes(fixes []PackageFix, inUse map[string]bool) []PackageFix {
	out := fixes[:0]
	for _, f := range fixes {
		kept := map[string]string{}
		for name, v := range f.Binaries {
			if inUse[KernelPackageKey(name)] {
				kept[name] = v
			}
		}
		if len(kept) > 0 {
			f.Binaries = kept
			out = append(out, f)
		}
	}
	return out
}

// ubuntuCounts counts what each Ubuntu image of images (sorted by SortImages) fixes and
// lacks by index, for `images` and the status page. The counts go into the batch that
// stores what they depend on (the images, or the fixes), so that a crash between the two
// cannot leave images uncounted.
func (t *Tracker) ubuntuCounts(ctx context.Context, images []NodeImage, index *FixIndex) (map[[2]string]SecurityCounts, error) {
	counts := map[[2]string]SecurityCounts{}
	var prev *ImageContents
	for i, im := range images {
		if !im.IsUbuntu() {
			prev = nil
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, err := t.Store.Contents(im.Family, im.Version)
		if err != nil {
			return nil, err
		}
		var prevVersion *string
		before := prev
		if i > 0 && images[i-1].Family == im.Family {
			prevVersion = &images[i-1].Version
			if before == nil {
				if before, err = t.Store.Contents(im.Family, *prevVersion); err != nil {
					return nil, err
				}
			}
		} else {
			before = nil
		}
		sec, err := UbuntuSecurity(im.OS.VersionID, prevVersion, before, cur, index)
		if err != nil {
			return nil, err
		}
		prev = cur
		if sec != nil {
			counts[[2]string{im.Family, im.Version}] = SecurityCounts{Fixed: len(sec.Fixed), Missing: len(sec.Missing)}
		}
	}
	return counts, nil
}

// familyCounts counts a family's Ubuntu images as its batch stores them, with the fixes
// stored; nil until Canonical's data was first read (that read counts every image).
func (t *Tracker) familyCounts(ctx context.Context, family string, batch []NodeImage) (map[[2]string]SecurityCounts, error) {
	if !slices.ContainsFunc(batch, NodeImage.IsUbuntu) {
		return nil, nil
	}
	if wanted, err := t.Store.Meta(metaUbuntuSecurityWanted); err != nil || wanted == "" {
		return nil, err
	}
	stored, err := t.Store.Images(family)
	if err != nil {
		return nil, err
	}
	for _, im := range batch {
		if !slices.ContainsFunc(stored, func(x NodeImage) bool { return x.Version == im.Version }) {
			stored = append(stored, im)
		}
	}
	return t.ubuntuCounts(ctx, SortImages(stored), NewFixIndex(t.Store.PackageFixes))
}

// memoryFixes serves fixes not stored yet as the store would (Store.PackageFixes).
func memoryFixes(fixes []PackageFix) FixLookup {
	byKey := map[[2]string][]PackageFix{}
	for _, f := range fixes {
		seen := map[string]bool{}
		for name := range f.Binaries {
			k := KernelPackageKey(name)
			if !seen[k] {
				seen[k] = true
				byKey[[2]string{f.Ecosystem, k}] = append(byKey[[2]string{f.Ecosystem, k}], f)
			}
		}
	}
	return func(ecosystem string, keys []string) ([]PackageFix, error) {
		var out []PackageFix
		for _, k := range keys {
			out = append(out, byKey[[2]string{ecosystem, k}]...)
		}
		return out, nil
	}
}

// routesOnCVEs reports whether a route filters on what images fix: only then is it
// judged while routing.
func (t *Tracker) routesOnCVEs() bool {
	return t.Router != nil && slices.ContainsFunc(t.Router.Routes, func(r Route) bool { return r.CVEs })
}

// fixCounter is what fixCount reads, read once for all the events of a batch.
type fixCounter struct {
	releases []FlatcarRelease
	src      *securitySources
}

func (t *Tracker) fixSources(c *fixCounter) (*fixCounter, error) {
	if c.src != nil {
		return c, nil
	}
	var err error
	if c.releases, err = t.Store.FlatcarReleases(""); err != nil {
		return c, err
	}
	c.src, err = newSecuritySources(t.Store, c.releases)
	return c, err
}

// fixCount is how many advisories im fixes since the image before it in its family,
// judged as the batch stores it (the images from the batch, the rest from the store).
// Canonical's data is what the last read stored: a fix published since then is not
// counted yet.
func (t *Tracker) fixCount(b Batch, im NodeImage, c *fixCounter) (int, error) {
	images, err := t.Store.Images(im.Family)
	if err != nil {
		return 0, err
	}
	for _, x := range b.Images {
		if x.Family == im.Family && !slices.ContainsFunc(images, func(y NodeImage) bool { return y.Version == x.Version }) {
			images = append(images, x)
		}
	}
	var prev *NodeImage
	for i := range images {
		if v := images[i].Version; CompareImageVersions(v, im.Version) < 0 && (prev == nil || CompareImageVersions(v, prev.Version) > 0) {
			prev = &images[i]
		}
	}
	if c, err = t.fixSources(c); err != nil {
		return 0, err
	}
	view := LinkImages([]NodeImage{im}, c.releases)[0]
	var before, cur *ImageContents
	if prev != nil && im.IsUbuntu() {
		if cur, err = t.Store.Contents(im.Family, im.Version); err != nil {
			return 0, err
		}
		if before, err = t.Store.Contents(prev.Family, prev.Version); err != nil {
			return 0, err
		}
	}
	sec, err := imageSecurity(view, prev, before, cur, c.src)
	if err != nil || sec == nil {
		return 0, err
	}
	return len(sec.Fixed), nil
}

// GroupFixes gathers the fixes of one source package version of one ecosystem into one:
// a kernel version fixes hundreds of CVEs, each its own record, all listing the same
// binaries. Each CVE keeps one record: a notice (USN) before a CVE record, then the
// first by id. What is stored and judged per image is then one entry a version.
func GroupFixes(fixes []PackageFix) []PackageFix {
	type key struct{ eco, source, fixed string }
	groups := map[key]*PackageFix{}
	var order []key
	for _, f := range fixes {
		k := key{f.Ecosystem, f.Source, f.Fixed}
		g := groups[k]
		if g == nil {
			g = &PackageFix{Ecosystem: f.Ecosystem, Source: f.Source, Fixed: f.Fixed, CVEs: []string{},
				Binaries: map[string]string{}, In: map[string]string{}}
			groups[k] = g
			order = append(order, k)
		}
		for name, v := range f.Binaries {
			g.Binaries[name] = v
		}
		ids := f.CVEs
		if len(ids) == 0 {
			ids = []string{f.Record} // a fix that names no CVE is known by its record
		}
		for _, id := range ids {
			if old, ok := g.In[id]; !ok || preferRecord(f.Record, old) {
				g.In[id] = f.Record
			}
		}
	}
	out := make([]PackageFix, 0, len(order))
	for _, k := range order {
		g := groups[k]
		g.CVEs = slices.Sorted(maps.Keys(g.In))
		out = append(out, *g)
	}
	return out
}

// preferRecord reports whether record a names a fix better than b: a notice (USN)
// before a CVE record, then the first by id.
func preferRecord(a, b string) bool {
	if ua, ub := strings.HasPrefix(a, "USN-"), strings.HasPrefix(b, "USN-"); ua != ub {
		return ua
	}
	return a < b
}
