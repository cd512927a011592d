package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
	"github.com/vigil-sec/vigil/internal/testutil/pgtest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.FreshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.ServerURL(t)
	storetest.Run(t, open)
}

// TestConcurrentOpen opens one fresh database from several goroutines at
// once, as servers starting together would: all succeed and the migrations
// are applied once (the advisory lock serializes them).
func TestConcurrentOpen(t *testing.T) {
	dbURL := pgtest.FreshDatabase(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 5)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dbURL, WithMaxConns(2)) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer s.Close()
	}
	var n int
	if err := stores[0].pool.QueryRow(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != migrationCount(t) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, migrationCount(t))
	}
}

// TestNewerSchema refuses a database migrated by a newer binary.
func TestNewerSchema(t *testing.T) {
	dbURL := pgtest.FreshDatabase(t)
	s, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', now())"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), dbURL); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestSessionSettings checks what every pooled connection is set up with.
func TestSessionSettings(t *testing.T) {
	s, err := Open(t.Context(), pgtest.FreshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode, tz string
	if err := s.pool.QueryRow(t.Context(), "SELECT current_setting('plan_cache_mode'), current_setting('TimeZone')").Scan(&mode, &tz); err != nil {
		t.Fatal(err)
	}
	if mode != "force_custom_plan" || tz != "UTC" {
		t.Errorf("plan_cache_mode=%s TimeZone=%s, want force_custom_plan and UTC", mode, tz)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), "postgres://%zz"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(bad URL) = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"); err == nil {
		s.Close()
		t.Error("Open of an unreachable server succeeded")
	}
}

// BenchmarkQueryRiskProcessEvents runs the storetest benchmark on the
// database vigil_bench of the VIGIL_TEST_POSTGRES server, created and seeded
// with 1M events on the first run and reused afterwards:
//
//	VIGIL_TEST_POSTGRES=postgres://… go test -run '^$' -bench QueryRiskProcessEvents -benchtime 3000x ./internal/store/postgres/
func BenchmarkQueryRiskProcessEvents(b *testing.B) {
	server := pgtest.ServerURL(b)
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		b.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'vigil_bench')").Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE vigil_bench"); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close(ctx)
	u, err := url.Parse(server)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/vigil_bench"
	s, err := Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkQueryRiskProcessEvents(b, s, storetest.DefaultBenchData)
}

// BenchmarkInsertRiskProcessEvents measures ingestion into a fresh database
// of the VIGIL_TEST_POSTGRES server:
//
//	VIGIL_TEST_POSTGRES=postgres://… go test -run '^$' -bench 'InsertRiskProcessEvents$' -benchtime 200x ./internal/store/postgres/
func BenchmarkInsertRiskProcessEvents(b *testing.B) {
	storetest.BenchmarkInsertRiskProcessEvents(b, func(b *testing.B, batch int) storetest.IngestTarget {
		s, err := Open(b.Context(), pgtest.FreshDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		t, err := storetest.NewIngestTarget(b.Context(), s, "ingest", storetest.IngestHosts)
		if err != nil {
			b.Fatal(err)
		}
		return t
	})
}

// BenchmarkInsertRiskProcessEvents1M measures ingestion into a copy (CREATE
// DATABASE … TEMPLATE) of the 1M-event database vigil_bench of
// BenchmarkQueryRiskProcessEvents, seeded first if missing, into its account:
//
//	VIGIL_TEST_POSTGRES=postgres://… go test -run '^$' -bench 'InsertRiskProcessEvents1M$' -benchtime 200x ./internal/store/postgres/
func BenchmarkInsertRiskProcessEvents1M(b *testing.B) {
	server := pgtest.ServerURL(b)
	ctx := b.Context()
	s, err := Open(ctx, benchDatabase(b, server, "vigil_bench"))
	if err != nil {
		b.Fatal(err)
	}
	_, err = storetest.DefaultBenchData.Seed(ctx, s, b.Logf)
	s.Close()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	storetest.BenchmarkInsertRiskProcessEvents(b, func(b *testing.B, batch int) storetest.IngestTarget {
		n++
		name := fmt.Sprintf("vigil_bench_ingest_%d", n)
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE vigil_bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			conn, err := pgx.Connect(ctx, server)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				b.Error(err)
			}
		})
		s, err := Open(ctx, databaseURL(b, server, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		t, err := storetest.DefaultBenchData.IngestTarget(ctx, s, storetest.IngestHosts, b.Logf)
		if err != nil {
			b.Fatal(err)
		}
		return t
	})
}

// benchDatabase creates the database name on server unless it exists and
// returns its URL.
func benchDatabase(b *testing.B, server, name string) string {
	ctx := b.Context()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	return databaseURL(b, server, name)
}

func databaseURL(b *testing.B, server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestCountsFollowWrites(t *testing.T) {
	s := open(t).(*Store)
	storetest.TestCountsFollowWrites(t, s, func(ctx context.Context, q string) error {
		_, err := s.pool.Exec(ctx, q)
		return err
	})
}
