package tracker

import (
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
	images, err := s.Images("")
	if err != nil {
		return found, err
	}
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
		m := ResolveName(n, FamilySKUs(images))
		found.Name, version, families = &m, n.Version, m.Families
	}
	// Only the families that have the version are linked: show answers within 50 ms
	// over a full history, which linking every family took most of.
	sorted := SortImages(imagesOfFamiliesWith(images, version))
	var src *securitySources
	for _, v := range ListImages(sorted, releases) {
		if v.Version == version && (found.Name == nil || slices.Contains(families, v.Family)) {
			if src == nil {
				if src, err = newSecuritySources(s, releases); err != nil {
					return found, err
				}
			}
			d, err := detail(s, v, sorted, src)
			if err != nil {
				return found, err
			}
			found.Images = append(found.Images, d)
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

// imagesOfFamiliesWith keeps the images of the families that have an image of version.
func imagesOfFamiliesWith(images []NodeImage, version string) []NodeImage {
	has := map[string]bool{}
	for _, im := range images {
		if im.Version == version {
			has[im.Family] = true
		}
	}
	out := make([]NodeImage, 0, len(images))
	for _, im := range images {
		if has[im.Family] {
			out = append(out, im)
		}
	}
	return out
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
