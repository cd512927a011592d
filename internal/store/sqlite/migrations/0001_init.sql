-- 0001_init: vigil's schema for the whole product (cwp host malware, tcss
-- runtime trojans, tcss registry image scans), SQLite flavour.
--
-- Conventions
--   * Times are INTEGER microseconds since the Unix epoch, UTC; NULL = unset.
--   * Lists are JSON text ('[]' when empty). Secrets are ciphertext BLOBs the
--     caller encrypted; the store never holds plaintext keys or passwords.
--   * Every customer row carries account_id, and every index a query uses
--     starts with it: tenant scoping is also the first index column.
--   * Ids the API shows (EventId, image Id, registry Id, …) are AUTOINCREMENT so
--     an id is never reused after a delete.

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    secret_id      TEXT    PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'readonly')),
    status         TEXT    NOT NULL CHECK (status IN ('enabled', 'disabled')),
    secret_key_enc BLOB    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
) STRICT;
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

-- hosts is small per account (hundreds to a few thousand rows): substring
-- filters on name/IP scan an account's slice of it, never the events.
CREATE TABLE hosts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uuid          TEXT    NOT NULL,
    quuid         TEXT    NOT NULL DEFAULT '',
    host_name     TEXT    NOT NULL DEFAULT '',
    private_ip    TEXT    NOT NULL DEFAULT '',
    public_ip     TEXT    NOT NULL DEFAULT '',
    network_type  INTEGER NOT NULL DEFAULT 0,
    network_name  TEXT    NOT NULL DEFAULT '',
    instance_id   TEXT    NOT NULL DEFAULT '',
    os            TEXT    NOT NULL DEFAULT '',
    kernel        TEXT    NOT NULL DEFAULT '',
    agent_version TEXT    NOT NULL DEFAULT '',
    machine_type  TEXT    NOT NULL DEFAULT '',
    region        TEXT    NOT NULL DEFAULT '',
    online        INTEGER NOT NULL DEFAULT 0,
    last_seen     INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (account_id, uuid)
) STRICT;
CREATE INDEX hosts_name ON hosts (account_id, host_name, uuid);
CREATE INDEX hosts_quuid ON hosts (account_id, quuid);
CREATE INDEX hosts_instance ON hosts (account_id, instance_id);

-- Agent authentication (one credential per enrolled host) and the tokens an
-- operator hands out to enroll hosts. Secrets are stored hashed.
CREATE TABLE agent_credentials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id       INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,
    secret_hash   BLOB    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX agent_credentials_host ON agent_credentials (account_id, host_id);
CREATE INDEX agent_credentials_host_fk ON agent_credentials (host_id);

CREATE TABLE enroll_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash  BLOB    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    max_uses    INTEGER NOT NULL DEFAULT 0, -- 0: unlimited
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX enroll_tokens_account ON enroll_tokens (account_id, created_at);

-- threats is the global catalog of detection names with their texts in both
-- languages (not customer data). Events reference it by id: the long texts
-- are stored once, and a VirusName filter resolves against this small table
-- to a set of ids that an events index then serves.
CREATE TABLE threats (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    tags           TEXT    NOT NULL DEFAULT '[]',
    desc_zh        TEXT    NOT NULL DEFAULT '',
    desc_en        TEXT    NOT NULL DEFAULT '',
    solution_zh    TEXT    NOT NULL DEFAULT '',
    solution_en    TEXT    NOT NULL DEFAULT '',
    reference_link TEXT    NOT NULL DEFAULT '',
    updated_at     INTEGER NOT NULL
) STRICT;

