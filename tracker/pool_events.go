package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Pool events. pool_behind is the contract's; pool_current is its resolution, sent to
// the same routes, so that the GitHub issue of a pool that caught up is closed (with
// close_previous) and a Slack channel hears that it did.
const (
	EventPoolBehind  EventKind = "pool_behind"
	EventPoolCurrent EventKind = "pool_current"
)

func isPoolEvent(k EventKind) bool { return k == EventPoolBehind || k == EventPoolCurrent }

// Meta keys of the pools.
const (
	metaPoolOpen  = "pool_behind_open:" // + cluster/pool: the key of its pool_behind not yet resolved
	metaPoolEvent = "pool_event:"       // + event key: the pool as it stood (JSON), for the message
)

// LoadFleet is the Fleet of what the store holds, judged by policy.
func (t *Tracker) LoadFleet(policy BehindPolicy) (*Fleet, error) {
	images, err := t.Store.Images("")
	if err != nil {
		return nil, err
	}
	skus, err := UpstreamSKUs(t.Store)
	if err != nil {
		return nil, err
	}
	releases, err := t.Store.FlatcarReleases("")
	if err != nil {
		return nil, err
	}
	f := NewFleet(images, skus, t.watches, policy, releases...)
	// One index for every pool this fleet judges: the fleet is loaded again whenever a
	// cycle stores something, fixes included.
	src, err := newSecuritySources(t.Store, releases)
	if err != nil {
		return nil, err
	}
	if src.fixes != nil {
		f.upgradeUbuntu = func(running, newest NodeImage) *ImageSecurity { return t.ubuntuUpgrade(running, newest, src.fixes) }
	}
	return f, nil
}

// ubuntuUpgrade is what upgrading from running to newest fixes by Canonical's records;
// nil where the notes list no packages.
func (t *Tracker) ubuntuUpgrade(running, newest NodeImage, index *FixIndex) *ImageSecurity {
	from, err := t.Store.Contents(running.Family, running.Version)
	if err != nil {
		return nil
	}
	to, err := t.Store.Contents(newest.Family, newest.Version)
	if err != nil {
		return nil
	}
	sec, err := UbuntuSecurity(newest.OS.VersionID, &running.Version, from, to, index)
	if err != nil {
		t.logger().Warn("judging what an upgrade fixes", "pool_image", running.Version, "error", err)
		return nil
	}
	return sec
}

// ObservePools records what the pools run now: when each pool first ran each image (its
// upgrade history), a pool_behind event for each pool behind the newest image of its
// family (once per pool and newest image: the store keeps the key), and pool_current
// once a pool that was behind runs the newest. Everything goes in one transaction with
// its outbox deliveries, so a crash or restart neither loses nor repeats one.
func (t *Tracker) ObservePools(ctx context.Context, pools []NodePool) ([]Event, error) {
	now := t.now()
	var b Batch
	byPool := map[string][]NodePool{}
	var order []string
	for _, p := range pools {
		if p.Status == PoolNotAKS && p.NodeImageVersion == "" {
			continue
		}
		k := p.Key()
		if _, ok := byPool[k]; !ok {
			order = append(order, k)
		}
		byPool[k] = append(byPool[k], p)
		if p.NodeImageVersion != "" {
			b.PoolImages = append(b.PoolImages, PoolImage{Cluster: p.Cluster, Pool: p.Pool, NodeImageVersion: p.NodeImageVersion, FirstSeen: now})
		}
	}
	facts := map[string]RouteFacts{}
	for _, k := range order {
		e, snapshot, err := t.poolEvent(k, byPool[k], &b)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		data, err := json.Marshal(snapshot)
		if err != nil {
			return nil, err
		}
		b.setMeta(metaPoolEvent+e.Key, string(data))
		b.Events = append(b.Events, *e)
		facts[e.Key] = RouteFacts{Family: snapshot.Family}
	}
	if t.Router != nil && len(b.Events) > 0 {
		b.Deliveries = t.Router.Deliveries(b.Events, facts, "pools:"+now.Format(time.RFC3339Nano), now)
	}
	events, err := t.Store.Apply(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("storing the pools: %w", err)
	}
	return events, nil
}

