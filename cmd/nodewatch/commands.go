package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, "nodewatch", version)
			return nil
		},
	}
}

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration; every problem is named by its key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(a.stderr, "warning:", w)
			}
			src := a.configPath
			if src == "" {
				src = "built-in defaults"
			}
			fmt.Fprintf(a.stdout, "configuration ok (%s)\n", src)
			return nil
		},
	}
}

func (a *app) checkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Run one cycle now; exit 0 when every source succeeded, 2 when one failed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			db, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := a.newRunner(cfg, db, a.logger(cfg))
			if err != nil {
				return err
			}
			rep, drep, err := r.cycle(cmd.Context())
			if err != nil {
				return err
			}
			failed := printReport(a.stdout, rep)
			if drep.Failed+drep.GivenUp > 0 {
				fmt.Fprintf(a.stdout, "deliveries: %d delivered, %d failed and will be retried, %d given up (see nodewatch outbox)\n",
					drep.Delivered, drep.Failed, drep.GivenUp)
			}
			if failed > 0 {
				return &exitError{exitSourceError, fmt.Errorf("%d of %d sources failed", failed, len(rep.Sources))}
			}
			return nil
		},
	}
}

// printReport writes one line per source and a last line for the cycle; it returns how
// many sources failed.
func printReport(w io.Writer, rep tracker.CycleReport) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tREQUESTS\t304\tBYTES\tNEW\tUPDATED\tEVENTS\tSTATUS")
	var requests, notModified, failed int
	var bytes int64
	for _, s := range rep.Sources {
		status := "ok"
		if s.Failed() {
			status = "FAILED"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Source, s.Requests, s.NotModified, s.BodyBytes,
			s.NewItems, s.UpdatedItems, s.Events, status)
		requests += s.Requests
		notModified += s.NotModified
		bytes += s.BodyBytes
	}
	tw.Flush()
	for _, s := range rep.Sources {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "error: %s: %s\n", s.Source, e)
		}
		for _, e := range s.Warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", s.Source, e)
		}
	}
	if requests > 0 && requests == notModified && failed == 0 {
		fmt.Fprintf(w, "no upstream change: %d requests, all answered 304 Not Modified, no bodies downloaded\n", requests)
	}
	return failed
}

