package upstreamtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker/upstreamtest"
)

const emptyTreeSHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904" // git's tree of nothing

// gitRepo is a work tree indexed by a real git, to check the server's objects against.
type gitRepo struct {
	t            *testing.T
	gitDir, work string
	root         string // the work tree's root tree, as git write-tree hashes it
}

// indexWithGit adds every file of work to a fresh git index and writes its tree.
func indexWithGit(t *testing.T, work string) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git to check SHAs against")
	}
	g := &gitRepo{t: t, gitDir: t.TempDir(), work: work}
	if out, err := exec.Command("git", "init", "-q", "--bare", g.gitDir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	g.run(nil, "add", "-A", ".")
	g.root = g.run(nil, "write-tree")
	return g
}

func (g *gitRepo) run(stdin []byte, args ...string) string {
	g.t.Helper()
	return g.runEnv(nil, stdin, args...)
}

func (g *gitRepo) runEnv(env []string, stdin []byte, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "core.autocrlf=false", "-c", "core.excludesFile=/dev/null", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_DIR="+g.gitDir, "GIT_WORK_TREE="+g.work, "GIT_INDEX_FILE="+filepath.Join(g.gitDir, "index"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = g.work
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("git %v: %v: %s", args, err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// commit is the SHA git gives the commit the server stands for a snapshot dated date.
func (g *gitRepo) commit(date time.Time) string {
	g.t.Helper()
	stamp := fmt.Sprintf("@%d +0000", date.Unix())
	var env []string
	for _, who := range []string{"AUTHOR", "COMMITTER"} {
		env = append(env, "GIT_"+who+"_NAME=upstreamtest", "GIT_"+who+"_EMAIL=upstreamtest@example.invalid", "GIT_"+who+"_DATE="+stamp)
	}
	return g.runEnv(env, nil, "commit-tree", g.root, "-m", "snapshot "+date.Format(time.DateOnly))
}

// hashObject is git's blob SHA of data.
func (g *gitRepo) hashObject(data []byte) string {
	g.t.Helper()
	return g.run(data, "hash-object", "--stdin")
}

// lsTree is `git ls-tree -l` of treeish (-r -t: recursive, trees included) as tree entries.
func (g *gitRepo) lsTree(treeish string, recursive bool) []treeEntry {
	g.t.Helper()
	args := []string{"ls-tree", "-l", "-z"}
	if recursive {
		args = append(args, "-r", "-t")
	}
	var entries []treeEntry
	for _, rec := range strings.Split(strings.TrimSuffix(g.run(nil, append(args, treeish)...), "\x00"), "\x00") {
		meta, p, _ := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		e := treeEntry{Path: p, Mode: f[0], Type: f[1], SHA: f[2], Size: -1}
		if f[3] != "-" {
			e.Size, _ = strconv.Atoi(f[3])
		}
		entries = append(entries, e)
	}
	return entries
}

// treeEntry is what a tree entry says, Size -1 for a tree.
type treeEntry struct {
	Path, Mode, Type, SHA string
	Size                  int
}

func entriesOf(tree *github.Tree) []treeEntry {
	var entries []treeEntry
	for _, e := range tree.Entries {
		size := -1
		if e.Size != nil {
			size = *e.Size
		}
		entries = append(entries, treeEntry{e.GetPath(), e.GetMode(), e.GetType(), e.GetSHA(), size})
	}
	return entries
}

func agentBaker(t *testing.T, date string) string { return agentBakerFile(t, date, ".") }

func getTree(t *testing.T, c *github.Client, spec string, recursive bool) *github.Tree {
	t.Helper()
	tree, _, err := c.Git.GetTree(context.Background(), "Azure", "AgentBaker", spec, recursive)
	if err != nil {
		t.Fatalf("GetTree %s: %v", spec, err)
	}
	return tree
}

func listCommits(t *testing.T, c *github.Client, repo string, opts *github.CommitsListOptions) ([]*github.RepositoryCommit, *github.Response) {
	t.Helper()
	commits, resp, err := c.Repositories.ListCommits(context.Background(), "Azure", repo, opts)
	if err != nil {
		t.Fatalf("ListCommits %+v: %v", opts, err)
	}
	return commits, resp
}

func TestListCommits(t *testing.T) {
	const date = "2026-04-30"
	s := newServer(t, date)
	c := newClient(t, s)
	day := worldDate(t, date)
	g := indexWithGit(t, agentBaker(t, date))
	want := g.commit(day)
	tests := []struct {
		name string
		opts github.CommitsListOptions
		repo string
		want int
	}{
		{"release notes", github.CommitsListOptions{SHA: "master", Path: notesDir}, "AgentBaker", 1},
		{"no sha", github.CommitsListOptions{Path: notesDir}, "AgentBaker", 1},
		{"a note", github.CommitsListOptions{Path: gen2Dir + "/202601.27.0.txt"}, "AgentBaker", 1},
		{"whole repository", github.CommitsListOptions{}, "AgentBaker", 1},
		{"another branch", github.CommitsListOptions{SHA: "release/2026", Path: notesDir}, "AgentBaker", 1},
		{"the commit itself", github.CommitsListOptions{SHA: want, Path: notesDir}, "AgentBaker", 1},
		{"a per_page", github.CommitsListOptions{Path: notesDir, ListOptions: github.ListOptions{PerPage: 1}}, "AgentBaker", 1},
		{"withdrawn note", github.CommitsListOptions{Path: gen2Dir + "/202602.10.0.txt"}, "AgentBaker", 0},
		{"missing directory", github.CommitsListOptions{Path: notesDir + "/AKSWindows"}, "AgentBaker", 0},
		{"below a file", github.CommitsListOptions{Path: gen2Dir + "/202601.27.0.txt/x"}, "AgentBaker", 0},
		{"page 2", github.CommitsListOptions{Path: notesDir, ListOptions: github.ListOptions{Page: 2}}, "AgentBaker", 0},
		{"releases.json is no repository file", github.CommitsListOptions{Path: "releases.json"}, "AKS", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits, resp := listCommits(t, c, tt.repo, &tt.opts)
			if len(commits) != tt.want {
				t.Fatalf("%d commits, want %d", len(commits), tt.want)
			}
			if tt.opts.Page <= 1 && resp.Header.Get("Link") != "" {
				t.Errorf("Link %q on the only page", resp.Header.Get("Link"))
			}
			if tt.want == 0 {
				return
			}
			got := commits[0]
			api := s.GitHubAPIURL() + "repos/Azure/AgentBaker"
			checks := []struct{ what, got, want string }{
				{"sha", got.GetSHA(), want},
				{"commit.tree.sha", got.GetCommit().GetTree().GetSHA(), g.root},
				{"commit.url", got.GetCommit().GetURL(), api + "/git/commits/" + want},
				{"commit.message", got.GetCommit().GetMessage(), "snapshot 2026-04-30"},
				{"commit.author.name", got.GetCommit().GetAuthor().GetName(), "upstreamtest"},
				{"commit.committer.email", got.GetCommit().GetCommitter().GetEmail(), "upstreamtest@example.invalid"},
				{"commit.author.date", got.GetCommit().GetAuthor().GetDate().UTC().Format(time.RFC3339), day.Format(time.RFC3339)},
				{"url", got.GetURL(), api + "/commits/" + want},
				{"html_url", got.GetHTMLURL(), "https://github.com/Azure/AgentBaker/commit/" + want},
				{"comments_url", got.GetCommentsURL(), api + "/commits/" + want + "/comments"},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
				}
			}
			if got.Author != nil || got.Committer != nil || len(got.Parents) != 0 {
				t.Errorf("author %v, committer %v, parents %v; want null, null, []", got.Author, got.Committer, got.Parents)
			}
		})
	}
	t.Run("JSON shape", func(t *testing.T) {
		resp, body := get(t, http.MethodGet, s.GitHubAPIURL()+"repos/Azure/AgentBaker/commits?path="+notesDir, nil)
		var commits []map[string]json.RawMessage
		if err := json.Unmarshal(body, &commits); err != nil || resp.StatusCode != http.StatusOK || len(commits) != 1 {
			t.Fatalf("status %d, %d commits, %v", resp.StatusCode, len(commits), err)
		}
		for key, want := range map[string]string{"author": "null", "committer": "null", "parents": "[]", "sha": strconv.Quote(want)} {
			if got := string(commits[0][key]); got != want {
				t.Errorf("%s: %s, want %s", key, got, want)
			}
		}
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(commits[0]["commit"], &inner); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"author", "committer", "message", "tree", "url", "comment_count"} {
			if _, ok := inner[key]; !ok {
				t.Errorf("commit has no %q", key)
			}
		}
		api := s.GitHubAPIURL() + "repos/Azure/AgentBaker"
		if got, want := string(inner["tree"]), fmt.Sprintf(`{"sha":%q,"url":"%s/git/trees/%[1]s"}`, g.root, api); got != want {
			t.Errorf("commit.tree %s, want %s", got, want)
		}
		if len(commits[0]) != 9 || !strings.HasPrefix(string(commits[0]["node_id"]), `"C_`) {
			t.Errorf("keys %d, node_id %s", len(commits[0]), commits[0]["node_id"])
		}
	})
	t.Run("Azure/AKS holds only releases.json", func(t *testing.T) {
		commits, _ := listCommits(t, c, "AKS", nil)
		if len(commits) != 1 {
			t.Fatalf("%d commits, want 1", len(commits))
		}
		if got := commits[0].GetCommit().GetTree().GetSHA(); got != emptyTreeSHA || emptyTreeSHA != g.run([]byte{}, "mktree") {
			t.Errorf("tree %s; want the empty tree %s", got, emptyTreeSHA)
		}
	})
}

