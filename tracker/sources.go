package tracker

import (
	"context"
	"sync/atomic"
)

// RequestCounter is what one source's HTTP requests cost in a cycle; the HTTP layer
// counts into the one the request's context carries.
type RequestCounter struct {
	Requests    atomic.Int64
	NotModified atomic.Int64
	Failed      atomic.Int64 // no answer, or an answer of 4xx or 5xx
	BodyBytes   atomic.Int64
}

type counterKey struct{}

// WithRequestCounter makes requests made with ctx count into c.
func WithRequestCounter(ctx context.Context, c *RequestCounter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// RequestCounterFrom returns the counter ctx carries, or nil.
func RequestCounterFrom(ctx context.Context) *RequestCounter {
	c, _ := ctx.Value(counterKey{}).(*RequestCounter)
	return c
}

// NoteEntry is one file of a VHD notes family directory, as the Contents API lists it.
type NoteEntry struct {
	Name        string
	Version     string // the image version the name gives; "" for files that are not image notes
	Path        string
	SHA         string // git blob SHA: changes when the file is edited in place
	Size        int
	DownloadURL string
	HTMLURL     string
}

// FamilyListing is one family directory. NotModified means the listing is the one the
// validator was taken from, and Entries is nil.
type FamilyListing struct {
	URL         string
	NotModified bool
	Validator   Validator
	Entries     []NoteEntry
}

// ValidatorLookup returns the stored validator of a request URL.
type ValidatorLookup func(url string) (Validator, error)

// VHDNotesSource reads AgentBaker's node image notes.
type VHDNotesSource interface {
	ListFamily(ctx context.Context, family string, lookup ValidatorLookup) (FamilyListing, error)
	// FetchNote downloads and parses one `<version>.txt`; errors name the file.
	FetchNote(ctx context.Context, e NoteEntry) (VHDNotes, error)
	// FetchSKU reads the sku from one `*-image-list.json` of the family.
	FetchSKU(ctx context.Context, e NoteEntry) (string, error)
}

// ReleasePages is what a paginated release list brought: the releases of every page that
// changed, and the validators to keep for each page once they are processed.
type ReleasePages struct {
	Releases    []AKSRelease // parsed; FirstSeen/UpdatedAt left zero
	Validators  map[string]Validator
	NotModified bool // every page answered 304
}

// AKSReleaseSource reads the GitHub releases of a repository.
type AKSReleaseSource interface {
	// Releases asks every page conditionally, with the validators lookup returns.
	Releases(ctx context.Context, repo string, lookup ValidatorLookup) (ReleasePages, error)
}

// ChannelFeed is one Flatcar channel read: its releases, the entries that could not be
// read (each error names the entry), and the validator of the document.
type ChannelFeed struct {
	URL         string
	NotModified bool
	Validator   Validator
	Releases    []FlatcarRelease
	EntryErrors []error
}

// FlatcarSource reads Flatcar's release channels.
type FlatcarSource interface {
	Channel(ctx context.Context, channel string, lookup ValidatorLookup) (ChannelFeed, error)
}
