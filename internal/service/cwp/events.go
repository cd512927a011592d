package cwp

import (
	"context"
	"time"

	"github.com/vigil-sec/vigil/internal/server"
)

// AgentCommander sends commands to a host's agent.
type AgentCommander interface {
	// Kill asks the agent of hostUUID to kill pid if it still has start
	// time start (never a reused pid); the outcome arrives asynchronously.
	Kill(ctx context.Context, accountID int64, hostUUID string, pid int64, start time.Time, eventID int64) error
}

// registerEventActions: ModifyRiskEventsStatus.
func (h *handlers) registerEventActions(mux *server.Mux) {}
