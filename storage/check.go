package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	lost, err := preflight(path)
	if err != nil {
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
	db := &DB{bolt: b, path: path}
	defer db.Close()
	if lost != "" {
		problems = append(problems, lost)
	}
	return append(problems, db.check(true)...), nil
}
