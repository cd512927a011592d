package tcss

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// The runtime trojan-file actions (issue 5): DescribeVirusList,
// DescribeVirusSummary, ExportVirusList (this file), ModifyVirusFileStatus
// (virusstatus.go), the auto-isolation settings and the whitelist
// (virussettings.go), and the one-click scan tasks (virusscan.go). Whatever
// needs a host's agent goes through the interfaces of VirusAgents; the
// agents' answers come back through the Apply* functions.

// ContainerIsolator cuts a container off the network inside its network
// namespace (isolate) or restores it. The outcome arrives asynchronously
// through ApplyContainerIsolationResult.
type ContainerIsolator interface {
	IsolateContainer(ctx context.Context, accountID int64, hostUUID, containerID string, isolate bool, eventID int64) error
}

// FileQuarantiner moves a trojan file into the host's encrypted quarantine,
// or puts it back. The outcome arrives through ApplyFileQuarantineResult.
type FileQuarantiner interface {
	Quarantine(ctx context.Context, accountID int64, hostUUID string, eventID int64, path, md5 string) error
	Restore(ctx context.Context, accountID int64, hostUUID string, eventID int64, path, md5 string) error
}

// ContainerScanSpec is what an agent scans for a CreateVirusScanTask.
type ContainerScanSpec struct {
	// ContainerIDs are the containers to scan; empty: every container of
	// the host. An agent without one of them reports nothing for it.
	ContainerIDs []string `json:"container_ids,omitempty"`
	// PathMode is SCAN_PATH_ALL, SCAN_PATH_DEFAULT or SCAN_PATH_USER_DEFINE;
	// with the latter, Paths are included (Exclude false) or excluded.
	PathMode string   `json:"path_mode"`
	Paths    []string `json:"paths,omitempty"`
	Exclude  bool     `json:"exclude,omitempty"`
	// Deadline is when the server gives up on the task.
	Deadline time.Time `json:"deadline"`
	// Scheduled: started by the server's schedule (findings SourceType 1).
	Scheduled bool `json:"scheduled,omitempty"`
}

// ScanDispatcher starts and stops one-click scans on the hosts' agents;
// progress comes back through ApplyScanProgress.
type ScanDispatcher interface {
	StartContainerScan(ctx context.Context, accountID int64, hostUUID string, taskID int64, spec ContainerScanSpec) error
	// StopContainerScan stops the task on the host: the containers
	// containerIDs only, or all of it when empty.
	StopContainerScan(ctx context.Context, accountID int64, hostUUID string, taskID int64, containerIDs []string) error
}

// VirusAgents is what the trojan-file actions need from the agent side.
// Each may be nil: the actions needing it answer UnsupportedOperation.
type VirusAgents struct {
	Isolator    ContainerIsolator
	Quarantiner FileQuarantiner
	Scans       ScanDispatcher
	// VirusDBTime is when the detection rules last changed
	// (DescribeVirusSummary's VirusDataBaseModifyTime); nil: "".
	VirusDBTime func() time.Time
}

// Event states (VirusInfo.Status) and sub-states.
const (
	dealNone           = store.VirusStatusNone
	dealIgnore         = "DEAL_IGNORE"
	dealAddWhitelist   = "DEAL_ADD_WHITELIST"
	dealDel            = "DEAL_DEL"
	dealIsolate        = "DEAL_ISOLATE"
	dealIsolating      = "DEAL_ISOLATING"
	dealIsolateFailed  = "DEAL_ISOLATE_FAILED"
	dealRecovering     = "DEAL_RECOVERING"
	dealRecoverFailed  = "DEAL_RECOVER_FAILED"
	netNormal          = "NORMAL"
	netIsolated        = "ISOLATED"
	netIsolating       = "ISOLATING"
	netIsolateFailed   = "ISOLATE_FAILED"
	netRestoring       = "RESTORING"
	netRestoreFailed   = "RESTORE_FAILED"
	isolateModeManual  = "MANUAL"
	isolateModeAuto    = "AUTO"
	virusTimeLayout    = time.DateTime
	virusExportKind    = "tcss." + tcss.ActionExportVirusList
	maxVirusEventIDSet = 1000
)

