// Package container is the agent's view of the containers on its host: it
// maps a container id (as proc reads it from a process's cgroup path) to
// what a finding reports about the container — name, image name and id,
// labels, status, creation time, runtime, init pid and root filesystem, and
// for Kubernetes pods the pod name, namespace, workload type and pod IP —
// and lists the running containers for on-demand scans.
//
// The metadata comes from the runtimes' APIs over their sockets: containerd
// (every namespace, CRI's "k8s.io" included) and the Docker Engine API
// (plain HTTP on a unix socket). Both are optional: a socket that is absent
// is looked for again at later lookups, so a runtime started after the
// agent is picked up.
//
// Containers come and go faster than findings are reported, so lookups are
// cached (positive and negative answers, each with its own expiry), and a
// container that has disappeared is still answered for a while
// (ExitedRetention) with its last known metadata and status DESTROYED: a
// finding whose container has exited still names it.
package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Runtimes.
const (
	RuntimeContainerd = "containerd"
	RuntimeDocker     = "docker"
)

// Status is a container's state, as tcss names it (ContainerStatus).
type Status string

// Container states.
const (
	StatusRunning    Status = "RUNNING"
	StatusPaused     Status = "PAUSED"
	StatusStopped    Status = "STOPPED"
	StatusCreated    Status = "CREATED"
	StatusDestroyed  Status = "DESTROYED"
	StatusRestarting Status = "RESTARTING"
	StatusRemoving   Status = "REMOVING"
)

// Workload types (tcss WorkloadType).
const (
	WorkloadDeployment  = "Deployment"
	WorkloadReplicaSet  = "ReplicaSet"
	WorkloadStatefulSet = "StatefulSet"
	WorkloadDaemonSet   = "DaemonSet"
	WorkloadJob         = "Job"
	WorkloadCronJob     = "CronJob"
	WorkloadPod         = "Pod"
)

// Info is what is known of one container.
type Info struct {
	ID      string
	Name    string
	Runtime string // RuntimeContainerd or RuntimeDocker
	// Namespace is the containerd namespace ("default", "k8s.io", "moby"…);
	// empty for Docker.
	Namespace string
	Image     string // image reference, e.g. "docker.io/library/nginx:1.25"
	// ImageID is the image's config digest ("sha256:…"), the id Docker and
	// CRI show; ImageDigest the manifest (or index) digest it was pulled by.
	ImageID     string
	ImageDigest string
	Labels      map[string]string
	Status      Status
	Created     time.Time
	// PID is the host pid of the init process (0 when not running); RootFS
	// its root as the host sees it ("/proc/PID/root").
	PID    int
	RootFS string

	// Kubernetes, from CRI's (or cri-dockerd's) labels and annotations.
	PodName      string
	PodNamespace string
	PodUID       string
	PodIP        string
	SandboxID    string
	WorkloadType string // empty outside Kubernetes
	WorkloadName string

	// Exited is set on an answer from the cache for a container its runtime
	// no longer knows; SeenAt is when the runtime last answered for it.
	Exited bool
	SeenAt time.Time
}

// ErrNotFound is returned for an id no runtime knows (and the cache does
// not remember).
var ErrNotFound = errors.New("container not found")

// Default sockets.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultDockerSocket     = "/var/run/docker.sock"
)

type config struct {
	containerdSocket string
	dockerSocket     string
	procRoot         string
	positiveTTL      time.Duration
	negativeTTL      time.Duration
	exitedRetention  time.Duration
	maxEntries       int
	timeout          time.Duration
	now              func() time.Time
	log              *slog.Logger
}

func defaultConfig() config {
	return config{
		containerdSocket: DefaultContainerdSocket,
		dockerSocket:     DefaultDockerSocket,
		procRoot:         "/proc",
		// Status changes (a stop, a pause) should show within seconds;
		// names and images never change for an id.
		positiveTTL:     10 * time.Second,
		negativeTTL:     5 * time.Second,
		exitedRetention: time.Hour,
		maxEntries:      10000,
		timeout:         5 * time.Second,
		now:             time.Now,
		log:             slog.New(slog.DiscardHandler),
	}
}

