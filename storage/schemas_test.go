package storage

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestSchemas restores a database of every released schema, each made by that version's
// own code (testdata/schemas, made by make.sh there), and migrates it: a backup from any
// earlier nodewatch must open, migrate to this one's schema, pass bbolt's check and keep
// the images that version listed. A read-only open must refuse an old file untouched.
func TestSchemas(t *testing.T) {
	tests := []struct {
		version int
		commit  string // the commit that made the file (testdata/schemas/README.md)
	}{
		{1, "6c813e1"},
		{2, "5acf88a"},
		{3, "445aae4"},
		{4, "d60357f"},
		{5, "2c6c12d"},
		{6, "e3c4400"},
	}
	if last := tests[len(tests)-1].version; last != len(migrations) {
		t.Errorf("the newest schema file is v%d, this nodewatch writes v%d: make v%d.db.gz with testdata/schemas/make.sh",
			last, len(migrations), len(migrations))
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("v%d", tt.version), func(t *testing.T) {
			path := gunzipSchema(t, tt.version)
			if got := fileSchemaVersion(t, path); got != tt.version {
				t.Fatalf("v%d.db.gz (made by %s) holds schema_version %d", tt.version, tt.commit, got)
			}
			withComponents := fileImagesWithComponents(t, path)
			want := schemaImages(t, tt.version)
			if len(want) == 0 {
				t.Fatalf("v%d.images.json lists no images", tt.version)
			}

			// A query command opens read-only: it must not migrate, nor write anything.
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ro, err := Open(path, Options{ReadOnly: true})
			if tt.version < len(migrations) {
				if err == nil {
					ro.Close()
					t.Fatalf("a read-only open of a v%d file succeeded; this nodewatch writes v%d", tt.version, len(migrations))
				}
				if !strings.Contains(err.Error(), "run `nodewatch check`") || !strings.Contains(err.Error(), fmt.Sprintf("schema v%d is older", tt.version)) {
					t.Errorf("a read-only open of a v%d file: %v; want it to say to run `nodewatch check`", tt.version, err)
				}
			} else {
				if err != nil {
					t.Fatalf("a read-only open of a current file: %v", err)
				}
				ro.Close()
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
				t.Fatalf("the read-only open changed the file (%v)", err)
			}

			db, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("open (migrate) a v%d file: %v", tt.version, err)
			}
			var stored string
			err = db.bolt.View(func(tx *bolt.Tx) error {
				stored = string(tx.Bucket(bucketMeta).Get([]byte(keySchemaVersion)))
				return nil
			})
			if err != nil || stored != strconv.Itoa(len(migrations)) {
				t.Errorf("after migrating v%d: schema_version %q (%v), want %d", tt.version, stored, err, len(migrations))
			}
			images, err := db.Images("")
			if err != nil {
				t.Fatalf("images of a migrated v%d file: %v", tt.version, err)
			}
			versions, err := db.ImageVersions()
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			got := map[imageID]imageFacts{}
			keys := map[imageID]bool{}
			components := 0
			for _, im := range images {
				if len(im.Components) > 0 {
					components++
				}
				facts := imageFacts{
					FirstSeen: im.FirstSeen.Truncate(time.Second).UTC(), BuildTime: im.BuildTime.Truncate(time.Second).UTC(),
					Kernel: im.Kernel, NotesURL: im.NotesURL,
				}
				facts.OS.Name = im.OS.Name
				if im.OS.Version != nil {
					facts.OS.Version = *im.OS.Version
				}
				got[imageID{im.Family, im.Version}] = facts
			}
			for family, vs := range versions {
				for _, v := range vs {
					keys[imageID{family, v}] = true
				}
			}
			if components != withComponents || components == 0 {
				t.Errorf("%d images of the migrated v%d file have components; %d had before", components, tt.version, withComponents)
			}
			if len(got) != len(images) {
				t.Errorf("the migrated file lists %d images, %d of them distinct", len(images), len(got))
			}
			for id, listed := range want {
				stored, ok := got[id]
				switch {
				case !ok:
					t.Errorf("v%d listed %s %s; the migrated file does not", tt.version, id.family, id.version)
				case stored != listed:
					t.Errorf("%s %s: v%d listed %+v, the migrated file holds %+v", id.family, id.version, tt.version, listed, stored)
				}
				if !keys[id] {
					t.Errorf("ImageVersions of the migrated file lacks %s %s", id.family, id.version)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("the migrated file lists %s %s, which v%d did not", id.family, id.version, tt.version)
				}
			}
			if len(keys) != len(want) {
				t.Errorf("ImageVersions of the migrated file: %d images, v%d listed %d", len(keys), tt.version, len(want))
			}

			problems, err := Check(path)
			if err != nil || len(problems) > 0 {
				t.Errorf("Check of the migrated v%d file: %v %q", tt.version, err, problems)
			}
			ro, err = Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("a read-only open of the migrated v%d file: %v", tt.version, err)
			}
			ro.Close()
		})
	}
}

