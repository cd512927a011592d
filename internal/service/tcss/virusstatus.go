package tcss

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// ModifyVirusFileStatus Status values.
const (
	eventDealed           = "EVENT_DEALED"
	eventIgnore           = "EVENT_IGNORE"
	eventDel              = "EVENT_DEL"
	eventAddWhite         = "EVENT_ADD_WHITE"
	eventPending          = "EVENT_PENDING"
	eventIsolateContainer = "EVENT_ISOLATE_CONTAINER"
	eventRestoreContainer = "EVENT_RESOTRE_CONTAINER" // sic, as documented
	eventRestoreSpelled   = "EVENT_RESTORE_CONTAINER" // accepted too
)

var eventStatuses = []string{eventDealed, eventIgnore, eventDel, eventAddWhite, eventPending, eventIsolateContainer, eventRestoreContainer}

// isolateOperationSrc is ContainerIsolateOperationSrc of an isolation
// started here, worded as the official example.
const isolateOperationSrc = "运行时安全/文件查杀"

// maxRemark bounds Remark (characters).
const maxRemark = 256

// fileAtRest are the statuses of an event whose file is not in, nor
// moving to or from, the quarantine: the plain status changes apply to them.
var fileAtRest = []string{dealNone, dealIgnore, dealAddWhitelist, dealIsolateFailed}

// quarantined are the statuses of an event whose file is in the quarantine.
var quarantined = []string{dealIsolate, dealRecoverFailed}

func (h *handlers) modifyVirusFileStatus(ctx context.Context, c *server.Call, req *tcss.ModifyVirusFileStatusRequest) (*tcss.ModifyVirusFileStatusResponse, error) {
	status := api.Value(req.Status)
	if status == eventRestoreSpelled {
		status = eventRestoreContainer
	}
	if !slices.Contains(eventStatuses, status) {
		return nil, api.ErrInvalidParameterValue("Status", fmt.Sprintf("%q is not one of %s.", status, strings.Join(eventStatuses, ", ")),
			fmt.Sprintf("%q 不是 %s 之一。", status, strings.Join(eventStatuses, "、")))
	}
	if req.Remark != nil && utf8.RuneCountInString(*req.Remark) > maxRemark {
		return nil, api.ErrInvalidParameterValue("Remark", fmt.Sprintf("at most %d characters.", maxRemark), fmt.Sprintf("最多 %d 个字符。", maxRemark))
	}
	events, err := h.virusEventSet(ctx, c.AccountID, req.EventIdSet)
	if err != nil {
		return nil, err
	}
	switch {
	case (status == eventIsolateContainer || status == eventRestoreContainer) && h.Virus.Isolator == nil:
		return nil, api.NewError(api.UnsupportedOperation, "Isolating containers needs the agent channel, which this server does not run.",
			"隔离容器需要 agent 通道，本服务未启用。")
	case status == eventDealed && h.Virus.Quarantiner == nil,
		status == eventPending && h.Virus.Quarantiner == nil && slices.ContainsFunc(events, func(e store.VirusEvent) bool { return slices.Contains(quarantined, e.Status) }):
		return nil, api.NewError(api.UnsupportedOperation, "Isolating and restoring files needs the agent channel, which this server does not run.",
			"隔离与恢复文件需要 agent 通道，本服务未启用。")
	}
	if status == eventIsolateContainer || status == eventRestoreContainer {
		for i, e := range events {
			if e.ContainerID == "" {
				return nil, api.ErrInvalidParameterValue(fmt.Sprintf("EventIdSet.%d", i), fmt.Sprintf("the event %d has no container.", e.ID),
					fmt.Sprintf("事件 %d 没有关联容器。", e.ID))
			}
		}
	}
	now := h.Now()
	ids := make([]int64, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	if req.Remark != nil && status != eventDel {
		if _, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, ids, store.VirusEventUpdate{Mark: req.Remark}); err != nil {
			return nil, err
		}
	}
	if api.Value(req.AutoIsolate) {
		var samples []store.AutoIsolateSample
		for _, e := range events {
			if m := strings.ToLower(e.FileMD5); store.IsMD5(m) {
				samples = append(samples, store.AutoIsolateSample{MD5: m, VirusName: e.VirusName, AutoIsolate: true, ModifyTime: now})
			}
		}
		if err := h.Store.UpsertAutoIsolateSamples(ctx, c.AccountID, samples); err != nil {
			return nil, err
		}
	}
	set := func(ids []int64, from []string, to string) error {
		sub := ""
		_, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, ids, store.VirusEventUpdate{FromStatuses: from, Status: &to, SubStatus: &sub, OperationTime: now})
		return err
	}
	switch status {
	case eventIgnore:
		err = set(ids, fileAtRest, dealIgnore)
	case eventDel:
		_, err = h.Store.DeleteVirusEvents(ctx, c.AccountID, ids)
	case eventAddWhite:
		if err = h.whitelistVirusEvents(ctx, c.AccountID, events, api.Value(req.Remark)); err == nil {
			err = set(ids, fileAtRest, dealAddWhitelist)
		}
	case eventPending:
		var rest []int64
		var back []store.VirusEvent
		for _, e := range events {
			if slices.Contains(quarantined, e.Status) {
				back = append(back, e)
			} else {
				rest = append(rest, e.ID)
			}
		}
		if err = set(rest, fileAtRest, dealNone); err == nil && len(back) > 0 {
			err = h.quarantine(ctx, c, back, true, now)
		}
	case eventDealed:
		var todo []store.VirusEvent
		for _, e := range events {
			if slices.Contains(fileAtRest, e.Status) || e.Status == dealIsolating {
				todo = append(todo, e)
			}
		}
		err = h.quarantine(ctx, c, todo, false, now)
	case eventIsolateContainer, eventRestoreContainer:
		err = h.isolateContainers(ctx, c, events, status == eventIsolateContainer, now)
	}
	if err != nil {
		return nil, svc.StoreError(err, "EventIdSet", "")
	}
	return &tcss.ModifyVirusFileStatusResponse{}, nil
}

