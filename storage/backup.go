package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the database to file (bbolt's Tx.WriteTo, in a
// read transaction: writers go on), atomically: a temporary file beside it, synced,
// checked, then renamed over file. A database known to be damaged is not copied.
func (db *DB) Backup(file string) (int64, error) {
	var n int64
	err := writeAtomically(file, func(f *os.File) (err error) {
		n, err = db.WriteTo(f)
		return err
	}, db.copyChecked)
	if err != nil {
		return 0, fmt.Errorf("backup of %s to %s: %w", db.path, file, err)
	}
	return n, nil
}

// SaveBackup writes the copy of a database that r gives (the daemon's /api/v1/backup) to
// file as Backup does: whole, checked, or not at all.
func SaveBackup(file string, r io.Reader) (int64, error) {
	var n int64
	err := writeAtomically(file, func(f *os.File) (err error) {
		n, err = io.Copy(f, r)
		return err
	}, checked)
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", file, err)
	}
	return n, nil
}

// checked refuses a copy that does not pass bbolt's check.
func checked(tmp string) error {
	problems, err := Check(tmp)
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("the copy does not pass the check: %s", strings.Join(problems, "; "))
	}
	return err
}

// WriteTo writes a consistent copy of the database to w, as Backup does to a file.
func (db *DB) WriteTo(w io.Writer) (n int64, err error) {
	if err := db.Damaged(); err != nil {
		return 0, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Snapshot writes a consistent copy of the database to a temporary file beside it,
// checks it, unlinks it and returns it at its start: the read transaction lasts as long
// as the copy to the disk takes, however slowly the copy is read after.
func (db *DB) Snapshot() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(db.path), ".snapshot-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", db.path, err)
	}
	defer os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	_, err = db.WriteTo(f)
	if err == nil {
		err = db.copyChecked(f.Name())
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot of %s: %w", db.path, err)
	}
	return f, nil
}

// copyChecked checks a copy of the database. Tx.WriteTo copies pages as they are, so a
// copy that fails the check is a damaged database: the file itself is checked then, and
// from that check on it is known damaged.
func (db *DB) copyChecked(copy string) error {
	err := checked(copy)
	if err != nil && !errors.Is(err, ErrLocked) {
		if c := db.Check(); !c.Sound() {
			return db.Damaged()
		}
	}
	return err
}

