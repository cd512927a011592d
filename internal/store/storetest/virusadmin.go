package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// testVirusAdmin pins down store.VirusAdmin: DescribeVirusList's query
// against the Go model (VirusEventQuery.Match), guarded updates, deletes,
// settings, auto-isolation samples, quarantine records, growing scan tasks,
// and tenant scoping of all of them.
func testVirusAdmin(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	h1 := newHost(t, s, a.ID, store.Host{UUID: "ha-1", Name: "node-a1", PrivateIP: "10.0.0.1"})
	h2 := newHost(t, s, a.ID, store.Host{UUID: "ha-2", Name: "node-a2", PrivateIP: "10.0.0.2"})
	hb := newHost(t, s, b.ID, store.Host{UUID: "hb-1", Name: "node-b1"})

	const md5a, md5b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	var evs []store.VirusEvent
	for i := range 12 {
		e := store.VirusEvent{
			HostUUID: []string{h1.UUID, h2.UUID}[i%2], ContainerID: fmt.Sprintf("c%d", i%4), ContainerName: fmt.Sprintf("/Web_%d", i%3),
			ContainerStatus: []string{"RUNNING", "STOPPED", "PAUSED"}[i%3], ContainerNetStatus: []string{"NORMAL", "ISOLATED", ""}[i%3],
			ImageID: fmt.Sprintf("sha256:img%d", i%2), ImageName: []string{"nginx:1", "Redis:7"}[i%2],
			FilePath: fmt.Sprintf("/var/%s/f%02d.bin", []string{"lib", "tmp_x%"}[i%2], i), FileMD5: []string{md5a, md5b}[i%2],
			VirusName: []string{"Linux.Miner", "Linux.Backdoor", "Sh.Dropper"}[i%3], SourceType: i % 3, TaskID: int64(i % 2 * 7),
			IsolateMode: []string{"", "MANUAL", "AUTO"}[i%3], Status: []string{store.VirusStatusNone, "DEAL_IGNORE", "DEAL_ISOLATE", store.VirusStatusNone}[i%4],
			CreateTime: at(time.Duration(i) * time.Hour), ModifyTime: at(time.Duration(i)*time.Hour + time.Duration(12-i)*time.Minute),
		}
		if i%5 == 0 {
			e.ContainerID = ""
		}
		if i%4 == 1 {
			e.OperationTime = at(time.Duration(i) * 2 * time.Hour)
		}
		evs = append(evs, e)
	}
	ids := must(s.InsertVirusEvents(ctx(t), a.ID, evs))(t)
	bid := must(s.InsertVirusEvents(ctx(t), b.ID, []store.VirusEvent{{HostUUID: hb.UUID, FilePath: "/var/lib/f00.bin", VirusName: "Linux.Miner",
		FileMD5: md5a, ContainerID: "c0", ModifyTime: at(0)}}))(t)[0]
	all := func() []store.VirusEvent {
		p := must(s.QueryVirusEvents(ctx(t), a.ID, store.VirusEventQuery{}))(t)
		return p.Items
	}

	t.Run("QueryMatchesModel", func(t *testing.T) {
		stored := all()
		if len(stored) != len(evs) {
			t.Fatalf("%d events stored, want %d", len(stored), len(evs))
		}
		yes, no := true, false
		queries := []store.VirusEventQuery{
			{},
			{IDs: []int64{ids[1], ids[4], bid}},
			{HostUUIDs: store.TextFilter{Values: []string{"ha-2"}, Exact: true}},
			{FileNames: store.TextFilter{Values: []string{"F01"}}},
			{FilePaths: store.TextFilter{Values: []string{"tmp_x%"}}}, // % is literal
			{FilePaths: store.TextFilter{Values: []string{"/var/lib/f00.bin"}, Exact: true}},
			{VirusNames: store.TextFilter{Values: []string{"miner", "dropper"}}},
			{ContainerNames: store.TextFilter{Values: []string{"web_1"}}},
			{ContainerIDs: store.TextFilter{Values: []string{"c1", "c2"}, Exact: true}},
			{ImageNames: store.TextFilter{Values: []string{"redis"}}},
			{ImageIDs: store.TextFilter{Values: []string{"sha256:img0"}, Exact: true}},
			{MD5s: store.TextFilter{Values: []string{md5b[:8]}}},
			{RealTime: &yes},
			{RealTime: &no},
			{TaskIDs: []int64{7}},
			{Statuses: []string{"DEAL_IGNORE", "DEAL_ISOLATE"}},
			{ContainerStatuses: []string{"PAUSED"}},
			{NetStatuses: []string{"", "ISOLATED"}},
			{IsolateModes: []string{"AUTO"}},
			{CreatedFrom: at(3 * time.Hour), CreatedTo: at(8 * time.Hour)},
			{ModifiedFrom: at(5*time.Hour + 7*time.Minute), ModifiedTo: at(9 * time.Hour)},
			{CreatedTo: at(6 * time.Hour), ModifiedFrom: at(4 * time.Hour)}, // TimeRange
			{OperatedFrom: at(10 * time.Hour)},
			{VirusNames: store.TextFilter{Values: []string{"linux"}}, Statuses: []string{store.VirusStatusNone}, RealTime: &no},
			{CreatedFrom: at(9 * time.Hour), CreatedTo: at(time.Hour)}, // empty interval
		}
		for i, q := range queries {
			var want []int64
			for _, e := range stored {
				if q.Match(e) {
					want = append(want, e.ID)
				}
			}
			// Default order: ModifyTime ascending unless Desc; check with Desc.
			q.Desc = true
			got := must(s.QueryVirusEvents(ctx(t), a.ID, q))(t)
			var gotIDs []int64
			for _, e := range got.Items {
				gotIDs = append(gotIDs, e.ID)
			}
			slices.Sort(want)
			sorted := slices.Clone(gotIDs)
			slices.Sort(sorted)
			if !slices.Equal(sorted, want) || got.Total != int64(len(want)) {
				t.Errorf("query %d: got %v (total %d), want %v", i, gotIDs, got.Total, want)
			}
			for j := 1; j < len(got.Items); j++ {
				if got.Items[j].ModifyTime.After(got.Items[j-1].ModifyTime) {
					t.Errorf("query %d: not ordered by modify time descending", i)
				}
			}
		}
	})
	t.Run("OrderAndPaging", func(t *testing.T) {
		stored := all()
		for _, o := range []struct {
			by  store.VirusOrder
			key func(e store.VirusEvent) string
		}{
			{store.VirusByCreateTime, func(e store.VirusEvent) string { return e.CreateTime.Format(time.RFC3339Nano) }},
			{store.VirusByFileName, func(e store.VirusEvent) string { return e.FileName }},
			{store.VirusByFilePath, func(e store.VirusEvent) string { return e.FilePath }},
			{store.VirusByContainerName, func(e store.VirusEvent) string { return e.ContainerName }},
			{store.VirusByImageName, func(e store.VirusEvent) string { return e.ImageName }},
			{store.VirusByVirusName, func(e store.VirusEvent) string { return e.VirusName }},
		} {
			want := slices.Clone(stored)
			sort.SliceStable(want, func(i, j int) bool {
				ki, kj := o.key(want[i]), o.key(want[j])
				if ki != kj {
					return ki < kj
				}
				return want[i].ID < want[j].ID
			})
			var got []store.VirusEvent
			for off := 0; ; off += 5 {
				p := must(s.QueryVirusEvents(ctx(t), a.ID, store.VirusEventQuery{OrderBy: o.by, Limit: 5, Offset: off}))(t)
				if p.Total != int64(len(stored)) {
					t.Fatalf("order %d: total %d, want %d", o.by, p.Total, len(stored))
				}
				got = append(got, p.Items...)
				if len(p.Items) < 5 {
					break
				}
			}
			for i := range want {
				if i >= len(got) || got[i].ID != want[i].ID {
					t.Fatalf("order %d: position %d differs", o.by, i)
				}
			}
		}
		if _, err := s.QueryVirusEvents(ctx(t), a.ID, store.VirusEventQuery{OrderBy: 99}); err == nil {
			t.Error("unknown order accepted")
		}
		if _, err := s.QueryVirusEvents(ctx(t), a.ID, store.VirusEventQuery{Limit: -1}); err == nil {
			t.Error("negative limit accepted")
		}
	})
	t.Run("CountContainers", func(t *testing.T) {
		stored := all()
		q := store.VirusEventQuery{Statuses: []string{store.VirusStatusNone}}
		set := map[string]bool{}
		for _, e := range stored {
			if q.Match(e) && e.ContainerID != "" {
				set[e.HostUUID+"/"+e.ContainerID] = true
			}
		}
		if n := must(s.CountVirusContainers(ctx(t), a.ID, q))(t); n != int64(len(set)) {
			t.Errorf("containers %d, want %d", n, len(set))
		}
		if n := must(s.CountVirusContainers(ctx(t), b.ID, store.VirusEventQuery{}))(t); n != 1 {
			t.Errorf("account b containers %d, want 1", n)
		}
	})
	t.Run("TenantScope", func(t *testing.T) {
		p := must(s.QueryVirusEvents(ctx(t), b.ID, store.VirusEventQuery{IDs: ids}))(t)
		if p.Total != 0 || len(p.Items) != 0 {
			t.Errorf("account b sees %d of a's events", p.Total)
		}
		mark := "x"
		if n := must(s.UpdateVirusEvents(ctx(t), b.ID, ids, store.VirusEventUpdate{Mark: &mark}))(t); n != 0 {
			t.Errorf("account b updated %d of a's events", n)
		}
		if n := must(s.DeleteVirusEvents(ctx(t), b.ID, ids))(t); n != 0 {
			t.Errorf("account b deleted %d of a's events", n)
		}
	})
	t.Run("Update", func(t *testing.T) {
		st, sub, mark, net := "DEAL_ISOLATING", "", "checked", "ISOLATING"
		// Only the events still pending change.
		n := must(s.UpdateVirusEvents(ctx(t), a.ID, ids[:4], store.VirusEventUpdate{FromStatuses: []string{store.VirusStatusNone},
			Status: &st, SubStatus: &sub, Mark: &mark, OperationTime: at(24 * time.Hour)}))(t)
		if n != 2 {
			t.Errorf("changed %d, want 2 (ids 0 and 3 are pending)", n)
		}
		e0 := must(s.GetVirusEvent(ctx(t), a.ID, ids[0]))(t)
		e1 := must(s.GetVirusEvent(ctx(t), a.ID, ids[1]))(t)
		if e0.Status != st || e0.Mark != mark || !e0.OperationTime.Equal(store.UTC(at(24*time.Hour))) || e1.Status != "DEAL_IGNORE" || e1.Mark != "" {
			t.Errorf("after update: %q %q %v / %q %q", e0.Status, e0.Mark, e0.OperationTime, e1.Status, e1.Mark)
		}
		n = must(s.UpdateVirusEvents(ctx(t), a.ID, ids, store.VirusEventUpdate{FromNetStatuses: []string{""}, ContainerNetStatus: &net}))(t)
		if n != 4 {
			t.Errorf("net status changed on %d, want 4 (the empty ones)", n)
		}
		if _, err := s.UpdateVirusEvents(ctx(t), a.ID, ids, store.VirusEventUpdate{}); err == nil {
			t.Error("an empty update was accepted")
		}
		// Repeat detections keep the operator's status and mark.
		again := evs[0]
		again.ModifyTime = at(48 * time.Hour)
		must(s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{again}))(t)
		if e := must(s.GetVirusEvent(ctx(t), a.ID, ids[0]))(t); e.Status != st || e.Mark != mark {
			t.Errorf("a repeat detection reset the status: %q %q", e.Status, e.Mark)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		n := must(s.DeleteVirusEvents(ctx(t), a.ID, []int64{ids[10], ids[11], bid}))(t)
		if n != 2 {
			t.Errorf("deleted %d, want 2", n)
		}
		_, err := s.GetVirusEvent(ctx(t), a.ID, ids[10])
		wantErr(t, err, store.ErrNotFound, "deleted event")
		must(s.GetVirusEvent(ctx(t), b.ID, bid))(t)
	})
	t.Run("Settings", func(t *testing.T) {
		_, err := s.GetAccountSetting(ctx(t), a.ID, "virus_auto_isolate")
		wantErr(t, err, store.ErrNotFound, "missing setting")
		for _, v := range []string{`{"on":true}`, `{"on":false,"kill":true}`} {
			if err := s.PutAccountSetting(ctx(t), a.ID, "virus_auto_isolate", []byte(v)); err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			json.Unmarshal(must(s.GetAccountSetting(ctx(t), a.ID, "virus_auto_isolate"))(t), &got)
			json.Unmarshal([]byte(v), &want)
			checkEqual(t, "setting", got, want)
		}
		_, err = s.GetAccountSetting(ctx(t), b.ID, "virus_auto_isolate")
		wantErr(t, err, store.ErrNotFound, "other account's setting")
		wantErr(t, s.PutAccountSetting(ctx(t), a.ID, "k", []byte("{nope")), store.ErrInvalid, "invalid JSON")
	})
	t.Run("AutoIsolateSamples", func(t *testing.T) {
		err := s.UpsertAutoIsolateSamples(ctx(t), a.ID, []store.AutoIsolateSample{
			{MD5: strings.ToUpper(md5a), VirusName: "Linux.Miner", AutoIsolate: true, ModifyTime: at(time.Hour)},
			{MD5: md5b, VirusName: "Linux.Backdoor", AutoIsolate: false, ModifyTime: at(2 * time.Hour)},
		})
		if err != nil {
			t.Fatal(err)
		}
		must(0, s.UpsertAutoIsolateSamples(ctx(t), b.ID, []store.AutoIsolateSample{{MD5: md5b, AutoIsolate: true}}))(t)
		got := must(s.GetAutoIsolateSample(ctx(t), a.ID, md5a))(t)
		checkEqual(t, "sample", got, store.AutoIsolateSample{MD5: md5a, VirusName: "Linux.Miner", AutoIsolate: true, ModifyTime: store.UTC(at(time.Hour))})
		yes := true
		for _, tc := range []struct {
			q    store.AutoIsolateSampleQuery
			want []string
		}{
			{store.AutoIsolateSampleQuery{Desc: true}, []string{md5b, md5a}},
			{store.AutoIsolateSampleQuery{}, []string{md5a, md5b}},
			{store.AutoIsolateSampleQuery{AutoIsolate: &yes}, []string{md5a}},
			{store.AutoIsolateSampleQuery{VirusNames: store.TextFilter{Values: []string{"backdoor"}}}, []string{md5b}},
			{store.AutoIsolateSampleQuery{MD5s: store.TextFilter{Values: []string{md5a}, Exact: true}}, []string{md5a}},
			{store.AutoIsolateSampleQuery{ByMD5: true, Limit: 1, Offset: 1}, []string{md5b}},
		} {
			p := must(s.QueryAutoIsolateSamples(ctx(t), a.ID, tc.q))(t)
			var md5s []string
			for _, x := range p.Items {
				md5s = append(md5s, x.MD5)
			}
			if !slices.Equal(md5s, tc.want) {
				t.Errorf("%+v: got %v, want %v", tc.q, md5s, tc.want)
			}
		}
		if p := must(s.QueryAutoIsolateSamples(ctx(t), a.ID, store.AutoIsolateSampleQuery{Limit: 1}))(t); p.Total != 2 {
			t.Errorf("total %d, want 2", p.Total)
		}
		wantErr(t, s.UpsertAutoIsolateSamples(ctx(t), a.ID, []store.AutoIsolateSample{{MD5: "nope"}}), store.ErrInvalid, "bad md5")
	})
	t.Run("Quarantine", func(t *testing.T) {
		q1 := must(s.RecordQuarantineSample(ctx(t), a.ID, store.QuarantineSample{HostUUID: h1.UUID, VirusEventID: ids[0],
			OriginalPath: "/var/lib/f00.bin", MD5: strings.ToUpper(md5a), Size: 10, VirusName: "Linux.Miner", StorageKey: "k1", CreatedAt: at(time.Hour)}))(t)
		q2 := must(s.RecordQuarantineSample(ctx(t), a.ID, store.QuarantineSample{HostUUID: h2.UUID, VirusEventID: bid,
			OriginalPath: "/x", AutoIsolated: true, CreatedAt: at(2 * time.Hour)}))(t)
		if q2.VirusEventID != 0 {
			t.Error("another account's event was linked")
		}
		_, err := s.RecordQuarantineSample(ctx(t), a.ID, store.QuarantineSample{HostUUID: hb.UUID, OriginalPath: "/x"})
		wantErr(t, err, store.ErrNotFound, "another account's host")
		p := must(s.QueryQuarantineSamples(ctx(t), a.ID, store.QuarantineQuery{}))(t)
		if p.Total != 2 || p.Items[0].ID != q2.ID {
			t.Fatalf("samples %+v", p)
		}
		checkEqual(t, "sample", p.Items[1], store.QuarantineSample{ID: q1.ID, HostUUID: h1.UUID, VirusEventID: ids[0], OriginalPath: "/var/lib/f00.bin",
			MD5: md5a, Size: 10, VirusName: "Linux.Miner", StorageKey: "k1", Status: store.QuarantineIsolated, CreatedAt: store.UTC(at(time.Hour))})
		if err := s.SetQuarantineSampleStatus(ctx(t), a.ID, q1.ID, store.QuarantineRestored, at(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.SetQuarantineSampleStatus(ctx(t), b.ID, q1.ID, store.QuarantineRestored, at(0)), store.ErrNotFound, "other account")
		for _, tc := range []struct {
			q    store.QuarantineQuery
			want []int64
		}{
			{store.QuarantineQuery{Statuses: []string{store.QuarantineRestored}}, []int64{q1.ID}},
			{store.QuarantineQuery{HostUUIDs: []string{h2.UUID}}, []int64{q2.ID}},
			{store.QuarantineQuery{MD5s: []string{md5a}}, []int64{q1.ID}},
			{store.QuarantineQuery{VirusEventIDs: []int64{ids[0]}}, []int64{q1.ID}},
		} {
			var got []int64
			for _, x := range must(s.QueryQuarantineSamples(ctx(t), a.ID, tc.q))(t).Items {
				got = append(got, x.ID)
				if x.Status == store.QuarantineRestored && !x.RestoredAt.Equal(store.UTC(at(3*time.Hour))) {
					t.Errorf("restored at %v", x.RestoredAt)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%+v: got %v, want %v", tc.q, got, tc.want)
			}
		}
		if p := must(s.QueryQuarantineSamples(ctx(t), b.ID, store.QuarantineQuery{}))(t); p.Total != 0 {
			t.Error("account b sees a's samples")
		}
		// Deleting the event keeps the sample, unlinked.
		must(s.DeleteVirusEvents(ctx(t), a.ID, []int64{ids[0]}))(t)
		if p := must(s.QueryQuarantineSamples(ctx(t), a.ID, store.QuarantineQuery{MD5s: []string{md5a}}))(t); p.Total != 1 || p.Items[0].VirusEventID != 0 {
			t.Errorf("after deleting the event: %+v", p.Items)
		}
	})
	t.Run("AddScanTargets", func(t *testing.T) {
		task := must(s.CreateScanTask(ctx(t), a.ID, store.ScanTask{Kind: store.TaskContainerVirus},
			[]store.ScanTarget{{Kind: "host", TargetID: h1.UUID}}))(t)
		err := s.AddScanTargets(ctx(t), a.ID, task.ID, []store.ScanTarget{{Kind: "container", TargetID: "c1"}, {Kind: "host", TargetID: h1.UUID, Status: store.TaskFinished},
			{Kind: "container", TargetID: "c2", Status: store.TaskFinished, RiskCount: 3}})
		if err != nil {
			t.Fatal(err)
		}
		got := must(s.GetScanTask(ctx(t), a.ID, task.ID))(t)
		if got.TargetTotal != 3 || got.TargetDone != 1 || got.RiskCount != 3 {
			t.Errorf("task counters total %d done %d risk %d, want 3 1 3", got.TargetTotal, got.TargetDone, got.RiskCount)
		}
		tgs := must(s.ListScanTargets(ctx(t), a.ID, task.ID))(t)
		var order []string
		for _, tg := range tgs {
			order = append(order, tg.Kind+":"+tg.TargetID+":"+tg.Status)
		}
		if want := []string{"host:ha-1:PENDING", "container:c1:PENDING", "container:c2:FINISHED"}; !slices.Equal(order, want) {
			t.Errorf("targets %v, want %v", order, want)
		}
		wantErr(t, s.AddScanTargets(ctx(t), b.ID, task.ID, []store.ScanTarget{{Kind: "container", TargetID: "x"}}), store.ErrNotFound, "other account's task")
	})
}
