package tracker

import (
	"slices"
	"strings"
	"sync"

	debversion "pault.ag/go/debian/version"
)

// What an Ubuntu image fixes, from Canonical's OSV records. A record names a source
// package and lists the binaries built from it with their versions in the fix; an
// image's note lists binaries. So each installed binary is compared, in dpkg's order,
// with the version the record gives for that binary: fixed between two images when the
// previous image carried an older one and this image carries it or a newer one; missing
// when the fix is newer than what the image carries.
//
// The stream matters: a FIPS build (`3.0.2-0ubuntu1.26+Fips1`) or an ESM build
// (`+esm1`) sorts above the plain stream's fixes of the same upstream version, so it is
// compared only with its own stream's records (Ubuntu Pro's FIPS-updates and ESM
// ecosystems). Where its stream has no record, nothing is claimed.

// SecuritySourceUbuntu labels advisories taken from Canonical's data.
const SecuritySourceUbuntu = "Canonical OSV records"

// NoAzureLinuxSource is what nodewatch says where a user looks for Azure Linux CVEs.
const NoAzureLinuxSource = "Azure Linux CVEs are not tracked: its public data names source packages that the notes do not"

// IsUbuntu reports whether the image is an Ubuntu image.
func (i NodeImage) IsUbuntu() bool {
	return i.OS.ID == "ubuntu" || i.OS.ID == "" && i.OS.Name == "Ubuntu"
}

// UbuntuEcosystems are the OSV ecosystems of an Ubuntu release whose records nodewatch
// keeps: the plain stream and Ubuntu Pro's (ESM, FIPS, FIPS-updates).
func UbuntuEcosystems(versionID string) []string {
	return []string{
		"Ubuntu:" + versionID,
		"Ubuntu:" + versionID + ":LTS",
		"Ubuntu:Pro:" + versionID + ":LTS",
		"Ubuntu:Pro:FIPS:" + versionID + ":LTS",
		"Ubuntu:Pro:FIPS-updates:" + versionID + ":LTS",
	}
}

// packageEcosystem is the stream a binary package version belongs to on an Ubuntu
// release: FIPS builds to FIPS-updates (what AKS's FIPS images install), ESM builds to
// Ubuntu Pro, the others to the release's own.
func packageEcosystem(versionID, version string) string {
	lower := strings.ToLower(version)
	switch {
	case strings.Contains(lower, "fips"):
		return "Ubuntu:Pro:FIPS-updates:" + versionID + ":LTS"
	case strings.Contains(lower, "esm"):
		return "Ubuntu:Pro:" + versionID + ":LTS"
	}
	return "Ubuntu:" + versionID + ":LTS"
}

// FixLookup returns the stored fixes of an ecosystem that list any binary package of
// keys (by KernelPackageKey).
type FixLookup func(ecosystem string, keys []string) ([]PackageFix, error)

// FixIndex answers the fixes of one binary package, each version parsed once: judging
// every image of a history asks for the same packages thousands of times.
// It is safe for concurrent use: a fleet's pools are judged from several goroutines.
type FixIndex struct {
	lookup FixLookup
	mu     sync.Mutex
	cache  map[[2]string][]binaryFix
}

// NewFixIndex indexes what lookup returns, as it is asked.
func NewFixIndex(lookup FixLookup) *FixIndex {
	return &FixIndex{lookup: lookup, cache: map[[2]string][]binaryFix{}}
}

// binaryFix is one fix of one binary package: the version that carries it.
type binaryFix struct {
	version debversion.Version
	fix     *PackageFix
}

