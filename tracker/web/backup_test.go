package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker/web"
)

const adminToken = "nw-admin-S3cretBackupToken"

// backupRequest is GET (or HEAD) /api/v1/backup from remote, with the Authorization
// header auth ("" for none).
func backupRequest(method, remote, auth string) *http.Request {
	r := httptest.NewRequest(method, "/api/v1/backup", nil)
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// TestBackupAccess: a loopback client (IPv4, IPv6, IPv4-mapped) always gets the copy; a
// client off loopback only with the admin token as its bearer token; otherwise 403 when
// no token is configured, or 401 with a challenge when one is. The copy is a sound bbolt
// file holding what the database holds, and no refusal shows the token.
func TestBackupAccess(t *testing.T) {
	db := may(t)
	loopback := []string{"127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"}
	remote := []string{"192.0.2.7:5000", "[2001:db8::1]:5000", "[::ffff:192.0.2.7]:5000"}
	type client struct {
		name  string
		token string // configured: "" for none
		auth  string // sent
	}
	clients := []client{
		{"no token configured, none sent", "", ""},
		{"no token configured, one sent", "", "Bearer " + adminToken},
		{"token sent right", adminToken, "Bearer " + adminToken},
		{"token sent wrong", adminToken, "Bearer " + adminToken + "x"},
		{"token's prefix sent", adminToken, "Bearer " + adminToken[:len(adminToken)-1]},
		{"empty bearer token sent", adminToken, "Bearer "},
		{"token not sent", adminToken, ""},
		{"token sent with another scheme", adminToken, "Basic " + adminToken},
		{"token sent bare", adminToken, adminToken},
		{"token sent with the scheme in lower case", adminToken, "bearer " + adminToken},
	}
	handlers := map[string]http.Handler{}
	handler := func(token string) http.Handler {
		if h, ok := handlers[token]; ok {
			return h
		}
		h := web.New(web.Options{Store: db, Database: db, AdminToken: token})
		handlers[token] = h
		return h
	}
	var copies int
	for _, addr := range append(loopback, remote...) {
		onLoopback := strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "[::1]") || strings.HasPrefix(addr, "[::ffff:127.")
		for _, c := range clients {
			t.Run(addr+"/"+c.name, func(t *testing.T) {
				want := http.StatusOK
				switch {
				case onLoopback:
				case c.token == "":
					want = http.StatusForbidden
				case !strings.EqualFold(c.auth, "Bearer "+c.token): // the scheme's case does not matter
					want = http.StatusUnauthorized
				}
				rec := serve(handler(c.token), backupRequest(http.MethodGet, addr, c.auth))
				if rec.Code != want {
					t.Fatalf("status %d, want %d: %.300q", rec.Code, want, rec.Body)
				}
				challenge := rec.Header().Get("WWW-Authenticate")
				if want == http.StatusOK {
					if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
						t.Errorf("Content-Type %q", ct)
					}
					if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
						t.Errorf("Content-Disposition %q", cd)
					}
					if challenge != "" {
						t.Errorf("WWW-Authenticate %q on a 200", challenge)
					}
					// One loopback copy and one taken with the token are read whole.
					if c.name == "token sent right" && (addr == loopback[0] || addr == remote[0]) {
						wantCopyOf(t, db, rec.Body.Bytes())
						copies++
					}
					return
				}
				if want == http.StatusUnauthorized && !strings.HasPrefix(challenge, "Bearer ") {
					t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", challenge)
				}
				if want == http.StatusForbidden && challenge != "" {
					t.Errorf("403 with WWW-Authenticate %q: no token would let it in", challenge)
				}
				var e map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e["error"], "/api/v1/backup") {
					t.Errorf("refusal %q (%v), want a JSON error naming /api/v1/backup", rec.Body, err)
				}
				// Not in the body, nor in any header; nor any long piece of it.
				for _, s := range []string{adminToken, adminToken[:12], adminToken[len(adminToken)-12:]} {
					if strings.Contains(rec.Body.String(), s) {
						t.Errorf("the refusal's body shows the token: %s", rec.Body)
					}
					for k, vs := range rec.Header() {
						for _, v := range vs {
							if strings.Contains(v, s) {
								t.Errorf("the refusal's header %s shows the token: %s", k, v)
							}
						}
					}
				}
			})
		}
	}
	if copies != 2 {
		t.Errorf("%d copies read whole, want 2", copies)
	}
}

