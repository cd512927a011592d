// Package quarantine is the agent's encrypted on-host quarantine for files
// judged malicious: Isolate moves a file (on the host, or inside a container
// through /proc/PID/root/…) into the quarantine and removes the original,
// putting nothing in its place; Restore puts it back byte-identical with its
// mode, owner, times and extended attributes.
//
// Layout of the quarantine directory (0700):
//
//	ID.sample   the encrypted content (see crypt.go), never modified once committed
//	ID.json     the metadata (original path, mode, owner, times, hashes, state)
//	.lock       flock: shared while a Quarantine is open, exclusive for recovery
//
// Isolate is crash safe: the sample is written to ID.tmp, fsynced and renamed
// to ID.sample; the metadata is recorded with state "isolating"; only then is
// the original unlinked and the state set to "isolated". Open recovers an
// interrupted Isolate: temporary files and samples without metadata are
// removed, and an "isolating" sample whose original is still in place is
// rolled back (the original stays, the sample goes). When the original can
// no longer be checked (its container is gone) the sample is kept: losing the
// only copy would be worse than a stale entry.
package quarantine

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// State is the lifecycle state of a sample.
type State string

const (
	// StateIsolating: the sample is written but the original may still exist.
	StateIsolating State = "isolating"
	// StateIsolated: the original was removed; the sample is the only copy.
	StateIsolated State = "isolated"
)

// Errors returned by the quarantine (wrapped; test with errors.Is).
var (
	ErrNotFound   = errors.New("quarantine: no such sample")
	ErrNotRegular = errors.New("quarantine: not a regular file")
	ErrTooLarge   = errors.New("quarantine: file larger than the quarantine's size limit")
	ErrChanged    = errors.New("quarantine: file changed while it was being isolated")
	ErrExists     = errors.New("quarantine: a file already exists at the restore path")
	ErrBusy       = errors.New("quarantine: sample is being restored or deleted by another process")
)

// Sample is the record of one quarantined file.
type Sample struct {
	ID    string `json:"id"`
	State State  `json:"state"`
	// Path is the path Isolate was given (e.g. /proc/4242/root/usr/bin/x);
	// Root and RootPath split it into the root that resolution stays beneath
	// ("/" or /proc/PID/root) and the path as seen inside it (/usr/bin/x).
	Path     string `json:"path"`
	Root     string `json:"root"`
	RootPath string `json:"root_path"`

	Size   int64             `json:"size"`
	Mode   uint32            `json:"mode"` // st_mode: type and permission bits
	UID    uint32            `json:"uid"`
	GID    uint32            `json:"gid"`
	Atime  time.Time         `json:"atime"`
	Mtime  time.Time         `json:"mtime"`
	Ctime  time.Time         `json:"ctime"` // informational: ctime cannot be restored
	Dev    uint64            `json:"dev"`
	Ino    uint64            `json:"ino"`
	Xattrs map[string][]byte `json:"xattrs,omitempty"`
	MD5    string            `json:"md5"`
	SHA256 string            `json:"sha256"`

	IsolatedAt time.Time         `json:"isolated_at"`
	Killed     []int             `json:"killed,omitempty"`     // pids SIGKILLed because they used the file
	KillError  string            `json:"kill_error,omitempty"` // why some could not be killed
	Labels     map[string]string `json:"labels,omitempty"`
}

