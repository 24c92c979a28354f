package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

const (
	token    = "xoxb-1234-5678-T0KENthatMustNeverShow"
	hookPath = "/services/T0SECRET/B0SECRET/hookSecretXYZ123"
	channel  = "C0123456"

	flatcarImage = "node_image:AKSFlatcar/gen2:202605.27.0"
	flatcarNotes = "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSFlatcar/gen2/202605.27.0.txt"
	alphaRelease = "flatcar_release:alpha:4694.0.0"
	aksRelease   = "aks_release:Azure/AKS:2026-04-28"
	aksURL       = "https://github.com/Azure/AKS/releases/tag/2026-04-28"
)

// world is the real pipeline run over the April and then the May snapshot.
type world struct {
	db   *storage.DB
	msgs []tracker.Message // the May cycle's, in event order
}

func (w world) msg(t *testing.T, key string) tracker.Message {
	t.Helper()
	for _, m := range w.msgs {
		if m.Event.Key == key {
			return m
		}
	}
	t.Fatalf("the May cycle raised no %s", key)
	return tracker.Message{}
}

// realWorld runs the April cycle silently and returns the May cycle's messages. With
// router set, the May events also fill the outbox.
func realWorld(t *testing.T, channels []string, router *tracker.Router) world {
	t.Helper()
	r := trackertest.NewRig(t, "2026-04-30", tracker.FirstRunSilent)
	r.Tracker.Channels = channels
	r.Cycle(t)
	r.Move(t, "2026-05-31")
	r.Tracker.Router = router
	_, events := r.Cycle(t)
	msgs, err := tracker.Messages(r.DB, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 10 {
		t.Fatalf("the May cycle raised only %d events", len(msgs))
	}
	return world{db: r.DB, msgs: msgs}
}

var allChannels = []string{"alpha", "beta", "stable", "lts"}

func single(m tracker.Message) tracker.Notification {
	return tracker.Notification{Key: m.Event.Key, Messages: []tracker.Message{m}}
}

func digest(msgs ...tracker.Message) tracker.Notification {
	return tracker.Notification{Key: "digest:0:2026-05-31T00:00:00Z", Messages: msgs}
}

// post is what one request to the fake carried, in either wire format.
type post struct {
	Path        string
	ContentType string
	Auth        string         // the Authorization header
	Form        url.Values     // chat.postMessage's form
	JSON        map[string]any // the webhook's body
	Text        string
	Blocks      []any
}

// fakeSlack speaks the two wire formats the notifier posts in, as Slack does: an
// incoming webhook (POST JSON; "ok", or a status and a word such as no_service) and the
// Web API's chat.postMessage (a form post with the token; JSON {"ok":...}).
type fakeSlack struct {
	srv *httptest.Server

	mu    sync.Mutex
	posts []post
	// fault answers a request instead of Slack when it returns true.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

func newFake(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := post{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization")}
	f.mu.Lock()
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/services/"):
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path != hookPath {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no_service")
			return
		}
		if err := json.Unmarshal(body, &p.JSON); err != nil || !strings.HasPrefix(p.ContentType, "application/json") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "invalid_payload")
			return
		}
		p.Text, _ = p.JSON["text"].(string)
		p.Blocks, _ = p.JSON["blocks"].([]any)
		f.record(p)
		if problem := f.reject(p); problem != "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, problem)
			return
		}
		io.WriteString(w, "ok")
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat.postMessage":
		form, err := url.ParseQuery(string(body))
		if err != nil || !strings.HasPrefix(p.ContentType, "application/x-www-form-urlencoded") {
			apiAnswer(w, "invalid_form_data")
			return
		}
		p.Form, p.Text = form, form.Get("text")
		if blocks := form.Get("blocks"); blocks != "" {
			if err := json.Unmarshal([]byte(blocks), &p.Blocks); err != nil {
				apiAnswer(w, "invalid_blocks_format")
				return
			}
		}
		f.record(p)
		// Slack takes the token from the Authorization header or the token field.
		switch problem := f.reject(p); {
		case p.Auth != "Bearer "+token && form.Get("token") != token:
			apiAnswer(w, "invalid_auth")
		case form.Get("channel") != channel:
			apiAnswer(w, "channel_not_found")
		case problem != "":
			apiAnswer(w, problem)
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": "1780000000.000100",
				"message": map[string]any{"type": "message", "text": p.Text, "blocks": p.Blocks}})
		}
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		apiAnswer(w, "unknown_method")
	}
}

func apiAnswer(w http.ResponseWriter, slackError string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": slackError})
}

// reject is Slack's word for a message it refuses.
func (f *fakeSlack) reject(p post) string {
	if p.Text == "" && len(p.Blocks) == 0 {
		return "no_text"
	}
	if len(limitProblems(p.Blocks)) > 0 {
		return "invalid_blocks"
	}
	return ""
}

