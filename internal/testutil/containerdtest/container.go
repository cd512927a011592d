package containerdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/protobuf/types"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunOption adjusts a container made by RunOpts.
type RunOption func(*runConfig)

type runConfig struct {
	labels, annotations map[string]string
	cgroupsPath         string
	netnsPID            int
	extensions          map[string]*types.Any
}

// WithLabels sets the container's containerd labels.
func WithLabels(l map[string]string) RunOption {
	return func(c *runConfig) { maps.Copy(c.labels, l) }
}

// WithAnnotations sets OCI spec annotations (where CRI writes its
// io.kubernetes.cri.* keys).
func WithAnnotations(a map[string]string) RunOption {
	return func(c *runConfig) { maps.Copy(c.annotations, a) }
}

// WithCgroupsPath replaces the default "/<namespace>/<id>" cgroup path.
func WithCgroupsPath(p string) RunOption { return func(c *runConfig) { c.cgroupsPath = p } }

// WithNetNSOf joins the network namespace of process pid (a pod's sandbox)
// instead of creating one.
func WithNetNSOf(pid int) RunOption { return func(c *runConfig) { c.netnsPID = pid } }

// WithExtension stores a container extension (CRI keeps its sandbox and
// container metadata there).
func WithExtension(name, typeURL string, value []byte) RunOption {
	return func(c *runConfig) { c.extensions[name] = &types.Any{TypeUrl: typeURL, Value: value} }
}

// Container is a container with a running task.
type Container struct {
	ID        string
	Namespace string
	Image     string
	// PID is the host pid of the task's init process.
	PID int
	// Log is the file receiving the init process's stdout and stderr.
	Log string

	c      *Containerd
	ctr    containerd.Container
	mu     sync.Mutex
	task   containerd.Task
	exitCh <-chan containerd.ExitStatus
}

// Run runs args in a new container named name (the containerd container id)
// from imageRef in namespace ns, pulling the image when ns does not have it.
func (c *Containerd) Run(t testing.TB, ns, name, imageRef string, args ...string) *Container {
	t.Helper()
	return c.RunOpts(t, ns, name, imageRef, args, nil...)
}

// RunOpts is Run with options.
func (c *Containerd) RunOpts(t testing.TB, ns, name, imageRef string, args []string, opts ...RunOption) *Container {
	t.Helper()
	k, err := c.run(ns, name, imageRef, args, opts, t)
	if err != nil {
		t.Fatalf("run %s/%s: %v", ns, name, err)
	}
	return k
}

func (c *Containerd) run(ns, name, imageRef string, args []string, opts []RunOption, t testing.TB) (*Container, error) {
	rc := runConfig{labels: map[string]string{}, annotations: map[string]string{}, extensions: map[string]*types.Any{}}
	for _, o := range opts {
		o(&rc)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	img, err := c.Client.GetImage(ctx, imageRef)
	if errdefs.IsNotFound(err) {
		img = c.Pull(t, ns, imageRef)
	} else if err != nil {
		return nil, err
	}
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithHostname(shortHost(name))}
	if len(args) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(args...))
	}
	if len(rc.annotations) > 0 {
		specOpts = append(specOpts, oci.WithAnnotations(rc.annotations))
	}
	if rc.cgroupsPath != "" {
		specOpts = append(specOpts, oci.WithCgroup(rc.cgroupsPath))
	}
	if rc.netnsPID > 0 {
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{
			Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", rc.netnsPID)}))
	}
	copts := []containerd.NewContainerOpts{
		containerd.WithImage(img),
		containerd.WithNewSnapshot(name+"-snapshot", img),
		containerd.WithRuntime("io.containerd.runc.v2", c.runcOptions()),
		containerd.WithContainerLabels(rc.labels),
		containerd.WithNewSpec(specOpts...),
	}
	if len(rc.extensions) > 0 {
		copts = append(copts, func(_ context.Context, _ *containerd.Client, ct *containers.Container) error {
			if ct.Extensions == nil {
				ct.Extensions = map[string]typeurl.Any{}
			}
			for k, v := range rc.extensions {
				ct.Extensions[k] = v
			}
			return nil
		})
	}
	ctr, err := c.Client.NewContainer(ctx, name, copts...)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	k := &Container{ID: name, Namespace: ns, Image: imageRef, c: c, ctr: ctr,
		Log: filepath.Join(c.Dir, "logs", ns+"_"+name+".log")}
	if err := os.MkdirAll(filepath.Dir(k.Log), 0o755); err != nil {
		return nil, err
	}
	t.Cleanup(func() { k.delete() })
	task, err := ctr.NewTask(ctx, cio.LogFile(k.Log))
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	// The wait outlives this call's timeout: it reports the exit whenever
	// the task ends.
	ch, err := task.Wait(namespaces.WithNamespace(context.Background(), ns))
	if err != nil {
		return nil, err
	}
	if err := task.Start(ctx); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	k.task, k.exitCh, k.PID = task, ch, int(task.Pid())
	return k, nil
}

