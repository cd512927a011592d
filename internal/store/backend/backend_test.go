package backend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("Open(dir) = %T, want *sqlite.Store", s)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Error(err)
	}
	if _, err := Open(t.Context(), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
	}
}

// TestOpenPostgres checks the dispatch without a server: the error must come
// from the PostgreSQL backend.
func TestOpenPostgres(t *testing.T) {
	_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") {
		t.Errorf("Open(unreachable postgres URL) = %v, want an error from the postgres backend", err)
	}
}

func TestIsPostgres(t *testing.T) {
	for target, want := range map[string]bool{
		"postgres://u@h/db":         true,
		"PostgreSQL://u@h/db":       true,
		"/var/lib/vigil":            false,
		"./postgres":                false,
		"postgres.example.com/data": false,
	} {
		if got := IsPostgres(target); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", target, got, want)
		}
	}
}
