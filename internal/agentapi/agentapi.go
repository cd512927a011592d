// Package agentapi is the server side of vigil's agent protocol: how a host
// agent enrolls, authenticates, reports risk-process events and heartbeats,
// and receives commands. The agent side is internal/agent/transport; the
// JSON messages are in agentapi/wire.
//
// # Protocol
//
// HTTP/JSON under /agent/v1/ on the API server's listener (HTTP/1.1, and
// HTTP/2 when the server has TLS). Errors are a non-2xx status with a
// wire.Error body.
//
//	POST /agent/v1/enroll                  {token, host}  → {host_uuid, quuid, credential_id, secret}
//	POST /agent/v1/heartbeat               {host, dropped, spooled, stopping} → {interval_seconds, commands, dropped_ack}
//	POST /agent/v1/events                  {events, dropped} → {accepted, event_ids, rejected, dropped_ack}
//	GET  /agent/v1/commands?wait=25s       → {commands}   (long poll)
//	POST /agent/v1/commands/{id}/result    {ok, error, result}
//	POST /agent/v1/virus-events            trojan files in containers (virus.go)
//	POST /agent/v1/scan-progress           one-click scan reports (virus.go)
//
// Enrollment: an operator creates an enrollment token for an account
// (`vigil tokens create`, or VIGIL_AGENT_TOKEN for the default account); the
// store keeps its SHA-256 only, with optional max uses, expiry and
// revocation. The agent presents it once with its host facts, including a
// machine id (a hash of /etc/machine-id). The server derives the host UUID
// from (account, machine id) — re-enrolling a machine keeps its UUID — and
// issues a per-host credential: an id and a 32-byte random secret, of which
// the store keeps the SHA-256 only. Issuing it revokes the host's previous
// credential. The agent stores it 0600 and from then on authenticates every
// request with
//
//	Authorization: Bearer <credential_id>.<secret>
//
// compared in constant time; lookups are cached for 5 s, so a revoked
// credential stops working within 5 s on every server. Whoever holds an
// enrollment token can enroll any machine into its account (including taking
// over a machine id): tokens are account secrets.
//
// Tenant isolation: a credential names exactly one (account, host); every
// write made with it is forced to that host — an agent can never write
// another host's or another account's events, nor see their commands.
//
// Events are delivered at least once: the agent keeps them in an on-disk
// spool and removes them only after a 200 answer. Ingest is idempotent: an
// event is keyed by (host, pid, process start time, rule), and a resent one
// merges into the stored one (DetectTime moves forward, nothing else
// changes). Malformed events are rejected one by one in the answer, which the
// agent must not resend. When the agent's spool bound is hit it drops its
// oldest events and reports how many (dropped); the server logs them and
// counts them in vigil_agent_events_dropped_total.
//
// Heartbeats (every 30 s by default) refresh the host record (facts,
// LastSeen, Online) and hand out pending commands; a host whose heartbeats
// stop is offline after 3 intervals (see Online). Commands are rows in the
// store (agent_commands), so any server can hand them out: the long poll
// claims them, waking at once for a command enqueued on the same server and
// checking the store every second otherwise. A command handed out but not
// answered within 2 minutes is handed out again; commands are idempotent on
// the agent (kill checks the pid's start time).
package agentapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
)

// Self-hosted machines are, in cwp's documented values, MachineType "Other"
// in MachineRegion "ap-others".
const (
	MachineType   = "Other"
	MachineRegion = "ap-others"
)

// DefaultHeartbeatInterval is the heartbeat period the server asks for.
const DefaultHeartbeatInterval = 30 * time.Second

// Online reports whether h counts as online at now (store.Host.OnlineAt:
// three missed default heartbeats make a host offline).
func Online(h store.Host, now time.Time) bool { return h.OnlineAt(now) }

// credentialCacheTTL bounds how long a revoked credential keeps working on a
// server that had it cached.
const credentialCacheTTL = 5 * time.Second

// Option configures NewHandler.
type Option func(*options)

type options struct {
	logger            *slog.Logger
	now               func() time.Time
	maxEventsBody     int64
	maxEvents         int
	heartbeatInterval time.Duration
	maxWait           time.Duration
	pollInterval      time.Duration
	redeliverAfter    time.Duration
	eventFilter       EventFilter
	onResult          []func(ctx context.Context, c store.AgentCommand)
	virus             VirusHooks
	registerer        prometheus.Registerer
}

