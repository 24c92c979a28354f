package storage

import (
	"context"
	"reflect"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

// TestAdvisoriesPackedAndMigrated: a release's advisories come back as stored, each
// with the release it is in; a database of schema 4 forgets the validators of Flatcar's
// feeds (and only those) on upgrade, so that the next cycle reads every release again.
func TestAdvisoriesPackedAndMigrated(t *testing.T) {
	db, path := openTemp(t, Options{})
	ctx := context.Background()
	release := tracker.FlatcarRelease{Channel: "alpha", Version: "4694.0.0", Security: []tracker.Advisory{
		{ID: "CVE-2026-31733", Package: "Linux", In: "4694.0.0"}, {ID: "GHSA-63p5-mwg2-787v", Package: "vim", In: "4694.0.0"}}}
	feed := "https://www.flatcar.org/releases-feed/releases-alpha.xml"
	api := "https://api.github.com/repos/Azure/AKS/releases?per_page=100"
	v := tracker.Validator{ETag: `"abc"`}
	if _, err := db.Apply(ctx, tracker.Batch{FlatcarReleases: []tracker.FlatcarRelease{release},
		Validators: map[string]tracker.Validator{feed: v, api: v}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.FlatcarReleases("alpha")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Security, release.Security) {
		t.Fatalf("advisories read back: %+v %v", got, err)
	}
	db.Close()
	downgrade(t, path, 4)
	db = mustOpen(t, path, Options{})
	if got, _ := db.Validator(feed); !got.IsZero() {
		t.Errorf("the feed's validator survived the upgrade: %+v", got)
	}
	if got, _ := db.Validator(api); got != v {
		t.Errorf("another validator was dropped: %+v", got)
	}
	// A v4 file kept no advisories (downgrade removed their bucket, as v4 had none): the
	// release stays, and its advisories come with the next read of the feeds.
	if got, _ := db.FlatcarReleases("alpha"); len(got) != 1 || got[0].Version != release.Version || len(got[0].Security) != 0 {
		t.Errorf("the upgrade lost what was stored: %+v", got)
	}
}
