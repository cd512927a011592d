package tcss_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apitcss "github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/tcss"
	"github.com/vigil-sec/vigil/internal/store"
)

// fakeAgents records the commands the handlers send; fail makes them fail.
type fakeAgents struct {
	mu   sync.Mutex
	cmds []string
	fail bool
}

func (f *fakeAgents) add(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, fmt.Sprintf(format, args...))
	if f.fail {
		return errors.New("agent unreachable")
	}
	return nil
}

func (f *fakeAgents) IsolateContainer(_ context.Context, acct int64, host, c string, isolate bool, ev int64) error {
	return f.add("isolate %d %s %s %v %d", acct, host, c, isolate, ev)
}
func (f *fakeAgents) Quarantine(_ context.Context, acct int64, host string, ev int64, path, md5 string) error {
	return f.add("quarantine %d %s %d %s", acct, host, ev, path)
}
func (f *fakeAgents) Restore(_ context.Context, acct int64, host string, ev int64, path, md5 string) error {
	return f.add("restore %d %s %d %s", acct, host, ev, path)
}
func (f *fakeAgents) StartContainerScan(_ context.Context, acct int64, host string, task int64, spec tcss.ContainerScanSpec) error {
	return f.add("scan %d %s %d %v %s", acct, host, task, spec.ContainerIDs, spec.PathMode)
}
func (f *fakeAgents) StopContainerScan(_ context.Context, acct int64, host string, task int64, cs []string) error {
	return f.add("stop %d %s %d %v", acct, host, task, cs)
}

func (f *fakeAgents) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.cmds
	f.cmds = nil
	return out
}

type virusEnv struct {
	*env
	agents *fakeAgents
	now    time.Time
	ids    []int64
}

