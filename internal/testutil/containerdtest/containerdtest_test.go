package containerdtest_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/testutil/containerdtest"
	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

func TestRunExecPod(t *testing.T) {
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	reg := registrytest.Start(t, registrytest.Options{})
	ref := containerdtest.PushBusybox(t, reg.Host, "test/busybox:1")

	name := containerdtest.Unique("c1")
	k := ctrd.Run(t, "default", name, ref, "sleep", "300")
	if k.PID <= 0 {
		t.Fatalf("PID = %d", k.PID)
	}
	out, code := k.Exec(t, "sh", "-c", "echo hi > /tmp/x && cat /tmp/x && exit 3")
	if out != "hi\n" || code != 3 {
		t.Fatalf("exec = %q, %d; want \"hi\\n\", 3", out, code)
	}
	b, err := os.ReadFile("/proc/" + itoa(k.PID) + "/root/tmp/x")
	if err != nil || string(b) != "hi\n" {
		t.Fatalf("/proc/PID/root/tmp/x = %q, %v", b, err)
	}
	cg, err := os.ReadFile("/proc/" + itoa(k.PID) + "/cgroup")
	if err != nil || !strings.Contains(string(cg), "/default/"+name) {
		t.Fatalf("cgroup = %q, %v; want /default/%s", cg, err, name)
	}

	pod := ctrd.RunPod(t, containerdtest.PodSpec{PodName: "web-5d8f7c9b6d-x2k4p", ContainerName: "web", Image: ref,
		PodLabels: map[string]string{"pod-template-hash": "5d8f7c9b6d", "app": "web"}, IP: "10.88.3.4"})
	cg, err = os.ReadFile("/proc/" + itoa(pod.Container.PID) + "/cgroup")
	if err != nil || !strings.Contains(string(cg), "/kubepods/besteffort/pod"+pod.UID+"/"+pod.Container.ID) {
		t.Fatalf("pod cgroup = %q, %v", cg, err)
	}
	out, _ = pod.Container.Exec(t, "ip", "addr")
	if !strings.Contains(out, "10.88.3.4") {
		t.Fatalf("pod netns addresses = %q; want 10.88.3.4 (shared with the sandbox)", out)
	}
	k.Stop(t)
	k.Delete(t)
}

func itoa(n int) string { return strconv.Itoa(n) }
