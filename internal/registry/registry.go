// Package registry talks to OCI distribution registries (Docker Registry,
// Harbor, Quay, JFrog, ECR, ACR, TCR…): it checks connectivity and
// credentials, lists a registry's images, keeps the store's image list in
// step with it (Syncer) and turns registry push notifications into image
// records and scan tasks (webhook.go).
//
// The URL of a registry decides how it is reached: "https://host[:port]"
// (TLS only), "http://host[:port]" (plain HTTP, the operator's explicit
// opt-in) or a bare "host[:port]" (TLS, except on loopback hosts, which may
// also be reached over plain HTTP). Registry.Insecure skips TLS
// verification.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/vigil-sec/vigil/internal/store"
)

// The classes of failure Check (and a listing) reports. Errors returned by
// this package match one of them with errors.Is when the cause is known.
var (
	ErrBadURL       = errors.New("invalid registry URL")
	ErrUnreachable  = errors.New("registry unreachable")
	ErrTLS          = errors.New("TLS failure")
	ErrUnauthorized = errors.New("credentials rejected")
	ErrNotRegistry  = errors.New("not an OCI distribution registry")
)

// classError is an error of one of the classes above with its detail and
// Go cause.
type classError struct {
	class  error
	detail string
	cause  error
}

func (e *classError) Error() string {
	if e.detail == "" {
		return e.class.Error()
	}
	return e.class.Error() + ": " + e.detail
}

func (e *classError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.class}
	}
	return []error{e.class, e.cause}
}

func classErr(class error, cause error, format string, args ...any) error {
	return &classError{class: class, detail: fmt.Sprintf(format, args...), cause: cause}
}

// Options of a Client; defaults are in defaultOptions.
type options struct {
	checkTimeout    time.Duration
	listTimeout     time.Duration
	pageSize        int
	concurrency     int
	maxConfigFetch  int
	rootCAs         *x509.CertPool
	logger          *slog.Logger
	harborPageSize  int
	maxHarborImages int
}

func defaultOptions() options {
	return options{
		checkTimeout:    10 * time.Second,
		listTimeout:     30 * time.Minute,
		pageSize:        100,
		concurrency:     4,
		maxConfigFetch:  500,
		logger:          slog.New(slog.DiscardHandler),
		harborPageSize:  100,
		maxHarborImages: 1_000_000,
	}
}

// Option configures a Client.
type Option func(*options)

// WithCheckTimeout bounds Check (default 10 s).
func WithCheckTimeout(d time.Duration) Option { return func(o *options) { o.checkTimeout = d } }

// WithListTimeout bounds one listing (default 30 min).
func WithListTimeout(d time.Duration) Option { return func(o *options) { o.listTimeout = d } }

// WithPageSize sets the page size of catalog, tag and Harbor API requests
// (default 100).
func WithPageSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.pageSize, o.harborPageSize = n, n
		}
	}
}

// WithConcurrency sets how many repositories are listed at once (default 4).
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithMaxConfigFetches bounds how many image configs one listing fetches to
// learn creation time, OS and size (default 500). Images beyond it keep what
// an earlier sync learned for the same digest, or stay without those fields
// until scanned: a big registry's sync is then bounded by its tag count,
// not by its image sizes.
func WithMaxConfigFetches(n int) Option { return func(o *options) { o.maxConfigFetch = max(n, 0) } }

// WithRootCAs trusts pool instead of the system roots (tests, private CAs).
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.rootCAs = pool } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	o        options
	secure   *http.Transport
	insecure *http.Transport
}

// New returns a Client.
func New(opts ...Option) *Client {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: o.rootCAs, MinVersion: tls.VersionTLS12}
	base.ResponseHeaderTimeout = 30 * time.Second
	ins := base.Clone()
	ins.TLSClientConfig = &tls.Config{RootCAs: o.rootCAs, InsecureSkipVerify: true} //nolint:gosec // the registry's explicit Insecure option
	return &Client{o: o, secure: base, insecure: ins}
}

// Endpoint is how a registry is reached.
type Endpoint struct {
	Host      string // "host[:port]"
	Scheme    string // "https" or "http": the scheme the URL names (https when it names none)
	PlainHTTP bool   // plain HTTP is allowed: the URL says http://, or names a loopback host without a scheme
	Insecure  bool   // skip TLS verification
}

