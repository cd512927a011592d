package fswatch

import (
	"sync"
	"time"
)

// seenCache remembers the last files delivered (device, inode → ctime and
// size), FIFO-bounded, so that a catch-up rescan skips a file already
// delivered and unchanged since: under a burst, the rescan window overlaps
// with files the events did deliver, and successive passes overlap.
type seenCache struct {
	mu   sync.Mutex
	max  int
	m    map[[2]uint64]seenStamp
	ring [][2]uint64
	next int
}

type seenStamp struct {
	ctime int64
	size  int64
}

func newSeenCache(n int) *seenCache {
	return &seenCache{max: n, m: make(map[[2]uint64]seenStamp, n)}
}

func (c *seenCache) add(dev, ino uint64, ctime time.Time, size int64) {
	if c.max <= 0 {
		return
	}
	k := [2]uint64{dev, ino}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if len(c.ring) < c.max {
			c.ring = append(c.ring, k)
		} else {
			delete(c.m, c.ring[c.next])
			c.ring[c.next] = k
			c.next = (c.next + 1) % c.max
		}
	}
	c.m[k] = seenStamp{ctime.UnixNano(), size}
}

func (c *seenCache) has(dev, ino uint64, ctime time.Time, size int64) bool {
	if c.max <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[[2]uint64{dev, ino}]
	return ok && s.ctime == ctime.UnixNano() && s.size == size
}
