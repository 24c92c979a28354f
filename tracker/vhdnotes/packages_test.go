package vhdnotes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// noteFile is one real note: of a snapshot's family, or of samples/.
type noteFile struct {
	name   string // for messages
	family string
	path   string
}

// everyNote lists every image note of every snapshot and every sample.
func everyNote(t testing.TB) []noteFile {
	t.Helper()
	var notes []noteFile
	for _, world := range worlds {
		for family, names := range worldNotes(t, world) {
			for _, name := range names {
				notes = append(notes, noteFile{world + " " + family + "/" + name, family, filepath.Join(notesDir(t, world), family, name)})
			}
		}
	}
	samples, err := filepath.Glob(filepath.Join(trackertest.Fixtures(t), "samples", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range samples {
		family, _, _ := strings.Cut(filepath.Base(path), "_") // AKSWindows_2025-gen2_... -> AKSWindows
		notes = append(notes, noteFile{"samples/" + filepath.Base(path), family, path})
	}
	if len(notes) < 300 {
		t.Fatalf("found %d notes; the fixtures hold over 300", len(notes))
	}
	return notes
}

// wantListing is what a family's notes hold of their packages.
func wantListing(family string) tracker.PackageListing {
	switch {
	case strings.HasPrefix(family, "AKSUbuntu"), strings.HasPrefix(family, "AKSAzureLinux"):
		return tracker.PackagesListed
	case strings.HasPrefix(family, "AKSFlatcar"), strings.HasPrefix(family, "AKSAzureContainerLinux"):
		return tracker.PackagesStub
	}
	return tracker.PackagesNone // Windows
}

// blockLines returns the lines of a note's Installed Packages block that name a package,
// found without the parser: what the parser must read, one package each.
func blockLines(data []byte) []string {
	_, block, ok := strings.Cut(string(data), "=== Installed Packages Begin\n")
	if !ok {
		return nil
	}
	block, _, _ = strings.Cut(block, "=== Installed Packages End")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l != "Listing..." && l != "listInstalledPackages stub" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestParsePackagesEveryNote reads the package list of every real note: no line fails,
// the listing is that of the note's kind, and each line of the block is one package.
func TestParsePackagesEveryNote(t *testing.T) {
	listed := 0
	for _, note := range everyNote(t) {
		data, err := os.ReadFile(note.path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vhdnotes.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", note.name, err)
			continue
		}
		if len(n.PackageErrors) > 0 {
			t.Errorf("%s: PackageErrors %q", note.name, n.PackageErrors)
		}
		if want := wantListing(note.family); n.Listing != want {
			t.Errorf("%s: Listing = %q, want %q", note.name, n.Listing, want)
		}
		lines := blockLines(data)
		if len(n.Packages) != len(lines) {
			t.Errorf("%s: %d packages of a block of %d package lines", note.name, len(n.Packages), len(lines))
		}
		if n.Listing == tracker.PackagesListed {
			listed++
		}
		for i, p := range n.Packages {
			// Every package but rpm's gpg-pubkey (no arch) names all three, and the line
			// starts with its name and holds its version.
			if p.Name == "" || p.Version == "" || (p.Arch == "" && p.Name != "gpg-pubkey") ||
				!strings.HasPrefix(lines[i], p.Name) || !strings.Contains(lines[i], p.Version) {
				t.Errorf("%s: line %q read as %+v", note.name, lines[i], p)
			}
		}
		if strings.HasPrefix(note.family, "AKSWindows") != (len(n.Updates) > 0) {
			t.Errorf("%s: %d Windows updates", note.name, len(n.Updates))
		}
	}
	if listed < 150 {
		t.Errorf("%d notes list their packages; the fixtures hold over 150", listed)
	}
}

func TestParsePackages(t *testing.T) {
	tests := []struct {
		world, family, version string
		count                  int
		want                   []tracker.Package // each must be in the list
	}{
		{"", "AKSUbuntu/gen2/2204containerd", "202412.10.0", 715, []tracker.Package{
			{Name: "curl", Version: "7.81.0-1ubuntu1.19", Arch: "amd64"},
			{Name: "acr-mirror", Version: "0.2.10-1", Arch: "amd64"}, // [installed,local]
			{Name: "adduser", Version: "3.118ubuntu5", Arch: "all"},
		}},
		{"", "AKSUbuntu/gen2/2204containerd", "202412.29.0", 715, []tracker.Package{
			{Name: "curl", Version: "7.81.0-1ubuntu1.20", Arch: "amd64"},
			{Name: "libcurl4", Version: "7.81.0-1ubuntu1.20", Arch: "amd64"},
		}},
		{"", "AKSUbuntu/gen2/2204fipscontainerd", "202608.20.0", 0, []tracker.Package{
			{Name: "libgmp10", Version: "2:6.2.1+dfsg-3ubuntu1+Fips1", Arch: "amd64"}, // epoch
			{Name: "libssl3", Version: "3.0.2-0ubuntu1.26+Fips1", Arch: "amd64"},
			{Name: "linux-azure-6.8-cloud-tools-6.8.0-1064", Version: "6.8.0-1064.72~22.04.1", Arch: "amd64"},
		}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202504.16.0", 0, []tracker.Package{
			{Name: "attr", Version: "1:2.5.2-1build1.1", Arch: "amd64"},
			{Name: "linux-image-6.8.0-1026-azure", Version: "6.8.0-1026.31", Arch: "amd64"},
		}},
		// `[installed,upgradable to: 2.5.1]`: flags with a space.
		{"2026-02-11", "AKSUbuntu/gen2/2404containerd", "202511.12.0", 0, []tracker.Package{
			{Name: "aznfs", Version: "0.3.15", Arch: "amd64"},
		}},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202605.27.0", 394, []tracker.Package{
			{Name: "libpcre2-8-0", Version: "10.42-3.azl3", Arch: "x86_64"},
			{Name: "filesystem", Version: "1.1-21.azl3", Arch: "x86_64"},
		}},
		// Two kernels at once, and gpg-pubkey with no arch.
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202601.13.0", 0, []tracker.Package{
			{Name: "kernel", Version: "6.6.117.1-1.azl3", Arch: "x86_64"},
			{Name: "kernel", Version: "6.6.119.3-1.azl3", Arch: "x86_64"},
			{Name: "gpg-pubkey", Version: "3135ce90-5e6fda74"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.family+"/"+tt.version, func(t *testing.T) {
			n, err := vhdnotes.Parse(readNote(t, tt.world, tt.family, tt.version))
			if err != nil {
				t.Fatal(err)
			}
			if n.Listing != tracker.PackagesListed || n.PackageErrors != nil {
				t.Fatalf("Listing %q, PackageErrors %q", n.Listing, n.PackageErrors)
			}
			if tt.count > 0 && len(n.Packages) != tt.count {
				t.Errorf("%d packages, want %d", len(n.Packages), tt.count)
			}
			for _, want := range tt.want {
				if !slices.Contains(n.Packages, want) {
					t.Errorf("no %+v in the packages", want)
				}
			}
		})
	}
}

