package upstreamtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const (
	notesDir = "vhdbuilder/release-notes"
	gen2Dir  = notesDir + "/AKSFlatcar/gen2"
)

// fixturesDir finds shared/fixtures, which lies beside the repository root.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "fixtures")
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no shared/fixtures above the package directory")
		}
		dir = parent
	}
}

func worldDir(t testing.TB, date string) string {
	return filepath.Join(fixturesDir(t), "world-"+date)
}

// worldDate reads the date the world's world.json gives, at 00:00 UTC.
func worldDate(t testing.TB, date string) time.Time {
	t.Helper()
	var world struct{ Date string }
	if err := json.Unmarshal(readFile(t, filepath.Join(worldDir(t, date), "world.json")), &world); err != nil {
		t.Fatal(err)
	}
	d, err := time.Parse(time.DateOnly, world.Date)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func agentBakerFile(t testing.TB, date, p string) string {
	return filepath.Join(worldDir(t, date), "github", "Azure", "AgentBaker", filepath.FromSlash(p))
}

func newServer(t testing.TB, date string) *upstreamtest.Server {
	t.Helper()
	s, err := upstreamtest.New(worldDir(t, date))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t testing.TB, s *upstreamtest.Server) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithEnterpriseURLs(s.GitHubAPIURL(), s.GitHubAPIURL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get sends a GET (or another method) with the given headers and reads the whole response.
func get(t testing.TB, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// conditionalDo sends a go-github request for apiPath with If-None-Match and returns
// the status it ended with.
func conditionalDo(t testing.TB, c *github.Client, apiPath, etag string) int {
	t.Helper()
	req, err := c.NewRequest(http.MethodGet, apiPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", etag)
	var v json.RawMessage
	resp, err := c.Do(context.Background(), req, &v)
	var errResp *github.ErrorResponse
	switch {
	case err == nil:
		return resp.StatusCode
	case errors.As(err, &errResp):
		return errResp.Response.StatusCode
	}
	t.Fatal(err)
	return 0
}

func TestListReleasesPaginates(t *testing.T) {
	tests := []struct {
		world   string
		perPage int
	}{
		{"2026-02-11", 100},
		{"2026-04-30", 100},
		{"2026-05-31", 100},
		{"2026-05-31", 30},
		{"2026-05-31", 0}, // GitHub's default, 30
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/per_page=%d", tt.world, tt.perPage), func(t *testing.T) {
			var want []*github.RepositoryRelease
			if err := json.Unmarshal(readFile(t, filepath.Join(worldDir(t, tt.world), "github/Azure/AKS/releases.json")), &want); err != nil {
				t.Fatal(err)
			}
			perPage := tt.perPage
			if perPage == 0 {
				perPage = 30
			}
			wantPages := (len(want) + perPage - 1) / perPage

			c := newClient(t, newServer(t, tt.world))
			opts := &github.ListOptions{PerPage: tt.perPage}
			var got []*github.RepositoryRelease
			for pages := 1; ; pages++ {
				releases, resp, err := c.Repositories.ListReleases(context.Background(), "Azure", "AKS", opts)
				if err != nil {
					t.Fatal(err)
				}
				if pages == 1 && resp.LastPage != wantPages {
					t.Errorf("LastPage = %d, want %d", resp.LastPage, wantPages)
				}
				got = append(got, releases...)
				if resp.NextPage == 0 {
					if pages != wantPages {
						t.Errorf("followed %d pages, want %d", pages, wantPages)
					}
					break
				}
				opts.Page = resp.NextPage
			}
			if len(got) != len(want) {
				t.Fatalf("got %d releases, want %d", len(got), len(want))
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("the releases listed differ from releases.json")
			}
		})
	}
}

func TestListReleasesPages(t *testing.T) {
	const date = "2026-05-31"
	var releases []json.RawMessage
	if err := json.Unmarshal(readFile(t, filepath.Join(worldDir(t, date), "github/Azure/AKS/releases.json")), &releases); err != nil {
		t.Fatal(err)
	}
	total := len(releases)
	if total <= 200 || total > 300 {
		t.Fatalf("the cases below expect 3 pages of 100, but %s has %d releases", date, total)
	}
	s := newServer(t, date)
	base := s.GitHubAPIURL() + "repos/Azure/AKS/releases"
	link := func(query string, rels ...string) string {
		var links []string
		for i := 0; i < len(rels); i += 2 {
			links = append(links, fmt.Sprintf(`<%s?%spage=%s>; rel="%s"`, base, query, rels[i+1], rels[i]))
		}
		return strings.Join(links, ", ")
	}
	tests := []struct {
		query     string
		wantCount int
		wantLink  string
	}{
		{"?per_page=100", 100, link("per_page=100&", "next", "2", "last", "3")},
		{"?per_page=100&page=2", 100, link("per_page=100&", "prev", "1", "next", "3", "last", "3", "first", "1")},
		{"?page=3&per_page=100", total - 200, link("per_page=100&", "prev", "2", "first", "1")},
		{"?per_page=100&page=4", 0, link("per_page=100&", "prev", "3", "first", "1")},
		{"?per_page=1000", 100, link("per_page=1000&", "next", "2", "last", "3")},
		{"?per_page=300", 100, link("per_page=300&", "next", "2", "last", "3")},
		{"", 30, link("", "next", "2", "last", fmt.Sprint((total+29)/30))},
		{"?page=x&per_page=-1", 30, link("per_page=-1&", "next", "2", "last", fmt.Sprint((total+29)/30))},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := get(t, http.MethodGet, base+tt.query, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var page []json.RawMessage
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page) != tt.wantCount {
				t.Errorf("%d releases, want %d", len(page), tt.wantCount)
			}
			if got := resp.Header.Get("Link"); got != tt.wantLink {
				t.Errorf("Link:\n got %s\nwant %s", got, tt.wantLink)
			}
			sum := sha256.Sum256(body)
			for header, want := range map[string]string{
				"Content-Type":         "application/json; charset=utf-8",
				"ETag":                 `W/"` + hex.EncodeToString(sum[:]) + `"`,
				"X-RateLimit-Resource": "core",
			} {
				if got := resp.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
		})
	}
}

func TestListReleasesNotModified(t *testing.T) {
	s := newServer(t, "2026-04-30")
	c := newClient(t, s)
	const apiPath = "repos/Azure/AKS/releases?per_page=100"
	_, resp, err := c.Repositories.ListReleases(context.Background(), "Azure", "AKS", &github.ListOptions{PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("ETag %q is not weak", etag)
	}
	tests := []struct {
		ifNoneMatch string
		want        int
	}{
		{etag, http.StatusNotModified},
		{strings.TrimPrefix(etag, "W/"), http.StatusNotModified},
		{`"elsewhere", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`W/"elsewhere"`, http.StatusOK},
		{strings.TrimSuffix(etag, `"`), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.ifNoneMatch, func(t *testing.T) {
			s.ResetStats()
			if got := conditionalDo(t, c, apiPath, tt.ifNoneMatch); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			st := s.Stats()
			if st.Requests != 1 || st.ByStatus[tt.want] != 1 || st.ByKind[upstreamtest.KindGitHubAPI] != 1 {
				t.Errorf("stats %+v, want one %d GitHub API request", st, tt.want)
			}
			if notModified := tt.want == http.StatusNotModified; notModified != (st.BodyBytes == 0) || notModified != (st.NotModified == 1) {
				t.Errorf("stats %+v for a %d response", st, tt.want)
			}
		})
	}
	t.Run("after SetWorld", func(t *testing.T) {
		if err := s.SetWorld(worldDir(t, "2026-05-31")); err != nil {
			t.Fatal(err)
		}
		if got := conditionalDo(t, c, apiPath, etag); got != http.StatusOK {
			t.Fatalf("status %d with April's ETag in May, want 200", got)
		}
	})
}

// gitTree lists the entries of the directory dir as git hashes them: name to SHA.
func gitTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git to check SHAs against")
	}
	gitDir := t.TempDir()
	if err := exec.Command("git", "init", "-q", "--bare", gitDir).Run(); err != nil {
		t.Fatalf("git init: %v", err)
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "core.autocrlf=false", "-c", "core.excludesFile=/dev/null"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_DIR="+gitDir, "GIT_WORK_TREE="+dir, "GIT_INDEX_FILE="+filepath.Join(gitDir, "index"))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git("add", "-A", ".")
	tree := map[string]string{}
	for _, line := range strings.Split(git("ls-tree", git("write-tree")), "\n") {
		meta, name, _ := strings.Cut(line, "\t")
		fields := strings.Fields(meta)
		tree[name] = fields[2]
	}
	return tree
}

