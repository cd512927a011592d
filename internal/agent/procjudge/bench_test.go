package procjudge

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSweep is issue 6's sweep figure: a full /proc sweep plus judging
// (heuristics and the engine, with warm hash and scan caches) of a machine
// running about 1,000 processes. cpu-ms/sweep is this process's CPU time
// (user+system, getrusage) per sweep.
func BenchmarkSweep(b *testing.B) {
	n := 1000
	if s := os.Getenv("VIGIL_BENCH_PROCS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	r, j := newJudge(b)
	before, err := r.PIDs()
	if err != nil {
		b.Fatal(err)
	}
	for i := len(before); i < n; i++ {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	ctx := context.Background()
	sweep := func() int {
		procs, err := r.Sweep(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range procs {
			if _, err := j.Judge(ctx, p); err != nil {
				b.Logf("pid %d: %v", p.PID, err)
			}
		}
		return len(procs)
	}
	time.Sleep(3 * time.Second) // past the engine's racy window for freshly written files
	sweep()                     // warm the caches
	var cpu time.Duration
	var procs int
	b.ResetTimer()
	for b.Loop() {
		c0 := cpuTime()
		procs = sweep()
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sweep")
	b.ReportMetric(float64(procs), "procs")
	hits, misses := r.HashCache().Stats()
	b.ReportMetric(float64(misses), "hashes")
	_ = hits
}
