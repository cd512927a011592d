package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	if err := s.r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != migrationCount(t) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, migrationCount(t))
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
	if err := stores[0].r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != migrationCount(t) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, migrationCount(t))
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

// BenchmarkInsertRiskProcessEvents measures ingestion into a fresh
// database with the server's settings (WAL, synchronous=FULL):
//
//	go test -run '^$' -bench 'InsertRiskProcessEvents$' -benchtime 200x ./internal/store/sqlite/
func BenchmarkInsertRiskProcessEvents(b *testing.B) {
	storetest.BenchmarkInsertRiskProcessEvents(b, openFresh())
}

// openFresh returns an opener of fresh databases with opts and the
// ingestion benchmarks' account and hosts.
func openFresh(opts ...Option) func(b *testing.B, batch int) storetest.IngestTarget {
	return func(b *testing.B, batch int) storetest.IngestTarget {
		s, err := Open(b.Context(), b.TempDir(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		t, err := storetest.NewIngestTarget(b.Context(), s, "ingest", storetest.IngestHosts)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
}

// BenchmarkIngestRiskProcessEventsConcurrent measures ingestion with
// storetest.IngestWriters concurrent uploaders of 500-event batches into a
// fresh database, with and without group commit (group=1 writes every batch
// alone):
//
//	go test -run '^$' -bench 'IngestRiskProcessEventsConcurrent$' -benchtime 100x ./internal/store/sqlite/
func BenchmarkIngestRiskProcessEventsConcurrent(b *testing.B) {
	for _, group := range []int{1, defaultOptions().ingestGroup} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			storetest.BenchmarkIngestRiskProcessEventsConcurrent(b, openFresh(WithIngestGroup(group)))
		})
	}
}

// BenchmarkInsertRiskProcessEvents1M measures ingestion into a copy of the
// 1M-event database of BenchmarkQueryRiskProcessEvents (seeded first if
// missing), into its account, with the server's settings:
//
//	go test -run '^$' -bench 'InsertRiskProcessEvents1M$' -benchtime 200x ./internal/store/sqlite/
func BenchmarkInsertRiskProcessEvents1M(b *testing.B) {
	storetest.BenchmarkInsertRiskProcessEvents(b, open1M(b))
}

// BenchmarkIngestRiskProcessEventsConcurrent1M is
// BenchmarkIngestRiskProcessEventsConcurrent into a copy of the 1M-event
// database:
//
//	go test -run '^$' -bench 'IngestRiskProcessEventsConcurrent1M$' -benchtime 100x ./internal/store/sqlite/
func BenchmarkIngestRiskProcessEventsConcurrent1M(b *testing.B) {
	for _, group := range []int{1, defaultOptions().ingestGroup} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			storetest.BenchmarkIngestRiskProcessEventsConcurrent(b, open1M(b, WithIngestGroup(group)))
		})
	}
}

// open1M seeds the 1M-event database once (in VIGIL_BENCH_DIR, default
// $TMPDIR/vigil-bench-sqlite) and returns an opener of fresh copies of it.
func open1M(b *testing.B, opts ...Option) func(b *testing.B, batch int) storetest.IngestTarget {
	cache := os.Getenv("VIGIL_BENCH_DIR")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "vigil-bench-sqlite")
	}
	s, err := Open(b.Context(), cache, WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := storetest.DefaultBenchData.Seed(b.Context(), s, b.Logf); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil { // checkpoints the WAL into vigil.db
		b.Fatal(err)
	}
	return func(b *testing.B, batch int) storetest.IngestTarget {
		dir := b.TempDir()
		if err := copyFile(filepath.Join(dir, FileName), filepath.Join(cache, FileName)); err != nil {
			b.Fatal(err)
		}
		s, err := Open(b.Context(), dir, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		t, err := storetest.DefaultBenchData.IngestTarget(b.Context(), s, storetest.IngestHosts, b.Logf)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
