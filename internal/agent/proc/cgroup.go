package proc

import (
	"bytes"
	"strings"
)

// containerdNamespaces are the containerd namespaces whose cgroups are named
// "/<namespace>/<container>" (ctr run, nerdctl, moby's containerd). A
// two-level path in any other first directory is not taken for a container:
// sandboxes and session managers make such paths too.
var containerdNamespaces = map[string]bool{
	"default": true, "k8s.io": true, "moby": true, "buildkit": true, "services.linuxkit": true,
}

// scopePrefixes are the systemd-driver scope names of container runtimes:
// "<prefix><id>.scope".
var scopePrefixes = []string{"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"}

// ContainerIDFromCgroup returns the container id named by the contents of
// /proc/PID/cgroup (cgroup v1 or v2), or "" for a process on the host. It
// knows the layouts of Docker and Kubernetes with the cgroupfs driver
// ("/docker/<id>", "/kubepods/…/pod<uid>/<id>"), of the systemd driver
// ("docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
// "libpod-<id>.scope") and of plain containerd ("/<namespace>/<name>", where
// the name is whatever the container was created as).
func ContainerIDFromCgroup(data []byte) string {
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		// hierarchy-ID:controllers:path; the path may contain ':'.
		_, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		_, p, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			continue
		}
		if id := containerIDFromPath(string(p)); id != "" {
			return id
		}
	}
	return ""
}

func containerIDFromPath(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" || p == "/" {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	// Innermost first: a container's own processes may sit in a sub-cgroup
	// (cgroup v2 "…/<id>.scope/init" style, or systemd inside a container).
	for i := len(parts) - 1; i >= 0; i-- {
		part := parts[i]
		if name, ok := strings.CutSuffix(part, ".scope"); ok {
			for _, pre := range scopePrefixes {
				if id, ok := strings.CutPrefix(name, pre); ok && isHexID(id) {
					return id
				}
			}
			continue
		}
		if isHexID(part) && i > 0 && isRuntimeParent(parts[:i]) {
			return part
		}
	}
	// Plain containerd: exactly "/<namespace>/<name>".
	if len(parts) == 2 && containerdNamespaces[parts[0]] && validName(parts[1]) {
		return parts[1]
	}
	return ""
}

// isRuntimeParent says the directories above a bare hex id belong to a
// container runtime ("/docker/<id>", "/kubepods/besteffort/pod<uid>/<id>",
// "/system.slice/containerd.service/kubepods-…:cri-containerd:<id>" is
// handled by the caller's scope rule), so a random hex directory of some
// other tool is not taken for a container.
func isRuntimeParent(parents []string) bool {
	for _, p := range parents {
		if p == "docker" || p == "lxc" || p == "libpod_parent" || p == "machine.slice" ||
			strings.HasPrefix(p, "kubepods") || strings.HasPrefix(p, "pod") || containerdNamespaces[p] {
			return true
		}
	}
	return false
}

// isHexID reports a 64-digit lower-case hex container id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validName rejects systemd units and empty names as containerd container
// names.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, suf := range []string{".slice", ".scope", ".service", ".mount", ".socket"} {
		if strings.HasSuffix(s, suf) {
			return false
		}
	}
	return true
}
