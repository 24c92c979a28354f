package upstreamtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// snapshot is one world directory with the overrides applied to it. It is never changed
// once served: SetWorld and Override build a new one, so a request sees one consistent world.
type snapshot struct {
	dir    string
	date   time.Time // world.json's date at 00:00 UTC
	hashes *hashCache
	// overrides holds files replaced or added in memory, by path relative to dir; a nil
	// blob removes that path and everything beneath it.
	overrides map[string]*blob
	// modified is each Flatcar file's Last-Modified, kept while its bytes stay the same
	// so that If-Modified-Since agrees with the ETag.
	modified map[string]modified
	// git holds the snapshot's trees as they are hashed (see git.go); each snapshot has its own.
	git *gitIndex
}

type modified struct {
	sha256 string
	at     time.Time
}

// node is one path of a snapshot: a file, or a directory when blob is nil.
type node struct {
	name string
	blob *blob
}

func (n node) isDir() bool { return n.blob == nil }

// blob is one file's bytes, by their hashes. Snapshot files stay on disk and are read
// per request, so a large world costs no memory; overrides keep their bytes.
type blob struct {
	size   int64
	gitSHA string // git blob SHA-1: what the Contents API lists
	sha256 string
	data   []byte // an override's bytes
	file   string // or the snapshot file holding them
}

func newBlob(data []byte) *blob {
	b := &blob{size: int64(len(data)), data: data}
	b.gitSHA, b.sha256, _ = hashBlob(bytes.NewReader(data), b.size) // reading memory cannot fail
	return b
}

func (b *blob) bytes() ([]byte, error) {
	if b.file == "" {
		return b.data, nil
	}
	return os.ReadFile(b.file)
}

// readAt reads n bytes at off, so a page of a large file need not read all of it.
func (b *blob) readAt(off, n int64) ([]byte, error) {
	if b.file == "" {
		return b.data[off : off+n], nil
	}
	f, err := os.Open(b.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read %s: %w", b.file, err)
	}
	return buf, nil
}

// hashBlob returns the git blob SHA-1 and the SHA-256 of the size bytes of r.
func hashBlob(r io.Reader, size int64) (gitSHA, sum256 string, err error) {
	git, plain := sha1.New(), sha256.New()
	fmt.Fprintf(git, "blob %d\x00", size)
	n, err := io.Copy(io.MultiWriter(git, plain), r)
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return hex.EncodeToString(git.Sum(nil)), hex.EncodeToString(plain.Sum(nil)), err
}

// hashCache hashes each snapshot file once, keyed so that a file changed on disk is hashed again.
type hashCache struct {
	mu    sync.Mutex
	blobs map[fileKey]*blob
}

type fileKey struct {
	file  string
	size  int64
	mtime int64
}

func (c *hashCache) blob(file string, info fs.FileInfo) (*blob, error) {
	key := fileKey{file, info.Size(), info.ModTime().UnixNano()}
	c.mu.Lock()
	b, ok := c.blobs[key]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b = &blob{size: info.Size(), file: file}
	if b.gitSHA, b.sha256, err = hashBlob(f, b.size); err != nil {
		return nil, fmt.Errorf("hash %s: %w", file, err)
	}
	c.mu.Lock()
	c.blobs[key] = b
	c.mu.Unlock()
	return b, nil
}

