package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
)

// TestErrorCodes covers every protocol error a client can provoke, through
// the official client where it can send the request.
func TestErrorCodes(t *testing.T) {
	ts := startServer(t)
	a := ts.newAccount("default")
	f := seed(t, ts.App.Store, a.ID, "h1", "10.0.0.1")
	other := ts.newAccount("other")
	admin := ts.admin()
	disabled := ts.newAccount("disabled-key-owner")
	if err := ts.App.Store.SetAPIKeyStatus(context.Background(), disabled.ID, disabled.adminID, store.KeyDisabled); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		client        *common.Client
		service, ver  string
		action        string
		params        any
		code          string
		messageNames  string // the message must name this
		clockShiftSec int64
	}{
		{"unknown key", ts.client("AKIDnosuchkey000000000000000000000000", "x"), "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.SecretIdNotFound", "", 0},
		{"disabled key", ts.client(disabled.adminID, disabled.adminKey), "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.SecretIdNotFound", "", 0},
		{"wrong secret key", ts.client(adminID, "wrong"), "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.SignatureFailure", "", 0},
		{"clock skew > 300 s", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.SignatureExpire", "", 400},
		{"clock skew < -300 s", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.SignatureExpire", "", -400},
		{"temporary token", common.NewCommonClient(common.NewTokenCredential(adminID, adminKey, "tok"), "", ts.profile()), "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{}, "AuthFailure.TokenFailure", "", 0},
		{"no such action", admin, "cwp", "2018-02-28", "DescribeNothing", map[string]any{}, "InvalidAction", "DescribeNothing", 0},
		{"action of the other service", admin, "cwp", "2018-02-28", "DescribeVirusDetail", map[string]any{}, "InvalidAction", "DescribeVirusDetail", 0},
		{"no such version", admin, "cwp", "2017-03-12", "DescribeRiskProcessEvents", map[string]any{}, "NoSuchVersion", "2017-03-12", 0},
		{"missing required", admin, "tcss", "2020-11-01", "DescribeVirusDetail", map[string]any{}, "MissingParameter", "Id", 0},
		{"missing required nested", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []map[string]any{{"Values": []string{"x"}}}}, "MissingParameter", "Filters.0.Name", 0},
		{"unknown parameter", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Limit": 10, "Colour": "red"}, "UnknownParameter", "Colour", 0},
		{"unknown nested parameter", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []map[string]any{{"Name": "HostId", "Values": []string{"x"}, "Fuzzy": true}}}, "UnknownParameter", "Filters.0.Fuzzy", 0},
		{"wrong type", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Limit": "ten"}, "InvalidParameter", "Limit", 0},
		{"fraction for integer", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Limit": 1.5}, "InvalidParameter", "Limit", 0},
		{"negative uint64", admin, "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{"Id": -1}, "InvalidParameterValue", "Id", 0},
		{"Limit over 100", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Limit": 101}, "InvalidParameterValue", "Limit", 0},
		{"Limit 0", admin, "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{"Id": f.imageID, "Limit": 0}, "InvalidParameterValue", "Limit", 0},
		{"Order", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Order": "UP"}, "InvalidParameterValue", "Order", 0},
		{"By", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"By": "Name"}, "InvalidParameterValue", "By", 0},
		{"unknown filter", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "Colour", Values: []string{"x"}}}}, "InvalidParameterValue", "Filters.0.Name", 0},
		{"bad Status value", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "Status", Values: []string{"9"}}}}, "InvalidParameterValue", "Filters.0.Values.0", 0},
		{"bad ProcessId value", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "HostId", Values: []string{"x"}}, {Name: "ProcessId", Values: []string{"1", "x"}}}}, "InvalidParameterValue", "Filters.1.Values.1", 0},
		{"bad time", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "BeginTime", Values: []string{"yesterday"}}}}, "InvalidParameterValue", "Filters.0.Values.0", 0},
		{"inverted range", admin, "cwp", "2018-02-28", "DescribeRiskProcessEvents", map[string]any{"Filters": []filter{{Name: "BeginTime", Values: []string{"2026-01-02 00:00:00"}}, {Name: "EndTime", Values: []string{"2026-01-01 00:00:00"}}}}, "InvalidParameter.DateRange", "BeginTime", 0},
		{"bad risk level", admin, "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{"Id": f.imageID, "Filters": []filter{{Name: "Level", Values: []string{"9"}}}}, "InvalidParameterValue", "Filters.0.Values.0", 0},
		{"neither Id nor ImageInfo", admin, "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{}, "MissingParameter", "ImageInfo", 0},
		{"ImageInfo missing a required member", admin, "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{"ImageInfo": map[string]any{"InstanceName": "x"}}, "MissingParameter", "ImageInfo.", 0},
		{"no such event", admin, "tcss", "2020-11-01", "DescribeVirusDetail", map[string]any{"Id": "999999"}, "ResourceNotFound", "999999", 0},
		{"non-numeric id", admin, "tcss", "2020-11-01", "DescribeVirusDetail", map[string]any{"Id": "abc"}, "ResourceNotFound", "abc", 0},
		{"another account's event", ts.client(other.adminID, other.adminKey), "tcss", "2020-11-01", "DescribeVirusDetail", map[string]any{"Id": idStr(f.virusEventID)}, "ResourceNotFound", idStr(f.virusEventID), 0},
		{"another account's image", ts.client(other.adminID, other.adminKey), "tcss", "2020-11-01", "DescribeAssetImageRegistryVirusList", map[string]any{"Id": f.imageID}, "ResourceNotFound", "Id", 0},
		{"readonly key may not modify", ts.client(a.roID, a.roKey), "cwp", "2018-02-28", "ModifyRiskEventsStatus", map[string]any{"Operate": 1, "RiskType": "PROCESS"}, "UnauthorizedOperation", "ModifyRiskEventsStatus", 0},
		{"body over 10 MB", admin, "tcss", "2020-11-01", "DescribeVirusDetail", map[string]any{"Id": strings.Repeat("x", 10<<20+1)}, "RequestSizeLimitExceeded", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.clockOff.Store(tt.clockShiftSec * int64(time.Second))
			defer ts.clockOff.Store(0)
			err := call(tt.client, tt.service, tt.ver, tt.action, tt.params, nil)
			if got := sdkCode(t, err); got != tt.code {
				t.Fatalf("code = %q (%v), want %s", got, err, tt.code)
			}
			if !strings.Contains(sdkMessage(err), tt.messageNames) {
				t.Fatalf("message %q does not name %q", sdkMessage(err), tt.messageNames)
			}
		})
	}

	// A readonly key may Describe.
	if err := cwpCall(ts.client(a.roID, a.roKey), "DescribeRiskProcessEvents", map[string]any{}, nil); err != nil {
		t.Fatalf("readonly Describe: %v", err)
	}
	// Messages follow X-TC-Language.
	en := ts.admin(func(p *profile.ClientProfile) { p.Language = "en-US" })
	zh := ts.admin()
	errEN := tcssCall(en, "DescribeVirusDetail", map[string]any{}, nil)
	errZH := tcssCall(zh, "DescribeVirusDetail", map[string]any{}, nil)
	if !strings.Contains(sdkMessage(errEN), "missing") || !strings.Contains(sdkMessage(errZH), "缺少") {
		t.Fatalf("language: en %q zh %q", sdkMessage(errEN), sdkMessage(errZH))
	}
}

