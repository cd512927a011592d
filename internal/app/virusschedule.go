package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	tcsssvc "github.com/vigil-sec/vigil/internal/service/tcss"
	"github.com/vigil-sec/vigil/internal/store"
)

// The scheduled container trojan scan (issue 5, SourceType 1): with
// virus_scan_schedule set, every account with online agents gets a
// container scan task once per interval.
//
// Several servers share one database, so each interval's task must be
// created once. The account's setting virusScheduleKey holds the last claim
// {owner, time}: a server whose tick finds the last claim an interval old or
// more claims the account by writing its own, waits virusScheduleSettle,
// reads the setting back and creates the task only if its claim is still
// there (the last writer wins; a server reading a recent claim does not
// write). Two claims race only when both servers read the setting before
// either wrote it; both read back after the settle time, when the later
// write is in place: correct as long as a read-then-write takes less than
// the settle time.

// virusScheduleKey is the per-account setting holding the last claim.
const virusScheduleKey = "tcss.virus_scan_schedule"

// virusScheduleSettle is how long a claim waits before it is read back.
const virusScheduleSettle = 2 * time.Second

type virusScheduleState struct {
	Owner  string    `json:"owner"`
	TaskID int64     `json:"task_id,omitempty"`
	At     time.Time `json:"at"`
}

// virusScheduler is one server's side of the schedule.
type virusScheduler struct {
	a        *App
	interval time.Duration
	settle   time.Duration
	owner    string
	spec     tcsssvc.ContainerScanSpec
	timeout  time.Duration
}

func (a *App) newVirusScheduler() *virusScheduler {
	host, _ := os.Hostname()
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	iv := a.cfg.VirusScanSchedule
	mode := "SCAN_PATH_DEFAULT"
	if a.cfg.VirusScanPaths == "all" {
		mode = "SCAN_PATH_ALL"
	}
	return &virusScheduler{
		a: a, interval: iv, settle: min(virusScheduleSettle, iv/4),
		owner:   fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(r)),
		spec:    tcsssvc.ContainerScanSpec{PathMode: mode},
		timeout: a.cfg.VirusScanTimeout,
	}
}

// runVirusSchedule starts the scheduled scans until ctx ends (a no-op when
// the schedule is off).
func (a *App) runVirusSchedule(ctx context.Context) error {
	if a.cfg.VirusScanSchedule <= 0 {
		return nil
	}
	s := a.newVirusScheduler()
	a.opts.logger.Info("scheduled container trojan scans", "interval", s.interval, "paths", a.cfg.VirusScanPaths)
	t := time.NewTicker(min(max(s.interval/4, 100*time.Millisecond), time.Minute))
	defer t.Stop()
	for {
		if err := s.tick(ctx); err != nil && ctx.Err() == nil {
			a.opts.logger.Warn("scheduled container scan", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *virusScheduler) state(ctx context.Context, accountID int64) (virusScheduleState, error) {
	var st virusScheduleState
	b, err := s.a.Store.GetAccountSetting(ctx, accountID, virusScheduleKey)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return virusScheduleState{}, nil // unreadable: as if never run
	}
	return st, nil
}

func (s *virusScheduler) put(ctx context.Context, accountID int64, st virusScheduleState) error {
	b, _ := json.Marshal(st)
	return s.a.Store.PutAccountSetting(ctx, accountID, virusScheduleKey, b)
}

// tick claims every account with online agents whose last claim is an
// interval old, then starts the task of each claim that held.
func (s *virusScheduler) tick(ctx context.Context) error {
	now := s.a.opts.now().UTC()
	accts, err := s.a.Store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	var claimed []int64
	var errs []error
	for _, acct := range accts {
		st, err := s.state(ctx, acct.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if now.Sub(st.At) < s.interval {
			continue // claimed within the interval, by this server or another
		}
		p, err := s.a.Store.QueryHosts(ctx, acct.ID, store.HostQuery{SeenSince: now.Add(-store.HostOfflineAfter), Limit: 1})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(p.Items) == 0 {
			continue // no agent to scan with: try again next tick
		}
		if err := s.put(ctx, acct.ID, virusScheduleState{Owner: s.owner, At: now}); err != nil {
			errs = append(errs, err)
			continue
		}
		claimed = append(claimed, acct.ID)
	}
	if len(claimed) == 0 {
		return errors.Join(errs...)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(s.settle):
	}
	for _, id := range claimed {
		st, err := s.state(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Owner != s.owner || !st.At.Equal(now) {
			continue // another server's claim won
		}
		taskID, err := tcsssvc.StartScheduledVirusScan(ctx, s.a.Store, tcssAgents{s.a}, id, s.spec, s.timeout, s.a.opts.now())
		if errors.Is(err, tcsssvc.ErrNoOnlineAgent) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("account %d: %w", id, err))
		}
		if taskID != 0 {
			st.TaskID = taskID
			if err := s.put(ctx, id, st); err != nil {
				errs = append(errs, err)
			}
			s.a.opts.logger.Info("scheduled container scan started", "account", id, "task", taskID)
		}
	}
	return errors.Join(errs...)
}
