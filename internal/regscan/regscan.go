// Package regscan runs the persistent registry image scan tasks: it claims
// tasks from the store (so a restarted or crashed server's tasks are taken
// over when its lease lapses, and several servers share the work), scans
// their images with a bounded worker pool, records the results and honours
// the task's stop and timeout.
package regscan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/store"
)

// Image scan states as the registry image list reports them (ImageRepoInfo
// ScanStatus, the official examples' vocabulary).
const (
	ImageScanning = "SCANNING"
	ImageScanned  = "SCANNED"
	ImageScanErr  = "SCAN_ERR"
)

// ScanFunc scans one remote image; progress may be called from the scan
// while it runs. Production wraps imagescan (see ImageScanFunc); tests
// inject fakes.
type ScanFunc func(ctx context.Context, t imagescan.Target, progress func(imagescan.Progress)) (*imagescan.Report, error)

// Resolver turns a stored image into what the scanner needs to pull it.
type Resolver interface {
	Resolve(ctx context.Context, accountID int64, img store.RegistryImage) (imagescan.Target, error)
}

// Runner claims and runs registry image scan tasks.
type Runner struct {
	st      store.Store
	scan    ScanFunc
	resolve Resolver
	o       options
	wake    chan struct{}
	sem     chan struct{} // image scans in flight, across tasks
}

// New returns a runner; Run starts it.
func New(st store.Store, scan ScanFunc, resolve Resolver, opts ...Option) *Runner {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Runner{
		st: st, scan: scan, resolve: resolve, o: o,
		wake: make(chan struct{}, 1),
		sem:  make(chan struct{}, o.concurrency),
	}
}

// Wake makes the runner look for tasks now instead of at its next poll. It
// never blocks.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs tasks until ctx ends. On return every task it held
// has been released: in-flight scans are cancelled and their leases handed
// back, so another server (or this one after a restart) resumes them.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, r.o.maxTasks)
	active := 0
	for {
		for active < r.o.maxTasks {
			t, ok, err := r.st.ClaimScanTask(ctx, store.TaskRegistryImage, r.o.owner, r.o.lease)
			if err != nil {
				if ctx.Err() == nil {
					r.o.logger.Warn("claim scan task", "err", err)
				}
				break
			}
			if !ok {
				break
			}
			active++
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runTask(ctx, t)
				done <- struct{}{}
			}()
		}
		timer := time.NewTimer(r.o.poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-done:
			active--
		case <-r.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Why a task's work stops before its targets are done.
var (
	errStopped   = errors.New("the task was stopped")
	errTimeout   = errors.New("the task timed out")
	errLostLease = errors.New("the task's lease was lost")
)

func (r *Runner) runTask(ctx context.Context, t store.ScanTask) {
	log := r.o.logger.With("task", t.ID, "account", t.AccountID)
	if t.Status == store.TaskPending {
		if err := r.st.SetScanTaskStatus(ctx, t.AccountID, t.ID, store.TaskRunning, ""); err != nil {
			log.Warn("start scan task", "err", err)
			return
		}
		if fresh, err := r.st.GetScanTask(ctx, t.AccountID, t.ID); err == nil {
			t = fresh
		}
	}
	log.Info("scan task claimed", "targets", t.TargetTotal, "done", t.TargetDone)

	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		r.keep(tctx, cancel, t, log)
	}()

	targets, err := r.st.ListScanTargets(tctx, t.AccountID, t.ID)
	if err != nil {
		cancel(fmt.Errorf("list targets: %w", err))
	}
	var wg sync.WaitGroup
loop:
	for _, tg := range targets {
		if store.TaskDone(tg.Status) {
			continue
		}
		select {
		case r.sem <- struct{}{}:
		case <-tctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer func() { <-r.sem; wg.Done() }()
			r.runTarget(tctx, t, tg, log)
		}()
	}
	wg.Wait()
	cause := context.Cause(tctx)
	cancel(nil)
	<-keeperDone

	// Final bookkeeping uses a context the shutdown does not cancel, so a
	// finished task is not left looking unfinished.
	bg, bgCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bgCancel()
	switch {
	case cause == nil:
		if err := r.st.SetScanTaskStatus(bg, t.AccountID, t.ID, store.TaskFinished, ""); err != nil && !errors.Is(err, store.ErrConflict) {
			log.Warn("finish scan task", "err", err)
		}
		log.Info("scan task finished")
	case errors.Is(cause, errTimeout):
		msg := fmt.Sprintf("the task exceeded its timeout of %d s", t.TimeoutSecs)
		if err := r.st.SetScanTaskStatus(bg, t.AccountID, t.ID, store.TaskTimeout, msg); err != nil && !errors.Is(err, store.ErrConflict) {
			log.Warn("time out scan task", "err", err)
		}
		log.Info("scan task timed out")
	case errors.Is(cause, errStopped), errors.Is(cause, errLostLease):
		log.Info("scan task abandoned", "why", cause.Error())
	case ctx.Err() != nil:
		// Shutdown: hand the task back now rather than when the lease lapses.
		if err := r.st.RenewScanTask(bg, t.ID, r.o.owner, time.Millisecond); err != nil && !errors.Is(err, store.ErrConflict) {
			log.Warn("release scan task", "err", err)
		}
		log.Info("scan task released at shutdown")
	default:
		if err := r.st.SetScanTaskStatus(bg, t.AccountID, t.ID, store.TaskFailed, cause.Error()); err != nil && !errors.Is(err, store.ErrConflict) {
			log.Warn("fail scan task", "err", err)
		}
		log.Warn("scan task failed", "err", cause)
	}
}

