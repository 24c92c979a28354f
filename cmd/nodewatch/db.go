package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
	"github.com/nodewatch/nodewatch/tracker/config"
)

// exitDamaged is the exit of a db command refusing a damaged file, as check's for a
// failed source.
const exitDamaged = 2

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Look after the database file: check, back up, restore, compact"}
	cmd.AddCommand(
		a.dbCommand("check [FILE]", "Check the database file's (or FILE's, a backup's) consistency; exit 2 when it is damaged. While the daemon runs, it checks a copy", cobra.MaximumNArgs(1), a.dbCheck),
		a.dbCommand("backup FILE", "Write a consistent copy of the database to FILE; while the daemon runs, through its API", cobra.ExactArgs(1), a.dbBackup),
		a.dbCommand("restore FILE", "Put the backup FILE in place of the database (daemon stopped); the file it replaces is kept beside it", cobra.ExactArgs(1), a.dbRestore),
		a.dbCommand("compact", "Rewrite the database without its free pages (daemon stopped); the file before is kept beside it", cobra.NoArgs, a.dbCompact),
	)
	return cmd
}

// dbCommand is one db subcommand on the configured database's path.
func (a *app) dbCommand(use, short string, args cobra.PositionalArgs, run func(cfg *config.Config, args []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(_ *cobra.Command, args []string) error {
		cfg, err := a.loadConfig()
		if err != nil {
			return err
		}
		return dbExit(run(cfg, args))
	}}
}

// dbExit gives a damaged file exit 2 and every other failure exit 1.
func dbExit(err error) error {
	var ee *exitError
	switch {
	case err == nil || errors.As(err, &ee):
		return err
	case errors.Is(err, storage.ErrDamaged):
		return &exitError{exitDamaged, err}
	}
	return &exitError{exitUsage, err}
}

func (a *app) dbCheck(cfg *config.Config, args []string) error {
	path := cfg.Storage.Path
	if len(args) == 1 {
		path = args[0]
	}
	problems, err := storage.Check(path)
	if errors.Is(err, storage.ErrLocked) && len(args) == 0 {
		// The daemon checks a copy as it takes one: WriteTo copies the pages as they are.
		body, err := daemonCopy(cfg, err)
		if err != nil {
			return err
		}
		defer body.Close()
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "database %s is sound (the running daemon checked a copy of it just now)\n", path)
		return nil
	}
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		fmt.Fprintf(a.stdout, "database %s is sound\n", path)
		return nil
	}
	const most = 20
	lines := problems
	if len(lines) > most {
		lines = append(lines[:most:most], fmt.Sprintf("and %d more", len(problems)-most))
	}
	return &exitError{exitDamaged, fmt.Errorf("database %s is damaged; restore a backup of it (`nodewatch db restore FILE`), and keep this one for the record:\n  - %s",
		path, strings.Join(lines, "\n  - "))}
}

func (a *app) dbBackup(cfg *config.Config, args []string) error {
	path, file := cfg.Storage.Path, args[0]
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if errors.Is(err, storage.ErrLocked) {
		return a.backupFromDaemon(cfg, file, err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Backup(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s (%d bytes), a consistent copy of %s\n", file, n, path)
	return nil
}

// daemonCopy is a copy of the database from the running daemon's /api/v1/backup (with
// the admin token when one is set), which the daemon has checked as it took it.
func daemonCopy(cfg *config.Config, locked error) (io.ReadCloser, error) {
	u, err := daemonURL(cfg.HTTP.Listen, "/api/v1/backup")
	if err != nil {
		return nil, fmt.Errorf("%w; %v", locked, err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if t := cfg.HTTP.AdminToken.Value(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w, and its API at %s does not answer: %v", locked, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		err := fmt.Errorf("the daemon's %s answered %s: %s", u, resp.Status, e.Error)
		if resp.StatusCode == http.StatusServiceUnavailable {
			err = fmt.Errorf("%w (%w)", err, storage.ErrDamaged)
		}
		return nil, err
	}
	return resp.Body, nil
}

func (a *app) backupFromDaemon(cfg *config.Config, file string, locked error) error {
	body, err := daemonCopy(cfg, locked)
	if err != nil {
		return err
	}
	defer body.Close()
	n, err := storage.SaveBackup(file, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s (%d bytes), a consistent copy of %s taken by the running daemon\n", file, n, cfg.Storage.Path)
	return nil
}

func (a *app) dbRestore(cfg *config.Config, args []string) error {
	path, backup := cfg.Storage.Path, args[0]
	kept, err := storage.Restore(path, backup, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "restored %s from %s (checked, and migrated to this nodewatch's schema)\n", path, backup)
	if kept != "" {
		fmt.Fprintf(a.stdout, "the file it replaced is kept as %s\n", kept)
	}
	return nil
}

func (a *app) dbCompact(cfg *config.Config, _ []string) error {
	path := cfg.Storage.Path
	kept, before, after, err := storage.Compact(path, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "compacted %s: %d bytes, %d before\nthe file before is kept as %s\n", path, after, before, kept)
	return nil
}
