package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// Values below are those of the real AKSFlatcar/gen2 202605.27.0 note, Flatcar alpha
// 4694.0.0 and the Azure/AKS 2026-04-28 release in shared/fixtures/world-2026-05-31.
var (
	t0 = time.Date(2026, 5, 31, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(15 * time.Minute)
	t2 = t0.Add(30 * time.Minute)
)

// The schema this binary writes, and one it does not know.
var (
	current = strconv.Itoa(len(migrations))
	newer   = strconv.Itoa(len(migrations) + 1)
)

func flatcarImage(family, version, kernel string, seen time.Time) tracker.NodeImage {
	osVersion := "4694.0.0"
	return tracker.NodeImage{
		Family:  family,
		Version: version,
		SKU:     "flatcargen2",
		OS: tracker.OS{
			Name:       "Flatcar Container Linux by Kinvolk",
			Version:    &osVersion,
			ID:         "flatcar",
			IDLike:     "coreos",
			VersionID:  "4694.0.0",
			PrettyName: "Flatcar Container Linux by Kinvolk 4694.0.0",
		},
		Kernel:    kernel,
		BuildTime: time.Date(2026, 5, 27, 14, 35, 24, 0, time.UTC),
		BuildID:   "20260527.3_main_165730333",
		Components: map[string][]string{
			"kubelet": {"v1.34.7-1-azlinux3", "v1.35.4-1-azlinux3"},
			"runc":    {"1.4.0"},
		},
		NotesURL:  "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/" + family + "/" + version + ".txt",
		FirstSeen: seen,
		UpdatedAt: seen,
	}
}

func flatcarRelease(channel, version string, seen time.Time) tracker.FlatcarRelease {
	return tracker.FlatcarRelease{
		Channel:       channel,
		Version:       version,
		ReleasedAt:    time.Date(2026, 5, 11, 18, 20, 17, 0, time.UTC),
		Kernel:        "6.12.87",
		Architectures: []string{"amd64", "arm64"},
		NotesURL:      "https://www.flatcar.org/releases#release-" + version,
		FirstSeen:     seen,
		UpdatedAt:     seen,
	}
}

func aksRelease(tag string, seen time.Time) tracker.AKSRelease {
	published, err := time.Parse(time.DateOnly, tag)
	if err != nil {
		panic(err)
	}
	return tracker.AKSRelease{
		Repo:        "Azure/AKS",
		Tag:         tag,
		Name:        "Release Notes - " + tag,
		PublishedAt: published.Add(12 * time.Hour),
		URL:         "https://github.com/Azure/AKS/releases/tag/" + tag,
		NodeImages:  []tracker.AKSImageRef{{OS: "Ubuntu 24.04", Version: "202604.24.0"}},
		FirstSeen:   seen,
		UpdatedAt:   seen,
	}
}

func event(kind tracker.EventKind, subject, version string, at time.Time) tracker.Event {
	return tracker.Event{Key: tracker.EventKey(kind, subject, version), Kind: kind, Subject: subject, Version: version, CreatedAt: at}
}

// openTemp opens a new database in a temporary directory, closed when the test ends.
// downgrade makes the file at path one of schema v as that schema's code would have left
// it: its version, and none of the buckets later schemas made.
func downgrade(t *testing.T, path string, v int) {
	t.Helper()
	withBolt(t, path, func(tx *bolt.Tx) error {
		for _, b := range schemaBuckets {
			if b.since > v {
				if err := tx.DeleteBucket(b.name); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte(keySchemaVersion), []byte(strconv.Itoa(v)))
	})
}

func openTemp(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nodewatch.db")
	return mustOpen(t, path, opts), path
}

func mustOpen(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// lastTxID is the id of the last committed write: it moves with every commit.
func lastTxID(t *testing.T, db *DB) int {
	t.Helper()
	var id int
	if err := db.bolt.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// withBolt runs fn in a write transaction on the closed database file at path.
func withBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func keys(events []tracker.Event) []string {
	var ks []string
	for _, e := range events {
		ks = append(ks, e.Key)
	}
	return ks
}

func TestOpenKeepsDataAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nodewatch.db")
	image := flatcarImage("AKSFlatcar/gen2", "202605.27.0", "6.12.87-flatcar", t0)
	release := flatcarRelease("alpha", "4694.0.0", t0)
	aks := aksRelease("2026-04-28", t0)
	ev := event(tracker.EventNodeImage, image.Family, image.Version, t0)
	validator := tracker.Validator{ETag: `W/"5e1f"`, Pages: 3}
	cycle := tracker.CycleReport{Started: t0, Finished: t1, Sources: []tracker.SourceReport{{Source: "flatcar:alpha", Requests: 1, BodyBytes: 181234}}}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Apply(ctx, tracker.Batch{
		Images:          []tracker.NodeImage{image},
		FlatcarReleases: []tracker.FlatcarRelease{release},
		AKSReleases:     []tracker.AKSRelease{aks},
		Events:          []tracker.Event{ev},
		Validators:      map[string]tracker.Validator{"https://api.github.com/repos/Azure/AKS/releases?per_page=100": validator},
		Seeded:          []string{tracker.ScopeKey(tracker.EventNodeImage, image.Family)},
		Meta:            map[string]string{"sku:AKSFlatcar/gen2": "flatcargen2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordCycle(ctx, cycle); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	withBolt(t, path, func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get([]byte(keySchemaVersion))); v != current {
			t.Errorf("schema_version %q, want %s", v, current)
		}
		return nil
	})

	db = mustOpen(t, path, Options{})
	gotImage, found, err := db.Image(image.Family, image.Version)
	if err != nil || !found || !reflect.DeepEqual(gotImage, image) {
		t.Errorf("Image = %+v, %v, %v; want %+v", gotImage, found, err, image)
	}
	if got, err := db.FlatcarReleases(""); err != nil || !reflect.DeepEqual(got, []tracker.FlatcarRelease{release}) {
		t.Errorf("FlatcarReleases = %+v, %v", got, err)
	}
	if got, err := db.AKSReleases(""); err != nil || !reflect.DeepEqual(got, []tracker.AKSRelease{aks}) {
		t.Errorf("AKSReleases = %+v, %v", got, err)
	}
	if got, err := db.Events(time.Time{}); err != nil || !reflect.DeepEqual(got, []tracker.Event{ev}) {
		t.Errorf("Events = %+v, %v", got, err)
	}
	if got, err := db.Validator("https://api.github.com/repos/Azure/AKS/releases?per_page=100"); err != nil || got != validator {
		t.Errorf("Validator = %+v, %v", got, err)
	}
	if got, err := db.Seeded(tracker.ScopeKey(tracker.EventNodeImage, image.Family)); err != nil || !got {
		t.Errorf("Seeded = %v, %v", got, err)
	}
	if got, err := db.Meta("sku:AKSFlatcar/gen2"); err != nil || got != "flatcargen2" {
		t.Errorf("Meta = %q, %v", got, err)
	}
	if got, found, err := db.LastCycle(); err != nil || !found || !reflect.DeepEqual(got, cycle) {
		t.Errorf("LastCycle = %+v, %v, %v", got, found, err)
	}
}

func TestOpenRefusesNewerSchemaUntouched(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only=%v", readOnly), func(t *testing.T) {
			db, path := openTemp(t, Options{})
			db.Close()
			withBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put([]byte(keySchemaVersion), []byte(newer))
			})
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			db, err = Open(path, Options{ReadOnly: readOnly})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			for _, want := range []string{path, "schema v" + newer + " is newer than this nodewatch (v" + current + "); upgrade nodewatch"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the refused file was changed")
			}
		})
	}
}

