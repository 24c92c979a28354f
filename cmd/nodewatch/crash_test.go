package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashes walks the fixture history with `nodewatch check` killed (SIGKILL) at random
// points many times before each clean run, and compares the outcome with an uninterrupted
// walk: the same history (timestamps aside), every Slack message delivered (a message
// in flight at a kill may come once more), and no GitHub issue twice.
func TestCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary many times")
	}
	bin := buildBinary(t)
	const routes = `
notifiers:
  - {name: team, type: slack, webhook_url: "${TEST_SLACK_WEBHOOK}"}
  - {name: tracker, type: github, repo: example/platform, labels: [nodewatch], token: ghp_crash}
routes:
  - {events: [node_image], families: ["AKSFlatcar/*"], notify: [team, tracker]}
  - {events: [flatcar_release, aks_release], notify: [team]}
`
	walk := func(kills int, seed uint64) (history map[string]any, slack *slackWebhook, c *cli, killed int) {
		slack = newSlackWebhook(t)
		t.Setenv("TEST_SLACK_WEBHOOK", slack.URL+"/services/T/B/crash")
		c = newCLIWith(t, "world-2026-02-11", routes)
		rng := rand.New(rand.NewPCG(seed, seed))
		// Slow every answer a little, so that kills land inside cycles and deliveries.
		c.srv.SetFault(func(http.ResponseWriter, *http.Request) bool {
			time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond) // the server's goroutines share no rng
			return false
		})
		for i, world := range []string{"", "world-2026-04-30", "world-2026-05-31"} {
			if world != "" {
				if err := c.srv.SetWorld(filepath.Join(fixtures(t), world)); err != nil {
					t.Fatal(err)
				}
			}
			for range kills {
				cmd := exec.Command(bin, "--config", c.config, "check")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
				if cmd.Process.Signal(syscall.SIGKILL) == nil {
					killed++
				}
				cmd.Wait()
			}
			if out, err := exec.Command(bin, "--config", c.config, "check").CombinedOutput(); err != nil {
				t.Fatalf("clean check %d: %v\n%s", i, err, out)
			}
		}
		history = map[string]any{}
		for _, q := range [][]string{{"images", "--json"}, {"flatcar", "--json"}, {"aks", "--json"}, {"outbox", "--json"}} {
			var v any
			if err := json.Unmarshal([]byte(c.mustRun(q...)), &v); err != nil {
				t.Fatal(err)
			}
			history[q[0]] = withoutTimes(v)
		}
		return history, slack, c, killed
	}

	want, wantSlack, wantCLI, _ := walk(0, 1)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	got, gotSlack, gotCLI, killed := walk(8, seed)
	t.Logf("%d kills", killed)

	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s after the crashes differs from the uninterrupted walk", k)
		}
	}
	expected := count(wantSlack.texts())
	delivered := count(gotSlack.texts())
	extra := 0
	for text, n := range expected {
		switch d := delivered[prefix(text)]; {
		case d < n:
			t.Errorf("%q delivered %d times, want %d", prefix(text), d, n)
		case d > n:
			extra += d - n
		}
	}
	if extra > killed {
		t.Errorf("%d messages repeated over %d kills: more than the one in flight per kill", extra, killed)
	}
	t.Logf("%d Slack messages repeated over %d kills", extra, killed)
	if n := len(gotCLI.srv.Issues("example/platform")); n != len(wantCLI.srv.Issues("example/platform")) {
		t.Errorf("%d GitHub issues after the crashes, %d without", n, len(wantCLI.srv.Issues("example/platform")))
	}
	seen := map[string]bool{}
	for _, is := range gotCLI.srv.Issues("example/platform") {
		m := eventMarker.FindStringSubmatch(is.Body)
		if m == nil || seen[m[1]] {
			t.Errorf("issue #%d: marker %v twice or missing", is.Number, m)
			continue
		}
		seen[m[1]] = true
	}
}

func prefix(text string) string { return text[:strings.Index(text, ":")+1] }

func count(texts []string) map[string]int {
	out := map[string]int{}
	for _, s := range texts {
		out[prefix(s)]++
	}
	return out
}

// withoutTimes drops the fields that say when nodewatch did something, which differ
// between two walks.
func withoutTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			switch k {
			case "first_seen", "updated_at", "created_at", "next_attempt", "delivered_at", "id", "key", "event_keys":
				delete(x, k)
			default:
				x[k] = withoutTimes(x[k])
			}
		}
	case []any:
		for i := range x {
			x[i] = withoutTimes(x[i])
		}
	}
	return v
}
