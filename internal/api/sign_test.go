package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Vectors from ../shared/api/PROTOCOL.md (computed with the official Go SDK).
const (
	vecTimestamp = "1795315491" // 2026-11-22
	vecSecretID  = "AKIDexample"
	vecSecretKey = "SECRETKEYexample"
	vecBody      = `{"Id":"abc123"}`
)

var vecNow = time.Unix(1795315491, 0)

func vecRequest(host, contentSHA string) *TC3Request {
	h := map[string]string{"content-type": "application/json", "host": host, "x-tc-action": "DescribeVirusDetail"}
	return &TC3Request{
		Method:        "POST",
		URI:           "/",
		Header:        func(n string) string { return h[n] },
		ContentSHA256: contentSHA,
		Body:          []byte(vecBody),
	}
}

func TestTC3Vectors(t *testing.T) {
	r := vecRequest("127.0.0.1:8080", "")
	if got := TC3CanonicalRequestHash(r, []string{"content-type", "host"}, "127.0.0.1:8080"); got != "fb1d6527e3a7b1fb127cb057c750553830ee441716d979091a5094892325c0e5" {
		t.Fatalf("canonical request hash = %s", got)
	}
	tests := []struct {
		name, host, service, want string
	}{
		{"go sdk: host with port, service from product", "127.0.0.1:8080", "tcss", "c7dd9b025a1438a9d2971ed910c6fe5c6edf9723d86db7957c9a234348401757"},
		{"node sdk: host without port, service from host label", "127.0.0.1", "127", "0d886882c4768542d189115405b7aa1fdd097b6cdef382e0bc3234a1f9a82101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TC3Signature(vecSecretKey, vecTimestamp, "2026-11-22", tt.service,
				TC3CanonicalRequestHash(r, []string{"content-type", "host"}, tt.host))
			if got != tt.want {
				t.Fatalf("signature = %s, want %s", got, tt.want)
			}
			// The server sees Host 127.0.0.1:8080 in both cases and must accept both.
			auth := TC3Authorization{SecretID: vecSecretID, Date: "2026-11-22", Service: tt.service,
				SignedHeaders: []string{"content-type", "host"}, Signature: tt.want}
			if err := VerifyTC3(r, auth, vecTimestamp, vecSecretKey, vecNow); err != nil {
				t.Fatalf("VerifyTC3: %v", err)
			}
		})
	}
}

func sign(r *TC3Request, headers []string, service, key, ts string) TC3Authorization {
	date := time.Unix(mustAtoi(ts), 0).UTC().Format(time.DateOnly)
	return TC3Authorization{SecretID: vecSecretID, Date: date, Service: service, SignedHeaders: headers,
		Signature: TC3Signature(key, ts, date, service, TC3CanonicalRequestHash(r, headers, r.Header("host")))}
}

