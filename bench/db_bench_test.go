package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// Pools of the full-scale database: each runs, in turn, the last images of a family.
const (
	dbPools       = 300
	dbPoolHistory = 10
)

// fullScaleDB is the every-family database the issue "A database you can trust" measures:
// the full-scale history read whole (packages, image lists, Canonical's fixes of the
// replicated archive) and 300 pools, each with an upgrade history of 10 images.
func fullScaleDB(b *testing.B) string {
	b.Helper()
	world, families, _, _ := scaleWorld(b)
	srv, err := upstreamtest.New(world)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	serveArchive(b, srv)
	path := filepath.Join(b.TempDir(), "nodewatch.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tr := trackertest.Wire(b, srv, db, nil, tracker.FirstRunSilent, "*")
	if _, _, err := tr.Cycle(context.Background()); err != nil {
		b.Fatal(err)
	}
	var batch tracker.Batch
	for p := range dbPools {
		images, err := db.Images(families[p%len(families)])
		if err != nil || len(images) < dbPoolHistory {
			b.Fatalf("family %s: %d images, %v", families[p%len(families)], len(images), err)
		}
		for i, img := range images[len(images)-dbPoolHistory:] {
			batch.PoolImages = append(batch.PoolImages, tracker.PoolImage{
				Cluster: "prod", Pool: fmt.Sprintf("np%03d", p), NodeImageVersion: tracker.NodeImageVersion(img.Family, img.SKU, img.Version),
				FirstSeen: time.Date(2026, 1, 1+i*7, 0, 0, 0, 0, time.UTC),
			})
		}
	}
	if _, err := db.Apply(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	return path
}

func reportSize(b *testing.B, path string) {
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "db-MB")
	}
}

// BenchmarkDBCheck is `nodewatch db check` without the process around it: bbolt's
// consistency check of the full-scale file, opened read-only.
func BenchmarkDBCheck(b *testing.B) {
	path := fullScaleDB(b)
	for b.Loop() {
		problems, err := storage.Check(path)
		if err != nil || len(problems) > 0 {
			b.Fatal(err, problems)
		}
	}
	reportSize(b, path)
}

// BenchmarkDBBackup is `nodewatch db backup FILE` without the process around it: a
// consistent copy of the full-scale file, synced and renamed into place.
func BenchmarkDBBackup(b *testing.B) {
	path := fullScaleDB(b)
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	file := filepath.Join(b.TempDir(), "backup.db")
	for b.Loop() {
		if _, err := db.Backup(file); err != nil {
			b.Fatal(err)
		}
	}
	reportSize(b, path)
}
