package monitor

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// cpuLimiter caps the CPU time judging spends: a token bucket of CPU time,
// refilled at rate seconds of CPU per second of wall time, holding at most
// burst. A worker waits until the bucket is not negative, does one item, and
// is charged the CPU time its thread really used (CLOCK_THREAD_CPUTIME_ID; the
// worker is locked to its thread, and reading /proc, hashing and the engine's
// YARA scan all run on it). So over any long interval judging uses at most
// rate cores (plus burst once), while a lone exec after a quiet period is
// judged at once.
type cpuLimiter struct {
	rate  float64 // cores; <= 0: unlimited
	burst time.Duration

	mu        sync.Mutex
	tokens    time.Duration // CPU time available; negative: debt
	last      time.Time
	throttled time.Duration // total time workers waited
}

func newCPULimiter(rate float64, burst time.Duration) *cpuLimiter {
	return &cpuLimiter{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (l *cpuLimiter) refill(now time.Time) {
	l.tokens += time.Duration(float64(now.Sub(l.last)) * l.rate)
	l.tokens = min(l.tokens, l.burst)
	l.last = now
}

// wait blocks until the bucket holds no debt.
func (l *cpuLimiter) wait(ctx context.Context) error {
	if l.rate <= 0 {
		return nil
	}
	for {
		l.mu.Lock()
		l.refill(time.Now())
		debt := -l.tokens
		l.mu.Unlock()
		if debt <= 0 {
			return nil
		}
		d := time.Duration(float64(debt) / l.rate)
		t := time.NewTimer(d)
		select {
		case <-t.C:
			l.mu.Lock()
			l.throttled += d
			l.mu.Unlock()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// charge takes used CPU time out of the bucket.
func (l *cpuLimiter) charge(used time.Duration) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	l.refill(time.Now())
	l.tokens -= used
	l.mu.Unlock()
}

func (l *cpuLimiter) throttledTotal() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.throttled
}

// threadCPU is the calling thread's CPU time (lock the goroutine to its
// thread for the difference of two readings to mean anything).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
