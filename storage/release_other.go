//go:build !linux

package storage

import bolt "go.etcd.io/bbolt"

// releaseMapping is Linux's madvise(MADV_DONTNEED) of the checked pages; elsewhere the
// kernel keeps them mapped until it needs the memory.
func releaseMapping(*bolt.Tx) {}
