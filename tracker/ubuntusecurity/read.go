// Package ubuntusecurity reads Canonical's Ubuntu security data: osv-all.tar.xz, a tar.xz
// of OSV records (USN-* notices and UBUNTU-CVE-* records, in any directory layout), and
// says which source packages each record fixes, in which version, in which ecosystem.
//
// The archive holds every release and every package Ubuntu ever had, hundreds of MB
// once decompressed, so it is streamed: xz, then tar, then one record at a time, keeping
// only the affected packages a tracker.SecurityFilter asks for.
package ubuntusecurity

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/nodewatch/nodewatch/tracker"
)

// MaxRecordSize bounds one record: the largest real ones (kernel notices listing every
// binary of every flavour) are a few MB. A larger entry is reported and skipped rather
// than read into memory.
const MaxRecordSize = 64 << 20

// record is the part of an OSV record nodewatch reads; the rest (details, versions,
// severities, references: most of the bytes) is skipped by the decoder.
type record struct {
	ID       string     `json:"id"`
	Aliases  []string   `json:"aliases"`
	Upstream []string   `json:"upstream"`
	Related  []string   `json:"related"`
	Affected []affected `json:"affected"`
}

type affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []struct {
		Type   string `json:"type"`
		Events []struct {
			Fixed string `json:"fixed"`
		} `json:"events"`
	} `json:"ranges"`
	EcosystemSpecific struct {
		Binaries []struct {
			Name    string `json:"binary_name"`
			Version string `json:"binary_version"`
		} `json:"binaries"`
	} `json:"ecosystem_specific"`
	DatabaseSpecific struct {
		CVEsMap struct {
			CVEs []struct {
				ID string `json:"id"`
			} `json:"cves"`
		} `json:"cves_map"`
	} `json:"database_specific"`
}

// Read streams a tar.xz of OSV records through keep. A record that cannot be read (not
// JSON, no id, too large) is named in RecordErrors and the others carry on; an archive
// that cannot be read (not xz, a truncated or corrupt stream, a broken tar) is an error,
// never a partial result, since a missing tail would look like fixes that do not exist.
func Read(r io.Reader, keep tracker.SecurityFilter) (tracker.SecurityArchive, error) {
	var a tracker.SecurityArchive
	xr, err := xz.NewReader(r)
	if err != nil {
		return tracker.SecurityArchive{}, fmt.Errorf("not an xz stream: %w", err)
	}
	tr := tar.NewReader(xr)
	var buf bytes.Buffer
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tracker.SecurityArchive{}, fmt.Errorf("reading the archive after %d records: %w", a.Records, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		if h.Size > MaxRecordSize {
			a.Records++
			a.RecordErrors = append(a.RecordErrors, fmt.Sprintf("%s: %d bytes, over the %d-byte limit of a record", h.Name, h.Size, MaxRecordSize))
			continue
		}
		buf.Reset()
		if _, err := io.Copy(&buf, tr); err != nil {
			return tracker.SecurityArchive{}, fmt.Errorf("reading %s (after %d records): %w", h.Name, a.Records, err)
		}
		a.Records++
		if err := readRecord(&a, h.Name, buf.Bytes(), keep); err != nil {
			a.RecordErrors = append(a.RecordErrors, fmt.Sprintf("%s: %v", h.Name, err))
		}
	}
	// The tar ends before the xz stream does (padding, then the stream's index and
	// footer): reading to the end is what checks them, so a stream cut after the last
	// record is still an error.
	if _, err := io.Copy(io.Discard, xr); err != nil {
		return tracker.SecurityArchive{}, fmt.Errorf("reading the archive after its last record (%d records): %w", a.Records, err)
	}
	return a, nil
}

