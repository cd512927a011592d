package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/vigil-sec/vigil/internal/agent/procjudge"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/store"
)

type whiteListInfo struct {
	Id            int64
	QuuidList     string
	Md5List       string
	IsGlobal      int64
	Mode          int64
	MatchType     int64
	FileName      string
	FileDirectory string
	FileExtension string
	CreateTime    string
	ModifyTime    string
	EventsCount   int64
}

func describeWhiteList(t *testing.T, c *common.Client, params map[string]any) (int64, []whiteListInfo) {
	t.Helper()
	var resp struct {
		TotalCount int64
		WhiteList  []whiteListInfo
	}
	if err := cwpCall(c, "DescribeMalwareWhiteList", params, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.TotalCount, resp.WhiteList
}

func eventStatus(t *testing.T, st store.Store, accountID, id int64) store.HandleStatus {
	t.Helper()
	e, err := st.GetRiskProcessEvent(context.Background(), accountID, id)
	if err != nil {
		t.Fatalf("event %d: %v", id, err)
	}
	return e.HandleStatus
}

func modify(c *common.Client, params map[string]any) error {
	if _, ok := params["RiskType"]; !ok {
		params["RiskType"] = "PROCESS"
	}
	var resp struct{ IsSync *int64 }
	if err := cwpCall(c, "ModifyRiskEventsStatus", params, &resp); err != nil {
		return err
	}
	if resp.IsSync == nil || *resp.IsSync != 0 {
		return errNotSync
	}
	return nil
}

var errNotSync = errorString("ModifyRiskEventsStatus: IsSync is not 0")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestModifyRiskEventsStatus(t *testing.T) { backends(t, testModifyRiskEventsStatus) }

func testModifyRiskEventsStatus(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	st := ts.App.Store
	def := ts.newAccount(app.DefaultAccount)
	beta := ts.newAccount("beta")
	fa := seed(t, st, def.ID, "web", "10.0.0.1")
	fb := seed(t, st, beta.ID, "web", "10.0.0.1")
	c := ts.admin()

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			params map[string]any
			code   string
		}{
			{"other risk type", map[string]any{"RiskType": "MALWARE", "Operate": 0, "Ids": []int64{fa.eventIDs[0]}}, "UnsupportedOperation"},
			{"unknown risk type", map[string]any{"RiskType": "VIRUS", "Operate": 0, "Ids": []int64{fa.eventIDs[0]}}, "InvalidParameterValue"},
			{"malware operate", map[string]any{"Operate": 3, "Ids": []int64{fa.eventIDs[0]}}, "InvalidParameterValue"},
			{"unknown operate", map[string]any{"Operate": 9, "Ids": []int64{fa.eventIDs[0]}}, "InvalidParameterValue"},
			{"no selection", map[string]any{"Operate": 0}, "MissingParameter"},
			{"other account's id", map[string]any{"Operate": 0, "Ids": []int64{fa.eventIDs[0], fb.eventIDs[0]}}, "ResourceNotFound"},
			{"unknown filter", map[string]any{"Operate": 0, "UpdateAll": true, "Filters": []filter{{Name: "Nope", Values: []string{"x"}}}}, "InvalidParameterValue"},
			{"bad status filter", map[string]any{"Operate": 0, "UpdateAll": true, "Filters": []filter{{Name: "Status", Values: []string{"9"}}}}, "InvalidParameterValue"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code := sdkCode(t, modify(c, tc.params)); code != tc.code {
					t.Errorf("code %q (%s), want %s", code, sdkMessage(modify(c, tc.params)), tc.code)
				}
			})
		}
		if s := eventStatus(t, st, def.ID, fa.eventIDs[0]); s != store.HandlePending {
			t.Errorf("a refused request changed the event to %v", s)
		}
		// A readonly key may not change anything.
		err := modify(ts.client(def.roID, def.roKey), map[string]any{"Operate": 0, "Ids": []int64{fa.eventIDs[0]}})
		if code := sdkCode(t, err); code != "UnauthorizedOperation" {
			t.Errorf("readonly key: %q", code)
		}
	})
	t.Run("Handled", func(t *testing.T) {
		if err := modify(c, map[string]any{"Operate": 0, "Ids": []int64{fa.eventIDs[0]}}); err != nil {
			t.Fatal(err)
		}
		if s := eventStatus(t, st, def.ID, fa.eventIDs[0]); s != store.HandleHandled {
			t.Errorf("status %v", s)
		}
		if s := eventStatus(t, st, beta.ID, fb.eventIDs[0]); s != store.HandlePending {
			t.Errorf("the other account's event became %v", s)
		}
	})
	t.Run("IgnoreAllWithExcludeAndFilters", func(t *testing.T) {
		err := modify(c, map[string]any{"Operate": 1, "UpdateAll": true, "ExcludeId": []int64{fa.eventIDs[2]},
			"Filters": []filter{{Name: "VirusName", Values: []string{"Xmrig"}}, {Name: "IpOrName", Values: []string{"10.0.0"}}}})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.HandleStatus{store.HandleHandled, store.HandleIgnored, store.HandlePending}
		for i, id := range fa.eventIDs {
			if s := eventStatus(t, st, def.ID, id); s != want[i] {
				t.Errorf("event %d: %v, want %v", i, s, want[i])
			}
		}
		for _, id := range fb.eventIDs {
			if s := eventStatus(t, st, beta.ID, id); s == store.HandleIgnored {
				t.Errorf("the other account's event %d was ignored", id)
			}
		}
		// The Status filter of DescribeRiskProcessEvents: 4 is trusted.
		if got := describeRisk(t, ts, map[string]any{"Name": "Status", "Values": []string{"4"}}); len(got) != 1 || got[0].EventId != fa.eventIDs[1] {
			t.Errorf("trusted events: %+v", got)
		}
	})
	t.Run("Whitelist", func(t *testing.T) {
		if err := modify(c, map[string]any{"Operate": 8, "Ids": []int64{fa.eventIDs[0]}}); err != nil {
			t.Fatal(err)
		}
		if s := eventStatus(t, st, def.ID, fa.eventIDs[0]); s != store.HandleIgnored {
			t.Errorf("status %v", s)
		}
		total, list := describeWhiteList(t, c, map[string]any{})
		if total != 1 || list[0].Mode != 0 || list[0].Md5List != "0123456789abcdef0123456789abcdef" || list[0].IsGlobal != 0 ||
			list[0].QuuidList != "quuid-web" || list[0].EventsCount != 1 {
			t.Errorf("whitelist after Operate 8: %d %+v", total, list)
		}
		// Again: the host is covered, no second rule.
		if err := modify(c, map[string]any{"Operate": 8, "Ids": []int64{fa.eventIDs[0]}}); err != nil {
			t.Fatal(err)
		}
		if total, _ := describeWhiteList(t, c, map[string]any{}); total != 1 {
			t.Errorf("%d rules after whitelisting twice", total)
		}
		// An event without an MD5 is trusted by its path.
		if err := modify(c, map[string]any{"Operate": 8, "Ids": []int64{fa.eventIDs[2]}}); err != nil {
			t.Fatal(err)
		}
		_, list = describeWhiteList(t, c, map[string]any{"Filters": []filter{{Name: "Mode", Values: []string{"1"}}}})
		if len(list) != 1 || list[0].FileName != "100%_legit" || list[0].FileDirectory != "/var/tmp" || list[0].MatchType != 0 {
			t.Errorf("path rule: %+v", list)
		}
		if total, _ := describeWhiteList(t, ts.client(beta.adminID, beta.adminKey), map[string]any{}); total != 0 {
			t.Errorf("beta sees %d rules", total)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if err := modify(c, map[string]any{"Operate": 2, "Ids": []int64{fa.eventIDs[2]}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetRiskProcessEvent(context.Background(), def.ID, fa.eventIDs[2]); err == nil {
			t.Error("deleted event still there")
		}
		if got := describeRisk(t, ts); len(got) != 2 {
			t.Errorf("%d events left, want 2", len(got))
		}
		if err := modify(c, map[string]any{"Operate": 2, "UpdateAll": true, "ExcludeId": []int64{fa.eventIDs[0]}}); err != nil {
			t.Fatal(err)
		}
		if got := describeRisk(t, ts); len(got) != 1 || got[0].EventId != fa.eventIDs[0] {
			t.Errorf("after delete-all but one: %+v", got)
		}
		if got, _ := st.QueryRiskProcessEvents(context.Background(), beta.ID, store.RiskProcessEventQuery{}); got.Total != 3 {
			t.Errorf("the other account has %d events left", got.Total)
		}
	})
	t.Run("KillWithoutAgent", func(t *testing.T) {
		// The seeded host has no agent: the kill is queued and the event
		// stays killing until an agent answers.
		if err := modify(c, map[string]any{"Operate": 7, "Ids": []int64{fa.eventIDs[0]}}); err != nil {
			t.Fatal(err)
		}
		if s := eventStatus(t, st, def.ID, fa.eventIDs[0]); s != store.HandleKilling {
			t.Errorf("status %v", s)
		}
	})
}

// fakeAgent enrolls a host of the account through the real agent transport.
func fakeAgent(t *testing.T, ts *testServer, accountID int64, machine string) (*transport.Client, store.Host) {
	t.Helper()
	ctx := context.Background()
	_, tok, err := agentapi.CreateToken(ctx, ts.App.Store, accountID, agentapi.TokenOptions{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := transport.Enroll(ctx, "http://"+ts.Addr, tok, wire.HostFacts{MachineID: machine, HostName: "agent-" + machine[:4],
		PrivateIP: "10.9.0.1"}, transport.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.New(cred, transport.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ts.App.Store.GetHost(ctx, accountID, c.HostUUID())
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

func procEvent(pid int64, path, md5 string) wire.Event {
	return wire.Event{PID: pid, PPID: 1, StartTime: time.Now().Add(-time.Minute).Truncate(time.Second), ExePath: path, CmdLine: path,
		ExeMD5: md5, VirusName: "Linux.Test.Miner", Rule: "test_miner", CheckPlatform: []string{"4"}, Method: 1, DetectTime: time.Now(),
		Tags: []string{"miner"}, DescZH: "测试挖矿。", DescEN: "A test miner.", SolutionZH: "结束它。", SolutionEN: "Kill it.",
		Reference: "https://example.invalid/miner", RiskLevel: "RISK_HIGH"}
}

func TestKillAndWhitelistThroughAgent(t *testing.T) { backends(t, testKillAndWhitelistThroughAgent) }

func testKillAndWhitelistThroughAgent(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	st := ts.App.Store
	ctx := context.Background()
	def := ts.newAccount(app.DefaultAccount)
	agent, host := fakeAgent(t, ts, def.ID, "0123456789abcdef-machine")
	c := ts.admin()

	t.Run("SeededCatalog", func(t *testing.T) {
		for _, th := range procjudge.Threats() {
			got, err := st.GetThreat(ctx, th.Name)
			if err != nil || got.Desc != th.Desc || got.Solution != th.Solution {
				t.Errorf("catalog %s: %+v, %v", th.Name, got, err)
			}
		}
	})

	const md5X = "11111111111111111111111111111111"
	resp, err := agent.SendEvents(ctx, wire.EventsRequest{Events: []wire.Event{
		procEvent(1001, "/tmp/a", md5X), procEvent(1002, "/tmp/b", ""), procEvent(1003, "/tmp/c", ""), procEvent(1004, "/tmp/d", "")}})
	if err != nil || resp.Accepted != 4 {
		t.Fatalf("upload: %+v, %v", resp, err)
	}
	ids := resp.EventIDs
	t.Run("CatalogFromEvents", func(t *testing.T) {
		got := describeRisk(t, ts, map[string]any{"Name": "ProcessId", "Values": []string{"1001"}})
		if len(got) != 1 || got[0].ThreatDesc != "测试挖矿。" || got[0].SuggestSolution != "结束它。" || !slices.Equal(got[0].VirusTags, []string{"miner"}) {
			t.Errorf("event texts: %+v", got)
		}
	})
	t.Run("Kill", func(t *testing.T) {
		if err := modify(c, map[string]any{"Operate": 7, "Ids": ids[:3]}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:3] {
			if s := eventStatus(t, st, def.ID, id); s != store.HandleKilling {
				t.Errorf("event %d: %v", id, s)
			}
		}
		if s := eventStatus(t, st, def.ID, ids[3]); s != store.HandlePending {
			t.Errorf("unselected event: %v", s)
		}
		cmds, err := agent.PollCommands(ctx, 5*time.Second)
		if err != nil || len(cmds) != 3 {
			t.Fatalf("commands: %+v, %v", cmds, err)
		}
		byEvent := map[int64]wire.Command{}
		for _, cmd := range cmds {
			var p wire.KillPayload
			if cmd.Kind != wire.CommandKill || json.Unmarshal(cmd.Payload, &p) != nil {
				t.Fatalf("command %+v", cmd)
			}
			if p.PID < 1001 || p.PID > 1003 || p.StartTime.IsZero() {
				t.Errorf("payload %+v", p)
			}
			byEvent[p.EventID] = cmd
		}
		report := func(id int64, res wire.CommandResult) {
			t.Helper()
			if err := agent.ReportResult(ctx, byEvent[id].ID, res); err != nil {
				t.Fatal(err)
			}
		}
		killed, _ := json.Marshal(wire.KillResult{Killed: true})
		exited, _ := json.Marshal(wire.KillResult{Exited: true})
		report(ids[0], wire.CommandResult{OK: true, Result: killed})
		report(ids[1], wire.CommandResult{OK: true, Result: exited})
		report(ids[2], wire.CommandResult{OK: false, Error: "operation not permitted"})
		report(ids[0], wire.CommandResult{OK: true, Result: killed}) // a retried upload changes nothing
		want := []store.HandleStatus{store.HandleKilled, store.HandleExited, store.HandlePending}
		for i, id := range ids[:3] {
			if s := eventStatus(t, st, def.ID, id); s != want[i] {
				t.Errorf("event %d: %v, want %v", i, s, want[i])
			}
		}
		// Killed and exited events are not killed again.
		if err := modify(c, map[string]any{"Operate": 7, "UpdateAll": true, "Filters": []filter{{Name: "ProcessId", Values: []string{"1001", "1002"}}}}); err != nil {
			t.Fatal(err)
		}
		if cmds, err := agent.PollCommands(ctx, 0); err != nil || len(cmds) != 0 {
			t.Errorf("commands for finished events: %+v, %v", cmds, err)
		}
	})
	t.Run("WhitelistSuppressesIngest", func(t *testing.T) {
		const md5Y = "22222222222222222222222222222222"
		if err := cwpCall(c, "CreateMalwareWhiteList", map[string]any{"Mode": 0, "Md5List": []string{md5Y}, "QuuidList": []string{host.QUUID}}, nil); err != nil {
			t.Fatal(err)
		}
		dir := base64.StdEncoding.EncodeToString([]byte("/opt/trusted"))
		if err := cwpCall(c, "CreateMalwareWhiteList", map[string]any{"Mode": 1, "IsGlobal": 1, "FileDirectory": []string{dir}}, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := agent.SendEvents(ctx, wire.EventsRequest{Events: []wire.Event{
			procEvent(2001, "/tmp/y", md5Y), procEvent(2002, "/opt/trusted/bin/tool", ""), procEvent(2003, "/tmp/z", "33333333333333333333333333333333")}})
		if err != nil || resp.Accepted != 3 || len(resp.Rejected) != 0 {
			t.Fatalf("upload: %+v, %v", resp, err)
		}
		if resp.EventIDs[0] != 0 || resp.EventIDs[1] != 0 || resp.EventIDs[2] == 0 {
			t.Errorf("event ids %v: want only the third stored", resp.EventIDs)
		}
		for _, pid := range []string{"2001", "2002"} {
			if got := describeRisk(t, ts, map[string]any{"Name": "ProcessId", "Values": []string{pid}}); len(got) != 0 {
				t.Errorf("whitelisted pid %s has events %+v", pid, got)
			}
		}
		_, list := describeWhiteList(t, c, map[string]any{"By": "EventsCount", "Order": "DESC"})
		if len(list) != 2 || list[0].EventsCount != 1 || list[1].EventsCount != 1 {
			t.Errorf("EventsCount after suppression: %+v", list)
		}
	})
}

func TestMalwareWhiteListCRUD(t *testing.T) { backends(t, testMalwareWhiteListCRUD) }

func testMalwareWhiteListCRUD(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	st := ts.App.Store
	def := ts.newAccount(app.DefaultAccount)
	beta := ts.newAccount("beta")
	fa := seed(t, st, def.ID, "web", "10.0.0.1")
	fb := seed(t, st, beta.ID, "db", "10.0.0.2")
	c := ts.admin()
	cb := ts.client(beta.adminID, beta.adminKey)
	create := func(t *testing.T, c *common.Client, params map[string]any) error {
		t.Helper()
		return cwpCall(c, "CreateMalwareWhiteList", params, nil)
	}

	t.Run("CreateErrors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			params map[string]any
			code   string
		}{
			{"mode", map[string]any{"Mode": 2, "IsGlobal": 1, "Md5List": []string{"0123456789abcdef0123456789abcdef"}}, "InvalidParameterValue"},
			{"bad md5", map[string]any{"Mode": 0, "IsGlobal": 1, "Md5List": []string{"nope"}}, "InvalidParameterValue"},
			{"no md5", map[string]any{"Mode": 0, "IsGlobal": 1}, "MissingParameter"},
			{"no scope", map[string]any{"Mode": 0, "Md5List": []string{"0123456789abcdef0123456789abcdef"}}, "MissingParameter"},
			{"unknown quuid", map[string]any{"Mode": 0, "QuuidList": []string{"quuid-db"}, "Md5List": []string{"0123456789abcdef0123456789abcdef"}}, "ResourceNotFound"},
			{"no custom fields", map[string]any{"Mode": 1, "IsGlobal": 1}, "MissingParameter"},
			{"bad directory", map[string]any{"Mode": 1, "IsGlobal": 1, "FileDirectory": []string{"relative/dir"}}, "InvalidParameterValue"},
			{"match type", map[string]any{"Mode": 1, "IsGlobal": 1, "MatchType": 3, "FileName": []string{"x"}}, "InvalidParameterValue"},
			{"malware event", map[string]any{"Mode": 0, "IsGlobal": 1, "EventId": 1, "Md5List": []string{"0123456789abcdef0123456789abcdef"}}, "InvalidParameterValue"},
			{"other account's event", map[string]any{"Mode": 0, "ProcessEventID": fb.eventIDs[0]}, "ResourceNotFound"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := create(t, c, tc.params)
				if code := sdkCode(t, err); code != tc.code {
					t.Errorf("code %q (%s), want %s", code, sdkMessage(err), tc.code)
				}
			})
		}
		if total, _ := describeWhiteList(t, c, map[string]any{}); total != 0 {
			t.Errorf("%d rules after refused creates", total)
		}
	})

	// The official example, as sent (Mode 1 with every field).
	if err := create(t, c, map[string]any{"QuuidList": []string{"quuid-web"}, "IsGlobal": 1, "Mode": 1, "MatchType": 1,
		"FileName": []string{"index.html"}, "FileDirectory": []string{"/var/www"}, "FileExtension": []string{"php"},
		"Md5List": []string{"e10adc3949ba59abbe56e057f20f883e"}}); err != nil {
		t.Fatal(err)
	}
	if err := create(t, c, map[string]any{"Mode": 0, "QuuidList": []string{"quuid-web"}, "Md5List": []string{"E10ADC3949BA59ABBE56E057F20F883E", "fedcba9876543210fedcba9876543210"}}); err != nil {
		t.Fatal(err)
	}
	// From an event, handling the pending history: the event's host and MD5.
	if err := create(t, c, map[string]any{"Mode": 0, "ProcessEventID": fa.eventIDs[0], "IsHandleHistoryEvents": 1}); err != nil {
		t.Fatal(err)
	}
	if err := create(t, cb, map[string]any{"Mode": 0, "IsGlobal": 1, "Md5List": []string{"e10adc3949ba59abbe56e057f20f883e"}}); err != nil {
		t.Fatal(err)
	}

	t.Run("Describe", func(t *testing.T) {
		total, list := describeWhiteList(t, c, map[string]any{"Order": "ASC"})
		if total != 3 || len(list) != 3 {
			t.Fatalf("%d rules: %+v", total, list)
		}
		ex := list[0]
		if ex.Mode != 1 || ex.MatchType != 1 || ex.IsGlobal != 1 || ex.FileName != "index.html" || ex.FileDirectory != "/var/www" ||
			ex.FileExtension != "php" || ex.Md5List != "" || ex.CreateTime == "" || ex.ModifyTime == "" {
			t.Errorf("example rule: %+v", ex)
		}
		if _, err := time.Parse("2006-01-02 15:04:05", ex.CreateTime); err != nil {
			t.Errorf("CreateTime %q: %v", ex.CreateTime, err)
		}
		if list[1].Md5List != "e10adc3949ba59abbe56e057f20f883e,fedcba9876543210fedcba9876543210" || list[1].QuuidList != "quuid-web" {
			t.Errorf("md5 rule: %+v", list[1])
		}
		fromEvent := list[2]
		if fromEvent.Md5List != "0123456789abcdef0123456789abcdef" || fromEvent.QuuidList != "quuid-web" || fromEvent.EventsCount != 1 {
			t.Errorf("rule from event: %+v", fromEvent)
		}
		if s := eventStatus(t, st, def.ID, fa.eventIDs[0]); s != store.HandleIgnored {
			t.Errorf("source event: %v", s)
		}
		for _, tc := range []struct {
			name    string
			filters []filter
			want    []int64
		}{
			{"mode", []filter{{Name: "Mode", Values: []string{"0"}}}, []int64{list[1].Id, list[2].Id}},
			{"md5", []filter{{Name: "Md5", Values: []string{"E10ADC"}}}, []int64{list[1].Id}},
			{"file name", []filter{{Name: "FileName", Values: []string{"index.html"}, ExactMatch: true}}, []int64{list[0].Id}},
			{"host ip", []filter{{Name: "HostIp", Values: []string{"10.0.0.1"}}}, []int64{list[0].Id, list[1].Id, list[2].Id}},
			{"unknown host ip", []filter{{Name: "HostIp", Values: []string{"10.0.0.2"}}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, got := describeWhiteList(t, c, map[string]any{"Order": "ASC", "Filters": tc.filters})
				if ids := func() []int64 {
					var out []int64
					for _, r := range got {
						out = append(out, r.Id)
					}
					return out
				}(); !slices.Equal(ids, tc.want) {
					t.Errorf("got %v, want %v", ids, tc.want)
				}
			})
		}
		_, page := describeWhiteList(t, c, map[string]any{"Limit": 1, "Offset": 1, "By": "CreateTime", "Order": "DESC"})
		if len(page) != 1 || page[0].Id != list[1].Id {
			t.Errorf("page: %+v", page)
		}
		for _, p := range []map[string]any{{"By": "Name"}, {"Limit": 101}, {"Filters": []filter{{Name: "Mode", Values: []string{"2"}}}}} {
			if code := sdkCode(t, cwpCall(c, "DescribeMalwareWhiteList", p, nil)); code != "InvalidParameterValue" {
				t.Errorf("%v: %q", p, code)
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		_, list := describeWhiteList(t, c, map[string]any{"Order": "ASC"})
		_, other := describeWhiteList(t, cb, map[string]any{})
		err := cwpCall(c, "DeleteMalwareWhiteList", map[string]any{"Ids": []int64{list[0].Id, other[0].Id}}, nil)
		if code := sdkCode(t, err); code != "ResourceNotFound" {
			t.Errorf("deleting another account's rule: %q", code)
		}
		if total, _ := describeWhiteList(t, c, map[string]any{}); total != 3 {
			t.Errorf("a refused delete deleted something: %d left", total)
		}
		if err := cwpCall(c, "DeleteMalwareWhiteList", map[string]any{"Ids": []int64{list[0].Id, list[1].Id}}, nil); err != nil {
			t.Fatal(err)
		}
		if total, _ := describeWhiteList(t, c, map[string]any{}); total != 1 {
			t.Errorf("%d left, want 1", total)
		}
		if total, _ := describeWhiteList(t, cb, map[string]any{}); total != 1 {
			t.Errorf("the other account has %d rules", total)
		}
		if code := sdkCode(t, cwpCall(c, "DeleteMalwareWhiteList", map[string]any{}, nil)); code != "MissingParameter" {
			t.Errorf("no Ids: %q", code)
		}
	})
}
