package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

var riskInsertCols = append([]string{"account_id", "host_id", "threat_id"}, fieldNames(cols.RiskProcessEvent)...)

// riskStmtRows is the most events one INSERT statement writes: as many as
// SQLite's 32,766 parameters allow. Writing a batch with one statement per
// event made SQLite save every page each statement changed in a statement
// journal (tens of kilobytes per event) and run the counts trigger's
// statement preparation per row; a multi-row statement does that once. The
// statements are prepared once per connection: the driver's statement cache
// keeps them by text.
var riskStmtRows = 32766 / len(riskInsertCols)

// insertRiskSQL returns the INSERT of n events. RETURNING gives each row's id
// with its key, which maps it back to the batch: SQLite returns the rows of a
// multi-row INSERT in no promised order.
func insertRiskSQL(n int) string {
	row := "(" + placeholders(len(riskInsertCols)) + ")"
	return "INSERT INTO risk_process_events (" + strings.Join(riskInsertCols, ", ") + ") VALUES " +
		strings.Repeat(row+", ", n-1) + row +
		` ON CONFLICT (account_id, host_id, pid, process_start_time, rule_name) DO UPDATE SET
		detect_time = max(detect_time, excluded.detect_time),
		first_detect_time = min(first_detect_time, excluded.first_detect_time)
	RETURNING id, host_id, pid, process_start_time, rule_name`
}

// riskKey is the dedup key as the database stores it.
type riskKey struct {
	host, pid, start int64
	rule             string
}

// InsertRiskProcessEvents writes a batch that fits one statement (up to
// riskStmtRows distinct events) with that statement alone, in autocommit
// mode: a single statement is atomic by itself, and outside an explicit
// transaction SQLite needs no statement journal for it (inside one it copies
// every page the statement changes, in case the statement alone must be
// undone). Host ids are resolved, and missing catalog entries added, by the
// statements before it; a host deleted in between fails the insert's
// foreign key, reported as ErrNotFound like an unknown host. A larger batch
// runs as one transaction of several statements. Batches of concurrent
// callers are written together in one transaction (groupCommitter).
func (s *Store) InsertRiskProcessEvents(ctx context.Context, accountID int64, events []store.RiskProcessEvent) ([]int64, error) {
	distinct, index, err := prep.RiskProcessEvents(events)
	if err != nil {
		return nil, err
	}
	if len(distinct) == 0 {
		return []int64{}, nil
	}
	ids := make([]int64, len(distinct))
	err = s.riskGroup.do(ctx, s.write, &groupItem{
		size: len(distinct),
		inGroup: func(ctx context.Context, tx *sql.Tx) error {
			return s.insertRisk(ctx, tx, accountID, distinct, ids)
		},
		alone: func() error {
			if len(distinct) <= riskStmtRows {
				return s.insertRisk(ctx, s.w, accountID, distinct, ids)
			}
			return s.write(ctx, func(tx *sql.Tx) error { return s.insertRisk(ctx, tx, accountID, distinct, ids) })
		},
	})
	if err != nil {
		return nil, err
	}
	s.inserted(ctx, len(distinct))
	out := make([]int64, len(events))
	for i, j := range index {
		out[i] = ids[j]
	}
	return out, nil
}

// insertRisk writes distinct (no two with the same key) and stores their ids
// in ids: hosts resolved with one query, threats with one or two, the events
// with one INSERT per riskStmtRows.
func (s *Store) insertRisk(ctx context.Context, q querier, accountID int64, distinct []store.RiskProcessEvent, ids []int64) error {
	hosts, err := batchHostIDs(ctx, q, accountID, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.HostUUID }))
	if err != nil {
		return err
	}
	threats, err := s.batchThreatIDs(ctx, q, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.VirusName }))
	if err != nil {
		return err
	}
	at := make(map[riskKey]int, min(len(distinct), riskStmtRows))
	args := make([]any, 0, min(len(distinct), riskStmtRows)*len(riskInsertCols))
	for lo := 0; lo < len(distinct); lo += riskStmtRows {
		chunk := distinct[lo:min(lo+riskStmtRows, len(distinct))]
		args = args[:0]
		clear(at)
		for i := range chunk {
			e := &chunk[i]
			h := hosts[e.HostUUID]
			at[riskKey{h, e.PID, micros(e.ProcessStartTime), e.RuleName}] = lo + i
			args = append(args, accountID, h, threats[e.VirusName])
			args = append(args, cols.Values(cols.RiskProcessEvent, codec, e)...)
		}
		err := insertRiskChunk(ctx, q, insertRiskSQL(len(chunk)), args, at, ids)
		if isForeignKey(err) {
			return fmt.Errorf("%w: a host of the batch was deleted while it was written", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: inserting risk process events: %w", err)
		}
	}
	return nil
}

