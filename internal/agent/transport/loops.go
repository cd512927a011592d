package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/spool"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

// SpoolEvents appends events to sp as one record (durable when it returns):
// what the detector calls for each batch it produces.
func SpoolEvents(sp *spool.Spool, events ...wire.Event) error {
	if len(events) == 0 {
		return nil
	}
	b, err := json.Marshal(events)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	return sp.Append(b, len(events))
}

// UploadStats counts what RunUploader delivered.
type UploadStats struct {
	Uploads  int
	Accepted int
	Rejected int
}

// RunUploader drains sp to the server until ctx ends: it uploads the oldest
// records as one batch, removes them from the spool once the server answered,
// and waits for new records when the spool is empty. While the server is
// unreachable it retries with backoff and records accumulate in the spool.
// Spooled drop counts ride along and are cleared when acknowledged. It
// returns ErrUnauthorized if the credential stops working, ctx's error
// otherwise. onUpload, if not nil, is called after each acknowledged upload.
func (c *Client) RunUploader(ctx context.Context, sp *spool.Spool, onUpload func(UploadStats)) error {
	return runUploader(ctx, c, sp, func(ctx context.Context, evs []wire.Event, dropped uint64) (wire.EventsResponse, error) {
		return c.SendEvents(ctx, wire.EventsRequest{Events: evs, Dropped: dropped})
	}, onUpload)
}

// SpoolVirusEvents appends container trojan-file events to sp as one record
// (a spool of their own: RunVirusUploader drains it).
func SpoolVirusEvents(sp *spool.Spool, events ...wire.VirusEvent) error {
	if len(events) == 0 {
		return nil
	}
	b, err := json.Marshal(events)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	return sp.Append(b, len(events))
}

// RunVirusUploader is RunUploader for a spool of SpoolVirusEvents records.
func (c *Client) RunVirusUploader(ctx context.Context, sp *spool.Spool, onUpload func(UploadStats)) error {
	return runUploader(ctx, c, sp, func(ctx context.Context, evs []wire.VirusEvent, dropped uint64) (wire.EventsResponse, error) {
		return c.SendVirusEvents(ctx, wire.VirusEventsRequest{Events: evs, Dropped: dropped})
	}, onUpload)
}

