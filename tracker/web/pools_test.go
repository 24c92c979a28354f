package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/web"
)

// fakeClusters is a ClusterSource that holds nodes as a watch would.
type fakeClusters []tracker.ClusterNodes

func (f fakeClusters) States() []tracker.ClusterNodes { return f }

func (f fakeClusters) Probe(context.Context) []tracker.SourceReport {
	out := make([]tracker.SourceReport, 0, len(f))
	for _, c := range f {
		r := tracker.SourceReport{Source: "kubernetes:" + c.Cluster}
		if c.Err != "" {
			r.Errors = []string{c.Err}
		}
		out = append(out, r)
	}
	return out
}

// stagingErr is what a cluster whose API server is away says; its markup is data.
const stagingErr = `Get "https://staging.example:443/api/v1/nodes": dial tcp: connection refused <script>alert(1)</script>`

// poolFixture is the May snapshot read whole, and two clusters whose nodes run real
// images of the Ubuntu 24.04 history (oldest first in images):
//
//	prod-weu  current    2 nodes on the newest image
//	          behind     3 nodes 3 images behind, one on a kernel that is not the image's
//	          upgrade    1 node 3 images behind, 1 on the newest: two entries
//	          gpu        1 node on a sku no family publishes
//	staging   system     2 nodes one image behind (current by the policy); the API
//	                     server cannot be read now, its nodes are as last read
type poolFixture struct {
	rig            *trackertest.Rig
	watch          *tracker.PoolWatch
	images         []tracker.NodeImage
	newest, third  tracker.NodeImage
	previous       tracker.NodeImage
	pools          []tracker.NodePool
	statuses       []tracker.ClusterStatus
	handler        http.Handler
	metrics        *web.Metrics
	patchedKernel  string
	unknownSKUName string
}

func newPoolFixture(t *testing.T) *poolFixture {
	t.Helper()
	rig := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	rig.Cycle(t)
	images := rig.History(t, ubuntu2404, 6)
	n := len(images)
	f := &poolFixture{rig: rig, images: images, newest: images[n-1], third: images[n-4], previous: images[n-2]}
	node := func(name, pool string, im tracker.NodeImage) tracker.Node {
		return tracker.Node{Name: name, Pool: pool, NodeImageVersion: tracker.NodeImageVersion(im.Family, im.SKU, im.Version),
			OSImage: "Ubuntu 24.04.4 LTS", Kernel: im.Kernel, Arch: "amd64"}
	}
	patched := node("aks-behind-2", "behind", f.third)
	f.patchedKernel = f.third.Kernel + "-livepatch"
	patched.Kernel = f.patchedKernel
	f.unknownSKUName = "AKSUbuntu-2404gen2gpucontainerd-" + f.newest.Version
	src := fakeClusters{
		{Cluster: "prod-weu", Synced: true, Nodes: []tracker.Node{
			node("aks-current-0", "current", f.newest),
			node("aks-current-1", "current", f.newest),
			node("aks-behind-0", "behind", f.third),
			node("aks-behind-1", "behind", f.third),
			patched,
			node("aks-upgrade-0", "upgrade", f.third),
			node("aks-upgrade-1", "upgrade", f.newest),
			{Name: "aks-gpu-0", Pool: "gpu", NodeImageVersion: f.unknownSKUName, OSImage: "Ubuntu 24.04.4 LTS", Kernel: f.newest.Kernel, Arch: "amd64"},
		}},
		{Cluster: "staging", Synced: true, Err: stagingErr, Nodes: []tracker.Node{
			node("aks-system-0", "system", f.previous),
			node("aks-system-1", "system", f.previous),
		}},
	}
	f.watch = &tracker.PoolWatch{Clusters: src, Policy: tracker.DefaultBehind}
	if err := f.watch.Refresh(rig.Tracker); err != nil {
		t.Fatal(err)
	}
	f.pools, f.statuses = f.watch.Pools()
	f.metrics = web.NewMetrics()
	f.handler = web.New(web.Options{Store: rig.DB, Metrics: f.metrics, Pools: f.watch, Version: "v1.2.3",
		Now: func() time.Time { return time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC) }})
	return f
}

func (f *poolFixture) pool(t *testing.T, cluster, pool, version string) tracker.NodePool {
	t.Helper()
	for _, p := range f.pools {
		if p.Cluster == cluster && p.Pool == pool && p.Version == version {
			return p
		}
	}
	t.Fatalf("no pool %s/%s on %q in %+v", cluster, pool, version, f.pools)
	return tracker.NodePool{}
}

