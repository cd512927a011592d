package agentapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	st    store.Store
	h     *agentapi.Handler
	srv   *httptest.Server
	clock *clock
	acct  store.Account
	token string
}

func newEnv(t *testing.T, opts ...agentapi.Option) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Now()}
	h := agentapi.NewHandler(st, append([]agentapi.Option{agentapi.WithClock(c.now)}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle(wire.Prefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Shutdown)
	acct, err := st.CreateAccount(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := agentapi.CreateToken(t.Context(), st, acct.ID, agentapi.TokenOptions{}, c.now())
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, h: h, srv: srv, clock: c, acct: acct, token: tok}
}

func facts(machine string) wire.HostFacts {
	return wire.HostFacts{MachineID: machine, HostName: "web-1", PrivateIP: "10.0.0.5", OS: "Debian 12", Kernel: "6.1", AgentVersion: "test"}
}

const machineA = "0123456789abcdef0123456789abcdef"

func (e *env) enroll(t *testing.T, token, machine string) (transport.Credential, *transport.Client) {
	t.Helper()
	cred, err := transport.Enroll(t.Context(), e.srv.URL, token, facts(machine), transport.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.New(cred, transport.WithMaxAttempts(1), transport.WithPollWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return cred, c
}

func TestEnroll(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, token, machine string
		want                 error
	}{
		{"unknown token", "vgt_nope", machineA, transport.ErrUnauthorized},
		{"no token", "", machineA, transport.ErrUnauthorized},
	} {
		_, err := transport.Enroll(ctx, e.srv.URL, tc.token, facts(tc.machine), transport.WithMaxAttempts(1))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	_, err := transport.Enroll(ctx, e.srv.URL, e.token, facts("short"), transport.WithMaxAttempts(1))
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Errorf("bad machine id: err = %v, want 400", err)
	}

	cred1, c1 := e.enroll(t, e.token, machineA)
	if cred1.HostUUID != agentapi.HostUUID(e.acct.ID, machineA) || !strings.HasPrefix(cred1.CredentialID, agentapi.CredentialPrefix) || len(cred1.Secret) < 40 {
		t.Fatalf("credential %+v", cred1)
	}
	h, err := e.st.GetHost(ctx, e.acct.ID, cred1.HostUUID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "web-1" || h.MachineType != agentapi.MachineType || h.Region != agentapi.MachineRegion || !h.Online || h.QUUID != cred1.QUUID || h.QUUID == "" {
		t.Errorf("host %+v", h)
	}
	if _, err := c1.Heartbeat(ctx, wire.HeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}

	// Re-enrolling the machine keeps its UUID, issues a new credential and
	// revokes the old one (effective once the 5 s cache expired).
	cred2, c2 := e.enroll(t, e.token, machineA)
	if cred2.HostUUID != cred1.HostUUID || cred2.CredentialID == cred1.CredentialID {
		t.Fatalf("re-enroll: %+v after %+v", cred2, cred1)
	}
	e.clock.add(6 * time.Second)
	if _, err := c1.Heartbeat(ctx, wire.HeartbeatRequest{}); !errors.Is(err, transport.ErrUnauthorized) {
		t.Errorf("old credential after re-enroll: err = %v", err)
	}
	if _, err := c2.Heartbeat(ctx, wire.HeartbeatRequest{}); err != nil {
		t.Errorf("new credential: %v", err)
	}
	if p := e.st; p != nil {
		hosts, _ := p.QueryHosts(ctx, e.acct.ID, store.HostQuery{})
		if hosts.Total != 1 {
			t.Errorf("%d hosts after re-enroll, want 1", hosts.Total)
		}
	}

	// A revoked token enrolls nobody; a revoked credential stops working.
	toks, _ := e.st.ListEnrollTokens(ctx, e.acct.ID)
	if err := e.st.RevokeEnrollToken(ctx, e.acct.ID, toks[0].ID, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := transport.Enroll(ctx, e.srv.URL, e.token, facts(machineA), transport.WithMaxAttempts(1)); !errors.Is(err, transport.ErrUnauthorized) {
		t.Errorf("revoked token: err = %v", err)
	}
	if err := e.st.RevokeAgentCredential(ctx, e.acct.ID, cred2.CredentialID, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	e.clock.add(6 * time.Second)
	if _, err := c2.Heartbeat(ctx, wire.HeartbeatRequest{}); !errors.Is(err, transport.ErrUnauthorized) {
		t.Errorf("revoked credential: err = %v", err)
	}
}

func TestAuthHeader(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.enroll(t, e.token, machineA)
	for _, auth := range []string{
		"",
		"Basic abc",
		"Bearer " + cred.CredentialID,
		"Bearer " + cred.CredentialID + ".",
		"Bearer " + cred.CredentialID + "." + cred.Secret + "x",
		"Bearer vac_unknown." + cred.Secret,
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+wire.PathHeartbeat, strings.NewReader("{}"))
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func event(pid int64, start time.Time) wire.Event {
	return wire.Event{PID: pid, PPID: 1, StartTime: start, ExePath: "/dev/shm/x", CmdLine: "./x --donate-level 1",
		ExeMD5: "d41d8cd98f00b204e9800998ecf8427e", VirusName: "Miner.Xmrig", Rule: "miner_cmdline", CheckPlatform: []string{"4"},
		Method: 1, DetectTime: start.Add(time.Second)}
}

func TestEventsIdempotentAndIsolated(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cred, c := e.enroll(t, e.token, machineA)

	// A second account with a host of its own.
	beta, _ := e.st.CreateAccount(ctx, "beta")
	_, btok, _ := agentapi.CreateToken(ctx, e.st, beta.ID, agentapi.TokenOptions{}, e.clock.now())
	credB, _ := e.enroll(t, btok, machineA) // the same machine in another account: another UUID
	if credB.HostUUID == cred.HostUUID {
		t.Fatal("the same machine has the same UUID in two accounts")
	}

	start := time.Date(2024, 8, 27, 3, 30, 0, 0, time.UTC)
	batch := []wire.Event{event(100, start), event(101, start), {PID: 5, StartTime: start}, event(102, start)}
	resp, err := c.SendEvents(ctx, wire.EventsRequest{Events: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 3 || len(resp.Rejected) != 1 || resp.Rejected[0].Index != 2 || resp.EventIDs[2] != 0 || resp.EventIDs[0] == 0 {
		t.Fatalf("first upload: %+v", resp)
	}
	again, err := c.SendEvents(ctx, wire.EventsRequest{Events: batch})
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if again.EventIDs[i] != resp.EventIDs[i] {
			t.Errorf("resent event %d got id %d, first %d", i, again.EventIDs[i], resp.EventIDs[i])
		}
	}
	page, err := e.st.QueryRiskProcessEvents(ctx, e.acct.ID, store.RiskProcessEventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 3 {
		t.Fatalf("%d events stored, want 3", page.Total)
	}
	for _, ev := range page.Items {
		if ev.HostUUID != cred.HostUUID || ev.FirstDetectionMethod != 1 || ev.VirusName != "Miner.Xmrig" {
			t.Errorf("stored %+v", ev)
		}
	}
	if p, _ := e.st.QueryRiskProcessEvents(ctx, beta.ID, store.RiskProcessEventQuery{}); p.Total != 0 {
		t.Errorf("beta sees %d events", p.Total)
	}
}

func TestEventsLimits(t *testing.T) {
	e := newEnv(t, agentapi.WithMaxEventsBody(4096))
	cred, _ := e.enroll(t, e.token, machineA)
	big, _ := json.Marshal(wire.EventsRequest{Events: []wire.Event{{CmdLine: strings.Repeat("a", 5000)}}})
	req, _ := http.NewRequest("POST", e.srv.URL+wire.PathEvents, bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+cred.CredentialID+"."+cred.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized upload: %d, want 413", resp.StatusCode)
	}
}

func TestEventFilter(t *testing.T) {
	e := newEnv(t, agentapi.WithEventFilter(func(_ context.Context, _ int64, _ string, evs []store.RiskProcessEvent) ([]store.RiskProcessEvent, error) {
		return evs[1:], nil // "whitelist" the first
	}))
	_, c := e.enroll(t, e.token, machineA)
	start := time.Now().Add(-time.Minute)
	resp, err := c.SendEvents(t.Context(), wire.EventsRequest{Events: []wire.Event{event(1, start), event(2, start)}, Dropped: 7})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 2 || resp.EventIDs[0] != 0 || resp.EventIDs[1] == 0 || resp.DroppedAck != 7 {
		t.Fatalf("%+v", resp)
	}
	// One event twice in an upload (two detections of a process in the
	// agent's spool): both copies kept by the filter get the event's id.
	resp, err = c.SendEvents(t.Context(), wire.EventsRequest{Events: []wire.Event{event(3, start), event(4, start), event(4, start)}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 3 || resp.EventIDs[0] != 0 || resp.EventIDs[1] == 0 || resp.EventIDs[2] != resp.EventIDs[1] {
		t.Fatalf("duplicate in one upload: %+v", resp)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cred, c := e.enroll(t, e.token, machineA)
	e.clock.add(time.Minute)
	f := facts("ignored-machine-id-0000")
	f.HostName, f.PublicIP = "web-2", "203.0.113.7"
	resp, err := c.Heartbeat(ctx, wire.HeartbeatRequest{Host: f})
	if err != nil {
		t.Fatal(err)
	}
	if resp.IntervalSeconds != 30 {
		t.Errorf("interval %d", resp.IntervalSeconds)
	}
	h, _ := e.st.GetHost(ctx, e.acct.ID, cred.HostUUID)
	if h.Name != "web-2" || h.PublicIP != "203.0.113.7" || h.PrivateIP != "10.0.0.5" || !h.Online ||
		!h.LastSeen.Equal(store.UTC(e.clock.now())) || !agentapi.Online(h, e.clock.now()) {
		t.Errorf("after heartbeat: %+v", h)
	}
	if agentapi.Online(h, e.clock.now().Add(2*time.Minute)) {
		t.Error("online after 4 missed heartbeats")
	}
	if _, err := c.Heartbeat(ctx, wire.HeartbeatRequest{Stopping: true}); err != nil {
		t.Fatal(err)
	}
	if h, _ := e.st.GetHost(ctx, e.acct.ID, cred.HostUUID); h.Online {
		t.Error("online after a stopping heartbeat")
	}
}

func TestCommands(t *testing.T) {
	var results atomic.Int32
	e := newEnv(t, agentapi.WithPollInterval(time.Hour), // only the local wake-up can answer fast
		agentapi.WithOnResult(func(context.Context, store.AgentCommand) { results.Add(1) }))
	ctx := t.Context()
	cred, c := e.enroll(t, e.token, machineA)

	// A long poll is answered as soon as a command is enqueued.
	got := make(chan []wire.Command, 1)
	go func() {
		cmds, err := c.PollCommands(ctx, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- cmds
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Date(2024, 8, 27, 3, 30, 0, 0, time.UTC)
	queued, err := e.h.Enqueue(ctx, e.acct.ID, cred.HostUUID, agentapi.KillCommand(4242, start, 17))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var cmds []wire.Command
	select {
	case cmds = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("long poll not woken by Enqueue")
	}
	t.Logf("long poll answered %v after Enqueue", time.Since(t0))
	if len(cmds) != 1 || cmds[0].ID != queued.ID || cmds[0].Kind != wire.CommandKill {
		t.Fatalf("commands %+v", cmds)
	}
	var kp wire.KillPayload
	if err := json.Unmarshal(cmds[0].Payload, &kp); err != nil || kp.PID != 4242 || !kp.StartTime.Equal(start) || kp.EventID != 17 {
		t.Fatalf("payload %s (%v)", cmds[0].Payload, err)
	}
	// Handed out once: an immediate poll finds nothing.
	if cmds, err := c.PollCommands(ctx, 0); err != nil || len(cmds) != 0 {
		t.Fatalf("second poll: %+v, %v", cmds, err)
	}
	res, _ := json.Marshal(wire.KillResult{Killed: true})
	for range 2 { // reporting twice is harmless
		if err := c.ReportResult(ctx, queued.ID, wire.CommandResult{OK: true, Result: res}); err != nil {
			t.Fatal(err)
		}
	}
	done, err := e.h.Result(ctx, e.acct.ID, queued.ID)
	if err != nil || done.Status != store.CommandDone {
		t.Fatalf("result %+v, %v", done, err)
	}
	if results.Load() != 2 {
		t.Errorf("OnResult called %d times", results.Load())
	}

	// Another host (of another account) can neither see nor answer it.
	beta, _ := e.st.CreateAccount(ctx, "beta")
	_, btok, _ := agentapi.CreateToken(ctx, e.st, beta.ID, agentapi.TokenOptions{}, e.clock.now())
	_, cb := e.enroll(t, btok, "fedcba9876543210fedcba9876543210")
	var se *transport.StatusError
	if err := cb.ReportResult(ctx, queued.ID, wire.CommandResult{OK: false}); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Errorf("foreign result: %v", err)
	}
	if _, err := e.h.Enqueue(ctx, beta.ID, cred.HostUUID, agentapi.KillCommand(1, start, 0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enqueue for another account's host: %v", err)
	}

	// Heartbeats deliver commands too; unanswered ones come back later.
	q2, _ := e.h.Enqueue(ctx, e.acct.ID, cred.HostUUID, agentapi.Command{Kind: "noop"})
	hb, err := c.Heartbeat(ctx, wire.HeartbeatRequest{})
	if err != nil || len(hb.Commands) != 1 || hb.Commands[0].ID != q2.ID {
		t.Fatalf("heartbeat commands %+v, %v", hb.Commands, err)
	}
	e.clock.add(3 * time.Minute)
	cmds, err = c.PollCommands(ctx, 0)
	if err != nil || len(cmds) != 1 || cmds[0].ID != q2.ID || cmds[0].Attempts != 2 {
		t.Fatalf("redelivery %+v, %v", cmds, err)
	}
}

func TestEnsureToken(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	const tok = "a-token-chosen-by-the-operator"
	for i, want := range []bool{true, false} {
		got, err := agentapi.EnsureToken(ctx, e.st, e.acct.ID, tok, "env", e.clock.now())
		if err != nil || got != want {
			t.Fatalf("call %d: installed %v, %v", i, got, err)
		}
	}
	beta, _ := e.st.CreateAccount(ctx, "beta")
	if _, err := agentapi.EnsureToken(ctx, e.st, beta.ID, tok, "env", e.clock.now()); err == nil {
		t.Error("the same token installed for a second account")
	}
	if _, err := agentapi.EnsureToken(ctx, e.st, e.acct.ID, "short", "env", e.clock.now()); err == nil {
		t.Error("a short token accepted")
	}
	e.enroll(t, tok, machineA)
}
