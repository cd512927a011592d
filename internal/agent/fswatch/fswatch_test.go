package fswatch_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agent/fswatch"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, fanotify)")
	}
}

// mountOverlay mounts an overlay like a container's root filesystem
// (lower = image layer, upper = the container's writable layer) and returns
// the merged directory and the upper directory. upperRel names the upper
// directory below the temporary directory (Discover matches runtime paths).
func mountOverlay(t testing.TB, upperRel string) (merged, upper string) {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	lower := filepath.Join(dir, "lower")
	upper = filepath.Join(dir, upperRel)
	work := filepath.Join(filepath.Dir(upper), "work")
	merged = filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "image-file"), []byte("from the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("overlay mount: %v", err)
	}
	t.Cleanup(func() { unmount(merged) })
	return merged, upper
}

func mountTmpfs(t testing.TB) string {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("tmpfs mount: %v", err)
	}
	t.Cleanup(func() { unmount(dir) })
	return dir
}

func unmount(p string) {
	if unix.Unmount(p, 0) != nil {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// got is a delivered event with the first bytes read through its descriptor.
type got struct {
	fswatch.Event
	content string
}

type collector struct {
	mu     sync.Mutex
	evs    []got
	notify chan struct{}
	block  chan struct{} // when non-nil, handlers wait on it (a slow consumer)
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) handle(ctx context.Context, ev fswatch.Event) {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
		}
	}
	g := got{Event: ev}
	if ev.File != nil {
		b, _ := io.ReadAll(io.LimitReader(ev.File, 4096))
		g.content = string(b)
	}
	g.File = nil
	c.mu.Lock()
	c.evs = append(c.evs, g)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) all() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.evs...)
}

// wait returns the first event matching match, failing after timeout.
func (c *collector) wait(t *testing.T, timeout time.Duration, what string, match func(got) bool) got {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, g := range c.all() {
			if match(g) {
				return g
			}
		}
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("no event for %s within %v; got %s", what, timeout, describe(c.all()))
		}
	}
}

func describe(evs []got) string {
	var b strings.Builder
	for i, g := range evs {
		if i == 20 {
			b.WriteString(" …")
			break
		}
		b.WriteString(" [" + g.Kind.String() + " " + g.Path + "]")
	}
	return b.String()
}

func pathIs(p string) func(got) bool { return func(g got) bool { return g.Path == p } }

// start runs w until the test ends.
func start(t *testing.T, w *fswatch.Watcher, c *collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.handle) }()
	t.Cleanup(func() {
		cancel()
		if c.block != nil {
			select {
			case <-c.block:
			default:
				close(c.block)
			}
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.Close()
	})
}

// sh runs a shell command in a child process (the watcher ignores its own
// process's writes) and returns the child's pid.
func sh(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return cmd.Process.Pid
}

func newWatcher(t *testing.T, opts ...fswatch.Option) *fswatch.Watcher {
	t.Helper()
	w, err := fswatch.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestFanotifyWriteExecOwn(t *testing.T) {
	merged, _ := mountOverlay(t, "upper")
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify))
	if w.Mode() != fswatch.ModeFanotify {
		t.Fatalf("mode %v", w.Mode())
	}
	if err := w.AddMount(merged); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)

	// Written by another process: delivered with its pid, path and content.
	a := filepath.Join(merged, "etc", "a.conf")
	pid := sh(t, "mkdir -p "+merged+"/etc && printf 'hello world' > "+a)
	g := c.wait(t, 2*time.Second, "write of a.conf", pathIs(a))
	if g.Kind != fswatch.KindWrite || g.PID != pid || g.ContainerPath != "/etc/a.conf" || g.Root != merged {
		t.Errorf("event %+v, want write by pid %d at /etc/a.conf", g.Event, pid)
	}
	if g.content != "hello world" || g.Stat.Size != 11 || g.Stat.Mode.Perm() == 0 || g.Stat.Ino == 0 || g.Stat.Mtime.IsZero() {
		t.Errorf("content %q stat %+v", g.content, g.Stat)
	}

	// Written by this process: ignored. Then run by a child: an exec event
	// with the child's pid.
	bin := filepath.Join(merged, "true")
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(merged, "own.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	g = c.wait(t, 2*time.Second, "exec of true", pathIs(bin))
	if g.Kind != fswatch.KindExec || g.PID != cmd.Process.Pid || g.ContainerPath != "/true" {
		t.Errorf("event %+v, want exec by pid %d", g.Event, cmd.Process.Pid)
	}
	if !strings.HasPrefix(g.content, "\x7fELF") {
		t.Errorf("exec content %q", g.content[:min(4, len(g.content))])
	}
	// The own write was read before the exec event: it must not be there.
	sh(t, "echo sentinel > "+merged+"/sentinel")
	c.wait(t, 2*time.Second, "sentinel", pathIs(merged+"/sentinel"))
	for _, g := range c.all() {
		if g.Path == filepath.Join(merged, "own.txt") || g.Path == bin && g.Kind&fswatch.KindWrite != 0 {
			t.Errorf("own write delivered: %+v", g.Event)
		}
	}
	if s := w.Stats(); s.Ignored < 2 || s.Delivered < 3 {
		t.Errorf("stats %+v", s)
	}
}

