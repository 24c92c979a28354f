package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// TestMigrateV1AddsOutbox opens a database as the first schema left it: the history
// stays and the outbox appears.
func TestMigrateV1AddsOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := flatcarImage("AKSFlatcar/gen2", "202605.27.0", "6.12.87-flatcar", t0)
	img.Components = components(3)
	err = b.Update(func(tx *bolt.Tx) error {
		if err := migrations[0](tx); err != nil {
			return err
		}
		// As schema v1 kept an image: one JSON value, components and all.
		data, err := json.Marshal(img)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketImages).Put(itemKey(img.Family, img.Version), data); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte(keySchemaVersion), []byte("1"))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, ok, err := db.Image(img.Family, img.Version); err != nil || !ok || got.Kernel != img.Kernel || !reflect.DeepEqual(got.Components, img.Components) {
		t.Errorf("image after migration: %v %v %v", got, ok, err)
	}
	// v3 keeps the components apart, packed; the image's JSON no longer holds them.
	err = db.bolt.View(func(tx *bolt.Tx) error {
		key := itemKey(img.Family, img.Version)
		if bytes.Contains(tx.Bucket(bucketImages).Get(key), []byte(`"components"`)) || tx.Bucket(bucketComponents).Get(key) == nil {
			t.Errorf("after migration the image is %s", tx.Bucket(bucketImages).Get(key))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if all, err := db.Images(""); err != nil || len(all) != 1 || !reflect.DeepEqual(all[0].Components, img.Components) {
		t.Errorf("Images after migration: %+v %v", all, err)
	}
	if ds, err := db.Deliveries(); err != nil || len(ds) != 0 {
		t.Errorf("outbox after migration: %v %v", ds, err)
	}
}

func TestOutbox(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "nodewatch.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ev := func(v string) tracker.Event {
		return tracker.Event{Key: tracker.EventKey(tracker.EventNodeImage, "AKSFlatcar/gen2", v), Kind: tracker.EventNodeImage,
			Subject: "AKSFlatcar/gen2", Version: v, CreatedAt: t0}
	}
	router := tracker.Router{Routes: []tracker.Route{
		{Events: []tracker.EventKind{tracker.EventNodeImage}, Notify: []string{"team"}},
		{Events: []tracker.EventKind{tracker.EventNodeImage}, Notify: []string{"digest"}, Digest: true},
	}}
	first := []tracker.Event{ev("202605.14.0")}
	if _, err := db.Apply(ctx, tracker.Batch{Events: first, Deliveries: router.Deliveries(first, nil, "c1", t0)}); err != nil {
		t.Fatal(err)
	}
	// The same event again (a re-applied batch) with a new one, in the same cycle.
	second := []tracker.Event{ev("202605.14.0"), ev("202605.27.0")}
	if _, err := db.Apply(ctx, tracker.Batch{Events: second, Deliveries: router.Deliveries(second, nil, "c1", t1)}); err != nil {
		t.Fatal(err)
	}
	ds, err := db.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	want := []string{
		"digest|digest:1:c1",
		"team|node_image:AKSFlatcar/gen2:202605.14.0",
		"team|node_image:AKSFlatcar/gen2:202605.27.0",
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("outbox %v, want %v", ids, want)
	}
	if got := ds[0].EventKeys; !slices.Equal(got, []string{second[0].Key, second[1].Key}) {
		t.Errorf("digest events %v: want both, once each", got)
	}

	due, err := db.DueDeliveries(t0)
	if err != nil || len(due) != 2 {
		t.Fatalf("due at t0: %d %v", len(due), err)
	}
	d := due[0]
	d.State, d.Attempts, d.NextAttempt = tracker.DeliveryPending, 1, t2
	if err := db.UpdateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.DueDeliveries(t1); slices.ContainsFunc(due, func(x tracker.Delivery) bool { return x.ID == d.ID }) {
		t.Error("a delivery waiting for t2 is due at t1")
	}
	// A digest already attempted takes no more events: they would never be sent.
	third := []tracker.Event{ev("202606.02.0")}
	if _, err := db.Apply(ctx, tracker.Batch{Events: third, Deliveries: router.Deliveries(third, nil, "c1", t2)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Deliveries(); len(got) != 4 {
		t.Errorf("outbox after a third event: %d entries, want 4", len(got))
	}
	if err := db.UpdateDelivery(ctx, tracker.Delivery{ID: "nobody|x"}); err == nil {
		t.Error("UpdateDelivery of an unknown delivery succeeded")
	}
}
