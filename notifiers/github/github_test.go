package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const (
	owner = "example"
	repo  = "platform"
	token = "ghp_T0KEN_that_must_never_show_1234567890"
)

var labels = []string{"nodewatch", "aks"}

// realMessages runs the real pipeline over the April and May snapshots and returns the
// messages of the May cycle by event key.
func realMessages(t *testing.T) map[string]tracker.Message {
	t.Helper()
	r := trackertest.NewRig(t, "2026-04-30", tracker.FirstRunSilent)
	r.Cycle(t)
	r.Move(t, "2026-05-31")
	_, events := r.Cycle(t)
	msgs, err := tracker.Messages(r.DB, events)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tracker.Message{}
	for _, m := range msgs {
		out[m.Event.Key] = m
	}
	if len(out) < 10 {
		t.Fatalf("the May cycle raised only %d events", len(out))
	}
	return out
}

func single(m tracker.Message) tracker.Notification {
	return tracker.Notification{Key: m.Event.Key, Messages: []tracker.Message{m}}
}

// gitHub is the upstream server as these tests use it: GitHub's API, one repository's
// issues held in memory.
type gitHub struct{ *upstreamtest.Server }

// newGitHub serves a snapshot and the issues of owner/repo, and checks once the test ends
// that every request to the issues carried the token.
func newGitHub(t *testing.T) *gitHub {
	t.Helper()
	srv, err := upstreamtest.New(trackertest.World(t, "2026-05-31"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		reqs := srv.IssueRequests()
		for _, r := range reqs {
			if r.Authorization != "Bearer "+token {
				t.Errorf("%s %s: Authorization %q, want the bearer token", r.Method, r.Path, r.Authorization)
			}
		}
		if n := srv.Stats().Requests; n != len(reqs) {
			t.Errorf("%d requests, only %d of them to the issues", n, len(reqs))
		}
	})
	return &gitHub{srv}
}

