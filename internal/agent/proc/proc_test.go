package proc

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestReader(t testing.TB, opts ...Option) *Reader {
	t.Helper()
	r, err := NewReader(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fileDigests(t testing.TB, p string) (string, string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, s := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(m, s), f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil))
}

// copyExe copies a system binary to dir so tests can run and delete it.
func copyExe(t testing.TB, src, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	// cp, not os.WriteFile: a writable fd of ours could leak into a child
	// forked concurrently, and exec would fail with "text file busy".
	if out, err := exec.Command("cp", src, p).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return p
}

// startProc starts a command and kills and reaps it at the end of the test.
func startProc(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// waitExec waits until pid's exe is no longer the forking parent's (the exec
// happened).
func waitExec(t testing.TB, pid int, exe string) {
	t.Helper()
	for range 200 {
		if l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && strings.TrimSuffix(l, " (deleted)") == exe {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d never ran %s", pid, exe)
}

func TestReadRunningProcess(t *testing.T) {
	dir := t.TempDir()
	exe := copyExe(t, "/bin/sleep", dir, "my sleep")
	before := time.Now().Add(-2 * time.Second)
	// Both arguments must be valid to sleep (it adds them up): with an
	// invalid one it exits at once, and the reads below race its exit.
	cmd := startProc(t, exe, "30", "0.5")
	waitExec(t, cmd.Process.Pid, exe)

	r := newTestReader(t)
	p, err := r.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	wantMD5, wantSHA := fileDigests(t, exe)
	checks := []struct {
		name      string
		got, want any
	}{
		{"PID", p.PID, cmd.Process.Pid},
		{"PPID", p.PPID, os.Getpid()},
		{"Name", p.Name, "my sleep"},
		{"Exe", p.Exe, exe},
		{"ExeDeleted", p.ExeDeleted, false},
		{"Cmdline", p.Cmdline, exe + " 30 0.5"},
		{"Argv", len(p.Argv), 3},
		{"UID", p.UID, os.Geteuid()},
		{"User", p.User, "root"},
		{"Group", p.Group, "root"},
		{"MD5", p.MD5, wantMD5},
		{"SHA256", p.SHA256, wantSHA},
		{"Kernel", p.Kernel, false},
		{"Zombie", p.Zombie, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if p.StartTime.Before(before) || p.StartTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("StartTime %v not around now", p.StartTime)
	}
	if len(p.Ancestors) == 0 || p.Ancestors[0].PID != os.Getpid() {
		t.Errorf("Ancestors %v do not start with the test process", p.Ancestors)
	}
	wantPrefix := "my sleep(" + strconv.Itoa(p.PID) + ")|"
	if !strings.HasPrefix(p.Chain, wantPrefix) {
		t.Errorf("Chain %q, want prefix %q", p.Chain, wantPrefix)
	}
	last := p.Ancestors[len(p.Ancestors)-1]
	if last.PID != 1 && last.PID != 2 {
		t.Logf("chain ends at %v (pid namespace root?)", last)
	}
}

func TestReadDeletedExe(t *testing.T) {
	dir := t.TempDir()
	exe := copyExe(t, "/bin/sleep", dir, "vanishing")
	wantMD5, _ := fileDigests(t, exe)
	cmd := startProc(t, exe, "30")
	waitExec(t, cmd.Process.Pid, exe)
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	p, err := newTestReader(t).Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExeDeleted || p.Exe != exe {
		t.Errorf("Exe %q deleted %v, want %q deleted", p.Exe, p.ExeDeleted, exe)
	}
	if p.MD5 != wantMD5 {
		t.Errorf("MD5 of deleted exe %q, want %q", p.MD5, wantMD5)
	}
}

func TestReadGoneZombieKernel(t *testing.T) {
	r := newTestReader(t)

	t.Run("gone", func(t *testing.T) {
		cmd := exec.Command("true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		_, err := r.Read(cmd.Process.Pid)
		if !IsGone(err) {
			t.Fatalf("Read of an exited pid: %v, want ErrGone", err)
		}
	})

	t.Run("zombie", func(t *testing.T) {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		pid := cmd.Process.Pid
		var p *Process
		for range 200 {
			var err error
			if p, err = r.Read(pid); err != nil {
				t.Fatal(err)
			}
			if p.Zombie {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !p.Zombie || p.Exe != "" || p.Cmdline != "" || p.MD5 != "" {
			t.Errorf("zombie read as %+v", p)
		}
	})

	t.Run("kernel thread", func(t *testing.T) {
		p, err := r.Read(2) // kthreadd
		if err != nil {
			t.Skipf("no pid 2 here: %v", err)
		}
		if !p.Kernel || p.Exe != "" || p.Cmdline != "" {
			t.Errorf("kthreadd read as %+v", p)
		}
	})
}

func TestHashCacheNeverRehashes(t *testing.T) {
	dir := t.TempDir()
	exe := copyExe(t, "/bin/sleep", dir, "cached")
	r := newTestReader(t)
	var pids []int
	for range 3 {
		cmd := startProc(t, exe, "30")
		waitExec(t, cmd.Process.Pid, exe)
		pids = append(pids, cmd.Process.Pid)
	}
	_, misses0 := r.HashCache().Stats()
	for range 2 {
		for _, pid := range pids {
			if _, err := r.Read(pid); err != nil {
				t.Fatal(err)
			}
		}
	}
	hits, misses := r.HashCache().Stats()
	if misses-misses0 != 1 || hits < 5 {
		t.Errorf("hits %d misses %d: want one hash for six reads of one binary", hits, misses-misses0)
	}

	// A different binary (another inode) is hashed once more.
	other := copyExe(t, "/bin/sleep", dir, "cached2")
	cmd := startProc(t, other, "30")
	waitExec(t, cmd.Process.Pid, other)
	if _, err := r.Read(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, m := r.HashCache().Stats(); m-misses0 != 2 {
		t.Errorf("misses %d after a second binary, want 2", m-misses0)
	}
}

func TestSweep(t *testing.T) {
	cmd := startProc(t, "sleep", "30")
	sleepPath, _ := exec.LookPath("sleep")
	waitExec(t, cmd.Process.Pid, mustEval(t, sleepPath))
	r := newTestReader(t)
	procs, err := r.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var self, child *Process
	for _, p := range procs {
		switch p.PID {
		case os.Getpid():
			self = p
		case cmd.Process.Pid:
			child = p
		}
	}
	if self == nil || child == nil {
		t.Fatalf("sweep of %d processes misses the test (%v) or its child (%v)", len(procs), self, child)
	}
	if child.Ancestors[0].PID != os.Getpid() || !strings.HasPrefix(child.Chain, "sleep(") {
		t.Errorf("child chain %q", child.Chain)
	}
	single, err := r.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if single.Chain != child.Chain {
		t.Errorf("sweep chain %q, read chain %q", child.Chain, single.Chain)
	}
}

func mustEval(t testing.TB, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		ppid  int
		state byte
		start uint64
		kern  bool
	}{
		{"1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 12 1 2 3", "systemd", 0, 'S', 12, false},
		{"99 (a) (b) c) R 7 1 1 0 -1 4194304 1 2 3 4 5 6 7 8 20 0 1 0 345 1 2", "a) (b) c", 7, 'R', 345, false},
		{"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", "kthreadd", 0, 'S', 5, true},
	}
	for _, tt := range tests {
		st, err := parseStat([]byte(tt.in))
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if st.name != tt.name || st.ppid != tt.ppid || st.state != tt.state || st.startTicks != tt.start || (st.flags&pfKthread != 0) != tt.kern {
			t.Errorf("%q parsed as %+v", tt.in, st)
		}
	}
	if _, err := parseStat([]byte("1 (x) S 0")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestSplitCmdline(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
		n    int
		trun bool
	}{
		{"bash\x00-c\x00echo hi\x00", 100, "bash -c echo hi", 3, false},
		{"", 100, "", 0, false},
		{"nginx: worker process\x00\x00\x00", 100, "nginx: worker process", 1, false},
		{"abcdef\x00ghi\x00", 8, "abcdef g", 2, true},
	}
	for _, tt := range tests {
		argv, joined, trun := splitCmdline([]byte(tt.in), tt.max)
		if joined != tt.want || len(argv) != tt.n || trun != tt.trun {
			t.Errorf("%q: %q %d %v", tt.in, joined, len(argv), trun)
		}
	}
}

func TestContainerIDFromCgroup(t *testing.T) {
	const id = "3f1a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2"
	tests := map[string]string{
		"docker-systemd-v2.txt":          id,
		"docker-cgroupfs-v1.txt":         id,
		"cri-containerd-systemd-v2.txt":  id,
		"kubepods-cgroupfs-v1.txt":       id,
		"crio-v2.txt":                    id,
		"crio-conmon-v2.txt":             "", // the monitor, not the container
		"podman-v2.txt":                  id,
		"podman-rootless-v2.txt":         id,
		"containerd-ctr-v2.txt":          "c1",
		"containerd-ctr-v1.txt":          "web-1",
		"containerd-k8sio-v2.txt":        id,
		"host-session-v2.txt":            "",
		"host-containerd-service-v2.txt": "",
		"host-init-v2.txt":               "",
		"host-root-v2.txt":               "",
		"host-sandbox-v1.txt":            "",
		"host-random-hex-v2.txt":         "",
	}
	files, _ := filepath.Glob("testdata/cgroup/*.txt")
	if len(files) != len(tests) {
		t.Errorf("%d fixtures, %d cases: keep them in step", len(files), len(tests))
	}
	for name, want := range tests {
		data, err := os.ReadFile(filepath.Join("testdata/cgroup", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := ContainerIDFromCgroup(data); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

func TestUserGroupNames(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\nbad line\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "group"), []byte("root:x:0:\nstaff:x:50:alice\n"), 0o644)
	db := newIDDB(dir)
	tests := []struct {
		uid, gid int
		u, g     string
	}{
		{0, 0, "root", "root"},
		{1000, 50, "alice", "staff"},
		{4242, 4243, "4242", "4243"},
	}
	for _, tt := range tests {
		if u, g := db.names(tt.uid, tt.gid); u != tt.u || g != tt.g {
			t.Errorf("%d/%d: %s/%s, want %s/%s", tt.uid, tt.gid, u, g, tt.u, tt.g)
		}
	}
}

func TestConnectorSeesExecs(t *testing.T) {
	c, err := ListenConnector(WithEventKinds(EventExec, EventExit))
	if err != nil {
		t.Skipf("process connector unavailable: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan Event, 4096)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(e Event) { events <- e }) }()

	want := map[int]bool{}
	for range 5 {
		cmd := exec.Command("sleep", "0.01")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		want[cmd.Process.Pid] = true
	}
	execs, exits := map[int]bool{}, map[int]bool{}
	for len(execs) < len(want) || len(exits) < len(want) {
		select {
		case e := <-events:
			if !want[e.TGID] {
				continue
			}
			switch e.Kind {
			case EventExec:
				execs[e.TGID] = true
			case EventExit:
				exits[e.TGID] = true
			case EventFork:
				t.Errorf("fork event delivered though not asked for: %+v", e)
			}
		case <-ctx.Done():
			t.Fatalf("saw execs %v exits %v of %v", execs, exits, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if st := c.Stats(); st.Events < 10 {
		t.Errorf("stats %+v", st)
	}
}

func TestReadShallowSkipsAncestors(t *testing.T) {
	r, err := NewReader()
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.ReadShallow(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.PPID != os.Getppid() || p.Exe == "" || len(p.Ancestors) != 0 || p.Chain != "" {
		t.Fatalf("shallow read: pid %d ppid %d exe %q ancestors %d chain %q", p.PID, p.PPID, p.Exe, len(p.Ancestors), p.Chain)
	}
	r.ReadAncestors(p)
	full, err := r.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ancestors) == 0 || p.Ancestors[0].PID != os.Getppid() || p.Chain != full.Chain {
		t.Errorf("after ReadAncestors: ancestors %+v chain %q, Read gives %q", p.Ancestors, p.Chain, full.Chain)
	}
}
