package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Self-hosted malware detection for Linux hosts, containers and registries",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newServerCmd(),
		newKeysCmd(),
		newAccountsCmd(),
		newTokensCmd(),
		newAgentCmd(),
		newScanCmd(), newRulesCmd(),
		newQuarantineCmd(),
	)
	return root
}
