package hostagent

import (
	"crypto/sha256"
	"encoding/json"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTrimExecutableRSS: dropping the executable's clean mappings leaves
// the process working (code and tables fault back in), and relocated
// read-only data (RELRO) is left alone.
func TestTrimExecutableRSS(t *testing.T) {
	// A just-linked test binary's page-cache pages are dirty until written
	// back, and dirty pages count as private dirty: flush them first.
	unix.Sync()
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
