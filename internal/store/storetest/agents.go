package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func sameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func testAgents(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	newHost(t, s, a.ID, store.Host{UUID: "h-a"})
	newHost(t, s, b.ID, store.Host{UUID: "h-b"})

	t.Run("EnrollTokens", func(t *testing.T) {
		tok := must(s.CreateEnrollToken(ctx(t), a.ID, store.EnrollToken{TokenHash: hash("t1"), Description: "one", MaxUses: 2, CreatedAt: at(0)}))(t)
		if tok.ID == 0 || tok.AccountID != a.ID || tok.Uses != 0 {
			t.Fatalf("created %+v", tok)
		}
		sameTime(t, "CreatedAt", tok.CreatedAt, at(0))
		_, err := s.CreateEnrollToken(ctx(t), b.ID, store.EnrollToken{TokenHash: hash("t1")})
		wantErr(t, err, store.ErrConflict, "same hash in another account")
		_, err = s.CreateEnrollToken(ctx(t), a.ID, store.EnrollToken{})
		wantErr(t, err, store.ErrInvalid, "empty hash")
		_, err = s.CreateEnrollToken(ctx(t), 999999, store.EnrollToken{TokenHash: hash("x")})
		wantErr(t, err, store.ErrNotFound, "unknown account")

		for i := range 2 {
			got := must(s.ConsumeEnrollToken(ctx(t), hash("t1"), at(time.Minute)))(t)
			if got.ID != tok.ID || got.AccountID != a.ID || got.Uses != i+1 {
				t.Fatalf("consume %d: %+v", i, got)
			}
		}
		_, err = s.ConsumeEnrollToken(ctx(t), hash("t1"), at(time.Minute))
		wantErr(t, err, store.ErrNotFound, "consume past MaxUses")
		_, err = s.ConsumeEnrollToken(ctx(t), hash("nope"), at(0))
		wantErr(t, err, store.ErrNotFound, "consume unknown")

		exp := must(s.CreateEnrollToken(ctx(t), a.ID, store.EnrollToken{TokenHash: hash("t2"), ExpiresAt: at(time.Hour)}))(t)
		must(s.ConsumeEnrollToken(ctx(t), hash("t2"), at(time.Hour-time.Second)))(t)
		_, err = s.ConsumeEnrollToken(ctx(t), hash("t2"), at(time.Hour))
		wantErr(t, err, store.ErrNotFound, "consume expired")

		unl := must(s.CreateEnrollToken(ctx(t), a.ID, store.EnrollToken{TokenHash: hash("t3")}))(t)
		for range 5 {
			must(s.ConsumeEnrollToken(ctx(t), hash("t3"), at(0)))(t)
		}
		wantErr(t, s.RevokeEnrollToken(ctx(t), b.ID, unl.ID, at(0)), store.ErrNotFound, "revoke another account's token")
		must(s.ConsumeEnrollToken(ctx(t), hash("t3"), at(0)))(t)
		if err := s.RevokeEnrollToken(ctx(t), a.ID, unl.ID, at(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeEnrollToken(ctx(t), a.ID, unl.ID, at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = s.ConsumeEnrollToken(ctx(t), hash("t3"), at(0))
		wantErr(t, err, store.ErrNotFound, "consume revoked")

		got := must(s.GetEnrollTokenByHash(ctx(t), hash("t3")))(t)
		sameTime(t, "RevokedAt (first revocation kept)", got.RevokedAt, at(time.Second))
		if got.Uses != 6 || got.Usable(at(0)) {
			t.Errorf("revoked token: %+v", got)
		}
		list := must(s.ListEnrollTokens(ctx(t), a.ID))(t)
		if len(list) != 3 || list[0].ID != tok.ID || list[1].ID != exp.ID || list[2].ID != unl.ID {
			t.Errorf("ListEnrollTokens = %+v", list)
		}
		if l := must(s.ListEnrollTokens(ctx(t), b.ID))(t); len(l) != 0 {
			t.Errorf("beta sees %d tokens", len(l))
		}
	})

	t.Run("EnrollTokenConcurrentUses", func(t *testing.T) {
		must(s.CreateEnrollToken(ctx(t), a.ID, store.EnrollToken{TokenHash: hash("race"), MaxUses: 5}))(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 20 {
			wg.Go(func() {
				if _, err := s.ConsumeEnrollToken(ctx(t), hash("race"), time.Now()); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 5 {
			t.Errorf("%d concurrent uses succeeded, want 5", ok)
		}
	})

	t.Run("Credentials", func(t *testing.T) {
		c1 := must(s.CreateAgentCredential(ctx(t), a.ID, store.AgentCredential{HostUUID: "h-a", CredentialID: "c1", SecretHash: hash("s1"), CreatedAt: at(0)}))(t)
		if c1.ID == 0 || c1.AccountID != a.ID {
			t.Fatalf("created %+v", c1)
		}
		_, err := s.CreateAgentCredential(ctx(t), a.ID, store.AgentCredential{HostUUID: "h-b", CredentialID: "cx", SecretHash: hash("s")})
		wantErr(t, err, store.ErrNotFound, "credential for another account's host")
		_, err = s.CreateAgentCredential(ctx(t), b.ID, store.AgentCredential{HostUUID: "h-b", CredentialID: "c1", SecretHash: hash("s")})
		wantErr(t, err, store.ErrConflict, "duplicate credential id")
		_, err = s.CreateAgentCredential(ctx(t), a.ID, store.AgentCredential{HostUUID: "h-a", CredentialID: "c9"})
		wantErr(t, err, store.ErrInvalid, "no secret hash")

		got := must(s.GetAgentCredential(ctx(t), "c1"))(t)
		if got.AccountID != a.ID || got.HostUUID != "h-a" || !bytes.Equal(got.SecretHash, hash("s1")) || !got.RevokedAt.IsZero() {
			t.Fatalf("GetAgentCredential = %+v", got)
		}
		sameTime(t, "CreatedAt", got.CreatedAt, at(0))
		_, err = s.GetAgentCredential(ctx(t), "nope")
		wantErr(t, err, store.ErrNotFound, "unknown credential")

		// Touch: written once per resolution, never backwards.
		if err := s.TouchAgentCredential(ctx(t), a.ID, "c1", at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchAgentCredential(ctx(t), a.ID, "c1", at(time.Hour+time.Second)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.TouchAgentCredential(ctx(t), b.ID, "c1", at(time.Hour)), store.ErrNotFound, "touch from another account")
		sameTime(t, "LastUsedAt", must(s.GetAgentCredential(ctx(t), "c1"))(t).LastUsedAt, at(time.Hour))

		// Re-enrolling revokes the host's previous credential.
		must(s.CreateAgentCredential(ctx(t), a.ID, store.AgentCredential{HostUUID: "h-a", CredentialID: "c2", SecretHash: hash("s2"), CreatedAt: at(2 * time.Hour)}))(t)
		sameTime(t, "c1 RevokedAt after re-enroll", must(s.GetAgentCredential(ctx(t), "c1"))(t).RevokedAt, at(2*time.Hour))
		if r := must(s.GetAgentCredential(ctx(t), "c2"))(t).RevokedAt; !r.IsZero() {
			t.Errorf("new credential revoked at %v", r)
		}
		list := must(s.ListAgentCredentials(ctx(t), a.ID, "h-a"))(t)
		if len(list) != 2 || list[0].CredentialID != "c1" || list[1].CredentialID != "c2" {
			t.Errorf("ListAgentCredentials = %+v", list)
		}
		if l := must(s.ListAgentCredentials(ctx(t), b.ID, ""))(t); len(l) != 0 {
			t.Errorf("beta sees %d credentials", len(l))
		}
		wantErr(t, s.RevokeAgentCredential(ctx(t), b.ID, "c2", at(0)), store.ErrNotFound, "revoke another account's credential")
		if err := s.RevokeAgentCredential(ctx(t), a.ID, "c2", at(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "c2 RevokedAt", must(s.GetAgentCredential(ctx(t), "c2"))(t).RevokedAt, at(3*time.Hour))
	})

	t.Run("Commands", func(t *testing.T) {
		now := time.Now()
		_, err := s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-b", Kind: "kill"})
		wantErr(t, err, store.ErrNotFound, "enqueue for another account's host")
		_, err = s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-a"})
		wantErr(t, err, store.ErrInvalid, "no kind")
		_, err = s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-a", Kind: "kill", Payload: []byte("{")})
		wantErr(t, err, store.ErrInvalid, "payload not JSON")

		c1 := must(s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-a", Kind: "kill", Payload: []byte(`{"pid":42}`)}))(t)
		c2 := must(s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-a", Kind: "noop"}))(t)
		must(s.EnqueueAgentCommand(ctx(t), a.ID, store.AgentCommand{HostUUID: "h-a", Kind: "old", ExpiresAt: now.Add(-time.Second)}))(t)
		if c1.Status != store.CommandPending || c1.HostUUID != "h-a" || c1.AccountID != a.ID || c1.Kind != "kill" {
			t.Fatalf("enqueued %+v", c1)
		}
		sameJSON(t, "Payload", c1.Payload, `{"pid":42}`)
		sameJSON(t, "default Payload", c2.Payload, `{}`)

		if got := must(s.ClaimAgentCommands(ctx(t), b.ID, "h-a", now, time.Minute, 0))(t); len(got) != 0 {
			t.Fatalf("beta claimed alpha's commands: %+v", got)
		}
		got := must(s.ClaimAgentCommands(ctx(t), a.ID, "h-a", now, time.Minute, 1))(t)
		if len(got) != 1 || got[0].ID != c1.ID || got[0].Status != store.CommandDelivered || got[0].Attempts != 1 {
			t.Fatalf("claim limit 1 = %+v", got)
		}
		got = must(s.ClaimAgentCommands(ctx(t), a.ID, "h-a", now, time.Minute, 0))(t)
		if len(got) != 1 || got[0].ID != c2.ID {
			t.Fatalf("second claim = %+v (c1 delivered recently, the expired one never)", got)
		}
		if got := must(s.ClaimAgentCommands(ctx(t), a.ID, "h-a", now.Add(time.Second), time.Minute, 0))(t); len(got) != 0 {
			t.Fatalf("claim right after = %+v", got)
		}
		list := must(s.ListAgentCommands(ctx(t), a.ID, "h-a", 0))(t)
		if len(list) != 3 || list[0].Kind != "old" || list[0].Status != store.CommandExpired {
			t.Fatalf("ListAgentCommands = %+v", list)
		}

		// A result, and the idempotent retry of it.
		done := must(s.CompleteAgentCommand(ctx(t), a.ID, "h-a", c2.ID, store.CommandResult{Status: store.CommandDone, Result: []byte(`{"ok":true}`), At: at(0)}))(t)
		if done.Status != store.CommandDone {
			t.Fatalf("completed %+v", done)
		}
		sameJSON(t, "Result", done.Result, `{"ok":true}`)
		sameTime(t, "CompletedAt", done.CompletedAt, at(0))
		again := must(s.CompleteAgentCommand(ctx(t), a.ID, "h-a", c2.ID, store.CommandResult{Status: store.CommandFailed, Error: "late", At: at(time.Hour)}))(t)
		if again.Status != store.CommandDone || again.Error != "" {
			t.Errorf("second completion changed the command: %+v", again)
		}
		_, err = s.CompleteAgentCommand(ctx(t), b.ID, "h-a", c1.ID, store.CommandResult{Status: store.CommandDone, At: at(0)})
		wantErr(t, err, store.ErrNotFound, "complete from another account")
		_, err = s.CompleteAgentCommand(ctx(t), a.ID, "h-other", c1.ID, store.CommandResult{Status: store.CommandDone, At: at(0)})
		wantErr(t, err, store.ErrNotFound, "complete from another host")
		_, err = s.CompleteAgentCommand(ctx(t), a.ID, "h-a", c1.ID, store.CommandResult{Status: store.CommandPending, At: at(0)})
		wantErr(t, err, store.ErrInvalid, "complete with a non-final status")

		// c1 was delivered without a result: handed out again after redeliverAfter.
		got = must(s.ClaimAgentCommands(ctx(t), a.ID, "h-a", now.Add(2*time.Minute), time.Minute, 0))(t)
		if len(got) != 1 || got[0].ID != c1.ID || got[0].Attempts != 2 {
			t.Fatalf("redelivery = %+v", got)
		}
		failed := must(s.CompleteAgentCommand(ctx(t), a.ID, "h-a", c1.ID, store.CommandResult{Status: store.CommandFailed, Error: "gone", At: at(time.Minute)}))(t)
		if failed.Status != store.CommandFailed || failed.Error != "gone" {
			t.Errorf("failed = %+v", failed)
		}
		if got := must(s.ClaimAgentCommands(ctx(t), a.ID, "h-a", now.Add(time.Hour), time.Minute, 0))(t); len(got) != 0 {
			t.Errorf("completed commands handed out again: %+v", got)
		}
		if g := must(s.GetAgentCommand(ctx(t), a.ID, c1.ID))(t); g.Status != store.CommandFailed {
			t.Errorf("GetAgentCommand = %+v", g)
		}
		_, err = s.GetAgentCommand(ctx(t), b.ID, c1.ID)
		wantErr(t, err, store.ErrNotFound, "get another account's command")
		if l := must(s.ListAgentCommands(ctx(t), b.ID, "", 0))(t); len(l) != 0 {
			t.Errorf("beta lists %d commands", len(l))
		}
		if l := must(s.ListAgentCommands(ctx(t), a.ID, "", 2))(t); len(l) != 2 {
			t.Errorf("limit 2 listed %d", len(l))
		}
	})
}
