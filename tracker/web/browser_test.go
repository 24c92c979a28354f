package web_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker/web"
)

// chromium finds Debian's headless browser. CI installs it (.ci/run), so there a missing
// browser fails the test rather than skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH; .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// TestStatusPageInBrowser loads / in headless Chromium as a phone would: it renders the
// real data with no console errors (a CSP violation or a failed load would be one), and
// the screenshot is kept in out/ for a person to look at.
func TestStatusPageInBrowser(t *testing.T) {
	browser := chromium(t)
	srv := httptest.NewServer(web.New(web.Options{Store: may(t), Metrics: web.NewMetrics(), Version: "test"}))
	defer srv.Close()

	out := filepath.Join("..", "..", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(out, "status-page.png")
	os.Remove(shot)
	run := func(args ...string) (stdout, stderr string) {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=390,2400"}
		cmd := exec.Command(browser, append(append(base, args...), srv.URL+"/")...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("chromium %v: %v\n%s", args, err, e.String())
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("chromium %v did not finish", args)
		}
		return o.String(), e.String()
	}

	dom, logs := run("--dump-dom")
	for _, want := range []string{"AKSFlatcar/gen2", "202605.27.0", "6.12.87-flatcar", "4694.0.0", "alpha", "AKSUbuntu/gen2/2404containerd", "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	console := regexp.MustCompile(`(?m)^.*(CONSOLE|Refused to|Failed to load|Uncaught).*$`)
	if bad := console.FindAllString(logs, -1); len(bad) > 0 {
		t.Errorf("console errors: %q", bad)
	}
	_, logs = run("--screenshot=" + shot)
	if bad := console.FindAllString(logs, -1); len(bad) > 0 {
		t.Errorf("console errors: %q", bad)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}
