// Package monitor is the host agent's real-time process monitor: it turns
// every process start into risk-process events.
//
// Pipeline:
//
//	netlink exec events ─┐                       ┌─ dedup (pid, start, rule) ─ batch ─ Sink (the spool)
//	sweeps of /proc ─────┴─ bounded queues ─ workers: proc.Read → procjudge.Judge
//
// The connector goroutine only decodes events and hands the pid to a bounded
// queue, so the kernel's socket buffer never waits for judging. If the queue
// is full the overflow is counted and a sweep is requested: a flagged
// process that is still alive is found by the sweep, never silently lost
// (one that exited before the sweep could not be judged from /proc anyway).
// A receive-buffer overrun (events lost in the kernel) triggers a sweep the
// same way.
//
// Sweeps: a full sweep at start (FirstDetectionMethod 0, scan), one every
// sweep interval (default 10 min) as a safety net, and one every 30 s when
// the connector is unavailable (no CAP_NET_ADMIN, not in the initial network
// namespace). Sweep items queue behind real-time ones: workers always take a
// pending exec event first.
//
// Workers judge under a CPU cap (WithScanCPU): a token bucket of CPU time
// charged with each worker thread's measured CPU time.
//
// Events of one (pid, start time, rule) are sent once per sweep interval at
// most (an LRU of recent keys); the server deduplicates the rest, and a
// repeat after the interval moves the stored event's DetectTime. Start times
// come from a boot time pinned per boot (StableBootTime), so an agent restart
// re-reports a process with the identical key.
package monitor

import (
	"container/list"
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agent/procjudge"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

// Defaults, in one place.
const (
	DefaultSweepInterval    = 10 * time.Minute
	DefaultFallbackInterval = 30 * time.Second
	DefaultQueueSize        = 8192
	DefaultWorkers          = 2
	DefaultScanCPU          = 0.5 // of one core
	DefaultCPUBurst         = 250 * time.Millisecond
	DefaultDedupEntries     = 64 << 10
	DefaultBatchMax         = 256
	sinkRetryWait           = 100 * time.Millisecond
)

// Sink receives batches of events; it returns once they are durable (the
// spool). An error is logged and the batch retried.
type Sink func(ctx context.Context, events []wire.Event) error

// Option configures a Monitor.
type Option func(*config)

type config struct {
	logger           *slog.Logger
	sweepInterval    time.Duration
	fallbackInterval time.Duration
	queueSize        int
	workers          int
	scanCPU          float64
	cpuBurst         time.Duration
	dedupEntries     int
	batchMax         int
	boot             time.Time
	connector        bool
	connOpts         []proc.ConnectorOption
	now              func() time.Time
	onSweep          func(SweepStats)
}

func defaultConfig() config {
	return config{
		logger:           slog.New(slog.DiscardHandler),
		sweepInterval:    DefaultSweepInterval,
		fallbackInterval: DefaultFallbackInterval,
		queueSize:        DefaultQueueSize,
		workers:          DefaultWorkers,
		scanCPU:          DefaultScanCPU,
		cpuBurst:         DefaultCPUBurst,
		dedupEntries:     DefaultDedupEntries,
		batchMax:         DefaultBatchMax,
		connector:        true,
		now:              time.Now,
	}
}

// WithLogger sets the logger (sweeps at Info, problems at Warn).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithSweepInterval sets the safety-net sweep period (default 10 min).
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.sweepInterval = d
		}
	}
}

// WithFallbackInterval sets the sweep period without the connector (default 30 s).
func WithFallbackInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.fallbackInterval = d
		}
	}
}

// WithQueueSize bounds the queue of exec events waiting for a worker.
func WithQueueSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.queueSize = n
		}
	}
}

// WithWorkers sets how many processes are judged at once (default 2).
func WithWorkers(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithScanCPU caps judging (reading /proc, hashing, the engine) at cores of
// CPU on average (default 0.5; 0 = no cap), with bursts of up to burst of CPU
// time at full speed (default 250 ms).
func WithScanCPU(cores float64, burst time.Duration) Option {
	return func(c *config) {
		c.scanCPU = max(cores, 0)
		if burst > 0 {
			c.cpuBurst = burst
		}
	}
}

// WithBootTime sets the boot time start times are based on (StableBootTime);
// default the reader's.
func WithBootTime(t time.Time) Option { return func(c *config) { c.boot = t } }

// WithConnector turns the netlink connector on or off (default on; off:
// sweeps at the fallback interval only).
func WithConnector(on bool, opts ...proc.ConnectorOption) Option {
	return func(c *config) { c.connector, c.connOpts = on, opts }
}

// WithBatch sets the largest batch handed to the sink (default 256).
func WithBatch(maxEvents int) Option {
	return func(c *config) {
		if maxEvents > 0 {
			c.batchMax = maxEvents
		}
	}
}

// WithDedupEntries bounds the in-memory dedup LRU.
func WithDedupEntries(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.dedupEntries = n
		}
	}
}

