package store

import (
	"context"
	"fmt"
	"time"
)

// The contract for the host agent's transport (issue 6): enrollment tokens an
// operator hands out, the per-host credentials agents authenticate with, and
// the commands the server queues for an agent (kill a process, …).
//
// Secrets never reach the store in plain text: tokens and credential secrets
// are stored as hashes the caller computed (SHA-256 of high-entropy random
// strings, so no salt or stretching is needed), and compared by the caller in
// constant time.

// Agents is the agent side of the store.
type Agents interface {
	// CreateEnrollToken stores t for accountID (t.AccountID, ID, Uses and
	// RevokedAt are ignored). TokenHash is required and unique across all
	// accounts (ErrConflict); MaxUses 0 is unlimited; a zero ExpiresAt never
	// expires. CreatedAt defaults to now.
	CreateEnrollToken(ctx context.Context, accountID int64, t EnrollToken) (EnrollToken, error)
	// ConsumeEnrollToken finds the token with hash tokenHash and, if it is
	// usable at `at` (not revoked, not expired, fewer uses than MaxUses),
	// counts one use atomically and returns it. Like GetAPIKey it is not
	// scoped to an account: its result tells the caller the account. Unknown
	// and unusable tokens are both ErrNotFound, so a caller cannot tell them
	// apart from the outside.
	ConsumeEnrollToken(ctx context.Context, tokenHash []byte, at time.Time) (EnrollToken, error)
	// GetEnrollTokenByHash returns the token with that hash whatever its
	// state (for idempotent bootstrap); not scoped to an account.
	GetEnrollTokenByHash(ctx context.Context, tokenHash []byte) (EnrollToken, error)
	// ListEnrollTokens returns the account's tokens ordered by id.
	ListEnrollTokens(ctx context.Context, accountID int64) ([]EnrollToken, error)
	// RevokeEnrollToken revokes the account's token id at `at`; revoking a
	// revoked token keeps the first RevokedAt.
	RevokeEnrollToken(ctx context.Context, accountID, id int64, at time.Time) error

	// CreateAgentCredential stores c for the account's host c.HostUUID
	// (ErrNotFound if the account has no such host) and revokes the host's
	// other credentials in the same transaction: a host has at most one
	// working credential, the one it enrolled with last. CredentialID is
	// unique across accounts (ErrConflict); SecretHash is required.
	CreateAgentCredential(ctx context.Context, accountID int64, c AgentCredential) (AgentCredential, error)
	// GetAgentCredential looks a credential up for authentication. Like
	// GetAPIKey it is not scoped: its result tells the account and host.
	GetAgentCredential(ctx context.Context, credentialID string) (AgentCredential, error)
	// ListAgentCredentials returns the credentials of the account's host
	// (all hosts when hostUUID is empty), ordered by id.
	ListAgentCredentials(ctx context.Context, accountID int64, hostUUID string) ([]AgentCredential, error)
	// TouchAgentCredential records a use at `at`, writing at most once per
	// LastUsedResolution (as TouchAPIKey).
	TouchAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error
	// RevokeAgentCredential revokes the account's credential at `at`.
	RevokeAgentCredential(ctx context.Context, accountID int64, credentialID string, at time.Time) error

	// EnqueueAgentCommand queues c for the account's host c.HostUUID
	// (ErrNotFound otherwise). Kind is required; Payload is JSON (default
	// {}); ExpiresAt zero never expires. It returns the stored command with
	// Status CommandPending.
	EnqueueAgentCommand(ctx context.Context, accountID int64, c AgentCommand) (AgentCommand, error)
	// ClaimAgentCommands hands the host's commands out, oldest first, at most
	// limit (0: 100): those pending, and those delivered more than
	// redeliverAfter ago without a result (the agent may have crashed before
	// acting; commands are idempotent on the agent). Each is marked delivered
	// at `at` with one more attempt. Commands whose ExpiresAt passed become
	// CommandExpired instead of being handed out. A host the account does
	// not have has no commands.
	ClaimAgentCommands(ctx context.Context, accountID int64, hostUUID string, at time.Time, redeliverAfter time.Duration, limit int) ([]AgentCommand, error)
	// CompleteAgentCommand records the host's result for its command id:
	// status CommandDone or CommandFailed, result JSON (default {}), an error
	// text. A command of another host or account is ErrNotFound. Completing
	// a completed command changes nothing and returns it as stored (agents
	// retry result uploads).
	CompleteAgentCommand(ctx context.Context, accountID int64, hostUUID string, id int64, r CommandResult) (AgentCommand, error)
	// GetAgentCommand returns the account's command id.
	GetAgentCommand(ctx context.Context, accountID, id int64) (AgentCommand, error)
	// ListAgentCommands returns the account's commands for a host (every
	// host when hostUUID is empty), newest first, at most limit (0: all).
	ListAgentCommands(ctx context.Context, accountID int64, hostUUID string, limit int) ([]AgentCommand, error)
}

