package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// withSamples2204 serves the two real Ubuntu 22.04 notes of December 2024 as the family
// AKSUbuntu/gen2/2204containerd, as upstream keeps them.
func withSamples2204(t *testing.T, c *cli) {
	t.Helper()
	for _, v := range []string{"202412.10.0", "202412.29.0"} {
		data, err := os.ReadFile(filepath.Join(fixtures(t), "samples", "AKSUbuntu_gen2_2204containerd_"+v+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		c.srv.Override(trackertest.NotesDir+"/AKSUbuntu/gen2/2204containerd/"+v+".txt", data)
	}
}

func contentsCLI(t *testing.T) *cli {
	t.Helper()
	c := newCLIWith(t, "world-2026-05-31", "")
	withSamples2204(t, c)
	// families: the four of the snapshot and the 22.04 one added above.
	data, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "AKSUbuntu/gen2/2404containerd]", "AKSUbuntu/gen2/2404containerd, AKSUbuntu/gen2/2204containerd]", 1)
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.mustRun("check"); strings.Contains(out, "FAILED") {
		t.Fatalf("check:\n%s", out)
	}
	return c
}

func showJSON(t *testing.T, c *cli, version string) tracker.Found {
	t.Helper()
	var f tracker.Found
	if err := json.Unmarshal([]byte(c.mustRun("show", version, "--json")), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func imageOf(t *testing.T, f tracker.Found, family string) tracker.ImageDetail {
	t.Helper()
	for _, im := range f.Images {
		if im.Family == family {
			return im
		}
	}
	t.Fatalf("no image of %s in %+v", family, f.Images)
	return tracker.ImageDetail{}
}

// installed reads a note's apt list as the note prints it: name -> versions.
func installed(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(data), "=== Installed Packages Begin\n")
	block, _, _ = strings.Cut(block, "=== Installed Packages End")
	out := map[string][]string{}
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(f[0], "/") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "/")
		out[name] = append(out[name], f[1])
	}
	return out
}

// TestShowUbuntuFixes: the curl case end to end. The 22.04 image 202412.29.0 upgrades
// curl 7.81.0-1ubuntu1.19 -> 1.20, which USN-7162-1 fixes; show names it, with the
// package changes checked against the two notes' own lists.
func TestShowUbuntuFixes(t *testing.T) {
	c := contentsCLI(t)
	im := imageOf(t, showJSON(t, c, "202412.29.0"), "AKSUbuntu/gen2/2204containerd")
	if im.Security == nil || im.Security.Source != tracker.SecuritySourceUbuntu {
		t.Fatalf("security = %+v", im.Security)
	}
	curl := tracker.Advisory{ID: "CVE-2024-11053", Package: "curl", In: "USN-7162-1"}
	if !slices.Contains(im.Security.Fixed, curl) {
		t.Errorf("fixed = %v, want %v", im.Security.Fixed, curl)
	}
	if im.Packages == nil || im.Packages.Previous == nil || *im.Packages.Previous != "202412.10.0" {
		t.Fatalf("packages = %+v", im.Packages)
	}
	before := installed(t, filepath.Join(fixtures(t), "samples", "AKSUbuntu_gen2_2204containerd_202412.10.0.txt"))
	after := installed(t, filepath.Join(fixtures(t), "samples", "AKSUbuntu_gen2_2204containerd_202412.29.0.txt"))
	names := map[string]bool{}
	for _, u := range im.Packages.Upgraded {
		names[u.Name] = true
		from := u.Name
		if u.FromName != "" {
			from = u.FromName
		}
		if !slices.Contains(before[from], u.From) || !slices.Contains(after[u.Name], u.To) {
			t.Errorf("upgrade %+v: the notes say %v -> %v", u, before[from], after[u.Name])
		}
	}
	for _, p := range im.Packages.Added {
		names[p.Name] = true
		if _, ok := before[p.Name]; ok {
			t.Errorf("%s added, but the older note lists it", p.Name)
		}
	}
	for _, p := range im.Packages.Removed {
		names[p.Name] = true
		if _, ok := after[p.Name]; ok {
			t.Errorf("%s removed, but the newer note lists it", p.Name)
		}
	}
	// Every package whose version differs between the notes is accounted for.
	for name, vs := range after {
		if was, ok := before[name]; ok && !slices.Equal(was, vs) && !names[name] {
			t.Errorf("%s %v -> %v is not in show's changes", name, was, vs)
		}
	}
	for _, n := range []string{"curl", "libcurl4"} {
		if !names[n] {
			t.Errorf("%s is not among the upgrades", n)
		}
	}
	if out := c.mustRun("show", "202412.29.0"); !strings.Contains(out, "CVE-2024-11053 (curl, USN-7162-1)") {
		t.Errorf("show does not name the fix:\n%s", out)
	}

	// images --json counts what show lists.
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--json", "--family", "AKSUbuntu/gen2/2204containerd")), &views); err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Version == "202412.29.0" && (v.Security == nil || *v.Security != (tracker.SecurityCounts{Fixed: len(im.Security.Fixed), Missing: len(im.Security.Missing)})) {
			t.Errorf("images --json counts %+v, show lists %d fixed and %d missing", v.Security, len(im.Security.Fixed), len(im.Security.Missing))
		}
	}

	// The image before lacks the fix.
	old := imageOf(t, showJSON(t, c, "202412.10.0"), "AKSUbuntu/gen2/2204containerd")
	if old.Security == nil || !slices.Contains(old.Security.Missing, curl) {
		t.Errorf("202412.10.0 security = %+v, want %v missing", old.Security, curl)
	}
}

