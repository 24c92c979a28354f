package upstreamtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	releasesDocs = "https://docs.github.com/rest/releases/releases#list-releases"
	contentsDocs = "https://docs.github.com/rest/repos/contents#get-repository-content"
	apiDocs      = "https://docs.github.com/rest"
	// defaultRef is what GitHub reads when no ref is given: the default branch, master
	// for the repositories nodewatch reads.
	defaultRef = "master"
	// maxInlineContent is the largest file whose Contents API object carries its bytes;
	// GitHub answers a larger one with encoding "none" and empty content.
	maxInlineContent = 1 << 20
	// maxContentsEntries is the most entries GitHub lists of one directory, the first
	// in tree order; the Git Trees API lists them all.
	maxContentsEntries = 1000
)

// serveReleases answers `GET /repos/{owner}/{repo}/releases` from github/{owner}/{repo}/releases.json.
func (s *Server) serveReleases(w http.ResponseWriter, r *http.Request) {
	dir, ok := repoDir(r.PathValue("owner"), r.PathValue("repo"))
	if !ok {
		s.githubNotFound(w, r, releasesDocs)
		return
	}
	rel := dir + "/releases.json"
	b, err := s.snap.Load().file(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.githubNotFound(w, r, releasesDocs)
		return
	case err != nil:
		serverError(w, err)
		return
	}
	spans, err := s.releases.spansOf(rel, b)
	if err != nil {
		serverError(w, err)
		return
	}
	q := r.URL.Query()
	perPage := min(positiveInt(q.Get("per_page"), 30), 100)
	page := positiveInt(q.Get("page"), 1)
	last := (len(spans) + perPage - 1) / perPage
	body := []byte("[]")
	if page <= last {
		if body, err = releasesPage(b, spans[(page-1)*perPage:min(page*perPage, len(spans))]); err != nil {
			serverError(w, fmt.Errorf("%s: %w", rel, err))
			return
		}
	}
	if links := pageLinks(r, page, last); links != "" {
		w.Header().Set("Link", links)
	}
	s.serveGitHubJSON(w, r, body)
}

// releasesPage is the compact JSON array of the releases at spans, one contiguous run of b.
func releasesPage(b *blob, spans []span) ([]byte, error) {
	first, end := spans[0].off, spans[len(spans)-1].end
	raw, err := b.readAt(first, end-first)
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	page.WriteByte('[')
	for i, sp := range spans {
		if i > 0 {
			page.WriteByte(',')
		}
		if err := json.Compact(&page, raw[sp.off-first:sp.end-first]); err != nil {
			return nil, err
		}
	}
	page.WriteByte(']')
	return page.Bytes(), nil
}

func positiveInt(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// pageLinks is GitHub's Link header for page of last: prev, next, last, first where they
// apply, each the request's URL with only its page changed. One page has none.
func pageLinks(r *http.Request, page, last int) string {
	if page == 1 && last <= 1 {
		return ""
	}
	var keep []string
	for _, param := range strings.Split(r.URL.RawQuery, "&") {
		if key, _, _ := strings.Cut(param, "="); param != "" && key != "page" {
			keep = append(keep, param+"&")
		}
	}
	prefix := origin(r) + r.URL.EscapedPath() + "?" + strings.Join(keep, "") + "page="
	link := func(page int, rel string) string { return fmt.Sprintf(`<%s%d>; rel="%s"`, prefix, page, rel) }
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	return strings.Join(links, ", ")
}

// span is where one release lies in a releases.json: bytes [off, end).
type span struct{ off, end int64 }

// releaseIndex remembers where each release lies in each releases.json, by its content,
// so that a page reads only its own releases.
type releaseIndex struct {
	mu    sync.Mutex
	spans map[string][]span
}

func (x *releaseIndex) spansOf(rel string, b *blob) ([]span, error) {
	x.mu.Lock()
	spans, ok := x.spans[b.gitSHA]
	x.mu.Unlock()
	if ok {
		return spans, nil
	}
	data, err := b.bytes()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("%s: not a JSON array of releases", rel)
	}
	for dec.More() {
		var release json.RawMessage
		if err := dec.Decode(&release); err != nil {
			return nil, fmt.Errorf("%s: release %d: %w", rel, len(spans)+1, err)
		}
		end := dec.InputOffset()
		spans = append(spans, span{end - int64(len(release)), end})
	}
	x.mu.Lock()
	x.spans[b.gitSHA] = spans
	x.mu.Unlock()
	return spans, nil
}

