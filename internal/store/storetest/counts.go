package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// Exec runs one SQL statement on the backend under test, bypassing the
// store, for writes the Store interface does not offer (yet).
type Exec func(ctx context.Context, sql string) error

// TestCountsFollowWrites checks that the totals a backend takes from its
// per-(host, threat, status) counts stay exact when events change by any
// statement — status updates, deletes, cascades from a deleted host — not
// only through InsertRiskProcessEvents. The SQL it runs is portable between
// the backends. Each total from the counts path (Limit 1, filters on hosts,
// threats and statuses only) is compared with the same query forced through
// a COUNT (an always-true FilePath filter).
func TestCountsFollowWrites(t *testing.T, s store.Store, exec Exec) {
	a := newAccount(t, s, "alpha")
	for _, u := range []string{"h-1", "h-2", "h-3"} {
		newHost(t, s, a.ID, store.Host{UUID: u, Name: "name-" + u})
	}
	var events []store.RiskProcessEvent
	for i := range 300 {
		events = append(events, riskEvent(fmt.Sprintf("h-%d", 1+i%3), int64(i), "/p", []string{"V.a", "V.b", "V.c", "V.d"}[i%4],
			time.Duration(i)*time.Minute, time.Duration(i)*time.Minute, store.HandleStatus(i%6)))
	}
	must(s.InsertRiskProcessEvents(ctx(t), a.ID, events))(t)
	must(s.InsertRiskProcessEvents(ctx(t), a.ID, events[:50]))(t) // repeats change no count

	check := func(step string) {
		t.Helper()
		text := func(v ...string) store.TextFilter { return store.TextFilter{Values: v, Exact: true} }
		for _, q := range []store.RiskProcessEventQuery{
			{},
			{HandleStatuses: []store.HandleStatus{store.HandlePending}},
			{HandleStatuses: []store.HandleStatus{store.HandleKilled, store.HandleIgnored}},
			{HostIDs: text("h-1")},
			{HostIDs: text("h-1", "h-3"), HandleStatuses: []store.HandleStatus{store.HandleKilled}},
			{VirusNames: text("V.b")},
			{VirusNames: text("V.a", "V.d"), HostIDs: text("h-2"), HandleStatuses: []store.HandleStatus{0, 3}},
		} {
			q.Limit = 1
			got := must(s.QueryRiskProcessEvents(ctx(t), a.ID, q))(t).Total
			q.FilePaths = store.TextFilter{Values: []string{""}}
			want := must(s.QueryRiskProcessEvents(ctx(t), a.ID, q))(t).Total
			if got != want {
				t.Errorf("%s: total for %+v = %d, COUNT says %d", step, q, got, want)
			}
		}
	}
	check("after insert")
	for _, step := range []struct{ name, sql string }{
		{"status update", "UPDATE risk_process_events SET handle_status = 3 WHERE pid % 3 = 0"},
		{"no-op status update", "UPDATE risk_process_events SET handle_status = handle_status WHERE pid % 2 = 0"},
		{"other column update", "UPDATE risk_process_events SET cmdline = 'x' WHERE pid % 4 = 0"},
		{"delete", "DELETE FROM risk_process_events WHERE pid % 5 = 0"},
		{"host delete cascade", "DELETE FROM hosts WHERE uuid = 'h-2'"},
	} {
		if err := exec(ctx(t), step.sql); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		check("after " + step.name)
	}
}
