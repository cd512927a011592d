package quarantine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the size of the quarantine master key (AES-256).
const KeySize = 32

// LoadOrCreateKey returns the master key kept in path, creating it (32 random
// bytes, mode 0600, parent directory 0700) when it does not exist. The key is
// the agent's own rather than derived from its server credential because the
// credential is deleted and re-issued when the agent re-enrolls, and samples
// must stay restorable across that. A key file readable by group or others,
// or of the wrong size, is refused rather than trusted.
func LoadOrCreateKey(path string) ([]byte, error) {
	if k, err := readKey(path); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("quarantine key: %w", err)
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".quarantine-key-*")
	if err != nil {
		return nil, fmt.Errorf("quarantine key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(k); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine key: %w", err)
	}
	// Link, not rename: if another process created the key meanwhile, its key
	// wins and both use the same one.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, fmt.Errorf("quarantine key: %w", err)
	}
	syncDir(filepath.Dir(path))
	return k, nil
}

func readKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("quarantine key %s: must be a regular file of mode 0600 (is %v)", path, st.Mode())
	}
	k := make([]byte, KeySize+1)
	n, _ := f.Read(k)
	if n != KeySize {
		return nil, fmt.Errorf("quarantine key %s: want %d bytes, has %d", path, KeySize, st.Size())
	}
	return k[:KeySize], nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Names of the quarantine inside the agent's data directory, shared by the
// agent and the `vigil quarantine` command.
const (
	DirName     = "quarantine"
	KeyFileName = "quarantine.key"
)

// OpenInDataDir opens the quarantine of the agent whose data directory is
// dataDir (dataDir/quarantine, key dataDir/quarantine.key, both created on
// first use).
func OpenInDataDir(dataDir string, opts ...Option) (*Quarantine, error) {
	key, err := LoadOrCreateKey(filepath.Join(dataDir, KeyFileName))
	if err != nil {
		return nil, err
	}
	return Open(filepath.Join(dataDir, DirName), key, opts...)
}
