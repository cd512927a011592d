package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	tcsssvc "github.com/vigil-sec/vigil/internal/service/tcss"
	"github.com/vigil-sec/vigil/internal/store"
)

// tcss's trojan-file actions over the agent protocol (issue 5): the
// agent-facing interfaces of tcsssvc.VirusAgents as commands, and the
// agentapi hooks feeding the agents' answers back into tcss.

// virusSweepInterval is how often scan tasks past their timeout are ended.
const virusSweepInterval = 30 * time.Second

// Virus event states the hooks move events through (tcss's VirusInfo.Status).
const (
	virusDealNone      = store.VirusStatusNone
	virusDealIsolating = "DEAL_ISOLATING"
	virusIsolateAuto   = "AUTO"
)

// tcssAgents implements tcsssvc's ContainerIsolator, FileQuarantiner and
// ScanDispatcher. Like cwpAgents it reads a.Agents when called.
type tcssAgents struct{ a *App }

func (t tcssAgents) enqueue(ctx context.Context, accountID int64, hostUUID, kind string, payload any, ttl time.Duration) error {
	_, err := t.a.Agents.Enqueue(ctx, accountID, hostUUID, agentapi.Command{Kind: kind, Payload: payload, TTL: ttl})
	return err
}

func (t tcssAgents) IsolateContainer(ctx context.Context, accountID int64, hostUUID, containerID string, isolate bool, eventID int64) error {
	kind := wire.CommandIsolateContainer
	if !isolate {
		kind = wire.CommandRestoreContainer
	}
	return t.enqueue(ctx, accountID, hostUUID, kind, wire.ContainerPayload{ContainerID: containerID, EventID: eventID}, 0)
}

func (t tcssAgents) file(ctx context.Context, accountID int64, hostUUID, kind string, eventID int64, path, md5 string) error {
	e, err := t.a.Store.GetVirusEvent(ctx, accountID, eventID)
	if err != nil {
		return err
	}
	return t.enqueue(ctx, accountID, hostUUID, kind, wire.FilePayload{EventID: eventID, ContainerID: e.ContainerID, Path: path, MD5: md5}, 0)
}

func (t tcssAgents) Quarantine(ctx context.Context, accountID int64, hostUUID string, eventID int64, path, md5 string) error {
	return t.file(ctx, accountID, hostUUID, wire.CommandQuarantineFile, eventID, path, md5)
}

func (t tcssAgents) Restore(ctx context.Context, accountID int64, hostUUID string, eventID int64, path, md5 string) error {
	return t.file(ctx, accountID, hostUUID, wire.CommandRestoreFile, eventID, path, md5)
}

func (t tcssAgents) StartContainerScan(ctx context.Context, accountID int64, hostUUID string, taskID int64, spec tcsssvc.ContainerScanSpec) error {
	var ttl time.Duration
	if !spec.Deadline.IsZero() {
		ttl = max(time.Until(spec.Deadline), time.Second)
	}
	return t.enqueue(ctx, accountID, hostUUID, wire.CommandScanContainers, wire.ScanPayload{
		TaskID: taskID, ContainerIDs: spec.ContainerIDs, PathMode: spec.PathMode, Paths: spec.Paths,
		Exclude: spec.Exclude, Deadline: spec.Deadline.UTC(), Scheduled: spec.Scheduled,
	}, ttl)
}

func (t tcssAgents) StopContainerScan(ctx context.Context, accountID int64, hostUUID string, taskID int64, containerIDs []string) error {
	return t.enqueue(ctx, accountID, hostUUID, wire.CommandStopScan, wire.StopScanPayload{TaskID: taskID, ContainerIDs: containerIDs}, 10*time.Minute)
}

// virusAgents is tcss's Deps.Virus.
func (a *App) virusAgents() tcsssvc.VirusAgents {
	t := tcssAgents{a}
	return tcsssvc.VirusAgents{Isolator: t, Quarantiner: t, Scans: t}
}

// virusEventOptions are the agent protocol's hooks for trojan files:
// whitelisted files are not stored, new files are isolated when the
// account's auto-isolation says so, scan reports and command results go to
// tcss.
func (a *App) virusEventOptions() []agentapi.Option {
	st, log := a.Store, a.opts.logger
	return []agentapi.Option{
		agentapi.WithVirusHooks(agentapi.VirusHooks{
			Suppressed: func(ctx context.Context, accountID int64, md5, imageID string) (bool, error) {
				return tcsssvc.SuppressedByWhitelist(ctx, st, accountID, md5, imageID)
			},
			Stored: a.autoIsolate,
			ScanProgress: func(ctx context.Context, accountID int64, hostUUID string, p wire.ScanProgress) error {
				rep := tcsssvc.HostScanProgress{Progress: p.Progress, Done: p.Done, Error: p.Error}
				for _, c := range p.Containers {
					rep.Containers = append(rep.Containers, tcsssvc.ContainerScanProgress{ContainerID: c.ContainerID,
						Progress: c.Progress, Done: c.Done, RiskCount: c.RiskCount, Error: c.Error})
				}
				return tcsssvc.ApplyScanProgress(ctx, st, accountID, p.TaskID, hostUUID, rep, a.opts.now())
			},
		}),
		agentapi.WithOnResult(func(ctx context.Context, c store.AgentCommand) {
			if err := a.applyVirusResult(ctx, c); err != nil {
				log.ErrorContext(ctx, "agent api: recording a container command's result", "command_id", c.ID, "kind", c.Kind, "err", err)
			}
		}),
	}
}

