// Package hostagent is vigil's host agent put together: enrollment and
// credential, the on-disk event spool, the process monitor, the kill command
// handler, heartbeats, uploads and the command long poll, and the container
// trojan-file pipeline with its commands (virus.go). `vigil agent` runs
// it as its own process; `vigil server --local-agent` runs it inside the
// server (with an in-process transport).
//
// The data directory holds the credential (agent-credential.json, 0600), the
// spools (spool/, spool-virus/), the file quarantine (quarantine/,
// quarantine.key), the pinned boot time (boot-time.json) and the engine's scan
// cache (scan-cache, scan-cache.rules), so a restart neither re-enrolls nor
// rescans unchanged binaries nor reports a process twice.
package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/monitor"
	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agent/procjudge"
	"github.com/vigil-sec/vigil/internal/agent/spool"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
)

// Files in the data directory.
const (
	SpoolDir      = "spool"
	ScanCacheFile = "scan-cache"
)

// DefaultMaxScanSize is the largest executable the agent's engine reads:
// smaller than the scanners' default, because the scan buffer counts in the
// agent's memory (RSS bound 64 MB); larger executables are still hashed.
const DefaultMaxScanSize = 16 << 20

// Config of an agent run.
type Config struct {
	Server  string // http(s):// URL of the server
	Token   string // enrollment token; needed only until enrolled
	DataDir string

	Transport []transport.Option // TLS, HTTP client, …

	Rules     []string // extra rule directories
	NoBuiltin bool

	SweepInterval time.Duration // 0: monitor.DefaultSweepInterval
	ScanCPU       float64       // cores; negative: monitor.DefaultScanCPU; 0: no cap
	MaxScanSize   int64         // 0: DefaultMaxScanSize

	Version string
	Logger  *slog.Logger

	// Monitor are extra monitor options (tests).
	Monitor []monitor.Option

	// Containers (virus.go). The sockets default to the runtimes' usual
	// ones; "-" disables a runtime. NoContainers turns the container-file
	// watcher and commands off.
	ContainerdSocket   string
	DockerSocket       string
	ClusterID          string
	ClusterName        string
	NoContainers       bool
	RediscoverInterval time.Duration // 0: DefaultRediscoverInterval
	// Mountinfo is where container root filesystems are looked for (default
	// /proc/self/mountinfo).
	Mountinfo string
}

// Run runs the agent until ctx ends (nil), or until the server stops
// accepting its credential (an error wrapping transport.ErrUnauthorized; the
// saved credential is removed so that the next start enrolls again).
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent data directory: %w", err)
	}
	// The init of every linked package has run, and faulted in code the
	// agent never runs again: give it back before compiling the rules
	// (see trimExecutableRSS), so it does not add to that peak.
	trimExecutableRSS()
	if os.Geteuid() != 0 {
		log.Warn("the agent is not running as root: other users' processes are read partially and the process connector is unavailable")
	}
	machineID, err := transport.MachineID()
	if err != nil {
		return err
	}
	fs := &factsSource{machineID: machineID, version: cfg.Version, etcDir: "/etc"}
	topts := append([]transport.Option{transport.WithLogger(log), transport.WithUserAgent("vigil-agent/" + cfg.Version)}, cfg.Transport...)

	cred, err := transport.LoadOrEnroll(ctx, cfg.DataDir, cfg.Server, cfg.Token, fs.facts(), topts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("enroll: %w", err)
	}
	log.Info("agent enrolled", "host_uuid", cred.HostUUID, "server", cred.Server)
	client, err := transport.New(cred, topts...)
	if err != nil {
		return err
	}
	sp, err := spool.Open(filepath.Join(cfg.DataDir, SpoolDir))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer sp.Close()

	boot, err := monitor.StableBootTime(cfg.DataDir, "")
	if err != nil {
		return err
	}
	reader, err := proc.NewReader(proc.WithLogger(log))
	if err != nil {
		return err
	}
	eng, cache, err := newEngine(ctx, cfg, log)
	if err != nil {
		return err
	}
	cachePath := filepath.Join(cfg.DataDir, ScanCacheFile)
	saveCache := func() {
		if cache.Dirty() {
			if err := cache.Save(cachePath); err != nil {
				log.Warn("saving the scan cache", "err", err)
			}
		}
	}
	defer saveCache()
	judge := procjudge.New(reader, procjudge.WithEngine(eng), procjudge.WithLogger(log),
		procjudge.WithReadHook(beforeExeRead(maxScanSize(cfg))))
	trimExecutableRSS() // and the rule compiler's

	scanCPU := cfg.ScanCPU
	if scanCPU < 0 {
		scanCPU = monitor.DefaultScanCPU
	}
	mopts := append([]monitor.Option{
		monitor.WithLogger(log),
		monitor.WithBootTime(boot),
		monitor.WithSweepInterval(cfg.SweepInterval),
		monitor.WithScanCPU(scanCPU, 0),
		monitor.OnSweep(func(monitor.SweepStats) {
			saveCache()
			// Start-up and the sweep touched code the steady state does
			// not run: give those pages back (see trimExecutableRSS).
			trimExecutableRSS()
		}),
	}, cfg.Monitor...)
	mon := monitor.New(reader, judge, func(_ context.Context, evs []wire.Event) error {
		return transport.SpoolEvents(sp, evs...)
	}, mopts...)
	killer := monitor.NewKiller(reader, mon.Clock())
	var virus *virusPipeline
	if !cfg.NoContainers {
		if virus, err = newVirusPipeline(cfg, log, eng, reader, client); err != nil {
			return err
		}
		defer virus.close()
	}
	handle := commandHandler(killer, virus, log)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(rctx); err != nil && rctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("monitor", mon.Run)
	run("uploader", func(ctx context.Context) error { return client.RunUploader(ctx, sp, nil) })
	run("commands", func(ctx context.Context) error { return client.RunCommands(ctx, handle) })
	run("heartbeats", func(ctx context.Context) error { return client.RunHeartbeats(ctx, fs.facts, sp, handle) })
	if virus != nil {
		run("container files", func(ctx context.Context) error { return virus.runWatch(ctx, cfg.DataDir) })
		run("virus uploader", func(ctx context.Context) error { return client.RunVirusUploader(ctx, virus.sp, nil) })
	}
	if len(cfg.Rules) > 0 {
		run("rule reload", func(ctx context.Context) error {
			return eng.Watch(ctx, 30*time.Second, func(ev engine.ReloadEvent) {
				log.Info("rules reloaded", "status", ev.Status.String(), "version", ev.Version, "problems", len(ev.Problems))
			})
		})
	}
	wg.Wait()
	if virus != nil {
		virus.wg.Wait() // one-click scans in flight end with rctx
	}
	st := mon.Stats()
	log.Info("agent stopped", "exec_events", st.ExecEvents, "judged", st.Judged, "events", st.Events,
		"overruns", st.Overruns, "overflows", st.Overflows, "judge_cpu", st.JudgeCPU.Round(time.Millisecond))
	close(errc)
	err = errors.Join(func() (es []error) {
		for e := range errc {
			es = append(es, e)
		}
		return
	}()...)
	if errors.Is(err, transport.ErrUnauthorized) {
		log.Error("the server refused the agent's credential (revoked, or the host was deleted): removed it; the next start enrolls again with the token")
		_ = os.Remove(filepath.Join(cfg.DataDir, transport.CredentialFile))
	}
	return err
}

