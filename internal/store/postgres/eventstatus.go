package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
)

// subquery adds "prefix (SELECT … WHERE conds)" to w, with conds built by
// build on a where that continues w's parameter numbering.
func subquery(w *where, prefix, from string, build func(sub *where)) {
	sub := &where{args: w.args}
	build(sub)
	w.args = sub.args
	w.conds = append(w.conds, prefix+" (SELECT "+from+" WHERE "+strings.Join(sub.conds, " AND ")+")")
}

// selectionWhere renders sel over risk_process_events (no alias). Host and
// virus-name filters become subqueries on the account's hosts and on the
// threat catalog, small tables.
func selectionWhere(accountID int64, sel store.RiskEventSelection) *where {
	w := &where{}
	w.add("account_id = %s", accountID)
	if len(sel.IDs) > 0 {
		w.add("id = ANY(%s)", sel.IDs)
	} else if len(sel.ExcludeIDs) > 0 {
		w.add("NOT (id = ANY(%s))", sel.ExcludeIDs)
	}
	q := sel.Filter
	if q.HostIDs.Set() || q.IPOrName.Set() {
		subquery(w, "host_id IN", "id FROM hosts", func(sub *where) {
			sub.add("account_id = %s", accountID)
			if q.HostIDs.Set() {
				text(sub, q.HostIDs, "uuid")
			}
			if q.IPOrName.Set() {
				text(sub, q.IPOrName, "host_name", "private_ip", "public_ip")
			}
		})
	}
	if q.VirusNames.Set() {
		subquery(w, "threat_id IN", "id FROM threats", func(sub *where) { text(sub, q.VirusNames, "name") })
	}
	if len(q.HandleStatuses) > 0 {
		st := make([]int32, len(q.HandleStatuses))
		for i, s := range q.HandleStatuses {
			st[i] = int32(s)
		}
		w.add("handle_status = ANY(%s)", st)
	}
	if len(q.ProcessIDs) > 0 {
		w.add("pid = ANY(%s)", q.ProcessIDs)
	}
	if q.FilePaths.Set() {
		text(w, q.FilePaths, "exe_path")
	}
	if !q.StartFrom.IsZero() {
		w.add("process_start_time >= %s", store.UTC(q.StartFrom))
	}
	if !q.StartTo.IsZero() {
		w.add("process_start_time <= %s", store.UTC(q.StartTo))
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
	st := w.arg(int32(status))
	ts := w.arg(store.UTC(at))
	w.conds = append(w.conds, "handle_status <> "+st)
	var n int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		// Lock in id order: concurrent bulk updates then never deadlock on
		// the rows (the counts trigger orders its own writes).
		tag, err := tx.Exec(ctx, "UPDATE risk_process_events SET handle_status = "+st+", status_time = "+ts+
			" WHERE id IN (SELECT id FROM risk_process_events"+w.String()+" ORDER BY id FOR UPDATE)", w.args...)
		if err != nil {
			return fmt.Errorf("postgres: setting risk event status: %w", err)
		}
		n = tag.RowsAffected()
		return nil
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM risk_process_events WHERE id IN (SELECT id FROM risk_process_events"+w.String()+
			" ORDER BY id FOR UPDATE)", w.args...)
		if err != nil {
			return fmt.Errorf("postgres: deleting risk events: %w", err)
		}
		n = tag.RowsAffected()
		return nil
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
	rows, _ := s.pool.Query(ctx, `SELECT e.id, h.uuid, h.quuid, e.pid, e.process_start_time, e.exe_path, e.exe_md5, t.name, e.handle_status
		FROM risk_process_events e JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id
		WHERE e.id IN (SELECT id FROM risk_process_events`+w.String()+`) ORDER BY e.id`+limitOffset(limit, 0), w.args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.RiskEventRef, error) {
		var r store.RiskEventRef
		var st int32
		err := row.Scan(&r.ID, &r.HostUUID, &r.QUUID, &r.PID, codec.TimeDest(&r.ProcessStartTime), &r.ExePath, &r.ExeMD5, &r.VirusName, &st)
		r.HandleStatus = store.HandleStatus(st)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: selecting risk events: %w", err)
	}
	return out, nil
}
