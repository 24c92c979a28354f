package tracker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Quiet families: a family whose newest image is at least QuietMinDays and
// QuietIntervals of its usual intervals older than the newest image of all families.
// It is judged on upstream data, not on the clock, so a pause of all of AKS is no quiet
// family; the usual interval is the median gap between the build days of its last
// QuietWindow images.
const (
	QuietMinDays   = 21
	QuietIntervals = 3
	QuietWindow    = 10
	// CadenceImages is how many recent build days a family's cadence strip shows.
	CadenceImages = 12
)

// FamilyStatus is one family at a glance: its newest image, how often it ships, and
// whether it fell quiet.
type FamilyStatus struct {
	Family           string       `json:"family"`
	OSLine           string       `json:"os_line"` // Ubuntu, Azure Linux, Azure Container Linux, Flatcar, Windows
	SKU              string       `json:"sku,omitempty"`
	Images           int          `json:"images"`
	Newest           string       `json:"newest"`
	NodeImageVersion string       `json:"node_image_version,omitempty"`
	NewestDay        time.Time    `json:"newest_day"`
	OSName           string       `json:"os_name"`
	OSVersion        *string      `json:"os_version"`
	Kernel           *string      `json:"kernel"`
	NotesURL         string       `json:"notes_url"`
	Cadence          []CadenceDay `json:"cadence"` // the build days of its last images, oldest first
	// IntervalDays is the usual interval; nil with fewer than two images.
	IntervalDays *float64 `json:"usual_interval_days"`
	Quiet        bool     `json:"quiet"`
	// BehindDays is how many days its newest image is older than the newest of all families.
	BehindDays int `json:"days_quiet"`
}

// CadenceDay is one recent image of a family and the day it was built.
type CadenceDay struct {
	Version string    `json:"version"`
	Day     time.Time `json:"day"`
}

// buildDay is the day an image was built, at 00:00 UTC.
func buildDay(im NodeImage) time.Time {
	return im.Day().UTC().Truncate(24 * time.Hour)
}

// FamilyStatuses summarises every family of images (any order), ordered by OS line and
// then family.
func FamilyStatuses(images []NodeImage) []FamilyStatus {
	return familyStatusesOf(SortImages(images))
}

// familyStatusesOf is FamilyStatuses of images already ordered by SortImages.
func familyStatusesOf(sorted []NodeImage) []FamilyStatus {
	byFamily := map[string][]NodeImage{}
	for _, im := range sorted {
		byFamily[im.Family] = append(byFamily[im.Family], im)
	}
	out := make([]FamilyStatus, 0, len(byFamily))
	var newestOfAll time.Time
	for family, ims := range byFamily {
		newest := ims[len(ims)-1]
		s := FamilyStatus{
			Family: family, OSLine: OSLine(family), Images: len(ims), Newest: newest.Version,
			NewestDay: buildDay(newest), OSName: newest.OS.Name, OSVersion: newest.OS.Version, NotesURL: newest.NotesURL,
		}
		for i := len(ims) - 1; i >= 0 && s.SKU == ""; i-- {
			s.SKU = ims[i].SKU
		}
		s.NodeImageVersion = NodeImageVersion(family, s.SKU, newest.Version)
		if newest.Kernel != "" {
			s.Kernel = ptr(newest.Kernel)
		}
		for _, im := range ims[max(0, len(ims)-CadenceImages):] {
			s.Cadence = append(s.Cadence, CadenceDay{Version: im.Version, Day: buildDay(im)})
		}
		s.IntervalDays = usualInterval(ims)
		if s.NewestDay.After(newestOfAll) {
			newestOfAll = s.NewestDay
		}
		out = append(out, s)
	}
	for i := range out {
		out[i].BehindDays = int(newestOfAll.Sub(out[i].NewestDay).Hours() / 24)
		out[i].Quiet = isQuiet(out[i].BehindDays, out[i].IntervalDays)
	}
	slices.SortFunc(out, func(a, b FamilyStatus) int {
		if c := slices.Index(OSLines, a.OSLine) - slices.Index(OSLines, b.OSLine); c != 0 {
			return c
		}
		return strings.Compare(a.Family, b.Family)
	})
	return out
}

// usualInterval is the median gap in days between the build days of a family's last
// QuietWindow images (sorted by version); nil with fewer than two.
func usualInterval(sorted []NodeImage) *float64 {
	last := sorted[max(0, len(sorted)-QuietWindow):]
	if len(last) < 2 {
		return nil
	}
	days := make([]time.Time, len(last))
	for i, im := range last {
		days[i] = buildDay(im)
	}
	// The build order is not the version order: gaps are between days in time order.
	slices.SortFunc(days, time.Time.Compare)
	gaps := make([]float64, len(days)-1)
	for i := range gaps {
		gaps[i] = days[i+1].Sub(days[i]).Hours() / 24
	}
	slices.Sort(gaps)
	m := gaps[len(gaps)/2]
	if len(gaps)%2 == 0 {
		m = (gaps[len(gaps)/2-1] + gaps[len(gaps)/2]) / 2
	}
	return &m
}

// isQuiet applies the rule to a family whose newest image is behindDays older than the
// newest of all families. Without a usual interval (one image), 21 days decide alone.
func isQuiet(behindDays int, interval *float64) bool {
	if behindDays < QuietMinDays {
		return false
	}
	return interval == nil || float64(behindDays) >= QuietIntervals**interval
}

// QuietFamilies returns the statuses that are quiet.
func QuietFamilies(statuses []FamilyStatus) []FamilyStatus {
	var out []FamilyStatus
	for _, s := range statuses {
		if s.Quiet {
			out = append(out, s)
		}
	}
	return out
}

// QuietText says how long a family has been quiet, against what it usually does.
func (s FamilyStatus) QuietText() string {
	interval := "unknown (one image)"
	if s.IntervalDays != nil {
		interval = fmt.Sprintf("%s days", strconv.FormatFloat(*s.IntervalDays, 'f', -1, 64))
	}
	return fmt.Sprintf("no image for %d days; last image %s built %s; usual interval %s", s.BehindDays, s.Newest,
		s.NewestDay.Format(time.DateOnly), interval)
}
