package export

import (
	"io"
	"log/slog"
	"time"
)

type options struct {
	publicURL     func() string
	prefix        string
	urlTTL        time.Duration
	retention     time.Duration
	syncWait      time.Duration
	jobTimeout    time.Duration
	cleanupEvery  time.Duration
	progressEvery time.Duration
	maxBytes      int64
	format        Format
	logger        *slog.Logger
	now           func() time.Time
}

// The defaults, in one place.
func defaultOptions() options {
	return options{
		publicURL:     func() string { return "http://127.0.0.1:9750" },
		prefix:        "/exports/",
		urlTTL:        time.Hour,
		retention:     24 * time.Hour,
		syncWait:      2 * time.Second,
		jobTimeout:    10 * time.Minute,
		cleanupEvery:  10 * time.Minute,
		progressEvery: time.Second,
		maxBytes:      256 << 20,
		format:        XLSX,
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:           time.Now,
	}
}

// Option configures a Manager.
type Option func(*options)

// WithPublicURL sets the scheme://host[:port] clients reach the server at;
// download URLs start with it (default http://127.0.0.1:9750).
func WithPublicURL(u string) Option {
	return func(o *options) {
		if u != "" {
			o.publicURL = func() string { return u }
		}
	}
}

// WithPublicURLFunc is WithPublicURL for a base known only once the server
// listens (a configured ":0" port): fn is called for every URL.
func WithPublicURLFunc(fn func() string) Option {
	return func(o *options) {
		if fn != nil {
			o.publicURL = fn
		}
	}
}

// WithPathPrefix sets the path the Handler is mounted at (default "/exports/").
func WithPathPrefix(p string) Option {
	return func(o *options) {
		if p != "" {
			if p[len(p)-1] != '/' {
				p += "/"
			}
			o.prefix = p
		}
	}
}

// WithURLLifetime sets how long a download URL stays valid (default 1 h).
func WithURLLifetime(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.urlTTL = d
		}
	}
}

// WithRetention sets how long a job and its file are kept (default 24 h).
func WithRetention(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retention = d
		}
	}
}

// WithSyncWait sets how long Start waits for the file before answering
// with a RUNNING job (default 2 s; 0: never wait).
func WithSyncWait(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.syncWait = d
		}
	}
}

// WithJobTimeout bounds one export (default 10 min).
func WithJobTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.jobTimeout = d
		}
	}
}

// WithCleanupInterval sets how often expired jobs are deleted (default 10 min).
func WithCleanupInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.cleanupEvery = d
		}
	}
}

// WithMaxBytes bounds the size of one export file (default 256 MiB).
func WithMaxBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBytes = n
		}
	}
}

// WithFormat sets the stored file format (default XLSX, as Tencent's
// exports; the download converts to CSV with ?format=csv).
func WithFormat(f Format) Option {
	return func(o *options) {
		if f == XLSX || f == CSV {
			o.format = f
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
