package tracker_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// readContents parses a real note (world "" names a file of samples/) and fails the test
// unless it lists its packages cleanly.
func readContents(t *testing.T, world, family, version string) tracker.VHDNotes {
	t.Helper()
	path := filepath.Join(trackertest.World(t, world), trackertest.NotesDir, family, version+".txt")
	if world == "" {
		path = filepath.Join(trackertest.Fixtures(t), "samples", strings.ReplaceAll(family, "/", "_")+"_"+version+".txt")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vhdnotes.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if n.PackageErrors != nil {
		t.Fatalf("%s: PackageErrors %q", path, n.PackageErrors)
	}
	return n
}

// familyNotes returns the versions of a family's notes in a snapshot, oldest first.
func familyNotes(t *testing.T, world, family string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(trackertest.World(t, world), "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Notes map[string][]string `json:"notes"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, name := range w.Notes[family] {
		versions = append(versions, strings.TrimSuffix(name, ".txt"))
	}
	if len(versions) < 2 {
		t.Fatalf("%s %s: %d notes", world, family, len(versions))
	}
	return versions
}

func TestDiffPackages(t *testing.T) {
	const family = "AKSUbuntu/gen2/2204containerd"
	prev, cur := readContents(t, "", family, "202412.10.0"), readContents(t, "", family, "202412.29.0")
	upgraded, added, removed := tracker.DiffPackages(prev.Packages, cur.Packages)
	// The fix of USN-7162-1, among the other upgrades of the month.
	for _, want := range []tracker.PackageChange{
		{Name: "curl", From: "7.81.0-1ubuntu1.19", To: "7.81.0-1ubuntu1.20"},
		{Name: "libcurl4", From: "7.81.0-1ubuntu1.19", To: "7.81.0-1ubuntu1.20"},
		{Name: "libcurl3-gnutls", From: "7.81.0-1ubuntu1.19", To: "7.81.0-1ubuntu1.20"},
		{Name: "cloud-init", From: "24.3.1-0ubuntu0~22.04.1", To: "24.4-0ubuntu1~22.04.1"},
		{Name: "linux-libc-dev", From: "5.15.0-126.136", To: "5.15.0-130.140"},
	} {
		if !slices.Contains(upgraded, want) {
			t.Errorf("no %+v in the upgrades %+v", want, upgraded)
		}
	}
	// The lists differ in 14 lines, each a version.
	if len(upgraded) != 14 || added == nil || len(added) != 0 || removed == nil || len(removed) != 0 {
		t.Errorf("DiffPackages() = %d upgraded, added %v, removed %v; want 14 and two empty lists", len(upgraded), added, removed)
	}
	if !slices.IsSortedFunc(upgraded, func(a, b tracker.PackageChange) int { return cmp.Compare(a.Name, b.Name) }) {
		t.Errorf("upgrades not sorted by name: %+v", upgraded)
	}
	// The other way round, every upgrade is a downgrade.
	down, _, _ := tracker.DiffPackages(cur.Packages, prev.Packages)
	if !slices.Contains(down, tracker.PackageChange{Name: "curl", From: "7.81.0-1ubuntu1.20", To: "7.81.0-1ubuntu1.19"}) || len(down) != 14 {
		t.Errorf("reversed: %+v", down)
	}
}

// TestDiffPackagesKernel checks that a new kernel renames the packages that carry its
// ABI and that each is one upgrade: 202504.06.0 has 6.8.0-1025, 202504.16.0 6.8.0-1026.
func TestDiffPackagesKernel(t *testing.T) {
	const family = "AKSUbuntu/gen2/2404containerd"
	prev, cur := readContents(t, "2026-05-31", family, "202504.06.0"), readContents(t, "2026-05-31", family, "202504.16.0")
	upgraded, added, removed := tracker.DiffPackages(prev.Packages, cur.Packages)
	want := tracker.PackageChange{Name: "linux-image-6.8.0-1026-azure", FromName: "linux-image-6.8.0-1025-azure", From: "6.8.0-1025.30", To: "6.8.0-1026.31"}
	if !slices.Contains(upgraded, want) {
		t.Errorf("no %+v in %+v", want, upgraded)
	}
	var renamed []string
	for _, u := range upgraded {
		if u.FromName != "" {
			renamed = append(renamed, tracker.KernelPackageKey(u.Name))
			if tracker.KernelPackageKey(u.FromName) != tracker.KernelPackageKey(u.Name) || !strings.Contains(u.From, "1025") || !strings.Contains(u.To, "1026") {
				t.Errorf("rename %+v", u)
			}
		}
	}
	wantRenamed := []string{"linux-azure-cloud-tools-*", "linux-azure-headers-*", "linux-azure-tools-*", "linux-cloud-tools-*-azure", "linux-headers-*-azure", "linux-image-*-azure", "linux-modules-*-azure", "linux-modules-extra-*-azure", "linux-tools-*-azure"}
	if !slices.Equal(renamed, wantRenamed) {
		t.Errorf("renamed kernel packages %q, want %q", renamed, wantRenamed)
	}
	for _, p := range slices.Concat(added, removed) {
		if strings.Contains(p.Name, "6.8.0-102") {
			t.Errorf("kernel package %+v added or removed, not upgraded", p)
		}
	}
}

// TestDiffPackagesApplies checks over every pair of consecutive real notes of the
// families that list packages that the diff is exact: applied to the older list it
// gives the newer one, and a kernel change is never a removal.
func TestDiffPackagesApplies(t *testing.T) {
	pairs, renames := 0, 0
	for _, world := range []string{"2026-02-11", "2026-05-31"} {
		for _, family := range []string{"AKSUbuntu/gen2/2404containerd", "AKSAzureLinuxV3/gen2"} {
			versions := familyNotes(t, world, family)
			prev := readContents(t, world, family, versions[0])
			for _, v := range versions[1:] {
				cur := readContents(t, world, family, v)
				upgraded, added, removed := tracker.DiffPackages(prev.Packages, cur.Packages)
				pairs++
				name := world + " " + family + " " + v
				got, err := applyDiff(prev.Packages, upgraded, added, removed)
				if err != nil {
					t.Errorf("%s: %v", name, err)
				} else if want := sortedPackages(cur.Packages); !slices.Equal(got, want) {
					t.Errorf("%s: the diff applied gives %d packages, want %d", name, len(got), len(want))
				}
				for _, p := range removed {
					if k := tracker.KernelPackageKey(p.Name); k != p.Name && slices.ContainsFunc(added, func(a tracker.Package) bool { return tracker.KernelPackageKey(a.Name) == k }) {
						t.Errorf("%s: %s removed and %s added", name, p.Name, k)
					}
				}
				for _, u := range upgraded {
					if u.From == u.To && u.FromName == "" {
						t.Errorf("%s: upgrade %+v changes nothing", name, u)
					}
					if u.FromName != "" {
						renames++
					}
				}
				prev = cur
			}
		}
	}
	if pairs < 100 || renames < 100 {
		t.Errorf("%d pairs, %d kernel renames; the fixtures hold over 100 of each", pairs, renames)
	}
}

// applyDiff applies a diff to a list: the test's own reading of what the diff says.
func applyDiff(prev []tracker.Package, upgraded []tracker.PackageChange, added, removed []tracker.Package) ([]tracker.Package, error) {
	list := slices.Clone(prev)
	for _, r := range removed {
		i := slices.Index(list, r)
		if i < 0 {
			return nil, fmt.Errorf("removed %+v: not in the older list", r)
		}
		list = slices.Delete(list, i, i+1)
	}
	var upgrades []tracker.Package
	for _, u := range upgraded {
		from := cmp.Or(u.FromName, u.Name)
		match := func(p tracker.Package) bool {
			return p.Name == from && p.Version == u.From && (u.Arch == "" || p.Arch == u.Arch)
		}
		i := slices.IndexFunc(list, match)
		if i < 0 {
			return nil, fmt.Errorf("upgraded %+v: not in the older list", u)
		}
		p := list[i]
		list = slices.Delete(list, i, i+1)
		if slices.ContainsFunc(list, match) {
			return nil, fmt.Errorf("upgraded %+v: names two packages of the older list", u)
		}
		upgrades = append(upgrades, tracker.Package{Name: u.Name, Version: u.To, Arch: p.Arch})
	}
	return sortedPackages(slices.Concat(list, upgrades, added)), nil
}

func sortedPackages(list []tracker.Package) []tracker.Package {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b tracker.Package) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
	})
	return list
}

