package quarantine

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

const noFollow = unix.O_NOFOLLOW

// procRoot matches a path inside a process's root, the way the agent reaches
// a container's files: /proc/PID/root/usr/bin/x.
var procRoot = regexp.MustCompile(`^(/proc/(?:[0-9]+|self)/root)(/.*)?$`)

// splitRoot splits an absolute path into the root that path resolution must
// stay beneath ("/" or /proc/PID/root) and the path relative to it.
func splitRoot(path string) (root, rel string, err error) {
	if !filepath.IsAbs(path) {
		return "", "", fmt.Errorf("quarantine: path %q is not absolute", path)
	}
	clean := filepath.Clean(path)
	root = "/"
	rel = strings.TrimPrefix(clean, "/")
	if m := procRoot.FindStringSubmatch(clean); m != nil {
		root, rel = m[1], strings.TrimPrefix(m[2], "/")
	}
	if rel == "" || rel == "." {
		return "", "", fmt.Errorf("quarantine: path %q names a root directory, not a file", path)
	}
	return root, rel, nil
}

// ErrUnsafePath means resolving a path would have left its root through a
// symlink or "..", or (in strict mode) met a symlink at all.
var ErrUnsafePath = errors.New("quarantine: path escapes its root through a symlink or ..")

// openParent opens the directory holding rel beneath root, for reading (so
// it can be fsynced) and as the anchor of every later *at call on the file.
// The root itself is opened following symlinks — /proc/PID/root is a magic
// link meant to be followed — but nothing beneath it may lead outside:
// RESOLVE_BENEATH refuses absolute symlinks and ".." above the root, so a
// container that plants /usr/bin -> /etc cannot redirect a restore onto the
// host. strict refuses every symlink in the parent path.
func openParent(root, rel string, strict bool) (dirfd int, base string, err error) {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("quarantine: open root %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	dir, base := filepath.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	if strict {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	for range 16 { // EAGAIN: a concurrent rename; the kernel asks to retry
		dirfd, err = unix.Openat2(rootfd, dir, &how)
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	switch {
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ELOOP):
		return -1, "", fmt.Errorf("%w: %s under %s", ErrUnsafePath, dir, root)
	case err != nil:
		return -1, "", fmt.Errorf("quarantine: open directory %s under %s: %w", dir, root, err)
	}
	return dirfd, base, nil
}
