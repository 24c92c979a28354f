package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/storage"
)

// exitDamaged is `db check`'s exit for a damaged file, as check's for a failed source.
const exitDamaged = 2

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Look after the database file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Check the database file's consistency (bbolt's own check); exit 2 when it is damaged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			path := cfg.Storage.Path
			problems, err := storage.Check(path)
			if err != nil {
				return &exitError{exitUsage, err}
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
			return &exitError{exitDamaged, fmt.Errorf("database %s is damaged; restore a copy of it, and keep this one for the record:\n  - %s",
				path, strings.Join(lines, "\n  - "))}
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE (with the daemon stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			path := cfg.Storage.Path
			if problems, err := storage.Check(path); err != nil {
				return &exitError{exitUsage, err}
			} else if len(problems) > 0 {
				return &exitError{exitDamaged, fmt.Errorf("database %s is damaged, not copied: %s (`nodewatch db check` says more)", path, problems[0])}
			}
			db, err := storage.Open(path, storage.Options{ReadOnly: true})
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer db.Close()
			n, err := db.Backup(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (%d bytes), a consistent copy of %s\n", args[0], n, path)
			return nil
		},
	})
	return cmd
}