// Option configures a Resolver.
type Option func(*config)

// WithContainerdSocket sets containerd's socket; "" disables containerd.
func WithContainerdSocket(p string) Option { return func(c *config) { c.containerdSocket = p } }

// WithDockerSocket sets the Docker Engine API socket; "" disables Docker.
func WithDockerSocket(p string) Option { return func(c *config) { c.dockerSocket = p } }

// WithProcRoot sets where /proc is (RootFS paths and pod IPs are read there).
func WithProcRoot(p string) Option { return func(c *config) { c.procRoot = p } }

// WithTTL sets how long a found container (positive) and an unknown id
// (negative) are answered from the cache.
func WithTTL(positive, negative time.Duration) Option {
	return func(c *config) { c.positiveTTL, c.negativeTTL = positive, negative }
}

// WithExitedRetention sets how long a container is still answered for after
// its runtime stopped knowing it.
func WithExitedRetention(d time.Duration) Option { return func(c *config) { c.exitedRetention = d } }

// WithMaxEntries bounds the cache.
func WithMaxEntries(n int) Option { return func(c *config) { c.maxEntries = n } }

// WithTimeout bounds each call to a runtime.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock replaces time.Now (tests of expiry).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// source is one runtime.
type source interface {
	name() string
	// available reports whether the runtime's socket is there.
	available() bool
	lookup(ctx context.Context, id string) (*Info, error) // ErrNotFound when unknown
	listRunning(ctx context.Context) ([]*Info, error)
	close() error
}

// Resolver answers container lookups. It is safe for concurrent use.
type Resolver struct {
	cfg     config
	sources []source
	group   singleflight.Group

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	info    *Info // nil: negative
	fetched time.Time
}

// New makes a resolver. Nothing is dialled yet: each runtime is connected
// at first use, when its socket exists.
func New(opts ...Option) *Resolver {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	r := &Resolver{cfg: cfg, cache: map[string]*entry{}}
	// Docker first: its containers also live in containerd's "moby"
	// namespace, where they have neither names nor image names.
	if cfg.dockerSocket != "" {
		r.sources = append(r.sources, newDockerSource(cfg))
	}
	if cfg.containerdSocket != "" {
		r.sources = append(r.sources, newContainerdSource(cfg, cfg.dockerSocket != ""))
	}
	return r
}

