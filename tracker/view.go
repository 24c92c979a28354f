package tracker

import (
	"slices"
	"strings"
	"time"
)

// ImageView is a node image linked to what a person asks next: the Flatcar release it
// carries and what changed against the previous image of its family. It is derived on
// read from the stored history, so an image whose Flatcar release appears days later in
// the feeds is linked as soon as the release is stored.
type ImageView struct {
	Family string `json:"family"`
	// NodeImageVersion is the name `az aks nodepool list` prints (AKSFlatcar-flatcargen2-202508.06.0,
	// AKSAzureLinux-V3gen2-202609.15.0), known once the family's sku is (see NodeImageVersion).
	NodeImageVersion string       `json:"node_image_version,omitempty"`
	Version          string       `json:"version"`
	OS               OS           `json:"os"`
	Kernel           *string      `json:"kernel"`
	Flatcar          *FlatcarLink `json:"flatcar"`
	BuildTime        *time.Time   `json:"build_time"`
	FirstSeen        time.Time    `json:"first_seen"`
	NotesURL         string       `json:"notes_url"`
	Previous         *string      `json:"previous"`
	Changes          []Change     `json:"changes"`
	// FamilyQuiet is set on the images of a family that fell quiet (see FamilyStatus).
	FamilyQuiet *QuietMark `json:"family_quiet,omitempty"`
	// Security counts what the image fixes against the previous one and what it lacks
	// (see ImageSecurity); nil where nodewatch has no source for its OS.
	Security *SecurityCounts `json:"security"`
}

// QuietMark says that an image's family fell quiet: its last image, and how long ago.
type QuietMark struct {
	Newest    string    `json:"newest"`
	NewestDay time.Time `json:"newest_day"`
	DaysQuiet int       `json:"days_quiet"`
}

// ListImages links every image and marks the images of quiet families: what `images`
// and /api/v1/images print.
func ListImages(images []NodeImage, releases []FlatcarRelease) []ImageView {
	// Sorted once for linking and for the families' status: a query over the whole
	// history sorted it three times.
	return listSorted(SortImages(images), releases, flatcarChannelsOnce(releases))
}

// listSorted is ListImages of images already ordered by SortImages, with the Flatcar
// channels' tables of the query (show and diff build them once for linking and for
// judging).
func listSorted(sorted []NodeImage, releases []FlatcarRelease, channels func() map[string]*channelAdvisories) []ImageView {
	views := linkSorted(sorted, releases, channels)
	quiet := map[string]*QuietMark{}
	for _, f := range QuietFamilies(familyStatusesOf(sorted)) {
		quiet[f.Family] = &QuietMark{Newest: f.Newest, NewestDay: f.NewestDay, DaysQuiet: f.BehindDays}
	}
	for i := range views {
		views[i].FamilyQuiet = quiet[views[i].Family]
	}
	return views
}

// FlatcarLink is the Flatcar release a Flatcar image carries. Channel, ReleasedAt and
// Kernel are null while Flatcar's feeds do not list the version yet (the site lags).
type FlatcarLink struct {
	Version    string     `json:"version"`
	Channel    *string    `json:"channel"`
	ReleasedAt *time.Time `json:"released_at"`
	Kernel     *string    `json:"kernel"`
	// DaysAfterRelease is how long after the Flatcar release the image was built.
	DaysAfterRelease *int `json:"days_after_release,omitempty"`
	// ChannelLatest and StableLatest are the newest releases of the image's channel and
	// of stable on the day the image was built: how far behind the image was.
	ChannelLatest *string `json:"channel_latest,omitempty"`
	StableLatest  *string `json:"stable_latest,omitempty"`
}

// Change is one difference against the previous image of the family. A component the
// notes of either image do not list is unknown there, not removed, and is not a change.
type Change struct {
	What string `json:"what"` // "os.version", "kernel", "flatcar", or a component name
	From string `json:"from"`
	To   string `json:"to"`
}

// Text is the change as a person reads it: "kernel 6.8.0-1064-azure -> 6.8.0-1065-azure",
// and for a component listing several versions what came and what went,
// "kubelet +1.36.3 -1.32.19", where the two whole lists would repeat most of themselves.
func (c Change) Text() string {
	if strings.Contains(c.From, ", ") || strings.Contains(c.To, ", ") || c.From == "" || c.To == "" {
		return c.What + " " + PlusMinus(splitVersions(c.From), splitVersions(c.To))
	}
	return c.What + " " + c.From + " -> " + c.To
}

func splitVersions(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ", ")
}

// Day is the day an image was built: its build time, or else the day its version names.
func (i NodeImage) Day() time.Time {
	if !i.BuildTime.IsZero() {
		return i.BuildTime
	}
	if v, err := ParseImageVersion(i.Version); err == nil {
		return v.Date
	}
	return i.FirstSeen
}

// LinkImages builds the views of images (any order) against the Flatcar history.
// The result is ordered by family, then version.
func LinkImages(images []NodeImage, releases []FlatcarRelease) []ImageView {
	return linkSorted(SortImages(images), releases, flatcarChannelsOnce(releases))
}

