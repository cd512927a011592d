package cwp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// Exporter runs export jobs and signs their download URLs
// (*export.Manager implements it; the same method set as tcss's Exporter).
type Exporter interface {
	// Start creates the job and produces the file; small exports are
	// finished when it returns.
	Start(ctx context.Context, accountID int64, s export.Spec) (store.ExportJob, error)
	// Get returns the account's job; another account's is store.ErrNotFound.
	Get(ctx context.Context, accountID int64, id string) (store.ExportJob, error)
	// DownloadURL is the job's signed, expiring download URL.
	DownloadURL(accountID int64, jobID string) string
}

// exportKindPrefix marks cwp's export jobs: ExportTasks answers for those
// only (the job table is shared with tcss).
const exportKindPrefix = "cwp."

// registerExportActions: ExportRiskProcessEvents, ExportTasks.
func (h *handlers) registerExportActions(mux *server.Mux) {
	server.Handle(mux, Version, cwp.ActionExportRiskProcessEvents, h.exportRiskProcessEvents)
	server.Handle(mux, Version, cwp.ActionExportTasks, h.exportTasks)
}

func (h *handlers) exporter() (Exporter, error) {
	if h.Exports == nil {
		return nil, api.NewError(api.UnsupportedOperation, "Exports are not enabled on this vigil server.", "当前 vigil 服务未启用导出功能。")
	}
	return h.Exports, nil
}

// riskExportColumn is one column of the risk-process event export: the
// fields of DescribeRiskProcessEvents' RiskProcessEvent.
type riskExportColumn struct {
	en, zh string
	value  func(x *riskExportRow) string
}

// riskExportRow is what a row is made from.
type riskExportRow struct {
	e    store.RiskProcessEvent
	lang api.Language
	loc  *time.Location
	now  time.Time
}

// handleStatusText is HandleStatus in words ({en, zh}).
var handleStatusText = map[store.HandleStatus][2]string{
	store.HandlePending: {"Pending", "待处理"},
	store.HandleHandled: {"Handled", "已处理"},
	store.HandleKilling: {"Killing", "查杀中"},
	store.HandleKilled:  {"Killed", "已查杀"},
	store.HandleExited:  {"Exited", "已退出"},
	store.HandleIgnored: {"Trusted", "已信任"},
}

var riskExportColumns = []riskExportColumn{
	{"Event ID", "事件ID", func(x *riskExportRow) string { return strconv.FormatInt(x.e.ID, 10) }},
	{"Host name", "主机名", func(x *riskExportRow) string { return x.e.Host.Name }},
	{"Private IP", "主机IP", func(x *riskExportRow) string { return x.e.Host.PrivateIP }},
	{"Public IP", "外网IP", func(x *riskExportRow) string { return x.e.Host.PublicIP }},
	{"Host ID", "主机ID", func(x *riskExportRow) string { return x.e.Host.UUID }},
	{"Host status", "主机状态", func(x *riskExportRow) string {
		if x.e.Host.OnlineAt(x.now) {
			return x.lang.Pick("Online", "在线")
		}
		return x.lang.Pick("Offline", "离线")
	}},
	{"Process ID", "进程ID", func(x *riskExportRow) string { return strconv.FormatInt(x.e.PID, 10) }},
	{"Process path", "进程路径", func(x *riskExportRow) string { return x.e.ExePath }},
	{"Command line", "命令行参数", func(x *riskExportRow) string { return x.e.CmdLine }},
	{"Process start time", "进程启动时间", func(x *riskExportRow) string { return svc.FormatCwp(x.e.ProcessStartTime, x.loc) }},
	{"Detection time", "检测时间", func(x *riskExportRow) string { return svc.FormatCwp(x.e.DetectTime, x.loc) }},
	{"Virus name", "病毒名", func(x *riskExportRow) string { return x.e.VirusName }},
	{"Tags", "标签", func(x *riskExportRow) string { return strings.Join(x.e.Threat.Tags, ",") }},
	{"Description", "威胁描述", func(x *riskExportRow) string { return x.lang.Pick(x.e.Threat.Desc.EN, x.e.Threat.Desc.ZH) }},
	{"Suggested solution", "修复建议", func(x *riskExportRow) string {
		return x.lang.Pick(x.e.Threat.Solution.EN, x.e.Threat.Solution.ZH)
	}},
	{"Status", "处理状态", func(x *riskExportRow) string {
		t, ok := handleStatusText[x.e.HandleStatus]
		if !ok {
			return strconv.Itoa(int(x.e.HandleStatus))
		}
		return x.lang.Pick(t[0], t[1])
	}},
	{"MD5", "MD5", func(x *riskExportRow) string { return x.e.ExeMD5 }},
	{"Detection method", "首次检测方式", func(x *riskExportRow) string {
		if x.e.FirstDetectionMethod == 1 {
			return x.lang.Pick("Real time", "实时监控")
		}
		return x.lang.Pick("Scan", "扫描")
	}},
}

