package fswatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pkey identifies a pending file: (dev, inode) for fanotify, the path for
// inotify (which has no descriptor until the watcher opens the file).
type pkey struct {
	dev, ino uint64
	path     string
}

// pend is a file waiting to settle. fd is the fanotify descriptor (-1 in
// inotify mode, where the path is opened at flush time).
type pend struct {
	m      *mount
	fd     int
	path   string // inotify: host path
	kind   Kind
	pid    int
	n      int // notifications merged
	first  time.Time
	last   time.Time
	urgent bool // exec: deliver at the next flush
}

// loopState is owned by the reader goroutine: no locking.
type loopState struct {
	pending   map[pkey]*pend
	lastEmpty time.Time // when a read last found the kernel queue empty
	lastFlush time.Time
	buf       []byte
}

const flushEvery = 10 * time.Millisecond

func (w *Watcher) readLoop(ctx context.Context) error {
	st := &loopState{pending: map[pkey]*pend{}, lastEmpty: time.Now(), buf: make([]byte, 64<<10)}
	defer w.closePending(st)
	pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for {
		if ctx.Err() != nil {
			return nil
		}
		timeout := 100
		if len(st.pending) > 0 {
			timeout = int(flushEvery / time.Millisecond)
		}
		n, err := unix.Poll(pfd, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("fswatch: poll: %w", err)
		}
		if n > 0 {
			if err := w.drain(st); err != nil {
				return err
			}
		}
		w.purgeRemoved(st)
		if now := time.Now(); now.Sub(st.lastFlush) >= flushEvery {
			st.lastFlush = now
			w.flush(st, now)
		}
	}
}

// drain reads what the kernel has queued, a bounded number of reads at a
// time so that flushing keeps going under a flood.
func (w *Watcher) drain(st *loopState) error {
	for range 64 {
		n, err := unix.Read(w.fd, st.buf)
		if errors.Is(err, unix.EAGAIN) || n == 0 && err == nil {
			st.lastEmpty = time.Now()
			return nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("fswatch: read: %w", err)
		}
		if w.mode == ModeFanotify {
			w.parseFanotify(st, st.buf[:n])
		} else {
			w.parseInotify(st, st.buf[:n])
		}
	}
	return nil
}

// add records a notification in the coalescing table. It takes ownership of fd.
func (w *Watcher) add(st *loopState, m *mount, key pkey, fd int, path string, kind Kind, pid int, ctime time.Time) {
	now := time.Now()
	if p, ok := st.pending[key]; ok {
		if fd >= 0 {
			unix.Close(fd)
		}
		p.kind |= kind
		if pid != 0 {
			p.pid = pid
		}
		p.n++
		p.last = now
		p.urgent = p.urgent || kind&KindExec != 0
		w.coalesced.Add(1)
		return
	}
	if len(st.pending) >= w.cfg.pending {
		// Shed: the change is recovered by the catch-up rescan of this root.
		// The file changed at ctime at the latest (0: unknown, use the last
		// time the kernel queue was known empty).
		if fd >= 0 {
			unix.Close(fd)
		}
		since := ctime
		if since.IsZero() || st.lastEmpty.Before(since) {
			since = st.lastEmpty
		}
		w.dropped.Add(1)
		w.markDirty(m, since.Add(-w.cfg.slack))
		return
	}
	st.pending[key] = &pend{m: m, fd: fd, path: path, kind: kind, pid: pid, first: now, last: now, urgent: kind&KindExec != 0}
}

// flush moves settled files to the handler queue, without blocking: what
// does not fit waits for the next flush.
func (w *Watcher) flush(st *loopState, now time.Time) {
	for key, p := range st.pending {
		if p.m.removed.Load() {
			w.dropPending(st, key, p) // release the filesystem at once: the runtime unmounts it
			continue
		}
		if !p.urgent && now.Sub(p.last) < w.cfg.settle && now.Sub(p.first) < w.cfg.maxHold {
			continue
		}
		if len(w.queue) == cap(w.queue) {
			return
		}
		ev, ok := w.eventOf(p)
		delete(st.pending, key)
		if !ok {
			w.ignored.Add(1)
			continue
		}
		select {
		case w.queue <- ev:
		default: // the rescanner filled the queue since the check: recovered by a rescan
			if ev.File != nil {
				ev.File.Close()
			}
			w.dropped.Add(1)
			w.markDirty(p.m, ev.Stat.Ctime.Add(-w.cfg.slack))
		}
	}
}

func (w *Watcher) dropPending(st *loopState, key pkey, p *pend) {
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
	delete(st.pending, key)
}

func (w *Watcher) purgeRemoved(st *loopState) {
	for {
		select {
		case dev := <-w.purge:
			for key, p := range st.pending {
				if p.m.dev == dev && p.m.removed.Load() {
					w.dropPending(st, key, p)
				}
			}
		default:
			return
		}
	}
}

func (w *Watcher) closePending(st *loopState) {
	for key, p := range st.pending {
		w.dropPending(st, key, p)
	}
}

// eventOf builds the event of a settled file, taking ownership of its
// descriptor (or opening it, in inotify mode).
func (w *Watcher) eventOf(p *pend) (Event, bool) {
	fd := p.fd
	var host, rel string
	deleted := false
	if fd < 0 {
		var err error
		fd, err = openFile(p.path)
		if err != nil {
			return Event{}, false
		}
		host, rel = relPath(p.m.path, p.path)
	} else {
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			unix.Close(fd)
			return Event{}, false
		}
		if s, ok := strings.CutSuffix(link, " (deleted)"); ok {
			link, deleted = s, true
		}
		host, rel = relPath(p.m.path, link)
	}
	return w.finish(Event{Kind: p.kind, Root: p.m.path, Path: host, ContainerPath: rel, PID: p.pid, Deleted: deleted, Coalesced: p.n}, fd)
}

// finish stats the descriptor and applies the size limit. It takes ownership of fd.
func (w *Watcher) finish(ev Event, fd int) (Event, bool) {
	s, err := statOf(fd)
	if err != nil || !isRegular(s) {
		unix.Close(fd)
		return Event{}, false
	}
	ev.Stat = s
	if w.ignoredPath(ev.Path) {
		unix.Close(fd)
		return Event{}, false
	}
	if w.cfg.maxSize > 0 && s.Size > w.cfg.maxSize {
		unix.Close(fd)
		ev.TooLarge = true
		w.tooLarge.Add(1)
		return ev, true
	}
	ev.File = os.NewFile(uintptr(fd), ev.Path)
	return ev, true
}

// openFile opens a file for scanning without following a final symlink and
// without blocking on a FIFO.
func openFile(p string) (int, error) {
	return unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_LARGEFILE, 0)
}
