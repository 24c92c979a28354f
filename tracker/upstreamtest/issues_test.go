package upstreamtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const (
	issuesRepo  = "example/platform"
	issuesToken = "ghp_issues_test_token"
)

func newIssuesClient(t testing.TB, s *upstreamtest.Server) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken(issuesToken).WithEnterpriseURLs(s.GitHubAPIURL(), s.GitHubAPIURL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantStatus checks that err is GitHub's error answer with status and message.
func wantStatus(t *testing.T, what string, err error, status int, message string) {
	t.Helper()
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != status || er.Message != message {
		t.Errorf("%s: %v, want %d %q", what, err, status, message)
	}
}

func issueNumbers(issues []*github.Issue) []int {
	var out []int
	for _, is := range issues {
		out = append(out, is.GetNumber())
	}
	return out
}

// TestIssues: issues created through go-github are listed by labels and state across
// pages, newest first, pull requests among them; closed by an edit; commented on; and a
// missing one is GitHub's 404.
func TestIssues(t *testing.T) {
	s := newServer(t, "2026-04-30")
	c := newIssuesClient(t, s)
	ctx := context.Background()
	labels := []string{"nodewatch", "aks"}

	pr := s.AddIssue(issuesRepo, upstreamtest.Issue{Title: "a pull request", Labels: labels, PullRequest: true})
	other := s.AddIssue(issuesRepo, upstreamtest.Issue{Title: "not ours", Labels: []string{"nodewatch"}})
	if pr != 1 || other != 2 {
		t.Fatalf("added #%d and #%d, want #1 and #2", pr, other)
	}
	var made []int
	for i := range 5 {
		is, resp, err := c.Issues.Create(ctx, "example", "platform", &github.IssueRequest{
			Title: github.String(fmt.Sprintf("issue %d", i)), Body: github.String(fmt.Sprintf("body <%d> & more", i)), Labels: &labels})
		if err != nil {
			t.Fatal(err)
		}
		n := is.GetNumber()
		made = append(made, n)
		if resp.StatusCode != http.StatusCreated || n != 3+i || is.GetState() != "open" || is.GetTitle() != fmt.Sprintf("issue %d", i) ||
			is.GetBody() != fmt.Sprintf("body <%d> & more", i) || len(is.Labels) != 2 || is.Labels[0].GetName() != "nodewatch" || is.Labels[1].GetName() != "aks" {
			t.Errorf("create %d: status %d, #%d %s %q %q %v", i, resp.StatusCode, n, is.GetState(), is.GetTitle(), is.GetBody(), is.Labels)
		}
		if loc := resp.Header.Get("Location"); loc != is.GetURL() || loc != fmt.Sprintf("%s/api/v3/repos/%s/issues/%d", s.URL(), issuesRepo, n) {
			t.Errorf("create %d: Location %q, url %q", i, loc, is.GetURL())
		}
		if is.GetHTMLURL() != fmt.Sprintf("%s/%s/issues/%d", s.URL(), issuesRepo, n) || is.IsPullRequest() || is.ClosedAt != nil {
			t.Errorf("create %d: html_url %q, pull request %v, closed_at %v", i, is.GetHTMLURL(), is.IsPullRequest(), is.ClosedAt)
		}
	}
	if got := s.IssueRequests()[0]; got.Method != http.MethodPost || got.Path != "/api/v3/repos/example/platform/issues" ||
		got.Authorization != "Bearer "+issuesToken || !strings.Contains(got.Body, `"title":"issue 0"`) {
		t.Errorf("first request recorded as %+v", got)
	}

	closed, resp, err := c.Issues.Edit(ctx, "example", "platform", made[1], &github.IssueRequest{State: github.String("closed")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || closed.GetState() != "closed" || closed.ClosedAt == nil || closed.GetStateReason() != "completed" || closed.GetTitle() != "issue 1" {
		t.Errorf("edit: status %d, %s closed at %v (%s) %q", resp.StatusCode, closed.GetState(), closed.ClosedAt, closed.GetStateReason(), closed.GetTitle())
	}
	if got := s.Issue(issuesRepo, made[1]).State; got != "closed" {
		t.Errorf("the server holds #%d %s", made[1], got)
	}

	comment, resp, err := c.Issues.CreateComment(ctx, "example", "platform", made[2], &github.IssueComment{Body: github.String("Superseded by #7")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || comment.GetBody() != "Superseded by #7" || comment.GetID() == 0 ||
		comment.GetIssueURL() != fmt.Sprintf("%s/api/v3/repos/%s/issues/%d", s.URL(), issuesRepo, made[2]) {
		t.Errorf("comment: status %d, %+v", resp.StatusCode, comment)
	}
	if got := s.Issue(issuesRepo, made[2]); !slices.Equal(got.Comments, []string{"Superseded by #7"}) {
		t.Errorf("#%d holds comments %q", made[2], got.Comments)
	}

	// Every labelled issue, open and closed, newest first, two a page.
	s.ResetStats()
	opts := &github.IssueListByRepoOptions{Labels: labels, State: "all", Sort: "created", Direction: "desc", ListOptions: github.ListOptions{PerPage: 2}}
	var all []*github.Issue
	pages := 0
	for {
		page, resp, err := c.Issues.ListByRepo(ctx, "example", "platform", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if pages == 1 && (resp.LastPage != 3 || resp.NextPage != 2 || resp.PrevPage != 0) {
			t.Errorf("page 1: next %d last %d prev %d, Link %q", resp.NextPage, resp.LastPage, resp.PrevPage, resp.Header.Get("Link"))
		}
		if pages == 3 && (resp.NextPage != 0 || resp.PrevPage != 2 || resp.FirstPage != 1) {
			t.Errorf("page 3: next %d prev %d first %d, Link %q", resp.NextPage, resp.PrevPage, resp.FirstPage, resp.Header.Get("Link"))
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if got, want := issueNumbers(all), []int{7, 6, 5, 4, 3, 1}; pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages listed %v, want 3 pages of %v", pages, got, want)
	}
	for _, is := range all {
		if want := is.GetNumber() == pr; is.IsPullRequest() != want || want && is.GetHTMLURL() != fmt.Sprintf("%s/%s/pull/%d", s.URL(), issuesRepo, pr) {
			t.Errorf("#%d: pull request %v, html_url %q", is.GetNumber(), is.IsPullRequest(), is.GetHTMLURL())
		}
		if want := map[int]int{made[2]: 1}[is.GetNumber()]; is.GetComments() != want {
			t.Errorf("#%d: %d comments, want %d", is.GetNumber(), is.GetComments(), want)
		}
	}
	if st := s.Stats(); st.Requests != 3 || st.ByKind[upstreamtest.KindGitHubAPI] != 3 || st.ByStatus[http.StatusOK] != 3 {
		t.Errorf("stats %+v, want 3 GitHub API 200s", st)
	}
	var lists []string
	for _, r := range s.IssueRequests() {
		if r.Method == http.MethodGet {
			lists = append(lists, fmt.Sprint(r.Query["labels"], r.Query["state"], r.Query["per_page"], r.Query["page"]))
		}
	}
	if want := []string{"[nodewatch,aks] [all] [2] []", "[nodewatch,aks] [all] [2] [2]", "[nodewatch,aks] [all] [2] [3]"}; !slices.Equal(lists, want) {
		t.Errorf("lists recorded %q, want %q", lists, want)
	}

	// Open ones only by default, oldest first when asked; every issue without labels.
	open, _, err := c.Issues.ListByRepo(ctx, "example", "platform", &github.IssueListByRepoOptions{Labels: labels, Direction: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := issueNumbers(open), []int{1, 3, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("open, oldest first: %v, want %v", got, want)
	}
	every, _, err := c.Issues.ListByRepo(ctx, "example", "platform", &github.IssueListByRepoOptions{State: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := issueNumbers(every), []int{7, 6, 5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("all: %v, want %v", got, want)
	}

	got, _, err := c.Issues.Get(ctx, "example", "platform", made[2])
	if err != nil || got.GetNumber() != made[2] || got.GetComments() != 1 || got.GetBody() != "body <2> & more" {
		t.Errorf("get #%d: %v %+v", made[2], err, got)
	}

	// A missing issue.
	_, _, err = c.Issues.Get(ctx, "example", "platform", 99)
	wantStatus(t, "get #99", err, http.StatusNotFound, "Not Found")
	_, _, err = c.Issues.Edit(ctx, "example", "platform", 99, &github.IssueRequest{State: github.String("closed")})
	wantStatus(t, "edit #99", err, http.StatusNotFound, "Not Found")
	_, _, err = c.Issues.CreateComment(ctx, "example", "platform", 99, &github.IssueComment{Body: github.String("hello")})
	wantStatus(t, "comment on #99", err, http.StatusNotFound, "Not Found")

	// What GitHub refuses.
	_, _, err = c.Issues.Create(ctx, "example", "platform", &github.IssueRequest{Body: github.String("no title")})
	wantStatus(t, "create without a title", err, http.StatusUnprocessableEntity, "Validation Failed")
	_, _, err = c.Issues.Edit(ctx, "example", "platform", made[0], &github.IssueRequest{State: github.String("merged")})
	wantStatus(t, "edit to merged", err, http.StatusUnprocessableEntity, "Validation Failed")
	_, _, err = c.Issues.CreateComment(ctx, "example", "platform", made[0], &github.IssueComment{})
	wantStatus(t, "empty comment", err, http.StatusUnprocessableEntity, "Validation Failed")
	_, _, err = c.Issues.ListByRepo(ctx, "example", "platform", &github.IssueListByRepoOptions{Sort: "updated"})
	wantStatus(t, "sort=updated", err, http.StatusUnprocessableEntity, "Validation Failed")
	var er *github.ErrorResponse
	if errors.As(err, &er) && (len(er.Errors) != 1 || er.Errors[0].Field != "sort") {
		t.Errorf("sort=updated: errors %+v", er.Errors)
	}
	resp2, body := post(t, s.URL()+"/api/v3/repos/example/platform/issues", "{not json")
	if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Problems parsing JSON") {
		t.Errorf("bad JSON: %d %s", resp2.StatusCode, body)
	}
	if got := len(s.Issues(issuesRepo)); got != 7 {
		t.Errorf("%d issues after the refusals, want 7", got)
	}
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	json.NewDecoder(resp.Body).Decode(&raw)
	return resp, raw
}

// TestIssuesServer: each repository has its own issues, which SetWorld keeps; the fault
// hook sees the issue requests first and they are recorded all the same; a create hook
// runs once the issue is stored; concurrent creates get distinct numbers.
func TestIssuesServer(t *testing.T) {
	s := newServer(t, "2026-04-30")
	c := newIssuesClient(t, s)
	ctx := context.Background()

	s.AddIssue("a/one", upstreamtest.Issue{Title: "first", State: "closed", Comments: []string{"old"}})
	if n, _, err := c.Issues.Create(ctx, "b", "two", &github.IssueRequest{Title: github.String("elsewhere")}); err != nil || n.GetNumber() != 1 {
		t.Fatalf("create in b/two: %v, #%d", err, n.GetNumber())
	}
	if err := s.SetWorld(worldDir(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	if one, two := s.Issues("a/one"), s.Issues("b/two"); len(one) != 1 || one[0].State != "closed" || !slices.Equal(one[0].Comments, []string{"old"}) ||
		len(two) != 1 || two[0].Title != "elsewhere" || two[0].State != "open" || two[0].Body != "" {
		t.Errorf("after SetWorld: a/one %+v, b/two %+v", one, two)
	}
	if got := s.Issue("a/one", 2); got.Number != 0 {
		t.Errorf("a/one #2: %+v, want none", got)
	}
	// What a caller gets is a copy.
	s.Issues("a/one")[0].Comments[0] = "changed"
	if got := s.Issue("a/one", 1).Comments; !slices.Equal(got, []string{"old"}) {
		t.Errorf("comments %q after changing a copy", got)
	}

	before := len(s.IssueRequests())
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	_, resp, err := c.Issues.Create(ctx, "a", "one", &github.IssueRequest{Title: github.String("refused")})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("create with the fault: %v", err)
	}
	s.SetFault(nil)
	reqs := s.IssueRequests()
	if len(reqs) != before+1 || reqs[before].Method != http.MethodPost || !strings.Contains(reqs[before].Body, "refused") {
		t.Errorf("requests recorded with the fault: %+v", reqs[before:])
	}
	if got := len(s.Issues("a/one")); got != 1 {
		t.Errorf("%d issues in a/one after the fault, want 1", got)
	}
	if resp, _ := get(t, http.MethodDelete, s.URL()+"/api/v3/repos/a/one/issues/1", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: status %d", resp.StatusCode)
	}

	var hooked []string
	s.SetIssueCreateHook(func(r *http.Request, repo string, is upstreamtest.Issue) {
		hooked = append(hooked, fmt.Sprintf("%s %s#%d %s", r.Method, repo, is.Number, is.Title))
	})
	if _, _, err := c.Issues.Create(ctx, "a", "one", &github.IssueRequest{Title: github.String("hooked")}); err != nil {
		t.Fatal(err)
	}
	s.SetIssueCreateHook(nil)
	if want := []string{"POST a/one#2 hooked"}; !slices.Equal(hooked, want) {
		t.Errorf("hook saw %q, want %q", hooked, want)
	}

	const workers = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		numbers []int
	)
	for i := range workers {
		wg.Go(func() {
			is, _, err := c.Issues.Create(ctx, "c", "many", &github.IssueRequest{Title: github.String(fmt.Sprint("issue ", i))})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			numbers = append(numbers, is.GetNumber())
			mu.Unlock()
			if _, _, err := c.Issues.ListByRepo(ctx, "c", "many", nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(numbers)
	titles := map[string]int{}
	for _, is := range s.Issues("c/many") {
		titles[is.Title]++
	}
	var want []int
	for n := range workers {
		want = append(want, n+1)
	}
	if !slices.Equal(numbers, want) || len(titles) != workers {
		t.Errorf("concurrent creates numbered %v, stored %d distinct titles", numbers, len(titles))
	}
}
