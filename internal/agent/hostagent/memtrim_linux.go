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
// Returns the bytes advised.
func trimExecutableRSS() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	return trimFileMappings(exe)
}

// trimFileMappings advises away this process's read-only private mappings
// of the file at path that hold no page of their own.
//
// Only mappings without a single anonymous (copy-on-write) page are
// advised: a read-only mapping the dynamic loader relocated (RELRO) holds
// private copies that MADV_DONTNEED would silently revert to the file's
// unrelocated bytes. Private_Dirty is not the test: smaps also counts a
// page-cache page that is dirty (a binary built moments ago, not yet written
// back) as private dirty, and dropping the mapping of such a page is safe —
// it stays in the page cache and faults back in as it is.
func trimFileMappings(path string) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	type mapping struct {
		start, end uint64
		clean      bool // no anonymous (copy-on-write) or swapped page
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
			if len(fields) < 6 || fields[5] != path || strings.Contains(fields[1], "w") || fields[1][3] != 'p' {
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
		case "Anonymous:", "Swap:":
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

// fileRSS is this process's resident file-backed (and shared) memory, from
// /proc/self/statm: one small read, cheap next to trimExecutableRSS.
func fileRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	// size resident shared text lib data dt, in pages
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
