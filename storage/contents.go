package storage

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nodewatch/nodewatch/tracker"
)

// What an image carries (its packages, container images and Windows updates) is most of
// what its note says: 700 packages an Ubuntu image, kept for every image of every family.
// Consecutive images of a family share most of it, so it is kept as sets and deltas:
//
//   - bucketPackageSets holds full sets, each written once and never changed, keyed
//     `<family>\x00<version>\x00<hash>` by the image that first carried it;
//   - bucketContents holds, per image, the key of its set and the lines it adds to or
//     drops from that set.
//
// An image starts a new set when its delta would exceed a quarter of its own lines, so
// reading one costs a set and a delta whichever image it is. Both are flate-compressed.
// Neither bucket is read by `images` or the status page: only by show, diff and nodes.
var (
	bucketPackageSets = []byte("package_sets")
	bucketContents    = []byte("image_contents")
)

// A content line is one item, its kind first: `P<name>\t<version>\t<arch>`, `I<ref>`,
// `U<id>\t<kind>`. Sets are sorted lines; a delta line is `+<line>` or `-<line>`.
func contentLines(c *tracker.ImageContents) ([]string, error) {
	lines := make([]string, 0, len(c.Packages)+len(c.Images)+len(c.Updates))
	add := func(kind byte, fields ...string) error {
		for _, f := range fields {
			if strings.ContainsAny(f, "\t\n\x00") {
				return fmt.Errorf("%q holds a tab, newline or NUL", f)
			}
		}
		lines = append(lines, string(kind)+strings.Join(fields, "\t"))
		return nil
	}
	for _, p := range c.Packages {
		if err := add('P', p.Name, p.Version, p.Arch); err != nil {
			return nil, fmt.Errorf("package %w", err)
		}
	}
	for _, ref := range c.Images {
		if err := add('I', ref); err != nil {
			return nil, fmt.Errorf("container image %w", err)
		}
	}
	for _, u := range c.Updates {
		if err := add('U', u.ID, u.Kind); err != nil {
			return nil, fmt.Errorf("update %w", err)
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines), nil
}

// contentsOf is what contentLines wrote, read back.
func contentsOf(listing tracker.PackageListing, lines []string) *tracker.ImageContents {
	c := &tracker.ImageContents{Listing: listing}
	// Most lines are packages: one allocation for them all, and fields cut in place (a
	// split per line was most of what reading a package list allocated).
	c.Packages = make([]tracker.Package, 0, len(lines))
	for _, line := range lines {
		if line == "" {
			continue
		}
		first, rest, tab := strings.Cut(line[1:], "\t")
		switch line[0] {
		case 'P':
			version, arch, ok := strings.Cut(rest, "\t")
			if ok && !strings.Contains(arch, "\t") {
				c.Packages = append(c.Packages, tracker.Package{Name: first, Version: version, Arch: arch})
			}
		case 'I':
			c.Images = append(c.Images, first)
		case 'U':
			if tab && !strings.Contains(rest, "\t") {
				c.Updates = append(c.Updates, tracker.WindowsUpdate{ID: first, Kind: rest})
			}
		}
	}
	if len(c.Packages) == 0 {
		c.Packages = nil // as read before: none is nil, not empty
	}
	return c
}

// delta is what turns base into lines (both sorted).
func delta(base, lines []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(base) || j < len(lines) {
		switch {
		case j == len(lines) || i < len(base) && base[i] < lines[j]:
			out = append(out, "-"+base[i])
			i++
		case i == len(base) || lines[j] < base[i]:
			out = append(out, "+"+lines[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return out
}

// applyDelta is base with d applied, sorted. Both are sorted as delta writes them, so
// this is a merge; show read two images' contents each, and sorting the result again
// was a tenth of what it took. A file whose lines are out of order is sorted anyway.
func applyDelta(base, d []string) []string {
	var drop, add []string
	for _, line := range d {
		switch {
		case strings.HasPrefix(line, "-"):
			drop = append(drop, line[1:])
		case strings.HasPrefix(line, "+"):
			add = append(add, line[1:])
		}
	}
	out := make([]string, 0, len(base)+len(add))
	k, a := 0, 0
	for _, line := range base {
		for k < len(drop) && drop[k] < line {
			k++
		}
		if k < len(drop) && drop[k] == line {
			k++
			continue
		}
		for a < len(add) && add[a] < line {
			out = append(out, add[a])
			a++
		}
		out = append(out, line)
	}
	out = append(out, add[a:]...)
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out
}

// putContents stores what an image carries against the set of the image before it in
// the family (by key), or as a new set.
func putContents(w *batchWriter, im tracker.NodeImage) error {
	lines, err := contentLines(im.Contents)
	if err != nil {
		return fmt.Errorf("encode contents of %s %s: %w", im.Family, im.Version, err)
	}
	key := itemKey(im.Family, im.Version)
	setKey, base, err := w.neighbourSet(im.Family, key)
	if err != nil {
		return err
	}
	var d []string
	if setKey != nil {
		d = delta(base, lines)
	}
	if setKey == nil || len(d) > len(lines)/4 {
		h := fnv.New64a()
		for _, line := range lines {
			h.Write([]byte(line + "\n"))
		}
		setKey = fmt.Appendf(slices.Clone(key), "\x00%016x", h.Sum64())
		if w.tx.Bucket(bucketPackageSets).Get(setKey) == nil {
			if err := w.put(bucketPackageSets, setKey, compress(strings.Join(lines, "\n"))); err != nil {
				return err
			}
		}
		w.keepSet(setKey, lines)
		d = nil
	}
	record := string(setKey) + "\n" + string(im.Contents.Listing) + "\n" + strings.Join(d, "\n")
	return w.put(bucketContents, key, compress(record))
}

// PutContents implements tracker.Store.
func (db *DB) PutContents(ctx context.Context, images []tracker.NodeImage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		w := &batchWriter{tx: tx, now: time.Now}
		for _, im := range images {
			if im.Contents == nil {
				continue
			}
			if err := putContents(w, im); err != nil {
				return err
			}
		}
		return nil
	})
}

// neighbourSet is the set the image's record uses if it is stored already, else the set
// of the nearest image before it in the family, else of the nearest after: nil for none.
func (w *batchWriter) neighbourSet(family string, key []byte) ([]byte, []string, error) {
	prefix := itemKey(family, "")
	c := w.tx.Bucket(bucketContents).Cursor()
	k, v := c.Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		if pk, pv := c.Prev(); pk != nil && bytes.HasPrefix(pk, prefix) {
			k, v = pk, pv
		} else if k == nil || !bytes.HasPrefix(k, prefix) {
			return nil, nil, nil
		} else if k, v = c.Seek(key); k == nil || !bytes.HasPrefix(k, prefix) {
			return nil, nil, nil
		}
	}
	setKey, _, _, err := readRecord(v)
	if err != nil {
		return nil, nil, fmt.Errorf("contents of %q: %w", k, err)
	}
	if set, ok := w.sets[string(setKey)]; ok {
		return setKey, set, nil
	}
	set, err := readSet(w.tx, setKey)
	if err == nil {
		w.keepSet(setKey, set)
	}
	return setKey, set, err
}

// keepSet remembers a set this batch read or wrote: the images of a family share a few,
// and decoding one per image stored was most of storing them.
func (w *batchWriter) keepSet(key []byte, set []string) {
	if w.sets == nil {
		w.sets = map[string][]string{}
	}
	w.sets[string(key)] = set
}

func readRecord(v []byte) (setKey []byte, listing tracker.PackageListing, d []string, err error) {
	text, err := decompress(v)
	if err != nil {
		return nil, "", nil, err
	}
	head, rest, _ := strings.Cut(text, "\n")
	l, rest, _ := strings.Cut(rest, "\n")
	if rest != "" {
		d = strings.Split(rest, "\n")
	}
	return []byte(head), tracker.PackageListing(l), d, nil
}

func readSet(tx *bolt.Tx, setKey []byte) ([]string, error) {
	v := tx.Bucket(bucketPackageSets).Get(setKey)
	if v == nil {
		return nil, fmt.Errorf("package set %q is missing: %w", setKey, errInconsistent)
	}
	text, err := decompress(v)
	if err != nil || text == "" {
		return nil, err
	}
	return strings.Split(text, "\n"), nil
}

// Contents implements tracker.Store.
func (db *DB) Contents(family, version string) (*tracker.ImageContents, error) {
	var out *tracker.ImageContents
	key := itemKey(family, version)
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketContents).Get(key)
		if v == nil {
			return nil
		}
		setKey, listing, d, err := readRecord(v)
		if err != nil {
			return err
		}
		set, err := readSet(tx, setKey)
		if err != nil {
			return err
		}
		out = contentsOf(listing, applyDelta(set, d))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read contents of %s %s from %s: %w", family, version, db.path, err)
	}
	return out, nil
}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression)
	return w
}}