func do(h http.Handler, method, target string, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	h.ServeHTTP(rec, req)
	return rec
}

// TestPoolsAPI: /api/v1/pools is the JSON of `nodes --json`, judged now; the fixture's
// pools stand where their images put them; without pools it is [].
func TestPoolsAPI(t *testing.T) {
	f := newPoolFixture(t)
	rec := get(t, f.handler, "/api/v1/pools")
	var got []tracker.NodePool
	wantJSON(t, rec, http.StatusOK, &got)
	if body := rec.Body.String(); body != cliJSON(t, f.pools) {
		t.Errorf("/api/v1/pools is not the JSON of the judged pools:\n%s\nwant\n%s", body, cliJSON(t, f.pools))
	}
	if len(got) != 6 {
		t.Fatalf("%d pool entries, want 6 (upgrade has two): %+v", len(got), got)
	}
	behind := f.pool(t, "prod-weu", "behind", f.third.Version)
	if behind.Status != tracker.PoolBehind || behind.Nodes != 3 || *behind.ImagesBehind != 3 || *behind.Newest != f.newest.Version ||
		behind.NewestNotesURL != f.newest.NotesURL || behind.Source != "kubernetes" || !strings.Contains(strings.Join(behind.Notes, " "), "different kernels") {
		t.Errorf("behind: %+v", behind)
	}
	if p := f.pool(t, "staging", "system", f.previous.Version); p.Status != tracker.PoolCurrent || *p.ImagesBehind != 1 {
		t.Errorf("staging/system, one image behind: %s %v", p.Status, *p.ImagesBehind)
	}
	if p := f.pool(t, "prod-weu", "gpu", f.newest.Version); p.Status != tracker.PoolUnknownFamily || p.ImagesBehind != nil {
		t.Errorf("a sku no family publishes: %+v", p)
	}

	// The contract's shape: every key an element has at least.
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"cluster", "pool", "nodes", "node_image_version", "family", "version", "status", "newest",
		"images_behind", "days_behind", "running", "newest_kernel", "changes"} {
		for _, el := range raw {
			if _, ok := el[key]; !ok {
				t.Errorf("an element lacks %q: %v", key, el)
				break
			}
		}
	}

	for name, o := range map[string]web.Options{
		"no Pools":          {Store: f.rig.DB},
		"no clusters":       {Store: f.rig.DB, Pools: &tracker.PoolWatch{Policy: tracker.DefaultBehind}},
		"no nodes":          {Store: f.rig.DB, Pools: &tracker.PoolWatch{Clusters: fakeClusters{{Cluster: "empty", Synced: true}}}},
		"clusters not read": {Store: f.rig.DB, Pools: &tracker.PoolWatch{Clusters: fakeClusters{}}},
	} {
		if rec := get(t, web.New(o), "/api/v1/pools"); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
			t.Errorf("%s: /api/v1/pools %d %q, want []", name, rec.Code, rec.Body)
		}
	}
}

// TestPoolHistoryAPI: after the daemon observed the pools, the history answers by
// cluster/pool, by a bare pool name in any cluster, or whole; [] for a pool never seen.
func TestPoolHistoryAPI(t *testing.T) {
	f := newPoolFixture(t)
	if rec := get(t, f.handler, "/api/v1/pools/history"); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
		t.Errorf("history before any observation: %d %q", rec.Code, rec.Body)
	}
	if _, err := f.watch.Observe(context.Background(), f.rig.Tracker); err != nil {
		t.Fatal(err)
	}
	all, err := f.rig.DB.PoolImages("")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("%d pool images stored, want 6: %+v", len(all), all)
	}
	for _, c := range []struct {
		query string
		want  []tracker.PoolImage
	}{
		{"", all},
		{"?pool=prod-weu/upgrade", tracker.PoolHistory(all, "prod-weu/upgrade")},
		{"?pool=system", tracker.PoolHistory(all, "system")},
		{"?pool=prod-weu/system", []tracker.PoolImage{}},
		{"?pool=nosuch", []tracker.PoolImage{}},
	} {
		rec := get(t, f.handler, "/api/v1/pools/history"+c.query)
		var got []tracker.PoolImage
		wantJSON(t, rec, http.StatusOK, &got)
		if rec.Body.String() != cliJSON(t, c.want) {
			t.Errorf("history%s:\n%s\nwant\n%s", c.query, rec.Body, cliJSON(t, c.want))
		}
	}
	if up := tracker.PoolHistory(all, "prod-weu/upgrade"); len(up) != 2 || up[0].Cluster != "prod-weu" {
		t.Errorf("the upgrading pool's history: %+v", up)
	}
	if sys := tracker.PoolHistory(all, "system"); len(sys) != 1 || sys[0].Cluster != "staging" {
		t.Errorf("a bare pool name: %+v", sys)
	}
	var first map[string]any
	rec := get(t, f.handler, "/api/v1/pools/history?pool=staging/system")
	var list []map[string]any
	wantJSON(t, rec, http.StatusOK, &list)
	first = list[0]
	for _, key := range []string{"cluster", "pool", "node_image_version", "first_seen"} {
		if _, ok := first[key]; !ok {
			t.Errorf("a history entry lacks %q: %v", key, first)
		}
	}
}

