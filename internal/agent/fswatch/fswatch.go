package fswatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is the notification mechanism in use.
type Mode int

const (
	ModeAuto Mode = iota // New picks fanotify, else inotify, else periodic
	ModeFanotify
	ModeInotify
	ModePeriodic
)

func (m Mode) String() string {
	switch m {
	case ModeFanotify:
		return "fanotify"
	case ModeInotify:
		return "inotify"
	case ModePeriodic:
		return "periodic"
	}
	return "auto"
}

// Kind says why a file is delivered; KindWrite and KindExec may be combined
// when events for the same file were coalesced.
type Kind uint8

const (
	KindWrite  Kind = 1 << iota // closed after being opened for writing (or moved into a watched directory)
	KindExec                    // opened for execution
	KindRescan                  // found by a catch-up or periodic rescan (changed since a lost event)
)

func (k Kind) String() string {
	var s []string
	if k&KindWrite != 0 {
		s = append(s, "write")
	}
	if k&KindExec != 0 {
		s = append(s, "exec")
	}
	if k&KindRescan != 0 {
		s = append(s, "rescan")
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// Stat is the file's identity and metadata, read from the open descriptor
// just before delivery.
type Stat struct {
	Dev, Ino uint64
	Size     int64
	Mode     os.FileMode
	UID, GID uint32
	Mtime    time.Time
	Ctime    time.Time
	Nlink    uint64
	RawMode  uint32 // st_mode with the file type bits
}

// Event is one file to scan.
type Event struct {
	Kind Kind
	// Root is the watched path (as given to AddMount) the file belongs to.
	Root string
	// Path is the file's path as the agent can open it (under Root).
	Path string
	// ContainerPath is the path relative to Root with a leading slash: for a
	// container root filesystem, the path inside the container.
	ContainerPath string
	// PID is the process that wrote or executed the file (tgid); 0 when
	// unknown (inotify, periodic, rescans).
	PID int
	// Deleted is set when the file had been unlinked when it was delivered.
	Deleted bool
	Stat    Stat
	// File is open read-only on the file (the very inode the event was about,
	// even if it was renamed or unlinked since). nil when TooLarge. The
	// watcher closes it when the handler returns: dup it to keep it.
	File *os.File
	// TooLarge is set for a file above the size limit: it is reported, not opened for reading.
	TooLarge bool
	// Coalesced counts the further events merged into this one.
	Coalesced int
}

// Handler is called for each event by one of the worker goroutines.
type Handler func(ctx context.Context, ev Event)

// Stats are cumulative counters.
type Stats struct {
	Mode      Mode
	Events    uint64 // notifications read from the kernel
	Delivered uint64 // handler calls (including rescans)
	Coalesced uint64 // notifications merged into a pending one
	Ignored   uint64 // own process, ignored paths, unwatched filesystems, not regular files
	Overflows uint64 // kernel queue overflows (FAN_Q_OVERFLOW / IN_Q_OVERFLOW)
	Dropped   uint64 // notifications shed because the coalescing table was full
	Rescans   uint64 // rescan passes over a root
	Rescanned uint64 // files delivered by rescans
	Skipped   uint64 // files a rescan found changed but already delivered unchanged
	TooLarge  uint64 // files above the size limit (delivered without File)
	Watches   int    // inotify watches in place
	WatchCap  bool   // the inotify watch cap was reached
}

// ErrNotMountPoint is returned by AddMount in fanotify mode for a path that is
// not the root of a mount (a filesystem mark would cover far more than asked).
var ErrNotMountPoint = errors.New("fswatch: not a mount point")

type config struct {
	logger        *slog.Logger
	mode          Mode
	queue         int
	pending       int
	workers       int
	settle        time.Duration
	maxHold       time.Duration
	maxSize       int64
	ignore        []string
	unlimited     bool
	rescanDelay   time.Duration
	interval      time.Duration
	maxWatches    int
	seen          int
	slack         time.Duration
	procSelf      string
	mountinfoPath string
}

func defaultConfig() config {
	return config{
		logger:        slog.New(slog.DiscardHandler),
		mode:          ModeAuto,
		queue:         1024,
		pending:       2048,
		workers:       2,
		settle:        100 * time.Millisecond,
		maxHold:       time.Second,
		maxSize:       64 << 20,
		rescanDelay:   500 * time.Millisecond,
		interval:      time.Minute,
		maxWatches:    65536,
		seen:          65536,
		slack:         2 * time.Second,
		mountinfoPath: "/proc/self/mountinfo",
	}
}

// Option configures a Watcher.
type Option func(*config)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMode forces a mode (default ModeAuto). Forcing fanotify fails New where
// it is unavailable instead of falling back.
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithQueueSize bounds the queue between the kernel reader and the handlers
// (default 1024 files). Each queued file holds an open descriptor.
func WithQueueSize(n int) Option { return func(c *config) { c.queue = max(n, 1) } }

// WithPendingSize bounds the coalescing table (default 2048 files, each
// holding an open descriptor); beyond it notifications are shed and the root
// is rescanned.
func WithPendingSize(n int) Option { return func(c *config) { c.pending = max(n, 1) } }

// WithWorkers sets the number of handler goroutines (default 2).
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 1) } }

