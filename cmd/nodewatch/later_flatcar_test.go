package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// laterFlatcarChannels are the channels of testdata/world-later/flatcar/releases-json:
// alpha as www.flatcar.org published it in September 2026 (see the README).
var laterFlatcarChannels = []string{"alpha"}

// laterFlatcarCLI is laterCLI with Flatcar's release JSON of the later world served and
// read, as a new user would configure it (no families key).
func laterFlatcarCLI(t *testing.T) (*cli, laterWorld, string) {
	return laterCLIWith(t, func(srv *upstreamtest.Server) string {
		return fmt.Sprintf("flatcar: {base_url: %s, format: json, channels: [%s]}", srv.FlatcarURL(), strings.Join(laterFlatcarChannels, ", "))
	})
}

// laterFlatcarReleases is every release of the served channels, by channel, in version
// order, parsed from the files the server serves.
func laterFlatcarReleases(t *testing.T, dir string) map[string][]tracker.FlatcarRelease {
	t.Helper()
	out := map[string][]tracker.FlatcarRelease{}
	for _, ch := range laterFlatcarChannels {
		data, err := os.ReadFile(filepath.Join(dir, "flatcar", "releases-json", "releases-"+ch+".json"))
		if err != nil {
			t.Fatal(err)
		}
		rs, entryErrs, err := flatcar.ParseJSON(ch, "https://www.flatcar.org", data)
		if err != nil || len(entryErrs) > 0 {
			t.Fatalf("%s: %v %v", ch, err, entryErrs)
		}
		slices.SortFunc(rs, func(a, b tracker.FlatcarRelease) int { return tracker.CompareDotted(a.Version, b.Version) })
		out[ch] = rs
	}
	return out
}

// unionOf is the advisories of releases, each (id, package) once with the first release
// that announced it.
func unionOf(releases []tracker.FlatcarRelease) []tracker.Advisory {
	out := []tracker.Advisory{}
	seen := map[[2]string]bool{}
	for _, r := range releases {
		for _, a := range r.Security {
			if k := [2]string{a.ID, a.Package}; !seen[k] {
				seen[k] = true
				out = append(out, tracker.Advisory{ID: a.ID, Package: a.Package, In: r.Version})
			}
		}
	}
	return out
}

func advisoryKeys(as []tracker.Advisory) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID + " " + a.Package + " " + a.In
	}
	slices.Sort(out)
	return out
}

// diffKeys says what one sorted list has that the other lacks, the first few of each.
func diffKeys(got, want []string) string {
	var extra, lack []string
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			lack = append(lack, w)
		}
	}
	return fmt.Sprintf("%d extra %v, %d lacking %v", len(extra), extra[:min(5, len(extra))], len(lack), lack[:min(5, len(lack))])
}

