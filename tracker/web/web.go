// Package web is the HTTP side of `nodewatch run`: probes, Prometheus metrics, the JSON
// API (byte for byte the JSON of the CLI's --json), an Atom feed of nodewatch's events and
// a status page.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// Every filter value is a family glob, a kernel or a version: far shorter than these.
const (
	maxQuery = 1024
	maxPath  = 512
	// maxJudgeBody bounds what POST /api/v1/pools/judge reads: the groups of a file as
	// large as `kubectl get nodes -o json` of thousands of nodes come to far less.
	maxJudgeBody = 8 << 20
)

// judgePath is the one route that takes a POST: `nodes -f` asks the daemon, which holds
// the database, to judge what it read. Judging changes nothing.
const judgePath = "/api/v1/pools/judge"

// csp allows the status page its inline style and nothing else: no scripts, fonts or
// fetches, so that upstream text that slipped through escaping still could not run.
const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

// Options is what the HTTP side reads.
type Options struct {
	Store   tracker.Store
	Metrics *Metrics // nil: /metrics answers 404
	// MaxCycleAge is how old the last cycle may be while the daemon is ready (3x the
	// schedule interval); 0 means no limit.
	MaxCycleAge time.Duration
	Now         func() time.Time // nil: time.Now
	Version     string
	// Pools judges the node pools of the watched clusters (the status page's "Your
	// clusters", /api/v1/pools and the pool metrics); nil: no pools, and the pool
	// endpoints answer [].
	Pools *tracker.PoolWatch
	// Database is the file behind Store: a damaged file makes the daemon not ready and is
	// in the metrics, and /api/v1/backup copies it. nil: neither.
	Database tracker.Database
	// AdminToken lets a client off loopback take a backup, as a bearer token; "" lets none.
	AdminToken string
}

type server struct {
	Options
}

// New returns the handler of every route. When o.Metrics is set, it also reports the
// age of the newest image of each family from o.Store at each scrape.
func New(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &server{o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	if o.Metrics != nil {
		o.Metrics.bind(o.Store, o.Now, o.Version, o.Pools, o.Database)
		mux.Handle("GET /metrics", o.Metrics.Handler())
	}
	mux.HandleFunc("GET /api/v1/images", s.images)
	mux.HandleFunc("GET /api/v1/families", s.families)
	mux.HandleFunc("GET /api/v1/flatcar", s.flatcar)
	mux.HandleFunc("GET /api/v1/aks", s.aks)
	mux.HandleFunc("GET /api/v1/show/{version}", s.show)
	mux.HandleFunc("GET /api/v1/diff", s.diff)
	mux.HandleFunc("GET /api/v1/outbox", s.outbox)
	mux.HandleFunc("GET /api/v1/pools", s.pools)
	mux.HandleFunc("GET /api/v1/pools/history", s.poolHistory)
	mux.HandleFunc("POST "+judgePath, s.judge)
	mux.HandleFunc("GET "+backupPath, s.backup)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no API endpoint "+r.URL.Path)
	})
	mux.HandleFunc("GET /feed.xml", s.feed)
	mux.HandleFunc("GET /{$}", s.page)
	return guard(mux)
}

// guard sets the headers every answer carries and turns away what no route serves:
// other methods than GET and HEAD (POST, and only POST, on judgePath), and oversized
// URLs.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		switch {
		case r.URL.Path == judgePath && r.Method != http.MethodPost:
			h.Set("Allow", "POST")
			writeText(w, http.StatusMethodNotAllowed, "method not allowed")
		case r.URL.Path != judgePath && r.Method != http.MethodGet && r.Method != http.MethodHead:
			h.Set("Allow", "GET, HEAD")
			writeText(w, http.StatusMethodNotAllowed, "method not allowed")
		case len(r.URL.RawQuery) > maxQuery || len(r.URL.Path) > maxPath:
			writeText(w, http.StatusRequestURITooLong, "URL too long")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, msg := s.readiness()
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeText(w, status, msg)
}

// readiness says whether the daemon is ready, on one line: why not, or "ok" and the
// sources that failed in the last cycle while others did not (a cluster whose API
// server refuses, a feed that is down), which a person should know of.
func (s *server) readiness() (bool, string) {
	if s.Database != nil {
		if c := s.Database.LastCheck(); !c.Sound() {
			return false, oneLine(fmt.Sprintf("database %s is damaged (%s); it is not written: restore a backup", c.Path, strings.Join(c.Problems, "; ")))
		}
	}
	c, ok, err := s.Store.LastCycle()
	switch {
	case err != nil:
		return false, "cannot read the last cycle: " + oneLine(err.Error())
	case !ok:
		return false, "no cycle yet"
	}
	if age := s.Now().Sub(c.Finished); s.MaxCycleAge > 0 && age > s.MaxCycleAge {
		return false, fmt.Sprintf("last cycle %s ago, more than %s", since(age), since(s.MaxCycleAge))
	}
	var failures []string
	for _, src := range c.Sources {
		if src.Failed() {
			failures = append(failures, src.Source+": "+strings.Join(src.Errors, "; "))
		}
	}
	switch {
	case len(failures) == 0:
		return true, "ok"
	case len(failures) == len(c.Sources):
		return false, "every source failed in the last cycle: " + oneLine(strings.Join(failures, "; "))
	}
	return true, oneLine(fmt.Sprintf("ok; %d of %d sources failed in the last cycle: %s", len(failures), len(c.Sources), strings.Join(failures, "; ")))
}

