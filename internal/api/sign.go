package api

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature verification for API 3.0, as pure functions: no I/O, no clock, no
// key store. The server gathers the inputs, looks up the key and calls these.

// TC3Algorithm is the Authorization scheme of TC3-HMAC-SHA256.
const TC3Algorithm = "TC3-HMAC-SHA256"

// UnsignedPayload is the X-TC-Content-SHA256 value that exempts the body from
// the signature; the payload hash is then the hash of this literal.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// MaxClockSkew is how far a request's timestamp may be from the server's clock.
const MaxClockSkew = 300 * time.Second

// TC3Authorization is a parsed "Authorization: TC3-HMAC-SHA256 Credential=…" header.
type TC3Authorization struct {
	SecretID      string
	Date          string // yyyy-mm-dd from the credential scope
	Service       string // as the client named it: "cwp", "tcss", or "127" from the Node SDK
	SignedHeaders []string
	Signature     string // lowercase hex
}

// ParseTC3Authorization parses the Authorization header of a TC3 request.
func ParseTC3Authorization(h string) (TC3Authorization, error) {
	var a TC3Authorization
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), TC3Algorithm+" ")
	if !ok {
		return a, authInvalid("the Authorization header must start with " + TC3Algorithm)
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, authInvalid("malformed Authorization component " + strconvQuote(part))
		}
		switch k {
		case "Credential":
			fields := strings.Split(v, "/")
			if len(fields) != 4 || fields[3] != "tc3_request" || fields[0] == "" || fields[2] == "" {
				return a, authInvalid("Credential must be SecretId/date/service/tc3_request")
			}
			if _, err := time.Parse(time.DateOnly, fields[1]); err != nil {
				return a, authInvalid("the Credential date must be yyyy-mm-dd")
			}
			a.SecretID, a.Date, a.Service = fields[0], fields[1], fields[2]
		case "SignedHeaders":
			if v == "" {
				return a, authInvalid("SignedHeaders is empty")
			}
			a.SignedHeaders = strings.Split(strings.ToLower(v), ";")
		case "Signature":
			if len(v) != 64 || !isLowerHex(v) {
				return a, authInvalid("Signature must be 64 lowercase hex digits")
			}
			a.Signature = v
		}
	}
	switch {
	case a.SecretID == "":
		return a, authInvalid("Credential is missing")
	case a.SignedHeaders == nil:
		return a, authInvalid("SignedHeaders is missing")
	case a.Signature == "":
		return a, authInvalid("Signature is missing")
	}
	return a, nil
}

// TC3Request is what the TC3 signature covers.
type TC3Request struct {
	Method   string
	URI      string // the request path; "" means "/"
	RawQuery string
	// Header returns a request header's value by lowercase name; "host" must
	// return the Host the client sent.
	Header        func(name string) string
	ContentSHA256 string // X-TC-Content-SHA256
	Body          []byte // exactly as received
}

// TC3CanonicalRequestHash returns hex(sha256(CanonicalRequest)) for r signed
// with signedHeaders, where host (if signed) takes the value hostValue.
func TC3CanonicalRequestHash(r *TC3Request, signedHeaders []string, hostValue string) string {
	var b strings.Builder
	uri := r.URI
	if uri == "" {
		uri = "/"
	}
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(r.RawQuery)
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		v := hostValue
		if name != "host" {
			v = r.Header(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.ToLower(strings.TrimSpace(v)))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	if r.ContentSHA256 == UnsignedPayload {
		b.WriteString(sha256Hex([]byte(UnsignedPayload)))
	} else {
		b.WriteString(sha256Hex(r.Body))
	}
	return sha256Hex([]byte(b.String()))
}

// TC3Signature computes the signature of a canonical request hash.
func TC3Signature(secretKey, timestamp, date, service, canonicalRequestHash string) string {
	stringToSign := TC3Algorithm + "\n" + timestamp + "\n" + date + "/" + service + "/tc3_request\n" + canonicalRequestHash
	kDate := hmacSum(sha256.New, []byte("TC3"+secretKey), date)
	kService := hmacSum(sha256.New, kDate, service)
	kSigning := hmacSum(sha256.New, kService, "tc3_request")
	return hex.EncodeToString(hmacSum(sha256.New, kSigning, stringToSign))
}

// VerifyTC3 checks a TC3 signature in constant time. The host is tried as sent
// and without its port, since the Go SDK signs host:port and the Node SDK the
// bare host. timestamp is X-TC-Timestamp as sent; now is the server's clock.
func VerifyTC3(r *TC3Request, a TC3Authorization, timestamp, secretKey string, now time.Time) error {
	ts, err := checkTimestamp(timestamp, now)
	if err != nil {
		return err
	}
	if ts.UTC().Format(time.DateOnly) != a.Date {
		return NewError(AuthFailureSignatureFailure,
			"The Credential date does not match X-TC-Timestamp.",
			"Credential 中的日期与 X-TC-Timestamp 不一致。")
	}
	host := r.Header("host")
	hosts := []string{host}
	if h, _, err := net.SplitHostPort(host); err == nil {
		hosts = append(hosts, h)
	}
	want, _ := hex.DecodeString(a.Signature)
	ok := false
	for _, h := range hosts {
		got := TC3Signature(secretKey, timestamp, a.Date, a.Service, TC3CanonicalRequestHash(r, a.SignedHeaders, h))
		gotRaw, _ := hex.DecodeString(got)
		// Which host form matched is not secret; the comparison itself is constant-time.
		if hmac.Equal(gotRaw, want) {
			ok = true
			break
		}
	}
	if !ok {
		return &Error{Code: AuthFailureSignatureFailure}
	}
	return nil
}

// LegacyCommonParams are the common parameters of the legacy (HmacSHA1/HmacSHA256)
// signature; everything else in the form or query is an action parameter.
var legacyCommonParams = map[string]bool{
	"Action": true, "Version": true, "Region": true, "Timestamp": true, "Nonce": true,
	"SecretId": true, "SignatureMethod": true, "Signature": true, "Token": true,
	"Language": true, "RequestClient": true,
}

// IsLegacyCommonParam reports whether name is a common parameter of the legacy signature.
func IsLegacyCommonParam(name string) bool { return legacyCommonParams[name] }

// LegacyStringToSign builds METHOD + host + path + "?" + sorted k=v pairs
// (Signature left out, values not URL-encoded).
func LegacyStringToSign(method, host, path string, params map[string][]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(method)
	b.WriteString(host)
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('?')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v := params[k]; len(v) > 0 {
			b.WriteString(v[0])
		}
	}
	return b.String()
}

