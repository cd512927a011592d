package integration

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/api/tcss"
)

type filter struct {
	Name       string
	Values     []string
	ExactMatch bool `json:",omitempty"`
}

func TestDescribeRiskProcessEvents(t *testing.T) { backends(t, testDescribeRiskProcessEvents) }

func testDescribeRiskProcessEvents(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a := ts.newAccount("default")
	f := seed(t, ts.App.Store, a.ID, "web-01", "10.0.0.248")
	c := ts.admin()

	var resp cwp.DescribeRiskProcessEventsResponse
	if err := cwpCall(c, "DescribeRiskProcessEvents", map[string]any{"Limit": 30}, &resp); err != nil {
		t.Fatal(err)
	}
	if api.Value(resp.TotalCount) != 3 || len(resp.List) != 3 {
		t.Fatalf("TotalCount=%d len=%d, want 3", api.Value(resp.TotalCount), len(resp.List))
	}
	// Default order: DetectTime DESC.
	if got := []int64{*resp.List[0].EventId, *resp.List[1].EventId, *resp.List[2].EventId}; !slices.Equal(got, []int64{f.eventIDs[2], f.eventIDs[1], f.eventIDs[0]}) {
		t.Fatalf("order = %v, ids %v", got, f.eventIDs)
	}
	e := resp.List[2]
	want := cwp.RiskProcessEvent{
		EventId: api.Ptr(f.eventIDs[0]), HostName: api.Ptr("web-01"), HostIp: api.Ptr("10.0.0.248"), WanIp: api.Ptr("203.0.113.7"),
		ProcessId: api.Ptr(int64(21595)), FilePath: api.Ptr("/dev/shm/dev"), CmdLine: api.Ptr("./dev -h 10.0.0.1/24 -m ssh -nopoc -t 200 -o ssh.txt"),
		StartTime: api.Ptr("2026-11-01 08:00:00"), DetectTime: api.Ptr("2026-11-01 08:03:00"), VirusName: api.Ptr("Linux.Scanner.Fscan"),
		CheckPlatform: []*string{api.Ptr("4")}, VirusTags: []*string{api.Ptr("scanner"), api.Ptr("hack_tools")},
		ThreatDesc: api.Ptr(fscanThreat.Desc.ZH), SuggestSolution: api.Ptr(fscanThreat.Solution.ZH), ReferenceLink: api.Ptr(fscanThreat.ReferenceLink),
		HandleStatus: api.Ptr(int64(0)), OnlineStatus: api.Ptr(int64(1)),
		MachineExtraInfo: &cwp.MachineExtraInfo{WanIP: api.Ptr("203.0.113.7"), PrivateIP: api.Ptr("10.0.0.248"), NetworkType: api.Ptr(int64(0)),
			NetworkName: api.Ptr("eth0"), InstanceID: api.Ptr("ins-web-01"), HostName: api.Ptr("web-01")},
		Uuid: api.Ptr("uuid-web-01"), FirstDetectionMethod: api.Ptr(uint64(1)), QUUID: api.Ptr("quuid-web-01"), ExeMd5: api.Ptr("0123456789abcdef0123456789abcdef"),
	}
	if !reflect.DeepEqual(*e, want) {
		got, _ := json.Marshal(e)
		exp, _ := json.Marshal(want)
		t.Fatalf("event:\n got %s\nwant %s", got, exp)
	}

	// English texts with X-TC-Language en-US.
	var en cwp.DescribeRiskProcessEventsResponse
	if err := cwpCall(ts.admin(func(p *profile.ClientProfile) { p.Language = "en-US" }), "DescribeRiskProcessEvents",
		map[string]any{"Filters": []filter{{Name: "VirusName", Values: []string{"Linux.Scanner.Fscan"}, ExactMatch: true}}}, &en); err != nil {
		t.Fatal(err)
	}
	if len(en.List) != 1 || *en.List[0].ThreatDesc != fscanThreat.Desc.EN || *en.List[0].SuggestSolution != fscanThreat.Solution.EN {
		t.Fatalf("en-US texts: %+v", en.List)
	}

	tests := []struct {
		name    string
		params  map[string]any
		wantIDs []int64
		total   int64
	}{
		{"IpOrName substring of IP", map[string]any{"Filters": []filter{{Name: "IpOrName", Values: []string{"0.248"}}}}, []int64{f.eventIDs[2], f.eventIDs[1], f.eventIDs[0]}, 3},
		{"IpOrName substring of name", map[string]any{"Filters": []filter{{Name: "IpOrName", Values: []string{"WEB-0"}}}}, []int64{f.eventIDs[2], f.eventIDs[1], f.eventIDs[0]}, 3},
		{"IpOrName no match", map[string]any{"Filters": []filter{{Name: "IpOrName", Values: []string{"10.9."}}}}, nil, 0},
		{"IpOrName exact", map[string]any{"Filters": []filter{{Name: "IpOrName", Values: []string{"10.0.0"}, ExactMatch: true}}}, nil, 0},
		{"HostId", map[string]any{"Filters": []filter{{Name: "HostId", Values: []string{f.hostUUID}}}}, []int64{f.eventIDs[2], f.eventIDs[1], f.eventIDs[0]}, 3},
		{"VirusName substring", map[string]any{"Filters": []filter{{Name: "VirusName", Values: []string{"miner"}}}}, []int64{f.eventIDs[2], f.eventIDs[1]}, 2},
		{"ProcessId", map[string]any{"Filters": []filter{{Name: "ProcessId", Values: []string{"4242", "21595"}}}}, []int64{f.eventIDs[1], f.eventIDs[0]}, 2},
		{"FilePath with literal %", map[string]any{"Filters": []filter{{Name: "FilePath", Values: []string{"100%_"}}}}, []int64{f.eventIDs[2]}, 1},
		{"FilePath % is not a wildcard", map[string]any{"Filters": []filter{{Name: "FilePath", Values: []string{"/dev%dev"}}}}, nil, 0},
		{"Status killed", map[string]any{"Filters": []filter{{Name: "Status", Values: []string{"2"}}}}, []int64{f.eventIDs[1]}, 1},
		{"Status pending", map[string]any{"Filters": []filter{{Name: "Status", Values: []string{"0"}}}}, []int64{f.eventIDs[2], f.eventIDs[0]}, 2},
		{"time range", map[string]any{"Filters": []filter{{Name: "BeginTime", Values: []string{"2026-11-01 08:30:00"}}, {Name: "EndTime", Values: []string{"2026-11-01 09:30:00"}}}}, []int64{f.eventIDs[1]}, 1},
		{"three filters", map[string]any{"Filters": []filter{{Name: "IpOrName", Values: []string{"web"}}, {Name: "VirusName", Values: []string{"Xmrig"}}, {Name: "Status", Values: []string{"0"}}}}, []int64{f.eventIDs[2]}, 1},
		{"StartTime ASC", map[string]any{"By": "StartTime", "Order": "ASC"}, []int64{f.eventIDs[0], f.eventIDs[1], f.eventIDs[2]}, 3},
		{"paging keeps total", map[string]any{"By": "StartTime", "Order": "ASC", "Limit": 1, "Offset": 1}, []int64{f.eventIDs[1]}, 3},
		{"offset past the end", map[string]any{"Offset": 10}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r cwp.DescribeRiskProcessEventsResponse
			if err := cwpCall(c, "DescribeRiskProcessEvents", tt.params, &r); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, e := range r.List {
				got = append(got, *e.EventId)
			}
			if !slices.Equal(got, tt.wantIDs) || api.Value(r.TotalCount) != tt.total {
				t.Fatalf("ids %v total %d, want %v total %d", got, api.Value(r.TotalCount), tt.wantIDs, tt.total)
			}
			if r.List == nil {
				t.Fatal("List must be [] when empty, not absent")
			}
		})
	}
}

