package procjudge

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
)

// sleeperEnv makes the test binary a benign program that ignores its
// arguments and sleeps: the stand-in for a miner or scanner with a
// suspicious command line.
const sleeperEnv = "VIGIL_PROCJUDGE_SLEEPER"

func TestMain(m *testing.M) {
	if os.Getenv(sleeperEnv) == "1" {
		time.Sleep(2 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newJudge(t testing.TB) (*proc.Reader, *Judge) {
	t.Helper()
	r, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := standard.Options(standard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(context.Background(), append(opts, engine.WithCache(engine.NewCache(0)))...)
	if err != nil {
		t.Fatal(err)
	}
	return r, New(r, WithEngine(e))
}

// copySelf copies the test binary into dir as name.
func copySelf(t testing.TB, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	// cp, not os.WriteFile: a writable fd of ours could leak into a child
	// forked concurrently, and exec would fail with "text file busy".
	if out, err := exec.Command("cp", self, p).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return p
}

func shmDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "vigil-procjudge-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startSleeper runs exe (a copy of the test binary) with argv and waits
// until it has executed.
func startSleeper(t testing.TB, exe string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), sleeperEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitExe(t, cmd.Process.Pid, exe)
	return cmd
}

func waitExe(t testing.TB, pid int, exe string) {
	t.Helper()
	for range 400 {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		if err == nil && strings.TrimSuffix(l, " (deleted)") == exe {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d never ran %s", pid, exe)
}

func byName(ds []Detection) map[string]Detection {
	m := map[string]Detection{}
	for _, d := range ds {
		m[d.VirusName] = d
	}
	return m
}

func TestJudgeRealProcesses(t *testing.T) {
	r, j := newJudge(t)
	shm := shmDir(t)
	exe := copySelf(t, shm, "x")
	ctx := context.Background()

	tests := []struct {
		name string
		argv string
		want []string
	}{
		{"miner", unveil("/dev/shm/x --do~nate-level 1 -o st~ratum+tcp://pool.example:3333 -u wallet"),
			[]string{ExecFromTmp, MinerCmdLine, "Linux.Suspicious.ShmExecutable"}},
		{"scanner", "./x -h 10.10.1.1/24 -m ssh -nopoc -t 200 -o ssh.txt",
			[]string{ExecFromTmp, IntranetScanner}},
		{"masquerade", "[kworker/0:7]", []string{KernelThreadMasquerade}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := startSleeper(t, exe, strings.Fields(tt.argv)...)
			p, err := r.Read(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := j.Judge(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got := byName(ds)
			for _, w := range tt.want {
				d, ok := got[w]
				if !ok {
					t.Errorf("%s missing; got %v", w, keys(got))
					continue
				}
				if d.PID != cmd.Process.Pid || d.Exe != exe || d.Cmdline != tt.argv || d.ExeMD5 == "" || len(d.ExeSHA256) != 64 ||
					d.StartTime.IsZero() || d.User != "root" || d.Desc.ZH == "" || d.Desc.EN == "" || d.Solution.EN == "" || len(d.Tags) == 0 {
					t.Errorf("%s: incomplete detection %+v", w, d)
				}
				if d.CheckPlatform != engine.PlatformBehavior {
					t.Errorf("%s: CheckPlatform %q", w, d.CheckPlatform)
				}
				wantKey := strconv.FormatUint(p.StartTicks, 10) + ":" + strconv.Itoa(p.PID) + ":" + w
				if d.Key() != wantKey {
					t.Errorf("Key %q, want %q", d.Key(), wantKey)
				}
				ev := d.Event("host-1", MethodRealTime, time.Now())
				if ev.PID != int64(p.PID) || ev.ExePath != exe || ev.VirusName != w || ev.ExeMD5 != p.MD5 ||
					ev.CheckPlatform[0] != "4" || ev.FirstDetectionMethod != 1 || !ev.ProcessStartTime.Equal(p.StartTime) {
					t.Errorf("Event %+v", ev)
				}
			}
		})
	}
}

func keys(m map[string]Detection) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestJudgeDeletedExe(t *testing.T) {
	r, j := newJudge(t)
	dir, err := os.MkdirTemp("/var/lib", "vigil-procjudge-") // not a temp directory: only DeletedExe may fire
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(dir)
	exe := copySelf(t, dir, "daemon")
	cmd := startSleeper(t, exe, exe, "--serve")
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	p, err := r.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := j.Judge(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := byName(ds); len(got) != 1 || got[DeletedExe].ExeMD5 == "" || !got[DeletedExe].ExeDeleted {
		t.Errorf("got %+v, want one %s with digests", ds, DeletedExe)
	}
}

func TestJudgeShellOnTCPSocket(t *testing.T) {
	r, j := newJudge(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(30 * time.Second)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command(bash, "--norc", "--noprofile")
	cmd.Stdin, cmd.Stdout = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	real, _ := filepath.EvalSymlinks(bash)
	waitExe(t, cmd.Process.Pid, real)
	p, err := r.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := j.Judge(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := byName(ds)[ReverseShell]; !ok {
		t.Errorf("bash on a TCP socket: got %+v, want %s", ds, ReverseShell)
	}

	// The same shell on pipes is an ordinary shell.
	cmd2 := exec.Command(bash, "--norc", "--noprofile")
	stdin, _ := cmd2.StdinPipe()
	defer stdin.Close()
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd2.Process.Kill(); cmd2.Wait() }()
	waitExe(t, cmd2.Process.Pid, real)
	p2, err := r.Read(cmd2.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if ds, _ := j.Judge(context.Background(), p2); len(ds) != 0 {
		t.Errorf("bash on pipes: %+v", ds)
	}
}

// TestSweepOwnMachineIsClean judges every process of the machine running the
// tests, with the engine: an ordinary machine must raise nothing.
func TestSweepOwnMachineIsClean(t *testing.T) {
	r, j := newJudge(t)
	procs, err := r.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) < 3 {
		t.Fatalf("sweep found %d processes", len(procs))
	}
	for _, p := range procs {
		ds, err := j.Judge(context.Background(), p)
		if err != nil {
			t.Logf("pid %d %s: %v", p.PID, p.Exe, err)
		}
		for _, d := range ds {
			// This machine is shared with other developers' work, which
			// builds programs straight into /tmp (go test -c -o /tmp/x.test):
			// the rule is right to flag them, but they are not this
			// machine's own processes. Everything else fails the test.
			if d.VirusName == ExecFromTmp && (strings.HasPrefix(d.Exe, "/tmp/") || strings.HasPrefix(d.Exe, "/var/tmp/")) &&
				os.Getenv("VIGIL_STRICT_CLEAN") == "" {
				t.Logf("tolerated on a shared machine: pid %d (%s): %s", p.PID, p.Exe, d.Reason)
				continue
			}
			t.Errorf("false positive on pid %d (%s, %q): %s — %s", p.PID, p.Exe, p.Cmdline, d.VirusName, d.Reason)
		}
	}
	t.Logf("judged %d processes", len(procs))
}

// TestReadHook: the hook sees the executable the engine reads, with its
// size, once per read.
func TestReadHook(t *testing.T) {
	r, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := standard.Options(standard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(context.Background(), append(opts, engine.WithCache(engine.NewCache(0)))...)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	j := New(r, WithEngine(e), WithReadHook(func(size int64) { sizes = append(sizes, size) }))
	exe := copySelf(t, t.TempDir(), "daemon")
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	cmd := startSleeper(t, exe, exe, "--serve")
	p, err := r.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Judge(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 1 || sizes[0] != fi.Size() {
		t.Errorf("hook saw sizes %v, want once %d", sizes, fi.Size())
	}
}