func TestListCommitsPages(t *testing.T) {
	s := newServer(t, "2026-04-30")
	base := s.GitHubAPIURL() + "repos/Azure/AgentBaker/commits"
	tests := []struct {
		query     string
		wantCount int
		wantLink  string
	}{
		{"?per_page=1", 1, ""},
		{"?per_page=1&page=2", 0, fmt.Sprintf(`<%s?per_page=1&page=1>; rel="prev", <%[1]s?per_page=1&page=1>; rel="first"`, base)},
		{"?path=" + notesDir + "&per_page=500", 1, ""},
		{"?path=nowhere", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := get(t, http.MethodGet, base+tt.query, nil)
			var page []json.RawMessage
			if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %v", resp.StatusCode, err)
			}
			if len(page) != tt.wantCount || resp.Header.Get("Link") != tt.wantLink {
				t.Errorf("%d commits, Link %q; want %d, %q", len(page), resp.Header.Get("Link"), tt.wantCount, tt.wantLink)
			}
		})
	}
}

// TestListCommitsChanges follows one commit list, revalidated with its ETag, through
// changes of the snapshot: its commit changes exactly when a file of the repository does.
func TestListCommitsChanges(t *testing.T) {
	const april = "2026-04-30"
	s := newServer(t, april)
	c := newClient(t, s)
	opts := &github.CommitsListOptions{SHA: "master", Path: notesDir}
	apiPath := "repos/Azure/AgentBaker/commits?path=" + notesDir + "&sha=master"
	first, resp := listCommits(t, c, "AgentBaker", opts)
	etag := resp.Header.Get("ETag")
	aprilSHA := indexWithGit(t, agentBaker(t, april)).commit(worldDate(t, april))
	if first[0].GetSHA() != aprilSHA {
		t.Fatalf("sha %s, git says %s", first[0].GetSHA(), aprilSHA)
	}

	note := gen2Dir + "/202601.27.0.txt"
	original := readFile(t, agentBakerFile(t, april, note))
	edited := append(bytes.Clone(original), "edited in place\n"...)
	// editedSHA is the commit of April's repository with note edited, as git makes it.
	editedSHA := func(t *testing.T) string {
		work := t.TempDir()
		if err := os.CopyFS(work, os.DirFS(agentBaker(t, april))); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(note)), edited, 0o644); err != nil {
			t.Fatal(err)
		}
		return indexWithGit(t, work).commit(worldDate(t, april))
	}
	mayDate := "2026-05-31"
	steps := []struct {
		name   string
		change func(t *testing.T)
		same   bool                      // the commit stays: the old ETag gets a 304
		want   func(t *testing.T) string // else the new commit's sha
	}{
		{"nothing", func(*testing.T) {}, true, nil},
		{"Override of a Flatcar feed, outside the repository", func(t *testing.T) {
			s.Override("flatcar/releases-feed/releases-alpha.xml", []byte("<feed/>"))
		}, true, nil},
		{"Override of Azure/AKS releases.json, another repository's and no file", func(t *testing.T) {
			s.Override("github/Azure/AKS/releases.json", []byte("[]"))
		}, true, nil},
		{"Override of a note with its own bytes", func(t *testing.T) {
			s.Override("github/Azure/AgentBaker/"+note, original)
		}, true, nil},
		{"Override of a note", func(t *testing.T) {
			s.Override("github/Azure/AgentBaker/"+note, edited)
		}, false, editedSHA},
		{"SetWorld to 2026-05-31", func(t *testing.T) {
			if err := s.SetWorld(worldDir(t, mayDate)); err != nil {
				t.Fatal(err)
			}
		}, false, func(t *testing.T) string {
			return indexWithGit(t, agentBaker(t, mayDate)).commit(worldDate(t, mayDate))
		}},
		{"SetWorld back to 2026-04-30", func(t *testing.T) {
			if err := s.SetWorld(worldDir(t, april)); err != nil {
				t.Fatal(err)
			}
		}, true, nil},
	}
	seen := map[string]string{aprilSHA: "2026-04-30"}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.change(t)
			s.ResetStats()
			status := conditionalDo(t, c, apiPath, etag)
			commits, _ := listCommits(t, c, "AgentBaker", opts)
			if len(commits) != 1 {
				t.Fatalf("%d commits", len(commits))
			}
			got := commits[0].GetSHA()
			if step.same {
				if status != http.StatusNotModified || got != aprilSHA {
					t.Errorf("status %d, sha %s; want 304, %s", status, got, aprilSHA)
				}
				if st := s.Stats(); st.NotModified != 1 {
					t.Errorf("stats %+v, want one 304", st)
				}
				return
			}
			want := step.want(t)
			if status != http.StatusOK || got != want {
				t.Errorf("status %d, sha %s; want 200, %s (git)", status, got, want)
			}
			if was, ok := seen[got]; ok {
				t.Errorf("sha %s again, as at %s", got, was)
			}
			seen[got] = step.name
		})
	}
}

