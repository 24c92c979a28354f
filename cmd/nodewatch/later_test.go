package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// laterWorld is testdata/world-later: real notes and image lists of every family of
// AgentBaker as it stood in autumn 2026, which the fixtures' snapshots do not hold,
// with the facts read from them (see its README.md).
type laterWorld struct {
	Date     string   `json:"date"`
	Families []string `json:"families"`
	Retired  []struct {
		Family string `json:"family"`
		Newest string `json:"newest"`
	} `json:"retired_families"`
	Facts map[string]struct {
		Newest    string  `json:"newest"`
		SKU       string  `json:"sku"`
		OSName    string  `json:"os_name"`
		OSVersion string  `json:"os_version"`
		Kernel    *string `json:"kernel"`
	} `json:"facts"`
}

func readLaterWorld(t *testing.T) (string, laterWorld) {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "world-later")
	data, err := os.ReadFile(filepath.Join(dir, "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	var w laterWorld
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	return dir, w
}

// laterCLI is nodewatch configured as a new user would (no families key: every family),
// against testdata/world-later served as GitHub serves it; the AKS releases and Flatcar
// are not part of that world.
func laterCLI(t *testing.T) (*cli, laterWorld) {
	c, w, _ := laterCLIWith(t, func(*upstreamtest.Server) string { return "flatcar: {enabled: false}" })
	return c, w
}

// laterCLIWith is laterCLI with more sources configured (sources gives them, as YAML
// flow entries, from the server), and the world's directory.
func laterCLIWith(t *testing.T, sources func(*upstreamtest.Server) string) (*cli, laterWorld, string) {
	t.Helper()
	dir, w := readLaterWorld(t)
	srv, err := upstreamtest.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(t))
	tmp := t.TempDir()
	config := filepath.Join(tmp, "nodewatch.yaml")
	cfg := fmt.Sprintf("storage: {path: %s}\ngithub: {api_url: %s}\nsources: {aks_releases: {enabled: false}, %s, ubuntu_security: {url: %s}}\nlog: {level: warn}\n",
		filepath.Join(tmp, "nodewatch.db"), srv.GitHubAPIURL(), sources(srv), srv.UbuntuSecurityURL())
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, srv: srv, config: config}, w, dir
}

// aksName is the contract's rule, written out for the test: <OS>-<sku>-<version>, the OS
// by the family's top directory, Windows without its sku's windows-, Azure Container
// Linux without a sku.
func aksName(family, sku, version string) string {
	top, _, _ := strings.Cut(family, "/")
	switch top {
	case "AKSAzureContainerLinux":
		return "AKSAzureContainerLinux-" + version
	case "AKSAzureLinuxV3":
		top = "AKSAzureLinux"
	case "AKSWindows":
		sku = strings.TrimPrefix(sku, "windows-")
	}
	return top + "-" + sku + "-" + version
}

