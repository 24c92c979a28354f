// Package aksnotes reads the node image versions out of the body of an Azure/AKS GitHub
// release.
//
// Release bodies have named images in many shapes since 2019 (`[202607.09.0](...)`,
// `[AKSUbuntu-1804-2022.10.03](...)`, `[2019-datacenter-core-smalldisk-17763.2803.220413](...)`,
// absolute links into AgentBaker and aks-engine, `<https://...txt>` autolinks), but every one
// of them links to the image's notes file, and that file's name is the version. So an image
// is a link to a `.txt` note; the prose around it only helps to name the OS.
package aksnotes

import (
	"regexp"
	"strings"

	"github.com/nodewatch/nodewatch/tracker"
)

// maxTarget bounds a link target: a notes path is a few hundred bytes, and a hostile body
// must not make one link cost megabytes of work.
const maxTarget = 2048

// contextLen is how much of the line before a link may name the OS when the link's path
// does not.
const contextLen = 256

// ParseBody returns every node image version the release body names, in order of appearance,
// without duplicates of the same (OS, Version, NotesPath). It is never nil, so that a release
// naming no image encodes as an empty JSON array.
func ParseBody(body string) []tracker.AKSImageRef {
	refs := []tracker.AKSImageRef{}
	seen := make(map[tracker.AKSImageRef]bool)
	// floor is where the previous inline link began: looking back for a link's text never
	// goes past it. stop is the first byte at or after the current target that may end one
	// (a target never holds these, see isURLPath); remembering it saves searching the same
	// stretch again for every "(" in it. Both keep a hostile line full of "](" linear.
	floor, stop := 0, 0
	for i := 0; i < len(body); {
		j := strings.IndexAny(body[i:], "(<")
		if j < 0 {
			break
		}
		p := i + j
		i = p + 1
		if stop <= p {
			stop = len(body)
			if k := strings.IndexAny(body[p+1:], ")> \t\r\n"); k >= 0 {
				stop = p + 1 + k
			}
		}
		if stop == len(body) || stop-p-1 > maxTarget {
			continue
		}
		target := body[p+1 : stop]
		var text string
		if body[p] == '(' {
			if p == 0 || body[p-1] != ']' || body[stop] != ')' {
				continue
			}
			text = linkText(body[floor : p-1])
			floor = p
		} else if body[stop] != '>' || !strings.HasPrefix(target, "http") {
			continue
		}
		dir, v, ok := notesVersion(target, text)
		if !ok {
			continue
		}
		ref := tracker.AKSImageRef{OS: osLabel(v, dir, lineBefore(body, p)), Version: v.Raw, NotesPath: target}
		if seen[ref] {
			continue
		}
		seen[ref] = true
		refs = append(refs, ref)
	}
	return refs
}

// linkText returns the text of a markdown link whose "](" ends s, or "" if s holds no
// opening bracket on the link's line.
func linkText(s string) string {
	k := strings.LastIndexByte(s, '[')
	if k < 0 || strings.IndexByte(s[k:], '\n') >= 0 {
		return ""
	}
	return s[k+1:]
}

// lineBefore returns up to contextLen bytes of the line that a link at p stands on.
func lineBefore(body string, p int) string {
	s := body[max(0, p-contextLen):p]
	if k := strings.LastIndexByte(s, '\n'); k >= 0 {
		s = s[k+1:]
	}
	return s
}

// notesVersion reads the image version a link names, if its target is a notes file, and
// the directory the file is in.
func notesVersion(target, text string) (dir string, v tracker.ImageVersion, ok bool) {
	if !isURLPath(target) {
		return "", v, false
	}
	name := target
	if k := strings.LastIndexByte(target, '/'); k >= 0 {
		dir, name = target[:k], target[k+1:]
	}
	base, ok := strings.CutSuffix(name, ".txt")
	if !ok {
		// 2021-05-20 links `AKSUbuntu-1604/2021.05.19txt`: a typo for the note, not another file.
		base, ok = strings.CutSuffix(name, "txt")
		if !ok || base == "" || !isDigit(base[len(base)-1]) {
			return "", v, false
		}
	}
	if v, ok = trailingVersion(base); !ok {
		v, ok = firstVersion(text)
	}
	return dir, v, ok
}

