package tracker

import (
	"cmp"
	"slices"
	"strings"
)

// What changed in what an image carries, against the previous image of its family:
// `show` reports it per image, `diff` over a range of images.

// PackageChange is one package whose version changed: an upgrade, or a downgrade (From
// and To say which).
type PackageChange struct {
	Name string `json:"name"`
	// FromName is the old name when the package was renamed with the kernel ABI
	// (linux-image-6.8.0-1064-azure -> linux-image-6.8.0-1065-azure).
	FromName string `json:"from_name,omitempty"`
	// Arch is set when the name alone is ambiguous: a list holds it for two arches.
	Arch string `json:"arch,omitempty"`
	From string `json:"from"`
	To   string `json:"to"`
}

// PackageChanges is the "packages" of `show --json`: empty slices, never null, when both
// images list their packages.
type PackageChanges struct {
	Previous *string         `json:"previous"`
	Upgraded []PackageChange `json:"upgraded"`
	Added    []Package       `json:"added"`
	Removed  []Package       `json:"removed"`
}

// ImageTagChange is one repository of container images whose tags changed.
type ImageTagChange struct {
	Repository string   `json:"repository"`
	From       []string `json:"from"` // the tags that went
	To         []string `json:"to"`   // the tags that came
}

// ContainerImageChanges is the "container_images" of `show --json`.
type ContainerImageChanges struct {
	Added   []string         `json:"added"`
	Removed []string         `json:"removed"`
	Changed []ImageTagChange `json:"changed"`
}

// UpdateChanges is the "updates" of `show --json`: the Windows updates by id.
type UpdateChanges struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// packageKey identifies a package across two lists. The arch is always part of it: a
// package that changes arch is another binary, and the name alone cannot tell apart the
// arches a multi-arch system installs.
type packageKey struct{ name, arch string }

// DiffPackages compares two package lists (in any order). A version change is one
// upgrade; so is a kernel package renamed with its ABI (see KernelPackageKey). Names
// installed in several versions at once (Azure Linux keeps two `kernel`s) are compared
// as sets: versions on both sides are unchanged, and what is left pairs as an upgrade
// only when one version remains on each side. All three results are sorted by name and
// never nil.
func DiffPackages(prev, cur []Package) (upgraded []PackageChange, added, removed []Package) {
	multiArch := multiArchNames(prev, cur)
	before, after := versionsByKey(prev), versionsByKey(cur)
	upgraded, added, removed = []PackageChange{}, []Package{}, []Package{}
	for key, was := range before {
		is := after[key]
		was, is = withoutCommon(was, is)
		if len(was) == 1 && len(is) == 1 {
			change := PackageChange{Name: key.name, From: was[0], To: is[0]}
			if multiArch[key.name] {
				change.Arch = key.arch
			}
			upgraded = append(upgraded, change)
			continue
		}
		for _, v := range was {
			removed = append(removed, Package{Name: key.name, Version: v, Arch: key.arch})
		}
		for _, v := range is {
			added = append(added, Package{Name: key.name, Version: v, Arch: key.arch})
		}
	}
	for key, is := range after {
		if _, ok := before[key]; !ok {
			for _, v := range is {
				added = append(added, Package{Name: key.name, Version: v, Arch: key.arch})
			}
		}
	}
	renamed, added, removed := pairKernelRenames(added, removed, multiArch)
	upgraded = append(upgraded, renamed...)
	slices.SortFunc(upgraded, func(a, b PackageChange) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.FromName, b.FromName), cmp.Compare(a.From, b.From))
	})
	slices.SortFunc(added, comparePackages)
	slices.SortFunc(removed, comparePackages)
	return upgraded, added, removed
}

func comparePackages(a, b Package) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
}

func versionsByKey(list []Package) map[packageKey][]string {
	m := make(map[packageKey][]string, len(list))
	for _, p := range list {
		k := packageKey{p.Name, p.Arch}
		m[k] = append(m[k], p.Version)
	}
	return m
}

// multiArchNames returns the names that a list holds for two arches or more: their
// changes name the arch.
func multiArchNames(lists ...[]Package) map[string]bool {
	multi := map[string]bool{}
	for _, list := range lists {
		arches := make(map[string]string, len(list))
		for _, p := range list {
			if a, ok := arches[p.Name]; ok && a != p.Arch {
				multi[p.Name] = true
			}
			arches[p.Name] = p.Arch
		}
	}
	return multi
}

// withoutCommon returns was and is without the versions both hold (as multisets).
func withoutCommon(was, is []string) ([]string, []string) {
	if len(was) == 1 && len(is) == 1 { // nearly every package: no copies
		if was[0] == is[0] {
			return nil, nil
		}
		return was, is
	}
	is = slices.Clone(is)
	var left []string
	for _, v := range was {
		if i := slices.Index(is, v); i >= 0 {
			is = slices.Delete(is, i, i+1)
		} else {
			left = append(left, v)
		}
	}
	return left, is
}

