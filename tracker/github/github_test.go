package github_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/github"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

func client(t *testing.T, notesPath ...string) (*github.Client, *upstreamtest.Server) {
	t.Helper()
	path := "vhdbuilder/release-notes"
	if len(notesPath) > 0 {
		path = notesPath[0]
	}
	s, err := upstreamtest.New(trackertest.World(t, "2026-05-31"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := github.New(&http.Client{Transport: &fetch.Transport{}}, s.GitHubAPIURL(), "",
		github.NotesLocation{Repo: "Azure/AgentBaker", Ref: "master", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func none(string) (tracker.Validator, error) { return tracker.Validator{}, nil }

var full = tracker.ReleaseQuery{Full: true}

// TestReleasePagesWhenFirstIsUnchanged: a 304 carries no Link header, so the page count
// kept with page 1's validator says which later pages to ask.
func TestReleasePagesWhenFirstIsUnchanged(t *testing.T) {
	c, s := client(t)
	first, err := c.Releases(context.Background(), "Azure/AKS", none, full)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Releases) != 236 || len(first.Validators) != 3 {
		t.Fatalf("%d releases over %d pages; want 236 over 3", len(first.Releases), len(first.Validators))
	}
	lookup := func(url string) (tracker.Validator, error) { return first.Validators[url], nil }
	// Page 3 edited in place upstream: only it is read again.
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("page") == "3" {
			r.Header.Del("If-None-Match")
		}
		return false
	})
	s.ResetStats()
	again, err := c.Releases(context.Background(), "Azure/AKS", lookup, full)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Requests != 3 || st.NotModified != 2 || again.NotModified || len(again.Releases) != 36 {
		t.Errorf("pages 1-2 unchanged, 3 changed: %d requests, %d 304, %d releases", st.Requests, st.NotModified, len(again.Releases))
	}
}

func TestErrorsNameTheSource(t *testing.T) {
	c, s := client(t)
	reset := time.Now().Add(30 * time.Minute).Unix()
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.Contains(r.URL.Path, "/releases"):
			w.Header().Set("X-RateLimit-Limit", "60")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"message":"API rate limit exceeded for 127.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`))
			return true
		}
		return false
	})
	_, err := c.Releases(context.Background(), "Azure/AKS", none, full)
	if err == nil || !strings.Contains(err.Error(), "releases of Azure/AKS") || !strings.Contains(err.Error(), "rate limit exhausted until "+time.Unix(reset, 0).UTC().Format(time.RFC3339)) {
		t.Errorf("403 rate limit: %v", err)
	}
	// go-github keeps the rate limit it was told of and asks nothing more until the reset,
	// which is right for the daemon; the other cases get a client of their own.
	if _, err := c.ListNotes(context.Background(), none, ""); err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("after the rate limit: %v", err)
	}
	c, s = client(t)
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/git/trees/") {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"message":"Too Many Requests"}`))
			return true
		}
		return false
	})
	_, err = c.ListNotes(context.Background(), none, "")
	if err == nil || !strings.Contains(err.Error(), "tree of Azure/AgentBaker/vhdbuilder/release-notes@master") || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "retry after 1m0s") {
		t.Errorf("429: %v", err)
	}
	c, _ = client(t, "vhdbuilder/no-such-notes")
	_, err = c.ListNotes(context.Background(), none, "")
	if err == nil || !strings.Contains(err.Error(), "vhdbuilder/no-such-notes") || !strings.Contains(err.Error(), "no commit touches that path") {
		t.Errorf("missing notes path: %v", err)
	}
	if _, err := c.Releases(context.Background(), "AKS", none, full); err == nil || !strings.Contains(err.Error(), `"AKS" is not owner/name`) {
		t.Errorf("bad repo: %v", err)
	}
}
