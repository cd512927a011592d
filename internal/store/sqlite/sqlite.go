// Package sqlite is the store.Store on SQLite (github.com/mattn/go-sqlite3),
// for single-server installs: the database is the file vigil.db in a
// directory.
//
// SQLite allows one writer at a time, so the Store keeps one write connection
// (all writes queue on it, each in a BEGIN IMMEDIATE transaction, so they
// never fail with "database is locked" half way) and a pool of read
// connections that, in WAL mode, read concurrently with the writer. Event
// uploads that queue behind a commit are written together in the next one
// (group commit, groupcommit.go). Times are INTEGER microseconds since the
// epoch, UTC.
//
// Event queries follow the plan documented in migrations/0001_init.sql. The
// Store names their indexes itself (INDEXED BY), sized from the event counts
// table: SQLite's own planner, which knows averages but not distributions,
// likes to read an index in the requested order and skip rows, which for a
// selective filter means reading most of the table.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/migrate"
)

// FileName is the database file Open creates in its directory.
const FileName = "vigil.db"

//go:embed migrations/*.sql
var migrations embed.FS

// Option configures Open.
type Option func(*options)

type options struct {
	readConns      int
	busyTimeout    time.Duration
	mmapSize       int64
	now            func() time.Time
	optimizeEvery  int64
	stmtCacheSize  int
	cacheSizeKiB   int64
	synchronousOff bool
	ingestGroup    int
}

func defaultOptions() options {
	return options{
		readConns:     max(4, runtime.NumCPU()),
		busyTimeout:   10 * time.Second,
		mmapSize:      1 << 30,
		now:           time.Now,
		optimizeEvery: 50_000,
		stmtCacheSize: 64,
		cacheSizeKiB:  64 << 10,
		ingestGroup:   10_000,
	}
}

// WithReadConns sets the size of the read pool (default: max(4, NumCPU)).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = max(1, n) } }

// WithBusyTimeout sets how long a statement waits for a lock held by another
// process (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithClock sets the clock used for created/updated times (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithOptimizeEvery sets after how many inserted events the Store refreshes
// the planner statistics (PRAGMA optimize); 0 disables it (default 50,000).
func WithOptimizeEvery(n int64) Option { return func(o *options) { o.optimizeEvery = n } }

// WithUnsafeNoSync turns synchronous writes off: a crash of the machine may
// lose the last transactions. Only for throwaway databases (benchmarks).
func WithUnsafeNoSync() Option { return func(o *options) { o.synchronousOff = true } }

// WithIngestGroup sets how many events concurrent InsertRiskProcessEvents
// calls may write together in one transaction (default 10,000; 1 writes
// every batch alone). Larger groups write faster and hold the write lock
// longer.
func WithIngestGroup(events int) Option { return func(o *options) { o.ingestGroup = max(1, events) } }

// Store is a store.Store on SQLite.
type Store struct {
	w   *sql.DB // exactly one connection
	r   *sql.DB // read-only pool
	now func() time.Time

	optimizeEvery    int64
	sinceOptimize    atomic.Int64
	optimizeInFlight atomic.Bool

	riskGroup groupCommitter // InsertRiskProcessEvents
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Optimizer = (*Store)(nil)
)

