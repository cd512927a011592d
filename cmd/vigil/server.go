package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
)

func newServerCmd() *cobra.Command {
	cfg := config.DefaultServer()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server (Tencent Cloud API 3.0: cwp 2018-02-28, tcss 2020-11-01)",
		Long: `Run the API server. Settings come from flags, VIGIL_* environment variables and
a YAML file (--config), in that order of precedence. On first start it creates
the default account and an admin key: VIGIL_ADMIN_SECRET_ID/VIGIL_ADMIN_SECRET_KEY
if set, otherwise a generated key written once to DATA/admin-key (0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Load(&cfg, cmd.Flags(), os.Environ()); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			a, err := app.Open(cmd.Context(), cfg, app.WithLogger(logger), app.WithEnviron(os.Environ()))
			if err != nil {
				return err
			}
			defer a.Close()
			return a.ListenAndServe(cmd.Context())
		},
	}
	config.AddFlags(cmd.Flags(), &cfg)
	return cmd
}
