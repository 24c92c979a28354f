package github

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"unicode"

	gogithub "github.com/google/go-github/v66/github"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/fetch"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// contentsLimit is the most entries the Contents API lists of one directory.
const contentsLimit = 1000

// defaultLocations fills in where files download from and where people read them.
func (n *NotesLocation) defaultLocations(api *url.URL) {
	if n.RawURL == "" {
		if api.Host == "api.github.com" {
			n.RawURL = "https://raw.githubusercontent.com/"
		} else {
			// GitHub Enterprise (and the test server): https://HOST/raw/owner/repo/ref/path.
			n.RawURL = api.Scheme + "://" + api.Host + strings.TrimSuffix(strings.TrimSuffix(api.Path, "/"), "/api/v3") + "/raw/"
		}
	}
	if n.WebURL == "" {
		n.WebURL = "https://github.com/"
	}
	for _, u := range []*string{&n.RawURL, &n.WebURL} {
		if !strings.HasSuffix(*u, "/") {
			*u += "/"
		}
	}
}

// ListNotes implements tracker.VHDNotesSource: one conditional Commits API request says
// whether anything under the notes path changed; only then does one Git Trees request
// list every file below it, each with its blob SHA. A tree GitHub truncated is listed
// again through the Contents API, one request per directory.
func (c *Client) ListNotes(ctx context.Context, lookup tracker.ValidatorLookup, lastCommit string) (tracker.NotesListing, error) {
	owner, name, err := splitRepo(c.notes.Repo)
	if err != nil {
		return tracker.NotesListing{}, err
	}
	dir := strings.Trim(c.notes.Path, "/")
	where := fmt.Sprintf("%s/%s@%s", c.notes.Repo, dir, c.notes.Ref)
	listing := tracker.NotesListing{URL: c.gh.BaseURL.String() + fmt.Sprintf("repos/%s/%s/commits?path=%s&per_page=1&sha=%s",
		owner, name, url.QueryEscape(dir), url.QueryEscape(c.notes.Ref))}
	v, err := lookup(listing.URL)
	if err != nil {
		return listing, err
	}
	opts := &gogithub.CommitsListOptions{SHA: c.notes.Ref, Path: dir, ListOptions: gogithub.ListOptions{PerPage: 1}}
	commits, resp, err := c.gh.Repositories.ListCommits(fetch.WithValidator(ctx, v), owner, name, opts)
	if notModified(resp, err) {
		listing.NotModified, listing.Validator, listing.Commit = true, v, lastCommit
		return listing, nil
	}
	if err != nil {
		return listing, c.describe("asking for the newest commit of "+where, resp, err)
	}
	if len(commits) == 0 || commits[0].GetSHA() == "" {
		return listing, fmt.Errorf("asking for the newest commit of %s: no commit touches that path (is sources.vhd_notes.path right?)", where)
	}
	listing.Validator, listing.Commit = fetch.ValidatorOf(resp.Header), commits[0].GetSHA()
	if listing.Commit == lastCommit {
		listing.NotModified = true // the answer changed (its ETag), the notes did not
		return listing, nil
	}
	tree, resp, err := c.gh.Git.GetTree(ctx, owner, name, listing.Commit+":"+dir, true)
	if err != nil {
		return listing, c.describe(fmt.Sprintf("reading the tree of %s at %s", where, listing.Commit), resp, err)
	}
	if tree.GetSHA() == "" {
		return listing, fmt.Errorf("reading the tree of %s at %s: the answer has no tree sha: a malformed or empty answer", where, listing.Commit)
	}
	if tree.GetTruncated() {
		listing.Warnings = append(listing.Warnings, fmt.Sprintf("the tree of %s at %s came back truncated (over GitHub's 100,000 entries or 7 MB): listed directory by directory through the Contents API instead", where, listing.Commit))
		listing.Families, err = c.listByContents(ctx, owner, name, dir, &listing)
	} else {
		listing.Families, err = c.familiesOfTree(tree, dir, where)
	}
	if err == nil && len(listing.Families) == 0 {
		err = fmt.Errorf("the tree of %s at %s holds no directory of <version>.txt notes (is sources.vhd_notes.path right?)", where, listing.Commit)
	}
	return listing, err
}

