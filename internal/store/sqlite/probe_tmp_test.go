package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/store/storetest"
)

func TestProbeTmp(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(os.TempDir(), "vigil-bench-sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Probe(t, s, storetest.DefaultBenchData, 60)
}
