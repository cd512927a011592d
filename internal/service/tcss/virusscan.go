package tcss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// The one-click runtime scan (CreateVirusScanTask, DescribeVirusScanTaskStatus,
// StopVirusScanTask). A task is persisted with one "host" target per agent it
// was sent to and one "container" target per container (chosen ones up
// front, the others as the agents report them). Agents report through
// ApplyScanProgress; a task past its Timeout becomes TIMEOUT when described,
// when progress arrives, or by SweepVirusScanTasks.

// Scan path modes.
const (
	scanPathAll     = "SCAN_PATH_ALL"
	scanPathDefault = "SCAN_PATH_DEFAULT"
	scanPathUser    = "SCAN_PATH_USER_DEFINE"
	maxScanHours    = 7 * 24
	scanTypeManual  = "MANUAL"
	// DescribeVirusScanTaskStatus vocabulary.
	virusScanNone     = "SCAN_NONE"
	virusScanScanning = "SCAN_SCANNING"
	virusScanFinish   = "SCAN_FINISH"
	virusScanTimeout  = "SCAN_TIMEOUT"
	virusScanCanceled = "SCAN_CANCELED"
)

// virusScanParams is what the task keeps in its Params.
type virusScanParams struct {
	ScanType string            `json:"scan_type"`
	Spec     ContainerScanSpec `json:"spec"`
	Request  json.RawMessage   `json:"request,omitempty"`
}

func (h *handlers) scans() (ScanDispatcher, error) {
	if h.Virus.Scans == nil {
		return nil, api.NewError(api.UnsupportedOperation, "Runtime scans need the agent channel, which this server does not run.",
			"运行时扫描需要 agent 通道，本服务未启用。")
	}
	return h.Virus.Scans, nil
}

func (h *handlers) createVirusScanTask(ctx context.Context, c *server.Call, req *tcss.CreateVirusScanTaskRequest) (*tcss.CreateVirusScanTaskResponse, error) {
	for _, p := range []struct {
		name string
		set  bool
	}{{"ScanPathAll", req.ScanPathAll != nil}, {"ScanRangeType", req.ScanRangeType != nil}, {"ScanRangeAll", req.ScanRangeAll != nil}, {"Timeout", req.Timeout != nil}} {
		if !p.set {
			return nil, api.ErrMissingParameter(p.name)
		}
	}
	if *req.Timeout < 1 || *req.Timeout > maxScanHours {
		return nil, api.ErrInvalidParameterValue("Timeout", fmt.Sprintf("is in hours, 1 to %d; got %d.", maxScanHours, *req.Timeout),
			fmt.Sprintf("单位为小时，取值 1～%d，实际为 %d。", maxScanHours, *req.Timeout))
	}
	if *req.ScanRangeType > 1 {
		return nil, api.ErrInvalidParameterValue("ScanRangeType", "must be 0 (containers) or 1 (nodes).", "取值须为 0（容器）或 1（主机节点）。")
	}
	disp, err := h.scans()
	if err != nil {
		return nil, err
	}
	spec, err := scanPaths(req)
	if err != nil {
		return nil, err
	}
	now := h.Now()
	spec.Deadline = now.Add(time.Duration(*req.Timeout) * time.Hour).UTC()
	var hosts []string
	var targets []store.ScanTarget
	byHost := *req.ScanRangeType == 1
	all := *req.ScanRangeAll
	if !all {
		if len(req.ScanIds) == 0 {
			return nil, api.ErrMissingParameter("ScanIds")
		}
		if len(req.ScanIds) > store.MaxFilterValues {
			return nil, api.ErrInvalidParameterValue("ScanIds", fmt.Sprintf("at most %d ids.", store.MaxFilterValues), fmt.Sprintf("最多 %d 个。", store.MaxFilterValues))
		}
	}
	if byHost && !all {
		for i, p := range req.ScanIds {
			id := strings.TrimSpace(api.Value(p))
			hst, err := h.Store.GetHost(ctx, c.AccountID, id)
			if err != nil {
				return nil, svc.StoreError(err, fmt.Sprintf("ScanIds.%d", i), id)
			}
			if !slices.Contains(hosts, hst.UUID) {
				hosts = append(hosts, hst.UUID)
			}
		}
	} else {
		// Every node whose agent is up; an offline one would only hold the
		// task until its timeout.
		if hosts, err = onlineHosts(ctx, h.Store, c.AccountID, now); err != nil {
			return nil, err
		}
	}
	if !byHost && !all {
		for i, p := range req.ScanIds {
			id := strings.TrimSpace(api.Value(p))
			if id == "" {
				return nil, api.ErrInvalidParameterValue(fmt.Sprintf("ScanIds.%d", i), "is empty.", "为空。")
			}
			if !slices.Contains(spec.ContainerIDs, id) {
				spec.ContainerIDs = append(spec.ContainerIDs, id)
				targets = append(targets, store.ScanTarget{Kind: "container", TargetID: id})
			}
		}
	}
	if len(hosts) == 0 {
		param := "ScanRangeAll"
		if byHost && !all {
			param = "ScanIds"
		}
		return nil, api.ErrInvalidParameterValue(param, "no node with an online agent is selected: nothing to scan.", "未选中任何 agent 在线的节点，无可扫描的对象。")
	}
	raw, _ := json.Marshal(req)
	params, _ := json.Marshal(virusScanParams{ScanType: scanTypeManual, Spec: spec, Request: raw})
	t, sent, firstErr, err := startContainerScan(ctx, h.Store, disp, c.AccountID,
		store.ScanTask{Kind: store.TaskContainerVirus, Params: params, TimeoutSecs: int64(*req.Timeout) * 3600, CreatedAt: now},
		targets, hosts, spec, now)
	if err != nil {
		return nil, err
	}
	if sent == 0 {
		return nil, api.NewError(api.FailedOperation, "The scan could not be sent to any node; nothing is scanned.",
			"扫描指令未能下发到任何节点，未执行扫描。").Wrap(firstErr)
	}
	if c.Logger != nil && firstErr != nil {
		c.Logger.WarnContext(ctx, "virus scan not sent to every node", "task", t.ID, "sent", sent, "nodes", len(hosts), "err", firstErr)
	}
	return &tcss.CreateVirusScanTaskResponse{TaskID: api.Ptr(strconv.FormatInt(t.ID, 10))}, nil
}

