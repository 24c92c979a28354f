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

// errDamaged marks what preflight finds.
var errDamaged = errors.New("damaged")

type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

// preflight checks that path, if it exists and is not empty, has a valid meta page whose
// pages the file holds. It reads two pages, nothing else.
func preflight(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	var best *boltMeta
	var why []string
	// The first meta says its page size; the second is one page further. Where the first
	// is damaged, try the page sizes bbolt uses.
	for _, at := range []int64{0, 4096, 8192, 16384, 65536} {
		m, err := readMeta(f, at)
		if err != nil {
			if at <= 4096 {
				why = append(why, fmt.Sprintf("meta page at byte %d: %v", at, err))
			}
			continue
		}
		if at != 0 && at != int64(m.pageSize) {
			continue
		}
		if best == nil || m.txid > best.txid {
			best = m
		}
	}
	if best == nil {
		return fmt.Errorf("%w: no valid meta page (%v)", errDamaged, why)
	}
	if need := int64(best.pgid) * int64(best.pageSize); st.Size() < need {
		return fmt.Errorf("%w: the file is %d bytes, its meta page says %d pages of %d bytes (%d): cut short", errDamaged,
			st.Size(), best.pgid, best.pageSize, need)
	}
	if best.root >= best.pgid || best.freelist >= best.pgid && best.freelist != ^uint64(0) {
		return fmt.Errorf("%w: its meta page points past its last page", errDamaged)
	}
	return nil
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