// virusEventSet reads EventIdSet: every id must be an event of the account
// (ResourceNotFound naming the first that is not; nothing changes).
func (h *handlers) virusEventSet(ctx context.Context, accountID int64, set []*string) ([]store.VirusEvent, error) {
	if len(set) == 0 {
		return nil, api.ErrMissingParameter("EventIdSet")
	}
	if len(set) > maxVirusEventIDSet {
		return nil, api.ErrInvalidParameterValue("EventIdSet", fmt.Sprintf("at most %d ids.", maxVirusEventIDSet), fmt.Sprintf("最多 %d 个。", maxVirusEventIDSet))
	}
	var ids []int64
	for i, p := range set {
		id, err := strconv.ParseInt(strings.TrimSpace(api.Value(p)), 10, 64)
		if err != nil || id <= 0 {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("EventIdSet.%d", i), fmt.Sprintf("%q is not an event id.", api.Value(p)),
				fmt.Sprintf("%q 不是事件 ID。", api.Value(p)))
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	page, err := h.Store.QueryVirusEvents(ctx, accountID, store.VirusEventQuery{IDs: ids})
	if err != nil {
		return nil, err
	}
	if len(page.Items) != len(ids) {
		for i, p := range set {
			id, _ := strconv.ParseInt(strings.TrimSpace(api.Value(p)), 10, 64)
			if !slices.ContainsFunc(page.Items, func(e store.VirusEvent) bool { return e.ID == id }) {
				return nil, api.NewError(api.ResourceNotFound, fmt.Sprintf("EventIdSet.%d: the event %d does not exist.", i, id),
					fmt.Sprintf("EventIdSet.%d：事件 %d 不存在。", i, id))
			}
		}
	}
	return page.Items, nil
}

// whitelistVirusEvents is EVENT_ADD_WHITE: trust the events' file MD5s in
// their images. Events are grouped by MD5; each group gets one rule for
// its images not already covered (global when an event has no image id).
// Events without an MD5 are only marked.
func (h *handlers) whitelistVirusEvents(ctx context.Context, accountID int64, events []store.VirusEvent, remark string) error {
	type group struct {
		md5    string
		images []string
		global bool
		n      int64
	}
	var order []string
	groups := map[string]*group{}
	for _, e := range events {
		m := strings.ToLower(e.FileMD5)
		if !store.IsMD5(m) {
			continue
		}
		g, ok := groups[m]
		if !ok {
			g = &group{md5: m}
			groups[m] = g
			order = append(order, m)
		}
		if e.ImageID == "" {
			g.global = true
		} else if !slices.Contains(g.images, e.ImageID) {
			g.images = append(g.images, e.ImageID)
		}
		if e.Status != dealAddWhitelist {
			g.n++
		}
	}
	hits := map[int64]int64{}
	for _, m := range order {
		g := groups[m]
		rule := store.WhitelistRule{Product: store.WhitelistTCSS, Mode: store.WhitelistModeMD5, MD5s: []string{m}, Remark: remark}
		if g.global {
			match, err := h.Store.MatchWhitelist(ctx, accountID, store.WhitelistTCSS, "", []store.WhitelistFile{{MD5: m}})
			if err != nil {
				return err
			}
			if match[0] != 0 {
				continue
			}
			rule.IsGlobal = true
		} else {
			files := make([]store.WhitelistFile, len(g.images))
			for i, img := range g.images {
				files[i] = store.WhitelistFile{MD5: m, ImageID: img}
			}
			match, err := h.Store.MatchWhitelist(ctx, accountID, store.WhitelistTCSS, "", files)
			if err != nil {
				return err
			}
			for i, img := range g.images {
				if match[i] == 0 {
					rule.ImageIDs = append(rule.ImageIDs, img)
				}
			}
			if len(rule.ImageIDs) == 0 {
				continue
			}
		}
		created, err := h.Store.CreateWhitelistRule(ctx, accountID, rule)
		if err != nil {
			return err
		}
		hits[created.ID] = g.n
	}
	return h.Store.AddWhitelistHits(ctx, accountID, hits)
}

// quarantine asks the agents to isolate (or restore) the events' files:
// the events move to DEAL_ISOLATING (DEAL_RECOVERING) first, and back to
// what they were when the command cannot be sent.
func (h *handlers) quarantine(ctx context.Context, c *server.Call, events []store.VirusEvent, restore bool, now time.Time) error {
	to, from := dealIsolating, append(slices.Clone(fileAtRest), dealIsolating)
	if restore {
		to, from = dealRecovering, append(slices.Clone(quarantined), dealRecovering)
	}
	var failed []int64
	var firstErr error
	for _, e := range events {
		u := store.VirusEventUpdate{FromStatuses: from, Status: &to, SubStatus: api.Ptr(""), OperationTime: now}
		if !restore {
			u.IsolateMode = api.Ptr(isolateModeManual)
		}
		n, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, []int64{e.ID}, u)
		if err != nil {
			return err
		}
		if n == 0 {
			continue // changed meanwhile
		}
		send := h.Virus.Quarantiner.Quarantine
		if restore {
			send = h.Virus.Quarantiner.Restore
		}
		if err := send(ctx, c.AccountID, e.HostUUID, e.ID, e.FilePath, e.FileMD5); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, e.ID)
			firstErr = cmpErr(firstErr, err)
			// Back to what it was: nothing will ever answer for this one.
			if _, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, []int64{e.ID}, store.VirusEventUpdate{FromStatuses: []string{to},
				Status: &e.Status, SubStatus: &e.SubStatus, IsolateMode: &e.IsolateMode}); err != nil {
				return err
			}
		}
	}
	return sendFailure(ctx, c, "file isolation", failed, len(events), firstErr)
}

