package proc

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrGone means the process exited (or its pid was reused) while it was being
// read. It is not a failure: the process simply is not there to report.
var ErrGone = errors.New("process gone")

// GoneError is the error returned for a vanished process; it matches ErrGone
// with errors.Is.
type GoneError struct {
	PID int
	Err error // the system error that revealed it (ENOENT, ESRCH)
}

func (e *GoneError) Error() string { return fmt.Sprintf("pid %d: %v", e.PID, ErrGone) }

// Is makes errors.Is(err, ErrGone) hold.
func (e *GoneError) Is(target error) bool { return target == ErrGone }

func (e *GoneError) Unwrap() error { return e.Err }

// IsGone reports whether err means the process vanished.
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// Defaults, in one place.
const (
	DefaultProcRoot    = "/proc"
	DefaultEtcDir      = "/etc"
	DefaultMaxCmdline  = 4096      // bytes of the command line kept
	DefaultMaxHashSize = 512 << 20 // executables above this are not hashed
	maxChainDepth      = 64        // ancestors followed; a loop cannot happen but a bound is free
	cmdlineRetries     = 5
	cmdlineRetryWait   = time.Millisecond
)

// pfKthread is PF_KTHREAD of the stat flags field: the task is a kernel thread.
const pfKthread = 0x00200000

// Ancestor is one process of a chain.
type Ancestor struct {
	PID  int
	Name string
}

// FileID identifies the content of an executable without reading it: a binary
// with the same FileID has not changed (device, inode, size, mtime and ctime;
// ctime too because mtime can be set back by anyone who can write the file).
type FileID struct {
	Dev, Ino uint64
	Size     int64
	MTime    int64 // UnixNano
	CTime    int64 // UnixNano
	Mode     uint32
}

// Process is what the agent knows about one process.
type Process struct {
	PID, PPID int
	Name      string // comm (at most 15 bytes), as the kernel names the task
	State     byte   // R, S, D, Z, …
	Kernel    bool   // kernel thread (PF_KTHREAD): no executable, no command line
	Zombie    bool   // exited, not yet reaped: no executable, no command line

	// Exe is the path of the executable as the process's mount namespace sees
	// it, without the kernel's " (deleted)" suffix; empty for kernel threads
	// and zombies. ExeDeleted says the file was unlinked (or replaced) while
	// the process runs; /proc/PID/exe still opens it.
	Exe        string
	ExeDeleted bool
	ExeID      FileID // zero when Exe is empty or could not be stat'ed
	MD5        string // lower-case hex; empty when not hashed
	SHA256     string

	Argv    []string // the command line, bounded to the reader's MaxCmdline bytes
	Cmdline string   // Argv joined by spaces
	// CmdlineTruncated says the command line was longer than the bound.
	CmdlineTruncated bool

	UID, GID    int // effective ids
	User, Group string

	StartTicks uint64    // start time in clock ticks since boot: with PID, the process's identity
	StartTime  time.Time // wall clock, from StartTicks and the boot time

	ContainerID string // empty on the host

	Ancestors []Ancestor // parent first, up to the root (pid 1 or a kernel thread)
	Chain     string     // "self(pid)|parent(ppid)|…|systemd(1)", tcss's process chain
}

// Config of a Reader.
type config struct {
	procRoot    string
	etcDir      string
	maxCmdline  int
	hashes      bool
	maxHashSize int64
	hashCache   *HashCache
	logger      *slog.Logger
	clockTick   int64
}

// Option configures a Reader.
type Option func(*config)

// WithProcRoot reads processes from another proc mount (an agent in a
// container sees the host's at e.g. /host/proc).
func WithProcRoot(dir string) Option { return func(c *config) { c.procRoot = dir } }

// WithEtcDir reads passwd and group from dir instead of /etc.
func WithEtcDir(dir string) Option { return func(c *config) { c.etcDir = dir } }

// WithMaxCmdline bounds the command line kept (default DefaultMaxCmdline).
func WithMaxCmdline(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxCmdline = n
		}
	}
}

// WithHashes turns hashing of executables on or off (default on).
func WithHashes(on bool) Option { return func(c *config) { c.hashes = on } }

// WithMaxHashSize sets the largest executable that is hashed.
func WithMaxHashSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxHashSize = n
		}
	}
}

