package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// TestBackupInto: rotating backups keep the newest `keep`, each a sound copy; a failed
// backup (here, of a file found damaged) removes none of the older ones.
func TestBackupInto(t *testing.T) {
	db, _ := openTemp(t, Options{})
	dir := filepath.Join(t.TempDir(), "backups")
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for i := range 4 {
		if _, err := db.Apply(context.Background(), tracker.Batch{Meta: map[string]string{"n": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
		b, err := db.BackupInto(dir, 2, at.Add(time.Duration(i)*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if problems, err := Check(b.File); err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", b.File, err, problems)
		}
	}
	all, err := RotatingBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range all {
		names = append(names, filepath.Base(b.File))
	}
	if got := strings.Join(names, " "); got != "nodewatch-20261203T030000Z.db nodewatch-20261204T030000Z.db" {
		t.Fatalf("kept %s", got)
	}
	newest, err := Open(all[1].File, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := newest.Meta("n"); v != "d" {
		t.Errorf("the newest backup holds n=%q, want d", v)
	}
	newest.Close()

	// Found damaged (as a read would find it): no backup, and the older ones stay.
	db.health.found = []string{"page 9: unreachable unfreed"}
	if _, err := db.BackupInto(dir, 2, at.Add(10*24*time.Hour)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("backup of a damaged file: %v", err)
	}
	if again, _ := RotatingBackups(dir); len(again) != 2 || again[1].File != all[1].File {
		t.Errorf("after a failed backup: %v", again)
	}
	if _, err := db.Apply(context.Background(), tracker.Batch{Meta: map[string]string{"n": "e"}}); !errors.Is(err, ErrDamaged) {
		t.Errorf("a write to a file found damaged: %v", err)
	}
}

// TestSaveBackup: what is not a sound bbolt file never replaces the file named.
func TestSaveBackup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(file, []byte("the copy before"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveBackup(file, strings.NewReader("<html>a proxy's error page</html>")); err == nil {
		t.Fatal("a page of HTML saved as a backup")
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, []byte("the copy before")) {
		t.Errorf("a refused copy changed the file: %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// damagedUnder opens a database of a few dozen pages and overwrites a page in the middle
// of its file under the open handle, as a disk fault would.
func damagedUnder(t *testing.T) (*DB, string) {
	t.Helper()
	db, path := openTemp(t, Options{})
	meta := map[string]string{}
	for i := range 3000 {
		meta[fmt.Sprintf("key-%05d", i)] = strings.Repeat("v", 100)
	}
	if _, err := db.Apply(context.Background(), tracker.Batch{Meta: meta}); err != nil {
		t.Fatal(err)
	}
	if c := db.Check(); !c.Sound() {
		t.Fatalf("a sound file: %v", c.Problems)
	}
	st, _ := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), st.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// TestKeeperFindsDamage: a page of the open file damaged under the daemon is found by the
// next daily check; the file is written no more.
func TestKeeperFindsDamage(t *testing.T) {
	db, path := damagedUnder(t)
	k := &Keeper{DB: db, CheckEvery: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go k.Run(ctx)
	for db.Damaged() == nil && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := db.Damaged(); err == nil || !strings.Contains(err.Error(), path+" is damaged") {
		t.Fatalf("the daily check did not find the damaged page: %v", err)
	}
	if _, err := db.Apply(context.Background(), tracker.Batch{Meta: map[string]string{"after": "x"}}); !errors.Is(err, ErrDamaged) {
		t.Errorf("a write after the damage was found: %v", err)
	}
}

// TestBackupFindsDamage: Tx.WriteTo copies pages as they are, so a copy of a file damaged
// under the daemon fails its check. Then the backup is not kept, the older ones stay, and
// the file is known damaged from then on: no waiting for the daily check.
func TestBackupFindsDamage(t *testing.T) {
	db, path := damagedUnder(t)
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(dir, "nodewatch-20261201T030000Z.db")
	if err := os.WriteFile(older, []byte("yesterday's"), 0o600); err != nil {
		t.Fatal(err)
	}
	var observed []error
	k := &Keeper{DB: db, BackupDir: dir, BackupEvery: time.Hour, BackupKeep: 1, Log: slog.New(slog.DiscardHandler),
		ObserveBackup: func(_ time.Time, err error) { observed = append(observed, err) }}
	k.backup(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC))
	if len(observed) != 1 || !errors.Is(observed[0], ErrDamaged) || !strings.Contains(observed[0].Error(), path+" is damaged") {
		t.Errorf("backups observed: %v", observed)
	}
	if all, _ := RotatingBackups(dir); len(all) != 1 || all[0].File != older {
		t.Errorf("after a failed backup the directory holds %v, want only %s", all, older)
	}
	if db.Damaged() == nil {
		t.Error("the copy failed its check, and the file is not known damaged")
	}
	if _, err := db.Snapshot(); !errors.Is(err, ErrDamaged) {
		t.Errorf("a snapshot of the damaged file: %v", err)
	}
}
