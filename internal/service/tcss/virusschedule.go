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
	hosts, err := onlineHosts(ctx, st, accountID, now)
	if err != nil {
		return 0, err
	}
	if len(hosts) == 0 {
		return 0, ErrNoOnlineAgent
	}
	params, _ := json.Marshal(virusScanParams{ScanType: scanTypeCycle, Spec: spec})
	t, sent, firstErr, err := startContainerScan(ctx, st, disp, accountID,
		store.ScanTask{Kind: store.TaskContainerVirus, Params: params, TimeoutSecs: int64(timeout / time.Second), CreatedAt: now},
		nil, hosts, spec, now)
	if err != nil {
		return 0, err
	}
	if sent == 0 {
		return t.ID, fmt.Errorf("scheduled virus scan %d: no agent could be reached: %w", t.ID, firstErr)
	}
	return t.ID, nil
}