// ParseEndpoint reads a registry's URL: "https://host[:port]",
// "http://host[:port]" or "host[:port]", with no path beyond "/", no user
// info, query or fragment.
func ParseEndpoint(rawURL string, insecure bool) (Endpoint, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return Endpoint{}, classErr(ErrBadURL, nil, "the URL is empty")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
		u, err := url.Parse(s)
		if err == nil && isLoopback(u.Hostname()) {
			return endpointOf(u, rawURL, insecure, true)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, classErr(ErrBadURL, err, "%q does not parse", rawURL)
	}
	return endpointOf(u, rawURL, insecure, false)
}

func endpointOf(u *url.URL, raw string, insecure, loopbackBare bool) (Endpoint, error) {
	switch u.Scheme {
	case "http", "https":
	default:
		return Endpoint{}, classErr(ErrBadURL, nil, "%q: the scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Endpoint{}, classErr(ErrBadURL, nil, "%q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Endpoint{}, classErr(ErrBadURL, nil, "%q: give the credentials as Username/Password and no query or fragment", raw)
	}
	// The distribution API lives at /v2/ of the host: a path cannot select
	// anything.
	if p := strings.Trim(u.Path, "/"); p != "" && p != "v2" {
		return Endpoint{}, classErr(ErrBadURL, nil, "%q: the URL must name the registry host only, without a path", raw)
	}
	if _, err := name.NewRegistry(u.Host, name.StrictValidation); err != nil {
		return Endpoint{}, classErr(ErrBadURL, err, "%q: %q is not a registry host", raw, u.Host)
	}
	return Endpoint{
		Host:      u.Host,
		Scheme:    u.Scheme,
		PlainHTTP: u.Scheme == "http" || loopbackBare,
		Insecure:  insecure,
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryName is the ggcr name of the endpoint's registry. Insecure in ggcr
// means "plain HTTP may be tried".
func (e Endpoint) registryName() (name.Registry, error) {
	var opts []name.Option
	if e.PlainHTTP {
		opts = append(opts, name.Insecure)
	}
	return name.NewRegistry(e.Host, opts...)
}

// guard refuses plain-HTTP requests to the registry's host unless the
// endpoint allows them. ggcr treats private-range hosts as plain-HTTP
// capable and falls back to http when https fails; for a registry the
// operator named with https:// that would be a silent downgrade.
type guard struct {
	host      string
	allowHTTP bool
	inner     http.RoundTripper
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowHTTP && strings.EqualFold(req.URL.Host, g.host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("plain HTTP to %s refused: the registry URL does not say http://", g.host)
	}
	return g.inner.RoundTrip(req)
}

// transport is the round tripper for one endpoint.
func (c *Client) transport(e Endpoint) http.RoundTripper {
	t := c.secure
	if e.Insecure {
		t = c.insecure
	}
	return &guard{host: e.Host, allowHTTP: e.PlainHTTP, inner: t}
}

// authenticator is the registry's credentials for ggcr.
func authenticator(r store.Registry, password string) authn.Authenticator {
	if r.Username == "" && password == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.Username, Password: password}
}

// remoteOptions are the ggcr options reaching r.
func (c *Client) remoteOptions(ctx context.Context, e Endpoint, r store.Registry, password string) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(c.transport(e)),
		remote.WithAuth(authenticator(r, password)),
		remote.WithPageSize(c.o.pageSize),
		remote.WithUserAgent("vigil"),
		// Fail fast: a sync is retried by the operator or the next sync,
		// and a check must answer within its timeout.
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}),
	}
}

