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

// BenchmarkShowQuery is `show` without the process around it, over the full scale
// history: a version every family has, and an image by the name AKS gives it, of Azure
// Linux and of Ubuntu (answered here by the family's 10 and 30 copies).
func BenchmarkShowQuery(b *testing.B) {
	db, _, _ := backfilled(b, func(srv *upstreamtest.Server) { serveArchive(b, srv) })
	defer db.Close()
	for _, query := range []string{"202605.27.0", "AKSAzureLinux-V3gen2-202508.20.1", "AKSUbuntu-2404gen2containerd-202605.27.0"} {
		b.Run(query, func(b *testing.B) {
			var images int
			for b.Loop() {
				found, err := tracker.Show(db, query)
				if err != nil {
					b.Fatal(err)
				}
				images = len(found.Images)
			}
			if images == 0 {
				b.Fatalf("show %s found no image", query)
			}
			b.ReportMetric(float64(images), "images")
		})
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
