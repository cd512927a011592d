-- 0005_rpe_unique_by_start: the events' unique key ordered (account, host,
-- start, pid, rule) instead of (account, host, pid, start, rule), for
-- ingestion into a large database (issue 6). Agents report processes that
-- started recently, so every other event index (rpe_host, rpe_threat,
-- rpe_status by status then start time; rpe_start; rpe_detect) receives
-- them at the end of a range: a batch dirties a few pages per index. Keyed
-- by pid, the unique index received each event at a random place, so on a
-- large database a 500-event batch dirtied ~500 of its pages, each written
-- to the WAL at commit and again at the checkpoint: most of the cost of an
-- ingest (BENCHMARKS.md, "Event ingestion"). The key's columns are the same,
-- so ON CONFLICT and deduplication are unchanged.
--
-- A UNIQUE constraint cannot be altered, so the table is rebuilt (SQLite's
-- "make other kinds of table schema changes" procedure, inside the
-- migration's transaction, foreign keys on):
--   * rows are copied with their ids; the AUTOINCREMENT counter is carried
--     over, so ids of deleted events are never reused;
--   * the counts triggers are created after the copy, so the copy does not
--     count events twice, and DROP TABLE's implicit delete fires no trigger;
--   * that implicit delete does run the ON DELETE SET NULL of
--     quarantine_samples.risk_event_id: the links are saved first and put
--     back once the new table has the old one's name.
-- On the 1M-event benchmark database it takes ~80 s (copy + six index builds,
-- load 3) and leaves the old table's pages free in the file for new rows.
CREATE TABLE risk_process_events_0005 (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id             INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id                INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    threat_id              INTEGER NOT NULL REFERENCES threats (id),
    pid                    INTEGER NOT NULL,
    ppid                   INTEGER NOT NULL DEFAULT 0,
    process_start_time     INTEGER NOT NULL,
    exe_path               TEXT    NOT NULL DEFAULT '',
    cmdline                TEXT    NOT NULL DEFAULT '',
    exe_md5                TEXT    NOT NULL DEFAULT '',
    exe_sha256             TEXT    NOT NULL DEFAULT '',
    user_name              TEXT    NOT NULL DEFAULT '',
    group_name             TEXT    NOT NULL DEFAULT '',
    container_id           TEXT    NOT NULL DEFAULT '',
    rule_name              TEXT    NOT NULL DEFAULT '',
    check_platform         TEXT    NOT NULL DEFAULT '[]',
    -- 0 pending, 1 handled, 2 killing, 3 killed, 4 exited, 5 ignored
    handle_status          INTEGER NOT NULL DEFAULT 0 CHECK (handle_status BETWEEN 0 AND 5),
    first_detection_method INTEGER NOT NULL DEFAULT 0,
    first_detect_time      INTEGER NOT NULL,
    detect_time            INTEGER NOT NULL,
    status_time            INTEGER,
    UNIQUE (account_id, host_id, process_start_time, pid, rule_name)
) STRICT;

INSERT INTO risk_process_events_0005
SELECT id, account_id, host_id, threat_id, pid, ppid, process_start_time, exe_path, cmdline, exe_md5,
       exe_sha256, user_name, group_name, container_id, rule_name, check_platform, handle_status,
       first_detection_method, first_detect_time, detect_time, status_time
FROM risk_process_events ORDER BY id;

CREATE TEMP TABLE rpe_0005_seq AS
SELECT seq FROM sqlite_sequence WHERE name = 'risk_process_events';
CREATE TEMP TABLE rpe_0005_quarantine AS
SELECT id, risk_event_id FROM quarantine_samples WHERE risk_event_id IS NOT NULL;

DROP TABLE risk_process_events;
ALTER TABLE risk_process_events_0005 RENAME TO risk_process_events;

UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM temp.rpe_0005_seq), 0))
WHERE name = 'risk_process_events';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'risk_process_events', seq FROM temp.rpe_0005_seq
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'risk_process_events');
UPDATE quarantine_samples
SET risk_event_id = (SELECT q.risk_event_id FROM temp.rpe_0005_quarantine q WHERE q.id = quarantine_samples.id)
WHERE id IN (SELECT id FROM temp.rpe_0005_quarantine);
DROP TABLE temp.rpe_0005_seq;
DROP TABLE temp.rpe_0005_quarantine;

-- The indexes as 0004 left them.
CREATE INDEX rpe_host ON risk_process_events
    (host_id, account_id, handle_status, process_start_time, detect_time, threat_id, pid);
CREATE INDEX rpe_threat ON risk_process_events
    (account_id, threat_id, handle_status, process_start_time, detect_time, host_id, pid, exe_path);
CREATE INDEX rpe_status ON risk_process_events
    (account_id, handle_status, process_start_time, detect_time, host_id, threat_id, pid);
CREATE INDEX rpe_start ON risk_process_events (account_id, process_start_time);
CREATE INDEX rpe_detect ON risk_process_events (account_id, detect_time);

-- The counts triggers of 0001_init.sql.
CREATE TRIGGER rpe_counts_insert AFTER INSERT ON risk_process_events BEGIN
    INSERT INTO risk_process_event_counts (account_id, host_id, threat_id, handle_status, n)
    VALUES (NEW.account_id, NEW.host_id, NEW.threat_id, NEW.handle_status, 1)
    ON CONFLICT (account_id, host_id, threat_id, handle_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER rpe_counts_delete AFTER DELETE ON risk_process_events BEGIN
    UPDATE risk_process_event_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND host_id = OLD.host_id AND threat_id = OLD.threat_id
      AND handle_status = OLD.handle_status;
END;

CREATE TRIGGER rpe_counts_update AFTER UPDATE OF account_id, host_id, threat_id, handle_status ON risk_process_events
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.host_id IS NOT NEW.host_id
  OR OLD.threat_id IS NOT NEW.threat_id OR OLD.handle_status IS NOT NEW.handle_status
BEGIN
    UPDATE risk_process_event_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND host_id = OLD.host_id AND threat_id = OLD.threat_id
      AND handle_status = OLD.handle_status;
    INSERT INTO risk_process_event_counts (account_id, host_id, threat_id, handle_status, n)
    VALUES (NEW.account_id, NEW.host_id, NEW.threat_id, NEW.handle_status, 1)
    ON CONFLICT (account_id, host_id, threat_id, handle_status) DO UPDATE SET n = n + 1;
END;
