package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	bolt "go.etcd.io/bbolt"
)

// TestWalkFindsKeyOutOfItsRange: a sector of 'Z's over the last key of a leaf page of the
// images of real families leaves the page's keys in order ('Z' sorts after "AKS"), but
// the key now lies past the range the branch above gives the page, and a seek for it
// finds nothing; so with 'A's over the first key of a later page. A read-only open says
// the file is damaged. Before the walk checked ranges, `diff` of such a family said "no
// family is stored" (TestSectorDamage in CI, page 552).
func TestWalkFindsKeyOutOfItsRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill byte
		// last: the page's last key is overwritten, else its first; beats: whether a key
		// is a better choice than the one found so far. The last key that is smallest is
		// on no bucket's last leaf, the first key that is largest on no bucket's first.
		last  bool
		beats func(key, best []byte) bool
	}{
		{"last key of a page, Z's", 'Z', true, func(k, best []byte) bool { return bytes.Compare(k, best) < 0 }},
		{"first key of a page, A's", 'A', false, func(k, best []byte) bool { return bytes.Compare(k, best) > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := imagesOfRealFamilies(t)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Each leaf page's keys, read by the walk's own element reader; the key chosen
			// is a slice of data, and is overwritten through it.
			size := uint64(os.Getpagesize()) // bbolt's page size
			w := &pageWalker{data: data, pageSize: size, budget: len(data) / elementSize}
			var page uint64
			var key []byte
			for id := uint64(2); (id+1)*size <= uint64(len(data)); id++ {
				p := data[id*size : (id+1)*size]
				if binary.LittleEndian.Uint64(p) != id || binary.LittleEndian.Uint16(p[8:])&leafFlag == 0 || binary.LittleEndian.Uint32(p[12:]) != 0 {
					continue // not a leaf page, or one with overflow pages
				}
				var keys [][]byte
				w.elements(p, id, "a leaf", true, nil, nil, func(k, _ []byte, _ uint64, _ uint32) { keys = append(keys, k) })
				if len(keys) < 2 {
					continue
				}
				k := keys[0]
				if tc.last {
					k = keys[len(keys)-1]
				}
				if fam, _, ok := strings.Cut(string(k), "\x00"); ok && strings.HasPrefix(fam, "AKS") && (key == nil || tc.beats(k, key)) {
					page, key = id, k
				}
			}
			if key == nil || len(w.problems) > 0 {
				t.Fatalf("no leaf page of images found (%v)", w.problems)
			}
			family, version, _ := strings.Cut(string(key), "\x00")
			copy(key, bytes.Repeat([]byte{tc.fill}, len(key)))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ro := mustOpen(t, path, Options{ReadOnly: true})
			if _, found, err := ro.Image(family, version); err == nil && found {
				t.Fatalf("%s %s still found: the damage did not hide it", family, version)
			}
			err = ro.Damaged()
			if err == nil || !strings.Contains(err.Error(), "outside the range") || !strings.Contains(err.Error(), path) {
				t.Fatalf("page %d, key %s %s overwritten: damage %v", page, family, version, err)
			}
		})
	}
}

// imagesOfRealFamilies is a closed database of the images of three real families (their
// versions from the fixtures' notes), over several leaf pages under a branch.
func imagesOfRealFamilies(t *testing.T) string {
	t.Helper()
	db, path := openTemp(t, Options{})
	var images []tracker.NodeImage
	for _, family := range []string{"AKSUbuntu/gen2/2404containerd", "AKSAzureLinuxV3/gen2", "AKSFlatcar/gen2"} {
		versions, _ := familyContents(t, family)
		for _, v := range versions {
			images = append(images, tracker.NodeImage{Family: family, Version: v, Kernel: "6.8.0-1056-azure",
				NotesURL: "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/" + family + "/" + v + ".txt"})
		}
	}
	if _, err := db.Apply(context.Background(), tracker.Batch{Images: images}); err != nil {
		t.Fatal(err)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketImages).Stats().LeafPageN; n < 2 {
			t.Fatalf("the images fill %d leaf page: no branch to test", n)
		}
		return nil
	})
	db.Close()
	return path
}