// WithHashCache shares a digest cache (default: a private one of
// DefaultHashCacheEntries).
func WithHashCache(hc *HashCache) Option { return func(c *config) { c.hashCache = hc } }

// WithLogger sets where the reader logs (it logs nothing at Info level).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

func defaultConfig() config {
	return config{
		procRoot:    DefaultProcRoot,
		etcDir:      DefaultEtcDir,
		maxCmdline:  DefaultMaxCmdline,
		hashes:      true,
		maxHashSize: DefaultMaxHashSize,
		logger:      slog.New(slog.DiscardHandler),
	}
}

// Reader reads processes. Safe for concurrent use.
type Reader struct {
	cfg      config
	bootTime time.Time
	tick     int64 // clock ticks per second
	ids      *idDB
	hashes   *HashCache
}

// NewReader returns a reader; it reads the boot time once, so start times of
// one process stay identical for the reader's life.
func NewReader(opts ...Option) (*Reader, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	r := &Reader{cfg: cfg, ids: newIDDB(cfg.etcDir), hashes: cfg.hashCache}
	if r.hashes == nil {
		r.hashes = NewHashCache(0)
	}
	bt, err := readBootTime(path.Join(cfg.procRoot, "stat"))
	if err != nil {
		return nil, err
	}
	r.bootTime = bt
	r.tick = clockTicks()
	if cfg.clockTick > 0 {
		r.tick = cfg.clockTick
	}
	return r, nil
}

// BootTime is the boot time the reader computes start times from.
func (r *Reader) BootTime() time.Time { return r.bootTime }

// HashCache is the reader's digest cache.
func (r *Reader) HashCache() *HashCache { return r.hashes }

// ProcRoot is the proc mount the reader reads.
func (r *Reader) ProcRoot() string { return r.cfg.procRoot }

func readBootTime(statPath string) (time.Time, error) {
	data, err := readFile(statPath, 0)
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: %q: %w", line, err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("boot time: no btime line in %s", statPath)
}

// statFields is what /proc/PID/stat tells.
type statFields struct {
	name       string
	state      byte
	ppid       int
	flags      uint64
	startTicks uint64
}

// parseStat parses /proc/PID/stat. The name is between the first '(' and the
// last ')' because it may itself contain spaces and parentheses.
func parseStat(b []byte) (statFields, error) {
	var s statFields
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, fmt.Errorf("malformed stat %q", b)
	}
	s.name = string(b[open+1 : closing])
	rest := b[closing+1:]
	// Fields after the name: state(3) ppid(4) pgrp session tty tpgid flags(9) … starttime(22).
	var idx int
	for f := range bytes.FieldsSeq(rest) {
		switch idx {
		case 0:
			if len(f) > 0 {
				s.state = f[0]
			}
		case 1:
			v, err := strconv.Atoi(string(f))
			if err != nil {
				return s, fmt.Errorf("stat ppid %q: %w", f, err)
			}
			s.ppid = v
		case 6:
			v, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return s, fmt.Errorf("stat flags %q: %w", f, err)
			}
			s.flags = v
		case 19:
			v, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return s, fmt.Errorf("stat starttime %q: %w", f, err)
			}
			s.startTicks = v
			return s, nil
		}
		idx++
	}
	return s, fmt.Errorf("short stat %q", b)
}

// parseStatusIDs returns the effective uid and gid from /proc/PID/status.
func parseStatusIDs(b []byte) (uid, gid int, err error) {
	uid, gid = -1, -1
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		var dst *int
		if v, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			line, dst = v, &uid
		} else if v, ok := bytes.CutPrefix(line, []byte("Gid:")); ok {
			line, dst = v, &gid
		} else {
			continue
		}
		f := bytes.Fields(line) // real, effective, saved, fs
		if len(f) < 2 {
			return -1, -1, fmt.Errorf("malformed status line %q", line)
		}
		if *dst, err = strconv.Atoi(string(f[1])); err != nil {
			return -1, -1, fmt.Errorf("status ids: %w", err)
		}
		if uid >= 0 && gid >= 0 {
			return uid, gid, nil
		}
	}
	return uid, gid, errors.New("status has no Uid/Gid lines")
}