// keep renews the lease, watches for a stop and enforces the timeout,
// cancelling tctx with the reason.
func (r *Runner) keep(tctx context.Context, cancel context.CancelCauseFunc, t store.ScanTask, log *slog.Logger) {
	var deadline <-chan time.Time
	if t.TimeoutSecs > 0 {
		start := t.StartedAt
		if start.IsZero() {
			start = r.o.now()
		}
		d := time.Until(start.Add(time.Duration(t.TimeoutSecs) * time.Second))
		timer := time.NewTimer(max(d, 0))
		defer timer.Stop()
		deadline = timer.C
	}
	renew := time.NewTicker(max(r.o.lease/3, 10*time.Millisecond))
	defer renew.Stop()
	check := time.NewTicker(r.o.stopCheck)
	defer check.Stop()
	for {
		select {
		case <-tctx.Done():
			return
		case <-deadline:
			cancel(errTimeout)
			return
		case <-renew.C:
			if err := r.st.RenewScanTask(tctx, t.ID, r.o.owner, r.o.lease); err != nil {
				if errors.Is(err, store.ErrConflict) {
					// Final (stopped) or taken over: find out which for the log.
					if cur, gerr := r.st.GetScanTask(tctx, t.AccountID, t.ID); gerr == nil && cur.Status == store.TaskStopped {
						cancel(errStopped)
					} else {
						cancel(errLostLease)
					}
					return
				}
				if tctx.Err() == nil {
					log.Warn("renew scan task lease", "err", err)
				}
			}
		case <-check.C:
			cur, err := r.st.GetScanTask(tctx, t.AccountID, t.ID)
			switch {
			case err != nil:
				if tctx.Err() == nil {
					log.Warn("poll scan task", "err", err)
				}
			case store.TaskDone(cur.Status):
				cancel(errStopped)
				return
			case cur.Owner != "" && cur.Owner != r.o.owner:
				cancel(errLostLease)
				return
			}
		}
	}
}

