package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

// Registry administration.

var updateRegistrySQL = "UPDATE registries SET " + setParams(fieldNames(cols.RegistryDescriptive)) +
	", updated_at = ? WHERE account_id = ? AND id = ? RETURNING " + cols.Names(cols.RegistryRead, "")

func (s *Store) UpdateRegistry(ctx context.Context, accountID int64, r store.Registry) (store.Registry, error) {
	r, err := prep.Registry(r)
	if err != nil {
		return store.Registry{}, err
	}
	args := append(cols.Values(cols.RegistryDescriptive, codec, &r), micros(s.now()), accountID, r.ID)
	var out store.Registry
	err = s.w.QueryRowContext(ctx, updateRegistrySQL, args...).Scan(cols.Dests(cols.RegistryRead, codec, &out)...)
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
	res, err := s.w.ExecContext(ctx, "DELETE FROM registries WHERE account_id = ? AND id = ?", accountID, id)
	return affected(res, err, "registry %d", id)
}

func (s *Store) QueryRegistries(ctx context.Context, accountID int64, q store.RegistryQuery) (store.Page[store.Registry], error) {
	var page store.Page[store.Registry]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("account_id = ?", accountID)
	if q.Names.Set() {
		text(w, q.Names, "name")
	}
	if q.URLs.Set() {
		text(w, q.URLs, "url")
	}
	if len(q.Types) > 0 {
		in(w, "registry_type", q.Types)
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries"+w.String()+
			" ORDER BY id"+desc(q.Desc)+limitOffset(q.Limit, q.Offset), w.args...)
		if err != nil {
			return fmt.Errorf("sqlite: querying registries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r store.Registry
			if err := rows.Scan(cols.Dests(cols.RegistryRead, codec, &r)...); err != nil {
				return fmt.Errorf("sqlite: querying registries: %w", err)
			}
			page.Items = append(page.Items, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: querying registries: %w", err)
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*) FROM registries"+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.Registry]{}, err
	}
	return page, nil
}

func (s *Store) SetRegistrySync(ctx context.Context, accountID, id int64, rs store.RegistrySync) error {
	rs = prep.RegistrySync(rs)
	res, err := s.w.ExecContext(ctx, `UPDATE registries SET connect_msg = ?, sync_status = ?, sync_fail_reason = ?,
		latest_sync_time = coalesce(?, latest_sync_time) WHERE account_id = ? AND id = ?`,
		rs.ConnectMsg, rs.SyncStatus, rs.SyncFailReason, codec.Time(rs.LatestSyncTime), accountID, id)
	return affected(res, err, "registry %d", id)
}

func (s *Store) GetRegistryForWebhook(ctx context.Context, id int64) (store.Registry, error) {
	var r store.Registry
	err := s.r.QueryRowContext(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries WHERE id = ?", id).
		Scan(cols.Dests(cols.RegistryRead, codec, &r)...)
	if err != nil {
		return store.Registry{}, notFound(err, "registry %d", id)
	}
	return r, nil
}

// Image catalog.

var (
	insertSyncedImageSQL = insertSQL("registry_images", append([]string{"account_id"}, fieldNames(cols.RegistryImage)...))
	updateSyncedImageSQL = "UPDATE registry_images SET " + setParams(fieldNames(cols.RegistryImageSynced)) +
		", updated_at = ? WHERE id = ?"
)

func (s *Store) SyncRegistryImages(ctx context.Context, accountID, registryID int64, imgs []store.RegistryImage) (store.SyncResult, error) {
	var res store.SyncResult
	imgs, err := prep.SyncImages(registryID, imgs)
	if err != nil {
		return res, err
	}
	now := store.UTC(s.now())
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM registries WHERE account_id = ? AND id = ?", accountID, registryID).Scan(&one); err != nil {
			return notFound(err, "registry %d", registryID)
		}
		stored, err := registryImages(ctx, tx, accountID, registryID)
		if err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, insertSyncedImageSQL)
		if err != nil {
			return fmt.Errorf("sqlite: syncing images: %w", err)
		}
		defer ins.Close()
		upd, err := tx.PrepareContext(ctx, updateSyncedImageSQL)
		if err != nil {
			return fmt.Errorf("sqlite: syncing images: %w", err)
		}
		defer upd.Close()
		for i := range imgs {
			img := &imgs[i]
			k := prep.KeyOf(*img)
			old, ok := stored[k]
			if !ok {
				img.CreatedAt, img.UpdatedAt = now, now
				if _, err := ins.ExecContext(ctx, append([]any{accountID}, cols.Values(cols.RegistryImage, codec, img)...)...); err != nil {
					return fmt.Errorf("sqlite: adding image %s/%s:%s: %w", img.Namespace, img.Name, img.Tag, err)
				}
				res.Added++
				continue
			}
			delete(stored, k)
			merged, changed := prep.MergeSyncedImage(old, *img)
			if !changed {
				continue
			}
			if _, err := upd.ExecContext(ctx, append(cols.Values(cols.RegistryImageSynced, codec, &merged), micros(now), old.ID)...); err != nil {
				return fmt.Errorf("sqlite: updating image %d: %w", old.ID, err)
			}
			res.Updated++
		}
		// What is left was not listed: gone from the registry. The foreign
		// keys cascade to layers and viruses.
		gone := make([]int64, 0, len(stored))
		for _, img := range stored {
			gone = append(gone, img.ID)
		}
		if len(gone) > 0 {
			r, err := tx.ExecContext(ctx, "DELETE FROM registry_images WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
				accountID, jsonIDs(gone))
			if err != nil {
				return fmt.Errorf("sqlite: removing images: %w", err)
			}
			n, _ := r.RowsAffected()
			res.Removed = int(n)
		}
		return nil
	})
	if err != nil {
		return store.SyncResult{}, err
	}
	return res, nil
}