// poolEvent decides the event of one pool, given its entries (one per image it runs):
// pool_behind when its entry furthest behind is behind and no node runs the newest yet
// (an upgrade under way is not news), pool_current when every entry is current and a
// pool_behind of it is open. It notes in b which pool_behind is open.
func (t *Tracker) poolEvent(key string, entries []NodePool, b *Batch) (*Event, NodePool, error) {
	worst := entries[0]
	allCurrent := true
	upgrading := false
	for _, p := range entries {
		if p.Status != PoolCurrent && p.Status != PoolAhead {
			allCurrent = false
		}
		if p.Newest != nil && p.Version == *p.Newest {
			upgrading = true
		}
		if p.ImagesBehind != nil && (worst.ImagesBehind == nil || *p.ImagesBehind > *worst.ImagesBehind) {
			worst = p
		}
	}
	open, err := t.Store.Meta(metaPoolOpen + key)
	if err != nil {
		return nil, worst, err
	}
	switch {
	case worst.Status == PoolBehind && !upgrading && worst.Newest != nil:
		e := t.event(EventPoolBehind, key, *worst.Newest)
		if _, stored, err := t.Store.Event(e.Key); err != nil || stored {
			return nil, worst, err
		}
		b.setMeta(metaPoolOpen+key, e.Key)
		return &e, worst, nil
	case allCurrent && open != "":
		current := entries[len(entries)-1]
		e := t.event(EventPoolCurrent, key, current.Version)
		b.setMeta(metaPoolOpen+key, "")
		if _, stored, err := t.Store.Event(e.Key); err != nil || stored {
			return nil, current, err
		}
		return &e, current, nil
	}
	return nil, worst, nil
}

// PoolOf is the pool an event of a pool was about, as it stood then.
func PoolOf(s Store, e Event) (*NodePool, error) {
	raw, err := s.Meta(metaPoolEvent + e.Key)
	if err != nil || raw == "" {
		return nil, err
	}
	var p NodePool
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("stored %s%s: %w", metaPoolEvent, e.Key, err)
	}
	return &p, nil
}

// RunningKernel is the kernel the pool's nodes say they run, or else the one its image's
// notes name (agent pools say nothing of their nodes), "" when neither is known.
func (p NodePool) RunningKernel() string {
	if p.Running != nil && p.Running.Kernel != "" {
		return p.Running.Kernel
	}
	return deref(p.ImageKernel, "")
}

// SecurityText says what the upgrade to the newest image fixes, "" where unknown.
func (p NodePool) SecurityText() string {
	if p.Security == nil {
		return ""
	}
	line := fmt.Sprintf("the upgrade fixes %d advisor%s, as announced in the %s", len(p.Security.Fixed), plural2(len(p.Security.Fixed)), p.Security.Source)
	if len(p.Security.Fixed) > 0 {
		line += ": " + namedAdvisories(p.Security.Fixed, 3, p.Security.Source == SecuritySourceUbuntu)
	}
	return line
}

// PoolText is one line about a pool: what it runs and how far behind.
func (p NodePool) PoolText() string {
	switch p.Status {
	case PoolBehind, PoolCurrent, PoolUnknownVersion:
	default:
		return fmt.Sprintf("%s runs %s (%s)", p.Key(), orDash(p.NodeImageVersion), p.Status)
	}
	s := fmt.Sprintf("%s runs %s on %d node%s", p.Key(), p.NodeImageVersion, p.Nodes, plural(p.Nodes))
	if p.Newest == nil || p.ImagesBehind == nil || *p.ImagesBehind == 0 {
		return s + ", the newest image of " + p.Family
	}
	return fmt.Sprintf("%s, %d image%s and %d day%s behind %s, the newest of %s", s, *p.ImagesBehind, plural(*p.ImagesBehind),
		*p.DaysBehind, plural(*p.DaysBehind), *p.Newest, p.Family)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
