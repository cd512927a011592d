package sqlite

import (
	"database/sql"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"

	"github.com/vigil-sec/vigil/internal/store/internal/migrate"
)

// migrationCount is how many rows schema_migrations holds once every
// embedded migration is applied.
func migrationCount(t *testing.T) int {
	t.Helper()
	all, err := migrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// TestMigration0005 upgrades a database holding events from schema 4 (the
// unique key ordered by pid) to 5 (ordered by start time; the table is
// rebuilt) and checks that nothing is lost: rows and ids, the counts, the
// AUTOINCREMENT counter (an id freed by a deletion is not reused), the
// quarantine links that DROP TABLE nulls on the way, and deduplication.
func TestMigration0005(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	old, err := Open(ctx, dir, func(o *options) { o.schemaVersion = 4 })
	if err != nil {
		t.Fatal(err)
	}
	acct, err := old.CreateAccount(ctx, "m5")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.UpsertHost(ctx, acct.ID, store.Host{UUID: "h-1", Name: "web"}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var events []store.RiskProcessEvent
	for i := range 50 {
		events = append(events, store.RiskProcessEvent{
			HostUUID: "h-1", PID: int64(1000 - i), PPID: 1, ExePath: "/dev/shm/x", CmdLine: "x -o stratum+tcp://pool",
			VirusName: "Linux.Miner.CmdLine", RuleName: "miner_cmdline", ProcessStartTime: start.Add(time.Duration(i) * time.Second),
			DetectTime: start.Add(time.Hour), HandleStatus: store.HandleStatus(i % 3),
		})
	}
	ids, err := old.InsertRiskProcessEvents(ctx, acct.ID, events)
	if err != nil {
		t.Fatal(err)
	}
	last := slices.Max(ids)
	if _, err := old.DeleteRiskEvents(ctx, acct.ID, store.RiskEventSelection{IDs: []int64{last}}); err != nil {
		t.Fatal(err)
	}
	sample, err := old.RecordQuarantineSample(ctx, acct.ID, store.QuarantineSample{HostUUID: "h-1", OriginalPath: "/dev/shm/x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.w.ExecContext(ctx, "UPDATE quarantine_samples SET risk_event_id = ? WHERE id = ?", ids[3], sample.ID); err != nil {
		t.Fatal(err)
	}
	before, err := old.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	countsBefore := countsRows(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := s.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if after.Total != 49 || !reflect.DeepEqual(after.Items, before.Items) {
		t.Errorf("events changed by the migration: %d events, want 49 as before", after.Total)
	}
	if got := countsRows(t, s); !reflect.DeepEqual(got, countsBefore) {
		t.Errorf("counts = %v, want %v", got, countsBefore)
	}
	var link sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT risk_event_id FROM quarantine_samples WHERE id = ?", sample.ID).Scan(&link); err != nil {
		t.Fatal(err)
	}
	if link.Int64 != ids[3] {
		t.Errorf("quarantine link = %v, want %d", link, ids[3])
	}
	var cols []string
	rows, err := s.r.QueryContext(ctx, `SELECT ii.name FROM pragma_index_list('risk_process_events') il, pragma_index_info(il.name) ii
		WHERE il."unique" = 1 AND il.origin = 'u' ORDER BY ii.seqno`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if want := []string{"account_id", "host_id", "process_start_time", "pid", "rule_name"}; !slices.Equal(cols, want) {
		t.Errorf("unique key = %v, want %v", cols, want)
	}
	// Counter carried over (the first insert after the migration), dedup by
	// the same key, counts still follow.
	fresh, err := s.InsertRiskProcessEvents(ctx, acct.ID, []store.RiskProcessEvent{{
		HostUUID: "h-1", PID: 7, ExePath: "/tmp/y", VirusName: "Linux.Miner.CmdLine", RuleName: "miner_cmdline",
		ProcessStartTime: start, DetectTime: start.Add(2 * time.Hour),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fresh[0] <= last {
		t.Errorf("new event id %d reuses an id up to the deleted %d", fresh[0], last)
	}
	again, err := s.InsertRiskProcessEvents(ctx, acct.ID, events[:2])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, ids[:2]) {
		t.Errorf("repeats got ids %v, want %v", again, ids[:2])
	}
	if after, err = s.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{Limit: 1}); err != nil || after.Total != 50 {
		t.Errorf("total after insert = %d, %v; want 50", after.Total, err)
	}
}

func countsRows(t *testing.T, s *Store) [][5]int64 {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "SELECT account_id, host_id, threat_id, handle_status, n FROM risk_process_event_counts ORDER BY 1, 2, 3, 4")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][5]int64
	for rows.Next() {
		var r [5]int64
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}