func TestGetContentsDirectory(t *testing.T) {
	const date = "2026-05-31"
	s := newServer(t, date)
	c := newClient(t, s)
	for _, dir := range []string{gen2Dir, notesDir + "/AKSUbuntu/gen2/2404containerd", notesDir + "/AKSFlatcar", notesDir} {
		t.Run(dir, func(t *testing.T) {
			diskDir := agentBakerFile(t, date, dir)
			onDisk, err := os.ReadDir(diskDir)
			if err != nil {
				t.Fatal(err)
			}
			file, entries, resp, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", dir, &github.RepositoryContentGetOptions{Ref: "master"})
			if err != nil {
				t.Fatal(err)
			}
			if file != nil || len(entries) != len(onDisk) {
				t.Fatalf("got file %v and %d entries, want %d entries", file, len(entries), len(onDisk))
			}
			for i, e := range entries {
				want := onDisk[i]
				p := dir + "/" + want.Name()
				kind, view := "file", "blob"
				if want.IsDir() {
					kind, view = "dir", "tree"
				}
				if e.GetName() != want.Name() || e.GetPath() != p || e.GetType() != kind {
					t.Errorf("entry %d is %s %s (%s), want %s %s (%s)", i, e.GetName(), e.GetPath(), e.GetType(), want.Name(), p, kind)
				}
				if want := "https://github.com/Azure/AgentBaker/" + view + "/master/" + p; e.GetHTMLURL() != want {
					t.Errorf("%s html_url %s, want %s", want, e.GetHTMLURL(), want)
				}
				if want := s.GitHubAPIURL() + "repos/Azure/AgentBaker/contents/" + p + "?ref=master"; e.GetURL() != want {
					t.Errorf("%s url %s, want %s", p, e.GetURL(), want)
				}
				if want.IsDir() {
					if e.DownloadURL != nil {
						t.Errorf("directory %s has download_url %s", p, *e.DownloadURL)
					}
					continue
				}
				data := readFile(t, filepath.Join(diskDir, want.Name()))
				if e.GetSize() != len(data) {
					t.Errorf("%s size %d, want %d", p, e.GetSize(), len(data))
				}
				raw, body := get(t, http.MethodGet, e.GetDownloadURL(), nil)
				if raw.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
					t.Errorf("GET %s: status %d, body equal %v", e.GetDownloadURL(), raw.StatusCode, bytes.Equal(body, data))
				}
				if got, want := raw.Header.Get("ETag"), `"`+e.GetSHA()+`"`; got != want {
					t.Errorf("raw %s ETag %s, want %s", p, got, want)
				}
				if got := raw.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
					t.Errorf("raw %s Content-Type %s", p, got)
				}
				if again, _ := get(t, http.MethodGet, e.GetDownloadURL(), map[string]string{"If-None-Match": raw.Header.Get("ETag")}); again.StatusCode != http.StatusNotModified {
					t.Errorf("raw %s with its ETag: status %d, want 304", p, again.StatusCode)
				}
			}
			if got := conditionalDo(t, c, "repos/Azure/AgentBaker/contents/"+dir+"?ref=master", resp.Header.Get("ETag")); got != http.StatusNotModified {
				t.Errorf("listing with its ETag: status %d, want 304", got)
			}
			t.Run("git SHAs", func(t *testing.T) {
				tree := gitTree(t, diskDir)
				for _, e := range entries {
					if e.GetSHA() != tree[e.GetName()] {
						t.Errorf("%s sha %s, git says %s", e.GetPath(), e.GetSHA(), tree[e.GetName()])
					}
				}
			})
		})
	}
}