// WithSettle sets how long a written file must stay untouched before it is
// delivered (default 100 ms), and the longest a file still being rewritten
// is held back (default 1 s).
func WithSettle(settle, maxHold time.Duration) Option {
	return func(c *config) { c.settle, c.maxHold = settle, max(maxHold, settle) }
}

// WithMaxSize sets the size above which a file is delivered as TooLarge,
// without a descriptor (default 64 MiB).
func WithMaxSize(n int64) Option { return func(c *config) { c.maxSize = n } }

// WithIgnorePaths ignores files under these host paths (the agent's own data
// directory, its quarantine).
func WithIgnorePaths(paths ...string) Option {
	return func(c *config) {
		for _, p := range paths {
			c.ignore = append(c.ignore, filepath.Clean(p))
		}
	}
}

// WithUnlimitedKernelQueue uses FAN_UNLIMITED_QUEUE. Off by default: the
// kernel queue is then bounded (fs.fanotify.max_queued_events, 16384) and an
// overflow triggers a rescan, where an unlimited queue would let a container
// writing files fast grow kernel memory without bound.
func WithUnlimitedKernelQueue(on bool) Option { return func(c *config) { c.unlimited = on } }

// WithRescanDelay sets how long after an overflow the catch-up rescan starts
// (default 500 ms), so that repeated overflows during a burst cause one pass.
func WithRescanDelay(d time.Duration) Option { return func(c *config) { c.rescanDelay = d } }

// WithInterval sets the periodic scan interval (default 1 min), used in
// ModePeriodic and for roots beyond the inotify watch cap.
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithMaxWatches caps inotify watches (default 65536).
func WithMaxWatches(n int) Option { return func(c *config) { c.maxWatches = max(n, 1) } }

// WithSeenCache sets how many delivered files (device, inode, ctime, size)
// are remembered so that rescans skip them while unchanged (default 65536; 0
// disables).
func WithSeenCache(n int) Option { return func(c *config) { c.seen = max(n, 0) } }

// WithTimestampSlack widens the "changed since" window of rescans (default
// 2 s): timestamps come from a coarse clock and a file's last write precedes
// its close.
func WithTimestampSlack(d time.Duration) Option { return func(c *config) { c.slack = d } }

// WithMountinfo reads mounts from this file instead of /proc/self/mountinfo.
func WithMountinfo(path string) Option { return func(c *config) { c.mountinfoPath = path } }

// mount is one watched root.
type mount struct {
	path     string      // as given (cleaned)
	dev      uint64      // st_dev of the root
	upper    string      // overlay upper directory, walked by rescans when readable
	marked   bool        // holds a fanotify mark (false for a second path on the same superblock)
	periodic atomic.Bool // also rescanned every interval (inotify cap reached, or periodic mode)
	removed  atomic.Bool
	// lastPass is when the last periodic pass started (periodic roots).
	lastPass time.Time
}

// Watcher watches filesystems. Create it with New, add roots with AddMount,
// then Run.
type Watcher struct {
	cfg  config
	mode Mode
	self int

	fd int // fanotify or inotify descriptor, -1 in periodic mode

	mu     sync.Mutex
	mounts map[string]*mount // by path
	byDev  map[uint64]*mount // fanotify: by st_dev of the superblock
	ino    *inotifyState     // inotify mode
	dirty  map[*mount]time.Time
	kick   chan struct{} // wakes the rescanner
	purge  chan uint64   // devices whose pending entries must be closed (RemoveMount)

	queue chan Event

	events, delivered, coalesced, ignored, overflows, dropped, rescans, rescanned, skipped, tooLarge atomic.Uint64
	seen                                                                                             *seenCache

	closeOnce sync.Once
}

