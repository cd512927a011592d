package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

// The operator side of virus events (store.VirusAdmin): DescribeVirusList's
// query, status changes, account settings, auto-isolation samples,
// quarantine records and growing scan tasks.

const virusFrom = " FROM virus_events e JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id"

// virusWhere renders q over virusFrom.
func virusWhere(accountID int64, q store.VirusEventQuery) *where {
	w := &where{}
	w.add("e.account_id = ?", accountID)
	if len(q.IDs) > 0 {
		w.add("e.id IN (SELECT value FROM json_each(?))", jsonIDs(q.IDs))
	}
	for _, f := range []struct {
		f   store.TextFilter
		col string
	}{{q.HostUUIDs, "h.uuid"}, {q.FileNames, "e.file_name"}, {q.FilePaths, "e.file_path"}, {q.VirusNames, "t.name"},
		{q.ContainerNames, "e.container_name"}, {q.ContainerIDs, "e.container_id"}, {q.ImageNames, "e.image_name"},
		{q.ImageIDs, "e.image_id"}, {q.MD5s, "e.file_md5"}} {
		if f.f.Set() {
			text(w, f.f, f.col)
		}
	}
	if q.RealTime != nil {
		if *q.RealTime {
			w.add("e.source_type = ?", store.VirusSourceRealTime)
		} else {
			w.add("e.source_type <> ?", store.VirusSourceRealTime)
		}
	}
	if len(q.TaskIDs) > 0 {
		in(w, "e.task_id", q.TaskIDs)
	}
	for _, f := range []struct {
		vals []string
		col  string
	}{{q.Statuses, "e.status"}, {q.ContainerStatuses, "e.container_status"}, {q.NetStatuses, "e.container_net_status"}, {q.IsolateModes, "e.isolate_mode"}} {
		if len(f.vals) > 0 {
			in(w, f.col, f.vals)
		}
	}
	for _, b := range []struct {
		t  time.Time
		op string
	}{{q.CreatedFrom, "e.create_time >= ?"}, {q.CreatedTo, "e.create_time <= ?"}, {q.ModifiedFrom, "e.modify_time >= ?"},
		{q.ModifiedTo, "e.modify_time <= ?"}, {q.OperatedFrom, "e.operation_time >= ?"}} {
		if !b.t.IsZero() {
			w.add(b.op, micros(b.t))
		}
	}
	return w
}

// virusOrderColumn is the ORDER BY column of o.
func virusOrderColumn(o store.VirusOrder) string {
	switch o {
	case store.VirusByCreateTime:
		return "e.create_time"
	case store.VirusByFileName:
		return "e.file_name"
	case store.VirusByFilePath:
		return "e.file_path"
	case store.VirusByContainerName:
		return "e.container_name"
	case store.VirusByImageName:
		return "e.image_name"
	case store.VirusByVirusName:
		return "t.name"
	}
	return "e.modify_time"
}

func scanVirus(row interface{ Scan(...any) error }) (store.VirusEvent, error) {
	var e store.VirusEvent
	dests := cols.Dests(cols.VirusEventRead, codec, &e)
	dests = append(dests, cols.Dests(cols.HostRead, codec, &e.Host)...)
	dests = append(dests, &e.Threat.Name)
	dests = append(dests, cols.Dests(cols.Threat, codec, &e.Threat)...)
	if err := row.Scan(dests...); err != nil {
		return e, err
	}
	e.HostUUID = e.Host.UUID
	e.VirusName = e.Threat.Name
	return e, nil
}

func (s *Store) QueryVirusEvents(ctx context.Context, accountID int64, q store.VirusEventQuery) (store.Page[store.VirusEvent], error) {
	var page store.Page[store.VirusEvent]
	if err := q.Validate(); err != nil {
		return page, err
	}
	if q.Empty() {
		return page, nil
	}
	w := virusWhere(accountID, q)
	order := " ORDER BY " + virusOrderColumn(q.OrderBy) + desc(q.Desc) + ", e.id" + desc(q.Desc)
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+virusSelect+virusFrom+w.String()+order+limitOffset(q.Limit, q.Offset), w.args...)
		if err == nil {
			page.Items, err = collect(rows, scanVirus)
		}
		if err != nil {
			return fmt.Errorf("sqlite: querying virus events: %w", err)
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*)"+virusFrom+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.VirusEvent]{}, err
	}
	return page, nil
}

