package tracker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

type advisoryKey struct{ id, pkg string }

// announced is, from the stored releases of one channel (their notes parsed), every
// advisory of the releases with from < version <= to (from "": to alone), and the first
// release that announced each: the test's own reading of "what an image fixes".
func announced(releases []tracker.FlatcarRelease, from, to string) map[advisoryKey]string {
	out := map[advisoryKey]string{}
	for _, r := range releases {
		after := from == "" && r.Version == to || from != "" && tracker.CompareDotted(r.Version, from) > 0
		if !after || to != "" && tracker.CompareDotted(r.Version, to) > 0 {
			continue
		}
		for _, a := range r.Security {
			k := advisoryKey{a.ID, a.Package}
			if in, ok := out[k]; !ok || tracker.CompareDotted(r.Version, in) < 0 {
				out[k] = r.Version
			}
		}
	}
	return out
}

func keyed(as []tracker.Advisory) map[advisoryKey]string {
	out := map[advisoryKey]string{}
	for _, a := range as {
		out[advisoryKey{a.ID, a.Package}] = a.In
	}
	return out
}

func sameAdvisories(a, b map[advisoryKey]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFlatcarImageSecurity: every AKS Flatcar image of the snapshots fixes exactly the
// advisories its channel's releases announce after the previous image's Flatcar release
// up to its own, and lacks those of the later releases; images counts the same; no
// other image claims anything.
func TestFlatcarImageSecurity(t *testing.T) {
	for _, date := range []string{"2026-04-30", "2026-05-31"} {
		r := trackertest.NewRig(t, date, tracker.FirstRunSilent)
		r.Cycle(t)
		images, err := r.DB.Images("")
		if err != nil {
			t.Fatal(err)
		}
		releases, err := r.DB.FlatcarReleases("")
		if err != nil {
			t.Fatal(err)
		}
		sorted := tracker.SortImages(images)
		checked, withFixes := 0, 0
		for _, v := range tracker.ListImages(sorted, releases) {
			if !strings.HasPrefix(v.Family, "AKSFlatcar/") {
				// Ubuntu images are counted from Canonical's records (their own tests);
				// Azure Linux has no source.
				if ubuntu := strings.HasPrefix(v.Family, "AKSUbuntu/"); ubuntu != (v.Security != nil) {
					t.Errorf("%s %s: security %+v", v.Family, v.Version, v.Security)
				}
				continue
			}
			found, err := tracker.Show(r.DB, v.NodeImageVersion)
			if err != nil || len(found.Images) != 1 {
				t.Fatalf("show %s: %v %d", v.NodeImageVersion, err, len(found.Images))
			}
			d := found.Images[0]
			if v.Flatcar == nil || v.Flatcar.Channel == nil {
				if d.Security != nil || v.Security != nil {
					t.Errorf("%s %s: a release not in the feeds is claimed: %+v", v.Family, v.Version, d.Security)
				}
				continue
			}
			var channel []tracker.FlatcarRelease
			for _, rel := range releases {
				if rel.Channel == *v.Flatcar.Channel {
					channel = append(channel, rel)
				}
			}
			from := ""
			if v.Previous != nil {
				i := slices.IndexFunc(sorted, func(im tracker.NodeImage) bool { return im.Family == v.Family && im.Version == *v.Previous })
				from = *sorted[i].OS.Version
			}
			wantFixed := announced(channel, from, v.Flatcar.Version)
			wantMissing := announced(channel, v.Flatcar.Version, "")
			if d.Security == nil || !sameAdvisories(keyed(d.Security.Fixed), wantFixed) || !sameAdvisories(keyed(d.Security.Missing), wantMissing) {
				t.Errorf("%s %s (Flatcar %s after %q): security %+v; want %d fixed, %d missing", v.Family, v.Version, v.Flatcar.Version, from,
					d.Security, len(wantFixed), len(wantMissing))
				continue
			}
			if v.Security == nil || v.Security.Fixed != len(wantFixed) || v.Security.Missing != len(wantMissing) {
				t.Errorf("%s %s: images counts %+v, want %d and %d", v.Family, v.Version, v.Security, len(wantFixed), len(wantMissing))
			}
			if d.Security.Source != tracker.SecuritySourceFlatcar || (d.Security.Previous == nil) != (v.Previous == nil) ||
				v.Previous != nil && *d.Security.Previous != *v.Previous {
				t.Errorf("%s %s: source %q previous %v", v.Family, v.Version, d.Security.Source, d.Security.Previous)
			}
			checked++
			if len(wantFixed) > 0 {
				withFixes++
			}
		}
		t.Logf("%s: %d AKS Flatcar images checked, %d fix something", date, checked, withFixes)
		if checked == 0 || withFixes == 0 {
			t.Errorf("%s: %d images checked, %d with fixes: the test proves nothing", date, checked, withFixes)
		}
	}
}
