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

// The registry image scan tasks (Create…ScanTask, …OneKey, the status and
// stop actions). The tasks are persisted; internal/regscan runs them.

// Task states as DescribeAssetImageRegistryScanStatusOneKey reports them
// (the API's SCAN_* vocabulary; its example shows "SCANNING" for a running task).
const (
	scanStatusNone     = "SCAN_NONE"
	scanStatusScanning = "SCANNING"
	scanStatusFinish   = "SCAN_FINISH"
	scanStatusTimeout  = "SCAN_TIMEOUT"
	scanStatusCanceled = "SCAN_CANCELED"
	scanStatusErr      = "SCAN_ERR"
)

// maxScanTimeout bounds a task's Timeout (7 days).
const maxScanTimeout = 7 * 24 * 3600

func (h *handlers) registerScanActions(mux *server.Mux) {
	server.Handle(mux, Version, tcss.ActionCreateAssetImageRegistryScanTask, h.createAssetImageRegistryScanTask)
	server.Handle(mux, Version, tcss.ActionCreateAssetImageRegistryScanTaskOneKey, h.createAssetImageRegistryScanTaskOneKey)
	server.Handle(mux, Version, tcss.ActionDescribeAssetImageRegistryScanStatusOneKey, h.describeAssetImageRegistryScanStatusOneKey)
	server.Handle(mux, Version, tcss.ActionModifyAssetImageRegistryScanStop, h.modifyAssetImageRegistryScanStop)
}

// scanSelection is the image choice common to the scan actions.
type scanSelection struct {
	All        bool
	Images     []*tcss.ImageInfo
	IDs        []*uint64
	Filters    []*tcss.AssetFilters
	ExcludeIDs []*uint64
	OnlyLatest bool
	// OneKey's extra choices.
	RegistryTypes []string
	Namespaces    []string
	Recommended   bool // ScanScope 2: images never scanned or whose scan failed
	// Parameter names, for messages.
	idsParam, excludeParam string
}

func (s scanSelection) given() bool {
	return s.All || len(s.Images) > 0 || len(s.IDs) > 0 || len(s.Filters) > 0 ||
		len(s.RegistryTypes) > 0 || len(s.Namespaces) > 0 || s.Recommended
}

// scanSelect returns the ids of the selected images. Images and Id name
// images explicitly (an unknown one is ResourceNotFound); otherwise All,
// Filters and the OneKey lists select from the whole catalog. Zero images is
// InvalidParameterValue naming what selected them.
func (h *handlers) scanSelect(ctx context.Context, accountID int64, s scanSelection) ([]int64, error) {
	var exclude []int64
	for _, p := range s.ExcludeIDs {
		if p != nil && *p <= 1<<62 {
			exclude = append(exclude, int64(*p))
		}
	}
	var ids []int64
	param := ""
	if len(s.Images) > 0 || len(s.IDs) > 0 {
		for i, ii := range s.Images {
			if ii == nil {
				continue
			}
			ref := store.ImageRef{RegistryName: api.Value(ii.InstanceName), Namespace: api.Value(ii.Namespace), Name: api.Value(ii.ImageName), Tag: api.Value(ii.ImageTag)}
			img, err := h.Store.FindRegistryImage(ctx, accountID, ref)
			if err != nil {
				return nil, svc.StoreError(err, fmt.Sprintf("Images.%d", i), ref.RegistryName+"/"+ref.Namespace+"/"+ref.Name+":"+ref.Tag)
			}
			ids = append(ids, img.ID)
		}
		var byID []int64
		for _, p := range s.IDs {
			if p == nil {
				continue
			}
			if *p > 1<<62 {
				return nil, svc.StoreError(store.ErrNotFound, s.idsParam, fmt.Sprint(*p))
			}
			byID = append(byID, int64(*p))
		}
		if len(byID) > 0 {
			// Every id must exist in the account: a typo must not silently shrink the task.
			found, err := h.scanImageIDs(ctx, accountID, store.RegistryImageQuery{IDs: byID})
			if err != nil {
				return nil, err
			}
			for _, id := range byID {
				if !slices.Contains(found, id) {
					return nil, svc.StoreError(store.ErrNotFound, s.idsParam, strconv.FormatInt(id, 10))
				}
			}
			ids = append(ids, byID...)
		}
		ids = slices.DeleteFunc(ids, func(id int64) bool { return slices.Contains(exclude, id) })
		slices.Sort(ids)
		ids = slices.Compact(ids)
		param = "Images/" + s.idsParam
	} else {
		q, err := scanImageQuery(s.Filters)
		if err != nil {
			return nil, err
		}
		q.ExcludeIDs, q.OnlyLatest = exclude, s.OnlyLatest
		q.RegistryTypes = append(q.RegistryTypes, s.RegistryTypes...)
		if len(s.Namespaces) > 0 {
			q.Namespaces = store.TextFilter{Values: append(q.Namespaces.Values, s.Namespaces...), Exact: true}
		}
		if s.Recommended {
			q.ScanStatuses = []string{"", "SCAN_ERR"}
		}
		if q.ScanStatuses != nil && len(q.ScanStatuses) == 0 { // a filter that can match nothing
			ids = nil
		} else if ids, err = h.scanImageIDs(ctx, accountID, q); err != nil {
			return nil, err
		}
		param = "All/Filters"
	}
	if len(ids) == 0 {
		return nil, api.NewError(api.InvalidParameterValue,
			fmt.Sprintf("No image is selected by `%s`%s: nothing to scan.", param, excludedNote(len(exclude), s.excludeParam, "")),
			fmt.Sprintf("`%s`%s 未选中任何镜像，无可扫描的镜像。", param, excludedNote(len(exclude), s.excludeParam, "zh")))
	}
	return ids, nil
}

