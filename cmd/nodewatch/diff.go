package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/tracker"
)

func (a *app) diffCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff FAMILY FROM TO",
		Short: "Show what changed between two images of a family: CVEs fixed, packages, container images, Windows updates",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			family, from, to := args[0], args[1], args[2]
			q := url.Values{"family": {family}, "from": {from}, "to": {to}}
			d, err := query(a, "diff?"+q.Encode(), func(s tracker.Store) (tracker.ImageDiff, error) {
				return tracker.Diff(s, family, from, to)
			})
			if err != nil {
				return usageIf(err)
			}
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			fmt.Fprintf(a.stdout, "%s %s -> %s (%d image%s: %s)\n", d.Family, d.From, d.To, len(d.Images), plural(len(d.Images)), strings.Join(d.Images, ", "))
			printSecurity(a.stdout, d.Security)
			printChanges(a.stdout, d.ContentChanges, 0)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printChanges says what changed in what an image carries, each list cut at limit
// lines (0: all of it).
func printChanges(w io.Writer, c tracker.ContentChanges, limit int) {
	if p := c.Packages; p != nil {
		fmt.Fprintf(w, "  packages:  %d upgraded, %d added, %d removed\n", len(p.Upgraded), len(p.Added), len(p.Removed))
		lines := make([]string, 0, len(p.Upgraded)+len(p.Added)+len(p.Removed))
		for _, u := range p.Upgraded {
			name := u.Name
			if u.FromName != "" {
				name = u.FromName + " -> " + u.Name
			}
			lines = append(lines, fmt.Sprintf("    %-28s %s -> %s", name, u.From, u.To))
		}
		for _, pk := range p.Added {
			lines = append(lines, fmt.Sprintf("    + %-26s %s", pk.Name, pk.Version))
		}
		for _, pk := range p.Removed {
			lines = append(lines, fmt.Sprintf("    - %-26s %s", pk.Name, pk.Version))
		}
		printCut(w, lines, limit)
	}
	if ci := c.ContainerImages; ci != nil {
		fmt.Fprintf(w, "  container images: %d changed, %d added, %d removed\n", len(ci.Changed), len(ci.Added), len(ci.Removed))
		var lines []string
		for _, ch := range ci.Changed {
			lines = append(lines, fmt.Sprintf("    %s %s", ch.Repository, tracker.TagChange(ch)))
		}
		changed := map[string]bool{}
		for _, ch := range ci.Changed {
			changed[ch.Repository] = true
		}
		for _, ref := range ci.Added {
			if repo, _ := tracker.SplitImageRef(ref); !changed[repo] {
				lines = append(lines, "    + "+ref)
			}
		}
		for _, ref := range ci.Removed {
			if repo, _ := tracker.SplitImageRef(ref); !changed[repo] {
				lines = append(lines, "    - "+ref)
			}
		}
		printCut(w, lines, limit)
	}
	if u := c.Updates; u != nil {
		fmt.Fprintf(w, "  updates:   +%s\n", strings.Join(u.Added, " +"))
	}
	for _, why := range c.Unknown {
		fmt.Fprintf(w, "  unknown:   %s\n", why)
	}
}

func printCut(w io.Writer, lines []string, limit int) {
	for i, l := range lines {
		if limit > 0 && i == limit {
			fmt.Fprintf(w, "    ... and %d more (--json lists them)\n", len(lines)-limit)
			return
		}
		fmt.Fprintln(w, l)
	}
}

// usageIf makes a range that names no two images a usage error (exit 1).
func usageIf(err error) error {
	if errors.Is(err, tracker.ErrNoDiff) {
		return &exitError{exitUsage, err}
	}
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