func (a *app) imagesCmd() *cobra.Command {
	var f tracker.ImageFilter
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List node images with OS, kernel and Flatcar release",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"family": f.Family, "kernel": f.Kernel, "os_version": f.OSVersion} {
				if v != "" {
					q.Set(k, v)
				}
			}
			views, err := query(a, "images?"+q.Encode(), func(s tracker.Store) ([]tracker.ImageView, error) {
				images, err := s.Images("")
				if err != nil {
					return nil, err
				}
				releases, err := s.FlatcarReleases("")
				if err != nil {
					return nil, err
				}
				return tracker.FilterImages(tracker.ListImages(images, releases), f), nil
			})
			if err != nil || asJSON {
				return a.printJSON(views, err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FAMILY\tVERSION\tOS\tOS VERSION\tKERNEL\tFLATCAR\tCHANNEL\tFIRST SEEN")
			for _, v := range views {
				fc, ch := "-", "-"
				if v.Flatcar != nil {
					fc, ch = v.Flatcar.Version, deref(v.Flatcar.Channel, "(not in feeds yet)")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Family, v.Version, v.OS.Name,
					deref(v.OS.Version, "-"), deref(v.Kernel, "-"), fc, ch, v.FirstSeen.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			printQuiet(a.stdout, views)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.Family, "family", "", "family glob; * matches any run of characters, / included (AKSUbuntu/*)")
	cmd.Flags().StringVar(&f.Kernel, "kernel", "", "only images with this kernel release (KERNEL-VERSION of kubectl get nodes -o wide)")
	cmd.Flags().StringVar(&f.OSVersion, "os-version", "", "only images with this OS version (os-release VERSION or VERSION_ID, a Flatcar version)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) familiesCmd() *cobra.Command {
	var family string
	var asJSON, quietOnly bool
	cmd := &cobra.Command{
		Use:   "families",
		Short: "List every family: newest image, AKS name, OS, kernel, age, usual interval, and whether it fell quiet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := query(a, "families", func(s tracker.Store) ([]tracker.FamilyStatus, error) {
				images, err := s.Images("")
				if err != nil {
					return nil, err
				}
				return tracker.FamilyStatuses(images), nil
			})
			if err != nil {
				return err
			}
			shown := []tracker.FamilyStatus{}
			for _, f := range all {
				if (family == "" || tracker.MatchFamily(family, f.Family)) && (!quietOnly || f.Quiet) {
					shown = append(shown, f)
				}
			}
			if asJSON {
				return writeJSON(a.stdout, shown)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OS LINE\tFAMILY\tNEWEST\tAKS NAME\tOS VERSION\tKERNEL\tBUILT\tEVERY\tSTATUS")
			for _, f := range shown {
				every, status := "-", "ok"
				if f.IntervalDays != nil {
					every = strconv.FormatFloat(*f.IntervalDays, 'f', -1, 64) + "d"
				}
				if f.Quiet {
					status = fmt.Sprintf("QUIET %d days", f.BehindDays)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.OSLine, f.Family, f.Newest, dash(f.NodeImageVersion),
					deref(f.OSVersion, "-"), deref(f.Kernel, "-"), f.NewestDay.Format(time.DateOnly), every, status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&family, "family", "", "family glob; * matches any run of characters, / included (AKSUbuntu/*)")
	cmd.Flags().BoolVar(&quietOnly, "quiet", false, "only the families that fell quiet")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printQuiet names the quiet families among views, with their last image and how long ago.
func printQuiet(w io.Writer, views []tracker.ImageView) {
	seen := map[string]bool{}
	for _, v := range views {
		if q := v.FamilyQuiet; q != nil && !seen[v.Family] {
			seen[v.Family] = true
			fmt.Fprintf(w, "quiet: %s: last image %s built %s, %d days before the newest image of all families\n",
				v.Family, q.Newest, q.NewestDay.Format(time.DateOnly), q.DaysQuiet)
		}
	}
}

func (a *app) flatcarCmd() *cobra.Command {
	var channel string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "flatcar",
		Short: "List Flatcar releases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := query(a, "flatcar?"+url.Values{"channel": {channel}}.Encode(), func(s tracker.Store) ([]tracker.FlatcarRelease, error) {
				return s.FlatcarReleases(channel)
			})
			if err != nil || asJSON {
				return a.printJSON(rs, err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CHANNEL\tVERSION\tRELEASED\tKERNEL\tCONTAINERD\tSYSTEMD")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Channel, r.Version, r.ReleasedAt.Format(time.RFC3339),
					dash(r.Kernel), dash(r.Containerd), dash(r.Systemd))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "only this channel (alpha, beta, stable, lts)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) aksCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "aks",
		Short: "List AKS releases and the node images they name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := query(a, "aks", func(s tracker.Store) ([]tracker.AKSRelease, error) {
				return s.AKSReleases("")
			})
			if err != nil || asJSON {
				return a.printJSON(rs, err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TAG\tPUBLISHED\tNODE IMAGES")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Tag, r.PublishedAt.Format(time.RFC3339), imageRefs(r.NodeImages))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) showCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show VERSION",
		Short: "Show every node image, Flatcar or AKS release of a version (also AKSFlatcar-flatcargen2-202508.06.0 as az aks nodepool list prints it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			found, err := query(a, "show/"+url.PathEscape(args[0]), func(s tracker.Store) (tracker.Found, error) {
				return tracker.Show(s, args[0])
			})
			var nameErr *tracker.NameError
			if errors.As(err, &nameErr) {
				return &exitError{exitUsage, err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, found); err != nil {
					return err
				}
			} else {
				printFound(a.stdout, found)
			}
			switch {
			case found.Empty() && found.Name != nil && found.Name.NoFamily != "":
				return &exitError{exitUsage, fmt.Errorf("%s: %s", args[0], found.Name.NoFamily)}
			case found.Empty() && found.Name != nil:
				return &exitError{exitUsage, fmt.Errorf("%s: %s publish(es) no image %s", args[0], strings.Join(found.Name.Families, ", "), found.Name.Name.Version)}
			case found.Empty():
				return &exitError{exitUsage, fmt.Errorf("nothing of version %q is known", args[0])}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printFound(w io.Writer, f tracker.Found) {
	if m := f.Name; m != nil {
		fmt.Fprintf(w, "name %s: OS %s, sku %s, image %s", m.Name.Raw, m.Name.OS, dash(m.Name.SKU), m.Name.Version)
		if m.Name.SecurityPatch != "" {
			fmt.Fprintf(w, ", security patches applied on %s", m.Name.SecurityPatch)
		}
		if len(m.Families) > 0 {
			fmt.Fprintf(w, "\n  families:  %s", strings.Join(m.Families, ", "))
		}
		fmt.Fprintln(w)
	}
	for _, v := range f.Images {
		fmt.Fprintf(w, "node image %s %s", v.Family, v.Version)
		if v.NodeImageVersion != "" {
			fmt.Fprintf(w, " (%s)", v.NodeImageVersion)
		}
		fmt.Fprintf(w, "\n  os:        %s %s\n  kernel:    %s\n", v.OS.Name, deref(v.OS.Version, "(unknown)"), deref(v.Kernel, "(none named)"))
		if fc := v.Flatcar; fc != nil {
			fmt.Fprintf(w, "  flatcar:   %s", fc.Version)
			if fc.Channel != nil {
				fmt.Fprintf(w, " (%s, released %s, kernel %s", *fc.Channel, fc.ReleasedAt.Format(time.RFC3339), deref(fc.Kernel, "-"))
				if fc.DaysAfterRelease != nil {
					fmt.Fprintf(w, "; image built %d days later", *fc.DaysAfterRelease)
				}
				fmt.Fprint(w, ")")
				if fc.ChannelLatest != nil && *fc.ChannelLatest != fc.Version {
					fmt.Fprintf(w, "\n  behind:    %s had %s", *fc.Channel, *fc.ChannelLatest)
				}
				if fc.StableLatest != nil {
					fmt.Fprintf(w, "\n  stable:    %s on that day", *fc.StableLatest)
				}
			} else {
				fmt.Fprint(w, " (not in Flatcar's feeds yet)")
			}
			fmt.Fprintln(w)
		}
		if v.BuildTime != nil {
			fmt.Fprintf(w, "  built:     %s\n", v.BuildTime.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  first seen: %s\n  notes:     %s\n", v.FirstSeen.Format(time.RFC3339), v.NotesURL)
		printSecurity(w, v.Security)
		if v.Previous != nil {
			fmt.Fprintf(w, "  since %s:", *v.Previous)
			if len(v.Changes) == 0 {
				fmt.Fprint(w, " no change in OS, kernel or listed components")
			}
			fmt.Fprintln(w)
			for _, c := range v.Changes {
				fmt.Fprintf(w, "    %s\n", c.Text())
			}
		}
		printChanges(w, v.ContentChanges, 20)
	}
	for _, r := range f.Flatcar {
		fmt.Fprintf(w, "flatcar %s %s\n  released:  %s\n  kernel:    %s\n  containerd: %s\n  systemd:   %s\n  notes:     %s\n",
			r.Channel, r.Version, r.ReleasedAt.Format(time.RFC3339), dash(r.Kernel), dash(r.Containerd), dash(r.Systemd), r.NotesURL)
	}
	for _, r := range f.AKS {
		fmt.Fprintf(w, "aks release %s\n  published: %s\n  url:       %s\n  node images: %s\n",
			r.Tag, r.PublishedAt.Format(time.RFC3339), r.URL, imageRefs(r.NodeImages))
	}
}

// printSecurity says what an image fixes and lacks, as its source announced it, naming
// the first few of each.
func printSecurity(w io.Writer, s *tracker.ImageSecurity) {
	if s == nil {
		return
	}
	since := "as the first image of its family"
	if s.Previous != nil {
		since = "since " + *s.Previous
	}
	fmt.Fprintf(w, "  security:  fixes %d advisories %s, as announced in the %s\n", len(s.Fixed), since, s.Source)
	if len(s.Fixed) > 0 {
		fmt.Fprintf(w, "    fixed:   %s\n", advisoryList(s.Fixed, 8))
	}
	if len(s.Missing) == 0 {
		return
	}
	if s.Source == tracker.SecuritySourceFlatcar {
		fmt.Fprintf(w, "  MISSING:   %d advisories fixed in later releases of its channel (up to %s)\n    %s\n",
			len(s.Missing), s.Missing[len(s.Missing)-1].In, advisoryList(s.Missing, 8))
		return
	}
	fmt.Fprintf(w, "  MISSING:   %d advisories fixed in newer versions of its packages than it carries\n    %s\n",
		len(s.Missing), advisoryList(s.Missing, 8))
}

// advisoryList names the first n advisories as "CVE-... (package, in)", then how many more.
func advisoryList(as []tracker.Advisory, n int) string {
	parts := make([]string, 0, n+1)
	for i, a := range as {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more (show --json lists them)", len(as)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", a.ID, a.Package, a.In))
	}
	return strings.Join(parts, ", ")
}

// query answers a query command from the database, opened read-only. While `nodewatch
// run` holds the database it asks the daemon's API instead, which answers with the same
// JSON.
func query[T any](a *app, apiPath string, fromStore func(tracker.Store) (T, error)) (T, error) {
	var zero T
	// A query is a short process that reads the whole history once: collecting its garbage
	// as the heap grows from nothing took a third of `images --json`. The soft limit keeps
	// a collection for a heap far above any history (the full-scale one peaks under 50 MB).
	oldPercent := debug.SetGCPercent(-1)
	oldLimit := debug.SetMemoryLimit(256 << 20)
	defer func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) }()
	cfg, err := a.loadConfig()
	if err != nil {
		return zero, err
	}
	db, err := a.openReading(cfg)
	if errors.Is(err, storage.ErrLocked) {
		return fromAPI[T](cfg.HTTP.Listen, apiPath, err)
	}
	if err != nil {
		return zero, &exitError{exitUsage, err}
	}
	defer db.Close()
	return fromStore(db)
}

// fromAPI gets apiPath from the daemon listening on listen.
func fromAPI[T any](listen, apiPath string, locked error) (T, error) {
	var v T
	u, err := daemonURL(listen, "/api/v1/"+apiPath)
	if err != nil {
		return v, &exitError{exitUsage, fmt.Errorf("%w; %v", locked, err)}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return v, &exitError{exitUsage, fmt.Errorf("%w, and its API at %s does not answer: %v", locked, u, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(apiPath, "show/") {
		// Nothing of that version (the caller says so); a name comes with why.
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
		return v, nil
	}
	if resp.StatusCode == http.StatusBadRequest && (strings.HasPrefix(apiPath, "show/") || strings.HasPrefix(apiPath, "diff?")) {
		var e struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return v, &exitError{exitUsage, errors.New(e.Error)}
	}
	if resp.StatusCode != http.StatusOK {
		return v, &exitError{exitUsage, fmt.Errorf("%w, and its API at %s answered %s", locked, u, resp.Status)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&v); err != nil {
		return v, fmt.Errorf("reading %s: %w", u, err)
	}
	return v, nil
}

func (a *app) printJSON(v any, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(a.stdout, v)
}

// writeJSON prints v indented, except that an array prints one element a line: an
// array of every image is megabytes, which indenting took a fifth of `images --json`'s
// time to lay out, and one line an item is what grep and jq -c users want anyway.
func writeJSON(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Len() == 0 {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rv.Kind() == reflect.Slice {
			v = []struct{}{} // [] for an empty result, null never
		}
		return enc.Encode(v)
	}
	// Each item on its own, on every core: an array of every image is megabytes.
	items := make([][]byte, rv.Len())
	errs := make([]error, rv.Len())
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(items); i += workers {
				items[i], errs[i] = json.Marshal(rv.Index(i).Interface())
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, item := range items {
		b.WriteString("  ")
		b.Write(item)
		if i < len(items)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

func imageRefs(refs []tracker.AKSImageRef) string {
	if len(refs) == 0 {
		return "-"
	}
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.OS + " " + r.Version
	}
	return strings.Join(parts, ", ")
}

func deref(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
