package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// BenchData describes the data set of BenchmarkQueryRiskProcessEvents: one
// account with Events events spread like production data — Hosts hosts, a
// few dozen virus names with a skewed frequency, mixed statuses, process
// start times over Days days — and the name of the account holding it.
type BenchData struct {
	Account string
	Events  int
	Hosts   int
	Viruses int
	Days    int
}

// DefaultBenchData is the target: 1,000,000 events, 200 hosts, 30
// virus names, 90 days.
var DefaultBenchData = BenchData{Account: "bench-1m", Events: 1_000_000, Hosts: 200, Viruses: 30, Days: 90}

// benchEnd is the fixed "now" of the data set, so a cached database and the
// queries generated against it agree.
var benchEnd = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)

var benchVirusNames = []string{
	"Linux.Miner.Xmrig", "Linux.Miner.Kinsing", "Linux.Trojan.Kdevtmpfsi", "Linux.Backdoor.Tsunami", "Linux.Backdoor.Gafgyt",
	"Linux.Worm.Mirai", "Linux.Scanner.Fscan", "Linux.Hacktool.Masscan", "Linux.Rootkit.Diamorphine", "Linux.Trojan.XorDDoS",
	"Linux.Miner.Watchdog", "Linux.Trojan.Dbused", "Linux.Backdoor.Rekoobe", "Linux.Ransom.Lockbit", "Linux.Trojan.TeamTNT",
	"Linux.Miner.Sysrv", "Linux.Backdoor.Sliver", "Linux.Hacktool.Frp", "Linux.Trojan.Dofloo", "Linux.Worm.Kaiji",
	"Php.Webshell.Behinder", "Php.Webshell.Godzilla", "Jsp.Webshell.Antsword", "Python.Backdoor.Pupy", "Perl.Ircbot.Shellbot",
	"Sh.Downloader.Curl", "Linux.Proxy.Ngrok", "Linux.Trojan.Skidmap", "Linux.Miner.Lemonduck", "Linux.Backdoor.Cobaltstrike",
}

var benchFileNames = []string{"xmrig", "kinsing", "kdevtmpfsi", "dbused", "kthreaddi", "sysupdate", "networkservice", "dev",
	"fscan", "frpc", "ngrok", ".x", "bash", "sshd", "systemd-worker", "kworker", "watchdogs", "crond", "java", "php-fpm"}

var benchDirs = []string{"/tmp", "/dev/shm", "/var/tmp", "/usr/bin", "/usr/local/bin", "/root/.cache", "/opt/app/bin",
	"/home/ubuntu/.local/bin", "/var/lib/docker/overlay2/9f3c/merged/usr/bin", "/run/user/0"}

func benchHost(i int) store.Host {
	roles := []string{"web", "api", "db", "cache", "k8s-node", "batch", "gw", "mq"}
	h := store.Host{
		UUID:      fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		QUUID:     fmt.Sprintf("q%08d", i),
		Name:      fmt.Sprintf("prod-%s-%03d", roles[i%len(roles)], i),
		PrivateIP: fmt.Sprintf("10.%d.%d.%d", i/64, (i/8)%8, 10+i%8),
		OS:        "Debian 12", AgentVersion: "1.0.0", Online: i%10 != 0, NetworkName: "eth0",
		InstanceID: fmt.Sprintf("ins-%08x", i*2654435761),
	}
	if i%3 == 0 {
		h.PublicIP = fmt.Sprintf("203.0.%d.%d", i/250, i%250)
	}
	return h
}

