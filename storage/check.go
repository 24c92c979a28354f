package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Check runs bbolt's consistency check (Tx.Check) over the file at path, opened
// read-only: it never writes. What is wrong is in problems; a damaged page that makes
// bbolt panic, as it does on some, is one of them, not a crash. err is for a file that
// cannot be checked at all: missing, or held by a running daemon.
func Check(path string) (problems []string, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: %w", path, err)
	}
	if err := preflight(path); err != nil {
		return []string{err.Error()}, nil
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("database %s is %w: stop the daemon to check it", path, ErrLocked)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no database at %s: %w", path, err)
	case err != nil:
		return []string{"it cannot be opened: " + err.Error()}, nil
	}
	defer b.Close()
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("a page could not be read: %v", r))
		}
	}()
	err = b.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			// bbolt's check recovers its own assertions and reports them as "panic: ...":
			// said here as what they are, a page that is not what it should be.
			problems = append(problems, strings.Replace(e.Error(), "panic: assertion failed: ", "a page is not what its parent says: ", 1))
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	return problems, nil
}

// Backup writes a consistent copy of the database to file (bbolt's Tx.WriteTo, in a
// read transaction: writers go on), atomically: a temporary file beside it, synced, then
// renamed over file. A damaged database is not copied.
func (db *DB) Backup(file string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("backup of %s: %w", db.path, err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left by a failure, removed
	var n int64
	err = db.bolt.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return 0, fmt.Errorf("backup of %s to %s: %w", db.path, file, err)
	}
	return n, nil
}
