package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
	"github.com/nodewatch/nodewatch/tracker/web"
)

// The fixture snapshots hold 4 families; upstream has about 40. fleet builds a store
// like upstream's out of the real images the pipeline stores from the May snapshot:
// the 4 real families as they are, and 36 more named like the real upstream ones, each
// a copy of the real family of its OS (Windows and Azure Container Linux take the days
// of a real family and the OS of a real note of theirs, in samples/). Copies carry as
// much history as upstream families do (64 images), so that the store holds about
// 2,400 images, and two families lose their newest images so that they fall quiet.

// fleetNow is the clock of the fleet's pages: the day of the May snapshot.
var fleetNow = time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)

const fleetHistory = 64 // images of each copied family

type fleetFamily struct {
	family, sku string
	from        string // the real family whose images it copies
	// sample is a real note (in samples/) whose OS and kernel the copies carry; "" keeps
	// those of the images copied.
	sample string
	// build is a Windows family's build: its versions are build.revision.YYMMDD, and its
	// OS name is that of the real note osNote (a path below the repository root), or, for
	// the lines AKS retired (2019, 23H2), of which no note is at hand, osName.
	build  int
	osNote string
	osName string
	// quietAfter drops the images built after this day, so that the family falls quiet.
	quietAfter string
}

const (
	ubuntu2404 = "AKSUbuntu/gen2/2404containerd"
	azl3       = "AKSAzureLinuxV3/gen2"
	flatcar    = "AKSFlatcar/gen2"
	jammy      = "AKSUbuntu_gen2_2204containerd_202412.29.0.txt"
	jammyFIPS  = "AKSUbuntu_gen2_2204fipscontainerd_202608.20.0.txt"
	aclNote    = "AKSAzureContainerLinux_gen2tl_202605.05.1.txt"
	winNote    = "AKSWindows_2025-gen2_26100.7171.251116.txt"
	laterNotes = "testdata/world-later/github/Azure/AgentBaker/vhdbuilder/release-notes/"
	win2022    = laterNotes + "AKSWindows/2022-containerd-gen2/20348.5622.260918.txt"
	win2025    = laterNotes + "AKSWindows/2025-gen2/26100.33438.260918.txt"
)