// walkRepoDir lists the directories and files below dir, relative to it: path to "tree" or "blob".
func walkRepoDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		kind := "blob"
		if d.IsDir() {
			kind = "tree"
		}
		found[filepath.ToSlash(rel)] = kind
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestGetTreeRecursive(t *testing.T) {
	for _, date := range []string{"2026-02-11", "2026-04-30", "2026-05-31"} {
		t.Run(date, func(t *testing.T) {
			s := newServer(t, date)
			c := newClient(t, s)
			tree := getTree(t, c, "master:"+notesDir, true)
			got := entriesOf(tree)
			if len(got) == 0 {
				t.Fatal("no entries")
			}

			onDisk := walkRepoDir(t, agentBakerFile(t, date, notesDir))
			listed := map[string]string{}
			for _, e := range got {
				listed[e.Path] = e.Type
			}
			if !reflect.DeepEqual(listed, onDisk) || len(got) != len(onDisk) {
				t.Errorf("the tree lists %d entries (%d paths), the directory holds %d", len(got), len(listed), len(onDisk))
			}
			if tree.GetTruncated() {
				t.Error("truncated")
			}

			g := indexWithGit(t, agentBaker(t, date))
			if want := g.run(nil, "rev-parse", g.root+":"+notesDir); tree.GetSHA() != want {
				t.Errorf("sha %s, git says %s", tree.GetSHA(), want)
			}
			if want := g.lsTree(g.root+":"+notesDir, true); !reflect.DeepEqual(got, want) {
				t.Errorf("entries differ from git ls-tree -r -t:\n got %v\nwant %v", got, want)
			}
			for _, name := range []string{"202601.27.0.txt", "202601.27.0-image-list.json"} {
				p := "AKSFlatcar/gen2/" + name
				want := g.hashObject(readFile(t, agentBakerFile(t, date, notesDir+"/"+p)))
				if i := index(got, p); i < 0 || got[i].SHA != want {
					t.Errorf("%s: sha %v, git hash-object says %s", p, got[max(i, 0)].SHA, want)
				}
			}

			_, contents, _, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", gen2Dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range contents {
				p := "AKSFlatcar/gen2/" + e.GetName()
				if i := index(got, p); i < 0 || got[i].SHA != e.GetSHA() || got[i].Size != e.GetSize() {
					t.Errorf("%s: the Contents API lists sha %s size %d, the tree %v", p, e.GetSHA(), e.GetSize(), got[max(i, 0)])
				}
			}
		})
	}
}

