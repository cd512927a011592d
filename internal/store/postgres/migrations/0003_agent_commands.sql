-- 0003_agent_commands: the server → agent command channel (kill a process, …).
-- Commands are rows so that any server of a cluster can hand them out and
-- receive their results.
CREATE TABLE agent_commands (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id      BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    kind         TEXT   NOT NULL,
    payload      JSONB  NOT NULL DEFAULT '{}',
    status       TEXT   NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'delivered', 'done', 'failed', 'expired')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    result       JSONB  NOT NULL DEFAULT '{}',
    error        TEXT   NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ
);
-- An agent's poll reads its open commands: (account, host, status) then id.
CREATE INDEX agent_commands_open ON agent_commands (account_id, host_id, status, id);
CREATE INDEX agent_commands_host_fk ON agent_commands (host_id);
