package flatcar

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"strings"

	"github.com/mmcdole/gofeed/atom"
	"github.com/nodewatch/nodewatch/tracker"
)

// ParseFeed parses a channel's Atom feed, releases-{channel}.xml. err is non-nil only
// when the document as a whole cannot be read; an entry without a version title or a
// release date is skipped and reported in entryErrs.
//
// It uses gofeed's Atom parser rather than the universal gofeed.Parser: the universal
// translator stands <updated> in for a missing <published>, and Flatcar's <updated> is
// when the feed was regenerated, not when the release came out.
func ParseFeed(channel string, data []byte) (releases []tracker.FlatcarRelease, entryErrs []error, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("flatcar %s feed: empty document", channel)
	}
	var parser atom.Parser
	feed, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("flatcar %s feed: not a readable Atom feed: %w", channel, err)
	}

	seen := make(map[string]bool, len(feed.Entries))
	releases = make([]tracker.FlatcarRelease, 0, len(feed.Entries))
	for i, e := range feed.Entries {
		r, err := feedRelease(channel, e)
		if err == nil && seen[r.Version] {
			err = errors.New("duplicate version")
		}
		if err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("flatcar %s feed: entry %s: %w", channel, entryName(i, e), err))
			continue
		}
		seen[r.Version] = true
		if e.Content != nil {
			if r.Security, err = securityFromHTML(e.Content.Value, r.Version); err != nil {
				entryErrs = append(entryErrs, fmt.Errorf("flatcar %s feed: entry %s: %w", channel, entryName(i, e), err))
			}
		}
		releases = append(releases, r)
	}
	sortByVersion(releases)
	return releases, entryErrs, nil
}

func feedRelease(channel string, e *atom.Entry) (tracker.FlatcarRelease, error) {
	switch {
	case e.Title == "":
		return tracker.FlatcarRelease{}, errors.New("no <title>")
	case !isVersion(e.Title):
		return tracker.FlatcarRelease{}, fmt.Errorf("title %q is not a version", e.Title)
	case e.Published == "":
		return tracker.FlatcarRelease{}, errors.New("no <published> date")
	case e.PublishedParsed == nil:
		return tracker.FlatcarRelease{}, fmt.Errorf("unreadable <published> date %q", e.Published)
	}

	var content, notesURL string
	if e.Content != nil {
		content = e.Content.Value
	}
	for _, l := range e.Links {
		if l.Rel == "alternate" {
			notesURL = l.Href
			break
		}
	}
	return newRelease(channel, e.Title, *e.PublishedParsed, feedPackages(content), htmlList(content, "Architectures:"), notesURL), nil
}

// entryName names an entry in an error the way a person finds it in the feed.
func entryName(i int, e *atom.Entry) string {
	switch {
	case e.Title != "":
		return fmt.Sprintf("%q", e.Title)
	case e.ID != "":
		return fmt.Sprintf("id %q", e.ID)
	}
	return fmt.Sprintf("#%d", i+1)
}

// feedPackages reads the entry's package list, items such as "kernel 6.12.87".
func feedPackages(content string) map[string]string {
	items := htmlList(content, "Packages:")
	if len(items) == 0 {
		return nil
	}
	packages := make(map[string]string, len(items))
	for _, item := range items {
		name, version, ok := strings.Cut(item, " ")
		if ok && name != "" {
			packages[name] = strings.TrimSpace(version)
		}
	}
	return packages
}

// htmlList returns the items of the <ul> right after the last heading reading heading,
// whether the heading is an <h4> (newer entries) or a <p> (older ones). The last one is
// taken because the lists close the entry, after the free-form release notes.
func htmlList(content, heading string) []string {
	marker := ">" + heading + "</"
	i := strings.LastIndex(content, marker)
	if i < 0 {
		return nil
	}
	rest := content[i+len(marker):]
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return nil
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(rest[end+1:]), "<ul>")
	if !ok {
		return nil
	}
	rest, _, ok = strings.Cut(rest, "</ul>")
	if !ok {
		return nil
	}
	var items []string
	for {
		_, after, ok := strings.Cut(rest, "<li>")
		if !ok {
			return items
		}
		item, after, ok := strings.Cut(after, "</li>")
		if !ok {
			return items
		}
		items = append(items, strings.TrimSpace(html.UnescapeString(item)))
		rest = after
	}
}
