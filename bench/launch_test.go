package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Peak RSS of a child process, measured from outside, needs a launcher. Go starts a
// child with CLONE_VM (vfork-like), and at exec Linux folds the peak RSS of the memory the
// child shared until then (its parent's) into the child's rusage Maxrss: a child of a
// benchmark process reports at least that process's peak (BenchmarkPools saw 375 to 393 MB
// for a 28 MB `nodes -f`). launch therefore runs the command from a small launcher
// process, this test binary re-executed before any test runs, whose own peak is the only
// one folded in and is reported beside it.

// launchEnv makes this test binary the launcher instead of running tests; its value is the
// file the launcher writes its report to.
const launchEnv = "NODEWATCH_BENCH_SPAWN"

func init() {
	if path := os.Getenv(launchEnv); path != "" {
		launcher(path)
	}
}

// launchReport is what the launcher writes of one run of its command.
type launchReport struct {
	WallNS      int64  `json:"wall_ns"`
	CPUNS       int64  `json:"cpu_ns"` // user + system
	MaxRSSKB    int64  `json:"maxrss_kb"`
	LauncherHWM int64  `json:"launcher_hwm_kb"` // the launcher's own VmHWM just before it started the command
	Exit        int    `json:"exit"`
	Err         string `json:"err,omitempty"` // the command could not be run
}

// launcher runs os.Args[1:] with the launcher's stdin, stdout and stderr, writes a
// launchReport to path and exits.
func launcher(path string) {
	r := launchReport{LauncherHWM: int64(procStatusKB("VmHWM"))}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	r.WallNS = int64(time.Since(start))
	if ps := cmd.ProcessState; ps != nil {
		ru := ps.SysUsage().(*syscall.Rusage)
		r.CPUNS, r.MaxRSSKB, r.Exit = ru.Utime.Nano()+ru.Stime.Nano(), ru.Maxrss, ps.ExitCode()
	} else if err != nil {
		r.Err = err.Error()
	}
	data, _ := json.Marshal(r)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// launched is one run of a command through the launcher.
type launched struct {
	wall, cpu     time.Duration
	maxRSSMB      float64 // the command's rusage Maxrss: its own peak, or the launcher's if higher
	launcherHWMMB float64 // the launcher's peak: the floor under maxRSSMB
	exit          int
}

// launch runs args through the launcher, the command's stdout and stderr going to stdout
// and stderr (nil: /dev/null). A command that exits non-zero is no error of launch's: the
// caller judges exit.
func launch(tb testing.TB, stdout, stderr io.Writer, args ...string) launched {
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.CreateTemp("", "nodewatch-launch-*.json")
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	defer os.Remove(f.Name())
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), launchEnv+"="+f.Name())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("launcher of %v: %v", args, err)
	}
	data, err := os.ReadFile(f.Name())
	var r launchReport
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil || r.Err != "" {
		tb.Fatalf("launcher of %v: %v %s", args, err, r.Err)
	}
	return launched{wall: time.Duration(r.WallNS), cpu: time.Duration(r.CPUNS), maxRSSMB: float64(r.MaxRSSKB) / 1024,
		launcherHWMMB: float64(r.LauncherHWM) / 1024, exit: r.Exit}
}

// procStatusKB is a field of this process's /proc status, in kB.
func procStatusKB(key string) float64 {
	data, _ := os.ReadFile(filepath.Join("/proc", "self", "status"))
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}
