package fswatch

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const fanMask = unix.FAN_CLOSE_WRITE | unix.FAN_OPEN_EXEC

func (w *Watcher) initFanotify() error {
	flags := uint(unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK)
	if w.cfg.unlimited {
		flags |= unix.FAN_UNLIMITED_QUEUE
	}
	fd, err := unix.FanotifyInit(flags, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fswatch: fanotify_init: %w", err)
	}
	w.fd, w.mode = fd, ModeFanotify
	return nil
}

func (w *Watcher) fanotifyAdd(m *mount) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byDev[m.dev]; ok {
		return nil // same superblock already marked (a bind mount of a watched root)
	}
	if err := unix.FanotifyMark(w.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, fanMask, unix.AT_FDCWD, m.path); err != nil {
		return fmt.Errorf("fswatch: fanotify mark %s: %w", m.path, err)
	}
	m.marked = true
	w.byDev[m.dev] = m
	return nil
}

func (w *Watcher) fanotifyRemove(m *mount) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byDev[m.dev] != m {
		return nil
	}
	delete(w.byDev, m.dev)
	for _, o := range w.mounts {
		if o.dev == m.dev {
			o.marked, w.byDev[m.dev] = true, o // another path on the same superblock keeps the mark
			return nil
		}
	}
	err := unix.FanotifyMark(w.fd, unix.FAN_MARK_REMOVE|unix.FAN_MARK_FILESYSTEM, fanMask, unix.AT_FDCWD, m.path)
	// Unmounted already: the kernel dropped the mark with the superblock, and
	// the path now names something else.
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("fswatch: fanotify unmark %s: %w", m.path, err)
	}
	return nil
}

func (w *Watcher) parseFanotify(st *loopState, b []byte) {
	for len(b) >= unix.FAN_EVENT_METADATA_LEN {
		md := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&b[0]))
		if md.Event_len < unix.FAN_EVENT_METADATA_LEN || int(md.Event_len) > len(b) || md.Vers != unix.FANOTIFY_METADATA_VERSION {
			return
		}
		b = b[md.Event_len:]
		if md.Mask&unix.FAN_Q_OVERFLOW != 0 {
			// Events were lost after the queue last emptied: rescan every root
			// for what changed since.
			w.overflows.Add(1)
			w.markAllDirty(st.lastEmpty.Add(-w.cfg.slack))
		}
		if md.Fd < 0 {
			continue
		}
		w.events.Add(1)
		w.fanotifyEvent(st, int(md.Fd), md.Mask, int(md.Pid))
	}
}

func (w *Watcher) fanotifyEvent(st *loopState, fd int, mask uint64, pid int) {
	if pid == w.self {
		unix.Close(fd)
		w.ignored.Add(1)
		return
	}
	var s unix.Stat_t
	if err := unix.Fstat(fd, &s); err != nil || s.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		w.ignored.Add(1)
		return
	}
	w.mu.Lock()
	m := w.byDev[s.Dev]
	w.mu.Unlock()
	if m == nil {
		unix.Close(fd)
		w.ignored.Add(1)
		return
	}
	var kind Kind
	if mask&unix.FAN_CLOSE_WRITE != 0 {
		kind |= KindWrite
	}
	if mask&unix.FAN_OPEN_EXEC != 0 {
		kind |= KindExec
	}
	w.add(st, m, pkey{dev: s.Dev, ino: s.Ino}, fd, "", kind, pid, time.Unix(s.Ctim.Unix()))
}
