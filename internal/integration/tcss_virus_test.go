package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/vigil-sec/vigil/internal/store"
)

// The runtime trojan-file actions through the official Go SDK on a real
// server (both backends). The agent-facing parts (isolation, quarantine,
// scans) are tested with fakes in internal/service/tcss.

type runtimeVirusList struct {
	TotalCount int64
	List       []struct {
		Id, FileName, FilePath, VirusName, ContainerId, ContainerName, ImageId, ImageName, MD5, Status, ContainerNetStatus string
		HarmDescribe, SuggestScheme, HostID, HostIP, PodName, NodeName, ClusterName, CreateTime, ModifyTime, RiskLevel     string
		CheckPlatform                                                                                                      []string
	}
}

func seedVirusEvents(t *testing.T, st store.Store, accountID int64, host string) []int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := st.UpsertHost(ctx, accountID, store.Host{UUID: host, Name: host, PrivateIP: "10.9.0.1", Online: true, LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertThreats(ctx, []store.Threat{minerThreat, fscanThreat}); err != nil {
		t.Fatal(err)
	}
	var evs []store.VirusEvent
	for i := range 6 {
		evs = append(evs, store.VirusEvent{
			HostUUID: host, ContainerID: fmt.Sprintf("ctr%d", i%3), ContainerName: fmt.Sprintf("/web-%d", i%3),
			ContainerStatus: []string{"RUNNING", "STOPPED"}[i%2], ImageID: fmt.Sprintf("sha256:%d", i%2), ImageName: []string{"nginx:1", "redis:7"}[i%2],
			FilePath: fmt.Sprintf("/srv/app/file%d.bin", i), FileMD5: fmt.Sprintf("%032x", i+1), VirusName: []string{minerThreat.Name, fscanThreat.Name}[i%2],
			RiskLevel: "RISK_HIGH", CheckPlatform: []string{"1"}, SourceType: []int{0, 2}[i%2], TaskID: int64(i%2) * 5,
			IsolateMode: []string{"", "AUTO"}[i%2], ContainerNetStatus: []string{"", "ISOLATED", ""}[i%3],
			PodName: "pod-x", NodeName: "node-x", ClusterName: "cls",
			Status:     []string{"DEAL_NONE", "DEAL_NONE", "DEAL_IGNORE"}[i%3],
			CreateTime: t0.Add(time.Duration(i) * time.Hour), ModifyTime: t0.Add(time.Duration(i)*time.Hour + 30*time.Minute),
		})
	}
	ids, err := st.InsertVirusEvents(ctx, accountID, evs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestTcssVirusActions(t *testing.T) {
	backends(t, func(t *testing.T, opts ...serverOption) {
		ts := startServer(t, opts...)
		a := ts.newAccount("virus-a")
		b := ts.newAccount("virus-b")
		ids := seedVirusEvents(t, ts.App.Store, a.ID, "va-host")
		seedVirusEvents(t, ts.App.Store, b.ID, "vb-host")
		ca := ts.client(a.adminID, a.adminKey, func(p *profile.ClientProfile) { p.Language = "en-US" })
		cb := ts.client(b.adminID, b.adminKey)
		ro := ts.client(a.roID, a.roKey)

		t.Run("ListFilters", func(t *testing.T) {
			f := func(name string, vals ...string) map[string]any { return map[string]any{"Name": name, "Values": vals} }
			for _, tc := range []struct {
				filters []map[string]any
				want    []int // indexes into ids
			}{
				{nil, []int{5, 4, 3, 2, 1, 0}},
				{[]map[string]any{f("FileName", "FILE3")}, []int{3}},
				{[]map[string]any{f("FilePath", "/srv/app/file1.bin", "/srv/app/file2.bin")}, []int{2, 1}},
				{[]map[string]any{f("VirusName", "xmrig")}, []int{4, 2, 0}},
				{[]map[string]any{f("ContainerName", "web-1")}, []int{4, 1}},
				{[]map[string]any{{"Name": "ContainerId", "Values": []string{"ctr0"}, "ExactMatch": true}}, []int{3, 0}},
				{[]map[string]any{f("ImageName", "redis")}, []int{5, 3, 1}},
				{[]map[string]any{f("ImageId", "sha256:0")}, []int{4, 2, 0}},
				{[]map[string]any{f("IsRealTime", "1")}, []int{5, 3, 1}},
				{[]map[string]any{f("IsRealTime", "0")}, []int{4, 2, 0}},
				{[]map[string]any{f("TaskId", "5")}, []int{5, 3, 1}},
				{[]map[string]any{f("ContainerNetStatus", "ISOLATED")}, []int{4, 1}},
				{[]map[string]any{f("ContainerNetStatus", "NORMAL")}, []int{5, 3, 2, 0}},
				{[]map[string]any{f("TimeRange", "2026-11-01 10:00:00", "2026-11-01 11:00:00")}, []int{3, 2}},
				{[]map[string]any{f("ContainerStatus", "STOPPED")}, []int{5, 3, 1}},
				{[]map[string]any{f("AutoIsolateMode", "AUTO")}, []int{5, 3, 1}},
				{[]map[string]any{f("MD5", fmt.Sprintf("%032x", 3))}, []int{2}},
				{[]map[string]any{f("Status", "DEAL_IGNORE")}, []int{5, 2}},
				{[]map[string]any{f("CreateTime", "2026-11-01 12:00:00", "")}, []int{5, 4}},
				{[]map[string]any{f("ModifyTime", "", "2026-11-01 08:30:00")}, []int{0}},
				{[]map[string]any{f("VirusName", "fscan"), f("ContainerStatus", "STOPPED"), f("Status", "DEAL_NONE")}, []int{3, 1}},
			} {
				var got runtimeVirusList
				if err := tcssCall(ca, "DescribeVirusList", map[string]any{"Filters": tc.filters, "Limit": 100}, &got); err != nil {
					t.Fatalf("%v: %v", tc.filters, err)
				}
				var gotIDs []string
				for _, e := range got.List {
					gotIDs = append(gotIDs, e.Id)
				}
				var want []string
				for _, i := range tc.want {
					want = append(want, idStr(ids[i]))
				}
				if !slices.Equal(gotIDs, want) || got.TotalCount != int64(len(want)) {
					t.Errorf("%v: got %v (total %d), want %v", tc.filters, gotIDs, got.TotalCount, want)
				}
			}
		})
		t.Run("ListFieldsOrderPaging", func(t *testing.T) {
			var got runtimeVirusList
			err := tcssCall(ro, "DescribeVirusList", map[string]any{"Order": "ASC", "By": "FileName", "Limit": 2, "Offset": 1}, &got)
			if err != nil {
				t.Fatal(err)
			}
			if got.TotalCount != 6 || len(got.List) != 2 || got.List[0].FileName != "file1.bin" {
				t.Fatalf("page: %+v", got)
			}
			e := got.List[0]
			if e.VirusName != fscanThreat.Name || e.HarmDescribe == "" || e.HostID != "va-host" || e.HostIP != "10.9.0.1" || e.PodName != "pod-x" ||
				e.ContainerNetStatus != "ISOLATED" || e.CreateTime != "2026-11-01T09:00:00Z" || e.RiskLevel != "RISK_HIGH" || len(e.CheckPlatform) != 1 {
				t.Errorf("fields: %+v", e)
			}
			// HarmDescribe follows X-TC-Language.
			var zh runtimeVirusList
			tcssCall(cb, "DescribeVirusList", map[string]any{"Filters": []map[string]any{{"Name": "VirusName", "Values": []string{"xmrig"}}}, "Limit": 1}, &zh)
			if len(zh.List) != 1 || zh.List[0].HarmDescribe != minerThreat.Desc.ZH {
				t.Errorf("zh description: %+v", zh.List)
			}
			var detail struct{ HarmDescribe, SuggestScheme string }
			if err := tcssCall(ca, "DescribeVirusDetail", map[string]any{"Id": idStr(ids[0])}, &detail); err != nil {
				t.Fatal(err)
			}
			if detail.HarmDescribe != minerThreat.Desc.EN || detail.SuggestScheme != minerThreat.Solution.EN {
				t.Errorf("en detail: %+v", detail)
			}
		})
		t.Run("Errors", func(t *testing.T) {
			for _, tc := range []struct {
				action string
				params map[string]any
				code   string
				names  string
			}{
				{"DescribeVirusList", map[string]any{"Filters": []map[string]any{{"Name": "Nope", "Values": []string{"x"}}}}, "InvalidParameterValue", "Filters.0.Name"},
				{"DescribeVirusList", map[string]any{"Filters": []map[string]any{{"Name": "ContainerStatus", "Values": []string{"RUNNING", "FLYING"}}}}, "InvalidParameterValue", "Filters.0.Values.1"},
				{"DescribeVirusList", map[string]any{"Filters": []map[string]any{{"Name": "TimeRange", "Values": []string{"yesterday"}}}}, "InvalidParameterValue", "Filters.0.Values"},
				{"DescribeVirusList", map[string]any{"By": "Nope"}, "InvalidParameterValue", "By"},
				{"DescribeVirusList", map[string]any{"Limit": 101}, "InvalidParameterValue", "Limit"},
				{"DescribeVirusDetail", map[string]any{"Id": idStr(ids[0])}, "ResourceNotFound", "Id"}, // as account b
				{"AddOrModifyVirusWhiteListRule", map[string]any{"Md5List": []string{"zz"}, "Scope": 1}, "InvalidParameterValue", "Md5List.0"},
				{"AddOrModifyVirusWhiteListRule", map[string]any{"Md5List": []string{fmt.Sprintf("%032x", 1)}, "Scope": 0}, "MissingParameter", "ImageIds"},
				{"AddOrModifyVirusWhiteListRule", map[string]any{"Md5List": []string{fmt.Sprintf("%032x", 1)}, "Scope": 1, "EventId": ids[0]}, "ResourceNotFound", "EventId"},
				{"DeleteVirusWhiteListRule", map[string]any{}, "MissingParameter", "RuleIdSet"},
				{"ModifyVirusAutoIsolateSetting", map[string]any{"AutoIsolateSwitch": true}, "MissingParameter", "IsKillProgress"},
				{"ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{idStr(ids[0])}, "Status": "EVENT_IGNORE"}, "ResourceNotFound", "EventIdSet.0"},
			} {
				err := tcssCall(cb, tc.action, tc.params, nil)
				if code := sdkCode(t, err); code != tc.code || !strings.Contains(sdkMessage(err), tc.names) {
					t.Errorf("%s %v: %s %q, want %s naming %s", tc.action, tc.params, code, sdkMessage(err), tc.code, tc.names)
				}
			}
			if code := sdkCode(t, tcssCall(ro, "ModifyVirusAutoIsolateSetting", map[string]any{"AutoIsolateSwitch": true, "IsKillProgress": true}, nil)); code != "UnauthorizedOperation" {
				t.Errorf("readonly modify: %s", code)
			}
		})
		t.Run("StatusAndSummary", func(t *testing.T) {
			var sum struct {
				TaskId                                string
				RiskCnt, RiskContainerCnt, IsolateCnt int64
				RiskIncrease, RiskContainerIncrease   int64
			}
			if err := tcssCall(ca, "DescribeVirusSummary", map[string]any{}, &sum); err != nil {
				t.Fatal(err)
			}
			// Pending: events 0, 1, 3, 4 in containers ctr0, ctr1 (0 and 3 share ctr0; 1 and 4 share ctr1).
			if sum.RiskCnt != 4 || sum.RiskContainerCnt != 2 || sum.IsolateCnt != 0 || sum.TaskId != "" {
				t.Errorf("summary %+v", sum)
			}
			if err := tcssCall(ca, "ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{idStr(ids[0]), idStr(ids[3])}, "Status": "EVENT_IGNORE", "Remark": "triaged"}, nil); err != nil {
				t.Fatal(err)
			}
			tcssCall(ca, "DescribeVirusSummary", map[string]any{}, &sum)
			if sum.RiskCnt != 2 || sum.RiskContainerCnt != 1 {
				t.Errorf("after ignore: %+v", sum)
			}
			var l runtimeVirusList
			tcssCall(ca, "DescribeVirusList", map[string]any{"Filters": []map[string]any{{"Name": "Status", "Values": []string{"DEAL_IGNORE"}}}}, &l)
			if l.TotalCount != 4 {
				t.Errorf("ignored: %d", l.TotalCount)
			}
			if err := tcssCall(ca, "ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{idStr(ids[5])}, "Status": "EVENT_DEL"}, nil); err != nil {
				t.Fatal(err)
			}
			if code := sdkCode(t, tcssCall(ca, "DescribeVirusDetail", map[string]any{"Id": idStr(ids[5])}, nil)); code != "ResourceNotFound" {
				t.Errorf("deleted event: %s", code)
			}
			// Without an agent channel, isolation is unsupported.
			if code := sdkCode(t, tcssCall(ca, "ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{idStr(ids[1])}, "Status": "EVENT_ISOLATE_CONTAINER"}, nil)); code != "UnsupportedOperation" && code != "" {
				t.Errorf("isolate: %s", code)
			}
			// Account b untouched.
			var lb runtimeVirusList
			tcssCall(cb, "DescribeVirusList", map[string]any{"Limit": 100}, &lb)
			if lb.TotalCount != 6 {
				t.Errorf("account b: %d events", lb.TotalCount)
			}
		})
		t.Run("WhitelistAndSettings", func(t *testing.T) {
			m1, m2 := fmt.Sprintf("%032x", 2), fmt.Sprintf("%032X", 3)
			if err := tcssCall(ca, "AddOrModifyVirusWhiteListRule", map[string]any{"Md5List": []string{m1}, "Scope": 1, "Remark": "global"}, nil); err != nil {
				t.Fatal(err)
			}
			if err := tcssCall(ca, "AddOrModifyVirusWhiteListRule", map[string]any{"Md5List": []string{m2}, "Scope": 0, "ImageIds": []string{"sha256:0"}, "EventId": ids[2]}, nil); err != nil {
				t.Fatal(err)
			}
			type rules struct {
				TotalCount int64
				List       []struct {
					Id                          int64
					Md5List, ImageIds           []string
					Scope, ImageCount, Md5Count int64
					Remark, InsertTime          string
				}
			}
			var r rules
			if err := tcssCall(ca, "DescribeVirusWhiteListRules", map[string]any{"Order": "ASC", "By": "InsertTime"}, &r); err != nil {
				t.Fatal(err)
			}
			if r.TotalCount != 2 || r.List[0].Scope != 1 || r.List[1].Scope != 0 || r.List[1].ImageCount != 1 || r.List[1].Md5List[0] != strings.ToLower(m2) {
				t.Fatalf("rules %+v", r)
			}
			var byID rules
			tcssCall(ca, "DescribeVirusWhiteListRules", map[string]any{"Filters": []map[string]any{{"Name": "id", "Values": []string{fmt.Sprint(r.List[1].Id)}}}}, &byID)
			if byID.TotalCount != 1 || byID.List[0].Id != r.List[1].Id {
				t.Errorf("by id: %+v", byID)
			}
			var rb rules
			tcssCall(cb, "DescribeVirusWhiteListRules", map[string]any{}, &rb)
			if rb.TotalCount != 0 {
				t.Errorf("account b sees %d rules", rb.TotalCount)
			}
			if e, _ := ts.App.Store.GetVirusEvent(context.Background(), a.ID, ids[2]); e.Status != "DEAL_ADD_WHITELIST" {
				t.Errorf("event of the rule: %q", e.Status)
			}
			// Modify: an id of the other account is not found; then a real change.
			if code := sdkCode(t, tcssCall(cb, "AddOrModifyVirusWhiteListRule", map[string]any{"Id": r.List[0].Id, "Md5List": []string{m1}, "Scope": 1}, nil)); code != "ResourceNotFound" {
				t.Errorf("modify other's rule: %s", code)
			}
			if err := tcssCall(ca, "AddOrModifyVirusWhiteListRule", map[string]any{"Id": r.List[0].Id, "Md5List": []string{m1, fmt.Sprintf("%032x", 9)}, "Scope": 1}, nil); err != nil {
				t.Fatal(err)
			}
			if code := sdkCode(t, tcssCall(cb, "DeleteVirusWhiteListRule", map[string]any{"RuleIdSet": []int64{r.List[0].Id}}, nil)); code != "ResourceNotFound" {
				t.Errorf("delete other's rule: %s", code)
			}
			if err := tcssCall(ca, "DeleteVirusWhiteListRule", map[string]any{"RuleIdSet": []int64{r.List[0].Id}}, nil); err != nil {
				t.Fatal(err)
			}
			// Settings.
			var s struct{ AutoIsolateSwitch, IsKillProgress, UserAutoIsolateKillSwitch bool }
			tcssCall(ca, "DescribeVirusAutoIsolateSetting", map[string]any{}, &s)
			if s.AutoIsolateSwitch || s.IsKillProgress {
				t.Errorf("default setting %+v", s)
			}
			if err := tcssCall(ca, "ModifyVirusAutoIsolateSetting", map[string]any{"AutoIsolateSwitch": true, "IsKillProgress": true}, nil); err != nil {
				t.Fatal(err)
			}
			tcssCall(ca, "DescribeVirusAutoIsolateSetting", map[string]any{}, &s)
			var sb struct{ AutoIsolateSwitch bool }
			tcssCall(cb, "DescribeVirusAutoIsolateSetting", map[string]any{}, &sb)
			if !s.AutoIsolateSwitch || !s.IsKillProgress || sb.AutoIsolateSwitch {
				t.Errorf("settings a %+v, b %+v", s, sb)
			}
			var samples struct{ TotalCount int64 }
			if err := tcssCall(ca, "DescribeVirusAutoIsolateSampleList", map[string]any{"Filters": []map[string]any{{"Name": "VirusName", "Values": []string{"x"}}}}, &samples); err != nil || samples.TotalCount != 0 {
				t.Errorf("samples %+v %v", samples, err)
			}
		})
		t.Run("Export", func(t *testing.T) {
			var job struct{ JobId string }
			err := tcssCall(ca, "ExportVirusList", map[string]any{"Filters": []map[string]any{{"Name": "VirusName", "Values": []string{"fscan"}}},
				"ExportField": []string{"Id", "FilePath", "VirusName"}}, &job)
			if err != nil || job.JobId == "" {
				t.Fatalf("export: %v %+v", err, job)
			}
			var res struct{ ExportStatus, DownloadURL string }
			for range 100 {
				if err := tcssCall(ca, "DescribeExportJobResult", map[string]any{"JobId": job.JobId}, &res); err != nil {
					t.Fatal(err)
				}
				if res.ExportStatus != "RUNNING" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if res.ExportStatus != "SUCCESS" || res.DownloadURL == "" {
				t.Errorf("job %+v", res)
			}
			if code := sdkCode(t, tcssCall(cb, "DescribeExportJobResult", map[string]any{"JobId": job.JobId}, nil)); code != "ResourceNotFound" {
				t.Errorf("other account's job: %s", code)
			}
			if code := sdkCode(t, tcssCall(ca, "ExportVirusList", map[string]any{"ExportField": []string{"Nope"}}, nil)); code != "InvalidParameterValue" {
				t.Errorf("bad field: %s", code)
			}
		})
	})
}