func (g *gitHub) notifier(t *testing.T, closePrevious bool) *Notifier {
	t.Helper()
	n, err := New(Config{Name: "tracker", Repo: owner + "/" + repo, Labels: labels, ClosePrevious: closePrevious,
		Token: token, APIURL: g.GitHubAPIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// add stores an issue as if made earlier, and returns its number.
func (g *gitHub) add(is upstreamtest.Issue) int { return g.AddIssue(owner+"/"+repo, is) }

func (g *gitHub) issue(n int) upstreamtest.Issue { return g.Issue(owner+"/"+repo, n) }

func (g *gitHub) all() []upstreamtest.Issue { return g.Issues(owner + "/" + repo) }

// count is the number of requests of method to a path ending in suffix.
func (g *gitHub) count(method, suffix string) int {
	n := 0
	for _, r := range g.IssueRequests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func validationFailed(w http.ResponseWriter, field string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/issues/issues",
		"errors": []map[string]string{{"resource": "Issue", "code": "invalid", "field": field}}, "status": "422",
	})
}

var (
	eventLine  = regexp.MustCompile(`(?m)^<!-- nodewatch:event=(\S+) -->$`)
	familyLine = regexp.MustCompile(`(?m)^<!-- nodewatch:family=(\S+) -->$`)
)

// markers returns the values of a body's marker lines of one kind.
func markers(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestIssuePerNotification: every notification of the April -> May cycle, and a digest,
// becomes one issue with its facts and markers; notifying again, by the same notifier or
// a new one, finds each issue by its marker and creates nothing.
func TestIssuePerNotification(t *testing.T) {
	msgs := realMessages(t)
	f := newGitHub(t)
	n := f.notifier(t, false)

	var notes []tracker.Notification
	for _, m := range msgs {
		notes = append(notes, single(m))
	}
	slices.SortFunc(notes, func(a, b tracker.Notification) int { return strings.Compare(a.Key, b.Key) })
	ubuntu := "node_image:AKSUbuntu/gen2/2404containerd:"
	digest := tracker.Notification{Key: "digest:2:2026-05-31T12:00:00Z", Messages: []tracker.Message{
		msgs[ubuntu+"202605.05.1"], msgs[ubuntu+"202605.14.0"], msgs[ubuntu+"202605.27.0"]}}
	notes = append(notes, digest)

	for _, note := range notes {
		if err := n.Notify(context.Background(), note); err != nil {
			t.Fatalf("%s: %v", note.Key, err)
		}
	}
	issues := f.all()
	if len(issues) != len(notes) || f.count("POST", "/issues") != len(notes) {
		t.Fatalf("%d issues, %d creates for %d notifications", len(issues), f.count("POST", "/issues"), len(notes))
	}
	byKey := map[string]upstreamtest.Issue{}
	for i, is := range issues {
		note := notes[i]
		byKey[note.Key] = is
		if !slices.Equal(is.Labels, labels) {
			t.Errorf("%s: labels %v", note.Key, is.Labels)
		}
		if got := markers(eventLine, is.Body); !slices.Equal(got, []string{note.Key}) {
			t.Errorf("%s: event markers %q", note.Key, got)
		}
		wantFamily := []string(nil)
		if len(note.Messages) == 1 && note.Messages[0].Event.Kind == tracker.EventNodeImage {
			wantFamily = []string{note.Messages[0].Event.Subject}
		}
		if got := markers(familyLine, is.Body); !slices.Equal(got, wantFamily) {
			t.Errorf("%s: family markers %q, want %q", note.Key, got, wantFamily)
		}
	}

	for _, tc := range []struct {
		key     string
		title   string
		has     []string
		hasNone []string
	}{
		{
			key:   "node_image:AKSFlatcar/gen2:202605.27.0",
			title: "AKSFlatcar/gen2 202605.27.0: Flatcar 4694.0.0 (alpha), kernel 6.12.87-flatcar",
			has: []string{
				"New node image **202605.27.0** of **AKSFlatcar/gen2**.",
				"- **OS:** Flatcar Container Linux by Kinvolk 4694.0.0\n",
				"- **Kernel:** 6.12.87-flatcar\n",
				"- **Flatcar:** 4694.0.0 from the alpha channel, released 2026-05-11T18:20:17Z; the image was built 15 days after the release; newest on the build day: alpha 4694.0.0, stable 4593.2.1\n",
				"- **Node image version:** AKSFlatcar-flatcargen2-202605.27.0\n",
				"- **Built:** 2026-05-27T14:35:24Z\n",
				"- **Notes:** [VHD notes](<https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt>)\n",
				"Changes against 202605.14.0:\n\n| What | From | To |\n| --- | --- | --- |\n",
				"| kubectl | v1.31.14-1-azlinux3, v1.33.7-1-azlinux3, v1.34.3-1-azlinux3, v1.35.0-1-azlinux3 | v1.31.100-1-azlinux3, v1.33.11-1-azlinux3, v1.34.7-1-azlinux3, v1.35.4-1-azlinux3 |\n",
				"| kubelet | v1.33.7-1-azlinux3, v1.34.4-1-azlinux3, v1.35.0-1-azlinux3 | v1.33.11-1-azlinux3, v1.34.7-1-azlinux3, v1.35.4-1-azlinux3 |\n",
			},
		},
		{
			key:   "node_image:AKSFlatcar/gen2:202605.14.0",
			title: "AKSFlatcar/gen2 202605.14.0: Flatcar 4694.0.0 (alpha), kernel 6.12.87-flatcar",
			has: []string{
				"the image was built 2 days after the release",
				"Changes against 202605.05.1:",
				"| os.version | 4628.0.0 | 4694.0.0 |\n",
				"| kernel | 6.12.74-flatcar | 6.12.87-flatcar |\n",
			},
		},
		{
			key:   ubuntu + "202605.27.0",
			title: "AKSUbuntu/gen2/2404containerd 202605.27.0: Ubuntu 24.04.4 LTS (Noble Numbat), kernel 6.8.0-1056-azure",
			has: []string{
				"- **OS:** Ubuntu 24.04.4 LTS (Noble Numbat)\n",
				"- **Node image version:** AKSUbuntu-2404gen2containerd-202605.27.0\n",
				"| kernel | 6.8.0-1054-azure | 6.8.0-1056-azure |\n",
				"| containerd | 2.1.6-ubuntu24.04u2 | 2.1.7-ubuntu24.04u2 |\n",
			},
			hasNone: []string{"Flatcar"},
		},
		{
			key:   "flatcar_release:alpha:4694.0.0",
			title: "Flatcar 4694.0.0 in alpha",
			has: []string{
				"New Flatcar Container Linux release **4694.0.0** in the **alpha** channel.",
				"- **Released:** 2026-05-11T18:20:17Z\n", "- **Kernel:** 6.12.87\n", "- **containerd:** 2.2.1\n",
				"- **Notes:** [release notes](<https://www.flatcar.org/releases/#release-4694.0.0>)\n",
			},
		},
		{
			key:   "aks_release:Azure/AKS:2026-04-28",
			title: "AKS release 2026-04-28",
			has: []string{
				"New AKS release **2026-04-28** (Release Notes - 2026-04-28), published 2026-04-28T12:00:00Z: [release notes](<https://github.com/Azure/AKS/releases/tag/2026-04-28>).",
				"| Node image | Version |\n| --- | --- |\n| Windows Server 2022 | 20348.5020.260415 |\n",
				"| Ubuntu 24.04 | 202604.24.0 |\n",
			},
		},
		{
			key:   digest.Key,
			title: "nodewatch: 3 updates",
			has: []string{
				"### AKSUbuntu/gen2/2404containerd 202605.05.1: Ubuntu 24.04.4 LTS (Noble Numbat), kernel ",
				"### AKSUbuntu/gen2/2404containerd 202605.14.0: ",
				"### AKSUbuntu/gen2/2404containerd 202605.27.0: ",
				"| containerd | 2.1.6-ubuntu24.04u2 | 2.1.7-ubuntu24.04u2 |\n",
			},
		},
	} {
		is, ok := byKey[tc.key]
		if !ok {
			t.Errorf("no notification %s in the cycle", tc.key)
			continue
		}
		if is.Title != tc.title {
			t.Errorf("%s: title %q, want %q", tc.key, is.Title, tc.title)
		}
		for _, s := range tc.has {
			if !strings.Contains(is.Body, s) {
				t.Errorf("%s: body lacks %q:\n%s", tc.key, s, is.Body)
			}
		}
		for _, s := range tc.hasNone {
			if strings.Contains(is.Body, s) {
				t.Errorf("%s: body has %q:\n%s", tc.key, s, is.Body)
			}
		}
	}

	for _, again := range []struct {
		name string
		n    *Notifier
	}{{"same notifier", n}, {"new notifier", f.notifier(t, false)}} {
		for _, note := range notes {
			if err := again.n.Notify(context.Background(), note); err != nil {
				t.Fatalf("%s, %s again: %v", again.name, note.Key, err)
			}
		}
		if got := len(f.all()); got != len(notes) || f.count("POST", "/issues") != len(notes) {
			t.Errorf("%s: notifying again made %d issues", again.name, got-len(notes))
		}
	}
}

// TestMarkerLookupPages: the marker is looked for across every page of the labelled
// issues (state=all, newest first, 100 a page), past pull requests, unlabelled issues and
// quotes of the marker that are not a line of their own.
func TestMarkerLookupPages(t *testing.T) {
	msgs := realMessages(t)
	note := single(msgs["node_image:AKSFlatcar/gen2:202605.27.0"])
	marker := eventMarker(note.Key)
	filler := func(f *gitHub, count int) {
		for i := range count {
			f.add(upstreamtest.Issue{Title: fmt.Sprintf("older %d", i), Labels: labels, State: []string{"open", "closed"}[i%2],
				Body: "Some image.\n\n" + eventMarker(fmt.Sprintf("node_image:AKSFlatcar/gen2:2025%02d.01.%d", i%12+1, i)) + "\n"})
		}
	}
	for _, tc := range []struct {
		name       string
		before     int // issues older than the one with the marker
		after      int // issues newer than it
		found      bool
		wantPages  []string
		wantCreate int
	}{
		{name: "page 2 of 3", before: 50, after: 150, found: true, wantPages: []string{"", "2"}},
		{name: "page 3 of 3", before: 0, after: 200, found: true, wantPages: []string{"", "2", "3"}},
		{name: "on no page", before: 100, after: 150, wantPages: []string{"", "2", "3"}, wantCreate: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGitHub(t)
			filler(f, tc.before)
			target := 0
			if tc.found {
				target = f.add(upstreamtest.Issue{Title: "made before", Labels: labels, State: "closed", Body: "Made before.\n\r\n" + marker + "\r\n"})
			}
			filler(f, tc.after)
			f.add(upstreamtest.Issue{Title: "a pull request", Labels: labels, PullRequest: true, Body: marker + "\n"})
			f.add(upstreamtest.Issue{Title: "not ours", Labels: []string{"nodewatch"}, Body: marker + "\n"})
			f.add(upstreamtest.Issue{Title: "a quote", Labels: labels, Body: "It said `" + marker + "` here.\n"})
			before := len(f.all())

			if err := f.notifier(t, false).Notify(context.Background(), note); err != nil {
				t.Fatal(err)
			}
			var pages []string
			for _, r := range f.IssueRequests() {
				if r.Method != http.MethodGet {
					continue
				}
				q := r.Query
				if got := []string{q["labels"][0], q["state"][0], q["sort"][0], q["direction"][0], q["per_page"][0]}; !slices.Equal(got, []string{"nodewatch,aks", "all", "created", "desc", "100"}) {
					t.Errorf("list asked labels, state, sort, direction, per_page = %q", got)
				}
				pages = append(pages, strings.Join(q["page"], ","))
			}
			if !slices.Equal(pages, tc.wantPages) {
				t.Errorf("pages asked %q, want %q", pages, tc.wantPages)
			}
			if got := f.count("POST", "/issues"); got != tc.wantCreate || len(f.all()) != before+tc.wantCreate {
				t.Errorf("created %d issues, want %d", got, tc.wantCreate)
			}
			if tc.found && f.issue(target).State != "closed" {
				t.Error("the issue found was changed")
			}
		})
	}
}

// expiringContext is a context whose deadline passes when expire is called: the client
// times out exactly while the server stalls, with no clock in the test.
type expiringContext struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiringContext() *expiringContext {
	return &expiringContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringContext) Done() <-chan struct{} { return c.done }

func (c *expiringContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *expiringContext) expire() { c.once.Do(func() { close(c.done) }) }

// TestCreateTimedOut: GitHub creates the issue but answers after the client gave up. The
// error is worth a retry, and the retry finds the issue instead of making a second one.
func TestCreateTimedOut(t *testing.T) {
	msgs := realMessages(t)
	note := single(msgs["node_image:AKSFlatcar/gen2:202605.27.0"])
	f := newGitHub(t)
	ctx := newExpiringContext()
	f.SetIssueCreateHook(func(r *http.Request, _ string, _ upstreamtest.Issue) {
		ctx.expire()
		<-r.Context().Done() // stall until the client hangs up
	})
	n := f.notifier(t, true)
	err := n.Notify(ctx, note)
	var ne *tracker.NotifyError
	if !errors.As(err, &ne) || ne.Permanent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed out create: %v, want a retryable deadline error", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error shows the token: %v", err)
	}
	f.SetIssueCreateHook(nil)
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := len(f.all()); got != 1 || f.count("POST", "/issues") != 1 {
		t.Errorf("%d issues after the retry, want the one made before", got)
	}
}