// FileMode returns the original permission bits (with setuid, setgid, sticky)
// as an fs.FileMode.
func (s Sample) FileMode() fs.FileMode {
	m := fs.FileMode(s.Mode & 0o777)
	if s.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// Meta is what the caller records with a sample and asks of Isolate.
type Meta struct {
	// Labels are stored with the sample and returned as they are (event id,
	// container id and name, image, virus name…).
	Labels map[string]string
	// KillProcesses SIGKILLs the processes that run, hold open or map the
	// file before it is removed; their pids are reported in Sample.Killed.
	KillProcesses bool
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Path restores to another absolute path than the original, e.g. the
	// same in-container path under the root of the container's new pid.
	Path string
	// Force replaces an existing file at the restore path (never a directory).
	Force bool
	// NoSymlinks refuses any symlink in the parent path, not only those that
	// would leave the root.
	NoSymlinks bool
}

type options struct {
	log       *slog.Logger
	maxSize   int64
	chunkSize int
	procDir   string
	hook      func(step string) error
	now       func() time.Time
}

// Option configures Open.
type Option func(*options)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMaxSize sets the largest file Isolate accepts (default 1 GiB).
func WithMaxSize(n int64) Option { return func(o *options) { o.maxSize = n } }

// WithChunkSize sets the encryption chunk size (default 64 KiB, at most 16 MiB).
func WithChunkSize(n int) Option { return func(o *options) { o.chunkSize = n } }

// WithProcDir sets where /proc is mounted (default /proc), for finding the
// processes that use a file.
func WithProcDir(dir string) Option { return func(o *options) { o.procDir = dir } }

// withHook lets tests stop Isolate between its steps as a crash would: when
// the hook returns an error, Isolate returns it at once without cleaning up.
func withHook(h func(step string) error) Option { return func(o *options) { o.hook = h } }

func defaults() options {
	return options{
		log:       slog.New(slog.DiscardHandler),
		maxSize:   1 << 30,
		chunkSize: 64 << 10,
		procDir:   "/proc",
		hook:      func(string) error { return nil },
		now:       time.Now,
	}
}

// Quarantine is an open quarantine directory. Its methods are safe for
// concurrent use, also by several processes (the agent and the CLI).
type Quarantine struct {
	dir  string
	key  []byte
	o    options
	lock *os.File

	mu   sync.Mutex
	busy map[string]bool // ids being restored or deleted in this process
}

var idRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// Open opens (creating it, mode 0700) the quarantine directory dir with the
// 32-byte master key, and recovers what an interrupted Isolate left behind
// unless another process has the quarantine open.
func Open(dir string, key []byte, opts ...Option) (*Quarantine, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("quarantine: key must be %d bytes, is %d", KeySize, len(key))
	}
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if o.chunkSize <= 0 || o.chunkSize > maxChunkSize {
		return nil, fmt.Errorf("quarantine: chunk size %d out of range", o.chunkSize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	// The samples are encrypted, but their metadata names files and hashes.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	q := &Quarantine{dir: dir, key: slices.Clone(key), o: o, lock: lock, busy: map[string]bool{}}
	// Recovery only when no other process has the quarantine open: otherwise
	// its in-flight Isolate would look like a crashed one.
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		q.recover()
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH); err != nil {
		lock.Close()
		return nil, fmt.Errorf("quarantine: lock: %w", err)
	}
	return q, nil
}

// Close releases the quarantine.
func (q *Quarantine) Close() error { return q.lock.Close() }

// Dir returns the quarantine directory.
func (q *Quarantine) Dir() string { return q.dir }

func (q *Quarantine) samplePath(id string) string { return filepath.Join(q.dir, id+".sample") }
func (q *Quarantine) metaPath(id string) string   { return filepath.Join(q.dir, id+".json") }

func (q *Quarantine) recover() {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		q.o.log.Warn("quarantine recovery: cannot list directory", "dir", q.dir, "err", err)
		return
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			q.o.log.Info("quarantine recovery: removing an unfinished file", "file", name)
			_ = os.Remove(filepath.Join(q.dir, name))
		case strings.HasSuffix(name, ".sample"):
			id := strings.TrimSuffix(name, ".sample")
			if _, err := os.Lstat(q.metaPath(id)); errors.Is(err, fs.ErrNotExist) {
				q.o.log.Info("quarantine recovery: removing a sample that was never recorded", "id", id)
				_ = os.Remove(filepath.Join(q.dir, name))
			}
		case strings.HasSuffix(name, ".json"):
			id := strings.TrimSuffix(name, ".json")
			s, err := q.readMeta(id)
			if err != nil {
				q.o.log.Warn("quarantine recovery: unreadable metadata left in place", "id", id, "err", err)
				continue
			}
			if s.State != StateIsolating {
				continue
			}
			if q.originalInPlace(s) {
				q.o.log.Info("quarantine recovery: original still in place, rolling back", "id", id, "path", s.Path)
				q.remove(id)
				continue
			}
			q.o.log.Info("quarantine recovery: original gone, keeping the sample", "id", id, "path", s.Path)
			s.State = StateIsolated
			if err := q.writeMeta(s); err != nil {
				q.o.log.Warn("quarantine recovery: cannot record state", "id", id, "err", err)
			}
		}
	}
	syncDir(q.dir)
}

// originalInPlace reports whether s's original file is still at its path.
func (q *Quarantine) originalInPlace(s Sample) bool {
	dirfd, base, err := openParent(s.Root, strings.TrimPrefix(s.RootPath, "/"), false)
	if err != nil {
		return false
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	return unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Dev == s.Dev && st.Ino == s.Ino
}

func (q *Quarantine) remove(id string) {
	_ = os.Remove(q.metaPath(id))
	_ = os.Remove(q.samplePath(id))
	syncDir(q.dir)
}

func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func statTime(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec).UTC() }