func defaultOptions() options {
	return options{
		logger:            slog.New(slog.DiscardHandler),
		now:               time.Now,
		maxEventsBody:     8 << 20,
		maxEvents:         10_000,
		heartbeatInterval: DefaultHeartbeatInterval,
		maxWait:           60 * time.Second,
		pollInterval:      time.Second,
		redeliverAfter:    2 * time.Minute,
	}
}

// EventFilter decides, before they are stored, which of a host's events to
// keep (e.g. whitelists); it returns the kept ones. Events it drops count as
// accepted: the agent must not resend them.
type EventFilter func(ctx context.Context, accountID int64, hostUUID string, events []store.RiskProcessEvent) ([]store.RiskProcessEvent, error)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxEventsBody limits an events upload (default 8 MiB; larger is 413).
func WithMaxEventsBody(n int64) Option { return func(o *options) { o.maxEventsBody = n } }

// WithHeartbeatInterval sets the interval the server asks agents for (default 30 s).
func WithHeartbeatInterval(d time.Duration) Option {
	return func(o *options) { o.heartbeatInterval = d }
}

// WithMaxWait caps a long poll's wait (default 60 s; keep it below the
// server's write timeout).
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// WithPollInterval sets how often a long poll checks the store for commands
// enqueued on other servers (default 1 s).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// WithRedeliverAfter sets after how long a delivered command without a result
// is handed out again (default 2 min).
func WithRedeliverAfter(d time.Duration) Option { return func(o *options) { o.redeliverAfter = d } }

// WithEventFilter sets a filter applied to every upload before it is stored.
func WithEventFilter(f EventFilter) Option { return func(o *options) { o.eventFilter = f } }

// WithOnResult adds a function called after an agent reported a command's
// result (e.g. to move a risk event from killing to killed); given several
// times, each is called in turn (each looks at the kinds it knows). It runs
// in the request; a slow one delays the agent's answer.
func WithOnResult(f func(ctx context.Context, c store.AgentCommand)) Option {
	return func(o *options) { o.onResult = append(o.onResult, f) }
}

// WithRegisterer registers the handler's metrics (default: none).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.registerer = r } }

// Handler serves /agent/v1/. Mount it at wire.Prefix.
type Handler struct {
	st   store.Store
	opts options
	mux  *http.ServeMux

	mu      sync.Mutex
	cache   map[string]cachedCred
	waiters map[hostKey]chan struct{}
	catalog map[string]uint64 // threat name → hash of the texts stored (catalog.go)
	stop    chan struct{}
	stopped sync.Once

	received prometheus.Counter
	dropped  prometheus.Counter
}

type cachedCred struct {
	cred    store.AgentCredential
	fetched time.Time
}

type hostKey struct {
	account int64
	uuid    string
}

// NewHandler returns the agent protocol's handler on st.
func NewHandler(st store.Store, opts ...Option) *Handler {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	h := &Handler{
		st: st, opts: o, mux: http.NewServeMux(),
		cache:   make(map[string]cachedCred),
		waiters: make(map[hostKey]chan struct{}),
		catalog: make(map[string]uint64),
		stop:    make(chan struct{}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_agent_events_received_total", Help: "Risk process events received from agents (before dedup).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_agent_events_dropped_total", Help: "Events agents reported dropped because their spool was full.",
		}),
	}
	if o.registerer != nil {
		o.registerer.MustRegister(h.received, h.dropped)
	}
	h.mux.HandleFunc("POST "+wire.PathEnroll, h.enroll)
	h.mux.Handle("POST "+wire.PathHeartbeat, h.auth(h.heartbeat))
	h.mux.Handle("POST "+wire.PathEvents, h.auth(h.events))
	h.mux.Handle("GET "+wire.PathCommands, h.auth(h.commands))
	h.mux.Handle("POST "+wire.PathCommands+"/{id}/result", h.auth(h.result))
	h.mux.Handle("POST "+wire.PathVirusEvents, h.auth(h.virusEvents)) // virus.go
	h.mux.Handle("POST "+wire.PathScanProgress, h.auth(h.scanProgress))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Shutdown ends the long polls in flight (they answer with no commands), so
