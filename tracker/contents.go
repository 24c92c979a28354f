package tracker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNoDiff is what Diff's errors wrap when the range asked names no two images: the
// asker's mistake, not the store's.
var ErrNoDiff = errors.New("no such range of images")

// ContentChanges is what changed in what an image carries since an earlier image of its
// family, with why a part is null where it is.
type ContentChanges struct {
	Packages        *PackageChanges        `json:"packages"`
	ContainerImages *ContainerImageChanges `json:"container_images"`
	Updates         *UpdateChanges         `json:"updates"`
	// Unknown says, in a person's words, what nodewatch cannot tell of this image and why.
	Unknown []string `json:"unknown,omitempty"`
}

// CompareContents compares what two images carry: prev (of version since; nil for none)
// and cur. A part is null where either side does not list it.
func CompareContents(since *string, prev, cur *ImageContents) ContentChanges {
	var c ContentChanges
	switch {
	case cur == nil:
		c.Unknown = append(c.Unknown, "what this image carries was not read (stored before nodewatch read packages; the next cycle reads it)")
		return c
	case cur.Listing == PackagesStub:
		c.Unknown = append(c.Unknown, "its note lists no packages (listInstalledPackages stub)")
	}
	if prev == nil {
		if since == nil {
			c.Unknown = append(c.Unknown, "no earlier image of the family is stored to compare with")
		} else {
			c.Unknown = append(c.Unknown, fmt.Sprintf("what %s carries was not read", *since))
		}
		return c
	}
	if cur.Listing == PackagesListed && prev.Listing == PackagesListed {
		up, added, removed := DiffPackages(prev.Packages, cur.Packages)
		c.Packages = &PackageChanges{Previous: since, Upgraded: up, Added: added, Removed: removed}
	}
	if len(cur.Images) > 0 && len(prev.Images) > 0 {
		ci := DiffContainerImages(prev.Images, cur.Images)
		c.ContainerImages = &ci
	}
	if len(cur.Updates) > 0 && len(prev.Updates) > 0 {
		u := DiffUpdates(prev.Updates, cur.Updates)
		c.Updates = &u
	}
	return c
}

// imageSecurity is what an image fixes since another of its family (since; nil for
// none) and what it lacks, from the source there is for its OS: Flatcar's notes or
// Canonical's records; nil where there is none.
func imageSecurity(cur ImageView, since *NodeImage, sinceContents, curContents *ImageContents, src *securitySources) (*ImageSecurity, error) {
	var sinceVersion *string
	if since != nil {
		sinceVersion = &since.Version
	}
	if cur.Flatcar != nil {
		sec := flatcarSecurity(src.channels(), cur.Flatcar, previousFlatcar(since))
		if sec != nil {
			sec.Previous = sinceVersion
		}
		return sec, nil
	}
	if cur.OS.ID != "ubuntu" || src.fixes == nil {
		return nil, nil // no source yet (Canonical's data never read) is not "nothing fixed"
	}
	return UbuntuSecurity(cur.OS.VersionID, sinceVersion, sinceContents, curContents, src.fixes)
}

// securitySources are what judging images' security reads, built once per query: the
// Flatcar channels' tables, and Canonical's fixes (nil until they were first read).
type securitySources struct {
	// channels are built on first use: only Flatcar images need them, and an Ubuntu
	// image's show spent a tenth of its allocations building them.
	channels func() map[string]*channelAdvisories
	fixes    *FixIndex
}

func newSecuritySources(s Store, releases []FlatcarRelease) (*securitySources, error) {
	src := &securitySources{channels: flatcarChannelsOnce(releases)}
	read, err := s.Meta(metaUbuntuSecurityWanted)
	if err != nil {
		return nil, err
	}
	if read != "" {
		src.fixes = NewFixIndex(s.PackageFixes)
	}
	return src, nil
}

