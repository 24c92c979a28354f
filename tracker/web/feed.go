package web

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// feedEntries bounds the feed: readers poll it, and older events are in the CLI.
const feedEntries = 100

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	Title    string       `xml:"title"`
	ID       string       `xml:"id"`
	Updated  string       `xml:"updated"`
	Link     *atomLink    `xml:"link"`
	Category atomCategory `xml:"category"`
	Summary  string       `xml:"summary"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

func (s *server) feed(w http.ResponseWriter, _ *http.Request) {
	events, err := s.Store.Events(time.Time{})
	if err != nil {
		writeText(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	// The store lists events oldest first; a cycle stamps its events alike, so the
	// reversed order breaks those ties newest first too.
	slices.Reverse(events)
	slices.SortStableFunc(events, func(a, b tracker.Event) int { return b.CreatedAt.Compare(a.CreatedAt) })
	events = events[:min(len(events), feedEntries)]
	msgs, err := tracker.Messages(s.Store, events)
	if err != nil {
		writeText(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	f := atomFeed{
		Title:   "nodewatch events",
		ID:      "urn:nodewatch:events",
		Updated: s.Now().UTC().Format(time.RFC3339),
		Author:  atomAuthor{Name: "nodewatch"},
	}
	if len(events) > 0 {
		f.Updated = events[0].CreatedAt.UTC().Format(time.RFC3339)
	}
	for _, m := range msgs {
		summary := m.Summary()
		e := atomEntry{
			Title:    entryTitle(summary),
			ID:       "urn:nodewatch:event:" + m.Event.Key,
			Updated:  m.Event.CreatedAt.UTC().Format(time.RFC3339),
			Category: atomCategory{Term: string(m.Event.Kind)},
			Summary:  summary,
		}
		if u := messageURL(m); u != "" {
			e.Link = &atomLink{Href: u}
		}
		f.Entries = append(f.Entries, e)
	}
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		writeText(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	w.Write(out)
	w.Write([]byte("\n"))
}

// entryTitle is a summary's first clause: what changed and the link follow in the
// summary, and a reader's list needs one short line.
func entryTitle(summary string) string {
	title, _, _ := strings.Cut(summary, "; ")
	return shorten(title, 160)
}

// messageURL is where a person reads more: the image's notes, the Flatcar release notes
// or the AKS release. Only http(s): the URLs come from upstream.
func messageURL(m tracker.Message) string {
	var u string
	switch {
	case m.Image != nil:
		u = m.Image.NotesURL
	case m.Flatcar != nil:
		u = m.Flatcar.NotesURL
	case m.AKS != nil:
		u = m.AKS.URL
	}
	return webURL(u)
}

// webURL returns u if it is an absolute http(s) URL, else "".
func webURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return u
}
