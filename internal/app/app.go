// Package app wires vigil's server together: configuration, store, master
// key, bootstrap of the default account, API handlers and the HTTP listener.
// `vigil server` and the integration tests run the same code.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/api/spec"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/registry"
	"github.com/vigil-sec/vigil/internal/regscan"
	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/server"
	cwpsvc "github.com/vigil-sec/vigil/internal/service/cwp"
	tcsssvc "github.com/vigil-sec/vigil/internal/service/tcss"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/backend"
)

// DefaultAccount is the account created on first start.
const DefaultAccount = "default"

// Environment variables read at bootstrap.
const (
	EnvAdminSecretID  = "VIGIL_ADMIN_SECRET_ID"
	EnvAdminSecretKey = "VIGIL_ADMIN_SECRET_KEY"
)

// AdminKeyFile is where a generated admin key is written, in the data directory.
const AdminKeyFile = "admin-key"

// App is a running server's parts.
type App struct {
	cfg      config.Server
	opts     options
	Store    store.Store
	Box      *secrets.Box
	registry *prometheus.Registry
	api      *server.Server

	// Engine judges files for the image scanner (and the local agent).
	Engine *engine.Engine

	registryClient *registry.Client
	syncer         *registry.Syncer
	scans          *regscan.Runner
	exports        *export.Manager
	listenURL      atomic.Value // string: scheme://host:port of the listener

	// Agents serves the agent protocol (/agent/v1/) and queues commands
	// for agents (Agents.Enqueue).
	Agents *agentapi.Handler
}

type options struct {
	logger  *slog.Logger
	environ []string
	now     func() time.Time
}

// Option configures Open.
type Option func(*options)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithEnviron sets the environment read for secrets (os.Environ() form).
func WithEnviron(env []string) Option { return func(o *options) { o.environ = env } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func getenv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// OpenStore opens the configured store: PostgreSQL when cfg.Database is set,
// SQLite in cfg.Data otherwise.
func OpenStore(ctx context.Context, cfg config.Server) (store.Store, error) {
	target := cfg.Database
	if target == "" {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return nil, err
		}
		target = cfg.Data
	}
	return backend.Open(ctx, target)
}

// OpenBox loads (or on first use creates) the master key.
func OpenBox(cfg config.Server, environ []string) (*secrets.Box, bool, error) {
	path := cfg.MasterKey
	if path == "" {
		path = filepath.Join(cfg.Data, "master.key")
	}
	key, created, err := secrets.LoadOrCreateKey(getenv(environ, secrets.EnvMasterKey), path)
	if err != nil {
		return nil, false, err
	}
	box, err := secrets.New(key)
	return box, created, err
}