// splitCmdline turns the NUL-separated command line into argv, bounded to max
// bytes. A process that rewrote its argv area may use spaces instead of NULs;
// then argv has one element, which is what ps shows too.
func splitCmdline(b []byte, max int) (argv []string, joined string, truncated bool) {
	if len(b) > max {
		b, truncated = b[:max], true
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, "", truncated
	}
	for a := range bytes.SplitSeq(b, []byte{0}) {
		argv = append(argv, string(a))
	}
	return argv, strings.Join(argv, " "), truncated
}

// gone converts the errors of a vanished process to GoneError.
func gone(pid int, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return &GoneError{PID: pid, Err: err}
	}
	return err
}

// Read reads process pid. A process that vanished returns an error matching
// ErrGone.
func (r *Reader) Read(pid int) (*Process, error) {
	p, err := r.read(pid)
	if err != nil {
		return nil, err
	}
	r.ReadAncestors(p)
	return p, nil
}

// ReadShallow reads what Read does but the ancestors: p.Ancestors and
// p.Chain stay empty. Judging an exec needs none of them, and reading the
// chain (one stat file per level) was a quarter of the agent's CPU per exec
// event; ReadAncestors adds them for the few processes that turn out to
// matter.
func (r *Reader) ReadShallow(pid int) (*Process, error) { return r.read(pid) }

// ReadAncestors fills p.Ancestors and p.Chain from /proc now.
func (r *Reader) ReadAncestors(p *Process) {
	p.Ancestors = r.ancestors(p.PPID, nil)
	p.Chain = FormatChain(Ancestor{PID: p.PID, Name: p.Name}, p.Ancestors)
}

// parentLookup resolves a pid to its name and parent without reading /proc
// (a sweep's table); ok false falls back to reading.
type parentLookup func(pid int) (name string, ppid int, ok bool)

// read reads everything but the ancestors.
func (r *Reader) read(pid int) (*Process, error) {
	// All reads go through one directory descriptor: if the process exits and
	// its pid is reused meanwhile, reads through the old descriptor fail with
	// ESRCH instead of silently describing the new process.
	dir, err := unix.Open(path.Join(r.cfg.procRoot, strconv.Itoa(pid)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, gone(pid, fmt.Errorf("open /proc/%d: %w", pid, err))
	}
	defer unix.Close(dir)

	buf := make([]byte, 4096)
	b, err := readAt(dir, "stat", buf)
	if err != nil {
		return nil, gone(pid, fmt.Errorf("pid %d stat: %w", pid, err))
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	p := &Process{
		PID: pid, PPID: st.ppid, Name: st.name, State: st.state,
		Kernel:     st.flags&pfKthread != 0,
		Zombie:     st.state == 'Z' || st.state == 'X',
		StartTicks: st.startTicks,
	}
	p.StartTime = r.bootTime.Add(time.Duration(st.startTicks) * time.Second / time.Duration(r.tick))

	if b, err = readAt(dir, "status", buf); err != nil {
		return nil, gone(pid, fmt.Errorf("pid %d status: %w", pid, err))
	}
	if p.UID, p.GID, err = parseStatusIDs(b); err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	p.User, p.Group = r.ids.names(p.UID, p.GID)

	if !p.Kernel {
		// One byte more than kept, to know whether it was truncated.
		cmd := make([]byte, r.cfg.maxCmdline+1)
		if b, err = readAtBounded(dir, "cmdline", cmd); err != nil {
			return nil, gone(pid, fmt.Errorf("pid %d cmdline: %w", pid, err))
		}
		p.Argv, p.Cmdline, p.CmdlineTruncated = splitCmdline(b, r.cfg.maxCmdline)
		if err := r.readExe(dir, p); err != nil {
			return nil, err
		}
		// The kernel switches /proc/PID/exe before it sets up the new
		// argument area, so a process caught in the middle of execve has an
		// executable and no command line yet; wait for it, briefly.
		for try := 0; p.Cmdline == "" && p.Exe != "" && try < cmdlineRetries; try++ {
			time.Sleep(cmdlineRetryWait)
			if b, err = readAtBounded(dir, "cmdline", cmd); err != nil {
				return nil, gone(pid, fmt.Errorf("pid %d cmdline: %w", pid, err))
			}
			p.Argv, p.Cmdline, p.CmdlineTruncated = splitCmdline(b, r.cfg.maxCmdline)
		}
	}

	if b, err = readAt(dir, "cgroup", buf); err != nil {
		return nil, gone(pid, fmt.Errorf("pid %d cgroup: %w", pid, err))
	}
	p.ContainerID = ContainerIDFromCgroup(b)
	return p, nil
}

// readExe fills the executable fields. ENOENT on exe of a live process means
// it has none (zombie, a kernel thread not flagged as such, exiting task).
func (r *Reader) readExe(dir int, p *Process) error {
	lbuf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, "exe", lbuf)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if errors.Is(err, unix.ESRCH) {
			return gone(p.PID, err)
		}
		// EACCES without CAP_SYS_PTRACE: the rest of the record is still useful.
		r.cfg.logger.Debug("readlink exe", "pid", p.PID, "err", err)
		return nil
	}
	exe := string(lbuf[:n])
	if s, ok := strings.CutSuffix(exe, " (deleted)"); ok {
		exe, p.ExeDeleted = s, true
	}
	p.Exe = exe
	var st unix.Stat_t
	if err := unix.Fstatat(dir, "exe", &st, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return gone(p.PID, err)
		}
		r.cfg.logger.Debug("stat exe", "pid", p.PID, "err", err)
		return nil
	}
	p.ExeID = fileID(&st)
	if !r.cfg.hashes || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	d, err := r.hashes.digest(p.ExeID, r.cfg.maxHashSize, func() (int, error) {
		return unix.Openat(dir, "exe", unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	})
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return gone(p.PID, err)
		}
		r.cfg.logger.Debug("hash exe", "pid", p.PID, "exe", exe, "err", err)
		return nil
	}
	p.MD5, p.SHA256 = d.MD5, d.SHA256
	return nil
}