// OnSweep is called after each completed sweep.
func OnSweep(f func(SweepStats)) Option { return func(c *config) { c.onSweep = f } }

// SweepStats describes one completed sweep.
type SweepStats struct {
	Reason     string // "start", "periodic", "overrun", "overflow", "fallback", "request"
	Processes  int
	Detections int
	Duration   time.Duration
}

// Stats are the monitor's counters.
type Stats struct {
	ExecEvents   uint64 // exec events received
	Overruns     uint64 // kernel buffer overruns (events lost in the kernel)
	Overflows    uint64 // exec events not queued because the queue was full
	Judged       uint64 // processes read and judged
	Detections   uint64 // detections, before dedup
	Events       uint64 // events handed to the sink
	Sweeps       uint64
	Connector    bool          // the netlink connector is in use
	JudgeCPU     time.Duration // CPU time spent judging (worker threads)
	Throttled    time.Duration // time workers waited for the CPU cap
	SinkFailures uint64
}

type job struct {
	pid   int
	sweep *sweepRun // nil: real-time
}

type sweepRun struct {
	reason     string
	started    time.Time
	pending    sync.WaitGroup
	detections atomic.Int64
	processes  int
}

// Monitor watches processes. Create it with New, run it with Run.
type Monitor struct {
	cfg     config
	r       *proc.Reader
	j       *procjudge.Judge
	sink    Sink
	clock   Clock
	limiter *cpuLimiter

	rt       chan int
	sweepq   chan job
	sweepReq chan string
	events   chan wire.Event

	dedupMu sync.Mutex
	dedup   *lru

	execEvents, overruns, overflows, judged, detections, sent, sweeps, sinkFailures atomic.Uint64
	judgeCPU                                                                        atomic.Int64
	connector                                                                       atomic.Bool
}

// New returns a monitor reading processes with r, judging them with j and
// handing events to sink.
func New(r *proc.Reader, j *procjudge.Judge, sink Sink, opts ...Option) *Monitor {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return &Monitor{
		cfg: cfg, r: r, j: j, sink: sink,
		clock:    NewClock(r, cfg.boot),
		limiter:  newCPULimiter(cfg.scanCPU, cfg.cpuBurst),
		rt:       make(chan int, cfg.queueSize),
		sweepq:   make(chan job),
		sweepReq: make(chan string, 1),
		events:   make(chan wire.Event, 4*cfg.batchMax),
		dedup:    newLRU(cfg.dedupEntries),
	}
}

// Clock is the start-time conversion of the events (for the Killer).
func (m *Monitor) Clock() Clock { return m.clock }

// Stats returns the counters so far.
func (m *Monitor) Stats() Stats {
	return Stats{
		ExecEvents: m.execEvents.Load(), Overruns: m.overruns.Load(), Overflows: m.overflows.Load(),
		Judged: m.judged.Load(), Detections: m.detections.Load(), Events: m.sent.Load(),
		Sweeps: m.sweeps.Load(), Connector: m.connector.Load(),
		JudgeCPU: time.Duration(m.judgeCPU.Load()), Throttled: m.limiter.throttledTotal(),
		SinkFailures: m.sinkFailures.Load(),
	}
}

// RequestSweep asks for a sweep soon (coalesced with one already pending).
func (m *Monitor) RequestSweep(reason string) {
	select {
	case m.sweepReq <- reason:
	default:
	}
}