// Open opens the store, loads the master key, bootstraps the default account
// and builds the API server.
func Open(ctx context.Context, cfg config.Server, opts ...Option) (*App, error) {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	box, created, err := OpenBox(cfg, o.environ)
	if err != nil {
		return nil, err
	}
	if created {
		o.logger.Info("created a new master key", "path", filepath.Join(cfg.Data, "master.key"))
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	a := &App{cfg: cfg, opts: o, Store: st, Box: box, registry: prometheus.NewRegistry()}
	if err := a.bootstrap(ctx); err != nil {
		st.Close()
		return nil, err
	}
	loc := time.Local
	if cfg.TimeZone != "" {
		loc, _ = time.LoadLocation(cfg.TimeZone) // validated by cfg.Validate
	}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.openWorkers(ctx); err != nil {
		st.Close()
		return nil, err
	}
	mux := server.NewMux(schema{cwp.Schema()}, schema{tcss.Schema()})
	cwpsvc.Register(mux, cwpsvc.Deps{Store: st, Location: loc, Now: o.now, Exports: a.exports, Agents: cwpAgents{a}})
	tcsssvc.Register(mux, tcsssvc.Deps{
		Store:      st,
		Now:        o.now,
		Box:        box,
		Registries: a.registryClient,
		Syncer:     a.syncer,
		WakeScans:  a.scans.Wake,
		Exports:    a.exports,
		Virus:      a.virusAgents(), // tcssagents.go
	})
	a.api = server.New(mux, newKeyLookup(st, box, o.now),
		server.WithLogger(o.logger), server.WithRateLimit(cfg.RateLimit), server.WithClock(o.now),
		server.WithRegisterer(a.registry),
		server.WithHealthCheck(func(ctx context.Context) error {
			_, err := st.GetAccountByName(ctx, DefaultAccount)
			return err
		}))
	// --- agent protocol (internal/agentapi) ---
	a.Agents = agentapi.NewHandler(st, append([]agentapi.Option{agentapi.WithLogger(o.logger), agentapi.WithClock(o.now),
		agentapi.WithRegisterer(a.registry)}, append(a.riskEventOptions(), a.virusEventOptions()...)...)...) // hooks: cwpevents.go, tcssagents.go
	if err := a.seedThreats(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("threat catalog: %w", err)
	}
	if err := a.bootstrapAgentToken(ctx); err != nil {
		st.Close()
		return nil, err
	}
	// --- end agent protocol ---
	return a, nil
}

// EnvAgentToken sets the default account's agent enrollment token.
const EnvAgentToken = "VIGIL_AGENT_TOKEN"

// bootstrapAgentToken installs VIGIL_AGENT_TOKEN for the default account
// (idempotent: every start, every server of a cluster).
func (a *App) bootstrapAgentToken(ctx context.Context) error {
	tok := getenv(a.opts.environ, EnvAgentToken)
	if tok == "" {
		return nil
	}
	acct, err := a.Store.GetAccountByName(ctx, DefaultAccount)
	if err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	installed, err := agentapi.EnsureToken(ctx, a.Store, acct.ID, tok, "from "+EnvAgentToken, a.opts.now())
	if err != nil {
		return fmt.Errorf("%s: %w", EnvAgentToken, err)
	}
	if installed {
		a.opts.logger.Info("agent enrollment token from the environment installed", "account", DefaultAccount)
	}
	return nil
}

// bootstrap creates the default account and its admin key on first start.
func (a *App) bootstrap(ctx context.Context) error {
	acct, err := a.Store.GetAccountByName(ctx, DefaultAccount)
	if errors.Is(err, store.ErrNotFound) {
		acct, err = a.Store.CreateAccount(ctx, DefaultAccount)
		if errors.Is(err, store.ErrConflict) { // another server created it meanwhile
			acct, err = a.Store.GetAccountByName(ctx, DefaultAccount)
		}
	}
	if err != nil {
		return fmt.Errorf("default account: %w", err)
	}
	id, key := getenv(a.opts.environ, EnvAdminSecretID), getenv(a.opts.environ, EnvAdminSecretKey)
	if (id == "") != (key == "") {
		return fmt.Errorf("set both %s and %s, or neither", EnvAdminSecretID, EnvAdminSecretKey)
	}
	if id != "" {
		k, err := a.Store.GetAPIKey(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if _, err := ImportKey(ctx, a.Store, a.Box, acct.ID, store.RoleAdmin, id, key, "from "+EnvAdminSecretID); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("admin key: %w", err)
			}
			a.opts.logger.Info("admin key from the environment installed", "secret_id", id)
		case err != nil:
			return fmt.Errorf("admin key: %w", err)
		default:
			plain, err := a.Box.Open(k.SecretKeyEnc, []byte(k.SecretID))
			if err != nil || string(plain) != key || k.AccountID != acct.ID {
				return fmt.Errorf("%s %s already exists with another SecretKey or account: disable it or choose another id", EnvAdminSecretID, id)
			}
		}
		return nil
	}
	keys, err := a.Store.ListAPIKeys(ctx, acct.ID)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return nil
	}
	path := filepath.Join(a.cfg.Data, AdminKeyFile)
	if err := os.MkdirAll(a.cfg.Data, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the generated admin key: %w", err)
	}
	k, secret, err := CreateKey(ctx, a.Store, a.Box, acct.ID, store.RoleAdmin, "generated at first start")
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("admin key: %w", err)
	}
	_, werr := fmt.Fprintf(f, "SecretId=%s\nSecretKey=%s\n", k.SecretID, secret)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	a.opts.logger.Warn("generated the admin key; it is shown nowhere else", "file", path, "secret_id", k.SecretID)
	return nil
}

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler {
	return a.api.Handler(map[string]http.Handler{
		"/agent/v1/":         a.Agents,
		"GET /exports/":      a.exports.Handler(),
		registry.WebhookPath: registry.NewWebhookHandler(a.Store, a.scans.Wake, a.opts.logger),
	})
}

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.opts.logger.Handler(), slog.LevelWarn),
	}
	if a.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	a.setListenURL(ln)
	wctx, stopWorkers := context.WithCancel(ctx)
	waitWorkers := a.startWorkers(wctx)
	defer func() { stopWorkers(); waitWorkers() }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.opts.logger.Info("serving", "addr", ln.Addr().String(), "tls", a.cfg.TLSCert != "", "store", a.storeKind())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Agents.Shutdown() // end agents' long polls, which would hold the shutdown
	a.opts.logger.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServe listens on the configured address and serves until ctx ends.
func (a *App) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

func (a *App) storeKind() string {
	if a.cfg.Database != "" {
		return "postgres"
	}
	return "sqlite " + a.cfg.Data
}

// schema adapts a generated spec.Schema to server.Spec.
type schema struct{ *spec.Schema }

func (s schema) HasAction(name string) bool {
	_, ok := s.Action(name)
	return ok
}

// Close closes the store.
func (a *App) Close() error {
	a.syncer.Close()
	return a.Store.Close()
}