func TestParsePackagesStub(t *testing.T) {
	for _, note := range []struct{ world, family, version string }{
		{"2026-05-31", "AKSFlatcar/gen2", "202605.27.0"},
		{"", "AKSAzureContainerLinux/gen2tl", "202605.05.1"},
	} {
		n, err := vhdnotes.Parse(readNote(t, note.world, note.family, note.version))
		if err != nil {
			t.Fatal(err)
		}
		if n.Listing != tracker.PackagesStub || n.Packages != nil || n.PackageErrors != nil {
			t.Errorf("%s: Listing %q, %d packages, errors %q; want a stub and nothing else", note.family, n.Listing, len(n.Packages), n.PackageErrors)
		}
	}
}

// TestParsePackageErrors checks that lines a real list does not hold are quoted, not
// guessed at, and that the rest of the list is read.
func TestParsePackageErrors(t *testing.T) {
	ubuntu := readNote(t, "2026-05-31", "AKSUbuntu/gen2/2404containerd", "202605.27.0")
	azl := readNote(t, "2026-05-31", "AKSAzureLinuxV3/gen2", "202605.27.0")
	const ubuntuFirst = "acr-mirror/now 0.3.1-1 amd64 [installed,local]\n"
	const azlFirst = "filesystem-1.1-21.azl3.x86_64\n"
	garbage := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "garbage line %d\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name       string
		data       []byte
		listing    tracker.PackageListing
		bad        int      // lines of the block that name no package
		wantErrors []string // each error must contain its string, in order
	}{
		{"one bad line", insertBefore(t, ubuntu, ubuntuFirst, "adduser noble 3.137\n"), tracker.PackagesListed, 1,
			[]string{`"adduser noble 3.137": neither`}},
		{"an rpm line in an apt list", insertBefore(t, ubuntu, "curl/", "curl-8.5.0-2.azl3.x86_64\n"), tracker.PackagesListed, 1,
			[]string{`"curl-8.5.0-2.azl3.x86_64": not an ` + "`apt list --installed`" + ` line: no name/suites`}},
		{"an apt line in an rpm list", insertBefore(t, azl, "libgcc-", "curl/noble,now 8.5.0-2ubuntu10.6 amd64 [installed]\n"), tracker.PackagesListed, 1,
			[]string{`"curl/noble,now 8.5.0-2ubuntu10.6 amd64 [installed]": not an ` + "`rpm -qa`" + ` line: no -version-release`}},
		{"no flags", bytes.Replace(ubuntu, []byte(" all [installed,automatic]\n"), []byte(" all\n"), 1), tracker.PackagesListed, 1,
			[]string{"no [installed...] after the architecture"}},
		{"twelve bad lines", insertBefore(t, azl, azlFirst, garbage(12)), tracker.PackagesListed, 12,
			append(slices.Repeat([]string{"garbage line"}, 10), "and 2 more lines")},
		{"stub among packages", insertBefore(t, azl, azlFirst, "listInstalledPackages stub\n"), tracker.PackagesListed, 0,
			[]string{`"listInstalledPackages stub"`}},
		{"a huge line is cut", insertBefore(t, azl, azlFirst, strings.Repeat("x", 5000)+"\n"), tracker.PackagesListed, 1,
			[]string{strings.Repeat("x", 200) + `"...: neither`}},
		// An empty list is none: compared with the next image it would say every package
		// was removed.
		{"empty block", cutBlockBody(t, ubuntu, ""), tracker.PackagesNone, 0,
			[]string{"lists nothing"}},
		{"only bad lines", cutBlockBody(t, ubuntu, "Listing...\n"+garbage(2)), tracker.PackagesNone, 2,
			[]string{"garbage line 0", "garbage line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := vhdnotes.Parse(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if n.Listing != tt.listing {
				t.Errorf("Listing = %q, want %q", n.Listing, tt.listing)
			}
			if len(n.PackageErrors) != len(tt.wantErrors) {
				t.Fatalf("PackageErrors = %q, want %d", n.PackageErrors, len(tt.wantErrors))
			}
			for i, want := range tt.wantErrors {
				if !strings.Contains(n.PackageErrors[i], want) {
					t.Errorf("PackageErrors[%d] = %q, want one saying %q", i, n.PackageErrors[i], want)
				}
			}
			if want := len(blockLines(tt.data)) - tt.bad; len(n.Packages) != want {
				t.Errorf("%d packages, want %d", len(n.Packages), want)
			}
			if tt.listing == tracker.PackagesNone && n.Packages != nil {
				t.Errorf("Packages = %v, want nil", n.Packages)
			}
		})
	}
}