// TestClosePrevious: a new node image closes the open issues of older images of its
// family, each with a comment naming its successor; nothing else is closed.
func TestClosePrevious(t *testing.T) {
	msgs := realMessages(t)
	gen2 := func(v string) tracker.Notification { return single(msgs["node_image:AKSFlatcar/gen2:"+v]) }
	arm64 := single(msgs["node_image:AKSFlatcar/gen2arm64:202605.14.0"])
	alpha := single(msgs["flatcar_release:alpha:4694.0.0"])

	type want struct {
		state    string
		comments []string
	}
	for _, tc := range []struct {
		name          string
		closePrevious bool
		seed          []tracker.Notification // made by a notifier that closes nothing
		notify        tracker.Notification
		fault         func(w http.ResponseWriter, r *http.Request) bool // on the first attempt
		want          map[int]want
	}{
		{
			name: "older image closed", closePrevious: true,
			seed: []tracker.Notification{gen2("202605.14.0"), arm64, alpha}, notify: gen2("202605.27.0"),
			want: map[int]want{
				1: {"closed", []string{"Superseded by #4 (202605.27.0)"}},
				2: {"open", nil}, 3: {"open", nil}, 4: {"open", nil},
			},
		},
		{
			name: "every older image, not a newer one", closePrevious: true,
			seed: []tracker.Notification{gen2("202605.05.1"), gen2("202605.27.0")}, notify: gen2("202605.14.0"),
			want: map[int]want{
				1: {"closed", []string{"Superseded by #3 (202605.14.0)"}},
				2: {"open", nil}, 3: {"open", nil},
			},
		},
		{
			name: "close_previous off", closePrevious: false,
			seed: []tracker.Notification{gen2("202605.14.0"), arm64}, notify: gen2("202605.27.0"),
			want: map[int]want{1: {"open", nil}, 2: {"open", nil}, 3: {"open", nil}},
		},
		{
			name: "a Flatcar release closes nothing", closePrevious: true,
			seed: []tracker.Notification{gen2("202605.14.0")}, notify: alpha,
			want: map[int]want{1: {"open", nil}, 2: {"open", nil}},
		},
		{
			name: "a test notification closes nothing", closePrevious: true,
			seed:   []tracker.Notification{gen2("202605.14.0")},
			notify: tracker.Notification{Key: "test:2026-06-01T00:00:00Z", Messages: gen2("202605.27.0").Messages},
			want:   map[int]want{1: {"open", nil}, 2: {"open", nil}},
		},
		{
			name: "a close that failed is finished on retry", closePrevious: true,
			seed: []tracker.Notification{gen2("202605.14.0")}, notify: gen2("202605.27.0"),
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/comments") {
					writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Server Error"})
					return true
				}
				return false
			},
			want: map[int]want{1: {"closed", []string{"Superseded by #2 (202605.27.0)"}}, 2: {"open", nil}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGitHub(t)
			seeder := f.notifier(t, false)
			for _, note := range tc.seed {
				if err := seeder.Notify(context.Background(), note); err != nil {
					t.Fatal(err)
				}
			}
			n := f.notifier(t, tc.closePrevious)
			if tc.fault != nil {
				f.SetFault(tc.fault)
				var ne *tracker.NotifyError
				if err := n.Notify(context.Background(), tc.notify); !errors.As(err, &ne) || ne.Permanent {
					t.Fatalf("with the fault: %v, want a retryable error", err)
				}
				f.SetFault(nil)
			}
			if err := n.Notify(context.Background(), tc.notify); err != nil {
				t.Fatal(err)
			}
			if got := len(f.all()); got != len(tc.want) {
				t.Fatalf("%d issues, want %d", got, len(tc.want))
			}
			for num, w := range tc.want {
				is := f.issue(num)
				if is.State != w.state || !slices.Equal(is.Comments, w.comments) {
					t.Errorf("#%d %s: %s with comments %q, want %s with %q", num, is.Title, is.State, is.Comments, w.state, w.comments)
				}
			}
			if !tc.closePrevious && f.count(http.MethodPatch, "") != 0 {
				t.Error("close_previous off, yet an issue was edited")
			}
		})
	}
}