// content is one object of the Contents API, its fields in GitHub's order.
type content struct {
	Name        string       `json:"name"`
	Path        string       `json:"path"`
	SHA         string       `json:"sha"`
	Size        int64        `json:"size"`
	URL         string       `json:"url"`
	HTMLURL     string       `json:"html_url"`
	GitURL      string       `json:"git_url"`
	DownloadURL *string      `json:"download_url"`
	Type        string       `json:"type"`
	Content     *string      `json:"content,omitempty"`
	Encoding    string       `json:"encoding,omitempty"`
	Links       contentLinks `json:"_links"`
}

type contentLinks struct {
	Self string `json:"self"`
	Git  string `json:"git"`
	HTML string `json:"html"`
}

// serveContents answers `GET /repos/{owner}/{repo}/contents/{path}?ref=`: a directory's
// entries, or one file with its bytes. Every ref reads the same snapshot.
func (s *Server) serveContents(w http.ResponseWriter, r *http.Request) {
	owner, repo, p := r.PathValue("owner"), r.PathValue("repo"), strings.Trim(r.PathValue("path"), "/")
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = defaultRef
	}
	snap := s.snap.Load()
	rel, ok := repoFile(owner, repo, p)
	if !ok {
		s.githubNotFound(w, r, contentsDocs)
		return
	}
	n, err := snap.stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.githubNotFound(w, r, contentsDocs)
		return
	case err != nil:
		serverError(w, err)
		return
	}
	urls := contentURLs{origin: origin(r), owner: owner, repo: repo, ref: ref}
	var v any
	if n.isDir() {
		v, err = listContents(snap, urls, rel, p)
	} else {
		v, err = fileContent(urls, p, n)
	}
	if err != nil {
		serverError(w, err)
		return
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // GitHub writes & < > as they are
	if err := enc.Encode(v); err != nil {
		serverError(w, err)
		return
	}
	s.serveGitHubJSON(w, r, bytes.TrimSuffix(body.Bytes(), []byte("\n")))
}

