// Command nodewatch tracks what AKS node images carry. This package only wires: the
// configuration, the store, the sources and the notifiers are built here and handed to
// the tracker; the command line is spf13/cobra, which gives help, flags and errors that
// operators know from kubectl.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/config"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
	"github.com/nodewatch/nodewatch/tracker/github"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
)

// version is stamped by the build (-ldflags "-X main.version=...").
var version = "dev"

// Exit codes of the contract.
const (
	exitOK          = 0
	exitUsage       = 1
	exitSourceError = 2
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app is what every command shares.
type app struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
}

func execute(ctx context.Context, args []string, stdoutW, stderrW io.Writer) int {
	a := &app{stdout: stdoutW, stderr: stderrW}
	root := &cobra.Command{
		Use:           "nodewatch",
		Short:         "Track what AKS node images carry: OS, Flatcar release, kernel, and what changed",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdoutW)
	root.SetErr(stderrW)
	root.SetArgs(args)
	root.PersistentFlags().StringVar(&a.configPath, "config", os.Getenv("NODEWATCH_CONFIG"),
		"config file (YAML; also NODEWATCH_CONFIG); none means the built-in defaults")
	root.AddCommand(a.runCmd(), a.checkCmd(), a.imagesCmd(), a.familiesCmd(), a.flatcarCmd(), a.aksCmd(), a.showCmd(), a.diffCmd(),
		a.nodesCmd(), a.validateCmd(), a.versionCmd(), a.notifyCmd(), a.outboxCmd(), a.healthcheckCmd(), a.dbCmd())

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderrW, "nodewatch:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(a.configPath, os.LookupEnv)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration:\n%w", err)}
	}
	return cfg, nil
}

func (a *app) logger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// openStore opens the database for writing.
func openStore(cfg *config.Config) (*storage.DB, error) {
	db, err := storage.Open(cfg.Storage.Path, storage.Options{})
	if errors.Is(err, storage.ErrLocked) {
		err = fmt.Errorf("%w: is `nodewatch run` running? It runs cycles itself; its API is at http://%s/api/v1/", err, cfg.HTTP.Listen)
	}
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return db, nil
}

