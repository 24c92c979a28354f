package tracker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// githubRequests is what a cycle cost against GitHub's API limit (raw downloads are not).
func githubRequests(r *rig) int { return r.srv.Stats().ByKind[upstreamtest.KindGitHubAPI] }

// TestIdleCycleCostsTwoRequests: watching every family, a cycle with no upstream change
// makes two GitHub API requests in all (the notes' newest commit, page 1 of the AKS
// releases), both answered 304, and downloads nothing; a changed cycle makes at most 4.
func TestIdleCycleCostsTwoRequests(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "*")
	r.cycle(t)
	for range 2 {
		r.srv.ResetStats()
		assertIdle(t, r)
		if n := githubRequests(r); n != 2 {
			t.Errorf("idle cycle over every family: %d GitHub API requests, want 2", n)
		}
	}
	r.Move(t, "2026-05-31")
	r.srv.ResetStats()
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatal(f)
	}
	// commits, tree, releases page 1 (it holds known releases, so page 2 is not asked).
	if n := githubRequests(r); n != 3 {
		t.Errorf("changed cycle: %d GitHub API requests, want 3", n)
	}
	if want := expectedEvents(t, "2026-04-30", "2026-05-31"); !slices.Equal(events, want) {
		t.Errorf("every family watched by \"*\": events\n got %v\nwant %v", events, want)
	}
}

// sampleFamily adds a family the snapshots do not hold, with real notes of it.
func sampleFamily(t *testing.T, r *rig, family string, files ...string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(fixtures(t), "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		version := strings.TrimSuffix(f[strings.LastIndex(f, "_")+1:], ".txt")
		r.srv.Override(notesDir+"/"+family+"/"+version+".txt", data)
	}
}

