package fswatch

import (
	"context"
	"io/fs"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// rescanner runs the catch-up rescans (after lost notifications) and the
// periodic passes. Its sends to the handler queue block: a rescan sheds
// nothing, it runs at the handlers' pace.
func (w *Watcher) rescanner(ctx context.Context) {
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
			// Let a burst of overflows accumulate into one pass.
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.cfg.rescanDelay):
			}
		case now := <-tick.C:
			w.mu.Lock()
			var due []*mount
			for _, m := range w.mounts {
				if m.periodic.Load() {
					due = append(due, m)
				}
			}
			w.mu.Unlock()
			for _, m := range due {
				w.markDirty(m, m.lastPass.Add(-w.cfg.slack))
				m.lastPass = now
			}
		}
		w.mu.Lock()
		dirty := w.dirty
		w.dirty = map[*mount]time.Time{}
		w.mu.Unlock()
		for m, since := range dirty {
			if ctx.Err() != nil {
				return
			}
			w.rescan(ctx, m, since)
		}
	}
}

// rescan delivers every regular file of m changed (ctime or mtime) at or
// after since. For an overlay only the upper directory is walked: it holds
// exactly what was written in the container, however big the image is.
func (w *Watcher) rescan(ctx context.Context, m *mount, since time.Time) {
	w.rescans.Add(1)
	dir := m.path
	var rootSt unix.Stat_t
	if m.upper != "" && unix.Stat(m.upper, &rootSt) == nil {
		dir = m.upper
	} else if unix.Stat(dir, &rootSt) != nil {
		return
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || ctx.Err() != nil || m.removed.Load() {
			if p == dir || ctx.Err() != nil || m.removed.Load() {
				return filepath.SkipAll
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		host := filepath.Join(m.path, rel)
		if w.ignoredPath(host) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != dir && !sameDev(p, rootSt.Dev) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // whiteouts (character devices) and links
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if time.Unix(st.Ctim.Unix()).Before(since) && time.Unix(st.Mtim.Unix()).Before(since) {
			return nil
		}
		// The file as the container sees it (the overlay's device) may have
		// been delivered already: skip it while unchanged.
		if p != host && unix.Lstat(host, &st) != nil {
			return nil
		}
		if w.seen.has(st.Dev, st.Ino, time.Unix(st.Ctim.Unix()), st.Size) {
			w.skipped.Add(1)
			return nil
		}
		fd, err := openFile(host)
		if err != nil {
			return nil
		}
		ev, ok := w.finish(Event{Kind: KindRescan, Root: m.path, Path: host, ContainerPath: "/" + filepath.ToSlash(rel)}, fd)
		if !ok {
			return nil
		}
		select {
		case w.queue <- ev:
			n++
		case <-ctx.Done():
			if ev.File != nil {
				ev.File.Close()
			}
			return filepath.SkipAll
		}
		return nil
	})
	w.cfg.logger.Debug("rescan", "root", m.path, "since", since, "files", n)
}