func fileID(st *unix.Stat_t) FileID {
	return FileID{
		Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano(), Mode: st.Mode,
	}
}

// ancestors walks up from ppid to the root.
func (r *Reader) ancestors(ppid int, lookup parentLookup) []Ancestor {
	var out []Ancestor
	buf := make([]byte, 512)
	for pid := ppid; pid > 0 && len(out) < maxChainDepth; {
		name, next, ok := "", 0, false
		if lookup != nil {
			name, next, ok = lookup(pid)
		}
		if !ok {
			b, err := readFileBuf(path.Join(r.cfg.procRoot, strconv.Itoa(pid), "stat"), buf)
			if err != nil {
				break // the parent exited: the chain ends here
			}
			st, err := parseStat(b)
			if err != nil {
				break
			}
			name, next = st.name, st.ppid
		}
		out = append(out, Ancestor{PID: pid, Name: name})
		if next == pid {
			break
		}
		pid = next
	}
	return out
}

// FormatChain formats a process and its ancestors the way tcss does:
// "git(433802)|node(280016)|containerd-shim-runc-v2(176637)|systemd(1)".
func FormatChain(self Ancestor, ancestors []Ancestor) string {
	var sb strings.Builder
	sb.WriteString(self.Name)
	sb.WriteByte('(')
	sb.WriteString(strconv.Itoa(self.PID))
	sb.WriteByte(')')
	for _, a := range ancestors {
		sb.WriteByte('|')
		sb.WriteString(a.Name)
		sb.WriteByte('(')
		sb.WriteString(strconv.Itoa(a.PID))
		sb.WriteByte(')')
	}
	return sb.String()
}

// readAt reads a small file relative to dir into buf (grown when full).
func readAt(dir int, name string, buf []byte) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, buf)
}

// readAtBounded is readAt that stops when buf is full.
func readAtBounded(dir int, name string, buf []byte) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

func readFileBuf(p string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, buf)
}

// readFile reads a whole file of unknown size (limit 0: unbounded).
func readFile(p string, limit int) ([]byte, error) {
	b, err := readFileBuf(p, make([]byte, 8192))
	if err == nil && limit > 0 && len(b) > limit {
		b = b[:limit]
	}
	return b, err
}

// readFD reads fd to EOF into buf, growing it; proc files have no size, so
// their length is only known by reading. Past 1 MiB the rest is dropped.
func readFD(fd int, buf []byte) ([]byte, error) {
	n := 0
	for {
		if n == len(buf) {
			if cap(buf) > 1<<20 {
				return buf[:n], nil
			}
			buf = append(buf[:n], make([]byte, len(buf))...)
		}
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
}
