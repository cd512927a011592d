// Package integration drives a real vigil server, listening on a real socket,
// with the official Tencent Cloud Go SDK (common module, NewCommonClient).
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/testutil/pgtest"
)

const (
	adminID  = "AKIDintegrationADMIN0000000000000000"
	adminKey = "integration-admin-secret-key-0001"
)

type testServer struct {
	t        *testing.T
	App      *app.App
	Addr     string // host:port
	Scheme   string
	clockOff atomic.Int64 // server clock offset, ns
	cfg      config.Server
}

type serverOption func(*config.Server)

func withRateLimit(r float64) serverOption { return func(c *config.Server) { c.RateLimit = r } }

// backends runs f against a server on SQLite and, when VIGIL_TEST_POSTGRES is
// set, on a fresh PostgreSQL database.
func backends(t *testing.T, f func(t *testing.T, opts ...serverOption)) {
	t.Run("sqlite", func(t *testing.T) { f(t) })
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.FreshDatabase(t)
		f(t, func(c *config.Server) { c.Database = url })
	})
}

// startServer runs the same app.Open + Serve as `vigil server`, on 127.0.0.1:0.
func startServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	cfg := config.DefaultServer()
	cfg.Data = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.RateLimit = 0 // tests that need it turn it on
	cfg.TimeZone = "UTC"
	for _, o := range opts {
		o(&cfg)
	}
	ts := &testServer{t: t, Scheme: "HTTP", cfg: cfg}
	if cfg.TLSCert != "" {
		ts.Scheme = "HTTPS"
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Open(context.Background(), cfg,
		app.WithLogger(logger),
		app.WithEnviron([]string{app.EnvAdminSecretID + "=" + adminID, app.EnvAdminSecretKey + "=" + adminKey}),
		app.WithClock(func() time.Time { return time.Now().Add(time.Duration(ts.clockOff.Load())) }))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	ts.App, ts.Addr = a, ln.Addr().String()
	return ts
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

// client is an official SDK client for this server.
func (ts *testServer) client(secretID, secretKey string, mods ...func(*profile.ClientProfile)) *common.Client {
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint = ts.Addr
	cp.HttpProfile.Scheme = ts.Scheme
	cp.HttpProfile.ReqTimeout = 30
	cp.DisableRegionBreaker = true
	for _, m := range mods {
		m(cp)
	}
	return common.NewCommonClient(common.NewCredential(secretID, secretKey), "ap-guangzhou", cp)
}

func (ts *testServer) admin(mods ...func(*profile.ClientProfile)) *common.Client {
	return ts.client(adminID, adminKey, mods...)
}

// call sends one action and decodes the Response into out (may be nil).
func call(c *common.Client, service, version, action string, params any, out any) error {
	req := tchttp.NewCommonRequest(service, version, action)
	if err := req.SetActionParameters(params); err != nil {
		return err
	}
	resp := tchttp.NewCommonResponse()
	if err := c.Send(req, resp); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	var env struct{ Response json.RawMessage }
	if err := json.Unmarshal(resp.GetBody(), &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Response, out)
}

func cwpCall(c *common.Client, action string, params, out any) error {
	return call(c, "cwp", "2018-02-28", action, params, out)
}

func tcssCall(c *common.Client, action string, params, out any) error {
	return call(c, "tcss", "2020-11-01", action, params, out)
}

// sdkCode is the error code the SDK reports ("" for no error).
func sdkCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var se *tcerr.TencentCloudSDKError
	if !errors.As(err, &se) {
		t.Fatalf("not an API error: %v", err)
	}
	if se.GetRequestId() == "" {
		t.Errorf("error %s has no RequestId", se.GetCode())
	}
	return se.GetCode()
}

func sdkMessage(err error) string {
	var se *tcerr.TencentCloudSDKError
	if errors.As(err, &se) {
		return se.GetMessage()
	}
	return ""
}

// account creates an account with an admin and a readonly key.
type account struct {
	store.Account
	adminID, adminKey string
	roID, roKey       string
}

func (ts *testServer) newAccount(name string) account {
	ts.t.Helper()
	ctx := context.Background()
	var a account
	var err error
	if name == app.DefaultAccount {
		a.Account, err = ts.App.Store.GetAccountByName(ctx, name)
	} else {
		a.Account, err = ts.App.Store.CreateAccount(ctx, name)
	}
	if err != nil {
		ts.t.Fatal(err)
	}
	k, s, err := app.CreateKey(ctx, ts.App.Store, ts.App.Box, a.ID, store.RoleAdmin, "test")
	if err != nil {
		ts.t.Fatal(err)
	}
	a.adminID, a.adminKey = k.SecretID, s
	k, s, err = app.CreateKey(ctx, ts.App.Store, ts.App.Box, a.ID, store.RoleReadOnly, "test")
	if err != nil {
		ts.t.Fatal(err)
	}
	a.roID, a.roKey = k.SecretID, s
	return a
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