func (ts *testServer) profile() *profile.ClientProfile {
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint = ts.Addr
	cp.HttpProfile.Scheme = ts.Scheme
	cp.DisableRegionBreaker = true
	return cp
}

// rawCall posts a request as is and returns the envelope; the HTTP status must be 200.
func rawCall(t *testing.T, method, url string, header map[string]string, body []byte) (code, message string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var env struct {
		Response struct {
			Error     struct{ Code, Message string }
			RequestId string
		}
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("not an envelope: %s", b)
	}
	if env.Response.RequestId == "" {
		t.Fatalf("no RequestId: %s", b)
	}
	return env.Response.Error.Code, env.Response.Error.Message
}

func TestRawProtocolErrors(t *testing.T) {
	ts := startServer(t)
	url := "http://" + ts.Addr + "/"
	hdr := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json", "X-TC-Action": "DescribeRiskProcessEvents", "X-TC-Version": "2018-02-28", "X-TC-Timestamp": "1795315491"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, method string
		header       map[string]string
		body         string
		code         string
	}{
		{"PUT", "PUT", hdr(), "{}", "UnsupportedProtocol"},
		{"DELETE", "DELETE", hdr(), "", "UnsupportedProtocol"},
		{"unsigned", "POST", hdr(), "{}", "AuthFailure.InvalidAuthorization"},
		{"malformed Authorization", "POST", hdr("Authorization", "TC3-HMAC-SHA256 Credential=x"), "{}", "AuthFailure.InvalidAuthorization"},
		{"other scheme", "POST", hdr("Authorization", "Basic eDp5"), "{}", "AuthFailure.InvalidAuthorization"},
		{"legacy without SecretId", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Action=DescribeRiskProcessEvents&Version=2018-02-28&Signature=abc", "MissingParameter"},
		{"legacy body over 1 MB", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Signature=x&Pad=" + strings.Repeat("a", 1<<20), "RequestSizeLimitExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := rawCall(t, tt.method, url, tt.header, []byte(tt.body))
			if code != tt.code {
				t.Fatalf("code %q (%s), want %s", code, msg, tt.code)
			}
		})
	}
	// Non-canonical paths get the envelope, not a redirect (the Node SDK posts to
	// "//" when its endpoint ends in "/"), and client strings never reach metric labels.
	for _, path := range []string{"//", "/.", "/a/../"} {
		if code, _ := rawCall(t, "POST", "http://"+ts.Addr+path, hdr(), []byte("{}")); code != "AuthFailure.InvalidAuthorization" {
			t.Fatalf("POST %s: %s", path, code)
		}
	}
	if code, _ := rawCall(t, "POST", url, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte("Action=%FA&SecretId=x&Signature=x")); code != "MissingParameter" {
		t.Fatalf("invalid UTF-8 action: %s", code)
	}
	// GET over 32 KB of query.
	code, _ := rawCall(t, "GET", url+"?Signature=x&Pad="+strings.Repeat("a", 33<<10), nil, nil)
	if code != "RequestSizeLimitExceeded" {
		t.Fatalf("long GET: %s", code)
	}
}

