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
	"sync"
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

// TestKeeperFindsDamage: a page of the open file damaged under the daemon (a disk fault)
// is found by the next daily check; the file is written no more, and no backup is taken
// of it.
func TestKeeperFindsDamage(t *testing.T) {
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
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), st.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var observed []error
	var mu sync.Mutex
	k := &Keeper{DB: db, CheckEvery: 10 * time.Millisecond, BackupDir: filepath.Join(t.TempDir(), "backups"), BackupEvery: time.Hour, BackupKeep: 1,
		Log: slog.New(slog.DiscardHandler), ObserveBackup: func(_ time.Time, err error) { mu.Lock(); observed = append(observed, err); mu.Unlock() }}
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
	if _, err := db.BackupInto(k.BackupDir, 1, time.Now()); !errors.Is(err, ErrDamaged) {
		t.Errorf("a backup after the damage was found: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The backup at start copied the file before the check found it damaged: its own
	// check refused the copy, and nothing is in the backups' directory.
	if len(observed) == 0 || observed[0] == nil || !strings.Contains(observed[0].Error(), "does not pass the check") {
		t.Errorf("backups observed: %v", observed)
	}
	if left, _ := RotatingBackups(k.BackupDir); len(left) > 0 {
		t.Errorf("a copy of the damaged file was kept: %v", left)
	}
}