// linkSorted is LinkImages of images already ordered by SortImages; channels are the
// Flatcar channels' tables, asked for at the first Flatcar image.
func linkSorted(sorted []NodeImage, releases []FlatcarRelease, channels func() map[string]*channelAdvisories) []ImageView {
	byVersion := make(map[string]FlatcarRelease, len(releases))
	byChannel := map[string][]FlatcarRelease{}
	for _, r := range releases {
		byVersion[r.Version] = r
		byChannel[r.Channel] = append(byChannel[r.Channel], r)
	}
	for _, rs := range byChannel {
		slices.SortFunc(rs, func(a, b FlatcarRelease) int { return a.ReleasedAt.Compare(b.ReleasedAt) })
	}
	views := make([]ImageView, len(sorted))
	for i, im := range sorted {
		v := ImageView{
			Family: im.Family, Version: im.Version, OS: im.OS, FirstSeen: im.FirstSeen,
			NotesURL: im.NotesURL, Changes: []Change{},
		}
		v.NodeImageVersion = NodeImageVersion(im.Family, im.SKU, im.Version)
		if im.Kernel != "" {
			v.Kernel = ptr(im.Kernel)
		}
		if !im.BuildTime.IsZero() {
			v.BuildTime = ptr(im.BuildTime)
		}
		if im.IsFlatcar() && im.OS.Version != nil {
			v.Flatcar = linkFlatcar(*im.OS.Version, im.Day(), byVersion, byChannel)
		}
		var prev *NodeImage
		if i > 0 && sorted[i-1].Family == im.Family {
			prev = &sorted[i-1]
			v.Previous = ptr(prev.Version)
			v.Changes = Changes(*prev, im)
		}
		if v.Flatcar != nil {
			v.Security = flatcarCounts(channels(), v.Flatcar, previousFlatcar(prev))
		} else if im.SecurityCounts != nil {
			v.Security = im.SecurityCounts
		}
		views[i] = v
	}
	return views
}

// SortImages returns images ordered by family, then version, each version parsed once.
func SortImages(images []NodeImage) []NodeImage {
	// The keys are sorted and each image copied once: sorting the images themselves
	// moved each large struct many times.
	type keyed struct {
		v  ImageVersion
		ok bool
		im *NodeImage
	}
	ks := make([]keyed, len(images))
	for i := range images {
		v, err := ParseImageVersion(images[i].Version)
		ks[i] = keyed{v, err == nil, &images[i]}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.im.Family, b.im.Family); c != 0 {
			return c
		}
		switch {
		case a.ok && b.ok:
			return a.v.Compare(b.v)
		case !a.ok && !b.ok:
			return strings.Compare(a.im.Version, b.im.Version)
		case !a.ok:
			return -1
		}
		return 1
	})
	out := make([]NodeImage, len(ks))
	for i, k := range ks {
		out[i] = *k.im
	}
	return out
}

func linkFlatcar(version string, day time.Time, byVersion map[string]FlatcarRelease, byChannel map[string][]FlatcarRelease) *FlatcarLink {
	l := &FlatcarLink{Version: version}
	r, ok := byVersion[version]
	if !ok {
		return l
	}
	l.Channel, l.ReleasedAt = ptr(r.Channel), ptr(r.ReleasedAt)
	if r.Kernel != "" {
		l.Kernel = ptr(r.Kernel)
	}
	if days := int(day.Sub(r.ReleasedAt).Hours() / 24); day.After(r.ReleasedAt) {
		l.DaysAfterRelease = ptr(days)
	} else {
		l.DaysAfterRelease = ptr(0)
	}
	l.ChannelLatest = latestOn(byChannel[r.Channel], day)
	l.StableLatest = latestOn(byChannel["stable"], day)
	return l
}

// latestOn returns the newest release out by day, from releases ordered by date.
func latestOn(releases []FlatcarRelease, day time.Time) *string {
	i, _ := slices.BinarySearchFunc(releases, day, func(r FlatcarRelease, d time.Time) int {
		if r.ReleasedAt.After(d) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return nil
	}
	return ptr(releases[i-1].Version)
}

// Changes lists what differs from prev to cur: the OS version, the kernel, and every
// component both notes list with different versions.
func Changes(prev, cur NodeImage) []Change {
	out := []Change{}
	if prev.OS.Version != nil && cur.OS.Version != nil && *prev.OS.Version != *cur.OS.Version {
		out = append(out, Change{What: "os.version", From: *prev.OS.Version, To: *cur.OS.Version})
	}
	if prev.Kernel != "" && cur.Kernel != "" && prev.Kernel != cur.Kernel {
		out = append(out, Change{What: "kernel", From: prev.Kernel, To: cur.Kernel})
	}
	var names []string
	for name, now := range cur.Components {
		// Most components are the same from one image to the next: compare first.
		if was, ok := prev.Components[name]; ok && !slices.Equal(was, now) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		was, now := prev.Components[name], cur.Components[name]
		// Components such as kubelet list several versions: say which went and which came.
		removed, added := setDiff(was, now), setDiff(now, was)
		if len(removed) > 0 || len(added) > 0 {
			out = append(out, Change{What: name, From: strings.Join(removed, ", "), To: strings.Join(added, ", ")})
		}
	}
	return out
}

// setDiff returns the elements of a not in b, in a's order.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
