package upstreamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	listIssuesDocs    = "https://docs.github.com/rest/issues/issues#list-repository-issues"
	createIssueDocs   = "https://docs.github.com/rest/issues/issues#create-an-issue"
	getIssueDocs      = "https://docs.github.com/rest/issues/issues#get-an-issue"
	updateIssueDocs   = "https://docs.github.com/rest/issues/issues#update-an-issue"
	createCommentDocs = "https://docs.github.com/rest/issues/comments#create-an-issue-comment"
	issuesDocs        = "https://docs.github.com/rest/issues/issues"
)

// Issue is an issue or pull request of a repository's Issues API, as the server keeps it.
type Issue struct {
	Number      int
	Title       string
	Body        string // "" is sent as null
	Labels      []string
	State       string // "open" or "closed"
	PullRequest bool   // a pull request, which the Issues API lists with the issues
	Created     time.Time
	Comments    []string // the comments' bodies, oldest first
}

func (is Issue) clone() Issue {
	is.Labels = slices.Clone(is.Labels)
	is.Comments = slices.Clone(is.Comments)
	return is
}

// IssueRequest is one request to an Issues API endpoint (a path under
// /api/v3/repos/{owner}/{repo}/issues), recorded as it arrived, before the fault hook.
type IssueRequest struct {
	Method        string
	Path          string // the URL's path, unescaped
	Query         url.Values
	Body          string
	Authorization string // the Authorization header
}

func (r IssueRequest) clone() IssueRequest {
	q := make(url.Values, len(r.Query))
	for k, v := range r.Query {
		q[k] = slices.Clone(v)
	}
	r.Query = q
	return r
}

// issueStore is every repository's issues, in memory: they belong to the server, not to
// a snapshot, so SetWorld keeps them.
type issueStore struct {
	mu       sync.Mutex
	repos    map[string][]*storedIssue // by "owner/repo", in number order
	clock    time.Time                 // the last issue's creation time
	ids      int                       // issues made, over every repository
	comments int                       // comments made, over every issue
	requests []IssueRequest
	// afterCreate runs once a create stored its issue, before the answer is written.
	afterCreate atomic.Pointer[func(r *http.Request, repo string, is Issue)]
}

type storedIssue struct {
	Issue
	id int
}

// issuesEpoch is when the first issue of a server is made; each next one a minute later.
var issuesEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// store numbers is in repo and dates it; mu must be held.
func (st *issueStore) store(repo string, is Issue) *storedIssue {
	if st.repos == nil {
		st.repos = map[string][]*storedIssue{}
	}
	if st.clock.IsZero() {
		st.clock = issuesEpoch
	}
	st.clock = st.clock.Add(time.Minute)
	st.ids++
	is.Number, is.Created = len(st.repos[repo])+1, st.clock
	if is.State == "" {
		is.State = "open"
	}
	stored := &storedIssue{Issue: is.clone(), id: 5000 + st.ids}
	st.repos[repo] = append(st.repos[repo], stored)
	return stored
}

// find is issue n of repo, nil when there is none; mu must be held.
func (st *issueStore) find(repo string, n int) *storedIssue {
	issues := st.repos[repo]
	if n < 1 || n > len(issues) {
		return nil
	}
	return issues[n-1]
}

// record keeps r, whose body it reads and puts back for the handler.
func (st *issueStore) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body) // a body that fails to read reaches the handler as far as it was read
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := IssueRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Authorization: r.Header.Get("Authorization")}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.requests = append(st.requests, req)
}

// isIssuesPath reports whether p is /api/v3/repos/{owner}/{repo}/issues or beneath it.
func isIssuesPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/api/v3/repos/")
	parts := strings.SplitN(rest, "/", 4)
	return ok && len(parts) >= 3 && parts[2] == "issues"
}

// Issues returns the issues and pull requests of repo ("owner/name", as requests name
// it) in number order.
func (s *Server) Issues(repo string) []Issue {
	s.issues.mu.Lock()
	defer s.issues.mu.Unlock()
	out := make([]Issue, len(s.issues.repos[repo]))
	for i, is := range s.issues.repos[repo] {
		out[i] = is.Issue.clone()
	}
	return out
}

// Issue returns issue n of repo, or the zero Issue (Number 0) when there is none.
func (s *Server) Issue(repo string, n int) Issue {
	s.issues.mu.Lock()
	defer s.issues.mu.Unlock()
	if is := s.issues.find(repo, n); is != nil {
		return is.Issue.clone()
	}
	return Issue{}
}

