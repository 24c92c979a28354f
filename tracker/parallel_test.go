package tracker

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// onCores does every index once, on more than one goroutine where there are cores, and
// says the lowest index's error, as the loop it replaced did.
func TestOnCores(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		for _, n := range []int{0, 1, 3, 10} {
			t.Run(fmt.Sprintf("procs%d/n%d", procs, n), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				done := make([]atomic.Int32, n)
				if err := onCores(n, func(i int) error { done[i].Add(1); return nil }); err != nil {
					t.Fatal(err)
				}
				for i := range done {
					if got := done[i].Load(); got != 1 {
						t.Errorf("index %d done %d times", i, got)
					}
				}
				if n < 3 {
					return
				}
				err := onCores(n, func(i int) error {
					if i >= 1 {
						return fmt.Errorf("index %d: %w", i, errors.ErrUnsupported)
					}
					return nil
				})
				if err == nil || err.Error() != "index 1: unsupported operation" {
					t.Errorf("error %v, want index 1's alone", err)
				}
			})
		}
	}
}