// shortHost keeps a hostname within the kernel's 64 bytes.
func shortHost(name string) string {
	if len(name) > 63 {
		return name[:63]
	}
	return name
}

// Context returns a context in the container's namespace.
func (k *Container) Context() context.Context {
	return namespaces.WithNamespace(context.Background(), k.Namespace)
}

// Container returns the containerd client's handle.
func (k *Container) Container() containerd.Container { return k.ctr }

// Exec runs args in the running container (as its init process's user, with
// its environment) and returns the combined output and exit code.
func (k *Container) Exec(t testing.TB, args ...string) (output string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(k.Context(), time.Minute)
	defer cancel()
	out, code, err := k.exec(ctx, args)
	if err != nil {
		t.Fatalf("exec %v in %s: %v (output %q)", args, k.ID, err, out)
	}
	return out, code
}

func (k *Container) exec(ctx context.Context, args []string) (string, int, error) {
	k.mu.Lock()
	task := k.task
	k.mu.Unlock()
	if task == nil {
		return "", 0, errors.New("container has no running task")
	}
	spec, err := k.ctr.Spec(ctx)
	if err != nil {
		return "", 0, err
	}
	ps := *spec.Process
	ps.Args, ps.Terminal = args, false
	var buf bytes.Buffer
	out := &lockedWriter{w: &buf}
	fifoDir := filepath.Join(k.c.Dir, "fifo")
	p, err := task.Exec(ctx, "exec-"+HexID()[:12], &ps,
		cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(fifoDir)))
	if err != nil {
		return "", 0, err
	}
	defer p.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, err := p.Wait(ctx)
	if err != nil {
		return "", 0, err
	}
	if err := p.Start(ctx); err != nil {
		return "", 0, fmt.Errorf("start: %w", err)
	}
	var st containerd.ExitStatus
	select {
	case st = <-ch:
	case <-ctx.Done():
		return out.String(), 0, ctx.Err()
	}
	p.IO().Wait()
	code, _, err := st.Result()
	return out.String(), int(code), err
}

// Stop kills the container's task (SIGKILL to all its processes) and
// deletes it; the container itself stays, stopped.
func (k *Container) Stop(t testing.TB) {
	t.Helper()
	if err := k.stop(); err != nil {
		t.Fatalf("stop %s: %v", k.ID, err)
	}
}

