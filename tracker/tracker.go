// Package tracker is nodewatch's domain: what a node image, a Flatcar release and an AKS
// release are, how they link, and the cycle that reads the upstream sources into history.
//
// The types here are shared by every other package; the packages below tracker/ each
// wrap one outside thing (a parser of one upstream format, one HTTP API), and storage/
// keeps these types in bbolt.
package tracker

import (
	"context"
	"time"
)

// EventKind names what happened upstream.
type EventKind string

const (
	EventNodeImage      EventKind = "node_image"
	EventFlatcarRelease EventKind = "flatcar_release"
	EventAKSRelease     EventKind = "aks_release"
	// EventFamilyAdded: a family directory appeared upstream after the first listing.
	EventFamilyAdded EventKind = "family_added"
	// EventFamilyQuiet: a family fell silent (see FamilyStatus.Quiet).
	EventFamilyQuiet EventKind = "family_quiet"
)

// EventKinds is every kind, in the order people read about them.
var EventKinds = []EventKind{EventNodeImage, EventFlatcarRelease, EventAKSRelease, EventFamilyAdded, EventFamilyQuiet,
	EventPoolBehind, EventPoolCurrent}

// OS is what a node image's notes say about its operating system. Version is nil where
// the notes do not say (older Linux notes carry no os-release block).
type OS struct {
	Name       string  `json:"name"`
	Version    *string `json:"version"`
	ID         string  `json:"id,omitempty"`
	IDLike     string  `json:"id_like,omitempty"`
	VersionID  string  `json:"version_id,omitempty"`
	PrettyName string  `json:"pretty_name,omitempty"`
}

// VHDNotes is what one AgentBaker `<version>.txt` says, parsed. Kernel is "" when the
// notes name none (Windows, truncated notes): never invented.
type VHDNotes struct {
	OS         OS
	Kernel     string
	BuildTime  time.Time // "Starting build on ..." (Linux) or the build number's date (Windows); zero if absent
	BuildID    string    // "VSTS Build NUMBER" or Windows "Build Number"
	Commit     string    // AgentBaker commit the image was built from
	Components map[string][]string
	// Listing, Packages and Updates are what the note lists as installed; PackageErrors
	// quote the lines of the package list that did not parse (the rest are kept).
	Listing       PackageListing
	Packages      []Package
	PackageErrors []string
	Updates       []WindowsUpdate
}