func (f *fakeSlack) record(p post) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, p)
}

func (f *fakeSlack) recorded() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

func (f *fakeSlack) setFault(fault func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

func (f *fakeSlack) webhookURL() string { return f.srv.URL + hookPath }

type transport struct {
	name string
	new  func(t *testing.T, f *fakeSlack) *Notifier
}

var transports = []transport{
	{"webhook", func(t *testing.T, f *fakeSlack) *Notifier {
		return mustNew(t, Config{Name: "team", WebhookURL: f.webhookURL()})
	}},
	{"bot", func(t *testing.T, f *fakeSlack) *Notifier {
		return mustNew(t, Config{Name: "bot", Token: token, Channel: channel, APIURL: f.srv.URL + "/api/"})
	}},
	{"bot, API URL without a slash", func(t *testing.T, f *fakeSlack) *Notifier {
		return mustNew(t, Config{Name: "bot", Token: token, Channel: channel, APIURL: f.srv.URL + "/api"})
	}},
}

func mustNew(t *testing.T, c Config) *Notifier {
	t.Helper()
	n, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// deliver notifies through a fresh fake and returns the one post it received.
func deliver(t *testing.T, tp transport, note tracker.Notification) post {
	t.Helper()
	f := newFake(t)
	if err := tp.new(t, f).Notify(context.Background(), note); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	posts := f.recorded()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	p := posts[0]
	if tp.name == "webhook" {
		if p.Path != hookPath || p.JSON["unfurl_links"] != false {
			t.Errorf("webhook post to %s, unfurl_links %v", p.Path, p.JSON["unfurl_links"])
		}
	} else {
		if p.Path != "/api/chat.postMessage" || p.Form.Get("channel") != channel || p.Form.Get("unfurl_links") != "false" {
			t.Errorf("bot post to %s channel %q unfurl_links %q", p.Path, p.Form.Get("channel"), p.Form.Get("unfurl_links"))
		}
		// slack-go v0.35.0 sends the token as the form's token field, which Slack accepts
		// as it does the Authorization header.
		if p.Form.Get("token") != token && p.Auth != "Bearer "+token {
			t.Errorf("bot post without the token: Authorization %q", p.Auth)
		}
	}
	for _, problem := range limitProblems(p.Blocks) {
		t.Errorf("over Slack's limits: %s", problem)
	}
	checkEscaped(t, p)
	if n := utf8.RuneCountInString(p.Text); n == 0 || n > maxFallback {
		t.Errorf("fallback text of %d characters", n)
	}
	return p
}

// limitProblems checks blocks against Slack's Block Kit rules for the blocks nodewatch
// sends; Slack answers invalid_blocks to a message breaking any.
func limitProblems(blocks []any) []string {
	var out []string
	if len(blocks) == 0 || len(blocks) > 50 {
		out = append(out, fmt.Sprintf("%d blocks, want 1 to 50", len(blocks)))
	}
	text := func(where string, v any, types []string, max int) {
		obj, _ := v.(map[string]any)
		s, _ := obj["text"].(string)
		if typ, _ := obj["type"].(string); !slices.Contains(types, typ) {
			out = append(out, fmt.Sprintf("%s: text type %q, want one of %v", where, typ, types))
		}
		if n := utf8.RuneCountInString(s); n == 0 || n > max {
			out = append(out, fmt.Sprintf("%s: text of %d characters, want 1 to %d", where, n, max))
		}
	}
	for i, b := range blocks {
		block, _ := b.(map[string]any)
		where := fmt.Sprintf("block %d (%v)", i, block["type"])
		switch block["type"] {
		case "header":
			text(where, block["text"], []string{"plain_text"}, 150)
		case "section":
			fields, _ := block["fields"].([]any)
			if block["text"] == nil && len(fields) == 0 {
				out = append(out, where+": neither text nor fields")
			}
			if block["text"] != nil {
				text(where, block["text"], []string{"mrkdwn", "plain_text"}, 3000)
			}
			if len(fields) > 10 {
				out = append(out, fmt.Sprintf("%s: %d fields, want at most 10", where, len(fields)))
			}
			for j, fl := range fields {
				text(fmt.Sprintf("%s field %d", where, j), fl, []string{"mrkdwn", "plain_text"}, 2000)
			}
		case "context":
			elems, _ := block["elements"].([]any)
			if len(elems) == 0 || len(elems) > 10 {
				out = append(out, fmt.Sprintf("%s: %d elements, want 1 to 10", where, len(elems)))
			}
			for j, e := range elems {
				text(fmt.Sprintf("%s element %d", where, j), e, []string{"mrkdwn", "plain_text"}, 3000)
			}
		default:
			out = append(out, where+": a block type nodewatch does not send")
		}
	}
	return out
}

// texts lists every text a payload shows, the fallback first.
func texts(p post) []string {
	out := []string{p.Text}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["text"].(string); ok {
				out = append(out, s)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(p.Blocks)
	return out
}

func shown(p post) string { return strings.Join(texts(p), "\n") }

var (
	slackLink = regexp.MustCompile(`<(https?://[^\s<>|]+)\|([^<>|]+)>`)
	entity    = regexp.MustCompile(`&(amp|lt|gt);`)
)

// checkEscaped fails when a text holds a < or > that is not one of the well-formed
// links the notifier builds (a mention, a special command, a link from upstream), or an
// & that starts no entity; or when a mrkdwn text is not verbatim, which lets Slack turn
// bare text such as @channel, #general or a URL into a mention or a link.
func checkEscaped(t *testing.T, p post) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "mrkdwn" && v["verbatim"] != true {
				t.Errorf("mrkdwn text %q is not verbatim", v["text"])
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(p.Blocks)
	for _, s := range texts(p) {
		rest := slackLink.ReplaceAllString(s, "$2")
		if strings.ContainsAny(rest, "<>") {
			t.Errorf("unescaped < or > in %q", s)
		}
		if strings.Count(rest, "&") != len(entity.FindAllString(rest, -1)) {
			t.Errorf("unescaped & in %q", s)
		}
		for _, l := range slackLink.FindAllStringSubmatch(s, -1) {
			if strings.ContainsAny(l[1], "&") && strings.Count(l[1], "&") != strings.Count(l[1], "&amp;") {
				t.Errorf("link %q: unescaped & in its URL", l[0])
			}
		}
	}
}

// links lists the URLs a payload links to.
func links(p post) []string {
	var out []string
	for _, s := range texts(p) {
		for _, l := range slackLink.FindAllStringSubmatch(s, -1) {
			out = append(out, html.UnescapeString(l[1]))
		}
	}
	return out
}

func TestRealMessages(t *testing.T) {
	w := realWorld(t, allChannels, nil)
	lagging := realWorld(t, []string{"stable"}, nil)
	tests := []struct {
		name   string
		note   tracker.Notification
		header string
		want   []string
		absent []string
	}{
		{
			name:   "Flatcar image",
			note:   single(w.msg(t, flatcarImage)),
			header: "New AKS node image AKSFlatcar/gen2 202605.27.0",
			want: []string{"*OS*\nFlatcar Container Linux by Kinvolk 4694.0.0", "*Kernel*\n6.12.87-flatcar",
				"*Flatcar*\n4694.0.0 in alpha, released 2026-05-11: 15 days old at build",
				"*Node image version*\nAKSFlatcar-flatcargen2-202605.27.0", "*Changes since 202605.14.0*\n",
				"• kubectl v1.31.14-1-azlinux3, v1.33.7-1-azlinux3, v1.34.3-1-azlinux3, v1.35.0-1-azlinux3 → v1.31.100-1-azlinux3,",
				"• kubelet v1.33.7-1-azlinux3", "<" + flatcarNotes + "|Release notes>"},
		},
		{
			name:   "Flatcar image with a new OS and kernel",
			note:   single(w.msg(t, "node_image:AKSFlatcar/gen2arm64:202605.14.0")),
			header: "New AKS node image AKSFlatcar/gen2arm64 202605.14.0",
			want: []string{"• os.version 4628.0.0 → 4694.0.0", "• kernel 6.12.74-flatcar → 6.12.87-flatcar",
				"• aks-secure-tls-bootstrap-client 1.1.1 → 1.1.2", "2 days old at build"},
		},
		{
			name:   "Flatcar image ahead of Flatcar's feeds",
			note:   single(lagging.msg(t, flatcarImage)),
			header: "New AKS node image AKSFlatcar/gen2 202605.27.0",
			want:   []string{"*Flatcar*\n4694.0.0, not in Flatcar's feeds yet", "*Kernel*\n6.12.87-flatcar"},
			absent: []string{"alpha"},
		},
		{
			name:   "Azure Linux image",
			note:   single(w.msg(t, "node_image:AKSAzureLinuxV3/gen2:202605.27.0")),
			header: "New AKS node image AKSAzureLinuxV3/gen2 202605.27.0",
			want:   []string{"*OS*\nMicrosoft Azure Linux 3.0.20260517", "*Kernel*\n6.6.139.1-1.azl3", "• os.version 3.0.20260510 → 3.0.20260517"},
			absent: []string{"*Flatcar*"},
		},
		{
			name:   "Ubuntu image",
			note:   single(w.msg(t, "node_image:AKSUbuntu/gen2/2404containerd:202605.27.0")),
			header: "New AKS node image AKSUbuntu/gen2/2404containerd 202605.27.0",
			want:   []string{"*OS*\nUbuntu 24.04.4 LTS (Noble Numbat)", "*Kernel*\n6.8.0-1056-azure", "• containerd 2.1.6-ubuntu24.04u2 → 2.1.7-ubuntu24.04u2"},
			absent: []string{"*Flatcar*"},
		},
		{
			name:   "Flatcar release",
			note:   single(w.msg(t, alphaRelease)),
			header: "Flatcar 4694.0.0 in alpha",
			want: []string{"*Kernel*\n6.12.87", "*containerd*\n2.2.1", "*systemd*\n258", "*Released*\n2026-05-11T18:20:17Z",
				"<https://www.flatcar.org/releases/#release-4694.0.0|Release notes>"},
		},
		{
			name:   "AKS release",
			note:   single(w.msg(t, aksRelease)),
			header: "AKS release 2026-04-28",
			want: []string{"*Published*\n2026-04-28T12:00:00Z", "• Windows Server 2022: 20348.5020.260415\n",
				"• Ubuntu 24.04: 202603.18.1, 202603.30.0, 202604.13.0, 202604.24.0", "• Azure Linux 3.0: 202603.18.1",
				"<" + aksURL + "|Release notes>"},
		},
		{
			name:   "digest of the May cycle",
			note:   digest(w.msgs...),
			header: fmt.Sprintf("nodewatch: %d updates", len(w.msgs)),
			want: []string{"*<" + flatcarNotes + "|New AKS node image AKSFlatcar/gen2 202605.27.0>*\nFlatcar Container Linux by Kinvolk 4694.0.0 · kernel 6.12.87-flatcar\nFlatcar 4694.0.0 in alpha, released 2026-05-11: 15 days old at build\nSince 202605.14.0: kubectl, kubelet",
				"Since 202605.05.1: os.version 4628.0.0 → 4694.0.0, kernel 6.12.74-flatcar → 6.12.87-flatcar, aks-secure-tls-bootstrap-client, kubernetes-binaries",
				"*<https://www.flatcar.org/releases/#release-4694.0.0|Flatcar 4694.0.0 in alpha>*\nkernel 6.12.87 · containerd 2.2.1 · systemd 258 · released 2026-05-11",
				"*<" + aksURL + "|AKS release 2026-04-28>*\npublished 2026-04-28 · node images Windows Server 2022 20348.5020.260415, Windows Server 2025 26100.32690.260415,",
				", and 9 more"},
		},
	}
	for _, tp := range transports {
		for _, tt := range tests {
			t.Run(tp.name+"/"+tt.name, func(t *testing.T) {
				p := deliver(t, tp, tt.note)
				first, _ := p.Blocks[0].(map[string]any)
				if h, _ := first["text"].(map[string]any); first["type"] != "header" || h["text"] != tt.header {
					t.Errorf("first block %v, want header %q", first, tt.header)
				}
				got := shown(p)
				for _, s := range tt.want {
					if !strings.Contains(got, s) {
						t.Errorf("posted nothing reading %q in:\n%s", s, got)
					}
				}
				for _, s := range tt.absent {
					if strings.Contains(got, s) {
						t.Errorf("posted %q in:\n%s", s, got)
					}
				}
				var lines []string
				for _, m := range tt.note.Messages {
					lines = append(lines, m.Summary())
					if !slices.Contains(links(p), source(m)) {
						t.Errorf("no link to %s", source(m))
					}
				}
				if len(lines) > 1 {
					lines = append([]string{tt.header}, lines...)
				}
				if want := strings.Join(lines, "\n"); html.UnescapeString(p.Text) != want {
					t.Errorf("fallback text\n%s\nwant the summaries\n%s", p.Text, want)
				}
			})
		}
	}
}

// TestSameMessageBothWays: the webhook and the bot post the same blocks and text.
func TestSameMessageBothWays(t *testing.T) {
	w := realWorld(t, allChannels, nil)
	for _, note := range []tracker.Notification{single(w.msg(t, flatcarImage)), digest(w.msgs...)} {
		hook, bot := deliver(t, transports[0], note), deliver(t, transports[1], note)
		a, _ := json.Marshal(hook.Blocks)
		b, _ := json.Marshal(bot.Blocks)
		if !bytes.Equal(a, b) || hook.Text != bot.Text {
			t.Errorf("%s: the webhook posted\n%s\nthe bot\n%s", note.Key, a, b)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// cloneImage copies a real node image message so that a test can change it.
func cloneImage(m tracker.Message) tracker.Message {
	im := *m.Image
	if im.Flatcar != nil {
		fl := *im.Flatcar
		im.Flatcar = &fl
	}
	im.Changes = slices.Clone(im.Changes)
	m.Image = &im
	return m
}

func TestHostileUpstreamText(t *testing.T) {
	w := realWorld(t, allChannels, nil)
	im := cloneImage(w.msg(t, flatcarImage))
	im.Event.Version = "202605.27.0|<https://evil|click>"
	im.Image.OS.Name = "Flatcar <!channel> & <@U123>"
	im.Image.OS.Version = ptr("4694.0.0 <https://evil|click>")
	im.Image.Kernel = ptr("6.12.87-flatcar\n<!here>")
	im.Image.NodeImageVersion = "AKSFlatcar-<@U123>-202605.27.0"
	im.Image.Previous = ptr("<!everyone>")
	im.Image.Flatcar.Channel = ptr("alpha <!subteam^S123>")
	im.Image.Flatcar.ChannelLatest = ptr("<https://evil|newer>")
	im.Image.Changes = append(im.Image.Changes, tracker.Change{What: "<https://evil|click>", From: "<!channel>", To: "a & b <@U123>"},
		tracker.Change{What: "kernel", From: "<!here>", To: "<https://evil>"})
	im.Image.NotesURL = flatcarNotes + "?a=1&b=<!channel>|click"

	fc := w.msg(t, alphaRelease)
	r := *fc.Flatcar
	r.Kernel, r.Containerd, r.Systemd = "6.12.87 <!channel>", "<@U123>", "<https://evil|click> &"
	fc.Flatcar = &r

	aks := w.msg(t, aksRelease)
	a := *aks.AKS
	a.NodeImages = append(slices.Clone(a.NodeImages), tracker.AKSImageRef{OS: "<https://evil|click>", Version: "<!channel>"},
		tracker.AKSImageRef{OS: "Ubuntu & <@U123>", Version: "1|2"})
	aks.AKS = &a

	bare := tracker.Message{Event: im.Event}
	bare.Event.Subject = "<!channel>"

	notes := map[string]tracker.Notification{"node image": single(im), "Flatcar release": single(fc), "AKS release": single(aks),
		"unresolved event": single(bare), "digest": digest(im, fc, aks, bare)}
	for _, tp := range transports[:2] {
		for name, note := range notes {
			t.Run(tp.name+"/"+name, func(t *testing.T) {
				p := deliver(t, tp, note)
				for _, s := range texts(p) {
					for _, bad := range []string{"<!", "<@", "<https://evil"} {
						if strings.Contains(s, bad) {
							t.Errorf("%q posted as is in %q", bad, s)
						}
					}
				}
				for _, l := range links(p) {
					if !strings.HasPrefix(l, "https://github.com/Azure/") && !strings.HasPrefix(l, "https://www.flatcar.org/") {
						t.Errorf("links to %s", l)
					}
				}
				got := shown(p)
				// What upstream wrote is still shown, escaped.
				for _, m := range note.Messages {
					var want string
					switch {
					case m.Image != nil:
						want = "Flatcar &lt;!channel&gt; &amp; &lt;@U123&gt;"
					case m.Flatcar != nil:
						want = "6.12.87 &lt;!channel&gt;"
					case m.AKS != nil:
						want = "&lt;https://evil|click&gt;"
					default:
						want = "&lt;!channel&gt;"
					}
					if !strings.Contains(got, want) {
						t.Errorf("%q is not shown in:\n%s", want, got)
					}
				}
				if len(note.Messages) > 1 && !strings.Contains(got, "|New AKS node image AKSFlatcar/gen2 202605.27.0¦&lt;https://evil¦click&gt;>") {
					t.Errorf("a | in a link's text is not neutralised:\n%s", got)
				}
			})
		}
	}
}

// huge blows every upstream value of a real message up past every limit.
func huge(m tracker.Message) tracker.Message {
	long := func(s string) string { return strings.Repeat(s+" & ", 10000/len(s)) }
	switch {
	case m.Image != nil:
		m = cloneImage(m)
		m.Event.Version = long(m.Event.Version)
		m.Image.OS.Name, m.Image.OS.Version, m.Image.Kernel = long(m.Image.OS.Name), ptr(long("4694.0.0")), ptr(long("6.12.87-flatcar"))
		m.Image.NodeImageVersion, m.Image.Previous = long("AKSFlatcar-flatcargen2"), ptr(long("202605.14.0"))
		if m.Image.Flatcar != nil {
			m.Image.Flatcar.Version, m.Image.Flatcar.Channel = long("4694.0.0"), ptr(long("alpha"))
		}
		for i := range m.Image.Changes {
			m.Image.Changes[i] = tracker.Change{What: long("kubectl"), From: long("v1.31.14"), To: long("v1.31.100")}
		}
	case m.Flatcar != nil:
		r := *m.Flatcar
		r.Kernel, r.Containerd, r.Systemd = long("6.12.87"), long("2.2.1"), long("258")
		m.Flatcar = &r
	case m.AKS != nil:
		r := *m.AKS
		r.NodeImages = slices.Clone(r.NodeImages)
		for i := range r.NodeImages {
			r.NodeImages[i] = tracker.AKSImageRef{OS: long(r.NodeImages[i].OS), Version: long(r.NodeImages[i].Version)}
		}
		m.AKS = &r
	}
	return m
}

func TestSizeLimits(t *testing.T) {
	w := realWorld(t, allChannels, nil)

	manyChanges := cloneImage(w.msg(t, flatcarImage))
	manyChanges.Image.Changes = nil
	for i := range 10000 {
		manyChanges.Image.Changes = append(manyChanges.Image.Changes, tracker.Change{What: fmt.Sprintf("component-%05d", i), From: "1.0.0", To: "1.0.1"})
	}
	manyImages := w.msg(t, aksRelease)
	a := *manyImages.AKS
	a.NodeImages = nil
	for i := range 1000 {
		for _, ref := range manyImages.AKS.NodeImages {
			a.NodeImages = append(a.NodeImages, tracker.AKSImageRef{OS: fmt.Sprintf("%s #%d", ref.OS, i), Version: ref.Version})
		}
	}
	manyImages.AKS = &a
	var many, manyHuge []tracker.Message
	for i := range 300 {
		m := w.msgs[i%len(w.msgs)]
		many = append(many, m)
		manyHuge = append(manyHuge, huge(m))
	}

	tests := []struct {
		name string
		note tracker.Notification
		want []string
	}{
		{"10,000 changes", single(manyChanges), []string{"• component-00011 1.0.0 → 1.0.1\n…and 9988 more in the <" + flatcarNotes + "|notes>"}},
		{"15,000 AKS node images", single(manyImages), []string{"…and 14978 more in the <" + aksURL + "|release>"}},
		{"huge node image", single(huge(w.msg(t, flatcarImage))), []string{"*OS*\nFlatcar Container Linux by Kinvolk &amp; Flatcar", "…"}},
		{"huge Flatcar release", single(huge(w.msg(t, alphaRelease))), []string{"*Kernel*\n6.12.87 &amp; 6.12.87", "…"}},
		{"huge AKS release", single(huge(w.msg(t, aksRelease))), []string{"more in the <" + aksURL + "|release>", "…"}},
		{"digest of 300", digest(many...), []string{"*…and 280 more:* <", "and 280 more", "nodewatch: 300 updates"}},
		{"digest of 300 huge", digest(manyHuge...), []string{"*…and 280 more:* "}},
	}
	for _, tp := range transports[:2] {
		for _, tt := range tests {
			t.Run(tp.name+"/"+tt.name, func(t *testing.T) {
				p := deliver(t, tp, tt.note)
				got := shown(p)
				for _, s := range tt.want {
					if !strings.Contains(got, s) {
						t.Errorf("posted nothing reading %q", s)
					}
				}
			})
		}
	}
}

// secrets are what no error or log line may show.
var secrets = []string{token, hookPath, "hookSecretXYZ123", "T0SECRET/B0SECRET"}

// checkNoSecret fails when err, or any error it wraps, shows a secret.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range secrets {
			if strings.Contains(e.Error(), s) || strings.Contains(fmt.Sprintf("%+v", e), s) {
				t.Errorf("error shows the secret %q: %s", s, e)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	w := realWorld(t, allChannels, nil)
	note := single(w.msg(t, flatcarImage))
	status := func(code int, retryAfter, body string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
			return true
		}
	}
	apiError := func(slackError string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool { apiAnswer(w, slackError); return true }
	}
	hang := func(w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true }
	tests := []struct {
		name       string
		transport  transport
		fault      func(w http.ResponseWriter, r *http.Request) bool
		down       bool // the server is gone: connection refused
		deadline   bool
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{name: "500", transport: transports[0], fault: status(500, "", "rollup_error"), want: "HTTP 500: rollup_error"},
		{name: "503 page", transport: transports[0], fault: status(503, "", "<html><body>\n<h1>503 Service Unavailable</h1>\n</body></html>"), want: "HTTP 503: <html><body> <h1>503"},
		{name: "429", transport: transports[0], fault: status(429, "7", "rate_limited"), retryAfter: 7 * time.Second, want: "HTTP 429"},
		{name: "429 with a date", transport: transports[0], fault: status(429, "Wed, 21 Oct 2026 07:28:00 GMT", "rate_limited"), want: "HTTP 429"},
		{name: "400 invalid_payload", transport: transports[0], fault: status(400, "", "invalid_payload"), permanent: true, want: "HTTP 400: invalid_payload"},
		{name: "403 action_prohibited", transport: transports[0], fault: status(403, "", "action_prohibited"), permanent: true, want: "action_prohibited"},
		{name: "404 no_service", transport: transports[0], fault: status(404, "", "no_service"), permanent: true, want: "HTTP 404: no_service"},
		{name: "410 channel_is_archived", transport: transports[0], fault: status(410, "", "channel_is_archived"), permanent: true, want: "channel_is_archived"},
		{name: "a proxy echoing the URL", transport: transports[0], permanent: true, want: "Cannot POST …",
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, "Cannot POST %s (http://%s%s)", r.URL.Path, r.Host, r.URL.Path)
				return true
			}},
		{name: "connection refused", transport: transports[0], down: true, want: "connection refused"},
		{name: "deadline", transport: transports[0], fault: hang, deadline: true, want: "context deadline exceeded"},

		{name: "channel_not_found", transport: transports[1], fault: apiError("channel_not_found"), permanent: true, want: "channel_not_found"},
		{name: "invalid_auth", transport: transports[1], fault: apiError("invalid_auth"), permanent: true, want: "invalid_auth"},
		{name: "not_in_channel", transport: transports[1], fault: apiError("not_in_channel"), permanent: true, want: "not_in_channel"},
		{name: "invalid_blocks", transport: transports[1], fault: apiError("invalid_blocks"), permanent: true, want: "invalid_blocks"},
		{name: "internal_error", transport: transports[1], fault: apiError("internal_error"), want: "internal_error"},
		{name: "429", transport: transports[1], fault: status(429, "7", `{"ok":false,"error":"ratelimited"}`), retryAfter: 7 * time.Second, want: "7s"},
		{name: "500", transport: transports[1], fault: status(500, "", "oops"), want: "500"},
		{name: "404 wrong API URL", transport: transports[1], fault: status(404, "", "Not Found"), permanent: true, want: "404"},
		{name: "connection refused", transport: transports[1], down: true, want: "connection refused"},
		{name: "deadline", transport: transports[1], fault: hang, deadline: true, want: "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.transport.name+"/"+tt.name, func(t *testing.T) {
			f := newFake(t)
			f.setFault(tt.fault)
			n := tt.transport.new(t, f)
			if tt.down {
				f.srv.Close()
			}
			ctx := context.Background()
			if tt.deadline {
				var cancel context.CancelFunc
				// The server never answers, so the deadline always passes first.
				ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			}
			err := n.Notify(ctx, note)
			var ne *tracker.NotifyError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v (%T), want a *tracker.NotifyError", err, err)
			}
			if ne.Permanent != tt.permanent || ne.RetryAfter != tt.retryAfter {
				t.Errorf("%v: permanent %v retry after %v, want %v and %v", err, ne.Permanent, ne.RetryAfter, tt.permanent, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not the deadline", err)
			}
			checkNoSecret(t, err)
		})
	}
}

// TestDispatchLogsNoSecret runs the real dispatcher over the May outbox, logging with
// slog, while Slack refuses the webhook and the bot's channel: neither the log nor the
// errors the outbox keeps show a secret.
func TestDispatchLogsNoSecret(t *testing.T) {
	router := &tracker.Router{Routes: []tracker.Route{
		{Events: []tracker.EventKind{tracker.EventNodeImage}, Families: []string{"AKSFlatcar/*"}, Notify: []string{"team", "bot"}},
		{Events: []tracker.EventKind{tracker.EventFlatcarRelease}, Notify: []string{"team"}, Digest: true},
	}}
	w := realWorld(t, allChannels, router)
	f := newFake(t)
	f.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/api/chat.postMessage" {
			apiAnswer(w, "channel_not_found")
		} else {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "upstream error posting to %s", r.URL.Path)
		}
		return true
	})
	var text, js bytes.Buffer
	d := &tracker.Dispatcher{
		Store: w.db, MaxAttempts: 3, MinBackoff: time.Minute, MaxBackoff: time.Hour, Timeout: time.Minute,
		Notifiers: map[string]tracker.Notifier{"team": transports[0].new(t, f), "bot": transports[1].new(t, f)},
		Log:       slog.New(slog.NewMultiHandler(slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&js, nil))),
	}
	rep, err := d.Dispatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed == 0 || rep.GivenUp == 0 || rep.Delivered != 0 {
		t.Errorf("dispatch %+v: want the webhook's deliveries failed and the bot's given up", rep)
	}
	if !strings.Contains(text.String(), "HTTP 500: upstream error posting to …") || !strings.Contains(js.String(), "channel_not_found") {
		t.Errorf("the log does not say why:\n%s", text.String())
	}
	deliveries, err := w.db.Deliveries()
	if err != nil {
		t.Fatal(err)
	}
	logged := text.String() + js.String()
	for _, dl := range deliveries {
		if dl.LastError == "" {
			t.Errorf("delivery %s kept no error", dl.ID)
		}
		logged += dl.LastError + "\n"
	}
	for _, s := range secrets {
		if strings.Contains(logged, s) {
			t.Errorf("the secret %q is logged or kept:\n%s", s, logged)
		}
	}
}

