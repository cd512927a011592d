package transport_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/spool"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// server runs `vigil server` as a subprocess, so it can be killed -9.
type server struct {
	t    *testing.T
	bin  string
	data string
	addr string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (s *server) start(token string) {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "server", "--data", s.data, "--listen", s.addr, "--log-level", "warn")
	s.cmd.Env = append(os.Environ(), "VIGIL_AGENT_TOKEN="+token)
	s.cmd.Stdout = lockedBuffer{s.mu, s.log}
	s.cmd.Stderr = lockedBuffer{s.mu, s.log}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("server did not come up:\n%s", s.logs())
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) kill9() {
	s.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	s.cmd.Wait()
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKill9NoLossNoDuplicates streams events from a spooling agent to a real
// server, kills the server with SIGKILL twice mid-stream, restarts it on the
// same data directory, and checks that every event arrived exactly once.
func TestKill9NoLossNoDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vigil binary")
	}
	t0 := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", bin, "github.com/vigil-sec/vigil/cmd/vigil")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("%v: built the vigil binary", time.Since(t0).Round(time.Millisecond))
	srv := &server{t: t, bin: bin, data: filepath.Join(dir, "data"), addr: freeAddr(t), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
	const token = "e2e-token-0123456789abcdef"
	srv.start(token)
	t.Logf("%v: started the server", time.Since(t0).Round(time.Millisecond))
	defer func() {
		if srv.cmd.ProcessState == nil {
			srv.stop()
		}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	agentDir := filepath.Join(dir, "agent")
	url := "http://" + srv.addr
	cred, err := transport.LoadOrEnroll(ctx, agentDir, url, token,
		wire.HostFacts{MachineID: "e2e-machine-0123456789", HostName: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(agentDir, transport.CredentialFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v, %v", fi, err)
	}
	client, err := transport.New(cred, transport.WithBackoff(20*time.Millisecond, 300*time.Millisecond),
		transport.WithTimeout(5*time.Second), transport.WithUploadBatch(200, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(agentDir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()

	var mu sync.Mutex
	var last transport.UploadStats
	upCtx, stopUploader := context.WithCancel(ctx)
	upDone := make(chan error, 1)
	go func() {
		upDone <- client.RunUploader(upCtx, sp, func(s transport.UploadStats) { mu.Lock(); last = s; mu.Unlock() })
	}()

	// Produce 4,000 events in batches of 10 over ~4 s.
	const batches, per = 400, 10
	start := time.Date(2024, 8, 27, 3, 30, 0, 0, time.UTC)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for b := range batches {
			evs := make([]wire.Event, per)
			for i := range evs {
				pid := int64(b*per + i + 1)
				evs[i] = wire.Event{PID: pid, StartTime: start.Add(time.Duration(pid) * time.Millisecond), VirusName: "Test.E2E",
					Rule: "e2e", Method: 1, DetectTime: start.Add(time.Hour)}
			}
			if err := transport.SpoolEvents(sp, evs...); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	for round := range 2 {
		time.Sleep(time.Second)
		mu.Lock()
		before := last.Accepted
		mu.Unlock()
		srv.kill9()
		t.Logf("round %d: killed the server with SIGKILL after %d accepted events; spool holds %+v", round, before, sp.Stats())
		time.Sleep(500 * time.Millisecond) // events pile up in the spool meanwhile
		srv.start(token)
	}
	<-prodDone
	t.Logf("%v: all events spooled", time.Since(t0).Round(time.Millisecond))
	deadline := time.Now().Add(60 * time.Second)
	for sp.Stats().Records > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spool not drained: %+v\nserver log:\n%s", sp.Stats(), srv.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%v: spool drained", time.Since(t0).Round(time.Millisecond))
	stopUploader()
	if err := <-upDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("uploader: %v", err)
	}
	mu.Lock()
	t.Logf("uploader: %+v (accepted counts resends after a kill)", last)
	mu.Unlock()
	srv.stop()
	t.Logf("%v: server stopped", time.Since(t0).Round(time.Millisecond))

	st, err := sqlite.Open(ctx, srv.data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.GetAccountByName(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	page, err := st.QueryRiskProcessEvents(ctx, acct.ID, store.RiskProcessEventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != batches*per {
		t.Fatalf("%d events stored, want exactly %d", page.Total, batches*per)
	}
	seen := make(map[int64]bool, batches*per)
	for _, e := range page.Items {
		if seen[e.PID] || e.HostUUID != cred.HostUUID {
			t.Fatalf("duplicate or foreign event %+v", e)
		}
		seen[e.PID] = true
	}
	for pid := int64(1); pid <= batches*per; pid++ {
		if !seen[pid] {
			t.Fatalf("event pid %d lost", pid)
		}
	}
	if sp.Dropped() != 0 {
		t.Errorf("spool dropped %d events", sp.Dropped())
	}

}
