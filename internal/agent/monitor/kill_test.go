package monitor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

func TestKill(t *testing.T) {
	r, err := proc.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	// A boot time pinned one second off the reader's, as after an NTP step:
	// the killer must use the same clock as the events.
	clock := NewClock(r, r.BootTime().Add(-time.Second))
	k := NewKiller(r, clock)
	start := func() (*exec.Cmd, time.Time) {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		p, err := r.Read(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return cmd, clock.StartTime(p)
	}
	victim, vStart := start()
	bystander, bStart := start()
	ctx := context.Background()

	tests := []struct {
		name    string
		p       wire.KillPayload
		want    wire.KillResult
		wantErr error
	}{
		{"pid 1", wire.KillPayload{PID: 1, StartTime: vStart}, wire.KillResult{}, ErrRefused},
		{"self", wire.KillPayload{PID: int64(os.Getpid()), StartTime: vStart}, wire.KillResult{}, ErrRefused},
		{"no start time", wire.KillPayload{PID: int64(victim.Process.Pid)}, wire.KillResult{}, ErrRefused},
		{"reused pid (other start time)", wire.KillPayload{PID: int64(bystander.Process.Pid), StartTime: bStart.Add(-10 * time.Millisecond)}, wire.KillResult{Exited: true}, nil},
		{"reader's clock instead of the pinned one", wire.KillPayload{PID: int64(bystander.Process.Pid), StartTime: bStart.Add(time.Second)}, wire.KillResult{Exited: true}, nil},
		{"victim", wire.KillPayload{PID: int64(victim.Process.Pid), StartTime: vStart}, wire.KillResult{Killed: true}, nil},
		{"victim again (reaped)", wire.KillPayload{PID: int64(victim.Process.Pid), StartTime: vStart}, wire.KillResult{Exited: true}, nil},
		{"no such pid", wire.KillPayload{PID: 1 << 30, StartTime: vStart}, wire.KillResult{Exited: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "victim again (reaped)" {
				victim.Wait()
			}
			got, err := k.Kill(ctx, tc.p)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("bystander hit: %v", err)
	}
	if victim.ProcessState == nil || victim.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("victim state %v", victim.ProcessState)
	}
}
