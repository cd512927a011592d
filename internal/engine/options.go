package engine

import (
	"log/slog"
	"runtime"
	"time"
)

// Defaults, in one place.
const (
	DefaultMaxSize     = 64 << 20        // bytes; larger files are skipped (or only hashed)
	DefaultFileTimeout = time.Minute     // per file, all detectors together
	DefaultRacyWindow  = 2 * time.Second // see WithRacyWindow
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	logger       *slog.Logger
	kinds        []Kind
	detectors    []Detector
	sources      []Source
	maxSize      int64
	hashOversize bool
	fileTimeout  time.Duration
	concurrency  int
	cache        *Cache
	allow        *Allowlist
	now          func() time.Time
	racyWindow   time.Duration
	snapshot     string
}

func defaultConfig() config {
	return config{
		logger:      slog.New(slog.DiscardHandler),
		maxSize:     DefaultMaxSize,
		fileTimeout: DefaultFileTimeout,
		concurrency: runtime.NumCPU(),
		now:         time.Now,
		racyWindow:  DefaultRacyWindow,
	}
}

// WithLogger sets where the engine logs reloads and rejected rule sets.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithKind registers a detector kind that is built from rule files (YARA, hash
// lists). Kinds run in registration order; a rule file goes to the first kind
// that accepts its name.
func WithKind(k Kind) Option { return func(c *config) { c.kinds = append(c.kinds, k) } }

// WithDetector registers a detector that needs no rule files (heuristics).
func WithDetector(d Detector) Option { return func(c *config) { c.detectors = append(c.detectors, d) } }

// WithRules adds rule sources: the built-in pack, user directories.
func WithRules(sources ...Source) Option {
	return func(c *config) { c.sources = append(c.sources, sources...) }
}

// WithMaxSize sets the largest file that is read (default DefaultMaxSize).
// Larger files are skipped unless WithHashOversize is set.
func WithMaxSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxSize = n
		}
	}
}

// WithHashOversize makes the engine stream files above the size limit through
// the hashers when a hash list asks for their digests, instead of skipping
// them. Content detectors (YARA) still skip such files.
func WithHashOversize(on bool) Option { return func(c *config) { c.hashOversize = on } }

// WithFileTimeout bounds the time spent on one file (default DefaultFileTimeout).
func WithFileTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.fileTimeout = d
		}
	}
}

// WithConcurrency sets how many files are scanned at once (default: the number
// of CPUs). It also bounds the number of files the engine holds open: every
// scan, ScanTree's workers and direct ScanFile/Scan calls alike, takes one of
// these slots.
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithCache enables the scan cache: files unchanged since they were last
// scanned with the same rule-set version are not read again.
func WithCache(cache *Cache) Option { return func(c *config) { c.cache = cache } }

// WithAllowlist suppresses findings on allowlisted files (by hash or path).
func WithAllowlist(a *Allowlist) Option { return func(c *config) { c.allow = a } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithRacyWindow sets how recent a file's change time may be for its result to
// still be cached (default DefaultRacyWindow). File systems keep coarse
// timestamps, so a file rewritten within the same tick as the scan would keep
// its mtime and ctime; such "racily clean" results are not cached, as git does
// with its index.
func WithRacyWindow(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.racyWindow = d
		}
	}
}

// WithRuleSnapshot keeps the compiled form of the detectors (for kinds that
// implement Snapshotter, i.e. YARA) in the file at path. A later engine whose
// rule files have the same version restores them from it instead of
// validating and compiling again, which is most of the start-up time of a
// short scan; problems found by the original build are restored with them.
// The file is trusted like the rules themselves: keep it in a private
// directory.
func WithRuleSnapshot(path string) Option { return func(c *config) { c.snapshot = path } }
