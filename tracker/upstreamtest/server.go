// Package upstreamtest serves a fixture snapshot of nodewatch's upstream sources over
// HTTP as the real ones speak it: GitHub's REST API (as go-github calls it, under
// /api/v3/ as on GitHub Enterprise), raw.githubusercontent.com (under /raw/) and
// Flatcar's release feeds. Validators are real (ETag, Last-Modified, 304), so tests and
// benchmarks can prove that nodewatch's conditional reads download nothing twice.
//
// It also speaks the Issues API the github notifier uses, for any repository: list,
// get, create, edit and comment, the issues held in memory by the server (see Issues,
// AddIssue and IssueRequests) and kept across SetWorld.
//
// A snapshot is a world directory (see shared/fixtures/README.md):
//
//	world.json                                  its "date" dates the Flatcar files
//	github/<owner>/<repo>/releases.json         the releases list, newest first
//	github/<owner>/<repo>/<path>                the repository's files (contents and raw)
//	flatcar/releases-feed/releases-<channel>.xml
//	flatcar/releases-json/releases-<channel>.json
package upstreamtest

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// Server is an in-process HTTP server on 127.0.0.1 serving one snapshot at a time.
// Its methods are safe for concurrent use.
type Server struct {
	http     *httptest.Server
	mux      *http.ServeMux
	hashes   *hashCache
	releases *releaseIndex
	snap     atomic.Pointer[snapshot]
	// mu serializes SetWorld and Override, which each derive the next snapshot from the current one.
	mu     sync.Mutex
	fault  atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	stats  statsRecorder
	rate   rateLimit
	issues issueStore
	// treeLimit is where the Git Trees API truncates (SetTreeLimit); 0 is GitHub's.
	treeLimit atomic.Int64
	// osv is Canonical's archive (SetUbuntuSecurity); nil serves 404.
	osv atomic.Pointer[representation]
}

// New serves the world directory worldDir (e.g. shared/fixtures/world-2026-04-30).
func New(worldDir string) (*Server, error) {
	s := &Server{
		hashes:   &hashCache{blobs: map[fileKey]*blob{}},
		releases: &releaseIndex{spans: map[string][]span{}},
	}
	snap, err := loadSnapshot(worldDir, s.hashes, nil)
	if err != nil {
		return nil, err
	}
	s.snap.Store(snap)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/releases", s.serveReleases)
	s.mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/contents/{path...}", s.serveContents)
	s.mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/commits", s.serveCommits)
	s.mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/git/trees/{tree_sha...}", s.serveTree)
	issues := "/api/v3/repos/{owner}/{repo}/issues"
	s.mux.HandleFunc("GET "+issues, s.listIssues)
	s.mux.HandleFunc("POST "+issues, s.createIssue)
	s.mux.HandleFunc("GET "+issues+"/{number}", s.getIssue)
	s.mux.HandleFunc("PATCH "+issues+"/{number}", s.editIssue)
	s.mux.HandleFunc("POST "+issues+"/{number}/comments", s.commentIssue)
	s.mux.HandleFunc("GET /api/v3/", s.serveAPINotFound)
	s.mux.HandleFunc("GET /raw/{owner}/{repo}/{ref}/{path...}", s.serveRaw)
	s.mux.HandleFunc("GET /releases-feed/{file}", s.serveFlatcar("releases-feed", ".xml", "application/atom+xml"))
	s.mux.HandleFunc("GET /releases-json/{file}", s.serveFlatcar("releases-json", ".json", "application/json"))
	s.mux.HandleFunc("GET /osv/osv-all.tar.xz", s.serveUbuntuSecurity)
	s.http = httptest.NewServer(s)
	return s, nil
}

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.http.Close() }

// URL is the server's root, e.g. http://127.0.0.1:4321.
func (s *Server) URL() string { return s.http.URL }

// GitHubAPIURL is go-github's BaseURL for this server, as for GitHub Enterprise.
func (s *Server) GitHubAPIURL() string { return s.http.URL + "/api/v3/" }

// FlatcarURL is the Flatcar base_url: {base}/releases-feed/releases-{channel}.xml.
func (s *Server) FlatcarURL() string { return s.http.URL }

// SetWorld swaps the snapshot for worldDir at once and drops every Override; the issues
// stay. Validators change only for what changed: ETags come from the bytes served, and a
// Flatcar file keeps its Last-Modified while its bytes stay the same.
func (s *Server) SetWorld(worldDir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := loadSnapshot(worldDir, s.hashes, s.snap.Load())
	if err != nil {
		return err
	}
	s.snap.Store(next)
	return nil
}

// Override replaces or adds the file at rel, a slash-separated path relative to the
// world directory (e.g. "github/Azure/AgentBaker/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt"),
// as upstream editing a file in place would; nil data removes rel, and everything
// beneath it if it is a directory, as upstream pruning would. Overrides last until SetWorld.
// It panics on a path that is not valid (fs.ValidPath), a mistake in the calling test.
func (s *Server) Override(rel string, data []byte) {
	if !fs.ValidPath(rel) || rel == "." {
		panic(fmt.Sprintf("upstreamtest: Override: invalid path %q", rel))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap.Store(s.snap.Load().withOverride(rel, data))
}

// SetFault installs f, which sees every request first: when it returns true it has
// written the response itself (a 503, a dropped connection through
// http.NewResponseController(w).Hijack, ...) and the snapshot is not consulted.
// nil removes it.
func (s *Server) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	if f == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&f)
}

// ServeHTTP counts every request in Stats and records those to the Issues API, then lets
// the fault hook, the snapshot or the issues answer it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := s.stats.begin(w, kindOf(r.URL.Path))
	defer rec.end()
	issues := isIssuesPath(r.URL.Path)
	if issues {
		s.issues.record(r)
	}
	if f := s.fault.Load(); f != nil && (*f)(rec, r) {
		return
	}
	if !issues && r.Method != http.MethodGet && r.Method != http.MethodHead {
		rec.Header().Set("Allow", "GET, HEAD")
		http.Error(rec, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mux.ServeHTTP(rec, r)
}
