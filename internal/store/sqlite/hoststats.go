package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vigil-sec/vigil/internal/store"
)

// pendingCountsOf finds a host's pending (handle_status 0, store.HandlePending) events in
// risk_process_event_counts (kept exact by triggers): a few rows per host
// (one per threat), never the events themselves.
const pendingCountsOf = "SELECT 1 FROM risk_process_event_counts c WHERE c.account_id = hosts.account_id" +
	" AND c.host_id = hosts.id AND c.handle_status = 0 AND c.n > 0"

// hostStatsWhere adds the HostQuery filters beyond the ones hostWhere had
// from the start (names, IPs, OS, online at a cutoff, pending risk events,
// creation time).
func hostStatsWhere(w *where, q store.HostQuery) {
	if q.Names.Set() {
		text(w, q.Names, "host_name")
	}
	if q.IPs.Set() {
		text(w, q.IPs, "private_ip", "public_ip")
	}
	if q.OS.Set() {
		text(w, q.OS, "os")
	}
	if !q.SeenSince.IsZero() {
		w.add("(online = 1 AND last_seen > ?)", micros(q.SeenSince))
	}
	if !q.SeenBefore.IsZero() {
		w.add("(online = 0 OR last_seen IS NULL OR last_seen <= ?)", micros(q.SeenBefore))
	}
	if q.HasPendingRiskEvents != nil {
		if *q.HasPendingRiskEvents {
			w.add("EXISTS (" + pendingCountsOf + ")")
		} else {
			w.add("NOT EXISTS (" + pendingCountsOf + ")")
		}
	}
	if !q.CreatedSince.IsZero() {
		w.add("created_at >= ?", micros(q.CreatedSince))
	}
}

func (s *Store) PendingRiskEventCounts(ctx context.Context, accountID int64, hostUUIDs []string) (map[string]int64, error) {
	if len(hostUUIDs) > store.MaxFilterValues {
		return nil, fmt.Errorf("%w: %d hosts, at most %d allowed", store.ErrInvalid, len(hostUUIDs), store.MaxFilterValues)
	}
	out := make(map[string]int64, len(hostUUIDs))
	if len(hostUUIDs) == 0 {
		return out, nil
	}
	w := &where{}
	w.add("h.account_id = ?", accountID)
	in(w, "h.uuid", hostUUIDs)
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT h.uuid, SUM(c.n) FROM hosts h"+
			" JOIN risk_process_event_counts c ON c.account_id = h.account_id AND c.host_id = h.id AND c.handle_status = 0"+
			w.String()+" GROUP BY h.uuid HAVING SUM(c.n) > 0", w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var uuid string
			var n int64
			if err := rows.Scan(&uuid, &n); err != nil {
				return err
			}
			out[uuid] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: counting pending risk events: %w", err)
	}
	return out, nil
}
