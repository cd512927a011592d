package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func riskEvent(host string, pid int64, path, virus string, start, detect time.Duration, st store.HandleStatus) store.RiskProcessEvent {
	return store.RiskProcessEvent{
		HostUUID: host, PID: pid, PPID: 1, ExePath: path, CmdLine: path + " --run", VirusName: virus, RuleName: virus,
		ProcessStartTime: at(start), DetectTime: at(detect), HandleStatus: st, CheckPlatform: []string{"1", "2"},
	}
}

func testRiskInsert(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	h1 := newHost(t, s, a.ID, store.Host{UUID: "h-1", Name: "web-01"})
	newHost(t, s, a.ID, store.Host{UUID: "h-2", Name: "db-01"})
	total := func(t *testing.T) int64 {
		t.Helper()
		return must(s.QueryRiskProcessEvents(ctx(t), a.ID, store.RiskProcessEventQuery{}))(t).Total
	}

	full := store.RiskProcessEvent{
		HostUUID: "h-1", PID: 4242, PPID: 1, ProcessStartTime: at(-time.Hour), ExePath: "/dev/shm/dev",
		CmdLine: "./dev -h 10.0.0.1/24 -m ssh", ExeMD5: "d41d8cd98f00b204e9800998ecf8427e",
		ExeSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", User: "root", Group: "wheel",
		ContainerID: "c0ffee", VirusName: "Linux.Scanner.Fscan", RuleName: "fscan_v2", CheckPlatform: []string{"VDC", "TAV"},
		HandleStatus: store.HandleKilled, FirstDetectionMethod: 2, DetectTime: at(0), FirstDetectTime: at(-time.Minute),
		StatusTime: at(time.Minute),
	}

	t.Run("RoundTrip", func(t *testing.T) {
		ids := must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{full}))(t)
		if len(ids) != 1 || ids[0] == 0 {
			t.Fatalf("ids = %v", ids)
		}
		got := must(s.GetRiskProcessEvent(ctx(t), a.ID, ids[0]))(t)
		want := full
		want.ID, want.AccountID, want.Host = ids[0], a.ID, h1
		want.Threat = store.Threat{Name: full.VirusName}
		checkRisk(t, got, want)
		// A name the catalog lacked gets a bare entry.
		th := must(s.GetThreat(ctx(t), full.VirusName))(t)
		if th.Name != full.VirusName || th.Desc != (store.Localized{}) {
			t.Errorf("catalog entry = %+v", th)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		e := riskEvent("h-1", 7, "/tmp/x", "Linux.Miner.Xmrig", 0, time.Hour, store.HandlePending)
		first := must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{e}))(t)[0]
		before := total(t)

		repeat := e
		repeat.DetectTime = at(3 * time.Hour)
		repeat.HandleStatus = store.HandleKilled // ignored: a repeat keeps the row's status
		repeat.CmdLine = "changed"               // ignored too
		got := must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{repeat}))(t)
		if got[0] != first {
			t.Fatalf("repeat got id %d, want %d", got[0], first)
		}
		ev := must(s.GetRiskProcessEvent(ctx(t), a.ID, first))(t)
		sameTime(t, "DetectTime after a later repeat", ev.DetectTime, repeat.DetectTime)
		sameTime(t, "FirstDetectTime after a later repeat", ev.FirstDetectTime, e.DetectTime)
		if ev.HandleStatus != store.HandlePending || ev.CmdLine != e.CmdLine {
			t.Errorf("repeat changed the row: status %v, cmdline %q", ev.HandleStatus, ev.CmdLine)
		}

		older := e
		older.DetectTime = at(30 * time.Minute)
		must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{older}))(t)
		ev = must(s.GetRiskProcessEvent(ctx(t), a.ID, first))(t)
		sameTime(t, "DetectTime after an older repeat", ev.DetectTime, repeat.DetectTime)
		sameTime(t, "FirstDetectTime after an older repeat", ev.FirstDetectTime, older.DetectTime)
		if n := total(t); n != before {
			t.Errorf("repeats added rows: total %d, want %d", n, before)
		}

		// Another rule, host, pid or start time is another event.
		variants := []store.RiskProcessEvent{e, e, e, e}
		variants[0].RuleName = "other-rule"
		variants[1].HostUUID = "h-2"
		variants[2].PID = 8
		variants[3].ProcessStartTime = e.ProcessStartTime.Add(time.Microsecond)
		vids := must(s.InsertRiskProcessEvents(ctx(t), a.ID, variants))(t)
		seen := map[int64]bool{first: true}
		for _, id := range vids {
			if seen[id] {
				t.Errorf("variant ids %v repeat %d (first %d)", vids, id, first)
			}
			seen[id] = true
		}
	})

	t.Run("DuplicatesInBatch", func(t *testing.T) {
		e := riskEvent("h-2", 99, "/tmp/y", "Linux.Miner.Xmrig", 0, time.Hour, store.HandlePending)
		later := e
		later.DetectTime = at(2 * time.Hour)
		other := riskEvent("h-2", 100, "/tmp/y", "Linux.Miner.Xmrig", 0, time.Hour, store.HandlePending)
		ids := must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{e, other, later, e}))(t)
		if ids[0] != ids[2] || ids[0] != ids[3] || ids[0] == ids[1] {
			t.Fatalf("ids = %v, want [x y x x]", ids)
		}
		ev := must(s.GetRiskProcessEvent(ctx(t), a.ID, ids[0]))(t)
		sameTime(t, "DetectTime", ev.DetectTime, later.DetectTime)
		sameTime(t, "FirstDetectTime", ev.FirstDetectTime, e.DetectTime)
	})

	t.Run("Atomic", func(t *testing.T) {
		before := total(t)
		good := riskEvent("h-1", 555, "/tmp/z", "Linux.Miner.Xmrig", 0, time.Hour, store.HandlePending)
		bad := riskEvent("h-unknown", 556, "/tmp/z", "Linux.Miner.Xmrig", 0, time.Hour, store.HandlePending)
		_, err := s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{good, bad})
		wantErr(t, err, store.ErrNotFound, "insert with an unknown host")
		if n := total(t); n != before {
			t.Errorf("failed batch stored rows: total %d, want %d", n, before)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		ok := riskEvent("h-1", 1, "/x", "V", 0, 0, store.HandlePending)
		mod := func(f func(*store.RiskProcessEvent)) store.RiskProcessEvent { e := ok; f(&e); return e }
		tests := map[string]store.RiskProcessEvent{
			"no host":         mod(func(e *store.RiskProcessEvent) { e.HostUUID = "" }),
			"no virus":        mod(func(e *store.RiskProcessEvent) { e.VirusName = "" }),
			"no start time":   mod(func(e *store.RiskProcessEvent) { e.ProcessStartTime = time.Time{} }),
			"no detect time":  mod(func(e *store.RiskProcessEvent) { e.DetectTime = time.Time{} }),
			"negative pid":    mod(func(e *store.RiskProcessEvent) { e.PID = -1 }),
			"unknown status":  mod(func(e *store.RiskProcessEvent) { e.HandleStatus = 9 }),
			"negative status": mod(func(e *store.RiskProcessEvent) { e.HandleStatus = -1 }),
		}
		for name, e := range tests {
			t.Run(name, func(t *testing.T) {
				_, err := s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{ok, e})
				wantErr(t, err, store.ErrInvalid, "InsertRiskProcessEvents")
			})
		}
		ids, err := s.InsertRiskProcessEvents(ctx(t), a.ID, nil)
		if err != nil || len(ids) != 0 {
			t.Errorf("empty batch = %v, %v", ids, err)
		}
		_, err = s.GetRiskProcessEvent(ctx(t), a.ID, 1<<40)
		wantErr(t, err, store.ErrNotFound, "GetRiskProcessEvent(missing)")
	})

	t.Run("LargeBatch", func(t *testing.T) {
		// Big enough for a backend's bulk path (COPY on PostgreSQL).
		const n = 2500
		events := make([]store.RiskProcessEvent, n)
		for i := range events {
			host := []string{"h-1", "h-2"}[i%2]
			events[i] = riskEvent(host, int64(10000+i), fmt.Sprintf("/tmp/batch/%d", i), fmt.Sprintf("Batch.Virus.%d", i%7),
				time.Duration(i)*time.Second, time.Duration(i)*time.Second+time.Minute, store.HandleStatus(i%6))
		}
		events = append(events, events[17], events[1234]) // duplicates inside the batch
		before := total(t)
		ids := must(s.InsertRiskProcessEvents(ctx(t), a.ID, events))(t)
		if len(ids) != n+2 || ids[n] != ids[17] || ids[n+1] != ids[1234] {
			t.Fatalf("got %d ids; duplicates map to %d/%d, want %d/%d", len(ids), ids[n], ids[n+1], ids[17], ids[1234])
		}
		if got := total(t); got != before+n {
			t.Errorf("total after batch = %d, want %d", got, before+n)
		}
		for _, i := range []int{0, 1, 17, 999, 1234, n - 1} {
			ev := must(s.GetRiskProcessEvent(ctx(t), a.ID, ids[i]))(t)
			if ev.PID != events[i].PID || ev.HostUUID != events[i].HostUUID || ev.VirusName != events[i].VirusName || ev.HandleStatus != events[i].HandleStatus {
				t.Errorf("id %d (event %d) = pid %d host %s virus %s status %v; want pid %d host %s virus %s status %v", ids[i], i,
					ev.PID, ev.HostUUID, ev.VirusName, ev.HandleStatus, events[i].PID, events[i].HostUUID, events[i].VirusName, events[i].HandleStatus)
			}
		}
		// The same batch again changes nothing and returns the same ids.
		again := must(s.InsertRiskProcessEvents(ctx(t), a.ID, events))(t)
		if !slices.Equal(again, ids) {
			t.Errorf("re-inserted batch returned other ids")
		}
		if got := total(t); got != before+n {
			t.Errorf("total after repeat = %d, want %d", got, before+n)
		}
	})

	// Concurrent uploads (a backend may write them together): every batch
	// gets its own ids, the same virus name new to the catalog in many
	// batches makes one entry, and a batch naming an unknown host fails
	// alone with ErrNotFound while the others are stored.
	t.Run("Concurrent", func(t *testing.T) {
		before := total(t)
		const uploads, size = 24, 40
		batches := make([][]store.RiskProcessEvent, uploads)
		for u := range batches {
			host := []string{"h-1", "h-2"}[u%2]
			for i := range size {
				e := riskEvent(host, int64(100_000+u*size+i), "/dev/shm/c", "Linux.Concurrent.New", -time.Duration(i)*time.Second, 0, store.HandlePending)
				batches[u] = append(batches[u], e)
			}
		}
		bad := 7
		batches[bad][size/2].HostUUID = "no-such-host"
		ids := make([][]int64, uploads)
		errs := make([]error, uploads)
		var wg sync.WaitGroup
		for u := range batches {
			wg.Go(func() { ids[u], errs[u] = s.InsertRiskProcessEvents(ctx(t), a.ID, batches[u]) })
		}
		wg.Wait()
		seen := map[int64]bool{}
		for u := range batches {
			if u == bad {
				wantErr(t, errs[u], store.ErrNotFound, "batch with an unknown host")
				continue
			}
			if errs[u] != nil {
				t.Fatalf("batch %d: %v", u, errs[u])
			}
			for i, id := range ids[u] {
				if id == 0 || seen[id] {
					t.Fatalf("batch %d event %d: id %d zero or repeated", u, i, id)
				}
				seen[id] = true
			}
			ev := must(s.GetRiskProcessEvent(ctx(t), a.ID, ids[u][size-1]))(t)
			if ev.PID != batches[u][size-1].PID || ev.HostUUID != batches[u][size-1].HostUUID {
				t.Errorf("batch %d: last id names pid %d on %s, want pid %d on %s", u, ev.PID, ev.HostUUID, batches[u][size-1].PID, batches[u][size-1].HostUUID)
			}
		}
		if got, want := total(t), before+int64((uploads-1)*size); got != want {
			t.Errorf("total = %d, want %d (the bad batch stores nothing, the others everything)", got, want)
		}
		must(s.GetThreat(ctx(t), "Linux.Concurrent.New"))(t)
	})
}

