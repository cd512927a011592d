// Package transport is the agent side of vigil's agent protocol (described in
// package agentapi): enrollment, the per-host credential, heartbeats, event
// upload from the on-disk spool, and the command long poll.
//
// Every call retries transient failures (network errors, 429, 5xx) with
// exponential backoff and full jitter until its context ends (or
// WithMaxAttempts); other failures are permanent: 401 is ErrUnauthorized (the
// credential was revoked or the host deleted: enroll again), the rest a
// *StatusError.
package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

// ErrUnauthorized: the server refused the token or credential.
var ErrUnauthorized = errors.New("transport: unauthorized")

// StatusError is a permanent error answer of the server.
type StatusError struct {
	Status  int
	Code    string
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("transport: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Option configures Enroll and New.
type Option func(*options)

type options struct {
	caFile       string
	insecure     bool
	httpClient   *http.Client
	logger       *slog.Logger
	minBackoff   time.Duration
	maxBackoff   time.Duration
	maxAttempts  int
	userAgent    string
	timeout      time.Duration
	pollWait     time.Duration
	maxBatch     int
	maxBatchSize int64
}

func defaultOptions() options {
	return options{
		logger:       slog.New(slog.DiscardHandler),
		minBackoff:   200 * time.Millisecond,
		maxBackoff:   30 * time.Second,
		userAgent:    "vigil-agent",
		timeout:      30 * time.Second,
		pollWait:     25 * time.Second,
		maxBatch:     5000,
		maxBatchSize: 4 << 20,
	}
}

// WithCAFile trusts the PEM certificates in path (in addition to the system's).
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithInsecureSkipVerify accepts any server certificate (tests, first setup).
func WithInsecureSkipVerify() Option { return func(o *options) { o.insecure = true } }

// WithHTTPClient uses c instead of a client built from the TLS options.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBackoff sets the retry backoff bounds (default 200 ms … 30 s).
func WithBackoff(minD, maxD time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = minD, max(minD, maxD) }
}

// WithMaxAttempts bounds the attempts per call (default 0: until the context ends).
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithUserAgent sets the User-Agent (default "vigil-agent").
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithTimeout bounds one request, long polls excepted (default 30 s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithPollWait sets how long a command long poll waits on the server (default 25 s).
func WithPollWait(d time.Duration) Option { return func(o *options) { o.pollWait = d } }

// WithUploadBatch bounds one upload: events and bytes of spooled records
// (default 5000 events, 4 MiB).
func WithUploadBatch(events int, bytes int64) Option {
	return func(o *options) { o.maxBatch, o.maxBatchSize = events, bytes }
}

func (o *options) client() (*http.Client, error) {
	if o.httpClient != nil {
		return o.httpClient, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} //nolint:gosec // opt-in flag
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("transport: CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("transport: no PEM certificate in %s", o.caFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ForceAttemptHTTP2 = true // h2 over TLS; HTTP/1.1 in clear
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: tr}, nil
}

// Credential is what enrollment gives an agent.
type Credential struct {
	Server       string `json:"server"`
	HostUUID     string `json:"host_uuid"`
	QUUID        string `json:"quuid"`
	CredentialID string `json:"credential_id"`
	Secret       string `json:"secret"`
}

// CredentialFile is the file name of the credential in the agent's data directory.
const CredentialFile = "agent-credential.json"

// SaveCredential writes c to dir/CredentialFile, mode 0600, atomically.
func SaveCredential(dir string, c Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, CredentialFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("transport: writing credential: %w", err)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, CredentialFile))
}

// LoadCredential reads dir/CredentialFile (an error wrapping fs.ErrNotExist
// when the agent has not enrolled yet).
func LoadCredential(dir string) (Credential, error) {
	b, err := os.ReadFile(filepath.Join(dir, CredentialFile))
	if err != nil {
		return Credential{}, err
	}
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		return Credential{}, fmt.Errorf("transport: %s: %w", CredentialFile, err)
	}
	if c.CredentialID == "" || c.Secret == "" || c.Server == "" {
		return Credential{}, fmt.Errorf("transport: %s is incomplete", CredentialFile)
	}
	return c, nil
}

// MachineID returns the machine's stable id for enrollment: a SHA-256 of
// /etc/machine-id (or /var/lib/dbus/machine-id), never the id itself, which
// systemd documents as confidential.
func MachineID() (string, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if id := strings.TrimSpace(string(b)); id != "" {
			h := sha256.Sum256([]byte("vigil machine id\x00" + id))
			return hex.EncodeToString(h[:]), nil
		}
	}
	return "", errors.New("transport: no machine id (/etc/machine-id is missing or empty)")
}

// caller does requests with retries.
type caller struct {
	base *url.URL
	http *http.Client
	opts options
	auth string // Authorization header, empty for enrollment
}

func newCaller(server string, opts []Option) (*caller, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("transport: server %q is not an http(s):// URL", server)
	}
	hc, err := o.client()
	if err != nil {
		return nil, err
	}
	return &caller{base: u, http: hc, opts: o}, nil
}