// benchEvents generates the i-th batch of events deterministically.
func (d BenchData) benchEvents(batch, size int) []store.RiskProcessEvent {
	rng := rand.New(rand.NewPCG(uint64(batch), 42))
	span := time.Duration(d.Days) * 24 * time.Hour
	// Zipf-like popularity of virus names: a few dominate.
	weights := make([]float64, d.Viruses)
	var sum float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 0.9)
		sum += weights[i]
	}
	pickVirus := func() string {
		x := rng.Float64() * sum
		for i, w := range weights {
			if x -= w; x <= 0 {
				return benchVirusNames[i%len(benchVirusNames)]
			}
		}
		return benchVirusNames[0]
	}
	statuses := []store.HandleStatus{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5}
	events := make([]store.RiskProcessEvent, size)
	for i := range events {
		start := benchEnd.Add(-time.Duration(rng.Int64N(int64(span))))
		dir := benchDirs[rng.IntN(len(benchDirs))]
		name := benchFileNames[rng.IntN(len(benchFileNames))]
		if rng.IntN(3) == 0 {
			name = fmt.Sprintf("%s%d", name, rng.IntN(100))
		}
		path := dir + "/" + name
		virus := pickVirus()
		events[i] = store.RiskProcessEvent{
			HostUUID:         benchHost(rng.IntN(d.Hosts)).UUID,
			PID:              int64(1000 + rng.IntN(4_000_000)),
			PPID:             int64(1 + rng.IntN(5000)),
			ProcessStartTime: start,
			ExePath:          path,
			CmdLine:          path + " -c /tmp/.cfg --donate-level 1 -o pool.example.com:443",
			ExeMD5:           fmt.Sprintf("%032x", rng.Uint64()),
			User:             []string{"root", "www-data", "ubuntu", "nobody"}[rng.IntN(4)],
			Group:            "root",
			VirusName:        virus,
			RuleName:         virus,
			CheckPlatform:    []string{"1"},
			HandleStatus:     statuses[rng.IntN(len(statuses))],
			DetectTime:       start.Add(time.Duration(rng.ExpFloat64() * float64(20*time.Minute))),
		}
	}
	return events
}

