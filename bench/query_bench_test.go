package bench

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// BenchmarkImagesQuery is `images --json` without the process around it, over the full
// scale history: read every image and release, link them, mark quiet families, print.
func BenchmarkImagesQuery(b *testing.B) {
	db, _, _ := backfilled(b, func(srv *upstreamtest.Server) { srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(b)) })
	defer db.Close()
	for b.Loop() {
		images, err := db.Images("")
		if err != nil {
			b.Fatal(err)
		}
		releases, err := db.FlatcarReleases("")
		if err != nil {
			b.Fatal(err)
		}
		if err := json.NewEncoder(io.Discard).Encode(tracker.ListImages(images, releases)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdInProcess is the cold backfill of BenchmarkFullScale in one process, for
// profiles (-cpuprofile): the server's work shows apart from the tracker's.
func BenchmarkColdInProcess(b *testing.B) {
	world, _, _, _ := scaleWorld(b)
	srv, err := upstreamtest.New(world)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.SetUbuntuSecurity(ubuntusecuritytest.Archive(b))
	for b.Loop() {
		b.StopTimer()
		db, err := storage.Open(filepath.Join(b.TempDir(), "nodewatch.db"), storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tr := trackertest.Wire(b, srv, db, nil, tracker.FirstRunSilent, "*")
		b.StartTimer()
		if _, _, err := tr.Cycle(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}
