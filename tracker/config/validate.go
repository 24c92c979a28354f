package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ= must mean the same on a host or image without zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/nodewatch/nodewatch/tracker"
)

var (
	channels  = []string{"alpha", "beta", "stable", "lts"}
	events    = tracker.EventKinds
	repoName  = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	logLevels = []string{"debug", "info", "warn", "error"}
)

// problems collects what is wrong, each prefixed by its key path.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(key, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		p.add(key, "%q is not one of %s", value, strings.Join(allowed, ", "))
	}
}

// Validate returns every problem of the configuration at once, joined; each names its
// key.
func (c *Config) Validate() error {
	var p problems
	if _, err := c.CronSchedule(); err != nil {
		p.add("schedule", "%q is not a cron spec: %v", c.Schedule, err)
	}
	if c.Storage.Path == "" {
		p.add("storage.path", "empty; name the database file, e.g. ./nodewatch.db")
	}
	if b := c.Storage.Backup; b != nil {
		if b.Every.Duration < time.Hour {
			p.add("storage.backup.every", "%v is too short: each backup copies the whole database; 24h is the default", b.Every)
		}
		if b.Keep < 1 {
			p.add("storage.backup.keep", "%d; keep at least 1 backup (7 is the default)", b.Keep)
		}
	}
	p.apiURL("github.api_url", c.GitHub.APIURL)
	for key, u := range map[string]string{"github.raw_url": c.GitHub.RawURL, "github.web_url": c.GitHub.WebURL} {
		if u != "" {
			p.apiURL(key, u)
		}
	}
	if c.Sources.AKSReleases.Enabled && c.Sources.AKSReleases.Rescan.Duration < time.Minute {
		p.add("sources.aks_releases.rescan", "%s is too short: every page of releases is read this often; 24h is the default", c.Sources.AKSReleases.Rescan.Duration)
	}
	c.validateSources(&p)
	p.oneOf("first_run", c.FirstRun, []string{FirstRunSilent, FirstRunLatest, FirstRunAll})
	if c.Delivery.MaxAttempts < 1 {
		p.add("delivery.max_attempts", "%d; at least 1 attempt", c.Delivery.MaxAttempts)
	}
	if c.Delivery.MinBackoff.Duration <= 0 {
		p.add("delivery.min_backoff", "%v; want a positive duration such as 1m", c.Delivery.MinBackoff)
	}
	if c.Delivery.MaxBackoff.Duration < c.Delivery.MinBackoff.Duration {
		p.add("delivery.max_backoff", "%v is less than delivery.min_backoff (%v)", c.Delivery.MaxBackoff, c.Delivery.MinBackoff)
	}
	p.oneOf("log.format", c.Log.Format, []string{"text", "json"})
	p.oneOf("log.level", c.Log.Level, logLevels)
	if c.Jitter.Duration < 0 {
		p.add("jitter", "%v is negative", c.Jitter)
	}
	c.validateNotifiers(&p)
	c.validateRoutes(&p)
	c.validateKubernetes(&p)
	if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		p.add("http.listen", "%q is not host:port such as 127.0.0.1:8080 or :8080", c.HTTP.Listen)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		p.add("http.listen", "%q: the port is not a number from 0 to 65535", c.HTTP.Listen)
	}
	return errors.Join(p...)
}

func (c *Config) validateSources(p *problems) {
	s := c.Sources
	p.repo("sources.aks_releases.repo", s.AKSReleases.Repo)

	v := s.VHDNotes
	p.repo("sources.vhd_notes.repo", v.Repo)
	if v.Ref == "" {
		p.add("sources.vhd_notes.ref", "empty; name a branch, tag or commit, e.g. master")
	}
	p.relPath("sources.vhd_notes.path", v.Path)
	if v.Enabled && len(v.Families) == 0 {
		p.add("sources.vhd_notes.families", "empty while vhd_notes is enabled; write [\"*\"] for every family, a glob such as AKSUbuntu/*, or set enabled: false")
	}
	for i, f := range v.Families {
		key := fmt.Sprintf("sources.vhd_notes.families[%d]", i)
		if f != "*" {
			p.relPath(key, f)
		}
		if slices.Index(v.Families, f) < i {
			p.add(key, "%q is listed twice", f)
		}
	}

	f := s.Flatcar
	if err := httpURL(f.BaseURL); err != nil {
		p.add("sources.flatcar.base_url", "%q %v", f.BaseURL, err)
	}
	if f.Enabled && len(f.Channels) == 0 {
		p.add("sources.flatcar.channels", "empty while flatcar is enabled; name channels among %s, or set enabled: false", strings.Join(channels, ", "))
	}
	p.channels("sources.flatcar.channels", f.Channels)
	p.oneOf("sources.flatcar.format", f.Format, []string{FlatcarFeed, FlatcarJSON})

	u := s.UbuntuSecurity
	if err := httpURL(u.URL); err != nil {
		p.add("sources.ubuntu_security.url", "%q %v", u.URL, err)
	}
	if u.Every.Duration < time.Minute {
		p.add("sources.ubuntu_security.every", "%s is too often for an archive of tens of megabytes; at least 1m (the default is 24h)", u.Every.Duration)
	}
}