// Check tells whether vigil can reach the registry r and whether it accepts
// the credentials (r.Username, password). The error is one of the package's
// classes: ErrBadURL, ErrUnreachable, ErrTLS, ErrUnauthorized or
// ErrNotRegistry.
func (c *Client) Check(ctx context.Context, r store.Registry, password string) error {
	e, err := ParseEndpoint(r.URL, r.Insecure)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.checkTimeout)
	defer cancel()
	reg, err := e.registryName()
	if err != nil {
		return classErr(ErrBadURL, err, "%q", r.URL)
	}
	rt := c.transport(e)

	// Ping anonymously first: the answer says whether this is a registry
	// and which authentication it wants.
	ch, err := transport.Ping(ctx, reg, rt)
	if err != nil {
		return classify(ctx, e, err)
	}
	scheme := "https"
	if ch.Insecure {
		scheme = "http"
	}
	if ch.Scheme == "" {
		// Open registry: anyone may read, whatever credentials were given.
		return verifyV2(ctx, e, rt, scheme)
	}
	switch strings.ToLower(ch.Scheme) {
	case "basic", "bearer":
	default:
		return classErr(ErrNotRegistry, nil, "%s answers /v2/ with 401 but no Basic or Bearer challenge", e.Host)
	}
	if r.Username == "" && password == "" {
		return classErr(ErrUnauthorized, nil, "%s requires a username and password", e.Host)
	}
	// transport.NewWithContext authenticates (a bearer token exchange for
	// Bearer); then /v2/ must answer 200 with the credentials.
	scopes := []string{"registry:catalog:*"}
	authed, err := transport.NewWithContext(ctx, reg, authenticator(r, password), rt, scopes)
	if err != nil {
		return classify(ctx, e, err)
	}
	return verifyV2(ctx, e, authed, scheme)
}

// verifyV2 GETs /v2/ through rt: a registry answers 200 (and not with a web
// page).
func verifyV2(ctx context.Context, e Endpoint, rt http.RoundTripper, scheme string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+e.Host+"/v2/", nil)
	if err != nil {
		return classErr(ErrBadURL, err, "%q", e.Host)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return classify(ctx, e, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "text/html" && resp.Header.Get("Docker-Distribution-API-Version") == "" {
			return classErr(ErrNotRegistry, nil, "%s/v2/ answers with an HTML page", e.Host)
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return classErr(ErrUnauthorized, nil, "%s rejected the username or password (HTTP %d)", e.Host, resp.StatusCode)
	default:
		return classErr(ErrNotRegistry, nil, "%s/v2/ answers HTTP %d", e.Host, resp.StatusCode)
	}
}

// classify maps a transport failure to the package's error classes.
func classify(ctx context.Context, e Endpoint, err error) error {
	if err == nil {
		return nil
	}
	var ce *classError
	if errors.As(err, &ce) {
		return err
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return classErr(ErrUnauthorized, err, "%s rejected the username or password (HTTP %d)", e.Host, terr.StatusCode)
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return classErr(ErrNotRegistry, err, "%s has no registry API at /v2/ (HTTP %d)", e.Host, terr.StatusCode)
		}
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return classErr(ErrUnauthorized, err, "%s rejected the username or password (%s)", e.Host, d.Code)
			}
		}
		if terr.StatusCode >= 500 {
			return classErr(ErrUnreachable, err, "%s answers HTTP %d", e.Host, terr.StatusCode)
		}
		return classErr(ErrNotRegistry, err, "%s answers HTTP %d", e.Host, terr.StatusCode)
	}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verifyErr):
		return classErr(ErrTLS, err, "the certificate of %s is not trusted (set Insecure to skip verification)", e.Host)
	case errors.As(err, &hostErr):
		return classErr(ErrTLS, err, "the certificate of %s does not name that host", e.Host)
	case errors.As(err, &invalidCert):
		return classErr(ErrTLS, err, "the certificate of %s is invalid (%v)", e.Host, invalidCert.Reason)
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return classErr(ErrTLS, err, "%s does not speak TLS; use an http:// URL for a plain-HTTP registry", e.Host)
	case strings.Contains(err.Error(), "tls:"):
		return classErr(ErrTLS, err, "TLS handshake with %s failed", e.Host)
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return classErr(ErrUnreachable, err, "%s did not answer in time", e.Host)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return classErr(ErrUnreachable, err, "the host name of %s does not resolve", e.Host)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return classErr(ErrUnreachable, err, "cannot connect to %s (%v)", e.Host, opErr.Err)
	}
	if strings.Contains(err.Error(), "plain HTTP to") {
		return classErr(ErrUnreachable, err, "cannot reach %s over HTTPS", e.Host)
	}
	return classErr(ErrUnreachable, err, "cannot reach %s", e.Host)
}

// Class names the error's class for callers that cannot import this
// package (the API handlers): BadURL, Unreachable, TLS, Unauthorized or
// NotRegistry.
func (e *classError) Class() string {
	switch e.class {
	case ErrBadURL:
		return "BadURL"
	case ErrUnreachable:
		return "Unreachable"
	case ErrTLS:
		return "TLS"
	case ErrUnauthorized:
		return "Unauthorized"
	case ErrNotRegistry:
		return "NotRegistry"
	}
	return ""
}
