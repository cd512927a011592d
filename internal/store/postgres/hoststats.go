package postgres

import (
	"context"
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
	// Times truncated as stored (UTC, microseconds): PostgreSQL would round
	// a nanosecond cutoff, and the comparison must be the one in Go.
	if !q.SeenSince.IsZero() {
		w.add("(online AND last_seen > %s)", store.UTC(q.SeenSince))
	}
	if !q.SeenBefore.IsZero() {
		w.add("(NOT online OR last_seen IS NULL OR last_seen <= %s)", store.UTC(q.SeenBefore))
	}
	if q.HasPendingRiskEvents != nil {
		if *q.HasPendingRiskEvents {
			w.add("EXISTS (" + pendingCountsOf + ")")
		} else {
			w.add("NOT EXISTS (" + pendingCountsOf + ")")
		}
	}
	if !q.CreatedSince.IsZero() {
		w.add("created_at >= %s", store.UTC(q.CreatedSince))
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
	rows, err := s.pool.Query(ctx, "SELECT h.uuid, SUM(c.n)::bigint FROM hosts h"+
		" JOIN risk_process_event_counts c ON c.account_id = h.account_id AND c.host_id = h.id AND c.handle_status = 0"+
		" WHERE h.account_id = $1 AND h.uuid = ANY($2) GROUP BY h.uuid HAVING SUM(c.n) > 0", accountID, hostUUIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: counting pending risk events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uuid string
		var n int64
		if err := rows.Scan(&uuid, &n); err != nil {
			return nil, fmt.Errorf("postgres: counting pending risk events: %w", err)
		}
		out[uuid] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: counting pending risk events: %w", err)
	}
	return out, nil
}
