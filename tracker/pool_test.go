package tracker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const ubuntu2404 = trackertest.Ubuntu2404

// poolRig is the May snapshot read whole, and the stored history of the Ubuntu 24.04
// family, oldest first: the pools below run its real images.
func poolRig(t *testing.T) (*trackertest.Rig, []tracker.NodeImage) {
	t.Helper()
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.Cycle(t)
	return r, r.History(t, ubuntu2404, 6)
}

func fleetOf(t *testing.T, r *trackertest.Rig, policy tracker.BehindPolicy) *tracker.Fleet {
	t.Helper()
	f, err := r.Tracker.LoadFleet(policy)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var nameOf = trackertest.NameOf

func daysApart(t *testing.T, a, b string) int {
	va, err1 := tracker.ParseImageVersion(a)
	vb, err2 := tracker.ParseImageVersion(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return int(vb.Date.Sub(va.Date).Hours() / 24)
}

// TestPoolsAgainstHistory judges pools that run real images of the history: current,
// behind, mid-upgrade, ahead, not in the history, and nodes that name no AKS image.
func TestPoolsAgainstHistory(t *testing.T) {
	r, images := poolRig(t)
	n := len(images)
	newest, third := images[n-1], images[n-4]
	fleet := fleetOf(t, r, tracker.DefaultBehind)
	running := func(im tracker.NodeImage) (string, string) { return "Ubuntu 24.04.4 LTS", im.Kernel }
	node := func(name, pool string, im tracker.NodeImage) tracker.Node {
		osImage, kernel := running(im)
		return tracker.Node{Name: name, Pool: pool, NodeImageVersion: nameOf(im), OSImage: osImage, Kernel: kernel, Arch: "amd64"}
	}
	ahead := newest
	ahead.Version = "209912.31.0"
	nodes := []tracker.Node{
		node("aks-current-0", "current", newest),
		node("aks-current-1", "current", newest),
		node("aks-behind-0", "behind", third),
		node("aks-upgrade-0", "upgrade", third),
		node("aks-upgrade-1", "upgrade", newest),
		node("aks-ahead-0", "ahead", ahead),
		{Name: "kind-control-plane", Pool: "", OSImage: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-18-amd64"},
	}
	pools := fleet.Judge(tracker.GroupNodes("prod", nodes))
	got := map[string]tracker.NodePool{}
	for _, p := range pools {
		got[p.Pool+"@"+p.Version] = p
	}
	if len(pools) != 6 {
		t.Fatalf("%d pool entries, want 6 (upgrade has two): %+v", len(pools), pools)
	}

	cur := got["current@"+newest.Version]
	if cur.Status != tracker.PoolCurrent || cur.Nodes != 2 || *cur.ImagesBehind != 0 || cur.Family != ubuntu2404 || len(cur.Changes) != 0 {
		t.Errorf("current pool: %+v", cur)
	}
	beh := got["behind@"+third.Version]
	if beh.Status != tracker.PoolBehind || *beh.ImagesBehind != 3 || *beh.DaysBehind != daysApart(t, third.Version, newest.Version) ||
		*beh.Newest != newest.Version || beh.NewestNodeImageVersion != nameOf(newest) {
		t.Errorf("behind pool: status %s, %v images, %v days, newest %v; want behind, 3, %d, %s",
			beh.Status, *beh.ImagesBehind, *beh.DaysBehind, *beh.Newest, daysApart(t, third.Version, newest.Version), newest.Version)
	}
	if want := tracker.Changes(third, newest); !slices.Equal(beh.Changes, want) || len(want) == 0 {
		t.Errorf("behind pool changes %v, want the history's %v", beh.Changes, want)
	}
	if *beh.ImageKernel != third.Kernel || *beh.NewestKernel != newest.Kernel || beh.Running.Kernel != third.Kernel {
		t.Errorf("behind pool kernels: image %v, newest %v, running %+v", *beh.ImageKernel, *beh.NewestKernel, beh.Running)
	}
	if len(beh.Notes) != 0 {
		t.Errorf("a node running its image's kernel has no notes: %q", beh.Notes)
	}
	if a, b := got["upgrade@"+third.Version], got["upgrade@"+newest.Version]; a.Status != tracker.PoolBehind || b.Status != tracker.PoolCurrent || a.Nodes+b.Nodes != 2 {
		t.Errorf("mid-upgrade pool: %s %s, %s %s", a.Version, a.Status, b.Version, b.Status)
	}
	if a := got["ahead@209912.31.0"]; a.Status != tracker.PoolAhead {
		t.Errorf("ahead pool: %+v", a)
	}
	if k := got["kind-control-plane@"]; k.Status != tracker.PoolNotAKS || k.Family != "" || k.Newest != nil {
		t.Errorf("a node without an AKS image name: %+v", k)
	}
}

// TestPoolBehindPolicy: one image newer within the days is current; the bounds decide.
func TestPoolBehindPolicy(t *testing.T) {
	r, images := poolRig(t)
	n := len(images)
	prev, newest := images[n-2], images[n-1]
	days := daysApart(t, prev.Version, newest.Version)
	groups := []tracker.PoolGroup{{Cluster: "c", Pool: "p", NodeImageVersion: nameOf(prev), Nodes: 1}}
	for _, c := range []struct {
		policy tracker.BehindPolicy
		want   tracker.PoolState
	}{
		{tracker.BehindPolicy{Images: 2, Days: days + 1}, tracker.PoolCurrent},
		{tracker.BehindPolicy{Images: 1}, tracker.PoolBehind},
		{tracker.BehindPolicy{Days: days}, tracker.PoolBehind},
		{tracker.BehindPolicy{Images: 2}, tracker.PoolCurrent},
	} {
		p := fleetOf(t, r, c.policy).Judge(groups)[0]
		if p.Status != c.want || p.Running != nil || p.ImageKernel == nil {
			t.Errorf("policy %+v, %s one image (%d days) behind: %s, want %s", c.policy, prev.Version, days, p.Status, c.want)
		}
	}
	if got := tracker.MaxBehind(fleetOf(t, r, tracker.DefaultBehind).Judge(groups), 0, -1); len(got) != 1 {
		t.Errorf("--max-behind 0 lets a pool one image behind pass")
	}
	if got := tracker.MaxBehind(fleetOf(t, r, tracker.DefaultBehind).Judge(groups), 1, days); len(got) != 0 {
		t.Errorf("--max-behind 1 --max-days %d stops a pool one image and %d days behind", days, days)
	}
}

// TestPoolNamesThatMatchNoImage: a version the history does not hold, a retired line, a
// sku no family publishes, and a kernel that is not the image's.
func TestPoolNamesThatMatchNoImage(t *testing.T) {
	r, images := poolRig(t)
	oldest, newest := images[0], images[len(images)-1]
	day, _ := tracker.ParseImageVersion(oldest.Version)
	before := fmt.Sprintf("%s.%02d.0", day.Date.AddDate(0, 0, -1).Format("200601"), day.Date.AddDate(0, 0, -1).Day())
	patched := newest
	groups := []tracker.PoolGroup{
		{Cluster: "c", Pool: "old", NodeImageVersion: tracker.NodeImageVersion(ubuntu2404, oldest.SKU, before), Nodes: 1},
		{Cluster: "c", Pool: "retired", NodeImageVersion: "AKSUbuntu-1804gen2-2021.06.12", Nodes: 3},
		{Cluster: "c", Pool: "nosku", NodeImageVersion: "AKSUbuntu-2404gen2gpucontainerd-" + newest.Version, Nodes: 1},
		{Cluster: "c", Pool: "patched", NodeImageVersion: nameOf(patched), Nodes: 1,
			Running: &tracker.RunningOS{OSImage: "Ubuntu 24.04.4 LTS", Kernel: patched.Kernel + "-livepatch"}},
	}
	pools := fleetOf(t, r, tracker.DefaultBehind).Judge(groups)
	by := map[string]tracker.NodePool{}
	for _, p := range pools {
		by[p.Pool] = p
	}
	if p := by["old"]; p.Status != tracker.PoolUnknownVersion || *p.ImagesBehind != len(images) || p.Family != ubuntu2404 {
		t.Errorf("a version before the history: %s, %v images behind, want unknown_version, %d", p.Status, *p.ImagesBehind, len(images))
	}
	if p := by["retired"]; p.Status != tracker.PoolUnknownFamily || !strings.Contains(strings.Join(p.Notes, " "), "Ubuntu 18.04, which AKS no longer publishes") {
		t.Errorf("Ubuntu 18.04: %s %q", p.Status, p.Notes)
	}
	if p := by["nosku"]; p.Status != tracker.PoolUnknownFamily || p.Family != "" {
		t.Errorf("a sku no family publishes: %s family %q", p.Status, p.Family)
	}
	if p := by["patched"]; p.Status != tracker.PoolCurrent || !strings.Contains(strings.Join(p.Notes, " "), "live-patched") {
		t.Errorf("a kernel not the image's: %s %q", p.Status, p.Notes)
	}
}

// TestPoolUnwatchedFamily: a pool of a family upstream that `families` leaves out is
// unwatched (its sku is learned from its image list), until a watched pool runs it: then
// the next cycle reads its history, silently.
func TestPoolUnwatchedFamily(t *testing.T) {
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent, "AKSFlatcar/*")
	r.Cycle(t)
	skus, err := tracker.UpstreamSKUs(r.DB)
	if err != nil {
		t.Fatal(err)
	}
	sku := skus[ubuntu2404]
	if sku == "" {
		t.Fatalf("the sku of %s, not watched, was not learned: %v", ubuntu2404, skus)
	}
	group := []tracker.PoolGroup{{Cluster: "c", Pool: "p", NodeImageVersion: tracker.NodeImageVersion(ubuntu2404, sku, "202605.14.0"), Nodes: 1}}
	if p := fleetOf(t, r, tracker.DefaultBehind).Judge(group)[0]; p.Status != tracker.PoolUnwatched || p.Family != ubuntu2404 {
		t.Errorf("pool of a family not watched: %s %q", p.Status, p.Family)
	}
	r.Tracker.PoolFamilies = func() []string { return []string{ubuntu2404} }
	_, events := r.Cycle(t)
	if len(events) != 0 {
		t.Errorf("a family first watched for a pool announces its history: %v", events)
	}
	if p := fleetOf(t, r, tracker.DefaultBehind).Judge(group)[0]; p.Status == tracker.PoolUnwatched || p.Newest == nil {
		t.Errorf("after the pool's family was read: %s", p.Status)
	}
}

// TestPoolBehindOnce: pool_behind is raised once per pool and newest image, also by a
// tracker started again on the same store; a pool that reaches the newest raises
// pool_current once; the history keeps when the pool first ran each image.
func TestPoolBehindOnce(t *testing.T) {
	r, images := poolRig(t)
	r.Tracker.Router = &tracker.Router{Default: []string{"log"}}
	n := len(images)
	newest, third := images[n-1], images[n-4]
	if err := (&tracker.PoolWatch{Policy: tracker.DefaultBehind}).Refresh(r.Tracker); err != nil {
		t.Fatal(err)
	}
	judge := func(im tracker.NodeImage) []tracker.NodePool {
		return fleetOf(t, r, tracker.DefaultBehind).Judge([]tracker.PoolGroup{{Cluster: "prod", Pool: "np1", NodeImageVersion: nameOf(im), Nodes: 3}})
	}
	observe := func(pools []tracker.NodePool) []tracker.Event {
		events, err := r.Tracker.ObservePools(context.Background(), pools)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	behind := judge(third)
	events := observe(behind)
	wantKey := "pool_behind:prod/np1:" + newest.Version
	if len(events) != 1 || events[0].Key != wantKey {
		t.Fatalf("first look at a pool 3 images behind: %v, want %s", events, wantKey)
	}
	if again := observe(behind); len(again) != 0 {
		t.Errorf("the same pool again: %v", again)
	}
	r2 := trackertest.Wire(t, r.Server, r.DB, nil, tracker.FirstRunSilent)
	r2.Router = r.Tracker.Router
	if again, err := r2.ObservePools(context.Background(), behind); err != nil || len(again) != 0 {
		t.Errorf("a restarted tracker: %v %v", again, err)
	}
	msgs, err := tracker.Messages(r.DB, events)
	if err != nil || msgs[0].Pool == nil {
		t.Fatalf("message of %s: %v %+v", wantKey, err, msgs)
	}
	sum := msgs[0].Summary()
	for _, want := range []string{"prod/np1", nameOf(third), "3 images", newest.Version, "kernel running " + third.Kernel} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	caught := observe(judge(newest))
	if len(caught) != 1 || caught[0].Kind != tracker.EventPoolCurrent {
		t.Errorf("the pool on the newest image: %v, want one pool_current", caught)
	}
	if again := observe(judge(newest)); len(again) != 0 {
		t.Errorf("the pool stays current: %v", again)
	}
	deliveries, err := r.DB.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range deliveries {
		if strings.HasPrefix(d.Key, "pool_") {
			keys = append(keys, d.Key)
		}
	}
	if want := []string{wantKey, "pool_current:prod/np1:" + newest.Version}; !slices.Equal(keys, want) {
		t.Errorf("outbox %v, want %v", keys, want)
	}
	hist, err := r.DB.PoolImages("prod/np1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].NodeImageVersion != nameOf(third) || hist[1].NodeImageVersion != nameOf(newest) {
		t.Errorf("history of prod/np1: %+v", hist)
	}
}

// TestPoolOfAzureContainerLinux: AKS names Azure Container Linux images without a sku, so
// the node's architecture picks between its two families of the later world.
func TestPoolOfAzureContainerLinux(t *testing.T) {
	r := trackertest.NewRigOf(t, filepath.Join("..", "testdata", "world-later"), tracker.FirstRunSilent, "*")
	r.Cycle(t)
	fleet := fleetOf(t, r, tracker.DefaultBehind)
	acl, err := r.DB.Images("AKSAzureContainerLinux/gen2tl")
	if err != nil || len(acl) == 0 {
		t.Fatalf("no Azure Container Linux image: %v", err)
	}
	name := nameOf(acl[0])
	pools := fleet.Judge([]tracker.PoolGroup{
		{Cluster: "c", Pool: "amd", NodeImageVersion: name, Nodes: 1, Arch: "amd64"},
		{Cluster: "c", Pool: "arm", NodeImageVersion: name, Nodes: 1, Arch: "arm64"},
		{Cluster: "c", Pool: "unsaid", NodeImageVersion: name, Nodes: 1},
	})
	for i, want := range []string{"AKSAzureContainerLinux/gen2tl", "AKSAzureContainerLinux/arm64gen2tl", "AKSAzureContainerLinux/gen2tl"} {
		if pools[i].Family != want || pools[i].Status != tracker.PoolCurrent {
			t.Errorf("%s pool of %s: %s %s, want %s current", pools[i].Pool, name, pools[i].Family, pools[i].Status, want)
		}
	}
	if notes := strings.Join(pools[2].Notes, " "); !strings.Contains(notes, "names no architecture") {
		t.Errorf("a pool of unknown architecture does not say which family was taken: %q", notes)
	}
}

// TestFlatcarPoolUpgradeSecurity: a Flatcar pool behind is told what the upgrade fixes,
// as Flatcar announced it between the release it runs and the newest image's.
func TestFlatcarPoolUpgradeSecurity(t *testing.T) {
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.Cycle(t)
	images := r.History(t, "AKSFlatcar/gen2", 4)
	newest := images[len(images)-1]
	// The newest image before it of another Flatcar release.
	i := -1
	for j := len(images) - 1; j >= 0; j-- {
		if *images[j].OS.Version != *newest.OS.Version {
			i = j
			break
		}
	}
	if i < 0 {
		t.Fatal("every image of the history runs the newest's Flatcar release")
	}
	old := images[i]
	pools := fleetOf(t, r, tracker.DefaultBehind).Judge([]tracker.PoolGroup{{Cluster: "c", Pool: "fc", NodeImageVersion: nameOf(old), Nodes: 1}})
	s := pools[0].Security
	releases, err := r.DB.FlatcarReleases("alpha")
	if err != nil {
		t.Fatal(err)
	}
	want := announced(releases, *old.OS.Version, *newest.OS.Version)
	if s == nil || len(want) == 0 || !sameAdvisories(keyed(s.Fixed), want) {
		t.Fatalf("a pool on Flatcar %s, newest %s: security %+v, want %d advisories", *old.OS.Version, *newest.OS.Version, s, len(want))
	}
	if line := pools[0].SecurityText(); !strings.Contains(line, fmt.Sprintf("the upgrade fixes %d advisories", len(want))) {
		t.Errorf("pool security text %q", line)
	}
}
