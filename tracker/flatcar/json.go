package flatcar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
)

// jsonDateLayout is how releases-{channel}.json writes release_date:
// "2026-05-11 18:20:17 +0000".
const jsonDateLayout = "2006-01-02 15:04:05 -0700"

// jsonRelease is one value of releases-{channel}.json; of release_notes nodewatch keeps
// only the security fixes, linking to the notes for the rest.
type jsonRelease struct {
	Channel       string              `json:"channel"`
	Architectures []string            `json:"architectures"`
	ReleaseDate   string              `json:"release_date"`
	MajorSoftware map[string][]string `json:"major_software"`
	ReleaseNotes  string              `json:"release_notes"`
}

// ParseJSON parses a channel's releases-{channel}.json. Keys that are not versions
// (current, current-2024, ...) are aliases of a version listed under its own key, and
// are skipped. err is non-nil only when the document as a whole cannot be read; an
// entry of another channel or of the wrong shape is skipped and reported in entryErrs.
// baseURL builds NotesURL as the Atom feed's entry links read:
// {baseURL}/releases/#release-{version}.
func ParseJSON(channel, baseURL string, data []byte) (releases []tracker.FlatcarRelease, entryErrs []error, err error) {
	fail := func(err error) ([]tracker.FlatcarRelease, []error, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, fmt.Errorf("flatcar %s JSON: %w", channel, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("flatcar %s JSON: empty document", channel)
	}

	// The document is decoded one entry at a time so that an entry of the wrong shape
	// costs that entry only.
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return fail(err)
	} else if tok != json.Delim('{') {
		return fail(fmt.Errorf("document is %v, not an object of releases", tok))
	}
	notesBase := strings.TrimSuffix(baseURL, "/") + "/releases/#release-"
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key := tok.(string) // inside an object, the decoder yields keys as strings
		if !isVersion(key) {
			var alias json.RawMessage
			if err := dec.Decode(&alias); err != nil {
				return fail(err)
			}
			continue
		}
		var jr jsonRelease
		if err := dec.Decode(&jr); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return fail(err)
			}
			where := typeErr.Field
			if where == "" {
				where = "entry"
			}
			entryErrs = append(entryErrs, fmt.Errorf("flatcar %s JSON: key %q: %s is a JSON %s", channel, key, where, typeErr.Value))
			continue
		}
		r, err := jsonReleaseOf(channel, key, notesBase+key, jr)
		if err == nil && seen[key] {
			err = errors.New("duplicate version")
		}
		if err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("flatcar %s JSON: key %q: %w", channel, key, err))
			continue
		}
		seen[key] = true
		if r.Security, err = securityFromMarkdown(jr.ReleaseNotes, key); err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("flatcar %s JSON: key %q: %w", channel, key, err))
		}
		releases = append(releases, r)
	}
	if _, err := dec.Token(); err != nil { // the closing brace, or why it is not there
		return fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("data after the object of releases"))
	}
	sortByVersion(releases)
	return releases, entryErrs, nil
}

func jsonReleaseOf(channel, version, notesURL string, jr jsonRelease) (tracker.FlatcarRelease, error) {
	if jr.Channel != channel {
		return tracker.FlatcarRelease{}, fmt.Errorf("channel %q, want %q", jr.Channel, channel)
	}
	if jr.ReleaseDate == "" {
		return tracker.FlatcarRelease{}, errors.New("no release_date")
	}
	releasedAt, err := time.Parse(jsonDateLayout, jr.ReleaseDate)
	if err != nil {
		return tracker.FlatcarRelease{}, fmt.Errorf("unreadable release_date %q", jr.ReleaseDate)
	}
	var packages map[string]string
	for name, versions := range jr.MajorSoftware {
		if len(versions) == 0 {
			continue
		}
		if packages == nil {
			packages = make(map[string]string, len(jr.MajorSoftware))
		}
		packages[name] = versions[0]
	}
	return newRelease(channel, version, releasedAt, packages, jr.Architectures, notesURL), nil
}
