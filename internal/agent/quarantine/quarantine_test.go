package quarantine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mount namespaces)")
	}
}

func testKey(t *testing.T) []byte {
	t.Helper()
	k, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "quarantine.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openQ(t *testing.T, dir string, key []byte, opts ...Option) *Quarantine {
	t.Helper()
	q, err := Open(dir, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile creates path with content, mode (set after creation, so the umask
// does not interfere), owner and times.
func writeFile(t *testing.T, path string, content []byte, mode os.FileMode, uid, gid int, atime, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, atime, mtime); err != nil {
		t.Fatal(err)
	}
}

func statT(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestIsolateRestoreKeepsContentModeOwnerTimes(t *testing.T) {
	needRoot(t)
	const chunk = 1024
	sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 17}
	key := testKey(t)
	qdir := filepath.Join(t.TempDir(), "quarantine")
	q := openQ(t, qdir, key, WithChunkSize(chunk))
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	atime := time.Date(2022, 1, 2, 3, 4, 5, 987654321, time.UTC)
	for _, size := range sizes {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "trojan")
			content := randBytes(t, size)
			writeFile(t, path, content, 0o751|os.ModeSetgid, 1234, 5678, atime, mtime)
			if err := unix.Setxattr(path, "user.vigil-test", []byte("x1"), 0); err != nil {
				t.Fatal(err)
			}
			before := statT(t, path)

			s, err := q.Isolate(context.Background(), path, Meta{Labels: map[string]string{"event": "42"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("original still there after Isolate: %v", err)
			}
			if s.State != StateIsolated || s.Size != int64(size) || s.SHA256 != sha(content) || s.UID != 1234 || s.GID != 5678 ||
				s.Mode != before.Mode || !s.Mtime.Equal(mtime) || s.Labels["event"] != "42" || string(s.Xattrs["user.vigil-test"]) != "x1" {
				t.Fatalf("sample record %+v", s)
			}
			if got, err := q.Get(s.ID); err != nil || got.SHA256 != s.SHA256 {
				t.Fatalf("Get: %+v %v", got, err)
			}
			list, err := q.List()
			if err != nil || !slices.ContainsFunc(list, func(x Sample) bool { return x.ID == s.ID }) {
				t.Fatalf("List: %v %v", list, err)
			}
			// The sample is encrypted: the content is not in it.
			if enc, _ := os.ReadFile(q.samplePath(s.ID)); size >= 16 && bytes.Contains(enc, content[:16]) {
				t.Fatal("sample holds plaintext")
			}

			if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			after := statT(t, path) // before reading: reading updates atime
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("restored content differs (err %v)", err)
			}
			if after.Mode != before.Mode || after.Uid != 1234 || after.Gid != 5678 ||
				after.Mtim != before.Mtim || after.Atim != before.Atim {
				t.Fatalf("restored stat %+v, want mode %o owner 1234:5678 mtime %v atime %v", after, before.Mode, before.Mtim, before.Atim)
			}
			if v := make([]byte, 8); true {
				n, err := unix.Getxattr(path, "user.vigil-test", v)
				if err != nil || string(v[:n]) != "x1" {
					t.Fatalf("xattr not restored: %q %v", v[:n], err)
				}
			}
			if _, err := q.Get(s.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("sample still in quarantine after restore: %v", err)
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Fatalf("restore left files behind: %v", names)
			}
		})
	}
	if names := dirNames(t, qdir); !slices.Equal(names, []string{".lock"}) {
		t.Fatalf("quarantine not empty: %v", names)
	}
	if st := statT(t, qdir); st.Mode&0o777 != 0o700 {
		t.Fatalf("quarantine dir mode %o", st.Mode&0o777)
	}
}