// loadSnapshot reads worldDir's world.json. prev, the snapshot served until now (nil at
// first), carries the Last-Modified of Flatcar files whose bytes did not change.
func loadSnapshot(worldDir string, hashes *hashCache, prev *snapshot) (*snapshot, error) {
	dir, err := filepath.Abs(worldDir)
	if err != nil {
		return nil, err
	}
	manifest := filepath.Join(dir, "world.json")
	raw, err := os.ReadFile(manifest)
	if err != nil {
		return nil, fmt.Errorf("upstreamtest: %w", err)
	}
	var world struct {
		Date string `json:"date"`
	}
	if err := json.Unmarshal(raw, &world); err != nil {
		return nil, fmt.Errorf("upstreamtest: %s: %w", manifest, err)
	}
	date, err := time.Parse(time.DateOnly, world.Date)
	if err != nil {
		return nil, fmt.Errorf("upstreamtest: %s: date %q: %w", manifest, world.Date, err)
	}
	s := &snapshot{dir: dir, date: date, hashes: hashes, overrides: map[string]*blob{}, modified: map[string]modified{}, git: newGitIndex()}
	var prevModified map[string]modified
	if prev != nil {
		prevModified = prev.modified
	}
	err = filepath.WalkDir(filepath.Join(dir, "flatcar"), func(file string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && file == filepath.Join(dir, "flatcar") {
			return fs.SkipAll
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := hashes.blob(file, info)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(file[len(dir)+1:])
		s.modified[rel] = carryModified(prevModified, rel, b.sha256, date)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upstreamtest: world %s: %w", dir, err)
	}
	return s, nil
}

// carryModified keeps the Last-Modified of unchanged bytes and otherwise moves it to date,
// or past the previous one when date is older (a test going back to an earlier world):
// a changed file must never look unmodified since a time a client holds.
func carryModified(prev map[string]modified, rel, sha256 string, date time.Time) modified {
	last, ok := prev[rel]
	if ok && last.sha256 == sha256 {
		return last
	}
	if ok && !date.After(last.at) {
		date = last.at.Add(time.Second)
	}
	return modified{sha256: sha256, at: date}
}

// withOverride returns a copy of s in which rel holds data, or, for nil data, rel and
// everything beneath it are gone.
func (s *snapshot) withOverride(rel string, data []byte) *snapshot {
	next := *s
	next.git = newGitIndex()
	next.overrides = make(map[string]*blob, len(s.overrides)+1)
	for p, b := range s.overrides {
		if data == nil && strings.HasPrefix(p, rel+"/") {
			continue
		}
		next.overrides[p] = b
	}
	if data == nil {
		next.overrides[rel] = nil
		return &next
	}
	b := newBlob(bytes.Clone(data))
	next.overrides[rel] = b
	if strings.HasPrefix(rel, "flatcar/") {
		next.modified = make(map[string]modified, len(s.modified)+1)
		for p, m := range s.modified {
			next.modified[p] = m
		}
		next.modified[rel] = carryModified(s.modified, rel, b.sha256, s.date)
	}
	return &next
}

// lastModified is the Last-Modified of the Flatcar file at rel.
func (s *snapshot) lastModified(rel string) time.Time {
	if m, ok := s.modified[rel]; ok {
		return m.at
	}
	return s.date
}

// stat finds rel (slash-separated, relative to the world directory); fs.ErrNotExist when absent.
func (s *snapshot) stat(rel string) (node, error) {
	name := path.Base(rel)
	if b := s.overrides[rel]; b != nil {
		return node{name: name, blob: b}, nil
	}
	if s.hasAddedBelow(rel) {
		return node{name: name}, nil
	}
	if s.removed(rel) {
		return node{}, fs.ErrNotExist
	}
	file := filepath.Join(s.dir, filepath.FromSlash(rel))
	info, err := os.Stat(file)
	switch {
	case errors.Is(err, syscall.ENOTDIR): // a file stands where rel needs a directory
		return node{}, fs.ErrNotExist
	case err != nil:
		return node{}, err
	case info.IsDir():
		return node{name: name}, nil
	case !info.Mode().IsRegular():
		return node{}, fs.ErrNotExist
	}
	b, err := s.hashes.blob(file, info)
	if err != nil {
		return node{}, err
	}
	return node{name: name, blob: b}, nil
}

// file is the file at rel; fs.ErrNotExist when absent or a directory.
func (s *snapshot) file(rel string) (*blob, error) {
	n, err := s.stat(rel)
	if err == nil && n.isDir() {
		err = fs.ErrNotExist
	}
	return n.blob, err
}

func (s *snapshot) hasAddedBelow(rel string) bool {
	for p, b := range s.overrides {
		if b != nil && strings.HasPrefix(p, rel+"/") {
			return true
		}
	}
	return false
}

// removed reports whether an override removed rel or a directory above it.
func (s *snapshot) removed(rel string) bool {
	for p := rel; p != "."; p = path.Dir(p) {
		if b, ok := s.overrides[p]; ok && b == nil {
			return true
		}
	}
	return false
}

// list returns the directory rel's entries in git's tree order, the order GitHub lists them in.
func (s *snapshot) list(rel string) ([]node, error) {
	names := map[string]bool{}
	if !s.removed(rel) {
		entries, err := os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(rel)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, err
		}
		for _, e := range entries {
			names[e.Name()] = true
		}
	}
	for p, b := range s.overrides {
		if rest, ok := strings.CutPrefix(p, rel+"/"); ok && b != nil {
			first, _, _ := strings.Cut(rest, "/")
			names[first] = true
		}
	}
	nodes := make([]node, 0, len(names))
	for name := range names {
		n, err := s.stat(rel + "/" + name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return treeName(nodes[i]) < treeName(nodes[j]) })
	return nodes, nil
}

// treeName is the key git sorts a tree by: a directory sorts as if its name ended in "/".
func treeName(n node) string {
	if n.isDir() {
		return n.name + "/"
	}
	return n.name
}

// treeSHA is the git tree SHA-1 of the directory rel, as GitHub lists a directory's sha;
// each tree is hashed once per snapshot (see gitIndex).
func (s *snapshot) treeSHA(rel string) (string, error) {
	t, err := s.git.tree(s, rel)
	if err != nil {
		return "", err
	}
	return t.sha, nil
}
