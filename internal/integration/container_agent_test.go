package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
	"github.com/vigil-sec/vigil/internal/testutil/containerdtest"
	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

// sharedImageFiles is how many extra files the shared image carries.
const sharedImageFiles = 60

// pushSharedImage pushes busybox plus a layer of sharedImageFiles small
// files and a trojan (/opt/app/tool.sh) under /opt/app.
func pushSharedImage(t *testing.T, host, repoTag string) string {
	t.Helper()
	base, err := containerdtest.BusyboxImage()
	if err != nil {
		t.Skip(err)
	}
	entries := []imagetest.Entry{imagetest.Dir("opt/"), imagetest.Dir("opt/app/"), imagetest.Dir("opt/app/lib/"),
		{Name: "opt/app/tool.sh", Content: imagetest.MinerLauncher(), Mode: 0o755}}
	for i := range sharedImageFiles {
		b := make([]byte, 4096)
		rand.Read(b)
		entries = append(entries, imagetest.File(fmt.Sprintf("opt/app/lib/f%03d.bin", i), b))
	}
	layer, err := imagetest.Layer(imagetest.Gzip, entries...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
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

// virusSource is DescribeVirusDetail's SourceType of an event.
func virusSource(t *testing.T, ts *testServer, id string) int64 {
	t.Helper()
	var d struct{ SourceType int64 }
	if err := tcssCall(ts.admin(), "DescribeVirusDetail", map[string]any{"Id": id}, &d); err != nil {
		t.Fatal(err)
	}
	return d.SourceType
}

// The `vigil agent` binary (not the in-process agent) on real containers:
// the server's schedule scans 20 containers sharing one image, reading each
// shared file once, and reports SourceType 1; a file written in a container
// is reported in real time (SourceType 2).
func TestContainerBinaryAgentScheduledScan(t *testing.T) {
	requireRoot(t)
	const containers = 20
	ctrd := containerdtest.Start(t, containerdtest.Options{})
	reg := registrytest.Start(t, registrytest.Options{})
	ref := pushSharedImage(t, reg.Host, "test/shared:1")
	names := make([]string, containers)
	ks := make([]*containerdtest.Container, containers)
	for i := range containers {
		names[i] = containerdtest.Unique(fmt.Sprintf("shared%02d", i))
		ks[i] = ctrd.Run(t, "default", names[i], ref, "sleep", "3600")
	}

	ts := startServer(t, func(c *config.Server) { c.VirusScanSchedule = 30 * time.Second })
	ctx := context.Background()
	acct, err := ts.App.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := agentapi.CreateToken(ctx, ts.App.Store, acct.ID, agentapi.TokenOptions{Description: "binary agent"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, ts, token, t.TempDir(), "--containerd-socket", ctrd.Address, "--docker-socket", "-", "--log-level", "debug")

	// The schedule's first tick after the agent is online (ticks every
	// interval/4) starts the scan.
	ag.waitLog(`one-click scan finished.*containers=`+strconv.Itoa(containers), 1, 60*time.Second)
	m := regexp.MustCompile(`one-click scan finished.* files=(\d+) files_read=(\d+) bytes_read=(\d+) findings=(\d+)`).FindStringSubmatch(ag.log.String())
	if m == nil {
		t.Fatalf("no scan figures in the agent's log")
	}
	files, _ := strconv.Atoi(m[1])
	read, _ := strconv.Atoi(m[2])
	found, _ := strconv.Atoi(m[4])
	t.Logf("scheduled scan of %d containers: %d files met, %d read by the engine (%s bytes), %d findings", containers, files, read, m[3], found)
	perContainer := files / containers
	if files < containers*(sharedImageFiles+1) || read > perContainer+containers {
		t.Errorf("files %d, read %d: want each of the ~%d shared files read once, not %d times", files, read, perContainer, containers)
	}
	if found != containers {
		t.Errorf("findings %d, want one (/opt/app/tool.sh) per container", found)
	}
	for _, n := range []string{names[0], names[containers-1]} {
		e := waitVirus(t, ts, n, 10*time.Second, "scheduled finding", func(e virusItem) bool { return e.FilePath == "/opt/app/tool.sh" })
		if src := virusSource(t, ts, e.Id); src != 1 {
			t.Errorf("%s: SourceType %d, want 1 (scheduled)", n, src)
		}
		if e.ImageName != ref {
			t.Errorf("%s: image %q, want %q", n, e.ImageName, ref)
		}
	}

	// Real time through the binary agent.
	ag.waitLog(`watching a container root filesystem.*container=`+regexp.QuoteMeta(names[0]), 1, 30*time.Second)
	eicar := imagetest.EICAR()
	start := time.Now()
	ks[0].Exec(t, "sh", "-c", `printf '%s' "$1" > /tmp/rt.com; sleep 1; :`, "sh", string(eicar))
	e := waitVirus(t, ts, names[0], 5*time.Second, "real-time finding", func(e virusItem) bool { return e.FilePath == "/tmp/rt.com" })
	t.Logf("written → listed: %v (including the exec's own time)", time.Since(start).Round(time.Millisecond))
	if src := virusSource(t, ts, e.Id); src != 2 || e.MD5 != md5hex(eicar) || e.ContainerName != names[0] {
		t.Errorf("real-time event %+v, SourceType %d", e, src)
	}
}
