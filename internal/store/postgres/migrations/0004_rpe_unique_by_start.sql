-- 0004_rpe_unique_by_start: the events' unique key ordered (account, host,
-- start, pid, rule) instead of (account, host, pid, start, rule), as SQLite's
-- 0005 (see there): agents report recently started processes, so keyed by
-- start time an ingest lands at the end of each host's range instead of at a
-- random place by pid, and a batch dirties a few index pages instead of one
-- per event. Same columns: ON CONFLICT and deduplication are unchanged.
ALTER TABLE risk_process_events
    ADD CONSTRAINT rpe_key UNIQUE (account_id, host_id, process_start_time, pid, rule_name);
DO $$
DECLARE
    old_key text;
BEGIN
    SELECT c.conname INTO STRICT old_key
    FROM pg_constraint c
    WHERE c.conrelid = 'risk_process_events'::regclass AND c.contype = 'u' AND c.conname <> 'rpe_key';
    EXECUTE format('ALTER TABLE risk_process_events DROP CONSTRAINT %I', old_key);
END $$;
