package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// issueTracker is GitHub's Issues API for one repository, as the github notifier uses it:
// list (labels, state=all, pages), create, comment, close.
type issueTracker struct {
	*httptest.Server
	mu     sync.Mutex
	issues []trackedIssue
}

type trackedIssue struct {
	Number   int
	Title    string
	Body     string
	Labels   []string
	State    string
	Comments []string
}

// newIssueTracker serves the Issues API of repo, and the rest of GitHub's API from
// upstream.
func newIssueTracker(t *testing.T, repo string, upstream http.Handler) *issueTracker {
	it := &issueTracker{}
	base := "/api/v3/repos/" + repo + "/issues"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		it.mu.Lock()
		defer it.mu.Unlock()
		var match []map[string]any
		want := strings.Split(r.URL.Query().Get("labels"), ",")
		for i := len(it.issues) - 1; i >= 0; i-- { // newest first
			is := it.issues[i]
			if r.URL.Query().Get("labels") != "" && !containsAll(is.Labels, want) {
				continue
			}
			if s := r.URL.Query().Get("state"); s != "all" && s != is.State && !(s == "" && is.State == "open") {
				continue
			}
			match = append(match, it.json(is))
		}
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, page = max(per, 30), max(page, 1)
		lo, hi := min((page-1)*per, len(match)), min(page*per, len(match))
		if hi < len(match) {
			q := r.URL.Query()
			q.Set("page", strconv.Itoa(page+1))
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, it.URL, base, q.Encode()))
		}
		writeJSONResponse(w, http.StatusOK, match[lo:hi])
	})
	mux.HandleFunc("POST "+base, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Title, Body string
			Labels      []string
		}
		json.NewDecoder(r.Body).Decode(&req)
		it.mu.Lock()
		defer it.mu.Unlock()
		is := trackedIssue{Number: len(it.issues) + 1, Title: req.Title, Body: req.Body, Labels: req.Labels, State: "open"}
		it.issues = append(it.issues, is)
		writeJSONResponse(w, http.StatusCreated, it.json(is))
	})
	mux.HandleFunc("PATCH "+base+"/{n}", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ State string }
		json.NewDecoder(r.Body).Decode(&req)
		it.mu.Lock()
		defer it.mu.Unlock()
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n < 1 || n > len(it.issues) {
			writeJSONResponse(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		if req.State != "" {
			it.issues[n-1].State = req.State
		}
		writeJSONResponse(w, http.StatusOK, it.json(it.issues[n-1]))
	})
	mux.HandleFunc("POST "+base+"/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Body string }
		json.NewDecoder(r.Body).Decode(&req)
		it.mu.Lock()
		defer it.mu.Unlock()
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n < 1 || n > len(it.issues) {
			writeJSONResponse(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
		it.issues[n-1].Comments = append(it.issues[n-1].Comments, req.Body)
		writeJSONResponse(w, http.StatusCreated, map[string]any{"id": n*1000 + len(it.issues[n-1].Comments), "body": req.Body})
	})
	mux.Handle("/", upstream)
	it.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, base) && r.Header.Get("Authorization") != "Bearer "+issueToken {
			writeJSONResponse(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(it.Close)
	return it
}

// setGitHubAPI points github.api_url at url.
func (c *cli) setGitHubAPI(t *testing.T, url string) {
	t.Helper()
	data, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.config, []byte(strings.Replace(string(data), c.srv.GitHubAPIURL(), url, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (it *issueTracker) json(is trackedIssue) map[string]any {
	labels := make([]map[string]string, len(is.Labels))
	for i, l := range is.Labels {
		labels[i] = map[string]string{"name": l}
	}
	return map[string]any{"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State, "labels": labels,
		"html_url": fmt.Sprintf("https://github.com/example/platform/issues/%d", is.Number)}
}

func (it *issueTracker) all() []trackedIssue {
	it.mu.Lock()
	defer it.mu.Unlock()
	return slices.Clone(it.issues)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

const issueToken = "ghp_T0kenThatMustNotShow"

var eventMarker = regexp.MustCompile(`(?m)^<!-- nodewatch:event=(\S+) -->$`)

// TestIssuesAprilToMay: every new Flatcar image gets exactly one issue, with its OS and
// kernel; the previous image's issue is closed; a repeat check and a repeat of the
// notifications make no second issue.
func TestIssuesAprilToMay(t *testing.T) {
	c := newCLIWith(t, "world-2026-04-30", `
notifiers:
  - {name: tracker, type: github, repo: example/platform, labels: [nodewatch], close_previous: true, token: ghp_T0kenThatMustNotShow}
routes:
  - {events: [node_image], families: ["AKSFlatcar/*"], notify: [tracker]}
`)
	gh := newIssueTracker(t, "example/platform", c.srv)
	c.setGitHubAPI(t, gh.URL+"/api/v3/")
	c.mustRun("check")
	if err := c.srv.SetWorld(fixtures(t) + "/world-2026-05-31"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code, out, errOut := c.run("check"); code != 0 || strings.Contains(out+errOut, issueToken) {
			t.Fatalf("check: exit %d, or the token shows:\n%s%s", code, out, errOut)
		}
	}

	var keys []string
	for _, is := range gh.all() {
		m := eventMarker.FindStringSubmatch(is.Body)
		if m == nil {
			t.Errorf("issue #%d has no event marker", is.Number)
			continue
		}
		keys = append(keys, m[1])
		if m[1] == "node_image:AKSFlatcar/gen2:202605.27.0" && (!strings.Contains(is.Body, "6.12.87-flatcar") || !strings.Contains(is.Body, "4694.0.0")) {
			t.Errorf("the 202605.27.0 issue lacks its kernel or Flatcar version:\n%s", is.Body)
		}
	}
	slices.Sort(keys)
	want := []string{}
	for _, f := range []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"} {
		for _, v := range []string{"202605.05.1", "202605.14.0", "202605.27.0"} {
			want = append(want, "node_image:"+f+":"+v)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("issues for %v\nwant one each for %v", keys, want)
	}
	open := 0
	for _, is := range gh.all() {
		if is.State == "open" {
			open++
		}
	}
	if open != 2 {
		t.Errorf("%d issues open, want the newest of each family", open)
	}
}
