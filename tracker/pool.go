package tracker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// A team's clusters: which node images its pools run, and how far each is behind the
// newest image of its family. The nodes come from a Kubernetes API server or from what
// `kubectl get nodes` and `az aks nodepool list` print (the adapters); here they are
// only what the answer needs.

// Node is one Kubernetes node, reduced to what a pool's answer needs: the informer's
// transform keeps these fields and drops the rest of the object.
type Node struct {
	Name string `json:"name"`
	// Pool is the kubernetes.azure.com/agentpool (or agentpool) label, "" without one.
	Pool string `json:"pool"`
	// NodeImageVersion is the kubernetes.azure.com/node-image-version label.
	NodeImageVersion string `json:"node_image_version"`
	OSImage          string `json:"os_image"` // status.nodeInfo.osImage
	Kernel           string `json:"kernel"`   // status.nodeInfo.kernelVersion
	Arch             string `json:"arch"`     // status.nodeInfo.architecture, or the kubernetes.io/arch label
}

// AgentPool is one pool as `az aks nodepool list` or `az aks show` prints it: a count
// and an image, but nothing of what the nodes run.
type AgentPool struct {
	Name             string `json:"name"`
	NodeImageVersion string `json:"node_image_version"`
	Count            int    `json:"count"`
	OSType           string `json:"os_type,omitempty"`
	OSSKU            string `json:"os_sku,omitempty"`
}

// PoolGroup is the nodes of one pool that run one image: a pool mid-upgrade is two.
type PoolGroup struct {
	Cluster          string
	Pool             string
	NodeImageVersion string
	Nodes            int
	Arch             string
	// Running is what the nodes say they run (the most common of them); nil for agent
	// pools, whose input says nothing of it.
	Running *RunningOS
	// Kernels counts the nodes by running kernel, where they differ.
	Kernels map[string]int
}

// RunningOS is what a node's status says it runs.
type RunningOS struct {
	OSImage string `json:"os_image"`
	Kernel  string `json:"kernel"`
}

// PoolState is where a pool's image stands against the history of its family.
type PoolState string

const (
	PoolCurrent        PoolState = "current"         // the newest image, or within `behind`
	PoolBehind         PoolState = "behind"          // `behind.images` images or `behind.days` days older than the newest
	PoolAhead          PoolState = "ahead"           // newer than any image nodewatch has seen
	PoolUnknownVersion PoolState = "unknown_version" // the family is known, the version is not in its history
	PoolUnwatched      PoolState = "unwatched"       // the family exists upstream, but `families` leaves it out
	PoolUnknownFamily  PoolState = "unknown_family"  // no family publishes that OS and sku now
	PoolNotAKS         PoolState = "not_aks"         // no AKS node image name
)

// BehindPolicy is when a pool counts as behind: Images images or Days days older than
// the newest image of its family (either). Zero turns a bound off.
type BehindPolicy struct {
	Images int
	Days   int
}

// DefaultBehind is the contract's default: 2 images or 14 days.
var DefaultBehind = BehindPolicy{Images: 2, Days: 14}

// Behind reports whether a pool that far behind counts as behind.
func (p BehindPolicy) Behind(images, days int) bool {
	return p.Images > 0 && images >= p.Images || p.Days > 0 && days >= p.Days
}

// NodePool is one pool and one image it runs: what `nodes --json` and /api/v1/pools print.
type NodePool struct {
	Cluster          string    `json:"cluster"`
	Pool             string    `json:"pool"`
	Nodes            int       `json:"nodes"`
	NodeImageVersion string    `json:"node_image_version"`
	Family           string    `json:"family"`
	Version          string    `json:"version"`
	Status           PoolState `json:"status"`
	Newest           *string   `json:"newest"`
	// NewestNodeImageVersion is the newest image's name as AKS prints it, for
	// `az aks nodepool upgrade --node-image-only` to be checked against.
	NewestNodeImageVersion string     `json:"newest_node_image_version,omitempty"`
	ImagesBehind           *int       `json:"images_behind"`
	DaysBehind             *int       `json:"days_behind"`
	Running                *RunningOS `json:"running"`
	// ImageKernel is the kernel the running image's notes name.
	ImageKernel  *string  `json:"image_kernel"`
	NewestKernel *string  `json:"newest_kernel"`
	Changes      []Change `json:"changes"`
	// Security is what the upgrade to the newest image fixes, where nodewatch has a
	// source for the OS (Flatcar: its release notes); nil elsewhere.
	Security *ImageSecurity `json:"security"`
	// NewestNotesURL is what the pool misses: the newest image's notes.
	NewestNotesURL string `json:"newest_notes_url,omitempty"`
	// Notes are what a person should know besides: a kernel that differs from the
	// image's, an architecture that had to be assumed, why no family matches.
	Notes []string `json:"notes,omitempty"`
	// Source says what the pool was read from: a cluster's API server or a file's shape.
	Source string `json:"source,omitempty"`
}

