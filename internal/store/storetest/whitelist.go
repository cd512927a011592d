package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func testEventStatusAndWhitelists(t *testing.T, s store.Store) {
	t.Run("EventStatus", func(t *testing.T) { testEventStatus(t, s) })
	t.Run("Whitelists", func(t *testing.T) { testWhitelists(t, s) })
}

func testEventStatus(t *testing.T, s store.Store) {
	a := newAccount(t, s, "op-alpha")
	b := newAccount(t, s, "op-beta")
	newHost(t, s, a.ID, store.Host{UUID: "h-1", QUUID: "q-1", Name: "web-01", PrivateIP: "10.0.0.1"})
	newHost(t, s, a.ID, store.Host{UUID: "h-2", QUUID: "q-2", Name: "db-01", PrivateIP: "10.0.0.2"})
	newHost(t, s, b.ID, store.Host{UUID: "h-b", QUUID: "q-b", Name: "web-01"})
	var evs []store.RiskProcessEvent
	for i := range 12 {
		e := riskEvent([]string{"h-1", "h-2"}[i%2], int64(100+i), []string{"/tmp/x", "/usr/bin/y", "/dev/shm/z"}[i%3],
			[]string{"Miner.A", "Scanner.B"}[i%2], time.Duration(i)*time.Minute, time.Duration(i)*time.Minute, store.HandlePending)
		e.ExeMD5 = "0123456789abcdef0123456789abcdef"
		evs = append(evs, e)
	}
	ids := must(s.InsertRiskProcessEvents(ctx(t), a.ID, evs))(t)
	bIDs := must(s.InsertRiskProcessEvents(ctx(t), b.ID, []store.RiskProcessEvent{
		riskEvent("h-b", 1, "/tmp/x", "Miner.A", 0, 0, store.HandlePending)}))(t)
	status := func(t *testing.T, acct, id int64) store.HandleStatus {
		t.Helper()
		return must(s.GetRiskProcessEvent(ctx(t), acct, id))(t).HandleStatus
	}
	// The counts-table totals must agree with a COUNT (see TestCountsFollowWrites).
	checkCounts := func(t *testing.T) {
		t.Helper()
		for st := store.HandlePending; st <= store.HandleIgnored; st++ {
			q := store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{st}, Limit: 1}
			got := must(s.QueryRiskProcessEvents(ctx(t), a.ID, q))(t).Total
			q.FilePaths = store.TextFilter{Values: []string{""}}
			want := must(s.QueryRiskProcessEvents(ctx(t), a.ID, q))(t).Total
			if got != want {
				t.Errorf("status %v: counts total %d, COUNT %d", st, got, want)
			}
		}
	}
	at0 := at(time.Hour)

	t.Run("ByIDs", func(t *testing.T) {
		n := must(s.SetRiskEventsStatus(ctx(t), a.ID, store.RiskEventSelection{IDs: []int64{ids[0], ids[1], bIDs[0]}}, store.HandleHandled, at0))(t)
		if n != 2 {
			t.Errorf("changed %d, want 2 (the other account's id selects nothing)", n)
		}
		e := must(s.GetRiskProcessEvent(ctx(t), a.ID, ids[0]))(t)
		if e.HandleStatus != store.HandleHandled {
			t.Errorf("status %v", e.HandleStatus)
		}
		sameTime(t, "StatusTime", e.StatusTime, at0)
		if st := status(t, b.ID, bIDs[0]); st != store.HandlePending {
			t.Errorf("other account's event became %v", st)
		}
		if n := must(s.SetRiskEventsStatus(ctx(t), a.ID, store.RiskEventSelection{IDs: ids[:2]}, store.HandleHandled, at0))(t); n != 0 {
			t.Errorf("setting the same status again changed %d", n)
		}
		checkCounts(t)
	})
	t.Run("IDsNarrowedByFilter", func(t *testing.T) {
		sel := store.RiskEventSelection{IDs: ids[:4], Filter: store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandleHandled}}}
		if n := must(s.SetRiskEventsStatus(ctx(t), a.ID, sel, store.HandleKilling, at0))(t); n != 2 {
			t.Errorf("changed %d, want the 2 handled ones", n)
		}
		if st := status(t, a.ID, ids[2]); st != store.HandlePending {
			t.Errorf("event outside the filter became %v", st)
		}
		checkCounts(t)
	})
	t.Run("AllWithExcludeAndFilter", func(t *testing.T) {
		sel := store.RiskEventSelection{All: true, ExcludeIDs: []int64{ids[4]}, Filter: store.RiskProcessEventQuery{
			HostIDs: store.TextFilter{Values: []string{"h-1"}, Exact: true}, HandleStatuses: []store.HandleStatus{store.HandlePending}}}
		refs := must(s.SelectRiskEvents(ctx(t), a.ID, sel, 0))(t)
		// h-1 has the even indexes; 0 is killing now, 4 is excluded: 2, 6, 8, 10.
		want := []int64{ids[2], ids[6], ids[8], ids[10]}
		if got := ids2(refs); !slices.Equal(got, want) {
			t.Fatalf("selected %v, want %v", got, want)
		}
		r := refs[0]
		if r.HostUUID != "h-1" || r.QUUID != "q-1" || r.PID != 102 || r.ExePath != "/dev/shm/z" || r.VirusName != "Miner.A" ||
			r.ExeMD5 != "0123456789abcdef0123456789abcdef" || r.HandleStatus != store.HandlePending {
			t.Errorf("ref = %+v", r)
		}
		sameTime(t, "ProcessStartTime", r.ProcessStartTime, at(2*time.Minute))
		if got := must(s.SelectRiskEvents(ctx(t), a.ID, sel, 2))(t); len(got) != 2 {
			t.Errorf("limit 2: %d refs", len(got))
		}
		if n := must(s.SetRiskEventsStatus(ctx(t), a.ID, sel, store.HandleIgnored, at0))(t); n != 4 {
			t.Errorf("changed %d, want 4", n)
		}
		if st := status(t, a.ID, ids[4]); st != store.HandlePending {
			t.Errorf("excluded event became %v", st)
		}
		if st := status(t, b.ID, bIDs[0]); st != store.HandlePending {
			t.Errorf("other account's event became %v", st)
		}
		checkCounts(t)
	})
	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    store.RiskProcessEventQuery
			want int
		}{
			{"virus", store.RiskProcessEventQuery{VirusNames: store.TextFilter{Values: []string{"scanner"}}}, 6},
			{"ip", store.RiskProcessEventQuery{IPOrName: store.TextFilter{Values: []string{"10.0.0.2"}}}, 6},
			{"path", store.RiskProcessEventQuery{FilePaths: store.TextFilter{Values: []string{"/DEV/shm"}}}, 4},
			{"pid", store.RiskProcessEventQuery{ProcessIDs: []int64{100, 101, 1}}, 2},
			{"range", store.RiskProcessEventQuery{StartFrom: at(3 * time.Minute), StartTo: at(5 * time.Minute)}, 3},
			{"empty range", store.RiskProcessEventQuery{StartFrom: at(5 * time.Minute), StartTo: at(3 * time.Minute)}, 0},
			{"no host", store.RiskProcessEventQuery{HostIDs: store.TextFilter{Values: []string{"h-b"}, Exact: true}}, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := must(s.SelectRiskEvents(ctx(t), a.ID, store.RiskEventSelection{All: true, Filter: tc.q}, 0))(t)
				if len(got) != tc.want {
					t.Errorf("%d events, want %d", len(got), tc.want)
				}
			})
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		_, err := s.SetRiskEventsStatus(ctx(t), a.ID, store.RiskEventSelection{}, store.HandleHandled, at0)
		wantErr(t, err, store.ErrInvalid, "empty selection")
		_, err = s.SetRiskEventsStatus(ctx(t), a.ID, store.RiskEventSelection{All: true}, store.HandleStatus(9), at0)
		wantErr(t, err, store.ErrInvalid, "unknown status")
		_, err = s.DeleteRiskEvents(ctx(t), a.ID, store.RiskEventSelection{})
		wantErr(t, err, store.ErrInvalid, "empty delete selection")
	})
	t.Run("Delete", func(t *testing.T) {
		n := must(s.DeleteRiskEvents(ctx(t), a.ID, store.RiskEventSelection{IDs: []int64{ids[1], ids[3], bIDs[0]}}))(t)
		if n != 2 {
			t.Errorf("deleted %d, want 2", n)
		}
		_, err := s.GetRiskProcessEvent(ctx(t), a.ID, ids[1])
		wantErr(t, err, store.ErrNotFound, "deleted event")
		must(s.GetRiskProcessEvent(ctx(t), b.ID, bIDs[0]))(t)
		n = must(s.DeleteRiskEvents(ctx(t), a.ID, store.RiskEventSelection{All: true, ExcludeIDs: []int64{ids[0]},
			Filter: store.RiskProcessEventQuery{HostIDs: store.TextFilter{Values: []string{"h-1"}, Exact: true}}}))(t)
		if n != 5 {
			t.Errorf("deleted %d, want the 5 other events of h-1", n)
		}
		if total := must(s.QueryRiskProcessEvents(ctx(t), a.ID, store.RiskProcessEventQuery{}))(t).Total; total != 5 {
			t.Errorf("%d events left, want 5", total)
		}
		checkCounts(t)
	})
}