// TestShowWhatIsUnknown: Flatcar notes list no packages, Azure Linux has no CVE source:
// show says so rather than print nothing.
func TestShowWhatIsUnknown(t *testing.T) {
	c := contentsCLI(t)
	f := showJSON(t, c, "202605.27.0")
	fc := imageOf(t, f, "AKSFlatcar/gen2")
	if fc.Packages != nil || !slices.ContainsFunc(fc.Unknown, func(s string) bool { return strings.Contains(s, "listInstalledPackages stub") }) {
		t.Errorf("Flatcar: packages %+v, unknown %q", fc.Packages, fc.Unknown)
	}
	az := imageOf(t, f, "AKSAzureLinuxV3/gen2")
	if az.Security != nil || !slices.Contains(az.Unknown, tracker.NoAzureLinuxSource) {
		t.Errorf("Azure Linux: security %+v, unknown %q", az.Security, az.Unknown)
	}
	if az.Packages == nil || len(az.Packages.Upgraded) == 0 {
		t.Errorf("Azure Linux packages = %+v, want the upgrades its rpm lists show", az.Packages)
	}
	ub := imageOf(t, f, "AKSUbuntu/gen2/2404containerd")
	if ub.ContainerImages == nil || len(ub.ContainerImages.Added)+len(ub.ContainerImages.Changed) == 0 {
		t.Errorf("Ubuntu container images = %+v, want the changes of its image list", ub.ContainerImages)
	}
}

