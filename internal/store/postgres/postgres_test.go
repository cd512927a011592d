package postgres

import (
	"context"
	"errors"
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

func TestCountsFollowWrites(t *testing.T) {
	s := open(t).(*Store)
	storetest.TestCountsFollowWrites(t, s, func(ctx context.Context, q string) error {
		_, err := s.pool.Exec(ctx, q)
		return err
	})
}