func index(entries []treeEntry, p string) int {
	for i, e := range entries {
		if e.Path == p {
			return i
		}
	}
	return -1
}

// TestGetTreeSubtrees asks for every tree a recursive answer lists, by its sha.
func TestGetTreeSubtrees(t *testing.T) {
	s := newServer(t, "2026-05-31")
	c := newClient(t, s)
	all := entriesOf(getTree(t, c, "master", true))
	var trees int
	for _, parent := range all {
		if parent.Type != "tree" {
			continue
		}
		trees++
		t.Run(parent.Path, func(t *testing.T) {
			var wantDirect, wantAll []treeEntry
			for _, e := range all {
				rest, ok := strings.CutPrefix(e.Path, parent.Path+"/")
				if !ok {
					continue
				}
				e.Path = rest
				wantAll = append(wantAll, e)
				if !strings.Contains(rest, "/") {
					wantDirect = append(wantDirect, e)
				}
			}
			direct := getTree(t, c, parent.SHA, false)
			if direct.GetSHA() != parent.SHA {
				t.Errorf("sha %s, its parent lists %s", direct.GetSHA(), parent.SHA)
			}
			if got := entriesOf(direct); !reflect.DeepEqual(got, wantDirect) {
				t.Errorf("direct entries:\n got %v\nwant %v", got, wantDirect)
			}
			if got := entriesOf(getTree(t, c, parent.SHA, true)); !reflect.DeepEqual(got, wantAll) {
				t.Errorf("recursive: %d entries, want %d", len(got), len(wantAll))
			}
		})
	}
	if trees < 8 {
		t.Fatalf("%d trees in the repository, expected the families' directories", trees)
	}
}