// TestPoolsJudgeAPI: POST /api/v1/pools/judge judges the groups of a file as the CLI
// would against the store; bad bodies are 400 with a one-line error, oversized ones
// 413; it is the one route that takes a POST, and takes nothing else.
func TestPoolsJudgeAPI(t *testing.T) {
	f := newPoolFixture(t)
	name := func(im tracker.NodeImage) string { return tracker.NodeImageVersion(im.Family, im.SKU, im.Version) }
	groups := tracker.GroupAgentPools("from-a-file", []tracker.AgentPool{
		{Name: "np1", NodeImageVersion: name(f.third), Count: 4},
		{Name: "np2", NodeImageVersion: name(f.newest), Count: 2},
		{Name: "win", NodeImageVersion: "AKSWindows-2022-containerd-20348.1.1", Count: 1},
	})
	body, err := json.Marshal(groups) // as judgeByDaemon sends them
	if err != nil {
		t.Fatal(err)
	}
	rec := do(f.handler, http.MethodPost, "/api/v1/pools/judge", body)
	var got []tracker.NodePool
	wantJSON(t, rec, http.StatusOK, &got)
	if want, err := f.watch.Judge(groups); err != nil || rec.Body.String() != cliJSON(t, want) {
		t.Errorf("judge:\n%s\nwant\n%s", rec.Body, cliJSON(t, want))
	}
	if len(got) != 3 || got[0].Pool != "np1" || got[0].Status != tracker.PoolBehind || *got[0].ImagesBehind != 3 || got[0].Running != nil ||
		got[1].Status != tracker.PoolCurrent || got[0].Cluster != "from-a-file" {
		t.Errorf("judged: %+v", got)
	}
	if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the judge's answer lacks the guard's headers: %v", rec.Header())
	}

	for _, b := range []string{"[]", "null"} {
		if rec := do(f.handler, http.MethodPost, "/api/v1/pools/judge", []byte(b)); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
			t.Errorf("judge %s: %d %q, want []", b, rec.Code, rec.Body)
		}
	}
	for _, b := range []string{"", "{", `{"Pool": "np1"}`, `[{"Nodes": "three"}]`, "[] []", "[]\n\x00garbage"} {
		rec := do(f.handler, http.MethodPost, "/api/v1/pools/judge", []byte(b))
		var e map[string]string
		wantJSON(t, rec, http.StatusBadRequest, &e)
		if msg := e["error"]; msg == "" || strings.ContainsAny(msg, "\n\r") || !strings.Contains(msg, "pool groups") {
			t.Errorf("judge %q: error %q, want one line that says what was expected", b, msg)
		}
	}
	big := append([]byte(`[{"Pool": "`), bytes.Repeat([]byte("x"), 9<<20)...)
	big = append(big, `"}]`...)
	if rec := do(f.handler, http.MethodPost, "/api/v1/pools/judge", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 9 MB body: %d %.200s, want 413", rec.Code, rec.Body)
	}
	// Just under the limit is read.
	fill := fmt.Sprintf(`[{"Cluster": "c", "Pool": "p", "NodeImageVersion": %q, "Nodes": 1}]`, strings.Repeat("y", 8<<20-100))
	if rec := do(f.handler, http.MethodPost, "/api/v1/pools/judge", []byte(fill)); rec.Code != http.StatusOK {
		t.Errorf("a body under 8 MB: %d %.200s", rec.Code, rec.Body)
	}

	if rec := do(web.New(web.Options{Store: f.rig.DB}), http.MethodPost, "/api/v1/pools/judge", body); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("judge without Pools: %d, want 503", rec.Code)
	}

	for _, c := range []struct {
		method, target string
		status         int
		allow          string
	}{
		{http.MethodGet, "/api/v1/pools/judge", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/api/v1/pools/judge", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/v1/pools", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/api/v1/pools/history", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/api/v1/pools/judge/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/api/v1/images", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodHead, "/api/v1/pools", http.StatusOK, ""},
	} {
		rec := do(f.handler, c.method, c.target, []byte("[]"))
		if rec.Code != c.status || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", c.method, c.target, rec.Code, rec.Header().Get("Allow"), c.status, c.allow)
		}
	}
}

