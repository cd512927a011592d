package cwp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// Self-hosted machines are, in cwp's documented values, MachineType "Other"
// in MachineRegion "ap-others" (agentapi stores every host so).
const (
	machineType   = "Other"
	machineRegion = "ap-others"
)

// addedWindow is AddedOnTheFifteen's "added within 15 days".
const addedWindow = 15 * 24 * time.Hour

// What vigil is, in the fields of Machine that describe Tencent Cloud
// products: one edition with everything on and no licence quota.
const (
	protectType    = "Flagship" // every feature vigil has is on for every host
	instanceStatus = "RUNNING"  // vigil cannot tell a stopped machine from an offline agent
	instanceState  = "NORMAL"   // as the official example
)

// registerMachineActions: DescribeMachines.
func (h *handlers) registerMachineActions(mux *server.Mux) {
	server.Handle(mux, Version, cwp.ActionDescribeMachines, h.describeMachines)
}

// machineTypes are the documented MachineType values.
var machineTypes = []string{"CVM", "BM", "ECM", "LH", "Other"}

// agentState is a set of agent states a filter admits.
type agentState uint8

const (
	stateOnline agentState = 1 << iota
	stateOffline
	stateAny = stateOnline | stateOffline
)

func (h *handlers) describeMachines(ctx context.Context, c *server.Call, req *cwp.DescribeMachinesRequest) (*cwp.DescribeMachinesResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	mt := api.Value(req.MachineType)
	known := false
	for _, t := range machineTypes {
		known = known || t == mt
	}
	if !known {
		return nil, api.ErrInvalidParameterValue("MachineType", fmt.Sprintf("must be one of %s, got %q.", strings.Join(machineTypes, ", "), mt),
			fmt.Sprintf("取值须为 %s 之一，实际为 %q。", strings.Join(machineTypes, "、"), mt))
	}
	if api.Value(req.MachineRegion) == "" {
		return nil, api.ErrInvalidParameterValue("MachineRegion", "must not be empty (vigil's hosts are in ap-others).",
			"不能为空（vigil 的主机地域为 ap-others）。")
	}
	now := h.Now()
	q, match, err := machineQuery(req, now)
	if err != nil {
		return nil, err
	}
	resp := &cwp.DescribeMachinesResponse{Machines: []*cwp.Machine{}, TotalCount: api.Ptr(uint64(0))}
	if !match {
		return resp, nil
	}
	q.Limit, q.Offset = limit, offset
	page, err := h.Store.QueryHosts(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	uuids := make([]string, len(page.Items))
	for i, host := range page.Items {
		uuids[i] = host.UUID
	}
	pending, err := h.Store.PendingRiskEventCounts(ctx, c.AccountID, uuids)
	if err != nil {
		return nil, err
	}
	resp.TotalCount = api.Ptr(uint64(max(page.Total, 0)))
	for _, host := range page.Items {
		resp.Machines = append(resp.Machines, machine(c.Language, host, pending[host.UUID], now))
	}
	return resp, nil
}

// machineQuery maps the request to a host query; match false means that
// nothing can match (another zone or region, a state vigil hosts never
// have), which is an empty list rather than an error.
func machineQuery(req *cwp.DescribeMachinesRequest, now time.Time) (store.HostQuery, bool, error) {
	var q store.HostQuery
	match := api.Value(req.MachineType) == machineType && api.Value(req.MachineRegion) == machineRegion
	if len(req.ProjectIds) > 0 {
		// Every vigil host is in the default project, 0.
		in := false
		for _, p := range req.ProjectIds {
			in = in || p != nil && *p == 0
		}
		match = match && in
	}
	fs, err := svc.Filters("Filters", cwpFilters(req.Filters),
		"Ips", "Names", "Keywords", "InstanceIds", "Quuid", "Os", "Risk", "AddedOnTheFifteen", "AgentStatus", "MachineStatus", "Version")
	if err != nil {
		return q, false, err
	}
	q.IPs = fs["Ips"].Text()
	q.Names = fs["Names"].Text()
	q.IPOrName = fs["Keywords"].Text() // the official example's filter
	q.OS = fs["Os"].Text()
	q.InstanceIDs = fs["InstanceIds"].Values
	q.QUUIDs = fs["Quuid"].Values

	states := stateAny
	oneOf := func(f svc.Filter, allowed map[string]agentState) error {
		var set agentState
		for i, v := range f.Values {
			s, ok := allowed[strings.ToUpper(v)]
			if !ok {
				names := slices.Sorted(maps.Keys(allowed))
				return api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("unknown value %q; values: %s.", v, strings.Join(names, ", ")),
					fmt.Sprintf("未知取值 %q，支持：%s。", v, strings.Join(names, "、")))
			}
			set |= s
		}
		states &= set
		return nil
	}
	if f, ok := fs["AgentStatus"]; ok {
		// UNINSTALLED: every vigil host runs the agent (it is how hosts exist).
		if err := oneOf(f, map[string]agentState{"ALL": stateAny, "ONLINE": stateOnline, "OFFLINE": stateOffline, "UNINSTALLED": 0}); err != nil {
			return q, false, err
		}
	}
	if f, ok := fs["MachineStatus"]; ok {
		// The documented values are instance states, always RUNNING here;
		// Machine.MachineStatus' own values are accepted as well.
		if err := oneOf(f, map[string]agentState{"ALL": stateAny, "RUNNING": stateAny, "STOPPED": 0, "EXPIRED": 0,
			"ONLINE": stateOnline, "OFFLINE": stateOffline, "SHUTDOWN": 0, "UNINSTALLED": 0}); err != nil {
			return q, false, err
		}
	}
	if f, ok := fs["Version"]; ok {
		if err := oneOf(f, map[string]agentState{"FLAGSHIP": stateAny, "PROTECTEDMACHINES": stateAny, "PRO_VERSION": 0, "BASIC_VERSION": 0}); err != nil {
			return q, false, err
		}
	}
	cutoff := now.Add(-store.HostOfflineAfter)
	switch states {
	case 0:
		match = false
	case stateOnline:
		q.SeenSince = cutoff
	case stateOffline:
		q.SeenBefore = cutoff
	}
	if f, ok := fs["Risk"]; ok {
		var yes, no bool
		for i, v := range f.Values {
			switch strings.ToLower(v) {
			case "yes":
				yes = true
			case "no":
				no = true
			default:
				return q, false, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("Risk is yes or no, got %q.", v),
					fmt.Sprintf("Risk 取值为 yes 或 no，实际为 %q。", v))
			}
		}
		if yes != no {
			q.HasPendingRiskEvents = &yes
		}
	}
	if f, ok := fs["AddedOnTheFifteen"]; ok {
		for i, v := range f.Values {
			switch v {
			case "1":
				q.CreatedSince = now.Add(-addedWindow)
			case "0":
			default:
				return q, false, api.ErrInvalidParameterValue(f.ValueParam(i), fmt.Sprintf("AddedOnTheFifteen is 1 (added within 15 days) or 0 (any), got %q.", v),
					fmt.Sprintf("AddedOnTheFifteen 取值为 1（15 天内新增）或 0（全部），实际为 %q。", v))
			}
		}
	}
	return q, match, nil
}

