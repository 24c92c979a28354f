package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
)

// TestBackupDuringCycle: `nodewatch db backup FILE` while the daemon runs its first cycle
// (a cold read of the May snapshot, slowed so that it lasts seconds) goes through the
// daemon's API. Each copy restores to a database that `db check` passes and whose
// `images --json` is what the daemon answered at that moment (read just before and just
// after the copy, and the same both times). The daemon's own rotating backup, taken at
// start, restores as well.
func TestBackupDuringCycle(t *testing.T) {
	srv := serveWorld(t, "world-2026-05-31")
	// Every answer of the upstream waits a little, and Canonical's archive, read after the
	// notes are stored, three seconds: the cold cycle takes seconds, and copies are taken
	// while it has stored some of what it will.
	srv.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/osv/") {
			time.Sleep(3 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	listen := freePort(t)
	daemon := writeConfig(t, dir, srv, fmt.Sprintf("{path: %s, backup: {every: 1h, keep: 2, dir: %s}}", filepath.Join(dir, "nodewatch.db"), backups),
		"schedule: \"@every 1h\"\njitter: 0s\nhttp: {listen: "+listen+"}\n")

	ctx, stop := context.WithCancel(context.Background())
	var logs bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if code := execute(ctx, []string{"--config", daemon.config, "run"}, io.Discard, &syncWriter{w: &logs}); code != 0 {
			t.Errorf("run: exit %d", code)
		}
	}()
	defer func() { stop(); wg.Wait() }()
	base := "http://" + listen
	waitFor(t, "the daemon's API", func() bool { return status(base+"/healthz") == 200 })

	type sample struct{ file, images string }
	var samples []sample
	for i := 0; status(base+"/readyz") != 200; i++ {
		before := get(t, base+"/api/v1/images")
		file := filepath.Join(dir, fmt.Sprintf("copy-%03d.db", i))
		out := daemon.mustRun("db", "backup", file)
		if !strings.Contains(out, "taken by the running daemon") {
			t.Fatalf("db backup while the daemon runs: %q", out)
		}
		after := get(t, base+"/api/v1/images")
		if before == after && before != "[]\n" && status(base+"/readyz") != 200 {
			samples = append(samples, sample{file, before})
		}
	}
	if len(samples) == 0 {
		t.Fatal("no copy was taken while the first cycle was storing images")
	}
	final := get(t, base+"/api/v1/images")
	if out := daemon.mustRun("db", "check"); !strings.Contains(out, "sound (the running daemon checked a copy") {
		t.Errorf("db check while the daemon runs: %q", out)
	}
	// A page of the daemon's file damaged under it (a disk fault): db check, through the
	// daemon's copy, says so; then the daemon knows, is not ready and counts the problem.
	path := filepath.Join(dir, "nodewatch.db")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), st.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if code, _, errOut := daemon.run("db", "check"); code != exitDamaged || !strings.Contains(errOut, path+" is damaged") {
		t.Errorf("db check of the damaged file under the daemon: exit %d %q", code, errOut)
	}
	if code := status(base + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a daemon whose file is damaged: %d", code)
	}
	if m := get(t, base+"/metrics"); !regexp.MustCompile(`(?m)^nodewatch_database_problems [1-9]`).MatchString(m) {
		t.Errorf("the metrics do not count the damage")
	}
	// Restore and compaction want the daemon stopped.
	for _, args := range [][]string{{"db", "restore", samples[0].file}, {"db", "compact"}} {
		if code, _, errOut := daemon.run(args...); code != exitUsage || !strings.Contains(errOut, "stop the daemon") {
			t.Errorf("%s while the daemon runs: exit %d %q", args, code, errOut)
		}
	}
	stop()
	wg.Wait()
	t.Logf("%d copies taken during the first cycle with images stored", len(samples))
	if samples[0].images == final {
		t.Errorf("the copies were taken once the cycle had stored all it would: want some before")
	}

	rotating, err := storage.RotatingBackups(backups)
	if err != nil || len(rotating) != 1 {
		t.Fatalf("rotating backups: %v %v\n%s", rotating, err, logs.String())
	}
	restore := func(t *testing.T, file string) string {
		t.Helper()
		c := writeConfig(t, t.TempDir(), srv, "{path: "+filepath.Join(t.TempDir(), "nodewatch.db")+"}", "")
		c.mustRun("db", "restore", file)
		if out := c.mustRun("db", "check"); !strings.Contains(out, "is sound") {
			t.Errorf("restored %s: %q", file, out)
		}
		return c.mustRun("images", "--json")
	}
	for _, s := range samples {
		// The API indents its JSON, the CLI writes an image a line: the same JSON.
		if got := restore(t, s.file); compactJSON(t, got) != compactJSON(t, s.images) {
			t.Errorf("%s answers images --json otherwise than the daemon did when it was taken (%d bytes, want %d)", s.file, len(got), len(s.images))
		}
	}
	// The rotating backup was taken at start, before the cycle had stored everything: it
	// restores to a sound file, answering at most what the daemon answered at the end.
	if got := restore(t, rotating[0].File); len(got) > len(final) {
		t.Errorf("the rotating backup answers %d bytes of images, more than the daemon's %d at the end", len(got), len(final))
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, s)
	}
	return b.String()
}

