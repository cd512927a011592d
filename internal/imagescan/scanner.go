package imagescan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Scanner scans images with one engine. It is safe for concurrent use.
type Scanner struct {
	eng *engine.Engine
	cfg config
	pmu sync.Mutex // serialises progress calls
}

// New returns a scanner judging files with eng.
func New(eng *engine.Engine, opts ...Option) *Scanner {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return &Scanner{eng: eng, cfg: cfg}
}

// imageSource is one platform image to scan, whatever it came from.
type imageSource struct {
	reference, digest, indexDigest, imageID string
	os, arch                                string
	created                                 time.Time
	layers                                  []layerStream
}

// scanImage reads the layers of src (from the cache where possible) and
// resolves whiteouts. memo holds the layer results of this call, so layers
// shared by the platforms of one index are read once even without a cache.
func (s *Scanner) scanImage(ctx context.Context, src *imageSource, memo *sync.Map) (*Report, error) {
	rsVersion := s.eng.RuleSet().Version()
	rep := &Report{
		Reference: src.reference, Digest: src.digest, IndexDigest: src.indexDigest, ImageID: src.imageID,
		OS: src.os, Architecture: src.arch, Created: src.created,
		Layers: make([]LayerReport, len(src.layers)),
	}
	results := make([]*LayerResult, len(src.layers))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.layerConcurrency)
	// Layers with the same digest in one image are read once: the first
	// occurrence does the work, the others wait for it.
	type once struct {
		done chan struct{}
		res  *LayerResult
		err  error
	}
	for i, ls := range src.layers {
		rep.Size += ls.size
		rep.Layers[i] = LayerReport{Digest: ls.digest, Size: ls.size}
		v, loaded := memo.LoadOrStore(ls.digest, &once{done: make(chan struct{})})
		o := v.(*once)
		if loaded {
			g.Go(func() error {
				select {
				case <-o.done:
				case <-gctx.Done():
					return gctx.Err()
				}
				if o.err != nil {
					return o.err
				}
				mu.Lock()
				results[i] = o.res
				rep.Layers[i].Cached = true
				rep.Layers[i].Files, rep.Layers[i].Bytes = o.res.Files, o.res.Bytes
				mu.Unlock()
				return nil
			})
			continue
		}
		g.Go(func() (err error) {
			defer func() {
				o.err = err
				close(o.done)
			}()
			key := LayerKey{Digest: ls.digest, EngineVersion: EngineVersion, RulesetVersion: rsVersion}
			if s.cfg.cache != nil {
				r, err := s.cfg.cache.Get(gctx, key)
				if err != nil {
					s.cfg.logger.LogAttrs(gctx, slog.LevelWarn, "layer cache read failed",
						slog.String("layer", ls.digest), slog.String("error", err.Error()))
				} else if r != nil {
					o.res = r
					mu.Lock()
					results[i] = r
					rep.Layers[i].Cached = true
					rep.Layers[i].Files, rep.Layers[i].Bytes = r.Files, r.Bytes
					mu.Unlock()
					s.progress(Progress{Layer: i, Layers: len(src.layers), Digest: ls.digest,
						BytesDone: ls.size, BytesTotal: ls.size, Cached: true})
					return nil
				}
			}
			out, err := s.scanLayer(gctx, ls, func(done int64) {
				s.progress(Progress{Layer: i, Layers: len(src.layers), Digest: ls.digest,
					BytesDone: done, BytesTotal: ls.size})
			})
			if err != nil {
				return fmt.Errorf("layer %d (%s): %w", i, ls.digest, err)
			}
			for j := range out.errs {
				out.errs[j].LayerDigest = ls.digest
			}
			o.res = out.res
			mu.Lock()
			results[i] = out.res
			rep.Layers[i].Files, rep.Layers[i].Bytes = out.res.Files, out.res.Bytes
			rep.Layers[i].Skipped, rep.Layers[i].Duration = out.skipped, out.duration
			rep.Errors = append(rep.Errors, out.errs...)
			mu.Unlock()
			s.cfg.logger.LogAttrs(gctx, slog.LevelDebug, "layer scanned", slog.String("layer", ls.digest),
				slog.Int64("files", out.res.Files), slog.Int64("bytes", out.res.Bytes),
				slog.Int("findings", len(out.res.Findings)), slog.Duration("took", out.duration))
			// A layer with files that could not be judged is not cached: a
			// later scan must try them again.
			if s.cfg.cache != nil && len(out.errs) == 0 {
				if err := s.cfg.cache.Put(gctx, key, out.res); err != nil {
					s.cfg.logger.LogAttrs(gctx, slog.LevelWarn, "layer cache write failed",
						slog.String("layer", ls.digest), slog.String("error", err.Error()))
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	rep.Findings = resolve(results, src.layers, s.cfg.hidden)
	slices.SortFunc(rep.Errors, func(a, b FileError) int { return strings.Compare(a.Path, b.Path) })
	return rep, nil
}

func (s *Scanner) progress(p Progress) {
	if s.cfg.progress == nil {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.cfg.progress(p)
}

// upper is what a layer does to the layers below it.
type upper struct {
	paths     []uint64
	whiteouts map[string]bool
	opaque    []string
}

// hides reports whether the layer deletes or replaces the lower file p.
func (u *upper) hides(p string) bool {
	if _, ok := slices.BinarySearch(u.paths, pathHash(p)); ok {
		return true
	}
	for q := p; q != "." && q != "/" && q != ""; q = path.Dir(q) {
		if u.whiteouts[q] { // the file or one of its directories was deleted
			return true
		}
	}
	for _, d := range u.opaque {
		if d == "" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// resolve applies each layer's whiteouts, opaque directories and
// overwrites to the findings of the layers below it. A directory entry in an
// upper layer does not hide the files under it; only a whiteout or opaque
// marker does, as in the overlay file system.
func resolve(results []*LayerResult, layers []layerStream, withHidden bool) []Finding {
	uppers := make([]upper, len(results))
	for i, r := range results {
		u := upper{paths: r.Paths, opaque: r.Opaque, whiteouts: make(map[string]bool, len(r.Whiteouts))}
		for _, w := range r.Whiteouts {
			u.whiteouts[w] = true
		}
		uppers[i] = u
	}
	var out []Finding
	for i, r := range results {
		for _, f := range r.Findings {
			f.Tags = slices.Clone(f.Tags)
			f.LayerDigest = layers[i].digest
			for j := i + 1; j < len(results) && !f.Hidden; j++ {
				f.Hidden = uppers[j].hides(f.Path)
			}
			if !f.Hidden || withHidden {
				out = append(out, f)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out
}

// classify wraps registry and stream errors in the package's sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrUnauthorized, ErrNotFound, ErrUnsupported, ErrLayerTooLarge, ErrCompressionRatio,
		ErrIdleTimeout, ErrDigestMismatch, ErrNoPlatform} {
		if errors.Is(err, s) {
			return err
		}
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w (HTTP %d): %w", ErrUnauthorized, te.StatusCode, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w (HTTP 404): %w", ErrNotFound, err)
		}
		return err
	}
	// ggcr's digest check (internal/verify) has no exported type.
	if strings.Contains(err.Error(), "error verifying") {
		return fmt.Errorf("%w: %w", ErrDigestMismatch, err)
	}
	return err
}
