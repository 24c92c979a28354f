package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const webhookSecret = "/services/T0000/B0000/XyZS3cretW3bhookPath"

// alertsCLI is nodewatch over the April snapshot, with a Slack webhook for Flatcar images
// and releases, seeded by one check (first_run silent) and moved to the May snapshot.
func alertsCLI(t *testing.T, slack *slackWebhook, delivery string) *cli {
	t.Helper()
	t.Setenv("TEST_SLACK_WEBHOOK", slack.URL+webhookSecret)
	c := newCLIWith(t, "world-2026-04-30", `
notifiers:
  - {name: team, type: slack, webhook_url: "${TEST_SLACK_WEBHOOK}"}
routes:
  - {events: [node_image], families: ["AKSFlatcar/*"], notify: [team]}
  - {events: [flatcar_release], channels: [alpha, stable], notify: [team]}
`+delivery)
	c.mustRun("check")
	if n := len(slack.texts()); n != 0 {
		t.Fatalf("the seeding check posted %d messages", n)
	}
	if err := c.srv.SetWorld(filepath.Join(fixtures(t), "world-2026-05-31")); err != nil {
		t.Fatal(err)
	}
	return c
}

// mayFlatcarAlerts are the summaries' beginnings the April -> May cycle must post for the
// routes of alertsCLI, read from the snapshots: three new images in each Flatcar family,
// and the new alpha and stable releases.
func mayFlatcarAlerts(t *testing.T) []string {
	var want []string
	for _, f := range []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"} {
		for _, v := range []string{"202605.05.1", "202605.14.0", "202605.27.0"} {
			want = append(want, "node_image "+f+" "+v+":")
		}
	}
	for _, ch := range []string{"alpha", "stable"} {
		for _, v := range newVersions(t, ch) {
			want = append(want, "flatcar_release "+ch+" "+v+":")
		}
	}
	slices.Sort(want)
	return want
}

func newVersions(t *testing.T, channel string) []string {
	april := versionsOf(t, "world-2026-04-30", channel)
	var out []string
	for _, v := range versionsOf(t, "world-2026-05-31", channel) {
		if !slices.Contains(april, v) {
			out = append(out, v)
		}
	}
	return out
}

func versionsOf(t *testing.T, world, channel string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(mustReadFile(t, filepath.Join(fixtures(t), world, "flatcar/releases-json/releases-"+channel+".json"))), &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		if !strings.HasPrefix(k, "current") {
			out = append(out, k)
		}
	}
	return out
}

func prefixes(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = s[:strings.Index(s, ":")+1]
	}
	slices.Sort(out)
	return out
}

