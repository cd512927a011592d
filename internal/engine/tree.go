package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/engine/fswalk"
)

// Stats summarises a ScanTree.
type Stats struct {
	Files     int           // regular files judged, from the cache or by reading them
	Cached    int           // of Files, judged from the scan cache
	Skipped   int           // not judged: not regular, too large, allowlisted path
	Errors    int           // could not be (fully) judged, directories that could not be read
	Bytes     int64         // bytes read
	Findings  int           // findings reported (after the allowlist)
	Duration  time.Duration // wall time
	Infected  int           // files with at least one finding
	TooLarge  int           // of Skipped, above the size limit
	Allowlist int           // findings dropped by a hash allowlist entry
}

// Add accumulates one result.
func (s *Stats) Add(r *Result) {
	s.Bytes += r.BytesRead
	s.Findings += len(r.Findings)
	s.Allowlist += r.Allowlisted
	if len(r.Findings) > 0 {
		s.Infected++
	}
	if r.Err != nil {
		s.Errors++
	}
	switch {
	case r.Skipped != NotSkipped:
		s.Skipped++
		if r.Skipped == SkipTooLarge {
			s.TooLarge++
		}
	case r.Err == nil || len(r.Findings) > 0:
		s.Files++
		if r.Cached {
			s.Cached++
		}
	}
}

// TreeOption configures one ScanTree call.
type TreeOption func(*treeConfig)

type treeConfig struct {
	discovered func(FileInfo)
	walkOpts   []fswalk.Option
}

// OnDiscover registers fn to be told of every regular file the walk finds,
// before it is scanned: progress bars use it to grow their totals while the
// walk runs ahead of the scanners (up to 64Ki files ahead). fn is called from
// several goroutines.
func OnDiscover(fn func(FileInfo)) TreeOption {
	return func(c *treeConfig) { c.discovered = fn }
}

// WithOneFileSystem keeps the walk on the roots' file systems.
func WithOneFileSystem(on bool) TreeOption {
	return func(c *treeConfig) { c.walkOpts = append(c.walkOpts, fswalk.WithOneFileSystem(on)) }
}

// ScanTree scans every file under roots, in parallel (the engine's
// concurrency), with one rule set for the whole walk. A root given as a symlink
// is resolved, since the caller named it; symlinks inside the trees are never
// followed. report is called for every file and every unreadable directory,
// from the calling goroutine, one at a time. ScanTree returns ctx's error if it
// was cancelled; per-file problems are in the results and the Stats.
func (e *Engine) ScanTree(ctx context.Context, roots []string, report func(*Result), opts ...TreeOption) (Stats, error) {
	start := time.Now()
	var tc treeConfig
	for _, o := range opts {
		o(&tc)
	}
	rs := e.rules.Load()
	workers := e.cfg.concurrency
	queue := 4 * workers
	if tc.discovered != nil {
		// Let the walk run ahead of the scanners so progress totals are
		// known early; bounded, so a huge tree cannot grow memory without
		// limit (64Ki entries is about 10 MB).
		queue = 1 << 16
	}
	jobs := make(chan FileInfo, queue)
	results := make(chan *Result, 4*workers)

	resolved := make([]string, 0, len(roots))
	var rootErrs []*Result
	for _, r := range roots {
		p, err := resolveRoot(r)
		if err != nil {
			rootErrs = append(rootErrs, &Result{Info: FileInfo{Path: r}, Err: err})
			continue
		}
		resolved = append(resolved, p)
	}

	var walkErr error
	go func() {
		defer close(jobs)
		walkErr = fswalk.Walk(ctx, resolved, func(ent fswalk.Entry) error {
			var res *Result
			switch {
			case ent.Err != nil:
				res = &Result{Info: FileInfo{Path: ent.Path}, Err: ent.Err}
			case ent.Stat == nil: // not a regular file
				res = &Result{Info: FileInfo{Path: ent.Path, Mode: ent.Type}, Skipped: SkipNotRegular}
			default:
				info := statInfo(ent.Path, ent.Stat)
				if tc.discovered != nil {
					tc.discovered(info)
				}
				// Cache hits and skips are settled here, without a hop
				// through the workers: on an unchanged tree that is the
				// whole scan.
				if res = e.quickJudge(rs, info); res == nil {
					select {
					case jobs <- info:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			select {
			case results <- res:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, append([]fswalk.Option{fswalk.WithWorkers(min(workers, 4))}, tc.walkOpts...)...)
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for info := range jobs {
				if ctx.Err() != nil {
					continue // cancelled: drain, do not report every queued file as failed
				}
				res := e.readAndJudge(ctx, rs, info)
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	var st Stats
	for _, res := range rootErrs {
		st.Add(res)
		report(res)
	}
	for res := range results {
		st.Add(res)
		report(res)
	}
	st.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if walkErr != nil && !errors.Is(walkErr, context.Canceled) {
		return st, walkErr
	}
	return st, nil
}

// resolveRoot follows a symlink named as a root and checks the root exists.
// A symlinked directory is walked as "link/." so the findings keep the name the
// user gave; a symlinked file is replaced by its target.
func resolveRoot(p string) (string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		return p, nil
	}
	target, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if target.IsDir() {
		return p + string(os.PathSeparator) + ".", nil
	}
	return filepath.EvalSymlinks(p)
}
