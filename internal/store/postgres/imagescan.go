package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

// Registry administration.

var (
	registryCols = cols.Names(cols.RegistryRead, "")
	// updateRegistrySQL: the descriptive columns are $1…$n, then updated_at,
	// account and id.
	updateRegistrySQL = func() string {
		n := len(cols.RegistryDescriptive)
		return "UPDATE registries SET " + setParams(fieldNames(cols.RegistryDescriptive), 1) +
			fmt.Sprintf(", updated_at = $%d WHERE account_id = $%d AND id = $%d RETURNING ", n+1, n+2, n+3) + registryCols
	}()
)

func (s *Store) UpdateRegistry(ctx context.Context, accountID int64, r store.Registry) (store.Registry, error) {
	r, err := prep.Registry(r)
	if err != nil {
		return store.Registry{}, err
	}
	args := append(cols.Values(cols.RegistryDescriptive, codec, &r), store.UTC(s.now()), accountID, r.ID)
	out, err := scanRegistry(s.pool.QueryRow(ctx, updateRegistrySQL, args...))
	if isUnique(err) {
		return store.Registry{}, fmt.Errorf("%w: registry %q exists", store.ErrConflict, r.Name)
	}
	if err != nil {
		return store.Registry{}, notFound(err, "registry %d", r.ID)
	}
	return out, nil
}

func (s *Store) DeleteRegistry(ctx context.Context, accountID, id int64) error {
	// The foreign keys cascade to the images and from them to their layers
	// and viruses.
	tag, err := s.pool.Exec(ctx, "DELETE FROM registries WHERE account_id = $1 AND id = $2", accountID, id)
	return affected(tag, err, "registry %d", id)
}

func (s *Store) QueryRegistries(ctx context.Context, accountID int64, q store.RegistryQuery) (store.Page[store.Registry], error) {
	var page store.Page[store.Registry]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("account_id = %s", accountID)
	if q.Names.Set() {
		text(w, q.Names, "name")
	}
	if q.URLs.Set() {
		text(w, q.URLs, "url")
	}
	if len(q.Types) > 0 {
		w.add("registry_type = ANY(%s)", q.Types)
	}
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT "+registryCols+" FROM registries"+w.String()+
			" ORDER BY id"+desc(q.Desc)+limitOffset(q.Limit, q.Offset), w.args...)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Registry, error) { return scanRegistry(r) })
		if err != nil {
			return fmt.Errorf("postgres: querying registries: %w", err)
		}
		return total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*) FROM registries"+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.Registry]{}, err
	}
	return page, nil
}

func (s *Store) SetRegistrySync(ctx context.Context, accountID, id int64, rs store.RegistrySync) error {
	rs = prep.RegistrySync(rs)
	tag, err := s.pool.Exec(ctx, `UPDATE registries SET connect_msg = $1, sync_status = $2, sync_fail_reason = $3,
		latest_sync_time = coalesce($4, latest_sync_time) WHERE account_id = $5 AND id = $6`,
		rs.ConnectMsg, rs.SyncStatus, rs.SyncFailReason, codec.Time(rs.LatestSyncTime), accountID, id)
	return affected(tag, err, "registry %d", id)
}

func (s *Store) GetRegistryForWebhook(ctx context.Context, id int64) (store.Registry, error) {
	r, err := scanRegistry(s.pool.QueryRow(ctx, "SELECT "+registryCols+" FROM registries WHERE id = $1", id))
	if err != nil {
		return store.Registry{}, notFound(err, "registry %d", id)
	}
	return r, nil
}

// Image catalog.

var (
	insertSyncedImageSQL = insertSQL("registry_images", append([]string{"account_id"}, fieldNames(cols.RegistryImage)...))
	updateSyncedImageSQL = func() string {
		n := len(cols.RegistryImageSynced)
		return "UPDATE registry_images SET " + setParams(fieldNames(cols.RegistryImageSynced), 1) +
			fmt.Sprintf(", updated_at = $%d WHERE id = $%d", n+1, n+2)
	}()
)

