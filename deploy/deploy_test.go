// Package deploy holds the deployment files (systemd units, Kubernetes
// manifests); its test checks that they parse and keep what the agent needs.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDaemonSet(t *testing.T) {
	data, err := os.ReadFile("kubernetes/vigil-agent-daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var kinds []string
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						HostPID     bool `yaml:"hostPID"`
						HostNetwork bool `yaml:"hostNetwork"`
						Containers  []struct {
							Args []string `yaml:"args"`
							Env  []struct {
								Name      string `yaml:"name"`
								ValueFrom struct {
									SecretKeyRef struct {
										Name string `yaml:"name"`
									} `yaml:"secretKeyRef"`
								} `yaml:"valueFrom"`
							} `yaml:"env"`
							SecurityContext struct {
								Capabilities struct {
									Add  []string `yaml:"add"`
									Drop []string `yaml:"drop"`
								} `yaml:"capabilities"`
							} `yaml:"securityContext"`
							VolumeMounts []struct {
								MountPath string `yaml:"mountPath"`
							} `yaml:"volumeMounts"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, doc.Kind)
		if doc.Kind != "DaemonSet" {
			continue
		}
		ps := doc.Spec.Template.Spec
		if !ps.HostPID || !ps.HostNetwork {
			t.Errorf("hostPID %v hostNetwork %v: the agent needs both", ps.HostPID, ps.HostNetwork)
		}
		if len(ps.Containers) != 1 {
			t.Fatalf("%d containers", len(ps.Containers))
		}
		c := ps.Containers[0]
		if c.Args[0] != "agent" {
			t.Errorf("args %v", c.Args)
		}
		for _, cap := range []string{"SYS_PTRACE", "DAC_READ_SEARCH", "KILL", "NET_ADMIN"} {
			if !slices.Contains(c.SecurityContext.Capabilities.Add, cap) {
				t.Errorf("capability %s missing", cap)
			}
		}
		var token bool
		for _, e := range c.Env {
			token = token || e.Name == "VIGIL_TOKEN" && e.ValueFrom.SecretKeyRef.Name != ""
		}
		if !token {
			t.Errorf("VIGIL_TOKEN does not come from a Secret")
		}
		var data bool
		for _, m := range c.VolumeMounts {
			data = data || m.MountPath == "/var/lib/vigil-agent"
		}
		if !data {
			t.Errorf("no data volume")
		}
	}
	if !slices.Contains(kinds, "DaemonSet") {
		t.Errorf("no DaemonSet in %v", kinds)
	}
}

// TestSystemdUnits runs systemd-analyze verify on the units (with the
// binary path pointed at an existing file) where systemd is installed.
func TestSystemdUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	dir := t.TempDir()
	for _, name := range []string{"vigil-agent.service", "vigil-server.service"} {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(data), "/usr/local/bin/vigil", "/bin/true")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", p).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}
