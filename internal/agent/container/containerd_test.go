package container_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/container"
	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/testutil/containerdtest"
	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

// TestContainerdReal runs real containers in a private containerd: a plain
// one in "default" and a Kubernetes-like pod in "k8s.io", and checks what
// the agent sees of them from a process's pid to the runtime's metadata.
func TestContainerdReal(t *testing.T) {
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	reg := registrytest.Start(t, registrytest.Options{})
	ref := containerdtest.PushBusybox(t, reg.Host, "vigil/busybox:1")
	ctx := context.Background()

	name := containerdtest.Unique("web")
	plain := ctrd.Run(t, "default", name, ref, "sleep", "600")
	plain.Exec(t, "sh", "-c", "echo planted > /tmp/sample.txt")
	pod := ctrd.RunPod(t, containerdtest.PodSpec{
		PodName: "shop-api-5d8f7c9b6d-x2k4p", PodNamespace: "shop", ContainerName: "api", Image: ref,
		PodLabels: map[string]string{"app": "shop-api", "pod-template-hash": "5d8f7c9b6d"}, IP: "10.88.3.4",
	})

	// Zero TTLs: every lookup asks containerd, so status changes show at once.
	r := container.New(container.WithContainerdSocket(ctrd.Address), container.WithDockerSocket(""),
		container.WithTTL(0, 0))
	defer r.Close()
	if got := r.Runtimes(); !slices.Equal(got, []string{container.RuntimeContainerd}) {
		t.Fatalf("Runtimes = %v", got)
	}
	pr, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}

	// From a process in the plain container to its metadata.
	p, err := pr.Read(plain.PID)
	if err != nil {
		t.Fatal(err)
	}
	if p.ContainerID != name {
		t.Fatalf("proc ContainerID = %q, want %q", p.ContainerID, name)
	}
	info, err := r.Resolve(ctx, p.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != name || info.Namespace != "default" || info.Runtime != container.RuntimeContainerd ||
		info.Image != ref || info.Status != container.StatusRunning || info.PID != plain.PID || info.Exited {
		t.Fatalf("plain container = %+v", info)
	}
	if !strings.HasPrefix(info.ImageID, "sha256:") || !strings.HasPrefix(info.ImageDigest, "sha256:") || info.ImageID == info.ImageDigest {
		t.Fatalf("image id %q, digest %q: want a config and a manifest digest", info.ImageID, info.ImageDigest)
	}
	if time.Since(info.Created) > time.Minute || info.PodName != "" || info.WorkloadType != "" {
		t.Fatalf("created %v, pod %q, workload %q", info.Created, info.PodName, info.WorkloadType)
	}
	if b, err := os.ReadFile(info.RootFS + "/tmp/sample.txt"); err != nil || string(b) != "planted\n" {
		t.Fatalf("RootFS %s: sample = %q, %v", info.RootFS, b, err)
	}

	// The pod's app container: CRI-style 64-digit id in a kubepods cgroup.
	p, err = pr.Read(pod.Container.PID)
	if err != nil {
		t.Fatal(err)
	}
	if p.ContainerID != pod.Container.ID {
		t.Fatalf("proc ContainerID = %q, want %q", p.ContainerID, pod.Container.ID)
	}
	info, err = r.Resolve(ctx, p.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	want := container.Info{Name: "api", Namespace: "k8s.io", PodName: "shop-api-5d8f7c9b6d-x2k4p", PodNamespace: "shop",
		PodUID: pod.UID, PodIP: "10.88.3.4", SandboxID: pod.Sandbox.ID, WorkloadType: container.WorkloadDeployment,
		WorkloadName: "shop-api", Status: container.StatusRunning}
	got := container.Info{Name: info.Name, Namespace: info.Namespace, PodName: info.PodName, PodNamespace: info.PodNamespace,
		PodUID: info.PodUID, PodIP: info.PodIP, SandboxID: info.SandboxID, WorkloadType: info.WorkloadType,
		WorkloadName: info.WorkloadName, Status: info.Status}
	if got.Name != want.Name || got.Namespace != want.Namespace || got.PodName != want.PodName ||
		got.PodNamespace != want.PodNamespace || got.PodUID != want.PodUID || got.PodIP != want.PodIP ||
		got.SandboxID != want.SandboxID || got.WorkloadType != want.WorkloadType || got.WorkloadName != want.WorkloadName ||
		got.Status != want.Status {
		t.Fatalf("pod container:\n got %+v\nwant %+v", got, want)
	}

	// List: the three running containers (plain, sandbox, app) with pids.
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, in := range list {
		pids[in.ID] = in.PID
	}
	for _, k := range []*containerdtest.Container{plain, pod.Sandbox, pod.Container} {
		if pids[k.ID] != k.PID {
			t.Errorf("List: %s pid %d, want %d (list %v)", k.ID, pids[k.ID], k.PID, pids)
		}
	}

	// Stopped, then deleted: still answered, from the cache at the end.
	plain.Stop(t)
	if info, err = r.Resolve(ctx, name); err != nil || info.Status != container.StatusStopped || info.PID != 0 || info.Exited {
		t.Fatalf("stopped: %+v, %v", info, err)
	}
	plain.Delete(t)
	info, err = r.Resolve(ctx, name)
	if err != nil || !info.Exited || info.Status != container.StatusDestroyed || info.Name != name || info.Image != ref {
		t.Fatalf("deleted: %+v, %v; want the remembered container", info, err)
	}
	if _, err := r.Resolve(ctx, "never-"+strconv.Itoa(os.Getpid())); !errors.Is(err, container.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
