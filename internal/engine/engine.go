// Package engine judges files: it runs detectors (YARA rules, hash lists, file
// heuristics) over a file given by path or as a stream, and reports findings in
// the shape Tencent Cloud's malware APIs use.
//
// Detectors register through options (WithKind for rule-file driven ones,
// WithDetector for fixed ones). The rule files come from Sources; the compiled
// result is an immutable RuleSet that Reload replaces atomically, keeping the
// previous set when the new files have errors.
//
// The engine protects the host it runs on: it never follows symlinks while
// walking, never opens anything but regular files (FIFOs, sockets and devices
// are skipped, and a file swapped for one between lstat and open is caught by
// re-checking the open descriptor), bounds file size, time per file and the
// number of open files, and treats files that vanish or change mid-scan as
// per-file errors.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Engine scans files. It is safe for concurrent use.
type Engine struct {
	cfg   config
	rules atomic.Pointer[RuleSet]
	slots chan struct{} // one per file being scanned: bounds open files
	bufs  sync.Pool     // *[]byte of smallFileSize, for reading small files

	reloadMu   sync.Mutex
	rejectedFP string    // fingerprint of the last rejected rule files
	lastLoad   []Problem // problems of the last load attempt
}

// New builds an engine and loads its rules. Problems in rule files do not fail
// New: the set holds whatever loaded, and Problems lists the rest. New fails on
// invalid options, a kind that cannot build at all, or ctx ending.
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	seen := map[string]bool{}
	for _, name := range kindAndDetectorNames(cfg) {
		if seen[name] {
			return nil, fmt.Errorf("engine: two detectors named %q", name)
		}
		seen[name] = true
	}
	e := &Engine{cfg: cfg, slots: make(chan struct{}, cfg.concurrency)}
	rs, err := loadRuleSet(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	sortProblems(rs.problems)
	e.rules.Store(rs)
	e.lastLoad = rs.problems
	return e, nil
}

func kindAndDetectorNames(cfg config) []string {
	var names []string
	for _, d := range cfg.detectors {
		names = append(names, d.Name())
	}
	for _, k := range cfg.kinds {
		names = append(names, k.Name())
	}
	return names
}

// RuleSet returns the active rule set.
func (e *Engine) RuleSet() *RuleSet { return e.rules.Load() }

// Problems returns the problems of the most recent load attempt (which may be a
// rejected reload; the active set's own problems are in RuleSet().Problems()).
func (e *Engine) Problems() []Problem {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return slices.Clone(e.lastLoad)
}

// ReloadStatus is the outcome of a Reload.
type ReloadStatus int

// Reload outcomes.
const (
	ReloadUnchanged ReloadStatus = iota // rule files unchanged since the last load
	ReloadApplied                       // a new rule set is active
	ReloadRejected                      // the new files have errors: the previous set stays active
)

func (s ReloadStatus) String() string {
	switch s {
	case ReloadApplied:
		return "applied"
	case ReloadRejected:
		return "rejected"
	}
	return "unchanged"
}

// Reload re-reads the rule sources if their files changed (by name, size,
// mtime, ctime and inode) and activates the new set. When the new files have
// errors the previous set stays active, the problems are returned, and the
// same broken files are not rebuilt again until they change.
func (e *Engine) Reload(ctx context.Context) (ReloadStatus, []Problem, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	cur := e.rules.Load()
	fp := fingerprint(e.cfg.kinds, e.cfg.sources)
	if fp == cur.fingerprint || fp == e.rejectedFP {
		return ReloadUnchanged, nil, nil
	}
	rs, err := loadRuleSet(ctx, &e.cfg)
	if err != nil {
		return ReloadUnchanged, nil, err
	}
	sortProblems(rs.problems)
	e.lastLoad = rs.problems
	if HasErrors(rs.problems) {
		e.rejectedFP = fp
		e.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "rule reload rejected: keeping the previous rule set",
			slog.String("active_version", cur.version), slog.Int("problems", len(rs.problems)))
		return ReloadRejected, rs.problems, nil
	}
	e.rejectedFP = ""
	e.rules.Store(rs)
	e.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "rules reloaded",
		slog.String("version", rs.version), slog.Int("files", rs.files))
	return ReloadApplied, rs.problems, nil
}

// ReloadEvent reports one Reload done by Watch that did something.
type ReloadEvent struct {
	Status   ReloadStatus
	Version  string // the active version afterwards
	Problems []Problem
	Err      error
}

// Watch polls the rule sources every interval and reloads on change, until ctx
// ends. Polling compares file metadata only, so it is cheap enough to run every
// few seconds. report, if not nil, is called after each reload that applied,
// was rejected or failed.
func (e *Engine) Watch(ctx context.Context, interval time.Duration, report func(ReloadEvent)) error {
	if interval <= 0 {
		return errors.New("engine: watch interval must be positive")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		status, problems, err := e.Reload(ctx)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			e.cfg.logger.LogAttrs(ctx, slog.LevelError, "rule reload failed", slog.String("error", err.Error()))
		}
		if report != nil && (status != ReloadUnchanged || err != nil) {
			report(ReloadEvent{Status: status, Version: e.RuleSet().Version(), Problems: problems, Err: err})
		}
	}
}
