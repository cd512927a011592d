package agentapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// TokenPrefix starts every generated enrollment token, so a leaked one is
// recognizable (secret scanners, logs).
const TokenPrefix = "vgt_"

// CredentialPrefix starts every credential id.
const CredentialPrefix = "vac_"

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf) // never fails (Go 1.24+ aborts instead)
		for _, c := range buf {
			// Rejection sampling: 248 = 4*62, so every character is equally likely.
			if c < 248 && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// Hash is how tokens and credential secrets are stored: SHA-256. They are
// random with ≥ 190 bits of entropy, so neither salt nor stretching adds
// anything.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewToken returns a fresh enrollment token (vgt_ + 32 characters).
func NewToken() string { return TokenPrefix + randomString(32) }

// newCredential returns a credential id and its 32-byte random secret
// (base64url, no padding: never contains the '.' that separates them).
func newCredential() (id, secret string) {
	var b [32]byte
	rand.Read(b[:])
	return CredentialPrefix + randomString(24), base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenOptions limit a token created with CreateToken.
type TokenOptions struct {
	Description string
	MaxUses     int           // 0: unlimited
	TTL         time.Duration // 0: never expires
}

// CreateToken generates an enrollment token for the account and stores its
// hash; the token is returned this once.
func CreateToken(ctx context.Context, st store.Agents, accountID int64, o TokenOptions, now time.Time) (store.EnrollToken, string, error) {
	tok := NewToken()
	t := store.EnrollToken{TokenHash: Hash(tok), Description: o.Description, MaxUses: o.MaxUses, CreatedAt: now}
	if o.TTL > 0 {
		t.ExpiresAt = now.Add(o.TTL)
	}
	t, err := st.CreateEnrollToken(ctx, accountID, t)
	return t, tok, err
}

// EnsureToken installs token (chosen by the operator, e.g. VIGIL_AGENT_TOKEN)
// for the account unless it is stored already; it is idempotent, so every
// server of a cluster may run it at each start. A token stored for another
// account is an error; a revoked one stays revoked (installed reports false).
func EnsureToken(ctx context.Context, st store.Agents, accountID int64, token, description string, now time.Time) (installed bool, err error) {
	if len(token) < 16 {
		return false, fmt.Errorf("enrollment token too short (%d characters, want at least 16)", len(token))
	}
	h := Hash(token)
	existing, err := st.GetEnrollTokenByHash(ctx, h)
	if err == nil {
		if existing.AccountID != accountID {
			return false, errors.New("the enrollment token is already installed for another account")
		}
		return false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	_, err = st.CreateEnrollToken(ctx, accountID, store.EnrollToken{TokenHash: h, Description: description, CreatedAt: now})
	if errors.Is(err, store.ErrConflict) { // another server installed it meanwhile
		return EnsureToken(ctx, st, accountID, token, description, now)
	}
	return err == nil, err
}

// HostUUID derives the host UUID of a machine in an account: the same machine
// keeps its UUID when it enrolls again, and the same machine in two accounts
// gets two unrelated UUIDs (nothing correlates tenants). The layout is that
// of an RFC 9562 version 8 (custom) UUID.
func HostUUID(accountID int64, machineID string) string {
	return derive("vigil host uuid", accountID, machineID)
}

// QUUID derives the host's QUUID (cwp's second host id) the same way.
func QUUID(accountID int64, machineID string) string {
	return derive("vigil host quuid", accountID, machineID)
}

func derive(label string, accountID int64, machineID string) string {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(accountID, 10)))
	h.Write([]byte{0})
	h.Write([]byte(machineID))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	x := hex.EncodeToString(b[:])
	return strings.Join([]string{x[0:8], x[8:12], x[12:16], x[16:20], x[20:32]}, "-")
}
