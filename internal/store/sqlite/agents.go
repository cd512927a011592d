package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// Enrollment tokens.

const tokenCols = "id, account_id, token_hash, description, max_uses, uses, expires_at, created_at, revoked_at"

func scanToken(row interface{ Scan(...any) error }) (store.EnrollToken, error) {
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
	err := s.w.QueryRowContext(ctx, `INSERT INTO enroll_tokens (account_id, token_hash, description, max_uses, uses, expires_at, created_at)
		VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id`,
		accountID, t.TokenHash, t.Description, t.MaxUses, codec.Time(t.ExpiresAt), micros(t.CreatedAt)).Scan(&t.ID)
	switch {
	case isUnique(err):
		return store.EnrollToken{}, fmt.Errorf("%w: enroll token exists", store.ErrConflict)
	case isForeignKey(err):
		return store.EnrollToken{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.EnrollToken{}, fmt.Errorf("sqlite: creating enroll token: %w", err)
	}
	return t, nil
}

func (s *Store) ConsumeEnrollToken(ctx context.Context, tokenHash []byte, at time.Time) (store.EnrollToken, error) {
	// One conditional UPDATE: concurrent enrollments cannot overrun MaxUses.
	t, err := scanToken(s.w.QueryRowContext(ctx, `UPDATE enroll_tokens SET uses = uses + 1
		WHERE token_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)
		  AND (max_uses = 0 OR uses < max_uses)
		RETURNING `+tokenCols, tokenHash, micros(at)))
	if err != nil {
		return store.EnrollToken{}, notFound(err, "usable enroll token")
	}
	return t, nil
}

func (s *Store) GetEnrollTokenByHash(ctx context.Context, tokenHash []byte) (store.EnrollToken, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM enroll_tokens WHERE token_hash = ?", tokenHash))
	if err != nil {
		return store.EnrollToken{}, notFound(err, "enroll token")
	}
	return t, nil
}

func (s *Store) ListEnrollTokens(ctx context.Context, accountID int64) ([]store.EnrollToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM enroll_tokens WHERE account_id = ? ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing enroll tokens: %w", err)
	}
	out, err := collect(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing enroll tokens: %w", err)
	}
	return out, nil
}

func (s *Store) RevokeEnrollToken(ctx context.Context, accountID, id int64, at time.Time) error {
	res, err := s.w.ExecContext(ctx, "UPDATE enroll_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE account_id = ? AND id = ?",
		micros(at), accountID, id)
	if err != nil {
		return fmt.Errorf("sqlite: revoking enroll token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: enroll token %d", store.ErrNotFound, id)
	}
	return nil
}

// Agent credentials.

const credCols = "c.id, c.account_id, h.uuid, c.credential_id, c.secret_hash, c.created_at, c.last_used_at, c.revoked_at"

const credFrom = " FROM agent_credentials c JOIN hosts h ON h.id = c.host_id"

func scanCred(row interface{ Scan(...any) error }) (store.AgentCredential, error) {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		ids, err := hostIDs(ctx, tx, accountID, []string{c.HostUUID})
		if err != nil {
			return err
		}
		hostID := ids[c.HostUUID]
		if _, err := tx.ExecContext(ctx, `UPDATE agent_credentials SET status = 'disabled', revoked_at = ?
			WHERE account_id = ? AND host_id = ? AND revoked_at IS NULL`, micros(c.CreatedAt), accountID, hostID); err != nil {
			return fmt.Errorf("sqlite: revoking old credentials: %w", err)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO agent_credentials (account_id, host_id, credential_id, secret_hash, status, created_at)
			VALUES (?, ?, ?, ?, 'enabled', ?) RETURNING id`, accountID, hostID, c.CredentialID, c.SecretHash, micros(c.CreatedAt)).Scan(&c.ID)
		if isUnique(err) {
			return fmt.Errorf("%w: agent credential %q exists", store.ErrConflict, c.CredentialID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: creating agent credential: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.AgentCredential{}, err
	}
	return c, nil
}

func (s *Store) GetAgentCredential(ctx context.Context, credentialID string) (store.AgentCredential, error) {
	c, err := scanCred(s.r.QueryRowContext(ctx, "SELECT "+credCols+credFrom+" WHERE c.credential_id = ?", credentialID))
	if err != nil {
		return store.AgentCredential{}, notFound(err, "agent credential %q", credentialID)
	}
	return c, nil
}

func (s *Store) ListAgentCredentials(ctx context.Context, accountID int64, hostUUID string) ([]store.AgentCredential, error) {
	q, args := "SELECT "+credCols+credFrom+" WHERE c.account_id = ?", []any{accountID}
	if hostUUID != "" {
		q, args = q+" AND h.uuid = ?", append(args, hostUUID)
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY c.id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing agent credentials: %w", err)
	}
	out, err := collect(rows, scanCred)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing agent credentials: %w", err)
	}
	return out, nil
}

func (s *Store) TouchAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error {
	at = store.UTC(at)
	var last time.Time
	err := s.r.QueryRowContext(ctx, "SELECT last_used_at FROM agent_credentials WHERE account_id = ? AND credential_id = ?",
		accountID, credentialID).Scan(codec.TimeDest(&last))
	if err != nil {
		return notFound(err, "agent credential %q", credentialID)
	}
	if !last.IsZero() && at.Sub(last) <= store.LastUsedResolution {
		return nil
	}
	_, err = s.w.ExecContext(ctx, `UPDATE agent_credentials SET last_used_at = ?1
		WHERE account_id = ?2 AND credential_id = ?3 AND (last_used_at IS NULL OR last_used_at < ?1 - ?4)`,
		micros(at), accountID, credentialID, store.LastUsedResolution.Microseconds())
	if err != nil {
		return fmt.Errorf("sqlite: touching agent credential: %w", err)
	}
	return nil
}

func (s *Store) RevokeAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE agent_credentials SET status = 'disabled', revoked_at = COALESCE(revoked_at, ?)
		WHERE account_id = ? AND credential_id = ?`, micros(at), accountID, credentialID)
	if err != nil {
		return fmt.Errorf("sqlite: revoking agent credential: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: agent credential %q", store.ErrNotFound, credentialID)
	}
	return nil
}