func TestIsolateRefuses(t *testing.T) {
	needRoot(t)
	q := openQ(t, t.TempDir(), testKey(t), WithMaxSize(100))
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 101), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"symlink", link, ErrNotRegular},
		{"fifo", fifo, ErrNotRegular},
		{"directory", dir, ErrNotRegular},
		{"too large", big, ErrTooLarge},
		{"missing", filepath.Join(dir, "nope"), os.ErrNotExist},
		{"relative", "etc/passwd", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := q.Isolate(context.Background(), tc.path, Meta{})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Isolate(%s) = %v, want %v", tc.path, err, tc.want)
			}
		})
	}
	for _, p := range []string{target, big, link, fifo} {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("%s was touched: %v", p, err)
		}
	}
	if l, _ := q.List(); len(l) != 0 {
		t.Fatalf("refused files were recorded: %v", l)
	}
}

func TestRestoreDoesNotOverwriteUnlessForced(t *testing.T) {
	needRoot(t)
	q := openQ(t, t.TempDir(), testKey(t))
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("malware"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := q.Isolate(context.Background(), path, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("Restore over an existing file: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new file" {
		t.Fatalf("existing file changed: %q", b)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "malware" {
		t.Fatalf("forced restore: %q", b)
	}
	// Elsewhere, through opts.Path.
	s, err = q.Isolate(context.Background(), path, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "moved")
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{Path: other}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(other); string(b) != "malware" {
		t.Fatalf("restore to another path: %q", b)
	}
}

func TestCorruptSampleDetected(t *testing.T) {
	needRoot(t)
	key := testKey(t)
	content := randBytes(t, 5000)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, q *Quarantine, s Sample)
		key    []byte
	}{
		{"flipped byte", func(t *testing.T, q *Quarantine, s Sample) {
			b, _ := os.ReadFile(q.samplePath(s.ID))
			b[len(b)/2] ^= 1
			os.WriteFile(q.samplePath(s.ID), b, 0o600)
		}, nil},
		{"truncated at chunk boundary", func(t *testing.T, q *Quarantine, s Sample) {
			os.Truncate(q.samplePath(s.ID), headerLen+2*(1024+tagLen))
		}, nil},
		{"truncated mid chunk", func(t *testing.T, q *Quarantine, s Sample) {
			st := statT(t, q.samplePath(s.ID))
			os.Truncate(q.samplePath(s.ID), st.Size-5)
		}, nil},
		{"header edited", func(t *testing.T, q *Quarantine, s Sample) {
			b, _ := os.ReadFile(q.samplePath(s.ID))
			b[20] ^= 1 // in the salt
			os.WriteFile(q.samplePath(s.ID), b, 0o600)
		}, nil},
		{"metadata hash edited", func(t *testing.T, q *Quarantine, s Sample) {
			s.SHA256 = strings.Repeat("0", 64)
			if err := q.writeMeta(s); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"wrong key", func(*testing.T, *Quarantine, Sample) {}, bytes.Repeat([]byte{7}, KeySize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qdir := t.TempDir()
			q := openQ(t, qdir, key, WithChunkSize(1024))
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, content, 0o700); err != nil {
				t.Fatal(err)
			}
			s, err := q.Isolate(context.Background(), path, Meta{})
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, q, s)
			if tc.key != nil {
				q.Close()
				q = openQ(t, qdir, tc.key)
			}
			if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v, want ErrCorrupt", err)
			}
			if names := dirNames(t, filepath.Dir(path)); len(names) != 0 {
				t.Fatalf("corrupt restore left %v", names)
			}
			if _, err := q.Get(s.ID); err != nil {
				t.Fatalf("corrupt sample dropped from the quarantine: %v", err)
			}
		})
	}
}

