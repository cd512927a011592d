// Package fswalk lists the files of directory trees in parallel, for scanners
// that must not hurt the host: it never follows a symlink, never descends into
// a directory twice (bind-mount loops), skips kernel pseudo file systems
// (/proc, /sys, cgroupfs …) it would cross into, and reports unreadable or
// vanished directories as entries instead of stopping.
package fswalk

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Entry is one non-directory found in a tree, or a directory that could not be
// read (Err set).
type Entry struct {
	Path string
	// Type is the file type (fs.ModeSymlink, fs.ModeNamedPipe …; 0 for a
	// regular file), as the directory entry told.
	Type fs.FileMode
	// Stat is the lstat of a regular file, made relative to the open
	// directory. Other types are not stat'ed: a scanner skips them anyway.
	Stat *unix.Stat_t
	Err  error
}

// Option configures Walk.
type Option func(*config)

type config struct {
	workers       int
	oneFS         bool
	skipPseudoFS  bool
	pseudoFSTypes map[int64]string
}

// WithWorkers sets the number of directories read at once (default: CPUs).
func WithWorkers(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithOneFileSystem keeps the walk on the file systems of the roots.
func WithOneFileSystem(on bool) Option { return func(c *config) { c.oneFS = on } }

// WithPseudoFS makes the walk descend into kernel pseudo file systems too
// (off by default: reading /proc/kcore or sysfs attributes is never a scan).
func WithPseudoFS(on bool) Option { return func(c *config) { c.skipPseudoFS = !on } }

// pseudoFS are the statfs magic numbers of file systems that hold no files a
// malware scan should read.
var pseudoFS = map[int64]string{
	unix.PROC_SUPER_MAGIC:     "proc",
	unix.SYSFS_MAGIC:          "sysfs",
	unix.CGROUP_SUPER_MAGIC:   "cgroup",
	unix.CGROUP2_SUPER_MAGIC:  "cgroup2",
	unix.DEBUGFS_MAGIC:        "debugfs",
	unix.TRACEFS_MAGIC:        "tracefs",
	unix.SECURITYFS_MAGIC:     "securityfs",
	unix.PSTOREFS_MAGIC:       "pstore",
	unix.BPF_FS_MAGIC:         "bpf",
	0x62656570:                "configfs",
	0x65735543:                "fusectl",
	unix.BINFMTFS_MAGIC:       "binfmt_misc",
	unix.AUTOFS_SUPER_MAGIC:   "autofs", // reading would trigger mounts
	unix.EFIVARFS_MAGIC:       "efivarfs",
	unix.DEVPTS_SUPER_MAGIC:   "devpts",
	0x19800202:                "mqueue",
	unix.NSFS_MAGIC:           "nsfs",
	unix.SELINUX_MAGIC:        "selinuxfs",
	unix.HUGETLBFS_MAGIC:      "hugetlbfs",
	unix.RDTGROUP_SUPER_MAGIC: "resctrl",
}

type dirJob struct {
	path string
	dev  uint64 // device of the parent, to notice mount points
}

type devIno struct{ dev, ino uint64 }

type walker struct {
	cfg config
	fn  func(Entry) error

	mu      sync.Mutex
	cond    *sync.Cond
	stack   []dirJob
	active  int // directories being read
	err     error
	visited map[devIno]bool
	rootDev map[uint64]bool
}

// Walk calls fn for every non-directory under roots, and for every directory
// that could not be read. A root that is not a directory is itself passed to
// fn. fn is called concurrently from several goroutines; an error it returns
// stops the walk and is returned. Walk also stops when ctx ends.
//
// Directories are read depth-first by the worker goroutines; the order of
// entries is not defined.
func Walk(ctx context.Context, roots []string, fn func(Entry) error, opts ...Option) error {
	cfg := config{workers: runtime.NumCPU(), skipPseudoFS: true}
	for _, o := range opts {
		o(&cfg)
	}
	w := &walker{cfg: cfg, fn: fn, visited: map[devIno]bool{}, rootDev: map[uint64]bool{}}
	w.cond = sync.NewCond(&w.mu)
	for _, root := range roots {
		var st unix.Stat_t
		if err := unix.Lstat(root, &st); err != nil {
			if err := fn(Entry{Path: root, Err: &fs.PathError{Op: "lstat", Path: root, Err: err}}); err != nil {
				return err
			}
			continue
		}
		if typ := modeType(st.Mode); typ != fs.ModeDir {
			ent := Entry{Path: root, Type: typ}
			if typ == 0 {
				ent.Stat = &st
			}
			if err := fn(ent); err != nil {
				return err
			}
			continue
		}
		w.rootDev[st.Dev] = true
		// A root is read even when it is itself on a pseudo file system: the
		// caller asked for it explicitly.
		w.stack = append(w.stack, dirJob{path: root, dev: st.Dev})
	}
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.err == nil {
			w.err = ctx.Err()
		}
		w.mu.Unlock()
		w.cond.Broadcast()
	})
	defer stop()
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work()
		}()
	}
	wg.Wait()
	return w.err
}