func (s *Store) SyncRegistryImages(ctx context.Context, accountID, registryID int64, imgs []store.RegistryImage) (store.SyncResult, error) {
	var res store.SyncResult
	imgs, err := prep.SyncImages(registryID, imgs)
	if err != nil {
		return res, err
	}
	now := store.UTC(s.now())
	err = s.write(ctx, func(tx pgx.Tx) error {
		// Locking the registry serializes concurrent syncs of it (a webhook
		// and a scheduled sync), which would otherwise both insert a new tag.
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM registries WHERE account_id = $1 AND id = $2 FOR UPDATE", accountID, registryID).Scan(&one); err != nil {
			return notFound(err, "registry %d", registryID)
		}
		rows, _ := tx.Query(ctx, "SELECT "+cols.Names(cols.RegistryImageRead, "")+
			" FROM registry_images WHERE account_id = $1 AND registry_id = $2", accountID, registryID)
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RegistryImage, error) {
			var img store.RegistryImage
			err := r.Scan(cols.Dests(cols.RegistryImageRead, codec, &img)...)
			return img, err
		})
		if err != nil {
			return fmt.Errorf("postgres: reading images: %w", err)
		}
		stored := make(map[prep.ImageKey]store.RegistryImage, len(list))
		for _, img := range list {
			stored[prep.KeyOf(img)] = img
		}
		b := &pgx.Batch{}
		for i := range imgs {
			img := &imgs[i]
			k := prep.KeyOf(*img)
			old, ok := stored[k]
			if !ok {
				img.CreatedAt, img.UpdatedAt = now, now
				b.Queue(insertSyncedImageSQL, append([]any{accountID}, cols.Values(cols.RegistryImage, codec, img)...)...)
				res.Added++
				continue
			}
			delete(stored, k)
			if merged, changed := prep.MergeSyncedImage(old, *img); changed {
				b.Queue(updateSyncedImageSQL, append(cols.Values(cols.RegistryImageSynced, codec, &merged), now, old.ID)...)
				res.Updated++
			}
		}
		// What is left was not listed: gone from the registry. The foreign
		// keys cascade to layers and viruses.
		if len(stored) > 0 {
			gone := make([]int64, 0, len(stored))
			for _, img := range stored {
				gone = append(gone, img.ID)
			}
			b.Queue("DELETE FROM registry_images WHERE account_id = $1 AND id = ANY($2)", accountID, gone).
				Exec(func(tag pgconn.CommandTag) error { res.Removed = int(tag.RowsAffected()); return nil })
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: syncing images of registry %d: %w", registryID, err)
		}
		return nil
	})
	if err != nil {
		return store.SyncResult{}, err
	}
	return res, nil
}

func (s *Store) QueryRegistryImages(ctx context.Context, accountID int64, q store.RegistryImageQuery) (store.Page[store.RegistryImage], error) {
	var page store.Page[store.RegistryImage]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("i.account_id = %s", accountID)
	if len(q.IDs) > 0 {
		w.add("i.id = ANY(%s)", q.IDs)
	}
	if len(q.ExcludeIDs) > 0 {
		w.add("NOT (i.id = ANY(%s))", q.ExcludeIDs)
	}
	if len(q.RegistryIDs) > 0 {
		w.add("i.registry_id = ANY(%s)", q.RegistryIDs)
	}
	if q.RegistryNames.Set() {
		text(w, q.RegistryNames, "r.name")
	}
	if len(q.RegistryTypes) > 0 {
		w.add("r.registry_type = ANY(%s)", q.RegistryTypes)
	}
	for _, f := range []struct {
		f   store.TextFilter
		col string
	}{{q.Namespaces, "i.namespace"}, {q.Names, "i.name"}, {q.Tags, "i.tag"}, {q.Digests, "i.digest"}} {
		if f.f.Set() {
			text(w, f.f, f.col)
		}
	}
	if len(q.ScanStatuses) > 0 {
		w.add("i.scan_status = ANY(%s)", q.ScanStatuses)
	}
	if q.OnlyLatest {
		w.conds = append(w.conds, "i.is_latest")
	}
	if q.HasVirus != nil {
		if *q.HasVirus {
			w.conds = append(w.conds, "i.virus_count > 0")
		} else {
			w.conds = append(w.conds, "i.virus_count = 0")
		}
	}
	from := " FROM registry_images i JOIN registries r ON r.id = i.registry_id"
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT "+imageSelect+from+w.String()+imageOrder(q.OrderBy, q.Desc)+limitOffset(q.Limit, q.Offset), w.args...)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RegistryImage, error) { return scanImage(r) })
		if err != nil {
			return fmt.Errorf("postgres: querying images: %w", err)
		}
		return total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*)"+from+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.RegistryImage]{}, err
	}
	return page, nil
}