var (
	virusStatuses     = []string{dealNone, dealIgnore, dealAddWhitelist, dealDel, dealIsolate, dealIsolating, dealIsolateFailed, dealRecovering, dealRecoverFailed}
	netStatuses       = []string{netNormal, netIsolated, netIsolating, netIsolateFailed, netRestoring, netRestoreFailed}
	containerStatuses = []string{"RUNNING", "PAUSED", "STOPPED", "CREATED", "DESTROYED", "RESTARTING", "REMOVING"}
)

func (h *handlers) registerVirusActions(mux *server.Mux) {
	server.Handle(mux, Version, tcss.ActionDescribeVirusList, h.describeVirusList)
	server.Handle(mux, Version, tcss.ActionDescribeVirusSummary, h.describeVirusSummary)
	server.Handle(mux, Version, tcss.ActionExportVirusList, h.exportVirusList)
	server.Handle(mux, Version, tcss.ActionModifyVirusFileStatus, h.modifyVirusFileStatus)
	server.Handle(mux, Version, tcss.ActionModifyVirusAutoIsolateSetting, h.modifyVirusAutoIsolateSetting)
	server.Handle(mux, Version, tcss.ActionDescribeVirusAutoIsolateSetting, h.describeVirusAutoIsolateSetting)
	server.Handle(mux, Version, tcss.ActionDescribeVirusAutoIsolateSampleList, h.describeVirusAutoIsolateSampleList)
	server.Handle(mux, Version, tcss.ActionAddOrModifyVirusWhiteListRule, h.addOrModifyVirusWhiteListRule)
	server.Handle(mux, Version, tcss.ActionDescribeVirusWhiteListRules, h.describeVirusWhiteListRules)
	server.Handle(mux, Version, tcss.ActionDeleteVirusWhiteListRule, h.deleteVirusWhiteListRule)
	server.Handle(mux, Version, tcss.ActionCreateVirusScanTask, h.createVirusScanTask)
	server.Handle(mux, Version, tcss.ActionDescribeVirusScanTaskStatus, h.describeVirusScanTaskStatus)
	server.Handle(mux, Version, tcss.ActionStopVirusScanTask, h.stopVirusScanTask)
}

// pickText is the text in the caller's language, or the other one when the
// catalog has only that.
func pickText(l api.Language, en, zh string) string {
	if s := l.Pick(en, zh); s != "" {
		return s
	}
	return l.Pick(zh, en)
}

func runtimeFilters(fs []*tcss.RunTimeFilters) []svc.Filter {
	in := make([]svc.Filter, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			in = append(in, svc.Filter{Name: api.Value(f.Name), Values: svc.Strings(f.Values), Exact: api.Value(f.ExactMatch)})
		}
	}
	return in
}

// oneOf checks the values of an enum filter.
func oneOf(f svc.Filter, allowed []string) ([]string, error) {
	for i, v := range f.Values {
		ok := false
		for _, a := range allowed {
			ok = ok || v == a
		}
		if !ok {
			return nil, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("%q is not one of %s.", v, strings.Join(allowed, ", ")),
				fmt.Sprintf("%q 不是 %s 之一。", v, strings.Join(allowed, "、")))
		}
	}
	return f.Values, nil
}

// timeBounds reads a [from, to] filter; an empty value is open.
func timeBounds(f svc.Filter) (from, to time.Time, err error) {
	if len(f.Values) != 2 {
		return from, to, api.ErrInvalidParameterValue(f.Param+".Values", "needs two values: the start and the end (\"2022-03-31 16:55:00\").",
			"需要两个取值：开始与结束时间（\"2022-03-31 16:55:00\"）。")
	}
	if v := strings.TrimSpace(f.Values[0]); v != "" {
		if from, err = svc.ParseTime(f.ValueParam(0), v, time.UTC); err != nil {
			return
		}
	}
	if v := strings.TrimSpace(f.Values[1]); v != "" {
		if to, err = svc.ParseTime(f.ValueParam(1), v, time.UTC); err != nil {
			return
		}
	}
	return from, to, nil
}

