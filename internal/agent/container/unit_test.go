package container

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestWorkload(t *testing.T) {
	tests := []struct {
		name     string
		pod      string
		labels   map[string]string
		ann      map[string]string
		kind, wl string
	}{
		{"deployment by hash label", "web-5d8f7c9b6d-x2k4p", map[string]string{"pod-template-hash": "5d8f7c9b6d"}, nil, WorkloadDeployment, "web"},
		{"bare replicaset", "rs1-x2k4p", map[string]string{"pod-template-hash": "abc"}, nil, WorkloadReplicaSet, "rs1"},
		{"statefulset", "db-2", map[string]string{"statefulset.kubernetes.io/pod-name": "db-2", "controller-revision-hash": "db-7f"}, nil, WorkloadStatefulSet, "db"},
		{"daemonset", "node-exporter-x7kq2", map[string]string{"controller-revision-hash": "6b9f", "pod-template-generation": "1"}, nil, WorkloadDaemonSet, "node-exporter"},
		{"job", "migrate-x7kq2", map[string]string{"batch.kubernetes.io/job-name": "migrate"}, nil, WorkloadJob, "migrate"},
		{"old job label", "migrate-x7kq2", map[string]string{"job-name": "migrate"}, nil, WorkloadJob, "migrate"},
		{"cronjob", "backup-28500480-x7kq2", map[string]string{"job-name": "backup-28500480"}, nil, WorkloadCronJob, "backup"},
		{"static pod", "kube-apiserver-node1", nil, map[string]string{"kubernetes.io/config.mirror": "abc"}, WorkloadPod, "kube-apiserver-node1"},
		{"deployment by name only", "api-7c9b6d5f48-zq2wx", nil, nil, WorkloadDeployment, "api"},
		{"bare pod", "debug", nil, nil, WorkloadPod, "debug"},
		{"not a pod", "", nil, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, wl := Workload(tt.pod, tt.labels, tt.ann)
			if kind != tt.kind || wl != tt.wl {
				t.Fatalf("Workload(%q) = %q %q, want %q %q", tt.pod, kind, wl, tt.kind, tt.wl)
			}
		})
	}
}

func TestSandboxIP(t *testing.T) {
	v := `{"Version":"v1","Metadata":{"ID":"x","Name":"n","Config":{},"NetNSPath":"/var/run/netns/cni-1","IP":"10.1.2.3","AdditionalIPs":["fd00::3"]}}`
	if got := sandboxIP([]byte(v)); got != "10.1.2.3" {
		t.Fatalf("sandboxIP = %q", got)
	}
	if got := sandboxIP([]byte("not json")); got != "" {
		t.Fatalf("sandboxIP(garbage) = %q", got)
	}
}

func TestNetnsAddrs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "42", "net")
	os.MkdirAll(dir, 0o755)
	fib := `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 10.244.1.0/24 2 0 2
           |-- 10.244.1.0
              /24 link UNICAST
           |-- 10.244.1.7
              /32 host LOCAL
        |-- 10.244.1.255
           /32 link BROADCAST
Local:
     +-- 10.244.1.0/24 2 0 2
           |-- 10.244.1.7
              /32 host LOCAL
`
	inet6 := "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 04 40 00 82     eth0\n"
	os.WriteFile(filepath.Join(dir, "fib_trie"), []byte(fib), 0o644)
	os.WriteFile(filepath.Join(dir, "if_inet6"), []byte(inet6), 0o644)
	if got := netnsAddrs(root, 42); !slices.Equal(got, []string{"10.244.1.7", "fd00::2"}) {
		t.Fatalf("netnsAddrs = %v", got)
	}
	if got := netnsAddrs(root, 43); got != nil {
		t.Fatalf("missing pid: %v", got)
	}
	if a := ifInet6([]byte(inet6)); len(a) != 1 || a[0] != netip.MustParseAddr("fd00::2") {
		t.Fatalf("ifInet6 = %v", a)
	}
}

