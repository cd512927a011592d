package regscan

import (
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
)

type options struct {
	owner         string
	lease         time.Duration
	poll          time.Duration
	stopCheck     time.Duration
	progressEvery time.Duration
	concurrency   int
	maxTasks      int
	logger        *slog.Logger
	now           func() time.Time
}

// The defaults, in one place.
func defaultOptions() options {
	host, _ := os.Hostname()
	return options{
		// Unique per process: a restarted server must not mistake its
		// predecessor's claims for its own.
		owner:         host + "/" + strconv.Itoa(os.Getpid()) + "/" + uuid.NewString()[:8],
		lease:         30 * time.Second,
		poll:          5 * time.Second,
		stopCheck:     500 * time.Millisecond,
		progressEvery: time.Second,
		concurrency:   2,
		maxTasks:      2,
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:           time.Now,
	}
}

// Option configures a Runner.
type Option func(*options)

// WithOwner names this server instance in task claims (default host/pid/random).
func WithOwner(id string) Option {
	return func(o *options) {
		if id != "" {
			o.owner = id
		}
	}
}

// WithLease sets how long a claim lasts without renewal (default 30 s): a
// crashed server's tasks are taken over that long after its last renewal.
func WithLease(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lease = d
		}
	}
}

// WithPollInterval sets how often the store is asked for new tasks when
// nobody calls Wake (default 5 s).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// WithStopCheck sets how often a running task is re-read to notice a stop
// (default 500 ms).
func WithStopCheck(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.stopCheck = d
		}
	}
}

// WithProgressInterval bounds how often a target's progress is written (default 1 s).
func WithProgressInterval(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.progressEvery = d
		}
	}
}

// WithConcurrency sets how many images this server scans at once, across
// all its tasks (default 2).
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithMaxTasks sets how many tasks this server holds at once (default 2),
// so one account's large task does not hold up another's.
func WithMaxTasks(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxTasks = n
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}
