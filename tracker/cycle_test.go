package tracker_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const notesDir = trackertest.NotesDir

var (
	fixtureFamilies = trackertest.Families
	channels        = trackertest.Channels
	fixtures        = trackertest.Fixtures
	world           = trackertest.World
)

// rig is the real pipeline with the event keys of a cycle sorted, as the tests compare them.
type rig struct {
	*trackertest.Rig
	srv *upstreamtest.Server
	db  *storage.DB
	tr  *tracker.Tracker
}

func newRig(t testing.TB, date string, firstRun tracker.FirstRun, families ...string) *rig {
	r := trackertest.NewRig(t, date, firstRun, families...)
	return &rig{Rig: r, srv: r.Server, db: r.DB, tr: r.Tracker}
}

func (r *rig) cycle(t testing.TB) (tracker.CycleReport, []string) {
	t.Helper()
	rep, events := r.Rig.Cycle(t)
	keys := make([]string, len(events))
	for i, e := range events {
		keys[i] = e.Key
	}
	slices.Sort(keys)
	return rep, keys
}

func failures(rep tracker.CycleReport) []string {
	var out []string
	for _, s := range rep.Sources {
		out = append(out, s.Errors...)
	}
	return out
}

var noteName = regexp.MustCompile(`^(\d{6}\.\d{2}\.\d+)\.txt$`)

