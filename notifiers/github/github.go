// Package github opens one GitHub issue per notification, at most once: the issue body
// carries a hidden marker with the notification's key, looked up before creating, so that
// a create that succeeded upstream but timed out here is not repeated on retry.
// A pool that caught up (pool_current) opens none: it closes the issues of its pool.
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
// close_previous is set, the issues of the same family the new image supersedes (of the
// same pool, for a pool_behind) are closed, also when the issue was found: that finishes
// a close an earlier attempt left undone. A pool_current makes no issue: with
// close_previous it closes the open pool_behind issues of its pool, and is otherwise
// nothing to do.
func (n *Notifier) Notify(ctx context.Context, note tracker.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := caughtUpEvent(note); e != nil {
		// A pool that caught up is no issue of its own: it resolves the issues of the pool.
		if !n.closePrevious {
			return nil
		}
		if err := n.closeCaughtUp(ctx, *e, note.Messages[0].Pool); err != nil {
			return n.fail("closing the issues of "+e.Subject, err)
		}
		return nil
	}
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
		if err := n.closeSuperseded(ctx, issue.GetNumber(), *image, familyMarker(image.Subject)); err != nil {
			return n.fail(fmt.Sprintf("closing the issues #%d supersedes", issue.GetNumber()), err)
		}
	}
	if pool := poolEvent(note); n.closePrevious && pool != nil {
		if err := n.closeSuperseded(ctx, issue.GetNumber(), *pool, poolMarker(pool.Subject)); err != nil {
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

// closeSuperseded closes the open issues marked with subjectLine (the family of a node
// image, the pool of a pool_behind) whose version is older than that of e, the event
// issue number is about, each with a comment saying which issue replaces it. An issue of
// a newer version stays open: images are not built in version order.
func (n *Notifier) closeSuperseded(ctx context.Context, number int, e tracker.Event, subjectLine string) error {
	stale, err := n.openOf(ctx, subjectLine, func(is *gogithub.Issue) bool {
		return is.GetNumber() != number && !isNewer(is.GetBody(), e)
	})
	if err != nil {
		return err
	}
	return n.closeAll(ctx, stale, fmt.Sprintf("Superseded by #%d (%s)", number, text(e.Version)))
}

// closeCaughtUp closes the open pool_behind issues of the pool of a pool_current event,
// up to the version the pool runs now (a pool_behind of a newer image stays open),
// saying why. Finding none is success: a retry after a close finds nothing left.
func (n *Notifier) closeCaughtUp(ctx context.Context, e tracker.Event, p *tracker.NodePool) error {
	open, err := n.openOf(ctx, poolMarker(e.Subject), func(is *gogithub.Issue) bool {
		key, ok := markedEvent(is.GetBody())
		if !ok {
			return false
		}
		version, ok := strings.CutPrefix(key, tracker.EventKey(tracker.EventPoolBehind, e.Subject, ""))
		return ok && tracker.CompareImageVersions(version, e.Version) <= 0
	})
	if err != nil || len(open) == 0 {
		return err
	}
	comment := text(e.Subject) + " now runs " + text(e.Version) + ": closing."
	if p != nil {
		comment = fmt.Sprintf("%s now runs %s, the newest image of %s: closing.", text(p.Key()), text(orDash(p.NodeImageVersion)), text(orDash(p.Family)))
	}
	return n.closeAll(ctx, open, comment)
}

// openOf returns the open issues whose body holds line and that keep accepts.
func (n *Notifier) openOf(ctx context.Context, line string, keep func(*gogithub.Issue) bool) ([]*gogithub.Issue, error) {
	var out []*gogithub.Issue
	// Collected first: closing while paging through open issues would shift the pages.
	err := n.eachIssue(ctx, "open", func(is *gogithub.Issue) bool {
		if hasLine(is.GetBody(), line) && keep(is) {
			out = append(out, is)
		}
		return true
	})
	return out, err
}

// closeAll comments on each issue, then closes it.
func (n *Notifier) closeAll(ctx context.Context, issues []*gogithub.Issue, comment string) error {
	for _, is := range issues {
		if _, _, err := n.gh.Issues.CreateComment(ctx, n.owner, n.repo, is.GetNumber(), &gogithub.IssueComment{Body: &comment}); err != nil {
			return err
		}
		if _, _, err := n.gh.Issues.Edit(ctx, n.owner, n.repo, is.GetNumber(), &gogithub.IssueRequest{State: gogithub.String("closed")}); err != nil {
			return err
		}
	}
	return nil
}

// isNewer reports whether the issue with body is about the same subject as e (the
// family of an image, the pool of a pool_behind) with a version at or after e's, by its
// event marker.
func isNewer(body string, e tracker.Event) bool {
	key, ok := markedEvent(body)
	if !ok {
		return false
	}
	version, ok := strings.CutPrefix(key, tracker.EventKey(e.Kind, e.Subject, ""))
	return ok && tracker.CompareImageVersions(version, e.Version) >= 0
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
	return singleEvent(note, tracker.EventNodeImage)
}

// poolEvent returns the event of a notification about one pool behind, marked with its
// pool and superseding the earlier issues of that pool.
func poolEvent(note tracker.Notification) *tracker.Event {
	return singleEvent(note, tracker.EventPoolBehind)
}

// caughtUpEvent returns the event of a notification that a pool caught up: it makes no
// issue, and with close_previous closes the pool's issues.
func caughtUpEvent(note tracker.Notification) *tracker.Event {
	return singleEvent(note, tracker.EventPoolCurrent)
}

func singleEvent(note tracker.Notification, kind tracker.EventKind) *tracker.Event {
	if len(note.Messages) != 1 {
		return nil
	}
	e := note.Messages[0].Event
	if e.Kind != kind || e.Key != note.Key {
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
