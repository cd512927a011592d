package store

import "context"

// HostStats are per-host aggregates of the hosts' events (cwp
// DescribeMachines' MalwareNum and SecurityStatus).
type HostStats interface {
	// PendingRiskEventCounts returns, for the account's hosts named by
	// hostUUIDs (at most MaxFilterValues), how many of their risk-process
	// events are in HandlePending. Hosts without one — and unknown hosts or
	// those of another account — are absent from the map.
	PendingRiskEventCounts(ctx context.Context, accountID int64, hostUUIDs []string) (map[string]int64, error)
}
