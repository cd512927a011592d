// Package container benchmarks trojan-file detection in real containers
// (issue 5, §5): a private containerd with 20 busybox containers sharing one
// image, a real server (in this process, on SQLite), the `vigil agent`
// binary as a subprocess (its CPU read from /proc/PID/stat), and the
// official Go SDK reading what arrived. Run it with run.sh (as root); it is
// skipped unless VIGIL_BENCH=1.
//
//   - scan: a one-click scan (CreateVirusScanTask, all paths) of the 20
//     containers: files met × containers against files the engine read;
//   - latency: -files trojan samples written in one container, one every
//     100 ms; latency from each file's mtime to the DescribeVirusList poll
//     (every 20 ms) that first lists it;
//   - burst: a container writing ~5,000 small files/s for 10 s with 10
//     flagged files mixed in: flagged files listed, the watcher's counters
//     (from the agent's debug log), the agent's CPU.
package container

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
	"github.com/vigil-sec/vigil/internal/testutil/containerdtest"
	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

const (
	adminID  = "AKIDbenchCONTAINER000000000000000000"
	adminKey = "bench-container-secret-key-00000001"
)

var (
	containers  = envInt("CONTAINERS", 20)
	sharedFiles = envInt("SHARED_FILES", 200)
	latFiles    = envInt("FILES", 100)
	burstFiles  = envInt("BURST_FILES", 50_000)
	workers     = envInt("BURST_WORKERS", 2)
	pace        = os.Getenv("BURST_PACE") != "0" // BURST_PACE=0: the loops run flat out
)

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
		return n
	}
	return def
}

// syncBuffer is the agent's log.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitLog(t *testing.T, log *syncBuffer, re string, timeout time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		if m := rx.FindStringSubmatch(log.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the agent's log after %v", re, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tcssCall(c *common.Client, action string, params, out any) error {
	req := tchttp.NewCommonRequest("tcss", "2020-11-01", action)
	if err := req.SetActionParameters(params); err != nil {
		return err
	}
	resp := tchttp.NewCommonResponse()
	if err := c.Send(req, resp); err != nil {
		return err
	}
	var env struct{ Response json.RawMessage }
	if err := json.Unmarshal(resp.GetBody(), &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Response, out)
}

type item struct{ Id, FilePath, ContainerName string }

func list(t *testing.T, c *common.Client, containerName, fileName string) []item {
	t.Helper()
	var out []item
	for off := 0; ; off += 100 {
		var resp struct {
			TotalCount int
			List       []item
		}
		if err := tcssCall(c, "DescribeVirusList", map[string]any{"Limit": 100, "Offset": off, "Filters": []map[string]any{
			{"Name": "ContainerName", "Values": []string{containerName}, "ExactMatch": true},
			{"Name": "FileName", "Values": []string{fileName}}}}, &resp); err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.List...)
		if len(resp.List) < 100 {
			return out
		}
	}
}

