package tracker

import (
	"runtime"
	"sync"
)

// onCores runs do(i) for every i below n on as many goroutines as there are cores, each
// taking every so-many-th i, and returns the error of the lowest i that failed, as a
// loop over them would have: a damaged file fails every read alike, and one message
// says it. A query's reads of separate families and images are independent, and on a
// small machine each was one core's work while the other idled. Each do writes only
// its own slot of what it fills.
func onCores(n int, do func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := do(i); err != nil {
				return err
			}
		}
		return nil
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
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