// AddIssue stores is in repo as if made earlier, and returns its number. Its Number and
// Created are assigned as a create would (the next number, a minute after the last issue
// made); an empty State is "open".
func (s *Server) AddIssue(repo string, is Issue) int {
	s.issues.mu.Lock()
	defer s.issues.mu.Unlock()
	return s.issues.store(repo, is).Number
}

// IssueRequests returns every request to the Issues API endpoints so far, in the order
// they arrived, including those a fault hook answered.
func (s *Server) IssueRequests() []IssueRequest {
	s.issues.mu.Lock()
	defer s.issues.mu.Unlock()
	out := make([]IssueRequest, len(s.issues.requests))
	for i, r := range s.issues.requests {
		out[i] = r.clone()
	}
	return out
}

// SetIssueCreateHook installs f, which runs once a create has stored its issue and before
// the answer is written: waiting on r.Context().Done() in it plays GitHub creating an
// issue for a client that gave up before the answer came. nil removes it.
func (s *Server) SetIssueCreateHook(f func(r *http.Request, repo string, is Issue)) {
	if f == nil {
		s.issues.afterCreate.Store(nil)
		return
	}
	s.issues.afterCreate.Store(&f)
}

// issueRepo is the request's "owner/repo"; not ok, with a 404 written, when a name holds a slash.
func (s *Server) issueRepo(w http.ResponseWriter, r *http.Request, docs string) (owner, repo string, ok bool) {
	owner, repo = r.PathValue("owner"), r.PathValue("repo")
	if owner == "" || repo == "" || strings.Contains(owner+repo, "/") {
		s.githubNotFound(w, r, docs)
		return "", "", false
	}
	return owner, repo, true
}

