package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// runWithin runs a command that might not end (run) for at most d.
func (c *cli) runWithin(d time.Duration, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	code = execute(ctx, append([]string{"--config", c.config}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// damages are the ways disks and bad restores damage a file, applied to a sound one.
func damages(sound []byte) []struct {
	name string
	file []byte
} {
	const page = 4096
	overwrite := func(at int, b byte, n int) []byte {
		d := bytes.Clone(sound)
		for i := at; i < at+n && i < len(d); i++ {
			d[i] = b
		}
		return d
	}
	middle := len(sound) / 2 / page * page
	return []struct {
		name string
		file []byte
	}{
		{"a data page overwritten", overwrite(middle, 0xa5, page)},
		{"one meta page", overwrite(0, 0x5a, page)},
		{"both meta pages", overwrite(0, 0x5a, 2*page)},
		{"truncated", sound[:len(sound)/3]},
		{"zeros", make([]byte, len(sound))},
	}
}

// TestDamagedDatabase: a real database (the May snapshot read whole), damaged as disks
// damage files. No command panics or prints a stack trace; none writes a byte of it.
// Those that write refuse it (check and run exit 1, the db commands 2) naming the file
// and saying it is damaged; the queries either refuse it so, or answer and warn so.
func TestDamagedDatabase(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	path := dbPath(t, c)
	if out := c.mustRun("db", "check"); !strings.Contains(out, path+" is sound") {
		t.Fatalf("db check of a sound file: %q", out)
	}
	var images []struct{ Family, Version string }
	if err := json.Unmarshal([]byte(c.mustRun("images", "--json", "--family", "AKSUbuntu/gen2/2404containerd")), &images); err != nil || len(images) < 2 {
		t.Fatalf("images: %v (%d)", err, len(images))
	}
	newest, older := images[len(images)-1].Version, images[len(images)-2].Version
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sound) < 64*4096 {
		t.Fatalf("the database is only %d bytes", len(sound))
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	writes := []struct {
		args []string
		exit int
	}{
		{[]string{"db", "check"}, exitDamaged},
		{[]string{"check"}, exitUsage},
		{[]string{"run"}, exitUsage},
		{[]string{"db", "backup", backup}, exitDamaged},
		{[]string{"db", "compact"}, exitDamaged},
		{[]string{"outbox", "retry", "some-delivery"}, exitUsage},
	}
	queries := [][]string{
		{"images", "--json"}, {"images"}, {"families"}, {"flatcar"}, {"aks"}, {"outbox"},
		{"show", newest}, {"show", "--json", newest},
		{"diff", "AKSUbuntu/gen2/2404containerd", older, newest},
		{"nodes", "-f", filepath.Join(fixtures(t), "nodes", "kubectl-get-nodes-aks-ubuntu1804.json")},
	}
	for _, d := range damages(sound) {
		t.Run(d.name, func(t *testing.T) {
			if err := os.WriteFile(path, d.file, 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(args []string) (int, string) {
				t.Helper()
				code, out, errOut := c.runWithin(10*time.Second, args...)
				if all := out + errOut; strings.Contains(all, "goroutine ") || strings.Contains(all, "panic:") {
					t.Errorf("%s: a stack trace:\n%s", args, all)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, d.file) {
					t.Fatalf("%s wrote to the damaged file", args)
				}
				return code, errOut
			}
			for _, w := range writes {
				code, errOut := run(w.args)
				if w.args[0] == "db" && w.args[1] == "check" {
					t.Logf("%s: %s", w.args, errOut)
				}
				if code != w.exit || !strings.Contains(errOut, path) || !strings.Contains(errOut, "damaged") {
					t.Errorf("%s: exit %d, want %d naming the file as damaged:\n%s", w.args, code, w.exit, errOut)
				}
			}
			if _, err := os.Stat(backup); err == nil {
				t.Errorf("db backup of a damaged file wrote %s", backup)
			}
			for _, q := range queries {
				code, errOut := run(q)
				switch {
				case !strings.Contains(errOut, path+" is damaged"):
					t.Errorf("%s: exit %d, and nothing says %s is damaged:\n%s", q, code, path, errOut)
				case code == 0 && !strings.Contains(errOut, "what can still be read"):
					t.Errorf("%s answered from a damaged file without saying what the answer is:\n%s", q, errOut)
				}
			}
		})
	}
}

// TestDBBackupRestore: a backup of a real database is sound and answers `images --json`
// as the original does; restored in place of a damaged file, it is what the queries
// answer from, and the damaged file is kept beside it. A damaged backup is not restored.
func TestDBBackupRestore(t *testing.T) {
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
	if out := c.mustRun("db", "check", backup); !strings.Contains(out, backup+" is sound") {
		t.Errorf("db check of the backup: %q", out)
	}
	path := dbPath(t, c)
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := damages(sound)[0].file
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.mustRun("db", "restore", backup)
	if !strings.Contains(out, "restored "+path+" from "+backup) || !strings.Contains(out, "kept as "+path+".before-restore-") {
		t.Errorf("db restore: %q", out)
	}
	kept := strings.TrimSpace(out[strings.Index(out, "kept as ")+len("kept as "):])
	if data, err := os.ReadFile(kept); err != nil || !bytes.Equal(data, damaged) {
		t.Errorf("the file replaced is not kept as it was at %s: %v", kept, err)
	}
	if out := c.mustRun("db", "check"); !strings.Contains(out, "is sound") {
		t.Errorf("after the restore: %q", out)
	}
	if got := c.mustRun("images", "--json"); got != want {
		t.Errorf("the restored file answers images --json otherwise (%d bytes, want %d)", len(got), len(want))
	}

	// A damaged backup is refused, and the file in place stays as it is.
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := c.run("db", "check", bad); code != exitDamaged || !strings.Contains(errOut, bad+" is damaged") {
		t.Errorf("db check of a damaged backup: exit %d %q", code, errOut)
	}
	before, _ := os.ReadFile(path)
	code, _, errOut := c.run("db", "restore", bad)
	if code != exitDamaged || !strings.Contains(errOut, bad+" is damaged") {
		t.Errorf("restore of a damaged backup: exit %d %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Errorf("a refused restore changed the database")
	}
	if got := c.mustRun("images", "--json"); got != want {
		t.Errorf("after a refused restore images --json differs")
	}
}

// TestDBCompact: compaction keeps every answer and the file before it.
func TestDBCompact(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	want := c.mustRun("images", "--json")
	path := dbPath(t, c)
	before, _ := os.ReadFile(path)
	out := c.mustRun("db", "compact")
	if !strings.Contains(out, "compacted "+path) || !strings.Contains(out, fmt.Sprintf("%d before", len(before))) {
		t.Errorf("db compact: %q", out)
	}
	kept := strings.TrimSpace(out[strings.Index(out, "kept as ")+len("kept as "):])
	if data, _ := os.ReadFile(kept); !bytes.Equal(data, before) {
		t.Errorf("the file before is not kept as it was at %s", kept)
	}
	if after, _ := os.Stat(path); after.Size() >= int64(len(before)) {
		t.Errorf("compacted to %d bytes from %d", after.Size(), len(before))
	}
	if out := c.mustRun("db", "check"); !strings.Contains(out, "is sound") {
		t.Errorf("after compaction: %q", out)
	}
	if got := c.mustRun("images", "--json"); got != want {
		t.Errorf("the compacted file answers images --json otherwise")
	}
}

// TestSectorDamage: 512 bytes (a disk sector) overwritten inside one page, for every
// eleventh page of a real database. Where the sector is in the tree's pages, bbolt's
// check finds it; where it is inside a stored value, no check can (bbolt keeps no
// checksums of values) and the value fails to decode. Either way no query prints a stack
// trace or writes the file, and one that fails names the file and says it is damaged.
func TestSectorDamage(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.mustRun("check")
	path := dbPath(t, c)
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	queries := [][]string{{"images", "--json"}, {"show", "202605.27.0"}, {"diff", "AKSUbuntu/gen2/2404containerd", "202605.14.0", "202605.27.0"}, {"flatcar"}, {"aks"}}
	var failed, warned, pages int
	for at := 2 * 4096; at < len(sound); at += 11 * 4096 {
		pages++
		d := bytes.Clone(sound)
		copy(d[at+512:], bytes.Repeat([]byte{0x5a}, 512))
		if err := os.WriteFile(path, d, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			code, out, errOut := c.run(q...)
			if all := out + errOut; strings.Contains(all, "goroutine ") || strings.Contains(all, "panic:") {
				t.Fatalf("page %d, %s: a stack trace:\n%s", at/4096, q, all)
			}
			if code != 0 {
				failed++
				if !strings.Contains(errOut, path) || !strings.Contains(errOut, "damaged") {
					t.Errorf("page %d, %s: exit %d without naming the file as damaged:\n%s", at/4096, q, code, errOut)
				}
			} else if strings.Contains(errOut, "is damaged") {
				warned++
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, d) {
			t.Fatalf("page %d: a query wrote to the damaged file", at/4096)
		}
	}
	if failed == 0 || warned == 0 {
		t.Errorf("%d pages damaged: %d queries refused, %d answered with a warning; want some of each", pages, failed, warned)
	}
	t.Logf("%d pages damaged, %d queries: %d refused naming the file, %d answered and warned", pages, pages*len(queries), failed, warned)
}
