package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Meta keys of the VHD notes source.
const (
	MetaNotesCommit   = "vhd_notes:commit"   // the newest commit of the notes path that was read whole (storage's migrations forget it)
	metaNotesFamilies = "vhd_notes:families" // every family upstream listed, watched or not (JSON)
	metaNotesPending  = "vhd_notes:pending"  // files that failed, read again every cycle (JSON)
	metaQuietPrefix   = "family_quiet:"      // + family: the newest image it was found quiet at
	metaSKUPrefix     = "sku:"               // + family
)

// familyWorkers bounds the families read at once; notes are bounded across all of them.
const familyWorkers = 4

// readNotes lists every family at once and reads what is new or edited in the watched
// ones. Everything it read goes into one batch with the listing's validator, the family
// lifecycle and the files to retry, stored in one transaction: a crash keeps all of it
// or none, and none means the listing is read again.
func (t *Tracker) readNotes(ctx context.Context, run *cycleRun, sr *SourceReport) (Batch, error) {
	var b Batch
	lastCommit, err := t.Store.Meta(MetaNotesCommit)
	if err != nil {
		return b, err
	}
	pending, err := t.pendingNotes()
	if err != nil {
		return b, err
	}
	lk := newLookup(t.Store)
	list := lk.get
	if fresh, err := t.unseededPoolFamily(); err != nil {
		return b, err
	} else if fresh != "" {
		// A pool runs a family not read yet: list again though nothing changed upstream.
		lastCommit = ""
		list = func(url string) (Validator, error) { _, err := lk.get(url); return Validator{}, err }
	}
	listing, err := t.Notes.ListNotes(ctx, list, lastCommit)
	if err != nil {
		return b, err
	}
	sr.Warnings = append(sr.Warnings, listing.Warnings...)
	if listing.NotModified {
		b.setValidator(lk, listing.URL, listing.Validator)
		if len(pending) == 0 {
			return b, nil
		}
		// Nothing changed upstream, but files that failed before are tried again.
		read, failed := t.readFamilies(ctx, run, groupByFamily(pending))
		read.setMeta(metaNotesPending, encodeEntries(failed))
		b.merge(read)
		return b, nil
	}

	upstream := slices.Sorted(maps.Keys(listing.Families))
	watched := map[string][]NoteEntry{}
	for _, f := range upstream {
		if t.watches(f) {
			watched[f] = listing.Families[f]
		}
	}
	read, failed := t.readFamilies(ctx, run, watched)
	b.merge(read)
	t.readUnwatchedSKUs(ctx, &b, sr, listing.Families, watched)
	if err := t.lifecycle(&b, upstream, watched, read.Images); err != nil {
		return b, err
	}
	b.setMeta(MetaNotesCommit, listing.Commit)
	b.setMeta(metaNotesPending, encodeEntries(failed))
	b.setValidator(lk, listing.URL, listing.Validator)
	return b, nil
}

// lifecycle adds the families' events to b: family_added for a watched family new
// upstream since the last listing (one first watched because `families` grew is no
// news), and family_quiet; and it keeps the upstream families for the next listing.
func (t *Tracker) lifecycle(b *Batch, upstream []string, watched map[string][]NoteEntry, read []NodeImage) error {
	knownJSON, err := t.Store.Meta(metaNotesFamilies)
	if err != nil {
		return err
	}
	var known []string
	if knownJSON != "" {
		if err := json.Unmarshal([]byte(knownJSON), &known); err != nil {
			return fmt.Errorf("stored %s: %w", metaNotesFamilies, err)
		}
	}
	firstListing := knownJSON == ""
	for _, f := range slices.Sorted(maps.Keys(watched)) {
		if !firstListing && !slices.Contains(known, f) {
			b.Events = append(b.Events, t.event(EventFamilyAdded, f, newestEntry(watched[f])))
		}
	}
	if err := t.judgeQuiet(b, read, firstListing); err != nil {
		return err
	}
	upstreamJSON, _ := json.Marshal(upstream)
	b.setMeta(metaNotesFamilies, string(upstreamJSON))
	return nil
}

