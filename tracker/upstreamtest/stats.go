package upstreamtest

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Kind is which upstream a request was meant for.
type Kind string

const (
	KindGitHubAPI Kind = "github_api" // /api/v3/...
	KindRaw       Kind = "raw"        // /raw/... (raw.githubusercontent.com)
	KindFlatcar   Kind = "flatcar"    // /releases-feed/..., /releases-json/...
	KindOther     Kind = "other"
)

func kindOf(urlPath string) Kind {
	switch {
	case strings.HasPrefix(urlPath, "/api/v3/"):
		return KindGitHubAPI
	case strings.HasPrefix(urlPath, "/raw/"):
		return KindRaw
	case strings.HasPrefix(urlPath, "/releases-feed/"), strings.HasPrefix(urlPath, "/releases-json/"):
		return KindFlatcar
	}
	return KindOther
}

// Stats counts what the server answered since it started or since the last ResetStats.
type Stats struct {
	Requests    int
	ByStatus    map[int]int
	NotModified int   // 304 responses
	BodyBytes   int64 // response bodies only, headers excluded
	ByKind      map[Kind]int
}

// Stats returns a copy of the counts.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	c := s.stats.counts
	c.ByStatus = maps.Clone(c.ByStatus)
	c.ByKind = maps.Clone(c.ByKind)
	return c
}

// ResetStats starts the counts again from zero.
func (s *Server) ResetStats() {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	s.stats.counts = Stats{}
}

type statsRecorder struct {
	mu     sync.Mutex
	counts Stats
}

func (st *statsRecorder) begin(w http.ResponseWriter, kind Kind) *recordingWriter {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counts.Requests++
	if st.counts.ByKind == nil {
		st.counts.ByKind = map[Kind]int{}
	}
	st.counts.ByKind[kind]++
	return &recordingWriter{ResponseWriter: w, stats: st}
}

func (st *statsRecorder) status(code int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.counts.ByStatus == nil {
		st.counts.ByStatus = map[int]int{}
	}
	st.counts.ByStatus[code]++
	if code == http.StatusNotModified {
		st.counts.NotModified++
	}
}

func (st *statsRecorder) body(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counts.BodyBytes += int64(n)
}

// recordingWriter counts a response before passing it on, so that a client holding
// the whole response always finds it in Stats.
type recordingWriter struct {
	http.ResponseWriter
	stats       *statsRecorder
	wroteHeader bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		w.stats.status(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.stats.body(len(p))
	n, err := w.ResponseWriter.Write(p)
	if n < len(p) {
		w.stats.body(n - len(p))
	}
	return n, err
}

// Unwrap lets a fault hook reach the connection through http.NewResponseController.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// end counts a response that wrote nothing as net/http sends it: 200 with no body.
// A connection a fault hook hijacked sends no status, and none is counted.
func (w *recordingWriter) end() {
	if w.wroteHeader {
		return
	}
	if _, err := w.ResponseWriter.Write(nil); !errors.Is(err, http.ErrHijacked) {
		w.stats.status(http.StatusOK)
	}
}