// virusListFilters are DescribeVirusList's documented filters, plus Status,
// CreateTime and ModifyTime (vigil's).
var virusListFilters = []string{"FileName", "FilePath", "VirusName", "ContainerName", "ContainerId", "ImageName", "ImageId",
	"IsRealTime", "TaskId", "ContainerNetStatus", "TimeRange", "ContainerStatus", "AutoIsolateMode", "MD5", "Status", "CreateTime", "ModifyTime"}

// virusListQuery maps the list's Filters, Order and By onto a store query
// (shared by DescribeVirusList and ExportVirusList).
func virusListQuery(filters []*tcss.RunTimeFilters, order, by *string) (store.VirusEventQuery, error) {
	var q store.VirusEventQuery
	fs, err := svc.Filters("Filters", runtimeFilters(filters), virusListFilters...)
	if err != nil {
		return q, err
	}
	q.FileNames, q.FilePaths, q.VirusNames = fs["FileName"].Text(), fs["FilePath"].Text(), fs["VirusName"].Text()
	q.ContainerNames, q.ContainerIDs = fs["ContainerName"].Text(), fs["ContainerId"].Text()
	q.ImageNames, q.ImageIDs, q.MD5s = fs["ImageName"].Text(), fs["ImageId"].Text(), fs["MD5"].Text()
	if f, ok := fs["IsRealTime"]; ok {
		var rt, scan bool
		for i, v := range f.Values {
			switch strings.TrimSpace(strings.ToLower(v)) {
			case "1", "true":
				rt = true
			case "0", "false":
				scan = true
			default:
				return q, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("%q is not 0 or 1.", v), fmt.Sprintf("%q 不是 0 或 1。", v))
			}
		}
		if rt != scan { // both: no constraint
			q.RealTime = &rt
		}
	}
	if f, ok := fs["TaskId"]; ok {
		for i, v := range f.Values {
			id, err := svc.ParseInt(f.ValueParam(i), v)
			if err != nil {
				return q, err
			}
			q.TaskIDs = append(q.TaskIDs, id)
		}
	}
	for _, e := range []struct {
		name    string
		allowed []string
		dst     *[]string
	}{{"ContainerNetStatus", netStatuses, &q.NetStatuses}, {"ContainerStatus", containerStatuses, &q.ContainerStatuses},
		{"AutoIsolateMode", []string{isolateModeManual, isolateModeAuto}, &q.IsolateModes}, {"Status", virusStatuses, &q.Statuses}} {
		if f, ok := fs[e.name]; ok {
			if *e.dst, err = oneOf(f, e.allowed); err != nil {
				return q, err
			}
		}
	}
	if slices := q.NetStatuses; len(slices) > 0 {
		for _, s := range slices {
			if s == netNormal { // events stored before any isolation have no status: they are NORMAL
				q.NetStatuses = append(q.NetStatuses, "")
				break
			}
		}
	}
	if f, ok := fs["TimeRange"]; ok {
		from, to, err := timeBounds(f)
		if err != nil {
			return q, err
		}
		// Events seen during the range: first found before its end, last
		// found after its start.
		q.ModifiedFrom, q.CreatedTo = from, to
	}
	if f, ok := fs["CreateTime"]; ok {
		if q.CreatedFrom, q.CreatedTo, err = timeBounds(f); err != nil {
			return q, err
		}
	}
	if f, ok := fs["ModifyTime"]; ok {
		if q.ModifiedFrom, q.ModifiedTo, err = timeBounds(f); err != nil {
			return q, err
		}
	}
	if q.Desc, err = svc.Desc(order); err != nil {
		return q, err
	}
	switch api.Value(by) {
	case "", "ModifyTime":
	case "CreateTime":
		q.OrderBy = store.VirusByCreateTime
	case "FileName":
		q.OrderBy = store.VirusByFileName
	case "FilePath":
		q.OrderBy = store.VirusByFilePath
	case "ContainerName":
		q.OrderBy = store.VirusByContainerName
	case "ImageName":
		q.OrderBy = store.VirusByImageName
	case "VirusName":
		q.OrderBy = store.VirusByVirusName
	default:
		return q, api.ErrInvalidParameterValue("By", fmt.Sprintf("%q is not ModifyTime, CreateTime, FileName, FilePath, ContainerName, ImageName or VirusName.", api.Value(by)),
			fmt.Sprintf("%q 不是 ModifyTime、CreateTime、FileName、FilePath、ContainerName、ImageName、VirusName 之一。", api.Value(by)))
	}
	return q, nil
}

