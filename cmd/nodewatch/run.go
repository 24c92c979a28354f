package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker/config"
	"github.com/nodewatch/nodewatch/tracker/kubernetes"
	"github.com/nodewatch/nodewatch/tracker/web"
)

// shutdownGrace is how long a cycle in flight may finish after SIGTERM before it is
// abandoned; what it had not stored is read again by the next start.
const shutdownGrace = 20 * time.Second

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: a cycle now, then on the configured schedule; the HTTP API and status page",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			sched, err := cfg.CronSchedule()
			if err != nil {
				return &exitError{exitUsage, err}
			}
			log := a.logger(cfg)
			for _, w := range cfg.Warnings() {
				log.Warn(w)
			}
			db, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			return a.daemon(cmd.Context(), cfg, sched, db, log)
		},
	}
}

// daemon serves HTTP, runs a cycle at start and then on schedule until ctx ends.
func (a *app) daemon(ctx context.Context, cfg *config.Config, sched cron.Schedule, db *storage.DB, log *slog.Logger) error {
	r, err := a.newRunner(cfg, db, log)
	if err != nil {
		return err
	}
	metrics := web.NewMetrics()
	r.observe = metrics.ObserveCycle
	r.dispatcher.Observe = metrics.ObserveDelivery
	var one sync.Mutex // cycles and pool observations never overlap: each dispatches the outbox
	watcher := a.watchClusters(ctx, cfg, r, &one, log)

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("http.listen: %w", err)}
	}
	srv := newHTTPServer(web.New(web.Options{Store: db, Metrics: metrics, MaxCycleAge: 3 * interval(sched), Version: version, Pools: r.pools,
		Database: db, AdminToken: cfg.HTTP.AdminToken.Value()}), log)
	go newKeeper(cfg, db, metrics, log).Run(ctx)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()

	// Cycles get their own context: SIGTERM stops the schedule at once, but the cycle in
	// flight may finish within shutdownGrace.
	cycleCtx, cancelCycles := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCycles()
	var running sync.WaitGroup
	cycle := func(wait time.Duration) {
		running.Add(1)
		defer running.Done()
		select {
		case <-time.After(wait):
		case <-cycleCtx.Done():
			return
		}
		one.Lock()
		defer one.Unlock()
		if err := db.Damaged(); err != nil {
			log.Error("no cycle: the database is not written while it is damaged", "err", err)
			return
		}
		if _, _, err := r.cycle(cycleCtx); err != nil {
			log.Error("cycle failed", "err", err)
		}
		// The daemon is idle between cycles almost all its life: hand the cycle's garbage
		// back to the system now rather than holding it until the next one.
		debug.FreeOSMemory()
	}
	// robfig/cron recovers no panics unless told to, and would start a second cycle
	// beside a slow one.
	cl := cronLogger{log}
	c := cron.New(cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	c.Schedule(sched, cron.FuncJob(func() {
		// Jitter, so that many instances do not all ask GitHub at the same second.
		cycle(jitter(cfg.Jitter.Duration))
	}))
	go func() {
		defer func() {
			if p := recover(); p != nil {
				log.Error("first cycle panicked", "panic", p)
			}
		}()
		cycle(0)
	}()
	c.Start()
	log.Info("nodewatch running", "version", version, "schedule", cfg.Schedule, "listen", ln.Addr().String(),
		"database", cfg.Storage.Path, "clusters", len(watcher.Clusters()))

	<-ctx.Done()
	log.Info("stopping")
	c.Stop()
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("abandoning the cycle in flight", "grace", shutdownGrace.String())
		cancelCycles()
		<-done
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newKeeper checks the database daily and, with storage.backup, keeps rotating backups.
func newKeeper(cfg *config.Config, db *storage.DB, metrics *web.Metrics, log *slog.Logger) *storage.Keeper {
	k := &storage.Keeper{DB: db, Log: log, ObserveBackup: metrics.ObserveBackup, FoundBackup: metrics.FoundBackup}
	if b := cfg.Storage.Backup; b != nil {
		k.BackupDir, k.BackupEvery, k.BackupKeep = b.Dir, b.Every.Duration, b.Keep
		metrics.WatchBackups()
	}
	return k
}

// watchClusters starts the watch of the configured clusters' Nodes when kubernetes is
// enabled (a watcher of no clusters otherwise). A change to a node is judged within a
// second (changes arriving together are judged once), its events stored and delivered.
func (a *app) watchClusters(ctx context.Context, cfg *config.Config, r *runner, one *sync.Mutex, log *slog.Logger) *kubernetes.Watcher {
	if !cfg.Kubernetes.Enabled {
		return kubernetes.NewWatcher(nil, log)
	}
	w := kubernetes.NewWatcher(configuredClusters(cfg), log)
	r.pools.Clusters = w
	r.tracker.Pools = r.pools
	r.tracker.PoolFamilies = r.pools.Families
	changed := make(chan struct{}, 1)
	w.OnChange = func(string) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	go w.Run(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			select { // let a burst of changes (a pool scaling) settle
			case <-ctx.Done():
				return
			case <-time.After(poolSettle):
			}
			one.Lock()
			r.observePools(ctx)
			one.Unlock()
		}
	}()
	return w
}

// poolSettle is how long node changes gather before the pools are judged again.
const poolSettle = 200 * time.Millisecond

// newHTTPServer bounds what a client may take: slow or idle clients cannot hold
// connections, nor large headers memory.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// interval is the time between two runs of the schedule, for /readyz's idea of recent.
func interval(s cron.Schedule) time.Duration {
	next := s.Next(time.Now())
	return max(s.Next(next).Sub(next), time.Minute)
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// cronLogger lets robfig/cron log through slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

func (a *app) healthcheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the daemon's /healthz answers (the container health check)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			u, err := daemonURL(cfg.HTTP.Listen, "/healthz")
			if err != nil {
				return &exitError{exitUsage, err}
			}
			client := &http.Client{Timeout: 3 * time.Second}
			resp, err := client.Get(u)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return &exitError{exitUsage, fmt.Errorf("/healthz answered %s", resp.Status)}
			}
			return nil
		},
	}
}

// daemonURL is where a local client reaches the daemon listening on listen.
func daemonURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("http.listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
