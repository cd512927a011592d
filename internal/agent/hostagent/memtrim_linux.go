package hostagent

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimExecutableRSS drops this process's clean mappings of its own
// executable (code, read-only data) from its resident set. vigil is one
// binary for server, agent and tools; when it is in the page cache the
// kernel's fault-around maps most of its ~40 MB of code and tables into the
// agent at start-up, although the agent runs a small part of it. The pages
// stay in the page cache; those the agent uses fault back in on demand.
//
// Only mappings without a single private dirty page are advised: a
// read-only mapping the dynamic loader relocated (RELRO) holds private
// copies that MADV_DONTNEED would silently revert to the file's unrelocated
// bytes. (Pages of a binary written moments ago count as dirty until the
// kernel writes them back, so a fresh build is left alone too.) Returns the
// bytes advised.
func trimExecutableRSS() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	type mapping struct {
		start, end uint64
		clean      bool // no private dirty or anonymous pages
	}
	var maps []mapping
	var cur *mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			// 00400000-01578000 r-xp 00000000 08:01 1234 /path/to/vigil
			cur = nil
			if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") || fields[1][3] != 'p' {
				continue
			}
			lo, hi, _ := strings.Cut(fields[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			maps = append(maps, mapping{start: start, end: end, clean: true})
			cur = &maps[len(maps)-1]
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Private_Dirty:", "Anonymous:", "Swap:":
			if fields[1] != "0" {
				cur.clean = false
			}
		}
	}
	if sc.Err() != nil {
		return 0
	}
	var total int64
	for _, m := range maps {
		if !m.clean {
			continue
		}
		// A raw syscall: the range is not Go memory, so no slice over it.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), unix.MADV_DONTNEED); errno == 0 {
			total += int64(m.end - m.start)
		}
	}
	return total
}
