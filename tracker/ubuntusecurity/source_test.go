package ubuntusecurity_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
)

// archiveServer serves archive at /osv/osv-all.tar.xz with an ETag, as Canonical's CDN does.
func archiveServer(t *testing.T, archive []byte) *httptest.Server {
	const etag = `"osv-all-1"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/osv/osv-all.tar.xz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/x-xz")
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		w.Write(archive)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSourceConditional(t *testing.T) {
	archive := ubuntusecuritytest.Archive(t)
	srv := archiveServer(t, archive)
	// A cap far below the archive, as fetch.DefaultMaxBody is below the real one: the
	// source must lift it for its own request.
	client := &http.Client{Transport: &fetch.Transport{MaxBody: 1000}}
	src := &ubuntusecurity.Source{HTTP: client, URL: srv.URL + "/osv/osv-all.tar.xz"}
	keep := tracker.SecurityFilter{Ecosystem: only(jammy), Package: only("curl")}
	steps := []struct {
		name        string
		notModified bool
		fixes       int
		bodyBytes   int64
	}{
		{"first read downloads and reads the archive", false, 2, int64(len(archive))},
		{"second read sends the ETag back and gets 304", true, 0, 0},
	}
	v := tracker.Validator{}
	for _, step := range steps {
		var c tracker.RequestCounter
		a, err := src.Archive(tracker.WithRequestCounter(context.Background(), &c), v, keep)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if a.NotModified != step.notModified || len(a.Fixes) != step.fixes || c.BodyBytes.Load() != step.bodyBytes {
			t.Errorf("%s: not modified %v, %d fixes, %d body bytes; want %v, %d, %d", step.name,
				a.NotModified, len(a.Fixes), c.BodyBytes.Load(), step.notModified, step.fixes, step.bodyBytes)
		}
		if a.URL != src.URL || a.Validator.ETag != `"osv-all-1"` {
			t.Errorf("%s: URL %q, validator %+v", step.name, a.URL, a.Validator)
		}
		v = a.Validator
	}
	if tr := client.Transport.(*fetch.Transport); tr.MaxBody != 1000 {
		t.Errorf("the caller's transport was changed: MaxBody %d", tr.MaxBody)
	}
}

func TestSourceErrors(t *testing.T) {
	archive := ubuntusecuritytest.Archive(t)
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   []string
		status int
	}{
		{"500", func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) }, []string{"500"}, 500},
		{"404", func(w http.ResponseWriter) { http.NotFound(w, nil) }, []string{"404"}, 404},
		{"a body that is not xz", func(w http.ResponseWriter) { w.Write([]byte("<html>maintenance</html>")) }, []string{"not an xz stream"}, 0},
		{"a body cut short", func(w http.ResponseWriter) { w.Write(archive[:len(archive)/2]) }, []string{"records"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.answer(w) }))
			defer srv.Close()
			src := &ubuntusecurity.Source{HTTP: &http.Client{Transport: &fetch.Transport{}}, URL: srv.URL + "/osv/osv-all.tar.xz"}
			a, err := src.Archive(context.Background(), tracker.Validator{}, tracker.SecurityFilter{})
			if err == nil {
				t.Fatalf("no error: %+v", a)
			}
			for _, w := range append(tc.want, "ubuntu_security ("+src.URL+")") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var se *fetch.StatusError
			if got := errors.As(err, &se); got != (tc.status != 0) || got && se.StatusCode != tc.status {
				t.Errorf("error %v: a fetch.StatusError %v, want status %d", err, got, tc.status)
			}
			if a.Fixes != nil || a.NotModified {
				t.Errorf("a result came with the error: %+v", a)
			}
		})
	}
}