// TestPoolMetrics: per cluster whether it can be read, per pool its nodes over every
// image and, per family, how far behind its furthest entry is; promtool accepts it all.
func TestPoolMetrics(t *testing.T) {
	f := newPoolFixture(t)
	got := scrape(t, f.handler)
	third := f.pool(t, "prod-weu", "behind", f.third.Version)
	prev := f.pool(t, "staging", "system", f.previous.Version)
	want := map[string]float64{
		`nodewatch_cluster_up{cluster="prod-weu"}`:                                                    1,
		`nodewatch_cluster_up{cluster="staging"}`:                                                     0,
		`nodewatch_pool_nodes{cluster="prod-weu",pool="current"}`:                                     2,
		`nodewatch_pool_nodes{cluster="prod-weu",pool="behind"}`:                                      3,
		`nodewatch_pool_nodes{cluster="prod-weu",pool="upgrade"}`:                                     2,
		`nodewatch_pool_nodes{cluster="prod-weu",pool="gpu"}`:                                         1,
		`nodewatch_pool_nodes{cluster="staging",pool="system"}`:                                       2,
		`nodewatch_pool_images_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="current"}`: 0,
		`nodewatch_pool_images_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="behind"}`:  3,
		`nodewatch_pool_images_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="upgrade"}`: 3, // the worst of its two
		`nodewatch_pool_images_behind{cluster="staging",family="` + ubuntu2404 + `",pool="system"}`:   1,
		`nodewatch_pool_days_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="current"}`:   0,
		`nodewatch_pool_days_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="behind"}`:    float64(*third.DaysBehind),
		`nodewatch_pool_days_behind{cluster="prod-weu",family="` + ubuntu2404 + `",pool="upgrade"}`:   float64(*third.DaysBehind),
		`nodewatch_pool_days_behind{cluster="staging",family="` + ubuntu2404 + `",pool="system"}`:     float64(*prev.DaysBehind),
		`nodewatch_build_info{version="v1.2.3"}`:                                                      1,
		`nodewatch_family_newest_image_behind_seconds{family="` + ubuntu2404 + `"}`:                   got[`nodewatch_family_newest_image_behind_seconds{family="`+ubuntu2404+`"}`],
	}
	if *third.DaysBehind == 0 {
		t.Fatal("the fixture's behind pool is 0 days behind")
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// The gpu pool's family is unknown: no behind series for it at all.
	for k := range got {
		if strings.Contains(k, `pool="gpu"`) && !strings.HasPrefix(k, "nodewatch_pool_nodes{") {
			t.Errorf("a series of a pool whose family is unknown: %s", k)
		}
	}
	// The contract names nodewatch_pool_days_behind in days, as `behind.days` counts them
	// and as a person sets an alert on it; promtool's lint wants base units (seconds), so
	// that one complaint, and no other, is allowed.
	promtool(t, get(t, f.handler, "/metrics").Body.Bytes(),
		`nodewatch_pool_days_behind use base unit "seconds" instead of "days"`)

	// Without pools, or without clusters, no pool series.
	for name, o := range map[string]web.Options{
		"no Pools":    {Store: f.rig.DB, Metrics: web.NewMetrics()},
		"no clusters": {Store: f.rig.DB, Metrics: web.NewMetrics(), Pools: &tracker.PoolWatch{}},
	} {
		for k := range scrape(t, web.New(o)) {
			if strings.HasPrefix(k, "nodewatch_pool_") || strings.HasPrefix(k, "nodewatch_cluster_") {
				t.Errorf("%s: %s", name, k)
			}
		}
	}
}

// poolRow returns the <tbody> of the pool entry on image on the status page, or "".
func poolEntry(page, pool, image string) string {
	for rest := page; ; {
		i := strings.Index(rest, `<code class="name">`+template.HTMLEscapeString(pool)+`</code>`)
		if i < 0 {
			return ""
		}
		start := strings.LastIndex(rest[:i], "<tbody>")
		end := strings.Index(rest[i:], "</tbody>")
		if start >= 0 && end >= 0 && strings.Contains(rest[start:i+end], image) {
			return rest[start : i+end]
		}
		rest = rest[i+1:]
	}
}

// TestStatusPagePools: "Your clusters" comes first, a heading per cluster (with the
// error of one that cannot be read, escaped), a row per pool entry with its image, a
// badge, how far behind, the newest image and a link to what it misses, and notes under.
func TestStatusPagePools(t *testing.T) {
	f := newPoolFixture(t)
	rec := get(t, f.handler, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("/: %d %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	clusters, families := strings.Index(page, `<h2 id="clusters">Your clusters</h2>`), strings.Index(page, "<h2>Families</h2>")
	if clusters < 0 || families < 0 || clusters > families {
		t.Fatalf("Your clusters at %d, Families at %d: want clusters first", clusters, families)
	}
	for _, s := range []string{">prod-weu <", ">staging <", "8 nodes", "2 clusters, 6 pools by image; <strong>2 behind</strong>",
		"Cannot read the cluster now: " + template.HTMLEscapeString(stagingErr)} {
		if !strings.Contains(page[clusters:families], s) {
			t.Errorf("Your clusters lacks %q", s)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("a cluster's error is markup on the page")
	}
	if !strings.Contains(page[:clusters], `<a href="/api/v1/pools">pools JSON</a>`) {
		t.Error("the header does not link the pools JSON")
	}
	newestLink := `<code>` + f.newest.Version + `</code> · <a href="` + template.HTMLEscapeString(f.newest.NotesURL) + `">what it misses</a>`
	name := func(im tracker.NodeImage) string { return tracker.NodeImageVersion(im.Family, im.SKU, im.Version) }
	for _, c := range []struct {
		pool  string
		image string
		want  []string
		not   []string
	}{
		{"behind", name(f.third), []string{`class="entry behind"`, `<span class="pbadge warn">behind</span>`, ">3<",
			fmt.Sprintf("3 images · %d days behind", *f.pool(t, "prod-weu", "behind", f.third.Version).DaysBehind), newestLink,
			`<tr class="pnotes">`, "nodes run different kernels", template.HTMLEscapeString(f.patchedKernel)}, nil},
		{"upgrade", name(f.third), []string{`<span class="pbadge warn">behind</span>`, ">1<", newestLink}, []string{"pnotes"}},
		{"upgrade", name(f.newest), []string{`<span class="pbadge ok">current</span>`, "the newest", `<code>` + f.newest.Version + `</code>`}, []string{"what it misses"}},
		{"current", name(f.newest), []string{`<span class="pbadge ok">current</span>`, ">2<", "the newest"}, []string{"what it misses", "behind"}},
		{"system", name(f.previous), []string{`<span class="pbadge ok">current</span>`, "1 image · ", "what it misses"}, []string{"pbadge warn"}},
		{"gpu", f.unknownSKUName, []string{`<span class="pbadge unknown">unknown family</span>`, `<tr class="pnotes">`}, []string{"what it misses"}},
	} {
		row := poolEntry(page, c.pool, c.image)
		if row == "" {
			t.Errorf("no row of %s on %s", c.pool, c.image)
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(row, s) {
				t.Errorf("the row of %s on %s lacks %q:\n%s", c.pool, c.image, s, row)
			}
		}
		for _, s := range c.not {
			if strings.Contains(row, s) {
				t.Errorf("the row of %s on %s has %q:\n%s", c.pool, c.image, s, row)
			}
		}
	}
	if n := strings.Count(page, `class="pbadge `); n != 6 {
		t.Errorf("%d pool badges, want 6", n)
	}

	// No clusters watched: no section, no link.
	for name, o := range map[string]web.Options{
		"no Pools":    {Store: f.rig.DB},
		"no clusters": {Store: f.rig.DB, Pools: &tracker.PoolWatch{}},
	} {
		page := get(t, web.New(o), "/").Body.String()
		if strings.Contains(page, "Your clusters") || strings.Contains(page, "/api/v1/pools") || !strings.Contains(page, "<h2>Families</h2>") {
			t.Errorf("%s: the page speaks of clusters", name)
		}
	}
	// A cluster not listed yet says so.
	waiting := web.New(web.Options{Store: f.rig.DB, Pools: &tracker.PoolWatch{Clusters: fakeClusters{{Cluster: "new"}}}})
	if page := get(t, waiting, "/").Body.String(); !strings.Contains(page, "The first list of its nodes has not come back yet.") {
		t.Error("a cluster whose first list has not come back does not say so")
	}
	if !slices.ContainsFunc(f.statuses, func(s tracker.ClusterStatus) bool { return s.Cluster == "staging" && s.Error != "" }) {
		t.Error("the fixture's staging cluster has no error")
	}
}
