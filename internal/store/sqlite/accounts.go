package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

func (s *Store) CreateAccount(ctx context.Context, name string) (store.Account, error) {
	if err := prep.AccountName(name); err != nil {
		return store.Account{}, err
	}
	a := store.Account{Name: name, CreatedAt: store.UTC(s.now())}
	err := s.w.QueryRowContext(ctx, "INSERT INTO accounts (name, created_at) VALUES (?, ?) RETURNING id",
		name, micros(a.CreatedAt)).Scan(&a.ID)
	if isUnique(err) {
		return store.Account{}, fmt.Errorf("%w: account %q exists", store.ErrConflict, name)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("sqlite: creating account: %w", err)
	}
	return a, nil
}

const accountCols = "id, name, created_at"

func scanAccount(row interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	err := row.Scan(&a.ID, &a.Name, codec.TimeDest(&a.CreatedAt))
	return a, err
}

func (s *Store) GetAccount(ctx context.Context, accountID int64) (store.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", accountID))
	if err != nil {
		return store.Account{}, notFound(err, "account %d", accountID)
	}
	return a, nil
}

func (s *Store) GetAccountByName(ctx context.Context, name string) (store.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE name = ?", name))
	if err != nil {
		return store.Account{}, notFound(err, "account %q", name)
	}
	return a, nil
}

func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing accounts: %w", err)
	}
	out, err := collect(rows, scanAccount)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing accounts: %w", err)
	}
	return out, nil
}

// API keys.

const keyCols = "secret_id, account_id, role, status, secret_key_enc, description, created_at, last_used_at"

func scanKey(row interface{ Scan(...any) error }) (store.APIKey, error) {
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
	_, err = s.w.ExecContext(ctx, "INSERT INTO api_keys ("+keyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		k.SecretID, k.AccountID, k.Role, k.Status, k.SecretKeyEnc, k.Description, codec.Time(k.CreatedAt), codec.Time(k.LastUsedAt))
	switch {
	case isUnique(err):
		return store.APIKey{}, fmt.Errorf("%w: API key %q exists", store.ErrConflict, k.SecretID)
	case isForeignKey(err):
		return store.APIKey{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.APIKey{}, fmt.Errorf("sqlite: creating API key: %w", err)
	}
	return k, nil
}

func (s *Store) GetAPIKey(ctx context.Context, secretID string) (store.APIKey, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE secret_id = ?", secretID))
	if err != nil {
		return store.APIKey{}, notFound(err, "API key %q", secretID)
	}
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context, accountID int64) ([]store.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE account_id = ? ORDER BY created_at, secret_id", accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing API keys: %w", err)
	}
	out, err := collect(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing API keys: %w", err)
	}
	return out, nil
}

func (s *Store) SetAPIKeyStatus(ctx context.Context, accountID int64, secretID string, status store.KeyStatus) error {
	if !status.Valid() {
		return fmt.Errorf("%w: unknown API key status %q", store.ErrInvalid, status)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE api_keys SET status = ? WHERE account_id = ? AND secret_id = ?", status, accountID, secretID)
	if err != nil {
		return fmt.Errorf("sqlite: setting API key status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: API key %q", store.ErrNotFound, secretID)
	}
	return nil
}

func (s *Store) TouchAPIKey(ctx context.Context, accountID int64, secretID string, at time.Time) error {
	at = store.UTC(at)
	// Decide on a read connection: most calls find a fresh value and never
	// queue on the single writer.
	var last time.Time
	err := s.r.QueryRowContext(ctx, "SELECT last_used_at FROM api_keys WHERE account_id = ? AND secret_id = ?",
		accountID, secretID).Scan(codec.TimeDest(&last))
	if err != nil {
		return notFound(err, "API key %q", secretID)
	}
	if !last.IsZero() && at.Sub(last) <= store.LastUsedResolution {
		return nil
	}
	_, err = s.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ?1
		WHERE account_id = ?2 AND secret_id = ?3 AND (last_used_at IS NULL OR last_used_at < ?1 - ?4)`,
		micros(at), accountID, secretID, store.LastUsedResolution.Microseconds())
	if err != nil {
		return fmt.Errorf("sqlite: touching API key: %w", err)
	}
	return nil
}

// Threats.

func (s *Store) UpsertThreats(ctx context.Context, threats []store.Threat) error {
	threats, err := prep.Threats(threats, s.now())
	if err != nil || len(threats) == 0 {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		q := upsertSQL("threats", append([]string{"name"}, fieldNames(cols.Threat)...), "name", fieldNames(cols.Threat))
		for i := range threats {
			t := &threats[i]
			args := append([]any{t.Name}, cols.Values(cols.Threat, codec, t)...)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("sqlite: upserting threat %q: %w", t.Name, err)
			}
		}
		return nil
	})
}

func (s *Store) GetThreat(ctx context.Context, name string) (store.Threat, error) {
	var t store.Threat
	err := s.r.QueryRowContext(ctx, "SELECT "+cols.Names(cols.ThreatRead, "")+" FROM threats WHERE name = ?", name).
		Scan(cols.Dests(cols.ThreatRead, codec, &t)...)
	if err != nil {
		return store.Threat{}, notFound(err, "threat %q", name)
	}
	return t, nil
}

// threatIDs returns the catalog ids of names, adding bare entries for names
// the catalog lacks.
func (s *Store) threatIDs(ctx context.Context, tx *sql.Tx, names []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(names))
	now := micros(s.now())
	for _, n := range names {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM threats WHERE name = ?", n).Scan(&id)
		if err == sql.ErrNoRows {
			err = tx.QueryRowContext(ctx, "INSERT INTO threats (name, updated_at) VALUES (?, ?) RETURNING id", n, now).Scan(&id)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: threat %q: %w", n, err)
		}
		ids[n] = id
	}
	return ids, nil
}

// hostIDs maps host UUIDs of the account to row ids; an unknown UUID is
// ErrNotFound.
func hostIDs(ctx context.Context, tx *sql.Tx, accountID int64, uuids []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(uuids))
	for _, u := range uuids {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM hosts WHERE account_id = ? AND uuid = ?", accountID, u).Scan(&id)
		if err != nil {
			return nil, notFound(err, "host %q", u)
		}
		ids[u] = id
	}
	return ids, nil
}
