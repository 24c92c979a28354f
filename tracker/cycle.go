package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// FirstRun is what a family, channel or release repo announces the first time it is read
// successfully, so that adding a family later never floods a channel with its history.
type FirstRun string

const (
	FirstRunSilent FirstRun = "silent" // seed history, announce nothing
	FirstRunLatest FirstRun = "latest" // announce the newest item only
	FirstRunAll    FirstRun = "all"    // announce everything
)

// Tracker runs cycles: read every configured source, store what is new or edited, and
// record an event for what is new.
type Tracker struct {
	Store   Store
	Notes   VHDNotesSource   // nil: VHD notes disabled
	AKS     AKSReleaseSource // nil: AKS releases disabled
	Flatcar FlatcarSource    // nil: Flatcar disabled
	// UbuntuSecurity, when set, is Canonical's OSV archive at UbuntuSecurityURL, read at
	// most every UbuntuSecurityEvery (0: DefaultUbuntuSecurityEvery).
	UbuntuSecurity      UbuntuSecuritySource
	UbuntuSecurityURL   string
	UbuntuSecurityEvery time.Duration
	Families            []string
	// PoolFamilies, when set, names the families that watched node pools run: they are
	// watched whatever Families says.
	PoolFamilies func() []string
	// Pools, when set, are the team's clusters: each cycle reports whether each can be
	// read, and judges its pools against what the cycle stored.
	Pools    *PoolWatch
	AKSRepo  string
	Channels []string
	FirstRun FirstRun
	// Router turns new events into outbox deliveries; nil records events only.
	Router *Router
	// NoteFetches bounds the notes downloaded at once across all families.
	NoteFetches int
	// AKSRescan is how often every page of the AKS releases is read again, for edits of
	// older releases; between, page 1 alone tells of new ones. 0 means DefaultAKSRescan.
	AKSRescan time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

func (t *Tracker) now() time.Time {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	// Every time nodewatch prints is UTC RFC 3339 to the second.
	return now().UTC().Truncate(time.Second)
}

// DefaultAKSRescan is how often every page of the AKS releases is read by default.
const DefaultAKSRescan = 24 * time.Hour

func (t *Tracker) aksRescan() time.Duration {
	if t.AKSRescan > 0 {
		return t.AKSRescan
	}
	return DefaultAKSRescan
}

func (t *Tracker) logger() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Cycle reads every source once. Sources fail independently: one that fails is named in
// its report and keeps what it stored before; the others proceed. The error is non-nil
// only when the store itself fails.
func (t *Tracker) Cycle(ctx context.Context) (CycleReport, []Event, error) {
	run := &cycleRun{t: t, start: time.Now()}
	rep := CycleReport{Started: t.now()}
	type job struct {
		source string
		run    func(ctx context.Context, sr *SourceReport) (Batch, error)
	}
	var jobs []job
	if t.AKS != nil {
		jobs = append(jobs, job{"aks_releases:" + t.AKSRepo, t.readAKS})
	}
	if t.Notes != nil {
		jobs = append(jobs, job{"vhd_notes", func(ctx context.Context, sr *SourceReport) (Batch, error) {
			return t.readNotes(ctx, run, sr)
		}})
	}
	if t.Flatcar != nil {
		for _, ch := range t.Channels {
			jobs = append(jobs, job{"flatcar:" + ch, func(ctx context.Context, sr *SourceReport) (Batch, error) {
				return t.readChannel(ctx, ch, sr)
			}})
		}
	}

	var probes []SourceReport
	probed := make(chan struct{})
	if t.Pools != nil {
		t.Pools.Pools() // the families the pools run now, for the notes source to watch
		go func() { defer close(probed); probes = t.Pools.Clusters.Probe(ctx) }()
	} else {
		close(probed)
	}

	notesSem := make(chan struct{}, max(t.NoteFetches, 1))
	ctx = context.WithValue(ctx, semKey{}, notesSem)

	reports := make([]SourceReport, len(jobs))
	var wg sync.WaitGroup
	// A few sources at once: listings are cheap, and notes are bounded by notesSem.
	sourceSem := make(chan struct{}, 4)
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sourceSem <- struct{}{}
			defer func() { <-sourceSem }()
			sr := &reports[i]
			sr.Source = j.source
			run.read(ctx, sr, func(ctx context.Context) (Batch, error) { return j.run(ctx, sr) })
		}()
	}
	wg.Wait()
	if sr, ok := t.securityAfterNotes(ctx, run); ok {
		reports = append(reports, sr)
	}
	<-probed
	rep.Sources = append(append(reports, run.familyReports()...), probes...)
	if t.Pools != nil && run.storeErr == nil {
		// The fleet is the whole history: loaded again only when the cycle stored
		// something, so that an idle cycle reads and keeps nothing more.
		var err error
		if !t.Pools.Refreshed() || stored(rep) {
			err = t.Pools.Refresh(t)
		}
		if err != nil {
			run.storeErr = err
		} else if events, err := t.Pools.Observe(ctx, t); err != nil {
			run.storeErr = err
		} else {
			run.events = append(run.events, events...)
		}
	}
	rep.Finished = t.now()
	rep.DurationMS = time.Since(run.start).Milliseconds()
	if run.storeErr != nil {
		return rep, run.events, run.storeErr
	}
	if err := t.Store.RecordCycle(ctx, rep); err != nil {
		return rep, run.events, fmt.Errorf("recording the cycle: %w", err)
	}
	return rep, run.events, nil
}

