package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

func server(t *testing.T) *upstreamtest.Server {
	t.Helper()
	s, err := upstreamtest.New(trackertest.World(t, "2026-05-31"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConditionalGet(t *testing.T) {
	s := server(t)
	client := &http.Client{Transport: &fetch.Transport{UserAgent: "nodewatch-test"}}
	var c tracker.RequestCounter
	ctx := tracker.WithRequestCounter(context.Background(), &c)
	url := s.FlatcarURL() + "/releases-feed/releases-alpha.xml"

	first, err := fetch.Get(ctx, client, url, tracker.Validator{})
	if err != nil || first.NotModified || len(first.Body) == 0 || first.Validator.ETag == "" || first.Validator.LastModified == "" {
		t.Fatalf("first GET: %v %+v", err, first.Validator)
	}
	for _, v := range []tracker.Validator{first.Validator, {LastModified: first.Validator.LastModified}} {
		again, err := fetch.Get(ctx, client, url, v)
		if err != nil || !again.NotModified || again.Body != nil || again.Validator != v {
			t.Errorf("GET with %+v: %v, not modified %v", v, err, again.NotModified)
		}
	}
	if c.Requests.Load() != 3 || c.NotModified.Load() != 2 || c.BodyBytes.Load() != int64(len(first.Body)) {
		t.Errorf("counted %d requests, %d 304, %d bytes; want 3, 2, %d", c.Requests.Load(), c.NotModified.Load(), c.BodyBytes.Load(), len(first.Body))
	}
}

func TestBodyCapAndStatus(t *testing.T) {
	s := server(t)
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasSuffix(r.URL.Path, "releases-beta.xml"):
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	url := s.FlatcarURL() + "/releases-feed/releases-alpha.xml"
	capped := &http.Client{Transport: &fetch.Transport{MaxBody: 1000}}
	if _, err := fetch.Get(context.Background(), capped, url, tracker.Validator{}); !errors.Is(err, fetch.ErrBodyTooLarge) || !strings.Contains(err.Error(), url) {
		t.Errorf("a body over the cap: %v", err)
	}
	var c tracker.RequestCounter
	ctx := tracker.WithRequestCounter(context.Background(), &c)
	_, err := fetch.Get(ctx, &http.Client{Transport: &fetch.Transport{}}, s.FlatcarURL()+"/releases-feed/releases-beta.xml", tracker.Validator{})
	if c.Requests.Load() != 1 || c.Failed.Load() != 1 {
		t.Errorf("a 503 counted as %d requests, %d failed", c.Requests.Load(), c.Failed.Load())
	}
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.RetryAfter != 2*time.Minute {
		t.Errorf("503 with Retry-After: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0}, {"30", 30 * time.Second}, {"-5", 0}, {"soon", 0},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), time.Hour},
	} {
		got := fetch.RetryAfter(http.Header{"Retry-After": {c.header}})
		if got > c.want || got < c.want-2*time.Second {
			t.Errorf("Retry-After %q: %v, want %v", c.header, got, c.want)
		}
	}
}
