package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

const issueToken = "ghp_T0kenThatMustNotShow"

var eventMarker = regexp.MustCompile(`(?m)^<!-- nodewatch:event=(\S+) -->$`)

// TestIssuesAprilToMay: every new Flatcar image gets exactly one issue, with its OS and
// kernel; the previous image's issue is closed; a repeat check makes no second issue.
// Every request carries the notifier's token, and no output shows it.
func TestIssuesAprilToMay(t *testing.T) {
	c := newCLIWith(t, "world-2026-04-30", `
notifiers:
  - {name: tracker, type: github, repo: example/platform, labels: [nodewatch], close_previous: true, token: ghp_T0kenThatMustNotShow}
routes:
  - {events: [node_image], families: ["AKSFlatcar/*"], notify: [tracker]}
`)
	c.mustRun("check")
	if err := c.srv.SetWorld(fixtures(t) + "/world-2026-05-31"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code, out, errOut := c.run("check"); code != 0 || strings.Contains(out+errOut, issueToken) {
			t.Fatalf("check: exit %d, or the token shows:\n%s%s", code, out, errOut)
		}
	}

	var keys []string
	issues := c.srv.Issues("example/platform")
	for _, is := range issues {
		m := eventMarker.FindStringSubmatch(is.Body)
		if m == nil {
			t.Errorf("issue #%d has no event marker", is.Number)
			continue
		}
		keys = append(keys, m[1])
		if m[1] == "node_image:AKSFlatcar/gen2:202605.27.0" && (!strings.Contains(is.Body, "6.12.87-flatcar") || !strings.Contains(is.Body, "4694.0.0")) {
			t.Errorf("the 202605.27.0 issue lacks its kernel or Flatcar version:\n%s", is.Body)
		}
	}
	slices.Sort(keys)
	want := []string{}
	for _, f := range []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"} {
		for _, v := range []string{"202605.05.1", "202605.14.0", "202605.27.0"} {
			want = append(want, "node_image:"+f+":"+v)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("issues for %v\nwant one each for %v", keys, want)
	}
	open := 0
	for _, is := range issues {
		if is.State == "open" {
			open++
		}
	}
	if open != 2 {
		t.Errorf("%d issues open, want the newest of each family", open)
	}
	for _, r := range c.srv.IssueRequests() {
		if r.Authorization != "Bearer "+issueToken {
			t.Errorf("%s %s without the notifier's token", r.Method, r.Path)
		}
	}
}