// Agent commands.

const cmdCols = `m.id, m.account_id, h.uuid, m.kind, m.payload, m.status, m.attempts, m.result, m.error,
	m.created_at, m.delivered_at, m.completed_at, m.expires_at`

const cmdFrom = " FROM agent_commands m JOIN hosts h ON h.id = m.host_id"

func scanCmd(row interface{ Scan(...any) error }) (store.AgentCommand, error) {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		ids, err := hostIDs(ctx, tx, accountID, []string{c.HostUUID})
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO agent_commands (account_id, host_id, kind, payload, status, created_at, expires_at)
			VALUES (?, ?, ?, json(?), 'pending', ?, ?) RETURNING id`,
			accountID, ids[c.HostUUID], c.Kind, jsonOrEmpty(c.Payload), micros(s.now()), codec.Time(c.ExpiresAt)).Scan(&id); err != nil {
			return fmt.Errorf("sqlite: enqueueing command: %w", err)
		}
		out, err = scanCmd(tx.QueryRowContext(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.id = ?", id))
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
	now := micros(at)
	// Most polls find nothing: decide on a read connection before queuing on
	// the single writer.
	var open int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_commands m JOIN hosts h ON h.id = m.host_id
		WHERE m.account_id = ? AND h.account_id = ? AND h.uuid = ? AND m.status IN ('pending', 'delivered')`,
		accountID, accountID, hostUUID).Scan(&open); err != nil {
		return nil, fmt.Errorf("sqlite: polling commands: %w", err)
	}
	if open == 0 {
		return nil, nil
	}
	var out []store.AgentCommand
	err := s.write(ctx, func(tx *sql.Tx) error {
		ids, err := hostIDs(ctx, tx, accountID, []string{hostUUID})
		if err != nil {
			return err
		}
		hostID := ids[hostUUID]
		if _, err := tx.ExecContext(ctx, `UPDATE agent_commands SET status = 'expired', completed_at = ?1
			WHERE account_id = ?2 AND host_id = ?3 AND status IN ('pending', 'delivered') AND expires_at IS NOT NULL AND expires_at <= ?1`,
			now, accountID, hostID); err != nil {
			return fmt.Errorf("sqlite: expiring commands: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE agent_commands SET status = 'delivered', delivered_at = ?1, attempts = attempts + 1
			WHERE id IN (SELECT id FROM agent_commands
				WHERE account_id = ?2 AND host_id = ?3
				  AND (status = 'pending' OR status = 'delivered' AND delivered_at <= ?4)
				ORDER BY id LIMIT ?5)
			RETURNING id`, now, accountID, hostID, now-redeliverAfter.Microseconds(), limit)
		if err != nil {
			return fmt.Errorf("sqlite: claiming commands: %w", err)
		}
		var claimed []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			claimed = append(claimed, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = ? AND m.id IN ("+placeholders(len(claimed))+") ORDER BY m.id",
			append([]any{accountID}, int64sToAny(claimed)...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCmd(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func int64sToAny(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

func (s *Store) CompleteAgentCommand(ctx context.Context, accountID int64, hostUUID string, id int64, r store.CommandResult) (store.AgentCommand, error) {
	if err := r.Validate(); err != nil {
		return store.AgentCommand{}, err
	}
	if len(r.Result) > 0 && !json.Valid(r.Result) {
		return store.AgentCommand{}, fmt.Errorf("%w: command result is not JSON", store.ErrInvalid)
	}
	var out store.AgentCommand
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanCmd(tx.QueryRowContext(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = ? AND h.uuid = ? AND m.id = ?",
			accountID, hostUUID, id))
		if err != nil {
			return notFound(err, "command %d", id)
		}
		if c.Status.Final() {
			out = c
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE agent_commands SET status = ?, result = json(?), error = ?, completed_at = ? WHERE id = ?",
			r.Status, jsonOrEmpty(r.Result), r.Error, micros(r.At), id); err != nil {
			return fmt.Errorf("sqlite: completing command: %w", err)
		}
		out, err = scanCmd(tx.QueryRowContext(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.id = ?", id))
		return err
	})
	if err != nil {
		return store.AgentCommand{}, err
	}
	return out, nil
}

func (s *Store) GetAgentCommand(ctx context.Context, accountID, id int64) (store.AgentCommand, error) {
	c, err := scanCmd(s.r.QueryRowContext(ctx, "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = ? AND m.id = ?", accountID, id))
	if err != nil {
		return store.AgentCommand{}, notFound(err, "command %d", id)
	}
	return c, nil
}

func (s *Store) ListAgentCommands(ctx context.Context, accountID int64, hostUUID string, limit int) ([]store.AgentCommand, error) {
	q, args := "SELECT "+cmdCols+cmdFrom+" WHERE m.account_id = ?", []any{accountID}
	if hostUUID != "" {
		q, args = q+" AND h.uuid = ?", append(args, hostUUID)
	}
	q += " ORDER BY m.id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing commands: %w", err)
	}
	out, err := collect(rows, scanCmd)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing commands: %w", err)
	}
	return out, nil
}
