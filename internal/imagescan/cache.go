package imagescan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// MemCache is an in-memory LayerCache (tests, one CLI run).
type MemCache struct {
	mu sync.Mutex
	m  map[LayerKey][]byte
}

// NewMemCache returns an empty in-memory cache.
func NewMemCache() *MemCache { return &MemCache{m: map[LayerKey][]byte{}} }

// Get implements LayerCache. Results are stored encoded, so callers never
// share (and can never modify) a cached result.
func (c *MemCache) Get(_ context.Context, k LayerKey) (*LayerResult, error) {
	c.mu.Lock()
	b, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return decodeResult(b)
}

// Put implements LayerCache.
func (c *MemCache) Put(_ context.Context, k LayerKey, r *LayerResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.m[k] = b
	c.mu.Unlock()
	return nil
}

// Len returns the number of cached layers.
func (c *MemCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func decodeResult(b []byte) (*LayerResult, error) {
	var r LayerResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("layer cache entry: %w", err)
	}
	return &r, nil
}

type storeCache struct{ s store.LayerScans }

// StoreCache keeps layer results in the store (shared by every server of a
// cluster); the LayerResult is JSON in LayerScan.Findings.
func StoreCache(s store.LayerScans) LayerCache { return storeCache{s} }

func (c storeCache) Get(ctx context.Context, k LayerKey) (*LayerResult, error) {
	ls, err := c.s.GetLayerScan(ctx, k.Digest, k.EngineVersion, k.RulesetVersion)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeResult(ls.Findings)
}

func (c storeCache) Put(ctx context.Context, k LayerKey, r *LayerResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.s.PutLayerScan(ctx, store.LayerScan{LayerDigest: k.Digest, EngineVersion: k.EngineVersion,
		RulesetVersion: k.RulesetVersion, ScannedAt: time.Now().UTC(), FileCount: r.Files,
		BytesScanned: r.Bytes, Findings: b})
}

// DirCache is a LayerCache of one JSON file per layer in a directory (the
// CLI's persistent cache). Entries of other rule or engine versions are
// simply not found; delete the directory to reclaim space.
type DirCache struct{ dir string }

// NewDirCache creates dir (0700) if needed.
func NewDirCache(dir string) (*DirCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	return &DirCache{dir: dir}, nil
}

func (c *DirCache) file(k LayerKey) string {
	sum := sha256.Sum256([]byte(k.Digest + "\x00" + k.EngineVersion + "\x00" + k.RulesetVersion))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:16])+".json")
}

// Get implements LayerCache.
func (c *DirCache) Get(_ context.Context, k LayerKey) (*LayerResult, error) {
	b, err := os.ReadFile(c.file(k))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	return decodeResult(b)
}

// Put implements LayerCache: written to a temporary file and renamed, so a
// reader never sees half an entry.
func (c *DirCache) Put(_ context.Context, k LayerKey, r *LayerResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("layer cache: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("layer cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.file(k)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("layer cache: %w", err)
	}
	return nil
}
