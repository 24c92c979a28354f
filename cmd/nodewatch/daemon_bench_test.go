package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

// BenchmarkDaemonIdle measures `nodewatch run` as it spends its life: idle, holding the May
// history, with a cycle every second in which nothing changed upstream. It reports the
// resident memory (VmRSS, and its peak VmHWM) and the CPU each idle cycle costs, read
// from /proc.
func BenchmarkDaemonIdle(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "nodewatch")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	upstream, err := upstreamtest.New(filepath.Join(fixtures(b), "world-2026-05-31"))
	if err != nil {
		b.Fatal(err)
	}
	defer upstream.Close()
	upstream.SetUbuntuSecurity(ubuntusecuritytest.Archive(b))
	dir := b.TempDir()
	listen := freePort(b)
	cfg := fmt.Sprintf("schedule: \"@every 1s\"\njitter: 0s\nstorage: {path: %s}\ngithub: {api_url: %s}\n"+
		"sources: {vhd_notes: {families: [AKSFlatcar/gen2, AKSFlatcar/gen2arm64, AKSAzureLinuxV3/gen2, AKSUbuntu/gen2/2404containerd]}, flatcar: {base_url: %s}, ubuntu_security: {url: %s}}\nhttp: {listen: %s}\nlog: {level: warn}\n",
		filepath.Join(dir, "nodewatch.db"), upstream.GitHubAPIURL(), upstream.FlatcarURL(), upstream.UbuntuSecurityURL(), listen)
	path := filepath.Join(dir, "nodewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path, "run")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitFor(b, "the first cycle", func() bool { return status("http://"+listen+"/readyz") == 200 })
	time.Sleep(3 * time.Second) // settle: the first cycle's garbage collected

	pid := cmd.Process.Pid
	cpu0, start := cpuTime(b, pid), time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Second) // one idle cycle
	}
	b.StopTimer()
	cycles := time.Since(start).Seconds()
	b.ReportMetric(float64(cpuTime(b, pid)-cpu0)/float64(time.Millisecond)/cycles, "cpu-ms/cycle")
	b.ReportMetric(trackertest.ProcStatusMB(b, pid, "VmRSS"), "MB-rss")
	b.ReportMetric(trackertest.ProcStatusMB(b, pid, "VmHWM"), "MB-peak-rss")
	// RSS counts the pages of the database file bbolt has mapped and read, which the
	// kernel can drop at will, apart from the process's own memory.
	b.ReportMetric(trackertest.ProcStatusMB(b, pid, "RssAnon"), "MB-rss-anon")
	b.ReportMetric(trackertest.ProcStatusMB(b, pid, "RssFile"), "MB-rss-file")
}

// cpuTime is the user and system time of a process, from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}
