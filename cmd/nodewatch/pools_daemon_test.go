package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/kubernetes/kubetest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// TestDaemonWatchesPools runs `nodewatch run` against a real kube-apiserver with the
// project's RBAC: the pools show in /api/v1/pools, `nodes` and the metrics; pool_behind
// reaches Slack once per pool and newest image, across a SIGTERM restart and a SIGKILL;
// a pool created while it runs is seen without a restart; no token reaches the log.
func TestDaemonWatchesPools(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, and a kube-apiserver")
	}
	bin := buildBinary(t)
	upstream := serveWorld(t, "world-2026-05-31")
	s := kubetest.Start(t)
	admin := s.Admin(t)
	kubetest.ApplyRBAC(t, admin, filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml"))
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	s.Kubeconfig(t, kubeconfig, "prod-weu", "kubetest", s.NodewatchToken)

	slack := newSlackWebhook(t)
	listen := freePort(t)
	cfg := fmt.Sprintf(`
schedule: "@every 1s"
jitter: 0s
storage: {path: %s}
github: {api_url: %s}
sources:
  vhd_notes: {families: [AKSFlatcar/gen2]}
  flatcar: {base_url: %s}
  ubuntu_security: {url: %s}
notifiers:
  - {name: team, type: slack, webhook_url: "${TEST_SLACK_WEBHOOK}"}
routes:
  - {events: [pool_behind], notify: [team]}
http: {listen: %s}
log: {format: json}
kubernetes:
  enabled: true
  clusters: [{name: prod-weu, kubeconfig: %s, context: prod-weu}]
`, filepath.Join(dir, "nodewatch.db"), upstream.GitHubAPIURL(), upstream.FlatcarURL(), upstream.UbuntuSecurityURL(), listen, kubeconfig)
	path := filepath.Join(dir, "nodewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SLACK_WEBHOOK", slack.URL+"/services/T000/B000/S3cretW3bhook")

	// The pools run images of Ubuntu 24.04, which `families` leaves out: watched for them.
	images := storedImages(t, upstream, "AKSUbuntu/gen2/2404containerd")
	n := len(images)
	old, newest := images[n-4], images[n-1]
	name := func(im tracker.NodeImage) string { return tracker.NodeImageVersion(im.Family, im.SKU, im.Version) }
	kubetest.CreateNode(t, admin, kubetest.AKSNode("aks-apps-0", "apps", name(old), "Ubuntu 24.04.4 LTS", old.Kernel, "amd64"))
	kubetest.CreateNode(t, admin, kubetest.AKSNode("aks-system-0", "system", name(newest), "Ubuntu 24.04.4 LTS", newest.Kernel, "amd64"))

	base := "http://" + listen
	var logs strings.Builder
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", path, "run")
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitFor(t, "/readyz 200", func() bool { return status(base+"/readyz") == 200 })
		return cmd
	}
	behindKey := "pool_behind prod-weu/apps " + newest.Version
	posted := func(prefix string) int {
		n := 0
		for _, text := range slack.texts() {
			if strings.HasPrefix(text, prefix+":") {
				n++
			}
		}
		return n
	}

	cmd := start()
	waitFor(t, "pool_behind in Slack", func() bool { return posted(behindKey) == 1 })
	var pools []tracker.NodePool
	waitFor(t, "both pools judged in /api/v1/pools", func() bool {
		pools = nil
		json.Unmarshal([]byte(get(t, base+"/api/v1/pools")), &pools)
		return len(pools) == 2 && pools[0].Status == tracker.PoolBehind && pools[1].Status == tracker.PoolCurrent
	})
	var out, errOut strings.Builder
	if code := execute(t.Context(), []string{"--config", path, "nodes", "--json"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"pool":"apps"`) {
		t.Errorf("nodes while the daemon runs: exit %d %s %s", code, errOut.String(), out.String())
	}
	out.Reset()
	if code := execute(t.Context(), []string{"--config", path, "nodes", "--history", "prod-weu/apps"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), name(old)) {
		t.Errorf("nodes --history while the daemon runs: exit %d %s %s", code, errOut.String(), out.String())
	}
	metrics := get(t, base+"/metrics")
	for _, m := range []string{`nodewatch_pool_nodes{cluster="prod-weu",pool="apps"} 1`,
		`nodewatch_pool_images_behind{cluster="prod-weu",family="AKSUbuntu/gen2/2404containerd",pool="apps"} 3`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// A pool that appears while it runs, seen without a restart and announced once.
	kubetest.CreateNode(t, admin, kubetest.AKSNode("aks-late-0", "late", name(old), "Ubuntu 24.04.4 LTS", old.Kernel, "amd64"))
	lateKey := "pool_behind prod-weu/late " + newest.Version
	waitFor(t, "the new pool's pool_behind", func() bool { return posted(lateKey) == 1 })

	// Stopped and started again, then killed and started again: nothing is posted twice.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	cmd = start()
	time.Sleep(3 * time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	cmd = start()
	time.Sleep(3 * time.Second)

	// An API server that goes away is a failed source that /readyz names, and no crash;
	// once back, the cluster is read again.
	s.StopAPIServer(t)
	waitFor(t, "/readyz naming the cluster", func() bool {
		return strings.Contains(get(t, base+"/readyz"), "kubernetes:prod-weu: cluster prod-weu:")
	})
	if pools = nil; json.Unmarshal([]byte(get(t, base+"/api/v1/pools")), &pools) != nil || len(pools) != 3 {
		t.Errorf("while the API server is away, /api/v1/pools has %d pools, want the 3 last known", len(pools))
	}
	s.StartAPIServer(t)
	waitFor(t, "/readyz without the cluster", func() bool { return !strings.Contains(get(t, base+"/readyz"), "kubernetes:prod-weu") })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait() // its log is whole before it is read
	if cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("the daemon exited %d", cmd.ProcessState.ExitCode())
	}
	if posted(behindKey) != 1 || posted(lateKey) != 1 || len(slack.texts()) != 2 {
		t.Errorf("after a restart and a SIGKILL Slack has %d posts:\n%s", len(slack.texts()), strings.Join(slack.texts(), "\n"))
	}
	// Without the daemon, `nodes` lists the clusters itself; one that cannot be read is
	// exit 2, named, and the others' pools are printed.
	two := strings.Replace(cfg, "clusters: [{name: prod-weu, kubeconfig: "+kubeconfig+", context: prod-weu}]",
		"clusters: [{name: prod-weu, kubeconfig: "+kubeconfig+", context: prod-weu}, {name: gone, kubeconfig: "+filepath.Join(dir, "nope")+"}]", 1)
	twoPath := filepath.Join(dir, "two.yaml")
	os.WriteFile(twoPath, []byte(two), 0o600)
	var listed, listErr strings.Builder
	code := execute(t.Context(), []string{"--config", twoPath, "nodes", "--json"}, &listed, &listErr)
	if code != exitSourceError || !strings.Contains(listErr.String(), "cluster gone: kubeconfig") || !strings.Contains(listed.String(), `"pool":"apps"`) {
		t.Errorf("nodes over a readable and a missing cluster: exit %d\n%s%s", code, listErr.String(), listed.String())
	}

	for _, secret := range []string{s.NodewatchToken, s.AdminToken, "S3cretW3bhook"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret reached the log")
		}
	}
}

// storedImages reads a family's history as nodewatch stores it, in version order, from
// one check over the served world.
func storedImages(t *testing.T, upstream *upstreamtest.Server, family string) []tracker.NodeImage {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("storage: {path: %s}\ngithub: {api_url: %s}\nsources: {vhd_notes: {families: [%q]}, flatcar: {enabled: false}, aks_releases: {enabled: false}, ubuntu_security: {url: %s}}\nlog: {level: warn}\n",
		filepath.Join(dir, "db"), upstream.GitHubAPIURL(), family, upstream.UbuntuSecurityURL())
	c := &cli{t: t, srv: upstream, config: filepath.Join(dir, "nodewatch.yaml")}
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mustRun("check")
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	out := make([]tracker.NodeImage, len(views))
	for i, v := range views {
		sku := strings.TrimSuffix(strings.TrimPrefix(v.NodeImageVersion, "AKSUbuntu-"), "-"+v.Version)
		out[i] = tracker.NodeImage{Family: v.Family, Version: v.Version, SKU: sku, Kernel: deref(v.Kernel, "")}
	}
	return out
}
