package ubuntusecurity_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
)

// benchSize is the benchmark archive's size once decompressed: the order of the real
// osv-all.tar.xz, hundreds of MB.
const benchSize = 200 << 20

// rssArchiveEnv names the archive the peak-RSS child process reads.
const rssArchiveEnv = "UBUNTUSECURITY_RSS_ARCHIVE"

var bench struct {
	once    sync.Once
	dir     string
	path    string
	tarSize int64
	records int
	err     error
	peakKB  int64 // the child's VmHWM after reading the archive
	baseKB  int64 // and before
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// benchKeep asks what a tracker of AKS Ubuntu images asks: three ecosystems, a few
// hundred installed names (here the ones the records use, and filler).
func benchKeep() tracker.SecurityFilter {
	names := map[string]bool{"curl": true, "libcurl4": true, "libssl3t64": true, "openssl": true, "libgnutls30t64": true}
	for i := range 500 {
		names[fmt.Sprintf("package-%d", i)] = true
	}
	return tracker.SecurityFilter{
		Ecosystem: only(jammy, noble, jammyFIPS),
		Package:   func(name string) bool { return names[name] },
	}
}

// buildBenchArchive writes the benchmark archive to a file, streaming: the real
// records replicated, each copy under a renamed id (USN-7162-1 -> USN-7162-1-r00042),
// until the tar reaches benchSize. Replicated real records, not invented ones.
func buildBenchArchive(tb testing.TB) {
	bench.once.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "ubuntusecurity-bench-")
		if bench.err != nil {
			return
		}
		bench.path = path.Join(bench.dir, "osv-all.tar.xz")
		bench.tarSize, bench.records, bench.err = ubuntusecuritytest.WriteReplicated(bench.path, ubuntusecuritytest.Records(tb), benchSize)
	})
	if bench.err != nil {
		tb.Fatal(bench.err)
	}
}

// BenchmarkRead streams the ~200 MB archive of replicated real records from a file.
// MB/s is of the decompressed tar; peak-RSS-MB is the VmHWM of a child process that
// does nothing but read the archive once (this process's own is inflated by building it).
func BenchmarkRead(b *testing.B) {
	buildBenchArchive(b)
	keep := benchKeep()
	b.SetBytes(bench.tarSize)
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(bench.path)
		if err != nil {
			b.Fatal(err)
		}
		a, err := ubuntusecurity.Read(bufio.NewReaderSize(f, 1<<16), keep)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if a.Records != bench.records || len(a.RecordErrors) != 0 {
			b.Fatalf("%d records, errors %q; want %d", a.Records, a.RecordErrors, bench.records)
		}
	}
	b.StopTimer()
	if bench.peakKB == 0 {
		bench.baseKB, bench.peakKB = childPeakRSS(b)
	}
	b.ReportMetric(float64(bench.peakKB)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(bench.baseKB)/1024, "base-RSS-MB")
	if info, err := os.Stat(bench.path); err == nil {
		b.ReportMetric(float64(info.Size())/(1<<20), "xz-MB")
	}
}

var hwmLine = regexp.MustCompile(`rss-kB before=(\d+) after=(\d+)`)

// childPeakRSS runs TestReadPeakRSS in a fresh process on the benchmark archive.
func childPeakRSS(b *testing.B) (baseKB, peakKB int64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadPeakRSS$", "-test.v")
	cmd.Env = append(os.Environ(), rssArchiveEnv+"="+bench.path)
	out, err := cmd.CombinedOutput()
	m := hwmLine.FindSubmatch(out)
	if err != nil || m == nil {
		b.Fatalf("peak RSS child: %v\n%s", err, out)
	}
	baseKB, _ = strconv.ParseInt(string(m[1]), 10, 64)
	peakKB, _ = strconv.ParseInt(string(m[2]), 10, 64)
	return baseKB, peakKB
}

// TestReadPeakRSS is BenchmarkRead's child: it reads the archive rssArchiveEnv names
// once and prints VmHWM (the peak resident set) before and after.
func TestReadPeakRSS(t *testing.T) {
	file := os.Getenv(rssArchiveEnv)
	if file == "" {
		t.Skip("run by BenchmarkRead in a child process")
	}
	before := vmHWM(t)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ubuntusecurity.Read(bufio.NewReaderSize(f, 1<<16), benchKeep())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rss-kB before=%d after=%d records=%d fixes=%d\n", before, vmHWM(t), a.Records, len(a.Fixes))
}

func vmHWM(t *testing.T) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatal("no VmHWM in /proc/self/status")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb
}
