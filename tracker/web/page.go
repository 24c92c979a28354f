package web

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

//go:embed page.html
var pageHTML string

// pageTemplate escapes by context: names, versions and errors all come from upstream.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"date":  func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"when":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"coord": func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"days":  days,
	// short drops what a version says in parentheses, Ubuntu's code name: the title
	// keeps it whole.
	"short": func(s string) string {
		if i := strings.Index(s, " ("); i > 0 {
			return s[:i]
		}
		return s
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}).Parse(pageHTML))

type pageData struct {
	Version  string
	Now      time.Time
	NotReady string
	// Families counts the families and Images their images; Newest is the day of the
	// newest image of all families, the day quiet families and the strips are told from.
	Families, Images int
	Newest           time.Time
	Groups           []familyGroup
	Quiet            []familyRow
	CadenceDays      int
	// QuietMinDays and QuietIntervals are the rule that makes a family quiet.
	QuietMinDays, QuietIntervals int
	Cycle                        *cycleView
	Outbox                       []tracker.Delivery
	Timeline                     *timeline
	// Clusters are the watched clusters and their pools: "Your clusters", none when no
	// cluster is watched.
	Clusters []clusterView
	Pools    int // pool entries over all clusters
	Behind   int // of them behind
}

// clusterView is one watched cluster and its pools, judged now.
type clusterView struct {
	tracker.ClusterStatus
	ID    string
	Pools []poolRow
}

// poolRow is one pool and one image it runs.
type poolRow struct {
	tracker.NodePool
	Label    string // the status as a person reads it: "behind", "unknown version"
	Class    string // the badge's colour: ok, warn, info, unknown
	Distance string // "3 images · 22 days behind"
	Misses   string // NewestNotesURL if it is http(s) and the pool is behind the newest
}

// familyGroup is the families of one OS line, in tracker.OSLines order.
type familyGroup struct {
	Line  string
	ID    string
	Quiet int
	Rows  []familyRow
}

// familyRow is one family at a glance: its newest image, how often it ships, whether it
// fell quiet, and for Flatcar images how far the Flatcar release lags.
type familyRow struct {
	tracker.FamilyStatus
	ID      string // the row's anchor
	AgeDays int    // how long ago, by the clock, its newest image was built
	Notes   string // NotesURL if it is http(s), for the link
	Flatcar *tracker.FlatcarLink
	Lag     []string
	Strip   strip
	// Security counts what the newest image fixes and lacks, where there is a source.
	Security *tracker.SecurityCounts
}

type cycleView struct {
	tracker.CycleReport
	Ago      string
	Duration string
}

