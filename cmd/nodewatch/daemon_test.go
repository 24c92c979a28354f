package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// slackWebhook is an incoming-webhook endpoint as Slack runs it: JSON in, "ok" out.
type slackWebhook struct {
	*httptest.Server
	mu         sync.Mutex
	posts      []map[string]any
	fail       func(n int) int // status for the n-th post (from 1); 0 means 200
	retryAfter string          // sent with failures, as Slack does with its 429s
}

func newSlackWebhook(t *testing.T) *slackWebhook { return newSlackWebhookAt(t, "127.0.0.1:0") }

// newSlackWebhookAt listens on addr: a webhook that comes back where it was.
func newSlackWebhookAt(t *testing.T, addr string) *slackWebhook {
	t.Helper()
	s := &slackWebhook{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != nil {
			if code := s.fail(len(s.posts) + 1); code != 0 {
				s.posts = append(s.posts, nil) // an attempt, not a delivery
				if s.retryAfter != "" {
					w.Header().Set("Retry-After", s.retryAfter)
				}
				w.WriteHeader(code)
				return
			}
		}
		s.posts = append(s.posts, p)
		io.WriteString(w, "ok")
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// texts are the fallback texts of the posts delivered.
func (s *slackWebhook) texts() []string { return s.delivered(false) }

// payloads are the posts delivered, each as its fallback text followed by its whole
// JSON (the blocks a person reads).
func (s *slackWebhook) payloads() []string { return s.delivered(true) }

func (s *slackWebhook) delivered(whole bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.posts {
		if p == nil {
			continue
		}
		text, _ := p["text"].(string)
		if whole {
			data, _ := json.Marshal(p)
			text += "\n" + string(data)
		}
		out = append(out, text)
	}
	return out
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nodewatch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDaemonEndToEnd runs `nodewatch run` as a process against a local server serving the
// April snapshot, swaps in the May one, sees the alerts arrive in Slack, reads the API and
// /metrics, and stops it with SIGTERM.
func TestDaemonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	upstream := serveWorld(t, "world-2026-04-30")
	slack := newSlackWebhook(t)
	listen := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
schedule: "@every 1s"
jitter: 0s
storage: {path: %s}
github: {api_url: %s}
sources:
  vhd_notes: {families: [AKSFlatcar/gen2, AKSFlatcar/gen2arm64]}
  flatcar: {base_url: %s}
notifiers:
  - {name: team, type: slack, webhook_url: "${TEST_SLACK_WEBHOOK}"}
routes:
  - {events: [node_image], families: ["AKSFlatcar/*"], notify: [team]}
  - {events: [flatcar_release], channels: [alpha], notify: [team]}
http: {listen: %s}
log: {format: json}
`, filepath.Join(dir, "nodewatch.db"), upstream.GitHubAPIURL(), upstream.FlatcarURL(), listen)
	path := filepath.Join(dir, "nodewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SLACK_WEBHOOK", slack.URL+"/services/T000/B000/S3cretW3bhook")
	cmd := exec.Command(bin, "--config", path, "run")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	defer cmd.Process.Kill()

	base := "http://" + listen
	waitFor(t, "the first cycle (/readyz 200)", func() bool { return status(base+"/readyz") == 200 })
	if got := slack.texts(); len(got) != 0 {
		t.Fatalf("first_run silent posted %d messages", len(got))
	}

	// While the daemon holds the database, the query commands ask its API.
	var out, errOut strings.Builder
	if code := execute(t.Context(), []string{"--config", path, "images", "--family", "AKSFlatcar/gen2", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("images while the daemon runs: exit %d: %s", code, errOut.String())
	}
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(out.String()), &views); err != nil || len(views) == 0 {
		t.Fatalf("images while the daemon runs: %v %q", err, out.String())
	}

	if err := upstream.SetWorld(filepath.Join(fixtures(t), "world-2026-05-31")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"node_image AKSFlatcar/gen2 202605.05.1", "node_image AKSFlatcar/gen2 202605.14.0", "node_image AKSFlatcar/gen2 202605.27.0",
		"node_image AKSFlatcar/gen2arm64 202605.05.1", "node_image AKSFlatcar/gen2arm64 202605.14.0", "node_image AKSFlatcar/gen2arm64 202605.27.0",
		"flatcar_release alpha 4694.0.0",
	}
	waitFor(t, "the May alerts in Slack", func() bool { return len(slack.texts()) >= len(want) })
	time.Sleep(2 * time.Second) // two more cycles: nothing may be posted again
	got := slack.texts()
	if len(got) != len(want) {
		t.Errorf("Slack got %d posts, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		n := 0
		for _, g := range got {
			if strings.HasPrefix(g, w+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q posted %d times", w, n)
		}
	}

	body := get(t, base+"/api/v1/images?family=AKSFlatcar/gen2")
	if !strings.Contains(body, `"version": "202605.27.0"`) || !strings.Contains(body, `"channel": "alpha"`) {
		t.Errorf("/api/v1/images lacks the May image")
	}
	metrics := get(t, base+"/metrics")
	for _, m := range []string{
		`nodewatch_events_total{kind="node_image"} 6`,
		`nodewatch_deliveries_total{notifier="team",outcome="delivered"} 7`,
		`nodewatch_source_requests_total{source="flatcar:alpha",status="304"}`,
		`nodewatch_newest_image_age_seconds{family="AKSFlatcar/gen2"}`,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { <-logsDone; errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30 s after SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if strings.Contains(logs.String(), "S3cretW3bhook") {
		t.Error("the webhook URL reached the log")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestHTTPServerLimits: a client that sends headers slowly, holds a connection idle or
// sends huge headers is cut off; a reply cannot hang forever.
func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v read %v write %v idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	big, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	big.Header.Set("X-Big", strings.Repeat("x", 128<<10))
	resp, err := http.DefaultClient.Do(big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("128 KB of headers: %s, want 431", resp.Status)
	}
}