// fleetFamilies are the copies; the real four keep their own images. The skus are the
// real ones where testdata/world-later holds the family's image list.
var fleetFamilies = []fleetFamily{
	{family: "AKSUbuntu/gen1/2204containerd", sku: "2204containerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen1/2204fipscontainerd", sku: "2204fipscontainerd", from: ubuntu2404, sample: jammyFIPS},
	{family: "AKSUbuntu/gen1/2404containerd", sku: "2404containerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen1/2404fipscontainerd", sku: "2404fipscontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2204arm64containerd", sku: "2204gen2arm64containerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen2/2204containerd", sku: "2204gen2containerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen2/2204cvmcontainerd", sku: "2204gen2CVMcontainerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen2/2204fipscontainerd", sku: "2204gen2fipscontainerd", from: ubuntu2404, sample: jammyFIPS},
	{family: "AKSUbuntu/gen2/2204gpucontainerd", sku: "2204gen2gpucontainerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen2/2204minimalcontainerd", sku: "2204gen2minimalcontainerd", from: ubuntu2404, sample: jammy, quietAfter: "2026-04-24"},
	{family: "AKSUbuntu/gen2/2204tlcontainerd", sku: "2204gen2TLcontainerd", from: ubuntu2404, sample: jammy},
	{family: "AKSUbuntu/gen2/2404arm64containerd", sku: "2404gen2arm64containerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404arm64fipscontainerd", sku: "2404gen2arm64fipscontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404cvmcontainerd", sku: "2404gen2CVMcontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404fipscontainerd", sku: "2404gen2fipscontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404gpucontainerd", sku: "2404gen2gpucontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404minimalcontainerd", sku: "2404gen2minimalcontainerd", from: ubuntu2404},
	{family: "AKSUbuntu/gen2/2404tlcontainerd", sku: "2404gen2TLcontainerd", from: ubuntu2404},
	{family: "AKSAzureLinuxV3/gen1", sku: "V3", from: azl3},
	{family: "AKSAzureLinuxV3/gen1fips", sku: "V3fips", from: azl3},
	{family: "AKSAzureLinuxV3/gen2arm64", sku: "V3gen2arm64", from: azl3},
	{family: "AKSAzureLinuxV3/gen2arm64fips", sku: "V3gen2arm64fips", from: azl3},
	{family: "AKSAzureLinuxV3/gen2arm64tl", sku: "V3gen2arm64TL", from: azl3},
	{family: "AKSAzureLinuxV3/cvmgen2", sku: "V3gen2CVM", from: azl3},
	{family: "AKSAzureLinuxV3/gen2fips", sku: "V3gen2fips", from: azl3},
	{family: "AKSAzureLinuxV3/gen2kata", sku: "V3katagen2", from: azl3},
	{family: "AKSAzureLinuxV3/gen2tl", sku: "V3gen2TL", from: azl3},
	{family: "AKSAzureContainerLinux/gen2tl", sku: "aclgen2TL", from: flatcar, sample: aclNote},
	{family: "AKSAzureContainerLinux/arm64gen2tl", sku: "aclgen2arm64TL", from: flatcar, sample: aclNote},
	{family: "AKSWindows/2019-containerd", sku: "windows-2019-containerd", from: ubuntu2404, build: 17763, osName: "Windows Server 2019 Datacenter", quietAfter: "2026-03-30"},
	{family: "AKSWindows/2022-containerd", sku: "windows-2022-containerd", from: ubuntu2404, build: 20348, osNote: win2022},
	{family: "AKSWindows/2022-containerd-gen2", sku: "windows-2022-containerd-gen2", from: ubuntu2404, build: 20348, osNote: win2022},
	{family: "AKSWindows/23H2", sku: "windows-23H2", from: ubuntu2404, build: 25398, osName: "Windows Server Datacenter"},
	{family: "AKSWindows/23H2-gen2", sku: "windows-23H2-gen2", from: ubuntu2404, build: 25398, osName: "Windows Server Datacenter"},
	{family: "AKSWindows/2025", sku: "windows-2025", from: ubuntu2404, build: 26100, osNote: win2025},
	{family: "AKSWindows/2025-gen2", sku: "windows-2025-gen2", from: ubuntu2404, build: 26100, osNote: win2025},
}

var (
	fleetOnce  sync.Once
	fleetDir   string
	fleetDB    *storage.DB
	fleetStore *storage.DB // set once it is built
)

// fleet is the store of about 40 families, shared by the tests that only read it;
// TestMain removes it.
func fleet(t testing.TB) *storage.DB {
	t.Helper()
	fleetOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodewatch-web-fleet-")
		if err != nil {
			t.Fatal(err)
		}
		fleetDir = dir
		db, err := storage.Open(filepath.Join(dir, "nodewatch.db"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fleetDB = db
		buildFleet(t, may(t), db)
		fleetStore = db
	})
	if fleetStore == nil {
		t.Fatal("the fleet store could not be built")
	}
	return fleetStore
}