// TestDiffPackagesEdges covers what the real pairs hold too rarely to test alone.
func TestDiffPackagesEdges(t *testing.T) {
	type P = tracker.Package
	type C = tracker.PackageChange
	tests := []struct {
		name           string
		prev, cur      []P
		upgraded       []C
		added, removed []P
	}{
		{"nothing", nil, nil, []C{}, []P{}, []P{}},
		// Azure Linux keeps two kernels: the one kept is no change.
		{"two kernels, one kept", []P{{"kernel", "6.6.112.1-2.azl3", "x86_64"}, {"kernel", "6.6.117.1-1.azl3", "x86_64"}},
			[]P{{"kernel", "6.6.117.1-1.azl3", "x86_64"}, {"kernel", "6.6.119.3-1.azl3", "x86_64"}},
			[]C{{Name: "kernel", From: "6.6.112.1-2.azl3", To: "6.6.119.3-1.azl3"}}, []P{}, []P{}},
		{"two kernels, one gone", []P{{"kernel", "6.6.96.2-2.azl3", "x86_64"}, {"kernel", "6.6.104.2-1.azl3", "x86_64"}},
			[]P{{"kernel", "6.6.104.2-1.azl3", "x86_64"}},
			[]C{}, []P{}, []P{{"kernel", "6.6.96.2-2.azl3", "x86_64"}}},
		// A name for two arches: each change names its arch.
		{"multi-arch", []P{{"libc6", "2.39-0ubuntu8.4", "amd64"}, {"libc6", "2.39-0ubuntu8.4", "i386"}},
			[]P{{"libc6", "2.39-0ubuntu8.5", "amd64"}, {"libc6", "2.39-0ubuntu8.4", "i386"}},
			[]C{{Name: "libc6", Arch: "amd64", From: "2.39-0ubuntu8.4", To: "2.39-0ubuntu8.5"}}, []P{}, []P{}},
		// Another arch is another binary.
		{"arch change", []P{{"python3-foo", "1.0-1", "amd64"}}, []P{{"python3-foo", "1.1-1", "all"}},
			[]C{}, []P{{"python3-foo", "1.1-1", "all"}}, []P{{"python3-foo", "1.0-1", "amd64"}}},
		// Two kernels' packages for one: the old ones pair only when one is left.
		{"kernel rename, two old kernels", []P{{"linux-image-6.8.0-1025-azure", "6.8.0-1025.30", "amd64"}, {"linux-image-6.8.0-1024-azure", "6.8.0-1024.29", "amd64"}},
			[]P{{"linux-image-6.8.0-1026-azure", "6.8.0-1026.31", "amd64"}},
			[]C{}, []P{{"linux-image-6.8.0-1026-azure", "6.8.0-1026.31", "amd64"}},
			[]P{{"linux-image-6.8.0-1024-azure", "6.8.0-1024.29", "amd64"}, {"linux-image-6.8.0-1025-azure", "6.8.0-1025.30", "amd64"}}},
		// A version in a library's name is its soname, not a kernel ABI.
		{"soname", []P{{"libtss2-esys-3.0.2-0", "3.2.0-1ubuntu1.1", "amd64"}}, []P{{"libtss2-esys-3.0.3-0", "3.2.1-1", "amd64"}},
			[]C{}, []P{{"libtss2-esys-3.0.3-0", "3.2.1-1", "amd64"}}, []P{{"libtss2-esys-3.0.2-0", "3.2.0-1ubuntu1.1", "amd64"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upgraded, added, removed := tracker.DiffPackages(tt.prev, tt.cur)
			if !reflect.DeepEqual(upgraded, tt.upgraded) || !reflect.DeepEqual(added, tt.added) || !reflect.DeepEqual(removed, tt.removed) {
				t.Errorf("DiffPackages() = %+v, %+v, %+v; want %+v, %+v, %+v", upgraded, added, removed, tt.upgraded, tt.added, tt.removed)
			}
		})
	}
}

func TestKernelPackageKey(t *testing.T) {
	tests := []struct{ name, want string }{
		{"linux-image-6.8.0-1064-azure", "linux-image-*-azure"},
		{"linux-modules-extra-6.8.0-1026-azure", "linux-modules-extra-*-azure"},
		{"linux-azure-fips-cloud-tools-5.15.0-1118", "linux-azure-fips-cloud-tools-*"},
		// The 22.04 HWE kernel: the series (6.8) is no ABI.
		{"linux-azure-6.8-cloud-tools-6.8.0-1064", "linux-azure-6.8-cloud-tools-*"},
		{"linux-headers-6.8.0-1026", "linux-headers-*"},
		{"linux-image-azure", "linux-image-azure"},
		{"linux-libc-dev", "linux-libc-dev"},
		{"linux-tools-common", "linux-tools-common"},
		{"libtss2-esys-3.0.2-0", "libtss2-esys-3.0.2-0"},
		{"linux-foo-6.8.0-1026x", "linux-foo-6.8.0-1026x"},
		{"linux-foo-6.8.0", "linux-foo-6.8.0"},
		{"linux-", "linux-"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := tracker.KernelPackageKey(tt.name); got != tt.want {
			t.Errorf("KernelPackageKey(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	// Every package a real note lists: a key is the name or, for kernel packages, the
	// name with one ABI starred.
	n := readContents(t, "", "AKSUbuntu/gen2/2204fipscontainerd", "202608.20.0")
	kernels := 0
	for _, p := range n.Packages {
		k := tracker.KernelPackageKey(p.Name)
		if k != p.Name {
			kernels++
			if strings.Count(k, "*") != 1 || !strings.HasPrefix(k, "linux-") {
				t.Errorf("KernelPackageKey(%q) = %q", p.Name, k)
			}
		}
	}
	if kernels == 0 {
		t.Error("no kernel package in the FIPS note")
	}
}

func TestDiffContainerImages(t *testing.T) {
	read := func(version string) []string {
		data, err := os.ReadFile(filepath.Join(trackertest.World(t, "2026-05-31"), trackertest.NotesDir, "AKSUbuntu/gen2/2404containerd", version+"-image-list.json"))
		if err != nil {
			t.Fatal(err)
		}
		images, err := vhdnotes.ParseContainerImages(data)
		if err != nil {
			t.Fatal(err)
		}
		return images
	}
	prev, cur := read("202605.14.0"), read("202605.27.0")
	c := tracker.DiffContainerImages(prev, cur)
	if len(c.Added) != 15 || len(c.Removed) != 33 {
		t.Errorf("%d added, %d removed; want 15 and 33", len(c.Added), len(c.Removed))
	}
	if !slices.Contains(c.Added, "mcr.microsoft.com/oss/v2/kubernetes/kube-proxy:v1.35.4-3") || !slices.Contains(c.Removed, "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.28.102-akslts") {
		t.Errorf("added %q, removed %q", c.Added, c.Removed)
	}
	want := tracker.ImageTagChange{Repository: "mcr.microsoft.com/containernetworking/cilium/cilium", From: []string{"v1.17.9-260304"}, To: []string{"v1.17.10-260319"}}
	if !slices.ContainsFunc(c.Changed, func(ch tracker.ImageTagChange) bool { return reflect.DeepEqual(ch, want) }) {
		t.Errorf("no %+v in %+v", want, c.Changed)
	}
	for _, ch := range c.Changed {
		// A repository the newer image no longer carries is a removal, not a change.
		if ch.Repository == "mcr.microsoft.com/oss/kubernetes/azure-cloud-node-manager" {
			t.Errorf("changed %+v: the repository is gone", ch)
		}
		if ch.From == nil || ch.To == nil || len(ch.From)+len(ch.To) == 0 {
			t.Errorf("changed %+v", ch)
		}
	}
	// Applied: the older list less Removed plus Added is the newer.
	got := slices.Concat(slices.DeleteFunc(slices.Clone(prev), func(s string) bool { return slices.Contains(c.Removed, s) }), c.Added)
	slices.Sort(got)
	if !slices.Equal(got, cur) {
		t.Errorf("applied diff gives %d images, want %d", len(got), len(cur))
	}

	same := tracker.DiffContainerImages(cur, cur)
	data, err := json.Marshal(same)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"added":[],"removed":[],"changed":[]}` {
		t.Errorf("no change marshals as %s", data)
	}
	// A registry's port is no tag; a digest is one.
	edge := tracker.DiffContainerImages([]string{"localhost:5000/pause:3.9", "mcr.microsoft.com/a@sha256:01"}, []string{"localhost:5000/pause:3.10", "mcr.microsoft.com/a@sha256:02"})
	wantEdge := []tracker.ImageTagChange{
		{Repository: "localhost:5000/pause", From: []string{"3.9"}, To: []string{"3.10"}},
		{Repository: "mcr.microsoft.com/a", From: []string{"sha256:01"}, To: []string{"sha256:02"}},
	}
	if !reflect.DeepEqual(edge.Changed, wantEdge) {
		t.Errorf("Changed = %+v, want %+v", edge.Changed, wantEdge)
	}
}

func TestDiffUpdates(t *testing.T) {
	n := readContents(t, "", "AKSWindows/2025-gen2", "26100.7171.251116")
	if len(n.Updates) != 3 {
		t.Fatalf("%d updates", len(n.Updates))
	}
	// The next month's image, as the fixtures hold none: one update replaced.
	next := slices.Concat(n.Updates[:2], []tracker.WindowsUpdate{{ID: "KB5072033", Kind: "Security Update"}})
	got := tracker.DiffUpdates(n.Updates, next)
	if want := (tracker.UpdateChanges{Added: []string{"KB5072033"}, Removed: []string{"KB5067035"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("DiffUpdates() = %+v, want %+v", got, want)
	}
	data, err := json.Marshal(tracker.DiffUpdates(n.Updates, n.Updates))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"added":[],"removed":[]}` {
		t.Errorf("no change marshals as %s", data)
	}
}

func TestPackageChangesJSON(t *testing.T) {
	prev := "202412.10.0"
	upgraded, added, removed := tracker.DiffPackages(
		[]tracker.Package{{Name: "curl", Version: "7.81.0-1ubuntu1.19", Arch: "amd64"}, {Name: "linux-image-6.8.0-1025-azure", Version: "6.8.0-1025.30", Arch: "amd64"}},
		[]tracker.Package{{Name: "curl", Version: "7.81.0-1ubuntu1.20", Arch: "amd64"}, {Name: "linux-image-6.8.0-1026-azure", Version: "6.8.0-1026.31", Arch: "amd64"}})
	data, err := json.Marshal(tracker.PackageChanges{Previous: &prev, Upgraded: upgraded, Added: added, Removed: removed})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"previous":"202412.10.0","upgraded":[{"name":"curl","from":"7.81.0-1ubuntu1.19","to":"7.81.0-1ubuntu1.20"},` +
		`{"name":"linux-image-6.8.0-1026-azure","from_name":"linux-image-6.8.0-1025-azure","from":"6.8.0-1025.30","to":"6.8.0-1026.31"}],"added":[],"removed":[]}`
	if string(data) != want {
		t.Errorf("JSON\n%s\nwant\n%s", data, want)
	}
}