// checkRisk compares events field by field, times by instant.
func checkRisk(t *testing.T, got, want store.RiskProcessEvent) {
	t.Helper()
	type pair struct {
		name      string
		got, want any
	}
	for _, p := range []pair{
		{"ID", got.ID, want.ID}, {"AccountID", got.AccountID, want.AccountID}, {"HostUUID", got.HostUUID, want.HostUUID},
		{"PID", got.PID, want.PID}, {"PPID", got.PPID, want.PPID}, {"ExePath", got.ExePath, want.ExePath},
		{"CmdLine", got.CmdLine, want.CmdLine}, {"ExeMD5", got.ExeMD5, want.ExeMD5}, {"ExeSHA256", got.ExeSHA256, want.ExeSHA256},
		{"User", got.User, want.User}, {"Group", got.Group, want.Group}, {"ContainerID", got.ContainerID, want.ContainerID},
		{"VirusName", got.VirusName, want.VirusName}, {"RuleName", got.RuleName, want.RuleName},
		{"CheckPlatform", fmt.Sprint(got.CheckPlatform), fmt.Sprint(want.CheckPlatform)},
		{"HandleStatus", got.HandleStatus, want.HandleStatus}, {"FirstDetectionMethod", got.FirstDetectionMethod, want.FirstDetectionMethod},
	} {
		if p.got != p.want {
			t.Errorf("%s = %v, want %v", p.name, p.got, p.want)
		}
	}
	sameTime(t, "ProcessStartTime", got.ProcessStartTime, want.ProcessStartTime)
	sameTime(t, "DetectTime", got.DetectTime, want.DetectTime)
	sameTime(t, "FirstDetectTime", got.FirstDetectTime, want.FirstDetectTime)
	sameTime(t, "StatusTime", got.StatusTime, want.StatusTime)
	if !equalHost(got.Host, want.Host) {
		t.Errorf("Host = %+v\nwant %+v", got.Host, want.Host)
	}
	want.Threat.UpdatedAt = got.Threat.UpdatedAt
	if !equalThreat(got.Threat, want.Threat) {
		t.Errorf("Threat = %+v\nwant %+v", got.Threat, want.Threat)
	}
}

