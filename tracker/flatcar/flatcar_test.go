package flatcar_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const baseURL = "https://www.flatcar.org"

var (
	worlds   = []string{"world-2026-02-11", "world-2026-04-30", "world-2026-05-31"}
	channels = []string{"alpha", "beta", "stable", "lts"}
)

func readFeed(tb testing.TB, world, channel string) []byte {
	tb.Helper()
	return readFixture(tb, world, "releases-feed", "releases-"+channel+".xml")
}

func readJSON(tb testing.TB, world, channel string) []byte {
	tb.Helper()
	return readFixture(tb, world, "releases-json", "releases-"+channel+".json")
}

func readFixture(tb testing.TB, world, dir, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(tb), world, "flatcar", dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// parseBoth parses a world's channel in both formats, failing on any error at all:
// the real files are all readable.
func parseBoth(t *testing.T, world, channel string) (feed, js map[string]tracker.FlatcarRelease) {
	t.Helper()
	fromFeed, entryErrs, err := flatcar.ParseFeed(channel, readFeed(t, world, channel))
	if err != nil || len(entryErrs) > 0 {
		t.Fatalf("ParseFeed(%s %s): err %v, entry errors %v", world, channel, err, entryErrs)
	}
	fromJSON, entryErrs, err := flatcar.ParseJSON(channel, baseURL, readJSON(t, world, channel))
	if err != nil || len(entryErrs) > 0 {
		t.Fatalf("ParseJSON(%s %s): err %v, entry errors %v", world, channel, err, entryErrs)
	}
	return byVersion(t, fromFeed), byVersion(t, fromJSON)
}

// byVersion indexes releases, checking on the way that they come sorted and unique.
func byVersion(t *testing.T, releases []tracker.FlatcarRelease) map[string]tracker.FlatcarRelease {
	t.Helper()
	m := make(map[string]tracker.FlatcarRelease, len(releases))
	for i, r := range releases {
		if i > 0 && tracker.CompareDotted(releases[i-1].Version, r.Version) >= 0 {
			t.Errorf("releases not in ascending version order: %s before %s", releases[i-1].Version, r.Version)
		}
		m[r.Version] = r
	}
	return m
}

func TestFeedAndJSONAgree(t *testing.T) {
	for _, world := range worlds {
		for _, channel := range channels {
			t.Run(world+"/"+channel, func(t *testing.T) {
				feed, js := parseBoth(t, world, channel)
				var diff []string
				for _, v := range slices.SortedFunc(maps.Keys(feed), tracker.CompareDotted) {
					if _, ok := js[v]; !ok {
						diff = append(diff, fmt.Sprintf("%s: in the feed only", v))
					}
				}
				for _, v := range slices.SortedFunc(maps.Keys(js), tracker.CompareDotted) {
					f, ok := feed[v]
					if !ok {
						diff = append(diff, fmt.Sprintf("%s: in the JSON only", v))
						continue
					}
					diff = append(diff, releaseDiff(v, "feed", f, "JSON", js[v])...)
				}
				if len(diff) > 0 {
					t.Errorf("feed and JSON differ (%d):\n%s", len(diff), strings.Join(diff, "\n"))
				}
			})
		}
	}
}

// releaseDiff lists the fields in which two readings of one release, named aName and
// bName, differ.
func releaseDiff(version, aName string, a tracker.FlatcarRelease, bName string, b tracker.FlatcarRelease) []string {
	var diff []string
	field := func(name string, x, y any) {
		diff = append(diff, fmt.Sprintf("%s: %s: %s %q != %s %q", version, name, aName, x, bName, y))
	}
	if a.Channel != b.Channel {
		field("Channel", a.Channel, b.Channel)
	}
	if !a.ReleasedAt.Equal(b.ReleasedAt) || a.ReleasedAt.Location() != b.ReleasedAt.Location() {
		field("ReleasedAt", a.ReleasedAt, b.ReleasedAt)
	}
	if a.Kernel != b.Kernel {
		field("Kernel", a.Kernel, b.Kernel)
	}
	if a.Containerd != b.Containerd {
		field("Containerd", a.Containerd, b.Containerd)
	}
	if a.Systemd != b.Systemd {
		field("Systemd", a.Systemd, b.Systemd)
	}
	if a.NotesURL != b.NotesURL {
		field("NotesURL", a.NotesURL, b.NotesURL)
	}
	if !maps.Equal(a.Packages, b.Packages) {
		field("Packages", a.Packages, b.Packages)
	}
	if !slices.Equal(a.Architectures, b.Architectures) {
		field("Architectures", a.Architectures, b.Architectures)
	}
	return diff
}

// TestReleaseFacts checks releases against what the files say, read with grep and sed.
func TestReleaseFacts(t *testing.T) {
	tests := []struct {
		world, channel, version string
		releasedAt              string
		packages                map[string]string
		architectures           []string
	}{
		{"world-2026-05-31", "alpha", "4694.0.0", "2026-05-11T18:20:17Z",
			map[string]string{"containerd": "2.2.1", "docker": "28.2.2", "ignition": "2.24.0", "kernel": "6.12.87", "systemd": "258"},
			[]string{"amd64", "arm64"}},
		// The first Flatcar release; its lists are headed <p>Packages:</p>.
		{"world-2026-02-11", "alpha", "1745.0.0", "2018-04-25T14:36:35Z",
			map[string]string{"docker": "18.03.0", "ignition": "0.24.0", "kernel": "4.15.15", "rkt": "1.29.0", "systemd": "238"},
			[]string{"amd64"}},
		// A <p> entry between <h4> ones.
		{"world-2026-02-11", "alpha", "3305.0.1", "2022-08-04T12:09:27Z",
			map[string]string{"containerd": "1.6.6", "docker": "20.10.17", "ignition": "2.14.0", "kernel": "5.15.58", "systemd": "250"},
			[]string{"amd64", "arm64"}},
		{"world-2026-02-11", "alpha", "4593.0.0", "2026-01-27T14:41:25Z",
			map[string]string{"containerd": "2.1.5", "docker": "28.0.4", "ignition": "2.24.0", "kernel": "6.12.66", "systemd": "257"},
			[]string{"amd64", "arm64"}},
		{"world-2026-04-30", "beta", "1722.2.0", "2018-04-25T14:36:40Z",
			map[string]string{"docker": "17.12.1", "ignition": "0.23.0", "kernel": "4.14.30", "rkt": "1.29.0", "systemd": "237"},
			[]string{"amd64"}},
		{"world-2026-02-11", "beta", "4547.1.0", "2026-01-27T14:42:03Z",
			map[string]string{"containerd": "2.1.5", "docker": "28.0.4", "ignition": "2.24.0", "kernel": "6.12.66", "systemd": "257"},
			[]string{"amd64", "arm64"}},
		{"world-2026-05-31", "beta", "4628.1.1", "2026-05-11T18:21:03Z",
			map[string]string{"containerd": "2.2.0", "docker": "28.2.2", "ignition": "2.24.0", "kernel": "6.12.87", "systemd": "258"},
			[]string{"amd64", "arm64"}},
		{"world-2026-02-11", "stable", "4459.2.3", "2026-01-27T14:42:39Z",
			map[string]string{"containerd": "2.0.7", "docker": "28.0.4", "ignition": "2.22.0", "kernel": "6.12.66", "systemd": "256"},
			[]string{"amd64", "arm64"}},
		{"world-2026-05-31", "stable", "4593.2.1", "2026-05-11T18:22:24Z",
			map[string]string{"containerd": "2.1.5", "docker": "28.0.4", "ignition": "2.24.0", "kernel": "6.12.87", "systemd": "257"},
			[]string{"amd64", "arm64"}},
		// The first LTS, <p> headed, no containerd.
		{"world-2026-02-11", "lts", "2605.10.1", "2020-12-16T12:01:59Z",
			map[string]string{"docker": "19.03.14", "ignition": "0.34.0", "kernel": "5.4.83", "systemd": "246"},
			[]string{"amd64"}},
		{"world-2026-04-30", "lts", "3033.3.4", "2022-08-04T12:04:45Z",
			map[string]string{"docker": "20.10.12", "ignition": "0.36.1", "kernel": "5.10.134", "systemd": "249"},
			[]string{"amd64", "arm64"}},
		{"world-2026-05-31", "lts", "4081.3.7", "2026-04-27T10:28:25Z",
			map[string]string{"containerd": "1.7.21", "docker": "26.1.0", "ignition": "2.19.0", "kernel": "6.6.127", "systemd": "255"},
			[]string{"amd64", "arm64"}},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.channel+"/"+tt.version, func(t *testing.T) {
			releasedAt, err := time.Parse(time.RFC3339, tt.releasedAt)
			if err != nil {
				t.Fatal(err)
			}
			want := tracker.FlatcarRelease{
				Channel:       tt.channel,
				Version:       tt.version,
				ReleasedAt:    releasedAt,
				Kernel:        tt.packages["kernel"],
				Containerd:    tt.packages["containerd"],
				Systemd:       tt.packages["systemd"],
				Packages:      tt.packages,
				Architectures: tt.architectures,
				NotesURL:      "https://www.flatcar.org/releases/#release-" + tt.version,
			}
			feed, js := parseBoth(t, tt.world, tt.channel)
			for format, releases := range map[string]map[string]tracker.FlatcarRelease{"feed": feed, "JSON": js} {
				got, ok := releases[tt.version]
				if !ok {
					t.Errorf("%s: %s missing", format, tt.version)
					continue
				}
				if diff := releaseDiff(tt.version, format, got, "want", want); len(diff) > 0 {
					t.Errorf("%s", strings.Join(diff, "\n"))
				}
				if !got.FirstSeen.IsZero() || !got.UpdatedAt.IsZero() {
					t.Errorf("%s: FirstSeen %v, UpdatedAt %v: want both zero", format, got.FirstSeen, got.UpdatedAt)
				}
			}
		})
	}
}

