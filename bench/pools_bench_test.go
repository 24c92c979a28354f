package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/kubernetes/kubetest"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const (
	poolsNodes   = 5000
	poolsPools   = 300
	poolsFamily  = "AKSUbuntu/gen2/2404containerd"
	poolsCluster = "prod"
	poolsChanges = 10 // node changes timed per iteration
)

// poolsFamilies is the history both daemons hold: the families of BenchmarkDaemonIdle.
var poolsFamilies = "[AKSFlatcar/gen2, AKSFlatcar/gen2arm64, AKSAzureLinuxV3/gen2, AKSUbuntu/gen2/2404containerd]"

// BenchmarkPools measures nodewatch over 5,000 AKS nodes in 300 pools in a real
// kube-apiserver (kubetest): the daemon's memory with and without its informer and pools,
// how soon a changed node shows in /api/v1/pools, `nodes -f` over the 5,000 nodes as
// `kubectl get nodes -o json` prints them, and the size of the binary. Everything is
// measured from outside the processes; `make bench-pools` runs it.
func BenchmarkPools(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "nodewatch")
	if out, err := exec.Command("make", "-s", "-C", "..", "build", "BIN="+bin).CombinedOutput(); err != nil {
		b.Fatalf("make build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	upstream, err := upstreamtest.New(trackertest.World(b, "2026-05-31"))
	if err == nil {
		upstream.SetUbuntuSecurity(ubuntusecuritytest.Archive(b))
	}
	if err != nil {
		b.Fatal(err)
	}
	defer upstream.Close()

	// The history: one cycle over the fixture world, copied for every process below.
	dir := b.TempDir()
	history := filepath.Join(dir, "history.db")
	checkCfg := writeConfig(b, filepath.Join(dir, "check.yaml"), daemonConfig(history, upstream, "", ""))
	runNodewatch(b, bin, checkCfg, "check")
	versions := imageNames(b, history)

	s := kubetest.Start(b)
	admin := fastAdmin(b, s)
	kubetest.ApplyRBAC(b, admin, "../deploy/kubernetes/rbac.yaml")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	s.Kubeconfig(b, kubeconfig, poolsCluster, poolsCluster, s.NodewatchToken)

	tmpl := templateNode(b)
	sizes := poolSizes()
	start := time.Now()
	statusKept := createNodes(b, admin, tmpl, sizes, versions)
	created := time.Since(start)

	// 1. The same daemon and history, without and with the 5,000 nodes.
	without := startDaemon(b, bin, dir, "without", history, upstream, "")
	waitReady(b, without.base)
	time.Sleep(3 * time.Second) // settle as BenchmarkDaemonIdle does
	memWithout := without.memory(b)
	without.stop()

	with := startDaemon(b, bin, dir, "with", history, upstream, kubeconfig)
	defer with.stop()
	waitReady(b, with.base)
	synced := waitPools(b, with.base, func(ps []pool) bool { return total(ps) == poolsNodes })
	syncTime := time.Since(with.started)
	time.Sleep(3 * time.Second)
	memWith := with.memory(b)
	gotPools := map[string]bool{}
	for _, p := range synced {
		gotPools[p.Pool] = true
	}
	if len(gotPools) != poolsPools {
		b.Fatalf("/api/v1/pools has %d pools, want %d", len(gotPools), poolsPools)
	}

	// 2. One node's image label changed, until its pool shows the new image.
	var lats, gets []time.Duration
	k := 0
	for b.Loop() {
		for range poolsChanges {
			lat, get := changeOne(b, admin, with.base, k, sizes, versions)
			lats, gets = append(lats, lat), append(gets, get...)
			k++
		}
	}
	b.StopTimer()
	memAfter := with.memory(b)
	time.Sleep(10 * time.Second) // ten idle cycles: what the daemon gives back
	memSettled := with.memory(b)
	resp, err := http.Get(with.base + "/api/v1/pools")
	if err != nil {
		b.Fatal(err)
	}
	poolsBytes, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	with.stop()

	// 3. `nodes -f` over the 5,000 nodes as kubectl prints them.
	file := filepath.Join(dir, "nodes.json")
	fileBytes := kubectlFile(b, admin, file)
	nodesCfg := writeConfig(b, filepath.Join(dir, "nodes.yaml"), daemonConfig(copyFile(b, history, filepath.Join(dir, "nodes.db")), upstream, "", ""))
	var walls []time.Duration
	var peak, helperPeak, directPeak float64
	for range 5 {
		wall, rss, helper, direct := nodesFile(b, bin, nodesCfg, file)
		walls, peak = append(walls, wall), max(peak, rss)
		helperPeak, directPeak = max(helperPeak, helper), max(directPeak, direct)
	}

	gcs, maxHeap, gctrace := gcTrace(b, bin, nodesCfg, file)

	b.Logf("nodes created in %v (status kept by Create: %v); pool sizes %d..%d; %d image names; daemon synced %v after start",
		created.Round(time.Millisecond), statusKept, slices.Min(sizes), slices.Max(sizes), len(versions), syncTime.Round(time.Millisecond))
	b.Logf("without: %+v; with: %+v; with, after the changes: %+v; 10 s later: %+v", memWithout, memWith, memAfter, memSettled)
	b.Logf("change latencies %v; nodes -f walls %v", lats, walls)
	b.Logf("nodes -f with GODEBUG=gctrace=1:\n%s", gctrace)
	b.ReportMetric(float64(st.Size())/1e6, "MB-binary")
	b.ReportMetric(memWithout.rss, "MB-rss-without")
	b.ReportMetric(memWith.rss, "MB-rss-with")
	b.ReportMetric(memWith.rss-memWithout.rss, "MB-rss-delta")
	b.ReportMetric(memWithout.hwm, "MB-hwm-without")
	b.ReportMetric(memWith.hwm, "MB-hwm-with")
	b.ReportMetric(memWith.hwm-memWithout.hwm, "MB-hwm-delta")
	b.ReportMetric(memWith.anon-memWithout.anon, "MB-anon-delta")
	b.ReportMetric(memAfter.rss, "MB-rss-after-changes")
	b.ReportMetric(memSettled.rss, "MB-rss-after-changes-10s")
	b.ReportMetric(float64(poolsBytes)/1e3, "kB-pools-api")
	b.ReportMetric(syncTime.Seconds(), "s-sync")
	b.ReportMetric(float64(median(lats).Milliseconds()), "ms-change-median")
	b.ReportMetric(float64(slices.Max(lats).Milliseconds()), "ms-change-max")
	b.ReportMetric(float64(median(gets).Milliseconds()), "ms-pools-get")
	b.ReportMetric(float64(fileBytes)/1e6, "MB-file")
	b.ReportMetric(float64(fileBytes)/poolsNodes, "B/node")
	b.ReportMetric(median(walls).Seconds(), "s-nodes-f")
	b.ReportMetric(slices.Max(walls).Seconds(), "s-nodes-f-max")
	b.ReportMetric(peak, "MB-nodes-f-peak-rss")
	b.ReportMetric(helperPeak, "MB-nodes-f-helper-hwm")
	b.ReportMetric(directPeak, "MB-nodes-f-maxrss-direct")
	b.ReportMetric(procStatusKB("VmHWM")/1024, "MB-bench-process-hwm")
	b.ReportMetric(float64(gcs), "nodes-f-gcs")
	b.ReportMetric(maxHeap, "MB-nodes-f-max-heap")
}

func daemonConfig(db string, upstream *upstreamtest.Server, listen, kubeconfig string) string {
	cfg := fmt.Sprintf("schedule: \"@every 1s\"\njitter: 0s\nstorage: {path: %s}\ngithub: {api_url: %s}\n"+
		"sources: {vhd_notes: {families: %s}, flatcar: {base_url: %s}, ubuntu_security: {url: %s}}\nlog: {level: warn}\n",
		db, upstream.GitHubAPIURL(), poolsFamilies, upstream.FlatcarURL(), upstream.UbuntuSecurityURL())
	if listen != "" {
		cfg += fmt.Sprintf("http: {listen: %s}\n", listen)
	}
	if kubeconfig != "" {
		cfg += fmt.Sprintf("kubernetes: {enabled: true, clusters: [{name: %s, kubeconfig: %s, context: %s}]}\n",
			poolsCluster, kubeconfig, poolsCluster)
	}
	return cfg
}

func writeConfig(b *testing.B, path, cfg string) string {
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func copyFile(b *testing.B, from, to string) string {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return to
}

// imageNames are the names AKS gives the images of poolsFamily in the stored history,
// oldest first.
func imageNames(b *testing.B, path string) []imageName {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	images, err := db.Images(poolsFamily)
	if err != nil {
		b.Fatal(err)
	}
	var names []imageName
	for _, im := range images {
		if n := tracker.NodeImageVersion(im.Family, im.SKU, im.Version); n != "" {
			names = append(names, imageName{name: n, version: im.Version, osImage: im.OS.PrettyName, kernel: im.Kernel})
		}
	}
	if len(names) < 2 {
		b.Fatalf("%d images of %s in the history", len(names), poolsFamily)
	}
	slices.SortFunc(names, func(x, y imageName) int { return tracker.CompareImageVersions(x.version, y.version) })
	return names
}

type imageName struct{ name, version, osImage, kernel string }

// fastAdmin is the admin clientset without client-go's default 5 requests a second.
func fastAdmin(b *testing.B, s *kubetest.Server) kubernetes.Interface {
	cfg := s.RESTConfig(s.AdminToken)
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// templateNode is the real AKS node of the fixture, as a Node to create: what the
// server sets (uid, resource version, creation time, managed fields) cleared.
func templateNode(b *testing.B) *corev1.Node {
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(b), "nodes", "kubectl-get-nodes-aks-ubuntu1804.json"))
	if err != nil {
		b.Fatal(err)
	}
	var list struct{ Items []corev1.Node }
	if err := json.Unmarshal(data, &list); err != nil {
		b.Fatal(err)
	}
	n := list.Items[0].DeepCopy()
	n.UID, n.ResourceVersion, n.CreationTimestamp, n.ManagedFields = "", "", metav1.Time{}, nil
	return n
}

// poolSizes are 300 uneven pool sizes summing to 5,000: log-normal weights (a few pools of
// a hundred nodes and more, many of a few), every pool at least one node.
func poolSizes() []int {
	r := rand.New(rand.NewPCG(5000, 300))
	w := make([]float64, poolsPools)
	var sum float64
	for i := range w {
		w[i] = math.Exp(1.1 * r.NormFloat64())
		sum += w[i]
	}
	sizes := make([]int, poolsPools)
	n := 0
	for i := range w {
		sizes[i] = max(1, int(w[i]/sum*(poolsNodes-poolsPools))+1)
		n += sizes[i]
	}
	for i := 0; n != poolsNodes; i = (i + 1) % poolsPools {
		if n < poolsNodes {
			sizes[i]++
			n++
		} else if sizes[i] > 1 {
			sizes[i]--
			n--
		}
	}
	return sizes
}

func poolName(p int) string { return fmt.Sprintf("pool%03d", p) }

func nodeName(p, i int) string {
	return fmt.Sprintf("aks-%s-%08d-vmss%06s", poolName(p), 30520393+p, strconv.FormatInt(int64(i), 36))
}

// poolImage is the image pool p runs: pools spread over the whole history.
func poolImage(p int, versions []imageName) int { return p * 7 % len(versions) }

// aksNode is the template with its name, pool, image and addresses of node i of pool p.
func aksNode(tmpl *corev1.Node, p, i, seq int, im imageName) *corev1.Node {
	n := tmpl.DeepCopy()
	n.Name = nodeName(p, i)
	n.Labels = maps.Clone(tmpl.Labels)
	n.Labels[kubetest.LabelAgentPool] = poolName(p)
	n.Labels[kubetest.LabelAgentPoolLegacy] = poolName(p)
	n.Labels[kubetest.LabelHostname] = n.Name
	n.Labels[kubetest.LabelNodeImageVersion] = im.name
	cidr := fmt.Sprintf("10.%d.%d.0/24", 100+seq/256, seq%256)
	n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: n.Name},
		{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", 224+seq/65536, seq/256%256, seq%256)},
	}
	// What the image runs, so that the node is consistent with its label.
	if im.osImage != "" {
		n.Status.NodeInfo.OSImage = im.osImage
	}
	if im.kernel != "" {
		n.Status.NodeInfo.KernelVersion = im.kernel
	}
	return n
}