// Seed fills s with the data set unless it is already there (a cached
// database), and returns the account id.
func (d BenchData) Seed(ctx context.Context, s store.Store, logf func(format string, args ...any)) (int64, error) {
	if a, err := s.GetAccountByName(ctx, d.Account); err == nil {
		p, err := s.QueryRiskProcessEvents(ctx, a.ID, store.RiskProcessEventQuery{Limit: 1})
		if err != nil {
			return 0, err
		}
		if p.Total == int64(d.Events) {
			return a.ID, nil
		}
		return 0, fmt.Errorf("account %q holds %d events, want %d: remove the cached database", d.Account, p.Total, d.Events)
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	begin := time.Now()
	a, err := s.CreateAccount(ctx, d.Account)
	if err != nil {
		return 0, err
	}
	for i := range d.Hosts {
		if _, err := s.UpsertHost(ctx, a.ID, benchHost(i)); err != nil {
			return 0, err
		}
	}
	threats := make([]store.Threat, len(benchVirusNames))
	for i, n := range benchVirusNames {
		threats[i] = store.Threat{Name: n, Tags: []string{"malware"},
			Desc:     store.Localized{ZH: "发现主机上存在恶意进程：" + n, EN: "A malicious process was found: " + n},
			Solution: store.Localized{ZH: "1.检查恶意进程及非法端口\n2.隔离或者删除相关的木马文件", EN: "1. Check the process\n2. Isolate or delete the file"}}
	}
	if err := s.UpsertThreats(ctx, threats); err != nil {
		return 0, err
	}
	const batch = 10_000
	for i := 0; i*batch < d.Events; i++ {
		events := d.benchEvents(i, min(batch, d.Events-i*batch))
		if _, err := s.InsertRiskProcessEvents(ctx, a.ID, events); err != nil {
			return 0, fmt.Errorf("seeding batch %d: %w", i, err)
		}
		if i%20 == 19 {
			logf("seeded %d events in %v", (i+1)*batch, time.Since(begin).Round(time.Second))
		}
	}
	// Dedup may have merged a few generated events: top up until the count is exact.
	for extra := 0; ; extra++ {
		p, err := s.QueryRiskProcessEvents(ctx, a.ID, store.RiskProcessEventQuery{Limit: 1})
		if err != nil {
			return 0, err
		}
		missing := d.Events - int(p.Total)
		if missing <= 0 {
			break
		}
		if _, err := s.InsertRiskProcessEvents(ctx, a.ID, d.benchEvents(1_000_000+extra, missing)); err != nil {
			return 0, err
		}
	}
	if o, ok := s.(store.Optimizer); ok {
		if err := o.Optimize(ctx); err != nil {
			return 0, err
		}
	}
	logf("seeded %d events in %v", d.Events, time.Since(begin).Round(time.Second))
	return a.ID, nil
}

// benchQuery is one query of the mix, with the kind it belongs to.
type benchQuery struct {
	kind string
	q    store.RiskProcessEventQuery
}

// Queries returns n queries of the mix, each with three filters and
// a page of 100, cycling through the kinds and both orderings:
//
//	ipname+virus+time:   IpOrName substring + VirusName substring + start range
//	host+status+time:    HostId + Status + start range
//	virus+path+status:   VirusName + FilePath substring + Status
func (d BenchData) Queries(n int) []benchQuery {
	rng := rand.New(rand.NewPCG(7, 7))
	window := func() (time.Time, time.Time) {
		days := 1 + rng.IntN(30)
		to := benchEnd.Add(-time.Duration(rng.IntN(d.Days-days)) * 24 * time.Hour)
		return to.Add(-time.Duration(days) * 24 * time.Hour), to
	}
	virusFilter := func() store.TextFilter {
		v := benchVirusNames[rng.IntN(min(d.Viruses, len(benchVirusNames)))]
		if rng.IntN(2) == 0 {
			return store.TextFilter{Values: []string{v}, Exact: true}
		}
		parts := strings.Split(v, ".")
		return store.TextFilter{Values: []string{strings.ToLower(parts[len(parts)-1])}} // "xmrig"
	}
	statusFilter := func() []store.HandleStatus {
		if rng.IntN(2) == 0 {
			return []store.HandleStatus{store.HandlePending}
		}
		return []store.HandleStatus{store.HandleKilled, store.HandleExited}
	}
	var out []benchQuery
	for i := range n {
		var bq benchQuery
		switch i % 3 {
		case 0:
			bq.kind = "ipname+virus+time"
			h := benchHost(rng.IntN(d.Hosts))
			ipOrName := []string{h.Name[len(h.Name)-7:], h.PrivateIP[:len(h.PrivateIP)-1], h.Name}[rng.IntN(3)] // "web-012", "10.1.2.1", full name
			bq.q = store.RiskProcessEventQuery{IPOrName: store.TextFilter{Values: []string{ipOrName}}, VirusNames: virusFilter()}
			bq.q.StartFrom, bq.q.StartTo = window()
		case 1:
			bq.kind = "host+status+time"
			bq.q = store.RiskProcessEventQuery{
				HostIDs:        store.TextFilter{Values: []string{benchHost(rng.IntN(d.Hosts)).UUID}, Exact: true},
				HandleStatuses: statusFilter(),
			}
			bq.q.StartFrom, bq.q.StartTo = window()
		case 2:
			bq.kind = "virus+path+status"
			bq.q = store.RiskProcessEventQuery{
				VirusNames:     virusFilter(),
				FilePaths:      store.TextFilter{Values: []string{[]string{"/tmp/", "shm", "xmrig", "kinsing", ".cache", "bin/k"}[rng.IntN(6)]}},
				HandleStatuses: statusFilter(),
			}
		}
		bq.q.OrderBy = store.EventOrder(rng.IntN(2))
		bq.q.Desc = rng.IntN(4) != 0 // newest first, mostly
		bq.q.Limit = 100
		if rng.IntN(5) == 0 {
			bq.q.Offset = 100 * (1 + rng.IntN(5))
		}
		out = append(out, bq)
	}
	return out
}

// ConsoleQueries are the console's everyday views, with at most one filter:
// everything, one status, one host, one virus, newest first. They are timed
// and logged apart from the three-filter mix (kind "console").
func (d BenchData) ConsoleQueries() []benchQuery {
	var out []benchQuery
	for _, by := range []store.EventOrder{store.OrderByDetectTime, store.OrderByStartTime} {
		for _, q := range []store.RiskProcessEventQuery{
			{},
			{HandleStatuses: []store.HandleStatus{store.HandlePending}},
			{HandleStatuses: []store.HandleStatus{store.HandleKilled, store.HandleExited}},
			{HostIDs: store.TextFilter{Values: []string{benchHost(7).UUID}, Exact: true}},
			{VirusNames: store.TextFilter{Values: []string{benchVirusNames[0]}, Exact: true}},
			{IPOrName: store.TextFilter{Values: []string{"web"}}},
			{Offset: 1000},
		} {
			q.OrderBy, q.Desc, q.Limit = by, true, 100
			out = append(out, benchQuery{kind: "console", q: q})
		}
	}
	return out
}

// BenchmarkQueryRiskProcessEvents seeds s (once; the backend may cache the
// database between runs) and runs the query mix, reporting the latency
// percentiles of each kind and overall as p50-ms/p99-ms metrics.
func BenchmarkQueryRiskProcessEvents(b *testing.B, s store.Store, d BenchData) {
	ctx := context.Background()
	accountID, err := d.Seed(ctx, s, b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	queries := d.Queries(600)
	// Warm the caches once, as a server that has been running would have.
	for _, bq := range queries {
		if _, err := s.QueryRiskProcessEvents(ctx, accountID, bq.q); err != nil {
			b.Fatal(err)
		}
	}
	lat := map[string][]time.Duration{}
	var cpu []time.Duration
	var totals []int64
	// The CPU time of this thread, which runs the query (cgo calls stay on
	// it): unlike wall time it does not count waiting for a CPU on a busy
	// machine. For a client/server database it is the client's share only.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		bq := queries[i%len(queries)]
		i++
		c0 := threadCPU()
		t0 := time.Now()
		p, err := s.QueryRiskProcessEvents(ctx, accountID, bq.q)
		el := time.Since(t0)
		cpu = append(cpu, threadCPU()-c0)
		if err != nil {
			b.Fatal(err)
		}
		lat[bq.kind] = append(lat[bq.kind], el)
		lat["all"] = append(lat["all"], el)
		totals = append(totals, p.Total)
	}
	b.StopTimer()
	lat["all (thread CPU)"] = cpu
	// The console views, 20 rounds, outside the timed loop.
	for range 20 {
		for _, bq := range d.ConsoleQueries() {
			t0 := time.Now()
			if _, err := s.QueryRiskProcessEvents(ctx, accountID, bq.q); err != nil {
				b.Fatal(err)
			}
			lat[bq.kind] = append(lat[bq.kind], time.Since(t0))
		}
	}
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range lat {
			if !yield(k) {
				return
			}
		}
	}) {
		ds := lat[kind]
		slices.Sort(ds)
		pct := func(p float64) float64 {
			return float64(ds[min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1)]) / float64(time.Millisecond)
		}
		switch kind {
		case "all":
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
		case "all (thread CPU)":
			b.ReportMetric(pct(0.50), "cpu-p50-ms")
			b.ReportMetric(pct(0.99), "cpu-p99-ms")
		}
		b.Logf("%-20s n=%-5d p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %6.2f ms", kind, len(ds), pct(0.5), pct(0.9), pct(0.99), pct(1))
	}
	slices.SortFunc(totals, cmp.Compare)
	if len(totals) > 0 {
		b.Logf("matching rows per query: min %d, median %d, max %d", totals[0], totals[len(totals)/2], totals[len(totals)-1])
	}
}