// TestInternalErrorIsAnEnvelope: a failing store gives InternalError, HTTP 200, no detail leaked.
func TestInternalErrorIsAnEnvelope(t *testing.T) {
	ts := startServer(t)
	ts.App.Store.Close()
	err := cwpCall(ts.admin(), "DescribeRiskProcessEvents", map[string]any{}, nil)
	if got := sdkCode(t, err); got != "InternalError" {
		t.Fatalf("code %s (%v)", got, err)
	}
	if m := sdkMessage(err); strings.Contains(strings.ToLower(m), "sql") || strings.Contains(m, "closed") {
		t.Fatalf("internal detail leaked: %q", m)
	}
}

func TestRateLimit(t *testing.T) {
	ts := startServer(t, withRateLimit(5))
	a := ts.newAccount("default")
	b := ts.newAccount("b")
	ca, cb := ts.client(a.adminID, a.adminKey), ts.client(b.adminID, b.adminKey)
	limited := 0
	for i := 0; i < 12; i++ {
		switch code := sdkCode(t, cwpCall(ca, "DescribeRiskProcessEvents", map[string]any{}, nil)); code {
		case "":
		case "RequestLimitExceeded":
			limited++
		default:
			t.Fatalf("call %d: %s", i, code)
		}
	}
	if limited == 0 {
		t.Fatal("12 calls in a burst at 5/s were all accepted")
	}
	// Per account and per action: another account, or another action, is not limited.
	if err := cwpCall(cb, "DescribeRiskProcessEvents", map[string]any{}, nil); err != nil {
		t.Fatalf("other account limited: %v", err)
	}
	if code := sdkCode(t, tcssCall(ca, "DescribeVirusDetail", map[string]any{"Id": "1"}, nil)); code != "ResourceNotFound" {
		t.Fatalf("other action: %s", code)
	}
	// The Go SDK retries RequestLimitExceeded when asked to: the call succeeds.
	retry := ts.client(a.adminID, a.adminKey, func(p *profile.ClientProfile) { p.RateLimitExceededMaxRetries = 3 })
	for i := 0; i < 8; i++ {
		if err := cwpCall(retry, "DescribeRiskProcessEvents", map[string]any{}, nil); err != nil {
			t.Fatalf("with SDK retries, call %d: %v", i, err)
		}
	}
}

// sdkDescribeRiskProcessEvents is the request type exactly as the per-product
// SDK module (…/tencentcloud/cwp/v20180228, not served by this module proxy)
// generates it: the `name` tags drive how the SDK flattens parameters for the
// legacy signature and for GET. CommonRequest cannot do that (it sends no
// action parameters with HmacSHA*), so legacy calls go through this type.
type sdkDescribeRiskProcessEvents struct {
	*tchttp.BaseRequest
	Filters []*sdkFilter `json:"Filters,omitnil,omitempty" name:"Filters"`
	Limit   *int64       `json:"Limit,omitnil,omitempty" name:"Limit"`
	Offset  *int64       `json:"Offset,omitnil,omitempty" name:"Offset"`
	Order   *string      `json:"Order,omitnil,omitempty" name:"Order"`
	By      *string      `json:"By,omitnil,omitempty" name:"By"`
}

