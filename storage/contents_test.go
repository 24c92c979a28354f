package storage

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// familyContents is what every real note of a family lists, by version, sorted as the
// store gives it back.
func familyContents(t *testing.T, family string) (versions []string, byVersion map[string]*tracker.ImageContents) {
	t.Helper()
	// Not trackertest.World: trackertest imports this package.
	dir := filepath.Join("..", "..", "shared", "fixtures", "world-2026-05-31", "github/Azure/AgentBaker/vhdbuilder/release-notes", family)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	byVersion = map[string]*tracker.ImageContents{}
	for _, e := range ents {
		v, ok := vhdnotes.ImageFileVersion(e.Name())
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n, err := vhdnotes.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		c := &tracker.ImageContents{Listing: n.Listing, Packages: n.Packages, Updates: n.Updates}
		if list, err := os.ReadFile(filepath.Join(dir, v+"-image-list.json")); err == nil {
			if c.Images, err = vhdnotes.ParseContainerImages(list); err != nil {
				t.Fatal(err)
			}
		}
		versions = append(versions, v)
		byVersion[v] = c
	}
	return versions, byVersion
}

// canonical is c as the store returns it: packages by name, version and arch.
func canonical(c *tracker.ImageContents) *tracker.ImageContents {
	out := *c
	out.Packages = slices.Clone(c.Packages)
	slices.SortFunc(out.Packages, func(a, b tracker.Package) int {
		return strings.Compare(a.Name+"\t"+a.Version+"\t"+a.Arch, b.Name+"\t"+b.Version+"\t"+b.Arch)
	})
	out.Images = slices.Clone(c.Images)
	slices.Sort(out.Images)
	if len(out.Packages) == 0 {
		out.Packages = nil
	}
	if len(out.Images) == 0 {
		out.Images = nil
	}
	return &out
}

func putAll(t *testing.T, db *DB, family string, versions []string, byVersion map[string]*tracker.ImageContents) {
	t.Helper()
	for _, v := range versions {
		if err := db.PutContents(context.Background(), []tracker.NodeImage{{Family: family, Version: v, Contents: byVersion[v]}}); err != nil {
			t.Fatal(err)
		}
	}
}

func checkAll(t *testing.T, db *DB, family string, byVersion map[string]*tracker.ImageContents) {
	t.Helper()
	for v, want := range byVersion {
		got, err := db.Contents(family, v)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !reflect.DeepEqual(canonical(got), canonical(want)) {
			t.Errorf("%s %s: read back differs from the note (%d packages in, %v out)", family, v, len(want.Packages), got != nil)
		}
	}
}

// TestContentsRoundTrip: every real note of the Ubuntu and Azure Linux families stored
// as sets and deltas reads back as the note lists it, whatever order the images come
// in, and a set is shared by many images (the point of storing them so).
func TestContentsRoundTrip(t *testing.T) {
	for _, family := range []string{"AKSUbuntu/gen2/2404containerd", "AKSAzureLinuxV3/gen2", "AKSFlatcar/gen2"} {
		versions, byVersion := familyContents(t, family)
		for _, order := range []string{"oldest first", "newest first"} {
			t.Run(family+" "+order, func(t *testing.T) {
				db, _ := openTemp(t, Options{})
				vs := slices.Clone(versions)
				if order == "newest first" {
					slices.Reverse(vs)
				}
				putAll(t, db, family, vs, byVersion)
				checkAll(t, db, family, byVersion)
				var sets int
				db.bolt.View(func(tx *bolt.Tx) error {
					sets = tx.Bucket(bucketPackageSets).Stats().KeyN
					return nil
				})
				// Package lists change little from one image to the next; Flatcar's notes list
				// only container images, which change by a third at a time.
				if sets == 0 || byVersion[versions[0]].Listing == tracker.PackagesListed && sets*3 > len(versions) {
					t.Errorf("%d sets for %d images: sets are not shared", sets, len(versions))
				}
				t.Logf("%d images in %d sets", len(versions), sets)
			})
		}
	}
}

// TestContentsRewriteKeepsOthers: an image read again with other contents (a note edited
// in place) changes only itself; the images whose deltas stand on its set read back as
// before, since sets are never rewritten.
func TestContentsRewriteKeepsOthers(t *testing.T) {
	const family = "AKSUbuntu/gen2/2404containerd"
	versions, byVersion := familyContents(t, family)
	db, _ := openTemp(t, Options{})
	putAll(t, db, family, versions, byVersion)
	first, last := versions[0], versions[len(versions)-1]
	edited := byVersion[last]
	if err := db.PutContents(context.Background(), []tracker.NodeImage{{Family: family, Version: first, Contents: edited}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]*tracker.ImageContents{}
	for k, v := range byVersion {
		want[k] = v
	}
	want[first] = edited
	checkAll(t, db, family, want)
	// A batch that stores the image without contents keeps what was stored.
	if _, err := db.Apply(context.Background(), tracker.Batch{Images: []tracker.NodeImage{{Family: family, Version: last}}}); err != nil {
		t.Fatal(err)
	}
	checkAll(t, db, family, want)
}

// TestContentsRefused: a line the packing cannot hold is an error naming it, and nothing
// of the batch is written.
func TestContentsRefused(t *testing.T) {
	db, _ := openTemp(t, Options{})
	bad := &tracker.ImageContents{Listing: tracker.PackagesListed, Packages: []tracker.Package{{Name: "curl", Version: "7.81\t0"}}}
	err := db.PutContents(context.Background(), []tracker.NodeImage{{Family: "F", Version: "202601.01.0", Contents: bad}})
	if err == nil || !strings.Contains(err.Error(), "F 202601.01.0") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := db.Contents("F", "202601.01.0"); got != nil {
		t.Errorf("stored %+v", got)
	}
}

// TestContentsMigration: a v5 database forgets what says its notes were read (each
// image's SHA, the notes' commit and the commits validator), so that the next cycle
// reads every note for what it carries, and keeps everything else.
func TestContentsMigration(t *testing.T) {
	db, path := openTemp(t, Options{})
	ctx := context.Background()
	commits := "https://api.github.com/repos/Azure/AgentBaker/commits?path=vhdbuilder%2Frelease-notes&per_page=1&sha=master"
	feed := "https://www.flatcar.org/releases-feed/releases-alpha.xml"
	v := tracker.Validator{ETag: `"abc"`}
	im := tracker.NodeImage{Family: "AKSUbuntu/gen2/2404containerd", Version: "202605.27.0", Kernel: "6.8.0-1052-azure", NotesSHA: "0123abcd"}
	if _, err := db.Apply(ctx, tracker.Batch{Images: []tracker.NodeImage{im}, Validators: map[string]tracker.Validator{commits: v, feed: v},
		Meta: map[string]string{tracker.MetaNotesCommit: "f00d"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	downgrade(t, path, 5)
	db = mustOpen(t, path, Options{})
	got, ok, err := db.Image(im.Family, im.Version)
	if err != nil || !ok || got.NotesSHA != "" || got.Kernel != im.Kernel {
		t.Errorf("image after the upgrade: %+v %v %v", got, ok, err)
	}
	if c, _ := db.Meta(tracker.MetaNotesCommit); c != "" {
		t.Errorf("the notes' commit survived: %q", c)
	}
	if got, _ := db.Validator(commits); !got.IsZero() {
		t.Errorf("the commits validator survived: %+v", got)
	}
	if got, _ := db.Validator(feed); got != v {
		t.Errorf("another validator was dropped: %+v", got)
	}
}