func TestNew(t *testing.T) {
	hook := "https://hooks.slack.com" + hookPath
	tests := []struct {
		name string
		c    Config
		err  string
	}{
		{"webhook", Config{Name: "team", WebhookURL: hook}, ""},
		{"bot", Config{Name: "bot", Token: token, Channel: channel}, ""},
		{"nothing", Config{Name: "x"}, "set a webhook URL, or a token and a channel"},
		{"both", Config{Name: "x", WebhookURL: hook, Token: token, Channel: channel}, "not both"},
		{"webhook and channel", Config{Name: "x", WebhookURL: hook, Channel: channel}, "not both"},
		{"token without channel", Config{Name: "x", Token: token}, "set a webhook URL, or a token and a channel"},
		{"channel without token", Config{Name: "x", Channel: channel}, "set a webhook URL, or a token and a channel"},
		{"webhook without a scheme", Config{Name: "x", WebhookURL: "hooks.slack.com" + hookPath}, "not an http(s) URL"},
		{"webhook not parsing", Config{Name: "x", WebhookURL: "https://hooks.slack.com" + hookPath + "%zz\x7f"}, "not an http(s) URL"},
		{"API URL", Config{Name: "x", Token: token, Channel: channel, APIURL: "slack.com/api/"}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.c)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n.Name() != tt.c.Name || n.http == nil || n.http.Timeout != 30*time.Second {
					t.Errorf("name %q, HTTP client %+v: want %q and a 30 s timeout", n.Name(), n.http, tt.c.Name)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			}
			checkNoSecret(t, err)
		})
	}
}