func netStatus(s string) string {
	if s == "" {
		return netNormal
	}
	return s
}

func virusInfo(e store.VirusEvent, lang api.Language) *tcss.VirusInfo {
	return &tcss.VirusInfo{
		FileName:                     api.Ptr(e.FileName),
		FilePath:                     api.Ptr(e.FilePath),
		VirusName:                    api.Ptr(e.VirusName),
		CreateTime:                   api.Ptr(svc.FormatRFC3339(e.CreateTime)),
		ModifyTime:                   api.Ptr(svc.FormatRFC3339(e.ModifyTime)),
		ContainerName:                api.Ptr(e.ContainerName),
		ContainerId:                  api.Ptr(e.ContainerID),
		ContainerStatus:              api.Ptr(e.ContainerStatus),
		ImageName:                    api.Ptr(e.ImageName),
		ImageId:                      api.Ptr(e.ImageID),
		Status:                       api.Ptr(e.Status),
		Id:                           api.Ptr(strconv.FormatInt(e.ID, 10)),
		HarmDescribe:                 api.Ptr(pickText(lang, e.Threat.Desc.EN, e.Threat.Desc.ZH)),
		SuggestScheme:                api.Ptr(pickText(lang, e.Threat.Solution.EN, e.Threat.Solution.ZH)),
		SubStatus:                    api.Ptr(e.SubStatus),
		ContainerNetStatus:           api.Ptr(netStatus(e.ContainerNetStatus)),
		ContainerNetSubStatus:        api.Ptr(e.ContainerNetSubStatus),
		ContainerIsolateOperationSrc: api.Ptr(e.ContainerIsolateOperationSrc),
		MD5:                          api.Ptr(e.FileMD5),
		RiskLevel:                    api.Ptr(e.RiskLevel),
		CheckPlatform:                svc.StringPtrs(e.CheckPlatform),
		NodeID:                       api.Ptr(e.NodeID),
		NodeName:                     api.Ptr(e.NodeName),
		PodIP:                        api.Ptr(e.PodIP),
		PodName:                      api.Ptr(e.PodName),
		ClusterID:                    api.Ptr(e.ClusterID),
		NodeType:                     api.Ptr(e.NodeType),
		PublicIP:                     api.Ptr(e.Host.PublicIP),
		InnerIP:                      api.Ptr(e.Host.PrivateIP),
		NodeUniqueID:                 api.Ptr(e.NodeUniqueID),
		HostID:                       api.Ptr(e.Host.UUID),
		ClusterName:                  api.Ptr(e.ClusterName),
		HostIP:                       api.Ptr(e.Host.PrivateIP),
	}
}

