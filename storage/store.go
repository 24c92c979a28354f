package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// keepCycles is how many cycle reports the history keeps.
const keepCycles = 200

// Apply writes the batch in one transaction. A batch that changes nothing writes
// nothing, so an idle cycle leaves the file alone.
func (db *DB) Apply(ctx context.Context, b tracker.Batch) ([]tracker.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(b.Images)+len(b.FlatcarReleases)+len(b.AKSReleases)+len(b.Events)+
		len(b.Validators)+len(b.Seeded)+len(b.Meta)+len(b.Deliveries)+len(b.PoolImages)+len(b.SecurityCounts) == 0 && b.PackageFixes == nil {
		return nil, nil
	}
	if _, ok := b.Meta[keySchemaVersion]; ok {
		return nil, fmt.Errorf("apply batch to %s: meta key %q is the database's own", db.path, keySchemaVersion)
	}
	var fresh []tracker.Event
	err := db.update(func(tx *bolt.Tx) error {
		w := batchWriter{tx: tx, now: db.now}
		var err error
		if fresh, err = w.write(b); err != nil {
			return err
		}
		if !w.changed {
			return errRollback
		}
		return nil
	})
	switch {
	case errors.Is(err, errRollback):
		return nil, nil
	case errors.Is(err, ErrDamaged):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("apply batch to %s: %w", db.path, err)
	}
	return fresh, nil
}

// batchWriter notes whether anything was put, so that Apply can roll back (write
// nothing) when the batch only repeats what is stored.
type batchWriter struct {
	tx      *bolt.Tx
	now     func() time.Time
	changed bool
	sets    map[string][]string // package sets read or written (see keepSet)
}

func (w *batchWriter) write(b tracker.Batch) ([]tracker.Event, error) {
	for _, i := range b.Images {
		if err := putImage(w, i); err != nil {
			return nil, err
		}
	}
	for _, r := range b.FlatcarReleases {
		if err := putFlatcar(w, r); err != nil {
			return nil, err
		}
	}
	for _, r := range b.AKSReleases {
		if err := putItem(w, bucketAKS, r.Repo, r.Tag, r, func(r *tracker.AKSRelease) (*time.Time, *time.Time) {
			return &r.FirstSeen, &r.UpdatedAt
		}); err != nil {
			return nil, err
		}
	}
	if err := w.putPoolImages(b.PoolImages); err != nil {
		return nil, err
	}
	if b.PackageFixes != nil {
		if err := putFixes(w, *b.PackageFixes); err != nil {
			return nil, err
		}
	}
	if err := putCounts(w, b.SecurityCounts); err != nil {
		return nil, err
	}
	fresh, err := w.putEvents(b.Events)
	if err != nil {
		return nil, err
	}
	if err := w.putDeliveries(b.Deliveries, fresh); err != nil {
		return nil, err
	}
	for url, v := range b.Validators {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode validator %s: %w", url, err)
		}
		if err := w.put(bucketValidators, []byte(url), data); err != nil {
			return nil, err
		}
	}
	seeded := w.tx.Bucket(bucketSeeded)
	for _, scope := range b.Seeded {
		if seeded.Get([]byte(scope)) == nil {
			if err := w.put(bucketSeeded, []byte(scope), []byte(w.now().UTC().Format(time.RFC3339))); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range b.Meta {
		if err := w.put(bucketMeta, []byte(k), []byte(v)); err != nil {
			return nil, err
		}
	}
	return fresh, nil
}

// put writes value under key unless it is stored already.
func (w *batchWriter) put(bucket, key, value []byte) error {
	if bytes.Equal(w.tx.Bucket(bucket).Get(key), value) {
		return nil
	}
	if err := w.tx.Bucket(bucket).Put(key, value); err != nil {
		return fmt.Errorf("put %s %q: %w", bucket, key, err)
	}
	w.changed = true
	return nil
}

// putItem stores item under subject and version. A stored item keeps its FirstSeen, and
// one that differs from item only in its stamps is not rewritten; stamps points at the
// item's FirstSeen and UpdatedAt.
func putItem[T any](w *batchWriter, bucket []byte, subject, version string, item T, stamps func(*T) (*time.Time, *time.Time)) error {
	key := itemKey(subject, version)
	if old := w.tx.Bucket(bucket).Get(key); old != nil {
		var stored T
		if err := json.Unmarshal(old, &stored); err != nil {
			return fmt.Errorf("decode %s %s %s: %w", bucket, subject, version, err)
		}
		firstSeen, updatedAt := stamps(&item)
		storedFirstSeen, storedUpdatedAt := stamps(&stored)
		incomingUpdatedAt := *updatedAt
		*firstSeen, *updatedAt = *storedFirstSeen, *storedUpdatedAt
		same, err := json.Marshal(item)
		if err != nil {
			return fmt.Errorf("encode %s %s %s: %w", bucket, subject, version, err)
		}
		if bytes.Equal(same, old) {
			return nil
		}
		*updatedAt = incomingUpdatedAt
	}
	data, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("encode %s %s %s: %w", bucket, subject, version, err)
	}
	return w.put(bucket, key, data)
}

