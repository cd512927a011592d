// Command burst measures the process connector under an exec burst (issue 6,
// §5): a generator process runs short programs at a fixed rate while the
// listener (this process) counts the exec events it receives, and reports
// how many executions it missed, the receive-buffer overruns (ENOBUFS) and
// its own CPU time. Every -long-every'th execution is a long-lived process
// (sleep), the kind a risk process is: on an overrun the listener sweeps
// /proc, and the report says how many long-lived processes the events and
// the sweeps found together.
//
//	go run ./bench/agent/burst -rate 2000 -dur 10s
//	go run ./bench/agent/burst -rate 2000 -dur 10s -rcvbuf 4096 -slow 200us   # force overruns
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agent/proc"
)

func main() {
	gen := flag.Bool("gen", false, "internal: be the generator")
	rate := flag.Int("rate", 2000, "executions per second")
	dur := flag.Duration("dur", 10*time.Second, "burst length")
	workers := flag.Int("workers", 16, "generator goroutines")
	longEvery := flag.Int("long-every", 50, "every Nth execution is a long-lived process")
	rcvbuf := flag.Int("rcvbuf", proc.DefaultRecvBuffer, "connector receive buffer (bytes)")
	slow := flag.Duration("slow", 0, "extra time the listener spends per event (simulates a slow consumer)")
	flag.Parse()
	if *gen {
		generate(*rate, *dur, *workers, *longEvery)
		return
	}
	if err := listen(*rate, *dur, *workers, *longEvery, *rcvbuf, *slow); err != nil {
		fmt.Fprintln(os.Stderr, "burst:", err)
		os.Exit(1)
	}
}

// generate runs the burst and prints "S pid" (short) or "L pid" (long) lines.
func generate(rate int, dur time.Duration, workers, longEvery int) {
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	tick := make(chan int, rate)
	go func() {
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= dur {
				close(tick)
				return
			}
			time.Sleep(time.Until(at))
			tick <- i
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tick {
				kind, cmd := "S", exec.Command("/bin/true")
				if longEvery > 0 && i%longEvery == 0 {
					kind, cmd = "L", exec.Command("/bin/sleep", "5")
				}
				if err := cmd.Start(); err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", kind, cmd.Process.Pid)
				mu.Unlock()
				if kind == "S" {
					cmd.Wait()
				} else {
					go cmd.Wait()
				}
			}
		}()
	}
	wg.Wait()
}

func cpu() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func listen(rate int, dur time.Duration, workers, longEvery, rcvbuf int, slow time.Duration) error {
	c, err := proc.ListenConnector(proc.WithReceiveBuffer(rcvbuf))
	if err != nil {
		return err
	}
	defer c.Close()
	reader, err := proc.NewReader(proc.WithHashes(false))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	seen := map[int]bool{}  // by exec event
	swept := map[int]bool{} // by a sweep after an overrun
	sweepReq := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sweeps int
	go func() { // the recovery sweeper: one sweep per burst of overruns
		for range sweepReq {
			pids, err := reader.PIDs()
			if err != nil {
				continue
			}
			mu.Lock()
			sweeps++
			for _, pid := range pids {
				swept[pid] = true
			}
			mu.Unlock()
		}
	}()
	c0, t0 := cpu(), time.Now()
	go c.Run(ctx, func(e proc.Event) {
		if e.Kind == proc.EventOverrun {
			select {
			case sweepReq <- struct{}{}:
			default:
			}
			return
		}
		if slow > 0 {
			time.Sleep(slow)
		}
		mu.Lock()
		seen[e.TGID] = true
		mu.Unlock()
	})

	gen := exec.Command(os.Args[0], "-gen", "-rate", strconv.Itoa(rate), "-dur", dur.String(),
		"-workers", strconv.Itoa(workers), "-long-every", strconv.Itoa(longEvery))
	gen.Stderr = os.Stderr
	out, err := gen.Output()
	if err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	elapsed := time.Since(t0)
	time.Sleep(time.Second) // drain
	// A final sweep, as the agent's periodic safety net would do.
	select {
	case sweepReq <- struct{}{}:
	default:
	}
	time.Sleep(200 * time.Millisecond)
	used := cpu() - c0
	cancel()
	close(sweepReq)

	var total, long, missed, longMissed, longRecovered int
	mu.Lock()
	defer mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var kind string
		var pid int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &kind, &pid); err != nil {
			continue
		}
		total++
		if kind == "L" {
			long++
		}
		if !seen[pid] {
			missed++
			if kind == "L" {
				if swept[pid] {
					longRecovered++
				} else {
					longMissed++
				}
			}
		}
	}
	st := c.Stats()
	fmt.Printf("executions        %d in %.1fs (%.0f/s)\n", total, elapsed.Seconds(), float64(total)/elapsed.Seconds())
	fmt.Printf("exec events       %d delivered for them, %d missed (%.2f%%)\n", total-missed, missed, 100*float64(missed)/float64(max(total, 1)))
	fmt.Printf("overruns          %d (ENOBUFS), recovery sweeps %d\n", st.Overruns, sweeps)
	fmt.Printf("long-lived        %d: %d by event, %d recovered by sweep, %d lost\n", long, long-longMissed-longRecovered, longRecovered, longMissed)
	fmt.Printf("listener CPU      %.0f ms (%.2f%% of one core over the burst)\n", float64(used.Milliseconds()), 100*used.Seconds()/elapsed.Seconds())
	return nil
}