func (w *walker) work() {
	for {
		w.mu.Lock()
		for len(w.stack) == 0 && w.active > 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil || len(w.stack) == 0 {
			w.mu.Unlock()
			w.cond.Broadcast()
			return
		}
		job := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.active++
		w.mu.Unlock()

		subdirs, err := w.readDir(job)

		w.mu.Lock()
		w.active--
		if err != nil && w.err == nil {
			w.err = err
		}
		w.stack = append(w.stack, subdirs...)
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

func (w *walker) stopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// readDir lists one directory: files go to fn, subdirectories are returned.
// Only fn's error is returned; problems with the directory become entries.
func (w *walker) readDir(job dirJob) ([]dirJob, error) {
	fd, err := unix.Open(job.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return nil, nil // swapped for a symlink or file since it was listed: skip
		}
		return nil, w.fn(Entry{Path: job.path, Err: &fs.PathError{Op: "open", Path: job.path, Err: err}})
	}
	f := os.NewFile(uintptr(fd), job.path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, w.fn(Entry{Path: job.path, Err: &fs.PathError{Op: "fstat", Path: job.path, Err: err}})
	}
	if st.Dev != job.dev && !w.rootDev[st.Dev] { // a mount point
		if w.cfg.oneFS {
			return nil, nil
		}
		if w.cfg.skipPseudoFS {
			var sfs unix.Statfs_t
			if unix.Fstatfs(fd, &sfs) == nil {
				if _, pseudo := pseudoFS[int64(sfs.Type)]; pseudo {
					return nil, nil
				}
			}
		}
	}
	w.mu.Lock()
	seen := w.visited[devIno{st.Dev, st.Ino}]
	w.visited[devIno{st.Dev, st.Ino}] = true
	w.mu.Unlock()
	if seen {
		return nil, nil // bind mount of a directory already walked
	}

	var subdirs []dirJob
	for {
		if w.stopped() {
			return subdirs, nil
		}
		ents, err := f.ReadDir(512)
		for _, d := range ents {
			p := filepath.Join(job.path, d.Name())
			typ := d.Type()
			if typ == fs.ModeDir {
				subdirs = append(subdirs, dirJob{path: p, dev: st.Dev})
				continue
			}
			ent := Entry{Path: p, Type: typ}
			if typ == 0 { // regular: stat it relative to the directory, no path walk
				var fst unix.Stat_t
				if err := unix.Fstatat(fd, d.Name(), &fst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					if err == unix.ENOENT {
						continue // deleted since the directory was read
					}
					ent.Err = &fs.PathError{Op: "lstat", Path: p, Err: err}
				} else if ent.Type = modeType(fst.Mode); ent.Type == fs.ModeDir {
					subdirs = append(subdirs, dirJob{path: p, dev: st.Dev}) // replaced by a directory
					continue
				} else if ent.Type == 0 {
					ent.Stat = &fst
				}
			}
			if err := w.fn(ent); err != nil {
				return nil, err
			}
		}
		if err == io.EOF || (err == nil && len(ents) == 0) {
			return subdirs, nil
		}
		if err != nil {
			return subdirs, w.fn(Entry{Path: job.path, Err: err})
		}
	}
}

// modeType maps the S_IFMT bits to the fs.FileMode type bits.
func modeType(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
