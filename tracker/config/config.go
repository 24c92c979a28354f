// Package config reads nodewatch's YAML configuration: the built-in defaults, overlaid
// by a file, with ${VAR} taken from the environment and secrets optionally read from
// files. config.example.yaml at the repository root documents every key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nodewatch/nodewatch/tracker"
)

// Values of first_run: what a source, family or channel announces the first time it is
// read successfully.
const (
	FirstRunSilent = "silent" // nothing: record history, announce only what comes later
	FirstRunLatest = "latest" // the newest item only
	FirstRunAll    = "all"    // everything, the whole history
)

// Values of notifiers[].type.
const (
	NotifierSlack  = "slack"
	NotifierGitHub = "github"
	NotifierStdout = "stdout"
)

// Values of sources.flatcar.format.
const (
	FlatcarFeed = "feed" // Atom, {base_url}/releases-feed/releases-{channel}.xml
	FlatcarJSON = "json" // {base_url}/releases-json/releases-{channel}.json
)

// ListenEnv, when set, overrides http.listen, so that a container image can listen on
// 0.0.0.0:8080 without shipping a config file.
const ListenEnv = "NODEWATCH_HTTP_LISTEN"

// Config is the whole configuration. The yaml tags are the file's keys.
type Config struct {
	Schedule  string     `yaml:"schedule" json:"schedule"`
	Storage   Storage    `yaml:"storage" json:"storage"`
	GitHub    GitHub     `yaml:"github" json:"github"`
	Sources   Sources    `yaml:"sources" json:"sources"`
	FirstRun  string     `yaml:"first_run" json:"first_run"`
	Delivery  Delivery   `yaml:"delivery" json:"delivery"`
	Log       Log        `yaml:"log" json:"log"`
	Jitter    Duration   `yaml:"jitter" json:"jitter"`
	Notifiers []Notifier `yaml:"notifiers" json:"notifiers"`
	Routes    []Route    `yaml:"routes" json:"routes"`
	HTTP      HTTP       `yaml:"http" json:"http"`
	// Kubernetes is the team's clusters, whose node pools nodewatch judges.
	Kubernetes Kubernetes `yaml:"kubernetes" json:"kubernetes"`
}

// Kubernetes says which clusters' nodes the daemon watches. With no clusters it watches
// the cluster it runs in, by its service account.
type Kubernetes struct {
	Enabled  bool      `yaml:"enabled" json:"enabled"`
	Clusters []Cluster `yaml:"clusters" json:"clusters"`
	Behind   Behind    `yaml:"behind" json:"behind"`
}

// Cluster is one cluster read through a kubeconfig: Kubeconfig "" means the usual
// loading rules ($KUBECONFIG, then ~/.kube/config), Context "" its current context.
type Cluster struct {
	Name       string `yaml:"name" json:"name"`
	Kubeconfig string `yaml:"kubeconfig" json:"kubeconfig,omitempty"`
	Context    string `yaml:"context" json:"context,omitempty"`
}

// Behind is when a pool counts as behind: Images images or Days days older than the
// newest image of its family (either; 0 turns one off).
type Behind struct {
	Images int `yaml:"images" json:"images"`
	Days   int `yaml:"days" json:"days"`
}

// Policy is the tracker's form of Behind.
func (b Behind) Policy() tracker.BehindPolicy {
	return tracker.BehindPolicy{Images: b.Images, Days: b.Days}
}

// InClusterName names the cluster nodewatch runs in when kubernetes.clusters is empty.
const InClusterName = "in-cluster"

type Storage struct {
	Path string `yaml:"path" json:"path"`
	// Backup, when set, makes the daemon keep rotating backups of the database.
	Backup *Backup `yaml:"backup" json:"backup,omitempty"`
}

