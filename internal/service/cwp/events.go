package cwp

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// AgentCommander sends commands to a host's agent.
type AgentCommander interface {
	// Kill asks the agent of hostUUID to kill pid if it still has start
	// time start (never a reused pid); the outcome arrives asynchronously.
	Kill(ctx context.Context, accountID int64, hostUUID string, pid int64, start time.Time, eventID int64) error
}

// registerEventActions: ModifyRiskEventsStatus.
func (h *handlers) registerEventActions(mux *server.Mux) {
	server.Handle(mux, Version, cwp.ActionModifyRiskEventsStatus, h.modifyRiskEventsStatus)
}

// ModifyRiskEventsStatus operations vigil implements for RiskType PROCESS.
const (
	operateHandled   = 0
	operateIgnore    = 1
	operateDelete    = 2
	operateKill      = 7
	operateWhitelist = 8
)

// riskTypes are the documented RiskType values; only PROCESS has events in vigil.
var riskTypes = []string{"MALWARE", "HOST_LOGIN", "BRUTE_ATTACK", "MALICIOUS_REQUEST", "BASH_EVENT", "PRIVILEGE_EVENT", "REVERSE_SHELL", "PROCESS"}

// killable are the statuses a kill applies to: everything but a process
// already killed or gone. A killing event may be killed again (the first
// command may never have reached an offline agent; kills are idempotent).
var killable = []store.HandleStatus{store.HandlePending, store.HandleHandled, store.HandleKilling, store.HandleIgnored}

func (h *handlers) modifyRiskEventsStatus(ctx context.Context, c *server.Call, req *cwp.ModifyRiskEventsStatusRequest) (*cwp.ModifyRiskEventsStatusResponse, error) {
	rt := api.Value(req.RiskType)
	switch {
	case rt == "PROCESS":
	case slices.Contains(riskTypes, rt):
		return nil, api.NewError(api.UnsupportedOperation,
			fmt.Sprintf("RiskType %s is not supported: vigil records risk-process events only (RiskType PROCESS).", rt),
			fmt.Sprintf("不支持 RiskType %s：vigil 仅记录异常进程事件（RiskType PROCESS）。", rt))
	default:
		return nil, api.ErrInvalidParameterValue("RiskType", fmt.Sprintf("%q is not one of %s.", rt, strings.Join(riskTypes, ", ")),
			fmt.Sprintf("%q 不是 %s 之一。", rt, strings.Join(riskTypes, "、")))
	}
	op := api.Value(req.Operate)
	switch op {
	case operateHandled, operateIgnore, operateDelete, operateKill, operateWhitelist:
	case 3, 4, 5, 6:
		return nil, api.ErrInvalidParameterValue("Operate", fmt.Sprintf("%d applies to RiskType MALWARE; for PROCESS use 0 (handled), 1 (ignore), 2 (delete), 7 (kill) or 8 (whitelist).", op),
			fmt.Sprintf("%d 仅适用于 RiskType MALWARE；PROCESS 可用 0（已处理）、1（忽略）、2（删除）、7（查杀）、8（加白）。", op))
	default:
		return nil, api.ErrInvalidParameterValue("Operate", fmt.Sprintf("%d is not 0, 1, 2, 7 or 8.", op), fmt.Sprintf("%d 不是 0、1、2、7、8 之一。", op))
	}
	if op == operateKill && h.Agents == nil {
		return nil, api.NewError(api.UnsupportedOperation, "Killing processes needs the agent protocol, which this server does not run.",
			"查杀进程需要 agent 通道，本服务未启用。")
	}
	sel, err := h.riskEventSelection(ctx, c.AccountID, req)
	if err != nil {
		return nil, err
	}
	now := h.Now()
	switch op {
	case operateHandled, operateIgnore:
		st := store.HandleHandled
		if op == operateIgnore {
			st = store.HandleIgnored
		}
		_, err = h.Store.SetRiskEventsStatus(ctx, c.AccountID, sel, st, now)
	case operateDelete:
		_, err = h.Store.DeleteRiskEvents(ctx, c.AccountID, sel)
	case operateKill:
		err = h.kill(ctx, c, sel, now)
	case operateWhitelist:
		err = h.whitelistEvents(ctx, c.AccountID, sel, now)
	}
	if err != nil {
		return nil, svc.StoreError(err, "Ids", "")
	}
	// Everything is done when the call returns, except the kills, whose
	// progress HandleStatus shows (killing → killed/exited).
	return &cwp.ModifyRiskEventsStatusResponse{IsSync: api.Ptr(uint64(0))}, nil
}

