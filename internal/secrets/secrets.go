// Package secrets encrypts what vigil must store but never show: API
// SecretKeys, registry passwords. AES-256-GCM under one master key; the
// associated data binds a ciphertext to its row (a SecretKey copied onto
// another SecretId does not decrypt).
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the master key's size in bytes.
const KeySize = 32

// EnvMasterKey names the environment variable that may carry the master key
// (base64 or hex of 32 bytes): servers sharing one PostgreSQL must share it.
const EnvMasterKey = "VIGIL_MASTER_KEY"

// version prefixes every ciphertext so the scheme can change later.
const version byte = 1

// Box encrypts and decrypts with the master key.
type Box struct {
	aead   cipher.AEAD
	derive []byte // HMAC key for Derive, itself derived from the master key
}

// New returns a Box for a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets: master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vigil key derivation v1"))
	return &Box{aead: aead, derive: m.Sum(nil)}, nil
}

// Derive returns a 32-byte key for one purpose (e.g. "export download URL"),
// derived from the master key: every server sharing the master key derives
// the same one, and no purpose's key reveals another's or the master key.
func (b *Box) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, b.derive)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Seal encrypts plaintext bound to aad (e.g. the SecretId).
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return b.aead.Seal(out, out[1:], plaintext, aad), nil
}

// ErrDecrypt means the ciphertext was not made by this master key for this aad.
var ErrDecrypt = errors.New("secrets: cannot decrypt (wrong master key or tampered data)")

// Open decrypts a Seal output made with the same aad.
func (b *Box) Open(ciphertext, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(ciphertext) < 1+n+b.aead.Overhead() || ciphertext[0] != version {
		return nil, ErrDecrypt
	}
	pt, err := b.aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// ParseKey decodes a master key given as base64 (std or URL) or hex.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("secrets: master key must be %d bytes in hex or base64", KeySize)
}

// LoadOrCreateKey returns the master key from the environment value env if it
// is non-empty, else from the file at path, creating that file (0600, random
// key) if it does not exist. A key file readable by group or others is refused.
func LoadOrCreateKey(env, path string) (key []byte, created bool, err error) {
	if env != "" {
		k, err := ParseKey(env)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return k, false, nil
	}
	data, err := os.ReadFile(path)
	if err == nil {
		st, err := os.Stat(path)
		if err != nil {
			return nil, false, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("secrets: %s is accessible by group or others (mode %v): chmod 600 it", path, st.Mode().Perm())
		}
		k, err := ParseKey(string(data))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	// O_EXCL: two servers starting at once on one data dir must not each write a different key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey("", path)
		}
		return nil, false, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	return k, true, nil
}