// riskFixture is a small, hand-checked data set for the query table.
type riskFixture struct {
	a, b  store.Account
	hosts map[string]store.Host // by UUID, account a
	ids   map[string]int64      // event name -> id
}

func newRiskFixture(t *testing.T, s store.Store) riskFixture {
	f := riskFixture{
		a: newAccount(t, s, "alpha"), b: newAccount(t, s, "beta"),
		hosts: map[string]store.Host{}, ids: map[string]int64{},
	}
	for _, h := range []store.Host{
		{UUID: "h-1", QUUID: "q-1", Name: "web-01", PrivateIP: "10.0.0.1", PublicIP: "1.2.3.4", InstanceID: "ins-1", NetworkName: "eth0", Online: true, LastSeen: at(0)},
		{UUID: "h-2", Name: "db_01", PrivateIP: "10.0.0.2"},
		{UUID: "h-3", Name: "Web-100%", PrivateIP: "192.168.1.3", PublicIP: "5.6.7.8"},
	} {
		f.hosts[h.UUID] = newHost(t, s, f.a.ID, h)
	}
	// Account b has a host with the same UUID and name, and look-alike events.
	newHost(t, s, f.b.ID, store.Host{UUID: "h-1", Name: "web-01", PrivateIP: "10.0.0.1"})

	if err := s.UpsertThreats(ctx(t), []store.Threat{{
		Name: "Linux.Miner.Xmrig", Tags: []string{"miner"}, Desc: store.Localized{ZH: "挖矿", EN: "miner"},
		Solution: store.Localized{ZH: "删除", EN: "delete"}, ReferenceLink: "https://example.com/miner",
	}}); err != nil {
		t.Fatal(err)
	}

	h := time.Hour
	named := []struct {
		name string
		e    store.RiskProcessEvent
	}{
		{"e1", riskEvent("h-1", 100, "/tmp/xmrig", "Linux.Miner.Xmrig", 0, 1*h, store.HandlePending)},
		{"e2", riskEvent("h-1", 101, "/dev/shm/dev", "Linux.Scanner.Fscan", 1*h, 5*h, store.HandleKilled)},
		{"e3", riskEvent("h-2", 200, "/var/www/shell_1.php", "Php.Trojan_Webshell", 2*h, 3*h, store.HandlePending)},
		{"e4", riskEvent("h-2", 201, "/var/www/shell%1.php", "Php.Trojan_Webshell", 3*h, 2*h, store.HandleIgnored)},
		{"e5", riskEvent("h-3", 300, `/opt/a\b/run`, `Test%Sig\x`, 4*h, 4*h, store.HandleExited)},
		{"e6", riskEvent("h-3", 100, "/tmp/XMRIG", "Linux.Miner.Xmrig", 5*h, 6*h, store.HandleHandled)},
		{"e7", riskEvent("h-1", 102, "/usr/bin/kworker", "Linux.Miner.Xmrig", 6*h, 7*h, store.HandlePending)},
		{"e8", riskEvent("h-2", 202, "/tmp/xmrig2", "Linux.Scanner.Fscan", 6*h, 7*h, store.HandleKilling)},
	}
	// Insert one by one so ids grow in name order (ties are broken by id).
	for _, n := range named {
		f.ids[n.name] = must(s.InsertRiskProcessEvents(ctx(t), f.a.ID, []store.RiskProcessEvent{n.e}))(t)[0]
	}
	bids := must(s.InsertRiskProcessEvents(ctx(t), f.b.ID, []store.RiskProcessEvent{
		riskEvent("h-1", 100, "/tmp/xmrig", "Linux.Miner.Xmrig", 0, 1*h, store.HandlePending),
		riskEvent("h-1", 200, "/var/www/shell_1.php", "Php.Trojan_Webshell", 2*h, 3*h, store.HandlePending),
	}))(t)
	f.ids["b1"], f.ids["b2"] = bids[0], bids[1]
	return f
}

