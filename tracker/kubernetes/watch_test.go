package kubernetes_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/kubernetes"
	"github.com/nodewatch/nodewatch/tracker/kubernetes/kubetest"
	"github.com/nodewatch/nodewatch/tracker/nodefile"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const ubuntu2404 = trackertest.Ubuntu2404

// history is the May snapshot read whole, and the stored images of Ubuntu 24.04, oldest
// first: the nodes below run real images of it.
func history(t *testing.T) (*trackertest.Rig, []tracker.NodeImage) {
	t.Helper()
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.Cycle(t)
	return r, r.History(t, ubuntu2404, 5)
}

var nameOf = trackertest.NameOf

func aksNode(name, pool string, im tracker.NodeImage) *corev1.Node {
	return kubetest.AKSNode(name, pool, nameOf(im), "Ubuntu 24.04.4 LTS", im.Kernel, "amd64")
}

// rbacManifest is the project's own RBAC: the tests prove it enough and no more.
func rbacManifest(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterWith writes a kubeconfig of the server with token, and names a cluster of it.
func clusterWith(t *testing.T, s *kubetest.Server, name, token string) kubernetes.Cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	s.Kubeconfig(t, path, name, "kubetest", token)
	return kubernetes.Cluster{Name: name, Kubeconfig: path, Context: name}
}

type watchRig struct {
	rig     *trackertest.Rig
	watcher *kubernetes.Watcher
	pools   *tracker.PoolWatch
	changes chan string
}

func startWatch(t *testing.T, r *trackertest.Rig, clusters ...kubernetes.Cluster) *watchRig {
	t.Helper()
	w := kubernetes.NewWatcher(clusters, nil)
	wr := &watchRig{rig: r, watcher: w, pools: &tracker.PoolWatch{Clusters: w, Policy: tracker.DefaultBehind}, changes: make(chan string, 1000)}
	w.OnChange = func(c string) { wr.changes <- c }
	if err := wr.pools.Refresh(r.Tracker); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return wr
}

// until polls the judged pools until ok holds (the watch is asynchronous), or fails.
func (wr *watchRig) until(t *testing.T, what string, ok func([]tracker.NodePool) bool) []tracker.NodePool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pools, _ := wr.pools.Pools()
		if ok(pools) {
			return pools
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 20s; pools %+v", what, pools)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func byKey(pools []tracker.NodePool) map[string]tracker.NodePool {
	m := map[string]tracker.NodePool{}
	for _, p := range pools {
		m[p.Pool+"@"+p.Version] = p
	}
	return m
}