// familiesOfTree groups a recursive tree's files by directory, keeping the directories
// that hold image notes.
func (c *Client) familiesOfTree(tree *gogithub.Tree, dir, where string) (map[string][]tracker.NoteEntry, error) {
	byDir := map[string][]tracker.NoteEntry{}
	for i, e := range tree.Entries {
		p, sha := e.GetPath(), e.GetSHA()
		switch {
		case p == "" || sha == "":
			return nil, fmt.Errorf("the tree of %s: entry %d has no path or sha (%q, %q): a malformed answer", where, i, p, sha)
		case !fs.ValidPath(p) || strings.ContainsFunc(p, unicode.IsControl):
			// A path that climbs out (..), or holds what no file name in git does.
			return nil, fmt.Errorf("the tree of %s: entry %d has the path %q, which names no file below %s: a malformed answer", where, i, p, dir)
		case e.GetType() != "blob":
			continue // a directory (tree) or a submodule (commit)
		}
		family, file := path.Split(p)
		family = strings.TrimSuffix(family, "/")
		if family == "" {
			continue // a file at the top of the notes path is no family's
		}
		byDir[family] = append(byDir[family], c.entry(family, file, dir+"/"+p, sha, e.GetSize()))
	}
	return keepFamilies(byDir), nil
}

// keepFamilies drops the directories without image notes (security-patch/, tools).
func keepFamilies(byDir map[string][]tracker.NoteEntry) map[string][]tracker.NoteEntry {
	for d, entries := range byDir {
		isFamily := false
		for _, e := range entries {
			isFamily = isFamily || e.Version != ""
		}
		if !isFamily {
			delete(byDir, d)
		}
	}
	return byDir
}

// entry is one file of a family, with the addresses it downloads from and reads at.
func (c *Client) entry(family, file, repoPath, sha string, size int) tracker.NoteEntry {
	version, _ := vhdnotes.ImageFileVersion(file)
	ref := escapePath(c.notes.Ref)
	return tracker.NoteEntry{
		Family: family, Name: file, Version: version, Path: repoPath, SHA: sha, Size: size,
		DownloadURL: c.notes.RawURL + c.notes.Repo + "/" + ref + "/" + escapePath(repoPath),
		HTMLURL:     c.notes.WebURL + c.notes.Repo + "/blob/" + ref + "/" + escapePath(repoPath),
	}
}

func escapePath(p string) string {
	segments := strings.Split(p, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return strings.Join(segments, "/")
}

// listByContents walks the notes path directory by directory (one request each), for
// when the tree is too large for one answer.
func (c *Client) listByContents(ctx context.Context, owner, name, dir string, listing *tracker.NotesListing) (map[string][]tracker.NoteEntry, error) {
	byDir := map[string][]tracker.NoteEntry{}
	queue := []string{""}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		full := strings.TrimSuffix(dir+"/"+rel, "/")
		_, entries, resp, err := c.gh.Repositories.GetContents(ctx, owner, name, full,
			&gogithub.RepositoryContentGetOptions{Ref: c.notes.Ref})
		if err != nil {
			return nil, c.describe(fmt.Sprintf("listing %s/%s", c.notes.Repo, full), resp, err)
		}
		if len(entries) >= contentsLimit {
			listing.Warnings = append(listing.Warnings, fmt.Sprintf("listing %s/%s: %d entries, the most the Contents API lists; files past them are not seen", c.notes.Repo, full, len(entries)))
		}
		for _, e := range entries {
			childRel := strings.TrimPrefix(rel+"/"+e.GetName(), "/")
			switch e.GetType() {
			case "dir":
				queue = append(queue, childRel)
			case "file":
				if rel != "" {
					byDir[rel] = append(byDir[rel], c.entry(rel, e.GetName(), full+"/"+e.GetName(), e.GetSHA(), e.GetSize()))
				}
			}
		}
	}
	return keepFamilies(byDir), nil
}
