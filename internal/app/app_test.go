package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/config"
)

func testConfig(t testing.TB) config.Server {
	cfg := config.DefaultServer()
	cfg.Data = t.TempDir()
	cfg.RateLimit = 0
	return cfg
}

// signedRequest signs a TC3 request like the Go SDK does.
func signedRequest(secretID, secretKey, version, action string, body []byte, now time.Time) *http.Request {
	r := httptest.NewRequest("POST", "http://127.0.0.1:9750/", bytes.NewReader(body))
	r.Host = "127.0.0.1:9750"
	r.Header.Set("X-TC-Action", action)
	r.Header.Set("X-TC-Version", version)
	api.SignTC3(r, body, secretID, secretKey, "cwp", now)
	return r
}

func TestBootstrapGeneratesAdminKeyOnce(t *testing.T) {
	cfg := testConfig(t)
	a, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Data, AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(cfg.Data, AdminKeyFile))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file mode %v", st.Mode().Perm())
	}
	var id, key string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SecretId="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "SecretKey="); ok {
			key = v
		}
	}
	if !strings.HasPrefix(id, "AKID") || len(key) != 32 {
		t.Fatalf("admin key file: %q", data)
	}
	// The key works, and the stored form is not the plaintext.
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, signedRequest(id, key, "2018-02-28", "DescribeRiskProcessEvents", []byte(`{}`), time.Now()))
	if strings.Contains(rec.Body.String(), "Error") {
		t.Fatalf("generated key rejected: %s", rec.Body)
	}
	k, err := a.Store.GetAPIKey(context.Background(), id)
	if err != nil || bytes.Contains(k.SecretKeyEnc, []byte(key)) {
		t.Fatalf("stored key: %v", err)
	}
	a.Close()
	// A second start keeps the key and writes nothing new.
	a, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	again, _ := os.ReadFile(filepath.Join(cfg.Data, AdminKeyFile))
	if !bytes.Equal(again, data) {
		t.Fatal("admin key file rewritten")
	}
	keys, _ := a.Store.ListAPIKeys(context.Background(), k.AccountID)
	if len(keys) != 1 {
		t.Fatalf("%d keys after restart", len(keys))
	}
}

func TestBootstrapFromEnvironment(t *testing.T) {
	cfg := testConfig(t)
	env := []string{EnvAdminSecretID + "=AKIDfromenv", EnvAdminSecretKey + "=envsecret"}
	for i := 0; i < 2; i++ { // idempotent across restarts
		a, err := Open(context.Background(), cfg, WithEnviron(env))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, signedRequest("AKIDfromenv", "envsecret", "2018-02-28", "DescribeRiskProcessEvents", []byte(`{}`), time.Now()))
		if strings.Contains(rec.Body.String(), "Error") {
			t.Fatalf("env key rejected: %s", rec.Body)
		}
		a.Close()
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, AdminKeyFile)); !os.IsNotExist(err) {
		t.Fatal("admin key file written although the key came from the environment")
	}
	// The same id with another key is refused, not silently replaced.
	if _, err := Open(context.Background(), cfg, WithEnviron([]string{EnvAdminSecretID + "=AKIDfromenv", EnvAdminSecretKey + "=other"})); err == nil {
		t.Fatal("changed admin key accepted")
	}
	if _, err := Open(context.Background(), cfg, WithEnviron([]string{EnvAdminSecretID + "=AKIDonlyid"})); err == nil {
		t.Fatal("id without key accepted")
	}
}

func TestHealthAndMetrics(t *testing.T) {
	a, err := Open(context.Background(), testConfig(t), WithEnviron([]string{EnvAdminSecretID + "=AKIDm", EnvAdminSecretKey + "=k"}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := a.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signedRequest("AKIDm", "k", "2018-02-28", "DescribeRiskProcessEvents", []byte(`{"Limit":0}`), time.Now()))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, `vigil_api_requests_total{action="DescribeRiskProcessEvents",code="InvalidParameterValue"} 1`) ||
		!strings.Contains(body, "vigil_api_request_duration_seconds_bucket") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics:\n%s", body)
	}
}

// BenchmarkProtocolOverhead measures what every call pays before any store
// work: reading the body, TC3 verification, key lookup (cached), role and rate
// limit checks, spec validation, routing and the JSON envelope. The action is
// one not implemented yet, so the handler does no I/O.
func BenchmarkProtocolOverhead(b *testing.B) {
	cfg := testConfig(b)
	a, err := Open(context.Background(), cfg, WithEnviron([]string{EnvAdminSecretID + "=AKIDbench", EnvAdminSecretKey + "=benchkey"}))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := a.Handler()
	body := []byte(`{"Filters":[{"Name":"HostId","Values":["a5b2bbbc-b89c-40b2-a0a9-f24aed7f0000"]},{"Name":"Status","Values":["0"]}],"Order":"DESC","By":"StartTime"}`)
	now := time.Now()
	req := signedRequest("AKIDbench", "benchkey", "2018-02-28", "ExportRiskProcessEvents", body, now)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env struct {
		Response struct{ Error struct{ Code string } }
	}
	json.Unmarshal(rec.Body.Bytes(), &env)
	if env.Response.Error.Code != "UnsupportedOperation" && env.Response.Error.Code != "" {
		b.Fatalf("unexpected answer: %s", rec.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	ctx := context.Background()
	for b.Loop() {
		r := req.Clone(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
