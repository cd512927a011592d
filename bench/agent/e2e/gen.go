package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// genArg, as the first argument, turns this binary into a burst generator
// child (genMain). The burst needs several: Go's syscall.ForkExec serializes
// forks on syscall.ForkLock, and one process spawning tiny static programs
// tops out at ~1,500/s on the benchmark VM.
const genArg = "burst-gen"

// flaggedWallet is the -u value of flagged execution seq of generator g; it
// makes the command line of each one unique, so an event found through the
// API is the one of this execution and not of an earlier process that had the
// same pid (pid_max is 32,768 on small machines).
func flaggedWallet(g, seq int) string { return fmt.Sprintf("wallet.b%d.%d", g, seq) }

// genResult is what one generator child reports.
type genResult struct {
	execs, flagged, errors int
	end                    time.Time // last execution started
	flaggedPIDs            []flaggedExec
}

type flaggedExec struct {
	pid    int
	marker string
}

// genMain runs one generator: -rate executions per second of -plain for
// -dur, paced from -start, every -flag-every'th one (shifted by -phase) of
// -flagged with a miner command line instead. It prints "F pid wallet" per
// flagged execution and a final "N execs flagged errors end-unix-ns" line.
// Children are reaped as they exit; the flagged ones still sleeping when
// the generator is done are left to init.
func genMain(args []string) int {
	fs := flag.NewFlagSet(genArg, flag.ExitOnError)
	plain := fs.String("plain", "", "program exiting at once")
	flagged := fs.String("flagged", "", "flagged program")
	rate := fs.Float64("rate", 1000, "executions per second")
	dur := fs.Duration("dur", 10*time.Second, "length")
	flagEvery := fs.Int("flag-every", 100, "every Nth execution is flagged (0: none)")
	phase := fs.Int("phase", 0, "offset of the flagged executions in the sequence")
	id := fs.Int("id", 0, "generator number (in the flagged command lines)")
	startNS := fs.Int64("start", 0, "start time, Unix ns (0: now)")
	fs.Parse(args)

	n := int(*rate * dur.Seconds())
	start := time.Now()
	if *startNS > 0 {
		start = time.Unix(0, *startNS)
		time.Sleep(time.Until(start))
	}
	// Children are reaped between spawns (wait4 WNOHANG), not by a
	// goroutine blocked in wait4: that would cost a thread wake-up per
	// child, and context switches are what this VM is slowest at.
	reap := func() {
		var ws syscall.WaitStatus
		for {
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 && err != syscall.EINTR {
				return
			}
		}
	}
	out := bufio.NewWriter(os.Stdout)
	attr := &syscall.ProcAttr{Env: []string{}} // no files, no environment: the cheapest exec
	res := genResult{}
	interval := time.Duration(float64(time.Second) / *rate)
	seq := 0
	for i := 0; i < n; {
		// Catch up with the schedule, then sleep until the next one is due.
		due := min(n, int(time.Since(start)/interval)+1)
		for ; i < due; i++ {
			var pid int
			var err error
			if *flagEvery > 0 && (i+*phase)%*flagEvery == 0 {
				w := flaggedWallet(*id, seq)
				seq++
				pid, err = syscall.ForkExec(*flagged, []string{*flagged, "-o", minerArg, "-u", w}, attr)
				if err == nil {
					res.flagged++
					fmt.Fprintf(out, "F %d %s\n", pid, w)
				}
			} else {
				pid, err = syscall.ForkExec(*plain, []string{*plain}, attr)
			}
			if err != nil {
				res.errors++
				continue
			}
			res.execs++
			reap()
		}
		if i < n {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	res.end = time.Now()
	time.Sleep(10 * time.Millisecond)
	reap()
	fmt.Fprintf(out, "N %d %d %d %d\n", res.execs, res.flagged, res.errors, res.end.UnixNano())
	out.Flush()
	return 0
}

// burst runs `gens` generator children of this binary, together rate×dur
// executions of plain, one in flagEvery of flagged (which sleeps, then
// exits), paced at rate; it returns what they did, the start and the end of
// the last generator.
func burst(plain, flagged string, rate int, dur time.Duration, gens, flagEvery int) (genResult, time.Time) {
	self, err := os.Executable()
	fail(err)
	start := time.Now().Add(300 * time.Millisecond) // all children up before
	type child struct {
		cmd *exec.Cmd
		out io.Reader
	}
	var cs []child
	for g := range gens {
		// Each child flags every flagEvery'th of its own executions, the
		// children shifted against each other so the flagged ones spread.
		phase := 0
		if flagEvery > 0 {
			phase = g * flagEvery / gens
		}
		cmd := exec.Command(self, genArg, "-plain", plain, "-flagged", flagged,
			"-rate", strconv.FormatFloat(float64(rate)/float64(gens), 'f', -1, 64), "-dur", dur.String(),
			"-flag-every", strconv.Itoa(flagEvery), "-phase", strconv.Itoa(phase), "-id", strconv.Itoa(g),
			"-start", strconv.FormatInt(start.UnixNano(), 10))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		fail(err)
		fail(cmd.Start())
		cs = append(cs, child{cmd, stdout})
	}
	var total genResult
	for _, c := range cs {
		b, err := io.ReadAll(c.out)
		fail(err)
		fail(c.cmd.Wait())
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "F":
				pid, _ := strconv.Atoi(f[1])
				total.flaggedPIDs = append(total.flaggedPIDs, flaggedExec{pid, f[2]})
			case len(f) == 5 && f[0] == "N":
				e, _ := strconv.Atoi(f[1])
				fl, _ := strconv.Atoi(f[2])
				er, _ := strconv.Atoi(f[3])
				ns, _ := strconv.ParseInt(f[4], 10, 64)
				total.execs += e
				total.flagged += fl
				total.errors += er
				if end := time.Unix(0, ns); end.After(total.end) {
					total.end = end
				}
			default:
				fail(fmt.Errorf("burst generator: unexpected output %q", l))
			}
		}
	}
	return total, start
}