// EnrollToken lets an agent enroll a host into an account.
type EnrollToken struct {
	ID          int64
	AccountID   int64
	TokenHash   []byte // SHA-256 of the token
	Description string
	MaxUses     int // 0: unlimited
	Uses        int
	ExpiresAt   time.Time // zero: never
	CreatedAt   time.Time
	RevokedAt   time.Time // zero: not revoked
}

// Usable reports whether the token can enroll a host at `at`.
func (t EnrollToken) Usable(at time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || at.Before(t.ExpiresAt)) && (t.MaxUses == 0 || t.Uses < t.MaxUses)
}

// AgentCredential is what one enrolled host authenticates with.
type AgentCredential struct {
	ID           int64
	AccountID    int64
	HostUUID     string
	CredentialID string
	SecretHash   []byte // SHA-256 of the secret
	CreatedAt    time.Time
	LastUsedAt   time.Time
	RevokedAt    time.Time // zero: valid
}

// CommandStatus is AgentCommand.Status.
type CommandStatus string

const (
	CommandPending   CommandStatus = "pending"   // queued, not handed out yet
	CommandDelivered CommandStatus = "delivered" // handed out, no result yet
	CommandDone      CommandStatus = "done"      // the agent reported success
	CommandFailed    CommandStatus = "failed"    // the agent reported a failure
	CommandExpired   CommandStatus = "expired"   // not handed out before ExpiresAt
)

// Valid reports whether s is a known status.
func (s CommandStatus) Valid() bool {
	switch s {
	case CommandPending, CommandDelivered, CommandDone, CommandFailed, CommandExpired:
		return true
	}
	return false
}

// Final reports whether no further change is expected.
func (s CommandStatus) Final() bool {
	return s == CommandDone || s == CommandFailed || s == CommandExpired
}

// AgentCommand is an order from the server to one host's agent.
type AgentCommand struct {
	ID          int64
	AccountID   int64
	HostUUID    string
	Kind        string // e.g. "kill"
	Payload     []byte // JSON
	Status      CommandStatus
	Attempts    int    // times handed out
	Result      []byte // JSON from the agent
	Error       string // from the agent
	CreatedAt   time.Time
	DeliveredAt time.Time // last hand-out
	CompletedAt time.Time
	ExpiresAt   time.Time // zero: never
}

// CommandResult is what an agent reports for a command.
type CommandResult struct {
	Status CommandStatus // CommandDone or CommandFailed
	Result []byte        // JSON
	Error  string
	At     time.Time
}

// Validate checks r.
func (r CommandResult) Validate() error {
	if r.Status != CommandDone && r.Status != CommandFailed {
		return fmt.Errorf("%w: command result status %q (want done or failed)", ErrInvalid, r.Status)
	}
	if r.At.IsZero() {
		return fmt.Errorf("%w: command result time is not set", ErrInvalid)
	}
	return nil
}
