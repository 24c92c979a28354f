package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const ubuntu2404 = trackertest.Ubuntu2404

var poolLine = regexp.MustCompile(`(?m)^<!-- nodewatch:pool=(\S+) -->$`)

// poolRig is the real pipeline, with a router so that pool events are stored with their
// deliveries, as the daemon does.
type poolRig struct{ *trackertest.Rig }

// observe judges one pool of 3 nodes on the image of ubuntu2404 back images before the
// newest stored (0: the newest) and returns the message of the event ObservePools raises.
func (r poolRig) observe(t *testing.T, pool string, back int) tracker.Message {
	t.Helper()
	images := r.History(t, ubuntu2404, back+1)
	im := images[len(images)-1-back]
	fleet, err := r.Tracker.LoadFleet(tracker.DefaultBehind)
	if err != nil {
		t.Fatal(err)
	}
	pools := fleet.Judge([]tracker.PoolGroup{{Cluster: "prod-weu", Pool: pool, NodeImageVersion: tracker.NodeImageVersion(im.Family, im.SKU, im.Version), Nodes: 3}})
	events, err := r.Tracker.ObservePools(context.Background(), pools)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := tracker.Messages(r.DB, events)
	if err != nil || len(msgs) != 1 || msgs[0].Pool == nil {
		t.Fatalf("%s on %s: %d messages, %v", pool, im.Version, len(msgs), err)
	}
	return msgs[0]
}

// poolStory is one pool's life over the April and May snapshots, from real data: behind
// in April, caught up in April, behind again in May (a newer newest image), caught up in
// May; and another pool behind in May.
type poolStory struct {
	behindApril, currentApril, behindMay, currentMay, otherMay tracker.Message
}

func newPoolStory(t *testing.T) poolStory {
	t.Helper()
	r := poolRig{trackertest.NewRig(t, "2026-04-30", tracker.FirstRunSilent)}
	r.Cycle(t)
	r.Tracker.Router = &tracker.Router{Default: []string{"x"}}
	var s poolStory
	s.behindApril = r.observe(t, "nodepool1", 3)
	s.currentApril = r.observe(t, "nodepool1", 0)
	r.Move(t, "2026-05-31")
	r.Cycle(t)
	s.behindMay = r.observe(t, "nodepool1", 3)
	s.otherMay = r.observe(t, "nodepool2", 5)
	s.currentMay = r.observe(t, "nodepool1", 0)
	for m, want := range map[*tracker.Message]tracker.EventKind{
		&s.behindApril: tracker.EventPoolBehind, &s.currentApril: tracker.EventPoolCurrent, &s.behindMay: tracker.EventPoolBehind,
		&s.otherMay: tracker.EventPoolBehind, &s.currentMay: tracker.EventPoolCurrent,
	} {
		if m.Event.Kind != want {
			t.Fatalf("%s, want a %s", m.Event.Key, want)
		}
	}
	if s.behindMay.Event.Key != "pool_behind:prod-weu/nodepool1:202605.27.0" || s.behindApril.Event.Version == s.behindMay.Event.Version {
		t.Fatalf("events %s and %s", s.behindApril.Event.Key, s.behindMay.Event.Key)
	}
	return s
}