// registryImages returns a registry's stored images by key.
func registryImages(ctx context.Context, tx *sql.Tx, accountID, registryID int64) (map[prep.ImageKey]store.RegistryImage, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+cols.Names(cols.RegistryImageRead, "")+
		" FROM registry_images WHERE account_id = ? AND registry_id = ?", accountID, registryID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading images: %w", err)
	}
	defer rows.Close()
	out := map[prep.ImageKey]store.RegistryImage{}
	for rows.Next() {
		var img store.RegistryImage
		if err := rows.Scan(cols.Dests(cols.RegistryImageRead, codec, &img)...); err != nil {
			return nil, fmt.Errorf("sqlite: reading images: %w", err)
		}
		out[prep.KeyOf(img)] = img
	}
	return out, rows.Err()
}

func (s *Store) QueryRegistryImages(ctx context.Context, accountID int64, q store.RegistryImageQuery) (store.Page[store.RegistryImage], error) {
	var page store.Page[store.RegistryImage]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("i.account_id = ?", accountID)
	// Id lists may be long (a task's images): one JSON argument each instead
	// of thousands of parameters.
	if len(q.IDs) > 0 {
		w.add("i.id IN (SELECT value FROM json_each(?))", jsonIDs(q.IDs))
	}
	if len(q.ExcludeIDs) > 0 {
		w.add("i.id NOT IN (SELECT value FROM json_each(?))", jsonIDs(q.ExcludeIDs))
	}
	if len(q.RegistryIDs) > 0 {
		in(w, "i.registry_id", q.RegistryIDs)
	}
	if q.RegistryNames.Set() {
		text(w, q.RegistryNames, "r.name")
	}
	if len(q.RegistryTypes) > 0 {
		in(w, "r.registry_type", q.RegistryTypes)
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
		in(w, "i.scan_status", q.ScanStatuses)
	}
	if q.OnlyLatest {
		w.add("i.is_latest = 1")
	}
	if q.HasVirus != nil {
		if *q.HasVirus {
			w.add("i.virus_count > 0")
		} else {
			w.add("i.virus_count = 0")
		}
	}
	// SQLite sorts NULL first ascending, last descending: the order the
	// contract (and the PostgreSQL backend) follows.
	col, _ := cols.ImageOrderColumn(q.OrderBy)
	order := " ORDER BY i." + col + desc(q.Desc)
	if col != "id" {
		order += ", i.id" + desc(q.Desc)
	}
	from := " FROM registry_images i JOIN registries r ON r.id = i.registry_id"
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+imageSelect+from+w.String()+order+limitOffset(q.Limit, q.Offset), w.args...)
		if err == nil {
			page.Items, err = collect(rows, scanImage)
		}
		if err != nil {
			return fmt.Errorf("sqlite: querying images: %w", err)
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*)"+from+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.RegistryImage]{}, err
	}
	return page, nil
}

