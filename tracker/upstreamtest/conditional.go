package upstreamtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// representation is one response body with the validators a client may send back.
type representation struct {
	contentType  string
	etag         string
	lastModified time.Time // zero: no Last-Modified
	body         *blob
}

// notModified applies RFC 9110's rules for GET: If-None-Match, when sent, decides alone
// (weak comparison, a list of tags, or "*"); otherwise If-Modified-Since.
func notModified(r *http.Request, rep representation) bool {
	if inm := strings.Join(r.Header.Values("If-None-Match"), ","); strings.TrimSpace(inm) != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || opaqueTag(tag) == opaqueTag(rep.etag) && opaqueTag(tag) != "" {
				return true
			}
		}
		return false
	}
	if rep.lastModified.IsZero() {
		return false
	}
	since, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !rep.lastModified.Truncate(time.Second).After(since)
}

// opaqueTag is an entity tag without its weakness marker, "" when it is malformed.
func opaqueTag(tag string) string {
	tag = strings.TrimPrefix(tag, "W/")
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.Contains(tag[1:len(tag)-1], `"`) {
		return ""
	}
	return tag
}

// serve answers r with rep, or with 304 and no body when r's validators match it; a
// body on disk is read only when it is sent.
func serve(w http.ResponseWriter, r *http.Request, rep representation) {
	if notModified(r, rep) {
		setValidators(w.Header(), rep)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var body []byte
	size := rep.body.size
	if r.Method != http.MethodHead {
		var err error
		if body, err = rep.body.bytes(); err != nil {
			http.Error(w, "upstreamtest: "+err.Error(), http.StatusInternalServerError)
			return
		}
		size = int64(len(body))
	}
	h := w.Header()
	setValidators(h, rep)
	h.Set("Content-Type", rep.contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func setValidators(h http.Header, rep representation) {
	h.Set("ETag", rep.etag)
	if !rep.lastModified.IsZero() {
		h.Set("Last-Modified", rep.lastModified.UTC().Format(http.TimeFormat))
	}
}
