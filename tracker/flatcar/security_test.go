package flatcar_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/flatcar"
)

// releaseNotes returns the release_notes of every version key of a JSON file.
func releaseNotes(tb testing.TB, data []byte) map[string]string {
	tb.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatal(err)
	}
	notes := make(map[string]string)
	for k, raw := range doc {
		if !flatcar.IsVersion(k) {
			continue
		}
		var r struct {
			Notes string `json:"release_notes"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			tb.Fatal(err)
		}
		notes[k] = r.Notes
	}
	return notes
}

// parseChannel parses one channel of one world in both formats, failing on any error.
func parseChannel(t *testing.T, world, channel string, js, feed []byte) (fromJSON, fromFeed map[string]tracker.FlatcarRelease) {
	t.Helper()
	jr, entryErrs, err := flatcar.ParseJSON(channel, baseURL, js)
	if err != nil || len(entryErrs) > 0 {
		t.Fatalf("flatcar.ParseJSON(%s %s): err %v, entry errors %v", world, channel, err, entryErrs)
	}
	fr, entryErrs, err := flatcar.ParseFeed(channel, feed)
	if err != nil || len(entryErrs) > 0 {
		t.Fatalf("flatcar.ParseFeed(%s %s): err %v, entry errors %v", world, channel, err, entryErrs)
	}
	index := func(rs []tracker.FlatcarRelease) map[string]tracker.FlatcarRelease {
		m := make(map[string]tracker.FlatcarRelease, len(rs))
		for _, r := range rs {
			m[r.Version] = r
		}
		return m
	}
	return index(jr), index(fr)
}

// TestSecurityFeedAndJSONAgree parses every release of the four channels of the three
// worlds in both formats, and checks that they read the same advisories.
func TestSecurityFeedAndJSONAgree(t *testing.T) {
	type counts struct{ releases, compared, sections, withAdvisories, advisories int }
	total := map[string]*counts{}
	headings := map[string]int{} // as written in the JSON, over the May world
	for _, world := range worlds {
		c := &counts{}
		total[world] = c
		for _, channel := range channels {
			t.Run(world+"/"+channel, func(t *testing.T) {
				js := readJSON(t, world, channel)
				fromJSON, fromFeed := parseChannel(t, world, channel, js, readFeed(t, world, channel))
				notes := releaseNotes(t, js)
				c.releases += len(fromJSON)
				for _, v := range slices.SortedFunc(maps.Keys(fromJSON), tracker.CompareDotted) {
					r := fromJSON[v]
					found, said, secHeadings := flatcar.SecuritySection(notes[v], v)
					if found {
						c.sections++
						if world == "world-2026-05-31" {
							for _, h := range secHeadings {
								headings[h]++
							}
						}
					}
					if found && len(r.Security) == 0 && !said {
						t.Errorf("%s: security section %q but no advisory", v, secHeadings)
					}
					if len(r.Security) > 0 {
						c.withAdvisories++
					}
					c.advisories += len(r.Security)
					for _, a := range r.Security {
						if a.ID == "" || a.In != v {
							t.Errorf("%s: advisory %+v", v, a)
						}
					}
					f, ok := fromFeed[v]
					if !ok {
						continue // the feed keeps fewer releases than the JSON
					}
					c.compared++
					if !slices.Equal(r.Security, f.Security) {
						t.Errorf("%s: JSON and feed differ:\n%s", v, advisoryDiff("JSON", r.Security, "feed", f.Security))
					}
				}
			})
		}
	}
	for _, world := range worlds {
		c := total[world]
		t.Logf("%s: %d releases, %d in both formats compared, %d with a security section, %d with advisories, %d advisories",
			world, c.releases, c.compared, c.sections, c.withAdvisories, c.advisories)
	}
	for _, h := range slices.SortedFunc(maps.Keys(headings), func(a, b string) int { return headings[b] - headings[a] }) {
		t.Logf("heading %4d %q", headings[h], h)
	}
}

func advisoryDiff(aName string, a []tracker.Advisory, bName string, b []tracker.Advisory) string {
	var sb strings.Builder
	for i := range max(len(a), len(b)) {
		var x, y tracker.Advisory
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "  #%d: %s %+v, %s %+v\n", i, aName, x, bName, y)
		}
	}
	return sb.String()
}

func adv(pkg, version string, ids ...string) []tracker.Advisory {
	var as []tracker.Advisory
	for _, id := range ids {
		as = append(as, tracker.Advisory{ID: id, Package: pkg, In: version})
	}
	return as
}

// TestSecurityFacts checks releases of the May world against their notes, read with
// grep: each case holds either the whole list (exact) or its first advisories.
func TestSecurityFacts(t *testing.T) {
	const world = "world-2026-05-31"
	tests := []struct {
		name, channel, version string
		exact                  bool
		want                   []tracker.Advisory
		absent                 []string // ids of a later "Changes since" part
	}{
		{name: "first Linux CVEs", channel: "alpha", version: "4694.0.0",
			want: adv("Linux", "4694.0.0", "CVE-2026-31733", "CVE-2026-31689", "CVE-2026-31669", "CVE-2026-31672")},
		{name: "GHSA id", channel: "alpha", version: "2801.0.1", exact: true, want: slices.Concat(
			adv("Linux", "2801.0.1", "CVE-2020-25639", "CVE-2021-27365", "CVE-2021-27364", "CVE-2021-27363", "CVE-2021-28038", "CVE-2021-28039"),
			adv("containerd", "2801.0.1", "GHSA-6g2q-w5j3-fwh4"))},
		{name: "nested bullets under packages", channel: "alpha", version: "2723.0.0", exact: true, want: slices.Concat(
			adv("bsdiff", "2723.0.0", "CVE-2014-9862"),
			adv("containerd", "2723.0.0", "CVE-2020-15257"),
			adv("pam", "2723.0.0", "CVE-2020-27780"),
			adv("Linux", "2723.0.0", "CVE-2020-29661", "CVE-2020-29660", "CVE-2020-27830", "CVE-2020-28588", "CVE-2020-27835"))},
		{name: "bare CVE ids", channel: "alpha", version: "2942.0.0", want: slices.Concat(
			adv("containerd", "2942.0.0", "CVE-2021-32760"),
			adv("curl", "2942.0.0", "CVE-2021-22922", "CVE-2021-22923", "CVE-2021-22924", "CVE-2021-22925", "CVE-2021-22926"))},
		{name: "the oldest style, Fix PACKAGE ...", channel: "alpha", version: "1745.0.0", exact: true, want: slices.Concat(
			adv("curl", "1745.0.0", "CVE-2018-1000005", "CVE-2018-1000007", "CVE-2018-1000120"),
			adv("glibc", "1745.0.0", "CVE-2017-14062", "CVE-2017-15670", "CVE-2017-15671", "CVE-2017-15804", "CVE-2017-16997", "CVE-2018-1000001", "CVE-2018-6485"))},
		{name: "later Changes compared to part not counted", channel: "beta", version: "3732.1.0", exact: true,
			want: adv("Linux", "3732.1.0", "CVE-2023-42755"), absent: []string{"CVE-2023-29402", "CVE-2020-36516"}},
		{name: "later Changes since part not counted", channel: "lts", version: "4081.3.0", exact: true,
			want: nil, absent: []string{"CVE-2024-57876"}},
		{name: "a section saying no changes", channel: "beta", version: "2705.1.0", exact: true, want: nil},
		{name: "no security section", channel: "alpha", version: "4012.0.0", exact: true, want: nil},
	}
	parsed := map[string]map[string]tracker.FlatcarRelease{}
	for _, channel := range channels {
		fromJSON, fromFeed := parseChannel(t, world, channel, readJSON(t, world, channel), readFeed(t, world, channel))
		parsed[channel+" JSON"], parsed[channel+" feed"] = fromJSON, fromFeed
	}
	for _, tt := range tests {
		for _, format := range []string{"JSON", "feed"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				r, ok := parsed[tt.channel+" "+format][tt.version]
				if !ok {
					t.Fatalf("%s %s not parsed", tt.channel, tt.version)
				}
				got := r.Security
				if !tt.exact && len(got) > len(tt.want) {
					got = got[:len(tt.want)]
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s %s: got\n%s", tt.channel, tt.version, advisoryDiff("got", got, "want", tt.want))
				}
				for _, a := range r.Security {
					if slices.Contains(tt.absent, a.ID) {
						t.Errorf("%s %s: %s of a later part counted", tt.channel, tt.version, a.ID)
					}
				}
			})
		}
	}
	// ids that are not CVEs, wherever they are in the list
	for _, c := range []struct {
		channel, version string
		want             tracker.Advisory
	}{
		{"alpha", "3115.0.0", tracker.Advisory{ID: "libarchive-1565", Package: "libarchive", In: "3115.0.0"}},
		{"alpha", "3115.0.0", tracker.Advisory{ID: "libarchive-1566", Package: "libarchive", In: "3115.0.0"}},
		{"alpha", "3200.0.0", tracker.Advisory{ID: "GNUTLS-SA-2022-01-17", Package: "gnutls", In: "3200.0.0"}},
		{"alpha", "4426.0.0", tracker.Advisory{ID: "GHSA-63p5-mwg2-787v", Package: "vim", In: "4426.0.0"}},
		{"alpha", "3374.0.0", tracker.Advisory{ID: "Gentoo#866237", Package: "GNU Libtasn1", In: "3374.0.0"}},
		{"alpha", "3493.0.0", tracker.Advisory{ID: "https://discourse.gnome.org/t/multiple-fixes-for-gvariant-normalisation-issues-in-glib/12835", Package: "glib", In: "3493.0.0"}},
		{"alpha", "4344.0.0", tracker.Advisory{ID: "CVE-2025-0938", Package: "azure, dev, gce, sysext-python: python", In: "4344.0.0"}},
	} {
		for _, format := range []string{"JSON", "feed"} {
			if !slices.Contains(parsed[c.channel+" "+format][c.version].Security, c.want) {
				t.Errorf("%s %s (%s): no %+v", c.channel, c.version, format, c.want)
			}
		}
	}
}

var mdSecurityHeading = regexp.MustCompile(`(^|[^#])#### Security fixes:`)

// TestSecurityNewHeading changes only the heading of the security sections of a real
// channel, in both formats, to spellings nobody wrote before: every release reads the
// same advisories.
func TestSecurityNewHeading(t *testing.T) {
	const world, channel = "world-2026-05-31", "alpha"
	js, feed := readJSON(t, world, channel), readFeed(t, world, channel)
	wantJSON, wantFeed := parseChannel(t, world, channel, js, feed)
	for _, h := range []struct{ md, html string }{
		{"### Security patches", "<h3>Security patches</h3>"},
		{"**Fixed vulnerabilities:**", "<p><strong>Fixed vulnerabilities:</strong></p>"},
		{"CVEs addressed:", "<p>CVEs addressed:</p>"},
	} {
		t.Run(h.md, func(t *testing.T) {
			// "#### Security fixes:", not the end of "##### Security fixes:"
			replaced := len(mdSecurityHeading.FindAllStringIndex(string(js), -1))
			js := mdSecurityHeading.ReplaceAllString(string(js), "${1}"+h.md)
			feed := strings.ReplaceAll(string(feed), "<h4>Security fixes:</h4>", h.html)
			if js == string(readJSON(t, world, channel)) || feed == string(readFeed(t, world, channel)) {
				t.Fatal("no heading replaced")
			}
			gotJSON, gotFeed := parseChannel(t, world, channel, []byte(js), []byte(feed))
			n := 0
			for v, r := range wantJSON {
				if !slices.Equal(gotJSON[v].Security, r.Security) {
					t.Errorf("JSON %s: %s", v, advisoryDiff("got", gotJSON[v].Security, "want", r.Security))
				}
				if !slices.Equal(gotFeed[v].Security, wantFeed[v].Security) {
					t.Errorf("feed %s: %s", v, advisoryDiff("got", gotFeed[v].Security, "want", wantFeed[v].Security))
				}
				n += len(r.Security)
			}
			if got := len(gotJSON["4694.0.0"].Security); got < 100 {
				t.Errorf("4694.0.0: %d advisories", got)
			}
			t.Logf("%d headings replaced; %d advisories read, as before", replaced, n)
		})
	}
}

// TestSecurityUnreadable gives a real release a security section whose items name no
// id: an entry error names the channel and the version, the release is still returned.
func TestSecurityUnreadable(t *testing.T) {
	const world, channel, version = "world-2026-05-31", "alpha", "4694.0.0"
	notes := releaseNotes(t, readJSON(t, world, channel))[version]
	start := strings.Index(notes, "#### Security fixes:")
	end := strings.Index(notes, "#### Changes:")
	if start < 0 || end < start {
		t.Fatal("4694.0.0 changed")
	}
	broken := notes[:start] + "#### Security fixes:\n\n• Linux: see the kernel's announcement\n\n " + notes[end:]
	doc, err := json.Marshal(map[string]any{version: map[string]any{
		"channel": channel, "release_date": "2026-05-11 18:20:17 +0000", "release_notes": broken}})
	if err != nil {
		t.Fatal(err)
	}
	releases, entryErrs, err := flatcar.ParseJSON(channel, baseURL, doc)
	checkUnreadable(t, "JSON", releases, entryErrs, err)

	feed := string(readFeed(t, world, channel))
	entry := strings.Index(feed, "<title>"+version+"</title>")
	start = strings.Index(feed[entry:], "<h4>Security fixes:</h4>") + entry
	end = strings.Index(feed[start:], "<h4>Changes:</h4>") + start
	if entry < 0 || start < entry || end < start {
		t.Fatal("4694.0.0 changed in the feed")
	}
	feed = feed[:start] + "<h4>Security fixes:</h4>\n<ul>\n<li>Linux: see the kernel's announcement</li>\n</ul>\n" + feed[end:]
	releases, entryErrs, err = flatcar.ParseFeed(channel, []byte(feed))
	checkUnreadable(t, "feed", releases, entryErrs, err)
}

func checkUnreadable(t *testing.T, format string, releases []tracker.FlatcarRelease, entryErrs []error, err error) {
	t.Helper()
	if err != nil || len(entryErrs) != 1 {
		t.Fatalf("%s: err %v, entry errors %v; want one entry error", format, err, entryErrs)
	}
	msg := entryErrs[0].Error()
	if !strings.Contains(msg, "alpha") || !strings.Contains(msg, "4694.0.0") || !strings.Contains(msg, "Security fixes") {
		t.Errorf("%s: entry error %q does not name the channel, the version and the section", format, msg)
	}
	t.Logf("%s: %v", format, entryErrs[0])
	i := slices.IndexFunc(releases, func(r tracker.FlatcarRelease) bool { return r.Version == "4694.0.0" })
	if i < 0 {
		t.Fatalf("%s: 4694.0.0 not returned", format)
	}
	if releases[i].Security != nil {
		t.Errorf("%s: 4694.0.0 security %v, want none", format, releases[i].Security)
	}
}

// BenchmarkParseJSONSecurity parses the May world's alpha JSON, security fixes
// included (as ParseJSON always does), and reports how many advisories it reads.
func BenchmarkParseJSONSecurity(b *testing.B) {
	data := readJSON(b, "world-2026-05-31", "alpha")
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		releases, _, err := flatcar.ParseJSON("alpha", baseURL, data)
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for _, r := range releases {
			n += len(r.Security)
		}
	}
	b.ReportMetric(float64(n), "advisories")
}

// BenchmarkSecurityMarkdown reads only the security fixes of every alpha note.
func BenchmarkSecurityMarkdown(b *testing.B) {
	notes := releaseNotes(b, readJSON(b, "world-2026-05-31", "alpha"))
	for b.Loop() {
		for v, n := range notes {
			if _, err := flatcar.SecurityFromMarkdown(n, v); err != nil {
				b.Fatal(err)
			}
		}
	}
}
