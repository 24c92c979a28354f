package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

// fleetFile is the real 2021 capture of `kubectl get nodes -o json` with its nodes moved
// onto images of the served history, as an upgrade would label them: one node of pool
// apps on old, the other two (pool system) on newest.
func fleetFile(t *testing.T, old, newest string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures(t), "nodes", "kubectl-get-nodes-aks-ubuntu1804.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list map[string]any
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	for i, it := range list["items"].([]any) {
		labels := it.(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)
		labels["kubernetes.azure.com/node-image-version"], labels["agentpool"] = newest, "system"
		if i == 0 {
			labels["kubernetes.azure.com/node-image-version"], labels["agentpool"] = old, "apps"
		}
	}
	out, _ := json.Marshal(list)
	path := filepath.Join(t.TempDir(), "nodes.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNodesCommand: `nodes -f` on kubectl and az output, the table a person reads, the
// JSON of the contract, the CI gate's exit 3, and input of no accepted shape.
func TestNodesCommand(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--family", "AKSUbuntu/gen2/2404containerd", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	n := len(views)
	old, newest := views[n-4], views[n-1]
	file := fleetFile(t, old.NodeImageVersion, newest.NodeImageVersion)

	code, table, stderr := c.run("nodes", "-f", file)
	t.Logf("nodes -f %s:\n%s%s", filepath.Base(file), stderr, table)
	if code != 0 || !strings.Contains(stderr, "kubectl get nodes (a List of Nodes), 3 nodes") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"apps", "behind", "3 images", newest.Version, "system", "current",
		"apps " + old.Version + " -> " + newest.Version + " brings:", "nodes run kernel 5.4.0-1049-azure, but the notes of " + old.Version} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}

	code, out, _ := c.run("nodes", "-f", file, "--json", "--cluster", "prod-weu")
	var pools []map[string]any
	if err := json.Unmarshal([]byte(out), &pools); err != nil || code != 0 || len(pools) != 2 {
		t.Fatalf("--json: exit %d, %v, %d pools", code, err, len(pools))
	}
	for _, key := range []string{"cluster", "pool", "nodes", "node_image_version", "family", "version", "status", "newest",
		"images_behind", "days_behind", "running", "newest_kernel", "changes"} {
		if _, ok := pools[0][key]; !ok {
			t.Errorf("--json lacks %q: %v", key, pools[0])
		}
	}
	if pools[0]["cluster"] != "prod-weu" || pools[0]["status"] != "behind" || pools[0]["images_behind"] != 3.0 {
		t.Errorf("--json first pool: %v", pools[0])
	}

	if code, _, stderr := c.run("nodes", "-f", file, "--max-behind", "2"); code != exitBehind || !strings.Contains(stderr, "apps (3 images") {
		t.Errorf("--max-behind 2 with a pool 3 behind: exit %d, %q", code, stderr)
	}
	if code, _, _ := c.run("nodes", "-f", file, "--max-behind", "3"); code != 0 {
		t.Errorf("--max-behind 3 with a pool 3 behind: exit %d", code)
	}
	days := int(pools[0]["days_behind"].(float64))
	if code, _, _ := c.run("nodes", "-f", file, "--max-days", itoa(days-1)); code != exitBehind {
		t.Errorf("--max-days %d with a pool %d days behind: exit %d", days-1, days, code)
	}

	code, out, stderr = c.run("nodes", "-f", filepath.Join(fixtures(t), "nodes", "az-aks-nodepool-add-windows2022.json"))
	if code != 0 || !strings.Contains(stderr, "az aks nodepool show, 1 agent pools of cluster recordingbotcluster") ||
		!strings.Contains(out, "win22") || !strings.Contains(out, "unknown_family") {
		t.Errorf("az aks nodepool show: exit %d\n%s%s", code, stderr, out)
	}

	bad := filepath.Join(t.TempDir(), "pods.json")
	os.WriteFile(bad, []byte(`{"apiVersion":"v1","kind":"PodList","items":[]}`), 0o600)
	code, _, stderr = c.run("nodes", "-f", bad)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "pods.json: ") {
		t.Errorf("a PodList: exit %d, %q", code, stderr)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