// writeConfig writes a configuration of the four families of newCLI over srv with the
// given storage section and extra top-level keys, in dir.
func writeConfig(t *testing.T, dir string, srv interface {
	GitHubAPIURL() string
	FlatcarURL() string
	UbuntuSecurityURL() string
}, storageSection, extra string) *cli {
	t.Helper()
	cfg := fmt.Sprintf(`
storage: %s
github: {api_url: %s}
sources:
  vhd_notes:
    families: [AKSFlatcar/gen2, AKSFlatcar/gen2arm64, AKSAzureLinuxV3/gen2, AKSUbuntu/gen2/2404containerd]
  flatcar: {base_url: %s}
  ubuntu_security: {url: %s}
log: {level: warn}
`, storageSection, srv.GitHubAPIURL(), srv.FlatcarURL(), srv.UbuntuSecurityURL()) + extra
	path := filepath.Join(dir, "nodewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, config: path}
}

// syncWriter lets the daemon's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestRestoreEverySchema: a backup from each released schema (storage/testdata/schemas,
// each made by that version's own code) restores with `db restore`, is migrated to this
// nodewatch's schema, passes `db check`, and answers `images --json` with the images that
// version listed.
func TestRestoreEverySchema(t *testing.T) {
	files, err := filepath.Glob("../../storage/testdata/schemas/v*.db.gz")
	if err != nil || len(files) < 6 {
		t.Fatalf("schema files: %v %v", files, err)
	}
	for _, gz := range files {
		name := strings.TrimSuffix(filepath.Base(gz), ".db.gz")
		t.Run(name, func(t *testing.T) {
			backup := filepath.Join(t.TempDir(), name+".db")
			gunzip(t, gz, backup)
			c := writeConfig(t, t.TempDir(), serveWorld(t, "world-2026-04-30"), "{path: "+filepath.Join(t.TempDir(), "nodewatch.db")+"}", "")
			if out := c.mustRun("db", "restore", backup); !strings.Contains(out, "migrated to this nodewatch's schema") {
				t.Errorf("db restore: %q", out)
			}
			if out := c.mustRun("db", "check"); !strings.Contains(out, "is sound") {
				t.Errorf("db check: %q", out)
			}
			var got, want []struct{ Family, Version string }
			if err := json.Unmarshal([]byte(c.mustRun("images", "--json")), &got); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(strings.TrimSuffix(gz, ".db.gz") + ".images.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &want); err != nil || len(want) == 0 {
				t.Fatalf("%s.images.json: %v", name, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("restored %s lists %d images, that version listed %d", name, len(got), len(want))
			}
		})
	}
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