// pairKernelRenames turns a removed and an added kernel package of the same
// KernelPackageKey and arch into one upgrade, when exactly one of each is left.
func pairKernelRenames(added, removed []Package, multiArch map[string]bool) (renamed []PackageChange, restAdded, restRemoved []Package) {
	type group struct{ added, removed []int }
	groups := map[packageKey]*group{}
	at := func(p Package) *group {
		k := packageKey{KernelPackageKey(p.Name), p.Arch}
		if k.name == p.Name {
			return nil
		}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		return g
	}
	for i, p := range added {
		if g := at(p); g != nil {
			g.added = append(g.added, i)
		}
	}
	for i, p := range removed {
		if g := at(p); g != nil {
			g.removed = append(g.removed, i)
		}
	}
	pairedAdded, pairedRemoved := map[int]bool{}, map[int]bool{}
	for _, g := range groups {
		if len(g.added) != 1 || len(g.removed) != 1 {
			continue
		}
		a, r := added[g.added[0]], removed[g.removed[0]]
		change := PackageChange{Name: a.Name, FromName: r.Name, From: r.Version, To: a.Version}
		if multiArch[a.Name] || multiArch[r.Name] {
			change.Arch = a.Arch
		}
		renamed = append(renamed, change)
		pairedAdded[g.added[0]], pairedRemoved[g.removed[0]] = true, true
	}
	restAdded, restRemoved = []Package{}, []Package{}
	for i, p := range added {
		if !pairedAdded[i] {
			restAdded = append(restAdded, p)
		}
	}
	for i, p := range removed {
		if !pairedRemoved[i] {
			restRemoved = append(restRemoved, p)
		}
	}
	return renamed, restAdded, restRemoved
}

// KernelPackageKey returns a package name with the kernel ABI it carries replaced by
// "*": Ubuntu names its kernel packages after the ABI (linux-image-6.8.0-1064-azure,
// linux-azure-fips-cloud-tools-5.15.0-1118), so a new kernel renames them, and the key
// is what stays. The ABI is the first `N.N.N-N` run between dashes (or at the end) of a
// `linux-` name; other names are returned as they are, for a version in a library's name
// (libtss2-esys-3.0.2-0) is a soname, not a kernel. "*" is in no Debian package name.
func KernelPackageKey(name string) string {
	if !strings.HasPrefix(name, "linux-") {
		return name
	}
	for i := len("linux-"); i < len(name); i++ {
		if name[i-1] != '-' {
			continue
		}
		if n := abiLength(name[i:]); n > 0 {
			return name[:i] + "*" + name[i+n:]
		}
	}
	return name
}

// abiLength returns the length of the `N.N.N-N` that s starts with, when a dash or the
// end of s follows it; 0 otherwise.
func abiLength(s string) int {
	i := 0
	for part, sep := range []byte{'.', '.', '-', 0} {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return 0
		}
		if part == 3 {
			break
		}
		if i == len(s) || s[i] != sep {
			return 0
		}
		i++
	}
	if i < len(s) && s[i] != '-' {
		return 0
	}
	return i
}

// DiffContainerImages compares two lists of image references. Added and Removed are the
// references in one list only; Changed says per repository in both lists which tags
// went and came, which is how a reader sees "coredns v1.12.1-13 -> v1.12.1-14". All are
// sorted and never nil.
func DiffContainerImages(prev, cur []string) ContainerImageChanges {
	c := ContainerImageChanges{
		Added:   onlyIn(cur, prev),
		Removed: onlyIn(prev, cur),
		Changed: []ImageTagChange{},
	}
	went, came := byRepository(c.Removed), byRepository(c.Added)
	inPrev, inCur := byRepository(prev), byRepository(cur)
	repos := map[string]bool{}
	for r := range went {
		repos[r] = true
	}
	for r := range came {
		repos[r] = true
	}
	for r := range repos {
		if inPrev[r] == nil || inCur[r] == nil {
			continue // a repository new or gone altogether is an addition or a removal
		}
		c.Changed = append(c.Changed, ImageTagChange{Repository: r, From: orEmpty(went[r]), To: orEmpty(came[r])})
	}
	slices.SortFunc(c.Changed, func(a, b ImageTagChange) int { return cmp.Compare(a.Repository, b.Repository) })
	return c
}

// onlyIn returns the strings of a that b lacks, sorted, each once, never nil.
func onlyIn(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	out := []string{}
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// byRepository maps each repository to the tags (or digests) its references name.
func byRepository(refs []string) map[string][]string {
	m := map[string][]string{}
	for _, ref := range refs {
		repo, tag := splitImageRef(ref)
		m[repo] = append(m[repo], tag)
	}
	return m
}

// splitImageRef splits `mcr.microsoft.com/oss/kubernetes/coredns:v1.12.1-14` into its
// repository and tag, and `repo@sha256:...` into the repository and digest. The tag's
// colon is the one after the last slash: a registry's port is not a tag.
func splitImageRef(ref string) (repository, tag string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DiffUpdates compares two Windows update lists by id: Added in cur's order, Removed in
// prev's, never nil.
func DiffUpdates(prev, cur []WindowsUpdate) UpdateChanges {
	return UpdateChanges{Added: updatesNotIn(cur, prev), Removed: updatesNotIn(prev, cur)}
}

func updatesNotIn(a, b []WindowsUpdate) []string {
	out := []string{}
	for _, u := range a {
		if !slices.ContainsFunc(b, func(v WindowsUpdate) bool { return v.ID == u.ID }) && !slices.Contains(out, u.ID) {
			out = append(out, u.ID)
		}
	}
	return out
}
