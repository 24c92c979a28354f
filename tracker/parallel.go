package tracker

import (
	"errors"
	"runtime"
	"sync"
)

// onCores runs do(i) for every i below n on as many goroutines as there are cores, each
// taking every so-many-th i, and returns the errors joined. A query's reads of separate
// families and images are independent, and on a small machine each was one core's work
// while the other idled. Each do writes only its own slot of what it fills.
func onCores(n int, do func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		var errs []error
		for i := range n {
			errs = append(errs, do(i))
		}
		return errors.Join(errs...)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				errs[i] = do(i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
