package upstreamtest

import (
	"net/http"
	"time"
)

// SetUbuntuSecurity serves archive (an osv-all.tar.xz) at UbuntuSecurityURL, as
// security-metadata.canonical.com does, until it is set again; nil serves 404 again.
// The ETag is the archive's SHA-256; Last-Modified stays while the bytes stay and moves
// forward when they change, so that If-Modified-Since agrees with the ETag. It lasts
// across SetWorld: Canonical's data is not part of a world directory.
func (s *Server) SetUbuntuSecurity(archive []byte) {
	s.mu.Lock() // orders sets, so that each sees the one before it
	defer s.mu.Unlock()
	if archive == nil {
		s.osv.Store(nil)
		return
	}
	b := newBlob(archive)
	rep := &representation{
		contentType:  "application/x-xz",
		etag:         `"` + b.sha256 + `"`,
		lastModified: time.Now().UTC().Truncate(time.Second),
		body:         b,
	}
	if prev := s.osv.Load(); prev != nil {
		switch {
		case prev.body.sha256 == b.sha256:
			rep.lastModified = prev.lastModified
		case !rep.lastModified.After(prev.lastModified):
			rep.lastModified = prev.lastModified.Add(time.Second)
		}
	}
	s.osv.Store(rep)
}

// UbuntuSecurityURL is the sources.ubuntu_security url: {base}/osv/osv-all.tar.xz.
func (s *Server) UbuntuSecurityURL() string { return s.http.URL + "/osv/osv-all.tar.xz" }

// serveUbuntuSecurity answers `GET /osv/osv-all.tar.xz`: 404 until SetUbuntuSecurity.
func (s *Server) serveUbuntuSecurity(w http.ResponseWriter, r *http.Request) {
	rep := s.osv.Load()
	if rep == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
	serve(w, r, *rep)
}