// TestWatchPoolsOnARealAPIServer: the pools of a real API server's nodes, read with the
// project's RBAC and nothing more: current, behind, mid-upgrade, an unknown family, not
// AKS; an upgrade and a new pool seen while watching; pool_behind once per pool and
// newest image, also after the tracker starts again; pool_current once caught up.
func TestWatchPoolsOnARealAPIServer(t *testing.T) {
	r, images := history(t)
	r.Tracker.Router = &tracker.Router{Default: []string{"log"}}
	n := len(images)
	newest, old := images[n-1], images[n-4]

	s := kubetest.Start(t)
	admin := s.Admin(t)
	kubetest.ApplyRBAC(t, admin, rbacManifest(t))
	gpu := old
	gpu.SKU = "2404gen2gpucontainerd"
	for _, node := range []*corev1.Node{
		aksNode("aks-system-0", "system", newest), aksNode("aks-system-1", "system", newest),
		aksNode("aks-apps-0", "apps", old),
		aksNode("aks-batch-0", "batch", old), aksNode("aks-batch-1", "batch", newest),
		aksNode("aks-gpu-0", "gpu", gpu),
		kubetest.AKSNode("edge-0", "", "", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "arm64"),
	} {
		kubetest.CreateNode(t, admin, node)
	}
	// The project's role is enough, and no more.
	nw := s.Client(t, s.NodewatchToken)
	ctx := context.Background()
	if _, err := nw.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("nodewatch's token lists pods: %v", err)
	}
	if err := nw.CoreV1().Nodes().Delete(ctx, "aks-apps-0", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("nodewatch's token deletes a node: %v", err)
	}

	wr := startWatch(t, r, clusterWith(t, s, "prod", s.NodewatchToken))
	pools := wr.until(t, "the first list", func(p []tracker.NodePool) bool { return len(p) == 6 })
	got := byKey(pools)
	for key, want := range map[string]tracker.PoolState{
		"system@" + newest.Version: tracker.PoolCurrent,
		"apps@" + old.Version:      tracker.PoolBehind,
		"batch@" + old.Version:     tracker.PoolBehind,
		"batch@" + newest.Version:  tracker.PoolCurrent,
		"gpu@" + old.Version:       tracker.PoolUnknownFamily,
		"edge-0@":                  tracker.PoolNotAKS,
	} {
		if p := got[key]; p.Status != want || p.Cluster != "prod" {
			t.Errorf("%s: %s in cluster %q, want %s", key, p.Status, p.Cluster, want)
		}
	}
	if p := got["system@"+newest.Version]; p.Nodes != 2 || p.Running == nil || p.Running.Kernel != newest.Kernel {
		t.Errorf("system pool: %d nodes, running %+v", p.Nodes, p.Running)
	}
	if p := got["apps@"+old.Version]; *p.ImagesBehind != 3 || !slices.Equal(p.Changes, tracker.Changes(old, newest)) {
		t.Errorf("apps pool: %v images behind, changes %v", *p.ImagesBehind, p.Changes)
	}

	events, err := wr.pools.Observe(ctx, r.Tracker)
	if err != nil {
		t.Fatal(err)
	}
	// batch is mid-upgrade to the newest: no news. apps is behind.
	if keys := eventKeys(events); !slices.Equal(keys, []string{"pool_behind:prod/apps:" + newest.Version}) {
		t.Errorf("first observation: %v", keys)
	}

	// While watching: a new pool appears, and apps upgrades.
	kubetest.CreateNode(t, admin, aksNode("aks-late-0", "late", old))
	wr.until(t, "a new pool", func(p []tracker.NodePool) bool { return byKey(p)["late@"+old.Version].Status == tracker.PoolBehind })
	upgradeNode(t, admin, "aks-apps-0", newest)
	wr.until(t, "an upgrade", func(p []tracker.NodePool) bool { return byKey(p)["apps@"+newest.Version].Status == tracker.PoolCurrent })
	if len(wr.changes) == 0 {
		t.Error("no change was passed on while nodes were added and upgraded")
	}
	events, err = wr.pools.Observe(ctx, r.Tracker)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pool_behind:prod/late:" + newest.Version, "pool_current:prod/apps:" + newest.Version}
	if keys := eventKeys(events); !slices.Equal(slices.Sorted(slices.Values(keys)), want) {
		t.Errorf("after the changes: %v, want %v", keys, want)
	}
	// A tracker started again on the same store repeats nothing.
	again := trackertest.Wire(t, r.Server, r.DB, nil, tracker.FirstRunSilent)
	again.Router = r.Tracker.Router
	if events, err := wr.pools.Observe(ctx, again); err != nil || len(events) != 0 {
		t.Errorf("observed again by a new tracker: %v %v", eventKeys(events), err)
	}
	hist, err := r.DB.PoolImages("prod/apps")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].NodeImageVersion != nameOf(old) || hist[1].NodeImageVersion != nameOf(newest) {
		t.Errorf("upgrade history of prod/apps: %+v", hist)
	}
}

func eventKeys(events []tracker.Event) []string {
	keys := []string{}
	for _, e := range events {
		keys = append(keys, e.Key)
	}
	return keys
}