// withContents completes an image's detail with what it carries against since (the
// image before it, or the start of a diff) and what it fixes.
func withContents(s Store, d *ImageDetail, since *NodeImage, src *securitySources) error {
	cur, err := s.Contents(d.Family, d.Version)
	if err != nil {
		return err
	}
	var prev *ImageContents
	var sinceVersion *string
	if since != nil {
		sinceVersion = &since.Version
		if prev, err = s.Contents(since.Family, since.Version); err != nil {
			return err
		}
	}
	d.ContentChanges = CompareContents(sinceVersion, prev, cur)
	if d.Security, err = imageSecurity(d.ImageView, since, prev, cur, src); err != nil {
		return err
	}
	if d.Security == nil && d.OS.ID == "azurelinux" {
		d.Unknown = append(d.Unknown, NoAzureLinuxSource)
	}
	return nil
}

// ImageDiff is the cumulative change between two images of a family: `nodewatch diff`.
type ImageDiff struct {
	Family string `json:"family"`
	From   string `json:"from"`
	To     string `json:"to"`
	// Images are the versions after From up to To, oldest first.
	Images   []string       `json:"images"`
	Security *ImageSecurity `json:"security"`
	ContentChanges
}

// Diff is what changed between two images of a family: the packages, container images
// and updates of To against From, and every advisory fixed after From up to To.
func Diff(s Store, family, from, to string) (ImageDiff, error) {
	d := ImageDiff{Family: family, From: from, To: to, Images: []string{}}
	images, err := s.Images(family)
	if err != nil {
		return d, err
	}
	if len(images) == 0 {
		return d, fmt.Errorf("%w: no family %q is stored (see `nodewatch families`)", ErrNoDiff, family)
	}
	if from == to {
		return d, fmt.Errorf("%w: %s is both ends; name two images of %s", ErrNoDiff, from, family)
	}
	if CompareImageVersions(from, to) > 0 {
		return d, fmt.Errorf("%w: %s is newer than %s; give the older image first", ErrNoDiff, from, to)
	}
	sorted := SortImages(images)
	var fromImage *NodeImage
	for i := range sorted {
		switch v := sorted[i].Version; {
		case v == from:
			fromImage = &sorted[i]
		case CompareImageVersions(v, from) > 0 && CompareImageVersions(v, to) <= 0:
			d.Images = append(d.Images, v)
		}
	}
	for _, v := range []string{from, to} {
		if v == from && fromImage == nil || v == to && !slices.Contains(d.Images, to) {
			return d, fmt.Errorf("%w: %s has no image %s (see `nodewatch images --family %s`)", ErrNoDiff, family, v, family)
		}
	}
	releases, err := s.FlatcarReleases("")
	if err != nil {
		return d, err
	}
	src, err := newSecuritySources(s, releases)
	if err != nil {
		return d, err
	}
	var toView ImageView
	for _, v := range listSorted(sorted, releases, src.channels) {
		if v.Version == to {
			toView = v
		}
	}
	detail := ImageDetail{ImageView: toView}
	if err := withContents(s, &detail, fromImage, src); err != nil {
		return d, err
	}
	d.Security, d.ContentChanges = detail.Security, detail.ContentChanges
	return d, nil
}

// SplitImageRef splits a container image reference into its repository and its tag or
// digest.
func SplitImageRef(ref string) (repository, tag string) { return splitImageRef(ref) }

// TagChange reads as a person writes a change of versions: "+v1.36.3 -v1.32.19".
func TagChange(c ImageTagChange) string { return PlusMinus(c.From, c.To) }

// PlusMinus is what came and what went, "+1.36.3 -1.32.19": shorter to read than the
// two whole lists where most items stay.
func PlusMinus(went, came []string) string {
	parts := make([]string, 0, len(went)+len(came))
	for _, v := range came {
		parts = append(parts, "+"+v)
	}
	for _, v := range went {
		parts = append(parts, "-"+v)
	}
	return strings.Join(parts, " ")
}
