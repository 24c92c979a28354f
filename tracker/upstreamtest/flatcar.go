package upstreamtest

import (
	"errors"
	"io/fs"
	"net/http"
	"strings"
)

// serveFlatcar answers www.flatcar.org's `GET /{dir}/releases-{channel}{ext}` from flatcar/{dir}/.
func (s *Server) serveFlatcar(dir, ext, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		channel := strings.TrimSuffix(strings.TrimPrefix(file, "releases-"), ext)
		rel := "flatcar/" + dir + "/" + file
		if file != "releases-"+channel+ext || channel == "" || !fs.ValidPath(rel) {
			http.NotFound(w, r)
			return
		}
		snap := s.snap.Load()
		b, err := snap.file(rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			http.NotFound(w, r)
			return
		case err != nil:
			serverError(w, err)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
		serve(w, r, representation{
			contentType:  contentType,
			etag:         `"` + b.sha256 + `"`,
			lastModified: snap.lastModified(rel),
			body:         b,
		})
	}
}
