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
	Store    Store
	Notes    VHDNotesSource   // nil: VHD notes disabled
	AKS      AKSReleaseSource // nil: AKS releases disabled
	Flatcar  FlatcarSource    // nil: Flatcar disabled
	Families []string
	AKSRepo  string
	Channels []string
	FirstRun FirstRun
	// Router turns new events into outbox deliveries; nil records events only.
	Router *Router
	// NoteFetches bounds the notes downloaded at once across all families.
	NoteFetches int
	Now         func() time.Time
	Log         *slog.Logger
}

func (t *Tracker) now() time.Time {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	// Every time nodewatch prints is UTC RFC 3339 to the second.
	return now().UTC().Truncate(time.Second)
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
	start := time.Now()
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
		for _, f := range t.Families {
			jobs = append(jobs, job{"vhd_notes:" + f, func(ctx context.Context, sr *SourceReport) (Batch, error) {
				return t.readFamily(ctx, f, sr)
			}})
		}
	}
	if t.Flatcar != nil {
		for _, ch := range t.Channels {
			jobs = append(jobs, job{"flatcar:" + ch, func(ctx context.Context, sr *SourceReport) (Batch, error) {
				return t.readChannel(ctx, ch, sr)
			}})
		}
	}

	fetches := max(t.NoteFetches, 1)
	notesSem := make(chan struct{}, fetches)
	ctx = context.WithValue(ctx, semKey{}, notesSem)

	reports := make([]SourceReport, len(jobs))
	var (
		mu       sync.Mutex
		events   []Event
		storeErr error
		wg       sync.WaitGroup
	)
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
			var c RequestCounter
			b, err := j.run(WithRequestCounter(ctx, &c), sr)
			sr.Requests, sr.NotModified, sr.FailedRequests = int(c.Requests.Load()), int(c.NotModified.Load()), int(c.Failed.Load())
			sr.BodyBytes = c.BodyBytes.Load()
			if err != nil {
				sr.Errors = append(sr.Errors, err.Error())
			}
			if t.Router != nil && len(b.Events) > 0 {
				facts, err := t.routeFacts(b)
				if err != nil {
					sr.Errors = append(sr.Errors, err.Error())
				}
				b.Deliveries = t.Router.Deliveries(b.Events, facts, start.UTC().Format(time.RFC3339Nano), t.now())
			}
			// Apply is atomic per source: a crash keeps a source's batch whole or not at all.
			newEvents, err := t.Store.Apply(ctx, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				storeErr = errors.Join(storeErr, fmt.Errorf("storing %s: %w", j.source, err))
				return
			}
			sr.Events = len(newEvents)
			events = append(events, newEvents...)
			t.logger().Debug("source read", "source", sr.Source, "requests", sr.Requests, "not_modified", sr.NotModified,
				"new", sr.NewItems, "updated", sr.UpdatedItems, "events", sr.Events, "errors", len(sr.Errors))
		}()
	}
	wg.Wait()
	rep.Sources = reports
	rep.Finished = t.now()
	rep.DurationMS = time.Since(start).Milliseconds()
	if storeErr != nil {
		return rep, events, storeErr
	}
	if err := t.Store.RecordCycle(ctx, rep); err != nil {
		return rep, events, fmt.Errorf("recording the cycle: %w", err)
	}
	return rep, events, nil
}

type semKey struct{}

// routeFacts looks up what routes filter on for each event of a batch: the kernel and
// Flatcar version of its image or release, from the batch or else the store.
func (t *Tracker) routeFacts(b Batch) (map[string]RouteFacts, error) {
	facts := map[string]RouteFacts{}
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

func (t *Tracker) readFamily(ctx context.Context, family string, sr *SourceReport) (Batch, error) {
	var b Batch
	scope := ScopeKey(EventNodeImage, family)
	seeded, err := t.Store.Seeded(scope)
	if err != nil {
		return b, err
	}
	lk := newLookup(t.Store)
	listing, err := t.Notes.ListFamily(ctx, family, lk.get)
	if err != nil {
		return b, err
	}
	if listing.NotModified {
		return b, nil
	}
	stored, err := t.Store.Images(family)
	if err != nil {
		return b, err
	}
	have := make(map[string]NodeImage, len(stored))
	for _, im := range stored {
		have[im.Version] = im
	}

	var todo []NoteEntry
	var imageLists []NoteEntry
	newest := ""
	for _, e := range listing.Entries {
		if strings.HasSuffix(e.Name, "-image-list.json") {
			imageLists = append(imageLists, e)
		}
		if e.Version == "" {
			continue
		}
		if newest == "" || CompareImageVersions(e.Version, newest) > 0 {
			newest = e.Version
		}
		if old, ok := have[e.Version]; ok && old.NotesSHA == e.SHA {
			continue
		}
		todo = append(todo, e)
	}
	for _, im := range stored {
		if newest == "" || CompareImageVersions(im.Version, newest) > 0 {
			newest = im.Version
		}
	}

	notes, errs := t.fetchNotes(ctx, todo)
	now := t.now()
	var isNew []string
	for i, e := range todo {
		if errs[i] != nil {
			sr.Errors = append(sr.Errors, errs[i].Error())
			continue
		}
		n := notes[i]
		im := NodeImage{
			Family: family, Version: e.Version, OS: n.OS, Kernel: n.Kernel, BuildTime: n.BuildTime.UTC(),
			BuildID: n.BuildID, Commit: n.Commit, Components: n.Components, NotesURL: e.HTMLURL, NotesSHA: e.SHA,
			FirstSeen: now, UpdatedAt: now,
		}
		if old, ok := have[e.Version]; ok {
			im.SKU, im.FirstSeen = old.SKU, old.FirstSeen
			sr.UpdatedItems++
		} else {
			isNew = append(isNew, e.Version)
			sr.NewItems++
		}
		b.Images = append(b.Images, im)
	}

	skuKey := "sku:" + family
	sku, err := t.Store.Meta(skuKey)
	if err != nil {
		return b, err
	}
	if sku == "" && len(imageLists) > 0 {
		// Any image list names the family's sku; the newest is the likeliest to exist.
		e := imageLists[len(imageLists)-1]
		if s, err := t.Notes.FetchSKU(ctx, e); err != nil {
			sr.Errors = append(sr.Errors, err.Error())
		} else if s != "" {
			sku = s
			b.Meta = map[string]string{skuKey: s}
		}
	}
	for i := range b.Images {
		b.Images[i].SKU = sku
	}

	slices.SortFunc(isNew, CompareImageVersions)
	t.finish(&b, sr, lk, scope, EventNodeImage, family, seeded, isNew, newest, listing.URL, listing.Validator)
	return b, nil
}

// fetchNotes downloads and parses notes concurrently, bounded across all families.
func (t *Tracker) fetchNotes(ctx context.Context, todo []NoteEntry) ([]VHDNotes, []error) {
	notes := make([]VHDNotes, len(todo))
	errs := make([]error, len(todo))
	sem, _ := ctx.Value(semKey{}).(chan struct{})
	if sem == nil {
		sem = make(chan struct{}, 1)
	}
	var wg sync.WaitGroup
	for i, e := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("%s: %w", e.Path, ctx.Err())
				return
			}
			defer func() { <-sem }()
			notes[i], errs[i] = t.Notes.FetchNote(ctx, e)
		}()
	}
	wg.Wait()
	return notes, errs
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
	pages, err := t.AKS.Releases(ctx, repo, lk.get)
	if err != nil {
		return b, err
	}
	if pages.NotModified {
		return b, nil
	}
	stored, err := t.Store.AKSReleases(repo)
	if err != nil {
		return b, err
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