func TestCrashRecovery(t *testing.T) {
	needRoot(t)
	key := testKey(t)
	errCrash := errors.New("simulated crash")
	for _, tc := range []struct {
		step         string
		originalKept bool
	}{
		{"sample-written", true},
		{"sample-committed", true},
		{"metadata-written", true},
		{"unlinked", false},
	} {
		t.Run(tc.step, func(t *testing.T) {
			qdir := t.TempDir()
			content := randBytes(t, 3000)
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, content, 0o750); err != nil {
				t.Fatal(err)
			}
			q, err := Open(qdir, key, withHook(func(s string) error {
				if s == tc.step {
					return errCrash
				}
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Isolate(context.Background(), path, Meta{}); !errors.Is(err, errCrash) {
				t.Fatalf("Isolate = %v", err)
			}
			q.Close() // the process is gone: its lock too

			q2 := openQ(t, qdir, key)
			list, err := q2.List()
			if err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(path)
			if tc.originalKept {
				if statErr != nil || len(list) != 0 || !slices.Equal(dirNames(t, qdir), []string{".lock"}) {
					t.Fatalf("after recovery: original %v, list %v, dir %v", statErr, list, dirNames(t, qdir))
				}
				if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
					t.Fatal("original changed")
				}
				return
			}
			if statErr == nil || len(list) != 1 || list[0].State != StateIsolated {
				t.Fatalf("after recovery: original %v, list %+v", statErr, list)
			}
			if _, err := q2.Restore(context.Background(), list[0].ID, RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
				t.Fatal("restored content differs")
			}
		})
	}
}

func TestRecoveryWaitsForOtherUsers(t *testing.T) {
	needRoot(t)
	key := testKey(t)
	qdir := t.TempDir()
	openQ(t, qdir, key) // another process's open quarantine, as far as flock goes
	inflight := filepath.Join(qdir, "0123456789abcdef01234567.tmp")
	if err := os.WriteFile(inflight, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	openQ(t, qdir, key)
	if _, err := os.Stat(inflight); err != nil {
		t.Fatalf("a second Open removed another process's in-flight file: %v", err)
	}
}

func TestRestoreRefusesSymlinkEscape(t *testing.T) {
	needRoot(t)
	q := openQ(t, t.TempDir(), testKey(t))
	base := t.TempDir()
	victim := t.TempDir() // where a planted symlink would send the restore
	sub := filepath.Join(base, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "evil")
	if err := os.WriteFile(path, []byte("payload"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := q.Isolate(context.Background(), path, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, target string
		opts         RestoreOptions
	}{
		{"absolute symlink", victim, RestoreOptions{}},
		{"relative symlink, strict", ".", RestoreOptions{NoSymlinks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Symlink(tc.target, sub); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(sub)
			if _, err := q.Restore(context.Background(), s.ID, tc.opts); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("Restore through %s = %v, want ErrUnsafePath", tc.name, err)
			}
		})
	}
	if names := dirNames(t, victim); len(names) != 0 {
		t.Fatalf("restore escaped into %s: %v", victim, names)
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startInMountNS runs a process in a new mount namespace with a tmpfs on
// mnt holding sub/evil: a stand-in for a container whose files the host sees
// only through /proc/PID/root.
func startInMountNS(t *testing.T, mnt string) int {
	t.Helper()
	script := `set -e; mount -t tmpfs vigiltest "$1"; mkdir "$1/sub"; printf payload-in-ns > "$1/sub/evil";
chown 1234:5678 "$1/sub/evil"; chmod 4751 "$1/sub/evil"; echo ready; exec sleep 600`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", mnt)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("namespace helper: %q %v", line, err)
	}
	return cmd.Process.Pid
}

func TestIsolateRestoreInOtherMountNamespace(t *testing.T) {
	needRoot(t)
	q := openQ(t, t.TempDir(), testKey(t))
	mnt := t.TempDir()
	pid := startInMountNS(t, mnt)
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	path := root + mnt + "/sub/evil"
	if names := dirNames(t, mnt); len(names) != 0 {
		t.Fatalf("tmpfs visible on the host: %v", names)
	}
	s, err := q.Isolate(context.Background(), path, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Root != root || s.RootPath != mnt+"/sub/evil" || s.Mode&0o7777 != 0o4751 {
		t.Fatalf("sample %+v", s)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still in the namespace: %v", err)
	}
	// The "container" plants a symlink to redirect the restore onto the host.
	hostDir := t.TempDir()
	if err := os.Remove(root + mnt + "/sub"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, root+mnt+"/sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Restore through a planted symlink = %v, want ErrUnsafePath", err)
	}
	if names := dirNames(t, hostDir); len(names) != 0 {
		t.Fatalf("restore escaped to the host: %v", names)
	}
	// The same with "..": /proc/PID/root/../../etc stays refused.
	os.Remove(root + mnt + "/sub")
	if err := os.Symlink(strings.Repeat("../", 12)+strings.TrimPrefix(hostDir, "/"), root+mnt+"/sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Restore through a ../ symlink = %v, want ErrUnsafePath", err)
	}
	os.Remove(root + mnt + "/sub")
	if err := os.Mkdir(root+mnt+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(context.Background(), s.ID, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	st := statT(t, path)
	if err != nil || string(b) != "payload-in-ns" || st.Mode&0o7777 != 0o4751 || st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("restored in namespace: %q %v mode %o owner %d:%d", b, err, st.Mode&0o7777, st.Uid, st.Gid)
	}
	if names := dirNames(t, mnt); len(names) != 0 {
		t.Fatalf("restore wrote on the host side: %v", names)
	}
}

func TestIsolateKillsProcessesUsingTheFile(t *testing.T) {
	needRoot(t)
	q := openQ(t, t.TempDir(), testKey(t))
	dir := t.TempDir()
	exe := filepath.Join(dir, "evil")
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	b, err := os.ReadFile(sleepBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	runner := exec.Command(exe, "600")                                           // runs the file
	holder := exec.Command("sh", "-c", `exec 3<"$1"; exec sleep 600`, "sh", exe) // holds it open
	bystander := exec.Command("sleep", "600")
	for _, c := range []*exec.Cmd{runner, holder, bystander} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	// The holder's fd is in place once it has exec'd sleep.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(holder.Process.Pid) + "/exe")
		if strings.HasSuffix(l, "/sleep") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := q.Isolate(context.Background(), exe, Meta{KillProcesses: true})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.Killed)
	want := []int{runner.Process.Pid, holder.Process.Pid}
	slices.Sort(want)
	if !slices.Equal(s.Killed, want) || s.KillError != "" {
		t.Fatalf("killed %v (%s), want %v", s.Killed, s.KillError, want)
	}
	for _, c := range []*exec.Cmd{runner, holder} {
		err := c.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%v: %v, want SIGKILL", c.Args, err)
		}
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("bystander killed: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "quarantine.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %v %d", err, len(k1))
	}
	if st := statT(t, path); st.Mode&0o777 != 0o600 {
		t.Fatalf("key mode %o", st.Mode&0o777)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("world-readable key accepted")
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := LoadOrCreateKey(short); err == nil {
		t.Fatal("short key accepted")
	}
}

// TestBigFileBoundedMemory isolates and restores 200 MB: allocations must
// stay a few chunk buffers, not the file size.
func TestBigFileBoundedMemory(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("200 MB")
	}
	const size = 200 << 20
	q := openQ(t, t.TempDir(), testKey(t))
	path := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse first, then written through, as a dropper filling a file would.
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	block := randBytes(t, 1<<20)
	h := sha256.New()
	for off := int64(0); off < size; off += int64(len(block)) {
		block[0]++ // no two blocks alike
		if _, err := f.WriteAt(block, off); err != nil {
			t.Fatal(err)
		}
		h.Write(block)
	}
	f.Close()
	want := hex.EncodeToString(h.Sum(nil))

	measure := func(name string, fn func()) {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		start := time.Now()
		fn()
		el := time.Since(start)
		runtime.ReadMemStats(&m1)
		alloc := m1.TotalAlloc - m0.TotalAlloc
		t.Logf("%s 200 MB: %v (%.0f MB/s), allocated %d KiB, heap in use %d KiB",
			name, el.Round(time.Millisecond), float64(size)/el.Seconds()/1e6, alloc>>10, m1.HeapInuse>>10)
		if alloc > 4<<20 {
			t.Fatalf("%s allocated %d bytes for a %d-byte file: not streaming", name, alloc, size)
		}
	}
	var s Sample
	measure("isolate", func() {
		if s, err = q.Isolate(context.Background(), path, Meta{}); err != nil {
			t.Fatal(err)
		}
	})
	if s.SHA256 != want {
		t.Fatalf("sha256 %s, want %s", s.SHA256, want)
	}
	measure("restore", func() {
		if _, err = q.Restore(context.Background(), s.ID, RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	h.Reset()
	io.Copy(h, g)
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("restored sha256 %s, want %s", got, want)
	}
}
