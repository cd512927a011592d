package hostagent

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTrimExecutableRSS: dropping the executable's clean mappings leaves
// the process working (code and tables fault back in).
func TestTrimExecutableRSS(t *testing.T) {
	if fileRSS() <= 0 {
		t.Fatalf("no file-backed resident memory read from statm")
	}
	if n := trimExecutableRSS(); n <= 0 {
		t.Fatalf("nothing trimmed")
	}
	// Exercise code, type data and interfaces after the trim.
	for range 3 {
		b, err := json.Marshal(map[string]any{"a": []int{1, 2, 3}, "b": sha256.Sum256([]byte("x"))})
		if err != nil || len(b) == 0 {
			t.Fatal(err)
		}
		runtime.GC()
		trimExecutableRSS()
	}
}

// TestTrimFileMappings: a read-only private mapping of a file written
// moments ago (its page-cache pages dirty, which smaps counts as private
// dirty) is trimmed and reads the same afterwards; one holding a
// copy-on-write page (as a relocated RELRO segment does) is left alone, its
// private bytes intact.
func TestTrimFileMappings(t *testing.T) {
	page := os.Getpagesize()
	content := bytes.Repeat([]byte("vigil-trim-"), 64*page/11+1)[:64*page]
	tests := []struct {
		name    string
		cow     bool // write a page, then make the mapping read-only
		trimmed bool
	}{
		{name: "dirty page cache", trimmed: true},
		{name: "copy-on-write page", cow: true, trimmed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mapped")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			prot := unix.PROT_READ
			if tt.cow {
				prot |= unix.PROT_WRITE
			}
			m, err := unix.Mmap(int(f.Fd()), 0, len(content), prot, unix.MAP_PRIVATE)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(m)
			var sum byte
			for i := 0; i < len(m); i += page {
				sum += m[i] // fault every page in
			}
			runtime.KeepAlive(sum)
			if tt.cow {
				m[0] = 'X'
				if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
					t.Fatal(err)
				}
			}
			if got := mappingRSS(t, path); got == 0 {
				t.Fatalf("mapping not resident before the trim")
			}
			n := trimFileMappings(path)
			if (n > 0) != tt.trimmed {
				t.Fatalf("trimmed %d bytes, want trimmed %v", n, tt.trimmed)
			}
			if rss := mappingRSS(t, path); tt.trimmed && rss != 0 {
				t.Errorf("%d kB still resident after the trim", rss)
			}
			want := content
			if tt.cow {
				want = append([]byte{'X'}, content[1:]...)
			}
			if !bytes.Equal(m, want) {
				t.Errorf("mapping content changed by the trim")
			}
		})
	}
}

// mappingRSS is the resident kB of this process's mappings of path.
func mappingRSS(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	for _, line := range bytes.Split(b, []byte("\n")) {
		fields := bytes.Fields(line)
		switch {
		case len(fields) >= 5 && bytes.IndexByte(fields[0], '-') > 0 && !bytes.HasSuffix(fields[0], []byte(":")):
			in = len(fields) >= 6 && string(fields[5]) == path
		case in && len(fields) >= 2 && string(fields[0]) == "Rss:":
			kb, err := strconv.Atoi(string(fields[1]))
			if err != nil {
				t.Fatalf("smaps Rss %q: %v", fields[1], err)
			}
			total += kb
		}
	}
	return total
}