// TestAlertsAprilToMay: the May snapshot posts exactly the expected messages, each once,
// and a repeat check posts none.
func TestAlertsAprilToMay(t *testing.T) {
	slack := newSlackWebhook(t)
	c := alertsCLI(t, slack, "")
	c.mustRun("check")
	want := mayFlatcarAlerts(t)
	if got := prefixes(slack.texts()); !slices.Equal(got, want) {
		t.Errorf("posted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, text := range slack.texts() {
		if strings.HasPrefix(text, "node_image AKSFlatcar/gen2 202605.27.0:") &&
			!strings.Contains(text, "Flatcar Container Linux by Kinvolk 4694.0.0, kernel 6.12.87-flatcar, Flatcar 4694.0.0 from alpha released 2026-05-11") {
			t.Errorf("the 202605.27.0 message lacks its OS, kernel or Flatcar channel: %s", text)
		}
	}
	// Each new Flatcar image's message says what it fixes, as images --json counts it.
	var views []tracker.ImageView
	if err := json.Unmarshal([]byte(c.mustRun("images", "--family", "AKSFlatcar/*", "--json")), &views); err != nil {
		t.Fatal(err)
	}
	security := 0
	for _, v := range views {
		line := v.SecurityLine()
		for _, text := range slack.texts() {
			if strings.HasPrefix(text, "node_image "+v.Family+" "+v.Version+":") && (line == "" || !strings.Contains(text, line)) {
				t.Errorf("%s %s: the message lacks %q: %s", v.Family, v.Version, line, text)
			}
		}
		for _, p := range slack.payloads() {
			if strings.HasPrefix(p, "node_image "+v.Family+" "+v.Version+":") && strings.Contains(p, "*Security:* fixes") {
				security++
				t.Logf("%s %s: %s", v.Family, v.Version, line)
			}
		}
	}
	if security != 6 {
		t.Errorf("%d Slack messages of new images have a security section, want the 6", security)
	}
	c.mustRun("check")
	if n := len(slack.texts()); n != len(want) {
		t.Errorf("a repeat check posted %d more", n-len(want))
	}
	if out := c.mustRun("outbox", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("outbox after delivery: %s", out)
	}
}

// TestSlackFailsThenRecovers: a 500 leaves the deliveries in the outbox, failed and
// waiting; the next check after the backoff delivers each exactly once. A 429's
// Retry-After is honoured. No secret reaches the outbox, the log or the output.
func TestSlackFailsThenRecovers(t *testing.T) {
	slack := newSlackWebhook(t)
	c := alertsCLI(t, slack, "delivery: {max_attempts: 5, min_backoff: 1s, max_backoff: 2s}\n")
	slack.fail = func(int) int { return http.StatusInternalServerError }
	code, out, errOut := c.run("check")
	if code != 0 || !strings.Contains(out, "failed and will be retried") {
		t.Fatalf("check with Slack down: exit %d\n%s%s", code, out, errOut)
	}
	var outbox []tracker.Delivery
	if err := json.Unmarshal([]byte(c.mustRun("outbox", "--json")), &outbox); err != nil {
		t.Fatal(err)
	}
	want := mayFlatcarAlerts(t)
	if len(outbox) != len(want) {
		t.Fatalf("outbox holds %d deliveries, want %d", len(outbox), len(want))
	}
	for _, d := range outbox {
		if d.State != tracker.DeliveryPending || d.Attempts != 1 || !strings.Contains(d.LastError, "500") {
			t.Errorf("after a 500: %+v", d)
		}
	}
	for _, s := range []string{out, errOut, c.mustRun("outbox")} {
		if strings.Contains(s, "S3cretW3bhook") {
			t.Errorf("the webhook URL leaked: %s", s)
		}
	}

	// Back, but asking to wait: Retry-After is longer than the backoff.
	slack.fail = func(n int) int {
		if n == len(want)+1 {
			return http.StatusTooManyRequests
		}
		return 0
	}
	slack.retryAfter = "30"
	time.Sleep(3200 * time.Millisecond) // past the backoff and its jitter, in whole seconds
	c.mustRun("check")
	if got := len(slack.texts()); got != len(want)-1 {
		t.Errorf("after recovery: %d delivered, want all but the one told to wait (%d)", got, len(want)-1)
	}
	outbox = nil
	json.Unmarshal([]byte(c.mustRun("outbox", "--json")), &outbox)
	if len(outbox) != 1 || time.Until(outbox[0].NextAttempt) < 25*time.Second {
		t.Errorf("the 429 delivery: %+v, want it to wait ~30 s", outbox)
	}
	if got := prefixes(slack.texts()); len(slices.Compact(got)) != len(got) {
		t.Errorf("a message was posted twice: %v", got)
	}
}

// TestNotifierDownForHours: with Slack gone (connection refused), every check fails the
// deliveries and keeps them; none is lost and none given up before max_attempts. When it
// comes back, each is delivered once.
func TestNotifierDownForHours(t *testing.T) {
	slack := newSlackWebhook(t)
	c := alertsCLI(t, slack, "delivery: {max_attempts: 12, min_backoff: 1s, max_backoff: 1s}\n")
	url := slack.URL
	slack.Close() // down
	for range 3 {
		if code, out, errOut := c.run("check"); code != 0 {
			t.Fatalf("check with Slack down: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(2200 * time.Millisecond) // past the backoff and its jitter, in whole seconds
	}
	var outbox []tracker.Delivery
	json.Unmarshal([]byte(c.mustRun("outbox", "--json")), &outbox)
	want := mayFlatcarAlerts(t)
	if len(outbox) != len(want) {
		t.Fatalf("outbox holds %d, want %d", len(outbox), len(want))
	}
	for _, d := range outbox {
		if d.State != tracker.DeliveryPending || d.Attempts != 3 {
			t.Errorf("after 3 checks down: %+v", d)
		}
	}
	// Back at the same address.
	back := newSlackWebhookAt(t, strings.TrimPrefix(url, "http://"))
	time.Sleep(2200 * time.Millisecond)
	c.mustRun("check")
	if got := prefixes(back.texts()); !slices.Equal(got, want) {
		t.Errorf("after the outage: %v", got)
	}
	if out := c.mustRun("outbox", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("outbox after recovery: %s", out)
	}
}

// TestOutboxRetry: a given-up delivery is visible in the outbox and `outbox retry`
// queues it again.
func TestOutboxRetry(t *testing.T) {
	slack := newSlackWebhook(t)
	c := alertsCLI(t, slack, "")
	slack.fail = func(int) int { return http.StatusNotFound } // no_service: permanent
	c.run("check")
	var outbox []tracker.Delivery
	json.Unmarshal([]byte(c.mustRun("outbox", "--json")), &outbox)
	if len(outbox) == 0 || outbox[0].State != tracker.DeliveryGivenUp {
		t.Fatalf("after a 404: %+v", outbox)
	}
	if table := c.mustRun("outbox"); !strings.Contains(table, "given_up") {
		t.Errorf("outbox table:\n%s", table)
	}
	slack.fail = nil
	id := outbox[0].ID
	if out := c.mustRun("outbox", "retry", id); !strings.Contains(out, "queued") {
		t.Errorf("retry: %s", out)
	}
	c.mustRun("check")
	if len(slack.texts()) != 1 {
		t.Errorf("retry delivered %d, want 1", len(slack.texts()))
	}
	if code, _, errOut := c.run("outbox", "retry", "team|nope"); code != 1 || !strings.Contains(errOut, "no delivery") {
		t.Errorf("retry of an unknown id: %d %s", code, errOut)
	}
}

// TestNotifyTest sends the newest known image through one notifier.
func TestNotifyTest(t *testing.T) {
	slack := newSlackWebhook(t)
	c := alertsCLI(t, slack, "")
	if out := c.mustRun("notify", "test", "team"); !strings.Contains(out, "sent a test message through team") {
		t.Errorf("notify test: %s", out)
	}
	if got := slack.texts(); len(got) != 1 || !strings.HasPrefix(got[0], "node_image ") {
		t.Errorf("the test message: %v", got)
	}
	if code, _, errOut := c.run("notify", "test", "nobody"); code != 1 || !strings.Contains(errOut, `no notifier named "nobody"`) {
		t.Errorf("unknown notifier: %d %s", code, errOut)
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestEveryEventReachesSlackOnce routes everything to Slack: every new image, Flatcar
// release and AKS release of the May snapshot arrives exactly once, images with their OS
// and kernel as the notes give them.
func TestEveryEventReachesSlackOnce(t *testing.T) {
	slack := newSlackWebhook(t)
	t.Setenv("TEST_SLACK_WEBHOOK", slack.URL+webhookSecret)
	c := newCLIWith(t, "world-2026-04-30", `
notifiers:
  - {name: team, type: slack, webhook_url: "${TEST_SLACK_WEBHOOK}"}
routes:
  - {events: [node_image, flatcar_release, aks_release], notify: [team]}
`)
	c.mustRun("check")
	if err := c.srv.SetWorld(filepath.Join(fixtures(t), "world-2026-05-31")); err != nil {
		t.Fatal(err)
	}
	c.mustRun("check")
	c.mustRun("check")

	var want []string
	for _, f := range trackertest.Families {
		for _, v := range added(namesIn(t, "world-2026-04-30", f), namesIn(t, "world-2026-05-31", f)) {
			want = append(want, "node_image "+f+" "+v+":")
		}
	}
	for _, ch := range trackertest.Channels {
		for _, v := range newVersions(t, ch) {
			want = append(want, "flatcar_release "+ch+" "+v+":")
		}
	}
	for _, tag := range added(tagsIn(t, "world-2026-04-30"), tagsIn(t, "world-2026-05-31")) {
		want = append(want, "aks_release Azure/AKS "+tag+":")
	}
	slices.Sort(want)
	texts := slack.texts()
	if got := prefixes(texts); !slices.Equal(got, want) {
		t.Errorf("Slack got:\n%s\nwant each once:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, text := range texts {
		if strings.HasPrefix(text, "node_image ") && (!strings.Contains(text, ", kernel ") || strings.Contains(text, "(version unknown)")) {
			t.Errorf("an image without its OS version or kernel: %s", text)
		}
	}
}

func namesIn(t *testing.T, world, family string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(fixtures(t), world, trackertest.NotesDir, family))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if v, ok := strings.CutSuffix(e.Name(), ".txt"); ok && strings.Count(v, ".") == 2 && !strings.Contains(v, "-") {
			out = append(out, v)
		}
	}
	return out
}

func tagsIn(t *testing.T, world string) []string {
	t.Helper()
	var rs []struct {
		Tag string `json:"tag_name"`
	}
	if err := json.Unmarshal([]byte(mustReadFile(t, filepath.Join(fixtures(t), world, "github/Azure/AKS/releases.json"))), &rs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Tag)
	}
	return out
}

func added(before, after []string) []string {
	var out []string
	for _, v := range after {
		if !slices.Contains(before, v) {
			out = append(out, v)
		}
	}
	return out
}
