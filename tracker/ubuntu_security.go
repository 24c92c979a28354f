package tracker

import (
	"maps"
	"slices"
	"strings"

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

// UbuntuSecurity is what cur fixes against prev (nil: none, so nothing is fixed "since")
// and what it lacks. Nil where the image lists no packages.
func UbuntuSecurity(versionID string, prevVersion *string, prev, cur *ImageContents, lookup FixLookup) (*ImageSecurity, error) {
	if cur == nil || cur.Listing != PackagesListed || versionID == "" {
		return nil, nil
	}
	before := map[string]string{}
	if prev != nil && prev.Listing == PackagesListed {
		for _, p := range prev.Packages {
			before[KernelPackageKey(p.Name)] = p.Version
		}
	}
	byStream := map[string][]Package{}
	for _, p := range cur.Packages {
		eco := packageEcosystem(versionID, p.Version)
		byStream[eco] = append(byStream[eco], p)
	}
	sec := &ImageSecurity{Source: SecuritySourceUbuntu, Previous: prevVersion, Fixed: []Advisory{}, Missing: []Advisory{}}
	fixed, missing := map[advisoryKey]fixChoice{}, map[advisoryKey]fixChoice{}
	for _, eco := range slices.Sorted(maps.Keys(byStream)) {
		pkgs := byStream[eco]
		keys := make([]string, len(pkgs))
		for i, p := range pkgs {
			keys[i] = KernelPackageKey(p.Name)
		}
		fixes, err := lookup(eco, keys)
		if err != nil {
			return nil, err
		}
		if plain, ok := strings.CutSuffix(eco, ":LTS"); ok && !strings.Contains(plain, ":Pro:") {
			// A release's records may name it without :LTS (Ubuntu:26.04 before its
			// first point release).
			more, err := lookup(plain, keys)
			if err != nil {
				return nil, err
			}
			fixes = append(fixes, more...)
		}
		index := fixesByBinary(fixes)
		for _, p := range pkgs {
			have, err := debversion.Parse(p.Version)
			if err != nil {
				continue // no claim on a version dpkg could not order
			}
			key := KernelPackageKey(p.Name)
			var had *debversion.Version
			if v, ok := before[key]; ok {
				if hv, err := debversion.Parse(v); err == nil {
					had = &hv
				}
			}
			for _, f := range index[key] {
				switch {
				case debversion.Compare(f.version, have) > 0:
					choose(missing, f)
				case had != nil && debversion.Compare(*had, f.version) < 0:
					choose(fixed, f)
				}
			}
		}
	}
	sec.Fixed, sec.Missing = advisoriesOf(fixed), advisoriesOf(missing)
	return sec, nil
}

// binaryFix is one fix of one binary package: the version that carries it.
type binaryFix struct {
	version debversion.Version
	fix     *PackageFix
}

func fixesByBinary(fixes []PackageFix) map[string][]binaryFix {
	index := map[string][]binaryFix{}
	for i := range fixes {
		f := &fixes[i]
		for name, v := range f.Binaries {
			pv, err := debversion.Parse(v)
			if err != nil {
				continue
			}
			k := KernelPackageKey(name)
			index[k] = append(index[k], binaryFix{pv, f})
		}
	}
	return index
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
		k := advisoryKey{id, f.fix.Source}
		old, ok := into[k]
		if !ok || betterRecord(f.fix.Record, f.version, old) {
			into[k] = fixChoice{f.fix.Record, f.version}
		}
	}
}

func betterRecord(record string, v debversion.Version, than fixChoice) bool {
	usn, oldUSN := strings.HasPrefix(record, "USN-"), strings.HasPrefix(than.record, "USN-")
	if usn != oldUSN {
		return usn
	}
	if c := debversion.Compare(v, than.version); c != 0 {
		return c < 0
	}
	return record < than.record
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