func (s *Store) SetImageScanStatus(ctx context.Context, accountID, imageID int64, status, scanErr string) error {
	res, err := s.w.ExecContext(ctx, "UPDATE registry_images SET scan_status = ?, scan_error = ?, updated_at = ? WHERE account_id = ? AND id = ?",
		status, scanErr, micros(s.now()), accountID, imageID)
	return affected(res, err, "image %d", imageID)
}

func (s *Store) RecordImageScan(ctx context.Context, accountID, imageID int64, r store.ImageScanRecord) error {
	r, err := prep.ImageScanRecord(r)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := imageExists(ctx, tx, accountID, imageID); err != nil {
			return err
		}
		// Resolved metadata the record leaves empty keeps the stored value.
		_, err := tx.ExecContext(ctx, `UPDATE registry_images SET
			digest = coalesce(nullif(?, ''), digest), image_id = coalesce(nullif(?, ''), image_id),
			os_name = coalesce(nullif(?, ''), os_name), size = coalesce(nullif(?, 0), size),
			image_create_time = coalesce(?, image_create_time),
			scan_status = ?, scan_time = ?, scan_error = ?, virus_count = ?, updated_at = ?
			WHERE account_id = ? AND id = ?`,
			r.Digest, r.ImageID, r.OSName, r.Size, codec.Time(r.ImageCreateTime),
			r.ScanStatus, micros(r.ScanTime), r.ScanError, len(r.Viruses), micros(s.now()), accountID, imageID)
		if err != nil {
			return fmt.Errorf("sqlite: recording scan of image %d: %w", imageID, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM image_layers WHERE image_id = ?", imageID); err != nil {
			return fmt.Errorf("sqlite: replacing layers of image %d: %w", imageID, err)
		}
		for i, l := range r.Layers {
			if _, err := tx.ExecContext(ctx, "INSERT INTO image_layers (image_id, position, layer_digest, size) VALUES (?, ?, ?, ?)",
				imageID, i, l.Digest, l.Size); err != nil {
				return fmt.Errorf("sqlite: replacing layers of image %d: %w", imageID, err)
			}
		}
		// Findings: upsert the current ones (a known one keeps its
		// first_scan_time), then delete every other.
		keep := make([]int64, 0, len(r.Viruses))
		if len(r.Viruses) > 0 {
			threats, err := s.threatIDs(ctx, tx, prep.Names(r.Viruses, func(v store.ImageVirus) string { return v.VirusName }))
			if err != nil {
				return err
			}
			stmt, err := tx.PrepareContext(ctx, upsertImageVirusSQL+" RETURNING id")
			if err != nil {
				return fmt.Errorf("sqlite: recording findings: %w", err)
			}
			defer stmt.Close()
			for i := range r.Viruses {
				v := &r.Viruses[i]
				var id int64
				args := append([]any{accountID, imageID, threats[v.VirusName]}, cols.Values(cols.ImageVirus, codec, v)...)
				if err := stmt.QueryRowContext(ctx, args...).Scan(&id); err != nil {
					return fmt.Errorf("sqlite: recording finding %q: %w", v.Path, err)
				}
				keep = append(keep, id)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM image_viruses WHERE account_id = ? AND image_id = ? AND id NOT IN (SELECT value FROM json_each(?))",
			accountID, imageID, jsonIDs(keep)); err != nil {
			return fmt.Errorf("sqlite: removing old findings of image %d: %w", imageID, err)
		}
		return nil
	})
}

// Scan tasks.

