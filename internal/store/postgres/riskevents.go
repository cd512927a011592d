package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

const riskConflict = ` ON CONFLICT (account_id, host_id, pid, process_start_time, rule_name) DO UPDATE SET
	detect_time = GREATEST(risk_process_events.detect_time, excluded.detect_time),
	first_detect_time = LEAST(risk_process_events.first_detect_time, excluded.first_detect_time)`

// riskReturning gives each written row's id with its key, which maps it back
// to the batch (RETURNING cannot name the source row).
const riskReturning = " RETURNING id, host_id, pid, process_start_time, rule_name"

// riskKey is the dedup key as the database sees it.
type riskKey struct {
	host, pid, start int64
	rule             string
}

func (s *Store) InsertRiskProcessEvents(ctx context.Context, accountID int64, events []store.RiskProcessEvent) ([]int64, error) {
	distinct, index, err := prep.RiskProcessEvents(events)
	if err != nil {
		return nil, err
	}
	if len(distinct) == 0 {
		return []int64{}, nil
	}
	ids := make([]int64, len(distinct))
	err = s.write(ctx, func(tx pgx.Tx) error {
		hosts, err := hostIDs(ctx, tx, accountID, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.HostUUID }))
		if err != nil {
			return err
		}
		threats, err := s.threatIDs(ctx, tx, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.VirusName }))
		if err != nil {
			return err
		}
		keys := make([]riskKey, len(distinct))
		for i := range distinct {
			e := &distinct[i]
			keys[i] = riskKey{hosts[e.HostUUID], e.PID, e.ProcessStartTime.UnixMicro(), e.RuleName}
		}
		// Writing rows in key order keeps concurrent batches from deadlocking.
		order := make([]int, len(distinct))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			ka, kb := keys[a], keys[b]
			return cmp.Or(cmp.Compare(ka.host, kb.host), cmp.Compare(ka.pid, kb.pid), cmp.Compare(ka.start, kb.start), cmp.Compare(ka.rule, kb.rule))
		})
		return insertRiskUnnest(ctx, tx, accountID, distinct, hosts, threats, keys, order, ids)
	})
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(events))
	for i, j := range index {
		out[i] = ids[j]
	}
	return out, nil
}

// insertPipelined runs query once per row (in the given order) in one
// round trip, scanning each returned id into ids.
func insertPipelined(ctx context.Context, tx pgx.Tx, query string, rows [][]any, order []int, ids []int64) error {
	b := &pgx.Batch{}
	for _, i := range order {
		b.Queue(query, rows[i]...).QueryRow(func(r pgx.Row) error { return r.Scan(&ids[i]) })
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: inserting: %w", err)
	}
	return nil
}