// watches reports whether a family matches sources.vhd_notes.families, or is run by a
// node pool nodewatch watches (whatever `families` says, a team wants to know about
// the images its nodes run).
func (t *Tracker) watches(family string) bool {
	if slices.ContainsFunc(t.Families, func(g string) bool { return MatchFamily(g, family) }) {
		return true
	}
	return t.PoolFamilies != nil && slices.Contains(t.PoolFamilies(), family)
}

// unseededPoolFamily returns a family a node pool runs that was never read, "" if none.
func (t *Tracker) unseededPoolFamily() (string, error) {
	if t.PoolFamilies == nil {
		return "", nil
	}
	for _, f := range t.PoolFamilies() {
		seeded, err := t.Store.Seeded(ScopeKey(EventNodeImage, f))
		if err != nil || !seeded {
			return f, err
		}
	}
	return "", nil
}

func (t *Tracker) event(kind EventKind, subject, version string) Event {
	return Event{Key: EventKey(kind, subject, version), Kind: kind, Subject: subject, Version: version, CreatedAt: t.now()}
}

// judgeQuiet adds a family_quiet event for each family that fell quiet at its newest
// image and was not found quiet there before. On the first listing they are noted
// silently (unless first_run is all), so that starting nodewatch announces no history.
func (t *Tracker) judgeQuiet(b *Batch, read []NodeImage, firstListing bool) error {
	images, err := t.Store.Images("")
	if err != nil {
		return err
	}
	// The images read in this cycle are not stored yet: they replace or join the stored.
	key := func(im NodeImage) string { return im.Family + "\x00" + im.Version }
	byKey := make(map[string]int, len(images))
	for i, im := range images {
		byKey[key(im)] = i
	}
	for _, im := range read {
		if i, ok := byKey[key(im)]; ok {
			images[i] = im
		} else {
			images = append(images, im)
		}
	}
	for _, s := range QuietFamilies(FamilyStatuses(images)) {
		if !t.watches(s.Family) {
			continue
		}
		key := metaQuietPrefix + s.Family
		was, err := t.Store.Meta(key)
		if err != nil {
			return err
		}
		if was == s.Newest {
			continue
		}
		b.setMeta(key, s.Newest)
		if !firstListing || t.FirstRun == FirstRunAll {
			b.Events = append(b.Events, t.event(EventFamilyQuiet, s.Family, s.Newest))
		}
	}
	return nil
}

func (b *Batch) setMeta(key, value string) {
	if b.Meta == nil {
		b.Meta = map[string]string{}
	}
	b.Meta[key] = value
}

func (t *Tracker) pendingNotes() ([]NoteEntry, error) {
	raw, err := t.Store.Meta(metaNotesPending)
	if err != nil || raw == "" {
		return nil, err
	}
	var entries []NoteEntry
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("stored %s: %w", metaNotesPending, err)
	}
	// Only the families still watched: `families` may have shrunk since.
	return slices.DeleteFunc(entries, func(e NoteEntry) bool { return !t.watches(e.Family) }), nil
}

// encodeEntries is the JSON of the files to retry, "" for none: an unchanged value is
// not written again, so an idle cycle writes nothing.
func encodeEntries(entries []NoteEntry) string {
	if len(entries) == 0 {
		return ""
	}
	slices.SortFunc(entries, func(a, b NoteEntry) int { return strings.Compare(a.Path, b.Path) })
	data, _ := json.Marshal(entries)
	return string(data)
}

func groupByFamily(entries []NoteEntry) map[string][]NoteEntry {
	out := map[string][]NoteEntry{}
	for _, e := range entries {
		out[e.Family] = append(out[e.Family], e)
	}
	return out
}

// newestEntry is the newest image version among a family's files.
func newestEntry(entries []NoteEntry) string {
	newest := ""
	for _, e := range entries {
		if e.Version != "" && (newest == "" || CompareImageVersions(e.Version, newest) > 0) {
			newest = e.Version
		}
	}
	return newest
}