// a graceful server shutdown does not wait for them.
func (h *Handler) Shutdown() { h.stopped.Do(func() { close(h.stop) }) }

// Command is what Enqueue queues.
type Command struct {
	Kind    string // wire.CommandKill, …
	Payload any    // marshalled to JSON (e.g. wire.KillPayload)
	TTL     time.Duration
}

// KillCommand orders the agent to kill pid if it still has startTime.
func KillCommand(pid int64, startTime time.Time, eventID int64) Command {
	return Command{Kind: wire.CommandKill, Payload: wire.KillPayload{PID: pid, StartTime: startTime.UTC(), EventID: eventID}}
}

// Enqueue queues cmd for the account's host and wakes its long poll on this
// server at once (others find it within the poll interval). Results come
// through WithOnResult and Result.
func (h *Handler) Enqueue(ctx context.Context, accountID int64, hostUUID string, cmd Command) (store.AgentCommand, error) {
	payload, err := json.Marshal(cmd.Payload)
	if err != nil {
		return store.AgentCommand{}, fmt.Errorf("command payload: %w", err)
	}
	if cmd.Payload == nil {
		payload = nil
	}
	c := store.AgentCommand{HostUUID: hostUUID, Kind: cmd.Kind, Payload: payload}
	if cmd.TTL > 0 {
		c.ExpiresAt = h.opts.now().Add(cmd.TTL)
	}
	c, err = h.st.EnqueueAgentCommand(ctx, accountID, c)
	if err != nil {
		return store.AgentCommand{}, err
	}
	h.wake(hostKey{accountID, hostUUID})
	return c, nil
}

// Result returns the account's command id with its status and result.
func (h *Handler) Result(ctx context.Context, accountID, id int64) (store.AgentCommand, error) {
	return h.st.GetAgentCommand(ctx, accountID, id)
}

func (h *Handler) wake(k hostKey) {
	h.mu.Lock()
	if ch, ok := h.waiters[k]; ok {
		close(ch)
		delete(h.waiters, k)
	}
	h.mu.Unlock()
}

func (h *Handler) waiter(k hostKey) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[k]
	if !ok {
		ch = make(chan struct{})
		h.waiters[k] = ch
	}
	return ch
}

// Responses.

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, wire.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.opts.logger.ErrorContext(r.Context(), "agent api: "+what, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "%s failed", what)
}

// decode reads a JSON body of at most limit bytes into v, answering the
// error itself; it reports whether v was filled.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "body larger than %d bytes", limit)
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid", "reading body: %v", err)
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "body is not the expected JSON: %v", err)
		return false
	}
	return true
}

// Authentication.

type principal struct {
	accountID    int64
	hostUUID     string
	credentialID string
}

func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.authenticate(r)
		if err != nil {
			if errors.Is(err, errUnauthorized) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vigil-agent"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", "%v", err)
				return
			}
			h.internal(w, r, "authentication", err)
			return
		}
		next(w, r, p)
	})
}

var errUnauthorized = errors.New("unauthorized")

func (h *Handler) authenticate(r *http.Request) (principal, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return principal{}, fmt.Errorf("%w: no Bearer credential", errUnauthorized)
	}
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" {
		return principal{}, fmt.Errorf("%w: malformed credential", errUnauthorized)
	}
	now := h.opts.now()
	h.mu.Lock()
	c, hit := h.cache[id]
	h.mu.Unlock()
	if !hit || now.Sub(c.fetched) >= credentialCacheTTL {
		cred, err := h.st.GetAgentCredential(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			h.forget(id)
			return principal{}, fmt.Errorf("%w: unknown credential", errUnauthorized)
		}
		if err != nil {
			return principal{}, err
		}
		c = cachedCred{cred: cred, fetched: now}
		h.mu.Lock()
		if len(h.cache) > 100_000 { // bounded; only real credentials get here
			clear(h.cache)
		}
		h.cache[id] = c
		h.mu.Unlock()
		// Best effort: the store writes at most once per LastUsedResolution.
		_ = h.st.TouchAgentCredential(r.Context(), cred.AccountID, id, now)
	}
	if subtle.ConstantTimeCompare(Hash(secret), c.cred.SecretHash) != 1 {
		return principal{}, fmt.Errorf("%w: wrong secret", errUnauthorized)
	}
	if !c.cred.RevokedAt.IsZero() {
		return principal{}, fmt.Errorf("%w: credential revoked (enroll again)", errUnauthorized)
	}
	return principal{accountID: c.cred.AccountID, hostUUID: c.cred.HostUUID, credentialID: id}, nil
}

