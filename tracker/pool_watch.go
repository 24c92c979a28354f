package tracker

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// ClusterNodes is what a watch of one cluster knows: its nodes (kept while its API
// server is away) and whether it can be read now.
type ClusterNodes struct {
	Cluster string
	Nodes   []Node
	Synced  bool   // the first list came back
	Err     string // why the cluster cannot be read now, "" when it can
}

// ClusterSource is the team's clusters, watched by an adapter (client-go).
type ClusterSource interface {
	// States is what each cluster's watch holds now.
	States() []ClusterNodes
	// Probe asks each cluster whether it can be read now: one report per cluster.
	Probe(ctx context.Context) []SourceReport
}

// ClusterStatus is one cluster at a glance.
type ClusterStatus struct {
	Cluster string `json:"cluster"`
	Nodes   int    `json:"nodes"`
	Synced  bool   `json:"synced"`
	Error   string `json:"error,omitempty"`
}

// PoolWatch judges the pools of the watched clusters against the history: each answer
// is computed from what the watch holds now, against the fleet as of the last cycle.
type PoolWatch struct {
	Clusters ClusterSource
	Policy   BehindPolicy
	// Load, when set, loads the fleet for Judge while none was refreshed: a daemon that
	// watches no cluster keeps no history in memory for the rare file posted to it.
	Load func() (*Fleet, error)

	mu       sync.Mutex
	fleet    *Fleet
	families []string
	observe  sync.Mutex // one ObservePools at a time: it reads, then writes, the open pool_behind
}

// Refresh reloads the fleet from the store: after a cycle stored new images.
func (w *PoolWatch) Refresh(t *Tracker) error {
	f, err := t.LoadFleet(w.Policy)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.fleet = f
	w.mu.Unlock()
	return nil
}

func (w *PoolWatch) currentFleet() *Fleet {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fleet == nil {
		return NewFleet(nil, nil, nil, w.Policy)
	}
	return w.fleet
}

// Judge judges groups read elsewhere (a file `nodes -f` read) against the fleet.
func (w *PoolWatch) Judge(groups []PoolGroup) ([]NodePool, error) {
	w.mu.Lock()
	f, load := w.fleet, w.Load
	w.mu.Unlock()
	if f == nil && load != nil {
		var err error
		if f, err = load(); err != nil {
			return nil, err
		}
	}
	if f == nil {
		f = NewFleet(nil, nil, nil, w.Policy)
	}
	return f.Judge(groups), nil
}

// Refreshed reports whether a fleet was loaded: until then every pool is of an unknown
// family or version.
func (w *PoolWatch) Refreshed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fleet != nil
}

// Pools is every pool of every cluster, judged now, and each cluster's state; none when
// no clusters are watched.
func (w *PoolWatch) Pools() ([]NodePool, []ClusterStatus) {
	f := w.currentFleet()
	var pools []NodePool
	var statuses []ClusterStatus
	families := map[string]bool{}
	var states []ClusterNodes
	if w.Clusters != nil {
		states = w.Clusters.States()
	}
	for _, c := range states {
		statuses = append(statuses, ClusterStatus{Cluster: c.Cluster, Nodes: len(c.Nodes), Synced: c.Synced, Error: c.Err})
		for _, p := range f.Judge(GroupNodes(c.Cluster, c.Nodes)) {
			p.Source = "kubernetes"
			pools = append(pools, p)
			if p.Family != "" {
				families[p.Family] = true
			}
		}
	}
	if pools == nil {
		pools = []NodePool{}
	}
	w.mu.Lock()
	w.families = slices.Sorted(maps.Keys(families))
	w.mu.Unlock()
	return pools, statuses
}

// Families are the families the pools ran when last judged: the tracker watches them.
func (w *PoolWatch) Families() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.families
}

// Observe judges the pools now and records their history and events (ObservePools).
// Pools of a cluster whose first list has not come back are not judged: a pool missing
// from a half-read cluster is not news.
func (w *PoolWatch) Observe(ctx context.Context, t *Tracker) ([]Event, error) {
	w.observe.Lock()
	defer w.observe.Unlock()
	pools, statuses := w.Pools()
	synced := map[string]bool{}
	for _, s := range statuses {
		synced[s.Cluster] = s.Synced
	}
	pools = slices.DeleteFunc(pools, func(p NodePool) bool { return !synced[p.Cluster] })
	return t.ObservePools(ctx, pools)
}
