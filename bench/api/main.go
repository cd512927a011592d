// Command api benchmarks vigil's API server through the full signed HTTP
// path: DescribeRiskProcessEvents over a large event table with three
// filters (latency percentiles, beside the raw store query time), and the
// throughput of a simple Describe. See BENCHMARKS.md.
//
//	go run ./bench/api -events 1000000 -dir /var/tmp/vigil-bench            # SQLite
//	go run ./bench/api -events 1000000 -database postgres://…/vigil_bench   # PostgreSQL
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/bench/internal/benchstat"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
)

const (
	secretID  = "AKIDbenchmark000000000000000000000000"
	secretKey = "benchmark-secret-key-000000000000"
	hosts     = 200
	viruses   = 30
)

func main() {
	var (
		events   = flag.Int("events", 1_000_000, "events to store")
		dir      = flag.String("dir", "/var/tmp/vigil-bench", "data directory (kept between runs: seeding is skipped when the events are there)")
		database = flag.String("database", "", "PostgreSQL URL (default: SQLite in -dir)")
		queries  = flag.Int("queries", 3000, "DescribeRiskProcessEvents calls for the latency run")
		duration = flag.Duration("duration", 10*time.Second, "length of the throughput run")
		workers  = flag.Int("concurrency", 16, "concurrent clients in the throughput run")
	)
	flag.Parse()
	ctx := context.Background()
	cfg := config.DefaultServer()
	cfg.Data, cfg.Database, cfg.RateLimit, cfg.Listen = *dir, *database, 0, "127.0.0.1:0"
	cfg.TimeZone = "UTC"
	a, err := app.Open(ctx, cfg, app.WithEnviron([]string{app.EnvAdminSecretID + "=" + secretID, app.EnvAdminSecretKey + "=" + secretKey}))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	acct, err := a.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		log.Fatal(err)
	}
	if err := seed(ctx, a.Store, acct.ID, *events); err != nil {
		log.Fatal(err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	go a.Serve(sctx, ln)
	defer stop()
	url := "http://" + ln.Addr().String() + "/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	backend := "sqlite"
	if *database != "" {
		backend = "postgres"
	}
	fmt.Printf("backend %s, %d events, %d hosts, GOMAXPROCS 2 machine\n", backend, *events, hosts)

	// Latency: three-filter queries, page of 100, both orderings.
	rng := rand.New(rand.NewPCG(1, 2))
	var httpLat, storeLat []time.Duration
	shapeHTTP, shapeStore := map[string][]time.Duration{}, map[string][]time.Duration{}
	for i := 0; i < *queries; i++ {
		shape, body, q := query(rng, acct.ID)
		t := time.Now()
		if _, err := a.Store.QueryRiskProcessEvents(ctx, acct.ID, q); err != nil {
			log.Fatal(err)
		}
		d := time.Since(t)
		storeLat, shapeStore[shape] = append(storeLat, d), append(shapeStore[shape], d)
		t = time.Now()
		resp := post(client, url, "DescribeRiskProcessEvents", "2018-02-28", body)
		d = time.Since(t)
		httpLat, shapeHTTP[shape] = append(httpLat, d), append(shapeHTTP[shape], d)
		if i == 0 {
			fmt.Printf("sample response: %.200s…\n", resp)
		}
	}
	fmt.Printf("DescribeRiskProcessEvents, 3 filters, Limit 100 (%d calls):\n", *queries)
	fmt.Printf("  all shapes, signed HTTP  p50 %v  p90 %v  p99 %v  max %v\n", pct(httpLat, 50), pct(httpLat, 90), pct(httpLat, 99), pct(httpLat, 100))
	fmt.Printf("  all shapes, raw store    p50 %v  p90 %v  p99 %v  max %v\n", pct(storeLat, 50), pct(storeLat, 90), pct(storeLat, 99), pct(storeLat, 100))
	for _, shape := range slices.Sorted(maps.Keys(shapeHTTP)) {
		h, s := shapeHTTP[shape], shapeStore[shape]
		fmt.Printf("  %-40s HTTP p50 %v p99 %v | store p50 %v p99 %v (%d calls)\n", shape, pct(h, 50), pct(h, 99), pct(s, 50), pct(s, 99), len(h))
	}

	// Throughput of a simple Describe: DescribeVirusDetail of one event by Id.
	var n, errs atomic.Int64
	end := time.Now().Add(*duration)
	var wg sync.WaitGroup
	ids, err := a.Store.InsertVirusEvents(ctx, acct.ID, []store.VirusEvent{{HostUUID: "bench-host-1", ContainerID: "bench", FilePath: "/tmp/x",
		FileMD5: "0123456789abcdef0123456789abcdef", VirusName: virusName(1), RiskLevel: "RISK_HIGH", ModifyTime: time.Now()}})
	if err != nil {
		log.Fatal(err)
	}
	simple := []byte(fmt.Sprintf(`{"Id":"%d"}`, ids[0]))
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if bytes.Contains(post(client, url, "DescribeVirusDetail", "2020-11-01", simple), []byte(`"Error"`)) {
					errs.Add(1)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("DescribeVirusDetail throughput: %.0f requests/s (%d calls, %d errors, %d clients, %v)\n",
		float64(n.Load())/duration.Seconds(), n.Load(), errs.Load(), *workers, *duration)
}

func post(c *http.Client, url, action, version string, body []byte) []byte {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", version)
	api.SignTC3(req, body, secretID, secretKey, "cwp", time.Now())
	resp, err := c.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if bytes.Contains(b, []byte(`"Error"`)) && action != "" && !bytes.Contains(b, []byte("RequestLimit")) {
		log.Fatalf("error answer: %s", b)
	}
	return b
}

var t0 = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)

func virusName(i int) string { return fmt.Sprintf("Linux.Bench.Family%02d", i) }

// query returns one of three three-filter query shapes, as JSON and as the store query.
func query(rng *rand.Rand, account int64) (string, []byte, store.RiskProcessEventQuery) {
	begin := t0.Add(time.Duration(rng.IntN(80*24)) * time.Hour)
	endT := begin.Add(7 * 24 * time.Hour)
	order := []string{"StartTime", "DetectTime"}[rng.IntN(2)]
	asc := rng.IntN(2) == 0
	q := store.RiskProcessEventQuery{Limit: 100, Desc: !asc, StartFrom: begin, StartTo: endT}
	if order == "StartTime" {
		q.OrderBy = store.OrderByStartTime
	}
	type f struct {
		Name       string
		Values     []string
		ExactMatch bool `json:",omitempty"`
	}
	var fs []f
	var shape string
	timeFilters := []f{{Name: "BeginTime", Values: []string{begin.Format(time.DateTime)}}, {Name: "EndTime", Values: []string{endT.Format(time.DateTime)}}}
	switch rng.IntN(3) {
	case 0: // IpOrName substring + VirusName + time range
		shape = "IpOrName+VirusName+time range"
		ip := fmt.Sprintf("10.0.%d.", rng.IntN(hosts/50))
		v := virusName(rng.IntN(viruses))
		fs = append([]f{{Name: "IpOrName", Values: []string{ip}}, {Name: "VirusName", Values: []string{v}, ExactMatch: true}}, timeFilters...)
		q.IPOrName = store.TextFilter{Values: []string{ip}}
		q.VirusNames = store.TextFilter{Values: []string{v}, Exact: true}
	case 1: // HostId + Status + time range
		shape = "HostId+Status+time range"
		h := fmt.Sprintf("bench-host-%d", rng.IntN(hosts))
		fs = append([]f{{Name: "HostId", Values: []string{h}, ExactMatch: true}, {Name: "Status", Values: []string{"0"}}}, timeFilters...)
		q.HostIDs = store.TextFilter{Values: []string{h}, Exact: true}
		q.HandleStatuses = []store.HandleStatus{store.HandlePending}
	default: // VirusName + FilePath substring + Status
		shape = "VirusName+FilePath substring+Status"
		v := virusName(rng.IntN(viruses))
		fs = []f{{Name: "VirusName", Values: []string{v}, ExactMatch: true}, {Name: "FilePath", Values: []string{"/tmp/"}}, {Name: "Status", Values: []string{"2"}}}
		q.VirusNames = store.TextFilter{Values: []string{v}, Exact: true}
		q.FilePaths = store.TextFilter{Values: []string{"/tmp/"}}
		q.HandleStatuses = []store.HandleStatus{store.HandleKilled}
		q.StartFrom, q.StartTo = time.Time{}, time.Time{}
	}
	o := "DESC"
	if asc {
		o = "ASC"
	}
	body, _ := json.Marshal(map[string]any{"Filters": fs, "Limit": 100, "Order": o, "By": order})
	return shape + " by " + order, body, q
}

func seed(ctx context.Context, st store.Store, account int64, n int) error {
	page, err := st.QueryRiskProcessEvents(ctx, account, store.RiskProcessEventQuery{Limit: 1})
	if err != nil {
		return err
	}
	if page.Total >= int64(n) {
		return nil
	}
	fmt.Fprintf(os.Stderr, "seeding %d events (have %d)…\n", n, page.Total)
	var threats []store.Threat
	for i := 0; i < viruses; i++ {
		threats = append(threats, store.Threat{Name: virusName(i), Tags: []string{"bench"}, Desc: store.Localized{ZH: "测试", EN: "test"}, Solution: store.Localized{ZH: "无", EN: "none"}})
	}
	if err := st.UpsertThreats(ctx, threats); err != nil {
		return err
	}
	for h := 0; h < hosts; h++ {
		if _, err := st.UpsertHost(ctx, account, store.Host{UUID: fmt.Sprintf("bench-host-%d", h), Name: fmt.Sprintf("node-%03d.prod", h),
			PrivateIP: fmt.Sprintf("10.0.%d.%d", h/50, h%50+10), Online: h%7 != 0}); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	paths := []string{"/tmp/", "/dev/shm/", "/var/tmp/", "/usr/local/bin/", "/home/app/"}
	start := time.Now()
	const batch = 5000
	for done := int(page.Total); done < n; done += batch {
		evs := make([]store.RiskProcessEvent, 0, batch)
		for i := 0; i < batch && done+i < n; i++ {
			k := done + i
			st := t0.Add(time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
			evs = append(evs, store.RiskProcessEvent{
				HostUUID: fmt.Sprintf("bench-host-%d", rng.IntN(hosts)), PID: int64(k%4_000_000 + 100), PPID: 1,
				ProcessStartTime: st, ExePath: paths[rng.IntN(len(paths))] + fmt.Sprintf("bin%d", rng.IntN(1000)),
				CmdLine: "bench", VirusName: virusName(rng.IntN(viruses)), RuleName: "bench-" + strconv.Itoa(k),
				CheckPlatform: []string{"1"}, HandleStatus: store.HandleStatus(rng.IntN(6)),
				DetectTime: st.Add(time.Duration(rng.IntN(3600)) * time.Second),
			})
		}
		if _, err := st.InsertRiskProcessEvents(ctx, account, evs); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "seeded in %v\n", time.Since(start))
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	return benchstat.Percentile(d, p).Round(10 * time.Microsecond)
}