func (s *Store) CountVirusContainers(ctx context.Context, accountID int64, q store.VirusEventQuery) (int64, error) {
	q.Limit, q.Offset = 0, 0
	if err := q.Validate(); err != nil {
		return 0, err
	}
	if q.Empty() {
		return 0, nil
	}
	w := virusWhere(accountID, q)
	w.add("e.container_id <> ''")
	var n int64
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT DISTINCT e.host_id, e.container_id"+virusFrom+w.String()+")", w.args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: counting virus containers: %w", err)
	}
	return n, nil
}

// virusUpdateSet renders the SET list of u.
func virusUpdateSet(u store.VirusEventUpdate) (string, []any) {
	var set []string
	var args []any
	for _, f := range []struct {
		v   *string
		col string
	}{{u.Status, "status"}, {u.SubStatus, "sub_status"}, {u.Mark, "mark"}, {u.ContainerNetStatus, "container_net_status"},
		{u.ContainerNetSubStatus, "container_net_sub_status"}, {u.ContainerIsolateOperationSrc, "container_isolate_operation_src"},
		{u.IsolateMode, "isolate_mode"}} {
		if f.v != nil {
			set = append(set, f.col+" = ?")
			args = append(args, *f.v)
		}
	}
	if !u.OperationTime.IsZero() {
		set = append(set, "operation_time = ?")
		args = append(args, micros(u.OperationTime))
	}
	return strings.Join(set, ", "), args
}

