package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter keeps one token bucket per (account, version, action). It is
// per process: servers sharing a database each enforce the limit on their own.
type rateLimiter struct {
	perSecond float64
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[limitKey]*bucket
	lastSweep time.Time
}

// limitKey is what a limit applies to: one action of one account.
type limitKey struct {
	account         int64
	version, action string
}

type bucket struct {
	lim      *rate.Limiter
	lastUsed time.Time
}

// idleAfter is how long an unused bucket is kept; by then it is full again,
// so forgetting it changes nothing.
const idleAfter = time.Minute

func newRateLimiter(perSecond float64, now func() time.Time) *rateLimiter {
	return &rateLimiter{perSecond: perSecond, now: now, buckets: make(map[limitKey]*bucket), lastSweep: now()}
}

func (l *rateLimiter) allow(key limitKey) bool {
	if l.perSecond <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > idleAfter {
		for k, b := range l.buckets {
			if now.Sub(b.lastUsed) > idleAfter {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		burst := int(l.perSecond)
		if burst < 1 {
			burst = 1
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.perSecond), burst)}
		l.buckets[key] = b
	}
	b.lastUsed = now
	return b.lim.AllowN(now, 1)
}
