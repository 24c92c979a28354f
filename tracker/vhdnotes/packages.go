package vhdnotes

// What a note lists as installed: the `=== Installed Packages Begin` block (Ubuntu's
// `apt list --installed`, Azure Linux's `rpm -qa`, or the stub of the images that list
// nothing) and a Windows note's `Installed QFEs`; and the container images of an image list.
//
// A note has a thousand package lines, so reading them must cost little more than the
// strings kept: the names and versions of a list share one string, arches are interned,
// and no line allocates.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nodewatch/nodewatch/tracker"
)

const (
	// maxPackageErrors is how many bad lines a note keeps quoted; a count says the rest.
	maxPackageErrors = 10
	// maxQuoted bounds a quoted bad line: a garbled note can hold a megabyte on one line.
	maxQuoted = 200
)

// packageFormat is the tool whose output a package list is. The first line that parses
// decides it for the block, so a stray line is reported rather than read as the other
// tool's output.
type packageFormat int

const (
	unknownFormat packageFormat = iota
	aptFormat
	rpmFormat
)

// packageLine is a package as its line spells it, before its strings are made.
type packageLine struct {
	name, version []byte
	arch          string
}

// readPackages reads the lines of an Installed Packages block.
func (p *parser) readPackages(block []byte) {
	if p.notes.Listing != tracker.PackagesNone {
		p.packageError([]byte("=== Installed Packages Begin"), "a second Installed Packages block (the first is kept)")
		return
	}
	if string(bytes.TrimSpace(block)) == "listInstalledPackages stub" {
		p.notes.Listing = tracker.PackagesStub
		return
	}
	// The names and versions of the whole list go into one string, which the packages
	// slice: a handful of allocations per note rather than one or more per package. A
	// Builder never changes what it wrote, so each package can slice what String
	// returns at once, even if the buffer grows later.
	packages := make([]tracker.Package, 0, bytes.Count(block, []byte("\n"))+1)
	var text strings.Builder
	// Names and versions are under half of an apt line and most of an rpm one: the
	// buffer grows once at most.
	text.Grow(len(block) / 2)
	format, bad := unknownFormat, 0
	for len(block) > 0 {
		var line []byte
		line, block, _ = bytes.Cut(block, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 || string(line) == "Listing..." { // apt's first line
			continue
		}
		pl, why := readPackageLine(line, &format)
		if why != "" {
			bad++
			p.packageError(line, why)
			continue
		}
		start := text.Len()
		text.Write(pl.name)
		text.Write(pl.version)
		s := text.String()[start:]
		packages = append(packages, tracker.Package{Name: s[:len(pl.name)], Version: s[len(pl.name):], Arch: pl.arch})
	}
	if len(packages) == 0 {
		// An empty list is no listing: compared with the next image it would say every
		// package was removed.
		if bad == 0 {
			p.packageError([]byte("=== Installed Packages Begin"), "the Installed Packages block lists nothing")
		}
		return
	}
	p.notes.Listing, p.notes.Packages = tracker.PackagesListed, packages
}

// readPackageLine reads one line in the block's format, settling the format on the
// first line that parses. It returns why the line is no package, or "".
func readPackageLine(line []byte, format *packageFormat) (packageLine, string) {
	switch *format {
	case aptFormat:
		pl, why := aptPackage(line)
		if why != "" {
			why = "not an `apt list --installed` line: " + why
		}
		return pl, why
	case rpmFormat:
		pl, why := rpmPackage(line)
		if why != "" {
			why = "not an `rpm -qa` line: " + why
		}
		return pl, why
	}
	if pl, why := aptPackage(line); why == "" {
		*format = aptFormat
		return pl, ""
	}
	if pl, why := rpmPackage(line); why == "" {
		*format = rpmFormat
		return pl, ""
	}
	return packageLine{}, "neither an `apt list --installed` line (name/suites version arch [installed...]) nor an `rpm -qa` one (name-version-release.arch)"
}

// aptPackage reads `curl/jammy-updates,jammy-security,now 7.81.0-1ubuntu1.20 amd64 [installed]`;
// the flags may hold spaces (`[installed,upgradable to: 3.0.10]`).
func aptPackage(line []byte) (packageLine, string) {
	head, rest, _ := bytes.Cut(line, []byte(" "))
	name, suites, ok := bytes.Cut(head, []byte("/"))
	if !ok || len(suites) == 0 {
		return packageLine{}, "no name/suites before the version"
	}
	if !isDebianName(name) {
		return packageLine{}, "not a Debian package name"
	}
	version, rest, _ := bytes.Cut(rest, []byte(" "))
	if !isDebianVersion(version) {
		return packageLine{}, "not a Debian version"
	}
	arch, flags, _ := bytes.Cut(rest, []byte(" "))
	if !archChars.all(arch) {
		return packageLine{}, "no architecture after the version"
	}
	if !bytes.HasPrefix(flags, []byte("[installed")) || flags[len(flags)-1] != ']' {
		return packageLine{}, "no [installed...] after the architecture"
	}
	return packageLine{name, version, internArch(arch)}, ""
}

// rpmPackage reads `libpcre2-8-0-10.42-3.azl3.x86_64` (name-version-release.arch). The
// arch is the last dot's suffix only when it is an arch: `gpg-pubkey-3135ce90-5e6fda74`
// has none, and `foo-1.0-3.azl3` would end in its release.
func rpmPackage(line []byte) (packageLine, string) {
	nvr, arch := line, ""
	if i := bytes.LastIndexByte(line, '.'); i >= 0 {
		if a := rpmArch(line[i+1:]); a != "" {
			nvr, arch = line[:i], a
		}
	}
	i := bytes.LastIndexByte(nvr, '-')
	if i < 0 {
		return packageLine{}, "no -release before the arch"
	}
	j := bytes.LastIndexByte(nvr[:i], '-')
	if j < 0 {
		return packageLine{}, "no -version-release before the arch"
	}
	name, version, release := nvr[:j], nvr[j+1:i], nvr[i+1:]
	switch {
	case !isRPMName(name):
		return packageLine{}, "not a package name before -version-release"
	case !rpmVersionChars.all(version) || !rpmVersionChars.all(release):
		return packageLine{}, "not a version-release"
	}
	return packageLine{name, nvr[j+1:], arch}, ""
}

// rpmArch returns the arch a suffix names, or "" when it is no arch.
func rpmArch(s []byte) string {
	for _, a := range rpmArches {
		if string(s) == a {
			return a
		}
	}
	return ""
}

var rpmArches = []string{"x86_64", "noarch", "aarch64", "i686", "i586", "i386", "armv7hl", "ppc64le", "s390x", "riscv64", "src"}

// internArch returns the common Debian arches without an allocation.
func internArch(arch []byte) string {
	switch string(arch) {
	case "amd64":
		return "amd64"
	case "all":
		return "all"
	case "arm64":
		return "arm64"
	case "i386":
		return "i386"
	}
	return string(arch)
}

// charset is a set of bytes as a table: a list's every byte is checked, so a lookup
// per byte rather than a chain of comparisons.
type charset [256]bool

func newCharset(lowerOnly bool, extra string) *charset {
	var cs charset
	for c := 'a'; c <= 'z'; c++ {
		cs[c] = true
		cs[c-'a'+'A'] = !lowerOnly
	}
	for c := '0'; c <= '9'; c++ {
		cs[c] = true
	}
	for i := range len(extra) {
		cs[extra[i]] = true
	}
	return &cs
}

// all reports whether s is not empty and each of its bytes is in the set.
func (cs *charset) all(s []byte) bool {
	for _, c := range s {
		if !cs[c] {
			return false
		}
	}
	return len(s) > 0
}

var (
	debianNameChars    = newCharset(true, "+-.")    // Debian policy 5.6.1
	debianVersionChars = newCharset(false, ".+-~:") // policy 5.6.12
	archChars          = newCharset(true, "-")
	rpmNameChars       = newCharset(false, "-._+")
	rpmVersionChars    = newCharset(false, "._+~^") // no dash: it ends the version
)

// isDebianName: two characters or more, starting with a letter or digit.
func isDebianName(s []byte) bool {
	return len(s) >= 2 && s[0] != '+' && s[0] != '-' && s[0] != '.' && debianNameChars.all(s)
}

// isDebianVersion: `[epoch:]upstream[-revision]`, starting with a digit.
func isDebianVersion(s []byte) bool {
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9' && debianVersionChars.all(s)
}

func isRPMName(s []byte) bool {
	return len(s) > 0 && s[0] != '-' && s[0] != '.' && s[0] != '_' && s[0] != '+' && rpmNameChars.all(s)
}

// packageError quotes a line that was not read, keeping the first few.
func (p *parser) packageError(line []byte, why string) {
	p.badLines++
	if p.badLines > maxPackageErrors {
		return
	}
	quoted := strconv.Quote(string(line[:min(len(line), maxQuoted)]))
	if len(line) > maxQuoted {
		quoted += "..."
	}
	p.notes.PackageErrors = append(p.notes.PackageErrors, quoted+": "+why)
}

// finishPackageErrors counts the bad lines that were not quoted.
func (p *parser) finishPackageErrors() {
	if n := p.badLines - maxPackageErrors; n > 0 {
		p.notes.PackageErrors = append(p.notes.PackageErrors, fmt.Sprintf("and %d more lines", n))
	}
}

// readQFE reads one line of a Windows note's `Installed QFEs`:
// `KB5068861 : Security Update : https://support.microsoft.com/kb/5068861`.
func (p *parser) readQFE(line []byte) {
	id, rest, ok := bytes.Cut(line, []byte(":"))
	id = bytes.TrimSpace(id)
	kind, _, _ := bytes.Cut(rest, []byte(":"))
	kind = bytes.TrimSpace(kind)
	if !ok || len(id) == 0 || bytes.ContainsAny(id, " \t") || len(kind) == 0 {
		p.packageError(line, "not an Installed QFEs line (ID : kind : link)")
		return
	}
	p.notes.Updates = append(p.notes.Updates, tracker.WindowsUpdate{ID: string(id), Kind: internKind(kind)})
}

func internKind(kind []byte) string {
	switch string(kind) {
	case "Update":
		return "Update"
	case "Security Update":
		return "Security Update"
	}
	return string(kind)
}

// ParseContainerImages returns the container images a `<version>-image-list.json` says
// the image carries: every tag of its `imageBom`, sorted, each once. Entries without tags
// (an image known only by digest) name nothing to compare.
func ParseContainerImages(data []byte) ([]string, error) {
	var list struct {
		ImageBOM *[]struct {
			RepoTags []string `json:"repoTags"`
		} `json:"imageBom"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &list); err != nil {
		return nil, fmt.Errorf("image list: %w", err)
	}
	if list.ImageBOM == nil {
		return nil, errors.New(`image list has no "imageBom"`)
	}
	var tags []string
	for i, entry := range *list.ImageBOM {
		for _, tag := range entry.RepoTags {
			if tag == "" || strings.ContainsAny(tag, " \t\r\n") {
				return nil, fmt.Errorf("image list: imageBom[%d] has repoTag %q, not an image reference", i, tag)
			}
			tags = append(tags, tag)
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}