func listContents(snap *snapshot, urls contentURLs, rel, p string) ([]content, error) {
	nodes, err := snap.list(rel)
	if err != nil {
		return nil, err
	}
	entries := make([]content, 0, min(len(nodes), maxContentsEntries))
	for _, n := range nodes {
		if len(entries) == maxContentsEntries {
			break // GitHub lists the first 1,000 and says nothing of the rest
		}
		childRel, childPath := rel+"/"+n.name, path.Join(p, n.name)
		if _, ok := repoFile(urls.owner, urls.repo, childPath); !ok {
			continue
		}
		e := urls.entry(childPath, n)
		if n.isDir() {
			if e.SHA, err = snap.treeSHA(childRel); err != nil {
				return nil, err
			}
			e.GitURL = urls.api() + "/git/trees/" + e.SHA
			e.Links.Git = e.GitURL
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func fileContent(urls contentURLs, p string, n node) (content, error) {
	e := urls.entry(p, n)
	if n.blob.size > maxInlineContent {
		e.Content, e.Encoding = new(string), "none"
		return e, nil
	}
	data, err := n.blob.bytes()
	if err != nil {
		return content{}, err
	}
	// GitHub wraps the base64 at 60 characters, each line ending in a newline.
	enc := base64.StdEncoding.EncodeToString(data)
	var wrapped strings.Builder
	for len(enc) > 0 {
		line := enc[:min(60, len(enc))]
		wrapped.WriteString(line + "\n")
		enc = enc[len(line):]
	}
	text := wrapped.String()
	e.Content, e.Encoding = &text, "base64"
	return e, nil
}

// contentURLs builds the addresses a Contents API object carries. html_url is the real
// github.com address, as GitHub gives it and nodewatch stores it as notes_url.
type contentURLs struct {
	origin, owner, repo, ref string
}

func (u contentURLs) api() string { return u.origin + "/api/v3/repos/" + u.owner + "/" + u.repo }

// entry is n's object at p without a directory's tree SHA, which only a listing needs.
func (u contentURLs) entry(p string, n node) content {
	e := content{
		Name: n.name,
		Path: p,
		URL:  u.api() + "/contents/" + escapePath(p) + "?ref=" + url.QueryEscape(u.ref),
	}
	html := "https://github.com/" + u.owner + "/" + u.repo
	if n.isDir() {
		e.Type = "dir"
		e.HTMLURL = html + "/tree/" + escapePath(u.ref) + "/" + escapePath(p)
	} else {
		e.Type, e.SHA, e.Size = "file", n.blob.gitSHA, n.blob.size
		e.HTMLURL = html + "/blob/" + escapePath(u.ref) + "/" + escapePath(p)
		e.GitURL = u.api() + "/git/blobs/" + e.SHA
		download := u.origin + "/raw/" + u.owner + "/" + u.repo + "/" + url.PathEscape(u.ref) + "/" + escapePath(p)
		e.DownloadURL = &download
	}
	e.Links = contentLinks{Self: e.URL, Git: e.GitURL, HTML: e.HTMLURL}
	return e
}

func escapePath(p string) string {
	segments := strings.Split(p, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return strings.Join(segments, "/")
}

// serveRaw answers raw.githubusercontent.com's `GET /{owner}/{repo}/{ref}/{path}`.
func (s *Server) serveRaw(w http.ResponseWriter, r *http.Request) {
	rel, ok := repoFile(r.PathValue("owner"), r.PathValue("repo"), r.PathValue("path"))
	if !ok {
		rawNotFound(w)
		return
	}
	b, err := s.snap.Load().file(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rawNotFound(w)
		return
	case err != nil:
		serverError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	serve(w, r, representation{contentType: "text/plain; charset=utf-8", etag: `"` + b.gitSHA + `"`, body: b})
}

func rawNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, "404: Not Found")
}

// repoDir is the snapshot directory of owner/repo; not ok when the names would leave it.
func repoDir(owner, repo string) (string, bool) {
	rel := "github/" + owner + "/" + repo
	return rel, !strings.Contains(owner+repo, "/") && fs.ValidPath(rel)
}

// repoFile is the snapshot path of p in owner/repo; not ok outside the repository,
// and for the releases list beside its files, which is no file of the repository.
func repoFile(owner, repo, p string) (string, bool) {
	rel, ok := repoDir(owner, repo)
	if p != "" {
		rel += "/" + p
	}
	return rel, ok && p != "releases.json" && fs.ValidPath(rel)
}

func origin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func serverError(w http.ResponseWriter, err error) {
	http.Error(w, "upstreamtest: "+err.Error(), http.StatusInternalServerError)
}

func (s *Server) serveAPINotFound(w http.ResponseWriter, r *http.Request) {
	s.githubNotFound(w, r, apiDocs)
}

// githubNotFound is GitHub's 404, whose documentation_url names the endpoint.
func (s *Server) githubNotFound(w http.ResponseWriter, r *http.Request, docs string) {
	s.githubHeaders(w.Header(), r, true)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"message":"Not Found","documentation_url":%q,"status":"404"}`, docs)
}

// serveGitHubJSON answers with body as GitHub does, its weak ETag the SHA-256 of the body.
func (s *Server) serveGitHubJSON(w http.ResponseWriter, r *http.Request, body []byte) {
	sum := sha256.Sum256(body)
	rep := representation{
		contentType: "application/json; charset=utf-8",
		etag:        `W/"` + hex.EncodeToString(sum[:]) + `"`,
		body:        &blob{size: int64(len(body)), data: body},
	}
	// A 304 is free with a token only: without one it counts as GitHub counts it.
	counted := !notModified(r, rep) || !authenticated(r)
	s.githubHeaders(w.Header(), r, counted)
	serve(w, r, rep)
}

// githubHeaders sets what every API response carries. counted is whether the response
// uses up rate limit: every response does but a 304 to a request with a token.
func (s *Server) githubHeaders(h http.Header, r *http.Request, counted bool) {
	cache := "public, max-age=60, s-maxage=60"
	if authenticated(r) {
		cache = "private, max-age=60, s-maxage=60"
	}
	h.Set("Cache-Control", cache)
	h.Set("Vary", "Accept, Accept-Encoding, Accept, X-Requested-With")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-Content-Type-Options", "nosniff")
	limit, used, reset := s.rate.use(authenticated(r), counted)
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-used))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// authenticated reports whether r carries a token, which GitHub's limits tell apart.
func authenticated(r *http.Request) bool { return r.Header.Get("Authorization") != "" }

// GitHub's core limits per hour: with a token, and without one (per address).
const (
	rateLimitPerHour     = 5000
	anonRateLimitPerHour = 60
)

// rateLimit reports GitHub's primary rate limits, one with a token and one without, but
// never exhausts them: go-github stops sending at Remaining 0, which would end every long
// test or benchmark. A test of rate limiting injects it with SetFault.
type rateLimit struct {
	mu          sync.Mutex
	token, anon rateWindow
}

// rateWindow is one limit's hour: the requests counted and when it starts again.
type rateWindow struct {
	used  int
	reset time.Time
}

func (l *rateLimit) use(authenticated, counted bool) (limit, used int, reset time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	win, limit := &l.anon, anonRateLimitPerHour
	if authenticated {
		win, limit = &l.token, rateLimitPerHour
	}
	now := time.Now()
	if !now.Before(win.reset) {
		win.used, win.reset = 0, now.Add(time.Hour)
	}
	if counted {
		win.used++
		if win.used == limit {
			win.used, win.reset = 1, now.Add(time.Hour)
		}
	}
	return limit, win.used, win.reset
}