// insertRiskChunk runs one multi-row INSERT and stores each returned id at
// the batch position at gives for its key, checking that every key came
// back exactly once.
func insertRiskChunk(ctx context.Context, q querier, query string, args []any, at map[riskKey]int, ids []int64) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n, want := 0, len(at)
	var (
		id int64
		k  riskKey
	)
	for rows.Next() {
		if err := rows.Scan(&id, &k.host, &k.pid, &k.start, &k.rule); err != nil {
			return err
		}
		i, ok := at[k]
		if !ok {
			return fmt.Errorf("a row came back with an unknown key %+v", k)
		}
		ids[i] = id
		delete(at, k)
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%d rows came back for %d events", n, want)
	}
	return nil
}

// batchHostIDs maps host UUIDs of the account to row ids with one query; an
// unknown UUID is ErrNotFound. Nothing is cached across batches: a host
// deleted in between must fail the next batch, not feed it a stale id.
func batchHostIDs(ctx context.Context, q querier, accountID int64, uuids []string) (map[string]int64, error) {
	ids, err := nameIDs(ctx, q, "SELECT uuid, id FROM hosts WHERE account_id = ? AND uuid IN", uuids, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolving hosts: %w", err)
	}
	for _, u := range uuids {
		if _, ok := ids[u]; !ok {
			return nil, fmt.Errorf("%w: host %q", store.ErrNotFound, u)
		}
	}
	return ids, nil
}

// batchThreatIDs maps virus names to threat ids, adding the names the
// catalog lacks, with two statements whatever the number of names.
func (s *Store) batchThreatIDs(ctx context.Context, q querier, names []string) (map[string]int64, error) {
	ids, err := nameIDs(ctx, q, "SELECT name, id FROM threats WHERE name IN", names)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolving threats: %w", err)
	}
	var missing []string
	for _, n := range names {
		if _, ok := ids[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return ids, nil
	}
	now := micros(s.now())
	args := make([]any, 0, 2*len(missing))
	for _, n := range missing {
		args = append(args, n, now)
	}
	rows, err := q.QueryContext(ctx, "INSERT INTO threats (name, updated_at) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?), ", len(missing)), ", ")+" RETURNING name, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: adding threats: %w", err)
	}
	defer rows.Close()
	if err := scanNameIDs(rows, ids); err != nil {
		return nil, fmt.Errorf("sqlite: adding threats: %w", err)
	}
	return ids, nil
}

