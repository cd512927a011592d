// Package containerdtest runs a private, real containerd (Debian's
// containerd 1.6 with runc) for tests, and real containers in it: pull an
// image from a plain-HTTP loopback registry (registrytest), run, exec, stop
// and delete containers, and lay out Kubernetes-like pods in the "k8s.io"
// namespace (a sandbox container and an app container carrying the labels
// and annotations containerd's CRI plugin writes).
//
// Each Start runs its own daemon with its own configuration, root, state,
// socket and runc root, and the CRI plugin disabled (it would listen on a
// fixed streaming port and want CNI), so test packages run in parallel and
// beside a containerd of the host. Cleanup kills every task, stops the
// daemon and unmounts what it left under its directories.
//
// Containers run on the host's cgroup tree, which is shared by every
// instance: the cgroup path of a plain container is "/<namespace>/<id>", so
// tests choose container ids unique on the host (Unique helps).
//
// Where containerd, runc or root are missing the test is skipped, except
// under CI (CI or VIGIL_REQUIRE_SERVICES set), where it fails: a test that
// cannot run must not pass silently there.
//
// The containerd Go client (github.com/containerd/containerd v1.7) is used
// rather than the ctr CLI: the agent needs that client anyway to read the
// runtime's metadata, and exec with captured output, labels, annotations,
// cgroup paths and shared network namespaces are one option each there,
// where ctr would need one flag dialect per version.
package containerdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

// Binaries the daemon needs, looked up in PATH.
var Binaries = []string{"containerd", "runc", "containerd-shim-runc-v2"}

// Options configure a daemon.
type Options struct {
	// Debug sets the daemon's log level to debug (its log is printed when
	// the test fails).
	Debug bool
}

// Containerd is a running daemon.
type Containerd struct {
	// Address is the daemon's gRPC socket.
	Address string
	// Dir holds configuration, root, state, runc root and logs.
	Dir string
	// Client is connected to the daemon.
	Client *containerd.Client

	runcRoot string
}

// Required reports whether missing services must fail tests (under CI).
func Required() bool { return registrytest.Required() }

// Start runs a containerd for the test's lifetime.
func Start(t testing.TB, o Options) *Containerd {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if Required() {
			t.Fatalf(format+" (apt-get install containerd runc; scripts/test does)", args...)
		}
		t.Skipf(format+": skipping the real-containerd test", args...)
	}
	if os.Geteuid() != 0 {
		skip("containerd tests need root")
	}
	bins := map[string]string{}
	for _, b := range Binaries {
		p, err := exec.LookPath(b)
		if err != nil {
			skip("%s not installed", b)
		}
		bins[b] = p
	}
	dir := t.TempDir()
	// The socket path must stay under the 108 bytes of sun_path, which a
	// long test name in t.TempDir() can exceed.
	sockDir, err := os.MkdirTemp("", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{Address: filepath.Join(sockDir, "c.sock"), Dir: dir, runcRoot: filepath.Join(dir, "runc")}
	level := "warn"
	if o.Debug {
		level = "debug"
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
  level = %q
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Address, c.Address+".ttrpc", level, filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins["containerd"], "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a test's terminal signals do not reach it
	// before the cleanup has stopped the containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if c.Client != nil {
				c.killAll()
				c.Client.Close()
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			killShims(c.Address)
			unmountUnder(dir)
			os.RemoveAll(sockDir)
			logf.Close()
			if t.Failed() {
				if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
					t.Logf("containerd log:\n%s", tail(b, 6000))
				}
			}
		})
	}
	t.Cleanup(stop)

	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(c.Address); err == nil {
			cl, err := containerd.New(c.Address, containerd.WithTimeout(5*time.Second))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = cl.Version(ctx)
				cancel()
				if err == nil {
					c.Client = cl
					break
				}
				cl.Close()
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd exited at start:\n%s", tail(b, 6000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s within 20s", c.Address)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// Context returns a context in namespace ns, cancelled at the end of the
// test.
func Context(t testing.TB, ns string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return namespaces.WithNamespace(ctx, ns)
}

// Pull fetches ref into namespace ns and unpacks it for running. Loopback
// registries are spoken to over plain HTTP.
func (c *Containerd) Pull(t testing.TB, ns, ref string) containerd.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	img, err := c.Client.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithResolver(resolver))
	if err != nil {
		t.Fatalf("pull %s into %s: %v", ref, ns, err)
	}
	return img
}

// killAll kills and deletes every task and container of every namespace, so
// their shims exit and their mounts go away before the daemon stops.
func (c *Containerd) killAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := c.Client.NamespaceService().List(ctx)
	if err != nil {
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Client.Containers(nctx)
		if err != nil {
			continue
		}
		for _, ctr := range ctrs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				task.Kill(nctx, syscall.SIGKILL, containerd.WithKillAll)
				if ch, err := task.Wait(nctx); err == nil {
					select {
					case <-ch:
					case <-time.After(5 * time.Second):
					}
				}
				task.Delete(nctx, containerd.WithProcessKill)
			}
			ctr.Delete(nctx, containerd.WithSnapshotCleanup)
		}
	}
}

// killShims kills shims still serving the daemon at address (they outlive a
// daemon that died with tasks running). Only shims started for this daemon
// name its address on their command line.
func killShims(address string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for _, a := range args {
			if a == address {
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		unix.Unmount(points[i], unix.MNT_DETACH)
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space…).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// Unique returns prefix followed by a random suffix: container ids name
// host-wide cgroups, so concurrent tests must not reuse them.
func Unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// HexID returns a random 64-digit hex id, as Docker and CRI make.
func HexID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runcOptions points the shim's runc at this daemon's own state directory:
// runc's default root (/run/containerd/runc/<ns>) is shared by every daemon
// of the host.
func (c *Containerd) runcOptions() *runcoptions.Options {
	return &runcoptions.Options{Root: c.runcRoot}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
