package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// dockerSource reads containers from the Docker Engine API (plain HTTP on
// its unix socket; only GET /containers/json, /containers/{id}/json and
// /images/{id}/json, which every API version since 1.24 answers alike).
type dockerSource struct {
	cfg    config
	client *http.Client
}

func newDockerSource(cfg config) *dockerSource {
	sock := cfg.dockerSocket
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &dockerSource{cfg: cfg, client: &http.Client{Transport: tr}}
}

func (s *dockerSource) name() string    { return RuntimeDocker }
func (s *dockerSource) available() bool { return isSocket(s.cfg.dockerSocket) }

func (s *dockerSource) close() error {
	s.client.CloseIdleConnections()
	return nil
}

// get decodes GET path into v; a 404 is ErrNotFound.
func (s *dockerSource) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("docker %s: %w", path, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return ErrNotFound
	case resp.StatusCode != http.StatusOK:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("docker %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v); err != nil {
		return fmt.Errorf("docker %s: %w", path, err)
	}
	return nil
}

type dockerInspect struct {
	ID      string `json:"Id"`
	Name    string `json:"Name"`
	Created string `json:"Created"`
	Image   string `json:"Image"` // image id, "sha256:…"
	State   struct {
		Status string `json:"Status"` // created running paused restarting removing exited dead
		Pid    int    `json:"Pid"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	NetworkSettings struct {
		IPAddress string `json:"IPAddress"`
		Networks  map[string]struct {
			IPAddress         string `json:"IPAddress"`
			GlobalIPv6Address string `json:"GlobalIPv6Address"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

func (s *dockerSource) inspect(ctx context.Context, id string) (*dockerInspect, error) {
	var d dockerInspect
	if err := s.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (s *dockerSource) lookup(ctx context.Context, id string) (*Info, error) {
	d, err := s.inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, d), nil
}

func (s *dockerSource) listRunning(ctx context.Context) ([]*Info, error) {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := s.get(ctx, "/containers/json", &list); err != nil {
		return nil, err
	}
	var out []*Info
	for _, c := range list {
		d, err := s.inspect(ctx, c.ID)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if in := s.describe(ctx, d); in.PID > 0 {
			out = append(out, in)
		}
	}
	return out, nil
}

func (s *dockerSource) describe(ctx context.Context, d *dockerInspect) *Info {
	info := &Info{ID: d.ID, Runtime: RuntimeDocker, Name: strings.TrimPrefix(d.Name, "/"),
		Image: d.Config.Image, ImageID: d.Image, Labels: d.Config.Labels, Status: dockerStatus(d.State.Status)}
	if t, err := time.Parse(time.RFC3339Nano, d.Created); err == nil {
		info.Created = t
	}
	if info.Status == StatusRunning || info.Status == StatusPaused || info.Status == StatusRestarting {
		info.PID = d.State.Pid
		info.RootFS = rootFS(s.cfg.procRoot, info.PID)
	}
	if d.Image != "" {
		var img struct {
			RepoDigests []string `json:"RepoDigests"`
		}
		if s.get(ctx, "/images/"+url.PathEscape(d.Image)+"/json", &img) == nil {
			for _, rd := range img.RepoDigests {
				if _, dg, ok := strings.Cut(rd, "@"); ok {
					info.ImageDigest = dg
					break
				}
			}
		}
	}
	podFields(info, nil)
	if info.PodName == "" {
		return info
	}
	// cri-dockerd: the kubelet's container name is in a label, the pod's
	// labels and IP are the sandbox's.
	if n := info.Labels[labelContainerName]; n != "" {
		info.Name = n
	}
	sandbox := d
	if info.Labels[labelDockerType] != "podsandbox" && info.SandboxID != "" {
		if sb, err := s.inspect(ctx, info.SandboxID); err == nil {
			sandbox = sb
		}
	}
	info.PodIP = dockerIP(sandbox)
	if info.PodIP == "" {
		if addrs := netnsAddrs(s.cfg.procRoot, sandbox.State.Pid); len(addrs) > 0 {
			info.PodIP = addrs[0]
		}
	}
	info.WorkloadType, info.WorkloadName = Workload(info.PodName, sandbox.Config.Labels, nil)
	return info
}

// dockerIP is a container's address: the default bridge's, or the first
// network's by name (the map has no order).
func dockerIP(d *dockerInspect) string {
	if d.NetworkSettings.IPAddress != "" {
		return d.NetworkSettings.IPAddress
	}
	names := make([]string, 0, len(d.NetworkSettings.Networks))
	for n := range d.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ip := d.NetworkSettings.Networks[n].IPAddress; ip != "" {
			return ip
		}
	}
	return ""
}

func dockerStatus(s string) Status {
	switch s {
	case "running":
		return StatusRunning
	case "paused":
		return StatusPaused
	case "created":
		return StatusCreated
	case "restarting":
		return StatusRestarting
	case "removing":
		return StatusRemoving
	}
	return StatusStopped // exited, dead
}