func (h *Handler) forget(id string) {
	h.mu.Lock()
	delete(h.cache, id)
	h.mu.Unlock()
}

// Enrollment.

func validMachineID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (h *Handler) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if !decode(w, r, 64<<10, &req) {
		return
	}
	if !validMachineID(req.Host.MachineID) {
		writeError(w, http.StatusBadRequest, "invalid", "host.machine_id must be 16-128 characters of [0-9A-Za-z._-]")
		return
	}
	if req.Token == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no enrollment token")
		return
	}
	ctx, now := r.Context(), h.opts.now()
	tok, err := h.st.ConsumeEnrollToken(ctx, Hash(req.Token), now)
	if errors.Is(err, store.ErrNotFound) {
		h.opts.logger.WarnContext(ctx, "agent enrollment refused: unknown, expired, used up or revoked token", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "unauthorized", "enrollment token unknown, expired, used up or revoked")
		return
	}
	if err != nil {
		h.internal(w, r, "enrollment", err)
		return
	}
	uuid := HostUUID(tok.AccountID, req.Host.MachineID)
	host, err := h.updateHost(ctx, tok.AccountID, uuid, req.Host, true, now)
	if err != nil {
		h.internal(w, r, "enrollment", err)
		return
	}
	id, secret := newCredential()
	if _, err := h.st.CreateAgentCredential(ctx, tok.AccountID, store.AgentCredential{
		HostUUID: uuid, CredentialID: id, SecretHash: Hash(secret), CreatedAt: now,
	}); err != nil {
		h.internal(w, r, "enrollment", err)
		return
	}
	h.opts.logger.InfoContext(ctx, "agent enrolled", "account_id", tok.AccountID, "host_uuid", uuid,
		"host_name", host.Name, "credential_id", id, "token_id", tok.ID)
	writeJSON(w, http.StatusOK, wire.EnrollResponse{HostUUID: uuid, QUUID: host.QUUID, CredentialID: id, Secret: secret})
}

// updateHost merges facts into the stored host (creating it at enrollment).
func (h *Handler) updateHost(ctx context.Context, accountID int64, uuid string, f wire.HostFacts, online bool, now time.Time) (store.Host, error) {
	host, err := h.st.GetHost(ctx, accountID, uuid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Host{}, err
	}
	host.UUID = uuid
	if f.MachineID != "" && host.QUUID == "" {
		host.QUUID = QUUID(accountID, f.MachineID)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&host.Name, f.HostName)
	set(&host.PrivateIP, f.PrivateIP)
	set(&host.PublicIP, f.PublicIP)
	set(&host.NetworkName, f.Interface)
	set(&host.InstanceID, f.InstanceID)
	set(&host.OS, f.OS)
	set(&host.Kernel, f.Kernel)
	set(&host.AgentVersion, f.AgentVersion)
	host.MachineType, host.Region = MachineType, MachineRegion
	host.Online, host.LastSeen = online, now
	return h.st.UpsertHost(ctx, accountID, host)
}

// Heartbeats.