func (c *Config) validateKubernetes(p *problems) {
	k := c.Kubernetes
	for i, cl := range k.Clusters {
		key := fmt.Sprintf("kubernetes.clusters[%d]", i)
		switch {
		case cl.Name == "":
			p.add(key+".name", "empty; name the cluster as events and metrics should call it, e.g. prod-weu")
		case strings.ContainsAny(cl.Name, "/\x00 "):
			p.add(key+".name", "%q: a cluster name has no slash, space or NUL (events name pools <cluster>/<pool>)", cl.Name)
		case slices.IndexFunc(k.Clusters, func(o Cluster) bool { return o.Name == cl.Name }) < i:
			p.add(key+".name", "%q is named twice", cl.Name)
		}
	}
	if k.Behind.Images < 0 {
		p.add("kubernetes.behind.images", "%d is negative; 0 turns the bound off", k.Behind.Images)
	}
	if k.Behind.Days < 0 {
		p.add("kubernetes.behind.days", "%d is negative; 0 turns the bound off", k.Behind.Days)
	}
	if k.Behind.Images == 0 && k.Behind.Days == 0 {
		p.add("kubernetes.behind", "images and days are both 0: no pool would ever count as behind")
	}
}

func (c *Config) validateNotifiers(p *problems) {
	for i, n := range c.Notifiers {
		key := fmt.Sprintf("notifiers[%d]", i)
		if n.Name == "" {
			p.add(key+".name", "empty; routes name a notifier by it")
		} else if slices.IndexFunc(c.Notifiers, func(o Notifier) bool { return o.Name == n.Name }) < i {
			p.add(key+".name", "%q is the name of an earlier notifier as well", n.Name)
		}
		notFor := func(k string, set bool) {
			if set {
				p.add(key+"."+k, "does not apply to type %s", n.Type)
			}
		}
		hook, token := n.WebhookURL.Value() != "", n.Token.Value() != ""
		switch n.Type {
		case NotifierSlack:
			notFor("repo", n.Repo != "")
			notFor("labels", len(n.Labels) > 0)
			notFor("close_previous", n.ClosePrevious)
			switch {
			case hook && token:
				p.add(key+".token", "set webhook_url or token (with channel), not both")
			case hook:
				if httpURL(n.WebhookURL.Value()) != nil { // the URL is the secret: never print it
					p.add(key+".webhook_url", "not an http(s) URL")
				}
				if n.Channel != "" {
					p.add(key+".channel", "applies only with token: a webhook posts to the channel it was made for")
				}
			case token:
				if n.Channel == "" {
					p.add(key+".channel", "needed with token: the ID of the Slack channel to post to, e.g. C0123456")
				}
			default:
				p.add(key+".webhook_url", "type slack needs webhook_url, or token and channel")
			}
			p.apiURL(key+".api_url", n.APIURL)
		case NotifierGitHub:
			notFor("webhook_url", hook)
			notFor("channel", n.Channel != "")
			notFor("api_url", n.APIURL != "")
			p.repo(key+".repo", n.Repo)
			for j, l := range n.Labels {
				if strings.TrimSpace(l) == "" {
					p.add(fmt.Sprintf("%s.labels[%d]", key, j), "empty label")
				}
			}
			if c.NotifierToken(n).Value() == "" {
				p.add(key+".token", "type github needs a token to open issues: set token (or token_file) here, or github.token")
			}
		case NotifierStdout:
			notFor("webhook_url", hook)
			notFor("token", token)
			notFor("channel", n.Channel != "")
			notFor("api_url", n.APIURL != "")
			notFor("repo", n.Repo != "")
			notFor("labels", len(n.Labels) > 0)
			notFor("close_previous", n.ClosePrevious)
		default:
			p.oneOf(key+".type", n.Type, []string{NotifierSlack, NotifierGitHub, NotifierStdout})
		}
	}
}

