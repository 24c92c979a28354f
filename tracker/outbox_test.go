package tracker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/notifiers/slack"
	"github.com/nodewatch/nodewatch/tracker"
)

// recorder is a notifier that keeps what it was asked to deliver and fails as told.
type recorder struct {
	name  string
	mu    sync.Mutex
	got   []tracker.Notification
	fails []error // returned by the next calls, in order
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n tracker.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fails) > 0 {
		err := r.fails[0]
		r.fails = r.fails[1:]
		return err
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) keys() []string {
	var out []string
	for _, n := range r.got {
		out = append(out, n.Key)
	}
	slices.Sort(out)
	return out
}

// contractRoutes are the routes of the contract's example configuration.
var contractRoutes = []tracker.Route{
	{Events: []tracker.EventKind{tracker.EventNodeImage}, Families: []string{"AKSFlatcar/*"}, Notify: []string{"team", "tracker"}},
	{Events: []tracker.EventKind{tracker.EventNodeImage}, Families: []string{"AKSFlatcar/*"}, Kernel: ">= 6.12.90", Notify: []string{"bot"}},
	{Events: []tracker.EventKind{tracker.EventNodeImage}, Families: []string{"AKSUbuntu/*"}, Notify: []string{"bot"}, Digest: true},
	{Events: []tracker.EventKind{tracker.EventFlatcarRelease}, Channels: []string{"stable"}, Flatcar: ">= 4593", Notify: []string{"team"}},
	{Events: []tracker.EventKind{tracker.EventAKSRelease}, Notify: []string{"team"}},
}

