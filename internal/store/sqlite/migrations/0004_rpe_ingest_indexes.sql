-- 0004_rpe_ingest_indexes: fewer and narrower risk_process_events indexes,
-- for ingestion (issue 6). An event's insert touches one leaf page per index,
-- and with start times spread over the last hour most of those inserts land
-- at random places: the pages a batch dirties (written to the WAL at commit,
-- again at the checkpoint) grow with the number of indexes and with how wide
-- their entries are. Measured with the storetest benchmarks (BENCHMARKS.md,
-- "Event ingestion"): batch 500 on a fresh database 13.2-13.5k -> 16.5-17.0k
-- events/s, WAL/database writes -19 %, query p99 on 1M events unchanged.
--
-- 1. rpe_host leads with host_id. Its queries constrain account_id and
--    host_id both by equality, so their order means nothing to them, and
--    with host_id first it also serves the hosts foreign key (ON DELETE
--    CASCADE finds a host's events by host_id): rpe_host_fk goes.
-- 2. exe_path leaves rpe_host and rpe_status: a FilePath filter driven by a
--    host set or by statuses reads the table row of each candidate instead
--    (host sets are small; status-driven path queries are rare). It stays in
--    rpe_threat, which drives VirusName + FilePath, the console's path query:
--    without it that shape's p99 went from ~18 ms to ~130 ms.
-- 3. rpe_status_detect goes: one status in detect order is planned like
--    several statuses — read in order from rpe_detect when the status holds
--    at least 5 % of the account's events (the counts table tells), else
--    gathered from rpe_status (see planRisk in riskevents.go).
-- The plan otherwise stays the one described in 0001_init.sql. On an
-- existing 1M-event database this migration takes ~10 s (two index builds).
DROP INDEX rpe_host_fk;
DROP INDEX rpe_status_detect;
DROP INDEX rpe_host;
CREATE INDEX rpe_host ON risk_process_events
    (host_id, account_id, handle_status, process_start_time, detect_time, threat_id, pid);
DROP INDEX rpe_status;
CREATE INDEX rpe_status ON risk_process_events
    (account_id, handle_status, process_start_time, detect_time, host_id, threat_id, pid);
