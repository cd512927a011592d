-- 0001_init: vigil's schema for the whole product (cwp host malware, tcss
-- runtime trojans, tcss registry image scans), PostgreSQL flavour. Keep it
-- in step with sqlite/migrations: the same tables, columns and indexes.
--
-- Conventions
--   * Times are TIMESTAMPTZ (microseconds, sessions run in UTC); NULL = unset.
--   * Lists are JSONB ('[]' when empty). Secrets are ciphertext BYTEA the
--     caller encrypted; the store never holds plaintext keys or passwords.
--   * Every customer row carries account_id, and every index a query uses
--     starts with it: tenant scoping is also the first index column.
--   * Ids the API shows (EventId, image Id, registry Id, …) are AUTOINCREMENT so
--     an id is never reused after a delete.

CREATE TABLE accounts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    secret_id      TEXT    PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'readonly')),
    status         TEXT    NOT NULL CHECK (status IN ('enabled', 'disabled')),
    secret_key_enc BYTEA    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

-- hosts is small per account (hundreds to a few thousand rows): substring
-- filters on name/IP scan an account's slice of it, never the events.
CREATE TABLE hosts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uuid          TEXT COLLATE "C" NOT NULL,
    quuid         TEXT    NOT NULL DEFAULT '',
    host_name     TEXT COLLATE "C" NOT NULL DEFAULT '',
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
    online        BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen     TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, uuid)
);
CREATE INDEX hosts_name ON hosts (account_id, host_name, uuid);
CREATE INDEX hosts_quuid ON hosts (account_id, quuid);
CREATE INDEX hosts_instance ON hosts (account_id, instance_id);

