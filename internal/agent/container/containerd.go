package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/platforms"
)

// containerdSource reads containers from containerd's API, in every
// namespace.
type containerdSource struct {
	cfg config
	// skipMoby leaves Docker's own namespace to the Docker source, which
	// knows its containers' names and images, when Docker is there.
	skipMoby bool

	mu     sync.Mutex
	client *containerd.Client
}

func newContainerdSource(cfg config, dockerConfigured bool) *containerdSource {
	return &containerdSource{cfg: cfg, skipMoby: dockerConfigured}
}

func (s *containerdSource) name() string { return RuntimeContainerd }

func (s *containerdSource) available() bool { return isSocket(s.cfg.containerdSocket) }

func isSocket(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

// conn dials at first use; gRPC reconnects by itself after a daemon
// restart.
func (s *containerdSource) conn() (*containerd.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c, err := containerd.New(s.cfg.containerdSocket, containerd.WithTimeout(s.cfg.timeout))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.cfg.containerdSocket, err)
	}
	s.client = c
	return c, nil
}

func (s *containerdSource) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}

func (s *containerdSource) lookup(ctx context.Context, id string) (*Info, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctr, err := c.ContainerService().Get(nctx, id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", ns, id, err)
		}
		return s.describe(nctx, c, ns, ctr, nil)
	}
	return nil, ErrNotFound
}

func (s *containerdSource) listRunning(ctx context.Context) ([]*Info, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	var out []*Info
	var errs []error
	for _, ns := range nss {
		if ns == "moby" && s.skipMoby && isSocket(s.cfg.dockerSocket) {
			continue
		}
		nctx := namespaces.WithNamespace(ctx, ns)
		resp, err := c.TaskService().List(nctx, &tasksapi.ListTasksRequest{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: tasks: %w", ns, err))
			continue
		}
		for _, p := range resp.Tasks {
			// Exec'd processes are listed with their container's id too;
			// the init process is the one whose id is the container's.
			if p.ID != p.ContainerID && p.ContainerID != "" {
				continue
			}
			if p.Status != tasktypes.Status_RUNNING && p.Status != tasktypes.Status_PAUSED && p.Status != tasktypes.Status_PAUSING {
				continue
			}
			ctr, err := c.ContainerService().Get(nctx, p.ID)
			if errdefs.IsNotFound(err) {
				continue // deleted meanwhile
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", ns, p.ID, err))
				continue
			}
			info, err := s.describe(nctx, c, ns, ctr, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, info)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ociAnnotations reads what the agent needs of a container's OCI spec.
func ociAnnotations(ctr containers.Container) map[string]string {
	if ctr.Spec == nil {
		return nil
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(ctr.Spec.GetValue(), &spec) != nil {
		return nil
	}
	return spec.Annotations
}

// describe turns a containerd container (and its task when the caller has
// it) into Info.
func (s *containerdSource) describe(ctx context.Context, c *containerd.Client, ns string, ctr containers.Container, task *tasktypes.Process) (*Info, error) {
	ann := ociAnnotations(ctr)
	info := &Info{ID: ctr.ID, Runtime: RuntimeContainerd, Namespace: ns, Image: ctr.Image,
		Labels: ctr.Labels, Created: ctr.CreatedAt, Status: StatusStopped}
	if info.Image == "" {
		info.Image = ann[annImageName]
	}
	info.Name = firstNonEmpty(ctr.Labels[labelContainerName], ann[annContainerName], ctr.Labels[labelNerdctlName], ctr.ID)
	if ctr.Image != "" {
		if img, err := c.ImageService().Get(ctx, ctr.Image); err == nil {
			info.ImageDigest = img.Target.Digest.String()
			if cfg, err := images.Config(ctx, c.ContentStore(), img.Target, platforms.Default()); err == nil {
				info.ImageID = cfg.Digest.String()
			}
		} else if !errdefs.IsNotFound(err) {
			s.cfg.log.Debug("container image", "namespace", ns, "image", ctr.Image, "err", err)
		}
	}
	if task == nil {
		resp, err := c.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: ctr.ID})
		switch {
		case err == nil:
			task = resp.Process
		case errdefs.IsNotFound(errdefs.FromGRPC(err)):
		default:
			return nil, fmt.Errorf("%s/%s: task: %w", ns, ctr.ID, err)
		}
	}
	if task != nil {
		info.Status = taskStatus(task.Status)
		if info.Status == StatusRunning || info.Status == StatusPaused {
			info.PID = int(task.Pid)
			info.RootFS = rootFS(s.cfg.procRoot, info.PID)
		}
	}
	podFields(info, ann)
	if info.PodName == "" {
		return info, nil
	}
	// A pod's labels, IP and network namespace belong to its sandbox.
	sandbox, sandboxPID := ctr, info.PID
	if !isSandbox(ctr.Labels, ann) && info.SandboxID != "" {
		if sb, err := c.ContainerService().Get(ctx, info.SandboxID); err == nil {
			sandbox, sandboxPID = sb, 0
			if resp, err := c.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: sb.ID}); err == nil &&
				resp.Process.Status == tasktypes.Status_RUNNING {
				sandboxPID = int(resp.Process.Pid)
			}
		}
	}
	if ext, ok := sandbox.Extensions[extSandboxMetadata]; ok && ext != nil {
		info.PodIP = sandboxIP(ext.GetValue())
	}
	if info.PodIP == "" {
		pid := sandboxPID
		if pid == 0 {
			pid = info.PID
		}
		if addrs := netnsAddrs(s.cfg.procRoot, pid); len(addrs) > 0 {
			info.PodIP = addrs[0]
		}
	}
	info.WorkloadType, info.WorkloadName = Workload(info.PodName, sandbox.Labels, ociAnnotations(sandbox))
	return info, nil
}

func taskStatus(st tasktypes.Status) Status {
	switch st {
	case tasktypes.Status_RUNNING:
		return StatusRunning
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return StatusPaused
	case tasktypes.Status_CREATED:
		return StatusCreated
	}
	return StatusStopped
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
