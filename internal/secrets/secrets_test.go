package secrets

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal([]byte("s3cr3t"), []byte("AKID1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("s3cr3t")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	pt, err := b.Open(ct, []byte("AKID1"))
	if err != nil || string(pt) != "s3cr3t" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	tampered := append([]byte(nil), ct...)
	tampered[len(tampered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"other aad":   func() ([]byte, error) { return b.Open(ct, []byte("AKID2")) },
		"other key":   func() ([]byte, error) { return other.Open(ct, []byte("AKID1")) },
		"tampered":    func() ([]byte, error) { return b.Open(tampered, []byte("AKID1")) },
		"truncated":   func() ([]byte, error) { return b.Open(ct[:10], []byte("AKID1")) },
		"empty":       func() ([]byte, error) { return b.Open(nil, []byte("AKID1")) },
		"bad version": func() ([]byte, error) { c := append([]byte{9}, ct[1:]...); return b.Open(c, []byte("AKID1")) },
	} {
		if _, err := f(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("New accepted a short key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	k1, created, err := LoadOrCreateKey("", path)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("create: %v %v %d", err, created, len(k1))
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey("", path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v %v", err, created)
	}
	envKey := bytes.Repeat([]byte{1}, KeySize)
	k3, _, err := LoadOrCreateKey(hex.EncodeToString(envKey), path)
	if err != nil || !bytes.Equal(k3, envKey) {
		t.Fatalf("env hex: %v", err)
	}
	if _, _, err := LoadOrCreateKey("not a key", path); err == nil || !strings.Contains(err.Error(), EnvMasterKey) {
		t.Fatalf("bad env key: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateKey("", path); err == nil {
		t.Fatal("accepted a world-readable key file")
	}
}

func TestDerive(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	b1, _ := New(k1)
	b1again, _ := New(k1)
	b2, _ := New(k2)
	a := b1.Derive("export download URL")
	switch {
	case len(a) != 32:
		t.Fatalf("len = %d", len(a))
	case !bytes.Equal(a, b1again.Derive("export download URL")):
		t.Fatal("same master key and purpose derive different keys")
	case bytes.Equal(a, b1.Derive("other purpose")):
		t.Fatal("two purposes derive the same key")
	case bytes.Equal(a, b2.Derive("export download URL")):
		t.Fatal("two master keys derive the same key")
	case bytes.Equal(a, k1[:32]):
		t.Fatal("derived key is the master key")
	}
}