// Run monitors until ctx ends. Events already judged are handed to the sink
// before it returns.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()

	// The batcher outlives the workers so nothing judged is lost on shutdown.
	batchDone := make(chan struct{})
	go func() { defer close(batchDone); m.batcher(ctx) }()

	for range m.cfg.workers {
		wg.Add(1)
		go func() { defer wg.Done(); m.worker(wctx) }()
	}

	interval := m.cfg.sweepInterval
	if m.cfg.connector {
		c, err := proc.ListenConnector(m.cfg.connOpts...)
		if err != nil {
			m.cfg.logger.Warn("process connector unavailable: falling back to periodic sweeps", "err", err, "interval", m.cfg.fallbackInterval)
			interval = m.cfg.fallbackInterval
		} else {
			m.connector.Store(true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := c.Run(ctx, m.onEvent); err != nil {
					m.cfg.logger.Error("process connector failed: falling back to periodic sweeps", "err", err)
					m.connector.Store(false)
					m.RequestSweep("fallback")
				}
			}()
		}
	} else {
		interval = m.cfg.fallbackInterval
	}

	// Sweeper: the initial sweep, then periodic and requested ones.
	reason := "start"
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		case reason = <-m.sweepReq:
		}
		m.sweep(ctx, reason)
		reason = "periodic"
		if !m.connector.Load() {
			interval = m.cfg.fallbackInterval
		}
		timer.Reset(interval)
	}
	stopWorkers()
	wg.Wait()
	close(m.events)
	<-batchDone
	return nil
}

func (m *Monitor) onEvent(ev proc.Event) {
	switch ev.Kind {
	case proc.EventExec:
		m.execEvents.Add(1)
		select {
		case m.rt <- ev.TGID:
		default:
			m.overflows.Add(1)
			m.RequestSweep("overflow")
		}
	case proc.EventOverrun:
		m.overruns.Add(1)
		m.RequestSweep("overrun")
	}
}

// sweep queues every process for the workers and waits until all are judged.
func (m *Monitor) sweep(ctx context.Context, reason string) {
	pids, err := m.r.PIDs()
	if err != nil {
		m.cfg.logger.Warn("sweep: listing processes", "err", err)
		return
	}
	run := &sweepRun{reason: reason, started: time.Now(), processes: len(pids)}
	for _, pid := range pids {
		run.pending.Add(1)
		select {
		case m.sweepq <- job{pid: pid, sweep: run}:
		case <-ctx.Done():
			run.pending.Done()
			return
		}
	}
	run.pending.Wait()
	m.sweeps.Add(1)
	st := SweepStats{Reason: reason, Processes: run.processes, Detections: int(run.detections.Load()), Duration: time.Since(run.started)}
	m.cfg.logger.Info("sweep done", "reason", st.Reason, "processes", st.Processes, "detections", st.Detections,
		"duration", st.Duration.Round(time.Millisecond), "judge_cpu", time.Duration(m.judgeCPU.Load()).Round(time.Millisecond))
	if m.cfg.onSweep != nil {
		m.cfg.onSweep(st)
	}
}

func (m *Monitor) worker(ctx context.Context) {
	for {
		var jb job
		select { // real-time first
		case pid := <-m.rt:
			jb = job{pid: pid}
		default:
			select {
			case pid := <-m.rt:
				jb = job{pid: pid}
			case jb = <-m.sweepq:
			case <-ctx.Done():
				return
			}
		}
		if err := m.limiter.wait(ctx); err != nil {
			if jb.sweep != nil {
				jb.sweep.pending.Done()
			}
			return
		}
		// Locked to its thread while it judges, so that the thread's CPU
		// clock measures exactly this job (only then: a goroutine locked
		// while it waits for work costs a thread hand-off per job).
		runtime.LockOSThread()
		t0 := threadCPU()
		n := m.judge(ctx, jb)
		used := threadCPU() - t0
		runtime.UnlockOSThread()
		m.judgeCPU.Add(int64(used))
		m.limiter.charge(used)
		if jb.sweep != nil {
			jb.sweep.detections.Add(int64(n))
			jb.sweep.pending.Done()
		}
	}
}