// TestGetTreeForms names the same trees in every form GitHub takes.
func TestGetTreeForms(t *testing.T) {
	const date = "2026-04-30"
	s := newServer(t, date)
	c := newClient(t, s)
	g := indexWithGit(t, agentBaker(t, date))
	commit := g.commit(worldDate(t, date))
	rev := func(p string) string { return g.run(nil, "rev-parse", g.root+":"+p) }
	notes, gen2 := rev(notesDir), rev(gen2Dir)
	tests := []struct{ spec, want string }{
		{"master", g.root},
		{"release/2026", g.root},
		{commit, g.root},
		{strings.ToUpper(commit), g.root},
		{g.root, g.root},
		{"master:", g.root},
		{"master:" + notesDir, notes},
		{"master:/" + notesDir + "/", notes},
		{"release/2026:" + notesDir, notes},
		{commit + ":" + gen2Dir, gen2},
		{g.root + ":" + gen2Dir, gen2},
		{notes, notes},
		{notes + ":AKSFlatcar/gen2", gen2},
		{gen2, gen2},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			tree := getTree(t, c, tt.spec, false)
			if tree.GetSHA() != tt.want {
				t.Fatalf("sha %s, want %s", tree.GetSHA(), tt.want)
			}
			if got, want := entriesOf(tree), g.lsTree(tt.want, false); !reflect.DeepEqual(got, want) {
				t.Errorf("entries:\n got %v\nwant %v", got, want)
			}
		})
	}
	t.Run("JSON shape", func(t *testing.T) {
		api := s.GitHubAPIURL() + "repos/Azure/AgentBaker"
		resp, body := get(t, http.MethodGet, api+"/git/trees/master:"+notesDir+"/AKSFlatcar", nil)
		ls := g.lsTree(rev(notesDir+"/AKSFlatcar"), false)
		var entries []string
		for _, e := range ls {
			entries = append(entries, fmt.Sprintf(`{"path":%q,"mode":"040000","type":"tree","sha":%q,"url":"%s/git/trees/%[2]s"}`, e.Path, e.SHA, api))
		}
		sha := rev(notesDir + "/AKSFlatcar")
		want := fmt.Sprintf(`{"sha":%[1]q,"url":"%[2]s/git/trees/%[1]s","tree":[%[3]s],"truncated":false}`, sha, api, strings.Join(entries, ","))
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("status %d, body\n%s\nwant\n%s", resp.StatusCode, body, want)
		}
		if len(ls) != 2 || ls[0].Mode != "040000" {
			t.Errorf("AKSFlatcar holds %v, the test expects two trees", ls)
		}
		resp, body = get(t, http.MethodGet, api+"/git/trees/master:"+gen2Dir, nil)
		var tree struct {
			Tree []map[string]json.RawMessage
		}
		if err := json.Unmarshal(body, &tree); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		first := g.lsTree(gen2, false)[0]
		wantBlob := map[string]string{"path": strconv.Quote(first.Path), "mode": `"100644"`, "type": `"blob"`, "sha": strconv.Quote(first.SHA), "size": strconv.Itoa(first.Size), "url": strconv.Quote(api + "/git/blobs/" + first.SHA)}
		got := map[string]string{}
		for k, v := range tree.Tree[0] {
			got[k] = string(v)
		}
		if !reflect.DeepEqual(got, wantBlob) {
			t.Errorf("blob entry %v, want %v", got, wantBlob)
		}
	})
}

// TestGetTreeEmptiedDirectory removes every file of a directory, one by one: git keeps
// no empty tree, so the directory leaves the trees and the commits as it would upstream.
func TestGetTreeEmptiedDirectory(t *testing.T) {
	const date = "2026-04-30"
	s := newServer(t, date)
	c := newClient(t, s)
	arm64 := notesDir + "/AKSFlatcar/gen2arm64"
	files, err := os.ReadDir(agentBakerFile(t, date, arm64))
	if err != nil || len(files) == 0 {
		t.Fatalf("%d files in %s: %v", len(files), arm64, err)
	}
	work := t.TempDir()
	if err := os.CopyFS(work, os.DirFS(agentBaker(t, date))); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		s.Override("github/Azure/AgentBaker/"+arm64+"/"+f.Name(), nil)
		if err := os.Remove(filepath.Join(work, filepath.FromSlash(arm64), f.Name())); err != nil {
			t.Fatal(err)
		}
	}
	g := indexWithGit(t, work) // the empty directory stays on disk, and out of git
	tree := getTree(t, c, "master:"+notesDir+"/AKSFlatcar", false)
	if got, want := entriesOf(tree), g.lsTree(g.root+":"+notesDir+"/AKSFlatcar", false); !reflect.DeepEqual(got, want) || len(want) != 1 {
		t.Errorf("entries:\n got %v\nwant %v (git)", got, want)
	}
	commits, _ := listCommits(t, c, "AgentBaker", &github.CommitsListOptions{Path: arm64})
	all, _ := listCommits(t, c, "AgentBaker", nil)
	if len(commits) != 0 || len(all) != 1 || all[0].GetSHA() != g.commit(worldDate(t, date)) {
		t.Errorf("%d commits for the emptied directory, want none; commit %v, git says %s", len(commits), all, g.commit(worldDate(t, date)))
	}
}