// putEvents stores the events whose keys are new, numbering them in event_order so that
// Events returns them as they came, and returns them.
func (w *batchWriter) putEvents(events []tracker.Event) ([]tracker.Event, error) {
	stored, order := w.tx.Bucket(bucketEvents), w.tx.Bucket(bucketEventOrder)
	var fresh []tracker.Event
	for _, e := range events {
		key := []byte(e.Key)
		if stored.Get(key) != nil {
			continue
		}
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.Key, err)
		}
		seq, err := order.NextSequence()
		if err != nil {
			return nil, fmt.Errorf("number event %s: %w", e.Key, err)
		}
		if err := w.put(bucketEvents, key, data); err != nil {
			return nil, err
		}
		if err := w.put(bucketEventOrder, sequenceKey(seq), key); err != nil {
			return nil, err
		}
		fresh = append(fresh, e)
	}
	return fresh, nil
}

// Images returns the node images of family ("" for all), by family and then version.
func (db *DB) Images(family string) ([]tracker.NodeImage, error) {
	images, err := listWith(db, bucketImages, family, withComponents)
	if err != nil {
		return nil, err
	}
	return tracker.SortImages(images), nil
}

// ImageVersions implements tracker.Store from the images' keys, decoding none.
func (db *DB) ImageVersions() (map[string][]string, error) {
	out := map[string][]string{}
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, _ []byte) error {
			family, version, ok := bytes.Cut(k, []byte{0})
			if ok {
				out[string(family)] = append(out[string(family)], string(version))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s keys from %s: %w", bucketImages, db.path, err)
	}
	return out, nil
}

// Image returns one node image and whether it is stored.
func (db *DB) Image(family, version string) (tracker.NodeImage, bool, error) {
	var image tracker.NodeImage
	found := false
	key := itemKey(family, version)
	err := db.view(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketImages).Get(key)
		if found = data != nil; !found {
			return nil
		}
		if err := json.Unmarshal(data, &image); err != nil {
			return err
		}
		withComponents(tx, key, &image)
		return nil
	})
	if err != nil {
		return image, false, fmt.Errorf("read %s %q from %s: %w", bucketImages, key, db.path, err)
	}
	return image, found, nil
}

// FlatcarReleases returns the releases of channel ("" for all), by channel and then
// version.
func (db *DB) FlatcarReleases(channel string) ([]tracker.FlatcarRelease, error) {
	releases, err := listWith(db, bucketFlatcar, channel, withAdvisories)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(releases, func(a, b tracker.FlatcarRelease) int {
		return cmp.Or(strings.Compare(a.Channel, b.Channel), tracker.CompareDotted(a.Version, b.Version))
	})
	return releases, nil
}

// AKSReleases returns the releases of repo ("" for all) newest first, as GitHub lists
// them.
func (db *DB) AKSReleases(repo string) ([]tracker.AKSRelease, error) {
	releases, err := list[tracker.AKSRelease](db, bucketAKS, repo)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(releases, func(a, b tracker.AKSRelease) int {
		return cmp.Or(b.PublishedAt.Compare(a.PublishedAt), strings.Compare(b.Tag, a.Tag), strings.Compare(a.Repo, b.Repo))
	})
	return releases, nil
}

