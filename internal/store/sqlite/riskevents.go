package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

var insertRiskSQL = insertSQL("risk_process_events",
	append([]string{"account_id", "host_id", "threat_id"}, fieldNames(cols.RiskProcessEvent)...)) +
	` ON CONFLICT (account_id, host_id, pid, process_start_time, rule_name) DO UPDATE SET
		detect_time = max(detect_time, excluded.detect_time),
		first_detect_time = min(first_detect_time, excluded.first_detect_time)
	RETURNING id`

func (s *Store) InsertRiskProcessEvents(ctx context.Context, accountID int64, events []store.RiskProcessEvent) ([]int64, error) {
	distinct, index, err := prep.RiskProcessEvents(events)
	if err != nil {
		return nil, err
	}
	if len(distinct) == 0 {
		return []int64{}, nil
	}
	ids := make([]int64, len(distinct))
	err = s.write(ctx, func(tx *sql.Tx) error {
		hosts, err := hostIDs(ctx, tx, accountID, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.HostUUID }))
		if err != nil {
			return err
		}
		threats, err := s.threatIDs(ctx, tx, prep.Names(distinct, func(e store.RiskProcessEvent) string { return e.VirusName }))
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, insertRiskSQL)
		if err != nil {
			return fmt.Errorf("sqlite: inserting risk process events: %w", err)
		}
		defer stmt.Close()
		for i := range distinct {
			e := &distinct[i]
			args := append([]any{accountID, hosts[e.HostUUID], threats[e.VirusName]}, cols.Values(cols.RiskProcessEvent, codec, e)...)
			if err := stmt.QueryRowContext(ctx, args...).Scan(&ids[i]); err != nil {
				return fmt.Errorf("sqlite: inserting risk process event %d: %w", i, err)
			}
		}
		return nil
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

// riskSelect is the column list of an event joined with its host (h) and
// threat (t); scanRisk reads it.
var riskSelect = cols.Names(cols.RiskProcessEventRead, "e.") + ", " + cols.Names(cols.HostRead, "h.") + ", t.name, " + cols.Names(cols.Threat, "t.")

func scanRisk(row interface{ Scan(...any) error }) (store.RiskProcessEvent, error) {
	var e store.RiskProcessEvent
	dests := cols.Dests(cols.RiskProcessEventRead, codec, &e)
	dests = append(dests, cols.Dests(cols.HostRead, codec, &e.Host)...)
	dests = append(dests, &e.Threat.Name)
	dests = append(dests, cols.Dests(cols.Threat, codec, &e.Threat)...)
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
		// w's conditions use only columns that risk_process_event_counts
		// shares until a time, path or pid condition makes countsOK false.
		w := &where{}
		w.add("account_id = ?", accountID)
		if q.HostIDs.Set() || q.IPOrName.Set() {
			hw := hostWhere(accountID, store.HostQuery{UUIDs: q.HostIDs, IPOrName: q.IPOrName})
			ids, err := queryInt64s(ctx, tx, "SELECT id FROM hosts"+hw.String(), hw.args...)
			if err != nil || len(ids) == 0 {
				return err
			}
			in(w, "host_id", ids)
		}
		if q.VirusNames.Set() {
			tw := &where{}
			text(tw, q.VirusNames, "name")
			ids, err := queryInt64s(ctx, tx, "SELECT id FROM threats"+tw.String(), tw.args...)
			if err != nil || len(ids) == 0 {
				return err
			}
			in(w, "threat_id", ids)
		}
		if len(q.HandleStatuses) > 0 {
			in(w, "handle_status", q.HandleStatuses)
		}
		countsOK := len(q.ProcessIDs) == 0 && !q.FilePaths.Set() && q.StartFrom.IsZero() && q.StartTo.IsZero()
		if len(q.ProcessIDs) > 0 {
			in(w, "pid", q.ProcessIDs)
		}
		if q.FilePaths.Set() {
			text(w, q.FilePaths, "exe_path")
		}
		if !q.StartFrom.IsZero() {
			w.add("process_start_time >= ?", micros(q.StartFrom))
		}
		if !q.StartTo.IsZero() {
			w.add("process_start_time <= ?", micros(q.StartTo))
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
		rows, err := tx.QueryContext(ctx, "SELECT "+riskSelect+" FROM (SELECT id FROM risk_process_events"+
			w.String()+fmt.Sprintf(orderBy, "")+limitOffset(q.Limit, q.Offset)+`) k
			JOIN risk_process_events e ON e.id = k.id
			JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id`+fmt.Sprintf(orderBy, "e."), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanRisk(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		if countsOK {
			return tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM risk_process_event_counts"+w.String(), w.args...).Scan(&page.Total)
		}
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM risk_process_events"+w.String(), w.args...).Scan(&page.Total)
	})
	if err != nil {
		return store.Page[store.RiskProcessEvent]{}, fmt.Errorf("sqlite: querying risk process events: %w", err)
	}
	return page, nil
}
