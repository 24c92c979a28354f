package storage

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// Canonical's fixes of the packages nodewatch's images carry, replaced whole at each
// read of the archive: bucketFixes holds each (ecosystem, source package)'s fixes,
// flate-compressed JSON; bucketFixBinaries maps each (ecosystem, binary package, by
// tracker.KernelPackageKey) to the source packages whose fixes list it.
var (
	bucketFixes       = []byte("ubuntu_fixes")
	bucketFixBinaries = []byte("ubuntu_fix_binaries")
	// bucketSecurityCounts keeps what each Ubuntu image fixes and lacks, counted when
	// the cycle stores images or fixes: `images` lists them for every image, which
	// judging each image's packages on every query would not afford.
	bucketSecurityCounts = []byte("security_counts")
)

// packCounts writes "fixed missing".
func packCounts(c tracker.SecurityCounts) []byte {
	return fmt.Appendf(nil, "%d %d", c.Fixed, c.Missing)
}

func unpackCounts(v []byte) *tracker.SecurityCounts {
	if v == nil {
		return nil
	}
	var c tracker.SecurityCounts
	if _, err := fmt.Sscanf(string(v), "%d %d", &c.Fixed, &c.Missing); err != nil {
		return nil
	}
	return &c
}

// putCounts stores counts, keyed by family and version.
func putCounts(w *batchWriter, counts map[[2]string]tracker.SecurityCounts) error {
	for k, c := range counts {
		if err := w.put(bucketSecurityCounts, itemKey(k[0], k[1]), packCounts(c)); err != nil {
			return err
		}
	}
	return nil
}

// putFixes replaces every stored fix with fixes.
func putFixes(w *batchWriter, fixes []tracker.PackageFix) error {
	for _, name := range [][]byte{bucketFixes, bucketFixBinaries} {
		if err := w.tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := w.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	w.changed = true
	bySource := map[string][]tracker.PackageFix{}
	binaries := map[string][]string{}
	for _, f := range fixes {
		k := f.Ecosystem + "\x00" + f.Source
		bySource[k] = append(bySource[k], f)
		for name := range f.Binaries {
			bk := f.Ecosystem + "\x00" + tracker.KernelPackageKey(name)
			if !slices.Contains(binaries[bk], f.Source) {
				binaries[bk] = append(binaries[bk], f.Source)
			}
		}
	}
	for k, fs := range bySource {
		data, err := json.Marshal(fs)
		if err != nil {
			return fmt.Errorf("encode fixes of %q: %w", k, err)
		}
		if err := w.tx.Bucket(bucketFixes).Put([]byte(k), compress(string(data))); err != nil {
			return err
		}
	}
	for k, sources := range binaries {
		if err := w.tx.Bucket(bucketFixBinaries).Put([]byte(k), []byte(strings.Join(sources, "\n"))); err != nil {
			return err
		}
	}
	return nil
}

// PackageFixes implements tracker.Store: the fixes of every source package whose fixes
// list one of keys.
func (db *DB) PackageFixes(ecosystem string, keys []string) ([]tracker.PackageFix, error) {
	var out []tracker.PackageFix
	err := db.view(func(tx *bolt.Tx) error {
		bins, fixes := tx.Bucket(bucketFixBinaries), tx.Bucket(bucketFixes)
		seen := map[string]bool{}
		for _, key := range keys {
			v := bins.Get([]byte(ecosystem + "\x00" + key))
			if v == nil {
				continue
			}
			for source := range strings.SplitSeq(string(v), "\n") {
				if seen[source] {
					continue
				}
				seen[source] = true
				data := fixes.Get([]byte(ecosystem + "\x00" + source))
				if data == nil {
					continue
				}
				text, err := decompress(data)
				if err != nil {
					return fmt.Errorf("fixes of %s %s: %w", ecosystem, source, err)
				}
				var fs []tracker.PackageFix
				if err := json.Unmarshal([]byte(text), &fs); err != nil {
					return fmt.Errorf("fixes of %s %s: %w", ecosystem, source, err)
				}
				out = append(out, fs...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read fixes from %s: %w", db.path, err)
	}
	return out, nil
}

// PackageNames implements tracker.Store: every package name some stored image carries.
func (db *DB) PackageNames() ([]string, error) {
	names := map[string]bool{}
	addLines := func(text string, prefix string) {
		for line := range strings.SplitSeq(text, "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				name, _, _ := strings.Cut(rest, "\t")
				names[name] = true
			}
		}
	}
	err := db.view(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPackageSets).ForEach(func(k, v []byte) error {
			text, err := decompress(v)
			if err != nil {
				return fmt.Errorf("package set %q: %w", k, err)
			}
			addLines(text, "P")
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketContents).ForEach(func(k, v []byte) error {
			text, err := decompress(v)
			if err != nil {
				return fmt.Errorf("contents of %q: %w", k, err)
			}
			addLines(text, "+P")
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read package names from %s: %w", db.path, err)
	}
	return slices.Sorted(maps.Keys(names)), nil
}

// migrateFixes is part of v6: the buckets of Canonical's fixes.
func migrateFixes(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketFixes, bucketFixBinaries, bucketSecurityCounts} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}
