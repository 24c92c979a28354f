package tracker

import (
	"os"
	"time"
)

// DatabaseCheck is what is known of the soundness of the file the history is kept in:
// the last full consistency check, and what the open or a read found wrong.
type DatabaseCheck struct {
	Path     string
	Problems []string // none: sound
	At       time.Time
	Took     time.Duration
}

// Sound says whether nothing is known wrong with the file.
func (c DatabaseCheck) Sound() bool { return len(c.Problems) == 0 }

// Database is the file behind a Store, as the daemon looks after it: its soundness, and
// consistent copies of it.
type Database interface {
	LastCheck() DatabaseCheck
	// Snapshot is a consistent copy of the file in a temporary file of its own (already
	// unlinked: closing it is all the clean-up), read from its start. It is refused, with
	// an error, while the file is known damaged.
	Snapshot() (*os.File, error)
}