-- risk_process_events: cwp DescribeRiskProcessEvents / ExportRiskProcessEvents
-- / ModifyRiskEventsStatus. id is the EventId. One row per (host, pid, process
-- start, rule): a repeat detection only moves detect_time forward.
--
-- How DescribeRiskProcessEvents is answered (all in one read snapshot):
--   1. HostId / IpOrName resolve against hosts (the account's slice, small) to
--      a set of host ids — dropped when it holds every host; VirusName
--      resolves against threats to a set of threat ids. Substring filters on
--      names and IPs therefore never scan events, and an empty set answers
--      "no rows" at once.
--   2. The page: SELECT id … ORDER BY <time>, id LIMIT/OFFSET on events, then
--      only those ids are joined with their rows, hosts and threats
--      ("deferred join"). The store names the index (INDEXED BY): SQLite's
--      planner, knowing averages but not distributions, prefers to read an
--      index in the requested order and skip rows, which for a selective
--      filter reads most of the table.
--        host and threat set -> the smaller one by risk_process_event_counts
--        host set            -> rpe_host   (account, host, status, start, detect, threat, pid, path)
--        threat set          -> rpe_threat (account, threat, status, start, detect, host, pid, path)
--        one status, by detect time, no range -> rpe_status_detect, read in order
--        statuses, path, pid -> rpe_status (account, status, start, detect, host, threat, pid, path)
--        time range only     -> rpe_start (by start time: read in order) or rpe_status
--        no filter           -> rpe_start / rpe_detect, read in order
--      The three wide indexes hold every filtered and sorted column, so the
--      id query reads no table row: FilePath (LIKE on exe_path) and ProcessId
--      are checked on index entries. Status comes before the start time: a
--      status IN (…) narrows the range, and without one SQLite skip-scans the
--      six statuses to reach the BeginTime/EndTime range. A host or threat
--      set holding at least 5% of the account's events (and more than 20,000)
--      with nothing but hosts, threats and statuses filtered is read in order
--      from rpe_start/rpe_detect instead: a page then needs ~20 rows per row.
--   3. The total: a page shorter than the limit tells it. Otherwise, when the
--      filters are only hosts, threats and statuses (the console's default
--      views), it is a SUM over risk_process_event_counts — one row per
--      (host, threat, status), kept exact by the triggers below — instead of
--      a COUNT over up to millions of events. A gathered host or threat set is
--      materialized once and counted in the same statement as the page.
--      Otherwise it is a COUNT over the covering index that drove the page.
--   Orderings: StartTime/DetectTime, ASC/DESC, ties broken by id.
CREATE TABLE risk_process_events (
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
    UNIQUE (account_id, host_id, pid, process_start_time, rule_name)
) STRICT;
CREATE INDEX rpe_host ON risk_process_events
    (account_id, host_id, handle_status, process_start_time, detect_time, threat_id, pid, exe_path);
CREATE INDEX rpe_threat ON risk_process_events
    (account_id, threat_id, handle_status, process_start_time, detect_time, host_id, pid, exe_path);
CREATE INDEX rpe_status ON risk_process_events
    (account_id, handle_status, process_start_time, detect_time, host_id, threat_id, pid, exe_path);
CREATE INDEX rpe_start ON risk_process_events (account_id, process_start_time);
CREATE INDEX rpe_detect ON risk_process_events (account_id, detect_time);
CREATE INDEX rpe_status_detect ON risk_process_events (account_id, handle_status, detect_time);
-- Deleting a host (rare) cascades to its events.
CREATE INDEX rpe_host_fk ON risk_process_events (host_id);

-- risk_process_event_counts: the number of events per (host, threat,
-- status), maintained by the triggers below on every insert, delete and
-- change of those columns, whatever statement makes it. Rows that drop to
-- zero stay (they are few and cost nothing).
CREATE TABLE risk_process_event_counts (
    account_id    INTEGER NOT NULL,
    host_id       INTEGER NOT NULL,
    threat_id     INTEGER NOT NULL,
    handle_status INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (account_id, host_id, threat_id, handle_status)
) STRICT, WITHOUT ROWID;
-- Per-threat sums (the primary key serves per-host ones).
CREATE INDEX rpe_counts_threat ON risk_process_event_counts (account_id, threat_id, handle_status);

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

-- virus_events: tcss runtime trojan files (DescribeVirusList, DescribeVirusDetail,
-- ExportVirusList, ModifyVirusFileStatus, DescribeVirusSummary). id is the
-- event Id. One row per (host, container, file path, md5).
CREATE TABLE virus_events (
    id                              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id                      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id                         INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    threat_id                       INTEGER NOT NULL REFERENCES threats (id),
    container_id                    TEXT    NOT NULL DEFAULT '',
    container_name                  TEXT    NOT NULL DEFAULT '',
    container_status                TEXT    NOT NULL DEFAULT '',
    container_net_status            TEXT    NOT NULL DEFAULT '',
    container_net_sub_status        TEXT    NOT NULL DEFAULT '',
    container_isolate_operation_src TEXT    NOT NULL DEFAULT '',
    image_id                        TEXT    NOT NULL DEFAULT '',
    image_name                      TEXT    NOT NULL DEFAULT '',
    pod_name                        TEXT    NOT NULL DEFAULT '',
    pod_ip                          TEXT    NOT NULL DEFAULT '',
    pod_status                      TEXT    NOT NULL DEFAULT '',
    namespace                       TEXT    NOT NULL DEFAULT '',
    workload_type                   TEXT    NOT NULL DEFAULT '',
    cluster_id                      TEXT    NOT NULL DEFAULT '',
    cluster_name                    TEXT    NOT NULL DEFAULT '',
    node_id                         TEXT    NOT NULL DEFAULT '',
    node_name                       TEXT    NOT NULL DEFAULT '',
    node_unique_id                  TEXT    NOT NULL DEFAULT '',
    node_type                       TEXT    NOT NULL DEFAULT '',
    node_subnet_id                  TEXT    NOT NULL DEFAULT '',
    node_subnet_name                TEXT    NOT NULL DEFAULT '',
    node_subnet_cidr                TEXT    NOT NULL DEFAULT '',
    file_path                       TEXT    NOT NULL,
    file_name                       TEXT    NOT NULL DEFAULT '',
    file_md5                        TEXT    NOT NULL DEFAULT '',
    file_size                       INTEGER NOT NULL DEFAULT 0,
    file_access_time                INTEGER,
    file_modify_time                INTEGER,
    risk_level                      TEXT    NOT NULL DEFAULT '',
    check_platform                  TEXT    NOT NULL DEFAULT '[]',
    source_type                     INTEGER NOT NULL DEFAULT 0,
    event_type                      TEXT    NOT NULL DEFAULT '',
    task_id                         INTEGER NOT NULL DEFAULT 0,
    isolate_mode                    TEXT    NOT NULL DEFAULT '',
    process_pid                     INTEGER NOT NULL DEFAULT 0,
    process_name                    TEXT    NOT NULL DEFAULT '',
    process_path                    TEXT    NOT NULL DEFAULT '',
    process_md5                     TEXT    NOT NULL DEFAULT '',
    process_argv                    TEXT    NOT NULL DEFAULT '',
    process_chain                   TEXT    NOT NULL DEFAULT '',
    process_user                    TEXT    NOT NULL DEFAULT '',
    process_group                   TEXT    NOT NULL DEFAULT '',
    process_file_authority          TEXT    NOT NULL DEFAULT '',
    parent_path                     TEXT    NOT NULL DEFAULT '',
    parent_argv                     TEXT    NOT NULL DEFAULT '',
    parent_user                     TEXT    NOT NULL DEFAULT '',
    parent_group                    TEXT    NOT NULL DEFAULT '',
    ancestor_path                   TEXT    NOT NULL DEFAULT '',
    ancestor_argv                   TEXT    NOT NULL DEFAULT '',
    ancestor_user                   TEXT    NOT NULL DEFAULT '',
    ancestor_group                  TEXT    NOT NULL DEFAULT '',
    status                          TEXT    NOT NULL DEFAULT 'DEAL_NONE',
    sub_status                      TEXT    NOT NULL DEFAULT '',
    mark                            TEXT    NOT NULL DEFAULT '',
    create_time                     INTEGER NOT NULL,
    modify_time                     INTEGER NOT NULL,
    operation_time                  INTEGER,
    UNIQUE (account_id, host_id, container_id, file_path, file_md5)
) STRICT;
-- DescribeVirusList filters: VirusName (resolved via threats), ContainerId,
-- ImageId, MD5, TaskId, Status / ContainerNetStatus, TimeRange on create/modify
-- time; default order is the newest first.
CREATE INDEX ve_modify ON virus_events (account_id, modify_time);
CREATE INDEX ve_create ON virus_events (account_id, create_time);
CREATE INDEX ve_threat ON virus_events (account_id, threat_id, modify_time);
CREATE INDEX ve_status ON virus_events (account_id, status, modify_time);
CREATE INDEX ve_container ON virus_events (account_id, container_id);
CREATE INDEX ve_image ON virus_events (account_id, image_id);
CREATE INDEX ve_md5 ON virus_events (account_id, file_md5);
CREATE INDEX ve_task ON virus_events (account_id, task_id);
CREATE INDEX ve_host_fk ON virus_events (host_id);

CREATE TABLE registries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    url               TEXT    NOT NULL,
    registry_type     TEXT    NOT NULL DEFAULT '',
    username          TEXT    NOT NULL DEFAULT '',
    password_enc      BLOB,
    net_type          TEXT    NOT NULL DEFAULT '',
    registry_version  TEXT    NOT NULL DEFAULT '',
    registry_region   TEXT    NOT NULL DEFAULT '',
    instance_id       TEXT    NOT NULL DEFAULT '',
    insecure          INTEGER NOT NULL DEFAULT 0,
    speed_limit       INTEGER NOT NULL DEFAULT 0,
    sync_mode         INTEGER NOT NULL DEFAULT 0,
    need_scan         INTEGER NOT NULL DEFAULT 0,
    webhook_url       TEXT    NOT NULL DEFAULT '',
    webhook_token     TEXT    NOT NULL DEFAULT '',
    conn_detect_hosts TEXT    NOT NULL DEFAULT '[]',
    connect_msg       TEXT    NOT NULL DEFAULT '',
    sync_status       TEXT    NOT NULL DEFAULT '',
    sync_fail_reason  TEXT    NOT NULL DEFAULT '',
    latest_sync_time  INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (account_id, name)
) STRICT;

