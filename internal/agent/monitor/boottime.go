package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/proc"
)

// BootTimeFile is the file, in the agent's data directory, that pins the boot
// time per boot id.
const BootTimeFile = "boot-time.json"

type bootRecord struct {
	BootID   string `json:"boot_id"`
	BootTime int64  `json:"boot_time"` // Unix seconds
}

// StableBootTime returns the boot time process start times are computed from,
// the same for every agent run of one boot.
//
// Why: a process's start time is boot time + start ticks, and the server
// deduplicates events on (host, pid, start time, rule). The kernel's boot
// time (btime in /proc/stat) is derived from the wall clock minus the
// monotonic clock and moves when NTP steps or slews the clock, by a second at
// a time; an agent restarted after such a move would report every still
// running risk process with a start time one second off: a duplicate event,
// and a kill command whose start time no longer matches. So the first agent
// run of a boot records btime under the boot id
// (/proc/sys/kernel/random/boot_id, new at every boot) in dataDir, and later
// runs of the same boot reuse it. Start ticks are exact (USER_HZ ticks since
// boot), so start times are then identical across restarts, to the tick.
func StableBootTime(dataDir, procRoot string) (time.Time, error) {
	if procRoot == "" {
		procRoot = proc.DefaultProcRoot
	}
	idb, err := os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "random", "boot_id"))
	if err != nil {
		return time.Time{}, fmt.Errorf("boot id: %w", err)
	}
	bootID := strings.TrimSpace(string(idb))
	path := filepath.Join(dataDir, BootTimeFile)
	if b, err := os.ReadFile(path); err == nil {
		var rec bootRecord
		if json.Unmarshal(b, &rec) == nil && rec.BootID == bootID && rec.BootTime > 0 {
			return time.Unix(rec.BootTime, 0), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	bt, err := readBtime(filepath.Join(procRoot, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	b, _ := json.Marshal(bootRecord{BootID: bootID, BootTime: bt.Unix()})
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	return bt, nil
}

func readBtime(statPath string) (time.Time, error) {
	data, err := os.ReadFile(statPath)
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: %q: %w", line, err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("boot time: no btime line in %s", statPath)
}

// Clock converts a process's start time as the reader computed it to the
// stable one: the reader's boot time is replaced by the pinned boot time. The
// difference p.StartTime - reader boot time is exactly the start ticks, so
// nothing is rounded.
type Clock struct {
	readerBoot time.Time
	boot       time.Time
}

// NewClock returns the conversion from r's start times to ones based on boot
// (zero boot: r's own).
func NewClock(r *proc.Reader, boot time.Time) Clock {
	if boot.IsZero() {
		boot = r.BootTime()
	}
	return Clock{readerBoot: r.BootTime(), boot: boot}
}

// StartTime returns p's stable start time, in UTC.
func (c Clock) StartTime(p *proc.Process) time.Time {
	return c.boot.Add(p.StartTime.Sub(c.readerBoot)).UTC()
}

// startOf is StartTime for a value the reader computed.
func (c Clock) startOf(t time.Time) time.Time {
	return c.boot.Add(t.Sub(c.readerBoot)).UTC()
}

// SameStart reports whether two start times denote the same process start.
// They are compared at the microsecond, the precision the store keeps; start
// times are whole ticks (10 ms) after a whole-second boot time, so two
// different starts never compare equal and one start always does.
func SameStart(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}
