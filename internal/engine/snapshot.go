package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// snapshotMagic starts a snapshot file; the SHA256 of the payload follows, so
// a truncated or corrupted file is rebuilt from source rather than handed to
// a deserialiser.
const snapshotMagic = "VIGIL-RULES-SNAPSHOT-1\n"

// snapshot is the compiled state of the snapshottable kinds for one rule-set
// version.
type snapshot struct {
	Version string
	Kinds   []snapshotKind
}

type snapshotKind struct {
	Name, KindVersion string
	HasDetector       bool
	Blob              []byte
	Problems          []Problem
}

func (s *snapshot) kind(k Kind) *snapshotKind {
	if s == nil {
		return nil
	}
	for i := range s.Kinds {
		if s.Kinds[i].Name == k.Name() && s.Kinds[i].KindVersion == k.Version() {
			return &s.Kinds[i]
		}
	}
	return nil
}

// restore returns k's detector and problems from the snapshot; ok is false
// when k is not in it or cannot restore.
func (s *snapshot) restore(k Kind, logger *slog.Logger) (Detector, []Problem, bool) {
	sn, isSnap := k.(Snapshotter)
	sk := s.kind(k)
	if !isSnap || sk == nil {
		return nil, nil, false
	}
	if !sk.HasDetector {
		return nil, sk.Problems, true
	}
	d, err := sn.Restore(sk.Blob)
	if err != nil {
		logger.Warn("cannot restore compiled rules; compiling again", "kind", k.Name(), "error", err)
		return nil, nil, false
	}
	return d, sk.Problems, true
}

// add records what k built, if k can snapshot it.
func (s *snapshot) add(k Kind, d Detector, problems []Problem, logger *slog.Logger) {
	sn, ok := k.(Snapshotter)
	if !ok {
		return
	}
	sk := snapshotKind{Name: k.Name(), KindVersion: k.Version(), HasDetector: d != nil, Problems: problems}
	if d != nil {
		blob, err := sn.Snapshot(d)
		if err != nil {
			logger.Warn("cannot snapshot compiled rules", "kind", k.Name(), "error", err)
			return
		}
		sk.Blob = blob
	}
	s.Kinds = append(s.Kinds, sk)
}

// readSnapshot returns the snapshot at path if it was written for version,
// nil otherwise (missing, stale or corrupt: the caller builds from source).
func readSnapshot(path, version string, logger *slog.Logger) *snapshot {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("cannot read compiled rules", "path", path, "error", err)
		}
		return nil
	}
	payload, ok := bytes.CutPrefix(data, []byte(snapshotMagic))
	if !ok || len(payload) < sha256.Size {
		logger.Warn("ignoring compiled rules: not a snapshot", "path", path)
		return nil
	}
	sum, payload := payload[:sha256.Size], payload[sha256.Size:]
	if got := sha256.Sum256(payload); !bytes.Equal(got[:], sum) {
		logger.Warn("ignoring compiled rules: checksum mismatch", "path", path)
		return nil
	}
	var s snapshot
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&s); err != nil {
		logger.Warn("ignoring compiled rules", "path", path, "error", err)
		return nil
	}
	if s.Version != version {
		return nil
	}
	return &s
}

// write saves the snapshot atomically with owner-only permissions.
func (s *snapshot) write(path string) error {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(s); err != nil {
		return err
	}
	sum := sha256.Sum256(payload.Bytes())
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(append([]byte(snapshotMagic), sum[:]...), payload.Bytes()...))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	return os.Rename(tmp.Name(), path)
}