// Close releases the runtimes' connections.
func (r *Resolver) Close() error {
	var errs []error
	for _, s := range r.sources {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// Runtimes names the runtimes whose sockets are present now.
func (r *Resolver) Runtimes() []string {
	var out []string
	for _, s := range r.sources {
		if s.available() {
			out = append(out, s.name())
		}
	}
	return out
}

// Resolve returns the container with id (a containerd container id, or a
// 64-digit Docker/CRI id as proc.ContainerIDFromCgroup returns them). An
// unknown id is ErrNotFound; a container that has gone is answered from the
// cache with Exited set and status DESTROYED for ExitedRetention.
func (r *Resolver) Resolve(ctx context.Context, id string) (*Info, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	now := r.cfg.now()
	r.mu.Lock()
	e := r.cache[id]
	if e != nil {
		ttl := r.cfg.positiveTTL
		if e.info == nil {
			ttl = r.cfg.negativeTTL
		}
		if now.Sub(e.fetched) < ttl {
			r.mu.Unlock()
			if e.info == nil {
				return nil, ErrNotFound
			}
			return e.info.clone(), nil
		}
	}
	r.mu.Unlock()
	v, err, _ := r.group.Do(id, func() (any, error) { return r.fetch(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*Info).clone(), nil
}

// fetch asks the runtimes and updates the cache.
func (r *Resolver) fetch(ctx context.Context, id string) (*Info, error) {
	var errs []error
	for _, s := range r.sources {
		if !s.available() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
		info, err := s.lookup(cctx, id)
		cancel()
		if err == nil {
			info.SeenAt = r.cfg.now()
			r.store(id, info)
			return info, nil
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("%s: %w", s.name(), err))
		}
	}
	if len(errs) > 0 {
		// A runtime that failed to answer may know the container: no
		// negative entry, but a remembered container is still good.
		if old := r.remembered(id); old != nil {
			return old, nil
		}
		return nil, errors.Join(errs...)
	}
	now := r.cfg.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.cache[id]; e != nil && e.info != nil && now.Sub(e.info.SeenAt) < r.cfg.exitedRetention {
		gone := e.info.clone()
		gone.Exited, gone.Status, gone.PID, gone.RootFS = true, StatusDestroyed, 0, ""
		// Asked again after the negative expiry: it may come back (a
		// restarted container keeps its id).
		r.cache[id] = &entry{info: gone, fetched: now.Add(r.cfg.negativeTTL - r.cfg.positiveTTL)}
		return gone, nil
	}
	r.cache[id] = &entry{fetched: now}
	r.evictLocked(now)
	return nil, ErrNotFound
}

func (r *Resolver) remembered(id string) *Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.cache[id]; e != nil && e.info != nil && r.cfg.now().Sub(e.info.SeenAt) < r.cfg.exitedRetention {
		return e.info.clone()
	}
	return nil
}

func (r *Resolver) store(id string, info *Info) {
	now := r.cfg.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache[id] = &entry{info: info.clone(), fetched: now}
	r.evictLocked(now)
}

// evictLocked keeps the cache within maxEntries: expired negative entries
// and containers past their retention go first, then the oldest.
func (r *Resolver) evictLocked(now time.Time) {
	if len(r.cache) <= r.cfg.maxEntries {
		return
	}
	for id, e := range r.cache {
		if e.info == nil && now.Sub(e.fetched) >= r.cfg.negativeTTL ||
			e.info != nil && now.Sub(e.info.SeenAt) >= r.cfg.exitedRetention {
			delete(r.cache, id)
		}
	}
	if over := len(r.cache) - r.cfg.maxEntries; over > 0 {
		ids := make([]string, 0, len(r.cache))
		for id := range r.cache {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return r.cache[ids[i]].fetched.Before(r.cache[ids[j]].fetched) })
		for _, id := range ids[:over] {
			delete(r.cache, id)
		}
	}
}

// List returns the running containers of every available runtime, with
// their init PID and RootFS (for on-demand scans through /proc/PID/root),
// sorted by runtime, namespace and name. The answers refresh the cache.
func (r *Resolver) List(ctx context.Context) ([]Info, error) {
	var out []Info
	var errs []error
	seen := map[string]bool{}
	for _, s := range r.sources {
		if !s.available() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 4*r.cfg.timeout)
		infos, err := s.listRunning(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name(), err))
			continue
		}
		for _, in := range infos {
			if seen[in.ID] {
				continue
			}
			seen[in.ID] = true
			in.SeenAt = r.cfg.now()
			r.store(in.ID, in)
			out = append(out, *in.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Runtime != b.Runtime {
			return a.Runtime < b.Runtime
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		r.cfg.log.Warn("container list incomplete", "err", errors.Join(errs...))
	}
	return out, nil
}

func (in *Info) clone() *Info {
	c := *in
	if in.Labels != nil {
		c.Labels = make(map[string]string, len(in.Labels))
		for k, v := range in.Labels {
			c.Labels[k] = v
		}
	}
	return &c
}

// rootFS is the host path of a running container's root.
func rootFS(procRoot string, pid int) string {
	if pid <= 0 {
		return ""
	}
	return procRoot + "/" + strconv.Itoa(pid) + "/root"
}