// runUploader drains a spool whose records are JSON arrays of E.
func runUploader[E any](ctx context.Context, c *Client, sp *spool.Spool,
	send func(ctx context.Context, evs []E, dropped uint64) (wire.EventsResponse, error), onUpload func(UploadStats)) error {
	log := c.c.opts.logger
	var stats UploadStats
	for {
		recs, err := sp.Peek(0, c.c.opts.maxBatchSize)
		if err != nil {
			return err
		}
		dropped := sp.Dropped()
		if len(recs) == 0 && dropped == 0 {
			select {
			case <-sp.Notify():
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var batch []E
		var end spool.Position
		for _, r := range recs {
			if len(batch) > 0 && len(batch)+r.Items > c.c.opts.maxBatch {
				break
			}
			var evs []E
			if err := json.Unmarshal(r.Data, &evs); err != nil {
				// Cannot happen with SpoolEvents; never let one bad record block the spool.
				log.ErrorContext(ctx, "spool record is not an event batch: skipped", "err", err)
			}
			batch = append(batch, evs...)
			end = r.End
		}
		resp, err := send(ctx, batch, dropped)
		var se *StatusError
		switch {
		case errors.Is(err, ErrUnauthorized):
			return err
		case errors.As(err, &se) && len(recs) <= 1:
			// A permanent refusal of a single record: resending cannot help.
			log.ErrorContext(ctx, "server refused an event batch: dropped", "events", len(batch), "err", err)
		case errors.As(err, &se):
			// Retry smaller: the first record alone.
			one, perr := sp.Peek(1, 0)
			if perr != nil || len(one) == 0 {
				return errors.Join(err, perr)
			}
			var evs []E
			_ = json.Unmarshal(one[0].Data, &evs)
			if resp, err = send(ctx, evs, dropped); err != nil {
				if !errors.As(err, &se) {
					return err
				}
				log.ErrorContext(ctx, "server refused an event batch: dropped", "events", len(evs), "err", err)
			}
			end = one[0].End
		case err != nil:
			return err // ctx ended
		}
		if end != (spool.Position{}) {
			if err := sp.Ack(end); err != nil {
				return err
			}
		}
		if err := sp.AckDropped(resp.DroppedAck); err != nil {
			return err
		}
		for _, r := range resp.Rejected {
			log.WarnContext(ctx, "server rejected an event", "index", r.Index, "reason", r.Reason)
		}
		stats.Uploads++
		stats.Accepted += resp.Accepted
		stats.Rejected += len(resp.Rejected)
		if onUpload != nil {
			onUpload(stats)
		}
	}
}

// CommandHandler executes a command and returns its result. It must be
// idempotent: a command is handed out again when its result got lost.
type CommandHandler func(ctx context.Context, cmd wire.Command) wire.CommandResult

// RunCommands long-polls the server for commands and reports each handler
// result, until ctx ends (or the credential stops working: ErrUnauthorized).
func (c *Client) RunCommands(ctx context.Context, handle CommandHandler) error {
	for {
		cmds, err := c.PollCommands(ctx, c.c.opts.pollWait)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) { // a permanent answer to a poll: pause, then poll again
				c.c.opts.logger.WarnContext(ctx, "command poll refused", "err", err)
				if !sleep(ctx, c.c.opts.maxBackoff) {
					return ctx.Err()
				}
				continue
			}
			return err
		}
		if err := c.execute(ctx, cmds, handle); err != nil {
			return err
		}
	}
}

func (c *Client) execute(ctx context.Context, cmds []wire.Command, handle CommandHandler) error {
	for _, cmd := range cmds {
		res := handle(ctx, cmd)
		if err := c.ReportResult(ctx, cmd.ID, res); err != nil {
			var se *StatusError
			if errors.As(err, &se) { // e.g. the command was deleted: nothing to retry
				c.c.opts.logger.WarnContext(ctx, "command result refused", "id", cmd.ID, "err", err)
				continue
			}
			return err
		}
	}
	return nil
}

// RunHeartbeats sends a heartbeat now and then at the interval the server
// asks for, with the facts facts() returns and the spool's size; commands a
// heartbeat returns go to handle. Before returning (ctx ended) it sends a
// last heartbeat saying the agent stops, so the host goes offline at once.
func (c *Client) RunHeartbeats(ctx context.Context, facts func() wire.HostFacts, sp *spool.Spool, handle CommandHandler) error {
	interval := 30 * time.Second
	for {
		req := wire.HeartbeatRequest{Host: facts()}
		if sp != nil {
			// Drops are reported by the uploader only, so they are never counted twice.
			req.Spooled = sp.Stats().Items
		}
		resp, err := c.Heartbeat(ctx, req)
		switch {
		case errors.Is(err, ErrUnauthorized):
			return err
		case ctx.Err() != nil:
			c.stopping(facts)
			return ctx.Err()
		case err != nil:
			c.c.opts.logger.WarnContext(ctx, "heartbeat refused", "err", err)
		default:
			if resp.IntervalSeconds > 0 {
				interval = time.Duration(resp.IntervalSeconds) * time.Second
			}
			if handle != nil {
				if err := c.execute(ctx, resp.Commands, handle); err != nil && ctx.Err() == nil {
					return err
				}
			}
		}
		if !sleep(ctx, interval) {
			c.stopping(facts)
			return ctx.Err()
		}
	}
}

func (c *Client) stopping(facts func() wire.HostFacts) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	one := *c
	caller := *c.c
	caller.opts.maxAttempts = 1
	one.c = &caller
	_, _ = one.Heartbeat(ctx, wire.HeartbeatRequest{Host: facts(), Stopping: true})
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