// imageOrder renders QueryRegistryImages' ORDER BY the way SQLite sorts:
// text bytewise (COLLATE "C", whatever the database's collation) and NULL
// first ascending, last descending.
func imageOrder(o store.ImageOrder, d bool) string {
	col, nullable := cols.ImageOrderColumn(o)
	expr := "i." + col
	switch col {
	case "name", "tag":
		expr += ` COLLATE "C"`
	}
	expr += desc(d)
	if nullable {
		if d {
			expr += " NULLS LAST"
		} else {
			expr += " NULLS FIRST"
		}
	}
	if col == "id" {
		return " ORDER BY " + expr
	}
	return " ORDER BY " + expr + ", i.id" + desc(d)
}

func (s *Store) SetImageScanStatus(ctx context.Context, accountID, imageID int64, status, scanErr string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE registry_images SET scan_status = $1, scan_error = $2, updated_at = $3 WHERE account_id = $4 AND id = $5",
		status, scanErr, store.UTC(s.now()), accountID, imageID)
	return affected(tag, err, "image %d", imageID)
}

func (s *Store) RecordImageScan(ctx context.Context, accountID, imageID int64, r store.ImageScanRecord) error {
	r, err := prep.ImageScanRecord(r)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		// Resolved metadata the record leaves empty keeps the stored value.
		// The row lock serializes two scans of one image recording at once.
		tag, err := tx.Exec(ctx, `UPDATE registry_images SET
			digest = coalesce(nullif($1, ''), digest), image_id = coalesce(nullif($2, ''), image_id),
			os_name = coalesce(nullif($3, ''), os_name), size = coalesce(nullif($4::bigint, 0), size),
			image_create_time = coalesce($5, image_create_time),
			scan_status = $6, scan_time = $7, scan_error = $8, virus_count = $9, updated_at = $10
			WHERE account_id = $11 AND id = $12`,
			r.Digest, r.ImageID, r.OSName, r.Size, codec.Time(r.ImageCreateTime),
			r.ScanStatus, r.ScanTime, r.ScanError, len(r.Viruses), store.UTC(s.now()), accountID, imageID)
		if err := affected(tag, err, "image %d", imageID); err != nil {
			return err
		}
		digests := make([]string, len(r.Layers))
		sizes := make([]int64, len(r.Layers))
		for i, l := range r.Layers {
			digests[i], sizes[i] = l.Digest, l.Size
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM image_layers WHERE image_id = $1", imageID)
		if len(r.Layers) > 0 {
			b.Queue(`INSERT INTO image_layers (image_id, position, layer_digest, size)
				SELECT $1, l.ord - 1, l.digest, l.size FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS l(digest, size, ord)`,
				imageID, digests, sizes)
		}
		// Findings: upsert the current ones (a known one keeps its
		// first_scan_time), then delete every other.
		keep := make([]int64, len(r.Viruses))
		if len(r.Viruses) > 0 {
			threats, err := s.threatIDs(ctx, tx, prep.Names(r.Viruses, func(v store.ImageVirus) string { return v.VirusName }))
			if err != nil {
				return err
			}
			for i := range r.Viruses {
				v := &r.Viruses[i]
				b.Queue(upsertImageVirusSQL+" RETURNING id", append([]any{accountID, imageID, threats[v.VirusName]}, cols.Values(cols.ImageVirus, codec, v)...)...).
					QueryRow(func(row pgx.Row) error { return row.Scan(&keep[i]) })
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: recording scan of image %d: %w", imageID, err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM image_viruses WHERE account_id = $1 AND image_id = $2 AND NOT (id = ANY($3))",
			accountID, imageID, keep); err != nil {
			return fmt.Errorf("postgres: removing old findings of image %d: %w", imageID, err)
		}
		return nil
	})
}

// Scan tasks.

var (
	scanTaskCols      = cols.Names(cols.ScanTaskRead, "")
	insertScanTaskSQL = insertSQL("scan_tasks", append([]string{"account_id"}, fieldNames(cols.ScanTask)...)) + " RETURNING id"
	insertTargetSQL   = insertSQL("scan_task_targets", append([]string{"account_id", "seq"}, fieldNames(cols.ScanTarget)...))
	updateTargetSQL   = func() string {
		n := len(cols.ScanTargetState)
		return "UPDATE scan_task_targets SET " + setParams(fieldNames(cols.ScanTargetState), 1) +
			fmt.Sprintf(" WHERE account_id = $%d AND task_id = $%d AND target_kind = $%d AND target_id = $%d", n+1, n+2, n+3, n+4)
	}()
	// refreshTaskSQL recomputes a task's counters from its targets. Callers
	// lock the task row first, so the statement's snapshot sees every
	// committed target change.
	refreshTaskSQL = `UPDATE scan_tasks SET
		target_done = (SELECT COUNT(*) FROM scan_task_targets WHERE task_id = scan_tasks.id
			AND status IN ('FINISHED', 'STOPPED', 'FAILED', 'TIMEOUT')),
		risk_count = (SELECT coalesce(SUM(risk_count), 0) FROM scan_task_targets WHERE task_id = scan_tasks.id)
		WHERE id = $1`
)

