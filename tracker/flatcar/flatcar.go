// Package flatcar reads Flatcar Container Linux's per-channel release lists: the Atom
// feed (releases-feed/releases-{channel}.xml) and the JSON file
// (releases-json/releases-{channel}.json). Fetching them is done elsewhere.
//
// Both parsers return what they can: one unreadable entry is reported and skipped, so
// that a single bad release never hides the rest of a channel.
package flatcar

import (
	"slices"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// isVersion reports whether s is a Flatcar release version, digits.digits.digits:
// anything else in a title or a JSON key is an alias or not a release at all.
func isVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// newRelease fills the fields both formats share; packages may be nil.
func newRelease(channel, version string, releasedAt time.Time, packages map[string]string, architectures []string, notesURL string) tracker.FlatcarRelease {
	return tracker.FlatcarRelease{
		Channel:       channel,
		Version:       version,
		ReleasedAt:    releasedAt.UTC().Truncate(time.Second),
		Kernel:        packages["kernel"],
		Containerd:    packages["containerd"],
		Systemd:       packages["systemd"],
		Packages:      packages,
		Architectures: architectures,
		NotesURL:      notesURL,
	}
}

func sortByVersion(releases []tracker.FlatcarRelease) {
	slices.SortFunc(releases, func(a, b tracker.FlatcarRelease) int {
		return tracker.CompareDotted(a.Version, b.Version)
	})
}
