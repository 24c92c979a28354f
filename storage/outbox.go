package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// bucketDeliveries is the outbox: delivery ID -> tracker.Delivery. It arrived with
// schema v2.
var bucketDeliveries = []byte("deliveries")

// putDeliveries adds the batch's deliveries, each keeping only the events this batch
// stored for the first time: an event seen before was routed before. A digest that is
// stored already and not yet attempted takes the new events in.
func (w *batchWriter) putDeliveries(ds []tracker.Delivery, fresh []tracker.Event) error {
	isFresh := make(map[string]bool, len(fresh))
	for _, e := range fresh {
		isFresh[e.Key] = true
	}
	bucket := w.tx.Bucket(bucketDeliveries)
	for _, d := range ds {
		keys := slices.DeleteFunc(slices.Clone(d.EventKeys), func(k string) bool { return !isFresh[k] })
		if len(keys) == 0 {
			continue
		}
		if old := bucket.Get([]byte(d.ID)); old != nil {
			var stored tracker.Delivery
			if err := json.Unmarshal(old, &stored); err != nil {
				return fmt.Errorf("decode delivery %s: %w", d.ID, err)
			}
			if stored.State != tracker.DeliveryPending || stored.Attempts > 0 {
				continue
			}
			for _, k := range keys {
				if !slices.Contains(stored.EventKeys, k) {
					stored.EventKeys = append(stored.EventKeys, k)
				}
			}
			d = stored
		} else {
			d.EventKeys = keys
		}
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode delivery %s: %w", d.ID, err)
		}
		if err := w.put(bucketDeliveries, []byte(d.ID), data); err != nil {
			return err
		}
	}
	return nil
}

// Event returns one event and whether it is stored.
func (db *DB) Event(key string) (tracker.Event, bool, error) {
	var e tracker.Event
	found, err := db.get(bucketEvents, []byte(key), &e)
	return e, found, err
}

// Deliveries returns the whole outbox, oldest first.
func (db *DB) Deliveries() ([]tracker.Delivery, error) {
	return db.deliveries(func(tracker.Delivery) bool { return true })
}

// DueDeliveries returns the pending deliveries whose next attempt is due by now, oldest
// first.
func (db *DB) DueDeliveries(now time.Time) ([]tracker.Delivery, error) {
	return db.deliveries(func(d tracker.Delivery) bool {
		return d.State == tracker.DeliveryPending && !d.NextAttempt.After(now)
	})
}

func (db *DB) deliveries(keep func(tracker.Delivery) bool) ([]tracker.Delivery, error) {
	out := []tracker.Delivery{}
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			var d tracker.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery %q: %w", k, err)
			}
			if keep(d) {
				out = append(out, d)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the outbox of %s: %w", db.path, err)
	}
	slices.SortFunc(out, func(a, b tracker.Delivery) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// UpdateDelivery records the outcome of an attempt; the delivery must be in the outbox.
func (db *DB) UpdateDelivery(ctx context.Context, d tracker.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode delivery %s: %w", d.ID, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		if b.Get([]byte(d.ID)) == nil {
			return fmt.Errorf("no delivery %s in the outbox", d.ID)
		}
		return b.Put([]byte(d.ID), data)
	})
	if err != nil {
		return fmt.Errorf("update delivery in %s: %w", db.path, err)
	}
	return nil
}
