package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Agent is the configuration of `vigil agent`.
type Agent struct {
	Server             string        `yaml:"server" help:"URL of the vigil server (http:// or https://)"`
	Token              string        `yaml:"token" help:"enrollment token (vigil tokens create); needed only until the agent has enrolled"`
	Data               string        `yaml:"data" help:"agent data directory (credential, event spool, scan cache)"`
	CAFile             string        `yaml:"ca_file" help:"PEM file of CA certificates trusted for the server, in addition to the system's"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify" help:"accept any server certificate (testing only)"`
	Rules              []string      `yaml:"rules" help:"extra YARA/hash rule directories for the engine, comma-separated"`
	NoBuiltin          bool          `yaml:"no_builtin_rules" help:"do not load vigil's embedded rule pack"`
	SweepInterval      time.Duration `yaml:"sweep_interval" help:"period of the full /proc sweep that backs up real-time exec events"`
	ScanCPU            float64       `yaml:"scan_cpu" help:"CPU cap of process judging (reading, hashing, scanning), in cores, e.g. 0.25; 0 = no cap"`
	MaxScanSize        int64         `yaml:"max_scan_size" help:"largest executable scanned by content, bytes (larger ones are hashed only)"`
	LogLevel           string        `yaml:"log_level" help:"debug, info, warn or error"`
	LogFormat          string        `yaml:"log_format" help:"text or json"`
	ContainerdSocket   string        `yaml:"containerd_socket" help:"containerd's socket, for container names, images and pods (\"-\": none)"`
	DockerSocket       string        `yaml:"docker_socket" help:"the Docker Engine API socket (\"-\": none)"`
	ClusterID          string        `yaml:"cluster_id" help:"id of the Kubernetes cluster this node belongs to, reported with container findings"`
	ClusterName        string        `yaml:"cluster_name" help:"name of that cluster"`
	NoContainers       bool          `yaml:"no_containers" help:"do not watch container files nor act on containers"`
}

// DefaultAgent returns the defaults of `vigil agent`.
func DefaultAgent() Agent {
	return Agent{
		Data:          "/var/lib/vigil-agent",
		SweepInterval: 10 * time.Minute,
		ScanCPU:       0.5,
		MaxScanSize:   16 << 20,
		LogLevel:      "info",
		LogFormat:     "text",

		ContainerdSocket: "/run/containerd/containerd.sock",
		DockerSocket:     "/var/run/docker.sock",
	}
}

// Validate checks values that cannot be checked by type alone.
func (a *Agent) Validate() error {
	var errs []error
	if u, err := url.Parse(a.Server); a.Server == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("server %q: want the http(s):// URL of the vigil server", a.Server))
	}
	if a.Data == "" {
		errs = append(errs, errors.New("data is empty"))
	}
	if a.SweepInterval < 10*time.Second {
		errs = append(errs, errors.New("sweep_interval must be at least 10s"))
	}
	if a.ScanCPU < 0 || a.ScanCPU > 64 {
		errs = append(errs, errors.New("scan_cpu must be between 0 (no cap) and 64 cores"))
	}
	if a.MaxScanSize < 1<<20 {
		errs = append(errs, errors.New("max_scan_size must be at least 1 MiB"))
	}
	if a.CAFile != "" && a.InsecureSkipVerify {
		errs = append(errs, errors.New("ca_file and insecure_skip_verify exclude each other"))
	}
	switch a.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", a.LogLevel))
	}
	switch a.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", a.LogFormat))
	}
	return errors.Join(errs...)
}