// TestParseSecondPackagesBlock: a second block is reported and not merged.
func TestParseSecondPackagesBlock(t *testing.T) {
	azl := readNote(t, "2026-05-31", "AKSAzureLinuxV3/gen2", "202605.27.0")
	want, err := vhdnotes.Parse(azl)
	if err != nil {
		t.Fatal(err)
	}
	data := slices.Concat(azl, []byte("=== Installed Packages Begin\ncurl-8.5.0-2.azl3.x86_64\n=== Installed Packages End\n"))
	n, err := vhdnotes.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.Packages, want.Packages) || len(n.PackageErrors) != 1 || !strings.Contains(n.PackageErrors[0], "a second Installed Packages block") {
		t.Errorf("%d packages (want %d), PackageErrors %q", len(n.Packages), len(want.Packages), n.PackageErrors)
	}
}

func TestParseQFEs(t *testing.T) {
	data := readNote(t, "", "AKSWindows/2025-gen2", "26100.7171.251116")
	want := []tracker.WindowsUpdate{
		{ID: "KB5066131", Kind: "Update"},
		{ID: "KB5068861", Kind: "Security Update"},
		{ID: "KB5067035", Kind: "Update"},
	}
	n, err := vhdnotes.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n.Updates, want) || n.PackageErrors != nil || n.Listing != tracker.PackagesNone {
		t.Errorf("Updates = %+v, PackageErrors %q, Listing %q; want %+v and nothing else", n.Updates, n.PackageErrors, n.Listing, want)
	}
	// A line of the list that is no update is reported, the others kept.
	bad := bytes.Replace(data, []byte("\tKB5068861 : Security Update"), []byte("\tKB5068861 Security Update"), 1)
	n, err = vhdnotes.Parse(bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Updates) != 2 || len(n.PackageErrors) != 1 || !strings.Contains(n.PackageErrors[0], "not an Installed QFEs line") {
		t.Errorf("Updates = %+v, PackageErrors %q; want 2 updates and the bad line", n.Updates, n.PackageErrors)
	}
}