// mapRiskIDs reads riskReturning rows into ids by key, checking that every
// key came back exactly once.
func mapRiskIDs(res pgx.Rows, keys []riskKey, ids []int64) error {
	at := make(map[riskKey]int, len(keys))
	for i, k := range keys {
		at[k] = i
	}
	var (
		id    int64
		k     riskKey
		start time.Time
		n     int
	)
	_, err := pgx.ForEachRow(res, []any{&id, &k.host, &k.pid, &start, &k.rule}, func() error {
		k.start = start.UnixMicro()
		i, ok := at[k]
		if !ok {
			return fmt.Errorf("a row came back with an unknown key %+v", k)
		}
		ids[i] = id
		delete(at, k)
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != len(keys) {
		return fmt.Errorf("%d rows came back for %d events", n, len(keys))
	}
	return nil
}

var riskSelect = cols.Names(cols.RiskProcessEventRead, "e.") + ", " + cols.Names(cols.HostRead, "h.") + ", t.name, " + cols.Names(cols.Threat, "t.")

// scanRisk scans a row of riskSelect (and then into extra).
func scanRisk(row pgx.Row, extra ...any) (store.RiskProcessEvent, error) {
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
	e, err := scanRisk(s.pool.QueryRow(ctx, "SELECT "+riskSelect+` FROM risk_process_events e
		JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id
		WHERE e.account_id = $1 AND e.id = $2`, accountID, id))
	if err != nil {
		return store.RiskProcessEvent{}, notFound(err, "risk process event %d", id)
	}
	return e, nil
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
	err := s.read(ctx, func(tx pgx.Tx) error {
		// w's conditions use only columns that risk_process_event_counts
		// shares until a time, path or pid condition makes countsOK false.
		w := &where{}
		w.add("account_id = %s", accountID)
		var byHost, byThreat bool
		if q.HostIDs.Set() || q.IPOrName.Set() {
			hw := hostWhere(accountID, store.HostQuery{UUIDs: q.HostIDs, IPOrName: q.IPOrName})
			rows, _ := tx.Query(ctx, "SELECT id FROM hosts"+hw.String(), hw.args...)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(ids) == 0 {
				return err
			}
			// A filter every host matches ("10.") filters nothing: drop it
			// rather than drive the query by a set holding every event.
			var all int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM hosts WHERE account_id = $1", accountID).Scan(&all); err != nil {
				return err
			}
			if len(ids) < all {
				w.add("host_id = ANY(%s)", ids)
				byHost = true
			}
		}
		if q.VirusNames.Set() {
			tw := &where{}
			text(tw, q.VirusNames, "name")
			rows, _ := tx.Query(ctx, "SELECT id FROM threats"+tw.String(), tw.args...)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(ids) == 0 {
				return err
			}
			w.add("threat_id = ANY(%s)", ids)
			byThreat = true
		}
		if len(q.HandleStatuses) > 0 {
			st := make([]int32, len(q.HandleStatuses))
			for i, v := range q.HandleStatuses {
				st[i] = int32(v)
			}
			w.add("handle_status = ANY(%s)", st)
		}
		countsOK := len(q.ProcessIDs) == 0 && !q.FilePaths.Set() && q.StartFrom.IsZero() && q.StartTo.IsZero()
		if len(q.ProcessIDs) > 0 {
			w.add("pid = ANY(%s)", q.ProcessIDs)
		}
		if q.FilePaths.Set() {
			textFolded(w, q.FilePaths, []string{"exe_path"}, []string{"exe_path_fold"})
		}
		if !q.StartFrom.IsZero() {
			w.add("process_start_time >= %s", store.UTC(q.StartFrom))
		}
		if !q.StartTo.IsZero() {
			w.add("process_start_time <= %s", store.UTC(q.StartTo))
		}

		order := "detect_time"
		if q.OrderBy == store.OrderByStartTime {
			order = "process_start_time"
		}
		dir := " ASC"
		if q.Desc {
			dir = " DESC"
		}
		orderBy := " ORDER BY %[1]s" + order + dir + ", %[1]sid" + dir
		// With a host or threat set, gather the matching ids (the planner
		// picks the index for the filters alone) and sort them; reading an
		// order index and fetching rows to test them — which the planner
		// likes when a LIMIT is small — reads far more than it expects,
		// from disk when the cache is cold. Only a set holding a good share
		// of all events is better read in order.
		gather := byHost || byThreat
		if gather && countsOK && q.Limit > 0 {
			est, err := sumCounts(ctx, tx, w)
			if err != nil {
				return err
			}
			if est > walkMin {
				all, err := sumCounts(ctx, tx, &where{conds: []string{"account_id = $1"}, args: []any{accountID}})
				if err != nil {
					return err
				}
				gather = float64(est) < walkShare*float64(all)
			}
		}
		// The page's ids, and with them (gathering, when the counts table
		// cannot answer) the total: the gathered set is counted where it
		// lies instead of scanning the index a second time.
		ids := "SELECT id, -1 AS total FROM risk_process_events" + w.String() + fmt.Sprintf(orderBy, "") + limitOffset(q.Limit, q.Offset)
		with := ""
		if gather {
			with = "WITH m AS MATERIALIZED (SELECT id, " + order + " FROM risk_process_events" + w.String() + ") "
			total := "-1"
			if !countsOK {
				total = "(SELECT COUNT(*) FROM m)"
			}
			ids = "SELECT id, " + total + " AS total FROM m" + fmt.Sprintf(orderBy, "") + limitOffset(q.Limit, q.Offset)
		}
		rows, _ := tx.Query(ctx, with+"SELECT "+riskSelect+", k.total FROM ("+ids+`) k
			JOIN risk_process_events e ON e.id = k.id
			JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id`+fmt.Sprintf(orderBy, "e."), w.args...)
		total := int64(-1)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RiskProcessEvent, error) { return scanRisk(r, &total) })
		if err != nil {
			return err
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		if total >= 0 {
			page.Total = total
			return nil
		}
		if countsOK {
			page.Total, err = sumCounts(ctx, tx, w)
			return err
		}
		return tx.QueryRow(ctx, "SELECT COUNT(*) FROM risk_process_events"+w.String(), w.args...).Scan(&page.Total)
	})
	if err != nil {
		return store.Page[store.RiskProcessEvent]{}, fmt.Errorf("postgres: querying risk process events: %w", err)
	}
	return page, nil
}

