// Package server is vigil's API 3.0 front end: it speaks Tencent Cloud's wire
// protocol (TC3-HMAC-SHA256 and the legacy signature, the Response envelope,
// the error codes), authenticates keys, enforces roles and rate limits, and
// hands validated, typed requests to the handlers registered on its Mux.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/google/uuid"
	"github.com/vigil-sec/vigil/internal/api"
)

// Size limits of the real service.
const (
	MaxTC3Body    = 10 << 20 // TC3 POST
	MaxLegacyBody = 1 << 20  // legacy POST (form)
	MaxQuery      = 32 << 10 // GET
)

// Key is an API key as the server needs it to authenticate a call.
type Key struct {
	SecretID  string
	SecretKey string // plaintext, decrypted by the KeyLookup
	AccountID int64
	Role      Role
}

// ErrKeyNotFound is returned by a KeyLookup for an unknown or disabled key.
var ErrKeyNotFound = errors.New("key not found or disabled")

// KeyLookup finds an enabled key by SecretId.
type KeyLookup interface {
	LookupKey(ctx context.Context, secretID string) (Key, error)
}

// Server serves the API on one http.Handler.
type Server struct {
	mux     *Mux
	keys    KeyLookup
	opts    options
	limiter *rateLimiter
	metrics *metrics
}

// New returns a Server routing calls through mux, authenticating with keys.
func New(mux *Mux, keys KeyLookup, opts ...Option) *Server {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Server{
		mux:     mux,
		keys:    keys,
		opts:    o,
		limiter: newRateLimiter(o.rateLimit, o.now),
		metrics: newMetrics(o.registerer),
	}
}

// ServeHTTP answers every API call with HTTP 200 and the JSON envelope.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.now()
	c := &Call{RequestID: uuid.NewString(), Language: api.ParseLanguage(r.Header.Get("X-TC-Language"))}
	resp, err := s.serveCall(r, c)
	if err != nil {
		resp = nil
	}
	body, code := s.encode(c, resp, err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-TC-RequestId", c.RequestID)
	w.WriteHeader(http.StatusOK)
	w.Write(body)

	elapsed := s.opts.now().Sub(start)
	action := "-" // only a routed call's action is one of ours: client strings never become labels
	if c.Service != "" {
		action = c.Action
	}
	s.metrics.observe(action, code, elapsed)
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("request_id", c.RequestID), slog.String("service", c.Service), slog.String("action", c.Action),
		slog.Int64("account", c.AccountID), slog.String("code", code), slog.Duration("latency", elapsed),
		slog.String("remote", r.RemoteAddr),
	}
	if err != nil {
		if ae := api.AsError(err); ae.Code == api.InternalError {
			level = slog.LevelError
			attrs = append(attrs, slog.String("error", err.Error()))
		}
	}
	s.opts.logger.LogAttrs(r.Context(), level, "api call", attrs...)
}