// TestLaterFlatcarSecurity: the program, as a new user runs it on a later history it has
// not seen (AgentBaker's notes of October 2026, Flatcar's alpha as published in September
// 2026), gives every AKS Flatcar image exactly the advisories its Flatcar releases
// announce: fixed, those of the image's own release (world-later holds only the newest
// image of each family, so none has a previous one), missing, those of every later release
// of its channel; and says plainly that 202607.02.0 lacks hundreds.
func TestLaterFlatcarSecurity(t *testing.T) {
	c, w, dir := laterFlatcarCLI(t)
	if out := c.mustRun("check"); strings.Contains(out, "FAILED") {
		t.Fatalf("check:\n%s", out)
	}
	channels := laterFlatcarReleases(t, dir)

	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	counted := map[string]*tracker.SecurityCounts{}
	for _, v := range views {
		counted[v.Family+" "+v.Version] = v.Security
	}

	checked := 0
	for _, family := range slices.Sorted(func(yield func(string) bool) {
		for f := range w.Facts {
			if !yield(f) {
				return
			}
		}
	}) {
		fact := w.Facts[family]
		if !strings.HasPrefix(fact.OSName, "Flatcar Container Linux") {
			continue
		}
		// The image's Flatcar version, from its own note's os-release.
		note, err := os.ReadFile(filepath.Join(dir, "github", "Azure", "AgentBaker", "vhdbuilder", "release-notes", family, fact.Newest+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := vhdnotes.Parse(note)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.OS.Version == nil || *parsed.OS.Version != fact.OSVersion {
			t.Fatalf("%s %s: the note's os-release says %v, world.json %s", family, fact.Newest, parsed.OS.Version, fact.OSVersion)
		}
		version := *parsed.OS.Version

		// Its channel is the one that lists its release; the expected sets from it.
		var channel string
		var rs []tracker.FlatcarRelease
		for ch, list := range channels {
			if slices.ContainsFunc(list, func(r tracker.FlatcarRelease) bool { return r.Version == version }) {
				channel, rs = ch, list
			}
		}
		if channel == "" {
			t.Fatalf("%s %s: Flatcar %s is in none of the served channels", family, fact.Newest, version)
		}
		i := slices.IndexFunc(rs, func(r tracker.FlatcarRelease) bool { return r.Version == version })
		wantFixed := unionOf(rs[i : i+1]) // no previous image: only its own release
		wantMissing := unionOf(rs[i+1:])

		var found tracker.Found
		if err := json.Unmarshal([]byte(c.mustRun("show", fact.Newest, "--json")), &found); err != nil {
			t.Fatal(err)
		}
		j := slices.IndexFunc(found.Images, func(d tracker.ImageDetail) bool { return d.Family == family && d.Version == fact.Newest })
		if j < 0 {
			t.Errorf("show %s does not list %s", fact.Newest, family)
			continue
		}
		d := found.Images[j]
		if d.Security == nil {
			t.Errorf("%s %s (Flatcar %s, %s): no security", family, fact.Newest, version, channel)
			continue
		}
		s := d.Security
		if s.Source != tracker.SecuritySourceFlatcar || s.Previous != nil {
			t.Errorf("%s %s: source %q, previous %v", family, fact.Newest, s.Source, s.Previous)
		}
		if got, want := advisoryKeys(s.Fixed), advisoryKeys(wantFixed); !slices.Equal(got, want) {
			t.Errorf("%s %s: fixed %d, Flatcar %s announces %d: %s", family, fact.Newest, len(got), version, len(want), diffKeys(got, want))
		}
		if got, want := advisoryKeys(s.Missing), advisoryKeys(wantMissing); !slices.Equal(got, want) {
			t.Errorf("%s %s: missing %d, the %s releases after %s announce %d: %s", family, fact.Newest, len(got), channel, version, len(want), diffKeys(got, want))
		}
		if n := counted[family+" "+fact.Newest]; n == nil || n.Fixed != len(wantFixed) || n.Missing != len(wantMissing) {
			t.Errorf("%s %s: images --json counts %+v, want fixed %d missing %d", family, fact.Newest, n, len(wantFixed), len(wantMissing))
		}
		t.Logf("%s %s (Flatcar %s, %s): fixes %d, lacks %d from %d later releases", family, fact.Newest, version, channel, len(wantFixed), len(wantMissing), len(rs)-i-1)
		checked++

		// 202607.02.0 is the last AKS Flatcar image; alpha has moved on four releases since.
		if fact.Newest == "202607.02.0" {
			if len(wantMissing) < 500 {
				t.Errorf("%s %s: the data has only %d later advisories", family, fact.Newest, len(wantMissing))
			}
			out := c.mustRun("show", fact.Newest)
			last := rs[len(rs)-1].Version
			line := fmt.Sprintf("MISSING:   %d advisories fixed in later releases of its channel (up to %s)", len(wantMissing), last)
			if !strings.Contains(out, line) {
				t.Errorf("show %s does not say %q:\n%s", fact.Newest, line, out)
			}
		}
	}
	if checked < 2 {
		t.Fatalf("%d Flatcar images checked", checked)
	}
}