func excludedNote(n int, param, lang string) string {
	if n == 0 || param == "" {
		return ""
	}
	if lang == "zh" {
		return fmt.Sprintf("（已排除 `%s` 中的 %d 个）", param, n)
	}
	return fmt.Sprintf(" (after excluding %d in `%s`)", n, param)
}

// scanImageIDs pages through the images matching q.
func (h *handlers) scanImageIDs(ctx context.Context, accountID int64, q store.RegistryImageQuery) ([]int64, error) {
	const page = 1000
	var ids []int64
	if len(q.IDs) > page {
		for chunk := range slices.Chunk(q.IDs, page) {
			qq := q
			qq.IDs = chunk
			got, err := h.scanImageIDs(ctx, accountID, qq)
			if err != nil {
				return nil, err
			}
			ids = append(ids, got...)
		}
		return ids, nil
	}
	q.Limit = page
	for q.Offset = 0; ; q.Offset += page {
		p, err := h.Store.QueryRegistryImages(ctx, accountID, q)
		if err != nil {
			return nil, svc.StoreError(err, "Filters", "")
		}
		for _, img := range p.Items {
			ids = append(ids, img.ID)
		}
		if len(p.Items) < page {
			return ids, nil
		}
	}
}

// scanImageQuery maps the AssetFilters of the scan actions onto an image
// query. The names are DescribeAssetImageRegistryList's.
func scanImageQuery(fs []*tcss.AssetFilters) (store.RegistryImageQuery, error) {
	in := make([]svc.Filter, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			in = append(in, svc.Filter{Name: api.Value(f.Name), Values: svc.Strings(f.Values), Exact: api.Value(f.ExactMatch)})
		}
	}
	m, err := svc.Filters("Filters", in, "ImageName", "ImageTag", "Namespace", "InstanceName", "ImageDigest", "RegistryType", "ScanStatus", "IsAuthorized", "OnlyShowLatest")
	if err != nil {
		return store.RegistryImageQuery{}, err
	}
	q := store.RegistryImageQuery{
		Names: m["ImageName"].Text(), Tags: m["ImageTag"].Text(), Namespaces: m["Namespace"].Text(),
		RegistryNames: m["InstanceName"].Text(), Digests: m["ImageDigest"].Text(),
	}
	if f, ok := m["RegistryType"]; ok {
		q.RegistryTypes = f.Values
	}
	if f, ok := m["ScanStatus"]; ok {
		q.ScanStatuses = f.Values
	}
	if f, ok := m["OnlyShowLatest"]; ok {
		q.OnlyLatest = slices.Contains(f.Values, "true") || slices.Contains(f.Values, "1")
	}
	// vigil scans every image it lists (there is no per-image licence):
	// "all" and "1" (authorized) select everything, "0" alone nothing.
	if f, ok := m["IsAuthorized"]; ok && !slices.Contains(f.Values, "all") && !slices.Contains(f.Values, "1") {
		q.ScanStatuses = []string{}
	}
	return q, nil
}