// serveCall runs the protocol pipeline: method, size, signature, routing,
// key, role, rate limit, validation, handler.
func (s *Server) serveCall(r *http.Request, c *Call) (resp Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp = nil
			err = api.AsError(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
		}
	}()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, api.NewError(api.UnsupportedProtocol,
			fmt.Sprintf("The HTTP method %s is not supported: use POST or GET.", r.Method),
			fmt.Sprintf("不支持 HTTP 方法 %s，请使用 POST 或 GET。", r.Method))
	}
	if r.Method == http.MethodGet && len(r.URL.RawQuery) > MaxQuery {
		return nil, api.NewError(api.RequestSizeLimitExceeded, "The query string exceeds 32 KB.", "GET 请求参数超过 32 KB。")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxTC3Body+1))
	if err != nil {
		return nil, api.NewError(api.InvalidParameter, "The request body could not be read.", "请求体读取失败。").Wrap(err)
	}
	if len(body) > MaxTC3Body {
		return nil, api.NewError(api.RequestSizeLimitExceeded, "The request body exceeds 10 MB.", "请求包超过 10 MB。")
	}

	var (
		action, ver, timestamp string
		verify                 func(secretKey string) error
		legacy                 url.Values // action parameters of a legacy or GET call
	)
	if authz := r.Header.Get("Authorization"); authz != "" {
		auth, err := api.ParseTC3Authorization(authz)
		if err != nil {
			return nil, err
		}
		action, ver, timestamp = r.Header.Get("X-TC-Action"), r.Header.Get("X-TC-Version"), r.Header.Get("X-TC-Timestamp")
		c.Region, c.SecretID = r.Header.Get("X-TC-Region"), auth.SecretID
		if r.Header.Get("X-TC-Token") != "" {
			return nil, api.NewError(api.AuthFailureTokenFailure,
				"Temporary credentials (X-TC-Token) are not issued by vigil: sign with a SecretId/SecretKey pair.",
				"vigil 不签发临时凭证（X-TC-Token），请使用 SecretId/SecretKey 签名。")
		}
		tr := &api.TC3Request{
			Method: r.Method, URI: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Header: func(name string) string {
				if name == "host" {
					return r.Host
				}
				return r.Header.Get(name)
			},
			ContentSHA256: r.Header.Get("X-TC-Content-SHA256"),
			Body:          body,
		}
		verify = func(key string) error { return api.VerifyTC3(tr, auth, timestamp, key, s.opts.now()) }
		if r.Method == http.MethodGet {
			legacy = r.URL.Query()
		} else if isForm(r) {
			if legacy, err = url.ParseQuery(string(body)); err != nil {
				return nil, api.NewError(api.InvalidParameter, "The form body is malformed.", "表单请求体格式错误。").Wrap(err)
			}
		}
	} else {
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			if len(body) > MaxLegacyBody {
				return nil, api.NewError(api.RequestSizeLimitExceeded, "The request body exceeds 1 MB (legacy signature).", "请求包超过 1 MB（旧版签名）。")
			}
			if params, err = url.ParseQuery(string(body)); err != nil {
				return nil, api.NewError(api.InvalidParameter, "The form body is malformed.", "表单请求体格式错误。").Wrap(err)
			}
		}
		if params.Get("Signature") == "" {
			return nil, api.NewError(api.AuthFailureInvalidAuthorization,
				"The request is not signed: send an Authorization header (TC3-HMAC-SHA256) or the Signature parameter.",
				"请求未签名：请携带 Authorization 头部（TC3-HMAC-SHA256）或 Signature 参数。")
		}
		action, ver = params.Get("Action"), params.Get("Version")
		c.Region, c.SecretID = params.Get("Region"), params.Get("SecretId")
		if l := params.Get("Language"); l != "" {
			c.Language = api.ParseLanguage(l)
		}
		if params.Get("SecretId") == "" {
			return nil, api.ErrMissingParameter("SecretId")
		}
		if params.Get("Token") != "" {
			return nil, api.NewError(api.AuthFailureTokenFailure,
				"Temporary credentials (Token) are not issued by vigil.", "vigil 不签发临时凭证（Token）。")
		}
		host, path := r.Host, r.URL.Path
		verify = func(key string) error { return api.VerifyLegacy(r.Method, host, path, params, key, s.opts.now()) }
		legacy = make(url.Values, len(params))
		for k, v := range params {
			if !api.IsLegacyCommonParam(k) {
				legacy[k] = v
			}
		}
	}
	c.Action, c.Version = action, ver

	v, handler, err := s.mux.route(ver, action)
	if err != nil {
		return nil, err
	}
	c.Service = v.spec.Service()

	key, err := s.keys.LookupKey(r.Context(), c.SecretID)
	if err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil, &api.Error{Code: api.AuthFailureSecretIdNotFound}
		}
		return nil, err
	}
	if err := verify(key.SecretKey); err != nil {
		return nil, err
	}
	c.AccountID, c.Role = key.AccountID, key.Role
	if !key.Role.Allows(action) {
		return nil, api.NewError(api.UnauthorizedOperation,
			fmt.Sprintf("The key %s (role %s) may not call %s.", key.SecretID, key.Role, action),
			fmt.Sprintf("密钥 %s（角色 %s）无权调用 %s。", key.SecretID, key.Role, action))
	}
	if !s.limiter.allow(limitKey{c.AccountID, ver, action}) {
		return nil, api.NewError(api.RequestLimitExceeded,
			fmt.Sprintf("The rate limit of %s (%g requests/s per account) was exceeded.", action, s.opts.rateLimit),
			fmt.Sprintf("接口 %s 请求频率超过限制（每账号 %g 次/秒）。", action, s.opts.rateLimit))
	}

	if legacy != nil {
		if body, err = v.spec.FormToJSON(action, legacy); err != nil {
			return nil, err
		}
	} else if !isJSON(r) && len(bytes.TrimSpace(body)) > 0 {
		return nil, api.NewError(api.InvalidParameter,
			"The Content-Type must be application/json for a TC3 POST request.",
			"TC3 POST 请求的 Content-Type 须为 application/json。")
	}
	if body, err = v.spec.Validate(action, body); err != nil {
		return nil, err
	}
	c.Logger = s.opts.logger.With("request_id", c.RequestID, "action", action, "account", c.AccountID)
	ctx := r.Context()
	if s.opts.handlerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.handlerTimeout)
		defer cancel()
	}
	resp, err = handler(ctx, c, body)
	if err == nil && resp == nil {
		err = api.AsError(errors.New("handler returned no response"))
	}
	return resp, err
}

// encode builds the envelope; the returned code is "" on success.
func (s *Server) encode(c *Call, resp Response, err error) ([]byte, string) {
	if err == nil {
		resp.SetRequestId(c.RequestID)
		b, merr := json.Marshal(envelope{Response: resp})
		if merr == nil {
			return b, ""
		}
		err = api.AsError(fmt.Errorf("encode response: %w", merr))
	}
	e := api.AsError(err)
	b, _ := json.Marshal(envelope{Response: errorBody{
		Error:     errorDetail{Code: string(e.Code), Message: e.Message(c.Language)},
		RequestId: c.RequestID,
	}})
	return b, string(e.Code)
}

type envelope struct {
	Response any `json:"Response"`
}

type errorBody struct {
	Error     errorDetail `json:"Error"`
	RequestId string      `json:"RequestId"`
}

type errorDetail struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

func isJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true // tolerate clients that omit it; the signature still covers the body
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// Handler returns the full HTTP handler: the API on every path but the
// operational endpoints (/healthz, /metrics) and extra routes given.
func (s *Server) Handler(extra map[string]http.Handler) http.Handler {
	ops := http.NewServeMux()
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.health != nil {
			if err := s.opts.health(r.Context()); err != nil {
				http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	ops.Handle("GET /metrics", s.metrics.handler())
	for pattern, h := range extra {
		ops.Handle(pattern, h)
	}
	// The API answers on every other path, as is: under ServeMux's "/" a
	// non-canonical path ("//", "/.") would get a 307 instead of the envelope.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := ops.Handler(r); pattern != "" {
			ops.ServeHTTP(w, r)
			return
		}
		s.ServeHTTP(w, r)
	})
}