func TestGetContentsFile(t *testing.T) {
	const date = "2026-05-31"
	s := newServer(t, date)
	c := newClient(t, s)
	listing, err := listNames(t, c, gen2Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"202605.27.0.txt", "latest-image-list.json"} {
		t.Run(name, func(t *testing.T) {
			p := gen2Dir + "/" + name
			want := readFile(t, agentBakerFile(t, date, p))
			file, _, resp, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", p, &github.RepositoryContentGetOptions{Ref: "master"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := file.GetContent()
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) || file.GetEncoding() != "base64" || file.GetType() != "file" {
				t.Errorf("content equal %v, encoding %q, type %q", got == string(want), file.GetEncoding(), file.GetType())
			}
			lines := strings.SplitAfter(*file.Content, "\n")
			if last := lines[len(lines)-1]; last != "" {
				t.Errorf("content ends in %q, want a newline", last)
			}
			encoded := lines[:len(lines)-1]
			for i, line := range encoded {
				if full := i < len(encoded)-1; full && len(line) != 61 || len(line) > 61 {
					t.Fatalf("base64 line %d has %d characters, want 60 and a newline", i, len(line)-1)
				}
			}
			if listed := listing[name]; listed != file.GetSHA() {
				t.Errorf("sha %s, listed as %q", file.GetSHA(), listed)
			}
			if got := conditionalDo(t, c, "repos/Azure/AgentBaker/contents/"+p, resp.Header.Get("ETag")); got != http.StatusNotModified {
				t.Errorf("with its ETag: status %d, want 304", got)
			}
		})
	}
	t.Run("over 1 MiB", func(t *testing.T) {
		p := gen2Dir + "/large.txt"
		large := bytes.Repeat([]byte("x"), 1<<20+1)
		s.Override("github/Azure/AgentBaker/"+p, large)
		file, _, _, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if file.Content == nil || *file.Content != "" || file.GetEncoding() != "none" || file.GetSize() != len(large) {
			t.Errorf("content %v, encoding %q, size %d; want \"\", none, %d", file.Content, file.GetEncoding(), file.GetSize(), len(large))
		}
		if resp, body := get(t, http.MethodGet, file.GetDownloadURL(), nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, large) {
			t.Errorf("download: status %d, %d bytes, want %d", resp.StatusCode, len(body), len(large))
		}
	})
}

