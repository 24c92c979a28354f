package tracker_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

func TestParseImageVersion(t *testing.T) {
	tests := []struct {
		in   string
		want tracker.ImageVersion // zero for an error
	}{
		{"202607.02.0", tracker.ImageVersion{Format: tracker.FormatDate, Date: day(2026, 7, 2)}},
		{"202605.25.1", tracker.ImageVersion{Format: tracker.FormatDate, Date: day(2026, 5, 25), Patch: 1}},
		{"202605.05.10", tracker.ImageVersion{Format: tracker.FormatDate, Date: day(2026, 5, 5), Patch: 10}},
		{"202402.29.0", tracker.ImageVersion{Format: tracker.FormatDate, Date: day(2024, 2, 29)}},
		{"2023.01.10", tracker.ImageVersion{Format: tracker.FormatLegacy, Date: day(2023, 1, 10)}},
		{"26100.7171.251116", tracker.ImageVersion{Format: tracker.FormatWindows, Date: day(2025, 11, 16), Build: 26100, Revision: 7171}},
		{"26100.32690.260415", tracker.ImageVersion{Format: tracker.FormatWindows, Date: day(2026, 4, 15), Build: 26100, Revision: 32690}},
		{"17763.6659.241218", tracker.ImageVersion{Format: tracker.FormatWindows, Date: day(2024, 12, 18), Build: 17763, Revision: 6659}},

		{"202613.01.0", tracker.ImageVersion{}},       // month 13
		{"202600.01.0", tracker.ImageVersion{}},       // month 0
		{"202602.30.0", tracker.ImageVersion{}},       // 30 February
		{"202502.29.0", tracker.ImageVersion{}},       // not a leap year
		{"202605.32.0", tracker.ImageVersion{}},       // day 32
		{"202605.00.0", tracker.ImageVersion{}},       // day 0
		{"2023.13.10", tracker.ImageVersion{}},        // legacy, month 13
		{"26100.7171.251301", tracker.ImageVersion{}}, // Windows, month 13
		{"26100.7171.2511", tracker.ImageVersion{}},
		{"000000.11.5", tracker.ImageVersion{}}, // upstream test leftovers
		{"123456.11.0", tracker.ImageVersion{}},
		{"00000.11.2223", tracker.ImageVersion{}},
		{"20230501.0", tracker.ImageVersion{}}, // the stray upstream file
		{"202605.27.0.1", tracker.ImageVersion{}},
		{"202605.27", tracker.ImageVersion{}},
		{"2026a5.27.0", tracker.ImageVersion{}},
		{"v202605.27.0", tracker.ImageVersion{}},
		{"202605.27.x", tracker.ImageVersion{}},
		{"202605.27.-1", tracker.ImageVersion{}},
		{"202605.27.+1", tracker.ImageVersion{}},
		{"202605.27.0 ", tracker.ImageVersion{}},
		{"202605..0", tracker.ImageVersion{}},
		{"latest", tracker.ImageVersion{}},
		{"", tracker.ImageVersion{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tracker.ParseImageVersion(tt.in)
			if tt.want.Format == 0 {
				if err == nil {
					t.Fatalf("tracker.ParseImageVersion(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Raw = tt.in
			if got != tt.want {
				t.Errorf("tracker.ParseImageVersion(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestCompareImageVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"202606.08.1", "202606.19.0", -1},
		{"202606.19.0", "202607.02.0", -1},
		{"202605.25.1", "202605.27.0", -1},
		{"202605.27.0", "202605.27.1", -1},
		{"202605.05.9", "202605.05.10", -1}, // the patch is a number
		{"202512.18.0", "202601.07.0", -1},
		{"2023.01.10", "202305.02.0", -1}, // across the renaming
		{"2023.01.10", "2023.01.19", -1},
		{"2022.12.19", "2023.01.10", -1},
		{"26100.7171.251116", "26100.32690.260415", -1}, // the revision is a number
		{"26100.7171.251116", "26100.7171.251210", -1},
		{"17763.6659.241218", "20348.2966.241210", -1},
		{"202605.27.0", "202605.27.0", 0},
		{"26100.7171.251116", "26100.7171.251116", 0},
		// What does not parse sorts first, among itself as a string.
		{"latest", "2023.01.10", -1},
		{"20230501.0", "202305.02.0", -1},
		{"20230501.0", "latest", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := tracker.CompareImageVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("tracker.CompareImageVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tracker.CompareImageVersions(tt.b, tt.a); got != -tt.want {
				t.Errorf("tracker.CompareImageVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestSortImageVersions(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"AKSFlatcar/gen2 of 2026-05-31", []string{
			"202601.27.0", "202602.13.0", "202602.13.2", "202602.13.5", "202602.19.0", "202603.04.0",
			"202603.12.0", "202603.12.1", "202603.18.0", "202603.18.1", "202603.30.0", "202604.13.0",
			"202604.24.0", "202605.05.1", "202605.14.0", "202605.27.0",
		}},
		{"Linux across the renaming", []string{
			// Upstream's 2204containerd holds both 2023.03.28 and 202303.06.0: the day decides.
			"2022.09.19", "2022.10.03", "2022.12.19", "2023.01.10", "202303.06.0",
			"2023.03.28", "202305.24.0", "202306.01.0", "202605.05.1", "202605.05.10", "202605.25.1", "202605.27.0",
		}},
		{"Windows", []string{
			"17763.6659.241218", "20348.2966.241210", "26100.7171.251116", "26100.7171.251210", "26100.32690.260415",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(tt.want)
			slices.Reverse(got)
			slices.SortFunc(got, tracker.CompareImageVersions)
			if !slices.Equal(got, tt.want) {
				t.Errorf("sorted:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestSortFixtureImageVersions sorts the image versions of every family directory of every
// snapshot. They all read YYYYMM.DD.<one digit>, so their version order is their string order.
func TestSortFixtureImageVersions(t *testing.T) {
	shape := regexp.MustCompile(`^\d{6}\.\d{2}\.\d$`)
	for _, world := range []string{"2026-02-11", "2026-04-30", "2026-05-31"} {
		root := filepath.Join(trackertest.World(t, world), trackertest.NotesDir)
		for _, family := range []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", "AKSAzureLinuxV3/gen2", "AKSUbuntu/gen2/2404containerd"} {
			entries, err := os.ReadDir(filepath.Join(root, family))
			if err != nil {
				t.Fatal(err)
			}
			var versions []string
			for _, e := range entries {
				v, ok := strings.CutSuffix(e.Name(), ".txt")
				if !ok || v == "latest" {
					continue
				}
				if !shape.MatchString(v) {
					t.Fatalf("%s %s: %s is not YYYYMM.DD.<digit>; this test orders by string", world, family, e.Name())
				}
				versions = append(versions, v)
			}
			if len(versions) < 2 {
				t.Fatalf("%s %s: %d versions", world, family, len(versions))
			}
			want := slices.Sorted(slices.Values(versions))
			got := slices.Clone(versions)
			slices.Reverse(got)
			slices.SortFunc(got, tracker.CompareImageVersions)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s sorted:\n%q\nwant\n%q", world, family, got, want)
			}
		}
	}
}

func TestLeadingNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"6.12.87-flatcar", "6.12.87"},
		{"6.6.139.1-1.azl3", "6.6.139.1"},
		{"6.8.0-1059-azure", "6.8.0"},
		{"5.15.0-1030-azure", "5.15.0"},
		{"4694.0.1", "4694.0.1"},
		{"3.0.20260401", "3.0.20260401"},
		{"24.04.4 LTS (Noble Numbat)", "24.04.4"},
		{"1.2.", "1.2"},
		{"1..2", "1"},
		{"v1.2.3", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := tracker.LeadingNumbers(tt.in); got != tt.want {
			t.Errorf("tracker.LeadingNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompareDotted(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.6.150.1-1.azl3", "6.6.139.1-1.azl3", 1},
		{"6.12.91-flatcar", "6.12.87-flatcar", 1},
		{"6.8.0-1059-azure", "6.8.0-1056-azure", 1},
		{"6.8.0-1100-azure", "6.8.0-1059-azure", 1},
		{"6.6.64.2-9.azl3", "6.6.64.2-1.azl3", 1},
		{"6.6.78.1-3.azl3", "6.6.64.2-9.azl3", 1}, // consecutive AKSAzureLinuxV3 images
		{"6.6.104.2-1.azl3", "6.6.96.2-2.azl3", 1},
		{"6.12.87-flatcar", "6.12.87-flatcar", 0},
		{"6.6.139.1-1.azl3", "6.6.139-1", 1}, // one more number
		{"4694.0.1", "4694.0.0", 1},
		{"4694.0.0", "4628.0.0", 1},
		{"10.0", "9.9", 1},
		{"3.0.20260517", "3.0.20260401", 1},
		{"6.1", "", 1}, // no numbers sort first
		{"6.1", "flatcar", 1},
		{"abc", "abd", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := tracker.CompareDotted(tt.a, tt.b); got != tt.want {
				t.Errorf("tracker.CompareDotted(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tracker.CompareDotted(tt.b, tt.a); got != -tt.want {
				t.Errorf("tracker.CompareDotted(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestCompareDottedSuffixNumbers(t *testing.T) {
	for _, c := range []struct{ lo, hi string }{
		{"6.6.64.2-9.azl3", "6.6.64.2-10.azl3"},
		{"6.8.0-999-azure", "6.8.0-1000-azure"},
		{"6.8.0-1059-azure", "6.8.0-1100-azure"},
	} {
		if tracker.CompareDotted(c.lo, c.hi) != -1 || tracker.CompareDotted(c.hi, c.lo) != 1 {
			t.Errorf("tracker.CompareDotted(%s, %s): want %s first", c.lo, c.hi, c.lo)
		}
	}
}
