// Package trackertest runs nodewatch's real pipeline over the real fixture snapshots in
// ../shared/fixtures, for the tests of every package that needs real history: a local
// upstream server, a bbolt store in a temporary directory, and the tracker between them.
package trackertest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
	"github.com/nodewatch/nodewatch/tracker/github"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// NotesDir is where a snapshot keeps the VHD notes families.
const NotesDir = "github/Azure/AgentBaker/vhdbuilder/release-notes"

var (
	// Families are the VHD notes families the snapshots hold.
	Families = []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", "AKSAzureLinuxV3/gen2", "AKSUbuntu/gen2/2404containerd"}
	// Channels are Flatcar's channels.
	Channels = []string{"alpha", "beta", "stable", "lts"}
)

// Fixtures finds shared/fixtures beside the repository, walking up from the test's
// package directory.
func Fixtures(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "..", "shared", "fixtures")
		if _, err := os.Stat(filepath.Join(p, "README.md")); err == nil {
			return p
		}
	}
	t.Fatal("no shared/fixtures beside the repository")
	return ""
}

// World is the snapshot of one day: "2026-02-11", "2026-04-30" or "2026-05-31".
func World(t testing.TB, date string) string { return filepath.Join(Fixtures(t), "world-"+date) }

// Rig is the pipeline: Server serves a snapshot, Tracker reads it into DB.
type Rig struct {
	Server  *upstreamtest.Server
	DB      *storage.DB
	Tracker *tracker.Tracker
}

// NewRig serves the snapshot of date to a tracker over an empty store, watching families
// (all of Families when none are given) and every channel.
func NewRig(t testing.TB, date string, firstRun tracker.FirstRun, families ...string) *Rig {
	t.Helper()
	return NewRigOf(t, World(t, date), firstRun, families...)
}

// NewRigOf is NewRig over any world directory (testdata/world-later, say).
func NewRigOf(t testing.TB, worldDir string, firstRun tracker.FirstRun, families ...string) *Rig {
	t.Helper()
	srv, err := upstreamtest.New(worldDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(t)) // real records
	db, err := storage.Open(filepath.Join(t.TempDir(), "nodewatch.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Rig{Server: srv, DB: db, Tracker: Wire(t, srv, db, nil, firstRun, families...)}
}

// Wire connects a tracker to srv and store through hc (nil: a plain fetch.Transport), as
// cmd/nodewatch does for the real sources.
func Wire(t testing.TB, srv *upstreamtest.Server, store tracker.Store, hc *http.Client, firstRun tracker.FirstRun, families ...string) *tracker.Tracker {
	t.Helper()
	if len(families) == 0 {
		families = Families
	}
	if hc == nil {
		hc = &http.Client{Transport: &fetch.Transport{}}
	}
	gh, err := github.New(hc, srv.GitHubAPIURL(), "", github.NotesLocation{Repo: "Azure/AgentBaker", Ref: "master", Path: "vhdbuilder/release-notes"})
	if err != nil {
		t.Fatal(err)
	}
	return &tracker.Tracker{
		Store: store, Notes: gh, AKS: gh, Flatcar: &flatcar.Source{HTTP: hc, BaseURL: srv.FlatcarURL(), Format: flatcar.FormatFeed},
		Families: families, AKSRepo: "Azure/AKS", Channels: Channels, FirstRun: firstRun, NoteFetches: 8,
		UbuntuSecurity: &ubuntusecurity.Source{HTTP: hc, URL: srv.UbuntuSecurityURL()}, UbuntuSecurityURL: srv.UbuntuSecurityURL(),
	}
}

// Cycle runs one cycle, failing the test if the store fails.
func (r *Rig) Cycle(t testing.TB) (tracker.CycleReport, []tracker.Event) {
	t.Helper()
	rep, events, err := r.Tracker.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep, events
}

// LeaveBehind withholds the May snapshot's three new notes of AKSFlatcar/gen2arm64, so
// that the family stops at 202604.24.0 while every other family ships: a family that
// falls quiet, from real files. It lasts until the next Move.
func (r *Rig) LeaveBehind() {
	for _, v := range []string{"202605.05.1", "202605.14.0", "202605.27.0"} {
		r.Server.Override(NotesDir+"/AKSFlatcar/gen2arm64/"+v+".txt", nil)
	}
}

// Move serves the snapshot of another day.
func (r *Rig) Move(t testing.TB, date string) {
	t.Helper()
	if err := r.Server.SetWorld(World(t, date)); err != nil {
		t.Fatal(err)
	}
}

// ProcStatusMB reads one memory figure of a process from /proc/PID/status (VmRSS,
// VmHWM, RssAnon, RssFile), in MB: how the benchmarks measure a daemon from outside.
func ProcStatusMB(tb testing.TB, pid int, key string) float64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// Ubuntu2404 is the family whose real history the pool tests run their nodes on.
const Ubuntu2404 = "AKSUbuntu/gen2/2404containerd"

// History is a family's stored images in version order, failing the test unless there
// are at least min of them and they are named (their sku is known): what node pools run.
func (r *Rig) History(t testing.TB, family string, min int) []tracker.NodeImage {
	t.Helper()
	images, err := r.DB.Images(family)
	if err != nil {
		t.Fatal(err)
	}
	images = tracker.SortImages(images)
	if len(images) < max(min, 1) || images[0].SKU == "" {
		t.Fatalf("%s: %d stored images; the test needs %d or more, named", family, len(images), min)
	}
	return images
}

// NameOf is an image's name as AKS prints it (a node's label, az's nodeImageVersion).
func NameOf(im tracker.NodeImage) string {
	return tracker.NodeImageVersion(im.Family, im.SKU, im.Version)
}
