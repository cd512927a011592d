package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/api/spec"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/store"
)

const (
	fuzzSecretID  = "AKIDfuzz000000000000000000000000000"
	fuzzSecretKey = "fuzz-secret-key-000000000000000000"
	fuzzHost      = "127.0.0.1:9750"
)

// fuzzNow is the server's clock and every signature's timestamp, so that a
// crasher replays identically whenever it is run.
var fuzzNow = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

// How a fuzzed request is authenticated: mode%4 picks the kind, higher bits
// vary it.
const (
	authNone            = 0 // no Authorization header: the body/query is taken as a legacy call
	authRaw             = 1 // the fuzzed Authorization header as is
	authTC3             = 2 // TC3-HMAC-SHA256, signed over exactly what is sent
	authLegacy          = 3 // legacy signature, common parameters added to the fuzzed form
	authKinds           = 4
	flagUnsignedPayload = 1 << 3 // TC3: X-TC-Content-SHA256: UNSIGNED-PAYLOAD
	flagNodeStyle       = 1 << 4 // TC3: host without port, service "127", like the Node SDK; legacy: HmacSHA256
	flagWrongKey        = 1 << 5 // sign with another secret: must never succeed
)

// fuzzSeed is one seed-corpus request and the error code it must get ("" for
// success; wantPastAuth for any answer from validation or the handler).
type fuzzSeed struct {
	mode                             uint8
	method, path, ctype, action, ver string
	lang, auth                       string
	body                             string
	want                             string
}

const wantPastAuth = "(authenticated and routed)"

