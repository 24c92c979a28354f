package tracker_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/github"
)

// TestHostileNote serves a real note rewritten to carry a Slack broadcast, a GitHub
// mention, markup and a 10 MB line: the pipeline reads it like any other, stores what it
// says as data, and the one-line summary keeps it on one line.
func TestHostileNote(t *testing.T) {
	r := newRig(t, "2026-05-31", tracker.FirstRunAll, "AKSFlatcar/gen2")
	path := notesDir + "/AKSFlatcar/gen2/202605.27.0.txt"
	note := []byte(mustRead(t, world(t, "2026-05-31"), path))
	note = bytes.Replace(note, []byte(`NAME="Flatcar Container Linux by Kinvolk"`),
		[]byte(`NAME="<!channel> @octocat <script>alert(1)</script> Flatcar"`), 1)
	note = bytes.Replace(note, []byte("Components downloaded"), append(bytes.Repeat([]byte("A"), 10<<20), []byte("\nComponents downloaded")...), 1)
	r.srv.Override(path, note)
	rep, events := r.cycle(t)
	if f := failures(rep); len(f) != 0 {
		t.Fatalf("a hostile but well-formed note failed the cycle: %v", f)
	}
	im, ok, err := r.db.Image("AKSFlatcar/gen2", "202605.27.0")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if im.OS.Name != "<!channel> @octocat <script>alert(1)</script> Flatcar" || im.Kernel != "6.12.87-flatcar" {
		t.Errorf("stored %q kernel %q", im.OS.Name, im.Kernel)
	}
	var keys []tracker.Event
	for _, k := range events {
		if strings.HasSuffix(k, "202605.27.0") {
			e, _, _ := r.db.Event(k)
			keys = append(keys, e)
		}
	}
	msgs, err := tracker.Messages(r.db, keys)
	if err != nil || len(msgs) != 1 {
		t.Fatal(len(msgs), err)
	}
	if s := msgs[0].Summary(); strings.Contains(s, "\n") || len(s) > 64<<10 {
		t.Errorf("summary of %d bytes, or on several lines", len(s))
	}
}

// TestTokenNeverShows: a GitHub token sent with every request appears in no error, no
// log line and no cycle report, whatever the server answers.
func TestTokenNeverShows(t *testing.T) {
	const token = "ghp_H0stileT0kenNeverShown"
	r := newRig(t, "2026-05-31", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	var sawToken bool
	r.srv.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		sawToken = sawToken || req.Header.Get("Authorization") == "Bearer "+token
		// An answer that echoes the request, as a misbehaving proxy might.
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]any{"message": "bad gateway for " + req.Header.Get("Authorization"), "headers": req.Header})
		return true
	})
	gh, err := github.New(&http.Client{Transport: &fetch.Transport{}}, r.srv.GitHubAPIURL(), token,
		github.NotesLocation{Repo: "Azure/AgentBaker", Ref: "master", Path: "vhdbuilder/release-notes"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r.tr.Notes, r.tr.AKS = gh, gh
	r.tr.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, _ := r.cycle(t)
	report, _ := json.Marshal(rep)
	if !sawToken {
		t.Fatal("the token never reached the server: the test proves nothing")
	}
	if len(failures(rep)) == 0 {
		t.Fatal("no source failed")
	}
	for what, s := range map[string]string{"report": string(report), "log": logs.String()} {
		if strings.Contains(s, token) {
			t.Errorf("the token shows in the %s: %s", what, s)
		}
	}
}