var (
	scanTaskCols      = cols.Names(cols.ScanTaskRead, "")
	insertScanTaskSQL = insertSQL("scan_tasks", append([]string{"account_id"}, fieldNames(cols.ScanTask)...)) + " RETURNING id"
	insertTargetSQL   = insertSQL("scan_task_targets", append([]string{"account_id", "seq"}, fieldNames(cols.ScanTarget)...))
	updateTargetSQL   = "UPDATE scan_task_targets SET " + setParams(fieldNames(cols.ScanTargetState)) +
		" WHERE account_id = ? AND task_id = ? AND target_kind = ? AND target_id = ?"
	// refreshTaskSQL recomputes a task's counters from its targets.
	refreshTaskSQL = `UPDATE scan_tasks SET
		target_done = (SELECT COUNT(*) FROM scan_task_targets WHERE task_id = scan_tasks.id
			AND status IN ('FINISHED', 'STOPPED', 'FAILED', 'TIMEOUT')),
		risk_count = (SELECT coalesce(SUM(risk_count), 0) FROM scan_task_targets WHERE task_id = scan_tasks.id)
		WHERE id = ?`
)

func scanTask(row interface{ Scan(...any) error }) (store.ScanTask, error) {
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, insertScanTaskSQL, append([]any{accountID}, cols.Values(cols.ScanTask, codec, &t)...)...).Scan(&t.ID)
		if isForeignKey(err) {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: creating scan task: %w", err)
		}
		if len(targets) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, insertTargetSQL)
		if err != nil {
			return fmt.Errorf("sqlite: creating scan targets: %w", err)
		}
		defer stmt.Close()
		for i := range targets {
			tg := &targets[i]
			tg.TaskID = t.ID
			if _, err := stmt.ExecContext(ctx, append([]any{accountID, i}, cols.Values(cols.ScanTarget, codec, tg)...)...); err != nil {
				return fmt.Errorf("sqlite: creating scan target %s %q: %w", tg.Kind, tg.TargetID, err)
			}
		}
		return nil
	})
	if err != nil {
		return store.ScanTask{}, err
	}
	return t, nil
}

func (s *Store) GetScanTask(ctx context.Context, accountID, id int64) (store.ScanTask, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, "SELECT "+scanTaskCols+" FROM scan_tasks WHERE account_id = ? AND id = ?", accountID, id))
	if err != nil {
		return store.ScanTask{}, notFound(err, "scan task %d", id)
	}
	return t, nil
}

func (s *Store) LatestScanTask(ctx context.Context, accountID int64, kind store.ScanTaskKind) (store.ScanTask, error) {
	if err := prep.TaskKind(kind); err != nil {
		return store.ScanTask{}, err
	}
	t, err := scanTask(s.r.QueryRowContext(ctx, "SELECT "+scanTaskCols+
		" FROM scan_tasks WHERE account_id = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT 1", accountID, kind))
	if err != nil {
		return store.ScanTask{}, notFound(err, "%s scan task", kind)
	}
	return t, nil
}

func (s *Store) ListScanTargets(ctx context.Context, accountID, taskID int64) ([]store.ScanTarget, error) {
	var out []store.ScanTarget
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM scan_tasks WHERE account_id = ? AND id = ?", accountID, taskID).Scan(&one); err != nil {
			return notFound(err, "scan task %d", taskID)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+cols.Names(cols.ScanTarget, "")+
			" FROM scan_task_targets WHERE account_id = ? AND task_id = ? ORDER BY seq", accountID, taskID)
		if err != nil {
			return fmt.Errorf("sqlite: listing scan targets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var tg store.ScanTarget
			if err := rows.Scan(cols.Dests(cols.ScanTarget, codec, &tg)...); err != nil {
				return fmt.Errorf("sqlite: listing scan targets: %w", err)
			}
			out = append(out, tg)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) UpdateScanTarget(ctx context.Context, accountID int64, t store.ScanTarget) error {
	t, err := prep.ScanTarget(t)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, updateTargetSQL,
			append(cols.Values(cols.ScanTargetState, codec, &t), accountID, t.TaskID, t.Kind, t.TargetID)...)
		if err := affected(res, err, "scan target %s %q of task %d", t.Kind, t.TargetID, t.TaskID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, refreshTaskSQL, t.TaskID); err != nil {
			return fmt.Errorf("sqlite: refreshing scan task %d: %w", t.TaskID, err)
		}
		return nil
	})
}