func TestParseContainerImages(t *testing.T) {
	count := 0
	for _, world := range worlds {
		lists, err := filepath.Glob(filepath.Join(notesDir(t, world), "*", "*", "*-image-list.json"))
		if err != nil {
			t.Fatal(err)
		}
		more, err := filepath.Glob(filepath.Join(notesDir(t, world), "*", "*", "*", "*-image-list.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range append(lists, more...) {
			count++
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vhdnotes.ParseContainerImages(data)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if want := repoTags(t, data); !slices.Equal(got, want) {
				t.Errorf("%s: ParseContainerImages() = %d tags, want %d: %q", path, len(got), len(want), got)
			}
		}
	}
	if count < 300 {
		t.Errorf("read %d image lists; the snapshots hold over 300", count)
	}

	data, err := os.ReadFile(filepath.Join(notesDir(t, "2026-05-31"), "AKSFlatcar/gen2/202605.27.0-image-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := vhdnotes.ParseContainerImages(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.1-14", "mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.13.2-9", "mcr.microsoft.com/oss/v2/kubernetes/kube-proxy:v1.34.7-2"} {
		if !slices.Contains(got, want) {
			t.Errorf("Flatcar 202605.27.0: no %q in %d images", want, len(got))
		}
	}

	bad := []struct{ name, data, wantErr string }{
		{"empty", "", "image list"},
		{"a note", "Starting build on  Wed May 27 14:35:24 UTC 2026\n", "image list"},
		{"no imageBom", `{"sku": "flatcargen2", "imageVersion": "202605.27.0"}`, `no "imageBom"`},
		{"imageBom not a list", `{"imageBom": {}}`, "image list"},
		{"empty tag", `{"imageBom": [{"repoTags": ["a:1"]}, {"repoTags": [""]}]}`, `imageBom[1] has repoTag ""`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vhdnotes.ParseContainerImages([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseContainerImages() error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
	if got, err := vhdnotes.ParseContainerImages([]byte(`{"imageBom": []}`)); err != nil || len(got) != 0 {
		t.Errorf("empty imageBom: %q, %v; want nothing and no error", got, err)
	}
}

// repoTags reads an image list's tags without the parser: sorted, each once.
func repoTags(t *testing.T, data []byte) []string {
	t.Helper()
	var list map[string]any
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &list); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, entry := range list["imageBom"].([]any) {
		for _, tag := range entry.(map[string]any)["repoTags"].([]any) {
			tags = append(tags, tag.(string))
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// FuzzParsePackages starts from real notes with package lists, of each format.
func FuzzParsePackages(f *testing.F) {
	for _, n := range []struct{ world, family, version string }{
		{"", "AKSUbuntu/gen2/2204containerd", "202412.29.0"},
		{"", "AKSUbuntu/gen2/2204fipscontainerd", "202608.20.0"},
		{"", "AKSWindows/2025-gen2", "26100.7171.251116"},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202601.13.0"},
		{"2026-02-11", "AKSUbuntu/gen2/2404containerd", "202511.12.0"},
	} {
		data := readNote(f, n.world, n.family, n.version)
		f.Add(data)
		// The block alone, so that mutations land in it.
		if lines := blockLines(data); lines != nil {
			f.Add([]byte("Using kernel:\nLinux version 6.8.0\n=== Installed Packages Begin\n" + strings.Join(lines[:min(len(lines), 20)], "\n") + "\n=== Installed Packages End\n"))
		}
	}
	f.Add([]byte("OS Name : x\nInstalled QFEs\n\tKB1 : Update : https://x\n\tKB2 :\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := vhdnotes.Parse(data)
		if err != nil {
			return
		}
		if len(n.PackageErrors) > 11 {
			t.Errorf("%d PackageErrors, want at most 10 and a count", len(n.PackageErrors))
		}
		if (n.Listing == tracker.PackagesListed) != (len(n.Packages) > 0) {
			t.Errorf("Listing %q with %d packages", n.Listing, len(n.Packages))
		}
		for _, p := range n.Packages {
			if p.Name == "" || p.Version == "" || strings.ContainsAny(p.Name+p.Version+p.Arch, " \t\r\n") {
				t.Errorf("package %+v", p)
			}
		}
		for _, u := range n.Updates {
			if u.ID == "" || u.Kind == "" || strings.ContainsAny(u.ID, " \t\r\n") {
				t.Errorf("update %+v", u)
			}
		}
	})
}

func insertBefore(t *testing.T, data []byte, marker, text string) []byte {
	t.Helper()
	i := bytes.Index(data, []byte("\n"+marker))
	if i < 0 {
		t.Fatalf("note has no line starting %q", marker)
	}
	return slices.Concat(data[:i+1], []byte(text), data[i+1:])
}

// cutBlockBody replaces what the Installed Packages block holds with body.
func cutBlockBody(t *testing.T, data []byte, body string) []byte {
	t.Helper()
	const begin, end = "=== Installed Packages Begin\n", "=== Installed Packages End"
	i, j := bytes.Index(data, []byte(begin)), bytes.Index(data, []byte(end))
	if i < 0 || j < i {
		t.Fatal("note has no Installed Packages block")
	}
	return slices.Concat(data[:i+len(begin)], []byte(body), data[j:])
}