func TestOpenMigratesPreSchemaFile(t *testing.T) {
	tests := []struct {
		name     string
		create   func(t *testing.T, path string)
		readOnly bool
		wantErr  string
	}{
		{
			name:   "bbolt file without buckets",
			create: func(t *testing.T, path string) { withBolt(t, path, func(*bolt.Tx) error { return nil }) },
		},
		{
			name: "bbolt file with a meta bucket and no schema_version",
			create: func(t *testing.T, path string) {
				withBolt(t, path, func(tx *bolt.Tx) error {
					meta, err := tx.CreateBucket(bucketMeta)
					if err != nil {
						return err
					}
					return meta.Put([]byte("sku:AKSFlatcar/gen2"), []byte("flatcargen2"))
				})
			},
		},
		{
			name: "empty file",
			create: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:     "read-only open of a bbolt file without buckets",
			create:   func(t *testing.T, path string) { withBolt(t, path, func(*bolt.Tx) error { return nil }) },
			readOnly: true,
			wantErr:  "schema v0 is older than this nodewatch (v" + current + "); run `nodewatch check`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nodewatch.db")
			tt.create(t, path)

			db, err := Open(path, Options{ReadOnly: tt.readOnly})
			if tt.wantErr != "" {
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q, want one naming %s and saying %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			err = db.bolt.View(func(tx *bolt.Tx) error {
				for _, name := range [][]byte{bucketMeta, bucketImages, bucketFlatcar, bucketAKS, bucketEvents, bucketEventOrder, bucketValidators, bucketSeeded, bucketCycles} {
					if tx.Bucket(name) == nil {
						t.Errorf("no bucket %s", name)
					}
				}
				if v := string(tx.Bucket(bucketMeta).Get([]byte(keySchemaVersion))); v != current {
					t.Errorf("schema_version %q, want %s", v, current)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			image := flatcarImage("AKSFlatcar/gen2", "202605.27.0", "6.12.87-flatcar", t0)
			if _, err := db.Apply(context.Background(), tracker.Batch{Images: []tracker.NodeImage{image}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenFailsWhileLocked(t *testing.T) {
	writer := Options{Timeout: 100 * time.Millisecond}
	reader := Options{Timeout: 100 * time.Millisecond, ReadOnly: true}
	tests := []struct {
		name          string
		first, second Options
	}{
		{"writer while a writer holds it", writer, writer},
		{"reader while a writer holds it", writer, reader},
		{"writer while a reader holds it", reader, writer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nodewatch.db")
			mustOpen(t, path, Options{}).Close() // a reader needs a database to hold
			mustOpen(t, path, tt.first)

			db, err := Open(path, tt.second)
			if err == nil {
				db.Close()
				t.Fatal("second Open succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("error %q is not ErrLocked", err)
			}
			want := "database " + path + " is in use by another nodewatch process (waited 100ms)"
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t, Options{})
	image := flatcarImage("AKSFlatcar/gen2", "202605.27.0", "6.12.87-flatcar", t0)
	if _, err := db.Apply(ctx, tracker.Batch{Images: []tracker.NodeImage{image}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	readers := []*DB{mustOpen(t, path, Options{ReadOnly: true}), mustOpen(t, path, Options{ReadOnly: true})}
	for i, r := range readers {
		if _, found, err := r.Image(image.Family, image.Version); err != nil || !found {
			t.Errorf("reader %d: Image = %v, %v", i, found, err)
		}
	}
	writes := map[string]func() error{
		"Apply": func() error {
			_, err := readers[0].Apply(ctx, tracker.Batch{Meta: map[string]string{"sku:AKSFlatcar/gen2": "flatcargen2"}})
			return err
		},
		"RecordCycle": func() error { return readers[0].RecordCycle(ctx, tracker.CycleReport{Started: t0}) },
	}
	for name, write := range writes {
		err := write()
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s on a read-only database: error %v, want one naming %s and read-only", name, err, path)
		}
	}
}

func TestOpenReadOnlyWithoutDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodewatch.db")
	db, err := Open(path, Options{ReadOnly: true})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no database at "+path+" yet (run `nodewatch check` first)") {
		t.Errorf("error %q", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open left a file behind: %v", err)
	}
}

func TestApply(t *testing.T) {
	const (
		family  = "AKSFlatcar/gen2"
		feedURL = "https://www.flatcar.org/releases-feed/releases-alpha.xml"
	)
	seededAt := time.Date(2026, 5, 31, 9, 59, 0, 0, time.UTC)
	calls := 0
	db, path := openTemp(t, Options{Now: func() time.Time {
		calls++
		if calls == 1 {
			return seededAt
		}
		return t2
	}})

	imageEvent := event(tracker.EventNodeImage, family, "202605.27.0", t0)
	first := func(seen time.Time) tracker.Batch {
		return tracker.Batch{
			Images:          []tracker.NodeImage{flatcarImage(family, "202605.27.0", "6.12.87-flatcar", seen)},
			FlatcarReleases: []tracker.FlatcarRelease{flatcarRelease("alpha", "4694.0.0", seen)},
			AKSReleases:     []tracker.AKSRelease{aksRelease("2026-04-28", seen)},
			Events: []tracker.Event{
				imageEvent,
				event(tracker.EventFlatcarRelease, "alpha", "4694.0.0", t0),
				event(tracker.EventAKSRelease, "Azure/AKS", "2026-04-28", t0),
			},
			Validators: map[string]tracker.Validator{feedURL: {ETag: `"6a1f"`}},
			Seeded:     []string{tracker.ScopeKey(tracker.EventNodeImage, family)},
			Meta:       map[string]string{"sku:" + family: "flatcargen2"},
		}
	}
	// The note of 202605.27.0 edited in place: another kernel and blob.
	edited := flatcarImage(family, "202605.27.0", "6.12.91-flatcar", t2)
	edited.NotesSHA = "0b7c9e"

	steps := []struct {
		name      string
		batch     tracker.Batch
		wantNew   []string
		wantWrite bool
	}{
		{"new items", first(t0), keys(first(t0).Events), true},
		{"same items seen again later", first(t1), nil, false},
		{"empty batch", tracker.Batch{}, nil, false},
		{"stored event again", tracker.Batch{Events: []tracker.Event{event(tracker.EventNodeImage, family, "202605.27.0", t2)}}, nil, false},
		{"same validator, meta and seeded scope", tracker.Batch{
			Validators: first(t2).Validators, Meta: first(t2).Meta, Seeded: first(t2).Seeded,
		}, nil, false},
		{"note edited in place", tracker.Batch{Images: []tracker.NodeImage{edited}}, nil, true},
		{"changed validator", tracker.Batch{Validators: map[string]tracker.Validator{feedURL: {ETag: `"7b20"`}}}, nil, true},
		{"new image with its event twice", tracker.Batch{
			Images: []tracker.NodeImage{flatcarImage(family, "202605.14.0", "6.12.87-flatcar", t2)},
			Events: []tracker.Event{
				event(tracker.EventNodeImage, family, "202605.14.0", t2),
				event(tracker.EventNodeImage, family, "202605.14.0", t2),
			},
		}, []string{tracker.EventKey(tracker.EventNodeImage, family, "202605.14.0")}, true},
	}
	for _, step := range steps {
		before := lastTxID(t, db)
		fresh, err := db.Apply(context.Background(), step.batch)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := keys(fresh); !slices.Equal(got, step.wantNew) {
			t.Errorf("%s: new events %q, want %q", step.name, got, step.wantNew)
		}
		if wrote := lastTxID(t, db) != before; wrote != step.wantWrite {
			t.Errorf("%s: wrote %v, want %v", step.name, wrote, step.wantWrite)
		}
	}

	image, _, err := db.Image(family, "202605.27.0")
	if err != nil {
		t.Fatal(err)
	}
	if image.Kernel != "6.12.91-flatcar" || image.NotesSHA != "0b7c9e" || !image.FirstSeen.Equal(t0) || !image.UpdatedAt.Equal(t2) {
		t.Errorf("edited image: kernel %q, sha %q, first seen %v, updated %v; want 6.12.91-flatcar, 0b7c9e, %v, %v",
			image.Kernel, image.NotesSHA, image.FirstSeen, image.UpdatedAt, t0, t2)
	}
	releases, err := db.FlatcarReleases("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if len(releases) != 1 || !releases[0].FirstSeen.Equal(t0) || !releases[0].UpdatedAt.Equal(t0) {
		t.Errorf("unchanged Flatcar release: %+v, want first seen and updated %v", releases, t0)
	}
	if v, err := db.Validator(feedURL); err != nil || v.ETag != `"7b20"` {
		t.Errorf("Validator = %+v, %v; want the changed one", v, err)
	}
	events, err := db.Events(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if events[0] != imageEvent {
		t.Errorf("first event %+v, want the one stored first %+v", events[0], imageEvent)
	}
	db.Close()
	withBolt(t, path, func(tx *bolt.Tx) error {
		scope := tracker.ScopeKey(tracker.EventNodeImage, family)
		if got := string(tx.Bucket(bucketSeeded).Get([]byte(scope))); got != seededAt.Format(time.RFC3339) {
			t.Errorf("seeded %s at %q, want the first time %s", scope, got, seededAt.Format(time.RFC3339))
		}
		return nil
	})
}

func TestApplyRefuses(t *testing.T) {
	db, _ := openTemp(t, Options{})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		batch   tracker.Batch
		wantErr string
	}{
		{"canceled context", canceled, tracker.Batch{Meta: map[string]string{"sku:AKSFlatcar/gen2": "flatcargen2"}}, "context canceled"},
		{"the schema's meta key", context.Background(), tracker.Batch{Meta: map[string]string{keySchemaVersion: "7"}}, `meta key "schema_version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastTxID(t, db)
			if _, err := db.Apply(tt.ctx, tt.batch); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			}
			if lastTxID(t, db) != before {
				t.Error("a refused batch was written")
			}
		})
	}
}

func TestAbsentKeys(t *testing.T) {
	db, _ := openTemp(t, Options{})
	if _, found, err := db.Image("AKSFlatcar/gen2", "202605.27.0"); err != nil || found {
		t.Errorf("Image = %v, %v", found, err)
	}
	if v, err := db.Validator("https://www.flatcar.org/releases-feed/releases-alpha.xml"); err != nil || v != (tracker.Validator{}) {
		t.Errorf("Validator = %+v, %v", v, err)
	}
	if seeded, err := db.Seeded("node_image:AKSFlatcar/gen2"); err != nil || seeded {
		t.Errorf("Seeded = %v, %v", seeded, err)
	}
	if v, err := db.Meta("sku:AKSFlatcar/gen2"); err != nil || v != "" {
		t.Errorf("Meta = %q, %v", v, err)
	}
	if _, found, err := db.LastCycle(); err != nil || found {
		t.Errorf("LastCycle = %v, %v", found, err)
	}
	images, err := db.Images("")
	if err != nil || images == nil || len(images) != 0 {
		t.Errorf("Images = %#v, %v; want an empty, non-nil list", images, err)
	}
}

func shuffled[T any](s []T) []T {
	s = slices.Clone(s)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func TestImagesOrder(t *testing.T) {
	tests := []struct {
		name   string
		stored map[string][]string // family -> versions in the order wanted
		family string
		want   []string // family/version
	}{
		{
			name:   "build order is not version order",
			stored: map[string][]string{"AKSFlatcar/gen2": {"202605.25.1", "202605.27.0", "202606.08.1", "202606.19.0", "202607.02.0"}},
			family: "AKSFlatcar/gen2",
			want:   []string{"AKSFlatcar/gen2/202605.25.1", "AKSFlatcar/gen2/202605.27.0", "AKSFlatcar/gen2/202606.08.1", "AKSFlatcar/gen2/202606.19.0", "AKSFlatcar/gen2/202607.02.0"},
		},
		{
			name:   "patches of one day",
			stored: map[string][]string{"AKSFlatcar/gen2": {"202602.13.0", "202602.13.2", "202602.13.5", "202602.19.0"}},
			family: "AKSFlatcar/gen2",
			want:   []string{"AKSFlatcar/gen2/202602.13.0", "AKSFlatcar/gen2/202602.13.2", "AKSFlatcar/gen2/202602.13.5", "AKSFlatcar/gen2/202602.19.0"},
		},
		{
			name:   "older names before the renaming",
			stored: map[string][]string{"AKSUbuntu/gen2/2204containerd": {"2022.12.15", "2023.01.10", "202305.02.0"}},
			family: "AKSUbuntu/gen2/2204containerd",
			want:   []string{"AKSUbuntu/gen2/2204containerd/2022.12.15", "AKSUbuntu/gen2/2204containerd/2023.01.10", "AKSUbuntu/gen2/2204containerd/202305.02.0"},
		},
		{
			name:   "windows build numbers",
			stored: map[string][]string{"AKSWindows/2025-gen2": {"26100.6899.251014", "26100.7171.251116", "26100.10021.260114"}},
			family: "AKSWindows/2025-gen2",
			want:   []string{"AKSWindows/2025-gen2/26100.6899.251014", "AKSWindows/2025-gen2/26100.7171.251116", "AKSWindows/2025-gen2/26100.10021.260114"},
		},
		{
			name: "one family is not another's prefix",
			stored: map[string][]string{
				"AKSFlatcar/gen2":      {"202605.14.0", "202605.27.0"},
				"AKSFlatcar/gen2arm64": {"202605.27.0"},
			},
			family: "AKSFlatcar/gen2",
			want:   []string{"AKSFlatcar/gen2/202605.14.0", "AKSFlatcar/gen2/202605.27.0"},
		},
		{
			name: "every family",
			stored: map[string][]string{
				"AKSUbuntu/gen2/2404containerd": {"202605.14.0"},
				"AKSFlatcar/gen2arm64":          {"202605.14.0", "202605.27.0"},
				"AKSFlatcar/gen2":               {"202605.27.0"},
			},
			want: []string{"AKSFlatcar/gen2/202605.27.0", "AKSFlatcar/gen2arm64/202605.14.0", "AKSFlatcar/gen2arm64/202605.27.0", "AKSUbuntu/gen2/2404containerd/202605.14.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTemp(t, Options{})
			var batch tracker.Batch
			for family, versions := range tt.stored {
				for _, v := range versions {
					batch.Images = append(batch.Images, flatcarImage(family, v, "6.12.87-flatcar", t0))
				}
			}
			batch.Images = shuffled(batch.Images)
			if _, err := db.Apply(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			images, err := db.Images(tt.family)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, i := range images {
				got = append(got, i.Family+"/"+i.Version)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFlatcarReleasesOrder(t *testing.T) {
	// The real releases-lts feed lists 3033.3.9 before 3033.3.18.
	stored := map[string][]string{
		"lts":    {"3033.3.9", "3033.3.18", "4081.3.6", "4081.3.7"},
		"stable": {"4459.2.4", "4593.2.0", "4593.2.1"},
		"alpha":  {"4669.0.0", "4694.0.0"},
	}
	tests := []struct {
		channel string
		want    []string
	}{
		{"lts", []string{"lts/3033.3.9", "lts/3033.3.18", "lts/4081.3.6", "lts/4081.3.7"}},
		{"stable", []string{"stable/4459.2.4", "stable/4593.2.0", "stable/4593.2.1"}},
		{"", []string{"alpha/4669.0.0", "alpha/4694.0.0", "lts/3033.3.9", "lts/3033.3.18", "lts/4081.3.6", "lts/4081.3.7", "stable/4459.2.4", "stable/4593.2.0", "stable/4593.2.1"}},
		{"beta", nil},
	}
	db, _ := openTemp(t, Options{})
	var batch tracker.Batch
	for channel, versions := range stored {
		for _, v := range versions {
			batch.FlatcarReleases = append(batch.FlatcarReleases, flatcarRelease(channel, v, t0))
		}
	}
	batch.FlatcarReleases = shuffled(batch.FlatcarReleases)
	if _, err := db.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		releases, err := db.FlatcarReleases(tt.channel)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range releases {
			got = append(got, r.Channel+"/"+r.Version)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("channel %q: got %q\nwant %q", tt.channel, got, tt.want)
		}
	}
}

func TestAKSReleasesNewestFirst(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var batch tracker.Batch
	for _, tag := range []string{"2026-03-05", "2026-04-28", "2026-02-08", "2026-04-02"} {
		batch.AKSReleases = append(batch.AKSReleases, aksRelease(tag, t0))
	}
	if _, err := db.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		repo string
		want []string
	}{
		{"Azure/AKS", []string{"2026-04-28", "2026-04-02", "2026-03-05", "2026-02-08"}},
		{"", []string{"2026-04-28", "2026-04-02", "2026-03-05", "2026-02-08"}},
		{"Azure/AK", nil},
	}
	for _, tt := range tests {
		releases, err := db.AKSReleases(tt.repo)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range releases {
			got = append(got, r.Tag)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("repo %q: got %q, want %q", tt.repo, got, tt.want)
		}
	}
}

func TestEvents(t *testing.T) {
	db, _ := openTemp(t, Options{})
	// Keys that sort unlike the order they are stored in.
	batches := [][]tracker.Event{
		{
			event(tracker.EventNodeImage, "AKSFlatcar/gen2", "202605.27.0", t0),
			event(tracker.EventFlatcarRelease, "alpha", "4694.0.0", t0),
		},
		{
			event(tracker.EventAKSRelease, "Azure/AKS", "2026-04-28", t1),
			event(tracker.EventNodeImage, "AKSFlatcar/gen2", "202605.27.0", t2),
			event(tracker.EventNodeImage, "AKSFlatcar/gen2", "202605.14.0", t2),
		},
	}
	for _, events := range batches {
		if _, err := db.Apply(context.Background(), tracker.Batch{Events: events}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"all", time.Time{}, []string{
			"node_image:AKSFlatcar/gen2:202605.27.0",
			"flatcar_release:alpha:4694.0.0",
			"aks_release:Azure/AKS:2026-04-28",
			"node_image:AKSFlatcar/gen2:202605.14.0",
		}},
		{"since is inclusive", t1, []string{"aks_release:Azure/AKS:2026-04-28", "node_image:AKSFlatcar/gen2:202605.14.0"}},
		{"the duplicate keeps its first time", t2, []string{"node_image:AKSFlatcar/gen2:202605.14.0"}},
		{"none yet", t2.Add(time.Second), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := db.Events(tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(events); !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// components is a note's component list of realistic size.
func components(n int) map[string][]string {
	c := make(map[string][]string, n)
	for i := range n {
		c[fmt.Sprintf("mcr.microsoft.com/oss/v2/kubernetes/component-%02d", i)] = []string{
			fmt.Sprintf("v1.%d.%d-%d", 30+i%6, i, i%3),
			fmt.Sprintf("v1.%d.%d-%d", 31+i%6, i+1, i%4),
		}
	}
	return c
}

// manyImages builds n images over families, with distinct versions and 40 components.
func manyImages(n int, families []string, seen time.Time) []tracker.NodeImage {
	images := make([]tracker.NodeImage, 0, n)
	for i := range n {
		day := time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/len(families))
		image := flatcarImage(families[i%len(families)], day.Format("200601.02")+".0", "6.12.87-flatcar", seen)
		image.Components = components(40)
		images = append(images, image)
	}
	return images
}

// TestReadsOutliveTransaction guards against returning bbolt's bytes, which are only
// valid inside their transaction: the file grows (and bbolt remaps it) after the reads.
func TestReadsOutliveTransaction(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t, Options{})
	families := []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"}
	stored := manyImages(40, families, t0)
	validator := tracker.Validator{ETag: `"6a1f"`, LastModified: "Sun, 31 May 2026 09:00:00 GMT"}
	if _, err := db.Apply(ctx, tracker.Batch{
		Images:     stored,
		Validators: map[string]tracker.Validator{"https://www.flatcar.org/releases-feed/releases-alpha.xml": validator},
		Meta:       map[string]string{"sku:AKSFlatcar/gen2": "flatcargen2"},
	}); err != nil {
		t.Fatal(err)
	}

	images, err := db.Images("")
	if err != nil {
		t.Fatal(err)
	}
	one, _, err := db.Image(stored[0].Family, stored[0].Version)
	if err != nil {
		t.Fatal(err)
	}
	gotValidator, err := db.Validator("https://www.flatcar.org/releases-feed/releases-alpha.xml")
	if err != nil {
		t.Fatal(err)
	}
	sku, err := db.Meta("sku:AKSFlatcar/gen2")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	// Overwrite what was read and grow the file well past its size.
	changed := stored[0]
	changed.Kernel = "6.12.91-flatcar"
	if _, err := db.Apply(ctx, tracker.Batch{
		Images:     append([]tracker.NodeImage{changed}, manyImages(600, []string{"AKSUbuntu/gen2/2404containerd"}, t1)...),
		Validators: map[string]tracker.Validator{"https://www.flatcar.org/releases-feed/releases-alpha.xml": {ETag: `"7b20"`}},
		Meta:       map[string]string{"sku:AKSFlatcar/gen2": "flatcargen2-changed"},
	}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() < 4*before.Size() {
		t.Fatalf("file grew from %d to %d bytes only; the test needs a remap", before.Size(), after.Size())
	}

	want := slices.Clone(stored)
	slices.SortFunc(want, func(a, b tracker.NodeImage) int {
		return cmp.Or(strings.Compare(a.Family, b.Family), strings.Compare(a.Version, b.Version))
	})
	if !reflect.DeepEqual(images, want) {
		t.Error("Images read before the write changed after it")
	}
	if !reflect.DeepEqual(one, stored[0]) {
		t.Errorf("Image read before the write is now %+v", one)
	}
	if gotValidator != validator || sku != "flatcargen2" {
		t.Errorf("Validator %+v and Meta %q read before the write changed after it", gotValidator, sku)
	}
}

func TestRecordCycleKeepsNewest(t *testing.T) {
	db, _ := openTemp(t, Options{})
	const recorded = keepCycles + 5
	for i := range recorded {
		started := t0.Add(time.Duration(i) * time.Minute)
		report := tracker.CycleReport{Started: started, Finished: started.Add(20 * time.Second), Sources: []tracker.SourceReport{{Source: "flatcar:alpha", Requests: 1, NotModified: 1}}}
		if err := db.RecordCycle(context.Background(), report); err != nil {
			t.Fatal(err)
		}
	}
	last, found, err := db.LastCycle()
	if err != nil || !found {
		t.Fatalf("LastCycle = %v, %v", found, err)
	}
	if want := t0.Add((recorded - 1) * time.Minute); !last.Started.Equal(want) {
		t.Errorf("last cycle started %v, want %v", last.Started, want)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		cycles := tx.Bucket(bucketCycles)
		if n := cycles.Stats().KeyN; n != keepCycles {
			t.Errorf("%d cycles kept, want %d", n, keepCycles)
		}
		_, v := cycles.Cursor().First()
		var oldest tracker.CycleReport
		err := json.Unmarshal(v, &oldest)
		if want := t0.Add((recorded - keepCycles) * time.Minute); err != nil || !oldest.Started.Equal(want) {
			t.Errorf("oldest kept cycle started %v (%v), want %v", oldest.Started, err, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkImagesAll(b *testing.B) {
	db, _ := openTemp(b, Options{})
	families := []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", "AKSAzureLinuxV3/gen2", "AKSUbuntu/gen2/2404containerd", "AKSUbuntu/gen2/2204containerd"}
	if _, err := db.Apply(context.Background(), tracker.Batch{Images: manyImages(2500, families, t0)}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		images, err := db.Images("")
		if err != nil || len(images) != 2500 {
			b.Fatalf("Images = %d, %v", len(images), err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	const family = "AKSFlatcar/gen2"
	batch := func(version string) tracker.Batch {
		image := flatcarImage(family, version, "6.12.87-flatcar", t0)
		image.Components = components(40)
		return tracker.Batch{
			Images:     []tracker.NodeImage{image},
			Events:     []tracker.Event{event(tracker.EventNodeImage, family, version, t0)},
			Validators: map[string]tracker.Validator{"https://api.github.com/repos/Azure/AgentBaker/contents/vhdbuilder/release-notes/" + family + "?ref=master": {ETag: `W/"` + version + `"`}},
		}
	}
	b.Run("new image", func(b *testing.B) {
		db, _ := openTemp(b, Options{})
		i := 0
		for b.Loop() {
			i++
			if _, err := db.Apply(context.Background(), batch(fmt.Sprintf("202605.27.%d", i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unchanged batch", func(b *testing.B) {
		db, _ := openTemp(b, Options{})
		unchanged := batch("202605.27.0")
		if _, err := db.Apply(context.Background(), unchanged); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := db.Apply(context.Background(), unchanged); err != nil {
				b.Fatal(err)
			}
		}
	})
}