// fuzzServer is a real App over SQLite with the default account's data in it,
// answering for fuzzNow; logs holds its error log.
type fuzzServer struct {
	h     http.Handler
	logs  *lockedBuffer
	seeds []fuzzSeed
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	logs := &lockedBuffer{}
	a, err := Open(context.Background(), testConfig(tb),
		WithEnviron([]string{EnvAdminSecretID + "=" + fuzzSecretID, EnvAdminSecretKey + "=" + fuzzSecretKey}),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))),
		WithClock(func() time.Time { return fuzzNow }))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	ids := seedFuzzStore(tb, a.Store)

	const cwpV, tcssV = "2018-02-28", "2020-11-01"
	const ctJSON, ctForm = "application/json", "application/x-www-form-urlencoded"
	riskBody := `{"Filters":[{"Name":"VirusName","Values":["Fscan"]},{"Name":"BeginTime","Values":["2026-11-01 00:00:00"]}],"Limit":10,"Offset":0,"Order":"DESC","By":"DetectTime"}`
	virusBody := fmt.Sprintf(`{"Id":"%d"}`, ids.virusEvent)
	imageBody := fmt.Sprintf(`{"Id":%d,"Filters":[{"Name":"RiskLevel","Values":["3"]}],"Limit":10,"Offset":0}`, ids.image)
	imageInfoBody := `{"ImageInfo":{"InstanceName":"reg-fuzz","Namespace":"library","ImageName":"web","ImageTag":"1.0","Force":"false"}}`
	badSig := "TC3-HMAC-SHA256 Credential=" + fuzzSecretID + "/2026-11-22/cwp/tc3_request, SignedHeaders=content-type;host, Signature=" + strings.Repeat("0a", 32)
	seeds := []fuzzSeed{
		{authTC3, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "en-US", "", riskBody, ""},
		{authTC3 | flagNodeStyle, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "zh-CN", "", `{"Filters":[{"Name":"IpOrName","Values":["fuzz"],"ExactMatch":false}]}`, ""},
		{authTC3 | flagUnsignedPayload, "POST", "/", ctJSON, "DescribeVirusDetail", tcssV, "en-US", "", virusBody, ""},
		{authTC3, "POST", "/", "application/json; charset=utf-8", "DescribeVirusDetail", tcssV, "", "", `{"Id":"999999"}`, string(api.ResourceNotFound)},
		{authTC3, "POST", "/", ctJSON, "DescribeAssetImageRegistryVirusList", tcssV, "en-US", "", imageBody, ""},
		{authTC3 | flagNodeStyle, "POST", "/", ctJSON, "DescribeAssetImageRegistryVirusList", tcssV, "", "", imageInfoBody, ""},
		{authTC3, "GET", "/", ctForm, "DescribeVirusDetail", tcssV, "en-US", "", fmt.Sprintf("Id=%d", ids.virusEvent), ""},
		{authTC3, "POST", "/", ctForm, "DescribeRiskProcessEvents", cwpV, "", "", "Filters.0.Name=HostId&Filters.0.Values.0=uuid-fuzz&Limit=5", ""},
		{authTC3 | flagWrongKey, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "", "", `{}`, string(api.AuthFailureSignatureFailure)},
		{authTC3, "POST", "/some/path?x=1", ctJSON, "DescribeRiskProcessEvents", cwpV, "", "", `{"Limit":0}`, string(api.InvalidParameterValue)},
		{authLegacy, "POST", "/", ctForm, "DescribeRiskProcessEvents", cwpV, "en-US", "", "Filters.0.Name=VirusName&Filters.0.Values.0=Xmrig&Filters.0.ExactMatch=false&Limit=5&Offset=0", ""},
		{authLegacy | flagNodeStyle, "GET", "/", "", "DescribeVirusDetail", tcssV, "zh-CN", "", fmt.Sprintf("Id=%d", ids.virusEvent), ""},
		{authLegacy, "POST", "/", ctForm, "DescribeAssetImageRegistryVirusList", tcssV, "", "",
			"ImageInfo.InstanceName=reg-fuzz&ImageInfo.Namespace=library&ImageInfo.ImageName=web&ImageInfo.ImageTag=1.0&ImageInfo.Force=False&Filters.0.Name=Level&Filters.0.Values.0=RISK_CRITICAL", ""},
		{authLegacy | flagWrongKey, "POST", "/", ctForm, "DescribeVirusDetail", tcssV, "", "", "Id=1", string(api.AuthFailureSignatureFailure)},
		{authNone, "POST", "/", ctForm, "", "", "", "",
			"Action=DescribeRiskProcessEvents&Version=2018-02-28&SecretId=" + fuzzSecretID + "&Timestamp=1795320000&Nonce=1&Signature=AAAA", string(api.AuthFailureSignatureFailure)},
		{authNone, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "", "", `{}`, string(api.AuthFailureInvalidAuthorization)},
		{authRaw, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "", badSig, `{}`, string(api.InvalidParameter)}, // no X-TC-Timestamp
		{authRaw, "POST", "/", ctJSON, "DescribeRiskProcessEvents", cwpV, "", "TC3-HMAC-SHA256 Credential=a/b/c", `{}`, string(api.AuthFailureInvalidAuthorization)},
		{authNone, "PUT", "/", "", "", "", "", "", "", string(api.UnsupportedProtocol)},
		{authNone, "GET", "/healthz", "", "", "", "", "", "", ""},
	}
	// Every action of both services with an empty body, so the fuzzer starts
	// next to every registered handler, implemented or not.
	for _, sch := range []*spec.Schema{cwp.Schema(), tcss.Schema()} {
		for _, name := range sch.ActionNames() {
			seeds = append(seeds, fuzzSeed{authTC3, "POST", "/", ctJSON, name, sch.Version(), "en-US", "", `{}`, wantPastAuth})
		}
	}
	return &fuzzServer{h: a.Handler(), logs: logs, seeds: seeds}
}