// Isolate moves the regular file at path into the quarantine and removes it.
// path is absolute; a container's file is given as /proc/PID/root/… and then
// nothing beneath that root is resolved outside it. The file is opened with
// O_NOFOLLOW: a symlink, FIFO, device or directory is refused
// (ErrNotRegular). A file that changes while it is read is refused
// (ErrChanged) and stays in place.
func (q *Quarantine) Isolate(ctx context.Context, path string, meta Meta) (Sample, error) {
	root, rel, err := splitRoot(path)
	if err != nil {
		return Sample{}, err
	}
	dirfd, base, err := openParent(root, rel, false)
	if err != nil {
		return Sample{}, err
	}
	defer unix.Close(dirfd)
	// O_NONBLOCK: opening a FIFO must not hang before fstat can refuse it.
	// O_NOATIME: a file that stays (refused, changed) keeps its atime for
	// forensics; it needs ownership or CAP_FOWNER, hence the retry without.
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, base, flags|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = unix.Openat(dirfd, base, flags, 0)
	}
	if errors.Is(err, unix.ELOOP) {
		return Sample{}, fmt.Errorf("%w: %s is a symlink", ErrNotRegular, path)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Sample{}, fmt.Errorf("quarantine: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Sample{}, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	if st.Size > q.o.maxSize {
		return Sample{}, fmt.Errorf("%w: %s has %d bytes, limit %d", ErrTooLarge, path, st.Size, q.o.maxSize)
	}
	id, err := newID()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{
		ID: id, State: StateIsolating, Path: path, Root: root, RootPath: "/" + rel,
		Size: st.Size, Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Atime: statTime(st.Atim), Mtime: statTime(st.Mtim), Ctime: statTime(st.Ctim),
		Dev: st.Dev, Ino: st.Ino, Xattrs: readXattrs(fd), Labels: meta.Labels,
	}

	// From here on a failure removes what was written, except when the test
	// hook simulates a crash.
	crashed, done := false, false
	defer func() {
		if !done && !crashed {
			_ = os.Remove(filepath.Join(q.dir, id+".tmp"))
			q.remove(id)
		}
	}()
	step := func(name string) error {
		if err := q.o.hook(name); err != nil {
			crashed = true
			return err
		}
		return nil
	}

	tmp, err := os.OpenFile(filepath.Join(q.dir, id+".tmp"), os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: %w", err)
	}
	md, sh := md5.New(), sha256.New()
	err = encrypt(tmp, io.TeeReader(f, io.MultiWriter(md, sh)), q.key, id, q.o.chunkSize, func(n int64) error {
		if n > q.o.maxSize {
			return fmt.Errorf("%w: %s grew past %d bytes", ErrTooLarge, path, q.o.maxSize)
		}
		return ctx.Err()
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: encrypt %s: %w", path, err)
	}
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil {
		return Sample{}, fmt.Errorf("quarantine: stat %s: %w", path, err)
	}
	if st2.Size != st.Size || st2.Mtim != st.Mtim || st2.Ctim != st.Ctim {
		return Sample{}, fmt.Errorf("%w: %s", ErrChanged, path)
	}
	s.MD5, s.SHA256 = hex.EncodeToString(md.Sum(nil)), hex.EncodeToString(sh.Sum(nil))
	if err := step("sample-written"); err != nil {
		return Sample{}, err
	}
	if err := os.Rename(filepath.Join(q.dir, id+".tmp"), q.samplePath(id)); err != nil {
		return Sample{}, fmt.Errorf("quarantine: %w", err)
	}
	syncDir(q.dir)
	if err := step("sample-committed"); err != nil {
		return Sample{}, err
	}
	s.IsolatedAt = q.o.now().UTC()
	if err := q.writeMeta(s); err != nil {
		return Sample{}, err
	}
	if err := step("metadata-written"); err != nil {
		return Sample{}, err
	}

	if meta.KillProcesses {
		killed, kerr := killUsers(q.o.procDir, fileID{st.Dev, st.Ino})
		s.Killed = killed
		if kerr != nil {
			s.KillError = kerr.Error()
			q.o.log.Warn("quarantine: could not kill every process using the file", "path", path, "err", kerr)
		}
	}

	// Unlink only the file that was read: if the name now points elsewhere,
	// the new file is not ours to remove.
	var cur unix.Stat_t
	switch err := unix.Fstatat(dirfd, base, &cur, unix.AT_SYMLINK_NOFOLLOW); {
	case errors.Is(err, unix.ENOENT):
		// Already gone (the malware removed itself): the sample is all there is.
	case err != nil:
		return Sample{}, fmt.Errorf("quarantine: stat %s: %w", path, err)
	case cur.Dev != st.Dev || cur.Ino != st.Ino:
		return Sample{}, fmt.Errorf("%w: %s was replaced", ErrChanged, path)
	default:
		if err := unix.Unlinkat(dirfd, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return Sample{}, fmt.Errorf("quarantine: remove %s: %w", path, err)
		}
		_ = unix.Fsync(dirfd)
	}
	if err := step("unlinked"); err != nil {
		return Sample{}, err
	}
	s.State = StateIsolated
	if err := q.writeMeta(s); err != nil {
		// The original is gone: keep the sample whatever happens; recovery
		// finishes the state change.
		done = true
		return s, err
	}
	done = true
	q.o.log.Info("quarantine: isolated", "id", id, "path", path, "sha256", s.SHA256, "killed", s.Killed)
	return s, nil
}

func readXattrs(fd int) map[string][]byte {
	sz, err := unix.Flistxattr(fd, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Flistxattr(fd, buf)
	if err != nil {
		return nil
	}
	out := map[string][]byte{}
	for name := range strings.SplitSeq(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil || vsz > 64<<10 {
			continue
		}
		v := make([]byte, vsz)
		if vsz, err = unix.Fgetxattr(fd, name, v); err == nil {
			out[name] = v[:vsz]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (q *Quarantine) writeMeta(s Sample) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := q.metaPath(s.ID) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, 0o600)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, q.metaPath(s.ID))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("quarantine: record %s: %w", s.ID, err)
	}
	syncDir(q.dir)
	return nil
}

func (q *Quarantine) readMeta(id string) (Sample, error) {
	if !idRE.MatchString(id) {
		return Sample{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	b, err := os.ReadFile(q.metaPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Sample{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: %w", err)
	}
	var s Sample
	if err := json.Unmarshal(b, &s); err != nil || s.ID != id {
		return Sample{}, fmt.Errorf("quarantine: metadata of %s is unreadable: %v", id, err)
	}
	return s, nil
}

// List returns the samples, oldest first. Samples still being isolated are
// included with State StateIsolating.
func (q *Quarantine) List() ([]Sample, error) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	var out []Sample
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !idRE.MatchString(id) {
			continue
		}
		s, err := q.readMeta(id)
		if errors.Is(err, ErrNotFound) {
			continue // restored or deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Sample) int {
		if c := a.IsolatedAt.Compare(b.IsolatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Get returns one sample.
func (q *Quarantine) Get(id string) (Sample, error) { return q.readMeta(id) }

// claim makes the caller the only one restoring or deleting id, in this
// process and across processes (flock on the sample, which is never replaced
// once committed). The returned release must be called.
func (q *Quarantine) claim(id string) (Sample, *os.File, func(), error) {
	if !idRE.MatchString(id) {
		return Sample{}, nil, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	q.mu.Lock()
	if q.busy[id] {
		q.mu.Unlock()
		return Sample{}, nil, nil, fmt.Errorf("%w: %s", ErrBusy, id)
	}
	q.busy[id] = true
	q.mu.Unlock()
	unbusy := func() { q.mu.Lock(); delete(q.busy, id); q.mu.Unlock() }

	f, err := os.OpenFile(q.samplePath(id), os.O_RDONLY|noFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		unbusy()
		return Sample{}, nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		unbusy()
		return Sample{}, nil, nil, fmt.Errorf("quarantine: %w", err)
	}
	release := func() { f.Close(); unbusy() }
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		release()
		return Sample{}, nil, nil, fmt.Errorf("%w: %s", ErrBusy, id)
	}
	// Read the metadata under the lock: whoever held it before may have
	// finished with this sample.
	s, err := q.readMeta(id)
	if err != nil {
		release()
		return Sample{}, nil, nil, err
	}
	if s.State != StateIsolated {
		release()
		return Sample{}, nil, nil, fmt.Errorf("%w: %s is still being isolated", ErrBusy, id)
	}
	return s, f, release, nil
}

// Delete removes a sample for good.
func (q *Quarantine) Delete(id string) error {
	_, _, release, err := q.claim(id)
	if err != nil {
		return err
	}
	defer release()
	if err := os.Remove(q.metaPath(id)); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	_ = os.Remove(q.samplePath(id))
	syncDir(q.dir)
	q.o.log.Info("quarantine: deleted", "id", id)
	return nil
}

// Restore decrypts sample id back to its original path (or opts.Path),
// verifies it is byte-identical (sha256), gives it its original mode, owner,
// extended attributes and times, and removes it from the quarantine. The
// file appears at once, complete, through a rename; an existing file there
// is an error (ErrExists) unless opts.Force. A parent path that leaves its
// root through a symlink or ".." is refused (ErrUnsafePath); a corrupt
// sample (ErrCorrupt) leaves nothing behind and stays in the quarantine.
func (q *Quarantine) Restore(ctx context.Context, id string, opts RestoreOptions) (Sample, error) {
	s, sf, release, err := q.claim(id)
	if err != nil {
		return Sample{}, err
	}
	defer release()
	dest := s.Path
	if opts.Path != "" {
		dest = opts.Path
	}
	root, rel, err := splitRoot(dest)
	if err != nil {
		return Sample{}, err
	}
	dirfd, base, err := openParent(root, rel, opts.NoSymlinks)
	if err != nil {
		return Sample{}, err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if !opts.Force && unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return Sample{}, fmt.Errorf("%w: %s", ErrExists, dest)
	}

	tmpName := ".vigil-restore-" + id
	create := func() (int, error) {
		return unix.Openat(dirfd, tmpName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	}
	fd, err := create()
	if errors.Is(err, unix.EEXIST) { // left by a restore that crashed
		_ = unix.Unlinkat(dirfd, tmpName, 0)
		fd, err = create()
	}
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: create %s next to %s: %w", tmpName, dest, err)
	}
	out := os.NewFile(uintptr(fd), tmpName)
	placed := false
	defer func() {
		out.Close()
		if !placed {
			_ = unix.Unlinkat(dirfd, tmpName, 0)
		}
	}()
	sh := sha256.New()
	err = decrypt(io.MultiWriter(out, sh), sf, q.key, id, func(n int64) error {
		if n > s.Size {
			return fmt.Errorf("%w: longer than recorded", ErrCorrupt)
		}
		return ctx.Err()
	})
	if err != nil {
		return Sample{}, fmt.Errorf("quarantine: restore %s: %w", id, err)
	}
	if got := hex.EncodeToString(sh.Sum(nil)); got != s.SHA256 {
		return Sample{}, fmt.Errorf("quarantine: restore %s: %w: sha256 %s, recorded %s", id, ErrCorrupt, got, s.SHA256)
	}
	if err := applyAttrs(fd, s, q.o.log); err != nil {
		return Sample{}, fmt.Errorf("quarantine: restore %s: %w", id, err)
	}
	if err := out.Sync(); err != nil {
		return Sample{}, fmt.Errorf("quarantine: restore %s: %w", id, err)
	}
	if err := place(dirfd, tmpName, base, opts.Force); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return Sample{}, fmt.Errorf("%w: %s", ErrExists, dest)
		}
		return Sample{}, fmt.Errorf("quarantine: restore %s to %s: %w", id, dest, err)
	}
	placed = true
	_ = unix.Fsync(dirfd)
	_ = os.Remove(q.metaPath(id))
	_ = os.Remove(q.samplePath(id))
	syncDir(q.dir)
	q.o.log.Info("quarantine: restored", "id", id, "path", dest)
	return s, nil
}

// applyAttrs gives the restored file its owner, mode, xattrs and times, in
// that order: chown clears setuid/setgid bits and security.capability.
func applyAttrs(fd int, s Sample, log *slog.Logger) error {
	if err := unix.Fchown(fd, int(s.UID), int(s.GID)); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, s.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for name, v := range s.Xattrs {
		if err := unix.Fsetxattr(fd, name, v, 0); err != nil {
			log.Warn("quarantine: extended attribute not restored", "id", s.ID, "name", name, "err", err)
		}
	}
	// utimensat through our own descriptor: no path for anyone to swap.
	ts := []unix.Timespec{unix.NsecToTimespec(s.Atime.UnixNano()), unix.NsecToTimespec(s.Mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), ts, 0); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// place renames the finished temporary file onto its name, without
// replacing an existing file unless force.
func place(dirfd int, tmpName, name string, force bool) error {
	if force {
		return unix.Renameat(dirfd, tmpName, dirfd, name)
	}
	err := unix.Renameat2(dirfd, tmpName, dirfd, name, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	// A filesystem without RENAME_NOREPLACE: link fails on an existing name.
	if err := unix.Linkat(dirfd, tmpName, dirfd, name, 0); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, tmpName, 0)
}