// machine is a host as DescribeMachines shows it. MalwareNum counts the
// host's pending risk-process events (not yet handled, killed, exited or
// trusted); SecurityStatus is RISK when there is one.
func machine(lang api.Language, h store.Host, pending int64, now time.Time) *cwp.Machine {
	status := "OFFLINE"
	if h.OnlineAt(now) {
		status = "ONLINE"
	}
	security := "SAFE"
	if pending > 0 {
		security = "RISK"
	}
	added := uint64(0)
	if !h.CreatedAt.IsZero() && now.Sub(h.CreatedAt) < addedWindow {
		added = 1
	}
	var ips []string // IpList: the private IP, then the public one
	for _, ip := range []string{h.PrivateIP, h.PublicIP} {
		if ip != "" && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	mt, region := h.MachineType, h.Region
	if mt == "" {
		mt = machineType
	}
	if region == "" {
		region = machineRegion
	}
	return &cwp.Machine{
		MachineName:    api.Ptr(h.Name),
		MachineOs:      api.Ptr(h.OS),
		MachineStatus:  api.Ptr(status),
		AgentStatus:    api.Ptr(status),
		InstanceStatus: api.Ptr(instanceStatus),
		Uuid:           api.Ptr(h.UUID),
		Quuid:          api.Ptr(h.QUUID),
		VulNum:         api.Ptr(int64(0)),
		MachineIp:      api.Ptr(h.PrivateIP),
		IsProVersion:   api.Ptr(true),
		MachineWanIp:   api.Ptr(h.PublicIP),
		PayMode:        api.Ptr(""),
		MalwareNum:     api.Ptr(pending),
		Tag:            []*cwp.MachineTag{},
		BaselineNum:    api.Ptr(int64(0)),
		CyberAttackNum: api.Ptr(int64(0)),
		SecurityStatus: api.Ptr(security),
		InvasionNum:    api.Ptr(pending),
		RegionInfo: &cwp.RegionInfo{
			Region:       api.Ptr(region),
			RegionName:   api.Ptr(lang.Pick("Other regions", "其他地域")),
			RegionId:     api.Ptr(uint64(0)),
			RegionCode:   api.Ptr("others"),
			RegionNameEn: api.Ptr("Other regions"),
		},
		InstanceState:       api.Ptr(instanceState),
		LicenseStatus:       api.Ptr(uint64(1)),
		ProjectId:           api.Ptr(int64(0)),
		HasAssetScan:        api.Ptr(uint64(0)),
		MachineType:         api.Ptr(mt),
		KernelVersion:       api.Ptr(h.Kernel),
		ProtectType:         api.Ptr(protectType),
		CloudTags:           []*cwp.Tags{},
		IsAddedOnTheFifteen: api.Ptr(added),
		IpList:              api.Ptr(strings.Join(ips, ",")),
		VpcId:               api.Ptr(""),
		MachineExtraInfo: &cwp.MachineExtraInfo{
			WanIP:       api.Ptr(h.PublicIP),
			PrivateIP:   api.Ptr(h.PrivateIP),
			NetworkType: api.Ptr(int64(h.NetworkType)),
			NetworkName: api.Ptr(h.NetworkName),
			InstanceID:  api.Ptr(h.InstanceID),
			HostName:    api.Ptr(h.Name),
		},
		InstanceId:      api.Ptr(h.InstanceID),
		Remark:          api.Ptr(""),
		AgentVersion:    api.Ptr(h.AgentVersion),
		AppId:           api.Ptr(uint64(0)),
		CSIPProtectType: api.Ptr(""),
	}
}
