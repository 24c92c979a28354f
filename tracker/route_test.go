package tracker_test

import (
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

func TestMatchVersion(t *testing.T) {
	for _, tc := range []struct {
		constraint, value string
		want              bool
	}{
		// Kernels of the snapshot's notes: AKSFlatcar/gen2 202605.27.0, AKSAzureLinuxV3/gen2,
		// AKSUbuntu/gen2/2404containerd.
		{">= 6.12.87", "6.12.87-flatcar", true},
		{">= 6.12.90", "6.12.87-flatcar", false},
		{"~6.12", "6.12.87-flatcar", true},
		{">= 6.6, < 6.7", "6.6.96.2-2.azl3", true},
		{"> 6.6.96", "6.6.96.2-2.azl3", true}, // the fourth number counts
		{"< 6.6.139.1", "6.6.96.2-2.azl3", true},
		{">= 6.6.139.1", "6.6.139.1-1.azl3", true},
		{"> 6.6.139.1", "6.6.139.1-1.azl3", false},
		{"> 6.6.139.1", "6.6.139.2-1.azl3", true},
		{">= 6.8.0", "6.8.0-1056-azure", true},
		// Flatcar versions of the snapshot's stable feed and an alpha image.
		{">= 4593", "4593.2.1", true},
		{">= 4593", "4547.0.0", false},
		{"4694.x", "4694.0.1", true},
		{">= 1", "", false},
		{">= 1", "unknown", false},
	} {
		got, err := tracker.MatchVersion(tc.constraint, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("tracker.MatchVersion(%q, %q) = %v, %v; want %v", tc.constraint, tc.value, got, err, tc.want)
		}
	}
	if _, err := tracker.MatchVersion(">= six", "6.12.87"); err == nil || !strings.Contains(err.Error(), `">= six" is not a version constraint`) {
		t.Errorf("tracker.MatchVersion with a bad constraint: error %v", err)
	}
}
