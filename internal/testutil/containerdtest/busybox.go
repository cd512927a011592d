package containerdtest

import (
	"debug/elf"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

// BusyboxPath is Debian busybox-static's binary.
const BusyboxPath = "/bin/busybox"

// BusyboxApplets are the commands the busybox image links to busybox.
var BusyboxApplets = []string{
	"sh", "ash", "sleep", "cat", "echo", "ls", "cp", "mv", "rm", "mkdir", "chmod", "chown", "touch",
	"wget", "nc", "ip", "ifconfig", "hostname", "id", "ps", "kill", "env", "stat", "head", "tail",
	"md5sum", "sha256sum", "true", "false", "test", "[", "grep", "sed", "ln", "dd", "printf", "uname",
}

// BusyboxImage builds a one-layer linux/amd64 image of the host's static
// busybox: /bin/busybox, a link per applet in /bin, /etc/passwd and
// /etc/group for root and nobody, a world-writable /tmp, and PATH set.
func BusyboxImage() (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox-static (apt-get install busybox-static): %w", err)
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return nil, err
	}
	entries := []imagetest.Entry{
		imagetest.Dir("bin/"), imagetest.Dir("etc/"), imagetest.Dir("proc/"), imagetest.Dir("sys/"),
		imagetest.Dir("dev/"), imagetest.Dir("root/"), imagetest.Dir("var/"),
		{Name: "tmp/", Type: '5', Mode: 0o1777},
		{Name: "bin/busybox", Content: bin, Mode: 0o755},
		imagetest.File("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")),
		imagetest.File("etc/group", []byte("root:x:0:\nnogroup:x:65534:\n")),
	}
	for _, a := range BusyboxApplets {
		entries = append(entries, imagetest.Symlink("bin/"+a, "busybox"))
	}
	img, err := imagetest.Build(entries)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.Config.Cmd = []string{"/bin/sh"}
	cfg.Config.WorkingDir = "/"
	return mutate.ConfigFile(img, cfg)
}

// checkStatic refuses a dynamically linked busybox (Debian's "busybox"
// package installs one at the same path): it would not run in an image
// without libc.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", p)
		}
	}
	return nil
}

// PushBusybox builds the busybox image and pushes it to the plain-HTTP
// registry at host (registrytest's "127.0.0.1:PORT") as repo:tag, returning
// the reference. A missing busybox-static skips the test, or fails it under
// CI.
func PushBusybox(t testing.TB, host, repoTag string) string {
	t.Helper()
	img, err := BusyboxImage()
	if err != nil {
		if Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ref := host + "/" + repoTag
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}