// notReady says why the daemon is not ready, or "" when it is: the status page's banner.
func (s *server) notReady() string {
	if ok, msg := s.readiness(); !ok {
		return msg
	}
	return ""
}

func (s *server) views() ([]tracker.ImageView, error) {
	images, err := s.Store.Images("")
	if err != nil {
		return nil, err
	}
	releases, err := s.Store.FlatcarReleases("")
	if err != nil {
		return nil, err
	}
	return tracker.ListImages(images, releases), nil
}

func (s *server) images(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	views, err := s.views()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	f := tracker.ImageFilter{Family: q.Get("family"), Kernel: q.Get("kernel"), OSVersion: q.Get("os_version")}
	writeJSON(w, http.StatusOK, tracker.FilterImages(views, f))
}

// families answers every family at a glance, in the status page's order: its newest
// image, AKS name, cadence and whether it fell quiet.
func (s *server) families(w http.ResponseWriter, _ *http.Request) {
	images, err := s.Store.Images("")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, tracker.FamilyStatuses(images))
}

func (s *server) flatcar(w http.ResponseWriter, r *http.Request) {
	rs, err := s.Store.FlatcarReleases(r.URL.Query().Get("channel"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if rs == nil {
		rs = []tracker.FlatcarRelease{}
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *server) aks(w http.ResponseWriter, _ *http.Request) {
	rs, err := s.Store.AKSReleases("")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if rs == nil {
		rs = []tracker.AKSRelease{}
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *server) show(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	found, err := tracker.Show(s.Store, version)
	var nameErr *tracker.NameError
	switch {
	case errors.As(err, &nameErr):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case found.Empty() && found.Name != nil:
		writeJSON(w, http.StatusNotFound, found) // the name, and why no family has it
	case found.Empty():
		writeError(w, http.StatusNotFound, fmt.Sprintf("nothing of version %q is known", version))
	default:
		writeJSON(w, http.StatusOK, found)
	}
}

// diff answers `nodewatch diff`: /api/v1/diff?family=F&from=A&to=B.
func (s *server) diff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, err := tracker.Diff(s.Store, q.Get("family"), q.Get("from"), q.Get("to"))
	switch {
	case errors.Is(err, tracker.ErrNoDiff):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func (s *server) outbox(w http.ResponseWriter, _ *http.Request) {
	ds, err := s.undelivered()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

// pools answers every pool of every watched cluster, judged now: the JSON of
// `nodes --json`.
func (s *server) pools(w http.ResponseWriter, _ *http.Request) {
	pools := []tracker.NodePool{}
	if s.Pools != nil {
		pools, _ = s.Pools.Pools()
	}
	writeJSON(w, http.StatusOK, pools)
}

// poolHistory answers when each pool was first seen on each image: ?pool=cluster/pool,
// a bare pool name (in any cluster), or every pool without it.
func (s *server) poolHistory(w http.ResponseWriter, r *http.Request) {
	all, err := s.Store.PoolImages("")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if pool := r.URL.Query().Get("pool"); pool != "" {
		all = tracker.PoolHistory(all, pool)
	}
	if all == nil {
		all = []tracker.PoolImage{}
	}
	writeJSON(w, http.StatusOK, all)
}

// judge judges the pool groups of the body ([]tracker.PoolGroup) against the fleet, as
// `nodes -f` would against the store the daemon holds.
func (s *server) judge(w http.ResponseWriter, r *http.Request) {
	if s.Pools == nil {
		writeError(w, http.StatusServiceUnavailable, "this daemon judges no pools")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJudgeBody))
	var groups []tracker.PoolGroup
	err := dec.Decode(&groups)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is more than %d bytes", tooLarge.Limit))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "the body is not a JSON array of pool groups: "+oneLine(err.Error()))
		return
	}
	pools, err := s.Pools.Judge(groups)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the history: "+oneLine(err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, pools)
}

// undelivered lists the deliveries still pending or given up.
func (s *server) undelivered() ([]tracker.Delivery, error) {
	all, err := s.Store.Deliveries()
	if err != nil {
		return nil, err
	}
	out := []tracker.Delivery{}
	for _, d := range all {
		if d.State != tracker.DeliveryDelivered {
			out = append(out, d)
		}
	}
	return out, nil
}

// writeJSON encodes v as the CLI's writeJSON does, so that the API and `--json` agree
// byte for byte.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// oneLine keeps a probe's answer on one line whatever an upstream error says.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// since is a duration as a person says it: 45s, 12m, 5h, 3d.
func since(d time.Duration) string {
	d = max(d, 0) // a clock that stepped back
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