// backoff returns the wait before attempt n (1-based): full jitter over an
// exponentially growing cap.
func (c *caller) backoff(n int) time.Duration {
	d := c.opts.minBackoff << min(n-1, 20)
	if d <= 0 || d > c.opts.maxBackoff {
		d = c.opts.maxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// do sends method path with body (JSON-encoded unless nil) and decodes the
// answer into out, retrying transient failures.
func (c *caller) do(ctx context.Context, method, path string, body, out any, timeout time.Duration) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("transport: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, method, path, payload, out, timeout)
		var te transientError
		if err == nil || !errors.As(err, &te) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("transport: %w (last error: %w)", ctx.Err(), te.err)
		}
		if c.opts.maxAttempts > 0 && attempt >= c.opts.maxAttempts {
			return te.err
		}
		wait := c.backoff(attempt)
		c.opts.logger.DebugContext(ctx, "agent request failed, retrying", "path", path, "attempt", attempt, "wait", wait, "err", te.err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("transport: %w (last error: %w)", ctx.Err(), te.err)
		}
	}
}

func (c *caller) once(ctx context.Context, method, path string, payload []byte, out any, timeout time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := c.base.JoinPath(path)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u = c.base.JoinPath(path[:i])
		u.RawQuery = path[i+1:]
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(rctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.opts.userAgent)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return transientError{fmt.Errorf("transport: %s %s: %w", method, path, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return transientError{fmt.Errorf("transport: reading the answer to %s: %w", path, err)}
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return transientError{fmt.Errorf("transport: answer to %s is not JSON: %w", path, err)}
		}
		return nil
	}
	var we wire.Error
	_ = json.Unmarshal(b, &we)
	if we.Message == "" {
		we.Message = strings.TrimSpace(string(b))
	}
	se := &StatusError{Status: resp.StatusCode, Code: we.Code, Message: we.Message}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, we.Message)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return transientError{se}
	}
	return se
}

// Enroll enrolls this host into the token's account and returns its
// credential (save it with SaveCredential).
func Enroll(ctx context.Context, server, token string, facts wire.HostFacts, opts ...Option) (Credential, error) {
	c, err := newCaller(server, opts)
	if err != nil {
		return Credential{}, err
	}
	var resp wire.EnrollResponse
	if err := c.do(ctx, http.MethodPost, wire.PathEnroll, wire.EnrollRequest{Token: token, Host: facts}, &resp, c.opts.timeout); err != nil {
		return Credential{}, err
	}
	return Credential{Server: server, HostUUID: resp.HostUUID, QUUID: resp.QUUID, CredentialID: resp.CredentialID, Secret: resp.Secret}, nil
}

// LoadOrEnroll returns the credential saved in dir, or enrolls with token and
// saves the new one.
func LoadOrEnroll(ctx context.Context, dir, server, token string, facts wire.HostFacts, opts ...Option) (Credential, error) {
	c, err := LoadCredential(dir)
	if err == nil && c.Server == server {
		return c, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Credential{}, err
	}
	if token == "" {
		return Credential{}, errors.New("transport: not enrolled yet and no enrollment token given")
	}
	c, err = Enroll(ctx, server, token, facts, opts...)
	if err != nil {
		return Credential{}, err
	}
	return c, SaveCredential(dir, c)
}

// Client talks to the server with a host's credential. It is safe for
// concurrent use.
type Client struct {
	c    *caller
	cred Credential
}

// New returns a client for cred.
func New(cred Credential, opts ...Option) (*Client, error) {
	c, err := newCaller(cred.Server, opts)
	if err != nil {
		return nil, err
	}
	c.auth = "Bearer " + cred.CredentialID + "." + cred.Secret
	return &Client{c: c, cred: cred}, nil
}

// HostUUID is the host's UUID on the server.
func (c *Client) HostUUID() string { return c.cred.HostUUID }

// Heartbeat reports the host's facts and returns the server's answer (with
// commands waiting, if any).
func (c *Client) Heartbeat(ctx context.Context, req wire.HeartbeatRequest) (wire.HeartbeatResponse, error) {
	var resp wire.HeartbeatResponse
	err := c.c.do(ctx, http.MethodPost, wire.PathHeartbeat, req, &resp, c.c.opts.timeout)
	return resp, err
}

// SendEvents uploads events (idempotent: resending is harmless).
func (c *Client) SendEvents(ctx context.Context, req wire.EventsRequest) (wire.EventsResponse, error) {
	var resp wire.EventsResponse
	err := c.c.do(ctx, http.MethodPost, wire.PathEvents, req, &resp, c.c.opts.timeout)
	return resp, err
}

// SendVirusEvents uploads container trojan-file events (idempotent).
func (c *Client) SendVirusEvents(ctx context.Context, req wire.VirusEventsRequest) (wire.EventsResponse, error) {
	var resp wire.EventsResponse
	err := c.c.do(ctx, http.MethodPost, wire.PathVirusEvents, req, &resp, c.c.opts.timeout)
	return resp, err
}

// SendScanProgress reports the host's progress on a scan task.
func (c *Client) SendScanProgress(ctx context.Context, p wire.ScanProgress) error {
	return c.c.do(ctx, http.MethodPost, wire.PathScanProgress, p, nil, c.c.opts.timeout)
}

// PollCommands waits up to wait on the server for commands.
func (c *Client) PollCommands(ctx context.Context, wait time.Duration) ([]wire.Command, error) {
	var resp wire.CommandsResponse
	err := c.c.do(ctx, http.MethodGet, wire.PathCommands+"?wait="+wait.String(), nil, &resp, wait+c.c.opts.timeout)
	return resp.Commands, err
}

// ReportResult reports a command's outcome (idempotent).
func (c *Client) ReportResult(ctx context.Context, id int64, res wire.CommandResult) error {
	return c.c.do(ctx, http.MethodPost, wire.PathResult(id), res, nil, c.c.opts.timeout)
}