// TestVersionsAbsent: 4694.0.1 (alpha, 2026-05-27) was published on the site only on
// 2026-06-02, and 4694.0.0 (2026-05-11) came after the April snapshot.
func TestVersionsAbsent(t *testing.T) {
	tests := []struct{ world, version string }{
		{"world-2026-05-31", "4694.0.1"},
		{"world-2026-04-30", "4694.0.0"},
	}
	for _, tt := range tests {
		for _, channel := range channels {
			t.Run(tt.world+"/"+channel+"/"+tt.version, func(t *testing.T) {
				feed, js := parseBoth(t, tt.world, channel)
				if _, ok := feed[tt.version]; ok {
					t.Errorf("feed lists %s", tt.version)
				}
				if _, ok := js[tt.version]; ok {
					t.Errorf("JSON lists %s", tt.version)
				}
			})
		}
	}
}

// jsonVersionKey matches a version key of the pretty-printed JSON files, at the
// object's first level of indentation.
var jsonVersionKey = regexp.MustCompile(`(?m)^  "\d+\.\d+\.\d+": \{`)

// TestVersionCounts compares the count of releases with the count of `<entry>` and
// of version keys: the table holds `grep -c '<entry>'` and
// `grep -cE '^  "[0-9]+\.[0-9]+\.[0-9]+": \{'`; the test counts again on the bytes.
func TestVersionCounts(t *testing.T) {
	tests := []struct {
		world, channel string
		want           int
	}{
		{"world-2026-02-11", "alpha", 157},
		{"world-2026-02-11", "beta", 144},
		{"world-2026-02-11", "stable", 130},
		{"world-2026-02-11", "lts", 57},
		{"world-2026-04-30", "alpha", 159},
		{"world-2026-04-30", "beta", 146},
		{"world-2026-04-30", "stable", 132},
		{"world-2026-04-30", "lts", 58},
		{"world-2026-05-31", "alpha", 160},
		{"world-2026-05-31", "beta", 147},
		{"world-2026-05-31", "stable", 133},
		{"world-2026-05-31", "lts", 58},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.channel, func(t *testing.T) {
			if n := bytes.Count(readFeed(t, tt.world, tt.channel), []byte("<entry>")); n != tt.want {
				t.Errorf("feed has %d <entry>, table says %d", n, tt.want)
			}
			if n := len(jsonVersionKey.FindAllIndex(readJSON(t, tt.world, tt.channel), -1)); n != tt.want {
				t.Errorf("JSON has %d version keys, table says %d", n, tt.want)
			}
			feed, js := parseBoth(t, tt.world, tt.channel)
			if len(feed) != tt.want || len(js) != tt.want {
				t.Errorf("feed gives %d releases, JSON %d, want %d", len(feed), len(js), tt.want)
			}
		})
	}
}

