package storage

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapping gives back the pages of the file that tx's walk brought into this
// process's mapping of it. They stay in the page cache and fault in again when read; the
// file is mapped read-only and written with pwrite, so nothing is lost. Without it the
// daemon's RSS would carry every page of the tree from its first check on. Called inside
// the transaction, which holds bbolt's mapping in place.
func releaseMapping(tx *bolt.Tx) {
	info := tx.DB().Info()
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
}
