package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker/config"
)

// shutdownGrace is how long a cycle in flight may finish after SIGTERM before it is
// abandoned; what it had not stored is read again by the next start.
const shutdownGrace = 20 * time.Second

// daemon runs a cycle at start and then on schedule until ctx ends.
func (a *app) daemon(ctx context.Context, cfg *config.Config, sched cron.Schedule, db *storage.DB, log *slog.Logger) error {
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
		if _, _, err := a.cycle(cycleCtx, cfg, db, log); err != nil {
			log.Error("cycle failed", "err", err)
		}
	}
	// robfig/cron recovers no panics unless told to, and would start a second cycle
	// beside a slow one.
	cl := cronLogger{log}
	c := cron.New(cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	id := c.Schedule(sched, cron.FuncJob(func() {
		// Jitter, so that many instances do not all ask GitHub at the same second.
		cycle(jitter(cfg.Jitter.Duration))
	}))
	// The first cycle runs at start, through the same chain as the scheduled ones.
	first := c.Entry(id).WrappedJob
	go first.Run()
	c.Start()
	log.Info("nodewatch running", "version", version, "schedule", cfg.Schedule, "database", cfg.Storage.Path)

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
	return nil
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