// isolateContainers cuts the events' containers off the network (or
// restores them). Network state belongs to the container, so every event
// of the container follows.
func (h *handlers) isolateContainers(ctx context.Context, c *server.Call, events []store.VirusEvent, isolate bool, now time.Time) error {
	type key struct{ host, container string }
	var order []key
	first := map[key]store.VirusEvent{}
	for _, e := range events {
		k := key{e.HostUUID, e.ContainerID}
		if _, ok := first[k]; !ok {
			first[k] = e
			order = append(order, k)
		}
	}
	to, from := netIsolating, []string{"", netNormal, netIsolateFailed, netIsolating}
	if !isolate {
		to, from = netRestoring, []string{netIsolated, netRestoreFailed, netRestoring}
	}
	var failed []int64
	var firstErr error
	for _, k := range order {
		e := first[k]
		ids, err := containerEventIDs(ctx, h.Store, c.AccountID, k.host, k.container, from)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue // already isolated (restored), or moving there
		}
		if _, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, ids, store.VirusEventUpdate{FromNetStatuses: from, ContainerNetStatus: &to,
			ContainerNetSubStatus: api.Ptr(""), ContainerIsolateOperationSrc: api.Ptr(isolateOperationSrc), OperationTime: now}); err != nil {
			return err
		}
		if err := h.Virus.Isolator.IsolateContainer(ctx, c.AccountID, k.host, k.container, isolate, e.ID); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, e.ID)
			firstErr = cmpErr(firstErr, err)
			if _, err := h.Store.UpdateVirusEvents(ctx, c.AccountID, ids, store.VirusEventUpdate{FromNetStatuses: []string{to},
				ContainerNetStatus: &e.ContainerNetStatus, ContainerNetSubStatus: &e.ContainerNetSubStatus}); err != nil {
				return err
			}
		}
	}
	return sendFailure(ctx, c, "container isolation", failed, len(order), firstErr)
}

