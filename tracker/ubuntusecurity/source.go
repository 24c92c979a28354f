package ubuntusecurity

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
)

// DefaultURL is where Canonical publishes the archive.
const DefaultURL = "https://security-metadata.canonical.com/osv/osv-all.tar.xz"

// MaxArchive bounds the download. fetch.Transport caps every body at
// fetch.DefaultMaxBody (32 MB) unless told otherwise, which suits notes and feeds but
// not this archive (tens of MB compressed, and growing with every notice); a GB still
// stops a broken or hostile server from streaming forever.
const MaxArchive = 1 << 30

// Source reads osv-all.tar.xz from URL (DefaultURL, a mirror, or a test server). HTTP
// should use a *fetch.Transport, for validators and counting; its body cap is raised to
// MaxArchive for this request alone.
type Source struct {
	HTTP *http.Client
	URL  string
}

var _ tracker.UbuntuSecuritySource = (*Source)(nil)

// Archive implements tracker.UbuntuSecuritySource: a conditional GET with v's
// validators, and on 200 the body streamed through Read as it arrives (fetch.Get would
// hold the whole archive in memory first).
func (s *Source) Archive(ctx context.Context, v tracker.Validator, keep tracker.SecurityFilter) (tracker.SecurityArchive, error) {
	out := tracker.SecurityArchive{URL: s.URL}
	req, err := http.NewRequestWithContext(fetch.WithValidator(ctx, v), http.MethodGet, s.URL, nil)
	if err != nil {
		return out, s.errorf("%w", err)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return out, s.errorf("%w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		out.NotModified, out.Validator = true, v
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return out, s.errorf("%w", &fetch.StatusError{URL: s.URL, StatusCode: resp.StatusCode, RetryAfter: fetch.RetryAfter(resp.Header)})
	}
	a, err := Read(resp.Body, keep)
	if err != nil {
		return out, s.errorf("%w", err)
	}
	a.URL, a.Validator = s.URL, fetch.ValidatorOf(resp.Header)
	return a, nil
}

func (s *Source) errorf(format string, args ...any) error {
	return fmt.Errorf("ubuntu_security (%s): "+format, append([]any{s.URL}, args...)...)
}

// client is s.HTTP with a fetch.Transport's body cap raised to MaxArchive: a shallow
// copy, so the Base transport (its connections) and the counting are shared, and other
// sources keep their cap.
func (s *Source) client() *http.Client {
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	t, ok := hc.Transport.(*fetch.Transport)
	if !ok || t.MaxBody >= MaxArchive {
		return hc
	}
	raised := *t
	raised.MaxBody = MaxArchive
	c := *hc
	c.Transport = &raised
	return &c
}
