package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestTinyELF(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the programs are x86-64 Linux executables")
	}
	tests := []struct {
		name     string
		prog     []byte
		status   int
		min, max time.Duration // run time bounds
	}{
		{"exit 0", exitELF(0), 0, 0, time.Second},
		{"exit 7", exitELF(7), 7, 0, time.Second},
		{"sleep 300ms exit 0", sleepELF(300*time.Millisecond, 0), 0, 300 * time.Millisecond, 3 * time.Second},
		{"sleep 1.2s exit 3", sleepELF(1200*time.Millisecond, 3), 3, 1200 * time.Millisecond, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "prog")
			if err := os.WriteFile(p, tt.prog, 0o755); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := exec.Command(p, "-o", "x").Run()
			took := time.Since(start)
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("exit status %d, want %d", status, tt.status)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("ran %v, want %v..%v", took, tt.min, tt.max)
			}
		})
	}
}

// TestTinyELFKilled: the sleeper can be killed while it sleeps (the burst
// cleans up its flagged processes that way).
func TestTinyELFKilled(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the programs are x86-64 Linux executables")
	}
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, sleepELF(time.Minute, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("exited early")
	}
	cmd.Process.Kill()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("want killed, got %v", err)
	}
}