// TestDiffCumulative: diff over several images is the change of the last against the
// first, and names the images between.
func TestDiffCumulative(t *testing.T) {
	c := contentsCLI(t)
	const family = "AKSUbuntu/gen2/2404containerd"
	var d tracker.ImageDiff
	if err := json.Unmarshal([]byte(c.mustRun("diff", family, "202604.24.0", "202605.27.0", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Images) < 2 || d.Images[len(d.Images)-1] != "202605.27.0" || slices.Contains(d.Images, "202604.24.0") {
		t.Errorf("images = %v", d.Images)
	}
	dir := filepath.Join(trackertest.World(t, "2026-05-31"), trackertest.NotesDir, family)
	before, after := installed(t, filepath.Join(dir, "202604.24.0.txt")), installed(t, filepath.Join(dir, "202605.27.0.txt"))
	if d.Packages == nil {
		t.Fatal("no packages in the diff")
	}
	for _, u := range d.Packages.Upgraded {
		from := u.Name
		if u.FromName != "" {
			from = u.FromName
		}
		if !slices.Contains(before[from], u.From) || !slices.Contains(after[u.Name], u.To) {
			t.Errorf("upgrade %+v: the notes say %v -> %v", u, before[from], after[u.Name])
		}
	}
	if d.Security == nil || d.Security.Source != tracker.SecuritySourceUbuntu {
		t.Errorf("security = %+v", d.Security)
	}
	if out := c.mustRun("diff", family, "202604.24.0", "202605.27.0"); !strings.Contains(out, "packages:") {
		t.Errorf("diff prints:\n%s", out)
	}
	for _, bad := range [][]string{{family, "202605.27.0", "202604.24.0"}, {family, "202604.24.0", "209901.01.0"}, {"AKSNoSuch/gen2", "a", "b"}} {
		if code, _, errOut := c.run(append([]string{"diff"}, bad...)...); code != exitUsage || errOut == "" {
			t.Errorf("diff %v: exit %d, %q", bad, code, errOut)
		}
	}
}

// TestRouteOnCVEs: a `cves: true` route takes the new Ubuntu image that fixes a CVE
// (202412.29.0, USN-7162-1) and leaves the one that fixes none (the 24.04 image of
// 2026-05-27, against Canonical's records at hand); the message names the fix.
func TestRouteOnCVEs(t *testing.T) {
	c := newCLIWith(t, "world-2026-05-31", `
notifiers: [{name: log, type: stdout}]
routes: [{events: [node_image], cves: true, notify: [log]}]
`)
	newest := trackertest.NotesDir + "/AKSUbuntu/gen2/2404containerd/202605.27.0.txt"
	newestData, err := os.ReadFile(filepath.Join(trackertest.World(t, "2026-05-31"), newest))
	if err != nil {
		t.Fatal(err)
	}
	c.srv.Override(newest, nil)
	older, err := os.ReadFile(filepath.Join(fixtures(t), "samples", "AKSUbuntu_gen2_2204containerd_202412.10.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c.srv.Override(trackertest.NotesDir+"/AKSUbuntu/gen2/2204containerd/202412.10.0.txt", older)
	data, _ := os.ReadFile(c.config)
	cfg := strings.Replace(string(data), "AKSUbuntu/gen2/2404containerd]", "AKSUbuntu/gen2/2404containerd, AKSUbuntu/gen2/2204containerd]", 1)
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mustRun("check") // seeds the history silently, and reads Canonical's data

	withSamples2204(t, c)
	c.srv.Override(newest, newestData)
	out := c.mustRun("check")
	if !strings.Contains(out, "node_image AKSUbuntu/gen2/2204containerd 202412.29.0") ||
		!strings.Contains(out, "fixes CVE-2024-11053 in curl (USN-7162-1)") {
		t.Errorf("the image that fixes a CVE was not sent, or not with its fix:\n%s", out)
	}
	if strings.Contains(out, "node_image AKSUbuntu/gen2/2404containerd 202605.27.0") {
		t.Errorf("an image that fixes nothing went through a cves route:\n%s", out)
	}
}

// TestNodesUpgradeFixes: a pool on the first 24.04 image of the history (202501.22.0,
// libssl3t64 3.0.13-0ubuntu3.4) is told that the upgrade to the newest fixes
// CVE-2024-13176 in openssl, which USN-7278-1 fixed in 3.0.13-0ubuntu3.5.
func TestNodesUpgradeFixes(t *testing.T) {
	c := contentsCLI(t)
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--family", "AKSUbuntu/gen2/2404containerd", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	first, newest := views[0], views[len(views)-1]
	if first.Version != "202501.22.0" {
		t.Fatalf("the history starts at %s", first.Version)
	}
	file := fleetFile(t, first.NodeImageVersion, newest.NodeImageVersion)
	code, out, stderr := c.run("nodes", "-f", file, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var pools []tracker.NodePool
	if err := json.Unmarshal([]byte(out), &pools); err != nil {
		t.Fatal(err)
	}
	ssl := tracker.Advisory{ID: "CVE-2024-13176", Package: "openssl", In: "USN-7278-1"}
	found := false
	for _, p := range pools {
		if p.Pool == "apps" {
			found = true
			if p.Security == nil || !slices.Contains(p.Security.Fixed, ssl) {
				t.Errorf("apps: the upgrade's security = %+v, want %v fixed", p.Security, ssl)
			}
		}
	}
	if !found {
		t.Fatalf("no pool apps in %s", out)
	}
	if _, table, _ := c.run("nodes", "-f", file); !strings.Contains(table, "CVE-2024-13176") {
		t.Errorf("the table does not name the fix:\n%s", table)
	}
}