// securityAfterNotes reads Canonical's data when it is due, after the notes: the fixes
// kept are those of the packages the images carry.
func (t *Tracker) securityAfterNotes(ctx context.Context, run *cycleRun) (SourceReport, bool) {
	sr := SourceReport{Source: "ubuntu_security"}
	if t.UbuntuSecurity == nil || run.storeErr != nil {
		return sr, false
	}
	due, err := t.ubuntuSecurityDue()
	if err != nil {
		sr.Errors = append(sr.Errors, err.Error())
		return sr, true
	}
	if !due {
		return sr, false
	}
	run.read(ctx, &sr, func(ctx context.Context) (Batch, error) { return t.readUbuntuSecurity(ctx, &sr) })
	return sr, true
}

// stored reports whether a cycle stored a new or edited item.
func stored(rep CycleReport) bool {
	for _, s := range rep.Sources {
		if s.NewItems+s.UpdatedItems > 0 {
			return true
		}
	}
	return false
}

// cycleRun collects what the sources of one cycle stored: the events new to the store,
// the first store error, and the reports of the families read.
type cycleRun struct {
	t        *Tracker
	start    time.Time
	mu       sync.Mutex
	events   []Event
	storeErr error
	families []SourceReport
}

// read runs one read that counts its requests into sr, then routes and stores its batch.
// It reports whether the batch was stored.
func (r *cycleRun) read(ctx context.Context, sr *SourceReport, read func(ctx context.Context) (Batch, error)) bool {
	return r.apply(ctx, counted(ctx, sr, read), sr)
}

// counted runs read with its requests counted into sr, and its error named there.
func counted(ctx context.Context, sr *SourceReport, read func(ctx context.Context) (Batch, error)) Batch {
	var c RequestCounter
	b, err := read(WithRequestCounter(ctx, &c))
	sr.Requests, sr.NotModified, sr.FailedRequests = int(c.Requests.Load()), int(c.NotModified.Load()), int(c.Failed.Load())
	sr.BodyBytes = c.BodyBytes.Load()
	if err != nil {
		sr.Errors = append(sr.Errors, err.Error())
	}
	return b
}

// apply routes a batch's events and stores it in one transaction: a crash keeps a
// source's (or a family's) batch whole or not at all.
func (r *cycleRun) apply(ctx context.Context, b Batch, sr *SourceReport) bool {
	t := r.t
	if t.Router != nil && len(b.Events) > 0 {
		facts, err := t.routeFacts(b)
		if err != nil {
			sr.Errors = append(sr.Errors, err.Error())
		}
		b.Deliveries = t.Router.Deliveries(b.Events, facts, r.start.UTC().Format(time.RFC3339Nano), t.now())
	}
	newEvents, err := t.Store.Apply(ctx, b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.storeErr = errors.Join(r.storeErr, fmt.Errorf("storing %s: %w", sr.Source, err))
		return false
	}
	sr.Events = len(newEvents)
	r.events = append(r.events, newEvents...)
	t.logger().Debug("source read", "source", sr.Source, "requests", sr.Requests, "not_modified", sr.NotModified,
		"new", sr.NewItems, "updated", sr.UpdatedItems, "events", sr.Events, "errors", len(sr.Errors))
	return true
}

// addFamilyReport keeps the report of one family that had something to read.
func (r *cycleRun) addFamilyReport(sr SourceReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.families = append(r.families, sr)
}

func (r *cycleRun) familyReports() []SourceReport {
	slices.SortFunc(r.families, func(a, b SourceReport) int { return strings.Compare(a.Source, b.Source) })
	return r.families
}

