package storage

import (
	"errors"
	"fmt"
	"os"

	berrors "go.etcd.io/bbolt/errors"
)

// Check runs the whole check (the walk of the pages, bbolt's Tx.Check, the schema's
// buckets) over the file at path, opened read-only: it never writes, and migrates
// nothing, so that a backup of an older schema is checked as it is. What is wrong is in
// problems; a damaged page that makes bbolt panic is one of them, not a crash. err is for
// a file that cannot be checked at all: missing, unreadable, or held by a running daemon.
func Check(path string) (problems []string, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: %w", path, err)
	}
	b, lost, err := openBolt(path, Options{ReadOnly: true})
	var damaged *DamageError
	switch {
	case errors.As(err, &damaged):
		return damaged.Problems, nil
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return []string{"bbolt cannot open it: " + err.Error()}, nil
	case err != nil:
		return nil, err
	}
	db := &DB{bolt: b, path: path}
	defer db.Close()
	if lost != "" {
		problems = append(problems, lost)
	}
	return append(problems, db.check(true)...), nil
}