func compress(s string) []byte {
	var b bytes.Buffer
	w := flateWriters.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	flateWriters.Put(w)
	return b.Bytes()
}

// flateReaders keep their 32 KB windows across reads: a cold backfill decompresses a
// set and a delta per image stored, and allocating a reader each time was a third of its
// garbage.
var flateReaders sync.Pool

func decompress(v []byte) (string, error) {
	src := bytes.NewReader(v)
	r, _ := flateReaders.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	defer flateReaders.Put(r)
	var b strings.Builder
	b.Grow(4 * len(v)) // text compresses about fourfold here: most reads need no growth
	if _, err := io.Copy(&b, r); err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	return b.String(), nil
}

// migrateContents (v5 -> v6) makes the contents' buckets, and forgets what says the
// notes were read (each image's blob SHA, the notes' newest commit and its validator),
// so that the next cycle reads every note again for what it carries: an edit, no event.
func migrateContents(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketPackageSets, bucketContents} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if err := migrateFixes(tx); err != nil {
		return err
	}
	if err := tx.Bucket(bucketMeta).Delete([]byte(tracker.MetaNotesCommit)); err != nil {
		return err
	}
	if err := forgetValidators(tx, []byte("/commits?path=")); err != nil {
		return err
	}
	images := tx.Bucket(bucketImages)
	type edit struct{ key, value []byte }
	var edits []edit
	err := images.ForEach(func(k, v []byte) error {
		// The SHA is a JSON string field: rewriting it in place keeps every other byte.
		i := bytes.Index(v, []byte(`"notes_sha":"`))
		if i < 0 {
			return nil
		}
		end := bytes.IndexByte(v[i+len(`"notes_sha":"`):], '"')
		if end < 0 {
			return fmt.Errorf("image %q: unterminated notes_sha", k)
		}
		nv := slices.Concat(v[:i+len(`"notes_sha":"`)], v[i+len(`"notes_sha":"`)+end:])
		edits = append(edits, edit{bytes.Clone(k), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range edits {
		if err := images.Put(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}