func (r *Runner) runTarget(ctx context.Context, t store.ScanTask, tg store.ScanTarget, log *slog.Logger) {
	log = log.With("image", tg.TargetID)
	id, err := strconv.ParseInt(tg.TargetID, 10, 64)
	if err != nil {
		r.finishTarget(ctx, t, tg, store.TaskFailed, 0, "invalid image id "+tg.TargetID, log)
		return
	}
	img, err := r.st.GetRegistryImage(ctx, t.AccountID, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			r.finishTarget(ctx, t, tg, store.TaskFailed, 0, "the image no longer exists in the registry", log)
		} else if ctx.Err() == nil {
			r.finishTarget(ctx, t, tg, store.TaskFailed, 0, "load image: "+err.Error(), log)
		}
		return
	}
	prevStatus, prevErr := img.ScanStatus, img.ScanError

	tg.Status, tg.Progress, tg.Error = store.TaskRunning, 0, ""
	tg.StartedAt, tg.FinishedAt = r.o.now(), time.Time{}
	if err := r.st.UpdateScanTarget(ctx, t.AccountID, tg); err != nil {
		if ctx.Err() == nil {
			log.Warn("update scan target", "err", err)
		}
		return
	}
	if err := r.st.SetImageScanStatus(ctx, t.AccountID, img.ID, ImageScanning, ""); err != nil && ctx.Err() == nil {
		log.Warn("set image scan status", "err", err)
	}

	target, err := r.resolve.Resolve(ctx, t.AccountID, img)
	var rep *imagescan.Report
	if err == nil {
		rep, err = r.scan(ctx, target, r.progress(ctx, t.AccountID, tg, log))
	}

	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, errTimeout):
			// The store moves the target to TIMEOUT with the task.
			r.setImage(bg, t.AccountID, img.ID, ImageScanErr, "the scan task timed out before this image was scanned", log)
		case errors.Is(cause, errLostLease):
			// Another server owns the task now and rescans the image.
		default:
			// Stopped or shut down: the image is as it was before.
			r.setImage(bg, t.AccountID, img.ID, prevStatus, prevErr, log)
		}
		return
	}
	if err != nil {
		msg := "scan failed: " + err.Error()
		r.setImage(bg, t.AccountID, img.ID, ImageScanErr, msg, log)
		r.finishTarget(bg, t, tg, store.TaskFailed, 0, msg, log)
		log.Info("image scan failed", "err", err)
		return
	}
	now := r.o.now()
	rec := Record(rep, now)
	// The virus list joins each finding with the threat catalog for its
	// tags and texts; the engine's finding is the authority for them.
	if th := Threats(rep, now); len(th) > 0 {
		if err := r.st.UpsertThreats(bg, th); err != nil {
			log.Warn("store threat catalog entries", "err", err)
		}
	}
	if err := r.st.RecordImageScan(bg, t.AccountID, img.ID, rec); err != nil {
		msg := "record scan: " + err.Error()
		r.setImage(bg, t.AccountID, img.ID, ImageScanErr, msg, log)
		r.finishTarget(bg, t, tg, store.TaskFailed, 0, msg, log)
		log.Warn("record image scan", "err", err)
		return
	}
	r.finishTarget(bg, t, tg, store.TaskFinished, int64(len(rec.Viruses)), "", log)
	log.Info("image scanned", "findings", len(rec.Viruses), "digest", rep.Digest)
}

func (r *Runner) setImage(ctx context.Context, accountID, imageID int64, status, msg string, log *slog.Logger) {
	if err := r.st.SetImageScanStatus(ctx, accountID, imageID, status, msg); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("set image scan status", "err", err)
	}
}

func (r *Runner) finishTarget(ctx context.Context, t store.ScanTask, tg store.ScanTarget, status string, risks int64, msg string, log *slog.Logger) {
	tg.Status, tg.RiskCount, tg.Error = status, risks, msg
	if status == store.TaskFinished {
		tg.Progress = 100
	}
	if tg.StartedAt.IsZero() {
		tg.StartedAt = r.o.now()
	}
	tg.FinishedAt = r.o.now()
	if err := r.st.UpdateScanTarget(ctx, t.AccountID, tg); err != nil && ctx.Err() == nil {
		log.Warn("update scan target", "err", err)
	}
}

