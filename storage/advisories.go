package storage

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// bucketAdvisories keeps the security fixes each Flatcar release announces apart from
// the release, packed: some 17,000 of them over every channel's history, which decoded
// as JSON took a fifth of `images --json` (BENCHMARKS.md).
var bucketAdvisories = []byte("flatcar_advisories")

// packAdvisories writes one line per advisory: its id, a NUL, its package. The release
// they are in is the key's.
func packAdvisories(as []tracker.Advisory) ([]byte, error) {
	var b bytes.Buffer
	for _, a := range as {
		if strings.ContainsAny(a.ID+a.Package, "\x00\n") {
			return nil, fmt.Errorf("advisory %q of %q holds a NUL or a newline", a.ID, a.Package)
		}
		b.WriteString(a.ID)
		b.WriteByte(0)
		b.WriteString(a.Package)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func unpackAdvisories(data []byte, in string) []tracker.Advisory {
	if len(data) == 0 {
		return nil
	}
	text := string(data)
	out := make([]tracker.Advisory, 0, strings.Count(text, "\n"))
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		id, pkg, _ := strings.Cut(line, "\x00")
		out = append(out, tracker.Advisory{ID: id, Package: pkg, In: in})
	}
	return out
}

// putFlatcar stores a release as JSON without its advisories, and those packed.
func putFlatcar(w *batchWriter, r tracker.FlatcarRelease) error {
	packed, err := packAdvisories(r.Security)
	if err != nil {
		return fmt.Errorf("encode flatcar %s %s: %w", r.Channel, r.Version, err)
	}
	r.Security = nil
	if err := putItem(w, bucketFlatcar, r.Channel, r.Version, r, func(r *tracker.FlatcarRelease) (*time.Time, *time.Time) {
		return &r.FirstSeen, &r.UpdatedAt
	}); err != nil {
		return err
	}
	return w.putPacked(bucketAdvisories, itemKey(r.Channel, r.Version), packed)
}

// withAdvisories adds the advisories stored under key to a release read.
func withAdvisories(tx *bolt.Tx, key []byte, r *tracker.FlatcarRelease) {
	r.Security = unpackAdvisories(tx.Bucket(bucketAdvisories).Get(key), r.Version)
}

// migrateAdvisories (v4 -> v5) makes the advisories' bucket, and forgets the validators
// of Flatcar's feeds, so that the next cycle reads every release again and learns what
// each fixes (an edit, not news: no event).
func migrateAdvisories(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketAdvisories); err != nil {
		return err
	}
	return forgetValidators(tx, []byte("/releases-feed/"), []byte("/releases-json/"))
}

// forgetValidators deletes the validators of every URL holding one of parts, so that
// the next cycle reads those sources whole.
func forgetValidators(tx *bolt.Tx, parts ...[]byte) error {
	validators := tx.Bucket(bucketValidators)
	var stale [][]byte
	err := validators.ForEach(func(k, _ []byte) error {
		if slices.ContainsFunc(parts, func(p []byte) bool { return bytes.Contains(k, p) }) {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := validators.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