// scanTypes checks ScanType. vigil scans images for malware only: VIRUS,
// CVE and RISK are all accepted and every task runs the malware scan, so
// tooling that sends the official example's ["CVE","RISK"] keeps working
// (README "Registry scan tasks and exports"). Other values are an error.
func scanTypes(ts []*string) error {
	for i, t := range ts {
		switch v := api.Value(t); v {
		case "VIRUS", "CVE", "RISK":
		default:
			return api.ErrInvalidParameterValue(fmt.Sprintf("ScanType.%d", i),
				fmt.Sprintf("%q is not a scan type: use VIRUS, CVE or RISK (vigil runs its malware scan for any of them).", v),
				fmt.Sprintf("%q 不是合法的扫描类型，取值为 VIRUS、CVE 或 RISK（vigil 对任一取值都执行木马扫描）。", v))
		}
	}
	return nil
}

func scanTimeout(t *uint64) (int64, error) {
	if t == nil {
		return 0, nil
	}
	if *t > maxScanTimeout {
		return 0, api.ErrInvalidParameterValue("Timeout",
			fmt.Sprintf("at most %d seconds (7 days), got %d.", maxScanTimeout, *t),
			fmt.Sprintf("最大为 %d 秒（7 天），实际为 %d。", maxScanTimeout, *t))
	}
	return int64(*t), nil
}

// createScanTask stores the task and wakes the runner.
func (h *handlers) createScanTask(ctx context.Context, accountID int64, req any, ids []int64, timeout int64) (uint64, error) {
	params, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	targets := make([]store.ScanTarget, len(ids))
	for i, id := range ids {
		targets[i] = store.ScanTarget{Kind: "image", TargetID: strconv.FormatInt(id, 10), Status: store.TaskPending}
	}
	t, err := h.Store.CreateScanTask(ctx, accountID, store.ScanTask{
		Kind: store.TaskRegistryImage, Status: store.TaskPending, Params: params, TimeoutSecs: timeout, CreatedAt: h.Now(),
	}, targets)
	if err != nil {
		return 0, svc.StoreError(err, "Id", "")
	}
	if h.WakeScans != nil {
		h.WakeScans()
	}
	return uint64(t.ID), nil
}

func (h *handlers) createAssetImageRegistryScanTask(ctx context.Context, c *server.Call, req *tcss.CreateAssetImageRegistryScanTaskRequest) (*tcss.CreateAssetImageRegistryScanTaskResponse, error) {
	if err := scanTypes(req.ScanType); err != nil {
		return nil, err
	}
	timeout, err := scanTimeout(req.Timeout)
	if err != nil {
		return nil, err
	}
	sel := scanSelection{
		All: api.Value(req.All), Images: req.Images, IDs: req.Id, Filters: req.Filters,
		ExcludeIDs: req.ExcludeImageList, OnlyLatest: api.Value(req.OnlyScanLatest),
		idsParam: "Id", excludeParam: "ExcludeImageList",
	}
	if !sel.given() {
		return nil, api.NewError(api.MissingParameter, "Choose the images with `All`, `Images`, `Id` or `Filters`.", "请通过 `All`、`Images`、`Id` 或 `Filters` 指定要扫描的镜像。")
	}
	ids, err := h.scanSelect(ctx, c.AccountID, sel)
	if err != nil {
		return nil, err
	}
	id, err := h.createScanTask(ctx, c.AccountID, req, ids, timeout)
	if err != nil {
		return nil, err
	}
	return &tcss.CreateAssetImageRegistryScanTaskResponse{TaskID: api.Ptr(id)}, nil
}

