package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

var fixtures = trackertest.Fixtures

// cli runs nodewatch as a user would, against a local server speaking GitHub's and
// Flatcar's HTTP over the real snapshots.
type cli struct {
	t      *testing.T
	srv    *upstreamtest.Server
	config string
}

func newCLI(t *testing.T, world string) *cli { return newCLIWith(t, world, "") }

// serveWorld serves a snapshot of the fixtures as GitHub and Flatcar serve it, until the
// test ends.
func serveWorld(t *testing.T, world string) *upstreamtest.Server {
	t.Helper()
	srv, err := upstreamtest.New(filepath.Join(fixtures(t), world))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	// Canonical's data: real records (tracker/ubuntusecurity/testdata).
	srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(t))
	return srv
}

// newCLIWith adds extra (notifiers, routes, delivery ...) to the configuration.
func newCLIWith(t *testing.T, world, extra string) *cli {
	t.Helper()
	srv := serveWorld(t, world)
	dir := t.TempDir()
	c := writeConfig(t, dir, srv, "{path: "+filepath.Join(dir, "nodewatch.db")+"}", extra)
	c.srv = srv
	return c
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), append([]string{"--config", c.config}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 0 {
		c.t.Fatalf("nodewatch %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCheckThenQuery(t *testing.T) {
	c := newCLI(t, "world-2026-04-30")
	out := c.mustRun("check")
	if !strings.Contains(out, "vhd_notes:AKSFlatcar/gen2") || strings.Contains(out, "node_image ") {
		t.Errorf("first check (first_run silent) printed:\n%s", out)
	}
	if out := c.mustRun("check"); !strings.Contains(out, "no upstream change") {
		t.Errorf("second check on the same data:\n%s", out)
	}

	if err := c.srv.SetWorld(filepath.Join(fixtures(t), "world-2026-05-31")); err != nil {
		t.Fatal(err)
	}
	out = c.mustRun("check")
	for _, want := range []string{
		"node_image AKSFlatcar/gen2 202605.27.0: Flatcar Container Linux by Kinvolk 4694.0.0, kernel 6.12.87-flatcar, Flatcar 4694.0.0 from alpha released 2026-05-11",
		"node_image AKSFlatcar/gen2 202605.05.1",
		"; node image version AKSFlatcar-flatcargen2-202605.27.0; https://github.com/",
		"node_image AKSFlatcar/gen2 202605.14.0",
		"https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check after the May snapshot lacks %q:\n%s", want, out)
		}
	}

	var images []map[string]any
	if err := json.Unmarshal([]byte(c.mustRun("images", "--json")), &images); err != nil {
		t.Fatal(err)
	}
	var found map[string]any
	for _, im := range images {
		if im["family"] == "AKSFlatcar/gen2" && im["version"] == "202605.27.0" {
			found = im
		}
	}
	if found == nil {
		t.Fatal("images --json lacks AKSFlatcar/gen2 202605.27.0")
	}
	fc, _ := found["flatcar"].(map[string]any)
	osm, _ := found["os"].(map[string]any)
	if found["kernel"] != "6.12.87-flatcar" || osm["version"] != "4694.0.0" || osm["name"] != "Flatcar Container Linux by Kinvolk" ||
		fc["version"] != "4694.0.0" || fc["channel"] != "alpha" || fc["released_at"] != "2026-05-11T18:20:17Z" || fc["kernel"] != "6.12.87" {
		t.Errorf("images --json element: %v", found)
	}
	if _, ok := found["first_seen"].(string); !ok || found["notes_url"] == nil {
		t.Errorf("first_seen/notes_url missing: %v", found)
	}

	var ubuntu []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--family", "AKSUbuntu/*", "--json")), &ubuntu); err != nil {
		t.Fatal(err)
	}
	if len(ubuntu) == 0 {
		t.Fatal("--family AKSUbuntu/* found nothing")
	}
	for _, v := range ubuntu {
		if v.Family != "AKSUbuntu/gen2/2404containerd" || v.Flatcar != nil {
			t.Errorf("--family AKSUbuntu/*: %s %s flatcar %v", v.Family, v.Version, v.Flatcar)
		}
	}

	// What `kubectl get nodes -o wide` shows leads back to the images.
	var byKernel []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--kernel", "6.12.87-flatcar", "--json")), &byKernel); err != nil {
		t.Fatal(err)
	}
	if len(byKernel) == 0 {
		t.Error("--kernel 6.12.87-flatcar found nothing")
	}
	for _, v := range byKernel {
		if *v.Kernel != "6.12.87-flatcar" {
			t.Errorf("--kernel returned %s", *v.Kernel)
		}
	}
	if out := c.mustRun("images", "--os-version", "no-such", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("an empty result prints %q, want []", out)
	}

	var alpha []map[string]any
	if err := json.Unmarshal([]byte(c.mustRun("flatcar", "--channel", "alpha", "--json")), &alpha); err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, r := range alpha {
		if r["channel"] != "alpha" {
			t.Errorf("flatcar --channel alpha returned %v", r["channel"])
		}
		ok = ok || (r["version"] == "4694.0.0" && r["kernel"] == "6.12.87" && r["released_at"] == "2026-05-11T18:20:17Z")
	}
	if !ok {
		t.Error("flatcar --channel alpha --json lacks 4694.0.0 as the feed says it")
	}

	var aks []tracker.AKSRelease
	if err := json.Unmarshal([]byte(c.mustRun("aks", "--json")), &aks); err != nil {
		t.Fatal(err)
	}
	if len(aks) == 0 || aks[0].Tag != "2026-04-28" {
		t.Fatalf("aks --json: newest first, want 2026-04-28; got %d releases", len(aks))
	}
	if !containsRef(aks[0].NodeImages, tracker.AKSImageRef{OS: "Ubuntu 24.04", Version: "202604.24.0", NotesPath: "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202604.24.0.txt"}) {
		t.Errorf("2026-04-28 node images: %+v", aks[0].NodeImages)
	}

	for _, q := range []string{"202605.27.0", "AKSFlatcar-flatcargen2-202605.27.0"} {
		out := c.mustRun("show", q)
		if !strings.Contains(out, "node image AKSFlatcar/gen2 202605.27.0") || !strings.Contains(out, "6.12.87-flatcar") {
			t.Errorf("show %s:\n%s", q, out)
		}
	}
	if out := c.mustRun("show", "4694.0.0"); !strings.Contains(out, "flatcar alpha 4694.0.0") {
		t.Errorf("show 4694.0.0:\n%s", out)
	}
	if code, _, errOut := c.run("show", "1.2.3"); code != 1 || !strings.Contains(errOut, "1.2.3") {
		t.Errorf("show of an unknown version: exit %d, %s", code, errOut)
	}
}

func containsRef(refs []tracker.AKSImageRef, want tracker.AKSImageRef) bool {
	for _, r := range refs {
		if r == want {
			return true
		}
	}
	return false
}

func TestCheckExitsTwoWhenASourceFails(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	c.srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "releases-lts.xml") {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	code, out, errOut := c.run("check")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "flatcar:lts") || !strings.Contains(out, "releases-lts.xml: 502") {
		t.Errorf("the failed source is not named:\n%s", out)
	}
	// What the other sources brought is kept.
	if out := c.mustRun("flatcar", "--channel", "stable", "--json"); strings.TrimSpace(out) == "[]" {
		t.Error("stable was not stored while lts failed")
	}
}

func TestValidate(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	if out := c.mustRun("validate"); !strings.Contains(out, "configuration ok") {
		t.Errorf("validate: %s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("schedule: \"CRON_TZ=Europe/Berlin\"\nfirst_run: sometimes\n"), 0o600)
	var out, errb bytes.Buffer
	code := execute(context.Background(), []string{"--config", bad, "validate"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "schedule") || !strings.Contains(errb.String(), "first_run") {
		t.Errorf("bad config: exit %d\n%s", code, errb.String())
	}
}

func TestEmptyDatabaseQueries(t *testing.T) {
	c := newCLI(t, "world-2026-05-31")
	code, _, errOut := c.run("images", "--json")
	if code != 1 || !strings.Contains(errOut, "nodewatch check") {
		t.Errorf("images before any check: exit %d: %s", code, errOut)
	}
}
