// Package bench measures nodewatch at the scale of all of AgentBaker: the real fixture
// notes replicated into ~2,500 notes across many families, served by upstreamtest, read
// by the real binary. `make bench` runs it; BENCHMARKS.md has the figures.
package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// copies of each real family: the Ubuntu notes weigh most, as upstream's do.
var copies = map[string]int{
	"AKSUbuntu/gen2/2404containerd": 30,
	"AKSAzureLinuxV3/gen2":          10,
	"AKSFlatcar/gen2":               7,
	"AKSFlatcar/gen2arm64":          7,
}

// archiveSize is the Canonical archive the benchmark serves, decompressed: real records
// replicated to the order of the real osv-all.tar.xz.
const archiveSize = 200 << 20

// serveArchive builds the replicated archive and serves it as Canonical's.
func serveArchive(b *testing.B, srv *upstreamtest.Server) (tarSize int64, records int) {
	file := filepath.Join(b.TempDir(), "osv-all.tar.xz")
	tarSize, records, err := ubuntusecuritytest.WriteReplicated(file, ubuntusecuritytest.Records(b), archiveSize)
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	srv.SetUbuntuSecurity(data)
	return tarSize, records
}

// scaleWorld links the May snapshot's files into a world with every family replicated
// under new names (AKSUbuntu/gen2/2404containerd-r07 ...): real notes, ~2,500 of them.
func scaleWorld(b testing.TB) (dir string, families []string, notes int, bytes int64) {
	src := trackertest.World(b, "2026-05-31")
	dir = b.TempDir()
	link := func(from, to string) {
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.Link(from, to); err != nil {
			b.Fatal(err)
		}
	}
	for _, rel := range []string{"world.json", "github/Azure/AKS/releases.json"} {
		link(filepath.Join(src, rel), filepath.Join(dir, rel))
	}
	for _, format := range []string{"releases-feed", "releases-json"} {
		ents, _ := os.ReadDir(filepath.Join(src, "flatcar", format))
		for _, e := range ents {
			link(filepath.Join(src, "flatcar", format, e.Name()), filepath.Join(dir, "flatcar", format, e.Name()))
		}
	}
	for family, n := range copies {
		ents, err := os.ReadDir(filepath.Join(src, trackertest.NotesDir, family))
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			name := fmt.Sprintf("%s-r%02d", family, i)
			families = append(families, name)
			for _, e := range ents {
				from := filepath.Join(src, trackertest.NotesDir, family, e.Name())
				link(from, filepath.Join(dir, trackertest.NotesDir, name, e.Name()))
				if strings.HasSuffix(e.Name(), ".txt") && e.Name() != "latest.txt" {
					st, _ := os.Stat(from)
					notes++
					bytes += st.Size()
				}
			}
		}
	}
	slices.Sort(families)
	return dir, families, notes, bytes
}

type run struct {
	wall, cpu     time.Duration
	maxRSSMB      float64 // the child's own peak RSS, or the launcher's if higher (see launch)
	launcherHWMMB float64
	out           string
}

// runNodewatch runs the binary through the launcher (launch): a child of this process
// would report this process's peak RSS as its own.
func runNodewatch(b *testing.B, bin, config string, args ...string) run {
	var out bytes.Buffer
	r := launch(b, &out, &out, append([]string{bin, "--config", config}, args...)...)
	if r.exit != 0 {
		b.Fatalf("nodewatch %v: exit %d\n%s", args, r.exit, out.String())
	}
	return run{wall: r.wall, cpu: r.cpu, maxRSSMB: r.maxRSSMB, launcherHWMMB: r.launcherHWMMB, out: out.String()}
}

