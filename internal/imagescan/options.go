// Package imagescan scans OCI and Docker container images for malware with
// vigil's engine, straight from a registry or from a `docker save` / OCI
// layout tarball.
//
// Layers are streamed: each blob is downloaded, decompressed (gzip, zstd or
// none) and read as a tar archive, and every regular file goes to the engine
// as a stream. Nothing is ever written to disk, so hostile entry names
// ("../x", absolute paths, links) can never touch the local file system: they
// are only normalised into in-image paths. Memory stays bounded whatever the
// layer size: a file is held in memory only while the engine judges it (up to
// the engine's size limit), and decompression runs a few MiB ahead.
//
// Whiteouts (".wh.name") and opaque directories (".wh..wh..opq") are resolved
// across layers, so by default only files present in the final image are
// reported. Each layer's result is cached under its digest, the scanner's
// EngineVersion and the rule-set version: a layer shared by several images is
// read once, and a rescan with unchanged rules costs only manifest fetches.
//
// Hostile blobs are bounded: total uncompressed bytes per layer, the
// decompression ratio (gzip/zstd bombs), a per-layer idle timeout (a registry
// that stops sending mid-layer), and the compressed digest is verified before
// a layer's result counts. Each failure class has a sentinel error.
package imagescan

import (
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// EngineVersion identifies the scanner logic in layer cache keys. Bump it
// whenever a change makes an old cached layer result wrong (how entries are
// read, normalised, counted or which files are judged).
const EngineVersion = "imagescan/1"

// Defaults, in one place.
const (
	DefaultPlatform         = "linux/amd64"
	DefaultMaxLayerBytes    = 32 << 30 // uncompressed bytes per layer
	DefaultMaxRatio         = 500      // uncompressed / compressed, checked past DefaultRatioGrace
	DefaultRatioGrace       = 64 << 20 // bytes of output before the ratio is enforced
	DefaultIdleTimeout      = 60 * time.Second
	DefaultLayerConcurrency = 3
	readaheadChunk          = 1 << 20
	readaheadChunks         = 4
)

// DefaultRetry is the backoff for 429 and 5xx answers and network flakes.
var defaultRetry = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 4}

// Option configures a Scanner.
type Option func(*config)

type config struct {
	logger           *slog.Logger
	cache            LayerCache
	progress         func(Progress)
	allPlatforms     bool
	hidden           bool
	platform         string
	maxLayerBytes    int64
	maxRatio         int64
	ratioGrace       int64
	idleTimeout      time.Duration
	layerConcurrency int
	transport        http.RoundTripper
	retry            remote.Backoff
	userAgent        string
}

func defaultConfig() config {
	return config{
		logger:           slog.New(slog.DiscardHandler),
		platform:         DefaultPlatform,
		maxLayerBytes:    DefaultMaxLayerBytes,
		maxRatio:         DefaultMaxRatio,
		ratioGrace:       DefaultRatioGrace,
		idleTimeout:      DefaultIdleTimeout,
		layerConcurrency: min(max(runtime.NumCPU(), DefaultLayerConcurrency), 8),
		retry:            defaultRetry,
		userAgent:        "vigil-imagescan",
	}
}

// WithLayerCache sets the per-layer result cache (default: none; layers
// repeated within one scan are still read once).
func WithLayerCache(c LayerCache) Option { return func(o *config) { o.cache = c } }

// WithProgress receives progress while layers are read. Calls are
// serialised, but come from the goroutines reading layers.
func WithProgress(fn func(Progress)) Option { return func(o *config) { o.progress = fn } }

// WithLogger sets where the scanner logs (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *config) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithAllPlatforms scans every platform of an index instead of only
// DefaultPlatform (or WithPlatform's).
func WithAllPlatforms(on bool) Option { return func(o *config) { o.allPlatforms = on } }

// WithHidden also reports findings on files deleted or overwritten by a
// later layer, with Hidden set.
func WithHidden(on bool) Option { return func(o *config) { o.hidden = on } }

// WithPlatform chooses the platform picked from an index ("os/arch" or
// "os/arch/variant"; default DefaultPlatform).
func WithPlatform(p string) Option {
	return func(o *config) {
		if p != "" {
			o.platform = p
		}
	}
}

// WithMaxLayerBytes caps the uncompressed bytes read from one layer.
func WithMaxLayerBytes(n int64) Option {
	return func(o *config) {
		if n > 0 {
			o.maxLayerBytes = n
		}
	}
}

// WithMaxRatio caps the decompression ratio of a layer once grace bytes have
// been produced (so small, very compressible layers are fine).
func WithMaxRatio(ratio, grace int64) Option {
	return func(o *config) {
		if ratio > 0 {
			o.maxRatio = ratio
		}
		if grace >= 0 {
			o.ratioGrace = grace
		}
	}
}

// WithIdleTimeout fails a layer whose download makes no progress for d.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *config) {
		if d > 0 {
			o.idleTimeout = d
		}
	}
}

// WithLayerConcurrency sets how many layers are read at once.
func WithLayerConcurrency(n int) Option {
	return func(o *config) {
		if n > 0 {
			o.layerConcurrency = n
		}
	}
}

// WithTransport sets the HTTP transport (default: http.DefaultTransport's
// settings; Target.Insecure switches TLS verification off on a clone).
func WithTransport(rt http.RoundTripper) Option { return func(o *config) { o.transport = rt } }

// WithRetryBackoff sets the backoff for 429/5xx answers and network errors.
func WithRetryBackoff(b remote.Backoff) Option { return func(o *config) { o.retry = b } }