// NodeImage is one AKS node image of one family, as stored.
type NodeImage struct {
	Family     string              `json:"family"`
	Version    string              `json:"version"`
	SKU        string              `json:"sku,omitempty"`
	OS         OS                  `json:"os"`
	Kernel     string              `json:"kernel,omitempty"`
	BuildTime  time.Time           `json:"build_time,omitzero"`
	BuildID    string              `json:"build_id,omitempty"`
	Commit     string              `json:"commit,omitempty"`
	Components map[string][]string `json:"components,omitempty"`
	NotesURL   string              `json:"notes_url"`
	// NotesSHA is the git blob SHA the Contents API listed: a changed SHA means the note
	// was edited in place and is read again.
	NotesSHA  string    `json:"notes_sha,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	UpdatedAt time.Time `json:"updated_at"`
	// Contents is what the note and image list list, when a cycle read them: stored apart
	// (Store.Contents) and never read back with the image.
	Contents *ImageContents `json:"-"`
	// SecurityCounts is what an Ubuntu image fixes and lacks, counted by the cycle from
	// Canonical's records and stored apart; nil until counted.
	SecurityCounts *SecurityCounts `json:"-"`
}

// IsFlatcar reports whether the image's OS version is a Flatcar release. Azure Container
// Linux says ID_LIKE=flatcar with its own ID: that is not a Flatcar release.
func (i NodeImage) IsFlatcar() bool { return i.OS.ID == "flatcar" }

// FlatcarRelease is one release of one Flatcar channel.
type FlatcarRelease struct {
	Channel       string            `json:"channel"`
	Version       string            `json:"version"`
	ReleasedAt    time.Time         `json:"released_at"`
	Kernel        string            `json:"kernel,omitempty"`
	Containerd    string            `json:"containerd,omitempty"`
	Systemd       string            `json:"systemd,omitempty"`
	Packages      map[string]string `json:"packages,omitempty"`
	Security      []Advisory        `json:"security,omitempty"`
	Architectures []string          `json:"architectures,omitempty"`
	NotesURL      string            `json:"notes_url,omitempty"`
	FirstSeen     time.Time         `json:"first_seen"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// Advisory is one security fix a release or package update announces: a CVE, a GHSA id
// or another upstream reference, with the package it is in.
type Advisory struct {
	ID      string `json:"id"`
	Package string `json:"package"`
	In      string `json:"in,omitempty"` // the release or notice that fixes it
}

// AKSImageRef is one node image version an AKS release note names.
type AKSImageRef struct {
	OS        string `json:"os"`
	Version   string `json:"version"`
	NotesPath string `json:"notes_path,omitempty"`
}

// AKSRelease is one GitHub release of Azure/AKS.
type AKSRelease struct {
	Repo        string        `json:"repo"`
	Tag         string        `json:"tag"`
	Name        string        `json:"name,omitempty"`
	PublishedAt time.Time     `json:"published_at"`
	URL         string        `json:"url"`
	NodeImages  []AKSImageRef `json:"node_images"`
	// BodySHA256 tells an edit in place from an unchanged body without keeping the body.
	BodySHA256 string    `json:"body_sha256,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Event is something new upstream, recorded once under its Key
// (`<event>:<family or channel or repo>:<version or tag>`).
type Event struct {
	Key       string    `json:"key"`
	Kind      EventKind `json:"kind"`
	Subject   string    `json:"subject"` // family, channel or repo
	Version   string    `json:"version"` // image version, Flatcar version or AKS tag
	CreatedAt time.Time `json:"created_at"`
}

// EventKey builds the contract's event key.
func EventKey(kind EventKind, subject, version string) string {
	return string(kind) + ":" + subject + ":" + version
}

// Validator is what a conditional HTTP request sends back: the ETag and Last-Modified
// of the last body that was fully processed.
type Validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Pages is how many pages the resource had, for paginated GitHub lists whose later
	// pages answer 304 and so carry no Link header to follow.
	Pages int `json:"pages,omitempty"`
}

// IsZero reports whether there is nothing to send.
func (v Validator) IsZero() bool { return v.ETag == "" && v.LastModified == "" }

// Batch is everything one source brought in one cycle, applied to the store in one
// transaction so that a crash leaves either all of it or none.
type Batch struct {
	Images          []NodeImage
	FlatcarReleases []FlatcarRelease
	AKSReleases     []AKSRelease
	Events          []Event
	// Validators are keyed by the request URL.
	Validators map[string]Validator
	// Seeded names the scopes (see ScopeKey) whose first successful read this batch is.
	Seeded []string
	// Meta holds small per-scope facts, such as the SKU of a family.
	Meta map[string]string
	// PoolImages are pools seen running images; a pool and image stored already keeps
	// its FirstSeen.
	PoolImages []PoolImage
	// Deliveries are the outbox entries of Events. Apply keeps of each only the events
	// that are new to the store, and adds a digest's events to its stored entry.
	Deliveries []Delivery
	// PackageFixes, when not nil, replace every stored fix (a read of Canonical's data).
	PackageFixes *[]PackageFix
	// SecurityCounts are Ubuntu images' counts, by family and version.
	SecurityCounts map[[2]string]SecurityCounts
}

// ScopeKey names what `first_run` applies to: one family, channel or release repo.
func ScopeKey(kind EventKind, subject string) string { return string(kind) + ":" + subject }

// Store is the history nodewatch keeps. storage/ implements it on bbolt.
type Store interface {
	// Apply writes a batch atomically. Items already stored keep their FirstSeen; an
	// event whose key is stored already is not stored again. It returns the events that
	// were new to the store.
	Apply(ctx context.Context, b Batch) ([]Event, error)

	Validator(url string) (Validator, error)
	Seeded(scope string) (bool, error)
	Meta(key string) (string, error)

	Images(family string) ([]NodeImage, error) // "" for every family
	Image(family, version string) (NodeImage, bool, error)
	// ImageVersions is every stored image's version by family, read from the keys
	// alone: what a query needs to know which families to read.
	ImageVersions() (map[string][]string, error)
	// Contents is what an image carries in detail; nil where nothing was stored.
	Contents(family, version string) (*ImageContents, error)
	// PutContents stores the Contents of images, ahead of the batch that stores the
	// images: a family's packages are written as it is read, not held for the whole
	// listing's transaction. Contents of an image the batch then does not store are
	// harmless: the next read writes them again.
	PutContents(ctx context.Context, images []NodeImage) error
	// PackageNames is every package name some stored image carries.
	PackageNames() ([]string, error)
	// PackageFixes is the stored fixes of an ecosystem's source packages whose fixes list
	// a binary package of keys (KernelPackageKey).
	PackageFixes(ecosystem string, keys []string) ([]PackageFix, error)
	FlatcarReleases(channel string) ([]FlatcarRelease, error) // "" for every channel
	AKSReleases(repo string) ([]AKSRelease, error)            // "" for every repo
	Events(since time.Time) ([]Event, error)
	// PoolImages is the upgrade history of a pool (`<cluster>/<pool>`; "" for every
	// pool), oldest first.
	PoolImages(pool string) ([]PoolImage, error)
	Event(key string) (Event, bool, error)

	// The outbox: every delivery, the pending ones due by now (oldest first), and the
	// outcome of an attempt.
	Deliveries() ([]Delivery, error)
	DueDeliveries(now time.Time) ([]Delivery, error)
	UpdateDelivery(ctx context.Context, d Delivery) error

	// RecordCycle keeps the outcome of one cycle (the last one is what `check` and
	// /readyz report).
	RecordCycle(ctx context.Context, c CycleReport) error
	LastCycle() (CycleReport, bool, error)
}

// CycleReport is what one cycle did, per source.
type CycleReport struct {
	Started    time.Time      `json:"started"`
	Finished   time.Time      `json:"finished"`
	DurationMS int64          `json:"duration_ms"`
	Sources    []SourceReport `json:"sources"`
}

// SourceReport is one source's part of a cycle.
type SourceReport struct {
	Source         string   `json:"source"` // e.g. "vhd_notes:AKSFlatcar/gen2", "flatcar:alpha", "aks_releases:Azure/AKS"
	Requests       int      `json:"requests"`
	NotModified    int      `json:"not_modified"`
	FailedRequests int      `json:"failed_requests"`
	BodyBytes      int64    `json:"body_bytes"`
	NewItems       int      `json:"new_items"`
	UpdatedItems   int      `json:"updated_items"`
	Events         int      `json:"events"`
	Errors         []string `json:"errors,omitempty"`
	// Warnings are what a source could not see without failing (a truncated tree).
	Warnings []string `json:"warnings,omitempty"`
}

// Failed reports whether the source had any error.
func (r SourceReport) Failed() bool { return len(r.Errors) > 0 }