func (h *handlers) describeVirusList(ctx context.Context, c *server.Call, req *tcss.DescribeVirusListRequest) (*tcss.DescribeVirusListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	q, err := virusListQuery(req.Filters, req.Order, req.By)
	if err != nil {
		return nil, err
	}
	q.Limit, q.Offset = limit, offset
	page, err := h.Store.QueryVirusEvents(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	resp := &tcss.DescribeVirusListResponse{TotalCount: api.Ptr(uint64(max(page.Total, 0))), List: make([]*tcss.VirusInfo, 0, len(page.Items))}
	for _, e := range page.Items {
		resp.List = append(resp.List, virusInfo(e, c.Language))
	}
	return resp, nil
}

// describeVirusSummary counts from the events. "Compared to yesterday" is
// the change over the last 24 hours: the pending events (and containers
// with one) that appeared in that window, and the files isolated in it.
func (h *handlers) describeVirusSummary(ctx context.Context, c *server.Call, _ *tcss.DescribeVirusSummaryRequest) (*tcss.DescribeVirusSummaryResponse, error) {
	now := h.Now()
	dayAgo := now.Add(-24 * time.Hour)
	pending := store.VirusEventQuery{Statuses: []string{dealNone}, Limit: 1}
	count := func(q store.VirusEventQuery) (int64, error) {
		q.Limit = 1
		p, err := h.Store.QueryVirusEvents(ctx, c.AccountID, q)
		return p.Total, err
	}
	riskCnt, err := count(pending)
	if err != nil {
		return nil, err
	}
	old := pending
	old.CreatedTo = dayAgo
	riskOld, err := count(old)
	if err != nil {
		return nil, err
	}
	containers, err := h.Store.CountVirusContainers(ctx, c.AccountID, pending)
	if err != nil {
		return nil, err
	}
	containersOld, err := h.Store.CountVirusContainers(ctx, c.AccountID, old)
	if err != nil {
		return nil, err
	}
	isolated := store.VirusEventQuery{Statuses: []string{dealIsolate}}
	isolateCnt, err := count(isolated)
	if err != nil {
		return nil, err
	}
	isolated.OperatedFrom = dayAgo
	isolateNew, err := count(isolated)
	if err != nil {
		return nil, err
	}
	resp := &tcss.DescribeVirusSummaryResponse{
		TaskId:                  api.Ptr(""),
		RiskContainerCnt:        api.Ptr(uint64(containers)),
		RiskCnt:                 api.Ptr(uint64(riskCnt)),
		VirusDataBaseModifyTime: api.Ptr(""),
		RiskContainerIncrease:   api.Ptr(containers - containersOld),
		RiskIncrease:            api.Ptr(riskCnt - riskOld),
		IsolateIncrease:         api.Ptr(isolateNew),
		IsolateCnt:              api.Ptr(isolateCnt),
	}
	if t, err := h.Store.LatestScanTask(ctx, c.AccountID, store.TaskContainerVirus); err == nil {
		resp.TaskId = api.Ptr(strconv.FormatInt(t.ID, 10))
	}
	if h.Virus.VirusDBTime != nil {
		if t := h.Virus.VirusDBTime(); !t.IsZero() {
			resp.VirusDataBaseModifyTime = api.Ptr(t.UTC().Format(virusTimeLayout))
		}
	}
	return resp, nil
}

// virusEventColumn is one ExportField of ExportVirusList: a VirusInfo
// member name.
type virusEventColumn = exportColumn[store.VirusEvent]

var virusEventColumns = []virusEventColumn{
	{"Id", "Event ID", "事件ID", func(e store.VirusEvent, _ api.Language) string { return strconv.FormatInt(e.ID, 10) }},
	{"FileName", "File name", "文件名称", func(e store.VirusEvent, _ api.Language) string { return e.FileName }},
	{"FilePath", "File path", "文件路径", func(e store.VirusEvent, _ api.Language) string { return e.FilePath }},
	{"VirusName", "Virus name", "病毒名称", func(e store.VirusEvent, _ api.Language) string { return e.VirusName }},
	{"RiskLevel", "Risk level", "风险等级", func(e store.VirusEvent, _ api.Language) string { return e.RiskLevel }},
	{"MD5", "MD5", "MD5", func(e store.VirusEvent, _ api.Language) string { return e.FileMD5 }},
	{"ContainerName", "Container name", "容器名称", func(e store.VirusEvent, _ api.Language) string { return e.ContainerName }},
	{"ContainerId", "Container ID", "容器ID", func(e store.VirusEvent, _ api.Language) string { return e.ContainerID }},
	{"ContainerStatus", "Container status", "容器状态", func(e store.VirusEvent, _ api.Language) string { return e.ContainerStatus }},
	{"ContainerNetStatus", "Network status", "网络状态", func(e store.VirusEvent, _ api.Language) string { return netStatus(e.ContainerNetStatus) }},
	{"ImageName", "Image name", "镜像名称", func(e store.VirusEvent, _ api.Language) string { return e.ImageName }},
	{"ImageId", "Image ID", "镜像ID", func(e store.VirusEvent, _ api.Language) string { return e.ImageID }},
	{"HostID", "Host ID", "主机ID", func(e store.VirusEvent, _ api.Language) string { return e.Host.UUID }},
	{"HostIP", "Host IP", "主机IP", func(e store.VirusEvent, _ api.Language) string { return e.Host.PrivateIP }},
	{"NodeName", "Node name", "节点名称", func(e store.VirusEvent, _ api.Language) string { return e.NodeName }},
	{"PodName", "Pod name", "Pod名称", func(e store.VirusEvent, _ api.Language) string { return e.PodName }},
	{"ClusterName", "Cluster name", "集群名称", func(e store.VirusEvent, _ api.Language) string { return e.ClusterName }},
	{"Status", "Status", "状态", func(e store.VirusEvent, _ api.Language) string { return e.Status }},
	{"SubStatus", "Sub-status", "子状态", func(e store.VirusEvent, _ api.Language) string { return e.SubStatus }},
	{"HarmDescribe", "Description", "事件描述", func(e store.VirusEvent, l api.Language) string {
		return pickText(l, e.Threat.Desc.EN, e.Threat.Desc.ZH)
	}},
	{"SuggestScheme", "Suggested solution", "建议方案", func(e store.VirusEvent, l api.Language) string {
		return pickText(l, e.Threat.Solution.EN, e.Threat.Solution.ZH)
	}},
	{"CreateTime", "First found", "首次发现时间", func(e store.VirusEvent, _ api.Language) string { return svc.FormatRFC3339(e.CreateTime) }},
	{"ModifyTime", "Last found", "最近发现时间", func(e store.VirusEvent, _ api.Language) string { return svc.FormatRFC3339(e.ModifyTime) }},
}

func (h *handlers) exportVirusList(ctx context.Context, c *server.Call, req *tcss.ExportVirusListRequest) (*tcss.ExportVirusListResponse, error) {
	ex, err := h.exporter()
	if err != nil {
		return nil, err
	}
	cols, err := pickColumns(virusEventColumns, req.ExportField)
	if err != nil {
		return nil, err
	}
	q, err := virusListQuery(req.Filters, req.Order, req.By)
	if err != nil {
		return nil, err
	}
	q.Limit = 1
	first, err := h.Store.QueryVirusEvents(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	header := make([]string, len(cols))
	for i, col := range cols {
		header[i] = c.Language.Pick(col.en, col.zh)
	}
	params, _ := json.Marshal(req)
	lang, accountID, st := c.Language, c.AccountID, h.Store
	spec := export.Spec{
		Kind:     virusExportKind,
		FileName: "virus_list_" + h.Now().UTC().Format("20060102150405"),
		Sheet:    c.Language.Pick("Trojan files", "木马文件"),
		Header:   header,
		Params:   params,
		Total:    first.Total,
		Rows: func(ctx context.Context, yield func([]string) error) error {
			const page = 1000
			pq := q
			pq.Limit, pq.Offset = page, 0
			for {
				p, err := st.QueryVirusEvents(ctx, accountID, pq)
				if err != nil {
					return err
				}
				for _, e := range p.Items {
					row := make([]string, len(cols))
					for i, col := range cols {
						row[i] = col.value(e, lang)
					}
					if err := yield(row); err != nil {
						return err
					}
				}
				if len(p.Items) < page {
					return nil
				}
				pq.Offset += page
			}
		},
	}
	job, err := ex.Start(ctx, c.AccountID, spec)
	if err != nil {
		return nil, err
	}
	return &tcss.ExportVirusListResponse{JobId: api.Ptr(job.ID)}, nil
}