// nameIDs runs query (ending in "IN") for names, chunked under SQLite's
// parameter limit, and maps the first column to the second.
func nameIDs(ctx context.Context, q querier, query string, names []string, args ...any) (map[string]int64, error) {
	ids := make(map[string]int64, len(names))
	const chunk = 500
	for lo := 0; lo < len(names); lo += chunk {
		part := names[lo:min(lo+chunk, len(names))]
		a := append([]any(nil), args...)
		for _, n := range part {
			a = append(a, n)
		}
		rows, err := q.QueryContext(ctx, query+" ("+placeholders(len(part))+")", a...)
		if err != nil {
			return nil, err
		}
		err = scanNameIDs(rows, ids)
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func scanNameIDs(rows *sql.Rows, ids map[string]int64) error {
	var (
		name string
		id   int64
	)
	for rows.Next() {
		if err := rows.Scan(&name, &id); err != nil {
			return err
		}
		ids[name] = id
	}
	return rows.Err()
}

// riskSelect is the column list of an event joined with its host (h) and
// threat (t); scanRisk reads it.
var riskSelect = cols.Names(cols.RiskProcessEventRead, "e.") + ", " + cols.Names(cols.HostRead, "h.") + ", t.name, " + cols.Names(cols.Threat, "t.")

// scanRisk scans a row of riskSelect (and then into extra).
func scanRisk(row interface{ Scan(...any) error }, extra ...any) (store.RiskProcessEvent, error) {
	var e store.RiskProcessEvent
	dests := cols.Dests(cols.RiskProcessEventRead, codec, &e)
	dests = append(dests, cols.Dests(cols.HostRead, codec, &e.Host)...)
	dests = append(dests, &e.Threat.Name)
	dests = append(dests, cols.Dests(cols.Threat, codec, &e.Threat)...)
	dests = append(dests, extra...)
	if err := row.Scan(dests...); err != nil {
		return store.RiskProcessEvent{}, err
	}
	e.HostUUID = e.Host.UUID
	e.VirusName = e.Threat.Name
	return e, nil
}

func (s *Store) GetRiskProcessEvent(ctx context.Context, accountID, id int64) (store.RiskProcessEvent, error) {
	e, err := scanRisk(s.r.QueryRowContext(ctx, "SELECT "+riskSelect+` FROM risk_process_events e
		JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id
		WHERE e.account_id = ? AND e.id = ?`, accountID, id))
	if err != nil {
		return store.RiskProcessEvent{}, notFound(err, "risk process event %d", id)
	}
	return e, nil
}

// riskFilter is a query with its host and virus-name filters resolved to ids.
type riskFilter struct {
	q                  store.RiskProcessEventQuery
	hosts, threats     []int64
	byHost, byThreat   bool // the query filters on hosts / threats
	countsOK           bool // only hosts, threats and statuses: the counts table answers totals
	timeRange, byOther bool // a start-time range; a path or pid filter
}

// where renders f's conditions: the host set if hosts, the threat set if
// threats, the statuses always, and the time range, path and pid filters if
// rest. Without rest the conditions also apply to risk_process_event_counts.
func (f *riskFilter) where(accountID int64, hosts, threats, rest bool) *where {
	w := &where{}
	w.add("account_id = ?", accountID)
	if hosts && f.byHost {
		in(w, "host_id", f.hosts)
	}
	if threats && f.byThreat {
		in(w, "threat_id", f.threats)
	}
	if len(f.q.HandleStatuses) > 0 {
		in(w, "handle_status", f.q.HandleStatuses)
	}
	if !rest {
		return w
	}
	if len(f.q.ProcessIDs) > 0 {
		in(w, "pid", f.q.ProcessIDs)
	}
	if f.q.FilePaths.Set() {
		text(w, f.q.FilePaths, "exe_path")
	}
	if !f.q.StartFrom.IsZero() {
		w.add("process_start_time >= ?", micros(f.q.StartFrom))
	}
	if !f.q.StartTo.IsZero() {
		w.add("process_start_time <= ?", micros(f.q.StartTo))
	}
	return w
}

// resolveRisk resolves host and virus-name filters; ok is false when one
// matches nothing (so no event can match).
func resolveRisk(ctx context.Context, tx *sql.Tx, accountID int64, q store.RiskProcessEventQuery) (f riskFilter, ok bool, err error) {
	f = riskFilter{q: q}
	if q.HostIDs.Set() || q.IPOrName.Set() {
		hw := hostWhere(accountID, store.HostQuery{UUIDs: q.HostIDs, IPOrName: q.IPOrName})
		f.byHost = true
		if f.hosts, err = queryInt64s(ctx, tx, "SELECT id FROM hosts"+hw.String(), hw.args...); err != nil || len(f.hosts) == 0 {
			return f, false, err
		}
		// A filter every host matches ("10.") filters nothing: drop it
		// rather than drive the query by a set holding every event.
		var all int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM hosts WHERE account_id = ?", accountID).Scan(&all); err != nil {
			return f, false, err
		}
		if len(f.hosts) == all {
			f.byHost, f.hosts = false, nil
		}
	}
	if q.VirusNames.Set() {
		tw := &where{}
		text(tw, q.VirusNames, "name")
		f.byThreat = true
		if f.threats, err = queryInt64s(ctx, tx, "SELECT id FROM threats"+tw.String(), tw.args...); err != nil || len(f.threats) == 0 {
			return f, false, err
		}
	}
	f.timeRange = !q.StartFrom.IsZero() || !q.StartTo.IsZero()
	f.byOther = len(q.ProcessIDs) > 0 || q.FilePaths.Set()
	f.countsOK = !f.timeRange && !f.byOther
	return f, true, nil
}

// riskPlan names the indexes that drive the page's id query and the COUNT.
type riskPlan struct{ page, count string }

// walkMin and walkShare decide when a host or threat set is broad enough
// that reading the order index and skipping non-matching rows finds a page
// sooner than gathering and sorting every match: more than walkMin events and
// at least walkShare of the account's (so a page needs to read about
// 1/walkShare rows per row it shows). Only when every filter is in the counts
// table's domain, which gives both numbers.
const (
	walkMin   = 20_000
	walkShare = 0.05
)

// planRisk chooses the indexes for f. SQLite's planner, left alone, prefers
// to read an order index and skip rows whenever it avoids a sort, which on a
// selective filter reads most of the table; the counts table gives the
// sizes it lacks. See migrations/0001_init.sql and 0004_rpe_ingest_indexes.sql
// for the indexes.
func (s *Store) planRisk(ctx context.Context, tx *sql.Tx, accountID int64, f *riskFilter) (riskPlan, error) {
	orderIndex := "rpe_detect"
	if f.q.OrderBy == store.OrderByStartTime {
		orderIndex = "rpe_start"
	}
	sum := func(w *where) (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM risk_process_event_counts"+w.String(), w.args...).Scan(&n)
		return n, err
	}
	var driver string
	var est int64
	switch {
	case f.byHost && f.byThreat:
		estH, err := sum(f.where(accountID, true, false, false))
		if err != nil {
			return riskPlan{}, err
		}
		estT, err := sum(f.where(accountID, false, true, false))
		if err != nil {
			return riskPlan{}, err
		}
		driver, est = "rpe_host", estH
		if estT < estH {
			driver, est = "rpe_threat", estT
		}
	case f.byHost:
		driver = "rpe_host"
	case f.byThreat:
		driver = "rpe_threat"
	case len(f.q.HandleStatuses) > 0 || f.byOther:
		// Statuses alone: common ones (the walk below) are read in order
		// from rpe_start/rpe_detect, rare ones gathered from rpe_status.
		// One status by detect time no longer has its own index: 0004
		// dropped rpe_status_detect, one index less per inserted event.
		driver = "rpe_status"
	case f.timeRange:
		// Counting a time range needs only rpe_start; a page in detect order
		// needs detect_time too (rpe_status, skip-scanning the statuses).
		if f.q.OrderBy == store.OrderByStartTime {
			return riskPlan{page: "rpe_start", count: "rpe_start"}, nil
		}
		return riskPlan{page: "rpe_status", count: "rpe_start"}, nil
	default:
		return riskPlan{page: orderIndex, count: "rpe_status"}, nil
	}
	plan := riskPlan{page: driver, count: driver}
	if f.countsOK && f.q.Limit > 0 {
		// A broad host or threat set: walking in order may win.
		if est == 0 {
			var err error
			if est, err = sum(f.where(accountID, true, true, false)); err != nil {
				return riskPlan{}, err
			}
		}
		if est > walkMin {
			total, err := sum(&where{conds: []string{"account_id = ?"}, args: []any{accountID}})
			if err != nil {
				return riskPlan{}, err
			}
			if float64(est) >= walkShare*float64(total) {
				plan.page = orderIndex
			}
		}
	}
	return plan, nil
}

// QueryRiskProcessEvents runs the plan described in migrations/0001_init.sql:
// resolve host and virus-name filters against their small tables, read the
// page's ids from a covering index and join only those rows, and take the
// total from the page, the counts table or a COUNT — all in one snapshot.
func (s *Store) QueryRiskProcessEvents(ctx context.Context, accountID int64, q store.RiskProcessEventQuery) (store.Page[store.RiskProcessEvent], error) {
	var page store.Page[store.RiskProcessEvent]
	if err := q.Validate(); err != nil {
		return page, err
	}
	if q.EmptyRange() {
		return page, nil
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		f, ok, err := resolveRisk(ctx, tx, accountID, q)
		if err != nil || !ok {
			return err
		}
		plan, err := s.planRisk(ctx, tx, accountID, &f)
		if err != nil {
			return err
		}
		w := f.where(accountID, true, true, true)

		order := "detect_time"
		if q.OrderBy == store.OrderByStartTime {
			order = "process_start_time"
		}
		dir := " ASC"
		if q.Desc {
			dir = " DESC"
		}
		orderBy := " ORDER BY %[1]s" + order + dir + ", %[1]sid" + dir
		// The page's ids. Gathering a host or threat set that the counts
		// table cannot total, the gathered set is materialized and counted
		// where it lies instead of scanning the index a second time.
		ids := "SELECT id, -1 AS total FROM risk_process_events INDEXED BY " + plan.page + w.String() +
			fmt.Sprintf(orderBy, "") + limitOffset(q.Limit, q.Offset)
		with := ""
		if !f.countsOK && plan.page == plan.count && (plan.page == "rpe_host" || plan.page == "rpe_threat") {
			with = "WITH m AS MATERIALIZED (SELECT id, " + order + " FROM risk_process_events INDEXED BY " + plan.page + w.String() + ") "
			ids = "SELECT id, (SELECT COUNT(*) FROM m) AS total FROM m" + fmt.Sprintf(orderBy, "") + limitOffset(q.Limit, q.Offset)
		}
		rows, err := tx.QueryContext(ctx, with+"SELECT "+riskSelect+", k.total FROM ("+ids+`) k
			JOIN risk_process_events e ON e.id = k.id
			JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id`+fmt.Sprintf(orderBy, "e."), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		total := int64(-1)
		for rows.Next() {
			e, err := scanRisk(rows, &total)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var known bool
		if page.Total, known = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); known {
			return nil
		}
		if total >= 0 {
			page.Total = total
			return nil
		}
		if f.countsOK {
			cw := f.where(accountID, true, true, false)
			return tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM risk_process_event_counts"+cw.String(), cw.args...).Scan(&page.Total)
		}
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM risk_process_events INDEXED BY "+plan.count+w.String(), w.args...).Scan(&page.Total)
	})
	if err != nil {
		return store.Page[store.RiskProcessEvent]{}, fmt.Errorf("sqlite: querying risk process events: %w", err)
	}
	return page, nil
}
