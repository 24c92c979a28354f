package tracker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
)

func sourceReport(rep tracker.CycleReport, source string) (tracker.SourceReport, bool) {
	i := slices.IndexFunc(rep.Sources, func(s tracker.SourceReport) bool { return s.Source == source })
	if i < 0 {
		return tracker.SourceReport{}, false
	}
	return rep.Sources[i], true
}

// TestUbuntuSecurityBadArchive: a malformed archive fails its source alone, named in the
// report; the notes are read, and the fixes stored before are kept, so that what an image
// fixes reads as before.
func TestUbuntuSecurityBadArchive(t *testing.T) {
	const family = "AKSUbuntu/gen2/2404containerd"
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent, family)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	r.Tracker.Now = func() time.Time { return now }
	rep, _ := r.Cycle(t)
	if sr, ok := sourceReport(rep, "ubuntu_security"); !ok || sr.Failed() {
		t.Fatalf("first read: %+v", sr)
	}
	before, err := tracker.Show(r.DB, "202502.26.0")
	if err != nil || len(before.Images) != 1 || before.Images[0].Security == nil || len(before.Images[0].Security.Fixed) == 0 {
		t.Fatalf("show before: %+v %v", before.Images, err)
	}

	// Within the day nothing is asked; a day later an unchanged archive is a 304, no body.
	rep, _ = r.Cycle(t)
	if _, ok := sourceReport(rep, "ubuntu_security"); ok {
		t.Errorf("read again within the day: %+v", rep.Sources)
	}
	now = now.Add(25 * time.Hour)
	rep, _ = r.Cycle(t)
	if sr, ok := sourceReport(rep, "ubuntu_security"); !ok || sr.Requests != 1 || sr.NotModified != 1 || sr.BodyBytes != 0 {
		t.Errorf("a day later: %+v", sr)
	}

	// Another day later the archive is cut in half.
	good := ubuntusecuritytest.Archive(t)
	r.Server.SetUbuntuSecurity(good[:len(good)/2])
	now = now.Add(25 * time.Hour)
	rep, _ = r.Cycle(t)
	sr, ok := sourceReport(rep, "ubuntu_security")
	if !ok || !sr.Failed() || !strings.Contains(strings.Join(sr.Errors, " "), r.Server.UbuntuSecurityURL()) {
		t.Fatalf("a cut archive: %+v", sr)
	}
	if notes, _ := sourceReport(rep, "vhd_notes"); notes.Failed() {
		t.Errorf("the notes failed with it: %+v", notes)
	}
	after, err := tracker.Show(r.DB, "202502.26.0")
	if err != nil || len(after.Images) != 1 || !slices.Equal(after.Images[0].Security.Fixed, before.Images[0].Security.Fixed) {
		t.Errorf("what was stored changed: %+v -> %+v (%v)", before.Images[0].Security, after.Images[0].Security, err)
	}

	// Mended, it is read again at the next cycle, not a day later.
	r.Server.SetUbuntuSecurity(good)
	rep, _ = r.Cycle(t)
	if sr, ok := sourceReport(rep, "ubuntu_security"); !ok || sr.Failed() {
		t.Errorf("after the fix: %+v %v", sr, ok)
	}
}

// TestBadPackageLine: an installed-package line that does not parse is quoted in the
// cycle report; the image is stored with the other packages.
func TestBadPackageLine(t *testing.T) {
	const family = "AKSUbuntu/gen2/2404containerd"
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent, family)
	rel := trackertest.NotesDir + "/" + family + "/202605.27.0.txt"
	data, err := os.ReadFile(filepath.Join(trackertest.World(t, "2026-05-31"), rel))
	if err != nil {
		t.Fatal(err)
	}
	// The real note with one line of its list garbled, as a truncated write might.
	line := "curl/noble-updates,noble-security,now"
	i := bytes.Index(data, []byte("\ncurl/"))
	if i < 0 {
		t.Fatal("the note lists no curl")
	}
	end := i + 1 + bytes.IndexByte(data[i+1:], '\n')
	garbled := slices.Concat(data[:i+1], []byte(line), data[end:])
	r.Server.Override(rel, garbled)
	rep, _ := r.Cycle(t)
	sr, _ := sourceReport(rep, "vhd_notes:"+family)
	if !strings.Contains(strings.Join(sr.Warnings, "\n"), line) {
		t.Errorf("the bad line is not named: %q", sr.Warnings)
	}
	c, err := r.DB.Contents(family, "202605.27.0")
	if err != nil || c == nil || len(c.Packages) < 500 || slices.ContainsFunc(c.Packages, func(p tracker.Package) bool { return p.Name == "curl" }) {
		t.Errorf("stored contents: %v packages, err %v", func() int {
			if c == nil {
				return -1
			}
			return len(c.Packages)
		}(), err)
	}
}