// TestLaterHistoryOfEveryFamily: the program, run as a new user would with no families
// configured, against every family it has not seen in the fixtures: each family's newest
// image is stored with the OS, version and kernel its note says, named as AKS names it,
// and found again by that name.
func TestLaterHistoryOfEveryFamily(t *testing.T) {
	c, w := laterCLI(t)
	if out := c.mustRun("check"); strings.Contains(out, "FAILED") {
		t.Fatalf("check:\n%s", out)
	}
	var families []tracker.FamilyStatus
	if err := json.Unmarshal([]byte(c.mustRun("families", "--json")), &families); err != nil {
		t.Fatal(err)
	}
	got := map[string]tracker.FamilyStatus{}
	for _, f := range families {
		got[f.Family] = f
	}
	if len(w.Facts) < 10 {
		t.Fatalf("world-later has facts of %d families", len(w.Facts))
	}
	for family, want := range w.Facts {
		f, ok := got[family]
		if !ok {
			t.Errorf("%s: not listed", family)
			continue
		}
		kernel := "<null>"
		if f.Kernel != nil {
			kernel = *f.Kernel
		}
		wantKernel := "<null>"
		if want.Kernel != nil {
			wantKernel = *want.Kernel
		}
		osVersion := ""
		if f.OSVersion != nil {
			osVersion = *f.OSVersion
		}
		if f.Newest != want.Newest || f.OSName != want.OSName || osVersion != want.OSVersion || kernel != wantKernel {
			t.Errorf("%s: newest %s, %q %q, kernel %s; the note says %s, %q %q, kernel %s",
				family, f.Newest, f.OSName, osVersion, kernel, want.Newest, want.OSName, want.OSVersion, wantKernel)
		}
		if want.SKU == "" {
			// No image list: no name rather than a guessed one.
			if f.NodeImageVersion != "" {
				t.Errorf("%s has no image list, but is named %q", family, f.NodeImageVersion)
			}
			continue
		}
		name := aksName(family, want.SKU, want.Newest)
		if f.NodeImageVersion != name {
			t.Errorf("%s: named %q, AKS names it %q", family, f.NodeImageVersion, name)
			continue
		}
		var found tracker.Found
		if err := json.Unmarshal([]byte(c.mustRun("show", name, "--json")), &found); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(found.Images, func(v tracker.ImageDetail) bool { return v.Family == family && v.Version == want.Newest }) {
			t.Errorf("show %s does not find %s %s", name, family, want.Newest)
		}
		for _, v := range found.Images {
			if tracker.NameOS(v.Family) != tracker.NameOS(family) {
				t.Errorf("show %s found %s of another OS", name, v.Family)
			}
		}
	}
	t.Logf("%d families, each linked to its note's OS and kernel, and named and found as AKS names it where its image list is here", len(w.Facts))
}

// TestRealNodeImageNames: names found in public documents and outputs (the table says
// where) resolve as a new user expects against every family of the later world: to the
// families whose image lists name that OS and sku (read from world.json's facts, not from
// nodewatch), a retired line to "no longer publishes", anything else to no family.
func TestRealNodeImageNames(t *testing.T) {
	c, w := laterCLI(t)
	c.mustRun("check")

	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "node-image-names.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
	if len(rows) < 20 {
		t.Fatalf("%d names", len(rows))
	}
	resolved, retired := 0, 0
	for _, row := range rows {
		name, where, _ := strings.Cut(row, "\t")
		var want []string
		for family, f := range w.Facts {
			// The name's OS and sku, as the contract builds them from the family's image list.
			if f.SKU != "" && strings.EqualFold(strings.TrimSuffix(aksName(family, f.SKU, "V"), "V"), osAndSKU(t, name)) {
				want = append(want, family)
			}
		}
		slices.Sort(want)
		code, out, errOut := c.run("show", name, "--json")
		var found tracker.Found
		if err := json.Unmarshal([]byte(out), &found); err != nil || found.Name == nil {
			t.Errorf("show %s: exit %d, %v\n%s%s", name, code, err, out, errOut)
			continue
		}
		n := found.Name.Name
		isRetired := n.OS == "AKSCBLMariner" || n.OS == "AKSUbuntu" && strings.HasPrefix(n.SKU, "1804") ||
			n.OS == "AKSAzureLinux" && strings.HasPrefix(n.SKU, "V2") || n.OS == "AKSWindows" && (strings.HasPrefix(n.SKU, "2019") || strings.HasPrefix(n.SKU, "23H2"))
		got := found.Name.Families
		switch {
		case !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0):
			t.Errorf("%s (%s): families %v, want %v", name, where, got, want)
		case isRetired && !strings.Contains(found.Name.NoFamily, "which AKS no longer publishes"):
			t.Errorf("%s (%s): a retired line, but %q", name, where, found.Name.NoFamily)
		case len(want) == 0 && !isRetired && !strings.Contains(found.Name.NoFamily, "no family nodewatch knows publishes"):
			t.Errorf("%s (%s): %q", name, where, found.Name.NoFamily)
		}
		if len(want) > 0 {
			resolved++
		}
		if isRetired {
			retired++
		}
	}
	t.Logf("%d real names: %d resolved to their families, %d of retired lines, %d of families this world does not hold", len(rows), resolved, retired, len(rows)-resolved-retired)
}

// osAndSKU is a name without its version and patch day: "AKSUbuntu-2204gen2containerd-".
func osAndSKU(t *testing.T, name string) string {
	n, err := tracker.ParseNodeImageName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if n.SKU == "" {
		return n.OS + "-"
	}
	return n.OS + "-" + n.SKU + "-"
}