// trailingVersion reads the version that ends a notes file name: the whole name, or its
// tail after a family prefix (`2019-datacenter-core-smalldisk-17763.2803.220413`,
// `aks-ubuntu-1604-202001_2020.01.10`).
func trailingVersion(base string) (tracker.ImageVersion, bool) {
	k := len(base)
	for k > 0 && (isDigit(base[k-1]) || base[k-1] == '.') {
		k--
	}
	v, err := tracker.ParseImageVersion(strings.TrimLeft(base[k:], "."))
	return v, err == nil
}

// firstVersion finds the first image version among the runs of digits and dots in s.
func firstVersion(s string) (tracker.ImageVersion, bool) {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
			j++
		}
		if v, err := tracker.ParseImageVersion(strings.Trim(s[i:j], ".")); err == nil {
			return v, true
		}
		i = j
	}
	return tracker.ImageVersion{}, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isURLPath reports whether s holds only the characters a URL may: a notes path never
// needs more, and what a notifier later prints must not carry `<!channel>` or other markup.
func isURLPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("-._~:/?#@!$&'*+,;=%", c) >= 0) {
			return false
		}
	}
	return true
}

// windowsBuilds names Windows Server by its build number, which a Windows image version
// starts with. The build is more reliable than the path: 2024-04-28 filed a 17763 (2019)
// image under AKSWindows/2022.
var windowsBuilds = map[int]string{
	17763: "Windows Server 2019",
	20348: "Windows Server 2022",
	25398: "Windows Server 23H2",
	26100: "Windows Server 2025",
}

// osLabel names the OS of image v: from a Windows build, else from the notes directory
// (AgentBaker's and the AKS repo's directory names say it), else from the line around the
// link, else the directory's own name.
func osLabel(v tracker.ImageVersion, dir, line string) string {
	if v.Format == tracker.FormatWindows {
		if label, ok := windowsBuilds[v.Build]; ok {
			return label
		}
	}
	if label := osNamedIn(dir, "Azure Linux 2.0"); label != "" {
		return label
	}
	if label := osNamedIn(line, "Azure Linux"); label != "" {
		return label
	}
	if k := strings.LastIndexByte(dir, '/'); k >= 0 {
		dir = dir[k+1:]
	}
	if dir == "" {
		return "unknown"
	}
	return dir
}

var (
	azureLinuxRE = regexp.MustCompile(`azure[^a-z0-9]*linux(?:[^a-z0-9]*v?(\d)(?:\.0)?(?:[^0-9.]|$))?`)
	ubuntuRE     = regexp.MustCompile(`ubuntu(?:[^a-z0-9]*(?:gen\d[^a-z0-9]*)?(\d\d)\.?(04|10)(?:[^0-9]|$))?`)
	windowsRE    = regexp.MustCompile(`windows(?:[^a-z0-9]*(?:server[^a-z0-9]*)?(20\d\d|\d\dh\d))?`)
)

// osNamedIn names the OS that s (a notes directory or a line of prose) speaks of, or "".
// An Azure Linux without a version is unversionedAzureLinux: in a directory that is the
// plain `AzureLinux/` of 2.0, in prose it could be either.
func osNamedIn(s, unversionedAzureLinux string) string {
	s = strings.ToLower(s)
	switch {
	case strings.Contains(s, "flatcar"):
		return "Flatcar"
	case strings.Contains(s, "azurecontainerlinux"), strings.Contains(s, "azure container linux"):
		return "Azure Container Linux"
	case strings.Contains(s, "mariner"):
		return "Mariner"
	}
	if m := azureLinuxRE.FindStringSubmatch(s); m != nil {
		if m[1] == "" {
			return unversionedAzureLinux
		}
		return "Azure Linux " + m[1] + ".0"
	}
	// The leftmost "ubuntu" may be a bare `aks-ubuntu/` before the versioned
	// `AKSUbuntu-2204/`, so prefer any match that carries a release.
	if ms := ubuntuRE.FindAllStringSubmatch(s, -1); ms != nil {
		for _, m := range ms {
			if m[1] != "" {
				return "Ubuntu " + m[1] + "." + m[2]
			}
		}
		return "Ubuntu"
	}
	if ms := windowsRE.FindAllStringSubmatch(s, -1); ms != nil {
		for _, m := range ms {
			if m[1] != "" {
				return "Windows Server " + strings.ToUpper(m[1])
			}
		}
		return "Windows"
	}
	return ""
}
