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
	return cmd
}
