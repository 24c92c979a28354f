package tracker_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
)

// BenchmarkColdCycle reads the whole May snapshot into an empty database: every listing,
// note, feed and release page, parsed and stored.
func BenchmarkColdCycle(b *testing.B) {
	r := newRig(b, "2026-05-31", tracker.FirstRunSilent)
	var bytes int64
	for b.Loop() {
		b.StopTimer()
		db, err := storage.Open(filepath.Join(b.TempDir(), "cold.db"), storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		r.tr.Store = db
		b.StartTimer()
		rep, _, err := r.tr.Cycle(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		bytes = 0
		for _, s := range rep.Sources {
			bytes += s.BodyBytes
			if s.Failed() {
				b.Fatal(s.Errors)
			}
		}
		db.Close()
		b.StartTimer()
	}
	b.SetBytes(bytes)
}

// BenchmarkIdleCycle is the cycle a daemon runs almost always: nothing changed upstream.
func BenchmarkIdleCycle(b *testing.B) {
	r := newRig(b, "2026-05-31", tracker.FirstRunSilent)
	r.cycle(b)
	for b.Loop() {
		if _, events, err := r.tr.Cycle(context.Background()); err != nil || len(events) != 0 {
			b.Fatal(err, events)
		}
	}
}
