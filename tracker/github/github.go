// Package github reads the two GitHub sources through go-github v66: the releases of
// Azure/AKS and the VHD notes directories of Azure/AgentBaker. go-github keeps no ETags,
// so every call carries its validator through fetch.WithValidator, and a 304 (which
// go-github reports as an *ErrorResponse) is success with nothing new.
package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gogithub "github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/aksnotes"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// Client reads GitHub. HTTP must use a *fetch.Transport so validators reach the wire.
type Client struct {
	gh    *gogithub.Client
	http  *http.Client
	notes NotesLocation
	token string // kept only to strip it from errors: a server may echo it back
}

// NotesLocation is where the VHD notes live.
type NotesLocation struct {
	Repo string // owner/name
	Ref  string
	Path string // vhdbuilder/release-notes
	// RawURL is where files download from ({RawURL}{owner}/{repo}/{ref}/{path}):
	// https://raw.githubusercontent.com/, or https://HOST/raw/ on GitHub Enterprise.
	RawURL string
	// WebURL is where people read them ({WebURL}{owner}/{repo}/blob/{ref}/{path}).
	WebURL string
}

// New returns a client for apiURL ("https://api.github.com/" or a GitHub Enterprise /
// test server ".../api/v3/"); token may be empty for public repositories.
func New(httpClient *http.Client, apiURL, token string, notes NotesLocation) (*Client, error) {
	gh := gogithub.NewClient(httpClient)
	if token != "" {
		gh = gh.WithAuthToken(token)
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("github api_url %q is not an http(s) URL", apiURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	gh.BaseURL = u
	notes.defaultLocations(u)
	return &Client{gh: gh, http: httpClient, notes: notes, token: token}, nil
}

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

// notModified tells a 304 from a failure: go-github treats every non-2xx as an error.
func notModified(resp *gogithub.Response, err error) bool {
	if resp != nil && resp.StatusCode == http.StatusNotModified {
		return true
	}
	var er *gogithub.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotModified
}

// redactedError is an error whose text had a secret removed; it still unwraps to the
// original, so errors.As finds go-github's types.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// describe turns go-github's errors into one line naming what was asked, without the
// token even when the server echoed it. A 429 comes back as a plain *ErrorResponse, not
// a rate-limit error, so it is recognised here.
func (c *Client) describe(what string, resp *gogithub.Response, err error) error {
	err = describe(what, resp, err)
	if c.token != "" && strings.Contains(err.Error(), c.token) {
		return &redactedError{text: strings.ReplaceAll(err.Error(), c.token, "[redacted]"), err: err}
	}
	return err
}

func describe(what string, resp *gogithub.Response, err error) error {
	var rl *gogithub.RateLimitError
	var ab *gogithub.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return fmt.Errorf("%s: GitHub rate limit exhausted until %s (set github.token for 5,000 requests an hour): %w",
			what, rl.Rate.Reset.UTC().Format(time.RFC3339), err)
	case errors.As(err, &ab):
		return fmt.Errorf("%s: GitHub secondary rate limit (retry after %s): %w", what, ab.GetRetryAfter(), err)
	case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s: GitHub answered 429 Too Many Requests (retry after %s): %w",
			what, fetch.RetryAfter(resp.Header), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Releases implements tracker.AKSReleaseSource. Every page is asked conditionally; a page
// that answers 304 carries no Link header, so the page count kept with page 1's validator
// says how far a full pass goes. Without q.Full, page 1 alone is asked unless every
// release on it is new.
func (c *Client) Releases(ctx context.Context, repo string, lookup tracker.ValidatorLookup, q tracker.ReleaseQuery) (tracker.ReleasePages, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return tracker.ReleasePages{}, err
	}
	out := tracker.ReleasePages{Validators: map[string]tracker.Validator{}, NotModified: true}
	firstURL := ""
	lastPage, pages := 1, 1
	for page := 1; page <= lastPage; page++ {
		u := c.gh.BaseURL.String() + fmt.Sprintf("repos/%s/%s/releases?page=%d&per_page=100", owner, name, page)
		prev, err := lookup(u)
		if err != nil {
			return tracker.ReleasePages{}, err
		}
		if page == 1 {
			firstURL = u
			pages = max(prev.Pages, 1)
			if q.Full {
				lastPage = pages
			}
		}
		opts := &gogithub.ListOptions{Page: page, PerPage: 100}
		rels, resp, err := c.gh.Repositories.ListReleases(fetch.WithValidator(ctx, prev), owner, name, opts)
		if notModified(resp, err) {
			out.Validators[u] = prev
			continue
		}
		if err != nil {
			return tracker.ReleasePages{}, c.describe(fmt.Sprintf("listing releases of %s (page %d)", repo, page), resp, err)
		}
		out.NotModified = false
		out.Validators[u] = fetch.ValidatorOf(resp.Header)
		switch {
		case page == 1 && resp.LastPage > 0:
			pages = resp.LastPage
		case page == 1 && resp.NextPage == 0:
			pages = 1 // the list may have shrunk
		case resp.NextPage == 0 && resp.LastPage == 0:
			pages = page
		}
		allNew := true
		for _, r := range rels {
			if r.GetDraft() {
				continue
			}
			allNew = allNew && (q.Known == nil || !q.Known(r.GetTagName()))
			out.Releases = append(out.Releases, toAKSRelease(repo, r))
		}
		switch {
		case q.Full && resp.NextPage > 0:
			lastPage = max(lastPage, resp.NextPage)
		case q.Full:
			lastPage = page // no next page: the list may have shrunk
		case allNew && len(rels) > 0 && resp.NextPage > 0:
			lastPage = resp.NextPage // more new releases than one page holds
		}
	}
	v := out.Validators[firstURL]
	v.Pages = pages
	out.Validators[firstURL] = v
	return out, nil
}

func toAKSRelease(repo string, r *gogithub.RepositoryRelease) tracker.AKSRelease {
	body := r.GetBody()
	sum := sha256.Sum256([]byte(body))
	published := r.GetPublishedAt().Time
	if published.IsZero() {
		published = r.GetCreatedAt().Time
	}
	refs := aksnotes.ParseBody(body)
	if refs == nil {
		refs = []tracker.AKSImageRef{}
	}
	return tracker.AKSRelease{
		Repo:        repo,
		Tag:         r.GetTagName(),
		Name:        r.GetName(),
		PublishedAt: published.UTC().Truncate(time.Second),
		URL:         r.GetHTMLURL(),
		NodeImages:  refs,
		BodySHA256:  hex.EncodeToString(sum[:]),
	}
}

func (c *Client) download(ctx context.Context, e tracker.NoteEntry) ([]byte, error) {
	if e.DownloadURL == "" {
		return nil, fmt.Errorf("%s: the listing gives no download_url", e.Path)
	}
	res, err := fetch.Get(ctx, c.http, e.DownloadURL, tracker.Validator{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	return res.Body, nil
}

// FetchNote implements tracker.VHDNotesSource. The note is read unconditionally: it is
// asked for only when its blob SHA is new, so a validator could never match.
func (c *Client) FetchNote(ctx context.Context, e tracker.NoteEntry) (tracker.VHDNotes, error) {
	body, err := c.download(ctx, e)
	if err != nil {
		return tracker.VHDNotes{}, err
	}
	n, err := vhdnotes.Parse(body)
	if err != nil {
		return tracker.VHDNotes{}, fmt.Errorf("%s: %w", e.Path, err)
	}
	return n, nil
}

// FetchContainerImages implements tracker.VHDNotesSource.
func (c *Client) FetchContainerImages(ctx context.Context, e tracker.NoteEntry) ([]string, error) {
	body, err := c.download(ctx, e)
	if err != nil {
		return nil, err
	}
	images, err := vhdnotes.ParseContainerImages(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	return images, nil
}

// FetchSKU implements tracker.VHDNotesSource.
func (c *Client) FetchSKU(ctx context.Context, e tracker.NoteEntry) (string, error) {
	body, err := c.download(ctx, e)
	if err != nil {
		return "", err
	}
	sku, _, err := vhdnotes.ParseImageList(body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", e.Path, err)
	}
	return sku, nil
}
