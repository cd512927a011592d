package monitor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agent/procjudge"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

func TestLRU(t *testing.T) {
	l := newLRU(2)
	t0 := time.Unix(100, 0)
	l.put("a", t0)
	l.put("b", t0)
	l.get("a") // a is now the most recent
	l.put("c", t0)
	if _, ok := l.get("b"); ok {
		t.Errorf("b should have been evicted")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := l.get(k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
}

func TestCPULimiter(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		items int
		cost  time.Duration
		// wall time at least (items*cost - burst) / rate
		minWall time.Duration
	}{
		{"unlimited", 0, 10, 10 * time.Millisecond, 0},
		{"half a core", 0.5, 10, 10 * time.Millisecond, 160 * time.Millisecond},
		{"a tenth", 0.1, 5, 10 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newCPULimiter(tc.rate, 10*time.Millisecond)
			start := time.Now()
			for range tc.items {
				if err := l.wait(context.Background()); err != nil {
					t.Fatal(err)
				}
				l.charge(tc.cost)
			}
			l.wait(context.Background())
			if wall := time.Since(start); wall < tc.minWall || tc.rate == 0 && wall > 50*time.Millisecond {
				t.Errorf("wall %v, want ≥ %v", wall, tc.minWall)
			}
		})
	}
}

func TestSameStart(t *testing.T) {
	a := time.Date(2026, 11, 29, 5, 0, 0, 120_000_000, time.UTC)
	if !SameStart(a, a.Add(500*time.Nanosecond).In(time.Local)) {
		t.Errorf("same start at µs precision not equal")
	}
	if SameStart(a, a.Add(10*time.Millisecond)) {
		t.Errorf("one tick apart compared equal")
	}
}

func TestStableBootTime(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/kernel/random"), 0o755)
	write := func(bootID string, btime string) {
		os.WriteFile(filepath.Join(root, "sys/kernel/random/boot_id"), []byte(bootID+"\n"), 0o644)
		os.WriteFile(filepath.Join(root, "stat"), []byte("cpu 1 2 3\nbtime "+btime+"\nprocesses 5\n"), 0o644)
	}
	data := t.TempDir()
	write("boot-1", "1000")
	if bt, err := StableBootTime(data, root); err != nil || bt.Unix() != 1000 {
		t.Fatalf("first: %v %v", bt, err)
	}
	write("boot-1", "1001") // NTP moved btime by a second: same boot, pinned value
	if bt, err := StableBootTime(data, root); err != nil || bt.Unix() != 1000 {
		t.Fatalf("same boot: %v %v, want 1000", bt, err)
	}
	write("boot-2", "5000") // rebooted
	if bt, err := StableBootTime(data, root); err != nil || bt.Unix() != 5000 {
		t.Fatalf("new boot: %v %v, want 5000", bt, err)
	}
}

// sleeper runs a copy of /bin/bash named name in dir with argv after
// `-c "sleep 600; :"` (bash keeps running with that command line).
func sleeper(t *testing.T, dir, name string, argv ...string) *exec.Cmd {
	t.Helper()
	exe := filepath.Join(dir, name)
	if _, err := os.Stat(exe); err != nil {
		// cp, not os.WriteFile: a writable fd of ours could leak into a child
		// forked concurrently, and exec would fail with "text file busy".
		if out, err := exec.Command("cp", "/bin/bash", exe).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	cmd := exec.Command(exe)
	cmd.Args = append([]string{exe, "-c", "sleep 600; :"}, argv...)
	// Its own process group, killed whole: the shell's sleep would outlive
	// it by ten minutes, holding whatever descriptors it inherited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd
}

func shmDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "vigil-monitor-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type collector struct {
	mu     sync.Mutex
	events []wire.Event
	calls  int
}

func (c *collector) sink(_ context.Context, evs []wire.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, evs...)
	c.calls++
	return nil
}

func (c *collector) find(pid int, virus string) (wire.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events {
		if e.PID == int64(pid) && e.VirusName == virus {
			return e, true
		}
	}
	return wire.Event{}, false
}

func (c *collector) wait(t *testing.T, pid int, virus string, timeout time.Duration) wire.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if e, ok := c.find(pid, virus); ok {
			return e
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s event for pid %d within %v", virus, pid, timeout)
	return wire.Event{}
}

func startMonitor(t *testing.T, opts ...Option) (*Monitor, *collector) {
	t.Helper()
	r, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	m := New(r, procjudge.New(r), c.sink, append([]Option{WithBootTime(r.BootTime())}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return m, c
}

func waitSweeps(t *testing.T, m *Monitor, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for m.Stats().Sweeps < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sweeps, want %d", m.Stats().Sweeps, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (process connector)")
	}
}