// Key names the pool as the pool_behind event does: `<cluster>/<pool>`.
func (p NodePool) Key() string { return PoolKey(p.Cluster, p.Pool) }

// Name is how a person reads the pool: `<cluster>/<pool>`, or the pool alone where the
// input names no cluster.
func (p NodePool) Name() string {
	if p.Cluster == "" {
		return p.Pool
	}
	return p.Key()
}

// PoolKey is `<cluster>/<pool>`.
func PoolKey(cluster, pool string) string { return cluster + "/" + pool }

// GroupNodes groups a cluster's nodes by pool and image. Nodes without a pool label are
// grouped under their own name: each is its own "pool" of one, named as it is.
func GroupNodes(cluster string, nodes []Node) []PoolGroup {
	type key struct{ pool, image string }
	groups := map[key]*PoolGroup{}
	osImages := map[key]map[RunningOS]int{}
	for _, n := range nodes {
		k := key{n.Pool, n.NodeImageVersion}
		if k.pool == "" {
			k.pool = n.Name
		}
		g := groups[k]
		if g == nil {
			g = &PoolGroup{Cluster: cluster, Pool: k.pool, NodeImageVersion: n.NodeImageVersion, Arch: n.Arch}
			groups[k] = g
			osImages[k] = map[RunningOS]int{}
		}
		g.Nodes++
		osImages[k][RunningOS{OSImage: n.OSImage, Kernel: n.Kernel}]++
	}
	out := make([]PoolGroup, 0, len(groups))
	for k, g := range groups {
		var best RunningOS
		for r, c := range osImages[k] {
			bc := osImages[k][best]
			if c > bc || c == bc && (r.Kernel < best.Kernel || r.Kernel == best.Kernel && r.OSImage < best.OSImage) {
				best = r
			}
		}
		if best != (RunningOS{}) {
			g.Running = &best
		}
		if len(osImages[k]) > 1 {
			g.Kernels = map[string]int{}
			for r, c := range osImages[k] {
				g.Kernels[r.Kernel] += c
			}
		}
		out = append(out, *g)
	}
	sortGroups(out)
	return out
}

// GroupAgentPools makes one group of each agent pool.
func GroupAgentPools(cluster string, pools []AgentPool) []PoolGroup {
	out := make([]PoolGroup, 0, len(pools))
	for _, p := range pools {
		out = append(out, PoolGroup{Cluster: cluster, Pool: p.Name, NodeImageVersion: p.NodeImageVersion, Nodes: p.Count})
	}
	sortGroups(out)
	return out
}

func sortGroups(gs []PoolGroup) {
	slices.SortFunc(gs, func(a, b PoolGroup) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Pool, b.Pool),
			CompareImageVersions(nameVersion(a.NodeImageVersion), nameVersion(b.NodeImageVersion)),
			strings.Compare(a.NodeImageVersion, b.NodeImageVersion))
	})
}

func nameVersion(s string) string {
	n, err := ParseNodeImageName(s)
	if err != nil {
		return ""
	}
	return n.Version
}

// Fleet is what nodewatch knows to judge pools by: the history of every family it read,
// the skus of every family upstream (watched or not), and which families it watches.
type Fleet struct {
	byFamily map[string][]NodeImage // sorted by version
	skus     map[string]string
	watched  func(family string) bool
	policy   BehindPolicy
	// advisories are the Flatcar channels' security fixes, for what a Flatcar pool's
	// upgrade brings.
	advisories map[string]*channelAdvisories
	releases   map[string]FlatcarRelease // by version
	// upgradeUbuntu, when set, is what an Ubuntu pool's upgrade fixes (the store's).
	upgradeUbuntu func(running, newest NodeImage) *ImageSecurity
}

