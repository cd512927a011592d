package fswatch_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/agent/fswatch"
)

func TestDiscover(t *testing.T) {
	const sn = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/"
	tests := []struct {
		name string
		line string
		want []fswatch.RootFS // only MountPoint, Runtime, Namespace, ContainerID, SnapshotID, UpperDir compared
	}{
		{"containerd k8s.io task",
			"812 29 0:170 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/4f1c/rootfs rw,relatime - overlay overlay rw,lowerdir=" + sn + "41/fs:" + sn + "40/fs,upperdir=" + sn + "97/fs,workdir=" + sn + "97/work",
			[]fswatch.RootFS{{MountPoint: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/4f1c/rootfs", Runtime: "containerd", Namespace: "k8s.io", ContainerID: "4f1c", SnapshotID: "97", UpperDir: sn + "97/fs"}}},
		{"docker overlay2",
			"600 28 0:61 / /var/lib/docker/overlay2/abc123/merged rw,relatime shared:300 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y,upperdir=/var/lib/docker/overlay2/abc123/diff,workdir=/var/lib/docker/overlay2/abc123/work,nouserxattr",
			[]fswatch.RootFS{{MountPoint: "/var/lib/docker/overlay2/abc123/merged", Runtime: "docker", SnapshotID: "abc123", UpperDir: "/var/lib/docker/overlay2/abc123/diff"}}},
		{"podman, escaped space in mount point",
			"700 28 0:70 / /var/lib/containers/storage/overlay/ff00/my\\040merged rw - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/A,upperdir=/var/lib/containers/storage/overlay/ff00/diff,workdir=/var/lib/containers/storage/overlay/ff00/work",
			[]fswatch.RootFS{{MountPoint: "/var/lib/containers/storage/overlay/ff00/my merged", Runtime: "containers-storage", SnapshotID: "ff00", UpperDir: "/var/lib/containers/storage/overlay/ff00/diff"}}},
		{"plain overlay is not a container", "50 28 0:40 / /mnt/o rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c", nil},
		{"read-only overlay (no upper)", "51 28 0:41 / /mnt/ro rw - overlay overlay ro,lowerdir=" + sn + "1/fs:" + sn + "2/fs", nil},
		{"ext4", "26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fswatch.Discover(strings.NewReader(tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Mount = fswatch.MountInfo{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseMountinfoOverlay(t *testing.T) {
	line := "812 29 0:170 /sub /mnt/x rw,relatime master:1 - overlay none rw,lowerdir=/l1:/l\\0722,upperdir=/u,workdir=/w,uuid=on\n" +
		"813 29 0:171 / /mnt/y rw - overlay none rw,lowerdir+=/a,lowerdir+=/b,datadir+=/d,upperdir=/u2,workdir=/w2\n"
	mis, err := fswatch.ParseMountinfo(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if len(mis) != 2 {
		t.Fatalf("%d entries", len(mis))
	}
	m := mis[0]
	if m.ID != 812 || m.ParentID != 29 || m.Major != 0 || m.Minor != 170 || m.Root != "/sub" || m.MountPoint != "/mnt/x" ||
		m.FSType != "overlay" || m.Source != "none" || m.UpperDir != "/u" || m.WorkDir != "/w" || !reflect.DeepEqual(m.LowerDirs, []string{"/l1", "/l:2"}) {
		t.Errorf("%+v", m)
	}
	if !reflect.DeepEqual(mis[1].LowerDirs, []string{"/a", "/b", "/d"}) || mis[1].UpperDir != "/u2" {
		t.Errorf("%+v", mis[1])
	}
	if _, err := fswatch.ParseMountinfo(strings.NewReader("garbage\n")); err == nil {
		t.Error("garbage accepted")
	}
}

// Discover on this machine's real mount table finds an overlay laid out like
// a containerd snapshot.
func TestDiscoverLive(t *testing.T) {
	merged, upper := mountOverlay(t, "io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs")
	rfs, err := fswatch.DiscoverFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, rf := range rfs {
		if rf.MountPoint == merged {
			if rf.Runtime != "containerd" || rf.SnapshotID != "42" || rf.UpperDir != upper || filepath.Base(rf.Mount.LowerDirs[0]) != "lower" {
				t.Errorf("%+v", rf)
			}
			return
		}
	}
	t.Errorf("%s not discovered in %+v", merged, rfs)
}
