package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nodewatch/nodewatch/tracker"
)

// repoRoot is the directory of go.mod above the package; the shared fixtures and the
// contract sit beside it in ../shared.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// loadYAML loads text as a config file.
func loadYAML(t *testing.T, text string, vars map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nodewatch.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, envOf(vars))
}

func TestDefault(t *testing.T) {
	c, err := Load("", envOf(nil))
	if err != nil {
		t.Fatalf("Load without a file: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\") = %+v, want Default() = %+v", c, Default())
	}
	if w := c.Warnings(); len(w) > 0 {
		t.Errorf("the defaults warn: %q", w)
	}
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"schedule", c.Schedule, "@every 15m"},
		{"storage.path", c.Storage.Path, "./nodewatch.db"},
		{"github.api_url", c.GitHub.APIURL, "https://api.github.com/"},
		{"github.token", c.GitHub.Token.Value(), ""},
		{"sources.aks_releases.enabled", c.Sources.AKSReleases.Enabled, true},
		{"sources.aks_releases.repo", c.Sources.AKSReleases.Repo, "Azure/AKS"},
		{"sources.vhd_notes.enabled", c.Sources.VHDNotes.Enabled, true},
		{"sources.vhd_notes.repo", c.Sources.VHDNotes.Repo, "Azure/AgentBaker"},
		{"sources.vhd_notes.ref", c.Sources.VHDNotes.Ref, "master"},
		{"sources.vhd_notes.path", c.Sources.VHDNotes.Path, "vhdbuilder/release-notes"},
		{"sources.vhd_notes.families", c.Sources.VHDNotes.Families, []string{"*"}},
		{"sources.aks_releases.rescan", c.Sources.AKSReleases.Rescan.Duration, 24 * time.Hour},
		{"sources.flatcar.enabled", c.Sources.Flatcar.Enabled, true},
		{"sources.flatcar.base_url", c.Sources.Flatcar.BaseURL, "https://www.flatcar.org"},
		{"sources.flatcar.channels", c.Sources.Flatcar.Channels, []string{"stable", "beta", "alpha", "lts"}},
		{"sources.flatcar.format", c.Sources.Flatcar.Format, "feed"},
		{"first_run", c.FirstRun, "silent"},
		{"delivery.max_attempts", c.Delivery.MaxAttempts, 12},
		{"delivery.min_backoff", c.Delivery.MinBackoff.Duration, time.Minute},
		{"delivery.max_backoff", c.Delivery.MaxBackoff.Duration, 6 * time.Hour},
		{"log.format", c.Log.Format, "text"},
		{"log.level", c.Log.Level, "info"},
		{"jitter", c.Jitter.Duration, 30 * time.Second},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"notifiers", len(c.Notifiers), 0},
		{"routes", len(c.Routes), 0},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
}