func (f riskFixture) idsOf(names ...string) []int64 {
	out := make([]int64, len(names))
	for i, n := range names {
		out[i] = f.ids[n]
	}
	return out
}

func testRiskQuery(t *testing.T, s store.Store) {
	f := newRiskFixture(t, s)
	h := time.Hour
	text := func(exact bool, v ...string) store.TextFilter { return store.TextFilter{Values: v, Exact: exact} }
	all := []string{"e1", "e4", "e3", "e5", "e2", "e6", "e7", "e8"} // DetectTime ASC, ties by id

	tests := []struct {
		name  string
		q     store.RiskProcessEventQuery
		want  []string
		total int64 // 0: len(want)
	}{
		{"all, DetectTime ASC", store.RiskProcessEventQuery{}, all, 0},
		{"all, DetectTime DESC", store.RiskProcessEventQuery{Desc: true}, []string{"e8", "e7", "e6", "e2", "e5", "e3", "e4", "e1"}, 0},
		{"all, StartTime ASC", store.RiskProcessEventQuery{OrderBy: store.OrderByStartTime}, []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"}, 0},
		{"all, StartTime DESC", store.RiskProcessEventQuery{OrderBy: store.OrderByStartTime, Desc: true}, []string{"e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"}, 0},

		{"HostIDs exact", store.RiskProcessEventQuery{HostIDs: text(true, "h-1")}, []string{"e1", "e2", "e7"}, 0},
		{"HostIDs exact, two values OR'ed", store.RiskProcessEventQuery{HostIDs: text(true, "h-1", "h-3")}, []string{"e1", "e5", "e2", "e6", "e7"}, 0},
		{"HostIDs substring", store.RiskProcessEventQuery{HostIDs: text(false, "-3")}, []string{"e5", "e6"}, 0},
		{"HostIDs exact is not substring", store.RiskProcessEventQuery{HostIDs: text(true, "h-")}, nil, 0},
		{"HostIDs unknown", store.RiskProcessEventQuery{HostIDs: text(true, "h-9")}, nil, 0},

		{"IpOrName substring folds case", store.RiskProcessEventQuery{IPOrName: text(false, "WEB")}, []string{"e1", "e5", "e2", "e6", "e7"}, 0},
		{"IpOrName underscore is literal", store.RiskProcessEventQuery{IPOrName: text(false, "b_0")}, []string{"e4", "e3", "e8"}, 0},
		{"IpOrName percent is literal", store.RiskProcessEventQuery{IPOrName: text(false, "0%")}, []string{"e5", "e6"}, 0},
		{"IpOrName private IP exact", store.RiskProcessEventQuery{IPOrName: text(true, "10.0.0.2")}, []string{"e4", "e3", "e8"}, 0},
		{"IpOrName public IP substring", store.RiskProcessEventQuery{IPOrName: text(false, "5.6.7")}, []string{"e5", "e6"}, 0},
		{"IpOrName exact name", store.RiskProcessEventQuery{IPOrName: text(true, "web-01")}, []string{"e1", "e2", "e7"}, 0},
		{"IpOrName exact is case-sensitive", store.RiskProcessEventQuery{IPOrName: text(true, "WEB-01")}, nil, 0},
		{"IpOrName matching every host", store.RiskProcessEventQuery{IPOrName: text(false, "0")}, all, 0},
		{"IpOrName two values", store.RiskProcessEventQuery{IPOrName: text(false, "db", "192.168.")}, []string{"e4", "e3", "e5", "e6", "e8"}, 0},

		{"VirusNames exact", store.RiskProcessEventQuery{VirusNames: text(true, "Linux.Miner.Xmrig")}, []string{"e1", "e6", "e7"}, 0},
		{"VirusNames substring folds case", store.RiskProcessEventQuery{VirusNames: text(false, "linux.")}, []string{"e1", "e2", "e6", "e7", "e8"}, 0},
		{"VirusNames underscore is literal", store.RiskProcessEventQuery{VirusNames: text(false, "n_W")}, []string{"e4", "e3"}, 0},
		{"VirusNames percent and backslash", store.RiskProcessEventQuery{VirusNames: text(false, `%Sig\`)}, []string{"e5"}, 0},
		{"VirusNames percent alone", store.RiskProcessEventQuery{VirusNames: text(false, "%")}, []string{"e5"}, 0},

		{"FilePaths substring folds case", store.RiskProcessEventQuery{FilePaths: text(false, "xmrig")}, []string{"e1", "e6", "e8"}, 0},
		{"FilePaths exact", store.RiskProcessEventQuery{FilePaths: text(true, "/tmp/xmrig")}, []string{"e1"}, 0},
		{"FilePaths underscore is literal", store.RiskProcessEventQuery{FilePaths: text(false, "shell_")}, []string{"e3"}, 0},
		{"FilePaths percent is literal", store.RiskProcessEventQuery{FilePaths: text(false, "shell%")}, []string{"e4"}, 0},
		{"FilePaths backslash is literal", store.RiskProcessEventQuery{FilePaths: text(false, `a\b`)}, []string{"e5"}, 0},
		{"FilePaths two values", store.RiskProcessEventQuery{FilePaths: text(false, "/dev/", "kworker")}, []string{"e2", "e7"}, 0},

		{"ProcessIDs", store.RiskProcessEventQuery{ProcessIDs: []int64{100}}, []string{"e1", "e6"}, 0},
		{"ProcessIDs two", store.RiskProcessEventQuery{ProcessIDs: []int64{100, 200}}, []string{"e1", "e3", "e6"}, 0},

		{"start range inclusive", store.RiskProcessEventQuery{StartFrom: at(1 * h), StartTo: at(3 * h)}, []string{"e4", "e3", "e2"}, 0},
		{"start from only", store.RiskProcessEventQuery{StartFrom: at(5 * h)}, []string{"e6", "e7", "e8"}, 0},
		{"start to only", store.RiskProcessEventQuery{StartTo: at(0)}, []string{"e1"}, 0},
		{"start from is microsecond-precise", store.RiskProcessEventQuery{StartFrom: at(h + time.Microsecond), StartTo: at(3 * h)}, []string{"e4", "e3"}, 0},
		{"start range in another zone", store.RiskProcessEventQuery{StartFrom: at(h).UTC(), StartTo: at(h).In(time.FixedZone("X", -5*3600))}, []string{"e2"}, 0},
		{"empty range", store.RiskProcessEventQuery{StartFrom: at(3 * h), StartTo: at(1 * h)}, nil, 0},

		{"status pending", store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandlePending}}, []string{"e1", "e3", "e7"}, 0},
		{"status two values", store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandleKilled, store.HandleKilling}}, []string{"e2", "e8"}, 0},

		{"IpOrName + VirusName + range", store.RiskProcessEventQuery{
			IPOrName: text(false, "web"), VirusNames: text(false, "miner"), StartFrom: at(0), StartTo: at(5 * h),
		}, []string{"e1", "e6"}, 0},
		{"HostId + Status + range", store.RiskProcessEventQuery{
			HostIDs: text(true, "h-2"), HandleStatuses: []store.HandleStatus{store.HandlePending}, StartFrom: at(0), StartTo: at(6 * h),
		}, []string{"e3"}, 0},
		{"VirusName + FilePath + Status", store.RiskProcessEventQuery{
			VirusNames: text(false, "fscan"), FilePaths: text(false, "xmrig"), HandleStatuses: []store.HandleStatus{store.HandleKilling},
		}, []string{"e8"}, 0},
		{"filters that exclude each other", store.RiskProcessEventQuery{HostIDs: text(true, "h-1"), VirusNames: text(true, "Php.Trojan_Webshell")}, nil, 0},

		{"page 1", store.RiskProcessEventQuery{Desc: true, Limit: 3}, []string{"e8", "e7", "e6"}, 8},
		{"page 2", store.RiskProcessEventQuery{Desc: true, Limit: 3, Offset: 3}, []string{"e2", "e5", "e3"}, 8},
		{"last page, short", store.RiskProcessEventQuery{Desc: true, Limit: 3, Offset: 6}, []string{"e4", "e1"}, 8},
		{"page just past the end", store.RiskProcessEventQuery{Desc: true, Limit: 3, Offset: 8}, nil, 8},
		{"page far past the end", store.RiskProcessEventQuery{Limit: 10, Offset: 100}, nil, 8},
		{"exact-size page", store.RiskProcessEventQuery{Limit: 8}, all, 8},
		{"offset without limit", store.RiskProcessEventQuery{Offset: 6}, []string{"e7", "e8"}, 8},
		{"filtered page", store.RiskProcessEventQuery{VirusNames: text(false, "linux"), Limit: 2, Offset: 1, OrderBy: store.OrderByStartTime}, []string{"e2", "e6"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(s.QueryRiskProcessEvents(ctx(t), f.a.ID, tt.q))(t)
			want := f.idsOf(tt.want...)
			total := tt.total
			if total == 0 {
				total = int64(len(tt.want))
			}
			if !equalIDs(eventIDs(p), want) || p.Total != total {
				t.Errorf("got %v (total %d), want %v = %v (total %d)", eventIDs(p), p.Total, tt.want, want, total)
			}
		})
	}

	t.Run("Joined", func(t *testing.T) {
		p := must(s.QueryRiskProcessEvents(ctx(t), f.a.ID, store.RiskProcessEventQuery{ProcessIDs: []int64{100}, HostIDs: text(true, "h-1")}))(t)
		if len(p.Items) != 1 {
			t.Fatalf("got %d events", len(p.Items))
		}
		want := riskEvent("h-1", 100, "/tmp/xmrig", "Linux.Miner.Xmrig", 0, 1*h, store.HandlePending)
		want.ID, want.AccountID, want.Host, want.FirstDetectTime = f.ids["e1"], f.a.ID, f.hosts["h-1"], want.DetectTime
		want.Threat = must(s.GetThreat(ctx(t), "Linux.Miner.Xmrig"))(t)
		checkRisk(t, p.Items[0], want)
		checkRisk(t, must(s.GetRiskProcessEvent(ctx(t), f.a.ID, f.ids["e1"]))(t), want)
	})

	t.Run("OtherAccount", func(t *testing.T) {
		p := must(s.QueryRiskProcessEvents(ctx(t), f.b.ID, store.RiskProcessEventQuery{}))(t)
		if !equalIDs(eventIDs(p), f.idsOf("b1", "b2")) || p.Total != 2 {
			t.Errorf("account b sees %v (total %d), want b1, b2", eventIDs(p), p.Total)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		tooMany := make([]string, store.MaxFilterValues+1)
		for name, q := range map[string]store.RiskProcessEventQuery{
			"negative limit":  {Limit: -1},
			"negative offset": {Offset: -1},
			"unknown status":  {HandleStatuses: []store.HandleStatus{6}},
			"unknown order":   {OrderBy: 7},
			"too many values": {VirusNames: store.TextFilter{Values: tooMany}},
		} {
			_, err := s.QueryRiskProcessEvents(ctx(t), f.a.ID, q)
			wantErr(t, err, store.ErrInvalid, name)
		}
	})
}