// readRecord decodes one record and adds its fixes to a.
func readRecord(a *tracker.SecurityArchive, name string, data []byte, keep tracker.SecurityFilter) error {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("not an OSV record: %w", err)
	}
	if rec.ID == "" {
		return errors.New("the record has no id")
	}
	recordCVEs := rec.cves()
	for _, af := range rec.Affected {
		if !kept(af, keep) {
			continue
		}
		fixed := af.fixed()
		if fixed == "" {
			a.Unfixed++
			continue
		}
		a.Fixes = append(a.Fixes, tracker.PackageFix{
			Record:    rec.ID,
			CVEs:      af.cves(recordCVEs),
			Ecosystem: af.Package.Ecosystem,
			Source:    af.Package.Name,
			Fixed:     fixed,
			Binaries:  af.binaries(),
		})
	}
	return nil
}

// kept reports whether keep asks for af: its ecosystem, and its source package or one
// of its binaries (an image lists binaries; the record names the source). A nil
// function keeps everything.
func kept(af affected, keep tracker.SecurityFilter) bool {
	if keep.Ecosystem != nil && !keep.Ecosystem(af.Package.Ecosystem) {
		return false
	}
	if keep.Package == nil || keep.Package(af.Package.Name) {
		return true
	}
	for _, b := range af.EcosystemSpecific.Binaries {
		if b.Name != "" && keep.Package(b.Name) {
			return true
		}
	}
	return false
}

// fixed is the version of the last `fixed` event of af's ECOSYSTEM ranges, "" when
// there is none. Canonical publishes one range of introduced 0 and at most one fixed;
// were there several, the last is the one every affected span ends before.
func (af affected) fixed() string {
	fixed := ""
	for _, rg := range af.Ranges {
		if rg.Type != "ECOSYSTEM" {
			continue
		}
		for _, ev := range rg.Events {
			if ev.Fixed != "" {
				fixed = ev.Fixed
			}
		}
	}
	return fixed
}

func (af affected) binaries() map[string]string {
	m := make(map[string]string, len(af.EcosystemSpecific.Binaries))
	for _, b := range af.EcosystemSpecific.Binaries {
		if b.Name != "" {
			m[b.Name] = b.Version
		}
	}
	return m
}

// cveID is the shape of a CVE id; Canonical's own ids put UBUNTU- before it.
var cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func asCVE(id string) (string, bool) {
	id = strings.TrimPrefix(strings.TrimSpace(id), "UBUNTU-")
	return id, cveID.MatchString(id)
}

// cves are the CVE ids the record names as a whole, sorted: its own id (UBUNTU-CVE-*),
// `upstream` (UBUNTU-CVE-* ids in a 1.7 USN, CVE-* in a 1.7 UBUNTU-CVE record), and
// `related` and `aliases` (where a 1.6 record puts its CVE). USN ids there are not
// CVE-shaped and drop out.
func (rec record) cves() []string {
	var out []string
	for _, group := range [][]string{{rec.ID}, rec.Upstream, rec.Related, rec.Aliases} {
		for _, id := range group {
			if cve, ok := asCVE(id); ok {
				out = append(out, cve)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cves are the CVEs af fixes: those its cves_map names for its ecosystem where it has
// one, else the record's. cves_map first, since a notice's upstream list is the whole
// notice's: USN-7538-1 lists CVE-2025-1816, which "only affected Ubuntu 24.10", for
// every release it fixes, and nodewatch claims no CVE fixed on a guess. The price is the
// few a cves_map leaves out (USN-7894-1's 22.04 entry lacks CVE-2023-45236): a fix not
// reported, never one reported that is not.
func (af affected) cves(recordCVEs []string) []string {
	var out []string
	for _, c := range af.DatabaseSpecific.CVEsMap.CVEs {
		if cve, ok := asCVE(c.ID); ok {
			out = append(out, cve)
		}
	}
	if len(out) == 0 {
		out = slices.Clone(recordCVEs)
	}
	if out == nil {
		return []string{} // a regression notice fixes no CVE: "cves": [], not null
	}
	slices.Sort(out)
	return slices.Compact(out)
}