type semKey struct{}

// routeFacts looks up what routes filter on for each event of a batch: the kernel and
// Flatcar version of its image or release, from the batch or else the store.
func (t *Tracker) routeFacts(b Batch) (map[string]RouteFacts, error) {
	facts := map[string]RouteFacts{}
	var judged *fixCounter // what judging images' fixes reads, once per batch
	for _, e := range b.Events {
		switch e.Kind {
		case EventNodeImage:
			var im NodeImage
			if i := slices.IndexFunc(b.Images, func(x NodeImage) bool { return x.Version == e.Version }); i >= 0 {
				im = b.Images[i]
			} else {
				var err error
				if im, _, err = t.Store.Image(e.Subject, e.Version); err != nil {
					return facts, err
				}
			}
			f := RouteFacts{Kernel: im.Kernel}
			if im.IsFlatcar() && im.OS.Version != nil {
				f.Flatcar = *im.OS.Version
			}
			if t.routesOnCVEs() {
				if judged == nil {
					judged = &fixCounter{}
				}
				n, err := t.fixCount(b, im, judged)
				if err != nil {
					return facts, err
				}
				f.Fixes = n
			}
			facts[e.Key] = f
		case EventFlatcarRelease:
			rs := b.FlatcarReleases
			if !slices.ContainsFunc(rs, func(r FlatcarRelease) bool { return r.Version == e.Version }) {
				var err error
				if rs, err = t.Store.FlatcarReleases(e.Subject); err != nil {
					return facts, err
				}
			}
			for _, r := range rs {
				if r.Version == e.Version {
					facts[e.Key] = RouteFacts{Kernel: r.Kernel, Flatcar: r.Version}
				}
			}
		}
	}
	return facts, nil
}

// lookup reads validators from the store, and remembers what it returned so that a
// validator that did not change is not written again (an idle cycle writes nothing).
type lookup struct {
	store Store
	seen  map[string]Validator
}

func (l *lookup) get(url string) (Validator, error) {
	v, err := l.store.Validator(url)
	if err == nil {
		l.seen[url] = v
	}
	return v, err
}

func (l *lookup) changed(url string, v Validator) bool {
	old, ok := l.seen[url]
	return !ok || old != v
}

func newLookup(s Store) *lookup { return &lookup{store: s, seen: map[string]Validator{}} }

func (b *Batch) setValidator(l *lookup, url string, v Validator) {
	if !l.changed(url, v) {
		return
	}
	if b.Validators == nil {
		b.Validators = map[string]Validator{}
	}
	b.Validators[url] = v
}

// announce decides which of a scope's new items become events, by the first-run policy.
// newest is the newest item of the whole scope (stored or new) when the scope is being
// seeded now: with `latest` it is announced even if an earlier partial read stored it.
func (t *Tracker) announce(kind EventKind, subject string, seeded, seedingNow bool, isNew []string, newest string) []Event {
	now := t.now()
	mk := func(v string) Event {
		return Event{Key: EventKey(kind, subject, v), Kind: kind, Subject: subject, Version: v, CreatedAt: now}
	}
	var out []Event
	switch {
	case seeded || t.FirstRun == FirstRunAll:
		for _, v := range isNew {
			out = append(out, mk(v))
		}
	case seedingNow && t.FirstRun == FirstRunLatest && newest != "":
		out = append(out, mk(newest))
	}
	return out
}

// finish adds a scope's events, validator and seeding to its batch. The scope counts as
// read (seeded) once its document was read, even if some items failed: one broken note
// must not hold back first_run forever. But only a document processed whole may answer
// 304 next time, or an item that failed would never be tried again.
func (t *Tracker) finish(b *Batch, sr *SourceReport, lk *lookup, scope string, kind EventKind, subject string,
	seeded bool, isNew []string, newest, url string, v Validator) {
	b.Events = t.announce(kind, subject, seeded, !seeded, isNew, newest)
	if len(sr.Errors) == 0 {
		b.setValidator(lk, url, v)
	}
	if !seeded {
		b.Seeded = []string{scope}
	}
}