// riskEventSelection reads Ids, or UpdateAll with ExcludeId and Filters.
// Every id of Ids must be an event of the account (ResourceNotFound naming
// the first that is not, and nothing changes), as everywhere in vigil.
func (h *handlers) riskEventSelection(ctx context.Context, accountID int64, req *cwp.ModifyRiskEventsStatusRequest) (store.RiskEventSelection, error) {
	var sel store.RiskEventSelection
	if len(req.Ids) > 0 {
		if len(req.Ids) > store.MaxSelectionIDs {
			return sel, api.ErrInvalidParameterValue("Ids", fmt.Sprintf("at most %d ids.", store.MaxSelectionIDs), fmt.Sprintf("最多 %d 个。", store.MaxSelectionIDs))
		}
		for i, p := range req.Ids {
			if p == nil || *p == 0 || *p > 1<<62 {
				return sel, api.ErrInvalidParameterValue(fmt.Sprintf("Ids.%d", i), "must be an event id.", "须为事件 ID。")
			}
			if id := int64(*p); !slices.Contains(sel.IDs, id) {
				sel.IDs = append(sel.IDs, id)
			}
		}
		refs, err := h.Store.SelectRiskEvents(ctx, accountID, sel, 0)
		if err != nil {
			return sel, err
		}
		if len(refs) != len(sel.IDs) {
			for i, p := range req.Ids {
				if !slices.ContainsFunc(refs, func(r store.RiskEventRef) bool { return r.ID == int64(*p) }) {
					return sel, api.NewError(api.ResourceNotFound,
						fmt.Sprintf("Ids.%d: the event %d does not exist.", i, *p), fmt.Sprintf("Ids.%d：事件 %d 不存在。", i, *p))
				}
			}
		}
		return sel, nil
	}
	if !api.Value(req.UpdateAll) {
		return sel, api.ErrMissingParameter("Ids")
	}
	sel.All = true
	if len(req.ExcludeId) > store.MaxSelectionIDs {
		return sel, api.ErrInvalidParameterValue("ExcludeId", fmt.Sprintf("at most %d ids.", store.MaxSelectionIDs), fmt.Sprintf("最多 %d 个。", store.MaxSelectionIDs))
	}
	for _, p := range req.ExcludeId {
		if p != nil && *p <= 1<<62 {
			sel.ExcludeIDs = append(sel.ExcludeIDs, int64(*p))
		}
	}
	filters := make([]*cwp.Filter, 0, len(req.Filters))
	for _, f := range req.Filters {
		if f != nil {
			filters = append(filters, &cwp.Filter{Name: f.Name, Values: f.Values, ExactMatch: f.ExactMatch})
		}
	}
	q, err := h.riskEventQuery(filters, nil, nil)
	if err != nil {
		return sel, err
	}
	sel.Filter = q
	return sel, nil
}

