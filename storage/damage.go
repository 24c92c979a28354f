package storage

import (
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// ErrDamaged is what every error about a damaged database file is (errors.Is).
var ErrDamaged = errors.New("damaged")

// DamageError says which file is damaged, what is wrong with it and what to do.
type DamageError struct {
	Path     string
	Problems []string // what bbolt's check (or the open, or a read) found; at least one
}

func (e *DamageError) Error() string {
	what := e.Problems[0]
	if n := len(e.Problems) - 1; n > 0 {
		what += fmt.Sprintf(" (and %d more)", n)
	}
	return fmt.Sprintf("database %s is damaged: %s; restore a backup of it (`nodewatch db restore FILE`), and see `nodewatch db check` for what is wrong",
		e.Path, what)
}

func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// health is what is known of the file's soundness: from the open (a lost meta page), the
// last check, or a read that met a damaged page. Once damaged, the handle writes nothing.
type health struct {
	mu      sync.Mutex
	opened  []string  // found by the open: they stay
	found   []string  // by the last check
	checked time.Time // of the last full check; zero before one
	took    time.Duration
}

func (h *health) problems() []string { return append(slices.Clip(h.opened), h.found...) }

// Damaged is the DamageError known for the file, or nil while nothing is known wrong.
func (db *DB) Damaged() error {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	if p := db.health.problems(); len(p) > 0 {
		return &DamageError{Path: db.path, Problems: p}
	}
	return nil
}

// LastCheck is the last full check (zero At before any).
func (db *DB) LastCheck() tracker.DatabaseCheck {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	return tracker.DatabaseCheck{Path: db.path, Problems: db.health.problems(), At: db.health.checked, Took: db.health.took}
}

// Check runs bbolt's consistency check over the whole open file, in a read transaction
// (writers go on), and remembers what it found: a damaged file is written no more.
func (db *DB) Check() tracker.DatabaseCheck { return db.checkWith(true) }

// checkWith checks the file, with bbolt's own check too when full, and remembers what
// it found. What the open found stays known: a check that passes over a lost meta page
// does not make the file sound.
func (db *DB) checkWith(full bool) tracker.DatabaseCheck {
	start := time.Now()
	problems := db.check(full)
	took := time.Since(start)
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	db.health.found, db.health.checked, db.health.took = problems, start, took
	return tracker.DatabaseCheck{Path: db.path, Problems: db.health.problems(), At: start, Took: took}
}

// check is what the walk of the pages, the schema's buckets and, when full, bbolt's own
// check find, in words; a page that made bbolt panic among them. The walk is what makes
// reading the file safe: a query needs no more. bbolt's check adds the freelist's
// accounting and the keys' order across pages: what a write must not build on.
func (db *DB) check(full bool) (problems []string) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("a page could not be read: %v", r))
		}
	}()
	err := db.checkTx(func(tx *bolt.Tx) {
		// bbolt's own check reads through unchecked pointers: only a file whose pages
		// the walk found in place is handed to it (see walkFile).
		if problems = walkFile(db.path, true); len(problems) > 0 {
			return
		}
		if full {
			for e := range tx.Check() {
				// bbolt's check recovers its own assertions and reports them as
				// "panic: ...": said here as what they are, a page not what it should be.
				problems = append(problems, strings.Replace(e.Error(), "panic: assertion failed: ", "a page is not what its parent says: ", 1))
			}
		}
		if len(problems) == 0 {
			problems = missingBuckets(tx)
		}
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// errRollback ends a writable transaction that was only read.
var errRollback = errors.New("rolled back")

// checkTx runs Tx.Check's walk in a transaction where it is safe. The check reads the
// freelist that writers change: bbolt's doc has it safe beside them only in a writable
// transaction, which holds them back for the check's time. A read-only handle has no
// writers (the file's shared lock keeps them out).
func (db *DB) checkTx(fn func(*bolt.Tx)) error {
	if db.bolt.IsReadOnly() {
		return db.bolt.View(func(tx *bolt.Tx) error { fn(tx); return nil })
	}
	// A writable handle is the daemon's, open for days: what the walk mapped in is given
	// back.
	err := db.bolt.Update(func(tx *bolt.Tx) error { fn(tx); releaseMapping(tx); return errRollback })
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// view is bolt's View that survives a damaged page: see guard.
func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.undecodable(db.guard(func() error { return db.bolt.View(fn) }))
}

// errInconsistent marks what nodewatch never stores: a value referring to one that is not
// there.
var errInconsistent = errors.New("what it refers to is not stored")

// undecodable says what a value that cannot be decoded means. bbolt keeps no checksums
// of values: bytes changed inside one pass its check and show only here, as JSON or
// flate that does not parse.
func (db *DB) undecodable(err error) error {
	var syntax *json.SyntaxError
	var corrupt flate.CorruptInputError
	if errors.As(err, &syntax) || errors.As(err, &corrupt) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errInconsistent) {
		return fmt.Errorf("%w; a value stored in %s cannot be read: the file may be damaged (`nodewatch db check` says more; restore a backup)", err, db.path)
	}
	return err
}

// update is bolt's Update on a file not known to be damaged: see guard.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	if err := db.Damaged(); err != nil {
		return err
	}
	return db.undecodable(db.guard(func() error { return db.bolt.Update(fn) }))
}

// guard runs a transaction so that a damaged page is an error, not a crash. bbolt reads
// pages where their parents point and asserts what it finds: a damaged page panics, or
// faults on an address past the mapping (made a panic here, for this goroutine). The
// transaction is rolled back by bbolt's own deferred rollback; the file is then checked:
// when the check finds it damaged, that is the error, and the handle writes no more.
// Over a file the check finds sound, the panic came of a value that is not what
// nodewatch writes (bbolt keeps no checksums of values), or of a fault of nodewatch's:
// an error that says both, never a crash of the daemon over one stored value.
func (db *DB) guard(tx func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if res := db.Check(); len(res.Problems) > 0 {
			err = db.Damaged()
			return
		}
		err = fmt.Errorf("reading %s failed (%v): a value in it is not what nodewatch wrote, so the file may be damaged where bbolt's check does not look (restore a backup), or this is a fault of nodewatch's (please report it)", db.path, r)
	}()
	return tx()
}

// missingBuckets names the buckets of the current schema that a file of it lacks: a
// tree bbolt finds sound can still have lost one (a bucket's name damaged in place).
// A file whose schema version is lost or garbled (bytes changed in the meta bucket) but
// that holds buckets of a later schema is damaged too, not old.
func missingBuckets(tx *bolt.Tx) []string {
	v, err := schemaVersion(tx)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, b := range schemaBuckets {
		switch exists := tx.Bucket(b.name) != nil; {
		case v == len(migrations) && !exists:
			problems = append(problems, fmt.Sprintf("bucket %q of schema v%d is missing", b.name, v))
		case v < b.since && exists:
			problems = append(problems, fmt.Sprintf("it says it is of schema v%d, yet has bucket %q of schema v%d: its schema version is damaged", v, b.name, b.since))
		}
	}
	return problems
}