-- registry_images: one row per tag; id is tcss's image Id.
CREATE TABLE registry_images (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    registry_id       INTEGER NOT NULL REFERENCES registries (id) ON DELETE CASCADE,
    namespace         TEXT    NOT NULL DEFAULT '',
    name              TEXT    NOT NULL,
    tag               TEXT    NOT NULL DEFAULT '',
    digest            TEXT    NOT NULL DEFAULT '',
    image_id          TEXT    NOT NULL DEFAULT '',
    os_name           TEXT    NOT NULL DEFAULT '',
    size              INTEGER NOT NULL DEFAULT 0,
    image_create_time INTEGER,
    is_latest         INTEGER NOT NULL DEFAULT 0,
    scan_status       TEXT    NOT NULL DEFAULT '',
    scan_time         INTEGER,
    scan_error        TEXT    NOT NULL DEFAULT '',
    virus_count       INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (account_id, registry_id, namespace, name, tag)
) STRICT;
-- DescribeAssetImageRegistryList filters and sorts by name, tag, scan state.
CREATE INDEX ri_name ON registry_images (account_id, name, tag);
CREATE INDEX ri_digest ON registry_images (account_id, digest);
CREATE INDEX ri_scan ON registry_images (account_id, scan_status, scan_time);
CREATE INDEX ri_registry_fk ON registry_images (registry_id);