var (
	liveMention   = regexp.MustCompile(`(^|[^\w])@[A-Za-z0-9]`)
	liveReference = regexp.MustCompile(`(?i)(#|\bgh-)\d`)
)

// cells counts the cells of a table row: the pipes that a backslash does not escape.
func cells(row string) int {
	n := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

// TestHostileText: what upstream writes cannot mention anyone, reference an issue, inject
// HTML, end the marker comment or break a table.
func TestHostileText(t *testing.T) {
	msgs := realMessages(t)
	m := msgs["node_image:AKSFlatcar/gen2:202605.27.0"]
	im := *m.Image
	hostile := "@octocat #1 Azure/AKS#5 gh-7 <script>alert(1)</script> --> <!-- | `x` *y* [z](https://evil.example) " +
		"https://github.com/Azure/AKS/issues/5 www.evil.example $x$ &#64;octocat \\@octocat\nline two"
	im.OS.Name = "Flatcar " + hostile
	im.Kernel = new("6.12.87-flatcar @octocat -->")
	im.Previous = new("202605.14.0 #1 @octocat")
	im.NotesURL = "https://github.com/Azure/AKS/issues/5"
	im.Changes = append(slices.Clone(im.Changes),
		tracker.Change{What: "kubelet | @octocat", From: "#1 | a", To: hostile},
		tracker.Change{What: "<img src=x onerror=alert(1)>", From: "", To: "GH-12 -->"})
	m.Image = &im
	note := single(m)

	f := newGitHub(t)
	if err := f.notifier(t, true).Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	is := f.issue(1)
	for what, s := range map[string]string{"title": is.Title, "body": is.Body} {
		if loc := liveMention.FindStringIndex(s); loc != nil {
			t.Errorf("%s mentions someone: %q", what, s[loc[0]:])
		}
		if loc := liveReference.FindStringIndex(s); loc != nil {
			t.Errorf("%s references an issue: %q", what, s[loc[0]:])
		}
		if strings.Contains(s, "://github.com") || strings.Contains(s, "://evil") || strings.Contains(s, "www.evil") {
			t.Errorf("%s holds a live link: %s", what, s)
		}
	}
	if !strings.Contains(is.Title, "octocat") || strings.Contains(is.Title, "\n") {
		t.Errorf("title %q", is.Title)
	}

	if got := markers(eventLine, is.Body); !slices.Equal(got, []string{note.Key}) {
		t.Errorf("event markers %q, want %q", got, note.Key)
	}
	if got := markers(familyLine, is.Body); !slices.Equal(got, []string{"AKSFlatcar/gen2"}) {
		t.Errorf("family markers %q", got)
	}
	if key, ok := markedEvent(is.Body); !ok || key != note.Key {
		t.Errorf("marked event %q %v", key, ok)
	}
	rest := eventLine.ReplaceAllString(familyLine.ReplaceAllString(is.Body, ""), "")
	if strings.ContainsAny(rest, "<>") || strings.Contains(rest, "-->") {
		t.Errorf("raw HTML outside the markers:\n%s", is.Body)
	}
	if !strings.Contains(is.Body, "&lt;script&gt;") || !strings.Contains(is.Body, "@\u200doctocat") {
		t.Errorf("the hostile text is not shown:\n%s", is.Body)
	}

	var table []string
	for l := range strings.Lines(is.Body) {
		if strings.HasPrefix(l, "|") {
			table = append(table, strings.TrimSuffix(l, "\n"))
		}
	}
	if len(table) != len(im.Changes)+2 {
		t.Fatalf("table of %d rows for %d changes:\n%s", len(table), len(im.Changes), is.Body)
	}
	for _, row := range table {
		if cells(row) != 3 {
			t.Errorf("row of %d cells: %s", cells(row), row)
		}
	}
}

// TestNeutral pins what upstream text becomes.
func TestNeutral(t *testing.T) {
	for _, tc := range []struct{ in, text, title string }{
		{"6.12.87-flatcar", "6.12.87-flatcar", "6.12.87-flatcar"},
		{"@octocat", "@\u200doctocat", "@\u200doctocat"},
		{"Azure/AKS#5 and #12", "Azure/AKS#\u200d5 and #\u200d12", "Azure/AKS#\u200d5 and #\u200d12"},
		{"GH-12", "GH-\u200d12", "GH-\u200d12"},
		{"a|b", `a\|b`, "a|b"},
		{"<script>-->", "&lt;script&gt;--&gt;", "<script>-->"},
		{"`code` *em* _em_ [l](u) ~s~ $m$ &amp;", "\\`code\\` \\*em\\* \\_em\\_ \\[l\\](u) \\~s\\~ \\$m\\$ &amp;amp;", "`code` *em* _em_ [l](u) ~s~ $m$ &amp;"},
		{"https://github.com/o/r/issues/1", "https:\u200d//github.com/o/r/issues/1", "https:\u200d//github.com/o/r/issues/1"},
		{"one\r\ntwo\tthree\x00", "one two three", "one two three"},
	} {
		if got := text(tc.in); got != tc.text {
			t.Errorf("text(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := neutral(tc.in); got != tc.title {
			t.Errorf("neutral(%q) = %q, want %q", tc.in, got, tc.title)
		}
	}
}

// TestMarkerValue: a marker is one line that no key can end early, and reads back as
// the key.
func TestMarkerValue(t *testing.T) {
	for _, key := range []string{
		"node_image:AKSFlatcar/gen2:202605.27.0",
		"aks_release:Azure/AKS:2026-04-28",
		"digest:0:2026-05-31T12:00:00Z",
		"odd --> key\n<!-- nodewatch:event=x --> 100%",
	} {
		m := eventMarker(key)
		if strings.Count(m, "-->") != 1 || !strings.HasSuffix(m, " -->") || strings.ContainsAny(m, "\r\n") {
			t.Errorf("marker of %q: %q", key, m)
		}
		if got, ok := markedEvent("text\n" + m + "\n"); !ok || got != key {
			t.Errorf("marker of %q reads back as %q %v", key, got, ok)
		}
	}
	if m := eventMarker("node_image:AKSFlatcar/gen2:202605.27.0"); m != "<!-- nodewatch:event=node_image:AKSFlatcar/gen2:202605.27.0 -->" {
		t.Errorf("marker %q is not the contract's", m)
	}
}

// TestErrors: each failure says whether a retry is worth it, and how long to wait; no
// error shows the token.
func TestErrors(t *testing.T) {
	msgs := realMessages(t)
	note := single(msgs["node_image:AKSFlatcar/gen2:202605.27.0"])
	reset := time.Now().Add(time.Hour).Unix()
	answer := func(status int, header map[string]string, body string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	onCreate := func(fault func(w http.ResponseWriter, r *http.Request) bool) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			return r.Method == http.MethodPost && fault(w, r)
		}
	}
	for _, tc := range []struct {
		name           string
		fault          func(w http.ResponseWriter, r *http.Request) bool
		down           bool
		permanent      bool
		retryAfterFrom time.Duration
		retryAfterTo   time.Duration
	}{
		{name: "rate limit", fault: answer(http.StatusForbidden, map[string]string{
			"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Used": "5000",
			"X-RateLimit-Reset": strconv.FormatInt(reset, 10), "X-RateLimit-Resource": "core",
		}, `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api","status":"403"}`),
			retryAfterFrom: 50 * time.Minute, retryAfterTo: time.Hour},
		{name: "secondary rate limit", fault: onCreate(answer(http.StatusForbidden, map[string]string{"Retry-After": "60"},
			`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`)),
			retryAfterFrom: time.Minute, retryAfterTo: time.Minute},
		{name: "429", fault: answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, `{"message":"Too Many Requests"}`),
			retryAfterFrom: 2 * time.Minute, retryAfterTo: 2 * time.Minute},
		{name: "500", fault: answer(http.StatusInternalServerError, nil, `{"message":"Server Error"}`)},
		{name: "502 on create", fault: onCreate(answer(http.StatusBadGateway, nil, `{"message":"Server Error"}`))},
		{name: "408", fault: answer(http.StatusRequestTimeout, nil, `{"message":"Request Timeout"}`)},
		{name: "server down", down: true},
		{name: "401", fault: answer(http.StatusUnauthorized, nil, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`), permanent: true},
		{name: "403", fault: onCreate(answer(http.StatusForbidden, nil, `{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"403"}`)), permanent: true},
		{name: "404", fault: answer(http.StatusNotFound, nil, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/issues/issues#list-repository-issues","status":"404"}`), permanent: true},
		{name: "410", fault: onCreate(answer(http.StatusGone, nil, `{"message":"Issues are disabled for this repo","documentation_url":"https://docs.github.com/v3/issues/","status":"410"}`)), permanent: true},
		{name: "422", fault: onCreate(func(w http.ResponseWriter, r *http.Request) bool { validationFailed(w, "labels"); return true }), permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGitHub(t)
			f.SetFault(tc.fault)
			n := f.notifier(t, false)
			if tc.down {
				f.Close()
			}
			err := n.Notify(context.Background(), note)
			var ne *tracker.NotifyError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v (%T), want a *tracker.NotifyError", err, err)
			}
			if ne.Permanent != tc.permanent || ne.RetryAfter < tc.retryAfterFrom || ne.RetryAfter > tc.retryAfterTo {
				t.Errorf("permanent %v retry after %s, want %v and %s..%s: %v", ne.Permanent, ne.RetryAfter, tc.permanent, tc.retryAfterFrom, tc.retryAfterTo, err)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(fmt.Sprintf("%+v", err), token) {
				t.Errorf("error shows the token: %v", err)
			}
			if !strings.Contains(err.Error(), owner+"/"+repo) {
				t.Errorf("error %q does not name the repository", err)
			}
			if len(f.all()) != 0 {
				t.Error("an issue was created")
			}
			if !tc.down && len(f.IssueRequests()) == 0 {
				t.Error("no request reached the server")
			}
		})
	}
}

// TestNew: configurations that cannot work are refused, without echoing a secret; a
// GitHub Enterprise api_url may omit its trailing slash.
func TestNew(t *testing.T) {
	f := newGitHub(t)
	n, err := New(Config{Name: "x", Repo: owner + "/" + repo, Token: token, APIURL: strings.TrimSuffix(f.GitHubAPIURL(), "/")})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), tracker.Notification{Key: "test", Messages: []tracker.Message{{Event: tracker.Event{Key: "test", Subject: "nodewatch", Version: "test"}}}}); err != nil || len(f.all()) != 1 {
		t.Errorf("api_url without a slash: %v", err)
	}
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"repo without owner", Config{Name: "x", Repo: "platform", Token: token}},
		{"repo with a path", Config{Name: "x", Repo: "a/b/c", Token: token}},
		{"no token", Config{Name: "x", Repo: "a/b"}},
		{"api_url not http", Config{Name: "x", Repo: "a/b", Token: token, APIURL: "ftp://example.com/"}},
		{"api_url with credentials", Config{Name: "x", Repo: "a/b", Token: token, APIURL: "https://user:" + token + "@example.com/api/v3/"}},
	} {
		if _, err := New(tc.c); err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