func TestDescribeNode(t *testing.T) {
	mid := filepath.Join(t.TempDir(), "machine-id")
	os.WriteFile(mid, []byte("0123456789abcdef0123456789abcdef\n"), 0o444)
	a := DescribeNode(WithMachineIDFiles(mid), WithCluster("cls-1", "prod"))
	b := DescribeNode(WithMachineIDFiles(mid))
	if a.ID == "" || a.ID != b.ID || len(a.ID) != 32 || a.ClusterID != "cls-1" || a.ClusterName != "prod" || a.HostName == "" {
		t.Fatalf("node = %+v / %+v", a, b)
	}
	if c := DescribeNode(WithMachineIDFiles(filepath.Join(t.TempDir(), "none"))); c.ID == a.ID || c.ID == "" {
		t.Fatalf("without machine id: %+v", c)
	}
	for _, ip := range a.IPs {
		if addr, err := netip.ParseAddr(ip); err != nil || addr.IsLoopback() {
			t.Fatalf("IPs = %v", a.IPs)
		}
	}
}

// fakeSource is a runtime whose containers the test sets.
type fakeSource struct {
	mu    sync.Mutex
	infos map[string]*Info
	calls int
	err   error
}

func (f *fakeSource) name() string    { return "fake" }
func (f *fakeSource) available() bool { return true }
func (f *fakeSource) close() error    { return nil }
func (f *fakeSource) lookup(_ context.Context, id string) (*Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if in, ok := f.infos[id]; ok {
		return in.clone(), nil
	}
	return nil, ErrNotFound
}
func (f *fakeSource) listRunning(context.Context) ([]*Info, error) { return nil, nil }

func TestCache(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	src := &fakeSource{infos: map[string]*Info{"c1": {ID: "c1", Name: "app", Image: "img:1", Status: StatusRunning, PID: 7}}}
	r := New(WithContainerdSocket(""), WithDockerSocket(""), WithClock(clock),
		WithTTL(10*time.Second, 5*time.Second), WithExitedRetention(time.Hour))
	r.sources = []source{src}
	ctx := context.Background()
	resolve := func(id string) (*Info, error) { return r.Resolve(ctx, id) }

	steps := []struct {
		name      string
		advance   time.Duration
		mutate    func()
		id        string
		wantErr   error
		wantStat  Status
		exited    bool
		wantCalls int
	}{
		{"first lookup asks", 0, nil, "c1", nil, StatusRunning, false, 1},
		{"positive cached", 9 * time.Second, nil, "c1", nil, StatusRunning, false, 1},
		{"positive expired", 2 * time.Second, func() { src.infos["c1"].Status = StatusStopped }, "c1", nil, StatusStopped, false, 2},
		{"gone: remembered", 11 * time.Second, func() { delete(src.infos, "c1") }, "c1", nil, StatusDestroyed, true, 3},
		{"gone: cached for the negative ttl", 4 * time.Second, nil, "c1", nil, StatusDestroyed, true, 3},
		{"gone: asked again", 2 * time.Second, nil, "c1", nil, StatusDestroyed, true, 4},
		{"past retention", time.Hour, nil, "c1", ErrNotFound, "", false, 5},
		{"negative cached", time.Second, nil, "c1", ErrNotFound, "", false, 5},
		{"negative expired, back", 5 * time.Second, func() { src.infos["c1"] = &Info{ID: "c1", Name: "app", Status: StatusRunning} }, "c1", nil, StatusRunning, false, 6},
		{"runtime error keeps the remembered", 11 * time.Second, func() { src.err = errors.New("unavailable") }, "c1", nil, StatusRunning, false, 7},
		{"runtime error, unknown id", 0, nil, "c2", src.err, "", false, 8},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.mutate != nil {
			src.mu.Lock()
			s.mutate()
			src.mu.Unlock()
		}
		if s.name == "runtime error, unknown id" {
			s.wantErr = src.err
		}
		in, err := resolve(s.id)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: err %v, want %v", s.name, err, s.wantErr)
			}
		} else if err != nil || in.Status != s.wantStat || in.Exited != s.exited || in.Name != "app" {
			t.Fatalf("%s: %+v, %v", s.name, in, err)
		}
		if src.calls != s.wantCalls {
			t.Fatalf("%s: %d runtime calls, want %d", s.name, src.calls, s.wantCalls)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	src := &fakeSource{infos: map[string]*Info{}}
	r := New(WithContainerdSocket(""), WithDockerSocket(""), WithMaxEntries(100))
	r.sources = []source{src}
	for i := range 1000 {
		r.Resolve(context.Background(), "id"+strconv.Itoa(i))
	}
	if n := len(r.cache); n > 100 {
		t.Fatalf("cache holds %d entries, bound 100", n)
	}
}
