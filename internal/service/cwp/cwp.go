// Package cwp implements the handlers of host security (cwp, 2018-02-28).
package cwp

import (
	"context"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// Version is the API version this package serves.
const Version = "2018-02-28"

// Deps is what the handlers need. Optional capabilities may be nil; the
// actions needing them then answer UnsupportedOperation.
type Deps struct {
	Store    store.Store
	Location *time.Location // zone of cwp's time strings
	Now      func() time.Time
	// Agents sends commands (kill) to hosts' agents.
	Agents AgentCommander
	// Exports runs export jobs and signs their download URLs.
	Exports Exporter
}

type handlers struct{ Deps }

// Register adds the implemented cwp actions to mux; the others answer UnsupportedOperation.
func Register(mux *server.Mux, d Deps) {
	if d.Location == nil {
		d.Location = time.Local
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &handlers{d}
	server.Handle(mux, Version, cwp.ActionDescribeRiskProcessEvents, h.describeRiskProcessEvents)
	h.registerEventActions(mux)
	h.registerWhitelistActions(mux)
	h.registerMachineActions(mux)
	h.registerExportActions(mux)
}

// statusFilter maps the Status filter of DescribeRiskProcessEvents (0 pending,
// 1 killing, 2 killed, 3 exited, 4 trusted) to HandleStatus values (0 pending,
// 1 handled, 2 killing, 3 killed, 4 exited, 5 ignored): the two enums differ
// in the official description. "Trusted" is an ignored or whitelisted event.
var statusFilter = map[string]store.HandleStatus{
	"0": store.HandlePending,
	"1": store.HandleKilling,
	"2": store.HandleKilled,
	"3": store.HandleExited,
	"4": store.HandleIgnored,
}

func (h *handlers) describeRiskProcessEvents(ctx context.Context, c *server.Call, req *cwp.DescribeRiskProcessEventsRequest) (*cwp.DescribeRiskProcessEventsResponse, error) {
	limit, offset, err := svc.Paging(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	q, err := h.riskEventQuery(req.Filters, req.By, req.Order)
	if err != nil {
		return nil, err
	}
	q.Limit, q.Offset = limit, offset
	page, err := h.Store.QueryRiskProcessEvents(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	resp := &cwp.DescribeRiskProcessEventsResponse{
		TotalCount: api.Ptr(page.Total),
		List:       make([]*cwp.RiskProcessEvent, 0, len(page.Items)),
	}
	now := h.Now()
	for _, e := range page.Items {
		resp.List = append(resp.List, h.riskProcessEvent(c.Language, e, now))
	}
	return resp, nil
}

// riskEventQuery maps the Filters, By and Order of DescribeRiskProcessEvents
// to a store query without paging; the actions taking the same filters share
// it. pathNames name the process path filter: "FilePath" when none are given
// (ExportRiskProcessEvents documents "ProcessPath" and takes both).
func (h *handlers) riskEventQuery(filters []*cwp.Filter, by, order *string, pathNames ...string) (store.RiskProcessEventQuery, error) {
	var q store.RiskProcessEventQuery
	desc, err := svc.Desc(order)
	if err != nil {
		return q, err
	}
	q = store.RiskProcessEventQuery{Desc: desc, OrderBy: store.OrderByDetectTime}
	if by != nil {
		switch *by {
		case "StartTime":
			q.OrderBy = store.OrderByStartTime
		case "DetectTime":
			q.OrderBy = store.OrderByDetectTime
		default:
			return q, api.ErrInvalidParameterValue("By", "must be StartTime or DetectTime, got \""+*by+"\".", "取值须为 StartTime 或 DetectTime，实际为 \""+*by+"\"。")
		}
	}
	if len(pathNames) == 0 {
		pathNames = []string{"FilePath"}
	}
	fs, err := svc.Filters("Filters", cwpFilters(filters),
		append([]string{"HostId", "IpOrName", "VirusName", "ProcessId", "BeginTime", "EndTime", "Status"}, pathNames...)...)
	if err != nil {
		return q, err
	}
	q.HostIDs = fs["HostId"].Text()
	q.IPOrName = fs["IpOrName"].Text()
	q.VirusNames = fs["VirusName"].Text()
	for _, name := range pathNames {
		if f, ok := fs[name]; ok {
			if q.FilePaths.Set() {
				return q, api.ErrInvalidParameterValue(f.Param+".Name", "give the process path filter once ("+strings.Join(pathNames, " or ")+").",
					"进程路径过滤条件只能给出一次（"+strings.Join(pathNames, " 或 ")+"）。")
			}
			q.FilePaths = f.Text()
		}
	}
	if f, ok := fs["ProcessId"]; ok {
		for i, v := range f.Values {
			pid, err := svc.ParseInt(f.ValueParam(i), v)
			if err != nil {
				return q, err
			}
			q.ProcessIDs = append(q.ProcessIDs, pid)
		}
	}
	if f, ok := fs["Status"]; ok {
		for i, v := range f.Values {
			s, ok := statusFilter[v]
			if !ok {
				return q, api.ErrInvalidParameterValue(f.ValueParam(i), "Status is one of 0 (pending), 1 (killing), 2 (killed), 3 (exited), 4 (trusted).",
					"Status 取值为 0（待处理）、1（查杀中）、2（已查杀）、3（已退出）、4（已信任）。")
			}
			q.HandleStatuses = append(q.HandleStatuses, s)
		}
	}
	if f, ok := fs["BeginTime"]; ok {
		if q.StartFrom, err = svc.ParseTime(f.ValueParam(0), f.Values[0], h.Location); err != nil {
			return q, err
		}
	}
	if f, ok := fs["EndTime"]; ok {
		if q.StartTo, err = svc.ParseTime(f.ValueParam(0), f.Values[0], h.Location); err != nil {
			return q, err
		}
	}
	if q.EmptyRange() {
		return q, api.NewError(api.InvalidParameter.Sub("DateRange"),
			"The filter BeginTime is after EndTime.", "过滤条件 BeginTime 晚于 EndTime。")
	}
	return q, nil
}

func cwpFilters(in []*cwp.Filter) []svc.Filter {
	out := make([]svc.Filter, 0, len(in))
	for _, f := range in {
		if f == nil {
			continue
		}
		out = append(out, svc.Filter{Name: api.Value(f.Name), Values: svc.Strings(f.Values), Exact: api.Value(f.ExactMatch)})
	}
	return out
}

func (h *handlers) riskProcessEvent(lang api.Language, e store.RiskProcessEvent, now time.Time) *cwp.RiskProcessEvent {
	online := int64(0)
	if e.Host.OnlineAt(now) {
		online = 1
	}
	return &cwp.RiskProcessEvent{
		EventId:         api.Ptr(e.ID),
		HostName:        api.Ptr(e.Host.Name),
		HostIp:          api.Ptr(e.Host.PrivateIP),
		WanIp:           api.Ptr(e.Host.PublicIP),
		ProcessId:       api.Ptr(e.PID),
		FilePath:        api.Ptr(e.ExePath),
		CmdLine:         api.Ptr(e.CmdLine),
		StartTime:       api.Ptr(svc.FormatCwp(e.ProcessStartTime, h.Location)),
		DetectTime:      api.Ptr(svc.FormatCwp(e.DetectTime, h.Location)),
		VirusName:       api.Ptr(e.VirusName),
		CheckPlatform:   svc.StringPtrs(e.CheckPlatform),
		VirusTags:       svc.StringPtrs(e.Threat.Tags),
		ThreatDesc:      api.Ptr(lang.Pick(e.Threat.Desc.EN, e.Threat.Desc.ZH)),
		SuggestSolution: api.Ptr(lang.Pick(e.Threat.Solution.EN, e.Threat.Solution.ZH)),
		ReferenceLink:   api.Ptr(e.Threat.ReferenceLink),
		HandleStatus:    api.Ptr(int64(e.HandleStatus)),
		OnlineStatus:    api.Ptr(online),
		MachineExtraInfo: &cwp.MachineExtraInfo{
			WanIP:       api.Ptr(e.Host.PublicIP),
			PrivateIP:   api.Ptr(e.Host.PrivateIP),
			NetworkType: api.Ptr(int64(e.Host.NetworkType)),
			NetworkName: api.Ptr(e.Host.NetworkName),
			InstanceID:  api.Ptr(e.Host.InstanceID),
			HostName:    api.Ptr(e.Host.Name),
		},
		Uuid:                 api.Ptr(e.Host.UUID),
		FirstDetectionMethod: api.Ptr(uint64(max(e.FirstDetectionMethod, 0))),
		QUUID:                api.Ptr(e.Host.QUUID),
		ExeMd5:               api.Ptr(e.ExeMD5),
	}
}
