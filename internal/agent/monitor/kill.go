package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

// killConfirmTimeout bounds the wait for a SIGKILLed process to disappear (a
// process in uninterruptible sleep dies only when its I/O ends).
const killConfirmTimeout = 5 * time.Second

// ErrRefused: the kill was refused (pid 1, the agent itself, a kernel thread).
var ErrRefused = errors.New("kill refused")

// Killer executes kill commands. It identifies a process by pid and start
// time, computed exactly as the events it reported (the same Clock), so a
// pid that was reused by another process is never killed.
type Killer struct {
	r     *proc.Reader
	clock Clock
	self  int
}

// NewKiller returns a killer reading processes through r with clock's start
// times.
func NewKiller(r *proc.Reader, clock Clock) *Killer {
	return &Killer{r: r, clock: clock, self: os.Getpid()}
}

// Kill kills the process p names if it still runs with p's start time:
// Killed when it was killed (and is gone), Exited when that process is not
// there any more (exited, zombie, or its pid now belongs to another
// process), an error otherwise.
func (k *Killer) Kill(ctx context.Context, p wire.KillPayload) (wire.KillResult, error) {
	pid := int(p.PID)
	switch {
	case pid <= 1 || int64(pid) != p.PID:
		return wire.KillResult{}, fmt.Errorf("%w: pid %d", ErrRefused, p.PID)
	case pid == k.self:
		return wire.KillResult{}, fmt.Errorf("%w: pid %d is the agent itself", ErrRefused, pid)
	case p.StartTime.IsZero():
		return wire.KillResult{}, fmt.Errorf("%w: no start time for pid %d", ErrRefused, pid)
	}
	// A pidfd taken before the start time is checked pins the process: if
	// the check passes, the signal goes to that very process even if it
	// exits and its pid is reused in between (pidfd_send_signal then fails
	// with ESRCH instead of hitting the newcomer).
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return wire.KillResult{Exited: true}, nil
		}
		if !errors.Is(err, unix.ENOSYS) {
			return wire.KillResult{}, fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		pidfd = -1 // kernel < 5.3: check, then kill(2)
	} else {
		defer unix.Close(pidfd)
	}
	cur, err := k.r.Read(pid)
	if proc.IsGone(err) {
		return wire.KillResult{Exited: true}, nil
	}
	if err != nil {
		return wire.KillResult{}, err
	}
	if !SameStart(k.clock.StartTime(cur), p.StartTime) || cur.Zombie {
		return wire.KillResult{Exited: true}, nil // another process has the pid now, or it already died
	}
	if cur.Kernel {
		return wire.KillResult{}, fmt.Errorf("%w: pid %d is a kernel thread", ErrRefused, pid)
	}
	if pidfd >= 0 {
		err = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	} else {
		err = unix.Kill(pid, unix.SIGKILL)
	}
	if errors.Is(err, unix.ESRCH) {
		return wire.KillResult{Exited: true}, nil
	}
	if err != nil {
		return wire.KillResult{}, fmt.Errorf("kill %d: %w", pid, err)
	}
	if err := k.waitGone(ctx, pid, pidfd, p.StartTime); err != nil {
		return wire.KillResult{}, err
	}
	return wire.KillResult{Killed: true}, nil
}

// waitGone waits until the killed process has exited (a zombie counts: it
// runs nothing any more).
func (k *Killer) waitGone(ctx context.Context, pid, pidfd int, start time.Time) error {
	deadline := time.Now().Add(killConfirmTimeout)
	if pidfd >= 0 {
		// A pidfd polls readable when its process exits.
		for time.Now().Before(deadline) && ctx.Err() == nil {
			fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if err == nil && n > 0 {
				return nil
			}
			if err != nil && !errors.Is(err, unix.EINTR) {
				break
			}
		}
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cur, err := k.r.Read(pid)
		if proc.IsGone(err) || err == nil && (cur.Zombie || !SameStart(k.clock.StartTime(cur), start)) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("pid %d still runs %v after SIGKILL", pid, killConfirmTimeout)
}