// A write made inside a container's own mount namespace, through its own
// copy of the rootfs mount after pivot_root, is seen by the one filesystem
// mark and reported with its in-container path.
func TestFanotifyContainerNamespace(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	merged, _ := mountOverlay(t, "upper")
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify))
	if err := w.AddMount(merged); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	if err := os.Mkdir(filepath.Join(merged, ".oldroot"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Only shell builtins after pivot_root: the rootfs has no programs.
	sh(t, "unshare -m --propagation private sh -c 'cd "+merged+" && pivot_root . .oldroot && cd / && echo evil > /dropper'")
	g := c.wait(t, 2*time.Second, "in-container write", func(g got) bool { return g.ContainerPath == "/dropper" })
	if g.Path != filepath.Join(merged, "dropper") || g.content != "evil\n" || g.PID == 0 {
		t.Errorf("event %+v content %q", g.Event, g.content)
	}
}

func TestFanotifyBurstCoalesced(t *testing.T) {
	dir := mountTmpfs(t)
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify), fswatch.WithSettle(100*time.Millisecond, 2*time.Second))
	if err := w.AddMount(dir); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	f := filepath.Join(dir, "log")
	// Each iteration is a separate process closing the file after writing
	// (distinct pids: the kernel cannot merge these events itself).
	sh(t, "for i in $(seq 1 40); do /bin/sh -c \"echo $i > "+f+"\"; done")
	g := c.wait(t, 3*time.Second, "burst file", pathIs(f))
	time.Sleep(300 * time.Millisecond)
	n := 0
	for _, e := range c.all() {
		if e.Path == f {
			n++
		}
	}
	// The loop may straddle a settle period on a loaded machine: a few
	// deliveries are fine, forty are not.
	if n > 3 || g.content == "" {
		t.Errorf("%d deliveries for 40 writes (content %q)", n, g.content)
	}
	if s := w.Stats(); s.Coalesced == 0 {
		t.Errorf("nothing coalesced: %+v", s)
	}
}

// Shedding: with a tiny coalescing table and queue and a stalled consumer,
// notifications are dropped; the catch-up rescan still delivers every file
// written, the planted one included.
func TestShedAndRescan(t *testing.T) {
	merged, _ := mountOverlay(t, "upper")
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify), fswatch.WithPendingSize(2), fswatch.WithQueueSize(1),
		fswatch.WithWorkers(1), fswatch.WithSettle(time.Millisecond, time.Millisecond), fswatch.WithRescanDelay(50*time.Millisecond))
	if err := w.AddMount(merged); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	c.block = make(chan struct{})
	start(t, w, c)
	sh(t, "mkdir "+merged+"/spool && for i in $(seq 1 200); do echo $i > "+merged+"/spool/f$i; done && printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$VIGIL-TEST-MARKER' > "+merged+"/spool/planted.bin")
	time.Sleep(200 * time.Millisecond)
	close(c.block)
	c.wait(t, 5*time.Second, "planted file", pathIs(merged+"/spool/planted.bin"))
	for i := 1; i <= 200; i++ {
		p := filepath.Join(merged, "spool", "f"+strconv.Itoa(i))
		c.wait(t, 5*time.Second, p, pathIs(p))
	}
	s := w.Stats()
	if s.Dropped == 0 || s.Rescans == 0 || s.Rescanned == 0 {
		t.Errorf("expected shedding and a rescan: %+v", s)
	}
	t.Logf("stats %+v", s)
}

