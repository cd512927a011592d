package app

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/registry"
	"github.com/vigil-sec/vigil/internal/regscan"
)

// ruleReloadInterval is how often the server looks for changed rule files.
const ruleReloadInterval = 30 * time.Second

// openWorkers builds the engine and the background parts of the server: the
// registry client and syncer, the image scan runner and the export manager.
// They start working in Serve.
func (a *App) openWorkers(ctx context.Context) error {
	opts, err := standard.Options(standard.Config{NoBuiltin: a.cfg.NoBuiltin, RuleDirs: a.cfg.Rules})
	if err != nil {
		return err
	}
	eng, err := engine.New(ctx, append(opts, engine.WithLogger(a.opts.logger))...)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if ps := eng.Problems(); engine.HasErrors(ps) {
		return fmt.Errorf("rules: %v (check them with `vigil rules check`)", ps)
	}
	a.Engine = eng
	l := a.opts.logger
	a.registryClient = registry.New(registry.WithLogger(l))
	a.syncer = registry.NewSyncer(a.Store, a.Box, a.registryClient, registry.WithSyncLogger(l), registry.WithSyncClock(a.opts.now))
	a.exports, err = export.New(a.Store, a.Box.Derive("export download URL"),
		export.WithPublicURLFunc(a.publicURL), export.WithURLLifetime(a.cfg.ExportTTL),
		export.WithLogger(l), export.WithClock(a.opts.now))
	if err != nil {
		return err
	}
	scan := regscan.ImageScan(eng, imagescan.WithLayerCache(imagescan.StoreCache(a.Store)), imagescan.WithLogger(l))
	a.scans = regscan.New(a.Store, scan, regscan.NewRegistryResolver(a.Store, a.Box),
		regscan.WithConcurrency(a.cfg.ScanWorkers), regscan.WithLogger(l), regscan.WithClock(a.opts.now))
	return nil
}

// startWorkers runs the background workers until ctx ends; wait returns
// when they all have.
func (a *App) startWorkers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				a.opts.logger.Error("background worker stopped", "worker", name, "err", err)
			}
		}()
	}
	run("image scans", a.scans.Run)
	run("exports", a.exports.Run)
	run("virus scan sweep", a.runVirusSweep)       // tcssagents.go
	run("virus scan schedule", a.runVirusSchedule) // virusschedule.go
	if a.cfg.LocalAgent {
		run("local agent", a.runLocalAgent) // localagent.go
	}
	if len(a.cfg.Rules) > 0 {
		run("rule reload", func(ctx context.Context) error {
			return a.Engine.Watch(ctx, ruleReloadInterval, func(ev engine.ReloadEvent) {
				a.opts.logger.Info("rules reloaded", "status", ev.Status.String(), "version", ev.Version, "problems", len(ev.Problems))
			})
		})
	}
	return wg.Wait
}

// publicURL is the base of the download links the server hands out: the
// configured public_url, else this server's listening address.
func (a *App) publicURL() string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	if u, ok := a.listenURL.Load().(string); ok {
		return u
	}
	return "http://" + a.cfg.Listen
}

// setListenURL records the address ln serves on, for publicURL.
func (a *App) setListenURL(ln net.Listener) {
	scheme := "http"
	if a.cfg.TLSCert != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // a wildcard listener: loopback is what surely works
	}
	a.listenURL.Store(scheme + "://" + net.JoinHostPort(strings.Trim(host, "[]"), port))
}
