package engine

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// DefaultCacheEntries bounds an in-memory cache made with NewCache(0): about
// 50 MB at worst (an entry is a path, a few integers and, rarely, findings).
const DefaultCacheEntries = 256 << 10

// cacheFormat versions the on-disk layout; a file of another format is
// ignored, not misread.
const cacheFormat = 1

// Cache remembers verdicts by path. An entry is valid while the file keeps its
// device, inode, size, mtime and ctime and the rule set keeps its version; so
// an unchanged file is judged again without being opened. Safe for concurrent
// use.
//
// The cache is bounded: when full, storing a new path evicts a random entry
// (Go's map iteration order), which costs one rescan and needs no bookkeeping
// on the hot lookup path.
type Cache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cacheEntry
	dirty   bool // stored to since the last Load or Save
}

type cacheEntry struct {
	Dev, Ino     uint64
	Size         int64
	MTime, CTime int64 // UnixNano
	Version      string
	Type         FileType
	Findings     []Finding
}

// NewCache returns an empty cache holding at most maxEntries paths
// (DefaultCacheEntries when maxEntries <= 0).
func NewCache(maxEntries int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &Cache{max: maxEntries, entries: make(map[string]*cacheEntry)}
}

// Len returns the number of cached paths.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) lookup(info *FileInfo, version string) (*cacheEntry, bool) {
	if info.Dev == 0 && info.Ino == 0 {
		return nil, false
	}
	c.mu.Lock()
	ent, ok := c.entries[info.Path]
	c.mu.Unlock()
	if !ok || ent.Version != version || ent.Dev != info.Dev || ent.Ino != info.Ino ||
		ent.Size != info.Size || ent.MTime != info.ModTime.UnixNano() || ent.CTime != info.ChangeTime.UnixNano() {
		return nil, false
	}
	return ent, true
}

func (c *Cache) store(info *FileInfo, version string, typ FileType, findings []Finding) {
	if info.Dev == 0 && info.Ino == 0 {
		return
	}
	ent := &cacheEntry{
		Dev: info.Dev, Ino: info.Ino, Size: info.Size,
		MTime: info.ModTime.UnixNano(), CTime: info.ChangeTime.UnixNano(),
		Version: version, Type: typ, Findings: cloneFindings(findings),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[info.Path]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[info.Path] = ent
	c.dirty = true
}

// Dirty reports whether entries were stored since the cache was last loaded
// or saved: a pass where every file hit the cache need not be saved.
func (c *Cache) Dirty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirty
}

type cacheFile struct {
	Format  int
	Paths   []string
	Entries []cacheEntry
}

// Save writes the cache to path atomically (a temporary file renamed over it),
// creating the directory if needed.
func (c *Cache) Save(path string) error {
	c.mu.Lock()
	cf := cacheFile{Format: cacheFormat, Paths: make([]string, 0, len(c.entries)), Entries: make([]cacheEntry, 0, len(c.entries))}
	for p, ent := range c.entries {
		cf.Paths = append(cf.Paths, p)
		cf.Entries = append(cf.Entries, *ent)
	}
	c.dirty = false
	c.mu.Unlock()

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save scan cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save scan cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := gob.NewEncoder(w).Encode(&cf); err != nil {
		tmp.Close()
		return fmt.Errorf("save scan cache: %w", err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("save scan cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save scan cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save scan cache: %w", err)
	}
	return nil
}

// Load merges the entries saved at path into the cache. A missing file is not
// an error (first run); an unreadable or corrupt one is, and leaves the cache
// as it was.
func (c *Cache) Load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load scan cache: %w", err)
	}
	defer f.Close()
	var cf cacheFile
	if err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&cf); err != nil {
		return fmt.Errorf("load scan cache %s: %w", path, err)
	}
	if cf.Format != cacheFormat {
		return fmt.Errorf("load scan cache %s: format %d, want %d", path, cf.Format, cacheFormat)
	}
	if len(cf.Paths) != len(cf.Entries) {
		return fmt.Errorf("load scan cache %s: corrupt (%d paths, %d entries)", path, len(cf.Paths), len(cf.Entries))
	}
	versions := map[string]string{} // share one string per version
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range cf.Entries {
		ent := &cf.Entries[i]
		if v, ok := versions[ent.Version]; ok {
			ent.Version = v
		} else {
			versions[ent.Version] = ent.Version
		}
		if _, ok := c.entries[cf.Paths[i]]; !ok && len(c.entries) >= c.max {
			break
		}
		c.entries[cf.Paths[i]] = ent
	}
	return nil
}
