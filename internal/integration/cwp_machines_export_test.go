package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/xuri/excelize/v2"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/postgres"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// storeAt opens a second handle on the server's database whose clock says
// `at`, to create hosts with an old CreatedAt (the store sets it itself).
func (ts *testServer) storeAt(t *testing.T, at time.Time) store.Store {
	t.Helper()
	clock := func() time.Time { return at }
	var (
		st  store.Store
		err error
	)
	if ts.cfg.Database != "" {
		st, err = postgres.Open(context.Background(), ts.cfg.Database, postgres.WithClock(clock))
	} else {
		st, err = sqlite.Open(context.Background(), ts.cfg.Data, sqlite.WithClock(clock))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestDescribeMachines(t *testing.T) { backends(t, testDescribeMachines) }

func testDescribeMachines(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a := ts.newAccount("default")
	b := ts.newAccount("team-b")
	st := ts.App.Store
	ctx := context.Background()
	now := time.Now()
	host := func(h store.Host) store.Host {
		h.UUID, h.QUUID, h.InstanceID = "uuid-"+h.Name, "quuid-"+h.Name, "ins-"+h.Name
		h.MachineType, h.Region = agentapi.MachineType, agentapi.MachineRegion
		return h
	}
	hosts := []store.Host{
		host(store.Host{Name: "web-01", PrivateIP: "10.0.0.1", PublicIP: "203.0.113.1", NetworkName: "eth0", OS: "Ubuntu 22.04 LTS",
			Kernel: "6.1.0-13-amd64", AgentVersion: "0.1.0", Online: true, LastSeen: now}),
		// Five minutes without a heartbeat: offline although its last word was "online".
		host(store.Host{Name: "web-02", PrivateIP: "10.0.0.2", OS: "CentOS 7.9", Online: true, LastSeen: now.Add(-5 * time.Minute)}),
		host(store.Host{Name: "db-01", PrivateIP: "10.0.1.1", OS: "CentOS 7.9", Online: true, LastSeen: now.Add(-30 * time.Second)}),
	}
	for _, h := range hosts {
		if _, err := st.UpsertHost(ctx, a.ID, h); err != nil {
			t.Fatal(err)
		}
	}
	// Its agent said it was stopping; added 20 days ago.
	db02 := host(store.Host{Name: "db-02", PrivateIP: "10.0.1.2", OS: "Debian 12", Online: false, LastSeen: now})
	if _, err := ts.storeAt(t, now.Add(-20*24*time.Hour)).UpsertHost(ctx, a.ID, db02); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertThreats(ctx, []store.Threat{fscanThreat, minerThreat}); err != nil {
		t.Fatal(err)
	}
	ev := func(hostUUID string, pid int64, threat string, status store.HandleStatus) store.RiskProcessEvent {
		return store.RiskProcessEvent{HostUUID: hostUUID, PID: pid, ProcessStartTime: t0, ExePath: "/tmp/x", VirusName: threat,
			RuleName: threat, HandleStatus: status, DetectTime: t0}
	}
	if _, err := st.InsertRiskProcessEvents(ctx, a.ID, []store.RiskProcessEvent{
		ev("uuid-web-01", 1, fscanThreat.Name, store.HandlePending),
		ev("uuid-web-01", 2, minerThreat.Name, store.HandlePending),
		ev("uuid-web-01", 3, minerThreat.Name, store.HandleKilled),
		ev("uuid-web-02", 4, minerThreat.Name, store.HandleKilled),
		ev("uuid-db-02", 5, minerThreat.Name, store.HandlePending),
	}); err != nil {
		t.Fatal(err)
	}
	// b: a host with a's UUID and name, and more pending events.
	if _, err := st.UpsertHost(ctx, b.ID, host(store.Host{Name: "web-01", PrivateIP: "192.168.9.9", Online: true, LastSeen: now})); err != nil {
		t.Fatal(err)
	}
	var bEvents []store.RiskProcessEvent
	for pid := range int64(7) {
		bEvents = append(bEvents, ev("uuid-web-01", 100+pid, minerThreat.Name, store.HandlePending))
	}
	if _, err := st.InsertRiskProcessEvents(ctx, b.ID, bEvents); err != nil {
		t.Fatal(err)
	}

	c := ts.client(a.adminID, a.adminKey)
	list := func(t *testing.T, cl *common.Client, params map[string]any) cwp.DescribeMachinesResponse {
		t.Helper()
		p := map[string]any{"MachineType": "Other", "MachineRegion": "ap-others"}
		for k, v := range params {
			p[k] = v
		}
		var r cwp.DescribeMachinesResponse
		if err := cwpCall(cl, "DescribeMachines", p, &r); err != nil {
			t.Fatal(err)
		}
		if r.Machines == nil {
			t.Fatal("Machines must be [] when empty, not absent")
		}
		return r
	}
	names := func(r cwp.DescribeMachinesResponse) []string {
		var out []string
		for _, m := range r.Machines {
			out = append(out, api.Value(m.MachineName))
		}
		return out
	}

	// Every field of one machine.
	all := list(t, c, map[string]any{"Limit": 100})
	if got := names(all); !slices.Equal(got, []string{"db-01", "db-02", "web-01", "web-02"}) || api.Value(all.TotalCount) != 4 {
		t.Fatalf("machines %v total %d", got, api.Value(all.TotalCount))
	}
	web01 := all.Machines[2]
	want := map[string]any{
		"MachineName": "web-01", "MachineOs": "Ubuntu 22.04 LTS", "MachineStatus": "ONLINE", "AgentStatus": "ONLINE",
		"InstanceStatus": "RUNNING", "Uuid": "uuid-web-01", "Quuid": "quuid-web-01", "MachineIp": "10.0.0.1",
		"MachineWanIp": "203.0.113.1", "MalwareNum": int64(2), "SecurityStatus": "RISK", "MachineType": "Other",
		"KernelVersion": "6.1.0-13-amd64", "AgentVersion": "0.1.0", "InstanceId": "ins-web-01", "IsAddedOnTheFifteen": uint64(1),
		"IpList": "10.0.0.1,203.0.113.1", "Region": "ap-others", "ProtectType": "Flagship", "ExtraHostName": "web-01",
		"ExtraInstanceID": "ins-web-01", "ExtraNetworkName": "eth0", "ExtraWanIP": "203.0.113.1",
	}
	got := map[string]any{
		"MachineName": api.Value(web01.MachineName), "MachineOs": api.Value(web01.MachineOs), "MachineStatus": api.Value(web01.MachineStatus),
		"AgentStatus": api.Value(web01.AgentStatus), "InstanceStatus": api.Value(web01.InstanceStatus), "Uuid": api.Value(web01.Uuid),
		"Quuid": api.Value(web01.Quuid), "MachineIp": api.Value(web01.MachineIp), "MachineWanIp": api.Value(web01.MachineWanIp),
		"MalwareNum": api.Value(web01.MalwareNum), "SecurityStatus": api.Value(web01.SecurityStatus), "MachineType": api.Value(web01.MachineType),
		"KernelVersion": api.Value(web01.KernelVersion), "AgentVersion": api.Value(web01.AgentVersion), "InstanceId": api.Value(web01.InstanceId),
		"IsAddedOnTheFifteen": api.Value(web01.IsAddedOnTheFifteen), "IpList": api.Value(web01.IpList), "Region": api.Value(web01.RegionInfo.Region),
		"ProtectType": api.Value(web01.ProtectType), "ExtraHostName": api.Value(web01.MachineExtraInfo.HostName),
		"ExtraInstanceID": api.Value(web01.MachineExtraInfo.InstanceID), "ExtraNetworkName": api.Value(web01.MachineExtraInfo.NetworkName),
		"ExtraWanIP": api.Value(web01.MachineExtraInfo.WanIP),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("web-01 %s = %v, want %v", k, got[k], w)
		}
	}
	// Online status as agentapi.Online decides it; MalwareNum and SecurityStatus.
	wantMalware := map[string]int64{"db-01": 0, "db-02": 1, "web-01": 2, "web-02": 0}
	for _, m := range all.Machines {
		h, err := st.GetHost(ctx, a.ID, api.Value(m.Uuid))
		if err != nil {
			t.Fatal(err)
		}
		if online := api.Value(m.MachineStatus) == "ONLINE"; online != agentapi.Online(h, time.Now()) {
			t.Errorf("%s: MachineStatus %s, agentapi.Online %v", h.Name, api.Value(m.MachineStatus), !online)
		}
		n := wantMalware[h.Name]
		if api.Value(m.MalwareNum) != n || (api.Value(m.SecurityStatus) == "RISK") != (n > 0) {
			t.Errorf("%s: MalwareNum %d SecurityStatus %s, want %d", h.Name, api.Value(m.MalwareNum), api.Value(m.SecurityStatus), n)
		}
		if added := api.Value(m.IsAddedOnTheFifteen) == 1; added != (h.Name != "db-02") {
			t.Errorf("%s: IsAddedOnTheFifteen %d", h.Name, api.Value(m.IsAddedOnTheFifteen))
		}
	}

	fl := func(name string, values ...string) map[string]any {
		return map[string]any{"Filters": []filter{{Name: name, Values: values}}}
	}
	tests := []struct {
		name   string
		params map[string]any
		want   []string
		total  uint64
	}{
		{"default limit", nil, []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"AgentStatus ONLINE", fl("AgentStatus", "ONLINE"), []string{"db-01", "web-01"}, 2},
		{"AgentStatus OFFLINE", fl("AgentStatus", "OFFLINE"), []string{"db-02", "web-02"}, 2},
		{"AgentStatus ONLINE or OFFLINE", fl("AgentStatus", "ONLINE", "OFFLINE"), []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"AgentStatus ALL", fl("AgentStatus", "ALL"), []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"AgentStatus UNINSTALLED", fl("AgentStatus", "UNINSTALLED"), nil, 0},
		{"MachineStatus RUNNING", fl("MachineStatus", "RUNNING"), []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"MachineStatus STOPPED", fl("MachineStatus", "STOPPED"), nil, 0},
		{"Risk yes", fl("Risk", "yes"), []string{"db-02", "web-01"}, 2},
		{"AddedOnTheFifteen", fl("AddedOnTheFifteen", "1"), []string{"db-01", "web-01", "web-02"}, 3},
		{"Ips public", fl("Ips", "203.0.113"), []string{"web-01"}, 1},
		{"Names", fl("Names", "WEB"), []string{"web-01", "web-02"}, 2},
		{"Names exact", map[string]any{"Filters": []filter{{Name: "Names", Values: []string{"web-0"}, ExactMatch: true}}}, nil, 0},
		{"Keywords (official example)", fl("Keywords", "10.0.1."), []string{"db-01", "db-02"}, 2},
		{"InstanceIds", fl("InstanceIds", "ins-web-02", "ins-db-01"), []string{"db-01", "web-02"}, 2},
		{"Quuid", fl("Quuid", "quuid-db-02"), []string{"db-02"}, 1},
		{"Os", fl("Os", "centos"), []string{"db-01", "web-02"}, 2},
		{"Version Flagship", fl("Version", "Flagship"), []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"Version BASIC_VERSION", fl("Version", "BASIC_VERSION"), nil, 0},
		{"online with risk", map[string]any{"Filters": []filter{{Name: "AgentStatus", Values: []string{"ONLINE"}}, {Name: "Risk", Values: []string{"yes"}}}}, []string{"web-01"}, 1},
		{"offline page 2", map[string]any{"Filters": []filter{{Name: "AgentStatus", Values: []string{"OFFLINE"}}}, "Limit": 1, "Offset": 1}, []string{"web-02"}, 2},
		{"page", map[string]any{"Limit": 2, "Offset": 1}, []string{"db-02", "web-01"}, 4},
		{"past the end", map[string]any{"Offset": 10}, nil, 4},
		{"another zone: empty", map[string]any{"MachineType": "CVM"}, nil, 0},
		{"another region: empty", map[string]any{"MachineRegion": "ap-guangzhou"}, nil, 0},
		{"project 0", map[string]any{"ProjectIds": []int{0}}, []string{"db-01", "db-02", "web-01", "web-02"}, 4},
		{"another project", map[string]any{"ProjectIds": []int{7}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := list(t, c, tt.params)
			if got := names(r); !slices.Equal(got, tt.want) || api.Value(r.TotalCount) != tt.total {
				t.Fatalf("machines %v total %d, want %v total %d", got, api.Value(r.TotalCount), tt.want, tt.total)
			}
		})
	}

	errs := []struct {
		name   string
		params map[string]any
		code   string
		msg    string
	}{
		{"unknown filter", map[string]any{"MachineType": "Other", "MachineRegion": "ap-others", "Filters": []filter{{Name: "TagId", Values: []string{"1"}}}},
			"InvalidParameterValue", "Filters.0.Name"},
		{"bad AgentStatus", map[string]any{"MachineType": "Other", "MachineRegion": "ap-others", "Filters": []filter{{Name: "AgentStatus", Values: []string{"SLEEPING"}}}},
			"InvalidParameterValue", "Filters.0.Values.0"},
		{"bad Risk", map[string]any{"MachineType": "Other", "MachineRegion": "ap-others", "Filters": []filter{{Name: "Risk", Values: []string{"maybe"}}}},
			"InvalidParameterValue", "Filters.0.Values.0"},
		{"unknown MachineType", map[string]any{"MachineType": "Mainframe", "MachineRegion": "ap-others"}, "InvalidParameterValue", "MachineType"},
		{"MachineType missing", map[string]any{"MachineRegion": "ap-others"}, "MissingParameter", "MachineType"},
		{"MachineRegion missing", map[string]any{"MachineType": "Other"}, "MissingParameter", "MachineRegion"},
		{"Limit over 100", map[string]any{"MachineType": "Other", "MachineRegion": "ap-others", "Limit": 101}, "InvalidParameterValue", "Limit"},
	}
	for _, tt := range errs {
		t.Run("error/"+tt.name, func(t *testing.T) {
			err := cwpCall(c, "DescribeMachines", tt.params, nil)
			if code := sdkCode(t, err); code != tt.code || !strings.Contains(sdkMessage(err), tt.msg) {
				t.Fatalf("code %s message %q, want %s naming %s", code, sdkMessage(err), tt.code, tt.msg)
			}
		})
	}

	t.Run("isolation", func(t *testing.T) {
		r := list(t, ts.client(b.roID, b.roKey), map[string]any{"Limit": 100}) // readonly keys may Describe*
		if len(r.Machines) != 1 || api.Value(r.TotalCount) != 1 || api.Value(r.Machines[0].MachineIp) != "192.168.9.9" ||
			api.Value(r.Machines[0].MalwareNum) != 7 {
			t.Fatalf("b sees %s", dump(r))
		}
	})

	// Two minutes later (the server's clock; within the signature skew) no
	// heartbeat came: every host is offline, in the list, its filter and the
	// events' OnlineStatus alike.
	t.Run("clock", func(t *testing.T) {
		ts.clockOff.Store(int64(2 * time.Minute))
		defer ts.clockOff.Store(0)
		if r := list(t, c, fl("AgentStatus", "ONLINE")); len(r.Machines) != 0 || api.Value(r.TotalCount) != 0 {
			t.Fatalf("online after 2 min: %v", names(r))
		}
		if r := list(t, c, fl("AgentStatus", "OFFLINE")); api.Value(r.TotalCount) != 4 {
			t.Fatalf("offline after 2 min: %v", names(r))
		}
		var events cwp.DescribeRiskProcessEventsResponse
		if err := cwpCall(c, "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "HostId", Values: []string{"uuid-web-01"}}}}, &events); err != nil {
			t.Fatal(err)
		}
		for _, e := range events.List {
			if api.Value(e.OnlineStatus) != 0 {
				t.Errorf("event %d: OnlineStatus %d, want 0", api.Value(e.EventId), api.Value(e.OnlineStatus))
			}
		}
	})
	// And now, web-01's events say online.
	var events cwp.DescribeRiskProcessEventsResponse
	if err := cwpCall(c, "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "HostId", Values: []string{"uuid-web-01"}}}}, &events); err != nil {
		t.Fatal(err)
	}
	if len(events.List) != 3 || api.Value(events.List[0].OnlineStatus) != 1 {
		t.Fatalf("web-01 events: %s", dump(events))
	}
}

func TestExportRiskProcessEvents(t *testing.T) { backends(t, testExportRiskProcessEvents) }

func testExportRiskProcessEvents(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a := ts.newAccount("default")
	b := ts.newAccount("team-b")
	f := seed(t, ts.App.Store, a.ID, "web-01", "10.0.0.248")
	seed(t, ts.App.Store, b.ID, "other-01", "10.9.9.9")
	c := ts.client(a.roID, a.roKey) // Export* is allowed to readonly keys

	// run runs ExportRiskProcessEvents, waits for ExportTasks to say
	// FINISHED and returns the task id, the task and the XLSX rows.
	run := func(t *testing.T, lang string, params map[string]any) (string, cwp.ExportTasksResponse, [][]string) {
		t.Helper()
		cl := c
		if lang != "" {
			cl = ts.client(a.roID, a.roKey, func(p *profile.ClientProfile) { p.Language = lang })
		}
		var r cwp.ExportRiskProcessEventsResponse
		if err := cwpCall(cl, "ExportRiskProcessEvents", params, &r); err != nil {
			t.Fatal(err)
		}
		id := api.Value(r.TaskId)
		if id == "" {
			t.Fatalf("no TaskId: %s", dump(r))
		}
		var task cwp.ExportTasksResponse
		waitFor(t, 20*time.Second, "export finished", func() bool {
			if err := cwpCall(cl, "ExportTasks", map[string]any{"TaskId": id}, &task); err != nil {
				t.Fatal(err)
			}
			return api.Value(task.Status) != "PENDING"
		})
		if api.Value(task.Status) != "FINISHED" || !strings.HasSuffix(api.Value(task.FileName), ".xlsx") {
			t.Fatalf("task: %s", dump(task))
		}
		body := download(t, api.Value(task.DownloadUrl), http.StatusOK)
		x, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("not an XLSX: %v", err)
		}
		rows, err := x.GetRows(x.GetSheetName(0))
		if err != nil {
			t.Fatal(err)
		}
		return id, task, rows
	}

	// Filters and order as DescribeRiskProcessEvents: the miner events by start time.
	id, task, rows := run(t, "", map[string]any{"Filters": []filter{{Name: "VirusName", Values: []string{"miner"}}}, "By": "StartTime", "Order": "ASC"})
	wantHeader := []string{"事件ID", "主机名", "主机IP", "外网IP", "主机ID", "主机状态", "进程ID", "进程路径", "命令行参数", "进程启动时间",
		"检测时间", "病毒名", "标签", "威胁描述", "修复建议", "处理状态", "MD5", "首次检测方式"}
	if len(rows) != 3 || !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("rows: %q", rows)
	}
	want := [][]string{
		{idStr(f.eventIDs[1]), "web-01", "10.0.0.248", "203.0.113.7", "uuid-web-01", "在线", "4242", "/tmp/xmrig", "/tmp/xmrig -o stratum+tcp://pool.example:3333",
			"2026-11-01 09:00:00", "2026-11-01 09:01:00", minerThreat.Name, "miner", minerThreat.Desc.ZH, minerThreat.Solution.ZH, "已查杀",
			"fedcba9876543210fedcba9876543210", "扫描"},
		{idStr(f.eventIDs[2]), "web-01", "10.0.0.248", "203.0.113.7", "uuid-web-01", "在线", "4243", "/var/tmp/100%_legit", "/var/tmp/100%_legit",
			"2026-11-01 10:00:00", "2026-11-01 09:30:00", minerThreat.Name, "miner", minerThreat.Desc.ZH, minerThreat.Solution.ZH, "待处理",
			"", "扫描"},
	}
	for i, w := range want {
		got := rows[i+1]
		for len(got) < len(w) { // excelize trims trailing empty cells
			got = append(got, "")
		}
		if !slices.Equal(got, w) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, got, w)
		}
	}

	// The same file as CSV.
	body := download(t, api.Value(task.DownloadUrl)+"&format=csv", http.StatusOK)
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff")))).ReadAll()
	if err != nil || len(recs) != 3 || recs[1][0] != idStr(f.eventIDs[1]) {
		t.Fatalf("csv: %q (%v)", recs, err)
	}
	// A tampered URL is refused.
	download(t, strings.Replace(api.Value(task.DownloadUrl), "sig=", "sig=00", 1), http.StatusForbidden)

	// English, the export's own ProcessPath filter name, every status.
	_, _, rows = run(t, "en-US", map[string]any{"Filters": []filter{{Name: "ProcessPath", Values: []string{"/dev/shm/"}}}})
	if len(rows) != 2 || rows[0][0] != "Event ID" || rows[1][0] != idStr(f.eventIDs[0]) || rows[1][15] != "Pending" ||
		rows[1][13] != fscanThreat.Desc.EN || rows[1][17] != "Real time" {
		t.Fatalf("en-US rows: %q", rows)
	}
	// No filter: every event, default order DetectTime DESC.
	_, _, rows = run(t, "", map[string]any{})
	if len(rows) != 4 || rows[1][0] != idStr(f.eventIDs[2]) || rows[3][0] != idStr(f.eventIDs[0]) {
		t.Fatalf("all rows: %q", rows)
	}
	// Nothing matches: a header-only file.
	_, _, rows = run(t, "", map[string]any{"Filters": []filter{{Name: "Status", Values: []string{"3"}}}})
	if len(rows) != 1 {
		t.Fatalf("empty export: %q", rows)
	}

	// Errors: the filters are checked when the export is asked for.
	for _, tt := range []struct {
		name   string
		params map[string]any
		code   string
	}{
		{"unknown filter", map[string]any{"Filters": []filter{{Name: "Bogus", Values: []string{"x"}}}}, "InvalidParameterValue"},
		{"both path filters", map[string]any{"Filters": []filter{{Name: "ProcessPath", Values: []string{"x"}}, {Name: "FilePath", Values: []string{"y"}}}}, "InvalidParameterValue"},
		{"bad By", map[string]any{"By": "Name"}, "InvalidParameterValue"},
		{"bad status", map[string]any{"Filters": []filter{{Name: "Status", Values: []string{"9"}}}}, "InvalidParameterValue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code := sdkCode(t, cwpCall(c, "ExportRiskProcessEvents", tt.params, nil)); code != tt.code {
				t.Fatalf("code %s, want %s", code, tt.code)
			}
		})
	}

	// Another account's task, an unknown one, a missing TaskId.
	err = cwpCall(ts.client(b.adminID, b.adminKey), "ExportTasks", map[string]any{"TaskId": id}, nil)
	if code := sdkCode(t, err); code != "ResourceNotFound" || !strings.Contains(sdkMessage(err), "TaskId") {
		t.Fatalf("b reads a's task: %s %s", code, sdkMessage(err))
	}
	if code := sdkCode(t, cwpCall(c, "ExportTasks", map[string]any{"TaskId": "no-such-task"}, nil)); code != "ResourceNotFound" {
		t.Fatalf("unknown task: %s", code)
	}
	if code := sdkCode(t, cwpCall(c, "ExportTasks", map[string]any{}, nil)); code != "MissingParameter" {
		t.Fatalf("no TaskId: %s", code)
	}
	// b's export holds b's events only.
	var rb cwp.ExportRiskProcessEventsResponse
	if err := cwpCall(ts.client(b.adminID, b.adminKey), "ExportRiskProcessEvents", map[string]any{}, &rb); err != nil {
		t.Fatal(err)
	}
	var tb cwp.ExportTasksResponse
	waitFor(t, 20*time.Second, "b's export", func() bool {
		if err := cwpCall(ts.client(b.adminID, b.adminKey), "ExportTasks", map[string]any{"TaskId": api.Value(rb.TaskId)}, &tb); err != nil {
			t.Fatal(err)
		}
		return api.Value(tb.Status) == "FINISHED"
	})
	x, err := excelize.OpenReader(bytes.NewReader(download(t, api.Value(tb.DownloadUrl), http.StatusOK)))
	if err != nil {
		t.Fatal(err)
	}
	brows, _ := x.GetRows(x.GetSheetName(0))
	if len(brows) != 4 {
		t.Fatalf("b's rows: %q", brows)
	}
	for _, r := range brows[1:] {
		if r[1] != "other-01" {
			t.Errorf("b's export holds %q", r)
		}
	}
}
