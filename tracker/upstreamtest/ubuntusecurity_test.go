package upstreamtest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
)

func TestUbuntuSecurity(t *testing.T) {
	s := newServer(t, "2026-05-31")
	src := &ubuntusecurity.Source{HTTP: &http.Client{Transport: &fetch.Transport{}}, URL: s.UbuntuSecurityURL()}
	keep := tracker.SecurityFilter{Package: func(name string) bool { return name == "curl" }}
	read := func(v tracker.Validator) (tracker.SecurityArchive, error) {
		return src.Archive(context.Background(), v, keep)
	}

	if _, err := read(tracker.Validator{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("before SetUbuntuSecurity: %v, want a 404", err)
	}

	curl := ubuntusecuritytest.Archive(t, "osv/usn/USN-7162-1.json")
	s.SetUbuntuSecurity(curl)
	s.ResetStats()
	first, err := read(tracker.Validator{})
	if err != nil {
		t.Fatal(err)
	}
	if first.NotModified || len(first.Fixes) != 3 || first.Validator.ETag == "" || first.Validator.LastModified == "" {
		t.Fatalf("first read: not modified %v, %d fixes, validator %+v; want 200, 3 fixes, ETag and Last-Modified",
			first.NotModified, len(first.Fixes), first.Validator)
	}
	if st := s.Stats(); st.BodyBytes != int64(len(curl)) {
		t.Errorf("first read: %d body bytes, want the archive's %d", st.BodyBytes, len(curl))
	}

	// Each validator alone holds, and SetWorld does not drop the archive.
	if err := s.SetWorld(worldDir(t, "2026-04-30")); err != nil {
		t.Fatal(err)
	}
	s.SetUbuntuSecurity(curl) // the same bytes: the same validators
	s.ResetStats()
	for _, v := range []tracker.Validator{first.Validator, {ETag: first.Validator.ETag}, {LastModified: first.Validator.LastModified}} {
		again, err := read(v)
		if err != nil {
			t.Fatal(err)
		}
		if !again.NotModified || again.Fixes != nil || again.Validator != v {
			t.Errorf("read with %+v: not modified %v, %d fixes, validator %+v; want 304 and the same validator", v, again.NotModified, len(again.Fixes), again.Validator)
		}
	}
	if st := s.Stats(); st.NotModified != 3 || st.BodyBytes != 0 {
		t.Errorf("%d 304s and %d body bytes, want 3 and none", st.NotModified, st.BodyBytes)
	}

	// New bytes: a new ETag, and a Last-Modified later than the old one, so that
	// If-Modified-Since alone sees the change too.
	s.SetUbuntuSecurity(ubuntusecuritytest.Archive(t))
	for _, v := range []tracker.Validator{{ETag: first.Validator.ETag}, {LastModified: first.Validator.LastModified}} {
		changed, err := read(v)
		if err != nil {
			t.Fatal(err)
		}
		if changed.NotModified || changed.Validator.ETag == first.Validator.ETag || changed.Validator.LastModified == first.Validator.LastModified {
			t.Errorf("after a change, read with %+v: not modified %v, validator %+v", v, changed.NotModified, changed.Validator)
		}
	}

	s.SetUbuntuSecurity(nil)
	if _, err := read(tracker.Validator{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("after SetUbuntuSecurity(nil): %v, want a 404", err)
	}
}