// createNodes creates every node with 16 workers. The status is written through the
// status subresource when Create drops it; it reports whether Create kept it.
func createNodes(b *testing.B, admin kubernetes.Interface, tmpl *corev1.Node, sizes []int, versions []imageName) bool {
	ctx := context.Background()
	type job struct{ p, i, seq int }
	var jobs []job
	for p, n := range sizes {
		for i := range n {
			jobs = append(jobs, job{p, i, len(jobs)})
		}
	}
	create := func(j job) (bool, error) {
		n := aksNode(tmpl, j.p, j.i, j.seq, versions[poolImage(j.p, versions)])
		got, err := admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		kept := len(got.Status.Conditions) == len(n.Status.Conditions) && got.Status.NodeInfo.OSImage == n.Status.NodeInfo.OSImage &&
			len(got.Status.Addresses) == len(n.Status.Addresses)
		if !kept {
			got.Status = n.Status
			_, err = admin.CoreV1().Nodes().UpdateStatus(ctx, got, metav1.UpdateOptions{})
		}
		return kept, err
	}
	kept, err := create(jobs[0])
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Go(func() {
			for j := range work {
				if _, err := create(j); err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range jobs[1:] {
		work <- j
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return kept
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

type daemon struct {
	cmd     *exec.Cmd
	base    string
	started time.Time
	out     *bytes.Buffer
	once    sync.Once
}

func startDaemon(b *testing.B, bin, dir, name, history string, upstream *upstreamtest.Server, kubeconfig string) *daemon {
	listen := freePort(b)
	db := copyFile(b, history, filepath.Join(dir, name+".db"))
	cfg := writeConfig(b, filepath.Join(dir, name+".yaml"), daemonConfig(db, upstream, listen, kubeconfig))
	d := &daemon{cmd: exec.Command(bin, "--config", cfg, "run"), base: "http://" + listen, out: &bytes.Buffer{}}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	d.once.Do(func() { d.cmd.Process.Signal(syscall.SIGTERM); d.cmd.Wait() })
}

type memory struct{ rss, hwm, anon float64 }

func (d *daemon) memory(b *testing.B) memory {
	pid := d.cmd.Process.Pid
	return memory{trackertest.ProcStatusMB(b, pid, "VmRSS"), trackertest.ProcStatusMB(b, pid, "VmHWM"), trackertest.ProcStatusMB(b, pid, "RssAnon")}
}

type pool struct {
	Cluster          string `json:"cluster"`
	Pool             string `json:"pool"`
	Nodes            int    `json:"nodes"`
	NodeImageVersion string `json:"node_image_version"`
	Status           string `json:"status"`
}

func total(ps []pool) int {
	n := 0
	for _, p := range ps {
		n += p.Nodes
	}
	return n
}

func getPools(base string) ([]pool, error) {
	resp, err := http.Get(base + "/api/v1/pools")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("/api/v1/pools: %d %s", resp.StatusCode, body)
	}
	var ps []pool
	return ps, json.NewDecoder(resp.Body).Decode(&ps)
}

func waitPools(b *testing.B, base string, done func([]pool) bool) []pool {
	deadline := time.Now().Add(3 * time.Minute)
	var last []pool
	var lastErr error
	for time.Now().Before(deadline) {
		ps, err := getPools(base)
		if err == nil && done(ps) {
			return ps
		}
		last, lastErr = ps, err
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("/api/v1/pools never got there: %d nodes in %d entries, %v", total(last), len(last), lastErr)
	return nil
}

// changeOne gives one node of a pool the next image's label and polls /api/v1/pools
// every 25 ms until that pool shows the new image: the latency from before the Update, and
// how long each poll took.
func changeOne(b *testing.B, admin kubernetes.Interface, base string, k int, sizes []int, versions []imageName) (time.Duration, []time.Duration) {
	ctx := context.Background()
	p := k * 29 % poolsPools
	name := nodeName(p, k%sizes[p])
	n, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cur := slices.IndexFunc(versions, func(v imageName) bool { return v.name == n.Labels[kubetest.LabelNodeImageVersion] })
	want := versions[(cur+1+k%3)%len(versions)].name
	n.Labels[kubetest.LabelNodeImageVersion] = want
	start := time.Now()
	if _, err := admin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	var gets []time.Duration
	for time.Since(start) < 30*time.Second {
		t0 := time.Now()
		ps, err := getPools(base)
		gets = append(gets, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if slices.ContainsFunc(ps, func(x pool) bool { return x.Pool == poolName(p) && x.NodeImageVersion == want }) {
			return time.Since(start), gets
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.Fatalf("pool %s never showed %s", poolName(p), want)
	return 0, nil
}

// kubectlFile writes the nodes as `kubectl get nodes -o json` prints them: a List of
// items with their kind, keys sorted, indented by four spaces.
func kubectlFile(b *testing.B, admin kubernetes.Interface, path string) int64 {
	list, err := admin.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if len(list.Items) != poolsNodes {
		b.Fatalf("listed %d nodes", len(list.Items))
	}
	items := make([]any, len(list.Items))
	for i := range list.Items {
		n := &list.Items[i]
		n.APIVersion, n.Kind = "v1", "Node"
		data, err := json.Marshal(n)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
		items[i] = m
	}
	out, err := json.MarshalIndent(map[string]any{
		"apiVersion": "v1", "items": items, "kind": "List", "metadata": map[string]any{"resourceVersion": ""},
	}, "", "    ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		b.Fatal(err)
	}
	return int64(len(out) + 1)
}

// nodesFile runs `nodewatch nodes -f FILE --json >/dev/null`: its wall time and peak RSS
// (rusage Maxrss), run through the launcher (see launch) with the launcher's own peak, and,
// for comparison, the Maxrss of the same run spawned from this process.
func nodesFile(b *testing.B, bin, config, file string) (wall time.Duration, maxRSSMB, helperHWMMB, directMB float64) {
	args := []string{bin, "--config", config, "nodes", "-f", file, "--json"}
	var stderr bytes.Buffer
	r := launch(b, nil, &stderr, args...)
	if r.exit != 0 && r.exit != 3 {
		b.Fatalf("nodes -f: exit %d\n%s", r.exit, stderr.String())
	}
	direct := exec.Command(args[0], args[1:]...)
	if err := direct.Run(); err != nil && direct.ProcessState.ExitCode() != 3 {
		b.Fatalf("nodes -f: %v", err)
	}
	return r.wall, r.maxRSSMB, r.launcherHWMMB,
		float64(direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

// gcTrace is where the memory of `nodes -f` goes, from outside: one run of the binary
// with GODEBUG=gctrace=1, its collections and the largest heap one started at.
func gcTrace(b *testing.B, bin, config, file string) (gcs int, maxHeapMB float64, trace string) {
	cmd := exec.Command(bin, "--config", config, "nodes", "-f", file, "--json")
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState.ExitCode() != 3 {
		b.Fatalf("nodes -f: %v\n%s", err, stderr.String())
	}
	var lines []string
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		gcs++
		lines = append(lines, line)
		// "..., 4->4->2 MB, ...": the heap at the start of the collection first.
		if _, after, ok := strings.Cut(line, " ms cpu, "); ok {
			before, _, _ := strings.Cut(after, "->")
			if v, err := strconv.ParseFloat(before, 64); err == nil {
				maxHeapMB = max(maxHeapMB, v)
			}
		}
	}
	if n := len(lines); n > 6 {
		lines = append(lines[:3], "...", lines[n-1])
	}
	return gcs, maxHeapMB, strings.Join(lines, "\n")
}