func TestNotFound(t *testing.T) {
	s := newServer(t, "2026-05-31")
	c := newClient(t, s)
	ctx := context.Background()
	api := []struct {
		name string
		call func() error
		docs string
	}{
		{"missing note", func() error {
			_, _, _, err := c.Repositories.GetContents(ctx, "Azure", "AgentBaker", gen2Dir+"/202602.10.0.txt", nil)
			return err
		}, "https://docs.github.com/rest/repos/contents#get-repository-content"},
		{"releases.json is no repository file", func() error {
			_, _, _, err := c.Repositories.GetContents(ctx, "Azure", "AKS", "releases.json", nil)
			return err
		}, "https://docs.github.com/rest/repos/contents#get-repository-content"},
		{"releases of an unknown repository", func() error {
			_, _, err := c.Repositories.ListReleases(ctx, "Azure", "AgentBaker", nil)
			return err
		}, "https://docs.github.com/rest/releases/releases#list-releases"},
	}
	for _, tt := range api {
		t.Run(tt.name, func(t *testing.T) {
			var errResp *github.ErrorResponse
			if !errors.As(tt.call(), &errResp) {
				t.Fatal("no GitHub error response")
			}
			if errResp.Response.StatusCode != http.StatusNotFound || errResp.Message != "Not Found" || errResp.DocumentationURL != tt.docs {
				t.Errorf("status %d, message %q, documentation_url %q", errResp.Response.StatusCode, errResp.Message, errResp.DocumentationURL)
			}
		})
	}
	plain := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/raw/Azure/AgentBaker/master/" + gen2Dir + "/202602.10.0.txt", 404, "404: Not Found"},
		{"GET", "/raw/Azure/AgentBaker/master/" + gen2Dir, 404, "404: Not Found"},
		{"GET", "/raw/Azure/AKS/master/releases.json", 404, "404: Not Found"},
		{"GET", "/raw/Azure/AgentBaker/master/" + gen2Dir + "/latest.txt/more", 404, "404: Not Found"},
		{"GET", "/api/v3/repos/Azure/AgentBaker/contents/" + gen2Dir + "/latest.txt/more", 404, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/contents#get-repository-content","status":"404"}`},
		{"GET", "/raw/Azure/AgentBaker/master/..%2F..%2F..%2Fworld.json", 404, "404: Not Found"},
		{"GET", "/api/v3/user", 404, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`},
		{"GET", "/releases-feed/releases-nightly.xml", 404, "404 page not found\n"},
		{"GET", "/releases-feed/releases-alpha.json", 404, "404 page not found\n"},
		{"GET", "/releases-json/alpha.json", 404, "404 page not found\n"},
		{"GET", "/releases-feed/releases-..%2F..%2Fworld.xml", 404, "404 page not found\n"},
		{"GET", "/favicon.ico", 404, "404 page not found\n"},
		{"POST", "/api/v3/repos/Azure/AKS/releases", 405, "405 Method Not Allowed\n"},
		{"DELETE", "/raw/Azure/AgentBaker/master/" + gen2Dir + "/latest.txt", 405, "405 Method Not Allowed\n"},
	}
	for _, tt := range plain {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := get(t, tt.method, s.URL()+tt.path, nil)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("status %d, body %q; want %d, %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// flatcarFiles are the Flatcar files of a world, by URL path.
func flatcarFiles(t *testing.T, date string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, pattern := range []string{"releases-feed/releases-*.xml", "releases-json/releases-*.json"} {
		names, err := filepath.Glob(filepath.Join(worldDir(t, date), "flatcar", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			files["/"+filepath.Base(filepath.Dir(name))+"/"+filepath.Base(name)] = readFile(t, name)
		}
	}
	if len(files) != 8 {
		t.Fatalf("%s has %d Flatcar files, want 4 channels in 2 formats", date, len(files))
	}
	return files
}

func TestFlatcar(t *testing.T) {
	april, may := flatcarFiles(t, "2026-04-30"), flatcarFiles(t, "2026-05-31")
	aprilDate, mayDate := worldDate(t, "2026-04-30"), worldDate(t, "2026-05-31")
	s := newServer(t, "2026-04-30")
	type validators struct{ etag, lastModified string }
	first := map[string]validators{}
	for urlPath, want := range april {
		t.Run("2026-04-30"+urlPath, func(t *testing.T) {
			resp, body := get(t, http.MethodGet, s.FlatcarURL()+urlPath, nil)
			contentType := "application/atom+xml"
			if strings.HasSuffix(urlPath, ".json") {
				contentType = "application/json"
			}
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != contentType {
				t.Fatalf("status %d, Content-Type %s, body equal %v", resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Equal(body, want))
			}
			v := validators{resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")}
			first[urlPath] = v
			if !strings.HasPrefix(v.etag, `"`) {
				t.Errorf("ETag %s is not strong", v.etag)
			}
			if want := aprilDate.Format(http.TimeFormat); v.lastModified != want {
				t.Errorf("Last-Modified %s, want %s", v.lastModified, want)
			}
			before := aprilDate.Add(-time.Second).Format(http.TimeFormat)
			conditional := []struct {
				header map[string]string
				want   int
			}{
				{map[string]string{"If-None-Match": v.etag}, http.StatusNotModified},
				{map[string]string{"If-None-Match": "W/" + v.etag}, http.StatusNotModified},
				{map[string]string{"If-Modified-Since": v.lastModified}, http.StatusNotModified},
				{map[string]string{"If-Modified-Since": before}, http.StatusOK},
				{map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": v.lastModified}, http.StatusOK},
			}
			for _, c := range conditional {
				resp, body := get(t, http.MethodGet, s.FlatcarURL()+urlPath, c.header)
				if resp.StatusCode != c.want {
					t.Errorf("%v: status %d, want %d", c.header, resp.StatusCode, c.want)
				}
				if c.want == http.StatusNotModified && (len(body) != 0 || resp.Header.Get("ETag") != v.etag) {
					t.Errorf("%v: 304 with %d body bytes and ETag %s", c.header, len(body), resp.Header.Get("ETag"))
				}
			}
		})
	}

	var changed, unchanged int
	if err := s.SetWorld(worldDir(t, "2026-05-31")); err != nil {
		t.Fatal(err)
	}
	for urlPath, want := range may {
		same := bytes.Equal(april[urlPath], want)
		if same {
			unchanged++
		} else {
			changed++
		}
		t.Run(fmt.Sprintf("2026-05-31%s changed=%v", urlPath, !same), func(t *testing.T) {
			old := first[urlPath]
			resp, body := get(t, http.MethodGet, s.FlatcarURL()+urlPath, map[string]string{"If-None-Match": old.etag})
			etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			if same {
				if resp.StatusCode != http.StatusNotModified || etag != old.etag || lastModified != old.lastModified {
					t.Errorf("unchanged file: status %d, ETag %s, Last-Modified %s; want 304, %s, %s", resp.StatusCode, etag, lastModified, old.etag, old.lastModified)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || etag == old.etag {
				t.Errorf("changed file with April's ETag: status %d, body equal %v, ETag %s", resp.StatusCode, bytes.Equal(body, want), etag)
			}
			if want := mayDate.Format(http.TimeFormat); lastModified != want {
				t.Errorf("Last-Modified %s, want %s", lastModified, want)
			}
			if again, _ := get(t, http.MethodGet, s.FlatcarURL()+urlPath, map[string]string{"If-Modified-Since": old.lastModified}); again.StatusCode != http.StatusOK {
				t.Errorf("If-Modified-Since April: status %d, want 200", again.StatusCode)
			}
		})
	}
	if changed == 0 || unchanged == 0 {
		t.Fatalf("%d changed and %d unchanged Flatcar files between April and May: the test needs both", changed, unchanged)
	}

	t.Run("back to 2026-04-30", func(t *testing.T) {
		if err := s.SetWorld(worldDir(t, "2026-04-30")); err != nil {
			t.Fatal(err)
		}
		for urlPath := range april {
			resp, _ := get(t, http.MethodGet, s.FlatcarURL()+urlPath, map[string]string{"If-Modified-Since": mayDate.Format(http.TimeFormat)})
			if same := bytes.Equal(april[urlPath], may[urlPath]); same != (resp.StatusCode == http.StatusNotModified) {
				t.Errorf("%s (unchanged %v) since May: status %d", urlPath, same, resp.StatusCode)
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		s.ResetStats()
		resp, body := get(t, http.MethodHead, s.FlatcarURL()+"/releases-feed/releases-alpha.xml", nil)
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(april["/releases-feed/releases-alpha.xml"])) || len(body) != 0 {
			t.Errorf("status %d, Content-Length %d, %d body bytes", resp.StatusCode, resp.ContentLength, len(body))
		}
		if st := s.Stats(); st.BodyBytes != 0 || st.ByKind[upstreamtest.KindFlatcar] != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func listNames(t *testing.T, c *github.Client, dir string) (map[string]string, error) {
	t.Helper()
	_, entries, _, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", dir, nil)
	names := map[string]string{}
	for _, e := range entries {
		names[e.GetName()] = e.GetSHA()
	}
	return names, err
}

func TestOverride(t *testing.T) {
	const date = "2026-05-31"
	s := newServer(t, date)
	c := newClient(t, s)
	const name = "202605.27.0.txt"
	note := gen2Dir + "/" + name
	rawURL := s.URL() + "/raw/Azure/AgentBaker/master/" + note
	original, err := listNames(t, c, gen2Dir)
	if err != nil {
		t.Fatal(err)
	}
	rawBefore, _ := get(t, http.MethodGet, rawURL, nil)

	edited := append(readFile(t, agentBakerFile(t, date, note)), "edited in place\n"...)
	s.Override("github/Azure/AgentBaker/"+note, edited)
	t.Run("edited", func(t *testing.T) {
		names, err := listNames(t, c, gen2Dir)
		if err != nil {
			t.Fatal(err)
		}
		if names[name] == original[name] || len(names) != len(original) {
			t.Errorf("sha %s (was %s), %d entries (were %d)", names[name], original[name], len(names), len(original))
		}
		resp, body := get(t, http.MethodGet, rawURL, map[string]string{"If-None-Match": rawBefore.Header.Get("ETag")})
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, edited) || resp.Header.Get("ETag") != `"`+names[name]+`"` {
			t.Errorf("raw with the old ETag: status %d, body edited %v, ETag %s", resp.StatusCode, bytes.Equal(body, edited), resp.Header.Get("ETag"))
		}
		t.Run("git hash-object", func(t *testing.T) {
			if _, err := exec.LookPath("git"); err != nil {
				t.Skip("no git")
			}
			cmd := exec.Command("git", "hash-object", "--stdin")
			cmd.Stdin = bytes.NewReader(edited)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSpace(string(out)); names[name] != want {
				t.Errorf("sha %s, git says %s", names[name], want)
			}
		})
	})

	s.Override("github/Azure/AgentBaker/"+note, nil)
	s.Override("github/Azure/AgentBaker/"+gen2Dir+"/202606.01.0.txt", []byte("new\n"))
	s.Override("github/Azure/AgentBaker/"+notesDir+"/AKSFlatcar/gen2arm64", nil)
	t.Run("removed and added", func(t *testing.T) {
		names, err := listNames(t, c, gen2Dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := names[name]; ok || names["202606.01.0.txt"] == "" || len(names) != len(original) {
			t.Errorf("listing %v: want %s gone and 202606.01.0.txt added", names, name)
		}
		if resp, _ := get(t, http.MethodGet, rawURL, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("raw of a removed note: status %d", resp.StatusCode)
		}
		families, err := listNames(t, c, notesDir+"/AKSFlatcar")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := families["gen2arm64"]; ok || families["gen2"] == "" {
			t.Errorf("AKSFlatcar lists %v, want gen2 without gen2arm64", families)
		}
		var errResp *github.ErrorResponse
		if _, err := listNames(t, c, notesDir+"/AKSFlatcar/gen2arm64"); !errors.As(err, &errResp) || errResp.Response.StatusCode != http.StatusNotFound {
			t.Errorf("listing a removed directory: %v, want 404", err)
		}
	})

	t.Run("releases.json", func(t *testing.T) {
		s.Override("github/Azure/AKS/releases.json", []byte(`[
  {"id": 1, "tag_name": "2026-06-01", "body": "edited & <escaped>"}
]`))
		releases, resp, err := c.Repositories.ListReleases(context.Background(), "Azure", "AKS", &github.ListOptions{PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(releases) != 1 || releases[0].GetTagName() != "2026-06-01" || releases[0].GetBody() != "edited & <escaped>" || resp.NextPage != 0 {
			t.Errorf("got %d releases, first %s %q", len(releases), releases[0].GetTagName(), releases[0].GetBody())
		}
	})

	t.Run("flatcar", func(t *testing.T) {
		const feed = "/releases-feed/releases-alpha.xml"
		before, body := get(t, http.MethodGet, s.FlatcarURL()+feed, nil)
		s.Override("flatcar"+feed, append(body, '\n'))
		after, _ := get(t, http.MethodGet, s.FlatcarURL()+feed, map[string]string{"If-Modified-Since": before.Header.Get("Last-Modified")})
		if after.StatusCode != http.StatusOK || after.Header.Get("ETag") == before.Header.Get("ETag") {
			t.Errorf("edited feed since its Last-Modified: status %d, ETag %s (was %s)", after.StatusCode, after.Header.Get("ETag"), before.Header.Get("ETag"))
		}
	})

	t.Run("SetWorld drops overrides", func(t *testing.T) {
		if err := s.SetWorld(worldDir(t, date)); err != nil {
			t.Fatal(err)
		}
		names, err := listNames(t, c, gen2Dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names, original) {
			t.Errorf("listing %v, want %v", names, original)
		}
	})
}

func TestSetFault(t *testing.T) {
	s := newServer(t, "2026-05-31")
	failing := "/raw/Azure/AgentBaker/master/" + gen2Dir + "/latest.txt"
	dropped := "/releases-json/releases-beta.json"
	s.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case failing:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return true
		case dropped:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return false
			}
			conn.Close()
			return true
		}
		return false
	})
	tests := []struct {
		path string
		want int
	}{
		{failing, http.StatusServiceUnavailable},
		{"/raw/Azure/AgentBaker/master/" + gen2Dir + "/latest-image-list.json", http.StatusOK},
		{"/api/v3/repos/Azure/AgentBaker/contents/" + gen2Dir, http.StatusOK},
		{"/releases-feed/releases-beta.xml", http.StatusOK},
	}
	s.ResetStats()
	for _, tt := range tests {
		if resp, _ := get(t, http.MethodGet, s.URL()+tt.path, nil); resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
	// A fresh connection, which net/http does not retry as it would a reused one.
	once := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := once.Get(s.URL() + dropped); err == nil {
		t.Errorf("%s: the dropped connection answered", dropped)
	}
	if st := s.Stats(); st.Requests != len(tests)+1 || st.ByStatus[http.StatusServiceUnavailable] != 1 || st.ByStatus[http.StatusOK] != len(tests)-1 {
		t.Errorf("stats %+v", st)
	}
	s.SetFault(nil)
	if resp, _ := get(t, http.MethodGet, s.URL()+failing, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("without the fault: status %d", resp.StatusCode)
	}
}

func TestConcurrentRaw(t *testing.T) {
	const date, workers = "2026-05-31", 16
	s := newServer(t, date)
	entries, err := os.ReadDir(agentBakerFile(t, date, gen2Dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < workers {
		t.Fatalf("%s holds %d files, fewer than %d", gen2Dir, len(entries), workers)
	}
	var wantBytes int64
	for _, e := range entries[:workers] {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		wantBytes += info.Size()
	}
	s.ResetStats()
	var wg sync.WaitGroup
	for _, e := range entries[:workers] {
		wg.Go(func() {
			p := gen2Dir + "/" + e.Name()
			resp, err := http.Get(s.URL() + "/raw/Azure/AgentBaker/master/" + p)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
				return
			}
			if want, err := os.ReadFile(agentBakerFile(t, date, p)); err != nil || !bytes.Equal(body, want) {
				t.Errorf("%s: body differs from the file (%v)", p, err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Requests != workers || st.ByKind[upstreamtest.KindRaw] != workers || st.ByStatus[http.StatusOK] != workers || st.BodyBytes != wantBytes {
		t.Errorf("stats %+v, want %d raw 200s of %d bytes", st, workers, wantBytes)
	}
}

func BenchmarkListReleases(b *testing.B) {
	s := newServer(b, "2026-05-31")
	c := newClient(b, s)
	b.ReportAllocs()
	for b.Loop() {
		opts := &github.ListOptions{PerPage: 100}
		for {
			_, resp, err := c.Repositories.ListReleases(context.Background(), "Azure", "AKS", opts)
			if err != nil {
				b.Fatal(err)
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
}
