package fswatch

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inotifyState is the inotify watch table, guarded by Watcher.mu.
type inotifyState struct {
	wds    map[int32]iwatch
	capHit bool
}

type iwatch struct {
	dir string
	m   *mount
}

const inoMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_ONLYDIR

func (w *Watcher) initInotify() error {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fswatch: inotify_init1: %w", err)
	}
	w.fd, w.mode, w.ino = fd, ModeInotify, &inotifyState{wds: map[int32]iwatch{}}
	return nil
}

func (w *Watcher) inotifyAdd(m *mount) error {
	if _, err := w.watchTree(m, m.path, nil); err != nil {
		return fmt.Errorf("fswatch: inotify %s: %w", m.path, err)
	}
	return nil
}

// watchTree adds a watch on every directory under dir on the root's
// filesystem, up to the watch cap (beyond it the root is rescanned
// periodically instead), and calls file for each regular file found.
func (w *Watcher) watchTree(m *mount, dir string, file func(path string)) (int, error) {
	added := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // vanished or unreadable: nothing to watch
		}
		if w.ignoredPath(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if file != nil && d.Type().IsRegular() {
				file(p)
			}
			return nil
		}
		if p != dir && !sameDev(p, m.dev) {
			return filepath.SkipDir // another filesystem mounted inside
		}
		w.mu.Lock()
		if len(w.ino.wds) >= w.cfg.maxWatches {
			w.ino.capHit = true
			w.mu.Unlock()
			m.periodic.Store(true)
			return filepath.SkipAll
		}
		wd, err := unix.InotifyAddWatch(w.fd, p, inoMask)
		if err == nil {
			w.ino.wds[int32(wd)] = iwatch{dir: p, m: m}
			added++
		}
		w.mu.Unlock()
		if err != nil && p == dir {
			return err
		}
		return nil
	})
	return added, err
}

func sameDev(p string, dev uint64) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Dev == dev
}

func (w *Watcher) inotifyRemove(m *mount) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wd, iw := range w.ino.wds {
		if iw.m == m {
			unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.ino.wds, wd)
		}
	}
}

func (w *Watcher) parseInotify(st *loopState, b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		ie := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ie.Len)
		if end > len(b) {
			return
		}
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		if ie.Mask&unix.IN_Q_OVERFLOW != 0 {
			w.overflows.Add(1)
			w.markAllDirty(st.lastEmpty.Add(-w.cfg.slack))
			continue
		}
		w.mu.Lock()
		iw, ok := w.ino.wds[ie.Wd]
		if ie.Mask&unix.IN_IGNORED != 0 {
			delete(w.ino.wds, ie.Wd)
		}
		w.mu.Unlock()
		if !ok || name == "" || iw.m.removed.Load() {
			continue
		}
		p := iw.dir + "/" + name
		switch {
		case ie.Mask&unix.IN_ISDIR != 0 && ie.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
			// A new directory: watch it, and take the files that were put in
			// it before the watch existed (or moved in with it).
			w.events.Add(1)
			w.watchTree(iw.m, p, func(f string) {
				w.add(st, iw.m, pkey{path: f}, -1, f, KindWrite, 0, st.lastEmpty)
			})
		case ie.Mask&unix.IN_ISDIR == 0 && ie.Mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
			w.events.Add(1)
			w.add(st, iw.m, pkey{path: p}, -1, p, KindWrite, 0, st.lastEmpty)
		}
	}
}