func TestDescribeVirusDetail(t *testing.T) { backends(t, testDescribeVirusDetail) }

func testDescribeVirusDetail(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a := ts.newAccount("default")
	f := seed(t, ts.App.Store, a.ID, "node-1", "10.0.0.1")
	var r tcss.DescribeVirusDetailResponse
	if err := tcssCall(ts.admin(func(p *profile.ClientProfile) { p.Language = "en-US" }), "DescribeVirusDetail", map[string]any{"Id": idStr(f.virusEventID)}, &r); err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"ContainerName": "/web-node-1", "ImageName": "centos:7", "FilePath": "/home/virus/specimen_1", "Size": uint64(332155),
		"ProcessChan": "git(433802)|node(280016)|containerd-shim-runc-v2(176637)", "ProcessId": uint64(433802),
		"PProcessPath": "/usr/bin/node", "AncestorProcessPath": "/usr/local/bin/containerd-shim-runc-v2", "RiskLevel": "RISK_CRITICAL",
		"CreateTime": "2026-11-01T08:01:00Z", "FileModifyTime": "2026-11-01T08:00:00Z", "PodName": "web-0", "Namespace": "prod",
		"WorkloadType": "StatefulSet", "HostName": "node-1", "HostIP": "10.0.0.1", "HostId": "uuid-node-1", "SourceType": int64(2),
		"HarmDescribe": minerThreat.Desc.EN, "SuggestScheme": minerThreat.Solution.EN, "Status": "DEAL_NONE", "ContainerStatus": "RUNNING",
	}
	rv := reflect.ValueOf(r)
	for field, want := range checks {
		got := rv.FieldByName(field)
		if got.IsNil() || !reflect.DeepEqual(got.Elem().Interface(), want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	// Every field of the response is present (the official clients expect all of them).
	raw := map[string]json.RawMessage{}
	b, _ := json.Marshal(r)
	json.Unmarshal(b, &raw)
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		if _, ok := raw[rt.Field(i).Name]; !ok {
			t.Errorf("field %s missing from the response", rt.Field(i).Name)
		}
	}
}