// autoIsolate isolates the files of events just stored when the account's
// auto-isolation (or the MD5's own setting) says so: the event moves to
// DEAL_ISOLATING (mode AUTO) and the agent is told to quarantine the file;
// its answer moves it on like a manual isolation's. An event ever handled
// (isolated, ignored, restored…) is left alone.
func (a *App) autoIsolate(ctx context.Context, accountID int64, events []store.VirusEvent, ids []int64) {
	for i, e := range events {
		if ids[i] == 0 {
			continue
		}
		isolate, kill, err := tcsssvc.AutoIsolateDecision(ctx, a.Store, accountID, e.FileMD5)
		if err != nil {
			a.opts.logger.ErrorContext(ctx, "auto-isolation decision", "event_id", ids[i], "err", err)
			continue
		}
		if !isolate {
			continue
		}
		// Only a file never handled: one the operator restored (or a
		// resent event of it) stays where the operator put it.
		if cur, err := a.Store.GetVirusEvent(ctx, accountID, ids[i]); err != nil || !cur.OperationTime.IsZero() {
			continue
		}
		to, mode, sub := virusDealIsolating, virusIsolateAuto, ""
		n, err := a.Store.UpdateVirusEvents(ctx, accountID, []int64{ids[i]}, store.VirusEventUpdate{
			FromStatuses: []string{virusDealNone}, Status: &to, SubStatus: &sub, IsolateMode: &mode, OperationTime: a.opts.now()})
		if err != nil || n == 0 {
			if err != nil {
				a.opts.logger.ErrorContext(ctx, "auto-isolation", "event_id", ids[i], "err", err)
			}
			continue
		}
		if err := (tcssAgents{a}).enqueue(ctx, accountID, e.HostUUID, wire.CommandQuarantineFile, wire.FilePayload{
			EventID: ids[i], ContainerID: e.ContainerID, Path: e.FilePath, MD5: e.FileMD5, Kill: kill, Auto: true}, 0); err != nil {
			a.opts.logger.ErrorContext(ctx, "auto-isolation command", "event_id", ids[i], "err", err)
			back := virusDealNone
			_, _ = a.Store.UpdateVirusEvents(ctx, accountID, []int64{ids[i]}, store.VirusEventUpdate{
				FromStatuses: []string{to}, Status: &back, OperationTime: a.opts.now()})
		}
	}
}

// applyVirusResult hands an agent's answer to a container command to tcss.
func (a *App) applyVirusResult(ctx context.Context, c store.AgentCommand) error {
	at := c.CompletedAt
	if at.IsZero() {
		at = a.opts.now()
	}
	done := c.Status == store.CommandDone
	switch c.Kind {
	case wire.CommandIsolateContainer, wire.CommandRestoreContainer:
		var p wire.ContainerPayload
		if err := json.Unmarshal(c.Payload, &p); err != nil {
			return err
		}
		var r wire.ContainerNetResult
		if done {
			if err := json.Unmarshal(c.Result, &r); err != nil {
				return fmt.Errorf("unreadable result: %w", err)
			}
		}
		isolate := c.Kind == wire.CommandIsolateContainer
		ok := done && (isolate && r.Status == "ISOLATED" || !isolate && r.Status == "NORMAL")
		sub := r.Reason
		if !done && sub == "" {
			sub = "AGENT_ERROR"
		}
		_, err := tcsssvc.ApplyContainerIsolationResult(ctx, a.Store, c.AccountID, c.HostUUID, p.ContainerID, isolate, ok, sub, at)
		return err
	case wire.CommandQuarantineFile, wire.CommandRestoreFile:
		var p wire.FilePayload
		if err := json.Unmarshal(c.Payload, &p); err != nil {
			return err
		}
		var r wire.FileResult
		if done {
			if err := json.Unmarshal(c.Result, &r); err != nil {
				return fmt.Errorf("unreadable result: %w", err)
			}
		}
		restore := c.Kind == wire.CommandRestoreFile
		ok := done && r.OK
		sub := r.SubStatus
		if !ok && sub == "" {
			sub = "AGENT_ERROR"
		}
		var sample *store.QuarantineSample
		if ok && !restore {
			var virus string
			if e, err := a.Store.GetVirusEvent(ctx, c.AccountID, p.EventID); err == nil {
				virus = e.VirusName
			}
			sample = &store.QuarantineSample{HostUUID: c.HostUUID, VirusEventID: p.EventID, OriginalPath: p.Path,
				MD5: r.MD5, SHA256: r.SHA256, Size: r.Size, VirusName: virus, StorageKey: r.SampleID, AutoIsolated: p.Auto, CreatedAt: at}
		}
		return tcsssvc.ApplyFileQuarantineResult(ctx, a.Store, c.AccountID, p.EventID, restore, ok, sub, sample, at)
	}
	return nil
}

// runVirusSweep times out the container scan tasks past their timeout.
func (a *App) runVirusSweep(ctx context.Context) error {
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d", host, os.Getpid())
	t := time.NewTicker(virusSweepInterval)
	defer t.Stop()
	for {
		if n, err := tcsssvc.SweepVirusScanTasks(ctx, a.Store, tcssAgents{a}, owner, a.opts.now); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.opts.logger.Warn("virus scan sweep", "err", err)
		} else if n > 0 {
			a.opts.logger.Info("virus scan tasks timed out", "tasks", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
