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

// NoteEntry is one file of a VHD notes family directory, as the listing gives it.
type NoteEntry struct {
	Family      string `json:"family"`
	Name        string `json:"name"`
	Version     string `json:"version,omitempty"` // the image version the name gives; "" for files that are not image notes
	Path        string `json:"path"`
	SHA         string `json:"sha"` // git blob SHA: changes when the file is edited in place
	Size        int    `json:"size,omitempty"`
	DownloadURL string `json:"download_url"`
	HTMLURL     string `json:"html_url"`
}

// NotesListing is every family directory under the notes path, listed at once. A
// family is a directory that holds `<version>.txt` image notes, named by its path below
// the notes path (AKSUbuntu/gen2/2404containerd). NotModified means nothing under the
// path changed since Commit, and Families is nil.
type NotesListing struct {
	URL         string // the request whose validator tells whether anything changed
	NotModified bool
	Validator   Validator
	Commit      string // the newest commit that touched the path
	Families    map[string][]NoteEntry
	// Warnings say what the listing could not see (a tree GitHub truncated, a directory
	// past the Contents API's 1,000 entries); the families listed are still right.
	Warnings []string
}

// ValidatorLookup returns the stored validator of a request URL.
type ValidatorLookup func(url string) (Validator, error)

// VHDNotesSource reads AgentBaker's node image notes.
type VHDNotesSource interface {
	// ListNotes lists every family, unless nothing changed since lastCommit.
	ListNotes(ctx context.Context, lookup ValidatorLookup, lastCommit string) (NotesListing, error)
	// FetchNote downloads and parses one `<version>.txt`; errors name the file.
	FetchNote(ctx context.Context, e NoteEntry) (VHDNotes, error)
	// FetchSKU reads the sku from one `*-image-list.json` of the family.
	FetchSKU(ctx context.Context, e NoteEntry) (string, error)
	// FetchContainerImages reads the container images one `<version>-image-list.json`
	// lists.
	FetchContainerImages(ctx context.Context, e NoteEntry) ([]string, error)
}

// ReleasePages is what a paginated release list brought: the releases of every page that
// changed, and the validators to keep for each page once they are processed.
type ReleasePages struct {
	Releases    []AKSRelease // parsed; FirstSeen/UpdatedAt left zero
	Validators  map[string]Validator
	NotModified bool // every page answered 304
}

// ReleaseQuery says how much of a release list to read. An idle cycle asks for page 1
// only; a full pass asks every page, for edits of older releases.
type ReleaseQuery struct {
	Full bool
	// Known reports whether a release is stored: without Full, the next page is read
	// only while every release of a page is new.
	Known func(tag string) bool
}

// AKSReleaseSource reads the GitHub releases of a repository.
type AKSReleaseSource interface {
	// Releases asks pages conditionally, with the validators lookup returns.
	Releases(ctx context.Context, repo string, lookup ValidatorLookup, q ReleaseQuery) (ReleasePages, error)
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

// SecurityFilter says which of Canonical's records to keep: the archive holds every
// release and every package Ubuntu ever had, nodewatch needs those its images carry.
type SecurityFilter struct {
	Ecosystem func(ecosystem string) bool // Ubuntu:22.04:LTS, Ubuntu:Pro:FIPS-updates:22.04:LTS ...
	Package   func(name string) bool      // a source or binary package name in use
}

// SecurityArchive is one read of Canonical's OSV archive.
type SecurityArchive struct {
	URL         string
	Validator   Validator
	NotModified bool
	Fixes       []PackageFix // of the ecosystems and packages kept
	Records     int          // records read
	// Unfixed counts affected packages kept by the filter that name no fixed version:
	// nothing is claimed fixed for them.
	Unfixed int
	// RecordErrors name the records that could not be read; the others carry on.
	RecordErrors []string
}

// UbuntuSecuritySource reads Canonical's security data (a tar.xz of OSV records).
type UbuntuSecuritySource interface {
	// Archive downloads the archive unless v still holds, and streams it through keep.
	Archive(ctx context.Context, v Validator, keep SecurityFilter) (SecurityArchive, error)
}