func TestEmptyNotificationPostsNothing(t *testing.T) {
	for _, tp := range transports[:2] {
		f := newFake(t)
		if err := tp.new(t, f).Notify(context.Background(), tracker.Notification{Key: "digest:0:x"}); err != nil {
			t.Errorf("%s: %v", tp.name, err)
		}
		if posts := f.recorded(); len(posts) != 0 {
			t.Errorf("%s: posted %d messages for none", tp.name, len(posts))
		}
	}
}

// TestFamilyMessages: the family events of a real cycle (April to May, with
// AKSFlatcar/gen2arm64 left behind and a real Ubuntu 22.04 family appearing) read as a
// person needs them, both ways.
func TestFamilyMessages(t *testing.T) {
	r := trackertest.NewRig(t, "2026-04-30", tracker.FirstRunSilent, "*")
	r.Cycle(t)
	r.Move(t, "2026-05-31")
	r.LeaveBehind()
	note, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "samples", "AKSUbuntu_gen2_2204containerd_202412.29.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r.Server.Override(trackertest.NotesDir+"/AKSUbuntu/gen2/2204containerd/202412.29.0.txt", note)
	_, events := r.Cycle(t)
	var family []tracker.Event
	for _, e := range events {
		if e.Kind == tracker.EventFamilyAdded || e.Kind == tracker.EventFamilyQuiet {
			family = append(family, e)
		}
	}
	msgs, err := tracker.Messages(r.DB, family)
	// The new family's one image is of 2024: it is quiet as it appears.
	if err != nil || len(msgs) != 3 {
		t.Fatalf("%d family messages, %v", len(msgs), err)
	}
	want := map[string][]string{
		"family_quiet:AKSUbuntu/gen2/2204containerd:202412.29.0": {"fell quiet", "*Quiet for*\n", "*Usual interval*\nunknown (one image)"},
		"family_quiet:AKSFlatcar/gen2arm64:202604.24.0": {"AKS node image family AKSFlatcar/gen2arm64 fell quiet", "*Newest image*\n202604.24.0",
			"*Node image version*\nAKSFlatcar-flatcargen2arm64-202604.24.0", "*Built*\n2026-04-24", "*Quiet for*\n33 days", "*Usual interval*\n"},
		"family_added:AKSUbuntu/gen2/2204containerd:202412.29.0": {"New AKS node image family AKSUbuntu/gen2/2204containerd", "*OS*\nUbuntu 22.04.5 LTS (Jammy Jellyfish)",
			"*Newest image*\n202412.29.0", "*Kernel*\n5.15.0-1075-azure"},
	}
	for _, m := range msgs {
		for _, tp := range transports {
			p := deliver(t, tp, single(m))
			if want[m.Event.Key] == nil {
				t.Errorf("unexpected %s", m.Event.Key)
			}
			for _, s := range want[m.Event.Key] {
				if !strings.Contains(shown(p), s) {
					t.Errorf("%s %s lacks %q:\n%s", tp.name, m.Event.Key, s, shown(p))
				}
			}
		}
	}
}