func (h *handlers) createAssetImageRegistryScanTaskOneKey(ctx context.Context, c *server.Call, req *tcss.CreateAssetImageRegistryScanTaskOneKeyRequest) (*tcss.CreateAssetImageRegistryScanTaskOneKeyResponse, error) {
	if err := scanTypes(req.ScanType); err != nil {
		return nil, err
	}
	timeout, err := scanTimeout(req.Timeout)
	if err != nil {
		return nil, err
	}
	sel := scanSelection{
		All: api.Value(req.All), Images: req.Images, IDs: req.Id, ExcludeIDs: req.ExcludeIDs,
		OnlyLatest: api.Value(req.IsLatest), RegistryTypes: svc.Strings(req.RegistryType), Namespaces: svc.Strings(req.Namespace),
		idsParam: "Id", excludeParam: "ExcludeIDs",
	}
	if req.ScanScope != nil {
		switch *req.ScanScope {
		case 0:
			sel.All = true
		case 1: // the chosen images: Images / Id
			if len(req.Images) == 0 && len(req.Id) == 0 {
				return nil, api.NewError(api.MissingParameter, "`ScanScope` 1 scans the chosen images: give them as `Images` or `Id`.", "`ScanScope` 为 1 时须通过 `Images` 或 `Id` 指定镜像。")
			}
		case 2:
			sel.Recommended = true
		default:
			return nil, api.ErrInvalidParameterValue("ScanScope", fmt.Sprintf("must be 0 (all), 1 (chosen) or 2 (recommended), got %d.", *req.ScanScope),
				fmt.Sprintf("取值须为 0（全部）、1（自选）或 2（推荐），实际为 %d。", *req.ScanScope))
		}
	}
	if !sel.given() {
		return nil, api.NewError(api.MissingParameter, "Choose the images with `ScanScope`, `Images`, `Id`, `RegistryType` or `Namespace`.", "请通过 `ScanScope`、`Images`、`Id`、`RegistryType` 或 `Namespace` 指定要扫描的镜像。")
	}
	ids, err := h.scanSelect(ctx, c.AccountID, sel)
	if err != nil {
		return nil, err
	}
	id, err := h.createScanTask(ctx, c.AccountID, req, ids, timeout)
	if err != nil {
		return nil, err
	}
	return &tcss.CreateAssetImageRegistryScanTaskOneKeyResponse{TaskID: api.Ptr(id)}, nil
}

// scanTask returns the task named by taskID, or the account's latest
// registry scan task; ok is false when the account has none.
func (h *handlers) scanTask(ctx context.Context, accountID int64, taskID *uint64) (store.ScanTask, bool, error) {
	if taskID != nil {
		if *taskID > 1<<62 {
			return store.ScanTask{}, false, svc.StoreError(store.ErrNotFound, "TaskID", fmt.Sprint(*taskID))
		}
		t, err := h.Store.GetScanTask(ctx, accountID, int64(*taskID))
		if err == nil && t.Kind != store.TaskRegistryImage {
			err = store.ErrNotFound // a host or container task is not this action's
		}
		if err != nil {
			return store.ScanTask{}, false, svc.StoreError(err, "TaskID", fmt.Sprint(*taskID))
		}
		return t, true, nil
	}
	t, err := h.Store.LatestScanTask(ctx, accountID, store.TaskRegistryImage)
	if errors.Is(err, store.ErrNotFound) {
		return store.ScanTask{}, false, nil
	}
	if err != nil {
		return store.ScanTask{}, false, err
	}
	return t, true, nil
}

// taskScanStatus maps a task's state onto the API's vocabulary.
func taskScanStatus(status string) string {
	switch status {
	case store.TaskPending, store.TaskRunning:
		return scanStatusScanning
	case store.TaskFinished:
		return scanStatusFinish
	case store.TaskTimeout:
		return scanStatusTimeout
	case store.TaskStopped:
		return scanStatusCanceled
	case store.TaskFailed:
		return scanStatusErr
	}
	return scanStatusNone
}

// targetScanStatus maps a target's state onto the image list's vocabulary
// (a queued image of a running task is "SCANNING" at progress 0).
func targetScanStatus(status string) string {
	switch status {
	case store.TaskPending, store.TaskRunning:
		return "SCANNING"
	case store.TaskFinished:
		return "SCANNED"
	case store.TaskTimeout:
		return scanStatusTimeout
	case store.TaskStopped:
		return scanStatusCanceled
	}
	return scanStatusErr
}