-- Layers of an image, and the scan results cached per layer digest and engine
-- version (layers are shared between images and accounts; findings are only
-- ever read through an account's image).
CREATE TABLE image_layers (
    image_id     INTEGER NOT NULL REFERENCES registry_images (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    layer_digest TEXT    NOT NULL,
    size         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, position)
) STRICT;
CREATE INDEX image_layers_digest ON image_layers (layer_digest);

CREATE TABLE image_layer_findings (
    layer_digest    TEXT    NOT NULL,
    engine_version  TEXT    NOT NULL,
    ruleset_version TEXT    NOT NULL,
    scanned_at      INTEGER NOT NULL,
    file_count      INTEGER NOT NULL DEFAULT 0,
    bytes_scanned   INTEGER NOT NULL DEFAULT 0,
    findings        TEXT    NOT NULL DEFAULT '[]', -- [{path, virus, md5, size, file_type, …}]
    PRIMARY KEY (layer_digest, engine_version, ruleset_version)
) STRICT;

-- image_viruses: DescribeAssetImageRegistryVirusList(+Export). One row per
-- (image, path, virus); first_scan_time is kept across rescans.
CREATE TABLE image_viruses (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    image_id         INTEGER NOT NULL REFERENCES registry_images (id) ON DELETE CASCADE,
    threat_id        INTEGER NOT NULL REFERENCES threats (id),
    path             TEXT    NOT NULL,
    risk_level       TEXT    NOT NULL DEFAULT '',
    category         TEXT    NOT NULL DEFAULT '',
    file_type        TEXT    NOT NULL DEFAULT '',
    file_name        TEXT    NOT NULL DEFAULT '',
    file_md5         TEXT    NOT NULL DEFAULT '',
    file_size        INTEGER NOT NULL DEFAULT 0,
    layer_digest     TEXT    NOT NULL DEFAULT '',
    first_scan_time  INTEGER NOT NULL,
    latest_scan_time INTEGER NOT NULL,
    UNIQUE (image_id, path, threat_id)
) STRICT;
CREATE INDEX iv_list ON image_viruses (account_id, image_id, risk_level, path);

-- scan_tasks: cwp/tcss scans (CreateVirusScanTask, CreateAssetImageRegistryScanTask
-- [OneKey], their status and stop actions). Targets are the hosts, containers
-- or images a task covers, with per-target progress.
CREATE TABLE scan_tasks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('container_virus', 'registry_image', 'host_malware')),
    status         TEXT    NOT NULL DEFAULT 'PENDING',
    params         TEXT    NOT NULL DEFAULT '{}',
    timeout_secs   INTEGER NOT NULL DEFAULT 0,
    target_total   INTEGER NOT NULL DEFAULT 0,
    target_done    INTEGER NOT NULL DEFAULT 0,
    risk_count     INTEGER NOT NULL DEFAULT 0,
    error          TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER
) STRICT;
CREATE INDEX scan_tasks_account ON scan_tasks (account_id, kind, created_at);