func TestGetTreeNotModified(t *testing.T) {
	s := newServer(t, "2026-04-30")
	c := newClient(t, s)
	spec := "master:" + notesDir
	_, resp, err := c.Git.GetTree(context.Background(), "Azure", "AgentBaker", spec, true)
	if err != nil {
		t.Fatal(err)
	}
	apiPath := "repos/Azure/AgentBaker/git/trees/" + spec + "?recursive=1"
	if got := conditionalDo(t, c, apiPath, resp.Header.Get("ETag")); got != http.StatusNotModified {
		t.Errorf("with its ETag: status %d, want 304", got)
	}
	s.Override("github/Azure/AgentBaker/"+gen2Dir+"/202606.01.0.txt", []byte("new\n"))
	if got := conditionalDo(t, c, apiPath, resp.Header.Get("ETag")); got != http.StatusOK {
		t.Errorf("after a note was added: status %d, want 200", got)
	}
	tree := getTree(t, c, spec, true)
	want := indexWithGit(t, t.TempDir()).hashObject([]byte("new\n"))
	if i := index(entriesOf(tree), "AKSFlatcar/gen2/202606.01.0.txt"); i < 0 || tree.Entries[i].GetSHA() != want {
		t.Errorf("the added note is not listed with git's sha %s", want)
	}
}

func TestGetTreeTruncated(t *testing.T) {
	s := newServer(t, "2026-05-31")
	c := newClient(t, s)
	spec := "master:" + notesDir
	full := entriesOf(getTree(t, c, spec, true))
	n := len(full)
	direct := entriesOf(getTree(t, c, spec, false))
	tests := []struct {
		limit, want int
		recursive   bool
		truncated   bool
	}{
		{1, 1, true, true},
		{10, 10, true, true},
		{n - 1, n - 1, true, true},
		{n, n, true, false},
		{n + 1, n, true, false},
		{0, n, true, false},
		{1, 1, false, true},
		{len(direct), len(direct), false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit %d recursive %v", tt.limit, tt.recursive), func(t *testing.T) {
			s.SetTreeLimit(tt.limit)
			t.Cleanup(func() { s.SetTreeLimit(0) })
			tree := getTree(t, c, spec, tt.recursive)
			want := full[:tt.want]
			if !tt.recursive {
				want = direct[:tt.want]
			}
			if got := entriesOf(tree); !reflect.DeepEqual(got, want) || tree.GetTruncated() != tt.truncated {
				t.Errorf("%d entries, truncated %v; want the first %d, truncated %v", len(got), tree.GetTruncated(), tt.want, tt.truncated)
			}
		})
	}
	if n < 100 {
		t.Fatalf("%s has only %d entries", notesDir, n)
	}
}

func TestGitNotFound(t *testing.T) {
	const date = "2026-04-30"
	s := newServer(t, date)
	c := newClient(t, s)
	// An older world's tree is not the snapshot's: gen2 of February.
	february := gitTree(t, agentBakerFile(t, "2026-02-11", notesDir+"/AKSFlatcar"))["gen2"]
	blob := gitTree(t, agentBakerFile(t, date, gen2Dir))["202601.27.0.txt"]
	if february == "" || blob == "" {
		t.Fatal("no February gen2 tree or April note to ask for")
	}
	const (
		trees   = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/git/trees#get-a-tree","status":"404"}`
		commits = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/commits/commits#list-commits","status":"404"}`
	)
	api := s.GitHubAPIURL() + "repos/"
	tests := []struct{ path, want string }{
		{"Azure/Nowhere/git/trees/master", trees},
		{"Nowhere/AgentBaker/git/trees/master?recursive=1", trees},
		{"Azure/AgentBaker/git/trees/" + strings.Repeat("0", 40), trees},
		{"Azure/AgentBaker/git/trees/" + february, trees},
		{"Azure/AgentBaker/git/trees/" + blob, trees},
		{"Azure/AgentBaker/git/trees/master:" + gen2Dir + "/202601.27.0.txt", trees},
		{"Azure/AgentBaker/git/trees/master:" + gen2Dir + "/202602.10.0.txt", trees},
		{"Azure/AgentBaker/git/trees/master:" + notesDir + "/AKSWindows", trees},
		{"Azure/AgentBaker/git/trees/" + strings.Repeat("0", 40) + ":" + notesDir, trees},
		{"Azure/AgentBaker/git/trees/:" + notesDir, trees},
		{"Azure/AKS/git/trees/master:releases.json", trees},
		{"Azure/Nowhere/commits", commits},
		{"Azure/Nowhere/commits?path=" + notesDir, commits},
		{"Azure/AgentBaker/commits?sha=" + strings.Repeat("0", 40), commits},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, http.MethodGet, api+tt.path, nil)
			if resp.StatusCode != http.StatusNotFound || string(body) != tt.want {
				t.Errorf("status %d, body %s; want 404, %s", resp.StatusCode, body, tt.want)
			}
		})
	}
	t.Run("go-github", func(t *testing.T) {
		var errResp *github.ErrorResponse
		if _, _, err := c.Git.GetTree(context.Background(), "Azure", "AgentBaker", "master:"+notesDir+"/AKSWindows", true); !errors.As(err, &errResp) || errResp.Response.StatusCode != http.StatusNotFound || errResp.Message != "Not Found" {
			t.Errorf("GetTree: %v, want GitHub's 404", err)
		}
		if _, _, err := c.Repositories.ListCommits(context.Background(), "Azure", "Nowhere", nil); !errors.As(err, &errResp) || errResp.Response.StatusCode != http.StatusNotFound || errResp.Message != "Not Found" {
			t.Errorf("ListCommits: %v, want GitHub's 404", err)
		}
	})
}