// TestPoolIssues: a pool behind gets one issue with the facts and its markers, found
// again on retry; a newer pool_behind of the pool closes it; pool_current creates no
// issue, closes the open one with a comment, and is a no-op delivered again.
func TestPoolIssues(t *testing.T) {
	s := newPoolStory(t)
	f := newGitHub(t)
	n := f.notifier(t, true)
	notify := func(m tracker.Message) {
		t.Helper()
		if err := n.Notify(context.Background(), single(m)); err != nil {
			t.Fatalf("%s: %v", m.Event.Key, err)
		}
	}
	// An issue that a pool's events must not touch: a node image of the same family.
	image := f.add(imageIssue(t))

	notify(s.behindApril)
	notify(s.behindApril) // a retry: finds the issue
	issues := f.all()
	if len(issues) != 2 || f.count(http.MethodPost, "/issues") != 1 {
		t.Fatalf("%d issues, %d creates after a pool_behind and its retry", len(issues), f.count(http.MethodPost, "/issues"))
	}
	first := issues[1]
	aprilNewest := s.behindApril.Pool.NewestNodeImageVersion
	if want := fmt.Sprintf("prod-weu/nodepool1 is 3 images behind: %s is out", aprilNewest); first.Title != want {
		t.Errorf("title %q, want %q", first.Title, want)
	}
	if got := markers(eventLine, first.Body); !slices.Equal(got, []string{s.behindApril.Event.Key}) {
		t.Errorf("event markers %q", got)
	}
	if got := markers(poolLine, first.Body); !slices.Equal(got, []string{"prod-weu/nodepool1"}) {
		t.Errorf("pool markers %q", got)
	}
	if got := markers(familyLine, first.Body); got != nil {
		t.Errorf("family markers %q on a pool's issue", got)
	}
	p := s.behindApril.Pool
	for _, want := range []string{
		fmt.Sprintf("Node pool **prod-weu/nodepool1** runs **%s**; **%s** is the newest image of **AKSUbuntu/gen2/2404containerd**.", p.NodeImageVersion, aprilNewest),
		"- **Cluster:** prod-weu\n", "- **Pool:** nodepool1\n", "- **Nodes:** 3\n",
		"- **Runs:** " + p.NodeImageVersion + "\n",
		"- **Newest image:** " + aprilNewest + "\n",
		fmt.Sprintf("- **Behind:** 3 images, %d days\n", *p.DaysBehind),
		"- **Kernel running:** " + *p.ImageKernel + "\n",
		"- **Newest kernel:** " + *p.NewestKernel + "\n",
		"- **Notes:** [VHD notes of the newest image](<" + p.NewestNotesURL + ">)\n",
		"| What | From | To |\n| --- | --- | --- |\n",
	} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, first.Body)
		}
	}
	if len(p.Changes) == 0 {
		t.Fatal("the April upgrade changes nothing")
	}
	for _, c := range p.Changes {
		if row := fmt.Sprintf("| %s | %s | %s |\n", text(c.What), text(orDash(c.From)), text(orDash(c.To))); !strings.Contains(first.Body, row) {
			t.Errorf("body lacks the row %q", row)
		}
	}

	notify(s.otherMay)
	notify(s.behindMay)
	if is := f.issue(first.Number); is.State != "closed" || !slices.Equal(is.Comments, []string{"Superseded by #4 (202605.27.0)"}) {
		t.Errorf("the April issue: %s with %q", is.State, is.Comments)
	}
	if is := f.issue(4); is.State != "open" || !strings.Contains(is.Title, "AKSUbuntu-2404gen2containerd-202605.27.0 is out") {
		t.Errorf("the May issue #4 %q: %s", is.Title, is.State)
	}

	creates, edits := f.count(http.MethodPost, "/issues"), f.count(http.MethodPatch, "")
	notify(s.currentMay)
	if f.count(http.MethodPost, "/issues") != creates || len(f.all()) != 4 {
		t.Errorf("pool_current created an issue")
	}
	want := "prod-weu/nodepool1 now runs AKSUbuntu-2404gen2containerd-202605.27.0, the newest image of AKSUbuntu/gen2/2404containerd: closing."
	if is := f.issue(4); is.State != "closed" || !slices.Equal(is.Comments, []string{want}) {
		t.Errorf("after pool_current, #4: %s with %q", is.State, is.Comments)
	}
	if f.count(http.MethodPatch, "") != edits+1 {
		t.Errorf("%d edits for one close", f.count(http.MethodPatch, "")-edits)
	}
	for _, num := range []int{image, 3} {
		if is := f.issue(num); is.State != "open" || len(is.Comments) != 0 {
			t.Errorf("#%d %q: %s with %q", num, is.Title, is.State, is.Comments)
		}
	}

	// Delivered again (a retry after a lost answer): nothing left to close, success.
	before := len(f.IssueRequests())
	notify(s.currentMay)
	for _, r := range f.IssueRequests()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("the second pool_current sent %s %s", r.Method, r.Path)
		}
	}
	if is := f.issue(4); len(is.Comments) != 1 {
		t.Errorf("#4 commented on again: %q", is.Comments)
	}
}

