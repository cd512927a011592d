package server

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRateLimit is Tencent Cloud's default: 20 requests/s per action.
const DefaultRateLimit = 20

type options struct {
	logger         *slog.Logger
	rateLimit      float64
	now            func() time.Time
	registerer     prometheus.Registerer
	health         func(context.Context) error
	handlerTimeout time.Duration
}

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		rateLimit:      DefaultRateLimit,
		now:            time.Now,
		registerer:     prometheus.NewRegistry(),
		handlerTimeout: 60 * time.Second,
	}
}

// Option configures a Server.
type Option func(*options)

// WithLogger sets the logger (one line per call: request id, action, account, code, latency).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRateLimit sets the per-account, per-action limit in requests/s (<= 0 disables it).
func WithRateLimit(perSecond float64) Option { return func(o *options) { o.rateLimit = perSecond } }

// WithClock sets the clock used for signature expiry and rate limiting (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRegisterer sets where Prometheus metrics are registered; a
// *prometheus.Registry is also served on /metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.registerer = r } }

// WithHealthCheck sets what /healthz checks (e.g. the database).
func WithHealthCheck(f func(context.Context) error) Option { return func(o *options) { o.health = f } }

// WithHandlerTimeout bounds each handler's context (0 = none).
func WithHandlerTimeout(d time.Duration) Option { return func(o *options) { o.handlerTimeout = d } }