// Backup is the daemon's rotating backups: one every Every into Dir, the newest Keep
// kept. Left out, every is 24h, keep 7 and dir a backups directory beside the database.
type Backup struct {
	Every Duration `yaml:"every" json:"every"`
	Keep  int      `yaml:"keep" json:"keep"`
	Dir   string   `yaml:"dir" json:"dir"`
}

// GitHub is the API that the AKS releases and the VHD notes are read from.
type GitHub struct {
	APIURL string `yaml:"api_url" json:"api_url"`
	// RawURL is where files download from ({raw_url}{owner}/{repo}/{ref}/{path}); empty:
	// raw.githubusercontent.com for api.github.com, else https://HOST/raw/ (GitHub Enterprise).
	RawURL string `yaml:"raw_url" json:"raw_url,omitempty"`
	// WebURL is where people read them (notes_url): https://github.com/ unless set.
	WebURL    string `yaml:"web_url" json:"web_url,omitempty"`
	Token     Secret `yaml:"token" json:"token"`
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
}

type Sources struct {
	AKSReleases AKSReleases `yaml:"aks_releases" json:"aks_releases"`
	VHDNotes    VHDNotes    `yaml:"vhd_notes" json:"vhd_notes"`
	Flatcar     Flatcar     `yaml:"flatcar" json:"flatcar"`
	// UbuntuSecurity is Canonical's OSV archive: what each Ubuntu image fixes.
	UbuntuSecurity UbuntuSecurity `yaml:"ubuntu_security" json:"ubuntu_security"`
}

// UbuntuSecurity is a tar.xz of OSV records (any layout), read conditionally at most
// Every.
type UbuntuSecurity struct {
	Enabled bool     `yaml:"enabled" json:"enabled"`
	URL     string   `yaml:"url" json:"url"`
	Every   Duration `yaml:"every" json:"every"`
}

type AKSReleases struct {
	Enabled bool   `yaml:"enabled" json:"enabled"`
	Repo    string `yaml:"repo" json:"repo"`
	// Rescan is how often every page of releases is read again, for edits of older
	// releases; between, each cycle asks for page 1 alone.
	Rescan Duration `yaml:"rescan" json:"rescan"`
}

// VHDNotes is where AgentBaker keeps one directory of notes per node image family.
// Families are globs (tracker.MatchFamily) over the directories that hold image notes.
type VHDNotes struct {
	Enabled  bool     `yaml:"enabled" json:"enabled"`
	Repo     string   `yaml:"repo" json:"repo"`
	Ref      string   `yaml:"ref" json:"ref"`
	Path     string   `yaml:"path" json:"path"`
	Families []string `yaml:"families" json:"families"`
}

type Flatcar struct {
	Enabled  bool     `yaml:"enabled" json:"enabled"`
	BaseURL  string   `yaml:"base_url" json:"base_url"`
	Channels []string `yaml:"channels" json:"channels"`
	Format   string   `yaml:"format" json:"format"`
}

// Delivery bounds the retries of a failed notification; the backoff doubles from
// MinBackoff up to MaxBackoff.
type Delivery struct {
	MaxAttempts int      `yaml:"max_attempts" json:"max_attempts"`
	MinBackoff  Duration `yaml:"min_backoff" json:"min_backoff"`
	MaxBackoff  Duration `yaml:"max_backoff" json:"max_backoff"`
}

type Log struct {
	Format string `yaml:"format" json:"format"`
	Level  string `yaml:"level" json:"level"`
}

type HTTP struct {
	Listen string `yaml:"listen" json:"listen"`
	// AdminToken, when set, lets a client that is not on loopback take a backup
	// (GET /api/v1/backup) by sending it as a bearer token.
	AdminToken     Secret `yaml:"admin_token" json:"admin_token,omitzero"`
	AdminTokenFile string `yaml:"admin_token_file" json:"admin_token_file,omitempty"`
}