-- Agent authentication (one credential per enrolled host) and the tokens an
-- operator hands out to enroll hosts. Secrets are stored hashed.
CREATE TABLE agent_credentials (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id       BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,
    secret_hash   BYTEA    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX agent_credentials_host ON agent_credentials (account_id, host_id);
CREATE INDEX agent_credentials_host_fk ON agent_credentials (host_id);

CREATE TABLE enroll_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash  BYTEA    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    max_uses    BIGINT NOT NULL DEFAULT 0, -- 0: unlimited
    uses        BIGINT NOT NULL DEFAULT 0,
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX enroll_tokens_account ON enroll_tokens (account_id, created_at);

-- threats is the global catalog of detection names with their texts in both
-- languages (not customer data). Events reference it by id: the long texts
-- are stored once, and a VirusName filter resolves against this small table
-- to a set of ids that an events index then serves.
CREATE TABLE threats (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    tags           JSONB   NOT NULL DEFAULT '[]',
    desc_zh        TEXT    NOT NULL DEFAULT '',
    desc_en        TEXT    NOT NULL DEFAULT '',
    solution_zh    TEXT    NOT NULL DEFAULT '',
    solution_en    TEXT    NOT NULL DEFAULT '',
    reference_link TEXT    NOT NULL DEFAULT '',
    updated_at     TIMESTAMPTZ NOT NULL
);

-- risk_process_events: cwp DescribeRiskProcessEvents / ExportRiskProcessEvents
-- / ModifyRiskEventsStatus. id is the EventId. One row per (host, pid, process
-- start, rule): a repeat detection only moves detect_time forward.
--
-- How DescribeRiskProcessEvents is answered (all in one REPEATABLE READ
-- snapshot):
--   1. HostId / IpOrName resolve against hosts (the account's slice, small) to
--      a set of host ids — dropped when it holds every host; VirusName
--      resolves against threats to a set of threat ids. Substring filters on
--      names and IPs therefore never scan events, and an empty set answers
--      "no rows" at once.
--   2. The page: SELECT id … ORDER BY <time>, id LIMIT/OFFSET on events, then
--      only those ids are joined with their rows, hosts and threats
--      ("deferred join"). The three covering indexes below hold every
--      filtered and sorted column (the folded path and the id as INCLUDE
--      columns), so the id query is an index-only scan once (auto)vacuum has
--      marked the pages all-visible. The planner picks the index with the
--      actual values (plan_cache_mode=force_custom_plan):
--        host set     -> rpe_host   (account, host, status, start, detect, threat, pid)
--        threat set   -> rpe_threat (account, threat, status, start, detect, host, pid)
--        status/time  -> rpe_status (account, status, start, detect, host, threat, pid)
--        no filter    -> rpe_start / rpe_detect / rpe_status_detect, read in order
--      With a host or threat set the ids are gathered in a MATERIALIZED CTE
--      and sorted: left alone, the planner likes to read an order index and
--      fetch table rows to test them whenever the LIMIT is small, which on a
--      cold cache costs seconds. Only a set holding at least 5% of the
--      account's events (and more than 20,000), with nothing but hosts,
--      threats and statuses filtered, is read in order.
--      FilePath and ProcessId are checked on index entries, never on table
--      rows. A FilePath substring compares exe_path_fold (exe_path with ASCII
--      letters lowered, as SQLite's LIKE folds) with LIKE: ILIKE folds every
--      letter and costs several times more per row.
--   3. The total: a page shorter than the limit tells it. Otherwise, when the
--      filters are only hosts, threats and statuses (the console's default
--      views), it is a SUM over risk_process_event_counts — one row per
--      (host, threat, status), kept exact by statement triggers — instead of
--      a COUNT over up to millions of events. A gathered host or threat set
--      is counted in the same statement as the page, from the CTE. Otherwise
--      it is a COUNT over the same covering indexes.
--   Orderings: StartTime/DetectTime, ASC/DESC, ties broken by id.
CREATE TABLE risk_process_events (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id             BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id                BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    threat_id              BIGINT NOT NULL REFERENCES threats (id),
    pid                    BIGINT NOT NULL,
    ppid                   BIGINT NOT NULL DEFAULT 0,
    process_start_time     TIMESTAMPTZ NOT NULL,
    exe_path               TEXT    NOT NULL DEFAULT '',
    exe_path_fold          TEXT    NOT NULL GENERATED ALWAYS AS
                               (translate(exe_path, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    cmdline                TEXT    NOT NULL DEFAULT '',
    exe_md5                TEXT    NOT NULL DEFAULT '',
    exe_sha256             TEXT    NOT NULL DEFAULT '',
    user_name              TEXT    NOT NULL DEFAULT '',
    group_name             TEXT    NOT NULL DEFAULT '',
    container_id           TEXT    NOT NULL DEFAULT '',
    rule_name              TEXT    NOT NULL DEFAULT '',
    check_platform         JSONB   NOT NULL DEFAULT '[]',
    -- 0 pending, 1 handled, 2 killing, 3 killed, 4 exited, 5 ignored
    handle_status          INTEGER NOT NULL DEFAULT 0 CHECK (handle_status BETWEEN 0 AND 5),
    first_detection_method INTEGER NOT NULL DEFAULT 0,
    first_detect_time      TIMESTAMPTZ NOT NULL,
    detect_time            TIMESTAMPTZ NOT NULL,
    status_time            TIMESTAMPTZ,
    UNIQUE (account_id, host_id, pid, process_start_time, rule_name)
);
CREATE INDEX rpe_host ON risk_process_events
    (account_id, host_id, handle_status, process_start_time, detect_time, threat_id, pid) INCLUDE (exe_path_fold, id);
CREATE INDEX rpe_threat ON risk_process_events
    (account_id, threat_id, handle_status, process_start_time, detect_time, host_id, pid) INCLUDE (exe_path_fold, id);
CREATE INDEX rpe_status ON risk_process_events
    (account_id, handle_status, process_start_time, detect_time, host_id, threat_id, pid) INCLUDE (exe_path_fold, id);
CREATE INDEX rpe_start ON risk_process_events (account_id, process_start_time, id);
CREATE INDEX rpe_detect ON risk_process_events (account_id, detect_time, id);
CREATE INDEX rpe_status_detect ON risk_process_events (account_id, handle_status, detect_time, id);
-- Deleting a host (rare) cascades to its events.
CREATE INDEX rpe_host_fk ON risk_process_events (host_id);

-- risk_process_event_counts: the number of events per (host, threat,
-- status), maintained by the statement triggers below on every insert,
-- delete and update, whatever statement makes it. Each statement applies
-- its changes grouped and in key order, so concurrent writers lock the
-- count rows in the same order. Rows that drop to zero stay.
CREATE TABLE risk_process_event_counts (
    account_id    BIGINT  NOT NULL,
    host_id       BIGINT  NOT NULL,
    threat_id     BIGINT  NOT NULL,
    handle_status INTEGER NOT NULL,
    n             BIGINT  NOT NULL,
    PRIMARY KEY (account_id, host_id, threat_id, handle_status)
);
-- Per-threat sums (the primary key serves per-host ones).
CREATE INDEX rpe_counts_threat ON risk_process_event_counts (account_id, threat_id, handle_status);

CREATE FUNCTION rpe_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO risk_process_event_counts AS c (account_id, host_id, threat_id, handle_status, n)
        SELECT account_id, host_id, threat_id, handle_status, count(*) FROM new_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (account_id, host_id, threat_id, handle_status) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO risk_process_event_counts AS c (account_id, host_id, threat_id, handle_status, n)
        SELECT account_id, host_id, threat_id, handle_status, -count(*) FROM old_rows
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (account_id, host_id, threat_id, handle_status) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO risk_process_event_counts AS c (account_id, host_id, threat_id, handle_status, n)
        SELECT account_id, host_id, threat_id, handle_status, sum(delta) FROM (
            SELECT account_id, host_id, threat_id, handle_status, 1 AS delta FROM new_rows
            UNION ALL
            SELECT account_id, host_id, threat_id, handle_status, -1 FROM old_rows
        ) d
        GROUP BY 1, 2, 3, 4 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (account_id, host_id, threat_id, handle_status) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rpe_counts_insert AFTER INSERT ON risk_process_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rpe_counts_apply();
CREATE TRIGGER rpe_counts_update AFTER UPDATE ON risk_process_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rpe_counts_apply();
CREATE TRIGGER rpe_counts_delete AFTER DELETE ON risk_process_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rpe_counts_apply();

-- virus_events: tcss runtime trojan files (DescribeVirusList, DescribeVirusDetail,
-- ExportVirusList, ModifyVirusFileStatus, DescribeVirusSummary). id is the
-- event Id. One row per (host, container, file path, md5).
CREATE TABLE virus_events (
    id                              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id                      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id                         BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    threat_id                       BIGINT NOT NULL REFERENCES threats (id),
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
    file_size                       BIGINT NOT NULL DEFAULT 0,
    file_access_time                TIMESTAMPTZ,
    file_modify_time                TIMESTAMPTZ,
    risk_level                      TEXT    NOT NULL DEFAULT '',
    check_platform                  JSONB   NOT NULL DEFAULT '[]',
    source_type                     INTEGER NOT NULL DEFAULT 0,
    event_type                      TEXT    NOT NULL DEFAULT '',
    task_id                         BIGINT NOT NULL DEFAULT 0,
    isolate_mode                    TEXT    NOT NULL DEFAULT '',
    process_pid                     BIGINT NOT NULL DEFAULT 0,
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
    create_time                     TIMESTAMPTZ NOT NULL,
    modify_time                     TIMESTAMPTZ NOT NULL,
    operation_time                  TIMESTAMPTZ,
    UNIQUE (account_id, host_id, container_id, file_path, file_md5)
);
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
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    url               TEXT    NOT NULL,
    registry_type     TEXT    NOT NULL DEFAULT '',
    username          TEXT    NOT NULL DEFAULT '',
    password_enc      BYTEA,
    net_type          TEXT    NOT NULL DEFAULT '',
    registry_version  TEXT    NOT NULL DEFAULT '',
    registry_region   TEXT    NOT NULL DEFAULT '',
    instance_id       TEXT    NOT NULL DEFAULT '',
    insecure          BOOLEAN NOT NULL DEFAULT FALSE,
    speed_limit       BIGINT NOT NULL DEFAULT 0,
    sync_mode         INTEGER NOT NULL DEFAULT 0,
    need_scan         BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_url       TEXT    NOT NULL DEFAULT '',
    webhook_token     TEXT    NOT NULL DEFAULT '',
    conn_detect_hosts JSONB   NOT NULL DEFAULT '[]',
    connect_msg       TEXT    NOT NULL DEFAULT '',
    sync_status       TEXT    NOT NULL DEFAULT '',
    sync_fail_reason  TEXT    NOT NULL DEFAULT '',
    latest_sync_time  TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, name)
);

-- registry_images: one row per tag; id is tcss's image Id.
CREATE TABLE registry_images (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    registry_id       BIGINT NOT NULL REFERENCES registries (id) ON DELETE CASCADE,
    namespace         TEXT    NOT NULL DEFAULT '',
    name              TEXT    NOT NULL,
    tag               TEXT    NOT NULL DEFAULT '',
    digest            TEXT    NOT NULL DEFAULT '',
    image_id          TEXT    NOT NULL DEFAULT '',
    os_name           TEXT    NOT NULL DEFAULT '',
    size              BIGINT NOT NULL DEFAULT 0,
    image_create_time TIMESTAMPTZ,
    is_latest         BOOLEAN NOT NULL DEFAULT FALSE,
    scan_status       TEXT    NOT NULL DEFAULT '',
    scan_time         TIMESTAMPTZ,
    scan_error        TEXT    NOT NULL DEFAULT '',
    virus_count       BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, registry_id, namespace, name, tag)
);
-- DescribeAssetImageRegistryList filters and sorts by name, tag, scan state.
CREATE INDEX ri_name ON registry_images (account_id, name, tag);
CREATE INDEX ri_digest ON registry_images (account_id, digest);
CREATE INDEX ri_scan ON registry_images (account_id, scan_status, scan_time);
CREATE INDEX ri_registry_fk ON registry_images (registry_id);

-- Layers of an image, and the scan results cached per layer digest and engine
-- version (layers are shared between images and accounts; findings are only
-- ever read through an account's image).
CREATE TABLE image_layers (
    image_id     BIGINT NOT NULL REFERENCES registry_images (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    layer_digest TEXT    NOT NULL,
    size         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_digest ON image_layers (layer_digest);

CREATE TABLE image_layer_findings (
    layer_digest    TEXT    NOT NULL,
    engine_version  TEXT    NOT NULL,
    ruleset_version TEXT    NOT NULL,
    scanned_at      TIMESTAMPTZ NOT NULL,
    file_count      BIGINT NOT NULL DEFAULT 0,
    bytes_scanned   BIGINT NOT NULL DEFAULT 0,
    findings        JSONB   NOT NULL DEFAULT '[]', -- [{path, virus, md5, size, file_type, …}]
    PRIMARY KEY (layer_digest, engine_version, ruleset_version)
);

-- image_viruses: DescribeAssetImageRegistryVirusList(+Export). One row per
-- (image, path, virus); first_scan_time is kept across rescans.
CREATE TABLE image_viruses (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    image_id         BIGINT NOT NULL REFERENCES registry_images (id) ON DELETE CASCADE,
    threat_id        BIGINT NOT NULL REFERENCES threats (id),
    path             TEXT COLLATE "C" NOT NULL,
    risk_level       TEXT COLLATE "C" NOT NULL DEFAULT '',
    category         TEXT    NOT NULL DEFAULT '',
    file_type        TEXT    NOT NULL DEFAULT '',
    file_name        TEXT    NOT NULL DEFAULT '',
    file_md5         TEXT    NOT NULL DEFAULT '',
    file_size        BIGINT NOT NULL DEFAULT 0,
    layer_digest     TEXT    NOT NULL DEFAULT '',
    first_scan_time  TIMESTAMPTZ NOT NULL,
    latest_scan_time TIMESTAMPTZ NOT NULL,
    UNIQUE (image_id, path, threat_id)
);
CREATE INDEX iv_list ON image_viruses (account_id, image_id, risk_level, path);

-- scan_tasks: cwp/tcss scans (CreateVirusScanTask, CreateAssetImageRegistryScanTask
-- [OneKey], their status and stop actions). Targets are the hosts, containers
-- or images a task covers, with per-target progress.
CREATE TABLE scan_tasks (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('container_virus', 'registry_image', 'host_malware')),
    status         TEXT    NOT NULL DEFAULT 'PENDING',
    params         JSONB   NOT NULL DEFAULT '{}',
    timeout_secs   INTEGER NOT NULL DEFAULT 0,
    target_total   BIGINT NOT NULL DEFAULT 0,
    target_done    BIGINT NOT NULL DEFAULT 0,
    risk_count     BIGINT NOT NULL DEFAULT 0,
    error          TEXT    NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ
);
CREATE INDEX scan_tasks_account ON scan_tasks (account_id, kind, created_at);

CREATE TABLE scan_task_targets (
    task_id      BIGINT NOT NULL REFERENCES scan_tasks (id) ON DELETE CASCADE,
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_kind  TEXT    NOT NULL CHECK (target_kind IN ('host', 'container', 'image')),
    target_id    TEXT    NOT NULL, -- host UUID, container id, or image id
    status       TEXT    NOT NULL DEFAULT 'PENDING',
    progress     INTEGER NOT NULL DEFAULT 0,
    risk_count   BIGINT NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    PRIMARY KEY (task_id, target_kind, target_id)
);
CREATE INDEX scan_task_targets_status ON scan_task_targets (account_id, status);

-- whitelist_rules: cwp malware whitelist (CreateMalwareWhiteList …: mode md5 or
-- custom file name/dir/ext, per host QUUIDs or global) and tcss virus whitelist
-- (AddOrModifyVirusWhiteListRule …: md5s, scope, image ids). Ingest matches a
-- file's md5 through whitelist_md5.
CREATE TABLE whitelist_rules (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    product         TEXT    NOT NULL CHECK (product IN ('cwp', 'tcss')),
    mode            INTEGER NOT NULL DEFAULT 0, -- cwp: 0 md5, 1 custom
    match_type      INTEGER NOT NULL DEFAULT 0, -- cwp: 0 exact, 1 fuzzy
    is_global       BOOLEAN NOT NULL DEFAULT FALSE,
    scope           INTEGER NOT NULL DEFAULT 0, -- tcss: 0 all images, 1 listed images
    quuids          JSONB   NOT NULL DEFAULT '[]',
    image_ids       JSONB   NOT NULL DEFAULT '[]',
    file_names      JSONB   NOT NULL DEFAULT '[]',
    file_dirs       JSONB   NOT NULL DEFAULT '[]',
    file_extensions JSONB   NOT NULL DEFAULT '[]',
    remark          TEXT    NOT NULL DEFAULT '',
    events_count    BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX whitelist_rules_account ON whitelist_rules (account_id, product, created_at);

CREATE TABLE whitelist_md5 (
    rule_id    BIGINT NOT NULL REFERENCES whitelist_rules (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    md5        TEXT    NOT NULL,
    PRIMARY KEY (rule_id, md5)
);
CREATE INDEX whitelist_md5_lookup ON whitelist_md5 (account_id, md5);

-- export_jobs: ExportRiskProcessEvents/ExportTasks, ExportVirusList,
-- DescribeAssetImageRegistryVirusListExport/DescribeExportJobResult. The file
-- is kept in the row so any server of a cluster can serve the download.
CREATE TABLE export_jobs (
    id           TEXT    PRIMARY KEY, -- TaskId / JobId
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'PENDING',
    progress     DOUBLE PRECISION NOT NULL DEFAULT 0,
    params       JSONB   NOT NULL DEFAULT '{}',
    file_name    TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT '',
    content      BYTEA,
    failure_msg  TEXT    NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ
);
CREATE INDEX export_jobs_account ON export_jobs (account_id, created_at);
CREATE INDEX export_jobs_expiry ON export_jobs (expires_at);

-- quarantine_samples: files an agent isolated (ModifyVirusFileStatus isolate /
-- restore, cwp kill-and-isolate). storage_key locates the encrypted sample.
CREATE TABLE quarantine_samples (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    host_id        BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    virus_event_id BIGINT REFERENCES virus_events (id) ON DELETE SET NULL,
    risk_event_id  BIGINT REFERENCES risk_process_events (id) ON DELETE SET NULL,
    original_path  TEXT    NOT NULL,
    md5            TEXT    NOT NULL DEFAULT '',
    sha256         TEXT    NOT NULL DEFAULT '',
    size           BIGINT NOT NULL DEFAULT 0,
    virus_name     TEXT    NOT NULL DEFAULT '',
    storage_key    TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'ISOLATED',
    auto_isolated  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    restored_at    TIMESTAMPTZ
);
CREATE INDEX quarantine_account ON quarantine_samples (account_id, created_at);
CREATE INDEX quarantine_md5 ON quarantine_samples (account_id, md5);
CREATE INDEX quarantine_host_fk ON quarantine_samples (host_id);
CREATE INDEX quarantine_virus_event_fk ON quarantine_samples (virus_event_id);
CREATE INDEX quarantine_risk_event_fk ON quarantine_samples (risk_event_id);

-- DescribeVirusAutoIsolateSampleList: per-md5 auto-isolation switch.
CREATE TABLE auto_isolate_samples (
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    md5          TEXT    NOT NULL,
    virus_name   TEXT    NOT NULL DEFAULT '',
    auto_isolate BOOLEAN NOT NULL DEFAULT TRUE,
    modify_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, md5)
);

-- account_settings: small per-account switches (DescribeVirusAutoIsolateSetting …).
CREATE TABLE account_settings (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      JSONB   NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, key)
);
