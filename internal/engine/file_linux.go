package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// smallFileSize is the size up to which a file is read into a pooled buffer;
// larger files are mapped. Reading avoids the map/unmap and page-fault cost
// that dominates for small files; mapping avoids copying big ones.
const smallFileSize = 256 << 10

// ErrChanged means the file was replaced, truncated or rewritten while it was
// being scanned; its result is not cached.
var ErrChanged = errors.New("file changed during scan")

// ErrNotRegular means a path that looked like a regular file turned out not to
// be one when opened (it was swapped for a FIFO, device or symlink).
var ErrNotRegular = errors.New("not a regular file")

// statInfo converts a stat result to FileInfo.
func statInfo(path string, st *unix.Stat_t) FileInfo {
	return FileInfo{
		Path:       path,
		Size:       st.Size,
		Mode:       modeFromUnix(st.Mode),
		ModTime:    time.Unix(st.Mtim.Unix()),
		ChangeTime: time.Unix(st.Ctim.Unix()),
		Dev:        st.Dev,
		Ino:        st.Ino,
	}
}

// InfoFromFileInfo converts what os.Lstat returned into a FileInfo, keeping the
// device, inode and change time when the platform provides them.
func InfoFromFileInfo(path string, fi fs.FileInfo) FileInfo {
	info := FileInfo{Path: path, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.Dev, info.Ino = st.Dev, st.Ino
		info.ChangeTime = time.Unix(st.Ctim.Unix())
	}
	return info
}

func modeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// openRegular opens path for reading without following a symlink, without
// blocking (a FIFO swapped in after lstat must not hang the scan) and without
// updating the access time when permitted. It then checks that the descriptor
// is a regular file and, when want carries an identity, the very inode that was
// lstat'ed.
func openRegular(path string, want *FileInfo) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	fd, err := unix.Open(path, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM { // O_NOATIME needs ownership or CAP_FOWNER
		fd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		if err == unix.ELOOP {
			return -1, st, ErrNotRegular
		}
		return -1, st, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, ErrNotRegular
	}
	if (want.Dev != 0 || want.Ino != 0) && (st.Dev != want.Dev || st.Ino != want.Ino) {
		unix.Close(fd)
		return -1, st, fmt.Errorf("%w: replaced by another file", ErrChanged)
	}
	return fd, st, nil
}

// sameStat reports whether the file kept its size and times.
func sameStat(a, b *unix.Stat_t) bool {
	return a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim && a.Ino == b.Ino && a.Dev == b.Dev
}

// content is a file's bytes in memory: a pooled buffer, a file mapping or an
// anonymous mapping.
type content struct {
	data   []byte
	pooled *[]byte // return to the pool
	mapped bool    // munmap on release
	file   bool    // backed by the file: reading may fault if it shrinks
}

func (c *content) release(e *Engine) {
	if c.pooled != nil {
		e.putBuffer(c.pooled)
	}
	if c.mapped && len(c.data) > 0 {
		_ = unix.Munmap(c.data)
	}
	*c = content{}
}

// loadFile brings size bytes of the open file into memory.
func (e *Engine) loadFile(fd int, size int64) (content, error) {
	if size == 0 {
		return content{data: []byte{}}, nil
	}
	if size <= smallFileSize {
		buf := e.getBuffer()
		data := (*buf)[:size]
		n, err := preadFull(fd, data)
		if err != nil {
			e.putBuffer(buf)
			return content{}, err
		}
		if int64(n) < size {
			e.putBuffer(buf)
			return content{}, fmt.Errorf("%w: shrank while being read", ErrChanged)
		}
		return content{data: data, pooled: buf}, nil
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return content{}, fmt.Errorf("mmap: %w", err)
	}
	// Sequential read-ahead of the whole mapping: libyara and the hashers
	// walk it front to back.
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	_ = unix.Madvise(data, unix.MADV_WILLNEED)
	return content{data: data, mapped: true, file: true}, nil
}

// anonBuffer returns zeroed memory for a stream of size bytes: pooled when
// small, an anonymous mapping (given back to the kernel on release, so big
// layer files do not inflate the heap) otherwise.
func (e *Engine) anonBuffer(size int64) (content, error) {
	if size <= smallFileSize {
		buf := e.getBuffer()
		return content{data: (*buf)[:size], pooled: buf}, nil
	}
	data, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return content{}, fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	return content{data: data, mapped: true}, nil
}

func preadFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// lstat is os.Lstat returning a FileInfo.
func lstat(path string) (FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return FileInfo{Path: path}, err
	}
	return InfoFromFileInfo(path, fi), nil
}