// NewFleet indexes images (any order). skus maps every family known upstream to its sku
// (also the families not watched, whose images nodewatch does not read); watched says
// which families `families` takes.
func NewFleet(images []NodeImage, skus map[string]string, watched func(string) bool, policy BehindPolicy, releases ...FlatcarRelease) *Fleet {
	f := &Fleet{byFamily: map[string][]NodeImage{}, skus: map[string]string{}, watched: watched, policy: policy,
		releases: map[string]FlatcarRelease{}}
	for _, r := range releases {
		f.releases[r.Version] = r
	}
	f.advisories = flatcarChannels(releases)
	for _, im := range SortImages(images) {
		f.byFamily[im.Family] = append(f.byFamily[im.Family], im)
	}
	for family, sku := range skus {
		f.skus[family] = sku
	}
	for family, sku := range FamilySKUs(images) {
		if f.skus[family] == "" {
			f.skus[family] = sku
		}
	}
	return f
}

// Judge answers for each group: its family, status, newest image and what the upgrade
// brings. The result is ordered by cluster, pool and version.
func (f *Fleet) Judge(groups []PoolGroup) []NodePool {
	out := make([]NodePool, 0, len(groups))
	for _, g := range groups {
		out = append(out, f.judge(g))
	}
	return out
}

func (f *Fleet) judge(g PoolGroup) NodePool {
	p := NodePool{Cluster: g.Cluster, Pool: g.Pool, Nodes: g.Nodes, NodeImageVersion: g.NodeImageVersion,
		Running: g.Running, Changes: []Change{}}
	name, err := ParseNodeImageName(g.NodeImageVersion)
	if err != nil {
		p.Status = PoolNotAKS
		if g.NodeImageVersion == "" {
			// Nodes without the label, or az printing nodeImageVersion null (Azure/AKS#3342).
			p.Notes = append(p.Notes, "no node image version: no kubernetes.azure.com/node-image-version label, or nodeImageVersion null")
		}
		return p
	}
	p.Version = name.Version
	if name.SecurityPatch != "" {
		p.Notes = append(p.Notes, "security patches of "+name.SecurityPatch+" applied on top of the image")
	}
	family, note := f.family(name, g.Arch)
	if note != "" {
		p.Notes = append(p.Notes, note)
	}
	if family == "" {
		p.Status = PoolUnknownFamily
		return p
	}
	p.Family = family
	history := f.byFamily[family]
	watched := f.watched == nil || f.watched(family)
	if !watched && len(history) == 0 {
		p.Status = PoolUnwatched
		p.Notes = append(p.Notes, fmt.Sprintf("%s exists upstream, but sources.vhd_notes.families leaves it out", family))
		return p
	}
	if !watched {
		// Read before (for a pool, or by an earlier `families`): judged by what is stored.
		p.Notes = append(p.Notes, fmt.Sprintf("%s is not watched now: its history ends at %s", family, history[len(history)-1].Version))
	}
	if len(history) == 0 {
		p.Status = PoolUnknownVersion
		p.Notes = append(p.Notes, fmt.Sprintf("no image of %s is stored yet", family))
		return p
	}
	f.place(&p, history, g)
	return p
}

// family resolves a name to one family. Azure Container Linux names carry no sku: the
// node's architecture decides between its families.
func (f *Fleet) family(name NodeImageName, arch string) (string, string) {
	m := ResolveName(name, f.skus)
	switch len(m.Families) {
	case 0:
		return "", m.NoFamily
	case 1:
		return m.Families[0], ""
	}
	wantArm := arch == "arm64"
	var pick []string
	for _, fam := range m.Families {
		if strings.Contains(strings.ToLower(fam), "arm64") == wantArm {
			pick = append(pick, fam)
		}
	}
	if len(pick) == 0 {
		pick = m.Families
	}
	note := ""
	if arch == "" {
		note = fmt.Sprintf("%s names no architecture and the input gives none: took %s of %s", name.Raw, pick[0], strings.Join(m.Families, ", "))
	}
	return pick[0], note
}

