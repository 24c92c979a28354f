package flatcar

// What the external tests read of the security section of a markdown note.

// SecuritySection says whether a note has a security section, whether it says there
// are no changes, and the headings that opened it.
func SecuritySection(notes, version string) (found, said bool, headings []string) {
	s := securityOf(markdownBlocks(notes), version)
	return s.found, s.said, s.headings
}

var (
	SecurityFromMarkdown = securityFromMarkdown
	IsVersion            = isVersion
)
