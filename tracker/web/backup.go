package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// backupPath copies the database: only to loopback clients (`nodewatch db backup` beside
// the daemon, `kubectl port-forward`), or to one sending the admin token. The file holds
// the team's pools.
const backupPath = "/api/v1/backup"

// backupWriteTimeout bounds how long a client may take to read a copy.
const backupWriteTimeout = 10 * time.Minute

// backup answers a consistent copy of the database. The copy is taken to a temporary file
// first, so that a slow client holds no transaction open.
func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	if status, why := s.mayBackup(r); status != http.StatusOK {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nodewatch"`)
		}
		writeError(w, status, why)
		return
	}
	if s.Database == nil {
		writeError(w, http.StatusNotFound, "no database to copy")
		return
	}
	f, err := s.Database.Snapshot()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, oneLine(err.Error()))
		return
	}
	defer f.Close()
	// The server's write timeout is for answers of a page; a copy of the whole file over a
	// port-forward may take longer.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="nodewatch-`+s.Now().UTC().Format("20060102T150405Z")+`.db"`)
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// mayBackup is http.StatusOK for a client on loopback, or one whose bearer token is the
// admin token; otherwise the status to answer and why.
func (s *server) mayBackup(r *http.Request) (int, string) {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
			return http.StatusOK, ""
		}
	}
	if s.AdminToken == "" {
		return http.StatusForbidden, backupPath + " answers loopback clients only; set http.admin_token to let others in with it as a bearer token"
	}
	// The scheme is case-insensitive (RFC 7235, section 2.1); the token is not.
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) != 1 {
		return http.StatusUnauthorized, backupPath + " answers a client off loopback only with http.admin_token as its bearer token"
	}
	return http.StatusOK, ""
}