// judge reads and judges one process and queues its new events; it returns
// the number of detections.
func (m *Monitor) judge(ctx context.Context, jb job) int {
	p, err := m.r.ReadShallow(jb.pid)
	if err != nil {
		if !proc.IsGone(err) {
			m.cfg.logger.Debug("read process", "pid", jb.pid, "err", err)
		}
		return 0
	}
	m.judged.Add(1)
	ds, err := m.j.Judge(ctx, p)
	if err != nil {
		m.cfg.logger.Debug("judge process", "pid", jb.pid, "exe", p.Exe, "err", err)
	}
	if len(ds) == 0 {
		return 0
	}
	m.detections.Add(uint64(len(ds)))
	m.r.ReadAncestors(p) // for the log line: the wire event has no chain
	for i := range ds {
		ds[i].Chain = p.Chain
	}
	method := procjudge.MethodRealTime
	if jb.sweep != nil {
		method = procjudge.MethodScan
	}
	now := m.cfg.now()
	for i := range ds {
		d := &ds[i]
		if !m.fresh(d.Key(), now) {
			continue
		}
		ev := m.toWire(d, method, now)
		m.cfg.logger.Info("risk process", "pid", d.PID, "exe", d.Exe, "virus", d.VirusName, "method", method, "reason", d.Reason, "chain", d.Chain)
		select {
		case m.events <- ev:
		case <-ctx.Done():
			// Shutting down: still hand it over (the batcher drains until
			// the channel is closed, after the workers stopped).
			m.events <- ev
		}
	}
	return len(ds)
}

// fresh reports whether key should be sent: not sent within the last sweep
// interval. It records the key as sent now.
func (m *Monitor) fresh(key string, now time.Time) bool {
	m.dedupMu.Lock()
	defer m.dedupMu.Unlock()
	if last, ok := m.dedup.get(key); ok && now.Sub(last) < m.cfg.sweepInterval {
		return false
	}
	m.dedup.put(key, now)
	return true
}

func (m *Monitor) toWire(d *procjudge.Detection, method int, now time.Time) wire.Event {
	return wire.Event{
		PID:           int64(d.PID),
		PPID:          int64(d.PPID),
		StartTime:     m.clock.startOf(d.StartTime),
		ExePath:       d.Exe,
		CmdLine:       d.Cmdline,
		ExeMD5:        d.ExeMD5,
		ExeSHA256:     d.ExeSHA256,
		User:          d.User,
		Group:         d.Group,
		Container:     d.ContainerID,
		VirusName:     d.VirusName,
		Rule:          d.Rule,
		CheckPlatform: []string{string(d.CheckPlatform)},
		Method:        method,
		DetectTime:    now.UTC(),
	}
}

// batcher hands events to the sink. It takes what is pending (up to
// batchMax) and appends it as one batch: a spool append costs an fsync
// (~7 ms), so while one runs the next events accumulate and go together
// (group commit). A lone event is written at once, without waiting for a
// batch to fill. It returns when the events channel is closed and drained.
func (m *Monitor) batcher(ctx context.Context) {
	batch := make([]wire.Event, 0, m.cfg.batchMax)
	for {
		ev, ok := <-m.events
		if !ok {
			return
		}
		batch = append(batch[:0], ev)
	drain:
		for len(batch) < m.cfg.batchMax {
			select {
			case ev, ok := <-m.events:
				if !ok {
					break drain
				}
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		m.flush(ctx, batch)
	}
}

func (m *Monitor) flush(ctx context.Context, batch []wire.Event) {
	for attempt := 0; ; attempt++ {
		// The sink gets a context that survives shutdown: what was judged
		// is written before Run returns.
		err := m.sink(context.WithoutCancel(ctx), batch)
		if err == nil {
			m.sent.Add(uint64(len(batch)))
			return
		}
		m.sinkFailures.Add(1)
		m.cfg.logger.Error("writing events", "events", len(batch), "err", err)
		// Retry while running (a full disk may get space); at shutdown
		// give up after a few attempts rather than hang.
		if ctx.Err() != nil && attempt >= 3 {
			m.cfg.logger.Error("events lost: the sink keeps failing", "events", len(batch))
			return
		}
		time.Sleep(min(sinkRetryWait<<min(attempt, 6), 5*time.Second))
	}
}

// lru is a bounded map of keys to the time they were last sent.
type lru struct {
	max   int
	order *list.List // front: most recent
	items map[string]*list.Element
}

type lruEntry struct {
	key string
	at  time.Time
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (l *lru) get(key string) (time.Time, bool) {
	e, ok := l.items[key]
	if !ok {
		return time.Time{}, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*lruEntry).at, true
}

func (l *lru) put(key string, at time.Time) {
	if e, ok := l.items[key]; ok {
		e.Value.(*lruEntry).at = at
		l.order.MoveToFront(e)
		return
	}
	l.items[key] = l.order.PushFront(&lruEntry{key, at})
	for l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(*lruEntry).key)
	}
}