// containerEventIDs lists the account's events of one container whose
// network status is one of from (all when empty).
func containerEventIDs(ctx context.Context, st store.Store, accountID int64, host, container string, from []string) ([]int64, error) {
	p, err := st.QueryVirusEvents(ctx, accountID, store.VirusEventQuery{
		HostUUIDs:    store.TextFilter{Values: []string{host}, Exact: true},
		ContainerIDs: store.TextFilter{Values: []string{container}, Exact: true},
		NetStatuses:  from, Limit: store.MaxSelectionIDs,
	})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(p.Items))
	for i, e := range p.Items {
		ids[i] = e.ID
	}
	return ids, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func sendFailure(ctx context.Context, c *server.Call, what string, failed []int64, total int, cause error) error {
	if len(failed) == 0 {
		return nil
	}
	if c.Logger != nil {
		c.Logger.WarnContext(ctx, what+" could not be queued", "events", failed, "err", cause)
	}
	return api.NewError(api.FailedOperation,
		fmt.Sprintf("The %s could not be sent for the events %v (%d of %d); their status is unchanged.", what, failed, len(failed), total),
		fmt.Sprintf("事件 %v 的隔离指令未能下发（%d/%d），其状态未变。", failed, len(failed), total)).Wrap(cause)
}

// ApplyContainerIsolationResult applies an agent's answer to an isolation
// (isolate) or restoration of the container of hostUUID: every event of
// the container still ISOLATING becomes ISOLATED, or ISOLATE_FAILED with
// subStatus (AGENT_OFFLINE, CONTAINER_EXITED, SHARED_HOST, …); one still
// RESTORING becomes NORMAL, or RESTORE_FAILED. It returns how many events
// changed; events moved on meanwhile are left alone.
func ApplyContainerIsolationResult(ctx context.Context, st store.Store, accountID int64, hostUUID, containerID string, isolate, ok bool, subStatus string, at time.Time) (int64, error) {
	from, to := netIsolating, netIsolated
	switch {
	case isolate && !ok:
		to = netIsolateFailed
	case !isolate && ok:
		from, to = netRestoring, netNormal
	case !isolate:
		from, to = netRestoring, netRestoreFailed
	}
	if ok {
		subStatus = ""
	}
	var n int64
	for {
		ids, err := containerEventIDs(ctx, st, accountID, hostUUID, containerID, []string{from})
		if err != nil || len(ids) == 0 {
			return n, err
		}
		m, err := st.UpdateVirusEvents(ctx, accountID, ids, store.VirusEventUpdate{FromNetStatuses: []string{from},
			ContainerNetStatus: &to, ContainerNetSubStatus: &subStatus, OperationTime: at})
		n += m
		if err != nil || m == 0 || len(ids) < store.MaxSelectionIDs {
			return n, err
		}
	}
}