func (k *Container) stop() error {
	k.mu.Lock()
	task, ch := k.task, k.exitCh
	k.task = nil
	k.mu.Unlock()
	if task == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(k.Context(), 30*time.Second)
	defer cancel()
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill: %w", err)
	}
	select {
	case st := <-ch:
		if err := st.Error(); err != nil {
			return fmt.Errorf("wait: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("task did not exit: %w", ctx.Err())
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// Delete stops the container when running and removes it and its snapshot.
func (k *Container) Delete(t testing.TB) {
	t.Helper()
	if err := k.delete(); err != nil {
		t.Fatalf("delete %s: %v", k.ID, err)
	}
}

func (k *Container) delete() error {
	if err := k.stop(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(k.Context(), 30*time.Second)
	defer cancel()
	if err := k.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// PodSpec describes a Kubernetes-like pod laid out the way containerd's CRI
// plugin does it: a sandbox container holding the network namespace and the
// pod's labels, and an app container joining it, both with 64-digit ids,
// CRI's labels and annotations and a kubepods cgroup path.
type PodSpec struct {
	// Namespace is the containerd namespace; "k8s.io" (CRI's) by default.
	Namespace     string
	PodName       string
	PodNamespace  string // "default" by default
	PodUID        string // random by default
	ContainerName string
	Image         string
	// Args run in the app container; "sleep 3600" by default.
	Args []string
	// PodLabels are the pod's labels (CRI puts them on the sandbox), e.g.
	// "pod-template-hash" for a Deployment's pod.
	PodLabels map[string]string
	// IP, when set, is given to the pod's network namespace (on lo, enough
	// for the address to be the namespace's own) and recorded in the CRI
	// sandbox metadata extension.
	IP string
}

// Pod is a running pod.
type Pod struct {
	UID       string
	Sandbox   *Container
	Container *Container
}

// CRI label and annotation keys (containerd's pkg/cri and the kubelet).
const (
	LabelKind           = "io.cri-containerd.kind"
	LabelPodName        = "io.kubernetes.pod.name"
	LabelPodNamespace   = "io.kubernetes.pod.namespace"
	LabelPodUID         = "io.kubernetes.pod.uid"
	LabelContainerName  = "io.kubernetes.container.name"
	AnnContainerType    = "io.kubernetes.cri.container-type"
	AnnSandboxID        = "io.kubernetes.cri.sandbox-id"
	AnnSandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnSandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnContainerName    = "io.kubernetes.cri.container-name"
	AnnImageName        = "io.kubernetes.cri.image-name"
	// ExtSandboxMetadata is the container extension where CRI keeps a
	// sandbox's metadata (JSON, with its IP).
	ExtSandboxMetadata = "io.cri-containerd.sandbox.metadata"
	// TypeSandboxMetadata is that extension's type URL.
	TypeSandboxMetadata = "github.com/containerd/cri/pkg/store/sandbox/Metadata"
)

// RunPod starts a pod's sandbox and app container.
func (c *Containerd) RunPod(t testing.TB, p PodSpec) *Pod {
	t.Helper()
	if p.Namespace == "" {
		p.Namespace = "k8s.io"
	}
	if p.PodNamespace == "" {
		p.PodNamespace = "default"
	}
	if p.PodUID == "" {
		h := HexID()
		p.PodUID = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	if len(p.Args) == 0 {
		p.Args = []string{"sleep", "3600"}
	}
	sandboxID, ctrID := HexID(), HexID()
	cgroupParent := "/kubepods/besteffort/pod" + p.PodUID + "/"
	// runc removes a container's own cgroup, not the pod's parent one the
	// kubelet would: remove it after both containers are gone (cleanups
	// run last-registered first).
	t.Cleanup(func() { removeCgroupDirs(strings.TrimSuffix(cgroupParent, "/")) })
	podLabels := map[string]string{LabelPodName: p.PodName, LabelPodNamespace: p.PodNamespace, LabelPodUID: p.PodUID}
	sbLabels := map[string]string{LabelKind: "sandbox"}
	maps.Copy(sbLabels, p.PodLabels)
	maps.Copy(sbLabels, podLabels)
	sbAnn := map[string]string{AnnContainerType: "sandbox", AnnSandboxID: sandboxID,
		AnnSandboxName: p.PodName, AnnSandboxNamespace: p.PodNamespace, AnnSandboxUID: p.PodUID}
	meta := fmt.Sprintf(`{"Version":"v1","Metadata":{"ID":%q,"Name":%q,"Config":{"metadata":{"name":%q,"uid":%q,"namespace":%q}},"NetNSPath":"","IP":%q,"AdditionalIPs":null,"RuntimeHandler":""}}`,
		sandboxID, p.PodName+"_"+p.PodNamespace+"_"+p.PodUID+"_0", p.PodName, p.PodUID, p.PodNamespace, p.IP)
	sb := c.RunOpts(t, p.Namespace, sandboxID, p.Image, []string{"sleep", "3600"},
		WithLabels(sbLabels), WithAnnotations(sbAnn), WithCgroupsPath(cgroupParent+sandboxID),
		WithExtension(ExtSandboxMetadata, TypeSandboxMetadata, []byte(meta)))
	if p.IP != "" {
		netns := fmt.Sprintf("--net=/proc/%d/ns/net", sb.PID)
		for _, args := range [][]string{{"ip", "link", "set", "lo", "up"}, {"ip", "addr", "add", p.IP + "/32", "dev", "lo"}} {
			out, err := exec.Command("nsenter", append([]string{netns, "--"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("pod IP: nsenter %v: %v: %s", args, err, out)
			}
		}
	}
	ctrLabels := map[string]string{LabelKind: "container", LabelContainerName: p.ContainerName}
	maps.Copy(ctrLabels, podLabels)
	ctrAnn := map[string]string{AnnContainerType: "container", AnnSandboxID: sandboxID,
		AnnSandboxName: p.PodName, AnnSandboxNamespace: p.PodNamespace, AnnSandboxUID: p.PodUID,
		AnnContainerName: p.ContainerName, AnnImageName: p.Image}
	app := c.RunOpts(t, p.Namespace, ctrID, p.Image, p.Args,
		WithLabels(ctrLabels), WithAnnotations(ctrAnn), WithCgroupsPath(cgroupParent+ctrID), WithNetNSOf(sb.PID))
	return &Pod{UID: p.PodUID, Sandbox: sb, Container: app}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// removeCgroupDirs removes the (empty) cgroup directory rel in every
// hierarchy, v1 or v2. The containers' own cgroups below it may take a
// moment to go after their tasks are deleted, so it retries for a while.
func removeCgroupDirs(rel string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + rel)
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", rel))
		left := false
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				left = true
			}
		}
		if !left || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