// newEngine builds the standard engine with a scan cache kept in the data
// directory and the compiled rules snapshotted beside it.
func newEngine(ctx context.Context, cfg Config, log *slog.Logger) (*engine.Engine, *engine.Cache, error) {
	opts, err := standard.Options(standard.Config{NoBuiltin: cfg.NoBuiltin, RuleDirs: cfg.Rules})
	if err != nil {
		return nil, nil, err
	}
	cachePath := filepath.Join(cfg.DataDir, ScanCacheFile)
	cache := engine.NewCache(0)
	if err := cache.Load(cachePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("scan cache unreadable: starting with an empty one", "err", err)
	}
	maxSize := maxScanSize(cfg)
	eng, err := engine.New(ctx, append(opts,
		engine.WithLogger(log),
		engine.WithCache(cache),
		engine.WithRuleSnapshot(cachePath+".rules"),
		engine.WithMaxSize(maxSize),
		engine.WithHashOversize(true),
		engine.WithConcurrency(1), // one scan buffer at a time: it counts in the RSS bound
	)...)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	if ps := eng.Problems(); engine.HasErrors(ps) {
		return nil, nil, fmt.Errorf("rules: %v (check them with `vigil rules check`)", ps)
	}
	return eng, cache, nil
}

// trimBeforeReadSize and trimBeforeReadRSS: an executable at least that big
// read by the engine while the agent's file-backed resident set is above
// that is preceded by a trim (beforeExeRead).
const (
	trimBeforeReadSize = 1 << 20
	trimBeforeReadRSS  = 8 << 20
)

// beforeExeRead makes room for the engine's buffer before it reads an
// executable. The engine holds an executable whole (up to maxScan bytes,
// anonymous memory) while it hashes and scans it, and that is when the
// agent's resident set peaks: on top of it, the code the judging ran since
// the last trim is mapped, 25–35 MB of vigil's binary when the kernel maps
// page-cache folios whole (hundreds of KB per fault). Trimming just before
// the read leaves only what the read and scan fault back in. Costs a statm
// read per scan-cache miss, and a trim (a few ms) per large one.
func beforeExeRead(maxScan int64) func(size int64) {
	return func(size int64) {
		if size >= trimBeforeReadSize && size <= maxScan && fileRSS() > trimBeforeReadRSS {
			trimExecutableRSS()
		}
	}
}

// maxScanSize is cfg's MaxScanSize or its default.
func maxScanSize(cfg Config) int64 {
	if cfg.MaxScanSize <= 0 {
		return DefaultMaxScanSize
	}
	return cfg.MaxScanSize
}

// commandHandler executes the server's commands.
func commandHandler(k *monitor.Killer, virus *virusPipeline, log *slog.Logger) transport.CommandHandler {
	return func(ctx context.Context, cmd wire.Command) wire.CommandResult {
		if virus != nil {
			if res, handled := virus.command(ctx, cmd); handled {
				return res
			}
		}
		switch cmd.Kind {
		case wire.CommandKill:
			var p wire.KillPayload
			if err := json.Unmarshal(cmd.Payload, &p); err != nil {
				return wire.CommandResult{Error: "malformed kill payload: " + err.Error()}
			}
			res, err := k.Kill(ctx, p)
			if err != nil {
				log.Warn("kill command failed", "id", cmd.ID, "pid", p.PID, "err", err)
				return wire.CommandResult{Error: err.Error()}
			}
			log.Info("kill command", "id", cmd.ID, "pid", p.PID, "start_time", p.StartTime, "killed", res.Killed, "exited", res.Exited)
			b, _ := json.Marshal(res)
			return wire.CommandResult{OK: true, Result: b}
		default:
			return wire.CommandResult{Error: fmt.Sprintf("unknown command kind %q", cmd.Kind)}
		}
	}
}