// readFamilies reads the given files of each family, a few families at once, into one
// batch: the notes source is stored in one transaction (one fsync for a cold backfill
// of every family, not one per family). It returns the batch and the files that failed.
func (t *Tracker) readFamilies(ctx context.Context, run *cycleRun, families map[string][]NoteEntry) (Batch, []NoteEntry) {
	var (
		mu     sync.Mutex
		all    Batch
		failed []NoteEntry
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, familyWorkers)
	for family, entries := range families {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sr := SourceReport{Source: "vhd_notes:" + family}
			var bad []NoteEntry
			b := counted(ctx, &sr, func(ctx context.Context) (Batch, error) {
				var b Batch
				var err error
				b, bad, err = t.readFamily(ctx, family, entries, &sr)
				return b, err
			})
			sr.Events = len(b.Events)
			if sr.Requests > 0 || sr.Failed() || sr.NewItems+sr.UpdatedItems > 0 {
				run.addFamilyReport(sr)
			}
			mu.Lock()
			defer mu.Unlock()
			all.merge(b)
			failed = append(failed, bad...)
		}()
	}
	wg.Wait()
	return all, failed
}

// merge adds o's items to b.
func (b *Batch) merge(o Batch) {
	b.Images = append(b.Images, o.Images...)
	for k, c := range o.SecurityCounts {
		if b.SecurityCounts == nil {
			b.SecurityCounts = map[[2]string]SecurityCounts{}
		}
		b.SecurityCounts[k] = c
	}
	b.Events = append(b.Events, o.Events...)
	b.Seeded = append(b.Seeded, o.Seeded...)
	for k, v := range o.Meta {
		b.setMeta(k, v)
	}
}

// readFamily reads the files of one family that are new or edited (by blob SHA), and
// the family's sku while it is unknown. It returns the batch and the files that failed.
func (t *Tracker) readFamily(ctx context.Context, family string, entries []NoteEntry, sr *SourceReport) (Batch, []NoteEntry, error) {
	var b Batch
	scope := ScopeKey(EventNodeImage, family)
	seeded, err := t.Store.Seeded(scope)
	if err != nil {
		return b, entries, err
	}
	stored, err := t.Store.Images(family)
	if err != nil {
		return b, entries, err
	}
	have := make(map[string]NodeImage, len(stored))
	newest := ""
	for _, im := range stored {
		have[im.Version] = im
		if newest == "" || CompareImageVersions(im.Version, newest) > 0 {
			newest = im.Version
		}
	}
	var todo, imageLists, failed []NoteEntry
	listOf := map[string]NoteEntry{}
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name, "-image-list.json"); ok {
			imageLists = append(imageLists, e)
			listOf[v] = e
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

	notes, errs := t.fetchNotes(ctx, todo, listOf)
	now := t.now()
	var isNew []string
	for i, e := range todo {
		if errs[i] != nil {
			sr.Errors = append(sr.Errors, errs[i].Error())
			failed = append(failed, e)
			continue
		}
		n := notes[i]
		im := NodeImage{
			Family: family, Version: e.Version, OS: n.OS, Kernel: n.Kernel, BuildTime: n.BuildTime.UTC(),
			BuildID: n.BuildID, Commit: n.Commit, Components: n.Components, NotesURL: e.HTMLURL, NotesSHA: e.SHA,
			FirstSeen: now, UpdatedAt: now,
			Contents: &ImageContents{Listing: n.Listing, Packages: n.Packages, Images: n.containerImages, Updates: n.Updates},
		}
		for _, line := range n.PackageErrors {
			sr.Warnings = append(sr.Warnings, fmt.Sprintf("%s: installed packages: %s (kept the other lines)", e.Path, line))
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

	sku, err := t.familySKU(ctx, family, imageLists, sr)
	if err != nil {
		failed = append(failed, newestImageList(imageLists))
	}
	if sku.learned {
		// Images stored before the sku was known get it now, so that they are named.
		for _, im := range stored {
			if im.SKU == "" && !slices.ContainsFunc(b.Images, func(x NodeImage) bool { return x.Version == im.Version }) {
				b.Images = append(b.Images, im)
			}
		}
		b.setMeta(metaSKUPrefix+family, sku.sku)
	}
	for i := range b.Images {
		b.Images[i].SKU = sku.sku
	}
	// What the images carry is most of their bytes: stored now, not held in memory until
	// every family is read.
	if err := t.Store.PutContents(ctx, b.Images); err != nil {
		return b, entries, err
	}
	for i := range b.Images {
		b.Images[i].Contents = nil
	}
	if b.SecurityCounts, err = t.familyCounts(ctx, family, b.Images); err != nil {
		return b, entries, err
	}
	slices.SortFunc(isNew, CompareImageVersions)
	b.Events = t.announce(EventNodeImage, family, seeded, !seeded, isNew, newest)
	if !seeded {
		b.Seeded = []string{scope}
	}
	return b, failed, nil
}

// readUnwatchedSKUs learns the sku of every family upstream that is not watched, once
// (one raw download of its image list, no API request), so that a node pool's image
// name resolves to its family even where `families` leaves that family out: the pool is
// then "unwatched", not of an unknown family. A failure is a warning: these families
// are not what the cycle was asked to read.
func (t *Tracker) readUnwatchedSKUs(ctx context.Context, b *Batch, sr *SourceReport, all, watched map[string][]NoteEntry) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, familyWorkers)
	for family, entries := range all {
		if _, ok := watched[family]; ok {
			continue
		}
		var lists []NoteEntry
		for _, e := range entries {
			if strings.HasSuffix(e.Name, "-image-list.json") {
				lists = append(lists, e)
			}
		}
		if len(lists) == 0 {
			continue
		}
		if sku, err := t.Store.Meta(metaSKUPrefix + family); err != nil || sku != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sku, err := t.Notes.FetchSKU(ctx, newestImageList(lists))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sr.Warnings = append(sr.Warnings, fmt.Sprintf("the sku of %s (not watched): %v", family, err))
				return
			}
			b.setMeta(metaSKUPrefix+family, sku)
		}()
	}
	wg.Wait()
}