func TestParseJSONSkipsAliases(t *testing.T) {
	tests := []struct {
		channel string
		aliases []string
	}{
		{"alpha", []string{"current"}},
		{"beta", []string{"current"}},
		{"stable", []string{"current"}},
		{"lts", []string{"current", "current-2021", "current-2022", "current-2023", "current-2024"}},
	}
	for _, world := range worlds {
		for _, tt := range tests {
			t.Run(world+"/"+tt.channel, func(t *testing.T) {
				data := readJSON(t, world, tt.channel)
				_, js := parseBoth(t, world, tt.channel)
				for _, alias := range tt.aliases {
					if !bytes.Contains(data, []byte(`"`+alias+`": {`)) {
						t.Fatalf("the file has no key %q: the test no longer tests it", alias)
					}
					if _, ok := js[alias]; ok {
						t.Errorf("alias %q returned as a version", alias)
					}
				}
				for v := range js {
					if strings.HasPrefix(v, "current") {
						t.Errorf("alias %q returned as a version", v)
					}
				}
			})
		}
	}
}

func TestParseJSONNotesURL(t *testing.T) {
	data := readJSON(t, "world-2026-05-31", "alpha")
	tests := []struct{ baseURL, want string }{
		{"https://www.flatcar.org", "https://www.flatcar.org/releases/#release-4694.0.0"},
		{"https://www.flatcar.org/", "https://www.flatcar.org/releases/#release-4694.0.0"},
		{"http://127.0.0.1:8080/mirror", "http://127.0.0.1:8080/mirror/releases/#release-4694.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.baseURL, func(t *testing.T) {
			releases, _, err := flatcar.ParseJSON("alpha", tt.baseURL, data)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(releases, func(r tracker.FlatcarRelease) bool { return r.Version == "4694.0.0" })
			if i < 0 {
				t.Fatal("4694.0.0 missing")
			}
			if releases[i].NotesURL != tt.want {
				t.Errorf("NotesURL %q, want %q", releases[i].NotesURL, tt.want)
			}
		})
	}
}