// heartbeat has the agents of h1, h2 (account a) and hb (account b) report
// online at the test's clock.
func (v *virusEnv) heartbeat(t *testing.T) {
	t.Helper()
	for _, h := range []struct {
		acct int64
		uuid string
	}{{v.a.ID, "h1"}, {v.a.ID, "h2"}, {v.b.ID, "hb"}} {
		if _, err := v.st.UpsertHost(context.Background(), h.acct, store.Host{UUID: h.uuid, Online: true, LastSeen: v.now.Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
}

func newVirusEnv(t *testing.T) *virusEnv {
	e := newEnv(t)
	v := &virusEnv{env: e, agents: &fakeAgents{}, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	mux := server.NewMux(schema{apitcss.Schema()})
	tcss.Register(mux, tcss.Deps{Store: e.st, Exports: e.exports, Now: func() time.Time { return v.now },
		Virus: tcss.VirusAgents{Isolator: v.agents, Quarantiner: v.agents, Scans: v.agents}})
	e.h = server.New(mux, keys{"AKIDa": e.a.ID, "AKIDb": e.b.ID}).Handler(nil)
	ctx := context.Background()
	// h4's agent said it was online, but long ago: it died without a word.
	for _, hst := range []store.Host{{UUID: "h3"}, {UUID: "h4", Online: true, LastSeen: v.now.Add(-time.Hour)}} {
		if _, err := e.st.UpsertHost(ctx, e.a.ID, hst); err != nil {
			t.Fatal(err)
		}
	}
	v.heartbeat(t)
	var err error
	v.ids, err = e.st.InsertVirusEvents(ctx, e.a.ID, []store.VirusEvent{
		{HostUUID: "h1", ContainerID: "c1", ImageID: "img1", FilePath: "/tmp/a", FileMD5: strings.Repeat("a", 32), VirusName: "Miner", ModifyTime: v.now},
		{HostUUID: "h1", ContainerID: "c1", ImageID: "img1", FilePath: "/tmp/b", FileMD5: strings.Repeat("b", 32), VirusName: "Miner", ModifyTime: v.now},
		{HostUUID: "h2", ContainerID: "c2", ImageID: "img2", FilePath: "/tmp/c", FileMD5: strings.Repeat("a", 32), VirusName: "Miner", ModifyTime: v.now},
		{HostUUID: "h2", FilePath: "/tmp/d", FileMD5: strings.Repeat("d", 32), VirusName: "Miner", ModifyTime: v.now},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *virusEnv) event(t *testing.T, i int) store.VirusEvent {
	t.Helper()
	e, err := v.st.GetVirusEvent(context.Background(), v.a.ID, v.ids[i])
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (v *virusEnv) modify(t *testing.T, status string, idx ...int) string {
	t.Helper()
	var ids []string
	for _, i := range idx {
		ids = append(ids, fmt.Sprint(v.ids[i]))
	}
	return errCode(v.call(t, "AKIDa", "ModifyVirusFileStatus", map[string]any{"EventIdSet": ids, "Status": status}))
}

func TestModifyVirusFileStatusContainerIsolation(t *testing.T) {
	v := newVirusEnv(t)
	ctx := context.Background()
	if got := v.modify(t, "EVENT_ISOLATE_CONTAINER", 0); got != "" {
		t.Fatal(got)
	}
	if cmds := v.agents.take(); len(cmds) != 1 || cmds[0] != fmt.Sprintf("isolate %d h1 c1 true %d", v.a.ID, v.ids[0]) {
		t.Fatalf("commands %v", cmds)
	}
	// Both events of the container follow; the other container does not.
	for i, want := range []string{"ISOLATING", "ISOLATING", "", ""} {
		if got := v.event(t, i).ContainerNetStatus; got != want {
			t.Errorf("event %d: net status %q, want %q", i, got, want)
		}
	}
	// Asking again while ISOLATING resends; nothing else changes.
	v.modify(t, "EVENT_ISOLATE_CONTAINER", 1)
	if cmds := v.agents.take(); len(cmds) != 1 {
		t.Errorf("resend: %v", cmds)
	}
	if n, err := tcss.ApplyContainerIsolationResult(ctx, v.st, v.a.ID, "h1", "c1", true, true, "", v.now); err != nil || n != 2 {
		t.Fatalf("result: %d %v", n, err)
	}
	if e := v.event(t, 1); e.ContainerNetStatus != "ISOLATED" || e.ContainerIsolateOperationSrc == "" {
		t.Errorf("after result: %q %q", e.ContainerNetStatus, e.ContainerIsolateOperationSrc)
	}
	// Isolated already: no command.
	v.modify(t, "EVENT_ISOLATE_CONTAINER", 0)
	if cmds := v.agents.take(); len(cmds) != 0 {
		t.Errorf("isolating an isolated container sent %v", cmds)
	}
	// Restore, fail, restore again, succeed.
	v.modify(t, "EVENT_RESOTRE_CONTAINER", 0)
	v.agents.take()
	tcss.ApplyContainerIsolationResult(ctx, v.st, v.a.ID, "h1", "c1", false, false, "AGENT_OFFLINE", v.now)
	if e := v.event(t, 0); e.ContainerNetStatus != "RESTORE_FAILED" || e.ContainerNetSubStatus != "AGENT_OFFLINE" {
		t.Errorf("restore failure: %q %q", e.ContainerNetStatus, e.ContainerNetSubStatus)
	}
	v.modify(t, "EVENT_RESTORE_CONTAINER", 0) // the correct spelling is accepted too
	tcss.ApplyContainerIsolationResult(ctx, v.st, v.a.ID, "h1", "c1", false, true, "", v.now)
	if e := v.event(t, 0); e.ContainerNetStatus != "NORMAL" || e.ContainerNetSubStatus != "" {
		t.Errorf("restored: %q %q", e.ContainerNetStatus, e.ContainerNetSubStatus)
	}
	// An agent that cannot be reached leaves the status as it was.
	v.agents.fail = true
	if got := v.modify(t, "EVENT_ISOLATE_CONTAINER", 2); !strings.HasPrefix(got, "FailedOperation") {
		t.Errorf("unreachable agent: %q", got)
	}
	if e := v.event(t, 2); e.ContainerNetStatus != "" {
		t.Errorf("after a failed send: %q", e.ContainerNetStatus)
	}
	v.agents.fail = false
	// An event without a container.
	if got := v.modify(t, "EVENT_ISOLATE_CONTAINER", 3); !strings.Contains(got, "EventIdSet.0") {
		t.Errorf("no container: %q", got)
	}
}

func TestModifyVirusFileStatusFiles(t *testing.T) {
	v := newVirusEnv(t)
	ctx := context.Background()
	if got := v.modify(t, "EVENT_DEALED", 0, 2); got != "" {
		t.Fatal(got)
	}
	if cmds := v.agents.take(); len(cmds) != 2 {
		t.Fatalf("commands %v", cmds)
	}
	if e := v.event(t, 0); e.Status != "DEAL_ISOLATING" || e.IsolateMode != "MANUAL" {
		t.Errorf("isolating: %q %q", e.Status, e.IsolateMode)
	}
	sample := &store.QuarantineSample{HostUUID: "h1", OriginalPath: "/tmp/a", MD5: strings.Repeat("a", 32), StorageKey: "q/1"}
	if err := tcss.ApplyFileQuarantineResult(ctx, v.st, v.a.ID, v.ids[0], false, true, "", sample, v.now); err != nil {
		t.Fatal(err)
	}
	tcss.ApplyFileQuarantineResult(ctx, v.st, v.a.ID, v.ids[2], false, false, "FILE_NOT_FOUND", nil, v.now)
	if e := v.event(t, 0); e.Status != "DEAL_ISOLATE" {
		t.Errorf("isolated: %q", e.Status)
	}
	if e := v.event(t, 2); e.Status != "DEAL_ISOLATE_FAILED" || e.SubStatus != "FILE_NOT_FOUND" {
		t.Errorf("failed: %q %q", e.Status, e.SubStatus)
	}
	p, _ := v.st.QueryQuarantineSamples(ctx, v.a.ID, store.QuarantineQuery{VirusEventIDs: []int64{v.ids[0]}})
	if p.Total != 1 {
		t.Fatalf("quarantine samples %d", p.Total)
	}
	// Ignoring a quarantined file changes nothing; EVENT_PENDING restores it.
	v.modify(t, "EVENT_IGNORE", 0)
	if e := v.event(t, 0); e.Status != "DEAL_ISOLATE" {
		t.Errorf("ignored a quarantined file: %q", e.Status)
	}
	v.modify(t, "EVENT_PENDING", 0, 1)
	if cmds := v.agents.take(); len(cmds) != 1 || !strings.HasPrefix(cmds[0], "restore") {
		t.Fatalf("commands %v", cmds)
	}
	if e := v.event(t, 0); e.Status != "DEAL_RECOVERING" {
		t.Errorf("recovering: %q", e.Status)
	}
	tcss.ApplyFileQuarantineResult(ctx, v.st, v.a.ID, v.ids[0], true, true, "", nil, v.now)
	if e := v.event(t, 0); e.Status != "DEAL_NONE" {
		t.Errorf("restored: %q", e.Status)
	}
	p, _ = v.st.QueryQuarantineSamples(ctx, v.a.ID, store.QuarantineQuery{VirusEventIDs: []int64{v.ids[0]}})
	if p.Items[0].Status != store.QuarantineRestored {
		t.Errorf("sample %q", p.Items[0].Status)
	}
	// Remark and AutoIsolate.
	resp := v.call(t, "AKIDa", "ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{fmt.Sprint(v.ids[1])}, "Status": "EVENT_IGNORE", "Remark": "known", "AutoIsolate": true})
	if got := errCode(resp); got != "" {
		t.Fatal(got)
	}
	if e := v.event(t, 1); e.Status != "DEAL_IGNORE" || e.Mark != "known" {
		t.Errorf("ignore+remark: %q %q", e.Status, e.Mark)
	}
	if iso, _, err := tcss.AutoIsolateDecision(ctx, v.st, v.a.ID, strings.Repeat("B", 32)); err != nil || !iso {
		t.Errorf("auto isolate decision %v %v", iso, err)
	}
	list := v.call(t, "AKIDa", "DescribeVirusAutoIsolateSampleList", map[string]any{"Filters": []map[string]any{{"Name": "AutoIsolateSwitch", "Values": []string{"true"}}}})
	if list["TotalCount"] != float64(1) {
		t.Errorf("sample list %v", list)
	}
	// Delete.
	v.modify(t, "EVENT_DEL", 3)
	if _, err := v.st.GetVirusEvent(ctx, v.a.ID, v.ids[3]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted event: %v", err)
	}
}

func TestModifyVirusFileStatusWhitelistAndErrors(t *testing.T) {
	v := newVirusEnv(t)
	ctx := context.Background()
	if got := v.modify(t, "EVENT_ADD_WHITE", 0, 2, 3); got != "" {
		t.Fatal(got)
	}
	for _, tc := range []struct {
		md5, image string
		want       bool
	}{{strings.Repeat("a", 32), "img1", true}, {strings.Repeat("a", 32), "img2", true}, {strings.Repeat("a", 32), "img9", false},
		{strings.Repeat("d", 32), "img9", true}, {strings.Repeat("b", 32), "img1", false}} {
		got, err := tcss.SuppressedByWhitelist(ctx, v.st, v.a.ID, tc.md5, tc.image)
		if err != nil || got != tc.want {
			t.Errorf("suppressed(%s, %s) = %v %v, want %v", tc.md5[:4], tc.image, got, err, tc.want)
		}
	}
	if got, _ := tcss.SuppressedByWhitelist(ctx, v.st, v.b.ID, strings.Repeat("d", 32), ""); got {
		t.Error("account b is suppressed by a's rule")
	}
	if e := v.event(t, 0); e.Status != "DEAL_ADD_WHITELIST" {
		t.Errorf("status %q", e.Status)
	}
	for _, tc := range []struct {
		as   string
		req  map[string]any
		want string
	}{
		{"AKIDa", map[string]any{"EventIdSet": []string{"1"}, "Status": "EVENT_NOPE"}, "InvalidParameterValue: The value of `Status`"},
		{"AKIDa", map[string]any{"Status": "EVENT_IGNORE"}, "MissingParameter: The required parameter `EventIdSet`"},
		{"AKIDa", map[string]any{"EventIdSet": []string{fmt.Sprint(v.ids[0]), "x"}, "Status": "EVENT_IGNORE"}, "EventIdSet.1"},
		{"AKIDa", map[string]any{"EventIdSet": []string{fmt.Sprint(v.ids[0]), "999999"}, "Status": "EVENT_IGNORE"}, "ResourceNotFound: EventIdSet.1"},
		{"AKIDb", map[string]any{"EventIdSet": []string{fmt.Sprint(v.ids[0])}, "Status": "EVENT_DEL"}, "ResourceNotFound: EventIdSet.0"},
		{"AKIDa", map[string]any{"EventIdSet": []string{fmt.Sprint(v.ids[0])}, "Status": "EVENT_IGNORE", "Remark": strings.Repeat("x", 257)}, "`Remark`"},
	} {
		if got := errCode(v.call(t, tc.as, "ModifyVirusFileStatus", tc.req)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.req, got, tc.want)
		}
	}
	if _, err := v.st.GetVirusEvent(ctx, v.a.ID, v.ids[0]); err != nil {
		t.Error("account b deleted a's event")
	}
}

func TestModifyVirusFileStatusWithoutAgents(t *testing.T) {
	e := newEnv(t) // no VirusAgents
	ids, err := e.st.InsertVirusEvents(context.Background(), e.a.ID, nil)
	_ = ids
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertHost(context.Background(), e.a.ID, store.Host{UUID: "h1"}); err != nil {
		t.Fatal(err)
	}
	ids, _ = e.st.InsertVirusEvents(context.Background(), e.a.ID, []store.VirusEvent{{HostUUID: "h1", ContainerID: "c", FilePath: "/x", VirusName: "V", ModifyTime: time.Now()}})
	for _, st := range []string{"EVENT_ISOLATE_CONTAINER", "EVENT_DEALED"} {
		got := errCode(e.call(t, "AKIDa", "ModifyVirusFileStatus", map[string]any{"EventIdSet": []string{fmt.Sprint(ids[0])}, "Status": st}))
		if !strings.HasPrefix(got, "UnsupportedOperation") {
			t.Errorf("%s without agents: %q", st, got)
		}
	}
	if got := errCode(e.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanPathAll": true, "ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 1})); !strings.HasPrefix(got, "UnsupportedOperation") {
		t.Errorf("scan without agents: %q", got)
	}
}

func TestVirusScanTask(t *testing.T) {
	v := newVirusEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 1}, "MissingParameter: The required parameter `ScanPathAll`"},
		{map[string]any{"ScanPathAll": true, "ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 0}, "`Timeout`"},
		{map[string]any{"ScanPathAll": true, "ScanRangeType": 2, "ScanRangeAll": true, "Timeout": 1}, "`ScanRangeType`"},
		{map[string]any{"ScanPathAll": true, "ScanRangeType": 1, "ScanRangeAll": false, "Timeout": 1}, "`ScanIds`"},
		{map[string]any{"ScanPathAll": true, "ScanRangeType": 1, "ScanRangeAll": false, "ScanIds": []string{"h1", "hb"}, "Timeout": 1}, "ResourceNotFound: ScanIds.1"},
		{map[string]any{"ScanPathAll": false, "ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 1}, "`ScanPath`"},
		{map[string]any{"ScanPathAll": false, "ScanPath": []string{"/ok", "rel"}, "ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 1}, "ScanPath.1"},
		{map[string]any{"ScanPathAll": true, "ScanPathMode": "X", "ScanRangeType": 1, "ScanRangeAll": true, "Timeout": 1}, "`ScanPathMode`"},
	} {
		if got := errCode(v.call(t, "AKIDa", "CreateVirusScanTask", tc.req)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.req, got, tc.want)
		}
	}
	// All containers on the online nodes (h1, h2; h3 is offline, h4 silent for an hour).
	resp := v.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanRangeAll": true, "ScanPathAll": true, "ScanRangeType": 0, "ScanPathMode": "SCAN_PATH_DEFAULT", "Timeout": 2})
	if got := errCode(resp); got != "" {
		t.Fatal(got)
	}
	taskID := resp["TaskID"].(string)
	var tid int64
	fmt.Sscan(taskID, &tid)
	cmds := v.agents.take()
	slices.Sort(cmds)
	if want := []string{fmt.Sprintf("scan %d h1 %d [] SCAN_PATH_DEFAULT", v.a.ID, tid), fmt.Sprintf("scan %d h2 %d [] SCAN_PATH_DEFAULT", v.a.ID, tid)}; !slices.Equal(cmds, want) {
		t.Fatalf("commands %v, want %v", cmds, want)
	}
	status := func(as string, id string) map[string]any {
		return v.call(t, as, "DescribeVirusScanTaskStatus", map[string]any{"TaskID": id})
	}
	if s := status("AKIDa", taskID); s["Status"] != "SCAN_SCANNING" || s["Schedule"] != float64(0) || s["ScanType"] != "MANUAL" {
		t.Errorf("fresh task: %v", s)
	}
	if got := errCode(status("AKIDb", taskID)); !strings.HasPrefix(got, "ResourceNotFound") {
		t.Errorf("other account's task: %q", got)
	}
	v.now = v.now.Add(10 * time.Minute)
	v.heartbeat(t)
	err := tcss.ApplyScanProgress(ctx, v.st, v.a.ID, tid, "h1", tcss.HostScanProgress{Progress: 50,
		Containers: []tcss.ContainerScanProgress{{ContainerID: "c1", Done: true, RiskCount: 2}, {ContainerID: "c5", Progress: 10}}}, v.now)
	if err != nil {
		t.Fatal(err)
	}
	s := status("AKIDa", taskID)
	if s["ContainerTotal"] != float64(2) || s["ContainerScanCnt"] != float64(1) || s["RiskContainerCnt"] != float64(1) || s["RiskCnt"] != float64(2) || s["Schedule"] != float64(25) {
		t.Errorf("progress: %v", s)
	}
	if left := s["LeftSeconds"].(float64); left != 1800 { // 10 min for 25%: 30 min left
		t.Errorf("left %v", left)
	}
	// Stop one container, then the hosts finish: the task is FINISHED.
	if got := errCode(v.call(t, "AKIDa", "StopVirusScanTask", map[string]any{"TaskId": taskID, "ContainerIds": []string{"c5"}})); got != "" {
		t.Fatal(got)
	}
	if cmds := v.agents.take(); len(cmds) != 2 {
		t.Errorf("stop commands %v", cmds)
	}
	tcss.ApplyScanProgress(ctx, v.st, v.a.ID, tid, "h1", tcss.HostScanProgress{Done: true, Containers: []tcss.ContainerScanProgress{{ContainerID: "c5", Done: true}}}, v.now)
	tcss.ApplyScanProgress(ctx, v.st, v.a.ID, tid, "h2", tcss.HostScanProgress{Done: true, Containers: []tcss.ContainerScanProgress{{ContainerID: "c2", Done: true}}}, v.now)
	s = status("AKIDa", "")
	if s["Status"] != "SCAN_FINISH" || s["Schedule"] != float64(100) || s["ContainerTotal"] != float64(3) || s["EndTime"] == "" {
		t.Errorf("finished: %v", s)
	}
	tgs, _ := v.st.ListScanTargets(ctx, v.a.ID, tid)
	for _, tg := range tgs {
		if tg.TargetID == "c5" && tg.Status != store.TaskStopped {
			t.Errorf("stopped container reported done overrode the stop: %s", tg.Status)
		}
	}
	if sum := v.call(t, "AKIDa", "DescribeVirusSummary", map[string]any{}); sum["TaskId"] != taskID {
		t.Errorf("summary task %v", sum["TaskId"])
	}

	// Chosen containers, timeout by describe and by the sweeper.
	resp = v.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanRangeAll": false, "ScanIds": []string{"c1", "c9"}, "ScanPathAll": false,
		"ScanPathType": 1, "ScanPath": []string{"/proc"}, "ScanRangeType": 0, "Timeout": 1})
	t2 := resp["TaskID"].(string)
	v.agents.take()
	if s := status("AKIDa", t2); s["ContainerTotal"] != float64(2) {
		t.Errorf("chosen containers: %v", s)
	}
	v.now = v.now.Add(61 * time.Minute)
	v.heartbeat(t)
	if s := status("AKIDa", t2); s["Status"] != "SCAN_TIMEOUT" {
		t.Errorf("timeout on describe: %v", s)
	}
	if cmds := v.agents.take(); len(cmds) != 2 {
		t.Errorf("timeout stop commands %v", cmds)
	}
	resp = v.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanRangeAll": false, "ScanIds": []string{"h1"}, "ScanPathAll": true, "ScanRangeType": 1, "Timeout": 1})
	t3 := resp["TaskID"].(string)
	v.agents.take()
	now := func() time.Time { return v.now }
	// (The store's lease clock is the real one here: a sweep before the
	// deadline would hold the task past the test's fake clock.)
	v.now = v.now.Add(2 * time.Hour)
	v.heartbeat(t)
	if n, err := tcss.SweepVirusScanTasks(ctx, v.st, v.agents, "sweeper", now); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if s := status("AKIDa", t3); s["Status"] != "SCAN_TIMEOUT" {
		t.Errorf("swept task: %v", s)
	}
	// A stopped task; a late report is ignored.
	resp = v.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanRangeAll": true, "ScanPathAll": true, "ScanRangeType": 1, "Timeout": 1})
	t4 := resp["TaskID"].(string)
	if got := errCode(v.call(t, "AKIDa", "StopVirusScanTask", map[string]any{"TaskId": t4})); got != "" {
		t.Fatal(got)
	}
	var id4 int64
	fmt.Sscan(t4, &id4)
	if err := tcss.ApplyScanProgress(ctx, v.st, v.a.ID, id4, "h1", tcss.HostScanProgress{Done: true}, v.now); err != nil {
		t.Error(err)
	}
	if s := status("AKIDa", t4); s["Status"] != "SCAN_CANCELED" {
		t.Errorf("stopped: %v", s)
	}
	if got := errCode(v.call(t, "AKIDb", "StopVirusScanTask", map[string]any{"TaskId": t4})); !strings.HasPrefix(got, "ResourceNotFound") {
		t.Errorf("other account's stop: %q", got)
	}
	if s := v.call(t, "AKIDb", "DescribeVirusScanTaskStatus", map[string]any{}); s["Status"] != "SCAN_NONE" {
		t.Errorf("account without tasks: %v", s)
	}
	// A task not due yet is left alone by the sweeper.
	v.call(t, "AKIDa", "CreateVirusScanTask", map[string]any{"ScanRangeAll": true, "ScanPathAll": true, "ScanRangeType": 1, "Timeout": 1})
	if n, err := tcss.SweepVirusScanTasks(ctx, v.st, v.agents, "sweeper", now); err != nil || n != 0 {
		t.Fatalf("early sweep: %d %v", n, err)
	}
}