// writeAtomically makes file whole or not at all: write fills a temporary file beside it,
// which is synced, verified (when verify is not nil), renamed over file, and the
// directory synced so the rename lasts.
func writeAtomically(file string, write func(*os.File) error, verify func(tmp string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left by a failure, removed
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && verify != nil {
		err = verify(tmp.Name())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err == nil {
		err = syncDir(filepath.Dir(file))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Rotating backups are named by when they were taken, so that their names sort by age.
const (
	backupPrefix = "nodewatch-"
	backupSuffix = ".db"
	backupStamp  = "20060102T150405Z"
)

// RotatingBackup is one of the backups in a backup directory.
type RotatingBackup struct {
	File  string
	Taken time.Time
}

// RotatingBackups are the backups in dir, oldest first; none for a missing dir.
func RotatingBackups(dir string) ([]RotatingBackup, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []RotatingBackup
	for _, e := range ents {
		stamp, ok := strings.CutPrefix(e.Name(), backupPrefix)
		stamp, ok2 := strings.CutSuffix(stamp, backupSuffix)
		if !ok || !ok2 || !e.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(backupStamp, stamp)
		if err != nil {
			continue
		}
		out = append(out, RotatingBackup{File: filepath.Join(dir, e.Name()), Taken: t})
	}
	slices.SortFunc(out, func(a, b RotatingBackup) int { return a.Taken.Compare(b.Taken) })
	return out, nil
}

// BackupInto takes a rotating backup into dir (made if missing) and removes the oldest
// beyond keep. The copy is checked before any older one goes: a backup that does not
// pass bbolt's check is not kept, and the older ones stay.
func (db *DB) BackupInto(dir string, keep int, now time.Time) (RotatingBackup, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return RotatingBackup{}, fmt.Errorf("backup of %s: %w", db.path, err)
	}
	b := RotatingBackup{File: filepath.Join(dir, backupPrefix+now.UTC().Format(backupStamp)+backupSuffix), Taken: now.UTC().Truncate(time.Second)}
	if _, err := db.Backup(b.File); err != nil {
		return b, err
	}
	all, err := RotatingBackups(dir)
	if err != nil {
		return b, fmt.Errorf("backups in %s: %w", dir, err)
	}
	for len(all) > max(keep, 1) {
		if err := os.Remove(all[0].File); err != nil {
			return b, fmt.Errorf("rotate backups in %s: %w", dir, err)
		}
		all = all[1:]
	}
	return b, nil
}

// Restore replaces the database at path by backup, with no nodewatch holding it: the
// backup is checked first (a damaged one is refused), copied beside path and migrated to
// this binary's schema there, and swapped in by a rename; the file it replaces is kept
// beside it (kept; "" when there was none).
func Restore(path, backup string, now time.Time) (kept string, err error) {
	if problems, err := Check(backup); err != nil {
		return "", err
	} else if len(problems) > 0 {
		return "", &DamageError{Path: backup, Problems: problems}
	}
	unlock, err := lockFile(path)
	if err != nil {
		return "", err
	}
	defer unlock()
	tmp := path + ".restoring"
	defer os.Remove(tmp)
	if err := copyFile(tmp, backup); err != nil {
		return "", fmt.Errorf("restore %s: %w", backup, err)
	}
	// Migrated (and checked) under its new name before it replaces anything.
	db, err := Open(tmp, Options{})
	if err != nil {
		return "", fmt.Errorf("restore %s: %w", backup, err)
	}
	if err := db.Close(); err != nil {
		return "", err
	}
	return swapIn(path, tmp, "before-restore", now)
}

// Compact rewrites the database at path with bbolt's compaction (pages freed by the
// history's edits given back), with no nodewatch holding it: a damaged file is refused;
// the compacted copy is checked before it replaces the file, which is kept beside it.
func Compact(path string, now time.Time) (kept string, before, after int64, err error) {
	if problems, err := Check(path); errors.Is(err, ErrLocked) {
		return "", 0, 0, fmt.Errorf("%w: stop the daemon first", err)
	} else if err != nil {
		return "", 0, 0, err
	} else if len(problems) > 0 {
		return "", 0, 0, &DamageError{Path: path, Problems: problems}
	}
	// A writable open holds the file's lock (no daemon may start meanwhile) and writes
	// nothing: compaction only reads it.
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return "", 0, 0, fmt.Errorf("database %s is %w: stop the daemon first", path, ErrLocked)
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compacting"
	os.Remove(tmp)
	defer os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return "", 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	err = bolt.Compact(dst, src, 64<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if problems, err := Check(tmp); err != nil || len(problems) > 0 {
		return "", 0, 0, fmt.Errorf("compact %s: the compacted copy does not pass the check: %v%v", path, err, problems)
	}
	for _, f := range []struct {
		name string
		size *int64
	}{{path, &before}, {tmp, &after}} {
		st, err := os.Stat(f.name)
		if err != nil {
			return "", 0, 0, err
		}
		*f.size = st.Size()
	}
	kept, err = swapIn(path, tmp, "before-compact", now)
	return kept, before, after, err
}

// swapIn puts next in place of path by a rename (readers see one file or the other,
// never none), keeping what was at path as <path>.<why>-<time> beside it.
func swapIn(path, next, why string, now time.Time) (kept string, err error) {
	if f, err := os.Open(next); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(path); err == nil {
		kept = fmt.Sprintf("%s.%s-%s", path, why, now.UTC().Format(backupStamp))
		// A second name for the same file: nothing copied. Where the file system has no
		// hard links, a copy.
		if err := os.Link(path, kept); err != nil {
			if err := copyFile(kept, path); err != nil {
				return "", fmt.Errorf("keep %s as %s: %w", path, kept, err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.Rename(next, path); err != nil {
		return kept, fmt.Errorf("put %s in place of %s: %w", next, path, err)
	}
	return kept, syncDir(filepath.Dir(path))
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomically(dst, func(out *os.File) error {
		_, err := io.Copy(out, in)
		return err
	}, nil)
}

// lockFile takes the lock bbolt takes (flock, exclusive) on path, if it exists, without
// opening it as a database: a damaged file is what a restore replaces.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("database %s is %w: stop the daemon first", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
