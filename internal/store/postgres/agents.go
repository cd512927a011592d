package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
)

// Enrollment tokens.

const tokenCols = "id, account_id, token_hash, description, max_uses, uses, expires_at, created_at, revoked_at"

func scanToken(row pgx.Row) (store.EnrollToken, error) {
	var t store.EnrollToken
	err := row.Scan(&t.ID, &t.AccountID, &t.TokenHash, &t.Description, &t.MaxUses, &t.Uses,
		codec.TimeDest(&t.ExpiresAt), codec.TimeDest(&t.CreatedAt), codec.TimeDest(&t.RevokedAt))
	return t, err
}

func (s *Store) CreateEnrollToken(ctx context.Context, accountID int64, t store.EnrollToken) (store.EnrollToken, error) {
	if len(t.TokenHash) == 0 {
		return store.EnrollToken{}, fmt.Errorf("%w: enroll token hash is empty", store.ErrInvalid)
	}
	if t.MaxUses < 0 {
		return store.EnrollToken{}, fmt.Errorf("%w: negative max uses", store.ErrInvalid)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.AccountID, t.Uses, t.RevokedAt = accountID, 0, time.Time{}
	t.CreatedAt, t.ExpiresAt = store.UTC(t.CreatedAt), store.UTC(t.ExpiresAt)
	err := s.pool.QueryRow(ctx, `INSERT INTO enroll_tokens (account_id, token_hash, description, max_uses, uses, expires_at, created_at)
		VALUES ($1, $2, $3, $4, 0, $5, $6) RETURNING id`,
		accountID, t.TokenHash, t.Description, t.MaxUses, codec.Time(t.ExpiresAt), t.CreatedAt).Scan(&t.ID)
	switch {
	case isUnique(err):
		return store.EnrollToken{}, fmt.Errorf("%w: enroll token exists", store.ErrConflict)
	case isForeignKey(err):
		return store.EnrollToken{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.EnrollToken{}, fmt.Errorf("postgres: creating enroll token: %w", err)
	}
	return t, nil
}

func (s *Store) ConsumeEnrollToken(ctx context.Context, tokenHash []byte, at time.Time) (store.EnrollToken, error) {
	// One conditional UPDATE (the row lock serializes concurrent ones): uses
	// never overrun MaxUses.
	t, err := scanToken(s.pool.QueryRow(ctx, `UPDATE enroll_tokens SET uses = uses + 1
		WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		  AND (max_uses = 0 OR uses < max_uses)
		RETURNING `+tokenCols, tokenHash, store.UTC(at)))
	if err != nil {
		return store.EnrollToken{}, notFound(err, "usable enroll token")
	}
	return t, nil
}

func (s *Store) GetEnrollTokenByHash(ctx context.Context, tokenHash []byte) (store.EnrollToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenCols+" FROM enroll_tokens WHERE token_hash = $1", tokenHash))
	if err != nil {
		return store.EnrollToken{}, notFound(err, "enroll token")
	}
	return t, nil
}

func (s *Store) ListEnrollTokens(ctx context.Context, accountID int64) ([]store.EnrollToken, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+tokenCols+" FROM enroll_tokens WHERE account_id = $1 ORDER BY id", accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.EnrollToken, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing enroll tokens: %w", err)
	}
	return out, nil
}

func (s *Store) RevokeEnrollToken(ctx context.Context, accountID, id int64, at time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE enroll_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE account_id = $2 AND id = $3",
		store.UTC(at), accountID, id)
	if err != nil {
		return fmt.Errorf("postgres: revoking enroll token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: enroll token %d", store.ErrNotFound, id)
	}
	return nil
}

// Agent credentials.

const credCols = "c.id, c.account_id, h.uuid, c.credential_id, c.secret_hash, c.created_at, c.last_used_at, c.revoked_at"

const credFrom = " FROM agent_credentials c JOIN hosts h ON h.id = c.host_id"