// Events returns the events created at or after since, in the order they were stored.
func (db *DB) Events(since time.Time) ([]tracker.Event, error) {
	events := []tracker.Event{}
	err := db.view(func(tx *bolt.Tx) error {
		stored := tx.Bucket(bucketEvents)
		return tx.Bucket(bucketEventOrder).ForEach(func(_, key []byte) error {
			var e tracker.Event
			if err := json.Unmarshal(stored.Get(key), &e); err != nil {
				return fmt.Errorf("decode event %s: %w", key, err)
			}
			if !e.CreatedAt.Before(since) {
				events = append(events, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read events from %s: %w", db.path, err)
	}
	return events, nil
}

// Validator returns what to send for url; the zero Validator if nothing is stored.
func (db *DB) Validator(url string) (tracker.Validator, error) {
	var v tracker.Validator
	_, err := db.get(bucketValidators, []byte(url), &v)
	return v, err
}

// Seeded reports whether scope has been read successfully before.
func (db *DB) Seeded(scope string) (bool, error) {
	v, err := db.raw(bucketSeeded, scope)
	return v != "", err
}

// Meta returns the value stored under key, "" if none.
func (db *DB) Meta(key string) (string, error) {
	return db.raw(bucketMeta, key)
}

// RecordCycle appends the report and drops all but the newest keepCycles.
func (db *DB) RecordCycle(ctx context.Context, c tracker.CycleReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode cycle report: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		cycles := tx.Bucket(bucketCycles)
		seq, err := cycles.NextSequence()
		if err != nil {
			return err
		}
		if err := cycles.Put(sequenceKey(seq), data); err != nil {
			return err
		}
		// Deleting moves a bbolt cursor unreliably, so start over from First each time.
		cur := cycles.Cursor()
		for k, _ := cur.First(); k != nil && binary.BigEndian.Uint64(k)+keepCycles <= seq; k, _ = cur.First() {
			if err := cur.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record cycle in %s: %w", db.path, err)
	}
	return nil
}

// LastCycle returns the newest cycle report, if any.
func (db *DB) LastCycle() (tracker.CycleReport, bool, error) {
	var c tracker.CycleReport
	var found bool
	err := db.view(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketCycles).Cursor().Last()
		if k == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("decode cycle %d: %w", binary.BigEndian.Uint64(k), err)
		}
		return nil
	})
	if err != nil {
		return tracker.CycleReport{}, false, fmt.Errorf("read last cycle from %s: %w", db.path, err)
	}
	return c, found, nil
}

// list decodes the items stored under subject ("" for all). Decoding happens inside
// the transaction because bbolt's bytes are only valid until it ends. The result is
// never nil, so that an empty history encodes as [] and not null.
func list[T any](db *DB, bucket []byte, subject string) ([]T, error) {
	return listWith[T](db, bucket, subject, nil)
}

// listWith is list, with more read for each item in the same transaction.
func listWith[T any](db *DB, bucket []byte, subject string, more func(tx *bolt.Tx, key []byte, item *T)) ([]T, error) {
	items := []T{}
	var prefix []byte
	if subject != "" {
		prefix = itemKey(subject, "")
	}
	err := db.view(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucket).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var item T
			if err := json.Unmarshal(v, &item); err != nil {
				return fmt.Errorf("decode %s %q: %w", bucket, k, err)
			}
			if more != nil {
				more(tx, k, &item)
			}
			items = append(items, item)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", bucket, db.path, err)
	}
	return items, nil
}

// get decodes the value under key into v and reports whether there was one.
func (db *DB) get(bucket, key []byte, v any) (bool, error) {
	var found bool
	err := db.view(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get(key)
		if data == nil {
			return nil
		}
		found = true
		return json.Unmarshal(data, v)
	})
	if err != nil {
		return false, fmt.Errorf("read %s %q from %s: %w", bucket, key, db.path, err)
	}
	return found, nil
}

// raw returns the string under key, "" if none; string() copies it out of bbolt's page.
func (db *DB) raw(bucket []byte, key string) (string, error) {
	var v string
	err := db.view(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucket).Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read %s %q from %s: %w", bucket, key, db.path, err)
	}
	return v, nil
}

// itemKey is subject NUL version: NUL appears in neither, so a subject's items sort
// together and one subject is never the prefix of another's key.
func itemKey(subject, version string) []byte {
	return []byte(subject + "\x00" + version)
}

func sequenceKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}
