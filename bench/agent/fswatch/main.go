// Command fswatch measures the container file watcher under a write burst
// (issue 5, §5): a generator process writes small files at a fixed rate into
// an overlay mount laid out like a container root filesystem, planting a few
// marker files (EICAR-like text, not malware) along the way, while this
// process watches the mount with internal/agent/fswatch and reads every file
// delivered, as the engine would. It reports how many files were delivered by
// events and by catch-up rescans, how many notifications were coalesced or
// shed, whether every marker (and every file) was seen, and its own CPU time.
//
//	go run ./bench/agent/fswatch -rate 5000 -dur 10s
//	go run ./bench/agent/fswatch -rate 5000 -dur 10s -scan-cost 1ms -workers 2   # slow engine: sheds, rescans
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agent/fswatch"
)

// marker is EICAR-like text: recognisable, harmless, not the real EICAR string.
const marker = `X5O!P%@AP[4\PZX54(P^)7CC)7}$VIGIL-FSWATCH-TEST-MARKER`

func main() {
	gen := flag.String("gen", "", "internal: be the generator writing into this directory")
	rate := flag.Int("rate", 5000, "files written per second")
	dur := flag.Duration("dur", 10*time.Second, "burst length")
	markers := flag.Int("markers", 10, "marker files planted during the burst")
	size := flag.Int("size", 256, "bytes per file")
	workers := flag.Int("workers", 2, "handler goroutines")
	queue := flag.Int("queue", 1024, "handler queue size")
	pending := flag.Int("pending", 2048, "coalescing table size")
	scanCost := flag.Duration("scan-cost", 0, "extra time per delivered file (simulates the engine)")
	kq := flag.Int("kernel-queue", 0, "if set, create the fanotify group with this max_queued_events (sysctl set and restored around creation)")
	mode := flag.String("mode", "fanotify", "fanotify, inotify or periodic")
	flag.Parse()
	if *gen != "" {
		if err := generate(*gen, *rate, *dur, *markers, *size); err != nil {
			fmt.Fprintln(os.Stderr, "generator:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*rate, *dur, *markers, *size, *workers, *queue, *pending, *scanCost, *kq, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "fswatch bench:", err)
		os.Exit(1)
	}
}

// generate writes rate files/s for dur in batches every 10 ms, across 100
// directories, planting markers at even intervals. It prints "M path" for
// each marker and "N count" at the end.
func generate(dir string, rate int, dur time.Duration, markers, size int) error {
	total := int(float64(rate) * dur.Seconds())
	every := max(total/max(markers, 1), 1)
	body := bytes.Repeat([]byte("a"), size)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for d := range 100 {
		if err := os.MkdirAll(filepath.Join(dir, "burst", fmt.Sprintf("d%02d", d)), 0o755); err != nil {
			return err
		}
	}
	start := time.Now()
	perBatch := max(rate/100, 1)
	written := 0
	for written < total {
		for range perBatch {
			if written == total {
				break
			}
			p := filepath.Join(dir, "burst", fmt.Sprintf("d%02d", written%100), fmt.Sprintf("f%06d", written))
			data := body
			if markers > 0 && written%every == every/2 {
				data = append([]byte(marker+"\n"), body...)
				fmt.Fprintln(out, "M", p)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			written++
		}
		next := start.Add(time.Duration(written) * time.Second / time.Duration(rate))
		time.Sleep(time.Until(next))
	}
	fmt.Fprintln(out, "N", written, time.Since(start).Seconds())
	return nil
}

func mountOverlay() (merged string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "fswatch-bench-")
	if err != nil {
		return "", nil, err
	}
	lower, upper, work := filepath.Join(dir, "lower"), filepath.Join(dir, "io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs"), filepath.Join(dir, "io.containerd.snapshotter.v1.overlayfs/snapshots/1/work")
	merged = filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		os.MkdirAll(d, 0o755)
	}
	// An image layer with some content the rescans must not walk.
	for i := range 2000 {
		os.WriteFile(filepath.Join(lower, fmt.Sprintf("img%04d", i)), []byte("image"), 0o644)
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("mount overlay: %w", err)
	}
	return merged, func() {
		if unix.Unmount(merged, 0) != nil {
			unix.Unmount(merged, unix.MNT_DETACH)
		}
		os.RemoveAll(dir)
	}, nil
}

func cpu(who int) time.Duration {
	var ru unix.Rusage
	unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(rate int, dur time.Duration, markers, size, workers, queue, pending int, scanCost time.Duration, kq int, mode string) error {
	merged, cleanup, err := mountOverlay()
	if err != nil {
		return err
	}
	defer cleanup()

	m := map[string]fswatch.Mode{"fanotify": fswatch.ModeFanotify, "inotify": fswatch.ModeInotify, "periodic": fswatch.ModePeriodic}[mode]
	opts := []fswatch.Option{fswatch.WithMode(m), fswatch.WithWorkers(workers), fswatch.WithQueueSize(queue), fswatch.WithPendingSize(pending), fswatch.WithInterval(2 * time.Second)}
	var w *fswatch.Watcher
	if kq > 0 {
		const sysctl = "/proc/sys/fs/fanotify/max_queued_events"
		old, err := os.ReadFile(sysctl)
		if err != nil {
			return err
		}
		os.WriteFile(sysctl, []byte(fmt.Sprint(kq)), 0o644)
		w, err = fswatch.New(opts...)
		os.WriteFile(sysctl, old, 0o644)
		if err != nil {
			return err
		}
	} else if w, err = fswatch.New(opts...); err != nil {
		return err
	}
	defer w.Close()
	if err := w.AddMount(merged); err != nil {
		return err
	}

	var mu sync.Mutex
	seen := map[string]fswatch.Kind{} // path → how it was delivered (first time)
	found := map[string]fswatch.Kind{}
	var lastDelivery time.Time
	handle := func(ctx context.Context, ev fswatch.Event) {
		var b []byte
		if ev.File != nil {
			b, _ = io.ReadAll(io.LimitReader(ev.File, 64<<10))
		}
		if scanCost > 0 {
			time.Sleep(scanCost)
		}
		mu.Lock()
		defer mu.Unlock()
		lastDelivery = time.Now()
		if _, ok := seen[ev.Path]; !ok {
			seen[ev.Path] = ev.Kind
		}
		if bytes.Contains(b, []byte(marker)) {
			if _, ok := found[ev.Path]; !ok {
				found[ev.Path] = ev.Kind
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	cpu0, wall0 := cpu(unix.RUSAGE_SELF), time.Now()
	go func() { runDone <- w.Run(ctx, handle) }()

	self, _ := os.Executable()
	gen := exec.Command(self, "-gen", merged, "-rate", fmt.Sprint(rate), "-dur", dur.String(), "-markers", fmt.Sprint(markers), "-size", fmt.Sprint(size))
	gen.Stderr = os.Stderr
	out, err := gen.Output()
	if err != nil {
		cancel()
		return fmt.Errorf("generator: %w", err)
	}
	genEnd := time.Now()
	var planted []string
	var written int
	var genSecs float64
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(line, "M "):
			planted = append(planted, line[2:])
		case strings.HasPrefix(line, "N "):
			fmt.Sscan(line[2:], &written, &genSecs)
		}
	}
	// Wait until every marker is found and deliveries have stopped for 2 s (the
	// catch-up rescans included), at most 60 s.
	deadline := time.Now().Add(60 * time.Second)
	var allMarkers time.Duration
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		nf, idle := len(found), time.Since(lastDelivery)
		mu.Unlock()
		if nf == len(planted) && allMarkers == 0 {
			allMarkers = time.Since(genEnd)
		}
		if nf == len(planted) && idle > 2*time.Second {
			break
		}
	}
	mu.Lock()
	lastAt := lastDelivery
	mu.Unlock()
	cpuUsed, wall := cpu(unix.RUSAGE_SELF)-cpu0, lastAt.Sub(wall0)
	cancel()
	if err := <-runDone; err != nil {
		return err
	}
	s := w.Stats()
	mu.Lock()
	defer mu.Unlock()
	byEvent, byRescan := 0, 0
	for _, k := range found {
		if k&fswatch.KindRescan != 0 {
			byRescan++
		} else {
			byEvent++
		}
	}
	burstSeen := 0
	for p := range seen {
		if strings.Contains(p, "/burst/") {
			burstSeen++
		}
	}
	fmt.Printf("mode %s, %d workers, queue %d, pending %d, scan cost %v\n", s.Mode, workers, queue, pending, scanCost)
	fmt.Printf("written %d files in %.1f s (%.0f/s); generator CPU %v\n", written, genSecs, float64(written)/genSecs, cpu(unix.RUSAGE_CHILDREN).Round(time.Millisecond))
	fmt.Printf("kernel events %d, delivered %d (%d by rescan), coalesced %d, shed %d, kernel overflows %d, rescan passes %d\n",
		s.Events, s.Delivered, s.Rescanned, s.Coalesced, s.Dropped, s.Overflows, s.Rescans)
	fmt.Printf("distinct files seen %d / %d written, missed %d\n", burstSeen, written, written-burstSeen)
	fmt.Printf("markers found %d / %d (%d by event, %d by rescan), all found %v after the burst ended\n", len(found), len(planted), byEvent, byRescan, allMarkers.Round(time.Millisecond))
	fmt.Printf("watcher CPU %v over %v (%.1f %% of a core), last delivery %v after the burst ended\n",
		cpuUsed.Round(time.Millisecond), wall.Round(time.Millisecond), 100*cpuUsed.Seconds()/wall.Seconds(), lastAt.Sub(genEnd).Round(time.Millisecond))
	if len(found) != len(planted) {
		return fmt.Errorf("%d marker files missed", len(planted)-len(found))
	}
	return nil
}
