-- 0003_agent_commands: the server → agent command channel (kill a process, …).
-- Commands are rows so that any server of a cluster can hand them out and
-- receive their results. payload and result are JSON text.
CREATE TABLE agent_commands (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id      INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'delivered', 'done', 'failed', 'expired')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    result       TEXT    NOT NULL DEFAULT '{}',
    error        TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    completed_at INTEGER,
    expires_at   INTEGER
) STRICT;
-- An agent's poll reads its open commands: (account, host, status) then id.
CREATE INDEX agent_commands_open ON agent_commands (account_id, host_id, status, id);
CREATE INDEX agent_commands_host_fk ON agent_commands (host_id);