// New creates a watcher in the requested mode (ModeAuto: fanotify, else
// inotify, else periodic). Mode tells which one is active.
func New(opts ...Option) (*Watcher, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	w := &Watcher{
		cfg:    cfg,
		self:   os.Getpid(),
		fd:     -1,
		mounts: map[string]*mount{},
		byDev:  map[uint64]*mount{},
		dirty:  map[*mount]time.Time{},
		kick:   make(chan struct{}, 1),
		purge:  make(chan uint64, 16),
		queue:  make(chan Event, cfg.queue),
		seen:   newSeenCache(cfg.seen),
	}
	var err error
	switch cfg.mode {
	case ModeFanotify:
		err = w.initFanotify()
	case ModeInotify:
		err = w.initInotify()
	case ModePeriodic:
		w.mode = ModePeriodic
	default:
		if err = w.initFanotify(); err != nil {
			cfg.logger.Info("fanotify unavailable, falling back to inotify", "err", err)
			if err = w.initInotify(); err != nil {
				cfg.logger.Info("inotify unavailable, falling back to periodic scans", "err", err)
				w.mode, err = ModePeriodic, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Mode returns the active mode.
func (w *Watcher) Mode() Mode { return w.mode }

// Stats returns the counters so far.
func (w *Watcher) Stats() Stats {
	s := Stats{
		Mode:      w.mode,
		Events:    w.events.Load(),
		Delivered: w.delivered.Load(),
		Coalesced: w.coalesced.Load(),
		Ignored:   w.ignored.Load(),
		Overflows: w.overflows.Load(),
		Dropped:   w.dropped.Load(),
		Rescans:   w.rescans.Load(),
		Rescanned: w.rescanned.Load(),
		Skipped:   w.skipped.Load(),
		TooLarge:  w.tooLarge.Load(),
	}
	if w.ino != nil {
		w.mu.Lock()
		s.Watches, s.WatchCap = len(w.ino.wds), w.ino.capHit
		w.mu.Unlock()
	}
	return s
}

// Close releases the kernel descriptor. Call it after Run returned.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		if w.fd >= 0 {
			err = unix.Close(w.fd)
		}
	})
	return err
}

// AddMount starts watching the filesystem mounted at path (fanotify: path
// must be a mount point; inotify and periodic: any directory).
func (w *Watcher) AddMount(path string) error {
	path, err := filepath.Abs(path) // mountinfo and kernel paths are absolute
	if err != nil {
		return fmt.Errorf("fswatch: add %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("fswatch: add %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("fswatch: add %s: not a directory", path)
	}
	m := &mount{path: path, dev: st.Dev, lastPass: time.Now()}
	mi, mounted := w.lookupMount(path)
	if mounted && mi.FSType == "overlay" {
		m.upper = mi.UpperDir
	}
	w.mu.Lock()
	if _, ok := w.mounts[path]; ok {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	switch w.mode {
	case ModeFanotify:
		if !mounted {
			return fmt.Errorf("fswatch: add %s: %w", path, ErrNotMountPoint)
		}
		if err := w.fanotifyAdd(m); err != nil {
			return err
		}
	case ModeInotify:
		if err := w.inotifyAdd(m); err != nil {
			return err
		}
	case ModePeriodic:
		m.periodic.Store(true)
	}
	w.mu.Lock()
	w.mounts[path] = m
	w.mu.Unlock()
	w.cfg.logger.Debug("watching", "path", path, "mode", w.mode, "upper", m.upper)
	return nil
}

// RemoveMount stops watching path and closes every descriptor the watcher
// still holds on it (so that the runtime can unmount it). It is not an error
// if the filesystem is already unmounted.
func (w *Watcher) RemoveMount(path string) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	w.mu.Lock()
	m, ok := w.mounts[path]
	if ok {
		delete(w.mounts, path)
		delete(w.dirty, m)
	}
	w.mu.Unlock()
	if !ok {
		return nil
	}
	m.removed.Store(true)
	var err error
	switch w.mode {
	case ModeFanotify:
		err = w.fanotifyRemove(m)
	case ModeInotify:
		w.inotifyRemove(m)
	}
	// The reader goroutine owns the coalescing table; ask it to close what it
	// holds on this filesystem (it also does so lazily at flush time).
	select {
	case w.purge <- m.dev:
	default:
	}
	return err
}

// Mounts lists the watched paths.
func (w *Watcher) Mounts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.mounts))
	for p := range w.mounts {
		out = append(out, p)
	}
	return out
}