// IngestTarget is where BenchmarkInsertRiskProcessEvents writes: an account
// of Store and the UUIDs of its hosts the events name.
type IngestTarget struct {
	Store     store.Store
	AccountID int64
	Hosts     []string
}

// NewIngestTarget creates the account name with hosts hosts in s.
func NewIngestTarget(ctx context.Context, s store.Store, name string, hosts int) (IngestTarget, error) {
	a, err := s.CreateAccount(ctx, name)
	if err != nil {
		return IngestTarget{}, err
	}
	t := IngestTarget{Store: s, AccountID: a.ID}
	for i := range hosts {
		h, err := s.UpsertHost(ctx, a.ID, benchHost(i))
		if err != nil {
			return IngestTarget{}, err
		}
		t.Hosts = append(t.Hosts, h.UUID)
	}
	return t, nil
}

// IngestTarget returns the seeded account of d (Seed first) with its first
// hosts hosts, to measure ingestion into a database that already holds
// d.Events events.
func (d BenchData) IngestTarget(ctx context.Context, s store.Store, hosts int, logf func(format string, args ...any)) (IngestTarget, error) {
	id, err := d.Seed(ctx, s, logf)
	if err != nil {
		return IngestTarget{}, err
	}
	t := IngestTarget{Store: s, AccountID: id}
	for i := range min(hosts, d.Hosts) {
		t.Hosts = append(t.Hosts, benchHost(i).UUID)
	}
	return t, nil
}

// IngestBatchSizes are the batch sizes BenchmarkInsertRiskProcessEvents
// measures: what one agent report, a busy agent and a bulk import send.
var IngestBatchSizes = []int{100, 500, 1000}

// IngestHosts is the number of hosts the ingestion benchmark's events name.
const IngestHosts = 50