CREATE TABLE scan_task_targets (
    task_id      INTEGER NOT NULL REFERENCES scan_tasks (id) ON DELETE CASCADE,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_kind  TEXT    NOT NULL CHECK (target_kind IN ('host', 'container', 'image')),
    target_id    TEXT    NOT NULL, -- host UUID, container id, or image id
    status       TEXT    NOT NULL DEFAULT 'PENDING',
    progress     INTEGER NOT NULL DEFAULT 0,
    risk_count   INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    started_at   INTEGER,
    finished_at  INTEGER,
    PRIMARY KEY (task_id, target_kind, target_id)
) STRICT;
CREATE INDEX scan_task_targets_status ON scan_task_targets (account_id, status);

-- whitelist_rules: cwp malware whitelist (CreateMalwareWhiteList …: mode md5 or
-- custom file name/dir/ext, per host QUUIDs or global) and tcss virus whitelist
-- (AddOrModifyVirusWhiteListRule …: md5s, scope, image ids). Ingest matches a
-- file's md5 through whitelist_md5.
CREATE TABLE whitelist_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    product         TEXT    NOT NULL CHECK (product IN ('cwp', 'tcss')),
    mode            INTEGER NOT NULL DEFAULT 0, -- cwp: 0 md5, 1 custom
    match_type      INTEGER NOT NULL DEFAULT 0, -- cwp: 0 exact, 1 fuzzy
    is_global       INTEGER NOT NULL DEFAULT 0,
    scope           INTEGER NOT NULL DEFAULT 0, -- tcss: 0 all images, 1 listed images
    quuids          TEXT    NOT NULL DEFAULT '[]',
    image_ids       TEXT    NOT NULL DEFAULT '[]',
    file_names      TEXT    NOT NULL DEFAULT '[]',
    file_dirs       TEXT    NOT NULL DEFAULT '[]',
    file_extensions TEXT    NOT NULL DEFAULT '[]',
    remark          TEXT    NOT NULL DEFAULT '',
    events_count    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX whitelist_rules_account ON whitelist_rules (account_id, product, created_at);

