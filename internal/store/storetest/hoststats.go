package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// testHostStats pins down the HostQuery filters of cwp DescribeMachines —
// names, IPs, OS, online/offline at a cutoff, pending risk events, creation
// time — with paging, and PendingRiskEventCounts, tenant-scoped.
func testHostStats(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	c := ctx(t)
	seen := at(time.Hour) // the last heartbeat of the live hosts

	// Sorted by name: cache-1, db-1, db-2, web-1, web-2.
	hosts := []store.Host{
		{UUID: "u-web-1", Name: "web-1", PrivateIP: "10.0.0.1", PublicIP: "203.0.113.1", OS: "Ubuntu 22.04", Online: true, LastSeen: seen},
		{UUID: "u-web-2", Name: "web-2", PrivateIP: "10.0.0.2", OS: "CentOS 7.9", Online: true, LastSeen: seen.Add(-2 * time.Minute)},
		{UUID: "u-db-1", Name: "db-1", PrivateIP: "10.0.1.1", OS: "CentOS 7.9", Online: false, LastSeen: seen}, // stopped
		{UUID: "u-db-2", Name: "db-2", PrivateIP: "10.0.1.2", OS: "Debian 12"},                                 // never seen
		{UUID: "u-cache-1", Name: "cache-1", PrivateIP: "10.0.2.1", OS: "Debian 12", Online: true, LastSeen: seen.Add(-90 * time.Second)},
	}
	stored := make(map[string]store.Host)
	for _, h := range hosts {
		stored[h.UUID] = newHost(t, s, a.ID, h)
		time.Sleep(2 * time.Millisecond) // distinct CreatedAt
	}
	// b has a host with a's UUID and more pending events: none may leak.
	newHost(t, s, b.ID, store.Host{UUID: "u-web-1", Name: "web-1", Online: true, LastSeen: seen})

	must(s.InsertRiskProcessEvents(c, a.ID, []store.RiskProcessEvent{
		riskEvent("u-web-1", 1, "/tmp/a", "Virus.A", 0, time.Minute, store.HandlePending),
		riskEvent("u-web-1", 2, "/tmp/b", "Virus.B", 0, time.Minute, store.HandlePending),
		riskEvent("u-web-1", 3, "/tmp/c", "Virus.A", 0, time.Minute, store.HandleKilled),
		riskEvent("u-web-2", 4, "/tmp/d", "Virus.A", 0, time.Minute, store.HandleKilled),
		riskEvent("u-web-2", 5, "/tmp/e", "Virus.A", 0, time.Minute, store.HandleIgnored),
		riskEvent("u-db-1", 6, "/tmp/f", "Virus.B", 0, time.Minute, store.HandlePending),
	}))(t)
	var bEvents []store.RiskProcessEvent
	for pid := range int64(5) {
		bEvents = append(bEvents, riskEvent("u-web-1", 100+pid, "/tmp/x", "Virus.A", 0, time.Minute, store.HandlePending))
	}
	must(s.InsertRiskProcessEvents(c, b.ID, bEvents))(t)

	// onlineAt is the rule of agentapi.Online with the cutoff now - window.
	onlineAt := func(h store.Host, cutoff time.Time) bool {
		return h.Online && !h.LastSeen.IsZero() && h.LastSeen.After(cutoff)
	}
	yes, no := true, false
	cutoff := seen.Add(-90 * time.Second) // cache-1's LastSeen: not after it, so offline
	tests := []struct {
		name  string
		q     store.HostQuery
		want  []string
		total int64
	}{
		{"names substring", store.HostQuery{Names: store.TextFilter{Values: []string{"WEB"}}}, []string{"u-web-1", "u-web-2"}, 2},
		{"names exact", store.HostQuery{Names: store.TextFilter{Values: []string{"db-1", "db-"}, Exact: true}}, []string{"u-db-1"}, 1},
		{"names do not match IPs", store.HostQuery{Names: store.TextFilter{Values: []string{"10.0"}}}, nil, 0},
		{"IPs private or public", store.HostQuery{IPs: store.TextFilter{Values: []string{"203.0.113", "10.0.2."}}}, []string{"u-cache-1", "u-web-1"}, 2},
		{"IPs exact", store.HostQuery{IPs: store.TextFilter{Values: []string{"10.0.0.2"}, Exact: true}}, []string{"u-web-2"}, 1},
		{"IPs do not match names", store.HostQuery{IPs: store.TextFilter{Values: []string{"web"}}}, nil, 0},
		{"OS folds case", store.HostQuery{OS: store.TextFilter{Values: []string{"centos"}}}, []string{"u-db-1", "u-web-2"}, 2},
		{"online at cutoff", store.HostQuery{SeenSince: cutoff}, []string{"u-web-1"}, 1},
		{"offline at cutoff", store.HostQuery{SeenBefore: cutoff}, []string{"u-cache-1", "u-db-1", "u-db-2", "u-web-2"}, 4},
		{"online a microsecond earlier", store.HostQuery{SeenSince: cutoff.Add(-time.Microsecond)}, []string{"u-cache-1", "u-web-1"}, 2},
		{"offline page", store.HostQuery{SeenBefore: cutoff, Limit: 2, Offset: 1}, []string{"u-db-1", "u-db-2"}, 4},
		{"offline last page", store.HostQuery{SeenBefore: cutoff, Limit: 3, Offset: 3}, []string{"u-web-2"}, 4},
		{"pending risk events", store.HostQuery{HasPendingRiskEvents: &yes}, []string{"u-db-1", "u-web-1"}, 2},
		{"no pending risk events", store.HostQuery{HasPendingRiskEvents: &no}, []string{"u-cache-1", "u-db-2", "u-web-2"}, 3},
		{"online with pending", store.HostQuery{SeenSince: cutoff, HasPendingRiskEvents: &yes}, []string{"u-web-1"}, 1},
		{"offline with pending", store.HostQuery{SeenBefore: cutoff, HasPendingRiskEvents: &yes, Limit: 1}, []string{"u-db-1"}, 1},
		{"created since", store.HostQuery{CreatedSince: stored["u-db-1"].CreatedAt}, []string{"u-cache-1", "u-db-1", "u-db-2"}, 3},
		{"created since, paged", store.HostQuery{CreatedSince: stored["u-db-1"].CreatedAt, Limit: 1, Offset: 2}, []string{"u-db-2"}, 3},
		{"every filter", store.HostQuery{Names: store.TextFilter{Values: []string{"web"}}, IPs: store.TextFilter{Values: []string{"10.0.0."}},
			OS: store.TextFilter{Values: []string{"ubuntu"}}, SeenSince: cutoff, HasPendingRiskEvents: &yes, CreatedSince: at(-time.Hour)}, []string{"u-web-1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(s.QueryHosts(c, a.ID, tt.q))(t)
			var got []string
			for _, h := range p.Items {
				got = append(got, h.UUID)
			}
			if !slices.Equal(got, tt.want) || p.Total != tt.total {
				t.Errorf("QueryHosts = %v (total %d), want %v (total %d)", got, p.Total, tt.want, tt.total)
			}
		})
	}

	// SeenSince and SeenBefore agree with the Go rule at every cutoff around
	// the stored times, and split the hosts in two.
	t.Run("online rule", func(t *testing.T) {
		for _, d := range []time.Duration{-3 * time.Minute, -91 * time.Second, -90*time.Second - time.Microsecond,
			-90 * time.Second, -90*time.Second + time.Nanosecond, -time.Microsecond, 0, time.Nanosecond, time.Minute} {
			cut := seen.Add(d)
			var wantOn, wantOff []string
			for _, h := range must(s.QueryHosts(c, a.ID, store.HostQuery{}))(t).Items {
				if onlineAt(h, cut) {
					wantOn = append(wantOn, h.UUID)
				} else {
					wantOff = append(wantOff, h.UUID)
				}
			}
			uuids := func(q store.HostQuery) []string {
				var out []string
				for _, h := range must(s.QueryHosts(c, a.ID, q))(t).Items {
					out = append(out, h.UUID)
				}
				return out
			}
			if got := uuids(store.HostQuery{SeenSince: cut}); !slices.Equal(got, wantOn) {
				t.Errorf("cutoff %v: online %v, want %v", d, got, wantOn)
			}
			if got := uuids(store.HostQuery{SeenBefore: cut}); !slices.Equal(got, wantOff) {
				t.Errorf("cutoff %v: offline %v, want %v", d, got, wantOff)
			}
		}
	})

	t.Run("PendingRiskEventCounts", func(t *testing.T) {
		got := must(s.PendingRiskEventCounts(c, a.ID, []string{"u-web-1", "u-web-2", "u-db-1", "u-db-2", "unknown"}))(t)
		want := map[string]int64{"u-web-1": 2, "u-db-1": 1}
		if len(got) != len(want) || got["u-web-1"] != 2 || got["u-db-1"] != 1 {
			t.Errorf("counts = %v, want %v", got, want)
		}
		if got := must(s.PendingRiskEventCounts(c, b.ID, []string{"u-web-1", "u-db-1"}))(t); len(got) != 1 || got["u-web-1"] != 5 {
			t.Errorf("b's counts = %v, want u-web-1: 5 (its own host only)", got)
		}
		if got := must(s.PendingRiskEventCounts(c, a.ID, nil))(t); got == nil || len(got) != 0 {
			t.Errorf("no hosts: %v, want an empty map", got)
		}
		_, err := s.PendingRiskEventCounts(c, a.ID, make([]string, store.MaxFilterValues+1))
		wantErr(t, err, store.ErrInvalid, "PendingRiskEventCounts(too many hosts)")
	})

	t.Run("isolation", func(t *testing.T) {
		p := must(s.QueryHosts(c, b.ID, store.HostQuery{HasPendingRiskEvents: &yes, SeenSince: cutoff}))(t)
		if len(p.Items) != 1 || p.Items[0].AccountID != b.ID || p.Total != 1 {
			t.Errorf("b's hosts: %+v", p)
		}
	})

	t.Run("validate", func(t *testing.T) {
		for name, q := range map[string]store.HostQuery{
			"Names": {Names: store.TextFilter{Values: make([]string, store.MaxFilterValues+1)}},
			"IPs":   {IPs: store.TextFilter{Values: make([]string, store.MaxFilterValues+1)}},
			"OS":    {OS: store.TextFilter{Values: make([]string, store.MaxFilterValues+1)}},
		} {
			_, err := s.QueryHosts(c, a.ID, q)
			wantErr(t, err, store.ErrInvalid, "QueryHosts(too many "+name+")")
		}
	})
}