// ingestGen generates ingestion batches as agents report them: events like
// the query data set's, detected "now" (a clock that moves a second per
// batch from the data set's end) by processes started in the hour before,
// about 1 % of them repeats of an event already sent (a later DetectTime, as
// for a process still running) and about 0.2 % naming a virus the catalog
// does not hold yet.
type ingestGen struct {
	rng   *rand.Rand
	hosts []string
	now   time.Time
	sent  []store.RiskProcessEvent // a sample of sent events to repeat
	fresh int
}

func newIngestGen(seed uint64, hosts []string) *ingestGen {
	return &ingestGen{rng: rand.New(rand.NewPCG(seed, 6)), hosts: hosts, now: benchEnd}
}

func (g *ingestGen) batch(size int) []store.RiskProcessEvent {
	g.now = g.now.Add(time.Second)
	d := BenchData{Hosts: 1, Viruses: len(benchVirusNames), Days: 90}
	events := d.benchEvents(int(g.rng.Int64()), size)
	for i := range events {
		e := &events[i]
		e.HostUUID = g.hosts[g.rng.IntN(len(g.hosts))]
		e.ProcessStartTime = g.now.Add(-time.Duration(g.rng.Int64N(int64(time.Hour))))
		e.DetectTime = g.now.Add(-time.Duration(g.rng.Int64N(int64(time.Second))))
		switch x := g.rng.IntN(1000); {
		case x < 10 && len(g.sent) > 0:
			*e = g.sent[g.rng.IntN(len(g.sent))]
			e.DetectTime = g.now
		case x < 12:
			g.fresh++
			e.VirusName = fmt.Sprintf("Linux.Miner.Variant%d-%d", g.fresh, g.rng.IntN(1_000_000))
			e.RuleName = e.VirusName
		}
	}
	// Keep a bounded sample of what was sent for later repeats.
	for _, e := range events {
		if len(g.sent) < 10_000 {
			g.sent = append(g.sent, e)
		} else if j := g.rng.IntN(len(g.sent) * 4); j < len(g.sent) {
			g.sent[j] = e
		}
	}
	return events
}

// BenchmarkInsertRiskProcessEvents measures InsertRiskProcessEvents with
// batches of each of IngestBatchSizes (one sub-benchmark each, on a target
// from open) and reports events/s: the events handed in per second of
// insert calls, repeats included (a repeat costs about what a new one does).
func BenchmarkInsertRiskProcessEvents(b *testing.B, open func(b *testing.B, batch int) IngestTarget) {
	for _, size := range IngestBatchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := context.Background()
			t := open(b, size)
			g := newIngestGen(uint64(size), t.Hosts)
			events := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				batch := g.batch(size)
				b.StartTimer()
				if _, err := t.Store.InsertRiskProcessEvents(ctx, t.AccountID, batch); err != nil {
					b.Fatal(err)
				}
				events += size
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// IngestWriters is the number of concurrent uploaders
// BenchmarkIngestRiskProcessEventsConcurrent runs: agents whose uploads reach
// the server at the same time.
const IngestWriters = 16

// BenchmarkIngestRiskProcessEventsConcurrent measures ingestion as a server
// sees it under load: IngestWriters callers, each an agent of its own hosts
// (the IngestHosts hosts dealt out among them), insert batches of 500 at the
// same time, b.N batches in all (generated before the timer starts). It
// reports events/s over the whole run.
func BenchmarkIngestRiskProcessEventsConcurrent(b *testing.B, open func(b *testing.B, batch int) IngestTarget) {
	const size = 500
	ctx := context.Background()
	t := open(b, size)
	gens := make([]*ingestGen, IngestWriters)
	for w := range gens {
		var hosts []string
		for i := w; i < len(t.Hosts); i += IngestWriters {
			hosts = append(hosts, t.Hosts[i])
		}
		if len(hosts) == 0 {
			hosts = t.Hosts
		}
		gens[w] = newIngestGen(uint64(1000+w), hosts)
	}
	batches := make([][]store.RiskProcessEvent, b.N)
	for i := range batches {
		batches[i] = gens[i%IngestWriters].batch(size)
	}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	b.ResetTimer()
	for range IngestWriters {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(batches)) {
					return
				}
				if _, err := t.Store.InsertRiskProcessEvents(ctx, t.AccountID, batches[i]); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}