type imageID struct{ family, version string }

// imageFacts are what every version's images --json printed of an image, as it stored
// them: what a migration that rewrites the images' records must keep.
type imageFacts struct {
	FirstSeen time.Time `json:"first_seen"`
	BuildTime time.Time `json:"build_time"`
	Kernel    string    `json:"kernel"`
	NotesURL  string    `json:"notes_url"`
	OS        struct {
		Name    string `json:"name"`
		Version string `json:"version"` // null: ""
	} `json:"os"`
}

// gunzipSchema writes testdata/schemas/vN.db.gz, uncompressed, to a file of its own.
func gunzipSchema(t *testing.T, version int) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "schemas", fmt.Sprintf("v%d.db.gz", version)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", version))
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := zr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileSchemaVersion reads schema_version as the file holds it, with bbolt alone,
// read-only: before Open migrates anything.
func fileSchemaVersion(t *testing.T, path string) int {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var v []byte
	b.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v = slices.Clone(meta.Get([]byte(keySchemaVersion)))
		}
		return nil
	})
	n, err := strconv.Atoi(string(v))
	if err != nil {
		t.Fatalf("%s: schema_version %q", path, v)
	}
	return n
}

// fileImagesWithComponents counts the images of the file, not migrated, that have
// components: in their own JSON up to v2, in bucket components from v3.
func fileImagesWithComponents(t *testing.T, path string) int {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	err = b.View(func(tx *bolt.Tx) error {
		comps := tx.Bucket([]byte("components"))
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var im struct {
				Components map[string][]string `json:"components"`
			}
			if err := json.Unmarshal(v, &im); err != nil {
				return fmt.Errorf("image %q: %w", k, err)
			}
			if len(im.Components) > 0 || (comps != nil && comps.Get(k) != nil) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// schemaImages reads what that version's `images --json` printed for its file: the
// fields every version prints, of each image (later versions added others).
func schemaImages(t *testing.T, version int) map[imageID]imageFacts {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "schemas", fmt.Sprintf("v%d.images.json", version)))
	if err != nil {
		t.Fatal(err)
	}
	var views []struct {
		Family  string `json:"family"`
		Version string `json:"version"`
		imageFacts
	}
	if err := json.Unmarshal(data, &views); err != nil {
		t.Fatalf("v%d.images.json: %v", version, err)
	}
	out := map[imageID]imageFacts{}
	for _, v := range views {
		if v.Family == "" || v.Version == "" || v.FirstSeen.IsZero() {
			t.Fatalf("v%d.images.json: an image without family, version or first_seen: %+v", version, v)
		}
		id := imageID{v.Family, v.Version}
		if _, dup := out[id]; dup {
			t.Fatalf("v%d.images.json lists %s %s twice", version, v.Family, v.Version)
		}
		v.FirstSeen, v.BuildTime = v.FirstSeen.UTC(), v.BuildTime.UTC()
		out[id] = v.imageFacts
	}
	return out
}
