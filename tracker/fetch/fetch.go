// Package fetch is nodewatch's HTTP layer: conditional requests from stored validators,
// a cap on body size, and per-source counting of requests, 304s and body bytes. Both the
// go-github client and plain GETs (raw notes, Flatcar feeds) go through its Transport, so
// the rules hold for every source alike.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// DefaultMaxBody is larger than any real upstream body (the largest VHD note is ~300 KB,
// a Flatcar feed ~1 MB, a GitHub page of 100 releases ~2 MB) and small enough that a
// hostile or broken server cannot exhaust memory.
const DefaultMaxBody = 32 << 20

// ErrBodyTooLarge is returned while reading a body past the cap.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")

type ctxKey int

const validatorKey ctxKey = iota

// WithValidator makes the Transport send v's conditions with the request made with ctx.
// go-github v66 has no ETag support, so this is how its calls become conditional.
func WithValidator(ctx context.Context, v tracker.Validator) context.Context {
	return context.WithValue(ctx, validatorKey, v)
}

// Transport adds validators and counting to every request, and caps bodies.
type Transport struct {
	Base      http.RoundTripper // http.DefaultTransport when nil
	MaxBody   int64             // DefaultMaxBody when 0
	UserAgent string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	v, _ := ctx.Value(validatorKey).(tracker.Validator)
	if !v.IsZero() || t.UserAgent != "" {
		req = req.Clone(ctx) // a RoundTripper must not modify the caller's request
		switch {
		case v.ETag != "":
			req.Header.Set("If-None-Match", v.ETag)
		case v.LastModified != "":
			req.Header.Set("If-Modified-Since", v.LastModified)
		}
		if t.UserAgent != "" {
			req.Header.Set("User-Agent", t.UserAgent)
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	c := tracker.RequestCounterFrom(ctx)
	if c != nil {
		c.Requests.Add(1)
	}
	if err != nil {
		if c != nil {
			c.Failed.Add(1)
		}
		return nil, err
	}
	if c != nil {
		switch {
		case resp.StatusCode == http.StatusNotModified:
			c.NotModified.Add(1)
		case resp.StatusCode >= 400:
			c.Failed.Add(1)
		}
	}
	max := t.MaxBody
	if max == 0 {
		max = DefaultMaxBody
	}
	resp.Body = &cappedBody{rc: resp.Body, left: max, counter: c}
	return resp, nil
}

type cappedBody struct {
	rc      io.ReadCloser
	left    int64
	counter *tracker.RequestCounter
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the cap from a larger one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.counter != nil {
		b.counter.BodyBytes.Add(int64(n))
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// ValidatorOf returns the validators a response carries.
func ValidatorOf(h http.Header) tracker.Validator {
	return tracker.Validator{ETag: h.Get("ETag"), LastModified: h.Get("Last-Modified")}
}

// StatusError is a non-2xx answer to a plain GET.
type StatusError struct {
	URL        string
	StatusCode int
	RetryAfter time.Duration // from Retry-After, when the server sent one
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Result is the outcome of a conditional GET.
type Result struct {
	Body        []byte
	Validator   tracker.Validator
	NotModified bool
}

// Get makes a conditional GET through client (whose Transport should be a *Transport).
func Get(ctx context.Context, client *http.Client, url string, v tracker.Validator) (Result, error) {
	req, err := http.NewRequestWithContext(WithValidator(ctx, v), http.MethodGet, url, nil)
	if err != nil {
		return Result{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		_, _ = io.Copy(io.Discard, resp.Body)
		return Result{NotModified: true, Validator: v}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return Result{}, &StatusError{URL: url, StatusCode: resp.StatusCode, RetryAfter: RetryAfter(resp.Header)}
	}
	body, err := readBody(resp)
	if err != nil {
		return Result{}, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	return Result{Body: body, Validator: ValidatorOf(resp.Header)}, nil
}

// readBody reads a body into one buffer of the size the server announced, where it did:
// io.ReadAll grows its buffer by copying, which for 125 MB of notes was a tenth of a cold
// backfill's time and most of its garbage. A body shorter than announced is an error.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > DefaultMaxBody {
		return io.ReadAll(resp.Body)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date; 0 when absent.
func RetryAfter(h http.Header) time.Duration {
	s := h.Get("Retry-After")
	if s == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(s, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