func (c *Config) validateRoutes(p *problems) {
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if len(r.Events) == 0 {
			p.add(key+".events", "empty; name events among %s", strings.Join(eventNames(), ", "))
		}
		for j, e := range r.Events {
			if !slices.Contains(events, e) {
				p.add(fmt.Sprintf("%s.events[%d]", key, j), "%q is not one of %s", e, strings.Join(eventNames(), ", "))
			}
		}
		has := func(kinds ...tracker.EventKind) bool {
			return slices.ContainsFunc(kinds, func(k tracker.EventKind) bool { return slices.Contains(r.Events, k) })
		}
		if len(r.Families) > 0 && !has(tracker.EventNodeImage, tracker.EventFamilyAdded, tracker.EventFamilyQuiet, tracker.EventPoolBehind, tracker.EventPoolCurrent) {
			p.add(key+".families", "applies only to node_image, family_added, family_quiet and pool_behind events, and the route has none")
		}
		for j, f := range r.Families {
			if f == "" {
				p.add(fmt.Sprintf("%s.families[%d]", key, j), "empty; write \"*\" for every family")
			}
		}
		if r.CVEs && !has(tracker.EventNodeImage) {
			p.add(key+".cves", "applies only to node_image events, and the route has none")
		}
		if len(r.Channels) > 0 && !has(tracker.EventFlatcarRelease) {
			p.add(key+".channels", "applies only to flatcar_release events, and the route has none")
		}
		p.channels(key+".channels", r.Channels)
		for _, c := range []struct{ key, constraint string }{{"kernel", r.Kernel}, {"flatcar", r.Flatcar}} {
			k, constraint := c.key, c.constraint
			if constraint == "" {
				continue
			}
			if _, err := tracker.ParseConstraint(constraint); err != nil {
				p.add(key+"."+k, "%v", err)
			}
			if !has(tracker.EventNodeImage, tracker.EventFlatcarRelease) {
				p.add(key+"."+k, "applies only to node_image and flatcar_release events, and the route has neither")
			}
		}
		if len(r.Notify) == 0 {
			p.add(key+".notify", "empty; name the notifiers this route sends to")
		}
		for j, name := range r.Notify {
			if !slices.ContainsFunc(c.Notifiers, func(n Notifier) bool { return n.Name == name }) {
				p.add(fmt.Sprintf("%s.notify[%d]", key, j), "no notifier is named %q", name)
			}
		}
	}
}

func eventNames() []string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = string(e)
	}
	return names
}

func (p *problems) channels(key string, list []string) {
	for i, ch := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		p.oneOf(k, ch, channels)
		if slices.Index(list, ch) < i {
			p.add(k, "%q is listed twice", ch)
		}
	}
}

func (p *problems) repo(key, repo string) {
	if !repoName.MatchString(repo) {
		p.add(key, "%q is not a GitHub repository written owner/name", repo)
	}
}

// relPath checks a path inside a repository: families and the notes directory are
// joined to GitHub API paths, where a leading or trailing slash or a `..` would name
// another directory or none.
func (p *problems) relPath(key, path string) {
	switch {
	case path == "":
		p.add(key, "empty")
	case strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/"):
		p.add(key, "%q: write it without a leading or trailing slash", path)
	case slices.Contains(strings.Split(path, "/"), ".."):
		p.add(key, "%q: no .. in a path", path)
	}
}

func (p *problems) apiURL(key, u string) {
	if err := httpURL(u); err != nil {
		p.add(key, "%q %v", u, err)
	} else if !strings.HasSuffix(u, "/") {
		p.add(key, "%q must end with a slash", u)
	}
}

// httpURL says why u is not an absolute http(s) URL; its error does not repeat u, which
// may be a secret.
func httpURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return errors.New("is not an http(s) URL")
	}
	return nil
}

