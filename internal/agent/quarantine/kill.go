package quarantine

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// fileID identifies a file by device and inode, the only identity that
// survives the different paths a file has from different mount namespaces.
type fileID struct{ dev, ino uint64 }

// usesFile reports whether process pid runs, has open, or maps the file.
func usesFile(procDir string, pid int, id fileID) bool {
	base := filepath.Join(procDir, strconv.Itoa(pid))
	same := func(p string) bool {
		var st unix.Stat_t
		return unix.Stat(p, &st) == nil && st.Dev == id.dev && st.Ino == id.ino
	}
	if same(base + "/exe") {
		return true
	}
	if ents, err := os.ReadDir(base + "/fd"); err == nil {
		for _, e := range ents {
			if same(base + "/fd/" + e.Name()) {
				return true
			}
		}
	}
	// maps lists shared libraries and mmapped files that are no longer open.
	f, err := os.Open(base + "/maps")
	if err != nil {
		return false
	}
	defer f.Close()
	wantDev := strconv.FormatUint(uint64(unix.Major(id.dev)), 16) + ":" + strconv.FormatUint(uint64(unix.Minor(id.dev)), 16)
	wantIno := strconv.FormatUint(id.ino, 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[4] != wantIno {
			continue
		}
		if dev, ok := normalizeMapsDev(fields[3]); ok && dev == wantDev {
			return true
		}
	}
	return false
}

// normalizeMapsDev turns maps' zero-padded "08:01" into "8:1".
func normalizeMapsDev(s string) (string, bool) {
	ma, mi, ok := strings.Cut(s, ":")
	if !ok {
		return "", false
	}
	a, err1 := strconv.ParseUint(ma, 16, 32)
	b, err2 := strconv.ParseUint(mi, 16, 32)
	if err1 != nil || err2 != nil {
		return "", false
	}
	return strconv.FormatUint(a, 16) + ":" + strconv.FormatUint(b, 16), true
}

// killUsers SIGKILLs every process using the file and returns their pids.
// Each candidate is pinned with a pidfd and checked again before the signal,
// so a pid reused between the scan and the kill is never hit. The agent
// itself and the host's init are spared.
func killUsers(procDir string, id fileID) (killed []int, err error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var errs []error
	for _, e := range ents {
		pid, perr := strconv.Atoi(e.Name())
		if perr != nil || pid <= 1 || pid == self || !usesFile(procDir, pid, id) {
			continue
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, err)
			}
			continue
		}
		if usesFile(procDir, pid, id) {
			if err := unix.PidfdSendSignal(pidfd, syscall.SIGKILL, nil, 0); err == nil {
				killed = append(killed, pid)
			} else if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, err)
			}
		}
		unix.Close(pidfd)
	}
	return killed, errors.Join(errs...)
}
