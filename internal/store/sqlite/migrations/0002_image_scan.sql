-- 0002_image_scan: what registry image scanning needs beyond 0001 (the
-- RegistryAdmin, ImageCatalog, ScanTasks, LayerScans and ExportJobs contract).

-- A scan task is run by one server at a time: owner names it and lease_until
-- is when its claim expires, after which another server may take the task
-- over (ClaimScanTask). The empty owner means nobody holds it.
ALTER TABLE scan_tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_tasks ADD COLUMN lease_until INTEGER;
-- ClaimScanTask looks, across accounts, for the oldest claimable task of a
-- kind; only PENDING and SCANNING tasks are ever claimable, so the index
-- leaves the (many) finished ones out.
CREATE INDEX scan_tasks_claim ON scan_tasks (kind, status, id)
    WHERE status IN ('PENDING', 'SCANNING');

-- ListScanTargets returns a task's targets in insertion order, which the
-- primary key (task, kind, id) does not keep.
ALTER TABLE scan_task_targets ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- QueryRegistryImages with RegistryIDs (and SyncRegistryImages) reads one
-- registry's images: the unique key (account, registry, namespace, name, tag)
-- serves it. A scan task's images by scan state are served by ri_scan.
