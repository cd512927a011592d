package regscan_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/regscan"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// fakeScanner stands in for imagescan: it takes delay per image (or blocks
// until released), fails refs containing "broken", finds one virus in refs
// containing "evil", and records how many scans ran at once.
type fakeScanner struct {
	delay   time.Duration
	block   chan struct{} // non-nil: scans wait for it (or their ctx)
	mu      sync.Mutex
	running int
	maxSeen int
	started atomic.Int64
	ctxErrs chan error // where cancelled scans report, when non-nil
}

func (f *fakeScanner) scan(ctx context.Context, t imagescan.Target, progress func(imagescan.Progress)) (*imagescan.Report, error) {
	f.started.Add(1)
	f.mu.Lock()
	f.running++
	f.maxSeen = max(f.maxSeen, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()

	progress(imagescan.Progress{Layer: 0, Layers: 2, BytesDone: 5, BytesTotal: 10})
	var wait <-chan time.Time
	if f.block == nil {
		wait = time.After(f.delay)
	}
	select {
	case <-ctx.Done():
		if f.ctxErrs != nil {
			f.ctxErrs <- ctx.Err()
		}
		return nil, ctx.Err()
	case <-f.block:
	case <-wait:
	}
	if strings.Contains(t.Ref, "broken") {
		return nil, errors.New("manifest unknown")
	}
	rep := &imagescan.Report{Reference: t.Ref, Digest: "sha256:" + strings.Repeat("a", 64), OS: "linux", Size: 100,
		Layers: []imagescan.LayerReport{{Digest: "sha256:" + strings.Repeat("b", 64), Size: 100}}}
	if strings.Contains(t.Ref, "evil") {
		rep.Findings = []imagescan.Finding{{
			Finding: engine.Finding{Path: "usr/bin/miner", VirusName: "Linux.Miner.Xmrig", Risk: engine.RiskCritical,
				Category: "2", FileType: engine.TypeELF, MD5: "d41d8cd98f00b204e9800998ecf8427e", Size: 42, Tags: []string{"miner"},
				Description: engine.Text{EN: "a miner", ZH: "挖矿"}},
			LayerDigest: "sha256:" + strings.Repeat("b", 64),
		}}
	}
	return rep, nil
}

type fixture struct {
	st   store.Store
	acct store.Account
	reg  store.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct, err := st.CreateAccount(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := st.CreateRegistry(ctx, acct.ID, store.Registry{Name: "r1", URL: "http://127.0.0.1:5000", Type: "harbor"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, acct: acct, reg: reg}
}

// task creates images named names and a task over them.
func (f *fixture) task(t *testing.T, timeout int64, names ...string) (store.ScanTask, []int64) {
	t.Helper()
	ctx := context.Background()
	var targets []store.ScanTarget
	var ids []int64
	for _, n := range names {
		img, err := f.st.UpsertRegistryImage(ctx, f.acct.ID, store.RegistryImage{RegistryID: f.reg.ID, Namespace: "ns", Name: n, Tag: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, img.ID)
		targets = append(targets, store.ScanTarget{Kind: "image", TargetID: fmt.Sprint(img.ID), Status: store.TaskPending})
	}
	task, err := f.st.CreateScanTask(ctx, f.acct.ID, store.ScanTask{Kind: store.TaskRegistryImage, TimeoutSecs: timeout}, targets)
	if err != nil {
		t.Fatal(err)
	}
	return task, ids
}

func (f *fixture) run(t *testing.T, sc *fakeScanner, opts ...regscan.Option) (*regscan.Runner, context.CancelFunc, chan struct{}) {
	t.Helper()
	opts = append([]regscan.Option{regscan.WithPollInterval(20 * time.Millisecond), regscan.WithStopCheck(50 * time.Millisecond),
		regscan.WithProgressInterval(0)}, opts...)
	r := regscan.New(f.st, sc.scan, regscan.NewResolver(f.st, nil, nil), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, cancel, done
}

func (f *fixture) waitTask(t *testing.T, id int64, want string, within time.Duration) store.ScanTask {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		task, err := f.st.GetScanTask(context.Background(), f.acct.ID, id)
		if err == nil && task.Status == want {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %d: %+v %v; want %s within %v", id, task, err, want, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunnerCompletesTask(t *testing.T) {
	f := newFixture(t)
	sc := &fakeScanner{delay: 10 * time.Millisecond}
	f.run(t, sc)
	task, ids := f.task(t, 0, "clean", "evil", "broken", "clean2")
	got := f.waitTask(t, task.ID, store.TaskFinished, 5*time.Second)
	if got.TargetTotal != 4 || got.TargetDone != 4 || got.RiskCount != 1 || got.FinishedAt.IsZero() {
		t.Errorf("task %+v", got)
	}
	targets, err := f.st.ListScanTargets(context.Background(), f.acct.ID, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []string{store.TaskFinished, store.TaskFinished, store.TaskFailed, store.TaskFinished}
	for i, tg := range targets {
		if tg.Status != wantStatus[i] {
			t.Errorf("target %d: %+v, want %s", i, tg, wantStatus[i])
		}
	}
	if !strings.Contains(targets[2].Error, "manifest unknown") {
		t.Errorf("failed target error %q", targets[2].Error)
	}
	ctx := context.Background()
	for i, want := range []string{regscan.ImageScanned, regscan.ImageScanned, regscan.ImageScanErr, regscan.ImageScanned} {
		img, err := f.st.GetRegistryImage(ctx, f.acct.ID, ids[i])
		if err != nil || img.ScanStatus != want {
			t.Errorf("image %d: %q %q %v, want %s", i, img.ScanStatus, img.ScanError, err, want)
		}
	}
	p, err := f.st.QueryImageViruses(ctx, f.acct.ID, ids[1], store.ImageVirusQuery{})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("viruses %+v %v", p, err)
	}
	v := p.Items[0]
	if v.Path != "usr/bin/miner" || v.RiskLevel != "4" || v.FileName != "miner" || v.FileType != "ELF" || v.FileSize != 42 ||
		v.LayerDigest == "" || v.Threat.Desc.ZH != "挖矿" || len(v.Threat.Tags) != 1 {
		t.Errorf("virus %+v", v)
	}
}

func TestRunnerConcurrencyLimit(t *testing.T) {
	f := newFixture(t)
	sc := &fakeScanner{delay: 30 * time.Millisecond}
	f.run(t, sc, regscan.WithConcurrency(2), regscan.WithMaxTasks(2))
	t1, _ := f.task(t, 0, "a1", "a2", "a3", "a4")
	t2, _ := f.task(t, 0, "b1", "b2", "b3", "b4")
	f.waitTask(t, t1.ID, store.TaskFinished, 5*time.Second)
	f.waitTask(t, t2.ID, store.TaskFinished, 5*time.Second)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.maxSeen != 2 {
		t.Errorf("at most %d scans ran at once, want 2", sc.maxSeen)
	}
}

func TestRunnerStopCancelsScans(t *testing.T) {
	f := newFixture(t)
	sc := &fakeScanner{block: make(chan struct{}), ctxErrs: make(chan error, 10)}
	f.run(t, sc, regscan.WithStopCheck(200*time.Millisecond))
	task, ids := f.task(t, 0, "x1", "x2", "x3")
	f.waitTask(t, task.ID, store.TaskRunning, 5*time.Second)
	for sc.started.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	stopped := time.Now()
	if err := f.st.SetScanTaskStatus(context.Background(), f.acct.ID, task.ID, store.TaskStopped, "by test"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-sc.ctxErrs:
		case <-time.After(time.Second):
			t.Fatal("in-flight scans not cancelled within 1 s of the stop")
		}
	}
	t.Logf("stop noticed after %v", time.Since(stopped))
	// The images are as before the scan (never scanned).
	deadline := time.Now().Add(time.Second)
	for _, id := range ids[:2] {
		for {
			img, _ := f.st.GetRegistryImage(context.Background(), f.acct.ID, id)
			if img.ScanStatus == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("image %d status %q after stop", id, img.ScanStatus)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := sc.started.Load(); n != 2 {
		t.Errorf("%d scans started; the third must not start after the stop", n)
	}
	got := f.waitTask(t, task.ID, store.TaskStopped, time.Second)
	if got.TargetDone != 3 {
		t.Errorf("task %+v", got)
	}
}

func TestRunnerTimeout(t *testing.T) {
	f := newFixture(t)
	sc := &fakeScanner{block: make(chan struct{})}
	f.run(t, sc)
	task, ids := f.task(t, 1, "slow")
	got := f.waitTask(t, task.ID, store.TaskTimeout, 3*time.Second)
	if !strings.Contains(got.Error, "timeout") {
		t.Errorf("task error %q", got.Error)
	}
	deadline := time.Now().Add(time.Second)
	for {
		img, _ := f.st.GetRegistryImage(context.Background(), f.acct.ID, ids[0])
		if img.ScanStatus == regscan.ImageScanErr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image status %q after timeout", img.ScanStatus)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCrashedOwnerIsTakenOver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	task, _ := f.task(t, 0, "c1", "c2")
	// A server claims the task, marks it running and dies without renewing.
	claimed, ok, err := f.st.ClaimScanTask(ctx, store.TaskRegistryImage, "dead-server", 300*time.Millisecond)
	if err != nil || !ok || claimed.ID != task.ID {
		t.Fatalf("claim: %+v %v %v", claimed, ok, err)
	}
	if err := f.st.SetScanTaskStatus(ctx, f.acct.ID, task.ID, store.TaskRunning, ""); err != nil {
		t.Fatal(err)
	}
	sc := &fakeScanner{delay: 5 * time.Millisecond}
	start := time.Now()
	f.run(t, sc, regscan.WithOwner("second"))
	f.waitTask(t, task.ID, store.TaskFinished, 5*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("taken over after %v, before the lease expired", d)
	}
}

func TestShutdownHandsTaskToAnotherRunner(t *testing.T) {
	f := newFixture(t)
	first := &fakeScanner{block: make(chan struct{})}
	_, stop, done := f.run(t, first, regscan.WithOwner("first"), regscan.WithLease(10*time.Second))
	task, ids := f.task(t, 0, "s1", "s2", "s3")
	for first.started.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	// The interrupted images are back to their previous state, not "SCANNING".
	for _, id := range ids {
		img, _ := f.st.GetRegistryImage(context.Background(), f.acct.ID, id)
		if img.ScanStatus == regscan.ImageScanning {
			t.Errorf("image %d still SCANNING after shutdown", id)
		}
	}
	second := &fakeScanner{delay: 5 * time.Millisecond}
	f.run(t, second, regscan.WithOwner("second"), regscan.WithLease(10*time.Second))
	got := f.waitTask(t, task.ID, store.TaskFinished, 3*time.Second) // well before the 10 s lease
	if got.TargetDone != 3 || second.started.Load() != 3 {
		t.Errorf("task %+v, second runner scanned %d", got, second.started.Load())
	}
}

func TestWakeSkipsPoll(t *testing.T) {
	f := newFixture(t)
	sc := &fakeScanner{delay: time.Millisecond}
	r, _, _ := f.run(t, sc, regscan.WithPollInterval(time.Hour))
	time.Sleep(20 * time.Millisecond) // the runner is now waiting out its poll
	task, _ := f.task(t, 0, "w")
	r.Wake()
	f.waitTask(t, task.ID, store.TaskFinished, 2*time.Second)
}

func TestPercent(t *testing.T) {
	tests := []struct {
		p    imagescan.Progress
		want int64
	}{
		{imagescan.Progress{}, 0},
		{imagescan.Progress{Layer: 0, Layers: 2, BytesDone: 5, BytesTotal: 10}, 25},
		{imagescan.Progress{Layer: 1, Layers: 2, Cached: true}, 99},
		{imagescan.Progress{Layer: 3, Layers: 4, BytesDone: 20, BytesTotal: 10}, 99},
	}
	for _, tc := range tests {
		if got := regscan.Percent(tc.p); got != tc.want {
			t.Errorf("Percent(%+v) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

func TestDefaultTarget(t *testing.T) {
	tests := []struct {
		url, digest, want string
		plain             bool
	}{
		{"http://127.0.0.1:5000", "", "127.0.0.1:5000/ns/app:v1", true},
		{"https://reg.example/", "sha256:abc", "reg.example/ns/app@sha256:abc", false},
	}
	for _, tc := range tests {
		ref, plain, _ := regscan.DefaultTarget(store.Registry{URL: tc.url}, store.RegistryImage{Namespace: "ns", Name: "app", Tag: "v1", Digest: tc.digest}, "")
		if ref != tc.want || plain != tc.plain {
			t.Errorf("%s: %s %v", tc.url, ref, plain)
		}
	}
}
