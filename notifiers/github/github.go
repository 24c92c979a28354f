// Package github opens one GitHub issue per notification, at most once: the issue body
// carries a hidden marker with the notification's key, looked up before creating, so that
// a create that succeeded upstream but timed out here is not repeated on retry.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
)

// Config is one configured GitHub notifier.
type Config struct {
	Name          string
	Repo          string // owner/name
	Labels        []string
	ClosePrevious bool
	Token         string
	// APIURL is https://api.github.com/, a GitHub Enterprise .../api/v3/, or a test server.
	APIURL string
	// HTTP should carry a timeout; New sets one of 30 s when nil.
	HTTP *http.Client
}

// Notifier creates the issues.
type Notifier struct {
	name          string
	owner, repo   string
	labels        []string
	closePrevious bool
	gh            *gogithub.Client
	// mu makes a lookup and the create that follows it one step, so that two
	// notifications of one key at once cannot both miss the marker.
	mu sync.Mutex
}

// New checks the configuration and returns the notifier.
func New(c Config) (*Notifier, error) {
	owner, repo, ok := strings.Cut(c.Repo, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("github notifier %s: repo %q is not owner/name", c.Name, c.Repo)
	}
	if c.Token == "" {
		return nil, fmt.Errorf("github notifier %s: creating issues needs a token", c.Name)
	}
	apiURL := c.APIURL
	if apiURL == "" {
		apiURL = "https://api.github.com/"
	}
	// The URL is not quoted in these errors: it could carry credentials.
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github notifier %s: api_url is not an http(s) URL", c.Name)
	}
	if u.User != nil {
		return nil, fmt.Errorf("github notifier %s: api_url must not carry credentials; set the token instead", c.Name)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	gh := gogithub.NewClient(hc).WithAuthToken(c.Token)
	gh.BaseURL = u
	return &Notifier{name: c.Name, owner: owner, repo: repo, labels: c.Labels, closePrevious: c.ClosePrevious, gh: gh}, nil
}

// Name implements tracker.Notifier.
func (n *Notifier) Name() string { return n.name }

// Notify implements tracker.Notifier. Finding the issue already made is success. When
// close_previous is set, the issues of the same family the new image supersedes are
// closed, also when the issue was found: that finishes a close an earlier attempt left
// undone.
func (n *Notifier) Notify(ctx context.Context, note tracker.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	issue, err := n.find(ctx, eventMarker(note.Key))
	if err != nil {
		return n.fail("looking for the issue of "+note.Key, err)
	}
	if issue == nil {
		req := &gogithub.IssueRequest{Title: gogithub.String(title(note)), Body: gogithub.String(body(note))}
		if len(n.labels) > 0 {
			req.Labels = &n.labels
		}
		issue, _, err = n.gh.Issues.Create(ctx, n.owner, n.repo, req)
		if err != nil {
			return n.fail("creating the issue of "+note.Key, err)
		}
	}
	if image := imageEvent(note); n.closePrevious && image != nil {
		if err := n.closeSuperseded(ctx, issue.GetNumber(), *image); err != nil {
			return n.fail(fmt.Sprintf("closing the issues #%d supersedes", issue.GetNumber()), err)
		}
	}
	return nil
}

// find returns the issue (not pull request) with the configured labels whose body holds
// marker, newest first so that a recent event is found on the first page.
func (n *Notifier) find(ctx context.Context, marker string) (*gogithub.Issue, error) {
	var found *gogithub.Issue
	err := n.eachIssue(ctx, "all", func(is *gogithub.Issue) bool {
		if hasLine(is.GetBody(), marker) {
			found = is
			return false
		}
		return true
	})
	return found, err
}

