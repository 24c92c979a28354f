// Package ubuntusecuritytest builds osv-all.tar.xz archives for tests from the real
// Canonical records kept in tracker/ubuntusecurity/testdata (see its README.md), so
// that any package's tests can serve or read Canonical's data without hand-written
// records.
package ubuntusecuritytest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// File is one entry of an archive: a slash-separated path and its bytes.
type File struct {
	Name string
	Data []byte
}

// Dir is the absolute path of tracker/ubuntusecurity/testdata, found from this source
// file so that tests of any package can use it.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("ubuntusecuritytest: no caller information")
	}
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "testdata")
}

// Records returns the real records named, by their paths below Dir
// ("osv/usn/USN-7162-1.json"), or every .json record there when none is named.
func Records(t testing.TB, names ...string) []File {
	t.Helper()
	dir := Dir()
	if len(names) == 0 {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
				rel, _ := filepath.Rel(dir, p)
				names = append(names, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: name, Data: data})
	}
	return files
}

// Archive is a tar.xz of the real records named (every one when none is), laid out as
// upstream lays them out.
func Archive(t testing.TB, names ...string) []byte {
	t.Helper()
	return Build(t, Records(t, names...)...)
}

// Build is a tar.xz of files, in order.
func Build(t testing.TB, files ...File) []byte {
	t.Helper()
	return XZ(t, Tar(t, files...))
}

// Tar is a tar of files, in order, each preceded by its directories as `tar -c` writes
// them: readers must skip entries that are not regular files.
func Tar(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := WriteTar(tw, map[string]bool{}, files...); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// modTime dates every entry, so that an archive's bytes depend on its files alone.
var modTime = time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)

// WriteTar writes files to tw, with the directories not yet in dirs (which it updates);
// a streaming builder calls it once per batch.
func WriteTar(tw *tar.Writer, dirs map[string]bool, files ...File) error {
	for _, f := range files {
		if err := writeDirs(tw, dirs, path.Dir(f.Name)); err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), ModTime: modTime}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	return nil
}

func writeDirs(tw *tar.Writer, dirs map[string]bool, dir string) error {
	if dir == "." || dir == "/" || dirs[dir] {
		return nil
	}
	if err := writeDirs(tw, dirs, path.Dir(dir)); err != nil {
		return err
	}
	dirs[dir] = true
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: modTime})
}

// smallXZ suits test archives of a few records: the default writer allocates some 50 MB
// of dictionary and tables per archive, which starves a fuzzer building one per input.
var smallXZ = xz.WriterConfig{DictCap: 1 << 16, BufSize: 1 << 16}

// XZ compresses data as one xz stream.
func XZ(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := smallXZ.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var idField = regexp.MustCompile(`"id": "([^"]+)"`)

// WriteReplicated writes to file an archive of records replicated, each copy under a
// renamed id (USN-7162-1 -> USN-7162-1-r00042), until the tar reaches size: an archive of
// the real one's order of size for benchmarks, of real records, none invented. It
// streams, and returns the tar's size and the records written.
func WriteReplicated(file string, records []File, size int64) (tarSize int64, n int, err error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	xw, err := xz.NewWriter(bw)
	if err != nil {
		return 0, 0, err
	}
	counted := &countingWriter{w: xw}
	tw := tar.NewWriter(counted)
	dirs := map[string]bool{}
	for copyNo := 0; counted.n < size; copyNo++ {
		for _, r := range records {
			id := idField.FindSubmatch(r.Data)[1]
			renamed := fmt.Appendf(nil, "%s-r%05d", id, copyNo)
			data := bytes.Replace(r.Data, []byte(`"id": "`+string(id)+`"`), []byte(`"id": "`+string(renamed)+`"`), 1)
			name := path.Join(path.Dir(r.Name), string(renamed)+".json")
			if err := WriteTar(tw, dirs, File{Name: name, Data: data}); err != nil {
				return 0, 0, err
			}
			n++
		}
	}
	for _, c := range []io.Closer{tw, xw} {
		if err := c.Close(); err != nil {
			return 0, 0, err
		}
	}
	return counted.n, n, bw.Flush()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
