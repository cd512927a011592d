package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vigil-sec/vigil/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vigil's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "vigil", version.String())
			return err
		},
	}
}
