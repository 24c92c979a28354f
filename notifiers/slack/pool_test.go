package slack

import (
	"context"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const ubuntu2404 = trackertest.Ubuntu2404

// poolRig is the real pipeline over the May snapshot, with a router so that pool events
// are stored with their deliveries, as the daemon does.
type poolRig struct {
	*trackertest.Rig
	images []tracker.NodeImage // of ubuntu2404, oldest first
}

func newPoolRig(t *testing.T) poolRig {
	t.Helper()
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.Cycle(t)
	r.Tracker.Router = &tracker.Router{Default: []string{"x"}}
	return poolRig{r, r.History(t, ubuntu2404, 11)}
}

// observe judges one pool of 3 nodes on the image back images before the newest (0: the
// newest) and returns the message of the event ObservePools raises.
func (r poolRig) observe(t *testing.T, cluster, pool string, back int, running *tracker.RunningOS) tracker.Message {
	t.Helper()
	im := r.images[len(r.images)-1-back]
	fleet, err := r.Tracker.LoadFleet(tracker.DefaultBehind)
	if err != nil {
		t.Fatal(err)
	}
	pools := fleet.Judge([]tracker.PoolGroup{{Cluster: cluster, Pool: pool, NodeImageVersion: tracker.NodeImageVersion(im.Family, im.SKU, im.Version), Nodes: 3, Running: running}})
	events, err := r.Tracker.ObservePools(context.Background(), pools)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := tracker.Messages(r.DB, events)
	if err != nil || len(msgs) != 1 || msgs[0].Pool == nil {
		t.Fatalf("%s/%s on %s: %d messages, %v", cluster, pool, im.Version, len(msgs), err)
	}
	return msgs[0]
}

// TestPoolMessages: a real pool_behind reads with everything a person needs to decide on
// the upgrade, a pool_current as one line, and both in a digest; both ways.
func TestPoolMessages(t *testing.T) {
	r := newPoolRig(t)
	running := &tracker.RunningOS{OSImage: "Ubuntu 24.04.4 LTS", Kernel: "6.8.0-1051-azure"}
	behind := r.observe(t, "prod", "np1", 3, running)
	if behind.Event.Key != "pool_behind:prod/np1:202605.27.0" {
		t.Fatalf("event %s", behind.Event.Key)
	}
	current := r.observe(t, "prod", "np1", 0, nil)
	if current.Event.Key != "pool_current:prod/np1:202605.27.0" {
		t.Fatalf("event %s", current.Event.Key)
	}
	far := r.observe(t, "prod", "np2", 10, nil)
	newestNotes := "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSUbuntu/gen2/2404containerd/202605.27.0.txt"

	for _, tp := range transports[:2] {
		t.Run(tp.name, func(t *testing.T) {
			p := deliver(t, tp, single(behind))
			got := shown(p)
			for _, s := range []string{
				"prod/np1 is 3 images behind",
				"*Runs*\nAKSUbuntu-2404gen2containerd-202604.24.0",
				"*Newest image*\nAKSUbuntu-2404gen2containerd-202605.27.0",
				"*Behind*\n3 images, 33 days",
				"*Nodes*\n3",
				"*Kernel running*\n6.8.0-1051-azure",
				"*Newest kernel*\n6.8.0-1056-azure",
				"*What changes*\n• kernel 6.8.0-1052-azure → 6.8.0-1056-azure\n",
				"• containerd 2.1.6-ubuntu24.04u2 → 2.1.7-ubuntu24.04u2\n",
				"• kubelet -1.34.4-ubuntu24.04u1 -1.35.3-ubuntu24.04u1 +1.34.7-ubuntu24.04u1 +1.35.4-ubuntu24.04u1\n",
				"• kubernetes-binaries -v1.33.8 -v1.34.3 +v1.33.11 +v1.34.7\n",
				"nodes run kernel 6.8.0-1051-azure, but the notes of 202604.24.0 say 6.8.0-1052-azure",
				"<" + newestNotes + "|Release notes>",
			} {
				if !strings.Contains(got, s) {
					t.Errorf("pool_behind lacks %q:\n%s", s, got)
				}
			}
			if strings.Contains(got, "more in the") {
				t.Errorf("8 changes, yet some are left out:\n%s", got)
			}
			if !strings.HasPrefix(p.Text, "pool_behind prod/np1 202605.27.0: prod/np1 runs AKSUbuntu-2404gen2containerd-202604.24.0 on 3 nodes") {
				t.Errorf("fallback text %q", p.Text)
			}

			// 11 changes: 8 named, the rest in the newest image's notes.
			got = shown(deliver(t, tp, single(far)))
			if n := strings.Count(got, "\n• "); n != 8 {
				t.Errorf("%d changes named, want 8:\n%s", n, got)
			}
			if !strings.Contains(got, "…and 3 more in the <"+newestNotes+"|notes of AKSUbuntu-2404gen2containerd-202605.27.0>") {
				t.Errorf("no link to the rest:\n%s", got)
			}

			p = deliver(t, tp, single(current))
			want := "*prod/np1* caught up: runs AKSUbuntu-2404gen2containerd-202605.27.0, the newest of AKSUbuntu/gen2/2404containerd"
			if len(p.Blocks) != 1 || texts(p)[1] != want {
				t.Errorf("pool_current posted %d blocks:\n%s\nwant the one line %q", len(p.Blocks), shown(p), want)
			}

			got = shown(deliver(t, tp, digest(behind, current, far)))
			for _, s := range []string{
				"nodewatch: 3 updates",
				"*<" + newestNotes + "|prod/np1 is 3 images behind>*\nruns AKSUbuntu-2404gen2containerd-202604.24.0 · newest AKSUbuntu-2404gen2containerd-202605.27.0 · 3 images, 33 days · 3 nodes · kernel 6.8.0-1051-azure → 6.8.0-1056-azure\nChanges: kernel 6.8.0-1052-azure → 6.8.0-1056-azure, ",
				"kubelet -1.34.4-ubuntu24.04u1 -1.35.3-ubuntu24.04u1 +1.34.7-ubuntu24.04u1 +1.35.4-ubuntu24.04u1, and 2 more",
				want,
				"prod/np2 is 10 images behind",
				"pool_current prod/np1 202605.27.0: caught up; prod/np1 runs AKSUbuntu-2404gen2containerd-202605.27.0",
			} {
				if !strings.Contains(got, s) {
					t.Errorf("digest lacks %q:\n%s", s, got)
				}
			}
		})
	}
}

// TestPoolHostileNames: a cluster or pool name cannot mention, link or break the
// Block Kit text: it is shown escaped, in every block and in the fallback text.
func TestPoolHostileNames(t *testing.T) {
	r := newPoolRig(t)
	cluster, pool := "prod<https://evil|x>", "np&<!channel>"
	behind := r.observe(t, cluster, pool, 3, &tracker.RunningOS{Kernel: "6.8.0-1052-azure <@U123>"})
	current := r.observe(t, cluster, pool, 0, nil)
	for _, tp := range transports[:2] {
		for name, note := range map[string]tracker.Notification{"behind": single(behind), "current": single(current), "digest": digest(behind, current)} {
			t.Run(tp.name+"/"+name, func(t *testing.T) {
				p := deliver(t, tp, note) // checks every text is escaped
				got := shown(p)
				for _, bad := range []string{"<!", "<@", "<https://evil"} {
					if strings.Contains(got, bad) {
						t.Errorf("%q posted as is:\n%s", bad, got)
					}
				}
				if !strings.Contains(got, "prod&lt;https://evil|x&gt;/np&amp;&lt;!channel&gt;") {
					t.Errorf("the pool is not shown escaped:\n%s", got)
				}
				if name == "behind" && !strings.Contains(got, "6.8.0-1052-azure &lt;@U123&gt;") {
					t.Errorf("the running kernel is not shown escaped:\n%s", got)
				}
			})
		}
	}
}