func (s *Store) SetScanTaskStatus(ctx context.Context, accountID, id int64, status, errMsg string) error {
	if err := prep.TaskStatus(status); err != nil {
		return err
	}
	now := micros(s.now())
	return s.write(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM scan_tasks WHERE account_id = ? AND id = ?", accountID, id).Scan(&cur); err != nil {
			return notFound(err, "scan task %d", id)
		}
		if store.TaskDone(cur) {
			return fmt.Errorf("%w: scan task %d is already %s", store.ErrConflict, id, cur)
		}
		if !store.TaskDone(status) {
			started := any(nil) // PENDING keeps started_at as it is
			if status == store.TaskRunning {
				started = now
			}
			_, err := tx.ExecContext(ctx, "UPDATE scan_tasks SET status = ?, error = ?, started_at = coalesce(started_at, ?) WHERE id = ?",
				status, errMsg, started, id)
			if err != nil {
				return fmt.Errorf("sqlite: setting scan task %d status: %w", id, err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scan_task_targets SET status = ?, finished_at = coalesce(finished_at, ?)
			WHERE task_id = ? AND status NOT IN ('FINISHED', 'STOPPED', 'FAILED', 'TIMEOUT')`, status, now, id); err != nil {
			return fmt.Errorf("sqlite: finalizing targets of scan task %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scan_tasks SET status = ?, error = ?, finished_at = ?, owner = '', lease_until = NULL
			WHERE id = ?`, status, errMsg, now, id); err != nil {
			return fmt.Errorf("sqlite: setting scan task %d status: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, refreshTaskSQL, id); err != nil {
			return fmt.Errorf("sqlite: refreshing scan task %d: %w", id, err)
		}
		return nil
	})
}

// claimSQL takes the oldest claimable task of a kind in one statement. All
// writes go through the Store's single write connection, each in a BEGIN
// IMMEDIATE transaction holding the database's write lock, so two claims
// (of this or another process) never see the same task as free.
var claimSQL = `UPDATE scan_tasks SET status = 'SCANNING', owner = ?, lease_until = ?, started_at = coalesce(started_at, ?)
	WHERE id = (SELECT id FROM scan_tasks WHERE kind = ? AND status IN ('PENDING', 'SCANNING')
		AND (status = 'PENDING' OR lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT 1)
	RETURNING ` + scanTaskCols

func (s *Store) ClaimScanTask(ctx context.Context, kind store.ScanTaskKind, owner string, lease time.Duration) (store.ScanTask, bool, error) {
	if err := prep.TaskKind(kind); err != nil {
		return store.ScanTask{}, false, err
	}
	if err := prep.Claim(owner, lease); err != nil {
		return store.ScanTask{}, false, err
	}
	now := store.UTC(s.now())
	var t store.ScanTask
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanTask(tx.QueryRowContext(ctx, claimSQL, owner, micros(now.Add(lease)), micros(now), kind, micros(now)))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ScanTask{}, false, nil
	case err != nil:
		return store.ScanTask{}, false, fmt.Errorf("sqlite: claiming a %s scan task: %w", kind, err)
	}
	return t, true, nil
}

func (s *Store) RenewScanTask(ctx context.Context, taskID int64, owner string, lease time.Duration) error {
	if err := prep.Claim(owner, lease); err != nil {
		return err
	}
	now := store.UTC(s.now())
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE scan_tasks SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'SCANNING'",
			micros(now.Add(lease)), taskID, owner)
		if err != nil {
			return fmt.Errorf("sqlite: renewing scan task %d: %w", taskID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var cur string
		if err := tx.QueryRowContext(ctx, "SELECT owner FROM scan_tasks WHERE id = ?", taskID).Scan(&cur); err != nil {
			return notFound(err, "scan task %d", taskID)
		}
		return fmt.Errorf("%w: scan task %d is not held by %q", store.ErrConflict, taskID, owner)
	})
}

// Layer scan cache.