// ApplyFileQuarantineResult applies an agent's answer to the isolation
// (restore false) or restoration of the file of the event eventID. An
// isolated file moves the event to DEAL_ISOLATE and records sample (when
// not nil) in the quarantine list; a failure is DEAL_ISOLATE_FAILED with
// subStatus (FILE_NOT_FOUND, CONTAINER_NOT_FOUND_DEAL_ISOLATE, …). A restored
// file moves it back to DEAL_NONE and marks its quarantine samples
// restored; a failure is DEAL_RECOVER_FAILED (FILE_ABNORMAL_DEAL_RECOVER,
// BACKUP_FILE_NOT_FOUND, …). Isolation results are taken from DEAL_NONE
// too: agents isolating on their own (auto-isolation) report that way. An
// event deleted or moved on meanwhile is left alone (the sample is still
// recorded).
func ApplyFileQuarantineResult(ctx context.Context, st store.Store, accountID, eventID int64, restore, ok bool, subStatus string, sample *store.QuarantineSample, at time.Time) error {
	var from []string
	var to string
	u := store.VirusEventUpdate{OperationTime: at}
	switch {
	case !restore && ok:
		from, to = []string{dealIsolating, dealNone, dealIsolateFailed}, dealIsolate
	case !restore:
		from, to = []string{dealIsolating}, dealIsolateFailed
	case ok:
		from, to = []string{dealRecovering, dealRecoverFailed}, dealNone
	default:
		from, to = []string{dealRecovering}, dealRecoverFailed
	}
	if ok {
		subStatus = ""
	}
	u.FromStatuses, u.Status, u.SubStatus = from, &to, &subStatus
	if _, err := st.UpdateVirusEvents(ctx, accountID, []int64{eventID}, u); err != nil {
		return err
	}
	switch {
	case !restore && ok && sample != nil:
		s := *sample
		if s.VirusEventID == 0 {
			s.VirusEventID = eventID
		}
		if _, err := st.RecordQuarantineSample(ctx, accountID, s); err != nil {
			return err
		}
	case restore && ok:
		p, err := st.QueryQuarantineSamples(ctx, accountID, store.QuarantineQuery{VirusEventIDs: []int64{eventID}, Statuses: []string{store.QuarantineIsolated}})
		if err != nil {
			return err
		}
		for _, s := range p.Items {
			if err := st.SetQuarantineSampleStatus(ctx, accountID, s.ID, store.QuarantineRestored, at); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// SuppressedByWhitelist is for the ingest path: it reports whether a new
// trojan file (md5, found in the image imageID, "" when unknown) is
// whitelisted by one of the account's tcss rules, and counts the hit on
// the rule. A suppressed file must not become an event.
func SuppressedByWhitelist(ctx context.Context, st store.Store, accountID int64, md5, imageID string) (bool, error) {
	if md5 == "" {
		return false, nil
	}
	match, err := st.MatchWhitelist(ctx, accountID, store.WhitelistTCSS, "", []store.WhitelistFile{{MD5: md5, ImageID: imageID}})
	if err != nil || match[0] == 0 {
		return false, err
	}
	return true, st.AddWhitelistHits(ctx, accountID, map[int64]int64{match[0]: 1})
}