// CronSchedule parses the schedule as robfig/cron's standard parser does (five fields,
// descriptors such as @every 15m or @hourly, a CRON_TZ= prefix), turning the parser's
// panics into errors.
func (c *Config) CronSchedule() (s cron.Schedule, err error) {
	spec := c.Schedule
	if (strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=")) && !strings.Contains(spec, " ") {
		return nil, errors.New("a time zone must be followed by a space and the schedule, e.g. CRON_TZ=Europe/Berlin 0 6 * * *")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("the cron parser failed: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}

// unauthenticatedLimit is GitHub's hourly request limit for clients without a token.
const unauthenticatedLimit = 60

// Warnings are things that work but will hurt.
func (c *Config) Warnings() []string {
	var warnings []string
	if w := c.rateLimitWarning(); w != "" {
		warnings = append(warnings, w)
	}
	for i, n := range c.Notifiers {
		if !slices.ContainsFunc(c.Routes, func(r Route) bool { return slices.Contains(r.Notify, n.Name) }) {
			warnings = append(warnings, fmt.Sprintf("notifiers[%d] (%s): no route sends to it, so it never gets an event; events without a route go to stdout", i, n.Name))
		}
	}
	for i, r := range c.Routes {
		if !slices.Contains(r.Events, tracker.EventNodeImage) || !c.Sources.VHDNotes.Enabled {
			continue
		}
		for j, glob := range r.Families {
			// Two globs overlap when either takes the other as written ("*" takes "AKSUbuntu/*").
			if !slices.ContainsFunc(c.Sources.VHDNotes.Families, func(f string) bool {
				return tracker.MatchFamily(glob, f) || tracker.MatchFamily(f, glob)
			}) {
				warnings = append(warnings, fmt.Sprintf("routes[%d].families[%d]: %q matches none of sources.vhd_notes.families, so it never matches an image", i, j, glob))
			}
		}
	}
	for i, r := range c.Routes {
		if !slices.Contains(r.Events, tracker.EventFlatcarRelease) || !c.Sources.Flatcar.Enabled {
			continue
		}
		for j, ch := range r.Channels {
			if !slices.Contains(c.Sources.Flatcar.Channels, ch) {
				warnings = append(warnings, fmt.Sprintf("routes[%d].channels[%d]: %q is not in sources.flatcar.channels, so it never matches a release", i, j, ch))
			}
		}
	}
	return warnings
}

// GitHub API requests of the sources, whatever the number of families. An idle cycle
// asks the Commits API whether the notes changed and asks for page 1 of the AKS
// releases: 2 requests. A cycle in which something changed adds the notes' tree and
// perhaps page 2 of the releases. Upstream changes a few times a day; the hour is
// counted with changedPerHour such cycles, and one full pass of the AKS releases
// (every sources.aks_releases.rescan, 3 pages in 2026).
const (
	notesIdle, notesChanged = 1, 1 // commits; the tree
	aksIdle, aksChanged     = 1, 1 // page 1; page 2 when page 1 is all new
	aksReleasePages         = 3
	changedPerHour          = 2
)

// rateLimitWarning counts the GitHub API requests of an hour as GitHub does for a client
// without a token, 304 Not Modified answers included. The notes bodies come from raw
// download URLs, which that limit does not count.
func (c *Config) rateLimitWarning() string {
	if c.GitHub.Token.Value() != "" {
		return ""
	}
	idle, changed, fullPass := 0, 0, 0
	if c.Sources.VHDNotes.Enabled {
		idle, changed = idle+notesIdle, changed+notesChanged
	}
	if c.Sources.AKSReleases.Enabled {
		idle, changed, fullPass = idle+aksIdle, changed+aksChanged, aksReleasePages
	}
	schedule, err := c.CronSchedule()
	if err != nil || idle == 0 {
		return ""
	}
	cycles := cyclesPerHour(schedule)
	extra := min(cycles, changedPerHour)*changed + fullPass
	need := idle*cycles + extra
	if need <= unauthenticatedLimit {
		return ""
	}
	every := (time.Duration(idle)*time.Hour/time.Duration(unauthenticatedLimit-extra) + time.Minute - 1) / time.Minute
	return fmt.Sprintf("github.token is not set, and schedule %q needs about %d GitHub API requests an hour "+
		"(%d cycles an hour of %d requests when nothing changed: the notes' newest commit and page 1 of sources.aks_releases; "+
		"%d more for the cycles in which something changed and a full pass of the releases), "+
		"over the %d an hour GitHub allows a client without a token, which counts 304 Not Modified answers too: "+
		"set github.token or github.token_file (a token without scopes reads public repositories, 5000 requests an hour), "+
		"or run less often, e.g. schedule: \"@every %dm\"",
		c.Schedule, need, cycles, idle, extra, unauthenticatedLimit, every)
}

// cyclesPerHour is the most cycles the schedule starts within any hour.
func cyclesPerHour(s cron.Schedule) int {
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return int((time.Hour + every.Delay - 1) / every.Delay)
	}
	// A cron spec can be busier at some hours or on some days: look at a week and a day.
	start := time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 8)
	var runs []time.Time
	most, first := 0, 0
	for t := s.Next(start); !t.IsZero() && t.Before(end); t = s.Next(t) {
		runs = append(runs, t)
		for t.Sub(runs[first]) >= time.Hour {
			first++
		}
		most = max(most, len(runs)-first)
	}
	return most
}
