package upstreamtest

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	commitsDocs = "https://docs.github.com/rest/commits/commits#list-commits"
	treesDocs   = "https://docs.github.com/rest/git/trees#get-a-tree"
	// maxTreeEntries and maxTreeBytes are where GitHub cuts a trees answer short,
	// saying "truncated": true.
	maxTreeEntries = 100_000
	maxTreeBytes   = 7 << 20
	// gitAuthor is the author and committer of the commit synthesized for each snapshot.
	gitAuthor      = "upstreamtest"
	gitAuthorEmail = "upstreamtest@example.invalid"
)

// SetTreeLimit makes the Git Trees API cut an answer at entries entries, with
// "truncated": true, as GitHub does past 100,000 entries (or 7 MB): 0, or less, is
// GitHub's limit again.
func (s *Server) SetTreeLimit(entries int) {
	s.treeLimit.Store(int64(max(entries, 0)))
}

// gitIndex is a snapshot's git objects: each directory's tree, hashed once and only
// when asked for. A snapshot never changes, so neither does its index.
type gitIndex struct {
	mu    sync.Mutex
	trees map[string]*gitTree // by directory, relative to the world directory
	repos map[string]*gitRepo // by repoDir
}

func newGitIndex() *gitIndex {
	return &gitIndex{trees: map[string]*gitTree{}, repos: map[string]*gitRepo{}}
}

// gitTree is one directory as git stores it: its entries in tree order, without the
// directories that hold no file (git has no empty trees) and, at a repository's root,
// without releases.json, which is no file of the repository.
type gitTree struct {
	once    sync.Once
	sha     string
	entries []gitEntry
	err     error
}

// gitEntry is one entry of a tree: a blob, or a tree when tree is set.
type gitEntry struct {
	name string
	sha  string
	blob *blob
	tree *gitTree
}

// gitRepo is a repository as the commits and trees APIs see it: its root tree, the one
// commit standing for the snapshot, and every tree of it by SHA.
type gitRepo struct {
	once   sync.Once
	root   *gitTree
	commit string
	bySHA  map[string]*gitTree
	err    error
}

// tree is the tree of the directory rel of snap, whose index x is.
func (x *gitIndex) tree(snap *snapshot, rel string) (*gitTree, error) {
	x.mu.Lock()
	t, ok := x.trees[rel]
	if !ok {
		t = &gitTree{}
		x.trees[rel] = t
	}
	x.mu.Unlock()
	// Each directory hashes its children's trees first, each once: no cycle, no deadlock.
	t.once.Do(func() { t.sha, t.entries, t.err = x.hashTree(snap, rel) })
	return t, t.err
}

func (x *gitIndex) hashTree(snap *snapshot, rel string) (string, []gitEntry, error) {
	nodes, err := snap.list(rel)
	if err != nil {
		return "", nil, err
	}
	repoRoot := isRepoDir(rel)
	var raw bytes.Buffer
	entries := make([]gitEntry, 0, len(nodes))
	for _, n := range nodes {
		e := gitEntry{name: n.name, blob: n.blob}
		mode := "100644"
		if n.isDir() {
			child, err := x.tree(snap, rel+"/"+n.name)
			if err != nil {
				return "", nil, err
			}
			if len(child.entries) == 0 {
				continue
			}
			e.tree, e.sha, mode = child, child.sha, "40000"
		} else {
			if repoRoot && n.name == "releases.json" {
				continue
			}
			e.sha = n.blob.gitSHA
		}
		sum, err := hex.DecodeString(e.sha)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(&raw, "%s %s\x00", mode, n.name)
		raw.Write(sum)
		entries = append(entries, e)
	}
	return gitHash("tree", raw.Bytes()), entries, nil
}

// isRepoDir reports whether rel is a repository's directory, github/<owner>/<repo>.
func isRepoDir(rel string) bool {
	parts := strings.Split(rel, "/")
	return len(parts) == 3 && parts[0] == "github"
}