// of is the fixes of the binary package key in ecosystem, and for a release's plain
// stream those its records file without :LTS too (Ubuntu:26.04 before its first point
// release).
func (x *FixIndex) of(ecosystem, key string) ([]binaryFix, error) {
	k := [2]string{ecosystem, key}
	x.mu.Lock()
	defer x.mu.Unlock()
	if fs, ok := x.cache[k]; ok {
		return fs, nil
	}
	fixes, err := x.lookup(ecosystem, []string{key})
	if err != nil {
		return nil, err
	}
	if plain, ok := strings.CutSuffix(ecosystem, ":LTS"); ok && !strings.Contains(plain, ":Pro:") {
		more, err := x.lookup(plain, []string{key})
		if err != nil {
			return nil, err
		}
		fixes = append(fixes, more...)
	}
	var out []binaryFix
	for i := range fixes {
		f := &fixes[i]
		for name, v := range f.Binaries {
			if KernelPackageKey(name) != key {
				continue
			}
			if pv, err := debversion.Parse(v); err == nil {
				out = append(out, binaryFix{pv, f})
			}
		}
	}
	// In version order, so that an image's fixed and missing are two ranges found by
	// binary search: a kernel package has thousands of fixes, judged for every image.
	slices.SortStableFunc(out, func(a, b binaryFix) int { return debversion.Compare(a.version, b.version) })
	x.cache[k] = out
	return out, nil
}

// after is the index of the first fix newer than v.
func after(fixes []binaryFix, v debversion.Version) int {
	i, _ := slices.BinarySearchFunc(fixes, v, func(f binaryFix, v debversion.Version) int {
		if debversion.Compare(f.version, v) <= 0 {
			return -1
		}
		return 1
	})
	return i
}

// UbuntuSecurity is what cur fixes against prev (nil: none, so nothing is fixed "since")
// and what it lacks. Nil where the image lists no packages.
func UbuntuSecurity(versionID string, prevVersion *string, prev, cur *ImageContents, index *FixIndex) (*ImageSecurity, error) {
	if cur == nil || cur.Listing != PackagesListed || versionID == "" {
		return nil, nil
	}
	before := map[string]string{}
	if prev != nil && prev.Listing == PackagesListed {
		for _, p := range prev.Packages {
			before[KernelPackageKey(p.Name)] = p.Version
		}
	}
	fixed, missing := map[advisoryKey]fixChoice{}, map[advisoryKey]fixChoice{}
	for _, p := range cur.Packages {
		key := KernelPackageKey(p.Name)
		fixes, err := index.of(packageEcosystem(versionID, p.Version), key)
		if err != nil {
			return nil, err
		}
		if len(fixes) == 0 {
			continue
		}
		have, err := debversion.Parse(p.Version)
		if err != nil {
			continue // no claim on a version dpkg could not order
		}
		var had *debversion.Version
		if v, ok := before[key]; ok {
			if hv, err := debversion.Parse(v); err == nil {
				had = &hv
			}
		}
		hi := after(fixes, have)
		for _, f := range fixes[hi:] {
			choose(missing, f)
		}
		if had != nil {
			for _, f := range fixes[min(after(fixes, *had), hi):hi] {
				choose(fixed, f)
			}
		}
	}
	return &ImageSecurity{Source: SecuritySourceUbuntu, Previous: prevVersion,
		Fixed: advisoriesOf(fixed), Missing: advisoriesOf(missing)}, nil
}

// fixChoice is the record named for one (CVE, source package): a notice (USN) rather
// than a CVE record, and of those the earliest fix.
type fixChoice struct {
	record  string
	version debversion.Version
}

func choose(into map[advisoryKey]fixChoice, f binaryFix) {
	ids := f.fix.CVEs
	if len(ids) == 0 {
		ids = []string{f.fix.Record}
	}
	for _, id := range ids {
		record := f.fix.Record
		if r, ok := f.fix.In[id]; ok {
			record = r
		}
		k := advisoryKey{id, f.fix.Source}
		old, ok := into[k]
		if !ok || betterRecord(record, f.version, old) {
			into[k] = fixChoice{record, f.version}
		}
	}
}

func betterRecord(record string, v debversion.Version, than fixChoice) bool {
	if usn, oldUSN := strings.HasPrefix(record, "USN-"), strings.HasPrefix(than.record, "USN-"); usn != oldUSN {
		return usn
	}
	if c := debversion.Compare(v, than.version); c != 0 {
		return c < 0
	}
	return preferRecord(record, than.record)
}

func advisoriesOf(m map[advisoryKey]fixChoice) []Advisory {
	out := make([]Advisory, 0, len(m))
	for k, c := range m {
		out = append(out, Advisory{ID: k.id, Package: k.pkg, In: c.record})
	}
	slices.SortFunc(out, func(a, b Advisory) int {
		if c := strings.Compare(a.Package, b.Package); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