// directMaxRSS is the rusage Maxrss of the binary run straight from this process, as
// runNodewatch measured it before the launcher: at least this process's peak.
func directMaxRSS(b *testing.B, bin, config string, args ...string) float64 {
	cmd := exec.Command(bin, append([]string{"--config", config}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("nodewatch %v: %v\n%s", args, err, out)
	}
	return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFullScale: a cold backfill of every family into an empty database (each
// iteration), the floor of merely downloading the same bytes, an idle cycle, and queries
// over the full history.
func BenchmarkFullScale(b *testing.B) {
	world, families, notes, noteBytes := scaleWorld(b)
	srv, err := upstreamtest.New(world)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	archiveTar, archiveRecords := serveArchive(b, srv)
	bin := filepath.Join(b.TempDir(), "nodewatch")
	if out, err := exec.Command("make", "-s", "-C", "..", "build", "BIN="+bin).CombinedOutput(); err != nil {
		b.Fatalf("make build: %v\n%s", err, out)
	}
	dir := b.TempDir()
	config := filepath.Join(dir, "nodewatch.yaml")
	db := filepath.Join(dir, "nodewatch.db")
	// No families key: the default, every family the tree lists.
	cfg := fmt.Sprintf("storage: {path: %s}\ngithub: {api_url: %s}\nsources:\n  flatcar: {base_url: %s}\n  ubuntu_security: {url: %s}\nlog: {level: warn}\n",
		db, srv.GitHubAPIURL(), srv.FlatcarURL(), srv.UbuntuSecurityURL())
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}

	var colds, cpus []time.Duration
	var peak, launcherPeak float64
	for b.Loop() {
		os.Remove(db)
		r := runNodewatch(b, bin, config, "check")
		colds, cpus = append(colds, r.wall), append(cpus, r.cpu)
		peak, launcherPeak = max(peak, r.maxRSSMB), max(launcherPeak, r.launcherHWMMB)
	}
	b.StopTimer()
	// For comparison, one more cold backfill measured as before: started from this process.
	os.Remove(db)
	benchHWM := procStatusKB("VmHWM") / 1024
	direct := directMaxRSS(b, bin, config, "check")

	var floors []time.Duration
	for range 3 {
		floors = append(floors, downloadAll(b, srv, world))
	}
	srv.ResetStats()
	tx0 := txid(b, db)
	idle := runNodewatch(b, bin, config, "check")
	writes := txid(b, db) - tx0
	st := srv.Stats()
	if !strings.Contains(idle.out, "no upstream change") || st.BodyBytes != 0 {
		b.Fatalf("idle cycle downloaded %d bytes:\n%s", st.BodyBytes, idle.out)
	}
	var images []time.Duration
	for range 5 {
		images = append(images, runNodewatch(b, bin, config, "images", "--json").wall)
	}
	var shows, showNames, diffs []time.Duration
	for range 5 {
		shows = append(shows, runNodewatch(b, bin, config, "show", "202605.27.0").wall)
		// An image by the name AKS gives it: here the 10 copies of the family answer.
		showNames = append(showNames, runNodewatch(b, bin, config, "show", "AKSAzureLinux-V3gen2-202508.20.1").wall)
		diffs = append(diffs, runNodewatch(b, bin, config, "diff", "AKSUbuntu/gen2/2404containerd-r00", "202501.22.0", "202605.27.0").wall)
	}
	st2, err := os.Stat(db)
	if err != nil {
		b.Fatal(err)
	}
	d := idleDaemon(b, bin, db, srv)

	cold, floor := median(colds), median(floors)
	b.ReportMetric(float64(notes), "notes")
	b.ReportMetric(float64(noteBytes)/1e6, "MB-notes")
	b.ReportMetric(cold.Seconds(), "s-cold")
	b.ReportMetric(median(cpus).Seconds(), "s-cold-cpu")
	b.ReportMetric(peak, "MB-peak-rss")
	b.ReportMetric(launcherPeak, "MB-launcher-hwm")
	b.ReportMetric(direct, "MB-peak-rss-direct")
	b.ReportMetric(benchHWM, "MB-bench-process-hwm")
	b.ReportMetric(float64(noteBytes)/1e6/cold.Seconds(), "MB/s")
	b.ReportMetric(floor.Seconds(), "s-floor")
	b.ReportMetric(cold.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(float64(len(families)), "families")
	b.ReportMetric(float64(st.Requests), "idle-requests")
	b.ReportMetric(float64(st.ByKind[upstreamtest.KindGitHubAPI]), "idle-github-requests")
	b.ReportMetric(float64(idle.cpu.Milliseconds()), "ms-idle-cpu")
	b.ReportMetric(float64(writes), "idle-db-writes")
	b.ReportMetric(d.rssMB, "MB-daemon-rss")
	b.ReportMetric(d.anonMB, "MB-daemon-rss-anon")
	b.ReportMetric(float64(d.page.Milliseconds()), "ms-daemon-page")
	b.ReportMetric(float64(d.images.Milliseconds()), "ms-daemon-images-api")
	b.ReportMetric(float64(median(images).Milliseconds()), "ms-images-json")
	b.ReportMetric(float64(median(shows).Milliseconds()), "ms-show")
	b.ReportMetric(float64(median(showNames).Milliseconds()), "ms-show-name")
	b.ReportMetric(float64(median(diffs).Milliseconds()), "ms-diff")
	b.ReportMetric(float64(st2.Size())/1e6, "MB-db")
	b.ReportMetric(float64(archiveTar)/1e6, "MB-archive-tar")
	b.ReportMetric(float64(archiveRecords), "archive-records")
}

// downloadAll is the floor: every note's and image list's bytes, and Canonical's archive,
// from the same server, 8 at a time, as the tracker fetches them, doing nothing with them.
func downloadAll(b *testing.B, srv *upstreamtest.Server, world string) time.Duration {
	var urls []string
	root := filepath.Join(world, "github/Azure/AgentBaker")
	filepath.WalkDir(filepath.Join(root, "vhdbuilder/release-notes"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, "-image-list.json")) {
			rel, _ := filepath.Rel(root, p)
			urls = append(urls, srv.URL()+"/raw/Azure/AgentBaker/master/"+filepath.ToSlash(rel))
		}
		return nil
	})
	urls = append(urls, srv.UbuntuSecurityURL())
	start := time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := http.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	return time.Since(start)
}

type daemonFigures struct {
	rssMB, anonMB float64
	page, images  time.Duration
}

// idleDaemon runs `nodewatch run` over the full history, a cycle every second in which
// nothing changed, and measures it idle: its memory, and how long the status page and
// the images API take to load from it (medians of 5).
func idleDaemon(b *testing.B, bin, db string, srv *upstreamtest.Server) daemonFigures {
	listen := freePort(b)
	config := filepath.Join(b.TempDir(), "daemon.yaml")
	cfg := fmt.Sprintf("schedule: \"@every 1s\"\njitter: 0s\nstorage: {path: %s}\ngithub: {api_url: %s}\nsources:\n  flatcar: {base_url: %s}\n  ubuntu_security: {url: %s}\nhttp: {listen: %s}\nlog: {level: warn}\n",
		db, srv.GitHubAPIURL(), srv.FlatcarURL(), srv.UbuntuSecurityURL(), listen)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", config, "run")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	base := "http://" + listen
	waitReady(b, base)
	var pages, images []time.Duration
	for range 5 {
		pages = append(pages, fetchTime(b, base+"/"))
		images = append(images, fetchTime(b, base+"/api/v1/images"))
	}
	time.Sleep(5 * time.Second) // five idle cycles, and the garbage of the loads returned
	pid := cmd.Process.Pid
	return daemonFigures{rssMB: trackertest.ProcStatusMB(b, pid, "VmRSS"), anonMB: trackertest.ProcStatusMB(b, pid, "RssAnon"),
		page: median(pages), images: median(images)}
}