// openReading opens the database read-only for a query. A file known to be damaged
// (the open checks it whole) is still read, every read guarded so that a damaged page is
// an error: what it answers is what bbolt still finds sound, and stderr says so.
func (a *app) openReading(cfg *config.Config) (*storage.DB, error) {
	db, err := storage.Open(cfg.Storage.Path, storage.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	if err := db.Damaged(); err != nil {
		fmt.Fprintf(a.stderr, "nodewatch: warning: %v\nnodewatch: this answer is what can still be read from it; it may lack what the damaged pages held\n", err)
	}
	return db, nil
}

// newTracker wires the configured sources to the store.
func newTracker(cfg *config.Config, db tracker.Store, log *slog.Logger) (*tracker.Tracker, error) {
	hc := &http.Client{
		Transport: &fetch.Transport{UserAgent: "nodewatch/" + version},
		// A bound on every request, so a server that stops answering cannot hold a cycle.
		Timeout: 2 * time.Minute,
	}
	t := &tracker.Tracker{
		Store:       db,
		FirstRun:    tracker.FirstRun(cfg.FirstRun),
		NoteFetches: 8,
		Log:         log,
	}
	src := cfg.Sources
	if src.AKSReleases.Enabled || src.VHDNotes.Enabled {
		gh, err := github.New(hc, cfg.GitHub.APIURL, cfg.GitHub.Token.Value(), github.NotesLocation{
			Repo: src.VHDNotes.Repo, Ref: src.VHDNotes.Ref, Path: src.VHDNotes.Path,
			RawURL: cfg.GitHub.RawURL, WebURL: cfg.GitHub.WebURL,
		})
		if err != nil {
			return nil, err
		}
		if src.AKSReleases.Enabled {
			t.AKS, t.AKSRepo, t.AKSRescan = gh, src.AKSReleases.Repo, src.AKSReleases.Rescan.Duration
		}
		if src.VHDNotes.Enabled {
			t.Notes, t.Families = gh, src.VHDNotes.Families
		}
	}
	if src.Flatcar.Enabled {
		t.Flatcar = &flatcar.Source{HTTP: hc, BaseURL: src.Flatcar.BaseURL, Format: flatcar.Format(src.Flatcar.Format)}
		t.Channels = src.Flatcar.Channels
	}
	if u := src.UbuntuSecurity; u.Enabled {
		t.UbuntuSecurity = &ubuntusecurity.Source{HTTP: hc, URL: u.URL}
		t.UbuntuSecurityURL, t.UbuntuSecurityEvery = u.URL, u.Every.Duration
	}
	return t, nil
}

// runner is one cycle's machinery, built once per process: the daemon reuses it, so
// notifiers keep their connections and caches across cycles.
type runner struct {
	tracker    *tracker.Tracker
	dispatcher *tracker.Dispatcher
	log        *slog.Logger
	// observe, when set, sees every cycle (metrics).
	observe func(tracker.CycleReport, []tracker.Event)
	// pools judges node pools against the history as of the last cycle; its clusters
	// are watched when kubernetes is enabled.
	pools *tracker.PoolWatch
}

func (a *app) newRunner(cfg *config.Config, db *storage.DB, log *slog.Logger) (*runner, error) {
	// A cycle's garbage is mostly note bodies read once: collecting at twice the default
	// growth cut a cold backfill of every family by a quarter (BENCHMARKS.md), within the
	// memory goal; an idle daemon returns its memory after each cycle all the same. GOGC,
	// when set, is the operator's.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	t, err := newTracker(cfg, db, log)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	t.Router = router(cfg)
	d, err := a.dispatcher(cfg, db, log)
	if err != nil {
		return nil, err
	}
	policy := cfg.Kubernetes.Behind.Policy()
	// Files posted to /api/v1/pools/judge are judged against the history as stored then.
	pools := &tracker.PoolWatch{Policy: policy, Load: func() (*tracker.Fleet, error) { return t.LoadFleet(policy) }}
	return &runner{tracker: t, dispatcher: d, log: log, pools: pools}, nil
}

// observePools judges the pools now, stores their history and events, and delivers.
func (r *runner) observePools(ctx context.Context) {
	events, err := r.pools.Observe(ctx, r.tracker)
	if err != nil {
		r.log.Error("judging the node pools", "err", err)
		return
	}
	if len(events) > 0 {
		r.log.Info("node pools", "events", len(events))
	}
	if _, err := r.dispatcher.Dispatch(ctx); err != nil {
		r.log.Error("delivering", "err", err)
	}
}

// cycle runs one cycle, then delivers what the outbox holds that is due.
func (r *runner) cycle(ctx context.Context) (tracker.CycleReport, tracker.DispatchReport, error) {
	rep, events, err := r.tracker.Cycle(ctx)
	if err != nil {
		return rep, tracker.DispatchReport{}, err
	}
	logCycle(r.log, rep, len(events))
	if r.observe != nil {
		r.observe(rep, events)
	}
	// Deliveries go out after the cycle has stored them: a crash in between loses none.
	drep, err := r.dispatcher.Dispatch(ctx)
	if err != nil {
		return rep, drep, err
	}
	if drep != (tracker.DispatchReport{}) {
		r.log.Info("deliveries", "delivered", drep.Delivered, "failed", drep.Failed, "given_up", drep.GivenUp)
	}
	return rep, drep, nil
}

func logCycle(log *slog.Logger, rep tracker.CycleReport, events int) {
	var requests, notModified, failed int
	var bytes int64
	for _, s := range rep.Sources {
		requests += s.Requests
		notModified += s.NotModified
		bytes += s.BodyBytes
		if s.Failed() {
			failed++
			log.Warn("source failed", "source", s.Source, "errors", s.Errors)
		}
		if len(s.Warnings) > 0 {
			log.Warn("source read in part", "source", s.Source, "warnings", s.Warnings)
		}
	}
	log.Info("cycle", "duration_ms", rep.DurationMS, "sources", len(rep.Sources), "failed", failed,
		"requests", requests, "not_modified", notModified, "body_bytes", bytes, "events", events)
}