func scanCred(row pgx.Row) (store.AgentCredential, error) {
	var c store.AgentCredential
	err := row.Scan(&c.ID, &c.AccountID, &c.HostUUID, &c.CredentialID, &c.SecretHash,
		codec.TimeDest(&c.CreatedAt), codec.TimeDest(&c.LastUsedAt), codec.TimeDest(&c.RevokedAt))
	return c, err
}

func (s *Store) CreateAgentCredential(ctx context.Context, accountID int64, c store.AgentCredential) (store.AgentCredential, error) {
	if c.CredentialID == "" || len(c.SecretHash) == 0 {
		return store.AgentCredential{}, fmt.Errorf("%w: credential id or secret hash is empty", store.ErrInvalid)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.AccountID, c.CreatedAt, c.LastUsedAt, c.RevokedAt = accountID, store.UTC(c.CreatedAt), time.Time{}, time.Time{}
	err := s.write(ctx, func(tx pgx.Tx) error {
		var hostID int64
		// FOR UPDATE: two enrollments of one host serialize, leaving one credential.
		err := tx.QueryRow(ctx, "SELECT id FROM hosts WHERE account_id = $1 AND uuid = $2 FOR UPDATE", accountID, c.HostUUID).Scan(&hostID)
		if err != nil {
			return notFound(err, "host %q", c.HostUUID)
		}
		if _, err := tx.Exec(ctx, `UPDATE agent_credentials SET status = 'disabled', revoked_at = $1
			WHERE account_id = $2 AND host_id = $3 AND revoked_at IS NULL`, c.CreatedAt, accountID, hostID); err != nil {
			return fmt.Errorf("postgres: revoking old credentials: %w", err)
		}
		err = tx.QueryRow(ctx, `INSERT INTO agent_credentials (account_id, host_id, credential_id, secret_hash, status, created_at)
			VALUES ($1, $2, $3, $4, 'enabled', $5) RETURNING id`, accountID, hostID, c.CredentialID, c.SecretHash, c.CreatedAt).Scan(&c.ID)
		if isUnique(err) {
			return fmt.Errorf("%w: agent credential %q exists", store.ErrConflict, c.CredentialID)
		}
		if err != nil {
			return fmt.Errorf("postgres: creating agent credential: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.AgentCredential{}, err
	}
	return c, nil
}

func (s *Store) GetAgentCredential(ctx context.Context, credentialID string) (store.AgentCredential, error) {
	c, err := scanCred(s.pool.QueryRow(ctx, "SELECT "+credCols+credFrom+" WHERE c.credential_id = $1", credentialID))
	if err != nil {
		return store.AgentCredential{}, notFound(err, "agent credential %q", credentialID)
	}
	return c, nil
}

func (s *Store) ListAgentCredentials(ctx context.Context, accountID int64, hostUUID string) ([]store.AgentCredential, error) {
	q, args := "SELECT "+credCols+credFrom+" WHERE c.account_id = $1", []any{accountID}
	if hostUUID != "" {
		q, args = q+" AND h.uuid = $2", append(args, hostUUID)
	}
	rows, _ := s.pool.Query(ctx, q+" ORDER BY c.id", args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AgentCredential, error) { return scanCred(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing agent credentials: %w", err)
	}
	return out, nil
}

func (s *Store) TouchAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error {
	at = store.UTC(at)
	var last time.Time
	err := s.pool.QueryRow(ctx, "SELECT last_used_at FROM agent_credentials WHERE account_id = $1 AND credential_id = $2",
		accountID, credentialID).Scan(codec.TimeDest(&last))
	if err != nil {
		return notFound(err, "agent credential %q", credentialID)
	}
	if !last.IsZero() && at.Sub(last) <= store.LastUsedResolution {
		return nil
	}
	_, err = s.pool.Exec(ctx, `UPDATE agent_credentials SET last_used_at = $1
		WHERE account_id = $2 AND credential_id = $3 AND (last_used_at IS NULL OR last_used_at < $4)`,
		at, accountID, credentialID, at.Add(-store.LastUsedResolution))
	if err != nil {
		return fmt.Errorf("postgres: touching agent credential: %w", err)
	}
	return nil
}

func (s *Store) RevokeAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE agent_credentials SET status = 'disabled', revoked_at = COALESCE(revoked_at, $1)
		WHERE account_id = $2 AND credential_id = $3`, store.UTC(at), accountID, credentialID)
	if err != nil {
		return fmt.Errorf("postgres: revoking agent credential: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: agent credential %q", store.ErrNotFound, credentialID)
	}
	return nil
}

// Agent commands.

const cmdCols = `m.id, m.account_id, h.uuid, m.kind, m.payload::text, m.status, m.attempts, m.result::text, m.error,
	m.created_at, m.delivered_at, m.completed_at, m.expires_at`

const cmdFrom = " FROM agent_commands m JOIN hosts h ON h.id = m.host_id"

func scanCmd(row pgx.Row) (store.AgentCommand, error) {
	var c store.AgentCommand
	var payload, result string
	err := row.Scan(&c.ID, &c.AccountID, &c.HostUUID, &c.Kind, &payload, &c.Status, &c.Attempts, &result, &c.Error,
		codec.TimeDest(&c.CreatedAt), codec.TimeDest(&c.DeliveredAt), codec.TimeDest(&c.CompletedAt), codec.TimeDest(&c.ExpiresAt))
	c.Payload, c.Result = []byte(payload), []byte(result)
	return c, err
}

func jsonOrEmpty(b []byte) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

func (s *Store) EnqueueAgentCommand(ctx context.Context, accountID int64, c store.AgentCommand) (store.AgentCommand, error) {
	if c.Kind == "" {
		return store.AgentCommand{}, fmt.Errorf("%w: command kind is empty", store.ErrInvalid)
	}
	if len(c.Payload) > 0 && !json.Valid(c.Payload) {
		return store.AgentCommand{}, fmt.Errorf("%w: command payload is not JSON", store.ErrInvalid)
	}
	var out store.AgentCommand
	err := s.write(ctx, func(tx pgx.Tx) error {
		ids, err := hostIDs(ctx, tx, accountID, []string{c.HostUUID})
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO agent_commands (account_id, host_id, kind, payload, status, created_at, expires_at)
			VALUES ($1, $2, $3, $4::jsonb, 'pending', $5, $6) RETURNING id`,
			accountID, ids[c.HostUUID], c.Kind, jsonOrEmpty(c.Payload), store.UTC(s.now()), codec.Time(store.UTC(c.ExpiresAt))).Scan(&id); err != nil {
			if pgCode(err) == "22P02" { // invalid_text_representation: not JSON
				return fmt.Errorf("%w: command payload is not JSON", store.ErrInvalid)
			}
			return fmt.Errorf("postgres: enqueueing command: %w", err)
		}
		out, err = scanCmd(tx.QueryRow(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.id = $1", id))
		return err
	})
	if err != nil {
		return store.AgentCommand{}, err
	}
	return out, nil
}

func (s *Store) ClaimAgentCommands(ctx context.Context, accountID int64, hostUUID string, at time.Time, redeliverAfter time.Duration, limit int) ([]store.AgentCommand, error) {
	if limit <= 0 {
		limit = 100
	}
	at = store.UTC(at)
	// Most polls find nothing: look before taking a write transaction.
	var open bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM agent_commands m JOIN hosts h ON h.id = m.host_id
		WHERE m.account_id = $1 AND h.account_id = $1 AND h.uuid = $2 AND m.status IN ('pending', 'delivered'))`,
		accountID, hostUUID).Scan(&open); err != nil {
		return nil, fmt.Errorf("postgres: polling commands: %w", err)
	}
	if !open {
		return nil, nil
	}
	var out []store.AgentCommand
	err := s.write(ctx, func(tx pgx.Tx) error {
		var hostID int64
		if err := tx.QueryRow(ctx, "SELECT id FROM hosts WHERE account_id = $1 AND uuid = $2", accountID, hostUUID).Scan(&hostID); err != nil {
			return notFound(err, "host %q", hostUUID)
		}
		if _, err := tx.Exec(ctx, `UPDATE agent_commands SET status = 'expired', completed_at = $1
			WHERE account_id = $2 AND host_id = $3 AND status IN ('pending', 'delivered') AND expires_at IS NOT NULL AND expires_at <= $1`,
			at, accountID, hostID); err != nil {
			return fmt.Errorf("postgres: expiring commands: %w", err)
		}
		// SKIP LOCKED: two servers answering polls of one host (a restarted
		// agent, say) never hand the same command out twice at once.
		rows, _ := tx.Query(ctx, `UPDATE agent_commands SET status = 'delivered', delivered_at = $1, attempts = attempts + 1
			WHERE id IN (SELECT id FROM agent_commands
				WHERE account_id = $2 AND host_id = $3
				  AND (status = 'pending' OR status = 'delivered' AND delivered_at <= $4)
				ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
			RETURNING id`, at, accountID, hostID, at.Add(-redeliverAfter), limit)
		claimed, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("postgres: claiming commands: %w", err)
		}
		if len(claimed) == 0 {
			return nil
		}
		rows, _ = tx.Query(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = $1 AND m.id = ANY($2) ORDER BY m.id", accountID, claimed)
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AgentCommand, error) { return scanCmd(r) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) CompleteAgentCommand(ctx context.Context, accountID int64, hostUUID string, id int64, r store.CommandResult) (store.AgentCommand, error) {
	if err := r.Validate(); err != nil {
		return store.AgentCommand{}, err
	}
	if len(r.Result) > 0 && !json.Valid(r.Result) {
		return store.AgentCommand{}, fmt.Errorf("%w: command result is not JSON", store.ErrInvalid)
	}
	var out store.AgentCommand
	err := s.write(ctx, func(tx pgx.Tx) error {
		c, err := scanCmd(tx.QueryRow(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = $1 AND h.uuid = $2 AND m.id = $3 FOR UPDATE OF m",
			accountID, hostUUID, id))
		if err != nil {
			return notFound(err, "command %d", id)
		}
		if c.Status.Final() {
			out = c
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE agent_commands SET status = $1, result = $2::jsonb, error = $3, completed_at = $4 WHERE id = $5",
			r.Status, jsonOrEmpty(r.Result), r.Error, store.UTC(r.At), id); err != nil {
			if pgCode(err) == "22P02" {
				return fmt.Errorf("%w: command result is not JSON", store.ErrInvalid)
			}
			return fmt.Errorf("postgres: completing command: %w", err)
		}
		out, err = scanCmd(tx.QueryRow(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.id = $1", id))
		return err
	})
	if err != nil {
		return store.AgentCommand{}, err
	}
	return out, nil
}

func (s *Store) GetAgentCommand(ctx context.Context, accountID, id int64) (store.AgentCommand, error) {
	c, err := scanCmd(s.pool.QueryRow(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = $1 AND m.id = $2", accountID, id))
	if err != nil {
		return store.AgentCommand{}, notFound(err, "command %d", id)
	}
	return c, nil
}

func (s *Store) ListAgentCommands(ctx context.Context, accountID int64, hostUUID string, limit int) ([]store.AgentCommand, error) {
	q, args := "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = $1", []any{accountID}
	if hostUUID != "" {
		q, args = q+" AND h.uuid = $2", append(args, hostUUID)
	}
	q += " ORDER BY m.id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AgentCommand, error) { return scanCmd(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing commands: %w", err)
	}
	return out, nil
}
