package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
)

// WhitelistFilter is an EventFilter that drops the events whose executable a
// cwp malware whitelist rule of the account matches on the host (by MD5, or
// by file name, directory and extension) and adds them to the rule's
// EventsCount. A resent or repeated detection counts again.
func WhitelistFilter(st store.Store) EventFilter {
	return func(ctx context.Context, accountID int64, hostUUID string, events []store.RiskProcessEvent) ([]store.RiskProcessEvent, error) {
		host, err := st.GetHost(ctx, accountID, hostUUID)
		if errors.Is(err, store.ErrNotFound) {
			return events, nil // the insert answers for an unknown host
		}
		if err != nil {
			return nil, err
		}
		files := make([]store.WhitelistFile, len(events))
		for i, e := range events {
			files[i] = store.WhitelistFile{MD5: e.ExeMD5, Path: e.ExePath}
		}
		match, err := st.MatchWhitelist(ctx, accountID, store.WhitelistCWP, host.QUUID, files)
		if err != nil {
			return nil, err
		}
		kept := events[:0:0]
		hits := map[int64]int64{}
		for i, e := range events {
			if match[i] == 0 {
				kept = append(kept, e)
			} else {
				hits[match[i]]++
			}
		}
		if len(hits) > 0 {
			if err := st.AddWhitelistHits(ctx, accountID, hits); err != nil {
				return nil, err
			}
		}
		return kept, nil
	}
}

// KillApplier records the outcome of a kill of the account's risk event
// eventID: killed, exited (the process was already gone), or neither (the
// kill failed). cwp's KillOutcome is one.
type KillApplier func(ctx context.Context, accountID, eventID int64, killed, exited bool, at time.Time) error

// KillResultHook returns a function for WithOnResult that hands the results
// of kill commands naming an event to apply; other commands are ignored.
func KillResultHook(apply KillApplier, logger *slog.Logger) func(ctx context.Context, c store.AgentCommand) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, c store.AgentCommand) {
		if c.Kind != wire.CommandKill {
			return
		}
		var p wire.KillPayload
		if err := json.Unmarshal(c.Payload, &p); err != nil || p.EventID == 0 {
			return
		}
		var r wire.KillResult
		if c.Status == store.CommandDone && len(c.Result) > 0 {
			if err := json.Unmarshal(c.Result, &r); err != nil {
				logger.WarnContext(ctx, "agent api: unreadable kill result", "command_id", c.ID, "err", err)
			}
		}
		if c.Status != store.CommandDone {
			r = wire.KillResult{}
			logger.WarnContext(ctx, "agent could not kill a process", "account_id", c.AccountID, "host_uuid", c.HostUUID,
				"event_id", p.EventID, "pid", p.PID, "error", c.Error)
		}
		at := c.CompletedAt
		if at.IsZero() {
			at = time.Now()
		}
		if err := apply(ctx, c.AccountID, p.EventID, r.Killed, r.Exited, at); err != nil {
			logger.ErrorContext(ctx, "agent api: recording a kill result", "event_id", p.EventID, "err", err)
		}
	}
}