// UpstreamSKUs maps every family upstream listed (watched or not) and every family with
// stored images to its sku, "" while unknown.
func UpstreamSKUs(s Store) (map[string]string, error) {
	raw, err := s.Meta(metaNotesFamilies)
	if err != nil {
		return nil, err
	}
	var families []string
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &families); err != nil {
			return nil, fmt.Errorf("stored %s: %w", metaNotesFamilies, err)
		}
	}
	skus := make(map[string]string, len(families))
	for _, f := range families {
		if skus[f], err = s.Meta(metaSKUPrefix + f); err != nil {
			return nil, err
		}
	}
	return skus, nil
}

type familySKU struct {
	sku     string
	learned bool // read now, not stored before
}

// familySKU is the family's sku: stored, or read once from its newest image list. Only
// an image list that was read fails, and its error (naming the file) is in sr.
func (t *Tracker) familySKU(ctx context.Context, family string, imageLists []NoteEntry, sr *SourceReport) (familySKU, error) {
	sku, err := t.Store.Meta(metaSKUPrefix + family)
	if err != nil || sku != "" || len(imageLists) == 0 {
		return familySKU{sku: sku}, err
	}
	s, err := t.Notes.FetchSKU(ctx, newestImageList(imageLists))
	if err != nil {
		sr.Errors = append(sr.Errors, err.Error())
		return familySKU{}, err
	}
	return familySKU{sku: s, learned: true}, nil
}

// newestImageList prefers latest-image-list.json, then the highest version.
func newestImageList(lists []NoteEntry) NoteEntry {
	best := lists[0]
	for _, e := range lists[1:] {
		if best.Name == "latest-image-list.json" {
			break
		}
		v, _ := strings.CutSuffix(e.Name, "-image-list.json")
		bv, _ := strings.CutSuffix(best.Name, "-image-list.json")
		if e.Name == "latest-image-list.json" || CompareImageVersions(v, bv) > 0 {
			best = e
		}
	}
	return best
}

// fetchNotes downloads and parses notes concurrently, bounded across all families, each
// with the container images of its image list (lists, by image version) where there is
// one: a note whose list fails is retried whole, so that no image is stored half read.
func (t *Tracker) fetchNotes(ctx context.Context, todo []NoteEntry, lists map[string]NoteEntry) ([]readNote, []error) {
	notes := make([]readNote, len(todo))
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
			notes[i].VHDNotes, errs[i] = t.Notes.FetchNote(ctx, e)
			if list, ok := lists[e.Version]; ok && errs[i] == nil {
				notes[i].containerImages, errs[i] = t.Notes.FetchContainerImages(ctx, list)
			}
		}()
	}
	wg.Wait()
	return notes, errs
}

// readNote is a note read with its image list's container images.
type readNote struct {
	VHDNotes
	containerImages []string
}
