package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/agent/quarantine"
	"github.com/vigil-sec/vigil/internal/config"
)

func newQuarantineCmd() *cobra.Command {
	data := config.DefaultAgent().Data
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List, restore or delete the files the agent quarantined on this host",
		Long: `The agent moves trojan files into an encrypted quarantine in its data
directory (DATA/quarantine, key DATA/quarantine.key), keeping their original
path, mode, owner and times. These commands work on that quarantine directly,
as root, whether or not the agent runs.`,
	}
	cmd.PersistentFlags().StringVar(&data, "data", data, "agent data directory")

	// open refuses to create a quarantine that does not exist: a typo in
	// --data must not leave a fresh key behind.
	open := func() (*quarantine.Quarantine, error) {
		if _, err := os.Stat(filepath.Join(data, quarantine.DirName)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no quarantine in %s (is --data the agent's data directory?)", data)
		}
		return quarantine.OpenInDataDir(data, quarantine.WithLogger(newLogger(cmd.ErrOrStderr(), "warn", "text")))
	}

	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the quarantined files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := open()
			if err != nil {
				return err
			}
			defer q.Close()
			samples, err := q.List()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if samples == nil {
					samples = []quarantine.Sample{}
				}
				return enc.Encode(samples)
			case "table":
			default:
				return fmt.Errorf("--format %q: want table or json", format)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tISOLATED\tSTATE\tSIZE\tMODE\tOWNER\tMD5\tPATH")
			for _, s := range samples {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%d:%d\t%s\t%s\n", s.ID, fmtTime(s.IsolatedAt), s.State, s.Size,
					s.FileMode(), s.UID, s.GID, s.MD5, s.Path)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&format, "format", "table", "table or json")

	var opts quarantine.RestoreOptions
	restore := &cobra.Command{
		Use:   "restore ID",
		Short: "Put a quarantined file back where it was, byte-identical, with its mode, owner and times",
		Long: `Restore decrypts the sample, checks its sha256 and puts it back at its
original path (or --to), then removes it from the quarantine. An existing file
is never replaced without --force; a parent directory reached through a
symlink that leaves the container's root is refused. A container that has
restarted has a new pid: give --to /proc/NEWPID/root/<in-container path>.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := open()
			if err != nil {
				return err
			}
			defer q.Close()
			s, err := q.Restore(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			to := s.Path
			if opts.Path != "" {
				to = opts.Path
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s to %s (%d bytes, sha256 %s)\n", s.ID, to, s.Size, s.SHA256)
			return nil
		},
	}
	restore.Flags().StringVar(&opts.Path, "to", "", "restore to this absolute path instead of the original")
	restore.Flags().BoolVar(&opts.Force, "force", false, "replace a file that exists at the restore path")
	restore.Flags().BoolVar(&opts.NoSymlinks, "no-symlinks", false, "refuse any symlink in the parent path")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a quarantined file for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := open()
			if err != nil {
				return err
			}
			defer q.Close()
			if err := q.Delete(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, restore, del)
	return cmd
}