// upstreamImages lists the image notes of a family in a snapshot, read from the directory.
func upstreamImages(t *testing.T, date, family string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(world(t, date), notesDir, family))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if m := noteName.FindStringSubmatch(e.Name()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

var flatcarVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// upstreamFlatcar lists the versions a snapshot's JSON lists for a channel.
func upstreamFlatcar(t *testing.T, date, channel string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(world(t, date), "flatcar/releases-json/releases-"+channel+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		if flatcarVersion.MatchString(k) {
			out = append(out, k)
		}
	}
	return out
}

func upstreamTags(t *testing.T, date string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(world(t, date), "github/Azure/AKS/releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rs []struct {
		Tag   string `json:"tag_name"`
		Draft bool   `json:"draft"`
	}
	if err := json.Unmarshal(data, &rs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if !r.Draft {
			out = append(out, r.Tag)
		}
	}
	return out
}

// expectedEvents is every key the move from one snapshot to the next must raise: what the
// later snapshot lists and the earlier does not.
func expectedEvents(t *testing.T, from, to string) []string {
	var keys []string
	diff := func(kind tracker.EventKind, subject string, a, b []string) {
		for _, v := range b {
			if !slices.Contains(a, v) {
				keys = append(keys, tracker.EventKey(kind, subject, v))
			}
		}
	}
	for _, f := range fixtureFamilies {
		diff(tracker.EventNodeImage, f, upstreamImages(t, from, f), upstreamImages(t, to, f))
	}
	for _, ch := range channels {
		diff(tracker.EventFlatcarRelease, ch, upstreamFlatcar(t, from, ch), upstreamFlatcar(t, to, ch))
	}
	diff(tracker.EventAKSRelease, "Azure/AKS", upstreamTags(t, from), upstreamTags(t, to))
	slices.Sort(keys)
	return keys
}

func assertIdle(t *testing.T, r *rig) {
	t.Helper()
	r.srv.ResetStats()
	rep, events := r.cycle(t)
	if len(events) != 0 {
		t.Errorf("a cycle with no upstream change raised %v", events)
	}
	if f := failures(rep); len(f) != 0 {
		t.Errorf("idle cycle failed: %v", f)
	}
	st := r.srv.Stats()
	if st.BodyBytes != 0 || st.NotModified != st.Requests || st.Requests == 0 {
		t.Errorf("idle cycle: %d requests, %d answered 304, %d body bytes; want all 304 and no bodies", st.Requests, st.NotModified, st.BodyBytes)
	}
	for _, s := range rep.Sources {
		if s.BodyBytes != 0 || s.Requests != s.NotModified {
			t.Errorf("idle cycle: %s reports %d requests, %d not modified, %d bytes", s.Source, s.Requests, s.NotModified, s.BodyBytes)
		}
	}
}

// TestHistoryAcrossSnapshots walks the three real snapshots in order, as a daemon would
// see them: the first run seeds silently, each later snapshot raises exactly what it
// added, the withdrawn image stays in history, and a repeat cycle downloads nothing.
func TestHistoryAcrossSnapshots(t *testing.T) {
	r := newRig(t, "2026-02-11", tracker.FirstRunSilent)
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatalf("first cycle failed: %v", f)
	}
	if len(events) != 0 {
		t.Errorf("first_run silent raised %d events", len(events))
	}
	for _, f := range fixtureFamilies {
		stored, err := r.db.Images(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(stored), len(upstreamImages(t, "2026-02-11", f)); got != want {
			t.Errorf("%s: stored %d images, the snapshot lists %d", f, got, want)
		}
	}
	if _, ok, _ := r.db.Image("AKSFlatcar/gen2", "202602.10.0"); !ok {
		t.Fatal("202602.10.0 of the February snapshot not stored")
	}
	assertIdle(t, r)

	for _, step := range []struct{ from, to string }{{"2026-02-11", "2026-04-30"}, {"2026-04-30", "2026-05-31"}} {
		if err := r.srv.SetWorld(world(t, step.to)); err != nil {
			t.Fatal(err)
		}
		rep, got := r.cycle(t)
		if f := failures(rep); len(f) != 0 {
			t.Fatalf("%s: %v", step.to, f)
		}
		want := expectedEvents(t, step.from, step.to)
		if !slices.Equal(got, want) {
			t.Errorf("%s -> %s events:\n got %d %v\nwant %d %v", step.from, step.to, len(got), got, len(want), want)
		}
		assertIdle(t, r)
	}

	// Withdrawn upstream a day after February: gone from the listing, kept in history.
	if _, ok, _ := r.db.Image("AKSFlatcar/gen2", "202602.10.0"); !ok {
		t.Error("withdrawn image 202602.10.0 was dropped from history")
	}
	stored, err := r.db.Events(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range stored {
		if e.Version == "202602.10.0" {
			t.Errorf("withdrawn image raised %s", e.Key)
		}
	}
	for _, v := range []string{"202605.05.1", "202605.14.0", "202605.27.0"} {
		if !slices.ContainsFunc(stored, func(e tracker.Event) bool { return e.Key == "node_image:AKSFlatcar/gen2:"+v }) {
			t.Errorf("no event for AKSFlatcar/gen2 %s", v)
		}
	}
}

// TestLinkedFacts checks the facts of fixtures/README.md through the linked views.
func TestLinkedFacts(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent)
	if rep, _ := r.cycle(t); len(failures(rep)) != 0 {
		t.Fatal(failures(rep))
	}
	v := view(t, r, "AKSFlatcar/gen2", "202605.27.0")
	if v.OS.Version == nil || *v.OS.Version != "4694.0.0" || v.Kernel == nil || *v.Kernel != "6.12.87-flatcar" {
		t.Errorf("202605.27.0: os %v kernel %v", v.OS.Version, v.Kernel)
	}
	if v.Flatcar == nil || v.Flatcar.Channel == nil || *v.Flatcar.Channel != "alpha" ||
		v.Flatcar.ReleasedAt.Format("2006-01-02T15:04:05Z07:00") != "2026-05-11T18:20:17Z" || *v.Flatcar.Kernel != "6.12.87" {
		t.Errorf("202605.27.0 flatcar link: %+v", v.Flatcar)
	}
	if v.NotesURL != "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt" {
		t.Errorf("notes_url %s", v.NotesURL)
	}
	if v.NodeImageVersion != "AKSFlatcar-flatcargen2-202605.27.0" {
		t.Errorf("node image version %q", v.NodeImageVersion)
	}
	old := view(t, r, "AKSFlatcar/gen2", "202601.27.0")
	if *old.OS.Version != "4547.0.0" || *old.Kernel != "6.12.61-flatcar" || old.Previous != nil {
		t.Errorf("202601.27.0: os %v kernel %v previous %v", *old.OS.Version, *old.Kernel, old.Previous)
	}
	// Azure Linux and Ubuntu are not Flatcar.
	for _, f := range []string{"AKSAzureLinuxV3/gen2", "AKSUbuntu/gen2/2404containerd"} {
		for _, im := range views(t, r) {
			if im.Family == f && im.Flatcar != nil {
				t.Errorf("%s %s linked to Flatcar %+v", f, im.Version, im.Flatcar)
			}
		}
	}
}

func views(t *testing.T, r *rig) []tracker.ImageView {
	t.Helper()
	images, err := r.db.Images("")
	if err != nil {
		t.Fatal(err)
	}
	releases, err := r.db.FlatcarReleases("")
	if err != nil {
		t.Fatal(err)
	}
	return tracker.LinkImages(images, releases)
}

func view(t *testing.T, r *rig, family, version string) tracker.ImageView {
	t.Helper()
	for _, v := range views(t, r) {
		if v.Family == family && v.Version == version {
			return v
		}
	}
	t.Fatalf("no image %s %s", family, version)
	return tracker.ImageView{}
}

// TestFirstRunPolicies: latest announces the newest item of each scope, all everything.
func TestFirstRunPolicies(t *testing.T) {
	t.Run("latest", func(t *testing.T) {
		r := newRig(t, "2026-05-31", tracker.FirstRunLatest)
		_, got := r.cycle(t)
		want := []string{
			"aks_release:Azure/AKS:" + upstreamTags(t, "2026-05-31")[0],
			"flatcar_release:alpha:" + newestDotted(upstreamFlatcar(t, "2026-05-31", "alpha")),
			"flatcar_release:beta:" + newestDotted(upstreamFlatcar(t, "2026-05-31", "beta")),
			"flatcar_release:lts:" + newestDotted(upstreamFlatcar(t, "2026-05-31", "lts")),
			"flatcar_release:stable:" + newestDotted(upstreamFlatcar(t, "2026-05-31", "stable")),
		}
		for _, f := range fixtureFamilies {
			imgs := upstreamImages(t, "2026-05-31", f)
			slices.SortFunc(imgs, tracker.CompareImageVersions)
			want = append(want, "node_image:"+f+":"+imgs[len(imgs)-1])
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("first_run latest:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("all", func(t *testing.T) {
		r := newRig(t, "2026-02-11", tracker.FirstRunAll, "AKSFlatcar/gen2")
		_, got := r.cycle(t)
		n := len(upstreamImages(t, "2026-02-11", "AKSFlatcar/gen2")) + len(upstreamTags(t, "2026-02-11"))
		for _, ch := range channels {
			n += len(upstreamFlatcar(t, "2026-02-11", ch))
		}
		if len(got) != n {
			t.Errorf("first_run all raised %d events, want %d", len(got), n)
		}
	})
}

func newestDotted(vs []string) string {
	slices.SortFunc(vs, tracker.CompareDotted)
	return vs[len(vs)-1]
}

// TestEditInPlace: an upstream note edited in place is read again and its record
// updated, keeping first_seen, and raises nothing.
func TestEditInPlace(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	r.cycle(t)
	before, _, _ := r.db.Image("AKSFlatcar/gen2", "202605.27.0")
	path := notesDir + "/AKSFlatcar/gen2/202605.27.0.txt"
	data, err := os.ReadFile(filepath.Join(world(t, "2026-05-31"), path))
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Override(path, bytes.Replace(data, []byte("Linux version 6.12.87-flatcar"), []byte("Linux version 6.12.88-flatcar"), 1))
	rep, events := r.cycle(t)
	if len(events) != 0 || len(failures(rep)) != 0 {
		t.Fatalf("edit in place: events %v errors %v", events, failures(rep))
	}
	after, _, _ := r.db.Image("AKSFlatcar/gen2", "202605.27.0")
	if after.Kernel != "6.12.88-flatcar" || !after.FirstSeen.Equal(before.FirstSeen) || after.NotesSHA == before.NotesSHA {
		t.Errorf("after edit: kernel %s first_seen %v (was %v)", after.Kernel, after.FirstSeen, before.FirstSeen)
	}
	assertIdle(t, r)
}

// TestBadNoteIsRetried: a note that cannot be read is named, is not recorded as seen,
// does not stop the rest, and is read (and announced) on the next cycle.
func TestBadNoteIsRetried(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	r.cycle(t)
	if err := r.srv.SetWorld(world(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	r.srv.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, "/AKSFlatcar/gen2/202605.14.0.txt") {
			http.Error(w, "boom", http.StatusBadGateway)
			return true
		}
		return false
	})
	rep, events := r.cycle(t)
	f := failures(rep)
	if len(f) != 1 || !strings.Contains(f[0], "AKSFlatcar/gen2/202605.14.0.txt") || !strings.Contains(f[0], "502") {
		t.Errorf("errors %v: want one naming the note and the status", f)
	}
	if slices.Contains(events, "node_image:AKSFlatcar/gen2:202605.14.0") || !slices.Contains(events, "node_image:AKSFlatcar/gen2:202605.27.0") {
		t.Errorf("events with one note failing: %v", events)
	}
	if _, ok, _ := r.db.Image("AKSFlatcar/gen2", "202605.14.0"); ok {
		t.Error("the note that failed was recorded as seen")
	}
	r.srv.SetFault(nil)
	rep, events = r.cycle(t)
	if len(failures(rep)) != 0 || !slices.Equal(events, []string{"node_image:AKSFlatcar/gen2:202605.14.0"}) {
		t.Errorf("retry: events %v errors %v", events, failures(rep))
	}
	assertIdle(t, r)
}

// TestSourceFailureIsolated: one source failing leaves the others' results stored.
func TestSourceFailureIsolated(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.srv.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if strings.Contains(req.URL.Path, "releases-beta") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	rep, _ := r.cycle(t)
	for _, s := range rep.Sources {
		if s.Failed() != (s.Source == "flatcar:beta") {
			t.Errorf("%s failed=%v errors=%v", s.Source, s.Failed(), s.Errors)
		}
	}
	if rs, _ := r.db.FlatcarReleases("alpha"); len(rs) == 0 {
		t.Error("alpha not stored while beta failed")
	}
}

// TestOtherNoteFormats serves the real samples of families the snapshots do not hold
// (Windows, Azure Container Linux, a 2023 Ubuntu note) where upstream keeps them, as a
// new user adding those families would meet them.
func TestOtherNoteFormats(t *testing.T) {
	samples := filepath.Join(fixtures(t), "samples")
	families := map[string]string{
		"AKSWindows/2025-gen2":          "AKSWindows_2025-gen2_26100.7171.251116.txt",
		"AKSAzureContainerLinux/gen2tl": "AKSAzureContainerLinux_gen2tl_202605.05.1.txt",
		"AKSUbuntu/gen2/2204containerd": "AKSUbuntu_gen2_2204containerd_2023.01.10.txt",
	}
	r := newRig(t, "2026-05-31", tracker.FirstRunAll, "AKSWindows/2025-gen2", "AKSAzureContainerLinux/gen2tl", "AKSUbuntu/gen2/2204containerd")
	for family, file := range families {
		data, err := os.ReadFile(filepath.Join(samples, file))
		if err != nil {
			t.Fatal(err)
		}
		version := strings.TrimSuffix(file[strings.LastIndex(file, "_")+1:], ".txt")
		r.srv.Override(notesDir+"/"+family+"/"+version+".txt", data)
		r.srv.Override(notesDir+"/"+family+"/latest.txt", data)
	}
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatal(f)
	}
	for _, want := range []string{"node_image:AKSWindows/2025-gen2:26100.7171.251116", "node_image:AKSAzureContainerLinux/gen2tl:202605.05.1", "node_image:AKSUbuntu/gen2/2204containerd:2023.01.10"} {
		if !slices.Contains(events, want) {
			t.Errorf("no event %s in %v", want, events)
		}
	}
	str := func(s *string) string {
		if s == nil {
			return "<null>"
		}
		return *s
	}
	for _, c := range []struct {
		family, version, osName, osVersion, kernel string
	}{
		// Values read from the sample notes: Windows names no Linux kernel.
		{"AKSWindows/2025-gen2", "26100.7171.251116", "Windows Server 2025 Datacenter", "26100.7171", "<null>"},
		// ID_LIKE=flatcar with ID=azurelinux: not a Flatcar release.
		{"AKSAzureContainerLinux/gen2tl", "202605.05.1", "Microsoft Azure Container Linux", "3.0.20260401", "6.6.130.1-3.azl3"},
		// No os-release block in 2023: the version is unknown, not invented.
		{"AKSUbuntu/gen2/2204containerd", "2023.01.10", "Ubuntu", "<null>", "5.15.0-1030-azure"},
	} {
		v := view(t, r, c.family, c.version)
		if v.OS.Name != c.osName || str(v.OS.Version) != c.osVersion || str(v.Kernel) != c.kernel || v.Flatcar != nil {
			t.Errorf("%s %s: os %q %s kernel %s flatcar %+v; want %q %s kernel %s and no Flatcar link",
				c.family, c.version, v.OS.Name, str(v.OS.Version), str(v.Kernel), v.Flatcar, c.osName, c.osVersion, c.kernel)
		}
	}
}

// TestFlatcarLinkedWhenReleaseAppears: an image can name a Flatcar version the feeds do
// not list yet (4694.0.1 shipped in images before Flatcar's site published it on
// 2026-06-02). It keeps a flatcar object with channel null, and is linked when the
// release appears, without a second node_image event.
func TestFlatcarLinkedWhenReleaseAppears(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	r.cycle(t)
	// The next image, as the real 202605.27.0 note with the newer Flatcar in it.
	w := world(t, "2026-05-31")
	note, err := os.ReadFile(filepath.Join(w, notesDir, "AKSFlatcar/gen2/202605.27.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	note = bytes.ReplaceAll(note, []byte("4694.0.0"), []byte("4694.0.1"))
	r.srv.Override(notesDir+"/AKSFlatcar/gen2/202606.02.0.txt", note)
	_, events := r.cycle(t)
	if !slices.Equal(events, []string{"node_image:AKSFlatcar/gen2:202606.02.0"}) {
		t.Fatalf("events %v", events)
	}
	v := view(t, r, "AKSFlatcar/gen2", "202606.02.0")
	if v.Flatcar == nil || v.Flatcar.Version != "4694.0.1" || v.Flatcar.Channel != nil || v.Flatcar.ReleasedAt != nil {
		t.Fatalf("before the feed lists it: %+v", v.Flatcar)
	}

	// Flatcar publishes 4694.0.1: the real 4694.0.0 entry of the alpha feed, renamed.
	feedPath := "flatcar/releases-feed/releases-alpha.xml"
	feed, err := os.ReadFile(filepath.Join(w, feedPath))
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(feed, []byte("<entry>"))
	end := bytes.Index(feed, []byte("</entry>")) + len("</entry>")
	entry := bytes.ReplaceAll(feed[start:end], []byte("4694.0.0"), []byte("4694.0.1"))
	entry = bytes.Replace(entry, []byte("<published>2026-05-11T18:20:17+00:00</published>"), []byte("<published>2026-06-02T10:00:00+00:00</published>"), 1)
	r.srv.Override(feedPath, slices.Concat(feed[:start], entry, []byte("\n  "), feed[start:]))
	_, events = r.cycle(t)
	if !slices.Equal(events, []string{"flatcar_release:alpha:4694.0.1"}) {
		t.Errorf("events when the release appears: %v", events)
	}
	v = view(t, r, "AKSFlatcar/gen2", "202606.02.0")
	if v.Flatcar == nil || v.Flatcar.Channel == nil || *v.Flatcar.Channel != "alpha" || v.Flatcar.ReleasedAt.Format(time.RFC3339) != "2026-06-02T10:00:00Z" {
		t.Errorf("after the feed lists it: %+v", v.Flatcar)
	}
}

func mustRead(t testing.TB, dir, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
