// Package postgres is the store.Store on PostgreSQL (github.com/jackc/pgx/v5),
// for installs with several servers or a lot of data.
//
// Sessions run in UTC with plan_cache_mode=force_custom_plan: pgx caches
// prepared statements, and a generic plan chosen once for all values picks
// the wrong index for the event queries (here it turned a 6 ms query into a
// 236 ms one); a custom plan per execution costs well under a millisecond.
// Large ingest batches go through COPY into a staging table.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/migrate"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serializes migrations across
// servers starting at once ("vigil" in ASCII).
const migrationLock int64 = 0x766967696c

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns int32
	now      func() time.Time
}

func defaultOptions() options {
	return options{now: time.Now}
}

// WithMaxConns sets the pool size (default: pgxpool's, max(4, NumCPU), or
// pool_max_conns from the URL).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithClock sets the clock used for created/updated times (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Optimizer = (*Store)(nil)
)

// Open connects to url (postgres://…), checks the connection and migrates the
// database to the current schema.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: %w", store.ErrInvalid, err)
	}
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	s := &Store{pool: pool, now: o.now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies pending migrations in one transaction, holding an advisory
// lock so that servers starting together apply them once: the others wait,
// then find them applied.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("postgres: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT      PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL
		)`); err != nil {
			return fmt.Errorf("postgres: creating schema_migrations: %w", err)
		}
		rows, _ := tx.Query(ctx, "SELECT version FROM schema_migrations")
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("postgres: reading schema_migrations: %w", err)
		}
		pending, err := migrate.Pending(all, applied)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		for _, m := range pending {
			// No arguments: the simple protocol, which runs a multi-statement script.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, s.now()); err != nil {
				return fmt.Errorf("postgres: recording migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in a read-write transaction.
func (s *Store) write(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only REPEATABLE READ transaction: one snapshot for
// all its statements.
func (s *Store) read(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// codec passes times as time.Time (NULL for zero) and scans them in UTC.
var codec = cols.Codec{
	Time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	},
	TimeDest: func(p *time.Time) any { return &utcTime{p} },
}

// utcTime scans a TIMESTAMPTZ (NULL: zero time) in UTC.
type utcTime struct{ p *time.Time }

func (u *utcTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*u.p = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("postgres: infinite timestamp")
	default:
		*u.p = v.Time.UTC()
	}
	return nil
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUnique(err error) bool     { return pgCode(err) == "23505" }
func isForeignKey(err error) bool { return pgCode(err) == "23503" }

// notFound maps pgx.ErrNoRows to store.ErrNotFound.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: "+format, append([]any{store.ErrNotFound}, args...)...)
	}
	return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
}

func fieldNames[T any](fs []cols.Field[T]) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Col
	}
	return out
}

// params returns "$from, $from+1, …" (n of them).
func params(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

func insertSQL(table string, columns []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (" + params(1, len(columns)) + ")"
}

func upsertSQL(table string, columns []string, conflict string, update []string) string {
	return insertSQL(table, columns) + " ON CONFLICT (" + conflict + ") DO UPDATE SET " + setExcluded(update)
}

func setExcluded(columns []string) string {
	parts := make([]string, len(columns))
	for i, c := range columns {
		parts[i] = c + " = excluded." + c
	}
	return strings.Join(parts, ", ")
}

// where accumulates AND'ed conditions with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// add adds a condition; each %s in cond is replaced by the placeholder of
// the next argument.
func (w *where) add(cond string, args ...any) {
	ph := make([]any, len(args))
	for i, a := range args {
		ph[i] = w.arg(a)
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, ph...))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// text adds a TextFilter over one or more columns with one array argument,
// so the statement text (and its cached preparation) does not depend on the
// number of values. Substrings fold ASCII letters only, as SQLite's LIKE
// does: the column through foldSQL (or a column already folded, see
// textFolded) and the pattern in Go. ILIKE would fold other letters too and
// costs several times more per row.
func text(w *where, f store.TextFilter, columns ...string) {
	folded := make([]string, len(columns))
	for i, c := range columns {
		folded[i] = fmt.Sprintf(foldSQL, c)
	}
	textFolded(w, f, columns, folded)
}

// foldSQL lowers the ASCII letters of a column.
const foldSQL = "translate(%s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

// textFolded is text with the folded form of each column given: exact values
// compare with columns, substrings with folded.
func textFolded(w *where, f store.TextFilter, columns, folded []string) {
	op, vals, cols := "= ANY(%[1]s)", f.Values, columns
	if !f.Exact {
		op, vals, cols = "LIKE ANY(%[1]s)", make([]string, len(f.Values)), folded
		for i, v := range f.Values {
			vals[i] = prep.Contains(prep.FoldASCII(v))
		}
	}
	ph := w.arg(vals)
	ors := make([]string, len(cols))
	for i, c := range cols {
		ors[i] = c + " " + fmt.Sprintf(op, ph)
	}
	w.conds = append(w.conds, "("+strings.Join(ors, " OR ")+")")
}

// limitOffset renders paging; limit 0 is no limit.
func limitOffset(limit, offset int) string {
	s := ""
	if limit > 0 {
		s = fmt.Sprintf(" LIMIT %d", limit)
	}
	if offset > 0 {
		s += fmt.Sprintf(" OFFSET %d", offset)
	}
	return s
}

// Optimize vacuums and analyzes the event tables: fresh statistics for the
// planner and a visibility map that lets COUNTs use index-only scans.
// Autovacuum does the same in the background; this does it now.
func (s *Store) Optimize(ctx context.Context) error {
	for _, table := range []string{"hosts", "threats", "risk_process_events", "virus_events", "registry_images", "image_viruses"} {
		if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) "+table); err != nil {
			return fmt.Errorf("postgres: vacuum %s: %w", table, err)
		}
	}
	return nil
}
