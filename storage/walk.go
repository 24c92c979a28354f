package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// bbolt reads its pages through unchecked pointers into its mapping of the file, and so
// does its own check (Tx.Check, in a goroutine of its own): a key whose length or offset
// is garbage makes it read past the mapping, a fault that no recover catches
// (FuzzCheck found one within seconds). walkFile goes over the same structure first with
// bounds-checked slices: every page the tree and the freelist point to, every element of
// each within its page, every bucket's root or inline page. What it finds is what is
// wrong; when it finds nothing, bbolt can read the file, and its own check runs. The
// layout is bbolt's (internal/common: page.go, bucket.go, meta.go).
const (
	branchFlag       = 0x01
	leafFlag         = 0x02
	freelistFlag     = 0x10
	bucketLeafFlag   = 0x01
	elementSize      = 16 // a branch element (pos, ksize, pgid) or a leaf one (flags, pos, ksize, vsize)
	bucketHeaderSize = 16 // a bucket's root page id and sequence, then its inline page
	noFreelist       = ^uint64(0)
	walkMaxDepth     = 64 // nested buckets and tree levels together; a real file has a handful
	walkMaxProblems  = 20
)

type pageWalker struct {
	data     []byte // the file
	pageSize uint64
	hwm      uint64   // the meta's page count: no page id at or above it is in use
	seen     []uint64 // a bit a page: reached already
	// budget is how many more elements the walk may visit. Every element of a sound file
	// has 16 bytes of the file to itself, so there are at most len(data)/16; elements of
	// a damaged one can overlap, an inline bucket's among them (which no page id marks),
	// and without a bound the walk of them could take forever.
	budget   int
	problems []string
}

// walkFile checks the structure of the file at path as its newest valid meta page
// describes it: the freelist, and the whole tree when tree is set. It maps the file
// read-only for the walk only.
func walkFile(path string, tree bool) (problems []string) {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	m, _, err := newestMeta(f)
	if err != nil {
		return []string{err.Error()}
	}
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return []string{"cannot map the file: " + err.Error()}
	}
	defer syscall.Munmap(data)
	w := &pageWalker{data: data, pageSize: uint64(m.pageSize), hwm: m.pgid, seen: make([]uint64, (m.pgid+63)/64), budget: len(data) / elementSize}
	w.seen[0] |= 3 // the meta pages
	// The slices are bounds-checked; a fault could only come of the file shrinking under
	// the walk, and is a panic here too.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			w.problems = append(w.problems, fmt.Sprintf("a page could not be read: %v", r))
		}
		problems = w.problems
	}()
	w.freelist(m.freelist)
	if tree {
		w.tree(m.root, "the root bucket", 0, nil, nil)
	}
	return w.problems
}

