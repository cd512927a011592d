package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"sync"
)

// groupCommitter merges concurrent writes into one transaction (group
// commit). SQLite has a single writer, so concurrent event uploads queue on
// it anyway; writing the queue's batches in one transaction writes each
// database page they change once per commit instead of once per batch, and
// most of an ingest's cost is writing the index pages an event lands on
// (see BENCHMARKS.md, "Event ingestion"). Nobody waits for company: a batch
// that finds the writer idle is written at once, alone; batches that arrive
// while a commit runs are written together by the next one, up to maxSize
// rows.
//
// Each batch stays atomic: if the group's transaction fails, every batch of
// the group is written again on its own, so a bad batch fails alone.
type groupCommitter struct {
	maxSize int

	mu      sync.Mutex
	pending []*groupItem // waiting, in arrival order
	busy    bool         // a leader is writing a group
}

// groupItem is one caller's batch.
type groupItem struct {
	size int
	// inGroup writes the batch inside the group's transaction.
	inGroup func(ctx context.Context, tx *sql.Tx) error
	// alone writes the batch by itself, in its own transaction(s).
	alone func() error

	err  error
	lead bool          // woken to lead the next group (set under mu)
	wake chan struct{} // closed when done or when made leader
}

// do writes it, as part of a group when others are waiting, and returns its
// error. A caller whose ctx ends while its batch still waits is taken out
// of the queue; once its batch is being written it waits for the outcome.
func (g *groupCommitter) do(ctx context.Context, write func(context.Context, func(*sql.Tx) error) error, it *groupItem) error {
	it.wake = make(chan struct{})
	g.mu.Lock()
	g.pending = append(g.pending, it)
	if g.busy {
		g.mu.Unlock()
		select {
		case <-it.wake:
		case <-ctx.Done():
			g.mu.Lock()
			if !it.lead {
				if i := slices.Index(g.pending, it); i >= 0 {
					g.pending = slices.Delete(g.pending, i, i+1)
					g.mu.Unlock()
					return ctx.Err()
				}
			}
			g.mu.Unlock()
			<-it.wake
		}
		if !it.lead {
			return it.err
		}
		g.mu.Lock()
	}
	// Leading: it is pending[0] (the queue was empty, or the last leader
	// handed over to the oldest waiter).
	g.busy = true
	n, size := 0, 0
	for n < len(g.pending) && (n == 0 || size+g.pending[n].size <= g.maxSize) {
		size += g.pending[n].size
		n++
	}
	group := slices.Clone(g.pending[:n])
	g.pending = slices.Delete(g.pending, 0, n)
	g.mu.Unlock()

	commitGroup(ctx, write, group)

	g.mu.Lock()
	if len(g.pending) > 0 {
		next := g.pending[0]
		next.lead = true
		close(next.wake)
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	for _, o := range group {
		if o != it {
			close(o.wake)
		}
	}
	return it.err
}

// commitGroup writes group in one transaction, or each batch alone when it
// holds one or the transaction fails. The transaction runs to its end even
// if the leader's ctx ends: it carries other callers' batches.
func commitGroup(ctx context.Context, write func(context.Context, func(*sql.Tx) error) error, group []*groupItem) {
	if len(group) > 1 {
		ctx := context.WithoutCancel(ctx)
		err := write(ctx, func(tx *sql.Tx) error {
			for _, it := range group {
				if err := it.inGroup(ctx, tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
	}
	for _, it := range group {
		it.err = it.alone()
	}
}