// onlineHosts lists the UUIDs of the account's hosts whose agent is online
// at now (store.HostOfflineAfter).
func onlineHosts(ctx context.Context, st store.Store, accountID int64, now time.Time) ([]string, error) {
	var hosts []string
	for off := 0; ; off += 1000 {
		p, err := st.QueryHosts(ctx, accountID, store.HostQuery{SeenSince: now.Add(-store.HostOfflineAfter), Limit: 1000, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, h := range p.Items {
			hosts = append(hosts, h.UUID)
		}
		if len(p.Items) < 1000 {
			return hosts, nil
		}
	}
}

// startContainerScan stores task t with its targets plus one host target per
// node, marks it running and sends it to each node. A node the command
// cannot reach has its target failed; when none can be reached the task
// fails and sent is 0 (firstErr says why).
func startContainerScan(ctx context.Context, st store.Store, disp ScanDispatcher, accountID int64, t store.ScanTask,
	targets []store.ScanTarget, hosts []string, spec ContainerScanSpec, now time.Time) (task store.ScanTask, sent int, firstErr, err error) {
	for _, u := range hosts {
		targets = append(targets, store.ScanTarget{Kind: "host", TargetID: u})
	}
	if t, err = st.CreateScanTask(ctx, accountID, t, targets); err != nil {
		return t, 0, nil, err
	}
	if err := st.SetScanTaskStatus(ctx, accountID, t.ID, store.TaskRunning, ""); err != nil {
		return t, 0, nil, err
	}
	for _, u := range hosts {
		if err := disp.StartContainerScan(ctx, accountID, u, t.ID, spec); err != nil {
			if ctx.Err() != nil {
				return t, sent, firstErr, ctx.Err()
			}
			firstErr = cmpErr(firstErr, err)
			if err := st.UpdateScanTarget(ctx, accountID, store.ScanTarget{TaskID: t.ID, Kind: "host", TargetID: u,
				Status: store.TaskFailed, Error: "could not be sent: " + err.Error(), FinishedAt: now}); err != nil {
				return t, sent, firstErr, err
			}
			continue
		}
		sent++
	}
	if sent == 0 {
		_ = st.SetScanTaskStatus(ctx, accountID, t.ID, store.TaskFailed, "no agent could be reached")
	}
	return t, sent, firstErr, nil
}

// scanPaths reads ScanPathAll, ScanPathMode, ScanPathType and ScanPath.
// ScanPathMode, when given, wins over ScanPathAll (the official example
// sends ScanPathAll true with SCAN_PATH_DEFAULT).
func scanPaths(req *tcss.CreateVirusScanTaskRequest) (ContainerScanSpec, error) {
	var s ContainerScanSpec
	switch m := api.Value(req.ScanPathMode); m {
	case scanPathAll, scanPathDefault, scanPathUser:
		s.PathMode = m
	case "":
		s.PathMode = scanPathUser
		if *req.ScanPathAll {
			s.PathMode = scanPathAll
		}
	default:
		return s, api.ErrInvalidParameterValue("ScanPathMode", fmt.Sprintf("%q is not SCAN_PATH_ALL, SCAN_PATH_DEFAULT or SCAN_PATH_USER_DEFINE.", m),
			fmt.Sprintf("%q 不是 SCAN_PATH_ALL、SCAN_PATH_DEFAULT、SCAN_PATH_USER_DEFINE 之一。", m))
	}
	if s.PathMode != scanPathUser {
		return s, nil
	}
	switch api.Value(req.ScanPathType) {
	case 0:
	case 1:
		s.Exclude = true
	default:
		return s, api.ErrInvalidParameterValue("ScanPathType", "must be 0 (scan these paths) or 1 (scan all but these).", "取值须为 0（扫描以下路径）或 1（扫描除以下路径）。")
	}
	if len(req.ScanPath) == 0 {
		return s, api.ErrMissingParameter("ScanPath")
	}
	if len(req.ScanPath) > store.MaxWhitelistNames {
		return s, api.ErrInvalidParameterValue("ScanPath", fmt.Sprintf("at most %d paths.", store.MaxWhitelistNames), fmt.Sprintf("最多 %d 个路径。", store.MaxWhitelistNames))
	}
	for i, p := range req.ScanPath {
		v := strings.TrimSpace(api.Value(p))
		if !strings.HasPrefix(v, "/") || len(v) > 4096 {
			return s, api.ErrInvalidParameterValue(fmt.Sprintf("ScanPath.%d", i), fmt.Sprintf("%q is not an absolute path.", v), fmt.Sprintf("%q 不是绝对路径。", v))
		}
		s.Paths = append(s.Paths, v)
	}
	return s, nil
}

// virusTask returns the account's container scan task named by text, or
// its latest one when text is empty (ok false: none).
func (h *handlers) virusTask(ctx context.Context, accountID int64, param, text string) (store.ScanTask, bool, error) {
	if text == "" {
		t, err := h.Store.LatestScanTask(ctx, accountID, store.TaskContainerVirus)
		if errors.Is(err, store.ErrNotFound) {
			return t, false, nil
		}
		return t, err == nil, err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil || id <= 0 {
		return store.ScanTask{}, false, svc.StoreError(store.ErrNotFound, param, text)
	}
	t, err := h.Store.GetScanTask(ctx, accountID, id)
	if err == nil && t.Kind != store.TaskContainerVirus {
		err = store.ErrNotFound // a registry task is not this action's
	}
	if err != nil {
		return t, false, svc.StoreError(err, param, text)
	}
	return t, true, nil
}

// taskWindow is when the task started and when it times out, on the
// handlers' clock (kept in Params: the store stamps CreatedAt with its own).
func taskWindow(t store.ScanTask) (start, deadline time.Time) {
	timeout := time.Duration(t.TimeoutSecs) * time.Second
	var p virusScanParams
	if json.Unmarshal(t.Params, &p) == nil && !p.Spec.Deadline.IsZero() {
		return p.Spec.Deadline.Add(-timeout), p.Spec.Deadline
	}
	return t.CreatedAt, t.CreatedAt.Add(timeout)
}

// expire moves a task past its timeout to TIMEOUT (and tells its agents to
// stop); it reports whether it did.
func expire(ctx context.Context, st store.Store, disp ScanDispatcher, t store.ScanTask, now time.Time) (bool, error) {
	if _, deadline := taskWindow(t); store.TaskDone(t.Status) || t.TimeoutSecs <= 0 || now.Before(deadline) {
		return false, nil
	}
	targets, err := st.ListScanTargets(ctx, t.AccountID, t.ID)
	if err != nil {
		return false, err
	}
	err = st.SetScanTaskStatus(ctx, t.AccountID, t.ID, store.TaskTimeout, "timed out")
	if errors.Is(err, store.ErrConflict) {
		return false, nil // finished meanwhile
	}
	if err != nil {
		return false, err
	}
	if disp != nil {
		for _, tg := range targets {
			if tg.Kind == "host" && !store.TaskDone(tg.Status) {
				_ = disp.StopContainerScan(ctx, t.AccountID, tg.TargetID, t.ID, nil) // best effort: the task is over anyway
			}
		}
	}
	return true, nil
}

func virusScanStatus(status string) string {
	switch status {
	case store.TaskPending, store.TaskRunning:
		return virusScanScanning
	case store.TaskTimeout:
		return virusScanTimeout
	case store.TaskStopped:
		return virusScanCanceled
	case store.TaskFinished, store.TaskFailed:
		return virusScanFinish
	}
	return virusScanNone
}

func (h *handlers) describeVirusScanTaskStatus(ctx context.Context, c *server.Call, req *tcss.DescribeVirusScanTaskStatusRequest) (*tcss.DescribeVirusScanTaskStatusResponse, error) {
	resp := &tcss.DescribeVirusScanTaskStatusResponse{
		ContainerTotal: api.Ptr(uint64(0)), RiskContainerCnt: api.Ptr(uint64(0)), Status: api.Ptr(virusScanNone), Schedule: api.Ptr(uint64(0)),
		ContainerScanCnt: api.Ptr(uint64(0)), RiskCnt: api.Ptr(uint64(0)), LeftSeconds: api.Ptr(uint64(0)),
		StartTime: api.Ptr(""), EndTime: api.Ptr(""), ScanType: api.Ptr(scanTypeManual),
	}
	t, ok, err := h.virusTask(ctx, c.AccountID, "TaskID", api.Value(req.TaskID))
	if err != nil || !ok {
		return resp, err
	}
	now := h.Now()
	if expired, err := expire(ctx, h.Store, h.Virus.Scans, t, now); err != nil {
		return nil, err
	} else if expired {
		if t, err = h.Store.GetScanTask(ctx, c.AccountID, t.ID); err != nil {
			return nil, err
		}
	}
	targets, err := h.Store.ListScanTargets(ctx, c.AccountID, t.ID)
	if err != nil {
		return nil, err
	}
	var containers, scanned, risky, risks, hosts, progress int64
	for _, tg := range targets {
		final := store.TaskDone(tg.Status)
		switch tg.Kind {
		case "container":
			containers++
			if final {
				scanned++
			}
			if tg.RiskCount > 0 {
				risky++
			}
			risks += tg.RiskCount
		case "host":
			hosts++
			if final {
				progress += 100
			} else {
				progress += min(max(tg.Progress, 0), 100)
			}
		}
	}
	schedule := int64(100)
	done := store.TaskDone(t.Status)
	if !done {
		schedule = 0
		if hosts > 0 {
			schedule = min(progress/hosts, 99)
		}
	}
	var left int64
	if !done {
		start, deadline := taskWindow(t)
		left = int64(deadline.Sub(now).Seconds())
		if schedule > 0 {
			est := int64(now.Sub(start).Seconds()) * (100 - schedule) / schedule
			left = min(left, est)
		}
	}
	var params virusScanParams
	_ = json.Unmarshal(t.Params, &params)
	if params.ScanType != "" {
		resp.ScanType = api.Ptr(params.ScanType)
	}
	format := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(virusTimeLayout)
	}
	resp.ContainerTotal = api.Ptr(uint64(containers))
	resp.ContainerScanCnt = api.Ptr(uint64(scanned))
	resp.RiskContainerCnt = api.Ptr(uint64(risky))
	resp.RiskCnt = api.Ptr(uint64(risks))
	resp.Schedule = api.Ptr(uint64(schedule))
	resp.LeftSeconds = api.Ptr(uint64(max(left, 0)))
	resp.Status = api.Ptr(virusScanStatus(t.Status))
	resp.StartTime = api.Ptr(format(t.StartedAt))
	resp.EndTime = api.Ptr(format(t.FinishedAt))
	return resp, nil
}

func (h *handlers) stopVirusScanTask(ctx context.Context, c *server.Call, req *tcss.StopVirusScanTaskRequest) (*tcss.StopVirusScanTaskResponse, error) {
	if api.Value(req.TaskId) == "" {
		return nil, api.ErrMissingParameter("TaskId")
	}
	t, _, err := h.virusTask(ctx, c.AccountID, "TaskId", api.Value(req.TaskId))
	if err != nil {
		return nil, err
	}
	if store.TaskDone(t.Status) {
		return &tcss.StopVirusScanTaskResponse{}, nil // stopping a finished task is a no-op
	}
	targets, err := h.Store.ListScanTargets(ctx, c.AccountID, t.ID)
	if err != nil {
		return nil, err
	}
	var running []string
	known := map[string]store.ScanTarget{}
	for _, tg := range targets {
		if tg.Kind == "host" && !store.TaskDone(tg.Status) {
			running = append(running, tg.TargetID)
		}
		if tg.Kind == "container" {
			known[tg.TargetID] = tg
		}
	}
	now := h.Now()
	containers := svc.Strings(req.ContainerIds)
	if len(containers) == 0 {
		if err := h.Store.SetScanTaskStatus(ctx, c.AccountID, t.ID, store.TaskStopped, "stopped by StopVirusScanTask"); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	} else {
		var added []store.ScanTarget
		for _, id := range containers {
			tg, ok := known[id]
			switch {
			case !ok:
				added = append(added, store.ScanTarget{Kind: "container", TargetID: id, Status: store.TaskStopped, FinishedAt: now})
			case !store.TaskDone(tg.Status):
				tg.Status, tg.FinishedAt = store.TaskStopped, now
				if err := h.Store.UpdateScanTarget(ctx, c.AccountID, tg); err != nil {
					return nil, err
				}
			}
		}
		if err := h.Store.AddScanTargets(ctx, c.AccountID, t.ID, added); err != nil {
			return nil, err
		}
	}
	if h.Virus.Scans != nil {
		for _, u := range running {
			if err := h.Virus.Scans.StopContainerScan(ctx, c.AccountID, u, t.ID, containers); err != nil && c.Logger != nil {
				c.Logger.WarnContext(ctx, "virus scan stop not sent", "task", t.ID, "host", u, "err", err)
			}
		}
	}
	return &tcss.StopVirusScanTaskResponse{}, nil
}

// ContainerScanProgress is one container of an agent's report.
type ContainerScanProgress struct {
	ContainerID string
	Progress    int64 // 0..100
	Done        bool
	RiskCount   int64 // trojan files found in it
	Error       string
}

// HostScanProgress is an agent's report on a scan task.
type HostScanProgress struct {
	Progress   int64 // 0..100 of the host's whole work
	Done       bool  // the host has nothing left to scan
	Error      string
	Containers []ContainerScanProgress
}

// ApplyScanProgress records an agent's report on the container scan task
// taskID: its containers (added to the task when new) and its own
// progress. When every host is done, the task finishes; chosen containers
// no host reported are marked FAILED ("not found"). A report on a task
// already over (stopped, timed out) is ignored; one arriving after the
// task's timeout times it out.
func ApplyScanProgress(ctx context.Context, st store.Store, accountID, taskID int64, hostUUID string, rep HostScanProgress, now time.Time) error {
	t, err := st.GetScanTask(ctx, accountID, taskID)
	if err != nil {
		return err
	}
	if t.Kind != store.TaskContainerVirus {
		return fmt.Errorf("%w: task %d is not a container scan", store.ErrNotFound, taskID)
	}
	if store.TaskDone(t.Status) {
		return nil
	}
	if expired, err := expire(ctx, st, nil, t, now); err != nil || expired {
		return err
	}
	targets, err := st.ListScanTargets(ctx, accountID, taskID)
	if err != nil {
		return err
	}
	known := map[string]store.ScanTarget{}
	for _, tg := range targets {
		known[tg.Kind+"/"+tg.TargetID] = tg
	}
	hostTarget, ok := known["host/"+hostUUID]
	if !ok {
		return fmt.Errorf("%w: host %q is not part of task %d", store.ErrNotFound, hostUUID, taskID)
	}
	state := func(done bool, errMsg string) string {
		switch {
		case done && errMsg != "":
			return store.TaskFailed
		case done:
			return store.TaskFinished
		}
		return store.TaskRunning
	}
	var added []store.ScanTarget
	for _, cp := range rep.Containers {
		if cp.ContainerID == "" {
			continue
		}
		tg := store.ScanTarget{TaskID: taskID, Kind: "container", TargetID: cp.ContainerID, Status: state(cp.Done, cp.Error),
			Progress: min(max(cp.Progress, 0), 100), RiskCount: max(cp.RiskCount, 0), Error: cp.Error}
		if cp.Done {
			tg.FinishedAt = now
		}
		cur, ok := known["container/"+cp.ContainerID]
		switch {
		case !ok:
			tg.StartedAt = now
			added = append(added, tg)
		case store.TaskDone(cur.Status):
			// stopped by the operator, or finished: keep
		default:
			tg.StartedAt = cur.StartedAt
			if tg.StartedAt.IsZero() {
				tg.StartedAt = now
			}
			if err := st.UpdateScanTarget(ctx, accountID, tg); err != nil {
				return err
			}
		}
	}
	if err := st.AddScanTargets(ctx, accountID, taskID, added); err != nil {
		return err
	}
	if !store.TaskDone(hostTarget.Status) {
		hostTarget.Status, hostTarget.Progress, hostTarget.Error = state(rep.Done, rep.Error), min(max(rep.Progress, 0), 100), rep.Error
		if hostTarget.StartedAt.IsZero() {
			hostTarget.StartedAt = now
		}
		if rep.Done {
			hostTarget.FinishedAt, hostTarget.Progress = now, 100
		}
		if err := st.UpdateScanTarget(ctx, accountID, hostTarget); err != nil {
			return err
		}
	}
	return finishIfDone(ctx, st, accountID, taskID, now)
}

// finishIfDone finishes the task when no host is left scanning.
func finishIfDone(ctx context.Context, st store.Store, accountID, taskID int64, now time.Time) error {
	targets, err := st.ListScanTargets(ctx, accountID, taskID)
	if err != nil {
		return err
	}
	for _, tg := range targets {
		if tg.Kind == "host" && !store.TaskDone(tg.Status) {
			return nil
		}
	}
	for _, tg := range targets {
		if tg.Kind == "container" && !store.TaskDone(tg.Status) {
			tg.Status, tg.Error, tg.FinishedAt = store.TaskFailed, "not found on any node", now
			if err := st.UpdateScanTarget(ctx, accountID, tg); err != nil {
				return err
			}
		}
	}
	err = st.SetScanTaskStatus(ctx, accountID, taskID, store.TaskFinished, "")
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// SweepVirusScanTasks times out, across accounts, the container scan tasks
// past their Timeout, telling their agents to stop (disp may be nil). The
// lead runs it periodically (a minute is plenty). It claims the running
// tasks one by one (store.ClaimScanTask, so several servers share the work)
// and holds a task that is not due yet until its deadline, so each task is
// looked at about twice in its life. It returns how many tasks timed out.
func SweepVirusScanTasks(ctx context.Context, st store.Store, disp ScanDispatcher, owner string, now func() time.Time) (int, error) {
	n := 0
	for range 10_000 {
		t, ok, err := st.ClaimScanTask(ctx, store.TaskContainerVirus, owner, time.Minute)
		if err != nil || !ok {
			return n, err
		}
		_, deadline := taskWindow(t)
		if t.TimeoutSecs <= 0 {
			deadline = now().Add(24 * time.Hour) // no timeout: look again tomorrow
		}
		if left := deadline.Sub(now()); left > 0 {
			if err := st.RenewScanTask(ctx, t.ID, owner, left+time.Second); err != nil && !errors.Is(err, store.ErrConflict) {
				return n, err
			}
			continue
		}
		expired, err := expire(ctx, st, disp, t, now())
		if err != nil {
			return n, err
		}
		if expired {
			n++
		}
	}
	return n, nil
}
