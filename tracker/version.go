package tracker

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ImageVersionFormat is one of the three ways AgentBaker names a node image.
type ImageVersionFormat int

const (
	FormatDate    ImageVersionFormat = iota + 1 // 202607.02.0: YYYYMM.DD.patch (Linux, current)
	FormatLegacy                                // 2023.01.10: YYYY.MM.DD (Linux, before 2023-05)
	FormatWindows                               // 26100.7171.251116: build.revision.YYMMDD
)

// ImageVersion is a parsed node image version. semver cannot order these: it coerces
// 202607.02.0 and refuses 4-part kernels, so nodewatch orders them itself.
type ImageVersion struct {
	Raw    string
	Format ImageVersionFormat
	Date   time.Time // the day the version names
	// Build and Revision are Windows' build.revision; Patch the Linux patch number.
	Build, Revision, Patch int
}

// ParseImageVersion accepts the three formats of the contract with a real month and day,
// and nothing else: upstream once had a stray `20230501.0.txt`, which is no image.
func ParseImageVersion(s string) (ImageVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return ImageVersion{}, fmt.Errorf("image version %q: want three dot-separated numbers", s)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.TrimLeft(p, "0123456789") != "" {
			return ImageVersion{}, fmt.Errorf("image version %q: %q is not a number", s, p)
		}
		nums[i], _ = strconv.Atoi(p)
	}
	v := ImageVersion{Raw: s}
	var y, m, d int
	switch {
	case len(parts[0]) == 6 && len(parts[1]) == 2: // 202607.02.0
		v.Format = FormatDate
		y, m, d, v.Patch = nums[0]/100, nums[0]%100, nums[1], nums[2]
	case len(parts[0]) == 4 && len(parts[1]) == 2 && len(parts[2]) == 2: // 2023.01.10
		v.Format = FormatLegacy
		y, m, d = nums[0], nums[1], nums[2]
	case len(parts[0]) == 5 && len(parts[2]) == 6: // 26100.7171.251116
		v.Format = FormatWindows
		v.Build, v.Revision = nums[0], nums[1]
		y, m, d = 2000+nums[2]/10000, nums[2]/100%100, nums[2]%100
	default:
		return ImageVersion{}, fmt.Errorf("image version %q: not YYYYMM.DD.patch, YYYY.MM.DD or build.revision.YYMMDD", s)
	}
	if y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1 || d > 31 {
		return ImageVersion{}, fmt.Errorf("image version %q: no such date", s)
	}
	v.Date = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if v.Date.Day() != d { // 2026-02-30 normalises to March
		return ImageVersion{}, fmt.Errorf("image version %q: no such date", s)
	}
	return v, nil
}

// Compare orders two versions of one family: Windows by build, revision and date; Linux
// by the day named and then the patch, so 2023.01.10 < 202305.02.0 across the renaming.
func (v ImageVersion) Compare(o ImageVersion) int {
	if (v.Format == FormatWindows) != (o.Format == FormatWindows) {
		return cmpInt(int(v.Format), int(o.Format))
	}
	if v.Format == FormatWindows {
		if c := cmpInt(v.Build, o.Build); c != 0 {
			return c
		}
		if c := cmpInt(v.Revision, o.Revision); c != 0 {
			return c
		}
	}
	if c := v.Date.Compare(o.Date); c != 0 {
		return c
	}
	return cmpInt(v.Patch, o.Patch)
}

// CompareImageVersions orders two version strings; one that does not parse sorts first,
// and two that do not parse compare as strings.
func CompareImageVersions(a, b string) int {
	va, ea := ParseImageVersion(a)
	vb, eb := ParseImageVersion(b)
	switch {
	case ea != nil && eb != nil:
		return strings.Compare(a, b)
	case ea != nil:
		return -1
	case eb != nil:
		return 1
	}
	return va.Compare(vb)
}

// LeadingNumbers returns the leading dotted numbers of a version string: `6.12.87` of
// `6.12.87-flatcar`, `6.6.139.1` of `6.6.139.1-1.azl3`, `4694.0.1` of `4694.0.1`.
func LeadingNumbers(s string) string {
	end := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			end = i + 1
			continue
		}
		if c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && end == i {
			continue
		}
		break
	}
	return s[:end]
}

// CompareDotted orders kernel and Flatcar versions: numerically by their leading dotted
// numbers (any count of them), then by the rest as a string.
func CompareDotted(a, b string) int {
	na, nb := LeadingNumbers(a), LeadingNumbers(b)
	if na == "" || nb == "" {
		if na != nb {
			return cmpInt(len(na), len(nb))
		}
		return strings.Compare(a, b)
	}
	pa, pb := strings.Split(na, "."), strings.Split(nb, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		if i >= len(pa) {
			return -1
		}
		if i >= len(pb) {
			return 1
		}
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if c := cmpInt(x, y); c != 0 {
			return c
		}
	}
	return compareNatural(a[len(na):], b[len(nb):])
}

// compareNatural orders strings with their runs of digits taken as numbers, so that
// `-10.azl3` > `-9.azl3` and `-1000-azure` > `-999-azure`.
func compareNatural(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			x, y := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmpInt(len(x), len(y)); c != 0 {
				return c
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmpInt(int(a[0]), int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return cmpInt(len(a), len(b))
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
