package tcss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// scanTypeCycle is DescribeVirusScanTaskStatus's ScanType of a task the
// server's schedule started.
const scanTypeCycle = "CYCLE"

// ErrNoOnlineAgent is StartScheduledVirusScan's answer when the account has
// no node whose agent is up: nothing to scan, no task created.
var ErrNoOnlineAgent = errors.New("no node with an online agent")

// StartScheduledVirusScan creates and sends a scheduled container scan
// task (ScanType CYCLE, findings SourceType 1) over every container of every
// node of the account whose agent is online, with paths from spec
// (PathMode and Paths; ContainerIDs are ignored) and the given timeout. It
// returns the task's id; ErrNoOnlineAgent when there is no such node. Deciding
// when to run it (and that only one server does) is the caller's business.
func StartScheduledVirusScan(ctx context.Context, st store.Store, disp ScanDispatcher, accountID int64, spec ContainerScanSpec, timeout time.Duration, now time.Time) (int64, error) {
	if disp == nil {
		return 0, errors.New("scheduled virus scan: no agent channel")
	}
	if timeout < time.Second {
		return 0, fmt.Errorf("scheduled virus scan: timeout %v is under a second", timeout)
	}
	spec.ContainerIDs, spec.Scheduled = nil, true
	spec.Deadline = now.Add(timeout).UTC()
	var hosts []string
	online := true
	for off := 0; ; off += 1000 {
		p, err := st.QueryHosts(ctx, accountID, store.HostQuery{Online: &online, Limit: 1000, Offset: off})
		if err != nil {
			return 0, err
		}
		for _, h := range p.Items {
			hosts = append(hosts, h.UUID)
		}
		if len(p.Items) < 1000 {
			break
		}
	}
	if len(hosts) == 0 {
		return 0, ErrNoOnlineAgent
	}
	targets := make([]store.ScanTarget, 0, len(hosts))
	for _, u := range hosts {
		targets = append(targets, store.ScanTarget{Kind: "host", TargetID: u})
	}
	params, _ := json.Marshal(virusScanParams{ScanType: scanTypeCycle, Spec: spec})
	t, err := st.CreateScanTask(ctx, accountID, store.ScanTask{Kind: store.TaskContainerVirus, Params: params,
		TimeoutSecs: int64(timeout / time.Second), CreatedAt: now}, targets)
	if err != nil {
		return 0, err
	}
	if err := st.SetScanTaskStatus(ctx, accountID, t.ID, store.TaskRunning, ""); err != nil {
		return 0, err
	}
	sent := 0
	var firstErr error
	for _, u := range hosts {
		if err := disp.StartContainerScan(ctx, accountID, u, t.ID, spec); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			firstErr = cmpErr(firstErr, err)
			if err := st.UpdateScanTarget(ctx, accountID, store.ScanTarget{TaskID: t.ID, Kind: "host", TargetID: u,
				Status: store.TaskFailed, Error: "could not be sent: " + err.Error(), FinishedAt: now}); err != nil {
				return 0, err
			}
			continue
		}
		sent++
	}
	if sent == 0 {
		_ = st.SetScanTaskStatus(ctx, accountID, t.ID, store.TaskFailed, "no agent could be reached")
		return t.ID, fmt.Errorf("scheduled virus scan %d: no agent could be reached: %w", t.ID, firstErr)
	}
	return t.ID, nil
}