func TestRemoveMountReleasesFilesystem(t *testing.T) {
	merged, _ := mountOverlay(t, "upper")
	// A long settle: the written file is still held (open descriptor) when
	// the mount is removed.
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify), fswatch.WithSettle(5*time.Second, 5*time.Second))
	if err := w.AddMount(merged); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	sh(t, "echo x > "+merged+"/held")
	time.Sleep(100 * time.Millisecond)
	if err := w.RemoveMount(merged); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 50 { // the reader closes what it holds within a poll period
		if err = unix.Unmount(merged, 0); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("unmount after RemoveMount: %v", err)
	}
	if len(w.Mounts()) != 0 || len(c.all()) != 0 {
		t.Errorf("mounts %v events %s", w.Mounts(), describe(c.all()))
	}
	if err := w.RemoveMount(merged); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

func TestFanotifyOptions(t *testing.T) {
	dir := mountTmpfs(t)
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeFanotify), fswatch.WithMaxSize(100), fswatch.WithIgnorePaths(dir+"/agent-data"))
	if err := w.AddMount(t.TempDir()); !errors.Is(err, fswatch.ErrNotMountPoint) {
		t.Errorf("plain directory: %v, want ErrNotMountPoint", err)
	}
	if err := w.AddMount(dir); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	sh(t, "mkdir "+dir+"/agent-data && echo x > "+dir+"/agent-data/state && head -c 1000 /dev/zero > "+dir+"/big && echo s > "+dir+"/sentinel")
	big := c.wait(t, 2*time.Second, "big file", pathIs(dir+"/big"))
	if !big.TooLarge || big.content != "" || big.Stat.Size != 1000 {
		t.Errorf("big: %+v", big.Event)
	}
	c.wait(t, 2*time.Second, "sentinel", pathIs(dir+"/sentinel"))
	for _, g := range c.all() {
		if strings.Contains(g.Path, "agent-data") {
			t.Errorf("ignored path delivered: %s", g.Path)
		}
	}
}

func TestInotifyFallback(t *testing.T) {
	dir := t.TempDir()
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeInotify))
	if w.Mode() != fswatch.ModeInotify {
		t.Fatalf("mode %v", w.Mode())
	}
	if err := os.MkdirAll(filepath.Join(dir, "pre", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.AddMount(dir); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	sh(t, "echo one > "+dir+"/pre/deep/a && mkdir -p "+dir+"/new/sub && echo two > "+dir+"/new/sub/b && echo three > "+dir+"/tmp.x && mv "+dir+"/tmp.x "+dir+"/moved")
	for _, p := range []string{"/pre/deep/a", "/new/sub/b", "/moved"} {
		g := c.wait(t, 2*time.Second, p, pathIs(dir+p))
		if g.Kind != fswatch.KindWrite || g.PID != 0 || g.ContainerPath != p || g.content == "" {
			t.Errorf("%s: %+v %q", p, g.Event, g.content)
		}
	}
	if s := w.Stats(); s.Watches < 5 || s.Mode != fswatch.ModeInotify {
		t.Errorf("stats %+v", s)
	}
	if err := w.RemoveMount(dir); err != nil || w.Stats().Watches != 0 {
		t.Errorf("remove: %v, %d watches left", err, w.Stats().Watches)
	}
}

// Beyond the watch cap the rest of the tree is covered by periodic rescans.
func TestInotifyWatchCap(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b", "c"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	w := newWatcher(t, fswatch.WithMode(fswatch.ModeInotify), fswatch.WithMaxWatches(1), fswatch.WithInterval(200*time.Millisecond))
	if err := w.AddMount(dir); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	sh(t, "echo x > "+dir+"/c/late")
	g := c.wait(t, 3*time.Second, "file beyond the cap", pathIs(dir+"/c/late"))
	if g.Kind != fswatch.KindRescan || !w.Stats().WatchCap {
		t.Errorf("%+v %+v", g.Event, w.Stats())
	}
}

func TestPeriodic(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "old"), old, old)
	time.Sleep(10 * time.Millisecond)
	w := newWatcher(t, fswatch.WithMode(fswatch.ModePeriodic), fswatch.WithInterval(200*time.Millisecond), fswatch.WithTimestampSlack(0))
	if err := w.AddMount(dir); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	start(t, w, c)
	sh(t, "echo new > "+dir+"/new")
	g := c.wait(t, 3*time.Second, "new file", pathIs(dir+"/new"))
	if g.Kind != fswatch.KindRescan || g.content != "new\n" {
		t.Errorf("%+v", g.Event)
	}
	time.Sleep(300 * time.Millisecond)
	for _, g := range c.all() {
		if g.Path == dir+"/old" {
			t.Errorf("file changed before the watcher started delivered: %+v", g.Event)
		}
	}
}
