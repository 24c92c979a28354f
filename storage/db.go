// Package storage keeps nodewatch's history (tracker.Store) in one bbolt file.
package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/nodewatch/nodewatch/tracker"
)

// ErrLocked is returned by Open when another process holds the database's file lock.
var ErrLocked = errors.New("in use by another nodewatch process")

var (
	_ tracker.Store    = (*DB)(nil)
	_ tracker.Database = (*DB)(nil)
)

var (
	bucketMeta       = []byte("meta")
	bucketImages     = []byte("images")
	bucketFlatcar    = []byte("flatcar")
	bucketAKS        = []byte("aks")
	bucketEvents     = []byte("events")
	bucketEventOrder = []byte("event_order")
	bucketValidators = []byte("validators")
	bucketSeeded     = []byte("seeded")
	bucketCycles     = []byte("cycles")
)

// schemaBuckets are the buckets of every schema, each with the schema that made it (0:
// files from before nodewatch kept a schema have them too).
var schemaBuckets = []struct {
	name  []byte
	since int
}{
	{bucketMeta, 0}, {bucketImages, 0}, {bucketFlatcar, 0}, {bucketAKS, 0}, {bucketEvents, 0},
	{bucketEventOrder, 0}, {bucketValidators, 0}, {bucketSeeded, 0}, {bucketCycles, 0},
	{bucketDeliveries, 2}, {bucketComponents, 3}, {bucketPoolImages, 4}, {bucketAdvisories, 5},
	{bucketPackageSets, 6}, {bucketContents, 6}, {bucketFixes, 6}, {bucketFixBinaries, 6}, {bucketSecurityCounts, 6},
}

// keySchemaVersion lives in the meta bucket beside the callers' Meta keys.
const keySchemaVersion = "schema_version"

// migrations[v] moves a database from schema v to v+1, so the schema this binary writes
// is len(migrations). A migration, once released, never changes: later schemas append.
var migrations = []func(tx *bolt.Tx) error{
	// v0 is a new file, or one from before nodewatch kept a schema.
	func(tx *bolt.Tx) error {
		for _, name := range [][]byte{
			bucketMeta, bucketImages, bucketFlatcar, bucketAKS, bucketEvents,
			bucketEventOrder, bucketValidators, bucketSeeded, bucketCycles,
		} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	},
	// v1 -> v2: the outbox of deliveries.
	func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketDeliveries)
		return err
	},
	// v2 -> v3: image components in a bucket of their own, packed.
	migrateComponents,
	// v3 -> v4: each node pool's upgrade history.
	migratePoolImages,
	// v4 -> v5: the security fixes of each Flatcar release, packed.
	migrateAdvisories,
	// v5 -> v6: what each image carries, as sets and deltas; every note read again.
	migrateContents,
}

// Options tune Open.
type Options struct {
	// Timeout is how long to wait for the file lock; 0 means 1s, where bbolt would wait
	// forever.
	Timeout time.Duration
	// ReadOnly takes a shared lock, so that query commands run beside each other.
	ReadOnly bool
	// Now stamps the seeded scopes; nil means time.Now.
	Now func() time.Time
}

// DB is the bbolt file behind tracker.Store.
type DB struct {
	bolt   *bolt.DB
	path   string
	now    func() time.Time
	health health
}

// Open opens or creates the database at path (the parent directory must exist) and
// migrates it to the current schema. A read-only open never creates or migrates. While
// another process holds the file, Open gives up after opts.Timeout with ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	b, lost, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path, now: opts.Now}
	if db.now == nil {
		db.now = time.Now
	}
	if lost != "" {
		db.health.opened = []string{lost}
	}
	// The whole file is checked at every open (a few milliseconds at full scale: the
	// walk and the check go over the pages of the tree, not the values' overflow pages);
	// a read-only open walks it only, which is what makes reading it safe. A damaged
	// file, a lost meta page included, is never written; a read-only handle reads on
	// (every read guarded), and Damaged says what its answers come from.
	if res := db.checkWith(!opts.ReadOnly); len(res.Problems) > 0 && !opts.ReadOnly {
		b.Close()
		return nil, db.Damaged()
	}
	if err := db.migrate(); err != nil {
		b.Close()
		if damaged := db.Damaged(); damaged != nil {
			return nil, damaged // a schema version lost to the damage is not an old file
		}
		return nil, err
	}
	return db, nil
}

// openBolt opens the file with bbolt once its meta pages say bbolt can: lost names a meta
// page that is damaged while the other is sound.
func openBolt(path string, opts Options) (b *bolt.DB, lost string, err error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	// A file cut short would make bbolt fault past the end of its mapping: refuse it here.
	if lost, err = preflight(path); err != nil {
		return nil, "", &DamageError{Path: path, Problems: []string{err.Error()}}
	}
	// A writable open reads the freelist at once, through unchecked pointers: the pages
	// are walked first (see walkFile).
	if !opts.ReadOnly {
		if err := walkBeforeWriting(path, timeout); err != nil {
			return nil, "", err
		}
	}
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, "", fmt.Errorf("database %s is %w (waited %s)", path, ErrLocked, timeout)
	case opts.ReadOnly && errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("no database at %s yet (run `nodewatch check` first): %w", path, err)
	case err != nil:
		return nil, "", fmt.Errorf("open database %s: %w", path, err)
	}
	// The meta pages again, now that the lock keeps writers out: read before it, one may
	// have been caught half-written by a daemon's commit.
	if lost != "" {
		if lost, err = preflight(path); err != nil {
			b.Close()
			return nil, "", &DamageError{Path: path, Problems: []string{err.Error()}}
		}
	}
	return b, lost, nil
}

// walkBeforeWriting walks the freelist before a writable open, which reads it at once
// through unchecked pointers (the tree is walked under the lock, by the open's check).
// Walked without the lock, a daemon's commit can be read half-written: what the walk
// finds is walked again under a read-only open's lock, where no writer runs (the daemon
// holding the file is ErrLocked).
func walkBeforeWriting(path string, timeout time.Duration) error {
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		return nil // a new file; an unreadable one is bolt.Open's to say
	}
	if problems := walkFile(path, false); len(problems) == 0 {
		return nil
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("database %s is %w (waited %s)", path, ErrLocked, timeout)
	case err != nil:
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer b.Close()
	if problems := walkFile(path, false); len(problems) > 0 {
		return &DamageError{Path: path, Problems: problems}
	}
	return nil
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", db.path, err)
	}
	return nil
}

// migrate brings the file to len(migrations) in one transaction. It writes nothing to a
// file that is current already or newer than this binary.
func (db *DB) migrate() error {
	var from int
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		from, err = schemaVersion(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", db.path, err)
	}
	current := len(migrations)
	switch {
	case from > current:
		return fmt.Errorf("database %s: schema v%d is newer than this nodewatch (v%d); upgrade nodewatch", db.path, from, current)
	case from == current:
		return nil
	case db.bolt.IsReadOnly():
		return fmt.Errorf("database %s: schema v%d is older than this nodewatch (v%d); run `nodewatch check` once to upgrade it", db.path, from, current)
	}
	return db.update(func(tx *bolt.Tx) error {
		for v := from; v < current; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate database %s from schema v%d: %w", db.path, v, err)
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte(keySchemaVersion), []byte(strconv.Itoa(current)))
	})
}

// schemaVersion is 0 for a file without one: new, or from before schemas.
func schemaVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get([]byte(keySchemaVersion))
	if v == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("meta %s %q is not a number", keySchemaVersion, v)
	}
	return n, nil
}