func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request, p principal) {
	var req wire.HeartbeatRequest
	if !decode(w, r, 64<<10, &req) {
		return
	}
	ctx, now := r.Context(), h.opts.now()
	req.Host.MachineID = "" // the host's identity is the credential's
	if _, err := h.updateHost(ctx, p.accountID, p.hostUUID, req.Host, !req.Stopping, now); err != nil {
		h.internal(w, r, "heartbeat", err)
		return
	}
	resp := wire.HeartbeatResponse{IntervalSeconds: int(h.opts.heartbeatInterval / time.Second), ServerTime: now.UTC()}
	resp.DroppedAck = h.recordDropped(ctx, p, req.Dropped)
	if !req.Stopping {
		cmds, err := h.st.ClaimAgentCommands(ctx, p.accountID, p.hostUUID, now, h.opts.redeliverAfter, 0)
		if err != nil {
			h.internal(w, r, "heartbeat", err)
			return
		}
		resp.Commands = toWire(cmds)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) recordDropped(ctx context.Context, p principal, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	h.dropped.Add(float64(n))
	h.opts.logger.WarnContext(ctx, "agent dropped events: its spool was full while the server was unreachable",
		"account_id", p.accountID, "host_uuid", p.hostUUID, "dropped", n)
	return n
}

// Events.

const maxText = 64 << 10 // longest path or command line kept

func clip(s string) string {
	if len(s) > maxText {
		return s[:maxText]
	}
	return s
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request, p principal) {
	var req wire.EventsRequest
	if !decode(w, r, h.opts.maxEventsBody, &req) {
		return
	}
	if len(req.Events) > h.opts.maxEvents {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "%d events in one upload, at most %d", len(req.Events), h.opts.maxEvents)
		return
	}
	ctx, now := r.Context(), h.opts.now()
	h.received.Add(float64(len(req.Events)))
	resp := wire.EventsResponse{EventIDs: make([]int64, len(req.Events))}
	var valid []store.RiskProcessEvent
	var index []int // valid[i] is req.Events[index[i]]
	for i, e := range req.Events {
		ev, reason := toStore(e, p.hostUUID, now)
		if reason != "" {
			resp.Rejected = append(resp.Rejected, wire.Rejected{Index: i, Reason: reason})
			continue
		}
		valid = append(valid, ev)
		index = append(index, i)
	}
	h.updateCatalog(ctx, req.Events, resp.Rejected)
	kept, keptIndex := valid, index
	if h.opts.eventFilter != nil && len(valid) > 0 {
		var err error
		if kept, keptIndex, err = h.filter(ctx, p, valid, index); err != nil {
			h.internal(w, r, "event filter", err)
			return
		}
	}
	if len(kept) > 0 {
		ids, err := h.st.InsertRiskProcessEvents(ctx, p.accountID, kept)
		switch {
		case errors.Is(err, store.ErrInvalid):
			// The store's checks found something ours missed: find the culprit(s)
			// one by one rather than refuse the whole batch forever.
			for i, ev := range kept {
				id, err := h.st.InsertRiskProcessEvents(ctx, p.accountID, []store.RiskProcessEvent{ev})
				switch {
				case errors.Is(err, store.ErrInvalid):
					resp.Rejected = append(resp.Rejected, wire.Rejected{Index: keptIndex[i], Reason: err.Error()})
				case err != nil:
					h.internal(w, r, "storing events", err)
					return
				default:
					resp.EventIDs[keptIndex[i]] = id[0]
				}
			}
		case errors.Is(err, store.ErrNotFound):
			h.forget(p.credentialID)
			writeError(w, http.StatusUnauthorized, "unauthorized", "host %s no longer exists (enroll again)", p.hostUUID)
			return
		case err != nil:
			h.internal(w, r, "storing events", err)
			return
		default:
			for i, id := range ids {
				resp.EventIDs[keptIndex[i]] = id
			}
		}
	}
	resp.Accepted = len(req.Events) - len(resp.Rejected)
	resp.DroppedAck = h.recordDropped(ctx, p, req.Dropped)
	if len(resp.Rejected) > 0 {
		h.opts.logger.WarnContext(ctx, "agent events rejected", "host_uuid", p.hostUUID, "rejected", len(resp.Rejected), "first", resp.Rejected[0].Reason)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) filter(ctx context.Context, p principal, evs []store.RiskProcessEvent, index []int) ([]store.RiskProcessEvent, []int, error) {
	// Remember each event's position by its dedup key: the filter returns a
	// subset, possibly reordered.
	type key struct {
		pid   int64
		start time.Time
		rule  string
	}
	// An upload may carry one event twice (two detections of a process in
	// the agent's spool): each copy keeps its own position.
	pos := make(map[key][]int, len(evs))
	for i, e := range evs {
		k := key{e.PID, e.ProcessStartTime, e.RuleName}
		pos[k] = append(pos[k], index[i])
	}
	kept, err := h.opts.eventFilter(ctx, p.accountID, p.hostUUID, evs)
	if err != nil {
		return nil, nil, err
	}
	keptIndex := make([]int, len(kept))
	for i, e := range kept {
		e.HostUUID = p.hostUUID // a filter cannot move an event to another host either
		kept[i] = e
		k := key{e.PID, e.ProcessStartTime, e.RuleName}
		if at := pos[k]; len(at) > 0 {
			keptIndex[i], pos[k] = at[0], at[1:]
		} else {
			return nil, nil, fmt.Errorf("the event filter returned an event it was not given (pid %d, rule %q)", e.PID, e.RuleName)
		}
	}
	return kept, keptIndex, nil
}

// toStore maps a wire event to the store's, forcing the host; a non-empty
// reason rejects it.
func toStore(e wire.Event, hostUUID string, now time.Time) (store.RiskProcessEvent, string) {
	switch {
	case e.VirusName == "":
		return store.RiskProcessEvent{}, "virus_name is empty"
	case e.PID <= 0 || e.PPID < 0:
		return store.RiskProcessEvent{}, "pid must be positive and ppid not negative"
	case e.StartTime.IsZero():
		return store.RiskProcessEvent{}, "start_time is not set"
	case e.Method != 0 && e.Method != 1:
		return store.RiskProcessEvent{}, "method must be 0 (scan) or 1 (real time)"
	case len(e.VirusName) > 256 || len(e.Rule) > 256:
		return store.RiskProcessEvent{}, "virus_name or rule longer than 256 bytes"
	}
	detect := e.DetectTime
	if detect.IsZero() || detect.After(now.Add(time.Hour)) {
		detect = now // a clock far ahead would pin DetectTime in the future
	}
	return store.RiskProcessEvent{
		HostUUID:             hostUUID,
		PID:                  e.PID,
		PPID:                 e.PPID,
		ProcessStartTime:     e.StartTime,
		ExePath:              clip(e.ExePath),
		CmdLine:              clip(e.CmdLine),
		ExeMD5:               e.ExeMD5,
		ExeSHA256:            e.ExeSHA256,
		User:                 e.User,
		Group:                e.Group,
		ContainerID:          e.Container,
		VirusName:            e.VirusName,
		RuleName:             e.Rule,
		CheckPlatform:        e.CheckPlatform,
		HandleStatus:         store.HandlePending,
		FirstDetectionMethod: e.Method,
		DetectTime:           detect,
	}, ""
}

// Commands.

func toWire(cmds []store.AgentCommand) []wire.Command {
	out := make([]wire.Command, len(cmds))
	for i, c := range cmds {
		out[i] = wire.Command{ID: c.ID, Kind: c.Kind, Payload: json.RawMessage(c.Payload), Attempts: c.Attempts, Created: c.CreatedAt}
	}
	return out
}

func (h *Handler) commands(w http.ResponseWriter, r *http.Request, p principal) {
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, "invalid", "wait must be a duration such as 25s")
			return
		}
		wait = min(d, h.opts.maxWait)
	}
	ctx := r.Context()
	k := hostKey{p.accountID, p.hostUUID}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(h.opts.pollInterval)
	defer tick.Stop()
	for {
		// Subscribe before looking, so an Enqueue between the look and the
		// wait is not missed.
		woken := h.waiter(k)
		cmds, err := h.st.ClaimAgentCommands(ctx, p.accountID, p.hostUUID, h.opts.now(), h.opts.redeliverAfter, 0)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.internal(w, r, "polling commands", err)
			return
		}
		if len(cmds) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, wire.CommandsResponse{Commands: toWire(cmds)})
			return
		}
		select {
		case <-woken:
		case <-tick.C:
		case <-deadline.C:
			wait = 0 // one last look
		case <-h.stop:
			writeJSON(w, http.StatusOK, wire.CommandsResponse{Commands: []wire.Command{}})
			return
		case <-ctx.Done():
			return
		}
	}
}

func (h *Handler) result(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "invalid", "command id must be a positive integer")
		return
	}
	var req wire.CommandResult
	if !decode(w, r, 64<<10, &req) {
		return
	}
	res := store.CommandResult{Status: store.CommandDone, Result: req.Result, Error: req.Error, At: h.opts.now()}
	if !req.OK {
		res.Status = store.CommandFailed
	}
	c, err := h.st.CompleteAgentCommand(r.Context(), p.accountID, p.hostUUID, id, res)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "this host has no command %d", id)
		return
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", "%v", err)
		return
	case err != nil:
		h.internal(w, r, "command result", err)
		return
	}
	for _, f := range h.opts.onResult {
		f(r.Context(), c)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
