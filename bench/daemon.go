package bench

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// txid is the id of the last write transaction committed to a bbolt file, read from its
// two meta pages (bbolt alternates them): counting writes from outside the process.
func txid(tb testing.TB, path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var newest uint64
	// A meta page: a 16-byte page header, then magic, version, page size, flags (4 bytes
	// each), the root bucket (16), the freelist and high-water page ids (8 each), txid.
	const txidAt = 16 + 4*4 + 16 + 8 + 8
	buf := make([]byte, 8)
	for _, page := range []int64{0, 1} {
		pageSize := int64(os.Getpagesize())
		if _, err := f.ReadAt(buf, page*pageSize+txidAt); err != nil {
			tb.Fatal(err)
		}
		newest = max(newest, binary.LittleEndian.Uint64(buf))
	}
	return newest
}

func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(tb testing.TB, base string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatal("the daemon never became ready")
}

// fetchTime is how long one GET of url takes to its last byte.
func fetchTime(tb testing.TB, url string) time.Duration {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return time.Since(start)
}
