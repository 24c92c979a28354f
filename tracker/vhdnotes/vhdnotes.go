// Package vhdnotes reads what AgentBaker publishes for each AKS node image under
// vhdbuilder/release-notes/<family>/: the `<version>.txt` notes and the
// `<version>-image-list.json` beside them.
//
// The notes are build logs, not a format: Linux and Windows images print different
// things, and the Linux output changed over the years. The parser therefore takes what
// a note clearly says and leaves the rest empty rather than guess.
package vhdnotes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// ImageFileVersion returns the image version a file name in a family directory names, and
// whether the file is an image note at all: "202605.27.0.txt" is, while latest.txt,
// *-image-list.json, *-trivy-*.txt and strays such as 20230501.0.txt are not.
func ImageFileVersion(name string) (string, bool) {
	version, ok := strings.CutSuffix(name, ".txt")
	if !ok {
		return "", false
	}
	if _, err := tracker.ParseImageVersion(version); err != nil {
		return "", false
	}
	return version, true
}

// ParseImageList reads a `<version>-image-list.json` (or latest-image-list.json) for the
// image's SKU and version.
func ParseImageList(data []byte) (sku, imageVersion string, err error) {
	var list struct {
		SKU          string `json:"sku"`
		ImageVersion string `json:"imageVersion"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &list); err != nil {
		return "", "", fmt.Errorf("image list: %w", err)
	}
	switch {
	case list.SKU == "":
		return "", "", errors.New(`image list has no "sku"`)
	case list.ImageVersion == "":
		return "", "", errors.New(`image list has no "imageVersion"`)
	}
	return list.SKU, list.ImageVersion, nil
}

var (
	utf8BOM = []byte("\xef\xbb\xbf")
	// Upstream keeps some old Windows notes in Git LFS; their raw download is the pointer.
	lfsPointer = []byte("version https://git-lfs.github.com/spec/")
)

// Parse reads one note. It fails when the data is no VHD note at all or is visibly cut
// short; the caller names the file.
func Parse(data []byte) (tracker.VHDNotes, error) {
	data = bytes.TrimPrefix(data, utf8BOM) // Windows notes start with one
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return tracker.VHDNotes{}, errors.New("empty note")
	case bytes.HasPrefix(data, lfsPointer):
		return tracker.VHDNotes{}, errors.New("a Git LFS pointer, not the note itself")
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return tracker.VHDNotes{}, fmt.Errorf("binary data (NUL byte at offset %d), not a note", i)
	}
	var p parser
	if err := p.parse(data); err != nil {
		return tracker.VHDNotes{}, err
	}
	if !p.marked {
		return tracker.VHDNotes{}, errors.New("no line of a Linux or Windows VHD note (such as \"Starting build on\", \"Using kernel:\", \"OS Name :\")")
	}
	p.finishPackageErrors()
	if !p.osRelease && p.ubuntuVersion != "" {
		// Ubuntu notes from before the os-release block name only the release.
		p.notes.OS.Name, p.notes.OS.VersionID = "Ubuntu", p.ubuntuVersion
	}
	return p.notes, nil
}

// parser holds what one pass over a note has found so far.
type parser struct {
	notes tracker.VHDNotes
	// marked is set by a line that only a VHD note has.
	marked        bool
	osRelease     bool
	ubuntuVersion string
	// inComponents is set inside the lists whose items are component versions.
	inComponents bool
	// kernelNext is set after `Using kernel:` until the next line that is not blank.
	kernelNext bool
	// inQFEs is set after a Windows note's `Installed QFEs` until a line that is not
	// indented.
	inQFEs bool
	// badLines counts the lines of the installed lists that did not parse.
	badLines int
}

// parse scans the note once, line by line; blocks it does not read are skipped whole.
func (p *parser) parse(data []byte) error {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))

		if name, ok := blockName(line); ok {
			block, rest, ok := cutBlock(data, name)
			if !ok {
				return fmt.Errorf("%s block has no end: truncated note?", name)
			}
			switch string(name) {
			case "os-release":
				p.marked, p.osRelease = true, true
				p.readOSRelease(block)
			case "Installed Packages":
				p.readPackages(block)
			}
			data = rest
			continue
		}
		if p.kernelNext && len(bytes.TrimSpace(line)) > 0 {
			p.kernelNext = false
			if release := kernelRelease(line); release != "" {
				p.notes.Kernel = release
				continue
			}
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Using kernel:")); ok {
			p.marked = true
			p.notes.Kernel = kernelRelease(rest)
			p.kernelNext = p.notes.Kernel == ""
			continue
		}
		p.readLine(line)
	}
	if p.kernelNext {
		return errors.New(`nothing after "Using kernel:": truncated note?`)
	}
	return nil
}

// blockName returns X of a `=== X Begin` line.
func blockName(line []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("=== "))
	if !ok {
		return nil, false
	}
	return bytes.CutSuffix(rest, []byte(" Begin"))
}

// cutBlock splits data after a `=== name Begin` line at its `=== name End` line.
func cutBlock(data, name []byte) (block, rest []byte, ok bool) {
	end := slices.Concat([]byte("=== "), name, []byte(" End"))
	i := 0
	if !bytes.HasPrefix(data, end) {
		if i = bytes.Index(data, slices.Concat([]byte("\n"), end)); i < 0 {
			return nil, nil, false
		}
		i++
	}
	_, rest, _ = bytes.Cut(data[i:], []byte("\n"))
	return data[:i], rest, true
}

func (p *parser) readOSRelease(block []byte) {
	for len(block) > 0 {
		var line []byte
		line, block, _ = bytes.Cut(block, []byte("\n"))
		key, value, ok := bytes.Cut(bytes.TrimSpace(line), []byte("="))
		if !ok {
			continue
		}
		os := &p.notes.OS
		switch string(key) {
		case "NAME":
			os.Name = unquote(value)
		case "VERSION":
			if v := unquote(value); v != "" {
				os.Version = &v
			}
		case "ID":
			os.ID = unquote(value)
		case "ID_LIKE":
			os.IDLike = unquote(value)
		case "VERSION_ID":
			os.VersionID = unquote(value)
		case "PRETTY_NAME":
			os.PrettyName = unquote(value)
		}
	}
}

// unquote returns an os-release value as written, without the quotes it may carry.
func unquote(v []byte) string {
	v = bytes.TrimSpace(v)
	if n := len(v); n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n-1] == v[0] {
		v = v[1 : n-1]
	}
	return string(v)
}

// kernelRelease returns <release> of `Linux version <release> (...)`, and "" for any
// other line rather than a guess.
func kernelRelease(line []byte) string {
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("Linux version "))
	if !ok {
		return ""
	}
	release, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
	return string(release)
}

// readLine reads one line outside the blocks. Most lines of a note are package, image or
// file listings, so the cheap tests come first.
func (p *parser) readLine(line []byte) {
	if p.inQFEs {
		// The list ends at a line that is not indented, a blank one included.
		if item := bytes.TrimSpace(line); len(item) > 0 && (line[0] == ' ' || line[0] == '\t') {
			p.readQFE(item)
			return
		}
		p.inQFEs = false
	}
	if len(line) == 0 {
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		if item, ok := bytes.CutPrefix(line, []byte("  - ")); ok {
			if p.inComponents {
				p.readComponent(item)
			}
			return
		}
		p.readWindowsInfo(bytes.TrimSpace(line))
		return
	}
	switch {
	case bytes.HasPrefix(line, []byte("Starting build on")):
		p.marked = true
		if p.notes.BuildTime.IsZero() {
			p.notes.BuildTime = buildStart(line[len("Starting build on"):])
		}
	case bytes.HasPrefix(line, []byte("VSTS Build NUMBER:")):
		p.marked = true
		if p.notes.BuildID == "" {
			p.notes.BuildID = string(bytes.TrimSpace(line[len("VSTS Build NUMBER:"):]))
		}
	case bytes.HasPrefix(line, []byte("Build Number:")): // Windows
		if p.notes.BuildID == "" {
			p.notes.BuildID = string(bytes.TrimSpace(line[len("Build Number:"):]))
		}
		if p.notes.BuildTime.IsZero() {
			p.notes.BuildTime = buildNumberDate(p.notes.BuildID)
		}
	case bytes.HasPrefix(line, []byte("Commit:")):
		if p.notes.Commit == "" {
			p.notes.Commit = string(bytes.TrimSpace(line[len("Commit:"):]))
		}
	case bytes.HasPrefix(line, []byte("Ubuntu version:")):
		p.ubuntuVersion = string(bytes.TrimSpace(line[len("Ubuntu version:"):]))
	case bytes.HasPrefix(line, []byte("OS ")):
		p.readWindowsInfo(line)
	case string(bytes.TrimSpace(line)) == "Installed QFEs": // Windows
		p.inQFEs = true
	case bytes.HasPrefix(line, []byte("Version: ctr ")): // Windows: `ctr <module> <version>`
		f := bytes.Fields(line[len("Version: ctr "):])
		if len(f) == 2 && bytes.Contains(f[0], []byte("containerd")) {
			p.addComponent("containerd", f[1])
		}
	case line[len(line)-1] == ':' && line[0] != '/':
		// A heading. `/opt/gpu/<dir>:` lines are `ls` output inside the components list.
		if bytes.HasPrefix(line, []byte("Components downloaded")) {
			p.marked, p.inComponents = true, true
			break
		}
		// Older notes list the CNI versions after the images; image items carry none.
		// The CSE list ("Components installed at node provisioning time") is not in the VHD.
		p.inComponents = bytes.HasSuffix(line, []byte("images pre-pulled:"))
	}
}

// readWindowsInfo reads the `OS Name : ...` and `OS Version : ...` lines of System Info,
// indented or not.
func (p *parser) readWindowsInfo(line []byte) {
	if !bytes.HasPrefix(line, []byte("OS ")) {
		return
	}
	key, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	value = bytes.TrimSpace(value)
	switch string(bytes.TrimSpace(key)) {
	case "OS Name":
		p.marked = true
		p.notes.OS.Name = string(value)
	case "OS Version":
		p.marked = true
		if len(value) > 0 {
			v := string(value)
			p.notes.OS.Version = &v
		}
	}
}

// readComponent reads one item of the components list. Items name a version as
// `<name> version <v>...`, `<name>=<v>` or `<name> v<v>` (`[installed] containerd v1.6.15-1`).
// Items without a version (bare package names, `cached kubelet binary at <path>`) say
// nothing to compare, and `[cached]` items are older copies kept beside the installed one.
func (p *parser) readComponent(item []byte) {
	if bytes.HasPrefix(item, []byte("[cached]")) {
		return
	}
	item = bytes.TrimPrefix(item, []byte("[installed] "))
	if name, versions, ok := bytes.Cut(item, []byte(" version ")); ok {
		for _, v := range bytes.Fields(versions) {
			p.addComponent(componentName(name), v)
		}
		return
	}
	name, version, ok := bytes.Cut(item, []byte("="))
	if !ok {
		name, version, _ = bytes.Cut(item, []byte(" "))
		if !isVersion(version) {
			return
		}
	}
	if bytes.ContainsAny(name, " \t") || bytes.ContainsAny(version, " \t") {
		return
	}
	p.addComponent(componentName(name), version)
}

// isVersion reports whether s starts like a version: `1.2.3` or `v1.2.3`.
func isVersion(s []byte) bool {
	s = bytes.TrimPrefix(s, []byte("v"))
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9'
}

func componentName(name []byte) string {
	return string(bytes.ToLower(bytes.TrimSpace(name)))
}

// addComponent records a version of a component once, in order of appearance. A value
// without a digit (`unknown`, `{{GPUDriverVersion}}`) is no version.
func (p *parser) addComponent(name string, version []byte) {
	if name == "" || !bytes.ContainsFunc(version, func(r rune) bool { return r >= '0' && r <= '9' }) {
		return
	}
	if p.notes.Components == nil {
		p.notes.Components = make(map[string][]string)
	}
	if !slices.Contains(p.notes.Components[name], string(version)) {
		p.notes.Components[name] = append(p.notes.Components[name], string(version))
	}
}

// buildStart reads `date`'s default output, `Wed May 27 14:35:24 UTC 2026`, with the day
// padded or not. Anything else is no build time.
func buildStart(s []byte) time.Time {
	t, err := time.Parse("Mon Jan 2 15:04:05 UTC 2006", string(bytes.Join(bytes.Fields(s), []byte(" "))))
	if err != nil {
		return time.Time{}
	}
	return t
}

// buildNumberDate returns the day a Windows build number starts with:
// `Release_20251116.1_v20251117_143893522` or `20241218.1_v20141218_110625857`. The second
// date is not trusted (the latter says 2014).
func buildNumberDate(buildNumber string) time.Time {
	s := strings.TrimLeft(buildNumber, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
	if len(s) < 8 || (len(s) > 8 && s[8] != '.' && s[8] != '_') {
		return time.Time{}
	}
	t, err := time.Parse("20060102", s[:8])
	if err != nil {
		return time.Time{}
	}
	return t
}