// place finds the group's version in its family's history (sorted by version) and says
// how far behind the newest it is, and what the upgrade changes.
func (f *Fleet) place(p *NodePool, history []NodeImage, g PoolGroup) {
	newest := history[len(history)-1]
	p.Newest = ptr(newest.Version)
	p.NewestNodeImageVersion = NodeImageVersion(newest.Family, newest.SKU, newest.Version)
	p.NewestNotesURL = newest.NotesURL
	if newest.Kernel != "" {
		p.NewestKernel = ptr(newest.Kernel)
	}
	i := slices.IndexFunc(history, func(im NodeImage) bool { return im.Version == p.Version })
	newer := len(history) - 1 - i
	if i < 0 {
		newer = 0
		for _, im := range history {
			if CompareImageVersions(im.Version, p.Version) > 0 {
				newer++
			}
		}
	}
	days := daysBetween(p.Version, newest.Version)
	switch {
	case newer == 0 && i < 0:
		p.Status = PoolAhead
		p.ImagesBehind, p.DaysBehind = ptr(0), ptr(0)
		p.Notes = append(p.Notes, fmt.Sprintf("newer than %s, the newest image nodewatch has seen of %s", newest.Version, newest.Family))
		return
	case i < 0:
		p.Status = PoolUnknownVersion
		p.Notes = append(p.Notes, fmt.Sprintf("%s is not in the history of %s (at least %d newer images are)", p.Version, newest.Family, newer))
	case f.policy.Behind(newer, days):
		p.Status = PoolBehind
	default:
		p.Status = PoolCurrent
	}
	p.ImagesBehind, p.DaysBehind = ptr(newer), ptr(days)
	if i < 0 {
		return
	}
	running := history[i]
	if running.Kernel != "" {
		p.ImageKernel = ptr(running.Kernel)
	}
	if newer > 0 {
		p.Changes = Changes(running, newest)
		p.Security = f.upgradeSecurity(running, newest)
	}
	if note := kernelNote(running, g); note != "" {
		p.Notes = append(p.Notes, note)
	}
}

// upgradeSecurity is what upgrading a pool to the newest image fixes: for Ubuntu by
// Canonical's records; for Flatcar what Flatcar announced between the release the pool
// runs and the newest image's, both of one channel; nil when nodewatch cannot tell.
func (f *Fleet) upgradeSecurity(running, newest NodeImage) *ImageSecurity {
	if running.IsUbuntu() && f.upgradeUbuntu != nil {
		return f.upgradeUbuntu(running, newest)
	}
	if !running.IsFlatcar() || !newest.IsFlatcar() || running.OS.Version == nil || newest.OS.Version == nil {
		return nil
	}
	from, ok1 := f.releases[*running.OS.Version]
	to, ok2 := f.releases[*newest.OS.Version]
	if !ok1 || !ok2 || from.Channel != to.Channel {
		return nil
	}
	c := f.advisories[to.Channel]
	return &ImageSecurity{Source: SecuritySourceFlatcar, Previous: ptr(running.Version), Fixed: c.fixed(&from.Version, to.Version), Missing: c.missing(to.Version)}
}

// kernelNote says when nodes run a kernel their image's notes do not name: live-patched,
// or not the image they claim.
func kernelNote(im NodeImage, g PoolGroup) string {
	if im.Kernel == "" || g.Running == nil || g.Running.Kernel == "" {
		return ""
	}
	if len(g.Kernels) > 1 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(g.Kernels)) {
			parts = append(parts, fmt.Sprintf("%d on %s", g.Kernels[k], orDash(k)))
		}
		return fmt.Sprintf("nodes run different kernels (%s); the image's notes say %s", strings.Join(parts, ", "), im.Kernel)
	}
	if g.Running.Kernel != im.Kernel {
		return fmt.Sprintf("nodes run kernel %s, but the notes of %s say %s: live-patched, or not the image they claim", g.Running.Kernel, im.Version, im.Kernel)
	}
	return ""
}

// daysBetween is how many days the day version a names lies before b's.
func daysBetween(a, b string) int {
	va, errA := ParseImageVersion(a)
	vb, errB := ParseImageVersion(b)
	if errA != nil || errB != nil {
		return 0
	}
	return max(0, int(vb.Date.Sub(va.Date).Hours()/24))
}

// PoolImage is when a pool was first seen running an image: a pool's upgrade history.
type PoolImage struct {
	Cluster          string    `json:"cluster"`
	Pool             string    `json:"pool"`
	NodeImageVersion string    `json:"node_image_version"`
	FirstSeen        time.Time `json:"first_seen"`
}

// MaxBehind returns the pools more than images images or days days behind (a negative
// bound is off): what `nodes --max-behind/--max-days` gates on.
func MaxBehind(pools []NodePool, images, days int) []NodePool {
	var out []NodePool
	for _, p := range pools {
		if p.ImagesBehind == nil || p.DaysBehind == nil {
			continue
		}
		if images >= 0 && *p.ImagesBehind > images || days >= 0 && *p.DaysBehind > days {
			out = append(out, p)
		}
	}
	return out
}

// PoolHistory keeps the history of one pool: `cluster/pool` exactly, or a bare pool
// name in any cluster.
func PoolHistory(all []PoolImage, pool string) []PoolImage {
	out := []PoolImage{}
	for _, h := range all {
		if PoolKey(h.Cluster, h.Pool) == pool || !strings.Contains(pool, "/") && h.Pool == pool {
			out = append(out, h)
		}
	}
	return out
}