// serve sends one fuzzed request and checks the protocol's promises. It
// returns the error code ("" on success); ok is false when the input is not a
// request net/http would hand to a handler, or is not an API call.
func (s *fuzzServer) serve(t *testing.T, mode uint8, method, path, ctype, action, ver, lang, auth string, body []byte) (code string, ok bool) {
	s.logs.Reset()
	r, ok := fuzzRequest(mode, method, path, ctype, action, ver, lang, auth, body)
	if !ok {
		return "", false // net/http itself would refuse it with 400 before any handler runs
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r) // a panic here fails the fuzz run by itself
	if isOperational(r) {
		return "", false // not the API
	}
	kind := mode % authKinds
	signed := (kind == authTC3 || kind == authLegacy) && mode&flagWrongKey == 0
	code = checkEnvelope(t, rec)
	if code == "" && !signed {
		t.Fatalf("a request not signed with the key succeeded (mode %#x): %s", mode, rec.Body)
	}
	if code == string(api.InternalError) || strings.HasPrefix(code, string(api.InternalError)+".") {
		t.Fatalf("InternalError (mode %#x, %s %q, action %q %q):\n%s\nserver log:\n%s", mode, r.Method, path, action, ver, rec.Body, s.logs.String())
	}
	if signed && strings.HasPrefix(code, "AuthFailure.") {
		t.Fatalf("a correctly signed request was refused with %s (mode %#x): %s", code, mode, rec.Body)
	}
	return code, true
}

// FuzzServeHTTP sends arbitrary requests through the whole HTTP surface of a
// real App (SQLite store with data in it) and checks the protocol's promises:
// no panic, every API answer is HTTP 200 with Content-Type application/json
// and a {"Response":{…,"RequestId"}} envelope, every error code is in the
// protocol's table and none is InternalError, only correctly signed requests
// succeed, and a correctly signed request is never refused for its signature.
// The signing modes let the fuzzer past authentication into validation and the
// handlers, with JSON bodies and legacy form bodies.
func FuzzServeHTTP(f *testing.F) {
	s := newFuzzServer(f)
	for _, sd := range s.seeds {
		f.Add(sd.mode, sd.method, sd.path, sd.ctype, sd.action, sd.ver, sd.lang, sd.auth, []byte(sd.body))
	}
	f.Fuzz(func(t *testing.T, mode uint8, method, path, ctype, action, ver, lang, auth string, body []byte) {
		s.serve(t, mode, method, path, ctype, action, ver, lang, auth, body)
	})
}

// TestFuzzSeeds pins what each seed gets, so the signing modes demonstrably
// take the fuzzer past authentication to the handlers.
func TestFuzzSeeds(t *testing.T) {
	s := newFuzzServer(t)
	for _, sd := range s.seeds {
		t.Run(fmt.Sprintf("%#x %s %s %s", sd.mode, sd.method, sd.path, sd.action), func(t *testing.T) {
			code, ok := s.serve(t, sd.mode, sd.method, sd.path, sd.ctype, sd.action, sd.ver, sd.lang, sd.auth, []byte(sd.body))
			switch {
			case !ok:
				if sd.path != "/healthz" {
					t.Fatal("seed is not an API request")
				}
			case sd.want == wantPastAuth:
				if strings.HasPrefix(code, "AuthFailure.") || code == string(api.InvalidAction) || code == string(api.NoSuchVersion) {
					t.Fatalf("code %s, want an answer from validation or the handler", code)
				}
			case code != sd.want:
				t.Fatalf("code %q, want %q", code, sd.want)
			}
		})
	}
}