// gitHash is the SHA-1 git names an object of kind with body by.
func gitHash(kind string, body []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// commitObject is the commit standing for a snapshot of a repository whose root tree is
// tree: no parent, authored and committed at the world's date.
func commitObject(tree string, date time.Time) []byte {
	who := fmt.Sprintf("%s <%s> %d +0000", gitAuthor, gitAuthorEmail, date.Unix())
	return fmt.Appendf(nil, "tree %s\nauthor %s\ncommitter %s\n\n%s\n", tree, who, who, commitMessage(date))
}

func commitMessage(date time.Time) string { return "snapshot " + date.Format(time.DateOnly) }

// repo is the repository at dir (see repoDir); fs.ErrNotExist when the snapshot has none.
func (x *gitIndex) repo(snap *snapshot, dir string) (*gitRepo, error) {
	n, err := snap.stat(dir)
	if err == nil && !n.isDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	g, ok := x.repos[dir]
	if !ok {
		g = &gitRepo{}
		x.repos[dir] = g
	}
	x.mu.Unlock()
	g.once.Do(func() {
		if g.root, g.err = x.tree(snap, dir); g.err != nil {
			return
		}
		g.commit = gitHash("commit", commitObject(g.root.sha, snap.date))
		g.bySHA = map[string]*gitTree{}
		var walk func(*gitTree)
		walk = func(t *gitTree) {
			g.bySHA[t.sha] = t
			for _, e := range t.entries {
				if e.tree != nil {
					walk(e.tree)
				}
			}
		}
		walk(g.root)
	})
	return g, g.err
}

// find is the entry at p, a slash-separated path below t; nil when there is none.
func (t *gitTree) find(p string) *gitEntry {
	name, rest, more := strings.Cut(p, "/")
	for i := range t.entries {
		e := &t.entries[i]
		switch {
		case e.name != name:
		case !more:
			return e
		case e.tree != nil:
			return e.tree.find(rest)
		default:
			return nil
		}
	}
	return nil
}

// resolve is the tree a trees request names: a tree's SHA, the commit's SHA or any ref
// name (the root tree), each optionally followed by ":PATH" for the directory PATH below.
func (g *gitRepo) resolve(spec string) *gitTree {
	base, p, _ := strings.Cut(spec, ":")
	var t *gitTree
	switch {
	case base == "":
		return nil
	case isSHA(base):
		if base = strings.ToLower(base); base == g.commit {
			t = g.root
		} else {
			t = g.bySHA[base]
		}
	default: // a branch or tag: every ref reads the snapshot
		t = g.root
	}
	if p = strings.Trim(p, "/"); t == nil || p == "" {
		return t
	}
	if e := t.find(p); e != nil {
		return e.tree // nil for a file
	}
	return nil
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// gitUser is an author or committer of a commit object.
type gitUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

type gitRef struct {
	SHA string `json:"sha"`
	URL string `json:"url"`
}

type verification struct {
	Verified   bool    `json:"verified"`
	Reason     string  `json:"reason"`
	Signature  *string `json:"signature"`
	Payload    *string `json:"payload"`
	VerifiedAt *string `json:"verified_at"`
}

type commitData struct {
	Author       gitUser      `json:"author"`
	Committer    gitUser      `json:"committer"`
	Message      string       `json:"message"`
	Tree         gitRef       `json:"tree"`
	URL          string       `json:"url"`
	CommentCount int          `json:"comment_count"`
	Verification verification `json:"verification"`
}

// commitJSON is one commit of the commits API, its fields in GitHub's order. author and
// committer are null: no GitHub account has the synthetic address.
type commitJSON struct {
	SHA         string     `json:"sha"`
	NodeID      string     `json:"node_id"`
	Commit      commitData `json:"commit"`
	URL         string     `json:"url"`
	HTMLURL     string     `json:"html_url"`
	CommentsURL string     `json:"comments_url"`
	Author      *userJSON  `json:"author"`
	Committer   *userJSON  `json:"committer"`
	Parents     []gitRef   `json:"parents"`
}

func newCommitJSON(api, html string, g *gitRepo, date time.Time) commitJSON {
	who := gitUser{Name: gitAuthor, Email: gitAuthorEmail, Date: date.UTC().Format(time.RFC3339)}
	return commitJSON{
		SHA:    g.commit,
		NodeID: "C_kwDO" + g.commit,
		Commit: commitData{
			Author: who, Committer: who,
			Message:      commitMessage(date),
			Tree:         gitRef{SHA: g.root.sha, URL: api + "/git/trees/" + g.root.sha},
			URL:          api + "/git/commits/" + g.commit,
			Verification: verification{Reason: "unsigned"},
		},
		URL:         api + "/commits/" + g.commit,
		HTMLURL:     html + "/commit/" + g.commit,
		CommentsURL: api + "/commits/" + g.commit + "/comments",
		Parents:     []gitRef{},
	}
}

// serveCommits answers `GET /repos/{owner}/{repo}/commits?sha=&path=`: the snapshot's one
// commit, or nothing for a path it does not hold (no commit touched it).
func (s *Server) serveCommits(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	snap := s.snap.Load()
	g, ok := s.gitRepo(w, r, snap, owner, repo, commitsDocs)
	if !ok {
		return
	}
	q := r.URL.Query()
	if sha := q.Get("sha"); isSHA(sha) && strings.ToLower(sha) != g.commit {
		s.githubNotFound(w, r, commitsDocs)
		return
	}
	var commits []commitJSON
	p := strings.Trim(q.Get("path"), "/")
	if p == "" || g.root.find(p) != nil {
		api := origin(r) + "/api/v3/repos/" + owner + "/" + repo
		commits = append(commits, newCommitJSON(api, "https://github.com/"+owner+"/"+repo, g, snap.date))
	}
	perPage := min(positiveInt(q.Get("per_page"), 30), 100)
	page := positiveInt(q.Get("page"), 1)
	last := (len(commits) + perPage - 1) / perPage
	pageOf := []commitJSON{}
	if page <= last {
		pageOf = commits[(page-1)*perPage : min(page*perPage, len(commits))]
	}
	body, err := marshalGitHub(pageOf)
	if err != nil {
		serverError(w, err)
		return
	}
	if links := pageLinks(r, page, last); links != "" {
		w.Header().Set("Link", links)
	}
	s.serveGitHubJSON(w, r, body)
}

// gitRepo is owner/repo of snap, or has answered GitHub's 404 (documented at docs).
func (s *Server) gitRepo(w http.ResponseWriter, r *http.Request, snap *snapshot, owner, repo, docs string) (*gitRepo, bool) {
	dir, ok := repoDir(owner, repo)
	if !ok {
		s.githubNotFound(w, r, docs)
		return nil, false
	}
	g, err := snap.git.repo(snap, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.githubNotFound(w, r, docs)
		return nil, false
	case err != nil:
		serverError(w, err)
		return nil, false
	}
	return g, true
}

// treeEntryJSON is one entry of the trees API, its fields in GitHub's order.
type treeEntryJSON struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	SHA  string `json:"sha"`
	Size *int64 `json:"size,omitempty"`
	URL  string `json:"url"`
}

// serveTree answers `GET /repos/{owner}/{repo}/git/trees/{tree_sha}?recursive=`.
func (s *Server) serveTree(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	snap := s.snap.Load()
	g, ok := s.gitRepo(w, r, snap, owner, repo, treesDocs)
	if !ok {
		return
	}
	t := g.resolve(r.PathValue("tree_sha"))
	if t == nil {
		s.githubNotFound(w, r, treesDocs)
		return
	}
	limit := int(s.treeLimit.Load())
	if limit == 0 {
		limit = maxTreeEntries
	}
	body, err := treeBody(origin(r)+"/api/v3/repos/"+owner+"/"+repo, t, r.URL.Query().Get("recursive") != "", limit)
	if err != nil {
		serverError(w, err)
		return
	}
	s.serveGitHubJSON(w, r, body)
}

// treeBody is the trees API's answer for t: its entries, and with recursive those of
// every tree below in git's order (each tree followed by its contents), cut at limit
// entries or maxTreeBytes.
func treeBody(api string, t *gitTree, recursive bool, limit int) ([]byte, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, `{"sha":"%s","url":"%s/git/trees/%s","tree":[`, t.sha, api, t.sha)
	const tail = `],"truncated":false}`
	count, truncated := 0, false
	var list func(t *gitTree, prefix string) error
	list = func(t *gitTree, prefix string) error {
		for _, e := range t.entries {
			if count == limit {
				truncated = true
				return nil
			}
			v := treeEntryJSON{Path: prefix + e.name, Mode: "100644", Type: "blob", SHA: e.sha, URL: api + "/git/blobs/" + e.sha}
			if e.tree != nil {
				v.Mode, v.Type, v.URL = "040000", "tree", api+"/git/trees/"+e.sha
			} else {
				v.Size = &e.blob.size
			}
			raw, err := marshalGitHub(v)
			if err != nil {
				return err
			}
			if body.Len()+1+len(raw)+len(tail) > maxTreeBytes {
				truncated = true
				return nil
			}
			if count > 0 {
				body.WriteByte(',')
			}
			body.Write(raw)
			count++
			if recursive && e.tree != nil {
				if err := list(e.tree, v.Path+"/"); err != nil || truncated {
					return err
				}
			}
		}
		return nil
	}
	if err := list(t, ""); err != nil {
		return nil, err
	}
	fmt.Fprintf(&body, `],"truncated":%t}`, truncated)
	return body.Bytes(), nil
}