func (h *handlers) describeAssetImageRegistryScanStatusOneKey(ctx context.Context, c *server.Call, req *tcss.DescribeAssetImageRegistryScanStatusOneKeyRequest) (*tcss.DescribeAssetImageRegistryScanStatusOneKeyResponse, error) {
	resp := &tcss.DescribeAssetImageRegistryScanStatusOneKeyResponse{
		ImageTotal: api.Ptr(uint64(0)), ImageScanCnt: api.Ptr(uint64(0)), ImageStatus: []*tcss.ImageProgress{},
		SuccessCount: api.Ptr(uint64(0)), RiskCount: api.Ptr(uint64(0)), Schedule: api.Ptr(uint64(0)),
		Status: api.Ptr(scanStatusNone), ScanRemainTime: api.Ptr(uint64(0)),
	}
	t, ok, err := h.scanTask(ctx, c.AccountID, req.TaskID)
	if err != nil || !ok {
		return resp, err
	}
	targets, err := h.Store.ListScanTargets(ctx, c.AccountID, t.ID)
	if err != nil {
		return nil, err
	}
	// Which images' progress to list: Id/Images, or every one with All.
	var want map[string]bool
	switch {
	case len(req.Id) > 0 || len(req.Images) > 0:
		want = make(map[string]bool)
		for _, p := range req.Id {
			if p != nil {
				want[strconv.FormatUint(*p, 10)] = true
			}
		}
		for _, ii := range req.Images {
			if ii == nil {
				continue
			}
			img, err := h.Store.FindRegistryImage(ctx, c.AccountID, store.ImageRef{RegistryName: api.Value(ii.InstanceName), Namespace: api.Value(ii.Namespace), Name: api.Value(ii.ImageName), Tag: api.Value(ii.ImageTag)})
			if err == nil {
				want[strconv.FormatInt(img.ID, 10)] = true
			}
		}
	case api.Value(req.All):
	default:
		want = map[string]bool{} // the official example answers {} with an empty list
	}

	var done, safe, risky, progress int64
	var listed []store.ScanTarget
	for _, tg := range targets {
		final := store.TaskDone(tg.Status)
		if final {
			done++
			progress += 100
		} else {
			progress += min(max(tg.Progress, 0), 100)
		}
		if tg.Status == store.TaskFinished {
			if tg.RiskCount > 0 {
				risky++
			} else {
				safe++
			}
		}
		if want == nil || want[tg.TargetID] {
			listed = append(listed, tg)
		}
	}
	total := int64(len(targets))
	schedule := int64(100)
	if total > 0 {
		schedule = progress / total
	}
	if !store.TaskDone(t.Status) {
		schedule = min(schedule, 99)
	}
	var remain int64
	if !store.TaskDone(t.Status) && done > 0 && !t.StartedAt.IsZero() {
		// The average wall time per finished image so far, times the images left.
		elapsed := h.Now().Sub(t.StartedAt)
		remain = int64((elapsed / time.Duration(done) * time.Duration(total-done)).Seconds())
	}
	resp.ImageTotal = api.Ptr(uint64(total))
	resp.ImageScanCnt = api.Ptr(uint64(done))
	resp.SuccessCount = api.Ptr(uint64(safe))
	resp.RiskCount = api.Ptr(uint64(risky))
	resp.Schedule = api.Ptr(uint64(max(schedule, 0)))
	resp.Status = api.Ptr(taskScanStatus(t.Status))
	resp.ScanRemainTime = api.Ptr(uint64(max(remain, 0)))
	if len(listed) > 0 {
		resp.ImageStatus, err = h.imageProgress(ctx, c.AccountID, listed)
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// imageProgress describes the targets' images, in the targets' order.
func (h *handlers) imageProgress(ctx context.Context, accountID int64, targets []store.ScanTarget) ([]*tcss.ImageProgress, error) {
	regs, err := h.Store.ListRegistries(ctx, accountID)
	if err != nil {
		return nil, err
	}
	byReg := make(map[int64]store.Registry, len(regs))
	for _, r := range regs {
		byReg[r.ID] = r
	}
	ids := make([]int64, 0, len(targets))
	for _, tg := range targets {
		if id, err := strconv.ParseInt(tg.TargetID, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	imgs := make(map[string]store.RegistryImage, len(ids))
	for chunk := range slices.Chunk(ids, 1000) {
		p, err := h.Store.QueryRegistryImages(ctx, accountID, store.RegistryImageQuery{IDs: chunk})
		if err != nil {
			return nil, err
		}
		for _, img := range p.Items {
			imgs[strconv.FormatInt(img.ID, 10)] = img
		}
	}
	out := make([]*tcss.ImageProgress, 0, len(targets))
	for _, tg := range targets {
		img := imgs[tg.TargetID] // zero when deleted since: the id alone is listed
		reg := byReg[img.RegistryID]
		p := tg.Progress
		if store.TaskDone(tg.Status) {
			p = 100
		}
		out = append(out, &tcss.ImageProgress{
			ImageId:          api.Ptr(tg.TargetID),
			RegistryType:     api.Ptr(reg.Type),
			ImageRepoAddress: api.Ptr(strings.TrimPrefix(strings.TrimPrefix(reg.URL, "https://"), "http://")),
			InstanceId:       api.Ptr(reg.InstanceID),
			InstanceName:     api.Ptr(reg.Name),
			Namespace:        api.Ptr(img.Namespace),
			ImageName:        api.Ptr(img.Name),
			ImageTag:         api.Ptr(img.Tag),
			ScanStatus:       api.Ptr(targetScanStatus(tg.Status)),
			// vigil scans for malware only: no CVE or sensitive-data progress.
			CveProgress:   api.Ptr(uint64(0)),
			RiskProgress:  api.Ptr(uint64(0)),
			VirusProgress: api.Ptr(uint64(min(max(p, 0), 100))),
		})
	}
	return out, nil
}

func (h *handlers) modifyAssetImageRegistryScanStop(ctx context.Context, c *server.Call, req *tcss.ModifyAssetImageRegistryScanStopRequest) (*tcss.ModifyAssetImageRegistryScanStopResponse, error) {
	var t store.ScanTask
	if req.TaskID != nil {
		var err error
		if t, _, err = h.scanTask(ctx, c.AccountID, req.TaskID); err != nil {
			return nil, err
		}
	} else {
		sel := scanSelection{
			All: api.Value(req.All), Images: req.Images, IDs: req.Id, Filters: req.Filters,
			ExcludeIDs: req.ExcludeImageList, OnlyLatest: api.Value(req.OnlyScanLatest),
			idsParam: "Id", excludeParam: "ExcludeImageList",
		}
		if !sel.given() {
			return nil, api.NewError(api.MissingParameter, "Give the task as `TaskID`, or its images with `All`, `Images`, `Id` or `Filters`.", "请通过 `TaskID` 指定任务，或通过 `All`、`Images`、`Id`、`Filters` 指定镜像。")
		}
		ids, err := h.scanSelect(ctx, c.AccountID, sel)
		if err != nil {
			return nil, err
		}
		// vigil stops whole tasks: the running task scanning any of the images.
		latest, ok, err := h.scanTask(ctx, c.AccountID, nil)
		if err != nil {
			return nil, err
		}
		if !ok || store.TaskDone(latest.Status) {
			return &tcss.ModifyAssetImageRegistryScanStopResponse{}, nil
		}
		targets, err := h.Store.ListScanTargets(ctx, c.AccountID, latest.ID)
		if err != nil {
			return nil, err
		}
		selected := make(map[string]bool, len(ids))
		for _, id := range ids {
			selected[strconv.FormatInt(id, 10)] = true
		}
		hit := false
		for _, tg := range targets {
			if !store.TaskDone(tg.Status) && selected[tg.TargetID] {
				hit = true
				break
			}
		}
		if !hit {
			return &tcss.ModifyAssetImageRegistryScanStopResponse{}, nil
		}
		t = latest
	}
	err := h.Store.SetScanTaskStatus(ctx, c.AccountID, t.ID, store.TaskStopped, "stopped by ModifyAssetImageRegistryScanStop")
	if err != nil && !errors.Is(err, store.ErrConflict) { // already final: stopping again is a no-op
		return nil, svc.StoreError(err, "TaskID", strconv.FormatInt(t.ID, 10))
	}
	return &tcss.ModifyAssetImageRegistryScanStopResponse{}, nil
}