func TestDescribeAssetImageRegistryVirusList(t *testing.T) {
	backends(t, testDescribeAssetImageRegistryVirusList)
}

func testDescribeAssetImageRegistryVirusList(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a := ts.newAccount("default")
	f := seed(t, ts.App.Store, a.ID, "r1", "10.0.0.1")
	c := ts.admin()
	byInfo := map[string]any{"ImageInfo": map[string]any{"InstanceName": f.registry, "Namespace": "library", "ImageName": "web", "ImageTag": "1.0", "Force": "false"}}
	tests := []struct {
		name   string
		params map[string]any
		paths  []string
		total  uint64
	}{
		{"by id", map[string]any{"Id": f.imageID}, []string{"bin/webshell.php", "usr/local/bin/xmrig"}, 2},
		{"by ImageInfo", byInfo, []string{"bin/webshell.php", "usr/local/bin/xmrig"}, 2},
		{"ImageInfo.Force as a boolean, as one official example has it", map[string]any{"ImageInfo": map[string]any{"InstanceName": f.registry, "Namespace": "library", "ImageName": "web", "ImageTag": "1.0", "Force": true}}, []string{"bin/webshell.php", "usr/local/bin/xmrig"}, 2},
		{"RiskLevel filter", map[string]any{"Id": f.imageID, "Filters": []filter{{Name: "RiskLevel", Values: []string{"3"}}}}, []string{"usr/local/bin/xmrig"}, 1},
		{"Level filter by name", map[string]any{"Id": f.imageID, "Filters": []filter{{Name: "Level", Values: []string{"RISK_CRITICAL"}}}}, []string{"bin/webshell.php"}, 1},
		{"Name filter", map[string]any{"Id": f.imageID, "Filters": []filter{{Name: "Name", Values: []string{"webshell"}}}}, []string{"bin/webshell.php"}, 1},
		{"paging", map[string]any{"Id": f.imageID, "Limit": 1, "Offset": 1}, []string{"usr/local/bin/xmrig"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r tcss.DescribeAssetImageRegistryVirusListResponse
			if err := tcssCall(c, "DescribeAssetImageRegistryVirusList", tt.params, &r); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, v := range r.List {
				paths = append(paths, *v.Path)
			}
			if !slices.Equal(paths, tt.paths) || api.Value(r.TotalCount) != tt.total {
				t.Fatalf("paths %v total %d, want %v %d", paths, api.Value(r.TotalCount), tt.paths, tt.total)
			}
		})
	}
	var r tcss.DescribeAssetImageRegistryVirusListResponse
	if err := tcssCall(c, "DescribeAssetImageRegistryVirusList", map[string]any{"Id": f.imageID, "Limit": 1}, &r); err != nil {
		t.Fatal(err)
	}
	v := r.List[0]
	if *v.RiskLevel != "4" || *v.Category != "Webshell" || *v.FileName != "webshell.php" || *v.FileSize != 40 ||
		*v.FirstScanTime != "2026-11-01 08:00:00 +0000 UTC" || *v.LatestScanTime != "2026-11-01 08:00:00 +0000 UTC" || *v.FileType != "PHP" {
		b, _ := json.Marshal(v)
		t.Fatalf("finding: %s", b)
	}
	if !strings.HasPrefix(*v.Path, "bin/") {
		t.Fatalf("path %q keeps its leading slash", *v.Path)
	}
}