// listIssues answers `GET /repos/{owner}/{repo}/issues`: labels (all of them), state
// (open by default, closed or all), sort=created, direction (desc by default), per_page
// (30 by default, at most 100) and page, with a Link header like GitHub's.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	owner, repo, ok := s.issueRepo(w, r, listIssuesDocs)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if sort := q.Get("sort"); sort != "" && sort != "created" {
		s.validationFailed(w, r, "sort")
		return
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	s.issues.mu.Lock()
	var match []storedIssue
	for _, is := range s.issues.repos[owner+"/"+repo] {
		if (state == "all" || is.State == state) && !slices.ContainsFunc(want, func(l string) bool { return !slices.Contains(is.Labels, l) }) {
			match = append(match, storedIssue{Issue: is.Issue.clone(), id: is.id})
		}
	}
	s.issues.mu.Unlock()
	slices.SortFunc(match, func(a, b storedIssue) int { return a.Created.Compare(b.Created) })
	if q.Get("direction") != "asc" {
		slices.Reverse(match)
	}
	perPage := min(positiveInt(q.Get("per_page"), 30), 100)
	page := positiveInt(q.Get("page"), 1)
	last := max((len(match)+perPage-1)/perPage, 1)
	var links []string
	link := func(p int, rel string) {
		q.Set("page", strconv.Itoa(p))
		links = append(links, fmt.Sprintf(`<%s%s?%s>; rel="%s"`, origin(r), r.URL.EscapedPath(), q.Encode(), rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	out := []issueJSON{}
	for i := (page - 1) * perPage; i < min(page*perPage, len(match)); i++ {
		out = append(out, newIssueJSON(r, owner, repo, match[i]))
	}
	body, err := marshalGitHub(out)
	if err != nil {
		serverError(w, err)
		return
	}
	s.serveGitHubJSON(w, r, body)
}

// getIssue answers `GET /repos/{owner}/{repo}/issues/{number}`.
func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	owner, repo, ok := s.issueRepo(w, r, getIssueDocs)
	if !ok {
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.issues.mu.Lock()
	is := s.issues.find(owner+"/"+repo, n)
	var c storedIssue
	if is != nil {
		c = storedIssue{Issue: is.Issue.clone(), id: is.id}
	}
	s.issues.mu.Unlock()
	if is == nil {
		s.githubNotFound(w, r, getIssueDocs)
		return
	}
	body, err := marshalGitHub(newIssueJSON(r, owner, repo, c))
	if err != nil {
		serverError(w, err)
		return
	}
	s.serveGitHubJSON(w, r, body)
}

// createIssue answers `POST /repos/{owner}/{repo}/issues`: title (required), body, labels.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	owner, repo, ok := s.issueRepo(w, r, createIssueDocs)
	if !ok {
		return
	}
	var req struct {
		Title  string   `json:"title"`
		Body   string   `json:"body"`
		Labels []string `json:"labels"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.problemsParsingJSON(w, r)
		return
	}
	if req.Title == "" {
		s.validationFailed(w, r, "title")
		return
	}
	s.issues.mu.Lock()
	stored := s.issues.store(owner+"/"+repo, Issue{Title: req.Title, Body: req.Body, Labels: req.Labels})
	c := storedIssue{Issue: stored.Issue.clone(), id: stored.id}
	s.issues.mu.Unlock()
	if after := s.issues.afterCreate.Load(); after != nil {
		(*after)(r, owner+"/"+repo, c.Issue.clone())
	}
	v := newIssueJSON(r, owner, repo, c)
	w.Header().Set("Location", v.URL)
	s.writeGitHubJSON(w, r, http.StatusCreated, v)
}

// editIssue answers `PATCH /repos/{owner}/{repo}/issues/{number}`, which changes the state.
func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	owner, repo, ok := s.issueRepo(w, r, updateIssueDocs)
	if !ok {
		return
	}
	var req struct {
		State *string `json:"state"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.problemsParsingJSON(w, r)
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.issues.mu.Lock()
	is := s.issues.find(owner+"/"+repo, n)
	if is == nil {
		s.issues.mu.Unlock()
		s.githubNotFound(w, r, updateIssueDocs)
		return
	}
	if req.State != nil {
		if *req.State != "open" && *req.State != "closed" {
			s.issues.mu.Unlock()
			s.validationFailed(w, r, "state")
			return
		}
		is.State = *req.State
	}
	c := storedIssue{Issue: is.Issue.clone(), id: is.id}
	s.issues.mu.Unlock()
	s.writeGitHubJSON(w, r, http.StatusOK, newIssueJSON(r, owner, repo, c))
}

// commentJSON is an issue comment, its fields in GitHub's order.
type commentJSON struct {
	URL               string   `json:"url"`
	HTMLURL           string   `json:"html_url"`
	IssueURL          string   `json:"issue_url"`
	ID                int      `json:"id"`
	NodeID            string   `json:"node_id"`
	User              userJSON `json:"user"`
	CreatedAt         string   `json:"created_at"`
	UpdatedAt         string   `json:"updated_at"`
	AuthorAssociation string   `json:"author_association"`
	Body              string   `json:"body"`
}

// commentIssue answers `POST /repos/{owner}/{repo}/issues/{number}/comments`.
func (s *Server) commentIssue(w http.ResponseWriter, r *http.Request) {
	owner, repo, ok := s.issueRepo(w, r, createCommentDocs)
	if !ok {
		return
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Body == "" {
		s.validationFailed(w, r, "body")
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.issues.mu.Lock()
	is := s.issues.find(owner+"/"+repo, n)
	if is == nil {
		s.issues.mu.Unlock()
		s.githubNotFound(w, r, createCommentDocs)
		return
	}
	is.Comments = append(is.Comments, req.Body)
	s.issues.comments++
	id, at := 9000+s.issues.comments, s.issues.clock.Format(time.RFC3339)
	s.issues.mu.Unlock()
	api := issueAPI(r, owner, repo)
	s.writeGitHubJSON(w, r, http.StatusCreated, commentJSON{
		URL:       fmt.Sprintf("%s/issues/comments/%d", api, id),
		HTMLURL:   fmt.Sprintf("%s/issues/%d#issuecomment-%d", issueWeb(r, owner, repo), n, id),
		IssueURL:  fmt.Sprintf("%s/issues/%d", api, n),
		ID:        id,
		NodeID:    "IC_" + strconv.Itoa(id),
		User:      botUser,
		CreatedAt: at, UpdatedAt: at,
		AuthorAssociation: "NONE",
		Body:              req.Body,
	})
}

func issueAPI(r *http.Request, owner, repo string) string {
	return origin(r) + "/api/v3/repos/" + owner + "/" + repo
}

// issueWeb is the repository's web address, on this server.
func issueWeb(r *http.Request, owner, repo string) string {
	return origin(r) + "/" + owner + "/" + repo
}

// issueJSON is an issue of the Issues API, its fields in GitHub's order.
type issueJSON struct {
	URL               string       `json:"url"`
	RepositoryURL     string       `json:"repository_url"`
	LabelsURL         string       `json:"labels_url"`
	CommentsURL       string       `json:"comments_url"`
	EventsURL         string       `json:"events_url"`
	HTMLURL           string       `json:"html_url"`
	ID                int          `json:"id"`
	NodeID            string       `json:"node_id"`
	Number            int          `json:"number"`
	Title             string       `json:"title"`
	User              userJSON     `json:"user"`
	Labels            []labelJSON  `json:"labels"`
	State             string       `json:"state"`
	Locked            bool         `json:"locked"`
	Assignee          *userJSON    `json:"assignee"`
	Assignees         []userJSON   `json:"assignees"`
	Milestone         *struct{}    `json:"milestone"`
	Comments          int          `json:"comments"`
	CreatedAt         string       `json:"created_at"`
	UpdatedAt         string       `json:"updated_at"`
	ClosedAt          *string      `json:"closed_at"`
	AuthorAssociation string       `json:"author_association"`
	PullRequest       *pullRequest `json:"pull_request,omitempty"`
	Body              *string      `json:"body"`
	StateReason       *string      `json:"state_reason"`
}

type userJSON struct {
	Login string `json:"login"`
	ID    int    `json:"id"`
	Type  string `json:"type"`
}

// botUser is the author of every issue and comment.
var botUser = userJSON{Login: "nodewatch-bot", ID: 1, Type: "Bot"}

type labelJSON struct {
	ID      int    `json:"id"`
	NodeID  string `json:"node_id"`
	URL     string `json:"url"`
	Name    string `json:"name"`
	Color   string `json:"color"`
	Default bool   `json:"default"`
}

type pullRequest struct {
	URL      string  `json:"url"`
	HTMLURL  string  `json:"html_url"`
	DiffURL  string  `json:"diff_url"`
	PatchURL string  `json:"patch_url"`
	MergedAt *string `json:"merged_at"`
}

func newIssueJSON(r *http.Request, owner, repo string, is storedIssue) issueJSON {
	web, api := issueWeb(r, owner, repo), issueAPI(r, owner, repo)
	self := fmt.Sprintf("%s/issues/%d", api, is.Number)
	labels := []labelJSON{}
	for i, l := range is.Labels {
		labels = append(labels, labelJSON{ID: 700 + i, NodeID: "LA_" + l, URL: api + "/labels/" + url.PathEscape(l), Name: l, Color: "ededed"})
	}
	created := is.Created.UTC().Format(time.RFC3339)
	v := issueJSON{
		URL: self, RepositoryURL: api, LabelsURL: self + "/labels{/name}", CommentsURL: self + "/comments",
		EventsURL: self + "/events", HTMLURL: fmt.Sprintf("%s/issues/%d", web, is.Number),
		ID: is.id, NodeID: "I_kwDO" + strconv.Itoa(is.id), Number: is.Number, Title: is.Title,
		User: botUser, Labels: labels, State: is.State, Assignees: []userJSON{},
		Comments: len(is.Comments), CreatedAt: created, UpdatedAt: created, AuthorAssociation: "NONE",
	}
	if is.Body != "" {
		v.Body = &is.Body
	}
	if is.State == "closed" {
		closedAt, reason := is.Created.Add(time.Hour).UTC().Format(time.RFC3339), "completed"
		v.ClosedAt, v.StateReason = &closedAt, &reason
	}
	if is.PullRequest {
		v.HTMLURL = fmt.Sprintf("%s/pull/%d", web, is.Number)
		v.PullRequest = &pullRequest{
			URL: fmt.Sprintf("%s/pulls/%d", api, is.Number), HTMLURL: v.HTMLURL,
			DiffURL: v.HTMLURL + ".diff", PatchURL: v.HTMLURL + ".patch",
		}
	}
	return v
}

// marshalGitHub is v's compact JSON, & < > written as they are, as GitHub writes them.
func marshalGitHub(v any) ([]byte, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(body.Bytes(), []byte("\n")), nil
}

// writeGitHubJSON answers with status and v, with the headers of every API response.
func (s *Server) writeGitHubJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := marshalGitHub(v)
	if err != nil {
		serverError(w, err)
		return
	}
	s.githubHeaders(w.Header(), r, true)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// validationFailed is GitHub's 422 for an invalid field.
func (s *Server) validationFailed(w http.ResponseWriter, r *http.Request, field string) {
	type fieldError struct {
		Resource string `json:"resource"`
		Code     string `json:"code"`
		Field    string `json:"field"`
	}
	s.writeGitHubJSON(w, r, http.StatusUnprocessableEntity, struct {
		Message string       `json:"message"`
		Errors  []fieldError `json:"errors"`
		Docs    string       `json:"documentation_url"`
		Status  string       `json:"status"`
	}{"Validation Failed", []fieldError{{"Issue", "invalid", field}}, issuesDocs, "422"})
}

// problemsParsingJSON is GitHub's 400 for a body that is not the JSON expected.
func (s *Server) problemsParsingJSON(w http.ResponseWriter, r *http.Request) {
	s.writeGitHubJSON(w, r, http.StatusBadRequest, struct {
		Message string `json:"message"`
		Status  string `json:"status"`
	}{"Problems parsing JSON", "400"})
}