// TestRealTime: a process planted after the initial sweep is reported by its
// exec event (method 1), once, with the stable start time; an already
// running one by the initial sweep (method 0).
func TestRealTime(t *testing.T) {
	requireRoot(t)
	dir := shmDir(t)
	early := sleeper(t, dir, "early", "-h", "10.0.0.1/24", "-m", "ssh", "-nopoc")
	m, c := startMonitor(t)
	waitSweeps(t, m, 1)
	if !m.Stats().Connector {
		t.Fatal("connector not in use")
	}
	e := c.wait(t, early.Process.Pid, procjudge.IntranetScanner, time.Second)
	if e.Method != procjudge.MethodScan {
		t.Errorf("early process method %d, want 0", e.Method)
	}
	t0 := time.Now()
	late := sleeper(t, dir, "late", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet")
	e = c.wait(t, late.Process.Pid, procjudge.MinerCmdLine, 2*time.Second)
	t.Logf("exec → event in the sink: %v", time.Since(t0))
	if e.Method != procjudge.MethodRealTime {
		t.Errorf("method %d, want 1", e.Method)
	}
	p, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := p.Read(late.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !SameStart(e.StartTime, pp.StartTime) || !strings.HasSuffix(e.ExePath, "/late") || e.ExeMD5 == "" {
		t.Errorf("event %+v", e)
	}
	// A forced sweep finds both again but sends nothing new (dedup).
	n := len(c.events)
	m.RequestSweep("request")
	waitSweeps(t, m, 2)
	time.Sleep(50 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != n {
		t.Errorf("a sweep re-sent %d events", len(c.events)-n)
	}
}

// TestOverflowTriggersSweep: with a one-slot queue and a burst of execs, the
// overflow is counted and a sweep finds the flagged process anyway.
func TestOverflowTriggersSweep(t *testing.T) {
	requireRoot(t)
	dir := shmDir(t)
	m, c := startMonitor(t, WithQueueSize(1), WithWorkers(1))
	waitSweeps(t, m, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				exec.Command("/bin/true").Run()
			}
		}()
	}
	flagged := sleeper(t, dir, "xmr", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet")
	wg.Wait()
	c.wait(t, flagged.Process.Pid, procjudge.MinerCmdLine, 10*time.Second)
	st := m.Stats()
	t.Logf("stats: %+v", st)
	if st.Overflows == 0 {
		t.Skip("the machine was too slow to overflow a one-slot queue")
	}
	if st.Sweeps < 2 {
		t.Errorf("overflow did not trigger a sweep: %+v", st)
	}
}

// TestFallbackSweeps: without the connector, the fallback sweeps find a
// process planted after start.
func TestFallbackSweeps(t *testing.T) {
	dir := shmDir(t)
	m, c := startMonitor(t, WithConnector(false), WithFallbackInterval(200*time.Millisecond))
	waitSweeps(t, m, 1)
	p := sleeper(t, dir, "xmr", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet")
	e := c.wait(t, p.Process.Pid, procjudge.MinerCmdLine, 5*time.Second)
	if e.Method != procjudge.MethodScan || m.Stats().Connector {
		t.Errorf("method %d connector %v", e.Method, m.Stats().Connector)
	}
}

// TestScanCPUCap measures the cap: sweeps with a cold hash cache (every
// executable hashed again) under a 0.1-core cap use at most about 0.1 of a
// core over the run.
func TestScanCPUCap(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	r, err := proc.NewReader(proc.WithHashCache(proc.NewHashCache(1))) // ~no cache: real work each time
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	const cap = 0.1
	m := New(r, procjudge.New(r), c.sink, WithConnector(false), WithScanCPU(cap, 20*time.Millisecond),
		WithFallbackInterval(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- m.Run(ctx) }()
	time.Sleep(4 * time.Second)
	cancel()
	<-done
	wall := time.Since(start)
	st := m.Stats()
	used := float64(st.JudgeCPU) / float64(wall)
	t.Logf("judged %d processes in %v: %.3f cores (cap %.2f), throttled %v", st.Judged, wall.Round(time.Millisecond), used, cap, st.Throttled.Round(time.Millisecond))
	// A job's CPU is charged once it has run, so the bucket overshoots by up
	// to one job (tens of ms on a loaded CI machine): allow half the cap.
	if used > cap*1.5 {
		t.Errorf("used %.3f cores, cap %.2f", used, cap)
	}
	if st.Throttled == 0 {
		t.Errorf("never throttled")
	}
}
