package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/store"
)

// Sync states recorded in Registry.SyncStatus, in the official example's
// vocabulary ("failed").
const (
	SyncSyncing = "syncing"
	SyncSuccess = "success"
	SyncFailed  = "failed"
)

type syncerOptions struct {
	logger *slog.Logger
	now    func() time.Time
	inline bool
}

// SyncerOption configures a Syncer.
type SyncerOption func(*syncerOptions)

// WithSyncLogger sets the syncer's logger (default: discard).
func WithSyncLogger(l *slog.Logger) SyncerOption {
	return func(o *syncerOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithSyncClock sets the clock of LatestSyncTime (default time.Now).
func WithSyncClock(now func() time.Time) SyncerOption {
	return func(o *syncerOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// WithInline makes Go run the sync before returning (tests).
func WithInline(on bool) SyncerOption { return func(o *syncerOptions) { o.inline = on } }

// Syncer keeps the store's image list of a registry in step with the
// registry. It implements tcss.RegistrySyncer; Go runs a sync in the
// background on the syncer's own lifetime (until Close), so an API call can
// return at once.
type Syncer struct {
	st     store.Store
	box    *secrets.Box
	c      *Client
	o      syncerOptions
	sf     singleflight.Group
	ctx    context.Context // the syncer's lifetime: background syncs run on it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewSyncer returns a Syncer listing with c and decrypting passwords with box.
func NewSyncer(st store.Store, box *secrets.Box, c *Client, opts ...SyncerOption) *Syncer {
	o := syncerOptions{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Syncer{st: st, box: box, c: c, o: o, ctx: ctx, cancel: cancel}
}

// Close cancels the background syncs and waits for them.
func (s *Syncer) Close() {
	s.cancel()
	s.wg.Wait()
}

// Go starts a sync of the registry in the background (or runs it now with
// WithInline); a sync of the same registry already running absorbs it.
func (s *Syncer) Go(accountID, registryID int64) {
	if s.o.inline {
		_, _ = s.Sync(s.ctx, accountID, registryID)
		return
	}
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Go(func() {
		_, _ = s.Sync(s.ctx, accountID, registryID)
	})
}

// Sync lists the registry and reconciles the store's images with the
// listing, recording the outcome with SetRegistrySync (syncing → success,
// or failed with the reason). Concurrent calls for the same registry share
// one run and its result.
func (s *Syncer) Sync(ctx context.Context, accountID, registryID int64) (store.SyncResult, error) {
	key := strconv.FormatInt(accountID, 10) + "/" + strconv.FormatInt(registryID, 10)
	ch := s.sf.DoChan(key, func() (res any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("registry sync %d panicked: %v", registryID, p)
				s.o.logger.Error("registry sync panicked", "account", accountID, "registry", registryID, "panic", p)
			}
		}()
		return s.sync(ctx, accountID, registryID)
	})
	select {
	case r := <-ch:
		res, _ := r.Val.(store.SyncResult)
		return res, r.Err
	case <-ctx.Done():
		return store.SyncResult{}, ctx.Err()
	}
}

func (s *Syncer) sync(ctx context.Context, accountID, registryID int64) (store.SyncResult, error) {
	r, err := s.st.GetRegistry(ctx, accountID, registryID)
	if err != nil {
		return store.SyncResult{}, fmt.Errorf("registry %d: %w", registryID, err)
	}
	r.AccountID = accountID // the password's associated data names it
	log := s.o.logger.With("account", accountID, "registry", r.Name, "registry_id", r.ID)
	if err := s.st.SetRegistrySync(ctx, accountID, r.ID, store.RegistrySync{ConnectMsg: r.ConnectMsg, SyncStatus: SyncSyncing}); err != nil {
		return store.SyncResult{}, fmt.Errorf("registry %d: record sync start: %w", registryID, err)
	}
	start := s.o.now()
	res, err := s.run(ctx, r)
	// Record the outcome even when ctx was cancelled (shutdown), so the
	// registry is not left "syncing".
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		st := store.RegistrySync{SyncStatus: SyncFailed, SyncFailReason: err.Error(), ConnectMsg: r.ConnectMsg}
		if connectionClass(err) {
			st.ConnectMsg = err.Error()
		}
		if serr := s.st.SetRegistrySync(rctx, accountID, r.ID, st); serr != nil {
			log.Error("registry sync: record failure", "err", serr)
		}
		log.Warn("registry sync failed", "err", err)
		return store.SyncResult{}, err
	}
	if serr := s.st.SetRegistrySync(rctx, accountID, r.ID, store.RegistrySync{SyncStatus: SyncSuccess, LatestSyncTime: s.o.now()}); serr != nil {
		return res, fmt.Errorf("registry %d: record sync success: %w", registryID, serr)
	}
	log.Info("registry synced", "added", res.Added, "updated", res.Updated, "removed", res.Removed, "took", s.o.now().Sub(start))
	return res, nil
}

func (s *Syncer) run(ctx context.Context, r store.Registry) (store.SyncResult, error) {
	password, err := OpenPassword(s.box, r)
	if err != nil {
		return store.SyncResult{}, err
	}
	prev, err := s.st.QueryRegistryImages(ctx, r.AccountID, store.RegistryImageQuery{RegistryIDs: []int64{r.ID}})
	if err != nil {
		return store.SyncResult{}, fmt.Errorf("load stored images: %w", err)
	}
	imgs, err := s.c.List(ctx, r, password, prev.Items)
	if err != nil {
		return store.SyncResult{}, err
	}
	MarkLatest(imgs)
	for i := range imgs {
		imgs[i].AccountID, imgs[i].RegistryID = r.AccountID, r.ID
	}
	res, err := s.st.SyncRegistryImages(ctx, r.AccountID, r.ID, imgs)
	if err != nil {
		return store.SyncResult{}, fmt.Errorf("store images: %w", err)
	}
	return res, nil
}

func connectionClass(err error) bool {
	for _, c := range []error{ErrBadURL, ErrUnreachable, ErrTLS, ErrUnauthorized, ErrNotRegistry} {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}