func scanTask(row pgx.Row) (store.ScanTask, error) {
	var t store.ScanTask
	err := row.Scan(cols.Dests(cols.ScanTaskRead, codec, &t)...)
	return t, err
}

func (s *Store) CreateScanTask(ctx context.Context, accountID int64, t store.ScanTask, targets []store.ScanTarget) (store.ScanTask, error) {
	t, targets, err := prep.ScanTask(t, targets, s.now())
	if err != nil {
		return store.ScanTask{}, err
	}
	t.AccountID = accountID
	err = s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, insertScanTaskSQL, append([]any{accountID}, cols.Values(cols.ScanTask, codec, &t)...)...).Scan(&t.ID)
		if isForeignKey(err) {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		if err != nil {
			return fmt.Errorf("postgres: creating scan task: %w", err)
		}
		b := &pgx.Batch{}
		for i := range targets {
			tg := &targets[i]
			tg.TaskID = t.ID
			b.Queue(insertTargetSQL, append([]any{accountID, i}, cols.Values(cols.ScanTarget, codec, tg)...)...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: creating scan targets: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.ScanTask{}, err
	}
	return t, nil
}

func (s *Store) GetScanTask(ctx context.Context, accountID, id int64) (store.ScanTask, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, "SELECT "+scanTaskCols+" FROM scan_tasks WHERE account_id = $1 AND id = $2", accountID, id))
	if err != nil {
		return store.ScanTask{}, notFound(err, "scan task %d", id)
	}
	return t, nil
}

func (s *Store) LatestScanTask(ctx context.Context, accountID int64, kind store.ScanTaskKind) (store.ScanTask, error) {
	if err := prep.TaskKind(kind); err != nil {
		return store.ScanTask{}, err
	}
	t, err := scanTask(s.pool.QueryRow(ctx, "SELECT "+scanTaskCols+
		" FROM scan_tasks WHERE account_id = $1 AND kind = $2 ORDER BY created_at DESC, id DESC LIMIT 1", accountID, string(kind)))
	if err != nil {
		return store.ScanTask{}, notFound(err, "%s scan task", kind)
	}
	return t, nil
}

func (s *Store) ListScanTargets(ctx context.Context, accountID, taskID int64) ([]store.ScanTarget, error) {
	var out []store.ScanTarget
	err := s.read(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM scan_tasks WHERE account_id = $1 AND id = $2", accountID, taskID).Scan(&one); err != nil {
			return notFound(err, "scan task %d", taskID)
		}
		rows, _ := tx.Query(ctx, "SELECT "+cols.Names(cols.ScanTarget, "")+
			" FROM scan_task_targets WHERE account_id = $1 AND task_id = $2 ORDER BY seq", accountID, taskID)
		var err error
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ScanTarget, error) {
			var tg store.ScanTarget
			err := r.Scan(cols.Dests(cols.ScanTarget, codec, &tg)...)
			return tg, err
		})
		if err != nil {
			return fmt.Errorf("postgres: listing scan targets: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockTask locks the account's task row for the transaction and returns its
// status.
func lockTask(ctx context.Context, tx pgx.Tx, accountID, id int64) (string, error) {
	var status string
	if err := tx.QueryRow(ctx, "SELECT status FROM scan_tasks WHERE account_id = $1 AND id = $2 FOR UPDATE", accountID, id).Scan(&status); err != nil {
		return "", notFound(err, "scan task %d", id)
	}
	return status, nil
}

func (s *Store) UpdateScanTarget(ctx context.Context, accountID int64, t store.ScanTarget) error {
	t, err := prep.ScanTarget(t)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := lockTask(ctx, tx, accountID, t.TaskID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, updateTargetSQL, append(cols.Values(cols.ScanTargetState, codec, &t), accountID, t.TaskID, t.Kind, t.TargetID)...)
		if err := affected(tag, err, "scan target %s %q of task %d", t.Kind, t.TargetID, t.TaskID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshTaskSQL, t.TaskID); err != nil {
			return fmt.Errorf("postgres: refreshing scan task %d: %w", t.TaskID, err)
		}
		return nil
	})
}

