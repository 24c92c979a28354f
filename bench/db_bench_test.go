package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
	"github.com/nodewatch/nodewatch/tracker/web"
)

// Pools of the full-scale database: each runs, in turn, the last images of a family.
const (
	dbPools       = 300
	dbPoolHistory = 10
)

// backfilled is the full-scale history read whole into a new database by one cold cycle,
// Canonical's data as serve sets it: the database, open, and the families.
func backfilled(b *testing.B, serve func(*upstreamtest.Server)) (*storage.DB, string, []string) {
	b.Helper()
	world, families, _, _ := scaleWorld(b)
	srv, err := upstreamtest.New(world)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	serve(srv)
	path := filepath.Join(b.TempDir(), "nodewatch.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tr := trackertest.Wire(b, srv, db, nil, tracker.FirstRunSilent, "*")
	if _, _, err := tr.Cycle(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db, path, families
}

// fullScaleDB is the every-family database the issue "A database you can trust" measures:
// the full-scale history read whole (packages, image lists, Canonical's fixes of the
// replicated archive) and 300 pools, each with an upgrade history of 10 images. Closed.
func fullScaleDB(b *testing.B) string {
	b.Helper()
	db, path, families := backfilled(b, func(srv *upstreamtest.Server) { serveArchive(b, srv) })
	defer db.Close()
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

// BenchmarkBackupWhileServing: GET /api/v1/backup of the full-scale database, over and
// over, while API reads (/api/v1/flatcar, /api/v1/aks) and a cycle's writes (a batch
// applied) go on beside it. It reports the longest read and write seen while the copies
// were taken, and beside them the longest with no copy taken (the same loops for as long
// before): a copy must hold none of them back for more than 100 ms.
func BenchmarkBackupWhileServing(b *testing.B) {
	path := fullScaleDB(b)
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(web.New(web.Options{Store: db, Database: db}))
	defer srv.Close()

	var mu sync.Mutex
	var maxRead, maxWrite time.Duration
	var reads, writes int
	record := func(m *time.Duration, n *int, d time.Duration) {
		mu.Lock()
		*m = max(*m, d)
		*n++
		mu.Unlock()
	}
	load := func(ctx context.Context) *sync.WaitGroup {
		var wg sync.WaitGroup
		for _, route := range []string{"/api/v1/flatcar", "/api/v1/aks"} {
			wg.Go(func() {
				for ctx.Err() == nil {
					start := time.Now()
					resp, err := http.Get(srv.URL + route)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					record(&maxRead, &reads, time.Since(start))
				}
			})
		}
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				start := time.Now()
				if _, err := db.Apply(ctx, tracker.Batch{Meta: map[string]string{"bench": fmt.Sprint(i)}}); err != nil && ctx.Err() == nil {
					b.Error(err)
					return
				}
				record(&maxWrite, &writes, time.Since(start))
				time.Sleep(10 * time.Millisecond)
			}
		})
		return &wg
	}
	run := func(d time.Duration, during func()) (read, write time.Duration, n int) {
		mu.Lock()
		maxRead, maxWrite, reads, writes = 0, 0, 0, 0
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		wg := load(ctx)
		if during != nil {
			during()
		} else {
			time.Sleep(d)
		}
		cancel()
		wg.Wait()
		return maxRead, maxWrite, reads + writes
	}

	var copies int
	var took time.Duration
	read, write, _ := run(0, func() {
		start := time.Now()
		for b.Loop() {
			resp, err := http.Get(srv.URL + "/api/v1/backup")
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatal(err, resp.Status)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			copies++
		}
		took = time.Since(start)
	})
	b.StopTimer()
	baseRead, baseWrite, _ := run(took, nil)
	b.ReportMetric(float64(read.Microseconds())/1000, "max-read-ms")
	b.ReportMetric(float64(write.Microseconds())/1000, "max-write-ms")
	b.ReportMetric(float64(baseRead.Microseconds())/1000, "max-read-ms-no-copy")
	b.ReportMetric(float64(baseWrite.Microseconds())/1000, "max-write-ms-no-copy")
	reportSize(b, path)
}

// BenchmarkDBCommands runs `nodewatch db check` and `nodewatch db backup FILE` as
// processes (the binary of `make build`) over the full-scale database: each iteration
// one of each, timed apart.
func BenchmarkDBCommands(b *testing.B) {
	path := fullScaleDB(b)
	bin := filepath.Join(b.TempDir(), "nodewatch")
	if out, err := exec.Command("make", "-s", "-C", "..", "build", "BIN="+bin).CombinedOutput(); err != nil {
		b.Fatalf("make build: %v\n%s", err, out)
	}
	config := filepath.Join(b.TempDir(), "nodewatch.yaml")
	if err := os.WriteFile(config, []byte("storage: {path: "+path+"}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "backup.db")
	var check, backup []time.Duration
	var rss float64
	for b.Loop() {
		c := runNodewatch(b, bin, config, "db", "check")
		k := runNodewatch(b, bin, config, "db", "backup", file)
		check, backup = append(check, c.wall), append(backup, k.wall)
		rss = max(rss, c.maxRSSMB, k.maxRSSMB)
	}
	b.ReportMetric(float64(median(check).Microseconds())/1000, "db-check-ms")
	b.ReportMetric(float64(median(backup).Microseconds())/1000, "db-backup-ms")
	b.ReportMetric(rss, "max-RSS-MB")
	reportSize(b, path)
}
