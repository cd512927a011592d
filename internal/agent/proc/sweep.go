package proc

import (
	"context"
	"fmt"
	"os"
	"strconv"
)

// PIDs lists the pids of all processes (thread-group leaders) in the proc
// mount.
func (r *Reader) PIDs() ([]int, error) {
	f, err := os.Open(r.cfg.procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Sweep reads every process. Processes that exit during the sweep are left
// out; other per-process errors are skipped too (reported through the
// logger), so one odd process cannot hide all others. Ancestor chains come
// from the sweep's own table, which costs no extra reads.
func (r *Reader) Sweep(ctx context.Context) ([]*Process, error) {
	pids, err := r.PIDs()
	if err != nil {
		return nil, err
	}
	procs := make([]*Process, 0, len(pids))
	byPID := make(map[int]*Process, len(pids))
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return procs, err
		}
		p, err := r.read(pid)
		if err != nil {
			if !IsGone(err) {
				r.cfg.logger.Debug("sweep: read process", "pid", pid, "err", err)
			}
			continue
		}
		procs = append(procs, p)
		byPID[pid] = p
	}
	lookup := func(pid int) (string, int, bool) {
		p, ok := byPID[pid]
		if !ok {
			return "", 0, false
		}
		return p.Name, p.PPID, true
	}
	for _, p := range procs {
		p.Ancestors = r.ancestors(p.PPID, lookup)
		p.Chain = FormatChain(Ancestor{PID: p.PID, Name: p.Name}, p.Ancestors)
	}
	return procs, nil
}