func (s *Store) UpdateVirusEvents(ctx context.Context, accountID int64, ids []int64, u store.VirusEventUpdate) (int64, error) {
	if err := u.Validate(ids); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	set, args := virusUpdateSet(u)
	w := &where{}
	w.add("account_id = ?", accountID)
	w.add("id IN (SELECT value FROM json_each(?))", jsonIDs(ids))
	if len(u.FromStatuses) > 0 {
		in(w, "status", u.FromStatuses)
	}
	if len(u.FromNetStatuses) > 0 {
		in(w, "container_net_status", u.FromNetStatuses)
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE virus_events SET "+set+w.String(), append(args, w.args...)...)
		if err != nil {
			return fmt.Errorf("sqlite: updating virus events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) DeleteVirusEvents(ctx context.Context, accountID int64, ids []int64) (int64, error) {
	if len(ids) > store.MaxSelectionIDs {
		return 0, fmt.Errorf("%w: at most %d ids in a selection", store.ErrInvalid, store.MaxSelectionIDs)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM virus_events WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))", accountID, jsonIDs(ids))
		if err != nil {
			return fmt.Errorf("sqlite: deleting virus events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// Settings.

func (s *Store) GetAccountSetting(ctx context.Context, accountID int64, key string) ([]byte, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM account_settings WHERE account_id = ? AND key = ?", accountID, key).Scan(&v)
	if err != nil {
		return nil, notFound(err, "setting %q", key)
	}
	return []byte(v), nil
}

func (s *Store) PutAccountSetting(ctx context.Context, accountID int64, key string, value []byte) error {
	if key == "" || !json.Valid(value) {
		return fmt.Errorf("%w: setting %q: empty key or value not JSON", store.ErrInvalid, key)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO account_settings (account_id, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		accountID, key, string(value), micros(s.now()))
	if isForeignKey(err) {
		return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: storing setting %q: %w", key, err)
	}
	return nil
}

// Auto-isolation samples.

func (s *Store) UpsertAutoIsolateSamples(ctx context.Context, accountID int64, samples []store.AutoIsolateSample) error {
	samples, err := prep.AutoIsolateSamples(samples, s.now())
	if err != nil || len(samples) == 0 {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, a := range samples {
			_, err := tx.ExecContext(ctx, `INSERT INTO auto_isolate_samples (account_id, md5, virus_name, auto_isolate, modify_time)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, md5) DO UPDATE SET virus_name = excluded.virus_name,
				auto_isolate = excluded.auto_isolate, modify_time = excluded.modify_time`,
				accountID, a.MD5, a.VirusName, a.AutoIsolate, micros(a.ModifyTime))
			if isForeignKey(err) {
				return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
			}
			if err != nil {
				return fmt.Errorf("sqlite: storing auto-isolate sample: %w", err)
			}
		}
		return nil
	})
}

const autoIsolateCols = "md5, virus_name, auto_isolate, modify_time"

func scanAutoIsolate(row interface{ Scan(...any) error }) (store.AutoIsolateSample, error) {
	var a store.AutoIsolateSample
	err := row.Scan(&a.MD5, &a.VirusName, &a.AutoIsolate, &microTime{&a.ModifyTime})
	return a, err
}

func (s *Store) GetAutoIsolateSample(ctx context.Context, accountID int64, md5 string) (store.AutoIsolateSample, error) {
	a, err := scanAutoIsolate(s.r.QueryRowContext(ctx, "SELECT "+autoIsolateCols+" FROM auto_isolate_samples WHERE account_id = ? AND md5 = ?",
		accountID, strings.ToLower(md5)))
	if err != nil {
		return store.AutoIsolateSample{}, notFound(err, "auto-isolate sample %q", md5)
	}
	return a, nil
}

func (s *Store) QueryAutoIsolateSamples(ctx context.Context, accountID int64, q store.AutoIsolateSampleQuery) (store.Page[store.AutoIsolateSample], error) {
	var page store.Page[store.AutoIsolateSample]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("account_id = ?", accountID)
	if q.MD5s.Set() {
		text(w, q.MD5s, "md5")
	}
	if q.VirusNames.Set() {
		text(w, q.VirusNames, "virus_name")
	}
	if q.AutoIsolate != nil {
		w.add("auto_isolate = ?", *q.AutoIsolate)
	}
	order := " ORDER BY modify_time" + desc(q.Desc) + ", md5" + desc(q.Desc)
	if q.ByMD5 {
		order = " ORDER BY md5" + desc(q.Desc)
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+autoIsolateCols+" FROM auto_isolate_samples"+w.String()+order+limitOffset(q.Limit, q.Offset), w.args...)
		if err == nil {
			page.Items, err = collect(rows, scanAutoIsolate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: querying auto-isolate samples: %w", err)
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*) FROM auto_isolate_samples"+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.AutoIsolateSample]{}, err
	}
	return page, nil
}

// Quarantine samples.

const quarantineCols = `q.id, h.uuid, coalesce(q.virus_event_id, 0), q.original_path, q.md5, q.sha256, q.size, q.virus_name,
	q.storage_key, q.status, q.auto_isolated, q.created_at, q.restored_at`

func scanQuarantine(row interface{ Scan(...any) error }) (store.QuarantineSample, error) {
	var q store.QuarantineSample
	err := row.Scan(&q.ID, &q.HostUUID, &q.VirusEventID, &q.OriginalPath, &q.MD5, &q.SHA256, &q.Size, &q.VirusName,
		&q.StorageKey, &q.Status, &q.AutoIsolated, &microTime{&q.CreatedAt}, &microTime{&q.RestoredAt})
	return q, err
}

func (s *Store) RecordQuarantineSample(ctx context.Context, accountID int64, qs store.QuarantineSample) (store.QuarantineSample, error) {
	qs, err := prep.QuarantineSample(qs, s.now())
	if err != nil {
		return qs, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var hostID int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM hosts WHERE account_id = ? AND uuid = ?", accountID, qs.HostUUID).Scan(&hostID); err != nil {
			return notFound(err, "host %q", qs.HostUUID)
		}
		var event any
		if qs.VirusEventID > 0 {
			var id int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM virus_events WHERE account_id = ? AND id = ?", accountID, qs.VirusEventID).Scan(&id)
			switch {
			case err == nil:
				event = id
			case err != sql.ErrNoRows:
				return fmt.Errorf("sqlite: recording quarantine sample: %w", err)
			default:
				qs.VirusEventID = 0
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO quarantine_samples (account_id, host_id, virus_event_id, original_path, md5, sha256,
			size, virus_name, storage_key, status, auto_isolated, created_at, restored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			accountID, hostID, event, qs.OriginalPath, qs.MD5, qs.SHA256, qs.Size, qs.VirusName, qs.StorageKey, qs.Status,
			qs.AutoIsolated, micros(qs.CreatedAt), codec.Time(qs.RestoredAt)).Scan(&qs.ID)
	})
	if err != nil {
		return store.QuarantineSample{}, err
	}
	return qs, nil
}

func (s *Store) QueryQuarantineSamples(ctx context.Context, accountID int64, q store.QuarantineQuery) (store.Page[store.QuarantineSample], error) {
	var page store.Page[store.QuarantineSample]
	if err := q.Validate(); err != nil {
		return page, err
	}
	w := &where{}
	w.add("q.account_id = ?", accountID)
	if len(q.HostUUIDs) > 0 {
		in(w, "h.uuid", q.HostUUIDs)
	}
	if len(q.MD5s) > 0 {
		in(w, "q.md5", q.MD5s)
	}
	if len(q.VirusEventIDs) > 0 {
		w.add("q.virus_event_id IN (SELECT value FROM json_each(?))", jsonIDs(q.VirusEventIDs))
	}
	if len(q.Statuses) > 0 {
		in(w, "q.status", q.Statuses)
	}
	from := " FROM quarantine_samples q JOIN hosts h ON h.id = q.host_id"
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+quarantineCols+from+w.String()+" ORDER BY q.created_at DESC, q.id DESC"+limitOffset(q.Limit, q.Offset), w.args...)
		if err == nil {
			page.Items, err = collect(rows, scanQuarantine)
		}
		if err != nil {
			return fmt.Errorf("sqlite: querying quarantine samples: %w", err)
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*)"+from+w.String(), w.args)
	})
	if err != nil {
		return store.Page[store.QuarantineSample]{}, err
	}
	return page, nil
}

func (s *Store) SetQuarantineSampleStatus(ctx context.Context, accountID, id int64, status string, at time.Time) error {
	if status != store.QuarantineIsolated && status != store.QuarantineRestored {
		return fmt.Errorf("%w: unknown quarantine status %q", store.ErrInvalid, status)
	}
	restored := any(nil)
	if status == store.QuarantineRestored {
		restored = micros(at)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE quarantine_samples SET status = ?, restored_at = ? WHERE account_id = ? AND id = ?",
		status, restored, accountID, id)
	return affected(res, err, "quarantine sample %d", id)
}

// Scan targets.

func (s *Store) AddScanTargets(ctx context.Context, accountID, taskID int64, targets []store.ScanTarget) error {
	prepped := make([]store.ScanTarget, 0, len(targets))
	for _, tg := range targets {
		tg, err := prep.ScanTarget(tg)
		if err != nil {
			return err
		}
		tg.TaskID = taskID
		prepped = append(prepped, tg)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT max(seq) FROM scan_task_targets WHERE task_id = t.id), -1) + 1
			FROM scan_tasks t WHERE t.account_id = ? AND t.id = ?`, accountID, taskID).Scan(&seq); err != nil {
			return notFound(err, "scan task %d", taskID)
		}
		for i := range prepped {
			tg := &prepped[i]
			res, err := tx.ExecContext(ctx, insertTargetSQL+" ON CONFLICT DO NOTHING", append([]any{accountID, seq}, cols.Values(cols.ScanTarget, codec, tg)...)...)
			if err != nil {
				return fmt.Errorf("sqlite: adding scan target %s %q: %w", tg.Kind, tg.TargetID, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				seq++
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE scan_tasks SET target_total = (SELECT COUNT(*) FROM scan_task_targets WHERE task_id = scan_tasks.id) WHERE id = ?", taskID); err != nil {
			return fmt.Errorf("sqlite: refreshing scan task %d: %w", taskID, err)
		}
		if _, err := tx.ExecContext(ctx, refreshTaskSQL, taskID); err != nil {
			return fmt.Errorf("sqlite: refreshing scan task %d: %w", taskID, err)
		}
		return nil
	})
}
