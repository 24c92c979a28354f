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

// bucketPoolImages keeps each pool's upgrade history: `<cluster>/<pool>` NUL node image
// version -> the first time the pool was seen running it (RFC 3339). A pool and image
// is written once, so a daemon watching an unchanged fleet writes nothing.
var bucketPoolImages = []byte("pool_images")

// migratePoolImages (v3 -> v4) adds the pools' upgrade history.
func migratePoolImages(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketPoolImages)
	return err
}

func (w *batchWriter) putPoolImages(images []tracker.PoolImage) error {
	b := w.tx.Bucket(bucketPoolImages)
	for _, p := range images {
		if strings.Contains(p.Cluster+p.Pool+p.NodeImageVersion, "\x00") {
			return fmt.Errorf("pool %s/%s image %q: NUL in a name", p.Cluster, p.Pool, p.NodeImageVersion)
		}
		key := itemKey(tracker.PoolKey(p.Cluster, p.Pool), p.NodeImageVersion)
		if b.Get(key) != nil {
			continue
		}
		if err := w.put(bucketPoolImages, key, []byte(p.FirstSeen.UTC().Format(time.RFC3339))); err != nil {
			return err
		}
	}
	return nil
}

// PoolImages implements tracker.Store: the images a pool ran, in the order it was first
// seen on them. A pool's name is split at its last "/": cluster names may hold one.
func (db *DB) PoolImages(pool string) ([]tracker.PoolImage, error) {
	out := []tracker.PoolImage{}
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPoolImages).Cursor()
		prefix := []byte(nil)
		if pool != "" {
			prefix = itemKey(pool, "")
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			poolKey, image, _ := strings.Cut(string(k), "\x00")
			i := strings.LastIndex(poolKey, "/")
			if i < 0 {
				return fmt.Errorf("pool image key %q names no cluster/pool", k)
			}
			seen, err := time.Parse(time.RFC3339, string(v))
			if err != nil {
				return fmt.Errorf("pool image %q: first seen %q: %w", k, v, err)
			}
			out = append(out, tracker.PoolImage{Cluster: poolKey[:i], Pool: poolKey[i+1:], NodeImageVersion: image, FirstSeen: seen})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pool images from %s: %w", db.path, err)
	}
	slices.SortStableFunc(out, func(a, b tracker.PoolImage) int {
		if c := strings.Compare(tracker.PoolKey(a.Cluster, a.Pool), tracker.PoolKey(b.Cluster, b.Pool)); c != 0 {
			return c
		}
		return a.FirstSeen.Compare(b.FirstSeen)
	})
	return out, nil
}
