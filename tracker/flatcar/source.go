package flatcar

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
)

// Format is how a channel is read.
type Format string

const (
	FormatFeed Format = "feed" // releases-feed/releases-{channel}.xml (Atom), the default
	FormatJSON Format = "json" // releases-json/releases-{channel}.json
)

// Source reads Flatcar channels from BaseURL (https://www.flatcar.org, a mirror, or a
// test server). HTTP must use a *fetch.Transport.
type Source struct {
	HTTP    *http.Client
	BaseURL string
	Format  Format
}

// ChannelURL is where one channel is read from.
func (s *Source) ChannelURL(channel string) string {
	base := strings.TrimRight(s.BaseURL, "/")
	if s.Format == FormatJSON {
		return fmt.Sprintf("%s/releases-json/releases-%s.json", base, channel)
	}
	return fmt.Sprintf("%s/releases-feed/releases-%s.xml", base, channel)
}

// Channel implements tracker.FlatcarSource.
func (s *Source) Channel(ctx context.Context, channel string, lookup tracker.ValidatorLookup) (tracker.ChannelFeed, error) {
	feed := tracker.ChannelFeed{URL: s.ChannelURL(channel)}
	v, err := lookup(feed.URL)
	if err != nil {
		return feed, err
	}
	res, err := fetch.Get(ctx, s.HTTP, feed.URL, v)
	if err != nil {
		return feed, fmt.Errorf("flatcar %s channel: %w", channel, err)
	}
	feed.Validator = res.Validator
	if res.NotModified {
		feed.NotModified = true
		return feed, nil
	}
	if s.Format == FormatJSON {
		feed.Releases, feed.EntryErrors, err = ParseJSON(channel, strings.TrimRight(s.BaseURL, "/"), res.Body)
	} else {
		feed.Releases, feed.EntryErrors, err = ParseFeed(channel, res.Body)
	}
	if err != nil {
		return feed, fmt.Errorf("flatcar %s channel (%s): %w", channel, feed.URL, err)
	}
	return feed, nil
}
