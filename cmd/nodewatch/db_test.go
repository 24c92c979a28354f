package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dbPath is the database file the cli's configuration names.
func dbPath(t *testing.T, c *cli) string {
	t.Helper()
	data, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), "storage: {path: ")
	path, _, _ := strings.Cut(rest, "}")
	return path
}

// TestDBCheck: `db check` on a real database (the May snapshot read whole) says it is
// sound; damaged as disks damage files, it exits 2 naming the file, with no panic or
// stack trace, and leaves every byte of the file as it was.
func TestDBCheck(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	path := dbPath(t, c)
	if out := c.mustRun("db", "check"); !strings.Contains(out, path+" is sound") {
		t.Fatalf("db check of a sound file: %q", out)
	}
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if len(sound) < 64*page {
		t.Fatalf("the database is only %d bytes", len(sound))
	}
	overwrite := func(at int, b byte, n int) []byte {
		d := bytes.Clone(sound)
		for i := at; i < at+n && i < len(d); i++ {
			d[i] = b
		}
		return d
	}
	damages := []struct {
		name string
		file []byte
	}{
		{"a data page overwritten", overwrite(len(sound)/2/page*page, 0xa5, page)},
		{"one meta page", overwrite(0, 0x5a, page)},
		{"both meta pages", overwrite(0, 0x5a, 2*page)},
		{"truncated", sound[:len(sound)/3]},
		{"zeros", make([]byte, len(sound))},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			if err := os.WriteFile(path, d.file, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := c.run("db", "check")
			all := out + errOut
			if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic:") {
				t.Fatalf("a stack trace:\n%s", all)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, d.file) {
				t.Errorf("db check wrote to the damaged file")
			}
			// Opening the file for a query refuses the damage bbolt cannot survive (a file
			// cut short, no valid meta page) with the same words; other damage is the
			// rest of the issue "A database you can trust".
			if d.name == "truncated" || d.name == "zeros" || d.name == "both meta pages" {
				code, qout, qerr := c.run("images", "--json")
				if code == 0 || strings.Contains(qout+qerr, "goroutine ") || !strings.Contains(qerr, path+" is damaged") {
					t.Errorf("images on a damaged file: exit %d\n%s%s", code, qout, qerr)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, d.file) {
					t.Errorf("images wrote to the damaged file")
				}
			}
			if d.name == "one meta page" && code == 0 {
				// bbolt keeps two meta pages so that one may be lost: the other still
				// opens the file, and what it reaches is checked.
				t.Logf("one meta page lost: %s", strings.TrimSpace(out))
				return
			}
			if code != exitDamaged || !strings.Contains(errOut, path) || !strings.Contains(errOut, "damaged") {
				t.Errorf("exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestDBBackup: a backup of a real database is sound, answers `images --json` as the
// original does, and replaces FILE whole; a damaged database is not copied.
func TestDBBackup(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	want := c.mustRun("images", "--json")
	backup := filepath.Join(t.TempDir(), "nodewatch-backup.db")
	if err := os.WriteFile(backup, []byte("an older file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.mustRun("db", "backup", backup); !strings.Contains(out, "wrote "+backup) {
		t.Errorf("db backup: %q", out)
	}
	restored := newCLI(t, "world-2026-05-31")
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath(t, restored), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := restored.mustRun("db", "check"); !strings.Contains(out, "is sound") {
		t.Errorf("the backup: %q", out)
	}
	if got := restored.mustRun("images", "--json"); got != want {
		t.Errorf("the backup answers images --json otherwise (%d bytes, want %d)", len(got), len(want))
	}
	if err := os.Truncate(dbPath(t, c), 3*4096); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := c.run("db", "backup", backup); code != exitDamaged || !strings.Contains(errOut, "not copied") {
		t.Errorf("backup of a damaged file: exit %d %q", code, errOut)
	}
	if after, _ := os.ReadFile(backup); !bytes.Equal(after, data) {
		t.Errorf("a refused backup changed the backup file")
	}
}
