package tracker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// sampleContents reads what a real note of samples/ lists.
func sampleContents(t *testing.T, name string) (tracker.VHDNotes, *tracker.ImageContents) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := vhdnotes.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n, &tracker.ImageContents{Listing: n.Listing, Packages: n.Packages, Updates: n.Updates}
}

// realFixes reads every real record of the test data as the source would, keeping what
// an image of these releases could use, and serves them as the store does.
func realFixes(t *testing.T) *tracker.FixIndex {
	t.Helper()
	archive := ubuntusecuritytest.Archive(t)
	read, err := ubuntusecurity.Read(bytes.NewReader(archive), tracker.SecurityFilter{ // grouped below, as the cycle stores them
		Ecosystem: func(string) bool { return true },
		Package:   func(string) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	grouped := tracker.GroupFixes(read.Fixes)
	return tracker.NewFixIndex(func(ecosystem string, keys []string) ([]tracker.PackageFix, error) {
		var out []tracker.PackageFix
		for _, f := range grouped {
			if f.Ecosystem != ecosystem {
				continue
			}
			for name := range f.Binaries {
				if slices.Contains(keys, tracker.KernelPackageKey(name)) {
					out = append(out, f)
					break
				}
			}
		}
		return out, nil
	})
}

func has(as []tracker.Advisory, want tracker.Advisory) bool { return slices.Contains(as, want) }

// The curl case of the issue: AKSUbuntu/gen2/2204containerd 202412.10.0 -> 202412.29.0
// upgrades curl 7.81.0-1ubuntu1.19 -> 1.20, which USN-7162-1 fixes (CVE-2024-11053).
func TestUbuntuSecurityCurl(t *testing.T) {
	lookup := realFixes(t)
	_, before := sampleContents(t, "AKSUbuntu_gen2_2204containerd_202412.10.0.txt")
	n, after := sampleContents(t, "AKSUbuntu_gen2_2204containerd_202412.29.0.txt")
	prev := "202412.10.0"
	sec, err := tracker.UbuntuSecurity(n.OS.VersionID, &prev, before, after, lookup)
	if err != nil {
		t.Fatal(err)
	}
	curl := tracker.Advisory{ID: "CVE-2024-11053", Package: "curl", In: "USN-7162-1"}
	if !has(sec.Fixed, curl) {
		t.Errorf("202412.29.0 fixed = %v, want %v among them", sec.Fixed, curl)
	}
	if has(sec.Missing, curl) {
		t.Errorf("202412.29.0 still misses %v", curl)
	}
	if sec.Source != tracker.SecuritySourceUbuntu || sec.Previous == nil || *sec.Previous != prev {
		t.Errorf("source %q previous %v", sec.Source, sec.Previous)
	}

	// The image before lacks it, and fixes nothing of it (it has no previous).
	old, err := tracker.UbuntuSecurity(n.OS.VersionID, nil, nil, before, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !has(old.Missing, curl) {
		t.Errorf("202412.10.0 missing = %v, want %v among them", old.Missing, curl)
	}
	if len(old.Fixed) != 0 {
		t.Errorf("an image without a previous one fixes %v", old.Fixed)
	}
}

// A FIPS build sorts above the plain stream's fixes of the same upstream version, so it
// is compared with its own stream alone: upgrading from the plain 22.04 image to the
// FIPS one, libssl3 goes from 3.0.2-0ubuntu1.18 to 3.0.2-0ubuntu1.26+Fips1; the plain
// stream's USN-7278-1 (fixed in 1.19) would claim CVE-2024-9143 fixed, which the
// FIPS-updates stream has no fix of here. CVE-2024-13176 is fixed in FIPS-updates in
// 1.19+Fips1 (UBUNTU-CVE-2024-13176), and is claimed from that record.
func TestUbuntuSecurityFIPSStream(t *testing.T) {
	lookup := realFixes(t)
	_, plain := sampleContents(t, "AKSUbuntu_gen2_2204containerd_202412.29.0.txt")
	n, fips := sampleContents(t, "AKSUbuntu_gen2_2204fipscontainerd_202608.20.0.txt")
	ssl := func(c *tracker.ImageContents) string {
		for _, p := range c.Packages {
			if p.Name == "libssl3" {
				return p.Version
			}
		}
		return ""
	}
	if ssl(plain) != "3.0.2-0ubuntu1.18" || ssl(fips) != "3.0.2-0ubuntu1.26+Fips1" {
		t.Fatalf("the notes changed: libssl3 %q and %q", ssl(plain), ssl(fips))
	}
	prev := "202412.29.0"
	sec, err := tracker.UbuntuSecurity(n.OS.VersionID, &prev, plain, fips, lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(slices.Clone(sec.Fixed), sec.Missing...) {
		if a.Package == "openssl" && a.In == "USN-7278-1" {
			t.Errorf("the FIPS image is judged by the plain stream's %v", a)
		}
	}
	if want := (tracker.Advisory{ID: "CVE-2024-13176", Package: "openssl", In: "UBUNTU-CVE-2024-13176"}); !has(sec.Fixed, want) {
		t.Errorf("fixed = %v, want %v (the FIPS-updates record)", sec.Fixed, want)
	}
	// curl is no FIPS build: the plain stream's fix applies to it on a FIPS image too.
	if want := (tracker.Advisory{ID: "CVE-2024-11053", Package: "curl", In: "USN-7162-1"}); has(sec.Missing, want) {
		t.Errorf("the FIPS image's curl is judged missing %v", want)
	}
}

// A note that lists no packages says nothing of CVEs.
func TestUbuntuSecurityNeedsPackages(t *testing.T) {
	sec, err := tracker.UbuntuSecurity("22.04", nil, nil, &tracker.ImageContents{Listing: tracker.PackagesStub}, realFixes(t))
	if err != nil || sec != nil {
		t.Errorf("a stub list gives %v, %v; want nil", sec, err)
	}
}