CREATE TABLE whitelist_md5 (
    rule_id    INTEGER NOT NULL REFERENCES whitelist_rules (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    md5        TEXT    NOT NULL,
    PRIMARY KEY (rule_id, md5)
) STRICT;
CREATE INDEX whitelist_md5_lookup ON whitelist_md5 (account_id, md5);

-- export_jobs: ExportRiskProcessEvents/ExportTasks, ExportVirusList,
-- DescribeAssetImageRegistryVirusListExport/DescribeExportJobResult. The file
-- is kept in the row so any server of a cluster can serve the download.
CREATE TABLE export_jobs (
    id           TEXT    PRIMARY KEY, -- TaskId / JobId
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'PENDING',
    progress     REAL    NOT NULL DEFAULT 0,
    params       TEXT    NOT NULL DEFAULT '{}',
    file_name    TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT '',
    content      BLOB,
    failure_msg  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    expires_at   INTEGER
) STRICT;
CREATE INDEX export_jobs_account ON export_jobs (account_id, created_at);
CREATE INDEX export_jobs_expiry ON export_jobs (expires_at);

-- quarantine_samples: files an agent isolated (ModifyVirusFileStatus isolate /
-- restore, cwp kill-and-isolate). storage_key locates the encrypted sample.
CREATE TABLE quarantine_samples (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id        INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    virus_event_id INTEGER REFERENCES virus_events (id) ON DELETE SET NULL,
    risk_event_id  INTEGER REFERENCES risk_process_events (id) ON DELETE SET NULL,
    original_path  TEXT    NOT NULL,
    md5            TEXT    NOT NULL DEFAULT '',
    sha256         TEXT    NOT NULL DEFAULT '',
    size           INTEGER NOT NULL DEFAULT 0,
    virus_name     TEXT    NOT NULL DEFAULT '',
    storage_key    TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'ISOLATED',
    auto_isolated  INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    restored_at    INTEGER
) STRICT;
CREATE INDEX quarantine_account ON quarantine_samples (account_id, created_at);
CREATE INDEX quarantine_md5 ON quarantine_samples (account_id, md5);
CREATE INDEX quarantine_host_fk ON quarantine_samples (host_id);
CREATE INDEX quarantine_virus_event_fk ON quarantine_samples (virus_event_id);
CREATE INDEX quarantine_risk_event_fk ON quarantine_samples (risk_event_id);

-- DescribeVirusAutoIsolateSampleList: per-md5 auto-isolation switch.
CREATE TABLE auto_isolate_samples (
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    md5          TEXT    NOT NULL,
    virus_name   TEXT    NOT NULL DEFAULT '',
    auto_isolate INTEGER NOT NULL DEFAULT 1,
    modify_time  INTEGER NOT NULL,
    PRIMARY KEY (account_id, md5)
) STRICT;

-- account_settings: small per-account switches (DescribeVirusAutoIsolateSetting …).
CREATE TABLE account_settings (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL, -- JSON
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT;