// imageIssue is the issue of a node image of the pool's family, as an earlier notifier
// made it: from the real May cycle.
func imageIssue(t *testing.T) upstreamtest.Issue {
	t.Helper()
	note := single(realMessages(t)["node_image:"+ubuntu2404+":202605.27.0"])
	if len(note.Messages[0].Event.Key) == 0 {
		t.Fatal("the May cycle raised no node image of " + ubuntu2404)
	}
	return upstreamtest.Issue{Title: title(note), Body: body(note), Labels: labels, State: "open"}
}

// TestPoolCurrentLate: a pool_current delivered late (after the pool fell behind a newer
// image) closes only the issues of images up to the one it caught up to.
func TestPoolCurrentLate(t *testing.T) {
	s := newPoolStory(t)
	f := newGitHub(t)
	n := f.notifier(t, true)
	for _, m := range []tracker.Message{s.behindApril, s.behindMay, s.currentApril} {
		if err := n.Notify(context.Background(), single(m)); err != nil {
			t.Fatalf("%s: %v", m.Event.Key, err)
		}
	}
	if is := f.issue(2); is.State != "open" || len(is.Comments) != 0 {
		t.Errorf("the May issue, newer than what the late pool_current caught up to: %s with %q", is.State, is.Comments)
	}
	if is := f.issue(1); is.State != "closed" || len(f.all()) != 2 {
		t.Errorf("the April issue %s; %d issues", is.State, len(f.all()))
	}
}

// TestPoolClosePreviousOff: without close_previous, every pool_behind keeps its issue
// and pool_current sends nothing at all.
func TestPoolClosePreviousOff(t *testing.T) {
	s := newPoolStory(t)
	f := newGitHub(t)
	n := f.notifier(t, false)
	for _, m := range []tracker.Message{s.behindApril, s.behindMay} {
		if err := n.Notify(context.Background(), single(m)); err != nil {
			t.Fatal(err)
		}
	}
	before := len(f.IssueRequests())
	if err := n.Notify(context.Background(), single(s.currentMay)); err != nil {
		t.Fatal(err)
	}
	if got := len(f.IssueRequests()) - before; got != 0 {
		t.Errorf("pool_current without close_previous sent %d requests", got)
	}
	for _, is := range f.all() {
		if is.State != "open" || len(is.Comments) != 0 {
			t.Errorf("#%d: %s with %q", is.Number, is.State, is.Comments)
		}
	}
	if len(f.all()) != 2 {
		t.Errorf("%d issues, want 2", len(f.all()))
	}
}

// TestPoolCurrentErrors: a failed close is worth a retry (a 502) or not (a 403), names
// the repository and never the token; the retry finishes the close.
func TestPoolCurrentErrors(t *testing.T) {
	s := newPoolStory(t)
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{http.StatusBadGateway, false}, {http.StatusForbidden, true}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f := newGitHub(t)
			n := f.notifier(t, true)
			if err := n.Notify(context.Background(), single(s.behindMay)); err != nil {
				t.Fatal(err)
			}
			f.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPatch {
					writeJSON(w, tc.status, map[string]string{"message": http.StatusText(tc.status)})
					return true
				}
				return false
			})
			err := n.Notify(context.Background(), single(s.currentMay))
			var ne *tracker.NotifyError
			if !errors.As(err, &ne) || ne.Permanent != tc.permanent {
				t.Fatalf("error %v, want a NotifyError permanent=%v", err, tc.permanent)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(fmt.Sprintf("%+v", err), token) || !strings.Contains(err.Error(), owner+"/"+repo) {
				t.Errorf("error %q", err)
			}
			f.SetFault(nil)
			if err := n.Notify(context.Background(), single(s.currentMay)); err != nil {
				t.Fatal(err)
			}
			if is := f.issue(1); is.State != "closed" {
				t.Errorf("after the retry: %s", is.State)
			}
		})
	}
}