func (s *server) page(w http.ResponseWriter, _ *http.Request) {
	d, err := s.pageData()
	if err != nil {
		writeText(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		writeText(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// pageData reads the store once for images and once for Flatcar releases, whatever the
// number of families.
func (s *server) pageData() (pageData, error) {
	now := s.Now()
	d := pageData{Version: s.Version, Now: now, NotReady: s.notReady(), CadenceDays: cadenceDays,
		QuietMinDays: tracker.QuietMinDays, QuietIntervals: tracker.QuietIntervals}
	images, err := s.Store.Images("")
	if err != nil {
		return d, err
	}
	releases, err := s.Store.FlatcarReleases("")
	if err != nil {
		return d, err
	}
	statuses := tracker.FamilyStatuses(images)
	d.Families, d.Images = len(statuses), len(images)
	for _, st := range statuses {
		d.Newest = maxTime(d.Newest, st.NewestDay)
	}

	// Only Flatcar images link to releases: the lag column and the timeline need no
	// view of the other families' images, whose changes would cost the most.
	var flatcarImages []tracker.NodeImage
	for _, im := range images {
		if im.IsFlatcar() {
			flatcarImages = append(flatcarImages, im)
		}
	}
	views := tracker.LinkImages(flatcarImages, releases)
	days := make(map[string]time.Time, len(flatcarImages))
	for _, im := range flatcarImages {
		days[im.Family+"\x00"+im.Version] = im.Day()
	}
	newestView := map[string]tracker.ImageView{}
	for _, v := range views { // ordered by family, then version: the last one stays
		newestView[v.Family] = v
	}
	newestOf := newestReleases(releases)

	for i, st := range statuses {
		row := familyRow{FamilyStatus: st, ID: fmt.Sprintf("family-%d", i+1),
			AgeDays: max(0, int(now.Sub(st.NewestDay).Hours()/24)), Notes: webURL(st.NotesURL),
			Strip: newStrip(st, d.Newest)}
		if v, ok := newestView[st.Family]; ok && v.Version == st.Newest {
			row.Flatcar, row.Lag, row.Security = v.Flatcar, lag(v.Flatcar, newestOf), v.Security
		}
		if n := len(d.Groups); n == 0 || d.Groups[n-1].Line != st.OSLine {
			d.Groups = append(d.Groups, familyGroup{Line: st.OSLine, ID: fmt.Sprintf("os-%d", n+1)})
		}
		g := &d.Groups[len(d.Groups)-1]
		g.Rows = append(g.Rows, row)
		if st.Quiet {
			g.Quiet++
			d.Quiet = append(d.Quiet, row)
		}
	}

	if c, ok, err := s.Store.LastCycle(); err != nil {
		return d, err
	} else if ok {
		d.Cycle = &cycleView{CycleReport: c, Ago: since(now.Sub(c.Finished)),
			Duration: (time.Duration(c.DurationMS) * time.Millisecond).Round(time.Millisecond).String()}
	}
	if d.Outbox, err = s.undelivered(); err != nil {
		return d, err
	}
	d.Timeline = newTimeline(views, days, releases)
	d.Clusters = s.clusters()
	for _, c := range d.Clusters {
		for _, p := range c.Pools {
			d.Pools++
			if p.Status == tracker.PoolBehind {
				d.Behind++
			}
		}
	}
	return d, nil
}

// clusters judges the pools now, grouped by cluster in the watch's order.
func (s *server) clusters() []clusterView {
	if s.Pools == nil {
		return nil
	}
	pools, statuses := s.Pools.Pools()
	out := make([]clusterView, 0, len(statuses))
	index := map[string]int{}
	for i, st := range statuses {
		index[st.Cluster] = i
		out = append(out, clusterView{ClusterStatus: st, ID: fmt.Sprintf("cluster-%d", i+1)})
	}
	for _, p := range pools {
		i, ok := index[p.Cluster]
		if !ok { // a cluster the statuses do not name: keep its pools all the same
			i = len(out)
			index[p.Cluster] = i
			out = append(out, clusterView{ClusterStatus: tracker.ClusterStatus{Cluster: p.Cluster, Synced: true}, ID: fmt.Sprintf("cluster-%d", i+1)})
		}
		out[i].Pools = append(out[i].Pools, newPoolRow(p))
	}
	return out
}

func newPoolRow(p tracker.NodePool) poolRow {
	r := poolRow{NodePool: p, Label: strings.ReplaceAll(string(p.Status), "_", " ")}
	switch p.Status {
	case tracker.PoolCurrent:
		r.Class = "ok"
	case tracker.PoolBehind:
		r.Class = "warn"
	case tracker.PoolAhead:
		r.Class = "info"
	default:
		r.Class = "unknown"
	}
	plural := func(n int, one string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case p.Status == tracker.PoolAhead:
		r.Distance = "ahead of the newest"
	case p.ImagesBehind == nil:
	case *p.ImagesBehind == 0 && p.Status == tracker.PoolCurrent:
		r.Distance = "the newest"
	default:
		at := ""
		if p.Status == tracker.PoolUnknownVersion {
			at = "at least "
		}
		r.Distance = at + plural(*p.ImagesBehind, "image")
		if p.DaysBehind != nil {
			r.Distance += " · " + plural(*p.DaysBehind, "day")
		}
		r.Distance += " behind"
	}
	if p.ImagesBehind != nil && *p.ImagesBehind > 0 {
		r.Misses = webURL(p.NewestNotesURL)
	}
	return r
}

// The cadence strip: a mark per recent image on the day it was built, over the
// cadenceDays to the newest image of all families, so that the strips of all families
// share one axis and a quiet family's strip ends early.
const (
	cadenceDays  = 120
	stripPadding = 3.0 // so that the marks at the ends are not cut
	stripHeight  = 16.0
)

type strip struct {
	Width, Height float64
	Marks         []stripMark
	Ticks         []float64 // every 30 days back from the end
}

type stripMark struct {
	X      float64
	Newest bool
	Title  string
}

func newStrip(st tracker.FamilyStatus, end time.Time) strip {
	sp := strip{Width: cadenceDays + 2*stripPadding, Height: stripHeight}
	for d := 30; d < cadenceDays; d += 30 {
		sp.Ticks = append(sp.Ticks, stripPadding+float64(cadenceDays-d))
	}
	for _, c := range st.Cadence {
		before := end.Sub(c.Day).Hours() / 24
		if before > cadenceDays {
			continue
		}
		sp.Marks = append(sp.Marks, stripMark{X: stripPadding + cadenceDays - max(before, 0),
			Newest: c.Version == st.Newest, Title: c.Version + ", built " + c.Day.Format(time.DateOnly)})
	}
	return sp
}

// days prints a number of days as a person writes it: 9, 8.5, 3.7.
func days(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// newestReleases maps each channel to its newest release.
func newestReleases(releases []tracker.FlatcarRelease) map[string]tracker.FlatcarRelease {
	out := map[string]tracker.FlatcarRelease{}
	for _, r := range releases {
		if cur, ok := out[r.Channel]; !ok || r.ReleasedAt.After(cur.ReleasedAt) {
			out[r.Channel] = r
		}
	}
	return out
}

// lag says how far a Flatcar image was behind its channel and stable when it was built,
// and where its channel is now.
func lag(f *tracker.FlatcarLink, newestOf map[string]tracker.FlatcarRelease) []string {
	if f == nil {
		return nil
	}
	if f.Channel == nil {
		return []string{"not in Flatcar's feeds yet"}
	}
	ch := *f.Channel
	var out []string
	switch {
	case f.ChannelLatest == nil || *f.ChannelLatest == f.Version:
		out = append(out, "newest "+ch+" when built")
	default:
		out = append(out, ch+" had "+*f.ChannelLatest+" when built")
	}
	if f.DaysAfterRelease != nil {
		out = append(out, fmt.Sprintf("built %d days after the release", *f.DaysAfterRelease))
	}
	if n, ok := newestOf[ch]; ok && n.Version != f.Version && (f.ChannelLatest == nil || n.Version != *f.ChannelLatest) {
		out = append(out, ch+" is at "+n.Version+" now")
	}
	if ch != "stable" && f.StableLatest != nil {
		out = append(out, "stable had "+*f.StableLatest+" when built")
	}
	return out
}

// The timeline's geometry, in SVG user units; the SVG scales to the page's width.
const (
	tlWidth     = 760.0
	tlLabels    = 170.0 // the column of row names
	tlRight     = 12.0
	tlTop       = 22.0 // the month labels
	tlRowHeight = 24.0
	tlSpan      = 183 * 24 * time.Hour
	tlPadding   = 4 * 24 * time.Hour // so that the newest mark is not cut at the edge
	tlLabelMax  = 26
)

// channelOrder is the way a Flatcar release travels; other channels follow by name.
var channelOrder = []string{"alpha", "beta", "stable", "lts"}

var channelColors = []string{"#c0392b", "#b9770e", "#1e8449", "#2471a3", "#7d3c98", "#566573"}

type timeline struct {
	End                                time.Time // the newest data, a few days padded
	Width, Height, PlotLeft, PlotRight float64
	Ticks                              []tick
	Rows                               []tlRow
	Links                              []tlLink
}

type tick struct {
	X     float64
	Label string
}

// tlRow is a family (Image: a filled mark per image) or a channel (a ring per release).
type tlRow struct {
	Label, Title string
	Y            float64
	Color        string
	Image        bool
	Marks        []tlMark
}

type tlMark struct {
	X     float64
	Title string
}

// tlLink joins an image to the release it carries: the line's slant is the lag.
type tlLink struct {
	X1, Y1, X2, Y2 float64
}

// newTimeline draws the last six months of data: a row per Flatcar family with a mark
// per image on its Day, a row per channel with a mark per release, and a line from each
// image to the release it carries. nil when there is nothing to draw.
func newTimeline(views []tracker.ImageView, days map[string]time.Time, releases []tracker.FlatcarRelease) *timeline {
	var families []string
	var end time.Time
	for _, v := range views {
		if v.Flatcar == nil {
			continue
		}
		if len(families) == 0 || families[len(families)-1] != v.Family {
			families = append(families, v.Family)
		}
		end = maxTime(end, days[v.Family+"\x00"+v.Version])
	}
	byChannel := map[string][]tracker.FlatcarRelease{}
	for _, r := range releases {
		byChannel[r.Channel] = append(byChannel[r.Channel], r)
		end = maxTime(end, r.ReleasedAt)
	}
	if end.IsZero() {
		return nil
	}
	channels := slices.SortedFunc(maps.Keys(byChannel), func(a, b string) int {
		ia, ib := slices.Index(channelOrder, a), slices.Index(channelOrder, b)
		if ia < 0 || ib < 0 {
			return cmp.Or(cmp.Compare(ib, ia), strings.Compare(a, b)) // known (index >= 0) first
		}
		return cmp.Compare(ia, ib)
	})

	end = end.Add(tlPadding)
	start := end.Add(-tlSpan)
	plotRight := tlWidth - tlRight
	x := func(t time.Time) float64 {
		return tlLabels + (plotRight-tlLabels)*float64(t.Sub(start))/float64(tlSpan)
	}
	in := func(t time.Time) bool { return !t.Before(start) && !t.After(end) }
	tl := &timeline{End: end, Width: tlWidth, PlotLeft: tlLabels, PlotRight: plotRight,
		Height: tlTop + tlRowHeight*float64(len(families)+len(channels)) + 4}
	addRow := func(label, color string, image bool) *tlRow {
		tl.Rows = append(tl.Rows, tlRow{Label: shorten(label, tlLabelMax), Title: label, Color: color, Image: image,
			Y: tlTop + tlRowHeight*(float64(len(tl.Rows))+0.5)})
		return &tl.Rows[len(tl.Rows)-1]
	}
	for m := time.Date(start.Year(), start.Month()+1, 1, 0, 0, 0, 0, time.UTC); !m.After(end); m = m.AddDate(0, 1, 0) {
		label := m.Format("Jan")
		if len(tl.Ticks) == 0 || m.Month() == time.January {
			label = m.Format("Jan 2006")
		}
		tl.Ticks = append(tl.Ticks, tick{X: x(m), Label: label})
	}

	tl.Rows = make([]tlRow, 0, len(families)+len(channels)) // addRow's pointers stay valid
	rowOf := map[string]*tlRow{}
	for _, f := range families {
		rowOf[f] = addRow(f, "#34495e", true)
	}
	type point struct{ x, y float64 }
	releaseAt := map[string]point{} // by channel and version
	for i, ch := range channels {
		row := addRow("Flatcar "+ch, channelColors[i%len(channelColors)], false)
		for _, r := range byChannel[ch] {
			if !in(r.ReleasedAt) {
				continue
			}
			row.Marks = append(row.Marks, tlMark{X: x(r.ReleasedAt),
				Title: fmt.Sprintf("Flatcar %s %s, released %s", ch, r.Version, r.ReleasedAt.UTC().Format(time.DateOnly))})
			releaseAt[ch+"\x00"+r.Version] = point{x(r.ReleasedAt), row.Y}
		}
	}
	for _, v := range views {
		day := days[v.Family+"\x00"+v.Version]
		if v.Flatcar == nil || !in(day) {
			continue
		}
		row := rowOf[v.Family]
		row.Marks = append(row.Marks, tlMark{X: x(day),
			Title: fmt.Sprintf("%s %s, built %s, Flatcar %s", v.Family, v.Version, day.UTC().Format(time.DateOnly), v.Flatcar.Version)})
		if v.Flatcar.Channel == nil {
			continue
		}
		if p, ok := releaseAt[*v.Flatcar.Channel+"\x00"+v.Flatcar.Version]; ok {
			tl.Links = append(tl.Links, tlLink{X1: x(day), Y1: row.Y, X2: p.x, Y2: p.y})
		}
	}
	return tl
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// shorten cuts s to n characters, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
