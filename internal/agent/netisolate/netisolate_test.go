package netisolate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the probe run inside the namespace:
// VIGIL_NETISOLATE_PROBE=dial:ADDR dials ADDR, =loopback talks to itself
// over 127.0.0.1; exit status 0 means it worked.
func TestMain(m *testing.M) {
	if probe := os.Getenv("VIGIL_NETISOLATE_PROBE"); probe != "" {
		os.Exit(runProbe(probe))
	}
	os.Exit(m.Run())
}

func runProbe(probe string) int {
	if addr, ok := strings.CutPrefix(probe, "dial:"); ok {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.SetDeadline(time.Now().Add(time.Second))
		b := make([]byte, 2)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ok" {
			fmt.Fprintln(os.Stderr, "read:", err)
			return 1
		}
		return 0
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	return runProbe("dial:" + l.Addr().String())
}

func needNetAdmin(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, b := range []string{"ip", "nft", "nsenter"} {
		if _, err := lookPath(b); err != nil {
			t.Skipf("%s: %v", b, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type testNS struct {
	name     string
	hostAddr string // listener on the host end of the veth
	pid      int    // a process inside the namespace
}

// newTestNS makes a network namespace joined to the host by a veth pair,
// with a TCP listener on the host end and a sleeping process inside.
func newTestNS(t *testing.T) testNS {
	t.Helper()
	r := make([]byte, 3)
	rand.Read(r)
	id := hex.EncodeToString(r)
	ns := "vigiltest-" + id
	hostIf, nsIf := "vgh"+id, "vgc"+id
	subnet := fmt.Sprintf("10.%d.%d", 200+int(r[0])%50, r[1])
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostIf).Run() })
	run(t, "ip", "link", "set", nsIf, "netns", ns)
	run(t, "ip", "addr", "add", subnet+".1/30", "dev", hostIf)
	run(t, "ip", "link", "set", hostIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", subnet+".2/30", "dev", nsIf)
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	l, err := net.Listen("tcp", subnet+".1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()

	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	// ip netns exec execs sleep in place; wait until it has.
	want := run(t, "readlink", "/proc/self/ns/net") // host's, for comparison
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := os.Readlink("/proc/" + strconv.Itoa(sleeper.Process.Pid) + "/ns/net")
		if got != "" && got != strings.TrimSpace(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleeper never entered the namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return testNS{name: ns, hostAddr: l.Addr().String(), pid: sleeper.Process.Pid}
}

// probe runs the test binary inside the namespace; true if it got through.
func (n testNS) probe(t *testing.T, what string) bool {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", n.name, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "VIGIL_NETISOLATE_PROBE="+what)
	out, err := cmd.CombinedOutput()
	t.Logf("probe %s: %v %s", what, err, strings.TrimSpace(string(out)))
	return err == nil
}

func (n testNS) ruleset(t *testing.T) string {
	t.Helper()
	return run(t, "ip", "netns", "exec", n.name, "nft", "list", "ruleset")
}

func TestIsolateAndRestoreCutAndBringBackTheNetwork(t *testing.T) {
	needNetAdmin(t)
	ctx := context.Background()
	n := newTestNS(t)
	// Someone else's rules in the namespace (a CNI plugin's): left alone.
	run(t, "ip", "netns", "exec", n.name, "nft", "add table inet cni_test")
	hostBefore := run(t, "nft", "list", "ruleset")
	iso := New()

	dial := "dial:" + n.hostAddr
	if !n.probe(t, dial) || !n.probe(t, "loopback") {
		t.Fatal("no connectivity before isolation")
	}
	if st, err := iso.Status(ctx, n.pid); err != nil || st.Status != StatusNormal {
		t.Fatalf("Status before = %+v %v", st, err)
	}

	for range 2 { // the second Isolate changes nothing
		st, err := iso.Isolate(ctx, n.pid)
		if err != nil || st.Status != StatusIsolated || st.NetNS == 0 {
			t.Fatalf("Isolate = %+v %v", st, err)
		}
	}
	if rs := n.ruleset(t); strings.Count(rs, "table inet "+Table) != 1 || !strings.Contains(rs, "table inet cni_test") {
		t.Fatalf("ruleset after Isolate:\n%s", rs)
	}
	if n.probe(t, dial) {
		t.Fatal("isolated namespace still reaches the host")
	}
	if !n.probe(t, "loopback") {
		t.Fatal("isolation cut loopback")
	}
	if st, err := iso.Status(ctx, n.pid); err != nil || st.Status != StatusIsolated {
		t.Fatalf("Status isolated = %+v %v", st, err)
	}
	if got := run(t, "nft", "list", "ruleset"); got != hostBefore {
		t.Fatalf("host ruleset changed:\n%s", got)
	}

	for range 2 { // restoring twice is fine
		st, err := iso.Restore(ctx, n.pid)
		if err != nil || st.Status != StatusNormal {
			t.Fatalf("Restore = %+v %v", st, err)
		}
	}
	if rs := n.ruleset(t); strings.Contains(rs, Table) || !strings.Contains(rs, "table inet cni_test") {
		t.Fatalf("ruleset after Restore:\n%s", rs)
	}
	if !n.probe(t, dial) {
		t.Fatal("no connectivity after restore")
	}
	if st, err := iso.Status(ctx, n.pid); err != nil || st.Status != StatusNormal {
		t.Fatalf("Status after = %+v %v", st, err)
	}
}

func TestRefusals(t *testing.T) {
	needNetAdmin(t)
	ctx := context.Background()
	hostBefore := run(t, "nft", "list", "ruleset")
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	n := newTestNS(t)
	for _, tc := range []struct {
		name   string
		iso    *Isolator
		pid    int
		reason Reason
		err    error
	}{
		{"host netns (own pid)", New(), os.Getpid(), ReasonHostNetNS, ErrHostNetNS},
		{"exited process", New(), gone.Process.Pid, ReasonContainerNotFound, ErrContainerNotFound},
		{"invalid pid", New(), -1, ReasonContainerNotFound, ErrContainerNotFound},
		{"no nft", New(WithNft("/nonexistent/nft")), n.pid, ReasonNFTUnavailable, ErrNFTUnavailable},
		{"no nsenter", New(WithNsenter("/nonexistent/nsenter")), n.pid, ReasonNFTUnavailable, ErrNFTUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.iso.Isolate(ctx, tc.pid)
			if !errors.Is(err, tc.err) || st.Status != StatusIsolateFailed || st.Reason != tc.reason || st.Detail == "" {
				t.Fatalf("Isolate = %+v %v, want ISOLATE_FAILED %s", st, err, tc.reason)
			}
			st, err = tc.iso.Restore(ctx, tc.pid)
			if !errors.Is(err, tc.err) || st.Status != StatusRestoreFailed || st.Reason != tc.reason {
				t.Fatalf("Restore = %+v %v, want RESTORE_FAILED %s", st, err, tc.reason)
			}
		})
	}
	if got := run(t, "nft", "list", "ruleset"); got != hostBefore {
		t.Fatalf("host ruleset changed:\n%s", got)
	}
}