// kill marks the selected killable events killing and asks their agents to
// kill the processes; the agents' results move them on (KillOutcome).
func (h *handlers) kill(ctx context.Context, c *server.Call, sel store.RiskEventSelection, now time.Time) error {
	sel.Filter.HandleStatuses = narrow(sel.Filter.HandleStatuses, killable)
	if len(sel.Filter.HandleStatuses) == 0 {
		return nil
	}
	refs, err := h.Store.SelectRiskEvents(ctx, c.AccountID, sel, store.MaxSelectionIDs+1)
	if err != nil {
		return err
	}
	if len(refs) > store.MaxSelectionIDs {
		return api.NewError(api.LimitExceeded,
			fmt.Sprintf("More than %d processes selected: narrow Filters or name them by Ids.", store.MaxSelectionIDs),
			fmt.Sprintf("选中的进程超过 %d 个：请缩小 Filters 或用 Ids 指定。", store.MaxSelectionIDs))
	}
	if len(refs) == 0 {
		return nil
	}
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	if _, err := h.Store.SetRiskEventsStatus(ctx, c.AccountID, store.RiskEventSelection{IDs: ids,
		Filter: store.RiskProcessEventQuery{HandleStatuses: killable}}, store.HandleKilling, now); err != nil {
		return err
	}
	var failed []int64
	var firstErr error
	for _, r := range refs {
		if err := h.Agents.Kill(ctx, c.AccountID, r.HostUUID, r.PID, r.ProcessStartTime, r.ID); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, r.ID)
			firstErr = cmp(firstErr, err)
			// Back to what it was: nothing will ever answer for this one.
			if _, err := h.Store.SetRiskEventsStatus(ctx, c.AccountID, store.RiskEventSelection{IDs: []int64{r.ID},
				Filter: store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandleKilling}}}, r.HandleStatus, now); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		if c.Logger != nil {
			c.Logger.WarnContext(ctx, "kill could not be queued", "events", failed, "err", firstErr)
		}
		return api.NewError(api.FailedOperation,
			fmt.Sprintf("The kill could not be sent for the events %v (%d of %d); their status is unchanged.", failed, len(failed), len(refs)),
			fmt.Sprintf("事件 %v 的查杀指令未能下发（%d/%d），其状态未变。", failed, len(failed), len(refs))).Wrap(firstErr)
	}
	return nil
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// narrow intersects a status filter with allowed (an empty filter is all).
func narrow(filter, allowed []store.HandleStatus) []store.HandleStatus {
	if len(filter) == 0 {
		return allowed
	}
	var out []store.HandleStatus
	for _, s := range filter {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}

// whitelistEvents is Operate 8: trust the selected events' executables on
// their hosts and mark the events ignored. Events are grouped by exe MD5 (by
// path — file name in its directory, exact — when the agent could not hash
// the file); each group gets one rule listing the group's hosts (QUUIDs) not
// already covered by a rule. Per host, not global: trusting a binary seen on
// one machine should not silently trust it everywhere (CreateMalwareWhiteList
// with IsGlobal does that on purpose).
func (h *handlers) whitelistEvents(ctx context.Context, accountID int64, sel store.RiskEventSelection, now time.Time) error {
	refs, err := h.Store.SelectRiskEvents(ctx, accountID, sel, store.MaxSelectionIDs+1)
	if err != nil {
		return err
	}
	if len(refs) > store.MaxSelectionIDs {
		return api.NewError(api.LimitExceeded,
			fmt.Sprintf("More than %d events selected: narrow Filters or name them by Ids.", store.MaxSelectionIDs),
			fmt.Sprintf("选中的事件超过 %d 个：请缩小 Filters 或用 Ids 指定。", store.MaxSelectionIDs))
	}
	type group struct {
		file   store.WhitelistFile
		quuids []string
		events int64
	}
	var keys []string
	groups := map[string]*group{}
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
		key := "md5:" + strings.ToLower(r.ExeMD5)
		if !store.IsMD5(strings.ToLower(r.ExeMD5)) {
			if r.ExePath == "" {
				continue // nothing to trust by; the event is still ignored
			}
			key = "path:" + r.ExePath
		}
		g, ok := groups[key]
		if !ok {
			g = &group{file: store.WhitelistFile{MD5: strings.ToLower(r.ExeMD5), Path: r.ExePath}}
			groups[key] = g
			keys = append(keys, key)
		}
		if r.QUUID != "" && !slices.Contains(g.quuids, r.QUUID) {
			g.quuids = append(g.quuids, r.QUUID)
		}
		if r.HandleStatus != store.HandleIgnored {
			g.events++
		}
	}
	hits := map[int64]int64{}
	for _, key := range keys {
		g := groups[key]
		var uncovered []string
		for _, q := range g.quuids {
			m, err := h.Store.MatchWhitelist(ctx, accountID, store.WhitelistCWP, q, []store.WhitelistFile{g.file})
			if err != nil {
				return err
			}
			if m[0] == 0 {
				uncovered = append(uncovered, q)
			}
		}
		if len(uncovered) == 0 {
			continue
		}
		rule := store.WhitelistRule{Product: store.WhitelistCWP, QUUIDs: uncovered}
		if strings.HasPrefix(key, "md5:") {
			rule.Mode, rule.MD5s = store.WhitelistModeMD5, []string{g.file.MD5}
		} else {
			rule.Mode, rule.MatchType = store.WhitelistModeCustom, store.MatchExact
			rule.FileNames, rule.FileDirs = []string{path.Base(g.file.Path)}, []string{path.Dir(g.file.Path)}
		}
		created, err := h.Store.CreateWhitelistRule(ctx, accountID, rule)
		if err != nil {
			return err
		}
		hits[created.ID] = g.events
	}
	if len(ids) > 0 {
		if _, err := h.Store.SetRiskEventsStatus(ctx, accountID, store.RiskEventSelection{IDs: ids}, store.HandleIgnored, now); err != nil {
			return err
		}
	}
	return h.Store.AddWhitelistHits(ctx, accountID, hits)
}

// KillOutcome applies an agent's answer to a kill of the account's event
// eventID: a killing event becomes killed, or exited when the process was
// already gone; after a failure it goes back to pending (the error stays on
// the command). An event no longer killing (handled, deleted meanwhile) is
// left alone.
func KillOutcome(ctx context.Context, st store.Store, accountID, eventID int64, killed, exited bool, at time.Time) error {
	next := store.HandlePending
	switch {
	case exited:
		next = store.HandleExited
	case killed:
		next = store.HandleKilled
	}
	_, err := st.SetRiskEventsStatus(ctx, accountID, store.RiskEventSelection{IDs: []int64{eventID},
		Filter: store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandleKilling}}}, next, at)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
