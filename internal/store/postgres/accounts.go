package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

func (s *Store) CreateAccount(ctx context.Context, name string) (store.Account, error) {
	if err := prep.AccountName(name); err != nil {
		return store.Account{}, err
	}
	a := store.Account{Name: name, CreatedAt: store.UTC(s.now())}
	err := s.pool.QueryRow(ctx, "INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id", name, a.CreatedAt).Scan(&a.ID)
	if isUnique(err) {
		return store.Account{}, fmt.Errorf("%w: account %q exists", store.ErrConflict, name)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("postgres: creating account: %w", err)
	}
	return a, nil
}

const accountCols = "id, name, created_at"

func scanAccount(row pgx.Row) (store.Account, error) {
	var a store.Account
	err := row.Scan(&a.ID, &a.Name, codec.TimeDest(&a.CreatedAt))
	return a, err
}

func (s *Store) GetAccount(ctx context.Context, accountID int64) (store.Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = $1", accountID))
	if err != nil {
		return store.Account{}, notFound(err, "account %d", accountID)
	}
	return a, nil
}

func (s *Store) GetAccountByName(ctx context.Context, name string) (store.Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE name = $1", name))
	if err != nil {
		return store.Account{}, notFound(err, "account %q", name)
	}
	return a, nil
}

func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY id")
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing accounts: %w", err)
	}
	return out, nil
}

// API keys.

const keyCols = "secret_id, account_id, role, status, secret_key_enc, description, created_at, last_used_at"

func scanKey(row pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	err := row.Scan(&k.SecretID, &k.AccountID, &k.Role, &k.Status, &k.SecretKeyEnc, &k.Description,
		codec.TimeDest(&k.CreatedAt), codec.TimeDest(&k.LastUsedAt))
	return k, err
}

func (s *Store) CreateAPIKey(ctx context.Context, accountID int64, k store.APIKey) (store.APIKey, error) {
	k, err := prep.APIKey(k, s.now())
	if err != nil {
		return store.APIKey{}, err
	}
	k.AccountID = accountID
	_, err = s.pool.Exec(ctx, "INSERT INTO api_keys ("+keyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		k.SecretID, k.AccountID, k.Role, k.Status, k.SecretKeyEnc, k.Description, codec.Time(k.CreatedAt), codec.Time(k.LastUsedAt))
	switch {
	case isUnique(err):
		return store.APIKey{}, fmt.Errorf("%w: API key %q exists", store.ErrConflict, k.SecretID)
	case isForeignKey(err):
		return store.APIKey{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.APIKey{}, fmt.Errorf("postgres: creating API key: %w", err)
	}
	return k, nil
}

func (s *Store) GetAPIKey(ctx context.Context, secretID string) (store.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, "SELECT "+keyCols+" FROM api_keys WHERE secret_id = $1", secretID))
	if err != nil {
		return store.APIKey{}, notFound(err, "API key %q", secretID)
	}
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context, accountID int64) ([]store.APIKey, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+keyCols+" FROM api_keys WHERE account_id = $1 ORDER BY created_at, secret_id", accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIKey, error) { return scanKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing API keys: %w", err)
	}
	return out, nil
}