// TestFamilyAdded: a family that appears upstream after the first listing is announced
// once, with its history silent; one that was upstream already and is watched because
// `families` grew is not news.
func TestFamilyAdded(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/*")
	if _, first := r.cycle(t); len(first) != 0 {
		t.Fatalf("the first listing announced %v", first)
	}
	r.tr.Families = []string{"*"}
	r.Move(t, "2026-05-31")
	sampleFamily(t, r, "AKSUbuntu/gen2/2204containerd",
		"AKSUbuntu_gen2_2204containerd_202412.10.0.txt", "AKSUbuntu_gen2_2204containerd_202412.29.0.txt")
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatal(f)
	}
	for _, e := range slices.Concat(keysWith(events, "node_image:AKSUbuntu/gen2/2204containerd:"), keysWith(events, "node_image:AKSAzureLinuxV3/")) {
		t.Errorf("%s: a family's history is silent under first_run silent", e)
	}
	added := keysWith(events, "family_added:")
	if want := []string{"family_added:AKSUbuntu/gen2/2204containerd:202412.29.0"}; !slices.Equal(added, want) {
		t.Errorf("family_added events %v, want %v (the Azure Linux and 24.04 families were upstream before)", added, want)
	}
	if im, ok, _ := r.db.Image("AKSUbuntu/gen2/2204containerd", "202412.29.0"); !ok || im.Kernel == "" {
		t.Errorf("the new family's images are stored: %v %+v", ok, im)
	}
	msgs, err := tracker.Messages(r.db, []tracker.Event{{Kind: tracker.EventFamilyAdded, Subject: "AKSUbuntu/gen2/2204containerd", Version: "202412.29.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := msgs[0].Summary(); !strings.Contains(s, "a new Ubuntu family; newest image 202412.29.0") || !strings.Contains(s, "Ubuntu 22.04.5 LTS (Jammy Jellyfish)") {
		t.Errorf("message %q: want the family's OS and newest image", s)
	}
	_, again := r.cycle(t)
	if len(again) != 0 {
		t.Errorf("the next cycle raised %v", again)
	}
}

// TestFamilyQuiet: a family left behind by the rest of AKS is announced quiet once, at
// its newest image; shipping again and it is no longer quiet.
func TestFamilyQuiet(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "*")
	_, first := r.cycle(t)
	if len(first) != 0 {
		t.Fatalf("first cycle raised %v", first)
	}
	// May arrives for every family but AKSFlatcar/gen2arm64, which stops at 202604.24.0.
	r.Move(t, "2026-05-31")
	r.LeaveBehind()
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatal(f)
	}
	quiet := keysWith(events, "family_quiet:")
	if want := []string{"family_quiet:AKSFlatcar/gen2arm64:202604.24.0"}; !slices.Equal(quiet, want) {
		t.Fatalf("family_quiet events %v, want %v", quiet, want)
	}
	images, err := r.db.Images("")
	if err != nil {
		t.Fatal(err)
	}
	var arm tracker.FamilyStatus
	for _, s := range tracker.FamilyStatuses(images) {
		if s.Family == "AKSFlatcar/gen2arm64" {
			arm = s
		}
		if s.Quiet != (s.Family == "AKSFlatcar/gen2arm64") {
			t.Errorf("%s quiet=%v (%d days behind)", s.Family, s.Quiet, s.BehindDays)
		}
	}
	// Built 2026-04-24 against 2026-05-27 for the newest of all: 33 days, over the 21
	// days and 3 usual intervals of a family that shipped every week or two.
	if arm.BehindDays != 33 || arm.IntervalDays == nil || *arm.IntervalDays*3 > 33 {
		t.Errorf("gen2arm64: %d days behind, usual interval %v", arm.BehindDays, arm.IntervalDays)
	}
	msgs, err := tracker.Messages(r.db, []tracker.Event{{Kind: tracker.EventFamilyQuiet, Subject: "AKSFlatcar/gen2arm64", Version: "202604.24.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := msgs[0].Summary(); !strings.Contains(s, "no image for 33 days; last image 202604.24.0 built 2026-04-24; usual interval") {
		t.Errorf("message %q", s)
	}
	// Another change upstream, the family still quiet: no second announcement.
	editInPlace(t, r)
	if _, again := r.cycle(t); len(keysWith(again, "family_quiet:")) > 0 {
		t.Errorf("announced again while still quiet: %v", again)
	}
	// It ships again: its images are news, and it is quiet no more.
	r.Move(t, "2026-05-31")
	_, back := r.cycle(t)
	if !slices.Contains(back, "node_image:AKSFlatcar/gen2arm64:202605.27.0") || len(keysWith(back, "family_")) > 0 {
		t.Errorf("back: %v", back)
	}
	views, err := r.db.Images("AKSFlatcar/gen2arm64")
	if err != nil {
		t.Fatal(err)
	}
	if s := tracker.FamilyStatuses(views); len(s) != 1 || s[0].Quiet {
		t.Errorf("still quiet after shipping: %+v", s)
	}
}

// editInPlace changes a note of another family upstream, as an edit in place would: a
// changed listing with nothing new.
func editInPlace(t *testing.T, r *rig) {
	t.Helper()
	rel := notesDir + "/AKSFlatcar/gen2/202605.27.0.txt"
	r.srv.Override(rel, []byte(mustRead(t, world(t, "2026-05-31"), rel)+"\n"))
}

// keysWith are the event keys of a cycle that start with prefix.
func keysWith(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// TestQuietFamiliesOnFirstListing: families quiet when nodewatch first starts are noted,
// not announced (first_run silent), and not announced later either.
func TestQuietFamiliesOnFirstListing(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "*")
	r.LeaveBehind()
	if _, events := r.cycle(t); len(events) != 0 {
		t.Fatalf("first cycle raised %v", events)
	}
	editInPlace(t, r)
	if _, events := r.cycle(t); len(events) != 0 {
		t.Errorf("second cycle raised %v", events)
	}
}

// TestNamesRoundTrip: every image of every family is found again by the name AKS gives
// it, and by no other family's.
func TestNamesRoundTrip(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "*")
	r.cycle(t)
	images, err := r.db.Images("")
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]string{
		"AKSFlatcar/gen2":               "AKSFlatcar-flatcargen2-",
		"AKSFlatcar/gen2arm64":          "AKSFlatcar-flatcargen2arm64-",
		"AKSAzureLinuxV3/gen2":          "AKSAzureLinux-V3gen2-",
		"AKSUbuntu/gen2/2404containerd": "AKSUbuntu-2404gen2containerd-",
	}
	views := tracker.LinkImages(images, nil)
	for _, v := range views {
		if want := prefixes[v.Family] + v.Version; v.NodeImageVersion != want {
			t.Fatalf("%s %s is named %q, want %q", v.Family, v.Version, v.NodeImageVersion, want)
		}
		found, err := tracker.Show(r.db, v.NodeImageVersion)
		if err != nil {
			t.Fatal(err)
		}
		if len(found.Images) != 1 || found.Images[0].Family != v.Family || found.Images[0].Version != v.Version {
			t.Errorf("show %s found %d images", v.NodeImageVersion, len(found.Images))
		}
		patched, err := tracker.Show(r.db, v.NodeImageVersion+"-2026.06.01")
		if err != nil || len(patched.Images) != 1 || patched.Name.Name.SecurityPatch != "2026.06.01" {
			t.Errorf("show %s-2026.06.01: %v %+v", v.NodeImageVersion, err, patched.Name)
		}
	}
	total := 0
	for _, f := range fixtureFamilies {
		total += len(upstreamImages(t, "2026-05-31", f))
	}
	if len(views) != total {
		t.Errorf("%d images named, the snapshot has %d", len(views), total)
	}
}

// TestFamilyVanishes: a family directory pruned upstream whole is no error and raises
// no image event; its history stays, and the other families carry on.
func TestFamilyVanishes(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "*")
	r.cycle(t)
	before, err := r.db.Images("AKSFlatcar/gen2arm64")
	if err != nil || len(before) == 0 {
		t.Fatalf("%d images, %v", len(before), err)
	}
	r.Move(t, "2026-05-31")
	r.srv.Override(notesDir+"/AKSFlatcar/gen2arm64", nil)
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Errorf("a vanished family is no failure: %v", f)
	}
	// Pruned, it ships nothing more: in time it is quiet by the rule, which is news; its
	// images are not.
	for _, e := range events {
		if strings.Contains(e, "gen2arm64") && e != "family_quiet:AKSFlatcar/gen2arm64:202604.24.0" {
			t.Errorf("the vanished family raised %s", e)
		}
	}
	if !slices.Contains(events, "node_image:AKSFlatcar/gen2:202605.27.0") {
		t.Errorf("the other families carry on: %v", events)
	}
	after, err := r.db.Images("AKSFlatcar/gen2arm64")
	if err != nil || len(after) != len(before) {
		t.Errorf("history of the vanished family: %d images, had %d (%v)", len(after), len(before), err)
	}
}

// TestImageListWithoutSKU: an image list that names no sku is an error naming the file;
// the family's images are stored all the same (without an AKS name), the list is read
// again each cycle without asking GitHub's API, and once it is fixed every image is named.
func TestImageListWithoutSKU(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "*")
	list := notesDir + "/AKSFlatcar/gen2/latest-image-list.json"
	good := mustRead(t, world(t, "2026-05-31"), list)
	r.srv.Override(list, []byte(`{"imageVersion": "202605.27.0", "imageBom": []}`))
	rep, _ := r.cycle(t)
	f := failures(rep)
	if len(f) != 1 || !strings.Contains(f[0], "AKSFlatcar/gen2/latest-image-list.json") || !strings.Contains(f[0], `no "sku"`) {
		t.Fatalf("errors %v, want one naming the image list", f)
	}
	im, ok, _ := r.db.Image("AKSFlatcar/gen2", "202605.27.0")
	if !ok || im.SKU != "" || im.Kernel != "6.12.87-flatcar" {
		t.Errorf("image stored without a sku: %v %+v", ok, im)
	}
	if other, _, _ := r.db.Image("AKSFlatcar/gen2arm64", "202605.27.0"); other.SKU != "flatcargen2arm64" {
		t.Errorf("the other families carry on: sku %q", other.SKU)
	}
	r.srv.ResetStats()
	rep, _ = r.cycle(t)
	if len(failures(rep)) != 1 || githubRequests(r) != 2 {
		t.Errorf("retry: errors %v after %d GitHub API requests, want the same error after 2", failures(rep), githubRequests(r))
	}
	r.srv.Override(list, []byte(good))
	rep, events := r.cycle(t)
	if len(failures(rep)) != 0 || len(events) != 0 {
		t.Errorf("fixed: errors %v, events %v", failures(rep), events)
	}
	images, err := r.db.Images("AKSFlatcar/gen2")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range tracker.LinkImages(images, nil) {
		if v.NodeImageVersion != "AKSFlatcar-flatcargen2-"+v.Version {
			t.Errorf("%s named %q once the sku is known", v.Version, v.NodeImageVersion)
		}
	}
}

// TestAKSReleasesRescan: between full passes a cycle asks for page 1 of the releases
// alone, so an edit of an old release (page 3) waits for the next full pass, which
// picks it up as an update, not an event.
func TestAKSReleasesRescan(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	r.tr.Now = func() time.Time { return now }
	r.cycle(t)
	rel := "github/Azure/AKS/releases.json"
	var releases []map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, world(t, "2026-05-31"), rel)), &releases); err != nil {
		t.Fatal(err)
	}
	oldest := releases[len(releases)-1]
	oldest["body"] = oldest["body"].(string) + "\n\nEdited upstream long after."
	edited, err := json.Marshal(releases)
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Override(rel, edited)
	sha := func() string {
		rs, err := r.db.AKSReleases("Azure/AKS")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range rs {
			if x.Tag == oldest["tag_name"] {
				return x.BodySHA256
			}
		}
		t.Fatalf("release %v not stored", oldest["tag_name"])
		return ""
	}
	before := sha()

	now = now.Add(time.Hour)
	r.srv.ResetStats()
	rep, events := r.cycle(t)
	if n := githubRequests(r); n != 2 || len(events) != 0 || sha() != before {
		t.Errorf("an hour later: %d GitHub API requests, events %v, edit picked up %v; want 2, none, not yet", n, events, sha() != before)
	}
	now = now.Add(tracker.DefaultAKSRescan)
	r.srv.ResetStats()
	rep, events = r.cycle(t)
	var aks tracker.SourceReport
	for _, s := range rep.Sources {
		if s.Source == "aks_releases:Azure/AKS" {
			aks = s
		}
	}
	if aks.Requests != 3 || aks.UpdatedItems != 1 || len(events) != 0 || sha() == before {
		t.Errorf("full pass: %d requests, %d updated, events %v; want 3 pages, the edit, no event", aks.Requests, aks.UpdatedItems, events)
	}
}

// TestUbuntu2604Appears replays what happened upstream on 2026-07-30 with the real
// files of testdata/world-later: the Ubuntu 26.04 minimal family appears beside every
// other family, and is announced once, by the name AKS gives its newest image.
func TestUbuntu2604Appears(t *testing.T) {
	later := filepath.Join("..", "testdata", "world-later")
	r := trackertest.NewRigOf(t, later, tracker.FirstRunSilent, "*")
	srv, db, tr := r.Server, r.DB, r.Tracker
	tr.AKS, tr.Flatcar = nil, nil
	fresh := []string{"AKSUbuntu/gen2/2604minimalcontainerd"}
	for _, f := range fresh {
		srv.Override(notesDir+"/"+f, nil)
	}
	rep, events, err := tr.Cycle(context.Background())
	if err != nil || len(failures(rep)) != 0 || len(events) != 0 {
		t.Fatalf("before: %v %v %v", err, failures(rep), events)
	}
	if err := srv.SetWorld(later); err != nil {
		t.Fatal(err)
	}
	rep, events, err = tr.Cycle(context.Background())
	if err != nil || len(failures(rep)) != 0 {
		t.Fatalf("after: %v %v", err, failures(rep))
	}
	var added []string
	for _, e := range events {
		if e.Kind != tracker.EventFamilyAdded {
			t.Errorf("%s: the new families' history is silent, the others unchanged", e.Key)
			continue
		}
		added = append(added, e.Subject)
	}
	slices.Sort(added)
	if want := slices.Sorted(slices.Values(fresh)); !slices.Equal(added, want) {
		t.Fatalf("family_added for %v, want %v", added, want)
	}
	msgs, err := tracker.Messages(db, events)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		f := m.Family
		if f == nil || f.OSLine != "Ubuntu" || f.OSVersion == nil || !strings.HasPrefix(*f.OSVersion, "26.04") ||
			!strings.HasPrefix(f.NodeImageVersion, "AKSUbuntu-2604minimalgen2") || !strings.HasSuffix(f.NodeImageVersion, "-"+f.Newest) {
			t.Errorf("%s: %+v", m.Event.Key, f)
		}
	}
	if _, again, _ := tr.Cycle(context.Background()); len(again) != 0 {
		t.Errorf("announced again: %v", again)
	}
}