// Notifier is one place events can be sent. Which keys apply depends on Type: slack
// takes webhook_url, or token with channel (and api_url); github takes repo, labels,
// close_previous and token (see NotifierToken); stdout takes none.
type Notifier struct {
	Name           string   `yaml:"name" json:"name"`
	Type           string   `yaml:"type" json:"type"`
	WebhookURL     Secret   `yaml:"webhook_url" json:"webhook_url,omitzero"`
	WebhookURLFile string   `yaml:"webhook_url_file" json:"webhook_url_file,omitempty"`
	Token          Secret   `yaml:"token" json:"token,omitzero"`
	TokenFile      string   `yaml:"token_file" json:"token_file,omitempty"`
	Channel        string   `yaml:"channel" json:"channel,omitempty"`
	APIURL         string   `yaml:"api_url" json:"api_url,omitempty"`
	Repo           string   `yaml:"repo" json:"repo,omitempty"`
	Labels         []string `yaml:"labels" json:"labels,omitempty"`
	ClosePrevious  bool     `yaml:"close_previous" json:"close_previous,omitempty"`
}

// Route sends the events it matches to the notifiers it names; every matching route
// delivers. Families (globs, see tracker.MatchFamily) filter node_image events, Channels filter
// flatcar_release events. Kernel and Flatcar are semver constraints compared with the
// leading dotted numbers of a value (see tracker.MatchVersion): Kernel with an image's or a
// Flatcar release's kernel, Flatcar with a Flatcar release's version or a Flatcar
// image's OS version; an event without such a value does not match.
type Route struct {
	Events   []tracker.EventKind `yaml:"events" json:"events"`
	Families []string            `yaml:"families" json:"families,omitempty"`
	Channels []string            `yaml:"channels" json:"channels,omitempty"`
	Kernel   string              `yaml:"kernel" json:"kernel,omitempty"`
	Flatcar  string              `yaml:"flatcar" json:"flatcar,omitempty"`
	// CVEs takes only node images that fix at least one advisory.
	CVEs   bool     `yaml:"cves" json:"cves,omitempty"`
	Notify []string `yaml:"notify" json:"notify"`
	Digest bool     `yaml:"digest" json:"digest,omitempty"`
}

// Default is the configuration without a file: the public sources, every family, events
// on stdout.
func Default() *Config {
	return &Config{
		Schedule: "@every 15m",
		Storage:  Storage{Path: "./nodewatch.db"},
		GitHub:   GitHub{APIURL: "https://api.github.com/"},
		Sources: Sources{
			AKSReleases: AKSReleases{Enabled: true, Repo: "Azure/AKS", Rescan: Duration{24 * time.Hour}},
			VHDNotes: VHDNotes{
				Enabled:  true,
				Repo:     "Azure/AgentBaker",
				Ref:      "master",
				Path:     "vhdbuilder/release-notes",
				Families: []string{"*"},
			},
			Flatcar: Flatcar{
				Enabled:  true,
				BaseURL:  "https://www.flatcar.org",
				Channels: []string{"stable", "beta", "alpha", "lts"},
				Format:   FlatcarFeed,
			},
			UbuntuSecurity: UbuntuSecurity{
				Enabled: true,
				URL:     "https://security-metadata.canonical.com/osv/osv-all.tar.xz",
				Every:   Duration{24 * time.Hour},
			},
		},
		FirstRun: FirstRunSilent,
		Delivery: Delivery{
			MaxAttempts: 12,
			MinBackoff:  Duration{time.Minute},
			MaxBackoff:  Duration{6 * time.Hour},
		},
		Log:    Log{Format: "text", Level: "info"},
		Jitter: Duration{30 * time.Second},
		HTTP:   HTTP{Listen: "127.0.0.1:8080"},
		Kubernetes: Kubernetes{
			Behind: Behind{Images: tracker.DefaultBehind.Images, Days: tracker.DefaultBehind.Days},
		},
	}
}

