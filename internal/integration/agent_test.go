package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
)

// The host agent end to end: a real server (app.Open + Serve on a socket),
// the real `vigil agent` binary as a subprocess (root, netlink connector),
// real processes planted in /dev/shm, and the official Go SDK reading what
// arrived.

var (
	vigilBinOnce sync.Once
	vigilBin     string
	vigilBinErr  error
)

// buildVigil builds cmd/vigil once per test run.
func buildVigil(t *testing.T) string {
	t.Helper()
	vigilBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-integration-bin")
		if err != nil {
			vigilBinErr = err
			return
		}
		vigilBin = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", vigilBin, "github.com/vigil-sec/vigil/cmd/vigil").CombinedOutput()
		if err != nil {
			vigilBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if vigilBinErr != nil {
		t.Fatal(vigilBinErr)
	}
	return vigilBin
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// agentProc is a running `vigil agent`.
type agentProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func startAgent(t *testing.T, ts *testServer, token, dataDir string, extra ...string) *agentProc {
	t.Helper()
	args := append([]string{"agent", "--server", "http://" + ts.Addr, "--token", token, "--data", dataDir}, extra...)
	cmd := exec.Command(buildVigil(t), args...)
	cmd.Env = os.Environ()
	a := &agentProc{t: t, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	return a
}

// waitLog waits until the agent's log has n lines matching re.
func (a *agentProc) waitLog(re string, n int, timeout time.Duration) {
	a.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if len(rx.FindAllString(a.log.String(), -1)) >= n {
			return
		}
		select {
		case <-a.done:
			a.t.Fatalf("agent exited:\n%s", a.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	a.t.Fatalf("no %q in the agent's log after %v:\n%s", re, timeout, a.log.String())
}

func (a *agentProc) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("agent did not stop on SIGTERM")
	}
}

// riskEvent is the part of cwp's RiskProcessEvent the tests look at.
type riskEvent struct {
	EventId              int64
	HostName             string
	HostIp               string
	ProcessId            int64
	FilePath             string
	CmdLine              string
	StartTime            string
	DetectTime           string
	VirusName            string
	CheckPlatform        []string
	VirusTags            []string
	ThreatDesc           string
	SuggestSolution      string
	HandleStatus         int64
	OnlineStatus         int64
	Uuid                 string
	QUUID                string
	ExeMd5               string
	FirstDetectionMethod int64
}

func describeRisk(t *testing.T, ts *testServer, filters ...map[string]any) []riskEvent {
	t.Helper()
	var all []riskEvent
	for offset := 0; ; offset += 100 {
		params := map[string]any{"Limit": 100, "Offset": offset}
		if len(filters) > 0 {
			params["Filters"] = filters
		}
		var resp struct {
			TotalCount int
			List       []riskEvent
		}
		if err := cwpCall(ts.admin(), "DescribeRiskProcessEvents", params, &resp); err != nil {
			t.Fatal(err)
		}
		all = append(all, resp.List...)
		if len(resp.List) < 100 {
			return all
		}
	}
}

// waitRisk polls until pid has an event of virus; it returns the event and
// when it was first seen.
func waitRisk(t *testing.T, ts *testServer, pid int, virus string, timeout time.Duration) (riskEvent, time.Time) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range describeRisk(t, ts, map[string]any{"Name": "ProcessId", "Values": []string{strconv.Itoa(pid)}}) {
			if e.VirusName == virus && e.ProcessId == int64(pid) {
				return e, time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for pid %d within %v", virus, pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// plant copies /bin/bash into dir as name and runs it with argv, keeping it
// alive: bash runs `sleep 600; :` (the ": " keeps bash from exec'ing sleep,
// so the process keeps its command line) and ignores the rest of argv.
func plant(t *testing.T, dir, name string, argv ...string) *exec.Cmd {
	t.Helper()
	exe := filepath.Join(dir, name)
	if _, err := os.Stat(exe); err != nil {
		// cp, not os.WriteFile: a writable fd of ours could leak into a
		// child forked concurrently, and exec would fail with "text file busy".
		if out, err := exec.Command("cp", "/bin/bash", exe).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	cmd := exec.Command(exe)
	cmd.Args = append([]string{argv[0], "-c", "sleep 600; :"}, argv...)
	cmd.Dir = dir
	// Its own process group, killed whole below: bash's sleep would
	// otherwise outlive the test by ten minutes, holding the descriptors it
	// inherited (the test runner's output among them).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the vigil agent")
	}
	if os.Geteuid() != 0 {
		t.Skip("the agent's process connector and kills need root")
	}
}

// tolerated reports whether an event of the machine's own processes is
// tolerated: on this shared development machine other engineers run test
// binaries built straight into /tmp, which ExecFromTmp rightly flags.
// VIGIL_STRICT_CLEAN (CI, a dedicated machine) tolerates nothing.
func tolerated(e riskEvent) bool {
	return os.Getenv("VIGIL_STRICT_CLEAN") == "" && e.VirusName == "Linux.Risk.ExecFromTmp" &&
		(strings.HasPrefix(e.FilePath, "/tmp/") || strings.HasPrefix(e.FilePath, "/var/tmp/"))
}

// join concatenates at run time (the compiler folds constant concatenation).
func join(parts ...string) string { return strings.Join(parts, "") }

func fileMD5(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// TestAgentEndToEnd: clean machine → zero events; a miner-like and a
// scanner-like process → events within the latency target, with the right
// fields; a kill command kills exactly that process; a stale kill (reused
// pid) kills nothing; an agent restart duplicates nothing.
func TestAgentEndToEnd(t *testing.T) {
	requireRoot(t)
	ts := startServer(t)
	ctx := context.Background()
	acct, err := ts.App.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := agentapi.CreateToken(ctx, ts.App.Store, acct.ID, agentapi.TokenOptions{Description: "e2e"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	ag := startAgent(t, ts, token, dataDir, "--log-level", "info")
	ag.waitLog(`msg="sweep done" reason=start`, 1, 60*time.Second)
	if !strings.Contains(ag.log.String(), "agent enrolled") {
		t.Fatalf("no enrollment in the log")
	}
	cred, err := os.ReadFile(filepath.Join(dataDir, "agent-credential.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dataDir, "agent-credential.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("credential mode %v", st.Mode())
	}
	var c struct {
		HostUUID string `json:"host_uuid"`
	}
	json.Unmarshal(cred, &c)

	// 1. The machine's own processes: nothing (beyond tolerated /tmp test binaries).
	time.Sleep(500 * time.Millisecond) // let the uploader deliver the sweep's events
	baseline := describeRisk(t, ts)
	for _, e := range baseline {
		if e.ProcessId == int64(os.Getpid()) {
			// This test binary embeds the other integration tests' miner
			// command lines and samples: the engine is right to flag it.
			t.Logf("the test process itself: %s", e.VirusName)
			continue
		}
		if tolerated(e) {
			t.Logf("tolerated on a shared machine: pid %d %s: %s", e.ProcessId, e.FilePath, e.VirusName)
			continue
		}
		t.Errorf("event on an ordinary process: pid %d %s %q: %s", e.ProcessId, e.FilePath, e.CmdLine, e.VirusName)
	}

	// 2. Plant a miner and a scanner in /dev/shm.
	shm, err := os.MkdirTemp("/dev/shm", "vigil-e2e-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	t0 := time.Now()
	// The miner's words are assembled at run time: as literals they would
	// sit in this test binary, which the agent (rightly) flags as a miner.
	donate, pool := join("--", "donate", "-", "level"), join("strat", "um+tcp://pool.example:3333")
	miner := plant(t, shm, "xmr", "/dev/shm/xmr", donate, "1", "-o", pool, "-u", "wallet")
	minerEv, seen := waitRisk(t, ts, miner.Process.Pid, "Linux.Miner.CmdLine", 5*time.Second)
	minerLatency := seen.Sub(t0)
	t1 := time.Now()
	scanner := plant(t, shm, "dev", "./dev", "-h", "10.0.0.1/24", "-m", "ssh", "-nopoc")
	scanEv, seen := waitRisk(t, ts, scanner.Process.Pid, "Linux.HackTool.IntranetScanner", 5*time.Second)
	scanLatency := seen.Sub(t1)
	t.Logf("exec → visible in DescribeRiskProcessEvents: miner %v, scanner %v", minerLatency, scanLatency)
	for _, l := range []time.Duration{minerLatency, scanLatency} {
		if l > 2*time.Second {
			t.Errorf("latency %v > 2 s", l)
		}
	}
	hostName, _ := os.Hostname()
	bashMD5 := fileMD5(t, "/bin/bash")
	for _, tc := range []struct {
		ev      riskEvent
		pid     int
		exe     string
		cmdPart string
	}{
		{minerEv, miner.Process.Pid, filepath.Join(shm, "xmr"), donate + " 1 -o " + pool + " -u wallet"},
		{scanEv, scanner.Process.Pid, filepath.Join(shm, "dev"), "./dev -h 10.0.0.1/24 -m ssh -nopoc"},
	} {
		e := tc.ev
		switch {
		case e.ProcessId != int64(tc.pid):
			t.Errorf("ProcessId %d, want %d", e.ProcessId, tc.pid)
		case e.FilePath != tc.exe:
			t.Errorf("FilePath %q, want %q", e.FilePath, tc.exe)
		case !strings.Contains(e.CmdLine, tc.cmdPart):
			t.Errorf("CmdLine %q lacks %q", e.CmdLine, tc.cmdPart)
		case e.ExeMd5 != bashMD5:
			t.Errorf("ExeMd5 %q, want %q", e.ExeMd5, bashMD5)
		case e.HostName != hostName:
			t.Errorf("HostName %q, want %q", e.HostName, hostName)
		case e.FirstDetectionMethod != 1:
			t.Errorf("FirstDetectionMethod %d, want 1 (real time)", e.FirstDetectionMethod)
		case e.Uuid != c.HostUUID || e.QUUID == "":
			t.Errorf("Uuid %q QUUID %q, want %q", e.Uuid, e.QUUID, c.HostUUID)
		case e.StartTime == "" || e.DetectTime == "" || len(e.CheckPlatform) == 0:
			t.Errorf("empty fields: %+v", e)
		case e.OnlineStatus != 1:
			t.Errorf("OnlineStatus %d, want 1", e.OnlineStatus)
		}
	}
	// Both are in /dev/shm too.
	waitRisk(t, ts, miner.Process.Pid, "Linux.Risk.ExecFromTmp", time.Second)

	// 3. Kill: exactly the miner; a decoy sleep and the scanner survive.
	decoy := exec.Command("sleep", "600")
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { decoy.Process.Kill(); decoy.Wait() })
	stored, err := ts.App.Store.GetRiskProcessEvent(ctx, acct.ID, minerEv.EventId)
	if err != nil {
		t.Fatal(err)
	}
	// Through the official SDK: ModifyRiskEventsStatus Operate 7 (kill).
	if err := cwpCall(ts.admin(), "ModifyRiskEventsStatus", map[string]any{
		"RiskType": "PROCESS", "Operate": 7, "Ids": []uint64{uint64(minerEv.EventId)},
	}, nil); err != nil {
		t.Fatalf("ModifyRiskEventsStatus Operate 7: %v", err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- miner.Wait() }()
	select {
	case err := <-waitErr:
		if ws, ok := miner.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("miner ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the miner still runs after the kill")
	}
	// The kill result moves the event to killed (HandleStatus 3).
	for deadline := time.Now().Add(5 * time.Second); ; {
		ev, _ := waitRisk(t, ts, miner.Process.Pid, "Linux.Miner.CmdLine", time.Second)
		if ev.HandleStatus == int64(store.HandleKilled) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("HandleStatus %d after the kill, want %d (killed)", ev.HandleStatus, store.HandleKilled)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range []*exec.Cmd{decoy, scanner} {
		if err := p.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("pid %d was hit by the kill: %v", p.Process.Pid, err)
		}
	}
	// Killing it again: the process is gone → exited, not an error.
	if res := runCommand(t, ts, acct.ID, c.HostUUID, agentapi.KillCommand(stored.PID, stored.ProcessStartTime, stored.ID)); !res.Exited || res.Killed {
		t.Errorf("second kill: %+v, want exited", res)
	}
	// A kill naming the decoy's pid with another start time (the pid was
	// "reused"): nothing is killed.
	if res := runCommand(t, ts, acct.ID, c.HostUUID, agentapi.KillCommand(int64(decoy.Process.Pid), stored.ProcessStartTime, 0)); !res.Exited || res.Killed {
		t.Errorf("kill of a reused pid: %+v, want exited", res)
	}
	if err := decoy.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("decoy killed by a kill with the wrong start time: %v", err)
	}

	// 4. Restart: no duplicates (stable start times, server-side dedup).
	before := describeRisk(t, ts)
	ag.stop()
	if !strings.Contains(ag.log.String(), "agent stopped") {
		t.Errorf("no graceful stop in the log")
	}
	ag2 := startAgent(t, ts, "", dataDir, "--log-level", "info")
	ag2.waitLog(`msg="sweep done" reason=start`, 1, 60*time.Second)
	if strings.Contains(ag2.log.String(), "agent enrolled") && !strings.Contains(ag2.log.String(), c.HostUUID) {
		t.Errorf("restart enrolled as another host")
	}
	// The sweep re-reported the scanner (method 0); give the uploader time.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(ag2.log.String(), "pid="+strconv.Itoa(scanner.Process.Pid)) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	after := describeRisk(t, ts)
	count := func(evs []riskEvent) map[string]int {
		m := map[string]int{}
		for _, e := range evs {
			m[fmt.Sprintf("%d %s", e.ProcessId, e.VirusName)]++
		}
		return m
	}
	cb, ca := count(before), count(after)
	for k, n := range ca {
		if n > 1 {
			t.Errorf("duplicate events after restart: %s ×%d", k, n)
		}
		if cb[k] == 0 && !strings.HasPrefix(k, "0 ") {
			// New processes of other engineers may appear meanwhile; the
			// planted ones must not.
			if strings.HasPrefix(k, strconv.Itoa(scanner.Process.Pid)+" ") {
				t.Errorf("new event for the scanner after restart: %s", k)
			}
		}
	}
	if ca[fmt.Sprintf("%d Linux.HackTool.IntranetScanner", scanner.Process.Pid)] != 1 {
		t.Errorf("scanner events after restart: %v", ca)
	}
	for _, e := range after {
		if e.ProcessId == int64(scanner.Process.Pid) && e.FirstDetectionMethod != 1 {
			t.Errorf("restart changed FirstDetectionMethod to %d", e.FirstDetectionMethod)
		}
	}
}

// runCommand enqueues cmd for the host and waits for its kill result.
func runCommand(t *testing.T, ts *testServer, accountID int64, hostUUID string, cmd agentapi.Command) wire.KillResult {
	t.Helper()
	ctx := context.Background()
	c, err := ts.App.Agents.Enqueue(ctx, accountID, hostUUID, cmd)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got, err := ts.App.Agents.Result(ctx, accountID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.CommandDone || got.Status == store.CommandFailed {
			var r wire.KillResult
			if got.Status == store.CommandFailed {
				t.Fatalf("command failed: %+v", got)
			}
			if err := json.Unmarshal(got.Result, &r); err != nil {
				t.Fatalf("result %q: %v", got.Result, err)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("command %d not answered", c.ID)
	return wire.KillResult{}
}

// TestLocalAgent: `vigil server --local-agent` watches this machine with no
// token or address to configure: a planted miner shows up in
// DescribeRiskProcessEvents, and DescribeMachines-level facts are there.
func TestLocalAgent(t *testing.T) {
	requireRoot(t)
	ts := startServer(t, func(c *config.Server) { c.LocalAgent = true })
	shm, err := os.MkdirTemp("/dev/shm", "vigil-local-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	// Wait for the enrollment (credential written) and the initial sweep.
	cred := filepath.Join(ts.cfg.Data, app.LocalAgentDir, "agent-credential.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(cred); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the local agent did not enroll")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // initial sweep
	t0 := time.Now()
	miner := plant(t, shm, "xmr", "/dev/shm/xmr", join("--", "donate", "-", "level"), "1", "-u", "wallet")
	e, seen := waitRisk(t, ts, miner.Process.Pid, "Linux.Miner.CmdLine", 5*time.Second)
	t.Logf("local agent: exec → visible %v", seen.Sub(t0))
	hostName, _ := os.Hostname()
	if e.HostName != hostName || e.FirstDetectionMethod != 1 || e.FilePath != filepath.Join(shm, "xmr") {
		t.Errorf("event %+v", e)
	}
}