// progress returns the callback storing a target's progress, at most every
// progressEvery and only when the percentage moved.
func (r *Runner) progress(ctx context.Context, accountID int64, tg store.ScanTarget, log *slog.Logger) func(imagescan.Progress) {
	var mu sync.Mutex
	var last time.Time
	lastPct := int64(-1)
	return func(p imagescan.Progress) {
		pct := Percent(p)
		mu.Lock()
		defer mu.Unlock()
		now := r.o.now()
		if pct == lastPct || now.Sub(last) < r.o.progressEvery || ctx.Err() != nil {
			return
		}
		last, lastPct = now, pct
		tg.Progress = pct
		if err := r.st.UpdateScanTarget(ctx, accountID, tg); err != nil && ctx.Err() == nil {
			log.Debug("store scan progress", "err", err)
		}
	}
}

// Percent is an image's scan progress, 0..99 while layers are read (100 is
// only reported once the result is stored).
func Percent(p imagescan.Progress) int64 {
	if p.Layers <= 0 {
		return 0
	}
	frac := 0.0
	if p.Cached {
		frac = 1
	} else if p.BytesTotal > 0 {
		frac = min(float64(p.BytesDone)/float64(p.BytesTotal), 1)
	}
	pct := int64((float64(p.Layer) + frac) / float64(p.Layers) * 100)
	return min(max(pct, 0), 99)
}

// Record converts a scan report into what the store records: findings as
// the registry virus list shows them.
func Record(rep *imagescan.Report, now time.Time) store.ImageScanRecord {
	rec := store.ImageScanRecord{
		Digest:          rep.Digest,
		ImageID:         rep.ImageID,
		OSName:          rep.OS,
		Size:            rep.Size,
		ImageCreateTime: rep.Created,
		ScanStatus:      ImageScanned,
		ScanTime:        now,
	}
	for _, l := range rep.Layers {
		rec.Layers = append(rec.Layers, store.ImageLayer{Digest: l.Digest, Size: l.Size})
	}
	seen := make(map[[2]string]bool, len(rep.Findings))
	for _, f := range rep.Findings {
		p := strings.TrimPrefix(f.Path, "/")
		key := [2]string{p, f.VirusName}
		// The store keys findings by (path, virus); a file matched twice
		// under one name (e.g. a hidden copy) is one row.
		if p == "" || f.VirusName == "" || seen[key] {
			continue
		}
		seen[key] = true
		rec.Viruses = append(rec.Viruses, store.ImageVirus{
			Path:           p,
			VirusName:      f.VirusName,
			RiskLevel:      strconv.Itoa(f.Risk.Number()),
			Category:       f.Category,
			FileType:       string(f.FileType),
			FileName:       path.Base(p),
			FileMD5:        f.MD5,
			FileSize:       f.Size,
			LayerDigest:    f.LayerDigest,
			LatestScanTime: now,
		})
	}
	return rec
}

// Threats are the catalog entries of a report's detections, one per name.
func Threats(rep *imagescan.Report, now time.Time) []store.Threat {
	var out []store.Threat
	seen := make(map[string]bool)
	for _, f := range rep.Findings {
		if f.VirusName == "" || seen[f.VirusName] {
			continue
		}
		seen[f.VirusName] = true
		out = append(out, store.Threat{
			Name:          f.VirusName,
			Tags:          append([]string(nil), f.Tags...),
			Desc:          store.Localized{ZH: f.Description.ZH, EN: f.Description.EN},
			Solution:      store.Localized{ZH: f.Solution.ZH, EN: f.Solution.EN},
			ReferenceLink: f.Reference,
			UpdatedAt:     now,
		})
	}
	return out
}
