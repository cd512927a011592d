package app

import (
	"context"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/procjudge"
	"github.com/vigil-sec/vigil/internal/agentapi"
	cwpsvc "github.com/vigil-sec/vigil/internal/service/cwp"
)

// cwpAgents is cwp's AgentCommander over the agent protocol. It reads
// a.Agents when called, so the cwp handlers can be registered before the
// agent handler exists.
type cwpAgents struct{ a *App }

func (c cwpAgents) Kill(ctx context.Context, accountID int64, hostUUID string, pid int64, start time.Time, eventID int64) error {
	_, err := c.a.Agents.Enqueue(ctx, accountID, hostUUID, agentapi.KillCommand(pid, start, eventID))
	return err
}

// riskEventOptions are the agent protocol's hooks for risk-process events:
// whitelisted executables are not stored, and kill results move their
// events on (killing → killed / exited, or back to pending).
func (a *App) riskEventOptions() []agentapi.Option {
	st := a.Store
	return []agentapi.Option{
		agentapi.WithEventFilter(agentapi.WhitelistFilter(st)),
		agentapi.WithOnResult(agentapi.KillResultHook(func(ctx context.Context, accountID, eventID int64, killed, exited bool, at time.Time) error {
			return cwpsvc.KillOutcome(ctx, st, accountID, eventID, killed, exited, at)
		}, a.opts.logger)),
	}
}

// seedThreats writes the texts of the agent's process heuristics to the
// threat catalog, so events show them from the first one on.
func (a *App) seedThreats(ctx context.Context) error {
	return a.Agents.SeedThreats(ctx, procjudge.Threats())
}