func (s *Store) SetAPIKeyStatus(ctx context.Context, accountID int64, secretID string, status store.KeyStatus) error {
	if !status.Valid() {
		return fmt.Errorf("%w: unknown API key status %q", store.ErrInvalid, status)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE api_keys SET status = $1 WHERE account_id = $2 AND secret_id = $3", status, accountID, secretID)
	if err != nil {
		return fmt.Errorf("postgres: setting API key status: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: API key %q", store.ErrNotFound, secretID)
	}
	return nil
}

func (s *Store) TouchAPIKey(ctx context.Context, accountID int64, secretID string, at time.Time) error {
	at = store.UTC(at)
	// One statement: the UPDATE writes only when the stored value is stale;
	// the outer SELECT tells a fresh key from a missing one.
	var found bool
	err := s.pool.QueryRow(ctx, `WITH touched AS (
			UPDATE api_keys SET last_used_at = $3
			WHERE account_id = $1 AND secret_id = $2 AND (last_used_at IS NULL OR last_used_at < $3::timestamptz - $4 * interval '1 microsecond')
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM touched) OR EXISTS (SELECT 1 FROM api_keys WHERE account_id = $1 AND secret_id = $2)`,
		accountID, secretID, at, store.LastUsedResolution.Microseconds()).Scan(&found)
	if err != nil {
		return fmt.Errorf("postgres: touching API key: %w", err)
	}
	if !found {
		return fmt.Errorf("%w: API key %q", store.ErrNotFound, secretID)
	}
	return nil
}

// Threats.

var upsertThreatSQL = upsertSQL("threats", append([]string{"name"}, fieldNames(cols.Threat)...), "name", fieldNames(cols.Threat))

func (s *Store) UpsertThreats(ctx context.Context, threats []store.Threat) error {
	threats, err := prep.Threats(threats, s.now())
	if err != nil || len(threats) == 0 {
		return err
	}
	// A stable order keeps concurrent upserts from deadlocking on row locks.
	slices.SortFunc(threats, func(a, b store.Threat) int { return cmp.Compare(a.Name, b.Name) })
	return s.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range threats {
			t := &threats[i]
			b.Queue(upsertThreatSQL, append([]any{t.Name}, cols.Values(cols.Threat, codec, t)...)...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: upserting threats: %w", err)
		}
		return nil
	})
}

func (s *Store) GetThreat(ctx context.Context, name string) (store.Threat, error) {
	var t store.Threat
	err := s.pool.QueryRow(ctx, "SELECT "+cols.Names(cols.ThreatRead, "")+" FROM threats WHERE name = $1", name).
		Scan(cols.Dests(cols.ThreatRead, codec, &t)...)
	if err != nil {
		return store.Threat{}, notFound(err, "threat %q", name)
	}
	return t, nil
}

// threatIDs returns the catalog ids of names, adding bare entries for names
// the catalog lacks.
func (s *Store) threatIDs(ctx context.Context, tx pgx.Tx, names []string) (map[string]int64, error) {
	names = slices.Clone(names)
	slices.Sort(names) // a stable lock order across concurrent batches
	if _, err := tx.Exec(ctx, "INSERT INTO threats (name, updated_at) SELECT unnest($1::text[]), $2 ON CONFLICT (name) DO NOTHING",
		names, store.UTC(s.now())); err != nil {
		return nil, fmt.Errorf("postgres: adding threats: %w", err)
	}
	return idMap(ctx, tx, "SELECT name, id FROM threats WHERE name = ANY($1)", names)
}

// hostIDs maps host UUIDs of the account to row ids; an unknown UUID is
// ErrNotFound.
func hostIDs(ctx context.Context, tx pgx.Tx, accountID int64, uuids []string) (map[string]int64, error) {
	ids, err := idMap(ctx, tx, "SELECT uuid, id FROM hosts WHERE account_id = $2 AND uuid = ANY($1)", uuids, accountID)
	if err != nil {
		return nil, err
	}
	for _, u := range uuids {
		if _, ok := ids[u]; !ok {
			return nil, fmt.Errorf("%w: host %q", store.ErrNotFound, u)
		}
	}
	return ids, nil
}

func idMap(ctx context.Context, tx pgx.Tx, query string, names []string, args ...any) (map[string]int64, error) {
	rows, _ := tx.Query(ctx, query, append([]any{names}, args...)...)
	ids := make(map[string]int64, len(names))
	var (
		name string
		id   int64
	)
	_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error { ids[name] = id; return nil })
	if err != nil {
		return nil, fmt.Errorf("postgres: resolving ids: %w", err)
	}
	return ids, nil
}
