package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// bucketComponents keeps each image's component versions apart from the image, packed
// rather than JSON: they are most of an image's bytes, and decoding them as JSON was
// most of the time `images --json` took over a full history (BENCHMARKS.md).
var bucketComponents = []byte("components")

// packComponents writes one line per component in name order: the name, then each
// version, each after a NUL. Neither NUL nor a newline can occur in them: the notes
// parser reads lines and refuses NUL bytes.
func packComponents(c map[string][]string) ([]byte, error) {
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(c)) {
		if strings.ContainsAny(name, "\x00\n") {
			return nil, fmt.Errorf("component name %q holds a NUL or a newline", name)
		}
		b.WriteString(name)
		for _, v := range c[name] {
			if strings.ContainsAny(v, "\x00\n") {
				return nil, fmt.Errorf("component %s version %q holds a NUL or a newline", name, v)
			}
			b.WriteByte(0)
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// unpackComponents reads what packComponents wrote; nil for none. The strings are
// copied out of bbolt's page in one allocation.
func unpackComponents(data []byte) map[string][]string {
	if len(data) == 0 {
		return nil
	}
	text := string(data)
	out := make(map[string][]string, strings.Count(text, "\n"))
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		name, rest, ok := strings.Cut(line, "\x00")
		if !ok {
			out[name] = []string{}
			continue
		}
		out[name] = strings.Split(rest, "\x00")
	}
	return out
}

// putImage stores an image as JSON without its components, and the components packed.
func putImage(w *batchWriter, im tracker.NodeImage) error {
	packed, err := packComponents(im.Components)
	if err != nil {
		return fmt.Errorf("encode image %s %s: %w", im.Family, im.Version, err)
	}
	im.Components = nil
	if err := putItem(w, bucketImages, im.Family, im.Version, im, func(i *tracker.NodeImage) (*time.Time, *time.Time) {
		return &i.FirstSeen, &i.UpdatedAt
	}); err != nil {
		return err
	}
	if err := w.putPacked(bucketComponents, itemKey(im.Family, im.Version), packed); err != nil {
		return err
	}
	if im.Contents == nil {
		return nil
	}
	return putContents(w, im)
}

// putPacked keeps the packed part of an item (its components, its advisories) beside
// it: none deletes what was stored, and an unchanged one is not written again.
func (w *batchWriter) putPacked(bucket, key, packed []byte) error {
	if len(packed) == 0 {
		if w.tx.Bucket(bucket).Get(key) == nil {
			return nil
		}
		w.changed = true
		return w.tx.Bucket(bucket).Delete(key)
	}
	return w.put(bucket, key, packed)
}

// withComponents adds the packed components stored under key to an image read, and
// the security counts (see bucketSecurityCounts).
func withComponents(tx *bolt.Tx, key []byte, im *tracker.NodeImage) {
	im.Components = unpackComponents(tx.Bucket(bucketComponents).Get(key))
	im.SecurityCounts = unpackCounts(tx.Bucket(bucketSecurityCounts).Get(key))
}

// migrateComponents (schema v2 -> v3) moves every image's components out of its JSON.
func migrateComponents(tx *bolt.Tx) error {
	comps, err := tx.CreateBucketIfNotExists(bucketComponents)
	if err != nil {
		return err
	}
	images := tx.Bucket(bucketImages)
	type move struct{ key, image, packed []byte }
	var moves []move
	err = images.ForEach(func(k, v []byte) error {
		var im tracker.NodeImage
		if err := json.Unmarshal(v, &im); err != nil {
			return fmt.Errorf("decode image %q: %w", k, err)
		}
		if len(im.Components) == 0 {
			return nil
		}
		packed, err := packComponents(im.Components)
		if err != nil {
			return err
		}
		im.Components = nil
		data, err := json.Marshal(im)
		if err != nil {
			return err
		}
		moves = append(moves, move{bytes.Clone(k), data, packed})
		return nil
	})
	if err != nil {
		return err
	}
	// bbolt forbids writing to a bucket while ForEach walks it.
	for _, m := range moves {
		if err := images.Put(m.key, m.image); err != nil {
			return err
		}
		if err := comps.Put(m.key, m.packed); err != nil {
			return err
		}
	}
	return nil
}
