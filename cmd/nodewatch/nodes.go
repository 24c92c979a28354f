package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/config"
	"github.com/nodewatch/nodewatch/tracker/kubernetes"
	"github.com/nodewatch/nodewatch/tracker/nodefile"
)

// exitBehind: a pool is further behind than --max-behind or --max-days allow.
const exitBehind = 3

type nodesFlags struct {
	file      string
	cluster   string
	asJSON    bool
	maxBehind int
	maxDays   int
	history   string
}

func (a *app) nodesCmd() *cobra.Command {
	var f nodesFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Which node images your pools run, how far behind the newest each is, and what the upgrade brings",
		Long: `Reads what kubectl get nodes -o json|yaml or az aks nodepool list|show / az aks show -o json print
(-f FILE, or - for standard input), or else the clusters of kubernetes: (or the running daemon's
/api/v1/pools). Exit 0; 3 when a pool is more than --max-behind images or --max-days days behind;
2 when a cluster could not be read; 1 for bad usage or input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.history != "" {
				return a.poolHistory(f)
			}
			pools, readErr := a.judgePools(cmd.Context(), f)
			if pools == nil {
				return readErr
			}
			if f.cluster != "" && f.file == "" {
				pools = filterCluster(pools, f.cluster)
			}
			var err error
			if f.asJSON {
				err = writeJSON(a.stdout, pools)
			} else {
				err = printPools(a.stdout, pools)
			}
			if err != nil {
				return err
			}
			if readErr != nil {
				return readErr
			}
			return gate(pools, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "read kubectl or az output from FILE (- for standard input) instead of the clusters")
	fl.StringVar(&f.cluster, "cluster", "", "only this configured cluster; with -f, the name of the cluster the input is of")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	fl.IntVar(&f.maxBehind, "max-behind", -1, "exit 3 when a pool is more than N images behind")
	fl.IntVar(&f.maxDays, "max-days", -1, "exit 3 when a pool is more than D days behind")
	fl.StringVar(&f.history, "history", "", "the upgrade history of POOL (cluster/pool, or a pool name in any cluster)")
	return cmd
}

// judgePools reads the pools (from the file, the daemon or the clusters) and judges them.
// A cluster that could not be read comes back as an error beside the others' pools.
func (a *app) judgePools(ctx context.Context, f nodesFlags) ([]tracker.NodePool, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	if f.file != "" {
		in, err := a.readNodesFile(f.file)
		if err != nil {
			return nil, &exitError{exitUsage, err}
		}
		if in.Cluster == "" {
			in.Cluster = f.cluster
		}
		fmt.Fprintf(a.stderr, "read %s: %s\n", f.file, describeInput(in))
		return a.judgeGroups(cfg, in.Groups(), "file")
	}
	db, err := a.openReading(cfg)
	if errors.Is(err, storage.ErrLocked) {
		pools, err := fromAPI[[]tracker.NodePool](cfg.HTTP.Listen, "pools", err)
		return pools, err
	}
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	defer db.Close()
	clusters := configuredClusters(cfg)
	var groups []tracker.PoolGroup
	var errs []error
	for _, c := range clusters {
		if f.cluster != "" && c.Name != f.cluster {
			continue
		}
		nodes, err := kubernetes.ListOnce(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		groups = append(groups, tracker.GroupNodes(c.Name, nodes)...)
	}
	fleet, err := loadFleet(cfg, db)
	if err != nil {
		return nil, err
	}
	pools := withSource(fleet.Judge(groups), "kubernetes")
	if len(errs) > 0 {
		return pools, &exitError{exitSourceError, errors.Join(errs...)}
	}
	return pools, nil
}

// judgeGroups judges groups against the store, or, while the daemon holds it, asks the
// daemon to (the groups are small; the file they came from may be 60 MB).
func (a *app) judgeGroups(cfg *config.Config, groups []tracker.PoolGroup, source string) ([]tracker.NodePool, error) {
	db, err := a.openReading(cfg)
	if errors.Is(err, storage.ErrLocked) {
		pools, err := judgeByDaemon(cfg.HTTP.Listen, groups, err)
		return withSource(pools, source), err
	}
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	defer db.Close()
	fleet, err := loadFleet(cfg, db)
	if err != nil {
		return nil, err
	}
	return withSource(fleet.Judge(groups), source), nil
}

// loadFleet is the history to judge pools by, watched as the configuration says.
func loadFleet(cfg *config.Config, db tracker.Store) (*tracker.Fleet, error) {
	return (&tracker.Tracker{Store: db, Families: cfg.Sources.VHDNotes.Families}).LoadFleet(cfg.Kubernetes.Behind.Policy())
}

func withSource(pools []tracker.NodePool, source string) []tracker.NodePool {
	for i := range pools {
		pools[i].Source = source
	}
	return pools
}

func judgeByDaemon(listen string, groups []tracker.PoolGroup, locked error) ([]tracker.NodePool, error) {
	u, err := daemonURL(listen, "/api/v1/pools/judge")
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("%w; %v", locked, err)}
	}
	body, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("%w, and its API at %s does not answer: %v", locked, u, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &exitError{exitUsage, fmt.Errorf("%w, and its API at %s answered %s: %s", locked, u, resp.Status, strings.TrimSpace(string(msg)))}
	}
	var pools []tracker.NodePool
	if err := json.NewDecoder(resp.Body).Decode(&pools); err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	return pools, nil
}

func (a *app) readNodesFile(name string) (nodefile.Input, error) {
	if name == "-" {
		return nodefile.Read("standard input", os.Stdin)
	}
	fh, err := os.Open(name)
	if err != nil {
		return nodefile.Input{}, err
	}
	defer fh.Close()
	return nodefile.Read(name, fh)
}

func describeInput(in nodefile.Input) string {
	what := fmt.Sprintf("%d nodes", len(in.Nodes))
	if in.AgentPools != nil {
		what = fmt.Sprintf("%d agent pools", len(in.AgentPools))
	}
	cluster := ""
	if in.Cluster != "" {
		cluster = " of cluster " + in.Cluster
	}
	return fmt.Sprintf("%s, %s%s", in.Shape, what, cluster)
}

// configuredClusters are kubernetes.clusters, or the cluster nodewatch runs in.
func configuredClusters(cfg *config.Config) []kubernetes.Cluster {
	if len(cfg.Kubernetes.Clusters) == 0 {
		return []kubernetes.Cluster{{Name: config.InClusterName, InCluster: true}}
	}
	out := make([]kubernetes.Cluster, len(cfg.Kubernetes.Clusters))
	for i, c := range cfg.Kubernetes.Clusters {
		out[i] = kubernetes.Cluster{Name: c.Name, Kubeconfig: c.Kubeconfig, Context: c.Context}
	}
	return out
}

func filterCluster(pools []tracker.NodePool, cluster string) []tracker.NodePool {
	out := []tracker.NodePool{}
	for _, p := range pools {
		if p.Cluster == cluster {
			out = append(out, p)
		}
	}
	return out
}

// gate is the CI gate of --max-behind and --max-days.
func gate(pools []tracker.NodePool, f nodesFlags) error {
	if f.maxBehind < 0 && f.maxDays < 0 {
		return nil
	}
	over := tracker.MaxBehind(pools, f.maxBehind, f.maxDays)
	if len(over) == 0 {
		return nil
	}
	names := make([]string, len(over))
	for i, p := range over {
		names[i] = fmt.Sprintf("%s (%d images, %d days)", p.Name(), *p.ImagesBehind, *p.DaysBehind)
	}
	return &exitError{exitBehind, fmt.Errorf("%d pool entr%s further behind than allowed: %s", len(over), map[bool]string{true: "y", false: "ies"}[len(over) == 1], strings.Join(names, ", "))}
}

// printPools is the table a person reads: a line per pool and image, then what each
// pool behind would get by upgrading, and what else is worth knowing.
func printPools(w io.Writer, pools []tracker.NodePool) error {
	if len(pools) == 0 {
		fmt.Fprintln(w, "no node pools")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tPOOL\tNODES\tNODE IMAGE\tSTATUS\tBEHIND\tNEWEST\tKERNEL")
	for _, p := range pools {
		behind := "-"
		if p.ImagesBehind != nil && p.DaysBehind != nil {
			switch *p.ImagesBehind {
			case 0:
				behind = "newest"
			case 1:
				behind = fmt.Sprintf("1 image, %dd", *p.DaysBehind)
			default:
				behind = fmt.Sprintf("%d images, %dd", *p.ImagesBehind, *p.DaysBehind)
			}
		}
		kernel := dash(p.RunningKernel())
		if p.NewestKernel != nil && *p.NewestKernel != p.RunningKernel() {
			kernel += " -> " + *p.NewestKernel
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", dash(p.Cluster), p.Pool, p.Nodes, dash(p.NodeImageVersion),
			p.Status, behind, deref(p.Newest, "-"), kernel)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range pools {
		if len(p.Changes) > 0 {
			fmt.Fprintf(w, "\n%s %s -> %s brings:\n", p.Name(), p.Version, deref(p.Newest, "-"))
			for _, c := range p.Changes {
				fmt.Fprintf(w, "  %s: %s\n", c.What, changeText(c))
			}
			if line := p.SecurityText(); line != "" {
				fmt.Fprintf(w, "  security: %s: %s\n", line, advisoryList(p.Security.Fixed, 6))
			}
			if p.NewestNotesURL != "" {
				fmt.Fprintf(w, "  notes: %s\n", p.NewestNotesURL)
			}
		}
	}
	first := true
	for _, p := range pools {
		for _, n := range p.Notes {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "note: %s %s: %s\n", p.Name(), dash(p.Version), n)
		}
	}
	return nil
}

// changeText reads as "-1.32.19 +1.36.3" for lists, "a -> b" for single values.
func changeText(c tracker.Change) string {
	if strings.Contains(c.From, ", ") || strings.Contains(c.To, ", ") {
		var parts []string
		for _, v := range strings.Split(c.From, ", ") {
			if v != "" {
				parts = append(parts, "-"+v)
			}
		}
		for _, v := range strings.Split(c.To, ", ") {
			if v != "" {
				parts = append(parts, "+"+v)
			}
		}
		return strings.Join(parts, " ")
	}
	return dash(c.From) + " -> " + dash(c.To)
}

// poolHistory prints when a pool first ran each image.
func (a *app) poolHistory(f nodesFlags) error {
	pool := f.history
	if !strings.Contains(pool, "/") && f.cluster != "" {
		pool = f.cluster + "/" + pool
	}
	all, err := query(a, "pools/history?pool="+url.QueryEscape(pool), func(s tracker.Store) ([]tracker.PoolImage, error) {
		return s.PoolImages("")
	})
	if err != nil {
		return err
	}
	shown := tracker.PoolHistory(all, pool)
	if f.asJSON {
		return writeJSON(a.stdout, shown)
	}
	if len(shown) == 0 {
		return &exitError{exitUsage, fmt.Errorf("no history of pool %q: nodewatch has not seen it (name it cluster/pool, as `nodes` prints it)", pool)}
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tPOOL\tFIRST SEEN\tNODE IMAGE")
	for _, h := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dash(h.Cluster), h.Pool, h.FirstSeen.UTC().Format(time.RFC3339), h.NodeImageVersion)
	}
	return tw.Flush()
}