func (w *pageWalker) problem(format string, args ...any) {
	if len(w.problems) < walkMaxProblems {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// page is the page id with its overflow pages, or nil (and a problem) when its header or
// extent is not what a page of id has.
func (w *pageWalker) page(id uint64, what string) []byte {
	if id < 2 || id >= w.hwm {
		w.problem("%s points to page %d, outside pages 2 to %d", what, id, w.hwm-1)
		return nil
	}
	at := id * w.pageSize
	if at+pageHeaderSize > uint64(len(w.data)) {
		w.problem("page %d (%s) is past the end of the file", id, what)
		return nil
	}
	le := binary.LittleEndian
	if got := le.Uint64(w.data[at:]); got != id {
		w.problem("page %d (%s) says it is page %d", id, what, got)
		return nil
	}
	overflow := uint64(le.Uint32(w.data[at+12:]))
	if id+overflow >= w.hwm || at+(overflow+1)*w.pageSize > uint64(len(w.data)) {
		w.problem("page %d (%s) runs %d pages past the last page", id, what, overflow)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i/64]&(1<<(i%64)) != 0 {
			w.problem("page %d (%s) is referred to twice", i, what)
			return nil
		}
		w.seen[i/64] |= 1 << (i % 64)
	}
	return w.data[at : at+(overflow+1)*w.pageSize]
}

func (w *pageWalker) freelist(id uint64) {
	if id == noFreelist {
		return
	}
	p := w.page(id, "the freelist")
	if p == nil {
		return
	}
	le := binary.LittleEndian
	if flags := le.Uint16(p[8:]); flags&freelistFlag == 0 {
		w.problem("page %d is the freelist but has flags %#x", id, flags)
		return
	}
	count, ids := uint64(le.Uint16(p[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF { // the real count is the first id's place
		count, ids = le.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > (uint64(len(p))-ids)/8 {
		w.problem("the freelist (page %d) lists %d pages, more than it holds", id, count)
		return
	}
	for i := range count {
		if free := le.Uint64(p[ids+i*8:]); free < 2 || free >= w.hwm {
			w.problem("the freelist (page %d) lists page %d, outside pages 2 to %d", id, free, w.hwm-1)
			return
		}
	}
}

// tree walks the branch or leaf page id and what it points to. Its keys must lie in
// [lo, hi) (nil: unbounded), the range the branch above gives it: a key damaged into
// one still in order within its page (512 bytes of 'Z' over the last key) is out of
// its range, and a seek for the key it was finds nothing where it should find it.
func (w *pageWalker) tree(id uint64, what string, depth int, lo, hi []byte) {
	if depth > walkMaxDepth {
		w.problem("%s is nested deeper than %d pages", what, walkMaxDepth)
		return
	}
	p := w.page(id, what)
	if p == nil {
		return
	}
	flags := binary.LittleEndian.Uint16(p[8:])
	switch {
	case flags&branchFlag != 0:
		// A child's range ends at the next element's key, known only when the walk gets
		// there: each child is walked one element late.
		var childKey []byte
		var child uint64
		held := false // a child read, not walked yet
		walkChild := func(next []byte) {
			if held {
				w.tree(child, what, depth+1, childKey, next)
			}
		}
		w.elements(p, id, what, false, lo, hi, func(k, _ []byte, c uint64, _ uint32) {
			walkChild(k)
			childKey, child, held = k, c, true
		})
		walkChild(hi)
	case flags&leafFlag != 0:
		w.elements(p, id, what, true, lo, hi, func(k, v []byte, _ uint64, elemFlags uint32) {
			if elemFlags&bucketLeafFlag != 0 {
				w.bucket(v, fmt.Sprintf("bucket %q", k), depth+1)
			}
		})
	default:
		w.problem("page %d (%s) is neither a branch nor a leaf (flags %#x)", id, what, flags)
	}
}

// elements checks that every element of page p (of page id, or inline when id is 0) and
// its key and value lie within p, and that the keys are in order and in [lo, hi), then
// hands each on.
func (w *pageWalker) elements(p []byte, id uint64, what string, leaf bool, lo, hi []byte, each func(k, v []byte, child uint64, flags uint32)) {
	le := binary.LittleEndian
	count := uint64(le.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(p)) {
		w.problem("page %d (%s) has %d elements, more than it holds", id, what, count)
		return
	}
	if w.budget -= int(count); w.budget < 0 {
		w.problem("page %d (%s) and those before it have more elements than the file holds: they overlap", id, what)
		return
	}
	var prev []byte
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at : at+elementSize]
		var flags uint32
		var pos, ksize, vsize uint64
		var child uint64
		if leaf {
			flags, pos, ksize, vsize = le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		} else {
			pos, ksize, child = uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
		}
		start := at + pos
		if end := start + ksize + vsize; end > uint64(len(p)) || end < start {
			w.problem("element %d of page %d (%s) lies past the page", i, id, what)
			return
		}
		k, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			w.problem("the keys of page %d (%s) are out of order at element %d", id, what, i)
			return
		}
		if lo != nil && bytes.Compare(k, lo) < 0 || hi != nil && bytes.Compare(k, hi) >= 0 {
			w.problem("key %d of page %d (%s) lies outside the range the branch above gives the page", i, id, what)
			return
		}
		prev = k
		if each(k, v, child, flags); w.budget < 0 {
			return
		}
	}
}

// bucket walks a bucket's value: its root page, or the inline page that follows.
func (w *pageWalker) bucket(v []byte, what string, depth int) {
	if len(v) < bucketHeaderSize {
		w.problem("%s has a value of %d bytes, too short for a bucket", what, len(v))
		return
	}
	if root := binary.LittleEndian.Uint64(v); root != 0 {
		w.tree(root, what, depth, nil, nil)
		return
	}
	inline := v[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		w.problem("%s is inline but has no page", what)
		return
	}
	if flags := binary.LittleEndian.Uint16(inline[8:]); flags&leafFlag == 0 {
		w.problem("%s is inline but its page is not a leaf (flags %#x)", what, flags)
		return
	}
	w.elements(inline, 0, what, true, nil, nil, func(k, v []byte, _ uint64, flags uint32) {
		if flags&bucketLeafFlag != 0 {
			w.bucket(v, fmt.Sprintf("bucket %q", k), depth+1)
		}
	})
}