// fuzzRequest builds the request; ok is false for what net/http's server
// would reject before the handler (bad method token, request target or header).
func fuzzRequest(mode uint8, method, path, ctype, action, ver, lang, auth string, body []byte) (*http.Request, bool) {
	if !isToken(method) || !strings.HasPrefix(path, "/") || strings.ContainsFunc(path, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return nil, false
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, false
	}
	header := map[string]string{"Content-Type": ctype, "X-TC-Action": action, "X-TC-Version": ver, "X-TC-Language": lang}
	for _, v := range []string{ctype, action, ver, lang, auth} {
		if !validHeaderValue(v) {
			return nil, false
		}
	}
	r := &http.Request{
		Method: method, URL: u, RequestURI: path, Host: fuzzHost,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, RemoteAddr: "192.0.2.1:40000",
	}
	for k, v := range header {
		if v = strings.Trim(v, " \t"); v != "" { // as net/textproto hands them to the server
			r.Header.Set(k, v)
		}
	}
	key := fuzzSecretKey
	if mode&flagWrongKey != 0 {
		key = "not-the-key"
	}
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	switch mode % authKinds {
	case authRaw:
		if auth = strings.Trim(auth, " \t"); auth != "" {
			r.Header.Set("Authorization", auth)
		}
	case authTC3:
		if method == http.MethodGet {
			q, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, false
			}
			r.URL.RawQuery, body = q.Encode(), nil
		}
		r.Header.Set("X-TC-Timestamp", ts)
		if mode&flagUnsignedPayload != 0 {
			r.Header.Set("X-TC-Content-SHA256", api.UnsignedPayload)
		}
		host, service := fuzzHost, "cwp"
		if mode&flagNodeStyle != 0 {
			host, service = "127.0.0.1", "127"
		}
		date := fuzzNow.Format(time.DateOnly)
		hash := api.TC3CanonicalRequestHash(&api.TC3Request{
			Method: method, URI: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Header: r.Header.Get, ContentSHA256: r.Header.Get("X-TC-Content-SHA256"), Body: body,
		}, []string{"content-type", "host"}, host)
		r.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s/%s/tc3_request, SignedHeaders=content-type;host, Signature=%s",
			api.TC3Algorithm, fuzzSecretID, date, service, api.TC3Signature(key, ts, date, service, hash)))
	case authLegacy:
		params, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		for k := range params {
			if api.IsLegacyCommonParam(k) {
				delete(params, k)
			}
		}
		sigMethod := "HmacSHA1"
		if mode&flagNodeStyle != 0 {
			sigMethod = "HmacSHA256"
		}
		for k, v := range map[string]string{"Action": action, "Version": ver, "Language": lang, "SecretId": fuzzSecretID,
			"Timestamp": ts, "Nonce": "4711", "Region": "ap-guangzhou", "SignatureMethod": sigMethod} {
			if v != "" {
				params.Set(k, v)
			}
		}
		sig, err := api.LegacySignature(sigMethod, key, api.LegacyStringToSign(method, fuzzHost, r.URL.Path, params))
		if err != nil {
			panic(err) // sigMethod is one of the two supported
		}
		params.Set("Signature", sig)
		r.Header.Del("X-TC-Action")
		r.Header.Del("X-TC-Version")
		if method == http.MethodPost {
			body = []byte(params.Encode())
		} else {
			r.URL.RawQuery, body = params.Encode(), nil
		}
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return r, true
}

// checkEnvelope checks the answer to an API call and returns its error code
// ("" on success).
func checkEnvelope(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json: %s", ct, rec.Body)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env) != 1 || env["Response"] == nil {
		t.Fatalf("not a {\"Response\":…} envelope (%v): %s", err, rec.Body)
	}
	var resp struct {
		RequestId *string
		Error     *struct{ Code, Message *string }
	}
	if err := json.Unmarshal(env["Response"], &resp); err != nil {
		t.Fatalf("Response is not an object: %v: %s", err, rec.Body)
	}
	if resp.RequestId == nil || *resp.RequestId == "" || *resp.RequestId != rec.Header().Get("X-TC-RequestId") {
		t.Fatalf("RequestId missing or unlike the X-TC-RequestId header %q: %s", rec.Header().Get("X-TC-RequestId"), rec.Body)
	}
	if resp.Error == nil {
		return ""
	}
	if resp.Error.Code == nil || resp.Error.Message == nil || *resp.Error.Message == "" {
		t.Fatalf("Error without Code or Message: %s", rec.Body)
	}
	if code := api.Code(*resp.Error.Code); !code.Known() {
		t.Fatalf("error code %q is not in the protocol's table: %s", code, rec.Body)
	}
	return *resp.Error.Code
}

// isOperational reports whether r is for /healthz or /metrics, directly or
// through http.ServeMux's redirect from a non-canonical spelling of them.
func isOperational(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := path.Clean(r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") && p != "/" {
		p += "/" // ServeMux keeps a trailing slash when it cleans a path
	}
	return p == "/healthz" || p == "/metrics"
}

