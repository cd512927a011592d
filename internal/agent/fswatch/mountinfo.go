package fswatch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/PID/mountinfo.
type MountInfo struct {
	ID, ParentID int
	Major, Minor uint32
	Root         string // path of the mount's root within its filesystem
	MountPoint   string
	Options      string // per-mount options
	FSType       string
	Source       string
	SuperOptions string
	// Overlay super options, decoded.
	LowerDirs []string
	UpperDir  string
	WorkDir   string
}

// ParseMountinfo parses the format of proc(5) /proc/PID/mountinfo.
func ParseMountinfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // overlay lines with many layers are long
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("fswatch: mountinfo: no separator in %q", line)
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("fswatch: mountinfo: short line %q", line)
		}
		var mi MountInfo
		var err error
		if mi.ID, err = strconv.Atoi(f[0]); err != nil {
			return nil, fmt.Errorf("fswatch: mountinfo: id: %w", err)
		}
		if mi.ParentID, err = strconv.Atoi(f[1]); err != nil {
			return nil, fmt.Errorf("fswatch: mountinfo: parent: %w", err)
		}
		maj, min, _ := strings.Cut(f[2], ":")
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mn, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("fswatch: mountinfo: device %q", f[2])
		}
		mi.Major, mi.Minor = uint32(ma), uint32(mn)
		mi.Root, mi.MountPoint, mi.Options = unescape(f[3]), unescape(f[4]), f[5]
		mi.FSType, mi.Source = g[0], unescape(g[1])
		if len(g) > 2 {
			mi.SuperOptions = g[2]
		}
		if mi.FSType == "overlay" {
			for opt := range strings.SplitSeq(mi.SuperOptions, ",") {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "lowerdir":
					for l := range strings.SplitSeq(v, ":") {
						mi.LowerDirs = append(mi.LowerDirs, unescape(l))
					}
				case "lowerdir+", "datadir+": // new mount API: one layer per option
					mi.LowerDirs = append(mi.LowerDirs, unescape(v))
				case "upperdir":
					mi.UpperDir = unescape(v)
				case "workdir":
					mi.WorkDir = unescape(v)
				}
			}
		}
		out = append(out, mi)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fswatch: mountinfo: %w", err)
	}
	return out, nil
}

// unescape decodes the octal escapes (\040 for a space...) the kernel uses
// in mountinfo fields.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RootFS is a container root filesystem found by Discover.
type RootFS struct {
	MountPoint string
	// Runtime is "containerd", "docker" or "containers-storage" (CRI-O, Podman).
	Runtime string
	// Namespace and ContainerID come from the containerd task path
	// (/run/containerd/io.containerd.runtime.v2.task/NS/ID/rootfs); empty otherwise.
	Namespace, ContainerID string
	// SnapshotID is the containerd snapshot number, or the Docker / containers-storage layer id.
	SnapshotID string
	UpperDir   string
	Mount      MountInfo
}

var rootfsPatterns = []struct{ marker, runtime string }{
	{"/io.containerd.snapshotter.v1.overlayfs/snapshots/", "containerd"},
	{"/docker/overlay2/", "docker"},
	{"/containers/storage/overlay/", "containers-storage"},
}

// Discover finds container root filesystems among the mounts in a mountinfo
// file: overlay mounts whose upper directory is a containerd snapshot, a
// Docker overlay2 layer or a containers-storage layer.
func Discover(r io.Reader) ([]RootFS, error) {
	mis, err := ParseMountinfo(r)
	if err != nil {
		return nil, err
	}
	var out []RootFS
	for _, mi := range mis {
		if mi.FSType != "overlay" || mi.UpperDir == "" {
			continue
		}
		for _, pat := range rootfsPatterns {
			_, after, ok := strings.Cut(mi.UpperDir, pat.marker)
			if !ok {
				continue
			}
			rf := RootFS{MountPoint: mi.MountPoint, Runtime: pat.runtime, UpperDir: mi.UpperDir, Mount: mi}
			rf.SnapshotID, _, _ = strings.Cut(after, "/")
			if pat.runtime == "containerd" {
				rf.Namespace, rf.ContainerID = containerdTask(mi.MountPoint)
			}
			out = append(out, rf)
			break
		}
	}
	return out, nil
}

// DiscoverFile runs Discover on a mountinfo file (/proc/self/mountinfo, or
// /proc/1/mountinfo for the host's view when the agent runs in a container
// sharing the host's pid namespace).
func DiscoverFile(path string) ([]RootFS, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fswatch: %w", err)
	}
	defer f.Close()
	return Discover(f)
}

// containerdTask extracts NS and ID from .../io.containerd.runtime.v2.task/NS/ID/rootfs.
func containerdTask(mp string) (ns, id string) {
	const marker = "/io.containerd.runtime.v2.task/"
	_, after, ok := strings.Cut(mp, marker)
	if !ok {
		return "", ""
	}
	parts := strings.Split(after, "/")
	if len(parts) == 3 && parts[2] == "rootfs" {
		return parts[0], parts[1]
	}
	return "", ""
}
