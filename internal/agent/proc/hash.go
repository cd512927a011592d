package proc

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultHashCacheEntries bounds a HashCache made with NewHashCache(0).
const DefaultHashCacheEntries = 16 << 10

// Digests of one executable.
type Digests struct {
	MD5, SHA256 string
}

// HashCache remembers the digests of executables by FileID, so an unchanged
// binary is never hashed twice however many processes run it. Safe for
// concurrent use; bounded, evicting a random entry when full.
type HashCache struct {
	mu      sync.Mutex
	max     int
	m       map[FileID]Digests
	hits    uint64
	misses  uint64
	hashing map[FileID]*sync.WaitGroup // single flight: one hash per binary at a time
}

// NewHashCache returns a cache of at most maxEntries binaries
// (DefaultHashCacheEntries when maxEntries <= 0).
func NewHashCache(maxEntries int) *HashCache {
	if maxEntries <= 0 {
		maxEntries = DefaultHashCacheEntries
	}
	return &HashCache{max: maxEntries, m: map[FileID]Digests{}, hashing: map[FileID]*sync.WaitGroup{}}
}

// Stats returns the cache's hits and misses (hashes computed).
func (c *HashCache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len returns the number of cached binaries.
func (c *HashCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// digest returns the digests of the file id, opening it with open on a miss.
// The opened file must still have id's identity, else it changed under us and
// nothing is cached.
func (c *HashCache) digest(id FileID, maxSize int64, open func() (int, error)) (Digests, error) {
	for {
		c.mu.Lock()
		if d, ok := c.m[id]; ok {
			c.hits++
			c.mu.Unlock()
			return d, nil
		}
		wg, busy := c.hashing[id]
		if !busy {
			wg = &sync.WaitGroup{}
			wg.Add(1)
			c.hashing[id] = wg
			c.misses++
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
		wg.Wait() // another goroutine hashes this binary; then look again
	}
	d, err := hashFile(id, maxSize, open)
	c.mu.Lock()
	wg := c.hashing[id]
	delete(c.hashing, id)
	if err == nil {
		if len(c.m) >= c.max {
			for k := range c.m {
				delete(c.m, k)
				break
			}
		}
		c.m[id] = d
	}
	c.mu.Unlock()
	wg.Done()
	return d, err
}

func hashFile(id FileID, maxSize int64, open func() (int, error)) (Digests, error) {
	if id.Size > maxSize {
		return Digests{}, fmt.Errorf("executable of %d bytes is above the hash limit %d", id.Size, maxSize)
	}
	fd, err := open()
	if err != nil {
		return Digests{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Digests{}, err
	}
	if fileID(&st) != id {
		return Digests{}, fmt.Errorf("executable changed while hashing")
	}
	m, s := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(m, s), &fdReader{fd: fd}); err != nil {
		return Digests{}, err
	}
	if err := unix.Fstat(fd, &st); err != nil || fileID(&st) != id {
		return Digests{}, fmt.Errorf("executable changed while hashing")
	}
	return Digests{MD5: hex.EncodeToString(m.Sum(nil)), SHA256: hex.EncodeToString(s.Sum(nil))}, nil
}

type fdReader struct{ fd int }

func (r *fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(r.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
