package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

// TestReopen checks that migrations are recorded once and data survives.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetAccount(t.Context(), a.ID); err != nil || got.Name != "alpha" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	var n int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 1 {
		t.Fatalf("schema_migrations has %d rows (%v), want 1", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentOpen opens one directory from several goroutines at once, as
// several processes starting together would: all succeed, migrations run once.
func TestConcurrentOpen(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dir) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer s.Close()
	}
	var n int
	if err := stores[0].r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 1 {
		t.Fatalf("schema_migrations has %d rows (%v), want 1", n, err)
	}
}

// TestNewerSchema refuses a database migrated by a newer binary.
func TestNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), dir); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), file); err == nil {
		t.Error("Open(a file) succeeded")
	}
}

// BenchmarkQueryRiskProcessEvents runs the storetest benchmark on a 1M-event
// database cached in $VIGIL_BENCH_DIR (default: <tmp>/vigil-bench-sqlite),
// seeded on the first run (delete it after a schema change):
//
//	go test -run '^$' -bench QueryRiskProcessEvents -benchtime 3000x ./internal/store/sqlite/
func BenchmarkQueryRiskProcessEvents(b *testing.B) {
	dir := os.Getenv("VIGIL_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "vigil-bench-sqlite")
	}
	s, err := Open(b.Context(), dir, WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkQueryRiskProcessEvents(b, s, storetest.DefaultBenchData)
}

func TestCountsFollowWrites(t *testing.T) {
	s := open(t).(*Store)
	storetest.TestCountsFollowWrites(t, s, func(ctx context.Context, q string) error {
		_, err := s.w.ExecContext(ctx, q)
		return err
	})
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(context.Background(), "perm"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{FileName, FileName + "-wal"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", name, st.Mode().Perm())
		}
	}
}
