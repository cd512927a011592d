package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// selectionWhere renders sel over risk_process_events (no alias). Host and
// virus-name filters become subqueries on the account's hosts and on the
// threat catalog, small tables; ids travel as one JSON argument.
func selectionWhere(accountID int64, sel store.RiskEventSelection) *where {
	w := &where{}
	w.add("account_id = ?", accountID)
	if len(sel.IDs) > 0 {
		w.add("id IN (SELECT value FROM json_each(?))", jsonIDs(sel.IDs))
	} else if len(sel.ExcludeIDs) > 0 {
		w.add("id NOT IN (SELECT value FROM json_each(?))", jsonIDs(sel.ExcludeIDs))
	}
	q := sel.Filter
	if q.HostIDs.Set() || q.IPOrName.Set() {
		hw := hostWhere(accountID, store.HostQuery{UUIDs: q.HostIDs, IPOrName: q.IPOrName})
		w.add("host_id IN (SELECT id FROM hosts"+hw.String()+")", hw.args...)
	}
	if q.VirusNames.Set() {
		tw := &where{}
		text(tw, q.VirusNames, "name")
		w.add("threat_id IN (SELECT id FROM threats"+tw.String()+")", tw.args...)
	}
	if len(q.HandleStatuses) > 0 {
		in(w, "handle_status", q.HandleStatuses)
	}
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
	return w
}

func (s *Store) SetRiskEventsStatus(ctx context.Context, accountID int64, sel store.RiskEventSelection, status store.HandleStatus, at time.Time) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	if !status.Valid() {
		return 0, fmt.Errorf("%w: unknown handle status %d", store.ErrInvalid, int(status))
	}
	if sel.Filter.EmptyRange() {
		return 0, nil
	}
	w := selectionWhere(accountID, sel)
	w.add("handle_status <> ?", int(status))
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE risk_process_events SET handle_status = ?, status_time = ?"+w.String(),
			append([]any{int(status), micros(at)}, w.args...)...)
		if err != nil {
			return fmt.Errorf("sqlite: setting risk event status: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) DeleteRiskEvents(ctx context.Context, accountID int64, sel store.RiskEventSelection) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	if sel.Filter.EmptyRange() {
		return 0, nil
	}
	w := selectionWhere(accountID, sel)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM risk_process_events"+w.String(), w.args...)
		if err != nil {
			return fmt.Errorf("sqlite: deleting risk events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) SelectRiskEvents(ctx context.Context, accountID int64, sel store.RiskEventSelection, limit int) ([]store.RiskEventRef, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", store.ErrInvalid, limit)
	}
	if sel.Filter.EmptyRange() {
		return nil, nil
	}
	w := selectionWhere(accountID, sel)
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, h.uuid, h.quuid, e.pid, e.process_start_time, e.exe_path, e.exe_md5, t.name, e.handle_status
		FROM risk_process_events e JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id
		WHERE e.id IN (SELECT id FROM risk_process_events`+w.String()+`) ORDER BY e.id`+limitOffset(limit, 0), w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: selecting risk events: %w", err)
	}
	defer rows.Close()
	var out []store.RiskEventRef
	for rows.Next() {
		var r store.RiskEventRef
		if err := rows.Scan(&r.ID, &r.HostUUID, &r.QUUID, &r.PID, &microTime{&r.ProcessStartTime}, &r.ExePath, &r.ExeMD5,
			&r.VirusName, &r.HandleStatus); err != nil {
			return nil, fmt.Errorf("sqlite: selecting risk events: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