type sdkFilter struct {
	Name       *string   `json:"Name,omitnil,omitempty" name:"Name"`
	Values     []*string `json:"Values,omitnil,omitempty" name:"Values"`
	ExactMatch *bool     `json:"ExactMatch,omitnil,omitempty" name:"ExactMatch"`
}

type sdkDescribeRiskProcessEventsResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		TotalCount *int64
		List       []json.RawMessage
		RequestId  *string
	} `json:"Response"`
}

func sdkRiskEvents(c *common.Client, filters []filter, limit int64) (int64, error) {
	req := &sdkDescribeRiskProcessEvents{BaseRequest: &tchttp.BaseRequest{}, Limit: &limit}
	req.Init().WithApiInfo("cwp", "2018-02-28", "DescribeRiskProcessEvents")
	for _, f := range filters {
		sf := &sdkFilter{Name: api.Ptr(f.Name)}
		if f.ExactMatch {
			sf.ExactMatch = api.Ptr(true)
		}
		for _, v := range f.Values {
			sf.Values = append(sf.Values, api.Ptr(v))
		}
		req.Filters = append(req.Filters, sf)
	}
	resp := &sdkDescribeRiskProcessEventsResponse{BaseResponse: &tchttp.BaseResponse{}}
	if err := c.Send(req, resp); err != nil {
		return 0, err
	}
	return *resp.Response.TotalCount, nil
}

// TestLegacySignature: the official client with HmacSHA1/HmacSHA256 sends a
// form body (or a query) with flattened parameters, as the official CLI does.
func TestLegacySignature(t *testing.T) {
	ts := startServer(t)
	a := ts.newAccount("default")
	seed(t, ts.App.Store, a.ID, "legacy", "10.3.3.3")
	filters := []filter{{Name: "VirusName", Values: []string{"nothing", "Xmrig"}}, {Name: "IpOrName", Values: []string{"10.3"}}, {Name: "HostId", Values: []string{"uuid-legacy"}, ExactMatch: true}}
	for _, method := range []string{"HmacSHA1", "HmacSHA256", "TC3-HMAC-SHA256"} {
		for _, httpMethod := range []string{"POST", "GET"} {
			t.Run(method+" "+httpMethod, func(t *testing.T) {
				c := ts.admin(func(p *profile.ClientProfile) { p.SignMethod = method; p.HttpProfile.ReqMethod = httpMethod })
				total, err := sdkRiskEvents(c, filters, 5)
				if err != nil {
					t.Fatal(err)
				}
				if total != 2 {
					t.Fatalf("TotalCount %d, want 2", total)
				}
				bad := ts.client(adminID, "wrong", func(p *profile.ClientProfile) { p.SignMethod = method; p.HttpProfile.ReqMethod = httpMethod })
				if _, err := sdkRiskEvents(bad, filters, 5); sdkCode(t, err) != "AuthFailure.SignatureFailure" {
					t.Fatalf("wrong key: %v", err)
				}
				// Validation applies to flattened parameters too.
				if _, err := sdkRiskEvents(c, []filter{{Name: "Colour", Values: []string{"x"}}}, 5); sdkCode(t, err) != "InvalidParameterValue" {
					t.Fatalf("unknown filter: %v", err)
				}
				if _, err := sdkRiskEvents(c, nil, 500); sdkCode(t, err) != "InvalidParameterValue" {
					t.Fatalf("Limit 500: %v", err)
				}
			})
		}
	}
	// Unsigned payload (X-TC-Content-SHA256: UNSIGNED-PAYLOAD).
	c := ts.admin(func(p *profile.ClientProfile) { p.UnsignedPayload = true })
	if err := cwpCall(c, "DescribeRiskProcessEvents", map[string]any{}, nil); err != nil {
		t.Fatalf("unsigned payload: %v", err)
	}
}

// TestTLS: the official CLI speaks only HTTPS.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	cert, key := writeFile(t, dir, "cert.pem", certPEM), writeFile(t, dir, "key.pem", keyPEM)
	ts := startServer(t, func(c *config.Server) { c.TLSCert, c.TLSKey = cert, key })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := ts.admin()
	c.WithHttpTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}})
	if err := cwpCall(c, "DescribeRiskProcessEvents", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