func TestContentsListsAtMost1000(t *testing.T) {
	dir := gen2Dir + "/many"
	tests := []struct{ files, want int }{
		{999, 999},
		{1000, 1000},
		{1001, 1000},
		{1500, 1000},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.files), func(t *testing.T) {
			s := newServer(t, "2026-05-31")
			c := newClient(t, s)
			// Backwards, and with a directory "n0500" beside n0500.txt, which git sorts after it.
			for i := tt.files - 1; i >= 0; i-- {
				name := fmt.Sprintf("n%04d.txt", i)
				if i == 500 {
					name = "n0500/inside.txt"
				}
				s.Override("github/Azure/AgentBaker/"+dir+"/"+name, []byte(name+"\n"))
			}
			s.Override("github/Azure/AgentBaker/"+dir+"/n0500.txt", []byte("beside\n"))
			total := tt.files + 1
			_, entries, _, err := c.Repositories.GetContents(context.Background(), "Azure", "AgentBaker", dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			tree := entriesOf(getTree(t, c, "master:"+dir, false))
			if len(tree) != total {
				t.Fatalf("the trees API lists %d entries, want all %d", len(tree), total)
			}
			if len(entries) != min(total, 1000) {
				t.Fatalf("%d entries, want %d", len(entries), min(total, 1000))
			}
			for i, e := range entries {
				if want := tree[i]; e.GetName() != path.Base(want.Path) || e.GetSHA() != want.SHA {
					t.Fatalf("entry %d is %s %s, the tree's is %s %s", i, e.GetName(), e.GetSHA(), want.Path, want.SHA)
				}
			}
			if i := index(tree, "n0500"); i < 1 || tree[i-1].Path != "n0500.txt" {
				t.Errorf("n0500 at %d, want right after n0500.txt", i)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, "2026-04-30")
	commitsURL := s.GitHubAPIURL() + "repos/Azure/AgentBaker/commits?path=" + notesDir
	anon, token := map[string]string{}, map[string]string{"Authorization": "Bearer test-token"}
	first, _ := get(t, http.MethodGet, commitsURL, nil)
	etag := first.Header.Get("ETag")
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for hk, hv := range h {
			out[hk] = hv
		}
		return out
	}
	tests := []struct {
		name       string
		url        string
		header     map[string]string
		wantStatus int
		wantLimit  int
		counted    bool
	}{
		{"no token, 200", commitsURL, anon, 200, 60, true},
		{"no token, 304", commitsURL, with(anon, "If-None-Match", etag), 304, 60, true},
		{"no token, 404", s.GitHubAPIURL() + "repos/Azure/Nowhere/commits", anon, 404, 60, true},
		{"token, 200", commitsURL, token, 200, 5000, true},
		{"token, 304", commitsURL, with(token, "If-None-Match", etag), 304, 5000, false},
		{"token, 304 of the Contents API", s.GitHubAPIURL() + "repos/Azure/AgentBaker/contents/" + gen2Dir, with(token, "If-None-Match", "*"), 304, 5000, false},
		{"no token, 304 of the Contents API", s.GitHubAPIURL() + "repos/Azure/AgentBaker/contents/" + gen2Dir, with(anon, "If-None-Match", "*"), 304, 60, true},
	}
	used := func(t *testing.T, resp *http.Response, wantLimit int) int {
		t.Helper()
		limit, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Limit"))
		u, err1 := strconv.Atoi(resp.Header.Get("X-RateLimit-Used"))
		remaining, err2 := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
		reset, err3 := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		if limit != wantLimit || err1 != nil || err2 != nil || err3 != nil || remaining != limit-u || time.Unix(reset, 0).Before(time.Now()) {
			t.Errorf("X-RateLimit- Limit %d, Used %d, Remaining %d, Reset %d; want Limit %d", limit, u, remaining, reset, wantLimit)
		}
		return u
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := map[string]string{}
			if v, ok := tt.header["Authorization"]; ok {
				auth["Authorization"] = v
			}
			before, _ := get(t, http.MethodGet, commitsURL, auth) // a 200, counted with the same token or none
			resp, _ := get(t, http.MethodGet, tt.url, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			want := 0
			if tt.counted {
				want = 1
			}
			if delta := used(t, resp, tt.wantLimit) - used(t, before, tt.wantLimit); delta != want {
				t.Errorf("the request used %d, want %d", delta, want)
			}
		})
	}

	t.Run("a window for each", func(t *testing.T) {
		before, _ := get(t, http.MethodGet, commitsURL, token)
		for range 3 {
			get(t, http.MethodGet, commitsURL, anon)
		}
		after, _ := get(t, http.MethodGet, commitsURL, token)
		if delta := used(t, after, 5000) - used(t, before, 5000); delta != 1 {
			t.Errorf("the token's Used went up by %d over 3 requests without it and 1 with, want 1", delta)
		}
	})

	t.Run("never exhausted", func(t *testing.T) {
		clients := []struct {
			c     *github.Client
			limit int
		}{
			{newClient(t, s), 60},
			{newClient(t, s).WithAuthToken("test-token"), 5000},
		}
		for _, cl := range clients {
			lowest := cl.limit
			for range 2*60 + 5 {
				_, resp, err := cl.c.Repositories.ListCommits(context.Background(), "Azure", "AgentBaker", &github.CommitsListOptions{Path: notesDir})
				if err != nil {
					t.Fatalf("limit %d: %v", cl.limit, err)
				}
				if resp.Rate.Limit != cl.limit {
					t.Fatalf("limit %d, want %d", resp.Rate.Limit, cl.limit)
				}
				lowest = min(lowest, resp.Rate.Remaining)
			}
			// Without a token the window wraps before Remaining reaches 0; with one it is far.
			wantLowest := 1
			if cl.limit == 5000 {
				wantLowest = 5000 - 200
			}
			if cl.limit == 60 && lowest != wantLowest || lowest < wantLowest {
				t.Errorf("limit %d: lowest Remaining %d, want %d", cl.limit, lowest, wantLowest)
			}
		}
	})
}