// cpuOf is the process's user+system time.
func cpuOf(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// watcherStats are the last "container file watcher" counters logged.
func watcherStats(log string) map[string]int64 {
	lines := regexp.MustCompile(`msg="container file watcher[^"]*".*`).FindAllString(log, -1)
	st := map[string]int64{}
	if len(lines) == 0 {
		return st
	}
	for _, m := range regexp.MustCompile(`(\w+)=(\d+)`).FindAllStringSubmatch(lines[len(lines)-1], -1) {
		st[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
	}
	return st
}

func pushImage(t *testing.T, host string) string {
	base, err := containerdtest.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	entries := []imagetest.Entry{imagetest.Dir("opt/"), imagetest.Dir("opt/app/"), imagetest.Dir("opt/app/lib/")}
	for i := range sharedFiles {
		b := make([]byte, 16<<10)
		rand.Read(b)
		entries = append(entries, imagetest.File(fmt.Sprintf("opt/app/lib/f%04d.bin", i), b))
	}
	layer, err := imagetest.Layer(imagetest.Gzip, entries...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/bench/shared:1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestBench(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("VIGIL_BENCH=1 runs the container benchmark (run.sh)")
	}
	bin := os.Getenv("VIGIL_BIN")
	if bin == "" {
		t.Fatal("VIGIL_BIN: the vigil binary")
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("load average at start: %s", strings.TrimSpace(string(load)))
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	reg := registrytest.Start(t, registrytest.Options{})
	ref := pushImage(t, reg.Host)
	names := make([]string, containers)
	ks := make([]*containerdtest.Container, containers)
	for i := range containers {
		names[i] = containerdtest.Unique(fmt.Sprintf("bench%02d", i))
		ks[i] = ctrd.Run(t, "default", names[i], ref, "sleep", "3600")
	}

	// The server, in process.
	cfg := config.DefaultServer()
	cfg.Data, cfg.Listen, cfg.RateLimit, cfg.TimeZone = t.TempDir(), "127.0.0.1:0", 0, "UTC"
	a, err := app.Open(context.Background(), cfg, app.WithLogger(slog.New(slog.DiscardHandler)),
		app.WithEnviron([]string{app.EnvAdminSecretID + "=" + adminID, app.EnvAdminSecretKey + "=" + adminKey}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served; a.Close() })
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint, cp.HttpProfile.Scheme, cp.DisableRegionBreaker = ln.Addr().String(), "HTTP", true
	sdk := common.NewCommonClient(common.NewCredential(adminID, adminKey), "ap-guangzhou", cp)
	acct, err := a.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := agentapi.CreateToken(ctx, a.Store, acct.ID, agentapi.TokenOptions{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// The agent binary.
	agLog := &syncBuffer{}
	ag := exec.Command(bin, "agent", "--server", "http://"+ln.Addr().String(), "--token", token, "--data", filepath.Join(t.TempDir(), "agent"),
		"--containerd-socket", ctrd.Address, "--docker-socket", "-", "--log-level", "debug")
	ag.Stdout, ag.Stderr = agLog, agLog
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ag.Process.Signal(syscall.SIGTERM)
		ag.Wait()
		if m := regexp.MustCompile(`msg="container file watcher stopped".*`).FindString(agLog.String()); m != "" {
			t.Logf("agent at exit: %s", m)
		}
	})
	pid := ag.Process.Pid
	for _, n := range names {
		waitLog(t, agLog, `watching a container root filesystem.*container=`+regexp.QuoteMeta(n), 60*time.Second)
	}
	t.Logf("agent watching %d containers; agent CPU so far %v", containers, cpuOf(pid))

	t.Run("scan", func(t *testing.T) {
		c0, w0 := cpuOf(pid), time.Now()
		var task struct{ TaskID string }
		if err := tcssCall(sdk, "CreateVirusScanTask", map[string]any{"ScanPathAll": true, "ScanRangeType": 0, "ScanRangeAll": true, "Timeout": 1}, &task); err != nil {
			t.Fatal(err)
		}
		m := waitLog(t, agLog, `one-click scan finished" task=`+task.TaskID+` containers=(\d+) files=(\d+) files_read=(\d+) bytes_read=(\d+)`, 2*time.Minute)
		files, _ := strconv.Atoi(m[2])
		read, _ := strconv.Atoi(m[3])
		t.Logf("RESULT scan: %s containers, %d files met (%d per container), %d read by the engine (%s bytes) = %.2f reads per distinct file; %v wall, agent CPU %v",
			m[1], files, files/containers, read, m[4], float64(read)/float64(files/containers), time.Since(w0).Round(time.Millisecond), cpuOf(pid)-c0)
	})

	root := "/proc/" + strconv.Itoa(ks[0].PID) + "/root"
	t.Run("latency", func(t *testing.T) {
		seen := map[string]time.Time{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ks[0].Exec(t, "sh", "-c", `i=0; while [ $i -lt `+strconv.Itoa(latFiles)+` ]; do printf '%s%s' "$1" "$i" > /tmp/lat$i.sh; i=$((i+1)); sleep 0.1; done; :`,
				"sh", string(imagetest.MinerLauncher()))
		}()
		deadline := time.Now().Add(time.Duration(latFiles)*100*time.Millisecond + time.Minute)
		for len(seen) < latFiles && time.Now().Before(deadline) {
			for _, e := range list(t, sdk, names[0], "lat") {
				if _, ok := seen[e.FilePath]; !ok {
					seen[e.FilePath] = time.Now()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		<-done
		var lat []time.Duration
		for p, at := range seen {
			fi, err := os.Stat(root + p)
			if err != nil {
				t.Fatal(err)
			}
			lat = append(lat, at.Sub(fi.ModTime()))
		}
		if len(lat) == 0 {
			t.Fatal("no file listed")
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration {
			return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
		}
		t.Logf("RESULT latency: %d of %d files listed; write → DescribeVirusList p50 %v p90 %v p99 %v max %v",
			len(seen), latFiles, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Millisecond))
	})

	t.Run("burst", func(t *testing.T) {
		time.Sleep(6 * time.Second) // a fresh watcher stats line
		before := watcherStats(agLog.String())
		c0, w0 := cpuOf(pid), time.Now()
		// BURST_WORKERS shell loops, each ≤ 5,000/workers files/s (a batch,
		// then 0.1 s of sleep) unless BURST_PACE=0, a flagged file (distinct
		// content) every 5,000th.
		per := burstFiles / workers
		batch := 500 / workers
		if !pace {
			batch = per + 1
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ks[0].Exec(t, "sh", "-c", fmt.Sprintf(`mkdir -p /tmp/b%d; i=0; while [ $i -lt %d ]; do if [ $((i %% 5000)) -eq 2500 ]; then printf '%%s%%s' "$1" "%d-$i" > /tmp/b%d/flag$i.sh; else echo $i > /tmp/b%d/f$i; fi; i=$((i+1)); if [ $((i %% %d)) -eq 0 ]; then sleep 0.1; fi; done; :`,
					w, per, w, w, w, batch), "sh", string(imagetest.MinerLauncher()))
			}()
		}
		wg.Wait()
		gen := time.Since(w0)
		flagged := workers * ((per + 2499) / 5000)
		var found int
		var lastAt time.Duration
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			found = len(list(t, sdk, names[0], "flag"))
			if found >= flagged {
				lastAt = time.Since(w0) - gen
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		used, wall := cpuOf(pid)-c0, time.Since(w0)
		time.Sleep(6 * time.Second) // the watcher's counters after the burst
		after := watcherStats(agLog.String())
		d := func(k string) int64 { return after[k] - before[k] }
		t.Logf("RESULT burst (%d loops, paced %v): %d files in %v (%.0f/s), %d flagged: %d listed (last %v after the burst); watcher events %d delivered %d coalesced %d dropped %d overflows %d rescans %d rescanned %d skipped %d; agent CPU %v over %v = %.0f %% of a core",
			workers, pace, burstFiles, gen.Round(time.Millisecond), float64(burstFiles)/gen.Seconds(), flagged, found, lastAt.Round(time.Millisecond),
			d("events"), d("delivered"), d("coalesced"), d("dropped"), d("overflows"), d("rescans"), d("rescanned"), d("skipped"),
			used, wall.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds())
		if found < flagged {
			t.Errorf("%d of %d flagged files listed", found, flagged)
		}
	})
	load, _ = os.ReadFile("/proc/loadavg")
	t.Logf("load average at end: %s", strings.TrimSpace(string(load)))
}
