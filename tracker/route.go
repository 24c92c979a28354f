package tracker

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Route sends the events it matches to the notifiers it names. Empty lists match all.
type Route struct {
	Events   []EventKind
	Families []string // globs (MatchFamily): of family events, and of the family a pool runs
	Channels []string // flatcar_release only
	Kernel   string   // version constraint on the kernel
	Flatcar  string   // version constraint on the Flatcar version
	// CVEs takes only node images that fix at least one advisory, from their OS's
	// source (Flatcar's notes, Canonical's records); images of an OS without one never.
	CVEs   bool
	Notify []string
	Digest bool // one notification per cycle listing everything matched
}

// isFamilyEvent reports whether an event's subject is a family.
func isFamilyEvent(k EventKind) bool {
	return k == EventNodeImage || k == EventFamilyAdded || k == EventFamilyQuiet
}

// RouteFacts are what routes look at besides the event itself.
type RouteFacts struct {
	Kernel  string // the image's kernel, or the Flatcar release's
	Flatcar string // the Flatcar version of a Flatcar image or release
	Family  string // the family a pool event's pool runs
	Fixes   int    // the advisories a node image fixes since the previous image
}

// Match reports whether the route takes the event.
func (r Route) Match(e Event, f RouteFacts) bool {
	// A pool_current resolves a pool_behind: a route of the one takes the other.
	if len(r.Events) > 0 && !slices.Contains(r.Events, e.Kind) &&
		!(e.Kind == EventPoolCurrent && slices.Contains(r.Events, EventPoolBehind)) {
		return false
	}
	if len(r.Families) > 0 {
		family := e.Subject
		switch {
		case isPoolEvent(e.Kind):
			family = f.Family
		case !isFamilyEvent(e.Kind):
			return false
		}
		if !slices.ContainsFunc(r.Families, func(g string) bool { return MatchFamily(g, family) }) {
			return false
		}
	}
	if len(r.Channels) > 0 && (e.Kind != EventFlatcarRelease || !slices.Contains(r.Channels, e.Subject)) {
		return false
	}
	if r.Kernel != "" {
		if ok, _ := MatchVersion(r.Kernel, f.Kernel); !ok {
			return false
		}
	}
	if r.Flatcar != "" {
		if ok, _ := MatchVersion(r.Flatcar, f.Flatcar); !ok {
			return false
		}
	}
	if r.CVEs && (e.Kind != EventNodeImage || f.Fixes == 0) {
		return false
	}
	return true
}

// versionLiteral finds the versions written in a constraint.
var versionLiteral = regexp.MustCompile(`\d+(\.\d+){2,3}`)

// scaleVersion folds a fourth number into the third (6.6.139.1 -> 6.6.13900001) so that
// semver, which takes three, orders Azure Linux kernels as CompareDotted does.
func scaleVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) < 3 {
		return v
	}
	patch, err1 := strconv.ParseUint(parts[2], 10, 32)
	var fourth uint64
	var err2 error
	if len(parts) > 3 {
		fourth, err2 = strconv.ParseUint(parts[3], 10, 32)
	}
	if err1 != nil || err2 != nil || fourth >= 100000 {
		return v
	}
	return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch*100000+fourth)
}

// ParseConstraint parses a route's kernel: or flatcar: constraint. The syntax is semver's
// (">= 6.12.90", "~4593", "< 6.6.139.1"), with four-number versions allowed.
func ParseConstraint(constraint string) (*semver.Constraints, error) {
	c, err := semver.NewConstraint(versionLiteral.ReplaceAllStringFunc(constraint, scaleVersion))
	if err != nil {
		return nil, fmt.Errorf("%q is not a version constraint: %w", constraint, err)
	}
	return c, nil
}

// MatchVersion reports whether a kernel or Flatcar version meets a constraint. It compares
// the leading dotted numbers of the value (6.12.87 of 6.12.87-flatcar, 6.6.139.1 of
// 6.6.139.1-1.azl3): semver's own rules would take -flatcar for a prerelease and exclude
// every such kernel. A value without leading numbers matches no constraint.
func MatchVersion(constraint, value string) (bool, error) {
	c, err := ParseConstraint(constraint)
	if err != nil {
		return false, err
	}
	nums := LeadingNumbers(value)
	if nums == "" {
		return false, nil
	}
	v, err := semver.NewVersion(scaleVersion(nums))
	if err != nil {
		return false, nil
	}
	return c.Check(v), nil
}