// TestGitConcurrent asks for trees and commits while the world changes under them: each
// answer is one world's, whole.
func TestGitConcurrent(t *testing.T) {
	worlds := []string{"2026-04-30", "2026-05-31"}
	s := newServer(t, worlds[0])
	c := newClient(t, s)
	want := map[string]bool{}
	for _, w := range worlds {
		g := indexWithGit(t, agentBaker(t, w))
		want[g.run(nil, "rev-parse", g.root+":"+notesDir)] = true
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				tree, _, err := c.Git.GetTree(context.Background(), "Azure", "AgentBaker", "master:"+notesDir, true)
				if err != nil {
					t.Error(err)
					return
				}
				if !want[tree.GetSHA()] {
					t.Errorf("sha %s is neither world's", tree.GetSHA())
					return
				}
			}
		})
	}
	for i := range 20 {
		if err := s.SetWorld(worldDir(t, worlds[i%2])); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(done)
	wg.Wait()
}

// BenchmarkGetTreeRecursive asks for the recursive tree of a repository of about 2,500
// files on disk, each time of a new snapshot (one note overridden), so that every tree
// is hashed again; the blobs' hashes are cached by file, as across worlds.
func BenchmarkGetTreeRecursive(b *testing.B) {
	world := b.TempDir()
	if err := os.CopyFS(world, os.DirFS(worldDir(b, "2026-05-31"))); err != nil {
		b.Fatal(err)
	}
	for i := range 2200 {
		dir := filepath.Join(world, "github", "Azure", "AgentBaker", filepath.FromSlash(notesDir), fmt.Sprintf("AKSExtra%02d", i%40), "gen2")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.txt", i)), []byte(strconv.Itoa(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := upstreamtest.New(world)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	c := newClient(b, s)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		s.Override("github/Azure/AgentBaker/"+gen2Dir+"/bench.txt", []byte(strconv.Itoa(i)))
		tree, _, err := c.Git.GetTree(context.Background(), "Azure", "AgentBaker", "master", true)
		if err != nil || len(tree.Entries) < 2500 {
			b.Fatalf("%v, %d entries", err, len(tree.Entries))
		}
	}
}
