package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
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

// probePage measures the status page as a browser lays it out at a width: it frames /
// (same origin) in a frame of that width, tall enough to need no scrollbar, and writes
// what it found into the DOM for --dump-dom. The status page allows no script, so the
// measuring is done here, by a page of the test's own that the CSP does not cover.
const probePage = `<!doctype html><meta charset="utf-8">
<iframe id="f" src="/" style="border:0;width:%dpx;height:30000px"></iframe>
<pre id="result"></pre>
<script>
window.addEventListener("load", function () {
  var doc = document.getElementById("f").contentDocument, root = doc.documentElement, wide = [];
  doc.querySelectorAll("body *").forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > root.clientWidth + 0.5) {
      wide.push(e.tagName + "." + (e.getAttribute("class") || "") + " right " + Math.round(r.right) + ": " + (e.textContent || "").slice(0, 40));
    }
  });
  document.getElementById("result").textContent = "PROBE" + JSON.stringify({
    clientWidth: root.clientWidth, scrollWidth: root.scrollWidth,
    height: Math.ceil(doc.body.getBoundingClientRect().bottom) + 16, wide: wide.slice(0, 12)});
});
</script>`

type probe struct {
	ClientWidth, ScrollWidth, Height int
	Wide                             []string
}

// browser serves a handler, and the test's probe page, to headless Chromium.
type browser struct {
	t       *testing.T
	path    string
	srv     *httptest.Server
	out     string
	console *regexp.Regexp
}

func newBrowser(t *testing.T, page http.Handler) *browser {
	t.Helper()
	path := chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			var width int
			fmt.Sscan(r.URL.Query().Get("width"), &width)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, probePage, width)
			return
		}
		page.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	out := filepath.Join("..", "..", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, path: path, srv: srv, out: out,
		console: regexp.MustCompile(`(?m)^.*(CONSOLE|Refused to|Failed to load|Uncaught).*$`)}
}

// run loads target in a window of width x height and returns what chromium printed.
func (b *browser) run(width, height int, target string, args ...string) string {
	t := b.t
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		fmt.Sprintf("--window-size=%d,%d", width, height)}
	cmd := exec.Command(b.path, append(append(base, args...), b.srv.URL+target)...)
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
	if bad := b.console.FindAllString(e.String(), -1); len(bad) > 0 {
		t.Errorf("%s at %dx%d: console errors: %q", target, width, height, bad)
	}
	return o.String()
}

// measure lays the page out at width and fails the test if anything sticks out.
func (b *browser) measure(width int) probe {
	t := b.t
	t.Helper()
	dom := b.run(width, 900, fmt.Sprintf("/probe?width=%d", width), "--dump-dom")
	_, js, ok := strings.Cut(dom, "PROBE")
	js, _, _ = strings.Cut(js, "</pre>")
	var p probe
	if !ok || json.Unmarshal([]byte(js), &p) != nil || p.ClientWidth == 0 {
		t.Fatalf("no measurement at %d px in the probe's DOM:\n%.2000s", width, dom)
	}
	if p.ClientWidth != width || p.ScrollWidth > p.ClientWidth || len(p.Wide) > 0 {
		t.Errorf("at %d px the page is %d wide in a %d px viewport; too wide: %q", width, p.ScrollWidth, p.ClientWidth, p.Wide)
	}
	return p
}

// shoot writes a screenshot of / at width x height to out/name.
func (b *browser) shoot(name string, width, height int) {
	t := b.t
	t.Helper()
	shot := filepath.Join(b.out, name)
	os.Remove(shot)
	b.run(width, height, "/", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != width || cfg.Height != height {
		t.Errorf("screenshot %s: %dx%d (%v), want %dx%d", shot, cfg.Width, cfg.Height, err, width, height)
	}
}

// TestStatusPageInBrowser loads the status page of about 40 families in headless
// Chromium on a laptop (1366x900, and the whole page) and on a phone (390 wide, the
// whole page): it renders
// with no console errors (a CSP violation or a failed load would be one), neither layout
// scrolls sideways, and the screenshots are kept in out/ for a person to look at.
func TestStatusPageInBrowser(t *testing.T) {
	b := newBrowser(t, web.New(web.Options{Store: fleet(t), Metrics: web.NewMetrics(), Version: "test",
		Now: func() time.Time { return fleetNow }}))

	dom := b.run(1366, 900, "/", "--dump-dom")
	images, err := fleet(t).Images("")
	if err != nil {
		t.Fatal(err)
	}
	statuses := tracker.FamilyStatuses(images)
	for _, s := range statuses {
		if !strings.Contains(dom, s.Family) || s.NodeImageVersion != "" && !strings.Contains(dom, s.NodeImageVersion) {
			t.Errorf("the rendered page lacks %s or its %s", s.Family, s.NodeImageVersion)
		}
	}
	for _, want := range []string{"AKSFlatcar/gen2", "6.12.87-flatcar", "4694.0.0", "alpha", `class="badge"`, "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if n := strings.Count(dom, `class="badge"`); n != len(tracker.QuietFamilies(statuses)) || n != 2 {
		t.Errorf("%d quiet badges, want 2", n)
	}

	laptop := b.measure(1366)
	b.shoot("status-page-laptop.png", 1366, 900)
	b.shoot("status-page-laptop-full.png", 1366, laptop.Height)
	phone := b.measure(390)
	if phone.Height < 3000 || phone.Height > 30000 {
		t.Fatalf("the phone layout is %d px tall", phone.Height)
	}
	b.shoot("status-page-phone.png", 390, phone.Height)
}

// TestStatusPagePoolsInBrowser renders a page with two clusters (one that cannot be
// read) and six pool entries, behind, mid-upgrade and of no known family, at 1366 and at
// 390 px: no console errors, nothing wider than the viewport, "Your clusters" above the
// families, and out/status-page-pools-laptop.png and -phone.png for a person to look at.
func TestStatusPagePoolsInBrowser(t *testing.T) {
	f := newPoolFixture(t)
	b := newBrowser(t, f.handler)
	dom := b.run(1366, 900, "/", "--dump-dom")
	for _, want := range []string{"Your clusters", "prod-weu", "staging", "what it misses", `class="pbadge warn"`, "nodes run different kernels", "Cannot read the cluster now"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if c, fam := strings.Index(dom, "Your clusters"), strings.Index(dom, "<h2>Families</h2>"); c < 0 || fam < c {
		t.Errorf("Your clusters at %d, Families at %d", c, fam)
	}
	b.measure(1366)
	b.shoot("status-page-pools-laptop.png", 1366, 900)
	phone := b.measure(390)
	if phone.Height < 1500 || phone.Height > 30000 {
		t.Fatalf("the phone layout is %d px tall", phone.Height)
	}
	b.shoot("status-page-pools-phone.png", 390, phone.Height)
}