func TestParseFeedBadDocument(t *testing.T) {
	feed := readFeed(t, "world-2026-05-31", "alpha")
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"blank", []byte(" \n\t")},
		{"HTML page", []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>upstream<br>down</body></html>")},
		{"RSS", []byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>4694.0.0</title></item></channel></rss>`)},
		{"JSON", readJSON(t, "world-2026-05-31", "alpha")},
		{"truncated in an entry", feed[:len(feed)/2]},
		{"truncated before </feed>", bytes.TrimSuffix(bytes.TrimSpace(feed), []byte("</feed>"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			releases, entryErrs, err := flatcar.ParseFeed("alpha", tt.data)
			if err == nil {
				t.Fatalf("no error; %d releases, %d entry errors", len(releases), len(entryErrs))
			}
			if releases != nil || entryErrs != nil {
				t.Errorf("releases %d, entry errors %v alongside the error: want none", len(releases), entryErrs)
			}
			if !strings.Contains(err.Error(), "alpha") {
				t.Errorf("error %q does not name the channel", err)
			}
		})
	}
}

func TestParseJSONBadDocument(t *testing.T) {
	js := readJSON(t, "world-2026-05-31", "alpha")
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"blank", []byte(" \n")},
		{"HTML page", []byte("<html><body>Not Found</body></html>")},
		{"array", []byte(`[{"channel": "alpha"}]`)},
		{"string", []byte(`"4694.0.0"`)},
		{"Atom", readFeed(t, "world-2026-05-31", "alpha")},
		{"truncated in an entry", js[:len(js)/2]},
		{"truncated before }", bytes.TrimSuffix(bytes.TrimSpace(js), []byte("}"))},
		{"two objects", append(slices.Clip(js), js...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			releases, entryErrs, err := flatcar.ParseJSON("alpha", baseURL, tt.data)
			if err == nil {
				t.Fatalf("no error; %d releases, %d entry errors", len(releases), len(entryErrs))
			}
			if releases != nil || entryErrs != nil {
				t.Errorf("releases %d, entry errors %v alongside the error: want none", len(releases), entryErrs)
			}
			if !strings.Contains(err.Error(), "alpha") {
				t.Errorf("error %q does not name the channel", err)
			}
		})
	}
}

// TestParseFeedBrokenEntry breaks the 4694.0.0 entry of the real alpha feed.
func TestParseFeedBrokenEntry(t *testing.T) {
	feed := string(readFeed(t, "world-2026-05-31", "alpha"))
	const (
		title     = "<title>4694.0.0</title>"
		published = "<published>2026-05-11T18:20:17+00:00</published>"
		id        = "https://github.com/flatcar/scripts/releases/tag/alpha-4694.0.0"
	)
	for _, s := range []string{title, published, id} {
		if strings.Count(feed, s) != 1 {
			t.Fatalf("the feed holds %q %d times, want once", s, strings.Count(feed, s))
		}
	}
	tests := []struct {
		name, old, new string
		errNames       string // what the entry error must name
	}{
		{"title not a version", title, "<title>Alpha 4694.0.0</title>", `"Alpha 4694.0.0"`},
		{"no title", title, "", id},
		{"no published", published, "", `"4694.0.0"`},
		{"unreadable published", published, "<published>last Monday</published>", `"4694.0.0"`},
		{"duplicate", "<title>4669.0.0</title>", title, `"4694.0.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			releases, entryErrs, err := flatcar.ParseFeed("alpha", []byte(strings.Replace(feed, tt.old, tt.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if len(entryErrs) != 1 {
				t.Fatalf("entry errors %v, want one", entryErrs)
			}
			for _, s := range []string{"alpha", tt.errNames} {
				if !strings.Contains(entryErrs[0].Error(), s) {
					t.Errorf("entry error %q does not name %s", entryErrs[0], s)
				}
			}
			if len(releases) != 159 {
				t.Errorf("%d releases, want the other 159", len(releases))
			}
		})
	}
}

