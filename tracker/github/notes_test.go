package github_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// gitBlobSHA is what git names a file's bytes, computed here from the fixture itself.
func gitBlobSHA(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// fixtureFamilies walks a snapshot's notes directory as a person would with find(1):
// every directory holding a <version>.txt, with each file's blob SHA.
func fixtureFamilies(t *testing.T, date string) map[string]map[string]string {
	t.Helper()
	root := filepath.Join(trackertest.World(t, date), trackertest.NotesDir)
	out := map[string]map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		family := filepath.ToSlash(rel)
		if out[family] == nil {
			out[family] = map[string]string{}
		}
		out[family][d.Name()] = gitBlobSHA(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entriesByName(entries []tracker.NoteEntry) map[string]string {
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name] = e.SHA
	}
	return out
}

func validators(l tracker.NotesListing) tracker.ValidatorLookup {
	return func(url string) (tracker.Validator, error) {
		if url == l.URL {
			return l.Validator, nil
		}
		return tracker.Validator{}, nil
	}
}

// TestListNotes: one Commits request and one tree list every family of the snapshot with
// every file's real blob SHA; then an idle listing is one request answered 304.
func TestListNotes(t *testing.T) {
	c, s := client(t)
	want := fixtureFamilies(t, "2026-05-31")
	s.ResetStats()
	l, err := c.ListNotes(context.Background(), none, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Requests != 2 {
		t.Errorf("a changed listing took %d requests, want 2 (commits, tree)", st.Requests)
	}
	if got := slices.Sorted(maps.Keys(l.Families)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) || len(got) != 4 {
		t.Fatalf("families %v, want the 4 of the snapshot %v", got, slices.Sorted(maps.Keys(want)))
	}
	for family, files := range want {
		if got := entriesByName(l.Families[family]); !maps.Equal(got, files) {
			t.Errorf("%s: %d files listed, %d in the snapshot, or their SHAs differ", family, len(got), len(files))
		}
	}
	var note tracker.NoteEntry
	for _, e := range l.Families["AKSFlatcar/gen2"] {
		if e.Name == "202605.27.0.txt" {
			note = e
		}
	}
	if note.Version != "202605.27.0" || note.Family != "AKSFlatcar/gen2" ||
		note.HTMLURL != "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt" ||
		!strings.HasSuffix(note.DownloadURL, "/raw/Azure/AgentBaker/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt") {
		t.Errorf("entry %+v", note)
	}
	n, err := c.FetchNote(context.Background(), note)
	if err != nil || n.Kernel != "6.12.87-flatcar" {
		t.Errorf("the note through its download URL: kernel %q, %v", n.Kernel, err)
	}

	s.ResetStats()
	idle, err := c.ListNotes(context.Background(), validators(l), l.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); !idle.NotModified || idle.Families != nil || st.Requests != 1 || st.NotModified != 1 || st.BodyBytes != 0 {
		t.Errorf("idle listing: not modified %v, %d requests, %d 304, %d body bytes; want one 304", idle.NotModified, st.Requests, st.NotModified, st.BodyBytes)
	}
	// Without the validator (a new ETag, say) the commit alone says nothing changed.
	s.ResetStats()
	same, err := c.ListNotes(context.Background(), none, l.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); !same.NotModified || st.Requests != 1 || same.Commit != l.Commit {
		t.Errorf("same commit: not modified %v after %d requests", same.NotModified, st.Requests)
	}
}

// TestListNotesAcrossSnapshots: the April snapshot's listing is not modified until May
// is served, and May's then lists exactly May's files.
func TestListNotesAcrossSnapshots(t *testing.T) {
	c, s := client(t)
	if err := s.SetWorld(trackertest.World(t, "2026-04-30")); err != nil {
		t.Fatal(err)
	}
	april, err := c.ListNotes(context.Background(), none, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetWorld(trackertest.World(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	may, err := c.ListNotes(context.Background(), validators(april), april.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if may.NotModified || may.Commit == april.Commit {
		t.Fatalf("May after April: not modified %v, commit %s both times", may.NotModified, may.Commit)
	}
	want := fixtureFamilies(t, "2026-05-31")
	for family, files := range want {
		if got := entriesByName(may.Families[family]); !maps.Equal(got, files) {
			t.Errorf("%s: May lists %d files, the snapshot has %d", family, len(got), len(files))
		}
	}
	if _, ok := entriesByName(april.Families["AKSFlatcar/gen2"])["202605.27.0.txt"]; ok {
		t.Error("April lists May's 202605.27.0")
	}
}

// TestListNotesTruncatedTree: a tree GitHub truncates is listed again directory by
// directory through the Contents API, with the same families and SHAs, and says so.
func TestListNotesTruncatedTree(t *testing.T) {
	c, s := client(t)
	s.SetTreeLimit(50)
	s.ResetStats()
	l, err := c.ListNotes(context.Background(), none, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "truncated") {
		t.Errorf("warnings %q, want one naming the truncated tree", l.Warnings)
	}
	// commits, tree, then the notes path and its 8 directories: AKSUbuntu, AKSUbuntu/gen2,
	// AKSUbuntu/gen2/2404containerd, AKSAzureLinuxV3, its gen2, AKSFlatcar, its gen2 and gen2arm64.
	if st := s.Stats(); st.Requests != 2+1+8 {
		t.Errorf("%d requests, want 11", st.Requests)
	}
	for family, files := range fixtureFamilies(t, "2026-05-31") {
		if got := entriesByName(l.Families[family]); !maps.Equal(got, files) {
			t.Errorf("%s: %d files through the Contents API, %d in the snapshot", family, len(got), len(files))
		}
	}
}

// TestListNotesWhatIsAFamily: a directory is a family when it holds image notes:
// security-patch/ and a directory of JSON alone are not; a new family is.
func TestListNotesWhatIsAFamily(t *testing.T) {
	c, s := client(t)
	notes := trackertest.NotesDir + "/"
	s.Override(notes+"security-patch/2024.12.01/AKSUbuntu-2204gen2containerd.json", []byte(`{}`))
	s.Override(notes+"AKSAIManager/gptoss120b/202608.28.0.json", []byte(`{}`))
	s.Override(notes+"AKSUbuntu/gen2/2604containerd/202607.30.0.txt", []byte("Starting build on Thu Jul 30 10:00:00 UTC 2026\n"))
	s.Override(notes+"AKSUbuntu/gen2/2604containerd/latest.txt", []byte("Starting build on Thu Jul 30 10:00:00 UTC 2026\n"))
	s.Override(notes+"README.md", []byte("notes\n"))
	l, err := c.ListNotes(context.Background(), none, "")
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(l.Families))
	want := []string{"AKSAzureLinuxV3/gen2", "AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", "AKSUbuntu/gen2/2404containerd", "AKSUbuntu/gen2/2604containerd"}
	if !slices.Equal(got, want) {
		t.Errorf("families %v, want %v", got, want)
	}
	if n := len(l.Families["AKSUbuntu/gen2/2604containerd"]); n != 2 {
		t.Errorf("the new family lists %d files, want 2 (its note and latest.txt)", n)
	}
}

// TestListNotesMalformedTree: a tree whose entries climb out of the notes path, or have
// no path or sha, is an error naming the tree and the entry, not a family.
func TestListNotesMalformedTree(t *testing.T) {
	for _, c := range []struct{ name, entry, want string }{
		{"climbs out", `{"path":"../../../etc/202601.01.0.txt","mode":"100644","type":"blob","sha":"0123456789abcdef0123456789abcdef01234567","size":1}`, `entry 0 has the path "../../../etc/202601.01.0.txt"`},
		{"control character", `{"path":"AKSUbuntu/x\u0007/202601.01.0.txt","mode":"100644","type":"blob","sha":"0123456789abcdef0123456789abcdef01234567","size":1}`, "entry 0 has the path"},
		{"no sha", `{"path":"AKSUbuntu/gen2/202601.01.0.txt","mode":"100644","type":"blob","sha":"","size":1}`, "entry 0 has no path or sha"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, s := client(t)
			s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/git/trees/") {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"sha":"89abcdef0123456789abcdef0123456789abcdef","url":"x","tree":[%s],"truncated":false}`, c.entry)
				return true
			})
			_, err := cl.ListNotes(context.Background(), none, "")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "the tree of Azure/AgentBaker/vhdbuilder/release-notes@master") {
				t.Errorf("error %v, want one naming the tree and saying %q", err, c.want)
			}
		})
	}
}
