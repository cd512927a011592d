package imagescan

import (
	"context"
	"time"

	"github.com/vigil-sec/vigil/internal/engine"
)

// This file is the package's contract with its callers (the registry scan
// runner, `vigil scan image`). Fields may be added; these must not change.
//
//	func New(eng *engine.Engine, opts ...Option) *Scanner
//	func (s *Scanner) ScanRemote(ctx context.Context, t Target) (*Report, error)
//	func (s *Scanner) ScanTarball(ctx context.Context, path string) (*Report, error)
//	func WithLayerCache(c LayerCache) Option
//	func WithProgress(fn func(Progress)) Option
//	func WithLogger(l *slog.Logger) Option
//	func WithAllPlatforms(on bool) Option   // default: linux/amd64 only
//	func WithHidden(on bool) Option         // also report files hidden by later layers
//	func StoreCache(s store.LayerScans) LayerCache

// Target names a remote image and how to reach it.
type Target struct {
	Ref       string // "registry.example:5000/ns/repo:tag" or "...@sha256:..."
	Username  string // empty: anonymous (or the registry's token flow)
	Password  string
	Insecure  bool // skip TLS verification
	PlainHTTP bool // talk HTTP (loopback registries are always allowed plain HTTP)
}

// Report is the outcome of scanning one image (one platform of it; with
// WithAllPlatforms, Platforms holds one report per platform scanned).
type Report struct {
	Reference    string
	Digest       string // manifest digest of the scanned platform image
	IndexDigest  string // digest of the index the image was chosen from, if any
	ImageID      string // config digest
	OS           string
	Architecture string
	Size         int64 // sum of the compressed layer sizes
	Created      time.Time
	Layers       []LayerReport
	Findings     []Finding
	Platforms    []*Report // with WithAllPlatforms: the other platforms' reports
	// Errors lists files that could not be fully judged (a detector failed
	// or timed out on them); their layers are not cached.
	Errors []FileError
}

// LayerReport says what scanning one layer cost.
type LayerReport struct {
	Digest   string
	Size     int64 // compressed
	Files    int64 // regular files judged
	Bytes    int64 // uncompressed bytes read
	Cached   bool  // served from the layer cache: not downloaded
	Skipped  int64 // regular files not judged (above the engine's size limit, allowlisted)
	Duration time.Duration
}

// Finding is a detection in an image file.
type Finding struct {
	engine.Finding        // Path is the in-image path without a leading slash ("usr/bin/x")
	LayerDigest    string // the layer holding the file
	Hidden         bool   // deleted or overwritten by a later layer (only with WithHidden)
}

// Progress is reported while an image is scanned.
type Progress struct {
	Layer      int // index of the layer being read, 0-based
	Layers     int
	Digest     string
	BytesDone  int64 // compressed bytes of this layer read so far
	BytesTotal int64
	Cached     bool
}

// LayerKey identifies a cached layer scan: the layer content and the exact
// engine and rule-set that judged it.
type LayerKey struct {
	Digest         string
	EngineVersion  string
	RulesetVersion string
}

// LayerCache stores per-layer scan results so a layer shared by several
// images, or rescanned with unchanged rules, is read once.
type LayerCache interface {
	// Get returns the cached result, or nil and no error on a miss.
	Get(ctx context.Context, k LayerKey) (*LayerResult, error)
	Put(ctx context.Context, k LayerKey, r *LayerResult) error
}

// LayerResult is what is cached per layer: its findings and whatever the
// whiteout/overwrite resolution of later layers needs (see layer.go).
type LayerResult struct {
	Files    int64
	Bytes    int64
	Findings []Finding
	// Whiteouts are the paths this layer deletes (".wh.x" entries), Opaque
	// the directories it makes opaque (".wh..wh..opq"), Paths a compact
	// fingerprint of every path it contains, so findings of lower layers
	// that this layer overwrites can be told apart.
	Whiteouts []string
	Opaque    []string
	Paths     []uint64
}