// Load returns the defaults overlaid by the file at path ("" for no file), validated.
// env looks up ${VAR} and NODEWATCH_HTTP_LISTEN (nil means the process environment).
// Relative paths of *_file secrets are taken from the working directory.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := c.overlay(data, env); err != nil {
			return nil, inFile(path, err)
		}
	}
	if listen, ok := env(ListenEnv); ok && listen != "" {
		c.HTTP.Listen = listen
	}
	errs := c.readSecretFiles()
	c.normalize()
	if err := errors.Join(append(errs, c.Validate())...); err != nil {
		return nil, inFile(path, err)
	}
	return c, nil
}

// inFile prefixes each of the joined errors with the file name, so that every line of
// the message says where the problem is.
func inFile(path string, err error) error {
	if path == "" {
		return err
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		errs = append(errs, inFile(path, e))
	}
	return errors.Join(errs...)
}

// overlay sets the keys the YAML document data names, leaving the others as they are.
func (c *Config) overlay(data []byte, env func(string) (string, bool)) error {
	data, restore := shieldVariables(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file: the defaults
			return nil
		}
		return err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; nodewatch reads one")
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of keys such as schedule: and sources:, got %s", root.Line, kindName(root))
	}
	restoreVariables(root, restore)
	w := walker{env: env, seen: map[visit]bool{}, expanded: map[*yaml.Node]bool{}}
	w.walk(root, "", configType)
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}
	return root.Decode(c)
}

// readSecretFiles replaces each secret that has a *_file form set by the file's
// trimmed content. An empty secret counts as unset, so `token: ${TOKEN:-}` and
// token_file go together.
func (c *Config) readSecretFiles() []error {
	var errs []error
	read := func(key string, s *Secret, file string) {
		if file == "" {
			return
		}
		if s.Value() != "" {
			errs = append(errs, fmt.Errorf("%s_file: %s is set as well; set one of them", key, key))
			return
		}
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_file: %w", key, err))
			return
		}
		*s = NewSecret(strings.TrimSpace(string(data)))
	}
	read("github.token", &c.GitHub.Token, c.GitHub.TokenFile)
	read("http.admin_token", &c.HTTP.AdminToken, c.HTTP.AdminTokenFile)
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		read(fmt.Sprintf("notifiers[%d].token", i), &n.Token, n.TokenFile)
		read(fmt.Sprintf("notifiers[%d].webhook_url", i), &n.WebhookURL, n.WebhookURLFile)
	}
	return errs
}

// DefaultSlackAPIURL is where a Slack notifier with a token posts unless api_url says
// otherwise.
const DefaultSlackAPIURL = "https://slack.com/api/"

// normalize fills in what a file may leave out and writes URLs the way their clients
// want them: the GitHub and Slack clients join paths to an API URL ending in a slash,
// the Flatcar paths are appended to a base URL after one.
func (c *Config) normalize() {
	if b := c.Storage.Backup; b != nil {
		if b.Every.Duration == 0 {
			b.Every.Duration = 24 * time.Hour
		}
		if b.Keep == 0 {
			b.Keep = 7
		}
		if b.Dir == "" {
			b.Dir = filepath.Join(filepath.Dir(c.Storage.Path), "backups")
		}
	}
	c.GitHub.APIURL = withSlash(c.GitHub.APIURL)
	c.Sources.Flatcar.BaseURL = strings.TrimRight(c.Sources.Flatcar.BaseURL, "/")
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		if n.Type == NotifierSlack && n.APIURL == "" {
			n.APIURL = DefaultSlackAPIURL
		}
		n.APIURL = withSlash(n.APIURL)
	}
}

func withSlash(url string) string {
	if url == "" || strings.HasSuffix(url, "/") {
		return url
	}
	return url + "/"
}

// NotifierToken is the token a notifier authenticates with: its own, or for a github
// notifier without one, github.token.
func (c *Config) NotifierToken(n Notifier) Secret {
	if n.Token.Value() == "" && n.Type == NotifierGitHub {
		return c.GitHub.Token
	}
	return n.Token
}
