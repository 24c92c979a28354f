package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed/atom"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
	"github.com/nodewatch/nodewatch/tracker/web"
)

type rig struct {
	db *storage.DB
	tr *tracker.Tracker
}

// newRig is the real pipeline over the May snapshot: every source announces its newest
// item, and every event goes to the stdout notifier's outbox.
func newRig(t testing.TB, db *storage.DB) *rig {
	t.Helper()
	srv, err := upstreamtest.New(trackertest.World(t, "2026-05-31"))
	if err == nil {
		srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(t)) // real records
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tr := trackertest.Wire(t, srv, db, nil, tracker.FirstRunLatest)
	tr.Router = &tracker.Router{Default: []string{"stdout"}}
	return &rig{db: db, tr: tr}
}

func (r *rig) cycle(t testing.TB) (tracker.CycleReport, []tracker.Event) {
	t.Helper()
	rep, events, err := r.tr.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Sources {
		if s.Failed() {
			t.Fatalf("%s failed: %v", s.Source, s.Errors)
		}
	}
	return rep, events
}

func openStore(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "nodewatch.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var (
	mayOnce  sync.Once
	mayDir   string
	mayDB    *storage.DB
	mayStore *storage.DB // set once the cycle succeeded
)

// may is the store after one cycle over the May snapshot, shared by the tests that only
// read it. It outlives the test that first asks for it, so TestMain removes it.
func may(t testing.TB) *storage.DB {
	t.Helper()
	mayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodewatch-web-")
		if err != nil {
			t.Fatal(err)
		}
		mayDir = dir
		db, err := storage.Open(filepath.Join(dir, "nodewatch.db"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mayDB = db
		newRig(t, db).cycle(t)
		mayStore = db
	})
	if mayStore == nil {
		t.Fatal("the May store could not be built")
	}
	return mayStore
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, db := range []*storage.DB{mayDB, fleetDB} {
		if db != nil {
			db.Close()
		}
	}
	for _, dir := range []string{mayDir, fleetDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

func get(t testing.TB, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// wantJSON checks the answer's status and type, and decodes its body into v.
func wantJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
}

// cliJSON is what `--json` prints for v: json.MarshalIndent with two spaces, and a newline.
func cliJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func linkedViews(t *testing.T, s tracker.Store, f tracker.ImageFilter) []tracker.ImageView {
	t.Helper()
	images, err := s.Images("")
	if err != nil {
		t.Fatal(err)
	}
	releases, err := s.FlatcarReleases("")
	if err != nil {
		t.Fatal(err)
	}
	return tracker.FilterImages(tracker.LinkImages(images, releases), f)
}

func TestImagesAPI(t *testing.T) {
	db := may(t)
	h := web.New(web.Options{Store: db})

	rec := get(t, h, "/api/v1/images?family=AKSFlatcar/*")
	var views []tracker.ImageView
	wantJSON(t, rec, http.StatusOK, &views)
	if want := cliJSON(t, linkedViews(t, db, tracker.ImageFilter{Family: "AKSFlatcar/*"})); rec.Body.String() != want {
		t.Errorf("the API's JSON differs from the CLI's:\n%s\nwant\n%s", rec.Body, want)
	}
	var found *tracker.ImageView
	for i, v := range views {
		if !strings.HasPrefix(v.Family, "AKSFlatcar/") {
			t.Errorf("family %s passed AKSFlatcar/*", v.Family)
		}
		if v.Family == "AKSFlatcar/gen2" && v.Version == "202605.27.0" {
			found = &views[i]
		}
	}
	if found == nil {
		t.Fatalf("no AKSFlatcar/gen2 202605.27.0 among %d images", len(views))
	}
	if found.Kernel == nil || *found.Kernel != "6.12.87-flatcar" {
		t.Errorf("kernel %v, want 6.12.87-flatcar", found.Kernel)
	}
	fc := found.Flatcar
	if fc == nil || fc.Version != "4694.0.0" || fc.Channel == nil || *fc.Channel != "alpha" || fc.ReleasedAt == nil {
		t.Fatalf("flatcar %+v, want 4694.0.0 from alpha", fc)
	}
	if got := fc.ReleasedAt.Format(time.RFC3339); got != "2026-05-11T18:20:17Z" {
		t.Errorf("released_at %s", got)
	}
	if !strings.Contains(rec.Body.String(), `"released_at": "2026-05-11T18:20:17Z"`) {
		t.Error(`no "released_at": "2026-05-11T18:20:17Z" in the JSON`)
	}

	for _, tc := range []struct {
		query string
		match func(tracker.ImageView) bool
	}{
		{"kernel=6.12.87-flatcar", func(v tracker.ImageView) bool { return v.Kernel != nil && *v.Kernel == "6.12.87-flatcar" }},
		{"os_version=4694.0.0", func(v tracker.ImageView) bool { return v.OS.Version != nil && *v.OS.Version == "4694.0.0" }},
	} {
		var got []tracker.ImageView
		wantJSON(t, get(t, h, "/api/v1/images?"+tc.query), http.StatusOK, &got)
		var has bool
		for _, v := range got {
			if !tc.match(v) {
				t.Errorf("%s: %s %s passed", tc.query, v.Family, v.Version)
			}
			has = has || (v.Family == "AKSFlatcar/gen2" && v.Version == "202605.27.0")
		}
		if !has || len(got) >= len(linkedViews(t, db, tracker.ImageFilter{})) {
			t.Errorf("%s: %d images, without AKSFlatcar/gen2 202605.27.0 or not filtered", tc.query, len(got))
		}
	}

	if rec := get(t, h, "/api/v1/images?family=AKSNoSuch/*"); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
		t.Errorf("no match: %d %q, want []", rec.Code, rec.Body)
	}
}

func TestFlatcarAndAKSAPI(t *testing.T) {
	db := may(t)
	h := web.New(web.Options{Store: db})

	var alpha []tracker.FlatcarRelease
	rec := get(t, h, "/api/v1/flatcar?channel=alpha")
	wantJSON(t, rec, http.StatusOK, &alpha)
	var has bool
	for _, r := range alpha {
		if r.Channel != "alpha" {
			t.Errorf("channel %s in alpha", r.Channel)
		}
		has = has || r.Version == "4694.0.0"
	}
	if !has {
		t.Error("alpha lacks 4694.0.0")
	}
	stored, _ := db.FlatcarReleases("alpha")
	if rec.Body.String() != cliJSON(t, stored) {
		t.Error("the API's JSON differs from the CLI's")
	}
	if rec := get(t, h, "/api/v1/flatcar?channel=nosuch"); rec.Body.String() != "[]\n" {
		t.Errorf("unknown channel: %q, want []", rec.Body)
	}

	var aks []tracker.AKSRelease
	rec = get(t, h, "/api/v1/aks")
	wantJSON(t, rec, http.StatusOK, &aks)
	if len(aks) == 0 || aks[0].Tag != "2026-04-28" {
		t.Fatalf("newest AKS release %v, want 2026-04-28", aks[:min(len(aks), 1)])
	}
	storedAKS, _ := db.AKSReleases("")
	if rec.Body.String() != cliJSON(t, storedAKS) {
		t.Error("the API's JSON differs from the CLI's")
	}
}

func TestShowAndOutboxAPI(t *testing.T) {
	db := may(t)
	h := web.New(web.Options{Store: db})

	var found tracker.Found
	rec := get(t, h, "/api/v1/show/4694.0.0")
	wantJSON(t, rec, http.StatusOK, &found)
	if len(found.Flatcar) == 0 || len(found.Images) != 0 {
		t.Errorf("show 4694.0.0: %d Flatcar releases, %d images", len(found.Flatcar), len(found.Images))
	}
	want, _ := tracker.Show(db, "4694.0.0")
	if rec.Body.String() != cliJSON(t, want) {
		t.Error("the API's JSON differs from the CLI's")
	}
	var e map[string]string
	wantJSON(t, get(t, h, "/api/v1/show/1.2.3"), http.StatusNotFound, &e)
	if !strings.Contains(e["error"], "1.2.3") {
		t.Errorf("error %q", e["error"])
	}
	wantJSON(t, get(t, h, "/api/v1/nosuch"), http.StatusNotFound, &e)

	var pending []tracker.Delivery
	wantJSON(t, get(t, h, "/api/v1/outbox"), http.StatusOK, &pending)
	events, _ := db.Events(time.Time{})
	if len(pending) != len(events) || len(events) == 0 {
		t.Fatalf("%d deliveries pending for %d events", len(pending), len(events))
	}
	for _, d := range pending {
		if d.Notifier != "stdout" || d.State != tracker.DeliveryPending {
			t.Errorf("delivery %+v", d)
		}
	}
}

// brokenStore fails every read it is asked for.
type brokenStore struct{ tracker.Store }

func (brokenStore) LastCycle() (tracker.CycleReport, bool, error) {
	return tracker.CycleReport{}, false, os.ErrPermission
}

func TestReadyz(t *testing.T) {
	check := func(o web.Options, status int, reason string) {
		t.Helper()
		o.MaxCycleAge = 45 * time.Minute
		rec := get(t, web.New(o), "/readyz")
		body := rec.Body.String()
		if rec.Code != status || !strings.Contains(body, reason) || strings.Count(body, "\n") != 1 {
			t.Errorf("readyz %d %q, want %d with %q on one line", rec.Code, body, status, reason)
		}
	}
	check(web.Options{Store: openStore(t)}, http.StatusServiceUnavailable, "no cycle yet")
	check(web.Options{Store: brokenStore{}}, http.StatusServiceUnavailable, "permission denied")

	db := may(t)
	check(web.Options{Store: db}, http.StatusOK, "ok")
	partial := openStore(t)
	partial.RecordCycle(context.Background(), tracker.CycleReport{Finished: time.Now(), Sources: []tracker.SourceReport{
		{Source: "vhd_notes"}, {Source: "kubernetes:prod-weu", Errors: []string{"cluster prod-weu: connection refused"}}}})
	check(web.Options{Store: partial}, http.StatusOK, "ok; 1 of 2 sources failed in the last cycle: kubernetes:prod-weu: cluster prod-weu: connection refused")
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	check(web.Options{Store: db, Now: later}, http.StatusServiceUnavailable, "last cycle 2h ago")

	failed := openStore(t)
	now := time.Now().UTC()
	rep := tracker.CycleReport{Started: now, Finished: now, Sources: []tracker.SourceReport{
		{Source: "flatcar:alpha", Errors: []string{"GET releases-alpha.xml: 502 Bad Gateway\nupstream down"}},
		{Source: "aks_releases:Azure/AKS", Errors: []string{"rate limited"}},
	}}
	if err := failed.RecordCycle(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	check(web.Options{Store: failed}, http.StatusServiceUnavailable, "every source failed in the last cycle: flatcar:alpha: GET releases-alpha.xml: 502 Bad Gateway upstream down")
	rep.Sources[1].Errors = nil
	if err := failed.RecordCycle(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	check(web.Options{Store: failed}, http.StatusOK, "ok")
}

// scrape returns the samples of the text exposition, by name and labels as written.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := get(t, h, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	db := openStore(t)
	r := newRig(t, db)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	m := web.NewMetrics()
	h := web.New(web.Options{Store: db, Metrics: m, Now: func() time.Time { return now }, Version: "v1.2.3"})

	if rec := get(t, web.New(web.Options{Store: db}), "/metrics"); rec.Code != http.StatusNotFound {
		t.Errorf("/metrics without Metrics: %d, want 404", rec.Code)
	}

	rep, events := r.cycle(t)
	m.ObserveCycle(rep, events)
	alpha := rep.Sources[slicesIndex(rep.Sources, "flatcar:alpha")]
	got := scrape(t, h)
	want := map[string]float64{
		`nodewatch_source_requests_total{source="flatcar:alpha",status="200"}`: float64(alpha.Requests),
		`nodewatch_source_requests_total{source="flatcar:alpha",status="304"}`: 0,
		`nodewatch_source_up{source="flatcar:alpha"}`:                          1,
		`nodewatch_source_errors_total{source="flatcar:alpha"}`:                0,
		`nodewatch_events_total{kind="node_image"}`:                            4,
		`nodewatch_events_total{kind="flatcar_release"}`:                       4,
		`nodewatch_last_cycle_success_timestamp_seconds`:                       float64(rep.Finished.Unix()),
		`nodewatch_cycle_duration_seconds_count`:                               1,
		`nodewatch_build_info{version="v1.2.3"}`:                               1,
	}
	newest, ok, err := db.Image("AKSFlatcar/gen2", "202605.27.0")
	if err != nil || !ok {
		t.Fatal("no AKSFlatcar/gen2 202605.27.0", err)
	}
	want[`nodewatch_newest_image_age_seconds{family="AKSFlatcar/gen2"}`] = now.Sub(newest.Day()).Seconds()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if alpha.Requests == 0 {
		t.Error("the cold cycle made no alpha request")
	}

	// Nothing changed upstream: the second cycle's requests all answer 304.
	idle, events := r.cycle(t)
	m.ObserveCycle(idle, events)
	m.ObserveDelivery("stdout", "delivered")
	m.ObserveDelivery("stdout", "delivered")
	m.ObserveDelivery("team", "given_up")
	got = scrape(t, h)
	idleAlpha := idle.Sources[slicesIndex(idle.Sources, "flatcar:alpha")]
	if idleAlpha.NotModified == 0 || idleAlpha.NotModified != idleAlpha.Requests {
		t.Fatalf("idle alpha: %d requests, %d not modified", idleAlpha.Requests, idleAlpha.NotModified)
	}
	for k, v := range map[string]float64{
		`nodewatch_source_requests_total{source="flatcar:alpha",status="200"}`: float64(alpha.Requests),
		`nodewatch_source_requests_total{source="flatcar:alpha",status="304"}`: float64(idleAlpha.NotModified),
		`nodewatch_deliveries_total{notifier="stdout",outcome="delivered"}`:    2,
		`nodewatch_deliveries_total{notifier="team",outcome="given_up"}`:       1,
		`nodewatch_events_total{kind="node_image"}`:                            4,
		`nodewatch_cycle_duration_seconds_count`:                               2,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("after the idle cycle: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func slicesIndex(rs []tracker.SourceReport, source string) int {
	for i, r := range rs {
		if r.Source == source {
			return i
		}
	}
	panic("no source " + source)
}

func TestFeed(t *testing.T) {
	db := may(t)
	rec := get(t, web.New(web.Options{Store: db}), "/feed.xml")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("/feed.xml: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	feed, err := (&atom.Parser{}).Parse(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	events, _ := db.Events(time.Time{})
	if len(feed.Entries) != len(events) || len(events) == 0 {
		t.Fatalf("%d entries for %d events", len(feed.Entries), len(events))
	}
	byID := map[string]*atom.Entry{}
	for i, e := range feed.Entries {
		byID[e.ID] = e
		if i > 0 && e.UpdatedParsed.After(*feed.Entries[i-1].UpdatedParsed) {
			t.Error("entries are not newest first")
		}
	}
	e := byID["urn:nodewatch:event:node_image:AKSFlatcar/gen2:202605.27.0"]
	if e == nil {
		t.Fatal("no entry for node_image:AKSFlatcar/gen2:202605.27.0")
	}
	const title = "node_image AKSFlatcar/gen2 202605.27.0: Flatcar Container Linux by Kinvolk 4694.0.0, kernel 6.12.87-flatcar, Flatcar 4694.0.0 from alpha released 2026-05-11"
	if e.Title != title {
		t.Errorf("title %q\nwant  %q", e.Title, title)
	}
	if len(e.Links) != 1 || !strings.HasSuffix(e.Links[0].Href, "/AKSFlatcar/gen2/202605.27.0.txt") {
		t.Errorf("links %+v", e.Links)
	}
	if e := byID["urn:nodewatch:event:flatcar_release:alpha:4694.0.0"]; e == nil || !strings.HasPrefix(e.Title, "flatcar_release alpha 4694.0.0: kernel 6.12.87") {
		t.Errorf("alpha entry %+v", e)
	}
	for _, e := range feed.Entries {
		if strings.Contains(e.Title, "https://") || len([]rune(e.Title)) > 160 {
			t.Errorf("title not shortened: %q", e.Title)
		}
	}
}

func TestStatusPage(t *testing.T) {
	db := may(t)
	now := time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)
	rec := get(t, web.New(web.Options{Store: db, Version: "v1.2.3", Now: func() time.Time { return now }}), "/")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; style-src 'unsafe-inline'; img-src data:" {
		t.Errorf("CSP %q", csp)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	page := rec.Body.String()
	images, _ := db.Images("")
	statuses := tracker.FamilyStatuses(images)
	if len(statuses) != 4 {
		t.Errorf("%d families stored", len(statuses))
	}
	for _, st := range statuses {
		row := familyRow(page, st.Family)
		age := fmt.Sprintf("%d days", int(now.Sub(st.NewestDay).Hours()/24))
		for _, s := range []string{st.Newest, *st.Kernel, st.NodeImageVersion, `title="built ` + st.NewestDay.Format(time.DateOnly) + `"`, age, `<svg class="strip"`} {
			if !strings.Contains(row, s) {
				t.Errorf("the row of %s lacks %s of its newest image: %s", st.Family, s, row)
			}
		}
		if st.Quiet || strings.Contains(row, "badge") {
			t.Errorf("%s is quiet in the May snapshot", st.Family)
		}
	}
	// Literally, as `az aks nodepool list` prints it.
	if row := familyRow(page, "AKSFlatcar/gen2"); !strings.Contains(row, "AKSFlatcar-flatcargen2-202605.27.0") || !strings.Contains(row, "4 days") {
		t.Errorf("the row of AKSFlatcar/gen2 lacks its AKS name or age: %s", row)
	}
	for _, family := range []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"} {
		if row := familyRow(page, family); !strings.Contains(row, "Flatcar alpha, released") || !strings.Contains(row, "2026-05-11") || !strings.Contains(row, "newest alpha when built") {
			t.Errorf("the row of %s lacks its Flatcar release: %s", family, row)
		}
	}
	if row := familyRow(page, "AKSUbuntu/gen2/2404containerd"); strings.Contains(row, "Flatcar") {
		t.Errorf("an Ubuntu row speaks of Flatcar: %s", row)
	}
	for _, s := range []string{"<svg", "</svg>", "4694.0.0", "Flatcar alpha", `name="viewport"`, "flatcar:alpha", `href="/api/v1/families"`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the page has a script")
	}
}

// familyRow returns the row of family on the status page, or "".
func familyRow(page, family string) string {
	return tableRow(page, `<code class="name">`+template.HTMLEscapeString(family)+`</code>`)
}

// tableRow returns the <tr> of page that holds s, or "".
func tableRow(page, s string) string {
	i := strings.Index(page, s)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return page[start : i+end]
}

// TestHostileInput: upstream names and errors are data, never markup.
func TestHostileInput(t *testing.T) {
	db := openStore(t)
	family := "</svg><img src=x onerror=alert(1)>"
	day := time.Date(2026, 5, 27, 0, 0, 0, 0, time.UTC)
	version := "4694.0.0"
	_, err := db.Apply(context.Background(), tracker.Batch{
		Images: []tracker.NodeImage{{
			Family: family, Version: "202605.27.0", Kernel: "<b>6.12</b>", BuildTime: day,
			OS:       tracker.OS{Name: "<script>alert(1)</script>", ID: "flatcar", Version: &version},
			NotesURL: "javascript:alert(1)",
		}},
		FlatcarReleases: []tracker.FlatcarRelease{{Channel: "<script>x</script>", Version: version, ReleasedAt: day.AddDate(0, 0, -9)}},
		Events:          []tracker.Event{{Key: tracker.EventKey(tracker.EventNodeImage, family, "202605.27.0"), Kind: tracker.EventNodeImage, Subject: family, Version: "202605.27.0", CreatedAt: day}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordCycle(context.Background(), tracker.CycleReport{Finished: day, Sources: []tracker.SourceReport{
		{Source: "vhd_notes:" + family, Errors: []string{"<img src=x onerror=alert(2)>"}},
	}}); err != nil {
		t.Fatal(err)
	}
	h := web.New(web.Options{Store: db})

	page := get(t, h, "/").Body.String()
	for _, bad := range []string{"<script", "<img", "<b>", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page carries %q from the data", bad)
		}
	}
	for _, s := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;/svg&gt;&lt;img src=x onerror=alert(1)&gt;", "<svg", "sku unknown"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}

	rec := get(t, h, "/feed.xml")
	feed, err := (&atom.Parser{}).Parse(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.Body)
	}
	if len(feed.Entries) != 1 || !strings.Contains(feed.Entries[0].Title, "<script>alert(1)</script>") || len(feed.Entries[0].Links) != 0 {
		t.Errorf("entries %+v", feed.Entries)
	}
	if strings.Contains(rec.Body.String(), "<script") {
		t.Error("the feed carries markup unescaped")
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := web.New(web.Options{Store: openStore(t)})
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{http.MethodPost, "/api/v1/images", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/nosuch", http.StatusNotFound},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodHead, "/healthz", http.StatusOK},
		{http.MethodGet, "/api/v1/images?family=" + strings.Repeat("x", 2000), http.StatusRequestURITooLong},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %.40s: %d, want %d", tc.method, tc.target, rec.Code, tc.status)
		}
	}
}

func BenchmarkImagesAPI(b *testing.B) {
	h := web.New(web.Options{Store: may(b)})
	req := httptest.NewRequest(http.MethodGet, "/api/v1/images", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