func (t *Tracker) readChannel(ctx context.Context, channel string, sr *SourceReport) (Batch, error) {
	var b Batch
	scope := ScopeKey(EventFlatcarRelease, channel)
	seeded, err := t.Store.Seeded(scope)
	if err != nil {
		return b, err
	}
	lk := newLookup(t.Store)
	feed, err := t.Flatcar.Channel(ctx, channel, lk.get)
	if err != nil {
		return b, err
	}
	if feed.NotModified {
		return b, nil
	}
	for _, e := range feed.EntryErrors {
		sr.Errors = append(sr.Errors, e.Error())
	}
	stored, err := t.Store.FlatcarReleases(channel)
	if err != nil {
		return b, err
	}
	have := make(map[string]FlatcarRelease, len(stored))
	newest := ""
	for _, r := range stored {
		have[r.Version] = r
		if newest == "" || CompareDotted(r.Version, newest) > 0 {
			newest = r.Version
		}
	}
	now := t.now()
	var isNew []string
	for _, r := range feed.Releases {
		if r.Channel != channel {
			sr.Errors = append(sr.Errors, fmt.Sprintf("flatcar %s channel: release %s says channel %q", channel, r.Version, r.Channel))
			continue
		}
		if newest == "" || CompareDotted(r.Version, newest) > 0 {
			newest = r.Version
		}
		r.FirstSeen, r.UpdatedAt = now, now
		if old, ok := have[r.Version]; ok {
			if sameFlatcar(old, r) {
				continue
			}
			r.FirstSeen = old.FirstSeen
			sr.UpdatedItems++
		} else {
			isNew = append(isNew, r.Version)
			sr.NewItems++
		}
		b.FlatcarReleases = append(b.FlatcarReleases, r)
	}
	slices.SortFunc(isNew, CompareDotted)
	t.finish(&b, sr, lk, scope, EventFlatcarRelease, channel, seeded, isNew, newest, feed.URL, feed.Validator)
	return b, nil
}

func sameFlatcar(a, b FlatcarRelease) bool {
	a.FirstSeen, a.UpdatedAt, b.FirstSeen, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func (t *Tracker) readAKS(ctx context.Context, sr *SourceReport) (Batch, error) {
	var b Batch
	repo := t.AKSRepo
	scope := ScopeKey(EventAKSRelease, repo)
	seeded, err := t.Store.Seeded(scope)
	if err != nil {
		return b, err
	}
	lk := newLookup(t.Store)
	fullKey := "full_pass:" + scope
	last, err := t.Store.Meta(fullKey)
	if err != nil {
		return b, err
	}
	// Page 1 answers for new releases; a full pass now and then, for edits of older ones.
	lastFull, _ := time.Parse(time.RFC3339, last)
	full := !seeded || t.now().Sub(lastFull) >= t.aksRescan()
	var stored []AKSRelease
	var loadErr error
	loaded := false
	load := func() {
		if !loaded {
			stored, loadErr = t.Store.AKSReleases(repo)
			loaded = true
		}
	}
	known := func(tag string) bool {
		load()
		return slices.ContainsFunc(stored, func(r AKSRelease) bool { return r.Tag == tag })
	}
	pages, err := t.AKS.Releases(ctx, repo, lk.get, ReleaseQuery{Full: full, Known: known})
	if err != nil {
		return b, err
	}
	if full {
		b.Meta = map[string]string{fullKey: t.now().Format(time.RFC3339)}
	}
	if pages.NotModified {
		return b, nil
	}
	if load(); loadErr != nil {
		return b, loadErr
	}
	have := make(map[string]AKSRelease, len(stored))
	var newestAt time.Time
	newest := ""
	consider := func(r AKSRelease) {
		if newest == "" || r.PublishedAt.After(newestAt) {
			newest, newestAt = r.Tag, r.PublishedAt
		}
	}
	for _, r := range stored {
		have[r.Tag] = r
		consider(r)
	}
	now := t.now()
	var isNew []string
	for _, r := range pages.Releases {
		consider(r)
		r.FirstSeen, r.UpdatedAt = now, now
		if old, ok := have[r.Tag]; ok {
			if old.BodySHA256 == r.BodySHA256 && old.Name == r.Name && old.URL == r.URL && old.PublishedAt.Equal(r.PublishedAt) {
				continue
			}
			r.FirstSeen = old.FirstSeen
			sr.UpdatedItems++
		} else {
			isNew = append(isNew, r.Tag)
			sr.NewItems++
		}
		b.AKSReleases = append(b.AKSReleases, r)
	}
	// GitHub lists newest first; events go out oldest first, as they happened.
	slices.Reverse(isNew)
	b.Events = t.announce(EventAKSRelease, repo, seeded, !seeded, isNew, newest)
	for url, v := range pages.Validators {
		b.setValidator(lk, url, v)
	}
	if !seeded {
		b.Seeded = []string{scope}
	}
	return b, nil
}