// LegacySignature computes base64(HMAC(secretKey, stringToSign)) with method
// "HmacSHA1" or "HmacSHA256".
func LegacySignature(method, secretKey, stringToSign string) (string, error) {
	var h func() hash.Hash
	switch method {
	case "HmacSHA1", "":
		h = sha1.New
	case "HmacSHA256":
		h = sha256.New
	default:
		return "", ErrInvalidParameterValue("SignatureMethod", "must be HmacSHA1 or HmacSHA256", "取值须为 HmacSHA1 或 HmacSHA256")
	}
	return base64.StdEncoding.EncodeToString(hmacSum(h, []byte(secretKey), stringToSign)), nil
}

// VerifyLegacy checks a legacy signature in constant time, trying the host as
// sent and without its port.
func VerifyLegacy(method, host, path string, params map[string][]string, secretKey string, now time.Time) error {
	first := func(k string) string {
		if v := params[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if _, err := checkTimestamp(first("Timestamp"), now); err != nil {
		return err
	}
	want, err := base64.StdEncoding.DecodeString(first("Signature"))
	if err != nil || len(want) == 0 {
		return NewError(AuthFailureSignatureFailure, "The Signature parameter is not valid base64.", "Signature 参数不是合法的 base64。")
	}
	hosts := []string{host}
	if h, _, err := net.SplitHostPort(host); err == nil {
		hosts = append(hosts, h)
	}
	ok := false
	for _, h := range hosts {
		sig, err := LegacySignature(first("SignatureMethod"), secretKey, LegacyStringToSign(method, h, path, params))
		if err != nil {
			return err
		}
		raw, _ := base64.StdEncoding.DecodeString(sig)
		if hmac.Equal(raw, want) {
			ok = true
			break
		}
	}
	if !ok {
		return &Error{Code: AuthFailureSignatureFailure}
	}
	return nil
}

// checkTimestamp parses Unix seconds and enforces MaxClockSkew.
func checkTimestamp(s string, now time.Time) (time.Time, error) {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, NewError(InvalidParameter,
			"The timestamp (X-TC-Timestamp / Timestamp) must be Unix seconds.",
			"时间戳（X-TC-Timestamp / Timestamp）须为 Unix 秒。")
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > MaxClockSkew || d < -MaxClockSkew {
		return ts, &Error{Code: AuthFailureSignatureExpire}
	}
	return ts, nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func authInvalid(why string) *Error {
	return NewError(AuthFailureInvalidAuthorization, "The Authorization header is malformed: "+why+".", "Authorization 头部格式错误："+why+"。")
}

func strconvQuote(s string) string { return strconv.Quote(strings.TrimSpace(s)) }

// SignTC3 signs r (whose body is body) as the official Go SDK does: it sets
// Content-Type (if unset), X-TC-Timestamp and an Authorization header over
// content-type;host. For clients of vigil (tests, benchmarks, the agent).
func SignTC3(r *http.Request, body []byte, secretID, secretKey, service string, now time.Time) {
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	date := now.UTC().Format(time.DateOnly)
	r.Header.Set("X-TC-Timestamp", ts)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	headers := []string{"content-type", "host"}
	h := TC3CanonicalRequestHash(&TC3Request{Method: r.Method, URI: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Get, ContentSHA256: r.Header.Get("X-TC-Content-SHA256"), Body: body}, headers, host)
	r.Header.Set("Authorization", TC3Algorithm+" Credential="+secretID+"/"+date+"/"+service+"/tc3_request, SignedHeaders="+
		strings.Join(headers, ";")+", Signature="+TC3Signature(secretKey, ts, date, service, h))
}
