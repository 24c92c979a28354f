package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// A bbolt file starts with two meta pages. bbolt maps the file and trusts the newest
// valid meta's page count: a file cut shorter than that makes it read past the end of
// the mapping, a fault no recover catches. preflight reads the metas first, as bbolt
// lays them out (bbolt/internal/common: a 16-byte page header, then magic, version, page
// size, flags, the root bucket, the freelist and high-water page ids, the txid and an
// FNV-64a checksum of what precedes it), and refuses a file they do not fit.
const (
	boltMagic      = 0xED0CDAED
	pageHeaderSize = 16
	metaSize       = 56 // magic .. txid, then the 8-byte checksum
)

type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

// preflight checks that path, if it exists and is not empty, has a valid meta page whose
// pages the file holds; err says why not. lost names a meta page that is damaged while
// the other is sound: bbolt opens such a file from the other, and what it reaches is
// still safe to read, but the file is damaged all the same. It reads two pages.
func preflight(path string) (lost string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return "", err
	}
	best, lost, err := newestMeta(f)
	if err != nil {
		return "", err
	}
	if need := int64(best.pgid) * int64(best.pageSize); st.Size() < need {
		return "", fmt.Errorf("the file is %d bytes, its meta page says %d pages of %d bytes (%d): cut short",
			st.Size(), best.pgid, best.pageSize, need)
	}
	if best.root >= best.pgid || best.freelist >= best.pgid && best.freelist != ^uint64(0) {
		return "", errors.New("its meta page points past its last page")
	}
	return lost, nil
}

// newestMeta is the meta page bbolt opens the file by: the valid one of the higher
// transaction. lost names a meta page that is damaged while the other is sound.
func newestMeta(f io.ReaderAt) (best *boltMeta, lost string, err error) {
	// The first meta says its page size and the second is one page further; where the
	// first is damaged, the second is looked for at each page size bbolt uses.
	var metas []*boltMeta
	first, err0 := readMeta(f, 0)
	var err1 error
	if first != nil {
		metas = append(metas, first)
		var second *boltMeta
		if second, err1 = readMeta(f, int64(first.pageSize)); second != nil {
			metas = append(metas, second)
		}
	} else {
		err1 = errors.New("not found at any page size")
		for _, at := range []int64{4096, 8192, 16384, 65536} {
			if m, _ := readMeta(f, at); m != nil && int64(m.pageSize) == at {
				metas, err1 = append(metas, m), nil
				break
			}
		}
	}
	switch {
	case len(metas) == 0:
		return nil, "", fmt.Errorf("no valid meta page (the first: %v; the second: %v)", err0, err1)
	case err0 != nil:
		lost = fmt.Sprintf("its first meta page is damaged (%v); bbolt reads the second", err0)
	case err1 != nil:
		lost = fmt.Sprintf("its second meta page is damaged (%v); bbolt reads the first", err1)
	}
	best = metas[0]
	if len(metas) == 2 && metas[1].txid > best.txid {
		best = metas[1]
	}
	return best, lost, nil
}

func readMeta(r io.ReaderAt, at int64) (*boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize+8)
	if _, err := r.ReadAt(buf, at); err != nil {
		return nil, fmt.Errorf("unreadable: %v", err)
	}
	b := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != boltMagic {
		return nil, errors.New("not a bbolt meta page (magic)")
	}
	h := fnv.New64a()
	h.Write(b[:metaSize])
	if le.Uint64(b[metaSize:]) != h.Sum64() {
		return nil, errors.New("checksum does not match")
	}
	m := &boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return nil, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}
