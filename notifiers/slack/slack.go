// Package slack posts notifications to Slack as Block Kit messages, through an incoming
// webhook or as a bot with a token (chat.postMessage).
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/nodewatch/nodewatch/tracker"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Config says where a notifier posts: WebhookURL, or Token with Channel.
type Config struct {
	Name       string
	WebhookURL string
	Token      string
	Channel    string
	// APIURL is the Web API base the bot posts to; DefaultAPIURL when empty.
	APIURL string
	// HTTP should have a timeout; New uses one of 30 s when nil.
	HTTP *http.Client
}

// Notifier posts to one Slack channel.
type Notifier struct {
	name string
	http *http.Client
	// webhook is the incoming webhook's URL, whose path is its secret.
	webhook string
	bot     *slackapi.Client
	channel string
	// host is what errors name instead of a URL.
	host string
	// secrets are what an error must never show, even when a server echoes them.
	secrets []string
}

// permanentAPIErrors are chat.postMessage errors that a retry would meet again.
var permanentAPIErrors = []string{
	"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope",
	"channel_not_found", "not_in_channel", "is_archived", "restricted_action",
	"invalid_blocks", "msg_too_long",
}

// New checks c and returns its notifier. No error names the webhook URL or the token.
func New(c Config) (*Notifier, error) {
	n := &Notifier{name: c.Name, http: c.HTTP}
	if n.http == nil {
		n.http = &http.Client{Timeout: 30 * time.Second}
	}
	switch {
	case c.WebhookURL != "" && (c.Token != "" || c.Channel != ""):
		return nil, errors.New("slack: set a webhook URL, or a token and a channel, not both")
	case c.WebhookURL != "":
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("slack: the webhook URL is not an http(s) URL")
		}
		n.webhook, n.host = c.WebhookURL, u.Host
		n.secrets = []string{c.WebhookURL}
		if len(u.Path) > 1 {
			n.secrets = append(n.secrets, u.Path)
		}
	case c.Token == "" || c.Channel == "":
		return nil, errors.New("slack: set a webhook URL, or a token and a channel")
	default:
		api := c.APIURL
		if api == "" {
			api = DefaultAPIURL
		}
		u, err := url.Parse(api)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("slack: API URL %q is not an http(s) URL", api)
		}
		// slack-go appends the method name to the base.
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		n.bot = slackapi.New(c.Token, slackapi.OptionAPIURL(api), slackapi.OptionHTTPClient(n.http))
		n.channel, n.host = c.Channel, u.Host
		n.secrets = []string{c.Token}
	}
	return n, nil
}

// Name implements tracker.Notifier.
func (n *Notifier) Name() string { return n.name }

// Notify implements tracker.Notifier. An error is a *tracker.NotifyError.
func (n *Notifier) Notify(ctx context.Context, note tracker.Notification) error {
	if len(note.Messages) == 0 {
		return nil
	}
	blocks, text := render(note.Messages)
	if n.bot != nil {
		return n.postMessage(ctx, blocks, text)
	}
	return n.postWebhook(ctx, blocks, text)
}

func (n *Notifier) postWebhook(ctx context.Context, blocks []slackapi.Block, text string) error {
	unfurl := false
	msg := &slackapi.WebhookMessage{Text: text, Blocks: &slackapi.Blocks{BlockSet: blocks}, UnfurlLinks: &unfurl, UnfurlMedia: &unfurl}
	ans := &answer{next: n.http.Transport}
	if ans.next == nil {
		ans.next = http.DefaultTransport
	}
	hc := *n.http
	hc.Transport = ans
	err := slackapi.PostWebhookCustomHTTPContext(ctx, n.webhook, &hc, msg)
	var ue *url.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return &tracker.NotifyError{Err: fmt.Errorf("slack webhook: %w", n.withoutURL(ue))}
	case ans.status == 0:
		return &tracker.NotifyError{Err: fmt.Errorf("slack webhook: %w", err)}
	}
	// Slack answers a failed post with a status and a word saying why (no_service,
	// invalid_payload, channel_is_archived ...), which slack-go drops.
	e := &tracker.NotifyError{Err: fmt.Errorf("slack webhook: HTTP %d: %s", ans.status, n.redact(ans.body))}
	switch {
	case ans.status == http.StatusTooManyRequests:
		e.RetryAfter = retryAfter(ans.retryAfter)
	case ans.status >= 400 && ans.status < 500 && ans.status != http.StatusRequestTimeout:
		e.Permanent = true
	}
	return e
}

func (n *Notifier) postMessage(ctx context.Context, blocks []slackapi.Block, text string) error {
	_, _, err := n.bot.PostMessageContext(ctx, n.channel, slackapi.MsgOptionBlocks(blocks...), slackapi.MsgOptionText(text, false),
		slackapi.MsgOptionDisableLinkUnfurl(), slackapi.MsgOptionDisableMediaUnfurl())
	if err == nil {
		return nil
	}
	var (
		ue      *url.Error
		limited *slackapi.RateLimitedError
		api     slackapi.SlackErrorResponse
		status  slackapi.StatusCodeError
	)
	e := &tracker.NotifyError{Err: fmt.Errorf("slack chat.postMessage to %s: %w", n.channel, err)}
	switch {
	case errors.As(err, &ue):
		e.Err = fmt.Errorf("slack chat.postMessage: %w", n.withoutURL(ue))
	case errors.As(err, &limited):
		e.RetryAfter = limited.RetryAfter
	case errors.As(err, &api):
		e.Permanent = slices.Contains(permanentAPIErrors, api.Err)
	case errors.As(err, &status):
		// A 4xx other than a rate limit is a wrong API URL, not a busy Slack.
		e.Permanent = status.Code >= 400 && status.Code < 500 && status.Code != http.StatusRequestTimeout && status.Code != http.StatusTooManyRequests
	}
	return e
}

// withoutURL is a transport error naming the host only: net/http names the whole URL,
// and a webhook's path is its secret.
func (n *Notifier) withoutURL(ue *url.Error) error {
	return &url.Error{Op: ue.Op, URL: n.host, Err: ue.Err}
}

// redact keeps what a server sent back from showing a secret (a proxy's "Cannot POST
// /services/...") and to one short line.
func (n *Notifier) redact(s string) string {
	for _, secret := range n.secrets {
		s = strings.ReplaceAll(s, secret, "…")
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// answer keeps what the webhook endpoint answered: slack-go drops the body of a failed
// post, and fails on a Retry-After it cannot parse.
type answer struct {
	next       http.RoundTripper
	status     int
	retryAfter string
	body       string
}

func (a *answer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		a.body = string(b)
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
