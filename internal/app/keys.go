package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
)

// keyCacheTTL bounds how long a disabled key keeps working on a server that
// had it cached (servers sharing PostgreSQL do not notify each other).
const keyCacheTTL = 5 * time.Second

// keyLookup authenticates SecretIds against the store, decrypting SecretKeys
// with the master key, with a short cache so a busy key costs no query per call.
type keyLookup struct {
	keys store.APIKeys
	box  *secrets.Box
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     server.Key
	fetched time.Time
}

func newKeyLookup(keys store.APIKeys, box *secrets.Box, now func() time.Time) *keyLookup {
	return &keyLookup{keys: keys, box: box, now: now, cache: make(map[string]cachedKey)}
}

func (l *keyLookup) LookupKey(ctx context.Context, secretID string) (server.Key, error) {
	now := l.now()
	l.mu.Lock()
	c, ok := l.cache[secretID]
	l.mu.Unlock()
	if ok && now.Sub(c.fetched) < keyCacheTTL {
		return c.key, nil
	}
	k, err := l.keys.GetAPIKey(ctx, secretID)
	if errors.Is(err, store.ErrNotFound) || err == nil && k.Status != store.KeyEnabled {
		l.forget(secretID)
		return server.Key{}, server.ErrKeyNotFound
	}
	if err != nil {
		return server.Key{}, fmt.Errorf("look up key: %w", err)
	}
	plain, err := l.box.Open(k.SecretKeyEnc, []byte(k.SecretID))
	if err != nil {
		return server.Key{}, fmt.Errorf("key %s: %w", k.SecretID, err)
	}
	key := server.Key{SecretID: k.SecretID, SecretKey: string(plain), AccountID: k.AccountID, Role: server.Role(k.Role)}
	l.mu.Lock()
	if len(l.cache) > 10000 { // bounded: random SecretIds never get here, but many real keys might
		clear(l.cache)
	}
	l.cache[secretID] = cachedKey{key: key, fetched: now}
	l.mu.Unlock()
	// Best effort: the store writes at most once per LastUsedResolution.
	_ = l.keys.TouchAPIKey(ctx, k.AccountID, k.SecretID, now)
	return key, nil
}

func (l *keyLookup) forget(secretID string) {
	l.mu.Lock()
	delete(l.cache, secretID)
	l.mu.Unlock()
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewSecretPair generates a SecretId ("AKID" + 32 characters, as Tencent's)
// and a 32-character SecretKey.
func NewSecretPair() (secretID, secretKey string) {
	return "AKID" + randomString(32), randomString(32)
}

func randomString(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf) // never fails (Go 1.24+ aborts instead)
		for _, c := range buf {
			// Rejection sampling: 248 = 4*62, so every character is equally likely.
			if c < 248 && len(out) < n {
				out = append(out, keyAlphabet[int(c)%len(keyAlphabet)])
			}
		}
	}
	return string(out)
}

// CreateKey generates and stores a key for the account; the SecretKey is
// returned once and stored only encrypted.
func CreateKey(ctx context.Context, st store.APIKeys, box *secrets.Box, accountID int64, role store.KeyRole, description string) (store.APIKey, string, error) {
	id, secret := NewSecretPair()
	k, err := ImportKey(ctx, st, box, accountID, role, id, secret, description)
	return k, secret, err
}

// ImportKey stores a given SecretId/SecretKey pair for the account.
func ImportKey(ctx context.Context, st store.APIKeys, box *secrets.Box, accountID int64, role store.KeyRole, secretID, secretKey, description string) (store.APIKey, error) {
	enc, err := box.Seal([]byte(secretKey), []byte(secretID))
	if err != nil {
		return store.APIKey{}, err
	}
	return st.CreateAPIKey(ctx, accountID, store.APIKey{
		SecretID: secretID, Role: role, Status: store.KeyEnabled, SecretKeyEnc: enc, Description: description,
	})
}