func (s *Store) SetScanTaskStatus(ctx context.Context, accountID, id int64, status, errMsg string) error {
	if err := prep.TaskStatus(status); err != nil {
		return err
	}
	now := store.UTC(s.now())
	return s.write(ctx, func(tx pgx.Tx) error {
		cur, err := lockTask(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		if store.TaskDone(cur) {
			return fmt.Errorf("%w: scan task %d is already %s", store.ErrConflict, id, cur)
		}
		if !store.TaskDone(status) {
			var started any // PENDING keeps started_at as it is
			if status == store.TaskRunning {
				started = now
			}
			if _, err := tx.Exec(ctx, "UPDATE scan_tasks SET status = $1, error = $2, started_at = coalesce(started_at, $3::timestamptz) WHERE id = $4",
				status, errMsg, started, id); err != nil {
				return fmt.Errorf("postgres: setting scan task %d status: %w", id, err)
			}
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE scan_task_targets SET status = $1, finished_at = coalesce(finished_at, $2)
			WHERE task_id = $3 AND status NOT IN ('FINISHED', 'STOPPED', 'FAILED', 'TIMEOUT')`, status, now, id)
		b.Queue("UPDATE scan_tasks SET status = $1, error = $2, finished_at = $3, owner = '', lease_until = NULL WHERE id = $4",
			status, errMsg, now, id)
		b.Queue(refreshTaskSQL, id)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: finishing scan task %d: %w", id, err)
		}
		return nil
	})
}

// claimSQL takes the oldest claimable task of a kind in one statement: FOR
// UPDATE SKIP LOCKED makes concurrent claimers (of any server) pass over a
// row another one is taking, and the row lock re-checks the conditions on
// the latest version, so a task is handed to one owner only.
var claimSQL = `UPDATE scan_tasks SET status = 'SCANNING', owner = $1, lease_until = $2, started_at = coalesce(started_at, $3)
	WHERE id = (SELECT id FROM scan_tasks WHERE kind = $4 AND status IN ('PENDING', 'SCANNING')
		AND (status = 'PENDING' OR lease_until IS NULL OR lease_until < $3)
		ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING ` + scanTaskCols

func (s *Store) ClaimScanTask(ctx context.Context, kind store.ScanTaskKind, owner string, lease time.Duration) (store.ScanTask, bool, error) {
	if err := prep.TaskKind(kind); err != nil {
		return store.ScanTask{}, false, err
	}
	if err := prep.Claim(owner, lease); err != nil {
		return store.ScanTask{}, false, err
	}
	now := store.UTC(s.now())
	t, err := scanTask(s.pool.QueryRow(ctx, claimSQL, owner, now.Add(lease), now, string(kind)))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ScanTask{}, false, nil
	case err != nil:
		return store.ScanTask{}, false, fmt.Errorf("postgres: claiming a %s scan task: %w", kind, err)
	}
	return t, true, nil
}

func (s *Store) RenewScanTask(ctx context.Context, taskID int64, owner string, lease time.Duration) error {
	if err := prep.Claim(owner, lease); err != nil {
		return err
	}
	now := store.UTC(s.now())
	tag, err := s.pool.Exec(ctx, "UPDATE scan_tasks SET lease_until = $1 WHERE id = $2 AND owner = $3 AND status = 'SCANNING'",
		now.Add(lease), taskID, owner)
	if err != nil {
		return fmt.Errorf("postgres: renewing scan task %d: %w", taskID, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var cur string
	if err := s.pool.QueryRow(ctx, "SELECT owner FROM scan_tasks WHERE id = $1", taskID).Scan(&cur); err != nil {
		return notFound(err, "scan task %d", taskID)
	}
	return fmt.Errorf("%w: scan task %d is not held by %q", store.ErrConflict, taskID, owner)
}

// Layer scan cache.

var (
	layerScanCols   = cols.Names(cols.LayerScan, "")
	putLayerScanSQL = upsertSQL("image_layer_findings", fieldNames(cols.LayerScan), "layer_digest, engine_version, ruleset_version",
		fieldNames(cols.LayerScan)[3:])
)

func (s *Store) GetLayerScan(ctx context.Context, layerDigest, engineVersion, rulesetVersion string) (store.LayerScan, error) {
	var ls store.LayerScan
	err := s.pool.QueryRow(ctx, "SELECT "+layerScanCols+
		" FROM image_layer_findings WHERE layer_digest = $1 AND engine_version = $2 AND ruleset_version = $3",
		layerDigest, engineVersion, rulesetVersion).Scan(cols.Dests(cols.LayerScan, codec, &ls)...)
	if err != nil {
		return store.LayerScan{}, notFound(err, "layer scan %s (%s, %s)", layerDigest, engineVersion, rulesetVersion)
	}
	return ls, nil
}

func (s *Store) PutLayerScan(ctx context.Context, ls store.LayerScan) error {
	ls, err := prep.LayerScan(ls, s.now())
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, putLayerScanSQL, cols.Values(cols.LayerScan, codec, &ls)...); err != nil {
		return fmt.Errorf("postgres: storing layer scan %s: %w", ls.LayerDigest, err)
	}
	return nil
}

// Export jobs.

var (
	exportJobCols      = cols.Names(cols.ExportJob, "")
	insertExportJobSQL = insertSQL("export_jobs", fieldNames(cols.ExportJob))
	updateExportJobSQL = func() string {
		n := len(cols.ExportJobState)
		return "UPDATE export_jobs SET " + setParams(fieldNames(cols.ExportJobState), 1) +
			fmt.Sprintf(" WHERE account_id = $%d AND id = $%d", n+1, n+2)
	}()
)

func (s *Store) CreateExportJob(ctx context.Context, accountID int64, j store.ExportJob) (store.ExportJob, error) {
	j, err := prep.ExportJob(j, s.now())
	if err != nil {
		return store.ExportJob{}, err
	}
	j.AccountID = accountID
	_, err = s.pool.Exec(ctx, insertExportJobSQL, cols.Values(cols.ExportJob, codec, &j)...)
	switch {
	case isUnique(err):
		return store.ExportJob{}, fmt.Errorf("%w: export job %q exists", store.ErrConflict, j.ID)
	case isForeignKey(err):
		return store.ExportJob{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.ExportJob{}, fmt.Errorf("postgres: creating export job: %w", err)
	}
	return j, nil
}

func (s *Store) GetExportJob(ctx context.Context, accountID int64, id string) (store.ExportJob, error) {
	var j store.ExportJob
	err := s.pool.QueryRow(ctx, "SELECT "+exportJobCols+" FROM export_jobs WHERE account_id = $1 AND id = $2", accountID, id).
		Scan(cols.Dests(cols.ExportJob, codec, &j)...)
	if err != nil {
		return store.ExportJob{}, notFound(err, "export job %q", id)
	}
	return j, nil
}

func (s *Store) UpdateExportJob(ctx context.Context, accountID int64, j store.ExportJob) error {
	j, err := prep.ExportJob(j, time.Time{})
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, updateExportJobSQL, append(cols.Values(cols.ExportJobState, codec, &j), accountID, j.ID)...)
	return affected(tag, err, "export job %q", j.ID)
}

func (s *Store) DeleteExpiredExportJobs(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM export_jobs WHERE expires_at < $1", store.UTC(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: deleting expired export jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Helpers.

// setParams is "c1 = $from, c2 = $from+1, …".
func setParams(columns []string, from int) string {
	parts := make([]string, len(columns))
	for i, c := range columns {
		parts[i] = fmt.Sprintf("%s = $%d", c, from+i)
	}
	return strings.Join(parts, ", ")
}

func desc(d bool) string {
	if d {
		return " DESC"
	}
	return ""
}

// affected turns an UPDATE or DELETE that matched no row into ErrNotFound.
func affected(tag pgconn.CommandTag, err error, format string, args ...any) error {
	if err != nil {
		return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: "+format, append([]any{store.ErrNotFound}, args...)...)
	}
	return nil
}

// total fills a page's total, counting only when the page does not tell it.
func total(ctx context.Context, tx pgx.Tx, dst *int64, n, limit, offset int, count string, args []any) error {
	var ok bool
	if *dst, ok = prep.KnownTotal(n, limit, offset); ok {
		return nil
	}
	if err := tx.QueryRow(ctx, count, args...).Scan(dst); err != nil {
		return fmt.Errorf("postgres: counting: %w", err)
	}
	return nil
}