// walkMin and walkShare decide when a host or threat set is broad enough
// that reading the order index beats gathering and sorting: more than walkMin
// events and at least walkShare of the account's (so a page needs to read
// about 1/walkShare rows per row it shows).
const (
	walkMin   = 20_000
	walkShare = 0.05
)

// sumCounts sums risk_process_event_counts under w (whose conditions must
// only name the columns it shares with risk_process_events).
func sumCounts(ctx context.Context, tx pgx.Tx, w *where) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, "SELECT COALESCE(SUM(n), 0) FROM risk_process_event_counts"+w.String(), w.args...).Scan(&n)
	return n, err
}

// unnestRiskSQL inserts a batch passed as one array per column: one
// statement and one round trip for any batch size, no parameter limit, no
// staging table, and the same plan (prepared once per connection) every time.
// The columns are spelled out (not cols.RiskProcessEvent) because the arrays
// are built field by field in this order.
var unnestRiskSQL = `INSERT INTO risk_process_events (account_id, host_id, threat_id, pid, ppid,
		process_start_time, exe_path, cmdline, exe_md5, exe_sha256, user_name, group_name, container_id,
		rule_name, check_platform, handle_status, first_detection_method, first_detect_time, detect_time, status_time)
	SELECT $1, u.* FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
		$15::jsonb[], $16::int[], $17::int[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[]) AS u` +
	riskConflict + riskReturning

// riskArrays are the columns of a batch after account_id, in unnestRiskSQL's
// order.
type riskArrays struct {
	host, threat, pid, ppid                        []int64
	start                                          []time.Time
	path, cmd, md5, sha256, user, group, ctr, rule []string
	platform                                       []string
	status, method                                 []int32
	first, detect                                  []time.Time
	statusTime                                     []*time.Time
}

// insertRiskUnnest writes the events of distinct in the given order (key
// order, so concurrent batches lock rows in the same order and cannot
// deadlock) and stores their ids in ids.
func insertRiskUnnest(ctx context.Context, tx pgx.Tx, accountID int64, distinct []store.RiskProcessEvent,
	hosts, threats map[string]int64, keys []riskKey, order []int, ids []int64) error {
	n := len(order)
	a := riskArrays{
		host: make([]int64, 0, n), threat: make([]int64, 0, n), pid: make([]int64, 0, n), ppid: make([]int64, 0, n),
		start: make([]time.Time, 0, n), path: make([]string, 0, n), cmd: make([]string, 0, n), md5: make([]string, 0, n),
		sha256: make([]string, 0, n), user: make([]string, 0, n), group: make([]string, 0, n), ctr: make([]string, 0, n),
		rule: make([]string, 0, n), platform: make([]string, 0, n), status: make([]int32, 0, n), method: make([]int32, 0, n),
		first: make([]time.Time, 0, n), detect: make([]time.Time, 0, n), statusTime: make([]*time.Time, 0, n),
	}
	for _, i := range order {
		e := &distinct[i]
		a.host = append(a.host, hosts[e.HostUUID])
		a.threat = append(a.threat, threats[e.VirusName])
		a.pid = append(a.pid, e.PID)
		a.ppid = append(a.ppid, e.PPID)
		a.start = append(a.start, e.ProcessStartTime)
		a.path = append(a.path, e.ExePath)
		a.cmd = append(a.cmd, e.CmdLine)
		a.md5 = append(a.md5, e.ExeMD5)
		a.sha256 = append(a.sha256, e.ExeSHA256)
		a.user = append(a.user, e.User)
		a.group = append(a.group, e.Group)
		a.ctr = append(a.ctr, e.ContainerID)
		a.rule = append(a.rule, e.RuleName)
		a.platform = append(a.platform, prep.JSONList(e.CheckPlatform))
		a.status = append(a.status, int32(e.HandleStatus))
		a.method = append(a.method, int32(e.FirstDetectionMethod))
		a.first = append(a.first, e.FirstDetectTime)
		a.detect = append(a.detect, e.DetectTime)
		var st *time.Time
		if !e.StatusTime.IsZero() {
			st = &e.StatusTime
		}
		a.statusTime = append(a.statusTime, st)
	}
	res, _ := tx.Query(ctx, unnestRiskSQL, accountID, a.host, a.threat, a.pid, a.ppid, a.start,
		a.path, a.cmd, a.md5, a.sha256, a.user, a.group, a.ctr, a.rule,
		a.platform, a.status, a.method, a.first, a.detect, a.statusTime)
	if err := mapRiskIDs(res, keys, ids); err != nil {
		return fmt.Errorf("postgres: inserting risk process events: %w", err)
	}
	return nil
}