var (
	layerScanCols   = cols.Names(cols.LayerScan, "")
	putLayerScanSQL = upsertSQL("image_layer_findings", fieldNames(cols.LayerScan), "layer_digest, engine_version, ruleset_version",
		fieldNames(cols.LayerScan)[3:])
)

func (s *Store) GetLayerScan(ctx context.Context, layerDigest, engineVersion, rulesetVersion string) (store.LayerScan, error) {
	var ls store.LayerScan
	err := s.r.QueryRowContext(ctx, "SELECT "+layerScanCols+
		" FROM image_layer_findings WHERE layer_digest = ? AND engine_version = ? AND ruleset_version = ?",
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
	if _, err := s.w.ExecContext(ctx, putLayerScanSQL, cols.Values(cols.LayerScan, codec, &ls)...); err != nil {
		return fmt.Errorf("sqlite: storing layer scan %s: %w", ls.LayerDigest, err)
	}
	return nil
}

// Export jobs.

var (
	exportJobCols      = cols.Names(cols.ExportJob, "")
	insertExportJobSQL = insertSQL("export_jobs", fieldNames(cols.ExportJob))
	updateExportJobSQL = "UPDATE export_jobs SET " + setParams(fieldNames(cols.ExportJobState)) + " WHERE account_id = ? AND id = ?"
)

func (s *Store) CreateExportJob(ctx context.Context, accountID int64, j store.ExportJob) (store.ExportJob, error) {
	j, err := prep.ExportJob(j, s.now())
	if err != nil {
		return store.ExportJob{}, err
	}
	j.AccountID = accountID
	_, err = s.w.ExecContext(ctx, insertExportJobSQL, cols.Values(cols.ExportJob, codec, &j)...)
	switch {
	case isUnique(err):
		return store.ExportJob{}, fmt.Errorf("%w: export job %q exists", store.ErrConflict, j.ID)
	case isForeignKey(err):
		return store.ExportJob{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.ExportJob{}, fmt.Errorf("sqlite: creating export job: %w", err)
	}
	return j, nil
}

func (s *Store) GetExportJob(ctx context.Context, accountID int64, id string) (store.ExportJob, error) {
	var j store.ExportJob
	err := s.r.QueryRowContext(ctx, "SELECT "+exportJobCols+" FROM export_jobs WHERE account_id = ? AND id = ?", accountID, id).
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
	res, err := s.w.ExecContext(ctx, updateExportJobSQL, append(cols.Values(cols.ExportJobState, codec, &j), accountID, j.ID)...)
	return affected(res, err, "export job %q", j.ID)
}

func (s *Store) DeleteExpiredExportJobs(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, "DELETE FROM export_jobs WHERE expires_at < ?", micros(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: deleting expired export jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: deleting expired export jobs: %w", err)
	}
	return n, nil
}

// Helpers.

// setParams is "c1 = ?, c2 = ?, …".
func setParams(columns []string) string {
	parts := make([]string, len(columns))
	for i, c := range columns {
		parts[i] = c + " = ?"
	}
	return strings.Join(parts, ", ")
}

func desc(d bool) string {
	if d {
		return " DESC"
	}
	return ""
}

// jsonIDs encodes ids for json_each.
func jsonIDs(ids []int64) string {
	b, _ := json.Marshal(ids) // []int64 always encodes
	if ids == nil {
		return "[]"
	}
	return string(b)
}

// affected turns an UPDATE or DELETE that matched no row into ErrNotFound.
func affected(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return fmt.Errorf("sqlite: "+format+": %w", append(args, err)...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: "+format+": %w", append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf("%w: "+format, append([]any{store.ErrNotFound}, args...)...)
	}
	return nil
}

// total fills a page's total, counting only when the page does not tell it.
func (s *Store) total(ctx context.Context, tx *sql.Tx, total *int64, n, limit, offset int, count string, args []any) error {
	var ok bool
	if *total, ok = prep.KnownTotal(n, limit, offset); ok {
		return nil
	}
	if err := tx.QueryRowContext(ctx, count, args...).Scan(total); err != nil {
		return fmt.Errorf("sqlite: counting: %w", err)
	}
	return nil
}