func (w *Watcher) lookupMount(path string) (MountInfo, bool) {
	f, err := os.Open(w.cfg.mountinfoPath)
	if err != nil {
		return MountInfo{}, false
	}
	defer f.Close()
	mis, err := ParseMountinfo(f)
	if err != nil {
		return MountInfo{}, false
	}
	// The last entry for a mount point is the one on top.
	for i := len(mis) - 1; i >= 0; i-- {
		if mis[i].MountPoint == path {
			return mis[i], true
		}
	}
	return MountInfo{}, false
}

func (w *Watcher) ignoredPath(p string) bool {
	for _, ig := range w.cfg.ignore {
		if p == ig || strings.HasPrefix(p, ig+"/") {
			return true
		}
	}
	return false
}

// markDirty schedules a catch-up rescan of m for files changed since t.
func (w *Watcher) markDirty(m *mount, t time.Time) {
	if m == nil || m.removed.Load() {
		return
	}
	w.mu.Lock()
	if old, ok := w.dirty[m]; !ok || t.Before(old) {
		w.dirty[m] = t
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Watcher) markAllDirty(t time.Time) {
	w.mu.Lock()
	ms := make([]*mount, 0, len(w.mounts))
	for _, m := range w.mounts {
		ms = append(ms, m)
	}
	w.mu.Unlock()
	for _, m := range ms {
		w.markDirty(m, t)
	}
}

// Run reads notifications and calls handle from the worker goroutines until
// ctx is done. It returns nil on cancellation. Call it once.
func (w *Watcher) Run(ctx context.Context, handle Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range w.cfg.workers {
		wg.Go(func() {
			for ev := range w.queue {
				w.deliver(ctx, ev, handle)
			}
		})
	}
	var rwg sync.WaitGroup
	rwg.Go(func() { w.rescanner(ctx) })
	var err error
	if w.mode != ModePeriodic {
		err = w.readLoop(ctx)
	} else {
		<-ctx.Done()
	}
	cancel()
	rwg.Wait()
	close(w.queue)
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (w *Watcher) deliver(ctx context.Context, ev Event, handle Handler) {
	defer func() {
		if ev.File != nil {
			ev.File.Close()
		}
	}()
	if ctx.Err() != nil || w.rootRemoved(ev.Root) {
		return
	}
	w.delivered.Add(1)
	if ev.Kind&KindRescan != 0 {
		w.rescanned.Add(1)
	}
	handle(ctx, ev)
	w.seen.add(ev.Stat.Dev, ev.Stat.Ino, ev.Stat.Ctime, ev.Stat.Size)
}

func (w *Watcher) rootRemoved(root string) bool {
	w.mu.Lock()
	_, ok := w.mounts[root]
	w.mu.Unlock()
	return !ok
}

// statOf fills Stat from an open descriptor.
func statOf(fd int) (Stat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Stat{}, err
	}
	return fromStat(&st), nil
}

func fromStat(st *unix.Stat_t) Stat {
	mode := os.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return Stat{
		Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mode: mode, RawMode: st.Mode,
		UID: st.Uid, GID: st.Gid, Nlink: uint64(st.Nlink),
		Mtime: time.Unix(st.Mtim.Unix()), Ctime: time.Unix(st.Ctim.Unix()),
	}
}

func isRegular(s Stat) bool { return s.RawMode&unix.S_IFMT == unix.S_IFREG }

// relPath maps a path reported by the kernel to (host path, path under the
// root). A write made inside a container comes with its in-container path
// (the kernel resolves it against the container's own root), a write on the
// host with the host path.
func relPath(root, p string) (host, rel string) {
	if root == "/" {
		return p, p
	}
	if p == root {
		return p, "/"
	}
	if r, ok := strings.CutPrefix(p, root+"/"); ok {
		return p, "/" + r
	}
	return root + p, p
}

var _ io.Closer = (*Watcher)(nil)