// TestParseJSONBrokenEntry breaks the 4694.0.0 entry of the real alpha JSON.
func TestParseJSONBrokenEntry(t *testing.T) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(readJSON(t, "world-2026-05-31", "alpha"), &doc); err != nil {
		t.Fatal(err)
	}
	const version = "4694.0.0"
	setField := func(name string, value any) func(map[string]any) any {
		return func(entry map[string]any) any {
			if value == nil {
				delete(entry, name)
			} else {
				entry[name] = value
			}
			return entry
		}
	}
	tests := []struct {
		name       string
		breakEntry func(map[string]any) any
	}{
		{"other channel", setField("channel", "beta")},
		{"no channel", setField("channel", nil)},
		{"unreadable date", setField("release_date", "2026-05-11T18:20:17Z")},
		{"no date", setField("release_date", nil)},
		{"date a number", setField("release_date", 1778523617)},
		{"major_software a list", setField("major_software", []string{"kernel 6.12.87"})},
		{"architectures a string", setField("architectures", "amd64")},
		{"entry a string", func(map[string]any) any { return "4669.0.0" }},
		{"entry null", func(map[string]any) any { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entry map[string]any
			if err := json.Unmarshal(doc[version], &entry); err != nil {
				t.Fatal(err)
			}
			broken, err := json.Marshal(tt.breakEntry(entry))
			if err != nil {
				t.Fatal(err)
			}
			modified := maps.Clone(doc)
			modified[version] = broken
			data, err := json.Marshal(modified)
			if err != nil {
				t.Fatal(err)
			}
			releases, entryErrs, err := flatcar.ParseJSON("alpha", baseURL, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(entryErrs) != 1 {
				t.Fatalf("entry errors %v, want one", entryErrs)
			}
			for _, s := range []string{"alpha", `"` + version + `"`} {
				if !strings.Contains(entryErrs[0].Error(), s) {
					t.Errorf("entry error %q does not name %s", entryErrs[0], s)
				}
			}
			if len(releases) != 159 || slices.ContainsFunc(releases, func(r tracker.FlatcarRelease) bool { return r.Version == version }) {
				t.Errorf("%d releases, want the other 159", len(releases))
			}
		})
	}
}

var strictVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// checkResult holds for any input: an unreadable document yields nothing else, and
// whatever is returned is a real, sorted release of the channel.
func checkResult(t *testing.T, channel string, releases []tracker.FlatcarRelease, entryErrs []error, err error) {
	if err != nil && (releases != nil || entryErrs != nil) {
		t.Errorf("releases %d, entry errors %d alongside error %v", len(releases), len(entryErrs), err)
	}
	for i, r := range releases {
		if !strictVersion.MatchString(r.Version) {
			t.Errorf("version %q", r.Version)
		}
		if r.Channel != channel || r.ReleasedAt.Location() != time.UTC || r.ReleasedAt.Nanosecond() != 0 {
			t.Errorf("release %+v", r)
		}
		if i > 0 && tracker.CompareDotted(releases[i-1].Version, r.Version) >= 0 {
			t.Errorf("%s before %s", releases[i-1].Version, r.Version)
		}
	}
}

// The fuzz seeds are kept to a few KB: the fuzzer minimises every new input it finds,
// and real entries with their release notes make that crawl.
func FuzzParseFeed(f *testing.F) {
	for _, world := range []string{"world-2026-02-11", "world-2026-05-31"} {
		// A well-formed feed: the real header and the two shortest real entries.
		parts := bytes.SplitAfter(readFeed(f, world, "lts"), []byte("</entry>"))
		entries := parts[1 : len(parts)-1]
		slices.SortFunc(entries, func(a, b []byte) int { return len(a) - len(b) })
		small := slices.Concat(parts[0], entries[0], entries[1], []byte("\n</feed>\n"))
		f.Add(small)
		f.Add(small[:len(small)*2/3])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		releases, entryErrs, err := flatcar.ParseFeed("lts", data)
		checkResult(t, "lts", releases, entryErrs, err)
	})
}

func FuzzParseJSON(f *testing.F) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(readJSON(f, "world-2026-05-31", "lts"), &doc); err != nil {
		f.Fatal(err)
	}
	// Two versions and two aliases of the real LTS file, without their release notes.
	small := make(map[string]map[string]any)
	for _, key := range []string{"2605.10.1", "4081.3.7", "current", "current-2024"} {
		var entry map[string]any
		if err := json.Unmarshal(doc[key], &entry); err != nil {
			f.Fatal(err)
		}
		delete(entry, "release_notes")
		small[key] = entry
	}
	data, err := json.MarshalIndent(small, "", "  ")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		releases, entryErrs, err := flatcar.ParseJSON("lts", baseURL, data)
		checkResult(t, "lts", releases, entryErrs, err)
	})
}

func BenchmarkParseFeed(b *testing.B) {
	data := readFeed(b, "world-2026-05-31", "alpha")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := flatcar.ParseFeed("alpha", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	data := readJSON(b, "world-2026-05-31", "alpha")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := flatcar.ParseJSON("alpha", baseURL, data); err != nil {
			b.Fatal(err)
		}
	}
}
