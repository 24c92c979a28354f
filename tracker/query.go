package tracker

import (
	"maps"
	"slices"
	"strings"
)

// MatchFamily reports whether a family such as AKSUbuntu/gen2/2404containerd matches a
// glob of routes[].families, in which `*` matches any run of characters, slashes
// included (AKSUbuntu/* takes every Ubuntu family), and every other character itself.
func MatchFamily(glob, family string) bool {
	g, f := 0, 0
	star, resume := -1, 0 // after a mismatch, retry with the last * taking one more character
	for f < len(family) {
		switch {
		case g < len(glob) && glob[g] == '*':
			star, resume = g, f
			g++
		case g < len(glob) && glob[g] == family[f]:
			g++
			f++
		case star >= 0:
			resume++
			g, f = star+1, resume
		default:
			return false
		}
	}
	for g < len(glob) && glob[g] == '*' {
		g++
	}
	return g == len(glob)
}

// ImageFilter answers the questions people bring: a family, or what a node reports in
// `kubectl get nodes -o wide` (KERNEL-VERSION, and the version in OS-IMAGE).
type ImageFilter struct {
	Family    string // glob; "" for all
	Kernel    string // exact kernel release, e.g. 6.12.35-flatcar
	OSVersion string // os-release VERSION or VERSION_ID, or a Flatcar version
}

// Match reports whether the view passes the filter.
func (f ImageFilter) Match(v ImageView) bool {
	if f.Family != "" && !MatchFamily(f.Family, v.Family) {
		return false
	}
	if f.Kernel != "" && (v.Kernel == nil || *v.Kernel != f.Kernel) {
		return false
	}
	if f.OSVersion != "" {
		ok := v.OS.VersionID == f.OSVersion || (v.OS.Version != nil && *v.OS.Version == f.OSVersion)
		// kubectl shows PRETTY_NAME as OS-IMAGE ("Ubuntu 24.04.4 LTS"): accept it too.
		ok = ok || (v.OS.PrettyName != "" && v.OS.PrettyName == f.OSVersion)
		if !ok {
			return false
		}
	}
	return true
}

// FilterImages keeps the views that pass f.
func FilterImages(views []ImageView, f ImageFilter) []ImageView {
	out := []ImageView{}
	for _, v := range views {
		if f.Match(v) {
			out = append(out, v)
		}
	}
	return out
}

// Found is everything of one version: `show` prints it.
type Found struct {
	// Name is the AKS node image name the query was, taken apart and resolved; nil for
	// a plain version or tag.
	Name    *NameMatch       `json:"name,omitempty"`
	Images  []ImageDetail    `json:"images"`
	Flatcar []FlatcarRelease `json:"flatcar"`
	AKS     []AKSRelease     `json:"aks"`
}

// Empty reports whether nothing was found.
func (f Found) Empty() bool { return len(f.Images)+len(f.Flatcar)+len(f.AKS) == 0 }

// Show finds every node image, Flatcar release or AKS release of a version. It takes a
// plain version (202605.27.0, 4694.0.0, an AKS tag), or a node image name as
// `az aks nodepool list` prints it and the node label carries it, in every real form
// (see ParseNodeImageName): then only the families of that OS and sku answer, and a
// name no family publishes now is said to be such, never matched to another family.
// AKS releases that name the image version are listed too: they are how it rolled out.
func Show(s Store, query string) (Found, error) {
	found := Found{Images: []ImageDetail{}, Flatcar: []FlatcarRelease{}, AKS: []AKSRelease{}}
	releases, err := s.FlatcarReleases("")
	if err != nil {
		return found, err
	}
	version := query
	var families []string
	if strings.HasPrefix(query, "AKS") {
		n, err := ParseNodeImageName(query)
		if err != nil {
			return found, err
		}
		skus, err := storedSKUs(s)
		if err != nil {
			return found, err
		}
		m := ResolveName(n, skus)
		found.Name, version, families = &m, n.Version, m.Families
	}
	// Only the families that have the version are read and linked: reading and linking
	// every family was most of what show took over a full history.
	images, err := imagesOfFamiliesWith(s, version, func(f string) bool { return found.Name == nil || slices.Contains(families, f) })
	if err != nil {
		return found, err
	}
	sorted := SortImages(images)
	src, err := newSecuritySources(s, releases)
	if err != nil {
		return found, err
	}
	var views []ImageView
	for _, v := range listSorted(sorted, releases, src.channels) {
		if v.Version == version && (found.Name == nil || slices.Contains(families, v.Family)) {
			views = append(views, v)
		}
	}
	if len(views) > 0 {
		found.Images = make([]ImageDetail, len(views))
		if err := onCores(len(views), func(i int) (err error) {
			found.Images[i], err = detail(s, views[i], sorted, src)
			return err
		}); err != nil {
			return found, err
		}
	}
	if found.Name == nil {
		for _, r := range releases {
			if r.Version == query {
				found.Flatcar = append(found.Flatcar, r)
			}
		}
	}
	aks, err := s.AKSReleases("")
	if err != nil {
		return found, err
	}
	for _, r := range aks {
		named := found.Name == nil && r.Tag == query
		for _, n := range r.NodeImages {
			named = named || n.Version == version && (found.Name == nil || len(families) > 0)
		}
		if named {
			found.AKS = append(found.AKS, r)
		}
	}
	return found, nil
}

// imagesOfFamiliesWith reads the images of the families asked that have an image of
// version.
func imagesOfFamiliesWith(s Store, version string, asked func(family string) bool) ([]NodeImage, error) {
	versions, err := s.ImageVersions()
	if err != nil {
		return nil, err
	}
	var families []string
	for _, family := range slices.Sorted(maps.Keys(versions)) {
		if asked(family) && slices.Contains(versions[family], version) {
			families = append(families, family)
		}
	}
	if 2*len(families) > len(versions) {
		// Most families: one read of them all beats one per family.
		all, err := s.Images("")
		return slices.DeleteFunc(all, func(im NodeImage) bool { return !slices.Contains(families, im.Family) }), err
	}
	byFamily := make([][]NodeImage, len(families))
	err = onCores(len(families), func(i int) (err error) {
		byFamily[i], err = s.Images(families[i])
		return err
	})
	return slices.Concat(byFamily...), err
}

// storedSKUs maps every family with stored images to its sku ("" while unknown), as
// FamilySKUs does from the images, from the keys and the families' stored skus.
func storedSKUs(s Store) (map[string]string, error) {
	versions, err := s.ImageVersions()
	if err != nil {
		return nil, err
	}
	skus := make(map[string]string, len(versions))
	for family := range versions {
		if skus[family], err = s.Meta(metaSKUPrefix + family); err != nil {
			return nil, err
		}
	}
	return skus, nil
}

// FamilySKUs maps every family of images to its sku ("" while unknown).
func FamilySKUs(images []NodeImage) map[string]string {
	skus := map[string]string{}
	for _, im := range images {
		if skus[im.Family] == "" {
			skus[im.Family] = im.SKU
		}
	}
	return skus
}
