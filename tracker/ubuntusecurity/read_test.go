package ubuntusecurity_test

import (
	"bytes"
	"cmp"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity"
	"github.com/nodewatch/nodewatch/tracker/ubuntusecurity/ubuntusecuritytest"
)

const (
	jammy     = "Ubuntu:22.04:LTS"
	noble     = "Ubuntu:24.04:LTS"
	jammyFIPS = "Ubuntu:Pro:FIPS-updates:22.04:LTS"
)

// realRecords is how many records testdata holds.
const realRecords = 6

func only(names ...string) func(string) bool {
	return func(s string) bool { return slices.Contains(names, s) }
}

func sortFixes(fixes []tracker.PackageFix) {
	slices.SortFunc(fixes, func(a, b tracker.PackageFix) int {
		return cmp.Or(cmp.Compare(a.Record, b.Record), cmp.Compare(a.Ecosystem, b.Ecosystem), cmp.Compare(a.Source, b.Source))
	})
}

func versions(version string, binaries ...string) map[string]string {
	m := map[string]string{}
	for _, b := range binaries {
		m[b] = version
	}
	return m
}

func TestReadRealRecords(t *testing.T) {
	archive := ubuntusecuritytest.Archive(t)
	tests := []struct {
		name    string
		keep    tracker.SecurityFilter
		want    []tracker.PackageFix
		unfixed int
	}{{
		name: "curl in 22.04: the notice and its CVE record",
		keep: tracker.SecurityFilter{Ecosystem: only(jammy), Package: only("curl")},
		want: []tracker.PackageFix{{
			Record: "UBUNTU-CVE-2024-11053", CVEs: []string{"CVE-2024-11053"}, Ecosystem: jammy, Source: "curl",
			Fixed: "7.81.0-1ubuntu1.20",
			Binaries: versions("7.81.0-1ubuntu1.20", "curl", "libcurl3-gnutls", "libcurl3-nss", "libcurl4",
				"libcurl4-gnutls-dev", "libcurl4-nss-dev", "libcurl4-openssl-dev"),
		}, {
			Record: "USN-7162-1", CVEs: []string{"CVE-2024-11053"}, Ecosystem: jammy, Source: "curl",
			Fixed:    "7.81.0-1ubuntu1.20",
			Binaries: versions("7.81.0-1ubuntu1.20", "curl", "libcurl3-gnutls", "libcurl3-nss", "libcurl4"),
		}},
	}, {
		name: "a binary an image lists selects its source (libssl3t64 -> openssl, 24.04)",
		keep: tracker.SecurityFilter{Ecosystem: only(noble), Package: only("libssl3t64")},
		want: []tracker.PackageFix{{
			Record: "UBUNTU-CVE-2024-13176", CVEs: []string{"CVE-2024-13176"}, Ecosystem: noble, Source: "openssl",
			Fixed: "3.0.13-0ubuntu3.5", Binaries: versions("3.0.13-0ubuntu3.5", "libssl-dev", "libssl3t64", "openssl"),
		}, {
			Record: "USN-7278-1", CVEs: []string{"CVE-2024-13176", "CVE-2024-9143"}, Ecosystem: noble, Source: "openssl",
			Fixed: "3.0.13-0ubuntu3.5", Binaries: versions("3.0.13-0ubuntu3.5", "libssl3t64", "openssl"),
		}},
	}, {
		name: "FIPS-updates 22.04 alone: its fixed openssl; openssl-fips and gnutls28 unfixed",
		keep: tracker.SecurityFilter{Ecosystem: only(jammyFIPS)},
		want: []tracker.PackageFix{{
			Record: "UBUNTU-CVE-2024-13176", CVEs: []string{"CVE-2024-13176"}, Ecosystem: jammyFIPS, Source: "openssl",
			Fixed: "3.0.2-0ubuntu1.19+Fips1", Binaries: versions("3.0.2-0ubuntu1.19+Fips1", "libssl-dev", "libssl3", "openssl"),
		}},
		unfixed: 2,
	}, {
		name:    "an entry with no fixed event is counted, never a fix",
		keep:    tracker.SecurityFilter{Ecosystem: only("Ubuntu:Pro:14.04:LTS", "Ubuntu:Pro:16.04:LTS"), Package: only("curl")},
		unfixed: 2,
	}, {
		name: "a regression notice fixes a package and names no CVE",
		keep: tracker.SecurityFilter{Package: only("python-django-doc")},
		want: []tracker.PackageFix{{
			Record: "USN-2169-2", CVEs: []string{}, Ecosystem: "Ubuntu:14.04:LTS", Source: "python-django",
			Fixed: "1.6.1-2ubuntu0.2", Binaries: versions("1.6.1-2ubuntu0.2", "python-django", "python-django-doc"),
		}},
	}, {
		name: "the ecosystem filter holds even for a package asked for",
		keep: tracker.SecurityFilter{Ecosystem: only("Ubuntu:26.04"), Package: only("curl", "openssl")},
	}, {
		name: "a package not asked for is skipped, fixed or not",
		keep: tracker.SecurityFilter{Ecosystem: only(jammy, noble, jammyFIPS), Package: only("systemd")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ubuntusecurity.Read(bytes.NewReader(archive), tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			sortFixes(a.Fixes)
			if !reflect.DeepEqual(a.Fixes, tc.want) {
				t.Errorf("fixes:\n got %+v\nwant %+v", a.Fixes, tc.want)
			}
			if a.Unfixed != tc.unfixed || a.Records != realRecords || len(a.RecordErrors) != 0 {
				t.Errorf("unfixed %d, records %d, errors %q; want %d, %d, none", a.Unfixed, a.Records, a.RecordErrors, tc.unfixed, realRecords)
			}
		})
	}
}

// TestReadEverything checks what holds for every fix of the real records: nothing
// without a fixed version, CVEs always CVE-shaped, a UBUNTU-CVE record claiming its own.
func TestReadEverything(t *testing.T) {
	a, err := ubuntusecurity.Read(bytes.NewReader(ubuntusecuritytest.Archive(t)), tracker.SecurityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Counted from the files (jq): 47 affected entries, 20 with a fixed event.
	if len(a.Fixes) != 20 || a.Unfixed != 27 {
		t.Errorf("%d fixes, %d unfixed; want 20, 27", len(a.Fixes), a.Unfixed)
	}
	for _, f := range a.Fixes {
		if f.Fixed == "" || f.Source == "" || f.Ecosystem == "" || f.CVEs == nil || f.Binaries == nil {
			t.Errorf("incomplete fix %+v", f)
		}
		for _, c := range f.CVEs {
			if !strings.HasPrefix(c, "CVE-") {
				t.Errorf("%s: %q is not a CVE id", f.Record, c)
			}
		}
		if own, ok := strings.CutPrefix(f.Record, "UBUNTU-"); ok && !slices.Contains(f.CVEs, own) {
			t.Errorf("%s claims %v, not its own CVE", f.Record, f.CVEs)
		}
	}
}

func TestReadRecordErrors(t *testing.T) {
	curl := ubuntusecuritytest.Records(t, "osv/usn/USN-7162-1.json")[0].Data
	noID := bytes.Replace(curl, []byte(`"id": "USN-7162-1"`), []byte(`"id": ""`), 1)
	files := append(ubuntusecuritytest.Records(t),
		ubuntusecuritytest.File{Name: "osv/usn/USN-cut.json", Data: curl[:len(curl)/2]},
		ubuntusecuritytest.File{Name: "osv/usn/USN-noid.json", Data: noID},
		ubuntusecuritytest.File{Name: "osv/README.md", Data: []byte("not a record")},
	)
	a, err := ubuntusecurity.Read(bytes.NewReader(ubuntusecuritytest.Build(t, files...)), tracker.SecurityFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Records != realRecords+2 || len(a.Fixes) != 20 {
		t.Errorf("%d records, %d fixes; want %d, 20 (the broken ones named, the others read)", a.Records, len(a.Fixes), realRecords+2)
	}
	want := []string{"osv/usn/USN-cut.json: not an OSV record", "osv/usn/USN-noid.json: the record has no id"}
	if len(a.RecordErrors) != len(want) {
		t.Fatalf("record errors %q, want %d", a.RecordErrors, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(a.RecordErrors[i], w) {
			t.Errorf("record error %q, want it to start %q", a.RecordErrors[i], w)
		}
	}
}

func TestReadMalformedArchive(t *testing.T) {
	files := ubuntusecuritytest.Records(t)
	tarball := ubuntusecuritytest.Tar(t, files...)
	archive := ubuntusecuritytest.XZ(t, tarball)
	corrupt := bytes.Clone(archive)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name  string
		input []byte
		want  []string // each in the error
	}{
		{"empty", nil, []string{"not an xz stream"}},
		{"a tar, not xz", tarball, []string{"not an xz stream"}},
		{"xz cut in the middle", archive[:len(archive)/2], []string{"records"}},
		{"xz cut in its footer", archive[:len(archive)-4], []string{"after its last record", "6 records"}},
		{"xz with a byte flipped", corrupt, []string{"records"}},
		{"tar cut in a record", ubuntusecuritytest.XZ(t, tarball[:len(tarball)/2]), []string{"reading osv/", "unexpected EOF"}},
		{"tar cut in a header", ubuntusecuritytest.XZ(t, tarball[:512+100]), []string{"after 0 records", "unexpected EOF"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ubuntusecurity.Read(bytes.NewReader(tc.input), tracker.SecurityFilter{})
			if err == nil {
				t.Fatalf("no error; read %d records, %d fixes", a.Records, len(a.Fixes))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if a.Records != 0 || a.Fixes != nil {
				t.Errorf("a partial result came with the error: %+v", a)
			}
		})
	}
}

// FuzzRead puts arbitrary bytes in one record of a small archive: whatever they are,
// Read must not panic, the archive stays readable, and what it claims is well formed.
func FuzzRead(f *testing.F) {
	for _, r := range ubuntusecuritytest.Records(f) {
		f.Add(r.Data)
	}
	f.Add([]byte(`{"id": "USN-1-1", "affected": [{"ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": ""}]}]}]}`))
	f.Add([]byte(`{"id": 7}`))
	f.Add([]byte(`null`))
	other := ubuntusecuritytest.Records(f, "osv/usn/USN-2169-2.json")[0]
	f.Fuzz(func(t *testing.T, data []byte) {
		archive := ubuntusecuritytest.Build(t, other, ubuntusecuritytest.File{Name: "osv/usn/fuzz.json", Data: data})
		a, err := ubuntusecurity.Read(bytes.NewReader(archive), tracker.SecurityFilter{})
		if err != nil {
			t.Fatalf("a well-formed archive failed: %v", err)
		}
		if a.Records != 2 || len(a.RecordErrors) > 1 {
			t.Fatalf("records %d, errors %q", a.Records, a.RecordErrors)
		}
		for _, fix := range a.Fixes {
			if fix.Record == "" || fix.Fixed == "" || fix.CVEs == nil || fix.Binaries == nil {
				t.Fatalf("ill-formed fix %+v", fix)
			}
		}
	})
}