// upgradeNode does what an AKS node image upgrade does to a node: a new image label,
// a new kernel in its status.
func upgradeNode(t *testing.T, admin clientset.Interface, name string, im tracker.NodeImage) {
	t.Helper()
	ctx := context.Background()
	node, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Labels[nodefile.LabelNodeImageVersion] = nameOf(im)
	if node, err = admin.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Status.NodeInfo.KernelVersion = im.Kernel
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestClustersThatCannotBeRead: a refused token (401, 403), a missing kubeconfig and a
// context that does not exist are each a clear error naming the cluster; an API server
// that stops is a failed probe while what was known stays, and is read again once back;
// the readable cluster carries on throughout. No token shows in any error.
func TestClustersThatCannotBeRead(t *testing.T) {
	r, images := history(t)
	newest := images[len(images)-1]
	s := kubetest.Start(t)
	admin := s.Admin(t)
	kubetest.ApplyRBAC(t, admin, rbacManifest(t))
	kubetest.CreateNode(t, admin, aksNode("aks-system-0", "system", newest))

	good := clusterWith(t, s, "prod", s.NodewatchToken)
	noContext := good
	noContext.Name, noContext.Context = "typo", "prod-typo"
	clusters := []kubernetes.Cluster{
		good,
		clusterWith(t, s, "nobody", s.NobodyToken),
		clusterWith(t, s, "stale", "not-a-token-0123456789"),
		{Name: "missing", Kubeconfig: filepath.Join(t.TempDir(), "no-such-kubeconfig")},
		noContext,
	}
	wr := startWatch(t, r, clusters...)
	start := time.Now()
	wr.until(t, "the readable cluster", func(p []tracker.NodePool) bool { return len(p) == 1 })
	t.Logf("the readable cluster listed after %v", time.Since(start).Round(time.Millisecond))
	reports := wr.watcher.Probe(context.Background())
	wantErr := map[string]string{
		"kubernetes:prod":    "",
		"kubernetes:nobody":  "cluster nobody: not allowed to list nodes (403 Forbidden)",
		"kubernetes:stale":   "cluster stale: the API server refused the credentials (401 Unauthorized)",
		"kubernetes:missing": "cluster missing: kubeconfig " + clusters[3].Kubeconfig,
		"kubernetes:typo":    `cluster typo: kubeconfig ` + good.Kubeconfig + ` has no context "prod-typo"`,
	}
	for _, rep := range reports {
		msg := strings.Join(rep.Errors, "; ")
		want, ok := wantErr[rep.Source]
		switch {
		case !ok:
			t.Errorf("a report of %s", rep.Source)
		case want == "" && msg != "":
			t.Errorf("%s: %s", rep.Source, msg)
		case want != "" && !strings.HasPrefix(msg, want):
			t.Errorf("%s: %q, want it to start %q", rep.Source, msg, want)
		}
		for _, tok := range []string{s.NodewatchToken, s.NobodyToken, s.AdminToken, "not-a-token-0123456789"} {
			if strings.Contains(msg, tok) {
				t.Errorf("%s: the error shows a token: %s", rep.Source, msg)
			}
		}
	}

	start = time.Now()
	s.StopAPIServer(t)
	t.Logf("API server stopped in %v", time.Since(start).Round(time.Millisecond))
	down := wr.watcher.Probe(context.Background())
	if len(down[0].Errors) == 0 || !strings.Contains(down[0].Errors[0], "cluster prod:") {
		t.Errorf("probe of a stopped API server: %+v", down[0])
	}
	if pools, statuses := wr.pools.Pools(); len(pools) != 1 || statuses[0].Error == "" {
		t.Errorf("while the API server is away: %d pools, status %+v; want what was known, and the error", len(pools), statuses[0])
	}
	s.StartAPIServer(t)
	start = time.Now()
	kubetest.CreateNode(t, admin, aksNode("aks-apps-0", "apps", newest))
	wr.until(t, "a node created after the API server came back", func(p []tracker.NodePool) bool { return len(p) == 2 })
	t.Logf("a node created after the API server came back seen in %v", time.Since(start).Round(time.Millisecond))
	if up := wr.watcher.Probe(context.Background()); len(up[0].Errors) != 0 {
		t.Errorf("probe after the API server came back: %v", up[0].Errors)
	}
	if _, statuses := wr.pools.Pools(); statuses[0].Error != "" {
		t.Errorf("status after the API server came back: %+v", statuses[0])
	}
}