func buildFleet(t testing.TB, real tracker.Store, db *storage.DB) {
	t.Helper()
	images, err := real.Images("")
	if err != nil {
		t.Fatal(err)
	}
	releases, err := real.FlatcarReleases("")
	if err != nil {
		t.Fatal(err)
	}
	byFamily := map[string][]tracker.NodeImage{}
	for _, im := range images {
		byFamily[im.Family] = append(byFamily[im.Family], im)
	}
	if got := len(byFamily); got != len(trackertest.Families) {
		t.Fatalf("the May store holds %d families, want %d", got, len(trackertest.Families))
	}
	all := slices.Clone(images)
	for _, f := range fleetFamilies {
		src := byFamily[f.from]
		if len(src) == 0 {
			t.Fatalf("%s copies %s, which the May store lacks", f.family, f.from)
		}
		all = append(all, copyFamily(t, f, withHistory(t, src, fleetHistory))...)
	}
	if _, err := db.Apply(context.Background(), tracker.Batch{Images: all, FlatcarReleases: releases}); err != nil {
		t.Fatal(err)
	}
	c, ok, err := real.LastCycle()
	if err != nil || !ok {
		t.Fatalf("the May store has no cycle: %v", err)
	}
	c.Started, c.Finished = fleetNow.Add(-7*time.Minute), fleetNow.Add(-7*time.Minute).Add(time.Duration(c.DurationMS)*time.Millisecond)
	if err := db.RecordCycle(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// withHistory returns the images of one family (sorted by version) with older images
// before them up to n in all: earlier copies of the same history, moved back in time
// by its whole span, with versions renamed for their days.
func withHistory(t testing.TB, ims []tracker.NodeImage, n int) []tracker.NodeImage {
	t.Helper()
	if len(ims) >= n {
		return ims
	}
	first, last := ims[0].Day(), ims[len(ims)-1].Day()
	for _, im := range ims {
		first, last = minTime(first, im.Day()), maxTime(last, im.Day())
	}
	span := last.Sub(first).Truncate(24*time.Hour) + 7*24*time.Hour
	out := slices.Clone(ims)
	for k := 1; len(out) < n; k++ {
		shift := time.Duration(k) * span
		older := make([]tracker.NodeImage, 0, len(ims))
		for _, im := range ims[max(0, len(ims)-(n-len(out))):] {
			v, err := tracker.ParseImageVersion(im.Version)
			if err != nil || v.Format != tracker.FormatDate {
				t.Fatalf("%s %s: %v", im.Family, im.Version, err)
			}
			d := v.Date.Add(-shift)
			im.Version = fmt.Sprintf("%04d%02d.%02d.%d", d.Year(), d.Month(), d.Day(), v.Patch)
			if !im.BuildTime.IsZero() {
				im.BuildTime = im.BuildTime.Add(-shift)
			}
			older = append(older, im)
		}
		out = append(older, out...)
	}
	return out
}

// copyFamily renames the images of a real family (sorted by version) into f.
func copyFamily(t testing.TB, f fleetFamily, src []tracker.NodeImage) []tracker.NodeImage {
	t.Helper()
	var look *tracker.VHDNotes
	if f.sample != "" || f.build != 0 {
		name := f.sample
		if f.build != 0 {
			name = winNote
		}
		data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		n, err := vhdnotes.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		look = &n
	}
	var cutoff time.Time
	if f.quietAfter != "" {
		var err error
		if cutoff, err = time.Parse(time.DateOnly, f.quietAfter); err != nil {
			t.Fatal(err)
		}
	}
	winName := f.osName
	if f.osNote != "" {
		winName = osNameOf(t, f.osNote)
	}
	out := make([]tracker.NodeImage, 0, len(src))
	for i, im := range src {
		if !cutoff.IsZero() && im.Day().After(cutoff.Add(24*time.Hour-time.Second)) {
			continue
		}
		oldPath := "/" + im.Family + "/" + im.Version + ".txt"
		im.Family, im.SKU = f.family, f.sku
		if look != nil {
			im.OS, im.Kernel = look.OS, look.Kernel
		}
		if f.build != 0 {
			// Windows: build.revision.YYMMDD, the revision rising with the version order.
			rev := 1000 + 7*i
			im.Version = fmt.Sprintf("%d.%d.%s", f.build, rev, im.Day().UTC().Format("060102"))
			osVersion := fmt.Sprintf("%d.%d", f.build, rev)
			im.OS = tracker.OS{Name: winName, Version: &osVersion}
			im.Kernel, im.Components = "", nil
		}
		im.NotesURL = strings.Replace(im.NotesURL, oldPath, "/"+f.family+"/"+im.Version+".txt", 1)
		out = append(out, im)
	}
	return out
}

// osNameOf is the OS name a real Windows note of the repository's testdata gives.
func osNameOf(t testing.TB, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	n, err := vhdnotes.Parse(data)
	if err != nil || n.OS.Name == "" {
		t.Fatalf("%s: no OS name (%v)", rel, err)
	}
	return n.OS.Name
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func fleetStatuses(t *testing.T) []tracker.FamilyStatus {
	t.Helper()
	images, err := fleet(t).Images("")
	if err != nil {
		t.Fatal(err)
	}
	if len(images) < 2300 {
		t.Fatalf("the fleet holds %d images, want about 2,400", len(images))
	}
	return tracker.FamilyStatuses(images)
}

// quietText is what a quiet family's row says.
func quietText(s tracker.FamilyStatus) string {
	return fmt.Sprintf("last image %s, %d days quiet, usual interval %s days", s.Newest, s.BehindDays,
		strconv.FormatFloat(*s.IntervalDays, 'f', -1, 64))
}

// TestStatusPageFleet: about 40 families, each under its OS line with its newest image,
// AKS name, OS, kernel, age and cadence; the two quiet ones marked with their numbers.
func TestStatusPageFleet(t *testing.T) {
	statuses := fleetStatuses(t)
	if len(statuses) != len(fleetFamilies)+len(trackertest.Families) || len(statuses) < 38 {
		t.Fatalf("%d families", len(statuses))
	}
	rec := get(t, web.New(web.Options{Store: fleet(t), Now: func() time.Time { return fleetNow }}), "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("/: %d %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()

	// One group per OS line, in tracker.OSLines order, none empty.
	var lines []string
	for _, s := range statuses {
		if len(lines) == 0 || lines[len(lines)-1] != s.OSLine {
			lines = append(lines, s.OSLine)
		}
	}
	if want := []string{"Ubuntu", "Azure Linux", "Azure Container Linux", "Flatcar", "Windows"}; !slices.Equal(lines, want) {
		t.Fatalf("OS lines %q, want %q", lines, want)
	}
	header := func(line string) int {
		i := strings.Index(page, `">`+line+` <span class="muted">`)
		if i < 0 {
			t.Fatalf("no group %s", line)
		}
		return i
	}
	if strings.Contains(page, `">Other <span`) {
		t.Error("an empty group Other")
	}
	groupStart := map[string]int{}
	for i, line := range lines {
		groupStart[line] = header(line)
		if i > 0 && groupStart[line] < groupStart[lines[i-1]] {
			t.Errorf("group %s before %s", line, lines[i-1])
		}
	}
	groupEnd := func(line string) int {
		if i := slices.Index(lines, line); i+1 < len(lines) {
			return groupStart[lines[i+1]]
		}
		return len(page)
	}

	var newestOfAll time.Time
	for _, s := range statuses {
		newestOfAll = maxTime(newestOfAll, s.NewestDay)
	}
	for _, s := range statuses {
		row := familyRow(page, s.Family)
		if row == "" {
			t.Errorf("no row for %s", s.Family)
			continue
		}
		if at := strings.Index(page, row); at < groupStart[s.OSLine] || at > groupEnd(s.OSLine) {
			t.Errorf("%s is not under %s", s.Family, s.OSLine)
		}
		kernel := "none"
		if s.Kernel != nil {
			kernel = *s.Kernel
		} else if s.OSLine != "Windows" {
			t.Errorf("%s has no kernel", s.Family)
		}
		want := []string{s.Newest, ">" + s.NodeImageVersion + "<", s.OSName, ">" + kernel + "<",
			fmt.Sprintf(">%d days<", int(fleetNow.Sub(s.NewestDay).Hours()/24))}
		if s.NodeImageVersion == "" {
			t.Errorf("%s has no AKS name", s.Family)
		}
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("the row of %s lacks %q: %s", s.Family, w, row)
			}
		}
		// One mark per image of its cadence built in the strip's 120 days.
		var marks int
		for _, c := range s.Cadence {
			if newestOfAll.Sub(c.Day) <= 120*24*time.Hour {
				marks++
			}
		}
		if got := strings.Count(row, `<line class="mark"`) + strings.Count(row, `<line class="newest"`); got != marks || marks == 0 {
			t.Errorf("the strip of %s has %d marks, want %d", s.Family, got, marks)
		}
		quiet := strings.Contains(row, `<span class="badge">quiet</span>`)
		if quiet != s.Quiet || strings.Contains(row, `class="quiet"`) != s.Quiet {
			t.Errorf("%s: quiet badge %v, want %v", s.Family, quiet, s.Quiet)
		}
		if s.Quiet && !strings.Contains(row, quietText(s)) {
			t.Errorf("the row of quiet %s lacks %q: %s", s.Family, quietText(s), row)
		}
		if flatcar := strings.Contains(row, "when built"); flatcar != (s.OSLine == "Flatcar") {
			t.Errorf("%s: Flatcar lag shown %v", s.Family, flatcar)
		}
	}

	// The two families whose newest images were dropped, literally.
	quiet := tracker.QuietFamilies(statuses)
	if len(quiet) != 2 {
		t.Fatalf("%d quiet families, want 2", len(quiet))
	}
	for family, text := range map[string]string{
		"AKSUbuntu/gen2/2204minimalcontainerd": "last image 202604.24.0, 33 days quiet, usual interval 8 days",
		"AKSWindows/2019-containerd":           "last image 17763.1406.260330, 58 days quiet, usual interval 5 days",
	} {
		if row := familyRow(page, family); !strings.Contains(row, `<span class="badge">quiet</span> `+text) {
			t.Errorf("the row of %s lacks %q: %s", family, text, row)
		}
	}
	for _, s := range []string{"40 families, 2443 images", "<strong>2 quiet</strong>", `<a href="#os-5">Windows (7)</a>`,
		"Ubuntu <span class=\"muted\">19 families, 1 quiet</span>", "AKSAzureContainerLinux-202605.27.0"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
}

// TestFamiliesAPI: /api/v1/families is FamilyStatuses, in the page's order.
func TestFamiliesAPI(t *testing.T) {
	statuses := fleetStatuses(t)
	h := web.New(web.Options{Store: fleet(t)})
	rec := get(t, h, "/api/v1/families")
	var got []tracker.FamilyStatus
	wantJSON(t, rec, http.StatusOK, &got)
	if want := cliJSON(t, statuses); rec.Body.String() != want {
		t.Errorf("/api/v1/families is not FamilyStatuses:\n%.3000s", rec.Body)
	}
	page := get(t, h, "/").Body.String()
	last := -1
	for _, s := range got {
		at := strings.Index(page, `<code class="name">`+s.Family+`</code>`)
		if at < last {
			t.Errorf("%s is elsewhere in the JSON than on the page", s.Family)
		}
		last = at
	}
	var win *tracker.FamilyStatus
	for i, s := range got {
		if s.Family == "AKSWindows/2019-containerd" {
			win = &got[i]
		}
	}
	if win == nil || !win.Quiet || win.BehindDays != 58 || win.Newest != "17763.1406.260330" || win.IntervalDays == nil || *win.IntervalDays != 5 ||
		win.NodeImageVersion != "AKSWindows-2019-containerd-17763.1406.260330" || win.OSLine != "Windows" || win.Kernel != nil {
		t.Errorf("AKSWindows/2019-containerd: %+v", win)
	}
	for _, s := range []string{`"days_quiet": 58`, `"quiet": true`, `"os_line": "Azure Container Linux"`, `"usual_interval_days": 9`} {
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("the JSON lacks %s", s)
		}
	}
	if rec := get(t, web.New(web.Options{Store: openStore(t)}), "/api/v1/families"); rec.Code != http.StatusOK || rec.Body.String() != "[]\n" {
		t.Errorf("no families: %d %q, want []", rec.Code, rec.Body)
	}
}

// TestImagesAPIQuiet: the images of a quiet family say so, with its last image and how
// long ago; the others do not.
func TestImagesAPIQuiet(t *testing.T) {
	h := web.New(web.Options{Store: fleet(t)})
	var views []tracker.ImageView
	wantJSON(t, get(t, h, "/api/v1/images?family=AKSWindows/2019-containerd"), http.StatusOK, &views)
	if len(views) == 0 {
		t.Fatal("no images of AKSWindows/2019-containerd")
	}
	for _, v := range views {
		q := v.FamilyQuiet
		if q == nil || q.Newest != "17763.1406.260330" || q.DaysQuiet != 58 || q.NewestDay.Format(time.DateOnly) != "2026-03-30" {
			t.Fatalf("%s: family_quiet %+v", v.Version, q)
		}
	}
	rec := get(t, h, "/api/v1/images?family=AKSFlatcar/gen2")
	wantJSON(t, rec, http.StatusOK, &views)
	if len(views) == 0 || strings.Contains(rec.Body.String(), "family_quiet") {
		t.Errorf("AKSFlatcar/gen2 is not quiet: %d images, family_quiet in %.300s", len(views), rec.Body)
	}
}

// TestFamilyMetrics: per family, whether it is quiet, how far its newest image is behind
// and its usual interval; and promtool accepts the whole exposition.
func TestFamilyMetrics(t *testing.T) {
	statuses := fleetStatuses(t)
	db := fleet(t)
	m := web.NewMetrics()
	h := web.New(web.Options{Store: db, Metrics: m, Now: func() time.Time { return fleetNow }, Version: "v1.2.3"})
	c, _, err := db.LastCycle()
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveCycle(c, nil)
	m.ObserveDelivery("stdout", "delivered")
	got := scrape(t, h)
	const day = 86400
	for _, s := range statuses {
		quiet := 0.0
		if s.Quiet {
			quiet = 1
		}
		want := map[string]float64{
			fmt.Sprintf(`nodewatch_family_quiet{family=%q,os_line=%q}`, s.Family, s.OSLine):  quiet,
			fmt.Sprintf(`nodewatch_family_newest_image_behind_seconds{family=%q}`, s.Family): float64(s.BehindDays * day),
			fmt.Sprintf(`nodewatch_family_usual_interval_seconds{family=%q}`, s.Family):      *s.IntervalDays * day,
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
			}
		}
	}
	for k, v := range map[string]float64{
		`nodewatch_family_quiet{family="AKSWindows/2019-containerd",os_line="Windows"}`:     1,
		`nodewatch_family_newest_image_behind_seconds{family="AKSWindows/2019-containerd"}`: 58 * day,
		`nodewatch_family_usual_interval_seconds{family="AKSWindows/2019-containerd"}`:      5 * day,
		`nodewatch_family_quiet{family="AKSFlatcar/gen2",os_line="Flatcar"}`:                0,
		`nodewatch_family_newest_image_behind_seconds{family="AKSFlatcar/gen2"}`:            0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	var quiet int
	for k, v := range got {
		if strings.HasPrefix(k, "nodewatch_family_quiet{") {
			quiet += int(v)
		}
	}
	if quiet != 2 {
		t.Errorf("%d families quiet in the metrics, want 2", quiet)
	}
	promtool(t, get(t, h, "/metrics").Body.Bytes())
}

// promtool runs `promtool check metrics` (Debian's prometheus package) over an
// exposition: its lint must find nothing but the problems allowed, each a line of its
// output exactly.
func promtool(t *testing.T, exposition []byte, allowed ...string) {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no promtool on PATH; apt-get install prometheus")
		}
		t.Skip("no promtool on PATH (apt-get install prometheus)")
	}
	cmd := exec.Command(p, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !slices.Contains(allowed, strings.TrimSpace(line)) {
			problems = append(problems, line)
		}
	}
	// Exit status 3 is lint problems only; anything else (an exposition promtool cannot
	// parse) fails whatever it printed.
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 3 || len(problems) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, strings.Join(problems, "\n"))
	}
}

// BenchmarkStatusPage serves / over about 40 families with their whole history (about
// 2,400 images), as the daemon does (the goal is under 100 ms; BENCHMARKS.md).
func BenchmarkStatusPage(b *testing.B) {
	h := web.New(web.Options{Store: fleet(b), Now: func() time.Time { return fleetNow }})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