func mustAtoi(s string) int64 {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

func TestVerifyTC3(t *testing.T) {
	good := vecRequest("127.0.0.1:8080", "")
	tests := []struct {
		name     string
		req      *TC3Request
		auth     func() TC3Authorization
		ts       string
		now      time.Time
		wantCode Code // "" = ok
	}{
		{"ok", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow, ""},
		{"ok: x-tc-action signed too", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host", "x-tc-action"}, "cwp", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow, ""},
		{"ok: only host signed", good, func() TC3Authorization { return sign(good, []string{"host"}, "tcss", vecSecretKey, vecTimestamp) }, vecTimestamp, vecNow, ""},
		{"ok: unsigned payload", vecRequest("127.0.0.1:8080", UnsignedPayload), func() TC3Authorization {
			r := vecRequest("127.0.0.1:8080", UnsignedPayload)
			r.Body = []byte("something else entirely")
			return sign(r, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow, ""},
		{"ok: 299 s skew", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow.Add(299 * time.Second), ""},
		{"wrong key", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", "other", vecTimestamp)
		}, vecTimestamp, vecNow, AuthFailureSignatureFailure},
		{"body changed", &TC3Request{Method: "POST", Header: good.Header, Body: []byte(`{"Id":"abc124"}`)}, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow, AuthFailureSignatureFailure},
		{"different host", vecRequest("10.0.0.1:8080", ""), func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow, AuthFailureSignatureFailure},
		{"expired", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow.Add(301 * time.Second), AuthFailureSignatureExpire},
		{"from the future", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, vecTimestamp, vecNow.Add(-301 * time.Second), AuthFailureSignatureExpire},
		{"bad timestamp", good, func() TC3Authorization {
			return sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
		}, "17953x5491", vecNow, InvalidParameter},
		{"scope date not the timestamp's", good, func() TC3Authorization {
			a := sign(good, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
			a.Date = "2026-11-21"
			return a
		}, vecTimestamp, vecNow, AuthFailureSignatureFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyTC3(tt.req, tt.auth(), tt.ts, vecSecretKey, tt.now)
			checkCode(t, err, tt.wantCode)
		})
	}
}

func checkCode(t *testing.T, err error, want Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want code %s", err, want)
	}
	if e.Code != want {
		t.Fatalf("code = %s, want %s (%v)", e.Code, want, err)
	}
}

func TestParseTC3Authorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		name, header string
		wantErr      bool
		want         TC3Authorization
	}{
		{"ok", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/tcss/tc3_request, SignedHeaders=content-type;host, Signature=" + sig, false,
			TC3Authorization{SecretID: "AKID", Date: "2026-11-22", Service: "tcss", SignedHeaders: []string{"content-type", "host"}, Signature: sig}},
		{"no spaces after commas", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/127/tc3_request,SignedHeaders=Host,Signature=" + sig, false,
			TC3Authorization{SecretID: "AKID", Date: "2026-11-22", Service: "127", SignedHeaders: []string{"host"}, Signature: sig}},
		{"empty", "", true, TC3Authorization{}},
		{"other scheme", "Bearer xyz", true, TC3Authorization{}},
		{"scope without tc3_request", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/tcss/x, SignedHeaders=host, Signature=" + sig, true, TC3Authorization{}},
		{"bad date", "TC3-HMAC-SHA256 Credential=AKID/2026-13-22/tcss/tc3_request, SignedHeaders=host, Signature=" + sig, true, TC3Authorization{}},
		{"short signature", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/tcss/tc3_request, SignedHeaders=host, Signature=abc", true, TC3Authorization{}},
		{"uppercase signature", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/tcss/tc3_request, SignedHeaders=host, Signature=" + strings.ToUpper(sig), true, TC3Authorization{}},
		{"no signed headers", "TC3-HMAC-SHA256 Credential=AKID/2026-11-22/tcss/tc3_request, Signature=" + sig, true, TC3Authorization{}},
		{"garbage component", "TC3-HMAC-SHA256 Credential, SignedHeaders=host, Signature=" + sig, true, TC3Authorization{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTC3Authorization(tt.header)
			if tt.wantErr {
				checkCode(t, err, AuthFailureInvalidAuthorization)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SecretID != tt.want.SecretID || got.Date != tt.want.Date || got.Service != tt.want.Service ||
				strings.Join(got.SignedHeaders, ";") != strings.Join(tt.want.SignedHeaders, ";") || got.Signature != tt.want.Signature {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLegacyVector(t *testing.T) {
	params := map[string][]string{
		"Action": {"DescribeInstances"}, "Nonce": {"11886"}, "Region": {"ap-guangzhou"},
		"SecretId": {"AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"}, "SignatureMethod": {"HmacSHA1"},
		"Timestamp": {"1465185768"}, "Version": {"2017-03-12"},
	}
	s := LegacyStringToSign("GET", "cvm.tencentcloudapi.com", "/", params)
	if want := "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&Nonce=11886&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA1&Timestamp=1465185768&Version=2017-03-12"; s != want {
		t.Fatalf("string to sign = %s", s)
	}
	sig, err := LegacySignature("HmacSHA1", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", s)
	if err != nil || sig != "0+OCUSRjIU96ITc36w/DvB3UBAU=" {
		t.Fatalf("signature = %s, %v", sig, err)
	}
	params["Signature"] = []string{sig}
	if err := VerifyLegacy("GET", "cvm.tencentcloudapi.com", "/", params, "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", time.Unix(1465185768, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyLegacy(t *testing.T) {
	const key = "legacykey"
	base := func(method string) map[string][]string {
		p := map[string][]string{
			"Action": {"DescribeRiskProcessEvents"}, "Version": {"2018-02-28"}, "Nonce": {"42"},
			"SecretId": {"AKID"}, "Timestamp": {vecTimestamp}, "Filters.0.Name": {"HostId"}, "Filters.0.Values.0": {"a b&c"},
		}
		if method != "" {
			p["SignatureMethod"] = []string{method}
		}
		s, _ := LegacySignature(method, key, LegacyStringToSign("POST", "127.0.0.1:9750", "/", p))
		p["Signature"] = []string{s}
		return p
	}
	tests := []struct {
		name   string
		params func() map[string][]string
		host   string
		now    time.Time
		want   Code
	}{
		{"sha256", func() map[string][]string { return base("HmacSHA256") }, "127.0.0.1:9750", vecNow, ""},
		{"sha1 default", func() map[string][]string { return base("") }, "127.0.0.1:9750", vecNow, ""},
		{"value tampered", func() map[string][]string { p := base("HmacSHA256"); p["Nonce"] = []string{"43"}; return p }, "127.0.0.1:9750", vecNow, AuthFailureSignatureFailure},
		{"param added", func() map[string][]string { p := base("HmacSHA256"); p["Limit"] = []string{"5"}; return p }, "127.0.0.1:9750", vecNow, AuthFailureSignatureFailure},
		{"other host", func() map[string][]string { return base("HmacSHA256") }, "127.0.0.2:9750", vecNow, AuthFailureSignatureFailure},
		{"expired", func() map[string][]string { return base("HmacSHA256") }, "127.0.0.1:9750", vecNow.Add(time.Hour), AuthFailureSignatureExpire},
		{"bad method", func() map[string][]string { p := base("HmacSHA256"); p["SignatureMethod"] = []string{"MD5"}; return p }, "127.0.0.1:9750", vecNow, InvalidParameterValue},
		{"signature not base64", func() map[string][]string { p := base("HmacSHA256"); p["Signature"] = []string{"%%%"}; return p }, "127.0.0.1:9750", vecNow, AuthFailureSignatureFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCode(t, VerifyLegacy("POST", tt.host, "/", tt.params(), key, tt.now), tt.want)
		})
	}
}

func BenchmarkVerifyTC3(b *testing.B) {
	r := vecRequest("127.0.0.1:8080", "")
	auth := sign(r, []string{"content-type", "host"}, "tcss", vecSecretKey, vecTimestamp)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyTC3(r, auth, vecTimestamp, vecSecretKey, vecNow); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignTC3 reproduces the official Go SDK's signature from PROTOCOL.md.
func TestSignTC3(t *testing.T) {
	r, _ := http.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(vecBody))
	SignTC3(r, []byte(vecBody), vecSecretID, vecSecretKey, "tcss", vecNow)
	want := "TC3-HMAC-SHA256 Credential=AKIDexample/2026-11-22/tcss/tc3_request, SignedHeaders=content-type;host, Signature=c7dd9b025a1438a9d2971ed910c6fe5c6edf9723d86db7957c9a234348401757"
	if got := r.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization = %s", got)
	}
}