func ids2(refs []store.RiskEventRef) []int64 {
	return ids(refs, func(r store.RiskEventRef) int64 { return r.ID })
}

const (
	md5A = "0123456789abcdef0123456789abcdef"
	md5B = "fedcba9876543210fedcba9876543210"
	md5C = "00000000000000000000000000000001"
)

func testWhitelists(t *testing.T, s store.Store) {
	a := newAccount(t, s, "wl-alpha")
	b := newAccount(t, s, "wl-beta")
	newHost(t, s, a.ID, store.Host{UUID: "h-1", QUUID: "q-1", PrivateIP: "10.0.0.1"})
	newHost(t, s, a.ID, store.Host{UUID: "h-2", QUUID: "q-2", PrivateIP: "10.0.0.2", PublicIP: "1.2.3.4"})
	create := func(t *testing.T, acct int64, r store.WhitelistRule) store.WhitelistRule {
		t.Helper()
		if r.Product == "" {
			r.Product = store.WhitelistCWP
		}
		return must(s.CreateWhitelistRule(ctx(t), acct, r))(t)
	}
	start := time.Now()
	global := create(t, a.ID, store.WhitelistRule{Mode: store.WhitelistModeMD5, IsGlobal: true, MD5s: []string{strUpper(md5B), md5A, md5A}, Remark: "r"})
	perHost := create(t, a.ID, store.WhitelistRule{Mode: store.WhitelistModeMD5, QUUIDs: []string{"q-2"}, MD5s: []string{md5C}})
	exact := create(t, a.ID, store.WhitelistRule{Mode: store.WhitelistModeCustom, IsGlobal: true,
		FileNames: []string{"index.php"}, FileDirs: []string{"/var/www/"}, FileExtensions: []string{".php"}})
	fuzzy := create(t, a.ID, store.WhitelistRule{Mode: store.WhitelistModeCustom, MatchType: store.MatchFuzzy, QUUIDs: []string{"q-1"},
		FileNames: []string{"MINER"}})
	other := create(t, b.ID, store.WhitelistRule{Mode: store.WhitelistModeMD5, IsGlobal: true, MD5s: []string{md5A}})
	tcss := create(t, a.ID, store.WhitelistRule{Product: store.WhitelistTCSS, Mode: store.WhitelistModeMD5, ImageIDs: []string{"sha256:1"}, MD5s: []string{md5B}})

	t.Run("Create", func(t *testing.T) {
		if !slices.Equal(global.MD5s, []string{md5A, md5B}) || global.Remark != "r" || !global.IsGlobal || global.EventsCount != 0 ||
			global.AccountID != a.ID || global.Product != store.WhitelistCWP {
			t.Errorf("global = %+v", global)
		}
		recent(t, "CreatedAt", global.CreatedAt, start)
		sameTime(t, "UpdatedAt", global.UpdatedAt, global.CreatedAt)
		if !slices.Equal(exact.FileDirs, []string{"/var/www"}) || !slices.Equal(exact.FileExtensions, []string{"php"}) || exact.MD5s != nil {
			t.Errorf("exact = %+v", exact)
		}
		if !slices.Equal(perHost.QUUIDs, []string{"q-2"}) {
			t.Errorf("perHost = %+v", perHost)
		}
		for _, tc := range []struct {
			name string
			r    store.WhitelistRule
		}{
			{"bad md5", store.WhitelistRule{Product: store.WhitelistCWP, IsGlobal: true, MD5s: []string{"xyz"}}},
			{"md5 rule without md5", store.WhitelistRule{Product: store.WhitelistCWP, IsGlobal: true}},
			{"custom rule without names", store.WhitelistRule{Product: store.WhitelistCWP, Mode: store.WhitelistModeCustom, IsGlobal: true}},
			{"no scope", store.WhitelistRule{Product: store.WhitelistCWP, MD5s: []string{md5A}}},
			{"product", store.WhitelistRule{Product: "x", IsGlobal: true, MD5s: []string{md5A}}},
			{"long name", store.WhitelistRule{Product: store.WhitelistCWP, Mode: store.WhitelistModeCustom, IsGlobal: true,
				FileNames: []string{string(make([]byte, 201))}}},
		} {
			_, err := s.CreateWhitelistRule(ctx(t), a.ID, tc.r)
			wantErr(t, err, store.ErrInvalid, tc.name)
		}
		_, err := s.CreateWhitelistRule(ctx(t), 1<<40, store.WhitelistRule{Product: store.WhitelistCWP, IsGlobal: true, MD5s: []string{md5A}})
		wantErr(t, err, store.ErrNotFound, "unknown account")
	})
	t.Run("Get", func(t *testing.T) {
		got := must(s.GetWhitelistRule(ctx(t), a.ID, store.WhitelistCWP, exact.ID))(t)
		if got.ID != exact.ID || got.Mode != store.WhitelistModeCustom || !slices.Equal(got.FileNames, []string{"index.php"}) {
			t.Errorf("got %+v", got)
		}
		_, err := s.GetWhitelistRule(ctx(t), b.ID, store.WhitelistCWP, exact.ID)
		wantErr(t, err, store.ErrNotFound, "another account's rule")
		_, err = s.GetWhitelistRule(ctx(t), a.ID, store.WhitelistCWP, tcss.ID)
		wantErr(t, err, store.ErrNotFound, "a tcss rule as cwp")
	})
	t.Run("Match", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			quuid string
			f     store.WhitelistFile
			want  int64
		}{
			{"global md5", "q-1", store.WhitelistFile{MD5: md5A, Path: "/a"}, global.ID},
			{"md5 any case", "q-9", store.WhitelistFile{MD5: strUpper(md5B), Path: "/a"}, global.ID},
			{"per-host md5 on its host", "q-2", store.WhitelistFile{MD5: md5C}, perHost.ID},
			{"per-host md5 elsewhere", "q-1", store.WhitelistFile{MD5: md5C}, 0},
			{"exact custom", "q-1", store.WhitelistFile{Path: "/var/www/html/index.php"}, exact.ID},
			{"exact custom, wrong dir", "q-1", store.WhitelistFile{Path: "/var/wwwx/index.php"}, 0},
			{"exact custom, wrong name", "q-1", store.WhitelistFile{Path: "/var/www/index.php5"}, 0},
			{"fuzzy custom on its host", "q-1", store.WhitelistFile{Path: "/tmp/xmr-miner.bin"}, fuzzy.ID},
			{"fuzzy custom elsewhere", "q-2", store.WhitelistFile{Path: "/tmp/xmr-miner.bin"}, 0},
			{"nothing", "q-1", store.WhitelistFile{MD5: "ffffffffffffffffffffffffffffffff", Path: "/usr/bin/ls"}, 0},
			{"lowest id wins", "q-1", store.WhitelistFile{MD5: md5A, Path: "/var/www/index.php"}, global.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := must(s.MatchWhitelist(ctx(t), a.ID, store.WhitelistCWP, tc.quuid, []store.WhitelistFile{tc.f, {}}))(t)
				if !slices.Equal(got, []int64{tc.want, 0}) {
					t.Errorf("got %v, want [%d 0]", got, tc.want)
				}
			})
		}
		got := must(s.MatchWhitelist(ctx(t), b.ID, store.WhitelistCWP, "q-1", []store.WhitelistFile{{MD5: md5A}, {MD5: md5B}}))(t)
		if !slices.Equal(got, []int64{other.ID, 0}) {
			t.Errorf("account beta: %v", got)
		}
		got = must(s.MatchWhitelist(ctx(t), a.ID, store.WhitelistTCSS, "", []store.WhitelistFile{{MD5: md5B, ImageID: "sha256:1"}, {MD5: md5B, ImageID: "sha256:2"}, {MD5: md5A, ImageID: "sha256:1"}}))(t)
		if !slices.Equal(got, []int64{tcss.ID, 0, 0}) {
			t.Errorf("tcss: %v", got)
		}
	})
	t.Run("Hits", func(t *testing.T) {
		must(0, s.AddWhitelistHits(ctx(t), a.ID, map[int64]int64{perHost.ID: 3, exact.ID: 1, other.ID: 100, 1 << 40: 1}))(t)
		if got := must(s.GetWhitelistRule(ctx(t), a.ID, store.WhitelistCWP, perHost.ID))(t).EventsCount; got != 3 {
			t.Errorf("EventsCount = %d", got)
		}
		if got := must(s.GetWhitelistRule(ctx(t), b.ID, store.WhitelistCWP, other.ID))(t).EventsCount; got != 0 {
			t.Errorf("another account's rule counted %d", got)
		}
	})
	t.Run("Query", func(t *testing.T) {
		ruleIDs := func(p store.Page[store.WhitelistRule]) []int64 {
			return ids(p.Items, func(r store.WhitelistRule) int64 { return r.ID })
		}
		for _, tc := range []struct {
			name  string
			q     store.WhitelistQuery
			want  []int64
			total int64
		}{
			{"all, newest first", store.WhitelistQuery{Desc: true}, []int64{fuzzy.ID, exact.ID, perHost.ID, global.ID}, 4},
			{"page", store.WhitelistQuery{Limit: 2, Offset: 1}, []int64{perHost.ID, exact.ID}, 4},
			{"by events count", store.WhitelistQuery{OrderBy: store.WhitelistByEventsCount, Desc: true, Limit: 2}, []int64{perHost.ID, exact.ID}, 4},
			{"mode", store.WhitelistQuery{Modes: []store.WhitelistMode{store.WhitelistModeCustom}}, []int64{exact.ID, fuzzy.ID}, 2},
			{"md5 substring", store.WhitelistQuery{MD5s: store.TextFilter{Values: []string{"FEDCBA"}}}, []int64{global.ID}, 1},
			{"md5 exact", store.WhitelistQuery{MD5s: store.TextFilter{Values: []string{md5C}, Exact: true}}, []int64{perHost.ID}, 1},
			{"file name", store.WhitelistQuery{FileNames: store.TextFilter{Values: []string{"index"}}}, []int64{exact.ID}, 1},
			{"dir", store.WhitelistQuery{FileDirs: store.TextFilter{Values: []string{"/var/www"}, Exact: true}}, []int64{exact.ID}, 1},
			{"extension", store.WhitelistQuery{FileExtensions: store.TextFilter{Values: []string{"ph"}}}, []int64{exact.ID}, 1},
			{"host ip", store.WhitelistQuery{HostIPs: store.TextFilter{Values: []string{"1.2.3.4"}}}, []int64{global.ID, perHost.ID, exact.ID}, 3},
			{"unknown ip", store.WhitelistQuery{HostIPs: store.TextFilter{Values: []string{"9.9.9.9"}}}, nil, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.q.Product = store.WhitelistCWP
				p := must(s.QueryWhitelistRules(ctx(t), a.ID, tc.q))(t)
				if got := ruleIDs(p); !equalIDs(got, tc.want) || p.Total != tc.total {
					t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tc.want, tc.total)
				}
			})
		}
		p := must(s.QueryWhitelistRules(ctx(t), a.ID, store.WhitelistQuery{Product: store.WhitelistCWP, MD5s: store.TextFilter{Values: []string{md5B}}}))(t)
		if len(p.Items) != 1 || !slices.Equal(p.Items[0].MD5s, []string{md5A, md5B}) {
			t.Errorf("a page's MD5s: %+v", p.Items)
		}
		_, err := s.QueryWhitelistRules(ctx(t), a.ID, store.WhitelistQuery{})
		wantErr(t, err, store.ErrInvalid, "no product")
	})
	t.Run("Update", func(t *testing.T) {
		r := perHost
		r.MD5s, r.QUUIDs = []string{md5B}, []string{"q-1", "q-2"}
		got := must(s.UpdateWhitelistRule(ctx(t), a.ID, r))(t)
		if !slices.Equal(got.MD5s, []string{md5B}) || !slices.Equal(got.QUUIDs, []string{"q-1", "q-2"}) || got.EventsCount != 3 {
			t.Errorf("updated = %+v", got)
		}
		sameTime(t, "CreatedAt", got.CreatedAt, perHost.CreatedAt)
		if m := must(s.MatchWhitelist(ctx(t), a.ID, store.WhitelistCWP, "q-2", []store.WhitelistFile{{MD5: md5C}}))(t); m[0] != 0 {
			t.Errorf("replaced MD5 still matches rule %d", m[0])
		}
		r.ID = other.ID
		_, err := s.UpdateWhitelistRule(ctx(t), a.ID, r)
		wantErr(t, err, store.ErrNotFound, "another account's rule")
	})
	t.Run("Delete", func(t *testing.T) {
		err := s.DeleteWhitelistRules(ctx(t), a.ID, store.WhitelistCWP, []int64{global.ID, other.ID})
		wantErr(t, err, store.ErrNotFound, "with another account's id")
		must(s.GetWhitelistRule(ctx(t), a.ID, store.WhitelistCWP, global.ID))(t)
		must(0, s.DeleteWhitelistRules(ctx(t), a.ID, store.WhitelistCWP, []int64{global.ID, exact.ID}))(t)
		_, err = s.GetWhitelistRule(ctx(t), a.ID, store.WhitelistCWP, global.ID)
		wantErr(t, err, store.ErrNotFound, "deleted rule")
		if m := must(s.MatchWhitelist(ctx(t), a.ID, store.WhitelistCWP, "q-1", []store.WhitelistFile{{MD5: md5A, Path: "/var/www/index.php"}}))(t); m[0] != 0 {
			t.Errorf("deleted rules still match: %d", m[0])
		}
		must(s.GetWhitelistRule(ctx(t), b.ID, store.WhitelistCWP, other.ID))(t)
	})
}

func strUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
