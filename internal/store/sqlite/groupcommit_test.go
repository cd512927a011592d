package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

// groupHarness drives a groupCommitter with a fake transaction: it records
// which batches were written in a group and which alone.
type groupHarness struct {
	g groupCommitter

	mu      sync.Mutex
	groups  [][]string // batch names per group transaction that committed
	alone   []string
	current []string
	failTx  bool
}

func (h *groupHarness) write(_ context.Context, fn func(*sql.Tx) error) error {
	h.mu.Lock()
	h.current = nil
	h.mu.Unlock()
	err := fn(nil)
	if err == nil && h.failTx {
		err = errors.New("commit failed")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.groups = append(h.groups, h.current)
	}
	return err
}

// item makes a batch of size rows named name; its solo write waits for
// release (if not nil) and fails with failAlone; in a group it fails with
// failInGroup.
func (h *groupHarness) item(name string, size int, release <-chan struct{}, failInGroup, failAlone error) *groupItem {
	return &groupItem{
		size: size,
		inGroup: func(context.Context, *sql.Tx) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.current = append(h.current, name)
			return failInGroup
		},
		alone: func() error {
			if release != nil {
				<-release
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.alone = append(h.alone, name)
			return failAlone
		},
	}
}

func (h *groupHarness) waiting() int {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	return len(h.g.pending)
}

// run starts do for each item in order, each only once the previous one
// is queued, while a first batch "a" holds the writer until release.
func (h *groupHarness) run(t *testing.T, ctxs []context.Context, beforeRelease func(), items ...*groupItem) []error {
	t.Helper()
	release := make(chan struct{})
	first := h.item("a", 1, release, nil, nil)
	errs := make([]error, len(items)+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = h.g.do(t.Context(), h.write, first) })
	waitFor(t, func() bool { h.g.mu.Lock(); defer h.g.mu.Unlock(); return h.g.busy })
	for i, it := range items {
		ctx := t.Context()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		wg.Go(func() { errs[i+1] = h.g.do(ctx, h.write, it) })
		waitFor(t, func() bool { return h.waiting() == i+1 })
	}
	if beforeRelease != nil {
		beforeRelease()
	}
	close(release)
	wg.Wait()
	return errs
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitMergesWaitingBatches(t *testing.T) {
	h := &groupHarness{g: groupCommitter{maxSize: 100}}
	errs := h.run(t, nil, nil, h.item("b", 10, nil, nil, nil), h.item("c", 10, nil, nil, nil), h.item("d", 10, nil, nil, nil))
	for i, err := range errs {
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	// "a" found the writer idle and went alone; the three that queued
	// behind it were written in one transaction.
	if len(h.alone) != 1 || h.alone[0] != "a" {
		t.Errorf("written alone: %v, want [a]", h.alone)
	}
	if len(h.groups) != 1 || len(h.groups[0]) != 3 {
		t.Errorf("groups: %v, want [[b c d]]", h.groups)
	}
}

func TestGroupCommitRespectsMaxSize(t *testing.T) {
	h := &groupHarness{g: groupCommitter{maxSize: 25}}
	errs := h.run(t, nil, nil, h.item("b", 10, nil, nil, nil), h.item("c", 10, nil, nil, nil), h.item("d", 10, nil, nil, nil), h.item("e", 30, nil, nil, nil))
	for i, err := range errs {
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	// b+c fit 25; d alone (e would overflow); e is larger than the limit
	// and goes alone rather than never.
	if len(h.groups) != 1 || len(h.groups[0]) != 2 {
		t.Errorf("groups: %v, want [[b c]]", h.groups)
	}
	if len(h.alone) != 3 {
		t.Errorf("written alone: %v, want [a d e]", h.alone)
	}
}

func TestGroupCommitBadBatchFailsAlone(t *testing.T) {
	h := &groupHarness{g: groupCommitter{maxSize: 100}}
	bad := errors.New("unknown host")
	errs := h.run(t, nil, nil, h.item("b", 10, nil, nil, nil), h.item("c", 10, nil, bad, bad), h.item("d", 10, nil, nil, nil))
	if errs[1] != nil || errs[3] != nil {
		t.Errorf("good batches failed: %v", errs)
	}
	if !errors.Is(errs[2], bad) {
		t.Errorf("bad batch: %v, want %v", errs[2], bad)
	}
	if len(h.groups) != 0 {
		t.Errorf("a failed group committed: %v", h.groups)
	}
	if len(h.alone) != 4 {
		t.Errorf("written alone: %v, want a, then b c d one by one", h.alone)
	}
}

func TestGroupCommitFailedCommitRetriesAlone(t *testing.T) {
	h := &groupHarness{g: groupCommitter{maxSize: 100}, failTx: true}
	errs := h.run(t, nil, nil, h.item("b", 10, nil, nil, nil), h.item("c", 10, nil, nil, nil))
	for i, err := range errs {
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	if len(h.alone) != 3 {
		t.Errorf("written alone: %v, want a b c", h.alone)
	}
}

func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	h := &groupHarness{g: groupCommitter{maxSize: 100}}
	ctx, cancel := context.WithCancel(t.Context())
	ctxs := []context.Context{nil, ctx, nil}
	errs := h.run(t, ctxs, func() {
		cancel()
		waitFor(t, func() bool { return h.waiting() == 2 })
	}, h.item("b", 10, nil, nil, nil), h.item("c", 10, nil, nil, nil), h.item("d", 10, nil, nil, nil))
	if !errors.Is(errs[2], context.Canceled) {
		t.Errorf("cancelled batch: %v", errs[2])
	}
	if errs[1] != nil || errs[3] != nil {
		t.Errorf("others: %v", errs)
	}
	if len(h.groups) != 1 || len(h.groups[0]) != 2 {
		t.Errorf("groups: %v, want [[b d]] (c never written)", h.groups)
	}
}