// Open opens (creating if needed) dir/vigil.db and migrates it to the
// current schema.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if dir == "" {
		return nil, fmt.Errorf("sqlite: %w: empty directory", store.ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// Create the file 0600 ourselves: SQLite would make it 0644, and its -wal
	// and -shm files copy the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	// FULL: every commit is on disk before it returns, so an event the server
	// acknowledged (and the agent then dropped from its spool) survives a
	// power loss. NORMAL would fsync at checkpoints only. Group commit pays
	// the fsync once per group of uploads: ~5 % of ingestion (BENCHMARKS.md,
	// "Event ingestion").
	sync := "FULL"
	if o.synchronousOff {
		sync = "OFF"
	}
	common := url.Values{
		"_busy_timeout":    {fmt.Sprint(o.busyTimeout.Milliseconds())},
		"_foreign_keys":    {"1"},
		"_stmt_cache_size": {fmt.Sprint(o.stmtCacheSize)},
		"_cache_size":      {fmt.Sprint(-o.cacheSizeKiB)},
	}
	wq := cloneValues(common)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", sync)
	wq.Set("_txlock", "immediate")
	rq := cloneValues(common)
	rq.Set("_query_only", "1")
	rq.Set("_txlock", "deferred")

	s := &Store{now: o.now, optimizeEvery: o.optimizeEvery, riskGroup: groupCommitter{maxSize: o.ingestGroup}}
	s.w = sql.OpenDB(newConnector(fileDSN(path, wq), o.mmapSize))
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	s.r = sql.OpenDB(newConnector(fileDSN(path, rq), o.mmapSize))
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	s.r.SetConnMaxIdleTime(5 * time.Minute)
	// Fresh statistics for the planner (cheap when nothing changed).
	if _, err := s.w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: optimize: %w", err)
	}
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func fileDSN(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// walCheckpointPages is the WAL size, in pages, at which a commit copies it
// back into the database file (about 160 MB at 4 KiB pages): an index page
// rewritten by many commits in between is copied once (+10-15 % ingestion
// over 10,000 pages, BENCHMARKS.md "Event ingestion").
const walCheckpointPages = 40_000

// connector opens connections with a driver value of its own, so Open
// registers nothing globally.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newConnector(dsn string, mmapSize int64) *connector {
	return &connector{dsn: dsn, drv: &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			// Reads of a large database go through the page cache of the OS
			// instead of copies into SQLite's. Statement journals (the pages
			// a statement inside a transaction changes, kept in case it
			// alone fails) stay in memory rather than in temporary files:
			// written page by page, they cost a system call per page. The
			// writer checkpoints the WAL every walCheckpointPages pages
			// rather than SQLite's 1,000: a page written by several commits
			// in between (index pages where events arrive) is copied into
			// the database once, and the fsyncs of a checkpoint are paid
			// less often. Readers never checkpoint.
			_, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size=%d; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=%d",
				mmapSize, walCheckpointPages), nil)
			return err
		},
	}}
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c *connector) Driver() driver.Driver                        { return c.drv }

// migrate applies pending migrations in one write transaction. BEGIN
// IMMEDIATE takes the write lock first, so a second process opening the same
// file waits and then finds the migrations applied.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("sqlite: creating schema_migrations: %w", err)
		}
		applied, err := queryInt64s(ctx, tx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("sqlite: reading schema_migrations: %w", err)
		}
		pending, err := migrate.Pending(all, applied)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		for _, m := range pending {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, s.now().UnixMicro()); err != nil {
				return fmt.Errorf("sqlite: recording migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Close runs PRAGMA optimize (as SQLite advises for a closing connection)
// and closes both pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if _, err := s.w.Exec("PRAGMA optimize"); err != nil {
		errs = append(errs, fmt.Errorf("sqlite: optimize: %w", err))
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// write runs fn in a write transaction.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// read runs fn in a read transaction: one snapshot for all its statements.
func (s *Store) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// inserted counts rows written and refreshes the planner statistics when
// enough accumulated. SQLite's plans for the event queries depend on them:
// without sqlite_stat1 it cannot tell a selective index from a poor one.
func (s *Store) inserted(ctx context.Context, n int) {
	if s.optimizeEvery <= 0 || s.sinceOptimize.Add(int64(n)) < s.optimizeEvery {
		return
	}
	if !s.optimizeInFlight.CompareAndSwap(false, true) {
		return
	}
	defer s.optimizeInFlight.Store(false)
	s.sinceOptimize.Store(0)
	// Best effort: failing to refresh statistics does not fail the insert.
	_, _ = s.w.ExecContext(ctx, "PRAGMA optimize")
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func queryInt64s(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r rowScanner) (v int64, err error) { return v, r.Scan(&v) })
}

// rowScanner is what the scanX functions read a row from.
type rowScanner = interface{ Scan(...any) error }

// collect scans every row of rows with scan and closes rows. The slice is
// never nil, so an empty page encodes as [].
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// codec stores times as INTEGER microseconds.
var codec = cols.Codec{
	Time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	},
	TimeDest: func(p *time.Time) any { return &microTime{p} },
}

// microTime scans an INTEGER microsecond column (NULL: zero time).
type microTime struct{ p *time.Time }

func (m *microTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.p = time.Time{}
	case int64:
		*m.p = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("sqlite: cannot scan %T into a time", src)
	}
	return nil
}

// micros is the stored form of a required time.
func micros(t time.Time) int64 { return store.UTC(t).UnixMicro() }

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

func isForeignKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

// notFound maps sql.ErrNoRows to store.ErrNotFound.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: "+format, append([]any{store.ErrNotFound}, args...)...)
	}
	return fmt.Errorf("sqlite: "+format+": %w", append(args, err)...)
}

// Optimize analyzes every table (a full ANALYZE, unlike the sampled PRAGMA
// optimize the Store runs as data grows).
func (s *Store) Optimize(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("sqlite: analyze: %w", err)
	}
	return nil
}