func TestLoadOverridesOnlyTheKeysItSets(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		vars map[string]string
		want func(c *Config)
	}{
		{"empty file", "", nil, func(*Config) {}},
		{"comments only", "# nothing here\n", nil, func(*Config) {}},
		{"null section", "storage:\n", nil, func(*Config) {}},
		{"one nested key", "storage: {path: /var/lib/nodewatch/db}", nil, func(c *Config) {
			c.Storage.Path = "/var/lib/nodewatch/db"
		}},
		{"a key beside defaults", "sources:\n  vhd_notes:\n    families: [AKSUbuntu/gen2/2404containerd]\n", nil, func(c *Config) {
			c.Sources.VHDNotes.Families = []string{"AKSUbuntu/gen2/2404containerd"}
		}},
		{"a source disabled", "sources: {flatcar: {enabled: false}}", nil, func(c *Config) {
			c.Sources.Flatcar.Enabled = false
		}},
		{"durations", "delivery: {min_backoff: 30s, max_backoff: 1h30m}\njitter: 0s", nil, func(c *Config) {
			c.Delivery.MinBackoff.Duration = 30 * time.Second
			c.Delivery.MaxBackoff.Duration = 90 * time.Minute
			c.Jitter.Duration = 0
		}},
		{"api_url gains its slash", "github: {api_url: 'http://127.0.0.1:8081/api/v3'}", nil, func(c *Config) {
			c.GitHub.APIURL = "http://127.0.0.1:8081/api/v3/"
		}},
		{"base_url loses its slash", "sources: {flatcar: {base_url: 'http://127.0.0.1:8082/'}}", nil, func(c *Config) {
			c.Sources.Flatcar.BaseURL = "http://127.0.0.1:8082"
		}},
		{"listen from the environment", "", map[string]string{ListenEnv: "0.0.0.0:8080"}, func(c *Config) {
			c.HTTP.Listen = "0.0.0.0:8080"
		}},
		{"the environment over the file", "http: {listen: '127.0.0.1:9090'}", map[string]string{ListenEnv: "0.0.0.0:8080"}, func(c *Config) {
			c.HTTP.Listen = "0.0.0.0:8080"
		}},
		{"slack api_url default", "notifiers: [{name: s, type: slack, token: t, channel: C1}]\nroutes: [{events: [aks_release], notify: [s]}]", nil, func(c *Config) {
			c.Notifiers = []Notifier{{Name: "s", Type: NotifierSlack, Token: NewSecret("t"), Channel: "C1", APIURL: "https://slack.com/api/"}}
			c.Routes = []Route{{Events: []tracker.EventKind{"aks_release"}, Notify: []string{"s"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadYAML(t, tc.yaml, tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	token := map[string]string{"T": "ghp_x"}
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		// The file itself.
		{"syntax", "schedule: [", "yaml:"},
		{"not a mapping", "- schedule", "line 1: want a mapping of keys"},
		{"two documents", "schedule: '@hourly'\n---\nschedule: '@daily'\n", "more than one YAML document"},
		{"unknown top key", "schedule: '@hourly'\nschedulle: '@daily'", "schedulle (line 2): unknown key; the keys here are schedule, storage"},
		{"unknown nested key", "sources:\n  flatcar:\n    chanels: [stable]", "sources.flatcar.chanels (line 3): unknown key"},
		{"unknown notifier key", "notifiers:\n  - name: a\n    type: stdout\n    colour: red", "notifiers[0].colour (line 4): unknown key"},
		{"unknown key in a merge", "notifiers:\n  - &n {name: a, type: stdout}\n  - <<: *n\n    nme: b", "notifiers[1].nme (line 4): unknown key"},
		{"key twice", "jitter: 1s\njitter: 2s", "jitter (line 2): set twice, first on line 1"},
		{"not a number", "delivery: {max_attempts: twelve}", "delivery.max_attempts (line 1): cannot unmarshal !!str `twelve` into int"},
		{"not a bool", "sources: {flatcar: {enabled: maybe}}", "sources.flatcar.enabled (line 1): cannot unmarshal"},
		{"not a duration", "jitter: 30", `jitter (line 1): "30" is not a duration`},
		{"a list for a duration", "delivery:\n  min_backoff: [1m]", "delivery.min_backoff (line 2): want a duration"},
		{"a string for a list", "sources: {vhd_notes: {families: AKSFlatcar/gen2}}", `sources.vhd_notes.families (line 1): want a list, got the value "AKSFlatcar/gen2"`},
		{"a list for a mapping", "storage: [a]", "storage (line 1): want a mapping of keys, got a list"},
		{"a mapping for a secret", "github: {token: {value: x}}", "github.token (line 1): want a string"},

		// Validation, key by key.
		{"schedule", "schedule: every hour", `schedule: "every hour" is not a cron spec: `},
		{"schedule CRON_TZ without a space", "schedule: CRON_TZ=Europe/Berlin", `schedule: "CRON_TZ=Europe/Berlin" is not a cron spec: a time zone must be followed by a space`},
		{"schedule TZ with a tab", "schedule: \"TZ=UTC\\t0 6 * * *\"", `schedule: "TZ=UTC\t0 6 * * *" is not a cron spec: `},
		{"schedule unknown zone", "schedule: CRON_TZ=Mars/Olympus 0 6 * * *", `schedule: "CRON_TZ=Mars/Olympus 0 6 * * *" is not a cron spec: provided bad location`},
		{"storage.path", "storage: {path: ''}", "storage.path: empty"},
		{"github.api_url", "github: {api_url: 'api.github.com'}", `github.api_url: "api.github.com/" is not an http(s) URL`},
		{"aks_releases.repo", "sources: {aks_releases: {repo: AKS}}", `sources.aks_releases.repo: "AKS" is not a GitHub repository written owner/name`},
		{"vhd_notes.repo", "sources: {vhd_notes: {repo: Azure/AgentBaker/x}}", `sources.vhd_notes.repo: "Azure/AgentBaker/x" is not a GitHub repository`},
		{"vhd_notes.ref", "sources: {vhd_notes: {ref: ''}}", "sources.vhd_notes.ref: empty"},
		{"vhd_notes.path", "sources: {vhd_notes: {path: /vhdbuilder/release-notes}}", `sources.vhd_notes.path: "/vhdbuilder/release-notes": write it without a leading or trailing slash`},
		{"no families", "sources: {vhd_notes: {families: []}}", "sources.vhd_notes.families: empty while vhd_notes is enabled"},
		{"family with ..", "sources: {vhd_notes: {families: [AKSFlatcar/../AKSUbuntu]}}", `sources.vhd_notes.families[0]: "AKSFlatcar/../AKSUbuntu": no .. in a path`},
		{"family with a slash", "sources: {vhd_notes: {families: [AKSFlatcar/gen2, AKSFlatcar/]}}", `sources.vhd_notes.families[1]: "AKSFlatcar/": write it without a leading or trailing slash`},
		{"empty family", "sources: {vhd_notes: {families: ['']}}", "sources.vhd_notes.families[0]: empty"},
		{"family twice", "sources: {vhd_notes: {families: [AKSFlatcar/gen2, AKSFlatcar/gen2]}}", `sources.vhd_notes.families[1]: "AKSFlatcar/gen2" is listed twice`},
		{"flatcar.base_url", "sources: {flatcar: {base_url: www.flatcar.org}}", `sources.flatcar.base_url: "www.flatcar.org" is not an http(s) URL`},
		{"flatcar.channels", "sources: {flatcar: {channels: [stable, edge]}}", `sources.flatcar.channels[1]: "edge" is not one of alpha, beta, stable, lts`},
		{"channel twice", "sources: {flatcar: {channels: [lts, lts]}}", `sources.flatcar.channels[1]: "lts" is listed twice`},
		{"no channels", "sources: {flatcar: {channels: []}}", "sources.flatcar.channels: empty while flatcar is enabled"},
		{"flatcar.format", "sources: {flatcar: {format: xml}}", `sources.flatcar.format: "xml" is not one of feed, json`},
		{"first_run", "first_run: everything", `first_run: "everything" is not one of silent, latest, all`},
		{"max_attempts", "delivery: {max_attempts: 0}", "delivery.max_attempts: 0; at least 1 attempt"},
		{"min_backoff", "delivery: {min_backoff: 0s}", "delivery.min_backoff: 0s; want a positive duration"},
		{"max_backoff", "delivery: {min_backoff: 2h, max_backoff: 1h}", "delivery.max_backoff: 1h0m0s is less than delivery.min_backoff (2h0m0s)"},
		{"log.format", "log: {format: yaml}", `log.format: "yaml" is not one of text, json`},
		{"log.level", "log: {level: verbose}", `log.level: "verbose" is not one of debug, info, warn, error`},
		{"jitter", "jitter: -1s", "jitter: -1s is negative"},
		{"http.listen without port", "http: {listen: localhost}", `http.listen: "localhost" is not host:port`},
		{"http.listen port", "http: {listen: ':99999'}", `http.listen: ":99999": the port is not a number from 0 to 65535`},

		// Notifiers.
		{"notifier name", "notifiers: [{type: stdout}]", "notifiers[0].name: empty"},
		{"notifier name twice", "notifiers: [{name: a, type: stdout}, {name: a, type: stdout}]", `notifiers[1].name: "a" is the name of an earlier notifier as well`},
		{"notifier type", "notifiers: [{name: a, type: teams}]", `notifiers[0].type: "teams" is not one of slack, github, stdout`},
		{"slack without target", "notifiers: [{name: a, type: slack}]", "notifiers[0].webhook_url: type slack needs webhook_url, or token and channel"},
		{"slack with both", "notifiers: [{name: a, type: slack, webhook_url: 'https://hooks.slack.com/x', token: t, channel: C1}]", "notifiers[0].token: set webhook_url or token (with channel), not both"},
		{"slack token without channel", "notifiers: [{name: a, type: slack, token: t}]", "notifiers[0].channel: needed with token"},
		{"slack webhook with channel", "notifiers: [{name: a, type: slack, webhook_url: 'https://hooks.slack.com/x', channel: C1}]", "notifiers[0].channel: applies only with token"},
		{"slack webhook not a URL", "notifiers: [{name: a, type: slack, webhook_url: hooks.slack.com}]", "notifiers[0].webhook_url: not an http(s) URL"},
		{"slack api_url", "notifiers: [{name: a, type: slack, token: t, channel: C1, api_url: 'slack.com/api/'}]", `notifiers[0].api_url: "slack.com/api/" is not an http(s) URL`},
		{"slack with repo", "notifiers: [{name: a, type: slack, token: t, channel: C1, repo: o/r}]", "notifiers[0].repo: does not apply to type slack"},
		{"github repo", "github: {token: '${T}'}\nnotifiers: [{name: a, type: github, repo: platform}]", `notifiers[0].repo: "platform" is not a GitHub repository written owner/name`},
		{"github without token", "notifiers: [{name: a, type: github, repo: o/r}]", "notifiers[0].token: type github needs a token"},
		{"github with channel", "notifiers: [{name: a, type: github, repo: o/r, token: t, channel: C1}]", "notifiers[0].channel: does not apply to type github"},
		{"github empty label", "notifiers: [{name: a, type: github, repo: o/r, token: t, labels: [x, ' ']}]", "notifiers[0].labels[1]: empty label"},
		{"stdout with token", "notifiers: [{name: a, type: stdout, token: t}]", "notifiers[0].token: does not apply to type stdout"},

		// Routes.
		{"route without events", "notifiers: [{name: a, type: stdout}]\nroutes: [{notify: [a]}]", "routes[0].events: empty"},
		{"route event", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [node_image, release], notify: [a]}]", `routes[0].events[1]: "release" is not one of node_image, flatcar_release, aks_release`},
		{"route families", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [aks_release], families: ['*'], notify: [a]}]", "routes[0].families: applies only to node_image, family_added, family_quiet and pool_behind events"},
		{"route empty family", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [node_image], families: [''], notify: [a]}]", "routes[0].families[0]: empty"},
		{"route channels", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [node_image], channels: [stable], notify: [a]}]", "routes[0].channels: applies only to flatcar_release events"},
		{"route channel", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [flatcar_release], channels: [Stable], notify: [a]}]", `routes[0].channels[0]: "Stable" is not one of alpha, beta, stable, lts`},
		{"route kernel", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [node_image], kernel: '>= 6.12.y', notify: [a]}]", `routes[0].kernel: ">= 6.12.y" is not a version constraint: `},
		{"route flatcar", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [flatcar_release], flatcar: 'newer than 4593', notify: [a]}]", `routes[0].flatcar: "newer than 4593" is not a version constraint: `},
		{"route kernel on aks", "notifiers: [{name: a, type: stdout}]\nroutes: [{events: [aks_release], kernel: '>= 6', notify: [a]}]", "routes[0].kernel: applies only to node_image and flatcar_release events"},
		{"route without notify", "routes: [{events: [aks_release]}]", "routes[0].notify: empty"},
		{"route unknown notifier", "notifiers: [{name: team, type: stdout}]\nroutes: [{events: [aks_release], notify: [team, teem]}]", `routes[0].notify[1]: no notifier is named "teem"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, token)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "nodewatch.yaml: ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Schedule = "CRON_TZ=UTC"
	c.Storage.Path = ""
	c.Log.Level = "loud"
	c.Routes = []Route{{Events: []tracker.EventKind{"aks_release"}, Notify: []string{"nobody"}}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, strings.SplitN(e.Error(), ":", 2)[0])
	}
	want := []string{"schedule", "storage.path", "log.level", "routes[0].notify[0]"}
	if !slices.Equal(got, want) {
		t.Errorf("errors name %q, want %q", got, want)
	}
}

func TestEnvironment(t *testing.T) {
	vars := map[string]string{
		"SCHEDULE": "@every 20m",
		"N":        "7",
		"EMPTY":    "",
		"TRICKY":   `a: b # c 'd' "e" ${NOT_EXPANDED} $$`,
		"HOOK":     "https://hooks.slack.com/services/T/B/x",
	}
	for _, tc := range []struct {
		name string
		yaml string
		got  func(c *Config) any
		want any
	}{
		{"plain", "schedule: ${SCHEDULE}", func(c *Config) any { return c.Schedule }, "@every 20m"},
		{"inside a value", "schedule: '@every ${N}m'", func(c *Config) any { return c.Schedule }, "@every 7m"},
		{"a number", "delivery: {max_attempts: ${N}}", func(c *Config) any { return c.Delivery.MaxAttempts }, 7},
		{"a quoted number stays text", "storage: {path: '${N}'}", func(c *Config) any { return c.Storage.Path }, "7"},
		{"default when unset", "storage: {path: '${DB:-/data/nodewatch.db}'}", func(c *Config) any { return c.Storage.Path }, "/data/nodewatch.db"},
		{"default when empty", "storage: {path: '${EMPTY:-/data/nodewatch.db}'}", func(c *Config) any { return c.Storage.Path }, "/data/nodewatch.db"},
		{"no default when set", "schedule: ${SCHEDULE:-@daily}", func(c *Config) any { return c.Schedule }, "@every 20m"},
		{"empty default", "github: {token: '${GITHUB_TOKEN:-}'}", func(c *Config) any { return c.GitHub.Token.Value() }, ""},
		{"YAML in a value stays a value", "github: {token: '${TRICKY}'}", func(c *Config) any { return c.GitHub.Token.Value() }, vars["TRICKY"]},
		{"unquoted in a flow mapping", "github: {token: ${TRICKY}}", func(c *Config) any { return c.GitHub.Token.Value() }, vars["TRICKY"]},
		{"block style", "github:\n  token: ${TRICKY}\n", func(c *Config) any { return c.GitHub.Token.Value() }, vars["TRICKY"]},
		{"in a list", "sources: {vhd_notes: {families: [AKSFlatcar/gen${N}]}}", func(c *Config) any { return c.Sources.VHDNotes.Families }, []string{"AKSFlatcar/gen7"}},
		{"in a flow list", "notifiers: [{name: s, type: slack, webhook_url: ${HOOK}}]\nroutes: [{events: [aks_release], notify: [s]}]", func(c *Config) any { return c.Notifiers[0].WebhookURL.Value() }, vars["HOOK"]},
		{"$$ escapes", "storage: {path: 'a$$b$${N}'}", func(c *Config) any { return c.Storage.Path }, "a$b${N}"},
		{"a lone $ stays", "storage: {path: 'a$b$'}", func(c *Config) any { return c.Storage.Path }, "a$b$"},
		{"not in keys or comments", "# ${UNSET}\nstorage: {path: x} # ${UNSET}", func(c *Config) any { return c.Storage.Path }, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml, vars)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"unset", "storage: {path: '${DB_PATH}'}", "storage.path (line 1): ${DB_PATH} is not set"},
		{"unset secret", "notifiers:\n  - name: s\n    type: slack\n    webhook_url: ${SLACK_WEBHOOK_URL}", "notifiers[0].webhook_url (line 4): ${SLACK_WEBHOOK_URL} is not set"},
		{"unclosed", "storage: {path: 'x${DB'}", "storage.path (line 1): ${ without a closing }"},
		{"bad name", "storage: {path: '${DB-PATH}'}", `storage.path (line 1): ${DB-PATH}: "DB-PATH" is not a variable name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	githubToken := write("github-token", "  ghp_fromfile\n")
	hook := write("webhook", "https://hooks.slack.com/services/T/B/file\r\n")
	botToken := write("bot-token", "\txoxb-fromfile\n\n")
	missing := filepath.Join(dir, "missing")
	vars := map[string]string{"GITHUB_TOKEN_FILE": githubToken}

	c, err := loadYAML(t, fmt.Sprintf(`
github: {token_file: "${GITHUB_TOKEN_FILE}"}
notifiers:
  - {name: hook, type: slack, webhook_url_file: %q}
  - {name: bot, type: slack, token_file: %q, channel: C1}
  - {name: issues, type: github, repo: o/r}
routes: [{events: [aks_release], notify: [hook, bot, issues]}]
`, hook, botToken), vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		got  Secret
		want string
	}{
		{"github.token", c.GitHub.Token, "ghp_fromfile"},
		{"notifiers[0].webhook_url", c.Notifiers[0].WebhookURL, "https://hooks.slack.com/services/T/B/file"},
		{"notifiers[1].token", c.Notifiers[1].Token, "xoxb-fromfile"},
		{"the token of notifiers[2]", c.NotifierToken(c.Notifiers[2]), "ghp_fromfile"},
		{"the token of notifiers[1]", c.NotifierToken(c.Notifiers[1]), "xoxb-fromfile"},
	} {
		if tc.got.Value() != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, tc.got.Value(), tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"both forms", fmt.Sprintf("github: {token: t, token_file: %q}", githubToken), []string{"github.token_file: github.token is set as well"}},
		{"both forms in a notifier", fmt.Sprintf("notifiers: [{name: a, type: slack, webhook_url: 'https://h/x', webhook_url_file: %q}]", hook), []string{"notifiers[0].webhook_url_file: notifiers[0].webhook_url is set as well"}},
		{"unreadable", fmt.Sprintf("github: {token_file: %q}", missing), []string{"github.token_file: ", missing}},
		{"unreadable in a notifier", fmt.Sprintf("notifiers: [{name: a, type: github, repo: o/r, token_file: %q}]", missing), []string{"notifiers[0].token_file: ", missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestStorageBackup: storage.backup is off unless given; given, what it leaves out is
// every 24h, keep 7, and a backups directory beside storage.path; what it sets is
// validated, key by key.
func TestStorageBackup(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want *Backup
	}{
		{"absent", "", nil},
		{"absent with a storage section", "storage: {path: /var/lib/nodewatch/nodewatch.db}", nil},
		{"empty", "storage: {backup: {}}", &Backup{Every: Duration{24 * time.Hour}, Keep: 7, Dir: "backups"}},
		{"empty beside a path", "storage:\n  path: /var/lib/nodewatch/nodewatch.db\n  backup: {}\n",
			&Backup{Every: Duration{24 * time.Hour}, Keep: 7, Dir: "/var/lib/nodewatch/backups"}},
		{"beside a relative path", "storage: {path: data/nodewatch.db, backup: {keep: 3}}",
			&Backup{Every: Duration{24 * time.Hour}, Keep: 3, Dir: filepath.Join("data", "backups")}},
		{"every set", "storage: {backup: {every: 6h}}", &Backup{Every: Duration{6 * time.Hour}, Keep: 7, Dir: "backups"}},
		{"the shortest", "storage: {backup: {every: 1h, keep: 1}}", &Backup{Every: Duration{time.Hour}, Keep: 1, Dir: "backups"}},
		{"all set", "storage: {path: /data/nw.db, backup: {every: 168h, keep: 30, dir: /mnt/backups}}",
			&Backup{Every: Duration{168 * time.Hour}, Keep: 30, Dir: "/mnt/backups"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Storage.Backup, tc.want) {
				t.Errorf("storage.backup = %+v, want %+v", c.Storage.Backup, tc.want)
			}
		})
	}
	if Default().Storage.Backup != nil {
		t.Error("the defaults take backups")
	}

	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"every too short", "storage: {backup: {every: 5m}}", "storage.backup.every: 5m0s is too short"},
		{"every just short", "storage: {backup: {every: 59m59s}}", "storage.backup.every: 59m59s is too short"},
		{"every negative", "storage: {backup: {every: -24h}}", "storage.backup.every: -24h0m0s is too short"},
		{"keep negative", "storage: {backup: {keep: -1}}", "storage.backup.keep: -1; keep at least 1"},
		{"unknown key", "storage:\n  backup:\n    keepp: 3\n", "storage.backup.keepp (line 3): unknown key; the keys here are every, keep, dir"},
		{"not a duration", "storage: {backup: {every: daily}}", `storage.backup.every (line 1): "daily" is not a duration`},
		{"not a number", "storage: {backup: {keep: seven}}", "storage.backup.keep (line 1): cannot unmarshal"},
		{"a list", "storage: {backup: [24h]}", "storage.backup (line 1): want a mapping of keys, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Both problems at once, each naming its key.
	_, err := loadYAML(t, "storage: {backup: {every: 5m, keep: -1}}", nil)
	if err == nil || !strings.Contains(err.Error(), "storage.backup.every: ") || !strings.Contains(err.Error(), "storage.backup.keep: ") {
		t.Errorf("error %v, want both storage.backup.every and storage.backup.keep", err)
	}
}

// TestAdminTokenFile: http.admin_token_file is read, trimmed, into the admin token; it
// and http.admin_token are one or the other.
func TestAdminTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(file, []byte("  nw-admin-fromfile\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadYAML(t, fmt.Sprintf("http: {admin_token_file: %q}", file), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.HTTP.AdminToken.Value(); got != "nw-admin-fromfile" {
		t.Errorf("http.admin_token = %q, want the file's nw-admin-fromfile", got)
	}
	c, err = loadYAML(t, "http: {admin_token: '${T}'}", map[string]string{"T": "nw-admin-fromenv"})
	if err != nil || c.HTTP.AdminToken.Value() != "nw-admin-fromenv" {
		t.Errorf("http.admin_token from the environment: %v", err)
	}
	// An empty token counts as unset, so that the example's ${NODEWATCH_ADMIN_TOKEN:-}
	// goes with a file.
	c, err = loadYAML(t, fmt.Sprintf("http: {admin_token: '${T:-}', admin_token_file: %q}", file), nil)
	if err != nil || c.HTTP.AdminToken.Value() != "nw-admin-fromfile" {
		t.Errorf("an empty http.admin_token beside the file: %v", err)
	}
	if c, err := loadYAML(t, "", nil); err != nil || c.HTTP.AdminToken.Value() != "" {
		t.Errorf("the defaults have an admin token: %v", err)
	}

	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"both forms", fmt.Sprintf("http: {admin_token: x, admin_token_file: %q}", file), []string{"http.admin_token_file: http.admin_token is set as well; set one of them"}},
		{"unreadable", fmt.Sprintf("http: {admin_token_file: %q}", file+".missing"), []string{"http.admin_token_file: ", file + ".missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestCronSchedule(t *testing.T) {
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"@every 15m", true},
		{"@hourly", true},
		{"*/15 * * * *", true},
		{"CRON_TZ=Europe/Berlin 0 6 * * 1-5", true},
		{"TZ=UTC @daily", true},
		{"CRON_TZ=Europe/Berlin", false},
		{"TZ=UTC", false},
		{"CRON_TZ=UTC\t0 6 * * *", false}, // robfig/cron panics on this one
		{"0 6 * *", false},
		{"@fortnightly", false},
		{"", false},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := (&Config{Schedule: tc.spec}).CronSchedule()
			if (err == nil) != tc.ok {
				t.Fatalf("CronSchedule(%q) error %v, want ok=%v", tc.spec, err, tc.ok)
			}
			if tc.ok && s.Next(time.Now()).IsZero() {
				t.Errorf("schedule %q never runs", tc.spec)
			}
		})
	}
}

func TestRateLimitWarning(t *testing.T) {
	// An idle cycle asks 2 requests whatever the number of families (the notes' newest
	// commit, page 1 of the AKS releases); the hour adds 2 changed cycles (2 more each)
	// and a full pass of the releases (3 pages).
	const fourFamilies = "sources: {vhd_notes: {families: [AKSFlatcar/gen2, AKSFlatcar/gen2arm64, AKSUbuntu/gen2/2404containerd, AKSAzureLinuxV3/gen2]}}\n"
	var sixteen []string
	for i := range 16 {
		sixteen = append(sixteen, fmt.Sprintf("f/%d", i))
	}
	for _, tc := range []struct {
		name string
		yaml string
		want []string // nil: no warning
	}{
		{"defaults: every family, 4 cycles an hour", "", nil},
		{"every family every 5 minutes", "schedule: '@every 5m'", nil},
		{"every minute", fourFamilies + "schedule: '@every 1m'", []string{"needs about 127 GitHub API requests an hour", "60 cycles an hour of 2 requests", "github.token", `"@every 3m"`}},
		{"every minute with a token", fourFamilies + "schedule: '@every 1m'\ngithub: {token: ghp_x}", nil},
		{"every minute as a cron spec", fourFamilies + "schedule: '* * * * *'", []string{"needs about 127 "}},
		{"cron every quarter hour", fourFamilies + "schedule: '*/15 * * * *'", nil},
		{"every 3 minutes: 20*2 + 4 + 3", "schedule: '@every 3m'", nil},
		{"every 2 minutes: 30*2 + 4 + 3", "schedule: '@every 2m'", []string{"needs about 67 "}},
		{"busy only on Monday mornings", fourFamilies + "schedule: '* 9 * * 1'", []string{"needs about 127 "}},
		{"in a time zone", fourFamilies + "schedule: 'CRON_TZ=Europe/Berlin */2 * * * *'", []string{"needs about 67 "}},
		{"notes only, every minute: 60 + 2", "sources: {aks_releases: {enabled: false}}\nschedule: '@every 1m'", []string{"needs about 62 ", `"@every 2m"`}},
		{"notes only, every 2 minutes", "sources: {aks_releases: {enabled: false}}\nschedule: '@every 2m'", nil},
		{"no GitHub source", "sources: {vhd_notes: {enabled: false}, aks_releases: {enabled: false}}\nschedule: '@every 1s'", nil},
		{"sixteen families cost what one does", "sources: {vhd_notes: {families: [" + strings.Join(sixteen, ", ") + "]}}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			warnings := c.Warnings()
			if tc.want == nil {
				if len(warnings) > 0 {
					t.Errorf("warnings %q, want none", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("warnings %q, want one", warnings)
			}
			for _, want := range tc.want {
				if !strings.Contains(warnings[0], want) {
					t.Errorf("warning %q does not contain %q", warnings[0], want)
				}
			}
		})
	}
}

func TestOtherWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"unrouted notifier", "notifiers: [{name: a, type: stdout}, {name: b, type: stdout}]\nroutes: [{events: [aks_release], notify: [a]}]",
			"notifiers[1] (b): no route sends to it"},
		{"family glob that matches nothing", "sources: {vhd_notes: {families: ['AKSFlatcar/*']}}\nnotifiers: [{name: a, type: stdout}]\nroutes: [{events: [node_image], families: [AKSFlatcar/*, AKSUbuntu/*], notify: [a]}]",
			`routes[0].families[1]: "AKSUbuntu/*" matches none of sources.vhd_notes.families`},
		{"channel not watched", "sources: {flatcar: {channels: [stable]}}\nnotifiers: [{name: a, type: stdout}]\nroutes: [{events: [flatcar_release], channels: [lts], notify: [a]}]",
			`routes[0].channels[0]: "lts" is not in sources.flatcar.channels`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], tc.want) {
				t.Errorf("warnings %q, want one containing %q", w, tc.want)
			}
		})
	}
}

func TestMatchFamily(t *testing.T) {
	for _, tc := range []struct {
		glob, family string
		want         bool
	}{
		{"AKSUbuntu/*", "AKSUbuntu/gen2/2404containerd", true},
		{"AKSUbuntu/*", "AKSUbuntu/gen2", true},
		{"AKSUbuntu/*", "AKSUbuntu", false},
		{"AKSFlatcar/*", "AKSFlatcar/gen2arm64", true},
		{"AKSFlatcar/*", "AKSFlatcarX/gen2", false}, // the slash is part of the glob
		{"AKSFlatcar*", "AKSFlatcarX/gen2", true},   // a star takes slashes too
		{"AKSFlatcar/gen2", "AKSFlatcar/gen2", true},
		{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", false},
		{"AKSFlatcar/gen2*", "AKSFlatcar/gen2arm64", true},
		{"*arm64", "AKSFlatcar/gen2arm64", true},
		{"*arm64", "AKSAzureContainerLinux/arm64gen2tl", false},
		{"*/*arm64*", "AKSAzureContainerLinux/arm64gen2tl", true},
		{"AKS*/gen2", "AKSAzureLinuxV3/gen2", true},
		{"AKS*/gen2", "AKSUbuntu/gen2/2404containerd", false},
		{"*", "AKSWindows/2025-gen2", true},
		{"**", "", true},
		{"", "AKSFlatcar/gen2", false},
		{"aksflatcar/*", "AKSFlatcar/gen2", false}, // case matters, as in the directory names
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := tracker.MatchFamily(tc.glob, tc.family); got != tc.want {
			t.Errorf("MatchFamily(%q, %q) = %v, want %v", tc.glob, tc.family, got, tc.want)
		}
	}
}

// TestMatchFamilyOnTheFixtures matches globs against the family directories of a real
// AgentBaker snapshot.
func TestMatchFamilyOnTheFixtures(t *testing.T) {
	notes := filepath.Join(repoRoot(t), "..", "shared", "fixtures", "world-2026-05-31", "github", "Azure", "AgentBaker", "vhdbuilder", "release-notes")
	var families []string
	err := filepath.WalkDir(notes, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".txt" {
			return err
		}
		family, _ := filepath.Rel(notes, filepath.Dir(path))
		if !slices.Contains(families, filepath.ToSlash(family)) {
			families = append(families, filepath.ToSlash(family))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		glob string
		want []string
	}{
		{"AKSFlatcar/*", []string{"AKSFlatcar/gen2", "AKSFlatcar/gen2arm64"}},
		{"AKSUbuntu/*", []string{"AKSUbuntu/gen2/2404containerd"}},
		{"*/gen2", []string{"AKSAzureLinuxV3/gen2", "AKSFlatcar/gen2"}},
		{"*", []string{"AKSAzureLinuxV3/gen2", "AKSFlatcar/gen2", "AKSFlatcar/gen2arm64", "AKSUbuntu/gen2/2404containerd"}},
		{"AKSWindows/*", nil},
	} {
		var got []string
		for _, f := range families {
			if tracker.MatchFamily(tc.glob, f) {
				got = append(got, f)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q matches %q, want %q", tc.glob, got, tc.want)
		}
	}
}

func TestSecretsStayHidden(t *testing.T) {
	secrets := map[string]string{
		"GITHUB_TOKEN":      "ghp_S3cretGitHubToken",
		"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/S3cretWebhook",
		"SLACK_BOT_TOKEN":   "xoxb-S3cretBotToken",
		"ADMIN_TOKEN":       "nw-S3cretAdminToken",
	}
	fileSecret := "S3cretFromFile"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := []string{secrets["GITHUB_TOKEN"], secrets["SLACK_WEBHOOK_URL"], secrets["SLACK_BOT_TOKEN"], fileSecret, secrets["ADMIN_TOKEN"]}
	c, err := loadYAML(t, fmt.Sprintf(`
github: {token: "${GITHUB_TOKEN}"}
http: {admin_token: "${ADMIN_TOKEN}"}
notifiers:
  - {name: team, type: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
  - {name: bot, type: slack, token: "${SLACK_BOT_TOKEN}", channel: C0123456}
  - {name: tracker, type: github, repo: example/platform, token_file: %q}
routes: [{events: [aks_release], notify: [team, bot, tracker]}]
`, tokenFile), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{c.GitHub.Token.Value(), c.Notifiers[0].WebhookURL.Value(), c.Notifiers[1].Token.Value(), c.Notifiers[2].Token.Value(), c.HTTP.AdminToken.Value()}; !slices.Equal(got, all) {
		t.Fatalf("the secrets are %q, want %q", got, all)
	}

	var outputs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outputs = append(outputs, fmt.Sprintf(format, c), fmt.Sprintf(format, *c), fmt.Sprintf(format, c.Notifiers), fmt.Sprintf(format, c.GitHub.Token),
			fmt.Sprintf(format, c.HTTP), fmt.Sprintf(format, c.HTTP.AdminToken))
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js), string(ym))
	// The admin token is there, as set but not shown.
	if !strings.Contains(string(js), `"admin_token":"[redacted]"`) || !strings.Contains(string(ym), "admin_token: '[redacted]'") {
		t.Errorf("the admin token is not shown as set:\n%s\n%s", js, ym)
	}
	var text, jsonLog bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&jsonLog, nil)} {
		slog.New(h).Info("loaded", "config", c, "token", c.GitHub.Token, "notifier", c.Notifiers[1], "http", c.HTTP, "admin_token", c.HTTP.AdminToken)
	}
	outputs = append(outputs, text.String(), jsonLog.String())

	for _, out := range outputs {
		if !strings.Contains(out, redacted) {
			t.Errorf("output shows no %s: %s", redacted, out)
		}
	}

	// Validation problems in the very places the secrets sit.
	c.Notifiers[0].WebhookURL = NewSecret("hooks.slack.com/S3cretNotAURL")
	c.Notifiers[1].WebhookURL = NewSecret(secrets["SLACK_WEBHOOK_URL"])
	c.Notifiers[2].Type = "slack"
	all = append(all, c.Notifiers[0].WebhookURL.Value())
	err = c.Validate()
	for _, want := range []string{"notifiers[0].webhook_url: not an http(s) URL", "notifiers[1].token: set webhook_url or token", "notifiers[2].channel: needed with token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want an error containing %q", err, want)
		}
	}
	outputs = append(outputs, err.Error())

	// Errors of the file in the very place the admin token sits: both forms set, a key
	// misspelt beside it, the token where a number goes.
	adminFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(adminFile, []byte(secrets["ADMIN_TOKEN"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{fmt.Sprintf("http: {admin_token: '${ADMIN_TOKEN}', admin_token_file: %q}", adminFile), "http.admin_token_file: http.admin_token is set as well"},
		{"http: {admin_token: '${ADMIN_TOKEN}', admin_tokn: '${ADMIN_TOKEN}'}", "http.admin_tokn (line 1): unknown key"},
		{"http: {admin_token: {value: '${ADMIN_TOKEN}'}}", "http.admin_token (line 1): want a string"},
		{fmt.Sprintf("http: {admin_token_file: %q, listen: nowhere}", adminFile), `http.listen: "nowhere" is not host:port`},
	} {
		_, err := loadYAML(t, tc.yaml, secrets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.yaml, err, tc.want)
			continue
		}
		outputs = append(outputs, err.Error())
	}

	for _, out := range outputs {
		for _, secret := range all {
			if strings.Contains(out, secret) {
				t.Errorf("output shows the secret %q: %s", secret, out)
			}
		}
	}
	if s := fmt.Sprint(Secret{}); s != "" {
		t.Errorf("an empty secret prints %q", s)
	}
}

// exampleEnv is what config.example.yaml needs from the environment.
var exampleEnv = map[string]string{
	"GITHUB_TOKEN":      "ghp_example",
	"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/example",
	"SLACK_BOT_TOKEN":   "xoxb-example",
}

func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join(repoRoot(t), "config.example.yaml"), envOf(exampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) > 0 {
		t.Errorf("config.example.yaml warns: %q", w)
	}
	// The contract's 4 notifiers and 5 routes, and a route of pool_behind.
	if len(c.Notifiers) != 4 || len(c.Routes) != 6 {
		t.Errorf("config.example.yaml has %d notifiers and %d routes, want the contract's 4 and 5 and one of pool_behind", len(c.Notifiers), len(c.Routes))
	}
	if k := c.Kubernetes; len(k.Clusters) != 1 || k.Clusters[0].Name != "prod-weu" || k.Behind != (Behind{Images: 2, Days: 14}) {
		t.Errorf("config.example.yaml kubernetes = %+v", k)
	}
}

// TestContractExample loads the configuration example of the contract as it is written
// there, in flow style with ${VAR} unquoted.
func TestContractExample(t *testing.T) {
	contract, err := os.ReadFile(filepath.Join(repoRoot(t), "..", "shared", "CONTRACT.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)## Configuration.*?```yaml\n(.*?)```").FindSubmatch(contract)
	if block == nil {
		t.Fatal("no yaml block under ## Configuration in CONTRACT.md")
	}
	c, err := loadYAML(t, string(block[1]), exampleEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Notifiers[0].WebhookURL.Value(); got != exampleEnv["SLACK_WEBHOOK_URL"] {
		t.Errorf("notifiers[0].webhook_url = %q", got)
	}
	// Its families are Flatcar's only, while a route takes AKSUbuntu/*; and no route names
	// the stdout notifier.
	want := []string{"notifiers[3] (log): no route sends to it", `routes[2].families[0]: "AKSUbuntu/*" matches none`}
	w := c.Warnings()
	if len(w) != len(want) {
		t.Fatalf("warnings %q, want %d", w, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(w[i], want[i]) {
			t.Errorf("warning %q, want one starting %q", w[i], want[i])
		}
	}
}

// yamlKeys lists the key paths of the Config type, with [] for a list's elements.
func yamlKeys(t reflect.Type, path string, keys *[]string) {
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			p := join(path, name)
			*keys = append(*keys, p)
			yamlKeys(t.Field(i).Type, p, keys)
		}
	case reflect.Slice:
		yamlKeys(t.Elem(), path+"[]", keys)
	case reflect.Pointer:
		yamlKeys(t.Elem(), path, keys)
	}
}

// exampleKeys maps each key path of a YAML tree to whether its first occurrence carries
// a comment.
func exampleKeys(n *yaml.Node, path string, keys map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		exampleKeys(n.Content[0], path, keys)
	case yaml.SequenceNode:
		for _, e := range n.Content {
			exampleKeys(e, path+"[]", keys)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, ok := keys[p]; !ok {
				keys[p] = k.HeadComment != "" || k.LineComment != "" || v.LineComment != ""
			}
			exampleKeys(v, p, keys)
		}
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	exampleKeys(&doc, "", documented)
	var keys []string
	yamlKeys(configType, "", &keys)
	for _, key := range keys {
		commented, ok := documented[key]
		if !ok {
			// A key that cannot be set beside another (token_file beside token) is shown
			// commented out.
			leaf := key[strings.LastIndexAny(key, ".]")+1:]
			if !regexp.MustCompile(`(?m)^\s*# ` + regexp.QuoteMeta(leaf) + `: `).Match(text) {
				t.Errorf("config.example.yaml does not show %s", key)
			}
			continue
		}
		if !commented {
			t.Errorf("config.example.yaml shows %s without a comment", key)
		}
	}
	for key := range documented {
		if !slices.Contains(keys, key) {
			t.Errorf("config.example.yaml shows %s, which is no key", key)
		}
	}
}

func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile(filepath.Join(repoRoot(f), "config.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, seed := range []string{
		"",
		"schedule: CRON_TZ=X",
		"schedule: \"CRON_TZ=X\t* * * * *\"",
		"schedule: '0 0 30 2 *'",
		"github: {token: ${T}}",
		"a: &a [x, *a]",
		"notifiers: [&n {name: a, type: stdout}, {<<: *n, name: b}]",
		"routes: [{events: [node_image], kernel: '>= 6.12', notify: [a]}]",
		"storage: {path: '${X:-$$}'}",
		"x: ${\n}",
	} {
		f.Add([]byte(seed))
	}
	env := envOf(map[string]string{"T": "t: #'\"", "X": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := c.overlay(data, env); err != nil {
			return
		}
		c.normalize()
		_ = c.Validate()
		_ = c.Warnings()
	})
}