// closeSuperseded closes the open issues of the image's family whose image is older than
// the one issue number is about, each with a comment saying which issue replaces it. An
// issue of a newer image stays open: images are not built in version order.
func (n *Notifier) closeSuperseded(ctx context.Context, number int, image tracker.Event) error {
	familyLine := familyMarker(image.Subject)
	var stale []*gogithub.Issue
	// Collected first: closing while paging through open issues would shift the pages.
	err := n.eachIssue(ctx, "open", func(is *gogithub.Issue) bool {
		if is.GetNumber() != number && hasLine(is.GetBody(), familyLine) && !isNewer(is.GetBody(), image) {
			stale = append(stale, is)
		}
		return true
	})
	if err != nil {
		return err
	}
	comment := fmt.Sprintf("Superseded by #%d (%s)", number, text(image.Version))
	for _, is := range stale {
		if _, _, err := n.gh.Issues.CreateComment(ctx, n.owner, n.repo, is.GetNumber(), &gogithub.IssueComment{Body: &comment}); err != nil {
			return err
		}
		if _, _, err := n.gh.Issues.Edit(ctx, n.owner, n.repo, is.GetNumber(), &gogithub.IssueRequest{State: gogithub.String("closed")}); err != nil {
			return err
		}
	}
	return nil
}

// isNewer reports whether the issue with body is about an image of the same family with
// a version at or after image's, by its event marker.
func isNewer(body string, image tracker.Event) bool {
	key, ok := markedEvent(body)
	if !ok {
		return false
	}
	version, ok := strings.CutPrefix(key, tracker.EventKey(tracker.EventNodeImage, image.Subject, ""))
	return ok && tracker.CompareImageVersions(version, image.Version) >= 0
}

// eachIssue calls visit on every issue (not pull request) with the configured labels in
// state, every page, until visit returns false.
func (n *Notifier) eachIssue(ctx context.Context, state string, visit func(*gogithub.Issue) bool) error {
	opts := &gogithub.IssueListByRepoOptions{
		Labels: n.labels, State: state, Sort: "created", Direction: "desc",
		ListOptions: gogithub.ListOptions{PerPage: 100},
	}
	for {
		issues, resp, err := n.gh.Issues.ListByRepo(ctx, n.owner, n.repo, opts)
		if err != nil {
			return err
		}
		for _, is := range issues {
			if !is.IsPullRequest() && !visit(is) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// imageEvent returns the event of a notification about one node image, the only kind
// that is marked with its family and supersedes earlier issues. A digest or a test
// notification, keyed otherwise, is not.
func imageEvent(note tracker.Notification) *tracker.Event {
	if len(note.Messages) != 1 {
		return nil
	}
	e := note.Messages[0].Event
	if e.Kind != tracker.EventNodeImage || e.Key != note.Key {
		return nil
	}
	return &e
}

// fail says whether the error is worth a retry. go-github maps a 403 with no requests
// left to *RateLimitError and a secondary limit to *AbuseRateLimitError, but a 429 comes
// back as a plain *ErrorResponse. Errors without a status (network, timeout) are retried.
// go-github's errors name the request URL, which holds no token: that goes in a header.
func (n *Notifier) fail(what string, err error) error {
	ne := &tracker.NotifyError{Err: fmt.Errorf("github notifier %s: %s in %s/%s: %w", n.name, what, n.owner, n.repo, err)}
	var (
		rl  *gogithub.RateLimitError
		ab  *gogithub.AbuseRateLimitError
		tfa *gogithub.TwoFactorAuthError
		er  *gogithub.ErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		ne.RetryAfter = max(time.Until(rl.Rate.Reset.Time), 0)
	case errors.As(err, &ab):
		ne.RetryAfter = ab.GetRetryAfter()
	case errors.As(err, &tfa):
		ne.Permanent = true
	case errors.As(err, &er) && er.Response != nil:
		switch status := er.Response.StatusCode; {
		case status == http.StatusTooManyRequests:
			ne.RetryAfter = fetch.RetryAfter(er.Response.Header)
		case status == http.StatusRequestTimeout:
		case status >= 400 && status < 500:
			ne.Permanent = true
		}
	}
	return ne
}
