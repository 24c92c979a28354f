package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

// TestShowNames: a new user pastes what their cluster says into show. The names come
// from the real kubectl and az outputs in fixtures/nodes, and the snapshot's own images.
func TestShowNames(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	var fromNodes []string
	for _, f := range []string{"kubectl-get-nodes-aks-ubuntu1804.json", "az-aks-nodepool-add-windows2022.json", "az-aks-nodepool-update-ubuntu2204.json"} {
		data, err := os.ReadFile(filepath.Join(fixtures(t), "nodes", f))
		if err != nil {
			t.Fatal(err)
		}
		fromNodes = append(fromNodes, regexp.MustCompile(`AKS[A-Za-z]+-[A-Za-z0-9.-]+[0-9]`).FindAllString(string(data), -1)...)
	}
	if len(fromNodes) < 3 {
		t.Fatalf("names in fixtures/nodes: %v", fromNodes)
	}
	for _, name := range fromNodes {
		// None of these families is in the snapshot: each says so, and matches nothing else.
		code, out, errOut := c.run("show", name)
		if code != 1 || strings.Contains(out, "node image ") {
			t.Errorf("show %s: exit %d\n%s%s", name, code, out, errOut)
		}
		if strings.HasPrefix(name, "AKSUbuntu-1804") && !strings.Contains(errOut, "Ubuntu 18.04, which AKS no longer publishes") {
			t.Errorf("show %s: %s", name, errOut)
		}
	}
	for _, c2 := range []struct{ name, family string }{
		{"AKSFlatcar-flatcargen2-202605.27.0", "AKSFlatcar/gen2"},
		{"AKSAzureLinux-V3gen2-202605.27.0", "AKSAzureLinuxV3/gen2"},
		{"AKSUbuntu-2404gen2containerd-202605.27.0-2026.06.01", "AKSUbuntu/gen2/2404containerd"},
	} {
		var found tracker.Found
		if err := json.Unmarshal([]byte(c.mustRun("show", c2.name, "--json")), &found); err != nil {
			t.Fatal(err)
		}
		if len(found.Images) != 1 || found.Images[0].Family != c2.family || found.Name == nil || found.Images[0].NodeImageVersion != strings.TrimSuffix(c2.name, "-2026.06.01") {
			t.Errorf("show %s: %+v", c2.name, found)
		}
	}
	if code, _, errOut := c.run("show", "AKSUbuntu-2404gen2containerd"); code != 1 || !strings.Contains(errOut, `"AKSUbuntu-2404gen2containerd" is no AKS node image name`) {
		t.Errorf("a name without a version: exit %d, %s", code, errOut)
	}
}

// TestFamiliesCommand lists every family with its AKS name, and --quiet none of the
// snapshot's, which all shipped on 2026-05-27.
func TestFamiliesCommand(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	out := c.mustRun("families")
	for _, want := range []string{"Azure Linux  AKSAzureLinuxV3/gen2", "AKSAzureLinux-V3gen2-202605.27.0", "AKSFlatcar-flatcargen2arm64-202605.27.0", "6.8.0-1056-azure"} {
		if !strings.Contains(out, want) {
			t.Errorf("families lacks %q:\n%s", want, out)
		}
	}
	var quiet []tracker.FamilyStatus
	if err := json.Unmarshal([]byte(c.mustRun("families", "--quiet", "--json")), &quiet); err != nil || len(quiet) != 0 {
		t.Errorf("families --quiet --json: %v %v", quiet, err)
	}
}

// TestCheckSaysTheTreeWasTruncated: a tree GitHub cuts is listed another way, and check
// says so as a warning, not a failure.
func TestCheckSaysTheTreeWasTruncated(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.srv.SetTreeLimit(100)
	code, out, errOut := c.run("check")
	if code != 0 || !strings.Contains(out, "warning: vhd_notes: the tree of Azure/AgentBaker/vhdbuilder/release-notes@master") ||
		!strings.Contains(out, "came back truncated") || !strings.Contains(out, "vhd_notes:AKSFlatcar/gen2 ") {
		t.Errorf("check with a truncated tree: exit %d\n%s%s", code, out, errOut)
	}
}
