package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/agent/hostagent"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/version"
)

func newAgentCmd() *cobra.Command {
	cfg := config.DefaultAgent()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the host agent: detect risk processes and trojan files in containers, report them, act on them",
		Long: `Run the host agent (as root). It enrolls once with the enrollment token
(vigil tokens create, or the server's VIGIL_AGENT_TOKEN) and from then on
authenticates with its own credential, kept in the data directory. It sees
every process start through the netlink process connector, sweeps /proc at
start and every sweep interval, judges each process with the engine and the
process heuristics, spools events on disk until the server has them, and kills
processes on the server's order (only the pid with the recorded start time).
It also watches the root filesystems of the host's containers (fanotify) and
judges every file written or run there, isolates containers' networks,
quarantines files and runs one-click scans on the server's order.
Settings come from flags, VIGIL_* environment variables and a YAML file
(--config), in that order of precedence.`,
		Example: `  vigil agent --server https://vigil.example:9750 --token vgt_… --data /var/lib/vigil-agent`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Load(&cfg, cmd.Flags(), os.Environ()); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			var topts []transport.Option
			if cfg.CAFile != "" {
				topts = append(topts, transport.WithCAFile(cfg.CAFile))
			}
			if cfg.InsecureSkipVerify {
				topts = append(topts, transport.WithInsecureSkipVerify())
			}
			logger.Info("agent starting", "version", version.String(), "server", cfg.Server, "data", cfg.Data,
				"sweep_interval", cfg.SweepInterval, "scan_cpu", cfg.ScanCPU)
			// The context ends on SIGINT/SIGTERM (main): the agent then sends
			// a last heartbeat saying it stops, and flushes what it judged.
			return hostagent.Run(cmd.Context(), hostagent.Config{
				Server:        cfg.Server,
				Token:         cfg.Token,
				DataDir:       cfg.Data,
				Transport:     topts,
				Rules:         cfg.Rules,
				NoBuiltin:     cfg.NoBuiltin,
				SweepInterval: cfg.SweepInterval,
				ScanCPU:       cfg.ScanCPU,
				MaxScanSize:   cfg.MaxScanSize,
				Version:       version.String(),
				Logger:        logger,

				ContainerdSocket: cfg.ContainerdSocket,
				DockerSocket:     cfg.DockerSocket,
				ClusterID:        cfg.ClusterID,
				ClusterName:      cfg.ClusterName,
				NoContainers:     cfg.NoContainers,
			})
		},
	}
	config.AddFlags(cmd.Flags(), &cfg)
	return cmd
}