// TestRoutedDeliveries runs the April -> May cycle through the contract's routes: each
// notifier gets what its routes match, once, and a repeat cycle sends nothing.
func TestRoutedDeliveries(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent)
	r.tr.Router = &tracker.Router{Routes: contractRoutes}
	r.cycle(t)
	if err := r.srv.SetWorld(world(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	_, events := r.cycle(t)

	team, trk, bot := &recorder{name: "team"}, &recorder{name: "tracker"}, &recorder{name: "bot"}
	d := &tracker.Dispatcher{Store: r.db, Notifiers: map[string]tracker.Notifier{"team": team, "tracker": trk, "bot": bot}, MaxAttempts: 3}
	rep, err := d.Dispatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	var flatcarImages, stableReleases, aks, ubuntu []string
	for _, k := range events {
		switch {
		case strings.HasPrefix(k, "node_image:AKSFlatcar/"):
			flatcarImages = append(flatcarImages, k)
		case strings.HasPrefix(k, "flatcar_release:stable:"):
			stableReleases = append(stableReleases, k)
		case strings.HasPrefix(k, "aks_release:"):
			aks = append(aks, k)
		case strings.HasPrefix(k, "node_image:AKSUbuntu/"):
			ubuntu = append(ubuntu, k)
		}
	}
	if len(flatcarImages) == 0 || len(stableReleases) == 0 || len(ubuntu) == 0 {
		t.Fatalf("the May snapshot should bring Flatcar images, stable releases and Ubuntu images: %v", events)
	}
	wantTeam := slices.Concat(flatcarImages, stableReleases, aks)
	slices.Sort(wantTeam)
	if got := team.keys(); !slices.Equal(got, wantTeam) {
		t.Errorf("team got %v\nwant %v", got, wantTeam)
	}
	if got := trk.keys(); !slices.Equal(got, flatcarImages) {
		t.Errorf("tracker got %v\nwant %v", got, flatcarImages)
	}
	// No May image has a kernel >= 6.12.90 (the newest Flatcar kernel is 6.12.87), so the
	// bot gets only the Ubuntu digest: one notification listing every Ubuntu image.
	if len(bot.got) != 1 || !strings.HasPrefix(bot.got[0].Key, "digest:2:") || len(bot.got[0].Messages) != len(ubuntu) {
		t.Errorf("bot got %d notifications %v, want one digest of %d", len(bot.got), bot.keys(), len(ubuntu))
	}
	for _, n := range slices.Concat(team.got, trk.got, bot.got) {
		for _, m := range n.Messages {
			if m.Image == nil && m.Flatcar == nil && m.AKS == nil {
				t.Errorf("%s: message without its item", n.Key)
			}
		}
	}
	if rep.Delivered != len(team.got)+len(trk.got)+len(bot.got) || rep.Failed+rep.GivenUp != 0 {
		t.Errorf("report %+v", rep)
	}

	// Nothing new upstream, nothing due: nothing is sent again.
	r.cycle(t)
	if rep, _ := d.Dispatch(context.Background()); rep != (tracker.DispatchReport{}) {
		t.Errorf("repeat dispatch: %+v", rep)
	}
}

// TestDispatchRetries: a failure waits for its backoff (or the receiver's Retry-After),
// a permanent one is given up at once, and so is one out of attempts.
func TestDispatchRetries(t *testing.T) {
	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	r.tr.Router = &tracker.Router{Routes: []tracker.Route{
		{Events: []tracker.EventKind{tracker.EventNodeImage}, Notify: []string{"flaky", "broken"}},
	}}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	r.tr.Now = func() time.Time { return now }
	r.cycle(t)
	if err := r.srv.SetWorld(world(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	_, events := r.cycle(t)
	images := slices.DeleteFunc(events, func(k string) bool { return !strings.HasPrefix(k, "node_image:") })

	flaky := &recorder{name: "flaky", fails: []error{
		errors.New("500 Internal Server Error"),
		&tracker.NotifyError{Err: errors.New("429"), RetryAfter: time.Hour},
	}}
	broken := &recorder{name: "broken", fails: []error{&tracker.NotifyError{Err: errors.New("channel_not_found"), Permanent: true}}}
	d := &tracker.Dispatcher{Store: r.db, Notifiers: map[string]tracker.Notifier{"flaky": flaky, "broken": broken},
		MaxAttempts: 3, MinBackoff: time.Minute, MaxBackoff: time.Hour, Now: func() time.Time { return now }}

	rep, err := d.Dispatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// flaky: the first fails (backoff), the second is asked to wait an hour, the rest go.
	// broken: the first is given up (permanent), the rest are delivered.
	n := len(images)
	if rep.Failed != 2 || rep.GivenUp != 1 || rep.Delivered != 2*n-3 {
		t.Fatalf("first dispatch %+v with %d images", rep, n)
	}
	now = now.Add(2 * time.Minute) // past the backoff, short of the hour
	if rep, _ := d.Dispatch(context.Background()); rep.Delivered != 1 || rep.Failed+rep.GivenUp != 0 {
		t.Errorf("after the backoff: %+v, want the one that backed off delivered", rep)
	}
	now = now.Add(time.Hour)
	if rep, _ := d.Dispatch(context.Background()); rep.Delivered != 1 {
		t.Errorf("after Retry-After: %+v", rep)
	}
	if got := flaky.keys(); !slices.Equal(got, images) {
		t.Errorf("flaky delivered %v, want each image once: %v", got, images)
	}
	outbox, err := r.db.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	var givenUp []tracker.Delivery
	for _, dl := range outbox {
		if dl.State == tracker.DeliveryGivenUp {
			givenUp = append(givenUp, dl)
		}
	}
	if len(givenUp) != 1 || givenUp[0].Notifier != "broken" || givenUp[0].LastError != "channel_not_found" {
		t.Errorf("given up: %+v", givenUp)
	}

	// Out of attempts: a receiver down for good is given up after MaxAttempts, visibly.
	down := &recorder{name: "flaky"}
	for range 10 {
		down.fails = append(down.fails, errors.New("connection refused"))
	}
	d.Notifiers["flaky"] = down
	if err := r.srv.SetWorld(world(t, "2026-04-30")); err != nil { // nothing new: no deliveries
		t.Fatal(err)
	}
	r.srv.Override(notesDir+"/AKSFlatcar/gen2/202606.02.0.txt", []byte(mustRead(t, world(t, "2026-05-31"), notesDir+"/AKSFlatcar/gen2/202605.27.0.txt")))
	r.cycle(t)
	for range 3 {
		now = now.Add(2 * time.Hour)
		if _, err := d.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	outbox, _ = r.db.Deliveries()
	i := slices.IndexFunc(outbox, func(dl tracker.Delivery) bool { return dl.ID == "flaky|node_image:AKSFlatcar/gen2:202606.02.0" })
	if i < 0 || outbox[i].State != tracker.DeliveryGivenUp || outbox[i].Attempts != 3 {
		t.Errorf("a delivery failing 3 times of 3: %+v", outbox[i])
	}
}

// crashingStore fails the n-th UpdateDelivery, as a process killed after a notifier
// answered and before the outcome was written.
type crashingStore struct {
	tracker.Store
	n     int
	calls int
}

func (s *crashingStore) UpdateDelivery(ctx context.Context, d tracker.Delivery) error {
	s.calls++
	if s.calls == s.n {
		return errors.New("killed")
	}
	return s.Store.UpdateDelivery(ctx, d)
}

// TestCrashBetweenSendAndRecord: a crash after Slack took a message and before the
// outbox recorded it repeats that one message once on restart, and no other.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Text string }
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		posts = append(posts, p.Text)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer hook.Close()
	team, err := slack.New(slack.Config{Name: "team", WebhookURL: hook.URL + "/services/T/B/X"})
	if err != nil {
		t.Fatal(err)
	}

	r := newRig(t, "2026-04-30", tracker.FirstRunSilent, "AKSFlatcar/gen2")
	r.tr.Router = &tracker.Router{Routes: []tracker.Route{{Events: []tracker.EventKind{tracker.EventNodeImage}, Notify: []string{"team"}}}}
	r.cycle(t)
	r.Move(t, "2026-05-31")
	_, events := r.cycle(t)
	events = slices.DeleteFunc(events, func(k string) bool { return !strings.HasPrefix(k, "node_image:") })
	if len(events) < 3 {
		t.Fatalf("the May snapshot should bring new images: %v", events)
	}

	crashing := &crashingStore{Store: r.db, n: 2}
	first := &tracker.Dispatcher{Store: crashing, Notifiers: map[string]tracker.Notifier{"team": team}, MaxAttempts: 3}
	if _, err := first.Dispatch(context.Background()); err == nil {
		t.Fatal("the crash went unnoticed")
	}
	restarted := &tracker.Dispatcher{Store: r.db, Notifiers: map[string]tracker.Notifier{"team": team}, MaxAttempts: 3}
	if _, err := restarted.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, p := range posts {
		count[p[:strings.Index(p, ":")]]++
	}
	repeated := 0
	for _, k := range events {
		e := strings.SplitN(k, ":", 3)
		switch n := count["node_image "+e[1]+" "+e[2]]; n {
		case 1:
		case 2:
			repeated++
		default:
			t.Errorf("%s posted %d times", k, n)
		}
	}
	if repeated != 1 {
		t.Errorf("%d messages repeated after the crash, want exactly the one in flight", repeated)
	}
	if outbox, _ := r.db.DueDeliveries(time.Now().Add(time.Hour)); len(outbox) != 0 {
		t.Errorf("still due after the restart: %v", outbox)
	}
}