// exportPage is how many events one store query of an export reads.
const exportPage = 1000

func (h *handlers) exportRiskProcessEvents(ctx context.Context, c *server.Call, req *cwp.ExportRiskProcessEventsRequest) (*cwp.ExportRiskProcessEventsResponse, error) {
	ex, err := h.exporter()
	if err != nil {
		return nil, err
	}
	// The filters of DescribeRiskProcessEvents; the export documents the path
	// filter as ProcessPath, the list as FilePath: both are accepted.
	q, err := h.riskEventQuery(req.Filters, req.By, req.Order, "ProcessPath", "FilePath")
	if err != nil {
		return nil, err
	}
	// Count first: a malformed query fails the call rather than the job.
	q.Limit = 1
	first, err := h.Store.QueryRiskProcessEvents(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	header := make([]string, len(riskExportColumns))
	for i, col := range riskExportColumns {
		header[i] = c.Language.Pick(col.en, col.zh)
	}
	params, _ := json.Marshal(req)
	lang, accountID, st, loc, now := c.Language, c.AccountID, h.Store, h.Location, h.Now()
	spec := export.Spec{
		Kind:     exportKindPrefix + cwp.ActionExportRiskProcessEvents,
		FileName: "risk_process_events_" + now.UTC().Format("20060102150405"),
		Sheet:    c.Language.Pick("Risk processes", "异常进程"),
		Header:   header,
		Params:   params,
		Total:    first.Total,
		// Every match in the requested order (Limit and Offset do not
		// apply), read a page at a time.
		Rows: func(ctx context.Context, yield func([]string) error) error {
			pq := q
			pq.Limit, pq.Offset = exportPage, 0
			for {
				p, err := st.QueryRiskProcessEvents(ctx, accountID, pq)
				if err != nil {
					return err
				}
				for _, e := range p.Items {
					x := &riskExportRow{e: e, lang: lang, loc: loc, now: now}
					row := make([]string, len(riskExportColumns))
					for i, col := range riskExportColumns {
						row[i] = col.value(x)
					}
					if err := yield(row); err != nil {
						return err
					}
				}
				if len(p.Items) < exportPage {
					return nil
				}
				pq.Offset += exportPage
			}
		},
	}
	job, err := ex.Start(ctx, c.AccountID, spec)
	if err != nil {
		return nil, err
	}
	return &cwp.ExportRiskProcessEventsResponse{TaskId: api.Ptr(job.ID)}, nil
}

// exportTasks reports a cwp export job: PENDING while it runs, FINISHED
// with a freshly signed DownloadUrl, ERROR when it failed.
func (h *handlers) exportTasks(ctx context.Context, c *server.Call, req *cwp.ExportTasksRequest) (*cwp.ExportTasksResponse, error) {
	ex, err := h.exporter()
	if err != nil {
		return nil, err
	}
	id := api.Value(req.TaskId)
	j, err := ex.Get(ctx, c.AccountID, id)
	if err == nil && !strings.HasPrefix(j.Kind, exportKindPrefix) {
		err = fmt.Errorf("%w: export %q is not a cwp export", store.ErrNotFound, id)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, svc.StoreError(err, "TaskId", id)
		}
		return nil, err
	}
	resp := &cwp.ExportTasksResponse{Status: api.Ptr("PENDING"), DownloadUrl: api.Ptr(""), FileName: api.Ptr(j.FileName)}
	switch j.Status {
	case store.ExportSuccess:
		resp.Status = api.Ptr("FINISHED")
		resp.DownloadUrl = api.Ptr(ex.DownloadURL(c.AccountID, j.ID))
	case store.ExportFailure:
		resp.Status = api.Ptr("ERROR")
	}
	return resp, nil
}
