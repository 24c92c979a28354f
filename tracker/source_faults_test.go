package tracker_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// fault answers a request it matches in a broken way and reports whether it did.
type fault func(w http.ResponseWriter, r *http.Request) bool

func on(path string, do func(w http.ResponseWriter)) fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, path) {
			return false
		}
		do(w)
		return true
	}
}

func status(code int, headers ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"message":"fault"}`))
	}
}

func body(contentType, text string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", contentType)
		w.Write([]byte(text))
	}
}

// truncated promises more bytes than it sends, as a connection cut mid-body.
func truncated(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "100000")
	w.Write([]byte(`[{"name":"202605.27.0.txt"`))
}

// stall answers later than the client waits.
func stall(http.ResponseWriter) { time.Sleep(1500 * time.Millisecond) }

// reset drops the connection without an answer: net/http closes it when a handler
// panics with ErrAbortHandler.
func reset(http.ResponseWriter) { panic(http.ErrAbortHandler) }

// TestSourceFaults breaks one source at a time while the May snapshot arrives: the cycle
// names the source, the other sources' news is stored, nothing stored before is lost or
// changed, and once the fault is lifted the next cycle raises exactly what a clean move
// from April to May raises, no more, no less.
func TestSourceFaults(t *testing.T) {
	clean := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/gen2", "AKSUbuntu/gen2/2404containerd")
	clean.cycle(t)
	clean.Move(t, "2026-05-31")
	_, want := clean.cycle(t)

	// go-github asks nothing more until a rate limit resets, as it should: keep it short.
	resetAt := time.Now().Add(time.Second).Unix()
	cases := []struct {
		name   string
		source string // the source that must fail; "github" for every GitHub source
		fault  fault
		json   bool // read Flatcar's JSON files instead of its feeds
	}{
		{"AKS releases 500", "aks_releases:Azure/AKS", on("/repos/Azure/AKS/releases", status(500)), false},
		// GitHub's rate limit is the client's, not one endpoint's: every GitHub source stops.
		{"GitHub 403 rate limit", "github", on("/api/v3/",
			status(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Limit", "60", "X-RateLimit-Reset", strconv.FormatInt(resetAt, 10))), false},
		{"AKS releases 429 Retry-After", "aks_releases:Azure/AKS", on("/repos/Azure/AKS/releases", status(429, "Retry-After", "60")), false},
		{"AKS releases malformed JSON", "aks_releases:Azure/AKS", on("/repos/Azure/AKS/releases", body("application/json", `[{"tag_name": `)), false},
		{"notes commit 502", "vhd_notes", on("/repos/Azure/AgentBaker/commits", status(502)), false},
		{"notes commit list empty", "vhd_notes", on("/repos/Azure/AgentBaker/commits", body("application/json", "[]")), false},
		{"notes tree cut", "vhd_notes", on("/repos/Azure/AgentBaker/git/trees/", truncated), false},
		{"notes tree connection reset", "vhd_notes", on("/repos/Azure/AgentBaker/git/trees/", reset), false},
		{"notes tree empty 200", "vhd_notes", on("/repos/Azure/AgentBaker/git/trees/", body("application/json", "")), false},
		{"notes tree malformed", "vhd_notes", on("/repos/Azure/AgentBaker/git/trees/", body("application/json",
			`{"sha":"0a1b","tree":[{"path":"","mode":"100644","type":"blob","sha":""}],"truncated":false}`)), false},
		{"note 503", "vhd_notes:AKSFlatcar/gen2", on("/AKSFlatcar/gen2/202605.27.0.txt", status(503)), false},
		{"note garbage", "vhd_notes:AKSFlatcar/gen2", on("/AKSFlatcar/gen2/202605.27.0.txt", body("text/plain", "<html>not a note</html>")), false},
		{"note far too large", "vhd_notes:AKSUbuntu/gen2/2404containerd", on("/2404containerd/202605.27.0.txt",
			body("text/plain", strings.Repeat("x", 3<<20))), false},
		{"feed 500", "flatcar:alpha", on("/releases-alpha.xml", status(500)), false},
		{"feed HTML page", "flatcar:beta", on("/releases-beta.xml", body("text/html", "<!doctype html><title>maintenance</title>")), false},
		{"feed cut XML", "flatcar:stable", on("/releases-stable.xml", body("application/atom+xml", `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>4593.2.1`)), false},
		{"feed reset", "flatcar:lts", on("/releases-lts.xml", reset), false},
		{"feed stalls past the client's timeout", "flatcar:lts", on("/releases-lts.xml", stall), false},
		{"JSON 503", "flatcar:alpha", on("/releases-alpha.json", status(503)), true},
		{"JSON cut", "flatcar:beta", on("/releases-beta.json", body("application/json", `{"4628.1.1": {"channel": "beta", "release_`)), true},
		{"JSON empty 200", "flatcar:stable", on("/releases-stable.json", body("application/json", "")), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/gen2", "AKSUbuntu/gen2/2404containerd")
			// A cap far above any real body and far below the oversize one.
			hc := &http.Client{Transport: &fetch.Transport{MaxBody: 2 << 20}, Timeout: time.Second}
			rewire(t, r, hc)
			if c.json {
				r.tr.Flatcar = &flatcar.Source{HTTP: hc, BaseURL: r.srv.FlatcarURL(), Format: flatcar.FormatJSON}
			}
			r.cycle(t)
			before := snapshot(t, r)

			r.Move(t, "2026-05-31")
			r.srv.SetFault(c.fault)
			rep, during := r.cycle(t)
			var failed []string
			for _, s := range rep.Sources {
				if s.Failed() {
					failed = append(failed, s.Source)
				}
			}
			wantFailed := []string{c.source}
			if c.source == "github" {
				wantFailed = []string{"aks_releases:Azure/AKS", "vhd_notes"}
			}
			if !slices.Equal(failed, wantFailed) {
				t.Fatalf("failed sources %v, want only %v: %v", failed, wantFailed, rep.Sources)
			}
			for _, k := range during {
				if !slices.Contains(want, k) {
					t.Errorf("during the fault: %s was raised, which a clean cycle does not raise", k)
				}
			}
			after := snapshot(t, r)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s vanished or was seen anew during the fault", k)
				}
			}

			r.srv.SetFault(nil)
			if c.source == "github" {
				time.Sleep(time.Until(time.Unix(resetAt+1, 0)))
			}
			_, lifted := r.cycle(t)
			got := slices.Concat(during, lifted)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("events across the fault and after it:\n got %v\nwant %v", got, want)
			}
		})
	}
	t.Logf("%d source faults tried", len(cases))
}

// rewire gives the rig's sources another HTTP client.
func rewire(t *testing.T, r *rig, hc *http.Client) {
	t.Helper()
	w := trackertest.Wire(t, r.srv, r.db, hc, r.tr.FirstRun, r.tr.Families...)
	r.tr.Notes, r.tr.AKS, r.tr.Flatcar = w.Notes, w.AKS, w.Flatcar
}

// snapshot is everything the store holds, item key -> when it was first seen. (Content
// may change: upstream edits releases in place between the snapshots.)
func snapshot(t *testing.T, r *rig) map[string]string {
	t.Helper()
	out := map[string]string{}
	images, _ := r.db.Images("")
	for _, im := range images {
		out["image:"+im.Family+":"+im.Version] = im.FirstSeen.String()
	}
	releases, _ := r.db.FlatcarReleases("")
	for _, fr := range releases {
		out["flatcar:"+fr.Channel+":"+fr.Version] = fr.FirstSeen.String()
	}
	aks, _ := r.db.AKSReleases("")
	for _, a := range aks {
		out["aks:"+a.Tag] = a.FirstSeen.String()
	}
	return out
}