// isToken reports whether s is an HTTP method token (RFC 9110 tchar).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether net/http would accept v as a header field
// value: no control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fuzzIDs are the seeded rows the seed corpus refers to.
type fuzzIDs struct{ virusEvent, image int64 }

// seedFuzzStore gives the default account a host, threats, risk-process and
// virus events and a scanned registry image, so handlers convert real rows.
func seedFuzzStore(tb testing.TB, st store.Store) fuzzIDs {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	acct, err := st.GetAccountByName(ctx, DefaultAccount)
	must(err)
	t0 := fuzzNow.Add(-24 * time.Hour)
	h, err := st.UpsertHost(ctx, acct.ID, store.Host{UUID: "uuid-fuzz", QUUID: "quuid-fuzz", Name: "fuzz-host",
		PrivateIP: "10.0.0.7", PublicIP: "203.0.113.9", Online: true, LastSeen: t0})
	must(err)
	must(st.UpsertThreats(ctx, []store.Threat{
		{Name: "Linux.Scanner.Fscan", Tags: []string{"scanner"}, Desc: store.Localized{ZH: "黑客工具。", EN: "A hacking tool."},
			Solution: store.Localized{ZH: "删除。", EN: "Delete it."}},
		{Name: "Linux.Miner.Xmrig", Tags: []string{"miner"}, Desc: store.Localized{ZH: "挖矿木马。", EN: "A coin miner."}},
	}))
	_, err = st.InsertRiskProcessEvents(ctx, acct.ID, []store.RiskProcessEvent{
		{HostUUID: h.UUID, PID: 21595, PPID: 1, ProcessStartTime: t0, ExePath: "/dev/shm/dev", CmdLine: "./dev -h 10.0.0.1/24",
			VirusName: "Linux.Scanner.Fscan", CheckPlatform: []string{"4"}, DetectTime: t0.Add(time.Minute)},
		{HostUUID: h.UUID, PID: 4242, PPID: 1, ProcessStartTime: t0, ExePath: "/tmp/100%_xmrig", VirusName: "Linux.Miner.Xmrig",
			HandleStatus: store.HandleKilled, DetectTime: t0.Add(time.Hour)},
	})
	must(err)
	vids, err := st.InsertVirusEvents(ctx, acct.ID, []store.VirusEvent{{
		HostUUID: h.UUID, ContainerID: "d4c43f9268ec", ContainerName: "/web", ContainerStatus: "RUNNING", ImageName: "centos:7",
		FilePath: "/home/virus/specimen_1", FileName: "specimen_1", FileSize: 332155, VirusName: "Linux.Miner.Xmrig",
		RiskLevel: "RISK_CRITICAL", CheckPlatform: []string{"1"}, FileAccessTime: t0, FileModifyTime: t0, ModifyTime: t0,
		Process: store.ProcessInfo{PID: 433802, Name: "git", Path: "/usr/bin/git", Chain: "git(433802)|node(280016)"},
	}})
	must(err)
	reg, err := st.CreateRegistry(ctx, acct.ID, store.Registry{Name: "reg-fuzz", URL: "http://127.0.0.1:5000", Type: "other"})
	must(err)
	img, err := st.UpsertRegistryImage(ctx, acct.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "library", Name: "web", Tag: "1.0", Digest: "sha256:aaaa"})
	must(err)
	must(st.UpsertImageViruses(ctx, acct.ID, img.ID, []store.ImageVirus{
		{Path: "/bin/webshell.php", VirusName: "Php.Webshell.Generic", RiskLevel: "4", Category: "Webshell", FileType: "PHP", LatestScanTime: t0},
		{Path: "/usr/local/bin/xmrig", VirusName: "Linux.Miner.Xmrig", RiskLevel: "3", Category: "Miner", FileType: "ELF", LatestScanTime: t0},
	}))
	return fuzzIDs{virusEvent: vids[0], image: img.ID}
}

// lockedBuffer collects the server's error log for the failure message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
