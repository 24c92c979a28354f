package tracker

// What an image carries beyond its kernel and components: the packages its note lists as
// installed (Ubuntu's `apt list --installed`, Azure Linux's `rpm -qa`), the container
// images its image list bakes in, and the updates a Windows note lists. Each is compared
// with the previous image of the family to say what changed.

// Package is one installed binary package, as the note prints it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"` // dpkg `[epoch:]upstream-revision`, or rpm `version-release`
	Arch    string `json:"arch,omitempty"`
}

// PackageListing says what a note holds of its installed packages.
type PackageListing string

const (
	// PackagesNone: the note has no installed-packages block (Windows, old notes).
	PackagesNone PackageListing = ""
	// PackagesListed: the block lists the packages.
	PackagesListed PackageListing = "listed"
	// PackagesStub: the block is `listInstalledPackages stub` (Flatcar, Azure Container
	// Linux): the build does not list them.
	PackagesStub PackageListing = "stub"
)

// WindowsUpdate is one update of a Windows note's `Installed QFEs`.
type WindowsUpdate struct {
	ID   string `json:"id"`   // KB5068861
	Kind string `json:"kind"` // "Security Update", "Update"
}

// ImageContents is what an image carries in detail: read from its note and image list,
// kept apart from the image (storage keeps it compactly) and read only by `show`,
// `diff` and `nodes`.
type ImageContents struct {
	Listing  PackageListing  `json:"listing"`
	Packages []Package       `json:"packages,omitempty"` // in the note's order
	Images   []string        `json:"images,omitempty"`   // container image references (repo:tag)
	Updates  []WindowsUpdate `json:"updates,omitempty"`
}

// PackageFix is one record's fix of one source package in one ecosystem, as Canonical's
// OSV data publishes it: the record names the source package and its fixed source
// version, and lists the binary packages built from it with their versions.
type PackageFix struct {
	Record    string            `json:"record"`    // USN-7162-1, UBUNTU-CVE-2024-11053
	CVEs      []string          `json:"cves"`      // the CVE ids the record fixes
	Ecosystem string            `json:"ecosystem"` // Ubuntu:22.04:LTS, Ubuntu:Pro:FIPS-updates:22.04:LTS
	Source    string            `json:"source"`    // source package
	Fixed     string            `json:"fixed"`     // fixed source version; never empty
	Binaries  map[string]string `json:"binaries"`  // binary package -> its version in the fix
	// In, when set, names per CVE the record that fixes it: the fixes of one source
	// version gathered from many records (see GroupFixes); Record is then "".
	In map[string]string `json:"in,omitempty"`
}