// wantCopyOf checks that body is a bbolt file that passes the check and holds the images
// db holds.
func wantCopyOf(t *testing.T, db *storage.DB, body []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	problems, err := storage.Check(path)
	if err != nil || len(problems) > 0 {
		t.Fatalf("the copy (%d bytes) does not pass the check: %v %q", len(body), err, problems)
	}
	cp, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Damaged(); err != nil {
		t.Fatal(err)
	}
	imagesJSON := func(s *storage.DB) []byte {
		t.Helper()
		images, err := s.Images("")
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(images)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got, want := imagesJSON(cp), imagesJSON(db)
	if !bytes.Equal(got, want) {
		t.Errorf("the copy's images differ from the database's:\n%.500s\nwant\n%.500s", got, want)
	}
	if len(want) < 1000 {
		t.Errorf("the database holds next to no images: %s", want)
	}
}

// TestBackupHead: HEAD answers the headers of GET, its Content-Length the length of the
// body GET sends, and no body.
func TestBackupHead(t *testing.T) {
	db := may(t)
	h := web.New(web.Options{Store: db, Database: db})
	full := serve(h, backupRequest(http.MethodGet, "127.0.0.1:5000", ""))
	head := serve(h, backupRequest(http.MethodHead, "127.0.0.1:5000", ""))
	if full.Code != http.StatusOK || head.Code != http.StatusOK {
		t.Fatalf("GET %d, HEAD %d", full.Code, head.Code)
	}
	n := full.Body.Len()
	if n < 4096*4 {
		t.Fatalf("GET sent %d bytes", n)
	}
	for _, rec := range []*httptest.ResponseRecorder{full, head} {
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(n) {
			t.Errorf("Content-Length %q, want the %d bytes GET sent", cl, n)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	if head.Body.Len() != 0 {
		t.Errorf("HEAD sent %d bytes of body", head.Body.Len())
	}
	// HEAD off loopback is refused as GET is.
	if rec := serve(web.New(web.Options{Store: db, Database: db, AdminToken: adminToken}), backupRequest(http.MethodHead, "192.0.2.7:5000", "")); rec.Code != http.StatusUnauthorized {
		t.Errorf("HEAD off loopback without the token: %d, want 401", rec.Code)
	}
}

// damagedDB is a real database (one cycle over the May snapshot), closed, with one 4096-byte
// page near the middle of its file overwritten with 0xa5: the nearest the middle whose
// damage bbolt's check finds while a read-only open still succeeds (a free page, or a
// value's overflow page, is damage no check sees). It returns the read-only handle.
func damagedDB(t *testing.T) *storage.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nodewatch.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newRig(t, db).cycle(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(sound) / page
	if pages < 8 {
		t.Fatalf("the database is %d bytes", len(sound))
	}
	bad := bytes.Repeat([]byte{0xa5}, page)
	var tried []string
	for d := range pages / 4 {
		for _, p := range []int{pages/2 + d, pages/2 - d - 1} {
			damaged := bytes.Clone(sound)
			copy(damaged[p*page:], bad)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := storage.Open(path, storage.Options{ReadOnly: true})
			switch {
			case err != nil:
				tried = append(tried, fmt.Sprintf("page %d: the read-only open failed: %v", p, err))
			case db.Damaged() == nil:
				tried = append(tried, fmt.Sprintf("page %d: no damage found", p))
				db.Close()
			default:
				t.Logf("page %d of %d overwritten: %v", p, pages, db.Damaged())
				t.Cleanup(func() { db.Close() })
				// A writable open refuses the same file.
				if w, err := storage.Open(path, storage.Options{Timeout: 10 * time.Millisecond}); err == nil {
					w.Close()
					t.Errorf("a writable open of the damaged file succeeded")
				}
				return db
			}
		}
	}
	t.Fatalf("no page near the middle of %d makes damage a read-only open survives:\n%s", pages, strings.Join(tried, "\n"))
	return nil
}

// TestDamagedDatabase: a damaged file is not copied (503, naming the file), makes the
// daemon not ready (naming the file as damaged) and shows in the metrics; a sound one
// shows 0 problems and a check just done.
func TestDamagedDatabase(t *testing.T) {
	db := damagedDB(t)
	var damage *storage.DamageError
	if err := db.Damaged(); !errors.As(err, &damage) || !errors.Is(err, storage.ErrDamaged) || len(damage.Problems) == 0 {
		t.Fatalf("Damaged() = %v, want a DamageError", err)
	}
	path := damage.Path
	m := web.NewMetrics()
	h := web.New(web.Options{Store: db, Database: db, Metrics: m, AdminToken: adminToken})

	for _, auth := range []string{"", "Bearer " + adminToken} {
		rec := serve(h, backupRequest(http.MethodGet, "127.0.0.1:5000", auth))
		var e map[string]string
		wantJSON(t, rec, http.StatusServiceUnavailable, &e)
		if !strings.Contains(e["error"], path) || !strings.Contains(e["error"], "damaged") {
			t.Errorf("backup of the damaged file: %q, want it named as damaged", e["error"])
		}
		if rec.Header().Get("Content-Disposition") != "" {
			t.Error("a refused backup is offered as an attachment")
		}
	}

	rec := get(t, h, "/readyz")
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, path) || !strings.Contains(body, "damaged") || strings.Count(body, "\n") != 1 {
		t.Errorf("readyz %d %q, want 503 naming %s as damaged, on one line", rec.Code, body, path)
	}
	// The banner of the status page says it too.
	if page := get(t, h, "/").Body.String(); !strings.Contains(page, "damaged") {
		t.Error("the status page does not say the database is damaged")
	}

	got := scrape(t, h)
	if n, ok := got["nodewatch_database_problems"]; !ok || n < 1 || n != float64(len(damage.Problems)) {
		t.Errorf("nodewatch_database_problems = %v (present %v), want the %d problems", n, ok, len(damage.Problems))
	}

	// A sound database: ready, no problems, checked a moment ago (at the open).
	sound := openStore(t)
	newRig(t, sound).cycle(t)
	sh := web.New(web.Options{Store: sound, Database: sound, Metrics: web.NewMetrics()})
	if rec := get(t, sh, "/readyz"); rec.Code != http.StatusOK {
		t.Errorf("readyz of a sound database: %d %s", rec.Code, rec.Body)
	}
	got = scrape(t, sh)
	if n, ok := got["nodewatch_database_problems"]; !ok || n != 0 {
		t.Errorf("sound: nodewatch_database_problems = %v (present %v), want 0", n, ok)
	}
	at, ok := got["nodewatch_database_last_check_timestamp_seconds"]
	if age := time.Since(time.Unix(int64(at), 0)); !ok || age < -time.Second || age > time.Minute {
		t.Errorf("sound: nodewatch_database_last_check_timestamp_seconds = %v (present %v): %s ago, want within a minute", at, ok, age)
	}
	if took, ok := got["nodewatch_database_check_duration_seconds"]; !ok || took <= 0 || took > 10 {
		t.Errorf("sound: nodewatch_database_check_duration_seconds = %v (present %v)", took, ok)
	}
	// Without Options.Database, none of them.
	got = scrape(t, web.New(web.Options{Store: sound, Metrics: web.NewMetrics()}))
	for k := range got {
		if strings.HasPrefix(k, "nodewatch_database_") {
			t.Errorf("%s without a Database", k)
		}
	}
}

// TestBackupMetrics: without WatchBackups (no storage.backup) there are no backup
// series; with it, the counters by outcome start at 0, FoundBackup seeds the time of the
// last one taken, and a failure moves only its counter. promtool accepts the exposition,
// database gauges included.
func TestBackupMetrics(t *testing.T) {
	db := may(t)
	m := web.NewMetrics()
	h := web.New(web.Options{Store: db, Database: db, Metrics: m})
	check := func(when string, want map[string]float64) {
		t.Helper()
		got := scrape(t, h)
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %v (present %v), want %v", when, k, g, ok, v)
			}
		}
	}
	for k := range scrape(t, h) {
		if strings.HasPrefix(k, "nodewatch_backup") {
			t.Errorf("%s without WatchBackups", k)
		}
	}
	m.WatchBackups()
	check("before any backup", map[string]float64{
		`nodewatch_backups_total{outcome="ok"}`:           0,
		`nodewatch_backups_total{outcome="failed"}`:       0,
		`nodewatch_backup_last_success_timestamp_seconds`: 0,
	})
	found := time.Date(2026, 5, 31, 3, 0, 0, 0, time.UTC)
	m.FoundBackup(found)
	check("with a backup found at start", map[string]float64{
		`nodewatch_backups_total{outcome="ok"}`:           0,
		`nodewatch_backup_last_success_timestamp_seconds`: float64(found.Unix()),
	})
	ok := found.Add(24 * time.Hour)
	m.ObserveBackup(ok, nil)
	m.ObserveBackup(ok.Add(24*time.Hour), errors.New("no space left on device"))
	check("after one ok and one failed", map[string]float64{
		`nodewatch_backups_total{outcome="ok"}`:           1,
		`nodewatch_backups_total{outcome="failed"}`:       1,
		`nodewatch_backup_last_success_timestamp_seconds`: float64(ok.Unix()),
	})
	m.ObserveBackup(ok.Add(48*time.Hour), nil)
	check("after a second ok", map[string]float64{
		`nodewatch_backups_total{outcome="ok"}`:           2,
		`nodewatch_backups_total{outcome="failed"}`:       1,
		`nodewatch_backup_last_success_timestamp_seconds`: float64(ok.Add(48 * time.Hour).Unix()),
	})
	exposition := get(t, h, "/metrics").Body.Bytes()
	for _, name := range []string{"nodewatch_database_problems", "nodewatch_database_last_check_timestamp_seconds", "nodewatch_database_check_duration_seconds", "nodewatch_backups_total", "nodewatch_backup_last_success_timestamp_seconds"} {
		if !bytes.Contains(exposition, []byte("# HELP "+name+" ")) {
			t.Errorf("the exposition has no HELP for %s", name)
		}
	}
	promtool(t, exposition)
}
