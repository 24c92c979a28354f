package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	ghnotifier "github.com/nodewatch/nodewatch/notifiers/github"
	"github.com/nodewatch/nodewatch/notifiers/slack"
	"github.com/nodewatch/nodewatch/notifiers/stdout"
	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/config"
)

// defaultNotifier receives every event when no route is configured.
const defaultNotifier = "stdout"

// notifiers builds the configured notifiers, and a stdout one for events no route takes.
func (a *app) notifiers(cfg *config.Config) (map[string]tracker.Notifier, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	out := map[string]tracker.Notifier{}
	for _, n := range cfg.Notifiers {
		var (
			nt  tracker.Notifier
			err error
		)
		switch n.Type {
		case config.NotifierSlack:
			nt, err = slack.New(slack.Config{Name: n.Name, WebhookURL: n.WebhookURL.Value(), Token: n.Token.Value(),
				Channel: n.Channel, APIURL: n.APIURL, HTTP: hc})
		case config.NotifierGitHub:
			nt, err = ghnotifier.New(ghnotifier.Config{Name: n.Name, Repo: n.Repo, Labels: n.Labels, ClosePrevious: n.ClosePrevious,
				Token: cfg.NotifierToken(n).Value(), APIURL: cfg.GitHub.APIURL, HTTP: hc})
		case config.NotifierStdout:
			nt = stdout.New(n.Name, a.stdout)
		default:
			err = fmt.Errorf("unknown type %q", n.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", n.Name, err)
		}
		out[n.Name] = nt
	}
	if _, ok := out[defaultNotifier]; !ok && len(cfg.Routes) == 0 {
		out[defaultNotifier] = stdout.New(defaultNotifier, a.stdout)
	}
	return out, nil
}

func router(cfg *config.Config) *tracker.Router {
	r := &tracker.Router{Default: []string{defaultNotifier}}
	for _, c := range cfg.Routes {
		r.Routes = append(r.Routes, tracker.Route{Events: c.Events, Families: c.Families, Channels: c.Channels,
			Kernel: c.Kernel, Flatcar: c.Flatcar, CVEs: c.CVEs, Notify: c.Notify, Digest: c.Digest})
	}
	return r
}

func (a *app) dispatcher(cfg *config.Config, db tracker.Store, log *slog.Logger) (*tracker.Dispatcher, error) {
	ns, err := a.notifiers(cfg)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return &tracker.Dispatcher{
		Store: db, Notifiers: ns, MaxAttempts: cfg.Delivery.MaxAttempts,
		MinBackoff: cfg.Delivery.MinBackoff.Duration, MaxBackoff: cfg.Delivery.MaxBackoff.Duration,
		Timeout: time.Minute, Log: log,
	}, nil
}

func (a *app) notifyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Work with notifiers"}
	cmd.AddCommand(&cobra.Command{
		Use:   "test NAME",
		Short: "Send a sample message through one notifier: the newest image nodewatch knows, or a placeholder",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			ns, err := a.notifiers(cfg)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			n, ok := ns[args[0]]
			if !ok {
				return &exitError{exitUsage, fmt.Errorf("no notifier named %q; configured: %s", args[0], strings.Join(slices.Sorted(maps.Keys(ns)), ", "))}
			}
			m := a.sampleMessage(cfg)
			note := tracker.Notification{Key: "test:" + time.Now().UTC().Format(time.RFC3339), Messages: []tracker.Message{m}}
			if err := n.Notify(cmd.Context(), note); err != nil {
				return &exitError{exitSourceError, fmt.Errorf("notifier %s: %w", n.Name(), err)}
			}
			fmt.Fprintf(a.stdout, "sent a test message through %s\n", n.Name())
			return nil
		},
	})
	return cmd
}

// sampleMessage is the newest image in the history, so a test message looks like the
// real ones; with no history yet, a placeholder that says what it is.
func (a *app) sampleMessage(cfg *config.Config) tracker.Message {
	sample := tracker.Message{Event: tracker.Event{Key: "test", Kind: tracker.EventNodeImage, Subject: "nodewatch", Version: "test message", CreatedAt: time.Now().UTC().Truncate(time.Second)}}
	db, err := storage.Open(cfg.Storage.Path, storage.Options{ReadOnly: true})
	if err != nil {
		return sample
	}
	defer db.Close()
	images, err1 := db.Images("")
	releases, err2 := db.FlatcarReleases("")
	if err1 != nil || err2 != nil || len(images) == 0 {
		return sample
	}
	views := tracker.LinkImages(images, releases)
	newest := views[0]
	for _, v := range views {
		if v.FirstSeen.After(newest.FirstSeen) || (v.FirstSeen.Equal(newest.FirstSeen) && tracker.CompareImageVersions(v.Version, newest.Version) > 0) {
			newest = v
		}
	}
	sample.Event.Key = tracker.EventKey(tracker.EventNodeImage, newest.Family, newest.Version)
	sample.Event.Subject, sample.Event.Version = newest.Family, newest.Version
	sample.Image = &newest
	return sample
}

func (a *app) outboxCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "List deliveries that are pending, failed or given up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := query(a, "outbox", func(s tracker.Store) ([]tracker.Delivery, error) {
				ds, err := s.Deliveries()
				return slices.DeleteFunc(ds, func(d tracker.Delivery) bool { return d.State == tracker.DeliveryDelivered }), err
			})
			if err != nil || asJSON {
				return a.printJSON(ds, err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
			for _, d := range ds {
				state, next := string(d.State), "-"
				if d.State == tracker.DeliveryPending {
					next = d.NextAttempt.Format(time.RFC3339)
					if d.Attempts > 0 {
						state = "failed"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", d.ID, state, d.Attempts, next, dash(d.LastError))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use:   "retry ID",
		Short: "Queue a failed or given-up delivery again, for the next cycle",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			db, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			ds, err := db.Deliveries()
			if err != nil {
				return err
			}
			i := slices.IndexFunc(ds, func(d tracker.Delivery) bool { return d.ID == args[0] })
			if i < 0 {
				return &exitError{exitUsage, fmt.Errorf("no delivery %q in the outbox (see nodewatch outbox)", args[0])}
			}
			d := ds[i]
			if d.State == tracker.DeliveryDelivered {
				return &exitError{exitUsage, errors.New("delivery " + d.ID + " was delivered already")}
			}
			d.State, d.Attempts, d.NextAttempt = tracker.DeliveryPending, 0, time.Now().UTC().Truncate(time.Second)
			if err := db.UpdateDelivery(cmd.Context(), d); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "queued %s again\n", d.ID)
			return nil
		},
	})
	return cmd
}
