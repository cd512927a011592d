package cols

import (
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// JSON is an opaque JSON document held as []byte. It is passed as text:
// SQLite's STRICT TEXT columns refuse blobs, and PostgreSQL's JSONB takes
// text; both scan back into a *[]byte.
func JSON[T any](col string, p func(*T) *[]byte) Field[T] {
	return Field[T]{
		Col:  col,
		val:  func(t *T, _ Codec) any { return string(*p(t)) },
		dest: func(t *T, _ Codec) any { return p(t) },
	}
}

// without returns fs minus the named columns.
func without[T any](fs []Field[T], names ...string) []Field[T] {
	return slices.DeleteFunc(slices.Clone(fs), func(f Field[T]) bool { return slices.Contains(names, f.Col) })
}

// RegistryDescriptive are the columns UpdateRegistry replaces: all but the
// sync state and the times.
var RegistryDescriptive = without(Registry,
	"connect_msg", "sync_status", "sync_fail_reason", "latest_sync_time", "created_at", "updated_at")

// RegistryImageSynced are the columns SyncRegistryImages updates on a kept
// image (besides updated_at).
var RegistryImageSynced = []Field[store.RegistryImage]{
	Plain("digest", func(i *store.RegistryImage) *string { return &i.Digest }),
	Plain("image_id", func(i *store.RegistryImage) *string { return &i.ImageID }),
	Plain("os_name", func(i *store.RegistryImage) *string { return &i.OSName }),
	Plain("size", func(i *store.RegistryImage) *int64 { return &i.Size }),
	Time("image_create_time", func(i *store.RegistryImage) *time.Time { return &i.ImageCreateTime }),
	Plain("is_latest", func(i *store.RegistryImage) *bool { return &i.IsLatest }),
	Plain("scan_status", func(i *store.RegistryImage) *string { return &i.ScanStatus }),
	Plain("scan_error", func(i *store.RegistryImage) *string { return &i.ScanError }),
}

// ImageOrderColumn is the registry_images column o sorts by, and whether it
// is nullable (the backends must then agree on where NULLs go: first when
// ascending, as SQLite puts them).
func ImageOrderColumn(o store.ImageOrder) (col string, nullable bool) {
	switch o {
	case store.ImageOrderByName:
		return "name", false
	case store.ImageOrderByTag:
		return "tag", false
	case store.ImageOrderBySize:
		return "size", false
	case store.ImageOrderByScanTime:
		return "scan_time", true
	case store.ImageOrderByVirusCount:
		return "virus_count", false
	case store.ImageOrderByCreateTime:
		return "image_create_time", true
	}
	return "id", false
}

// ScanTask is every insertable column of a task besides account_id.
var ScanTask = []Field[store.ScanTask]{
	Plain("kind", func(t *store.ScanTask) *store.ScanTaskKind { return &t.Kind }),
	Plain("status", func(t *store.ScanTask) *string { return &t.Status }),
	JSON("params", func(t *store.ScanTask) *[]byte { return &t.Params }),
	Plain("timeout_secs", func(t *store.ScanTask) *int64 { return &t.TimeoutSecs }),
	Plain("target_total", func(t *store.ScanTask) *int64 { return &t.TargetTotal }),
	Plain("target_done", func(t *store.ScanTask) *int64 { return &t.TargetDone }),
	Plain("risk_count", func(t *store.ScanTask) *int64 { return &t.RiskCount }),
	Plain("error", func(t *store.ScanTask) *string { return &t.Error }),
	Plain("owner", func(t *store.ScanTask) *string { return &t.Owner }),
	Time("lease_until", func(t *store.ScanTask) *time.Time { return &t.LeaseUntil }),
	Time("created_at", func(t *store.ScanTask) *time.Time { return &t.CreatedAt }),
	Time("started_at", func(t *store.ScanTask) *time.Time { return &t.StartedAt }),
	Time("finished_at", func(t *store.ScanTask) *time.Time { return &t.FinishedAt }),
}

// ScanTaskRead adds the id and account.
var ScanTaskRead = append([]Field[store.ScanTask]{
	Plain("id", func(t *store.ScanTask) *int64 { return &t.ID }),
	Plain("account_id", func(t *store.ScanTask) *int64 { return &t.AccountID }),
}, ScanTask...)

// ScanTargetKey identifies a target inside its task.
var ScanTargetKey = []Field[store.ScanTarget]{
	Plain("target_kind", func(t *store.ScanTarget) *string { return &t.Kind }),
	Plain("target_id", func(t *store.ScanTarget) *string { return &t.TargetID }),
}

// ScanTargetState are the columns UpdateScanTarget stores.
var ScanTargetState = []Field[store.ScanTarget]{
	Plain("status", func(t *store.ScanTarget) *string { return &t.Status }),
	Plain("progress", func(t *store.ScanTarget) *int64 { return &t.Progress }),
	Plain("risk_count", func(t *store.ScanTarget) *int64 { return &t.RiskCount }),
	Plain("error", func(t *store.ScanTarget) *string { return &t.Error }),
	Time("started_at", func(t *store.ScanTarget) *time.Time { return &t.StartedAt }),
	Time("finished_at", func(t *store.ScanTarget) *time.Time { return &t.FinishedAt }),
}

// ScanTarget is every column of a target besides account_id and seq.
var ScanTarget = append(append([]Field[store.ScanTarget]{
	Plain("task_id", func(t *store.ScanTarget) *int64 { return &t.TaskID }),
}, ScanTargetKey...), ScanTargetState...)

// LayerScan is every column of the layer cache.
var LayerScan = []Field[store.LayerScan]{
	Plain("layer_digest", func(l *store.LayerScan) *string { return &l.LayerDigest }),
	Plain("engine_version", func(l *store.LayerScan) *string { return &l.EngineVersion }),
	Plain("ruleset_version", func(l *store.LayerScan) *string { return &l.RulesetVersion }),
	Time("scanned_at", func(l *store.LayerScan) *time.Time { return &l.ScannedAt }),
	Plain("file_count", func(l *store.LayerScan) *int64 { return &l.FileCount }),
	Plain("bytes_scanned", func(l *store.LayerScan) *int64 { return &l.BytesScanned }),
	JSON("findings", func(l *store.LayerScan) *[]byte { return &l.Findings }),
}

// ExportJobState are the columns UpdateExportJob stores.
var ExportJobState = []Field[store.ExportJob]{
	Plain("status", func(j *store.ExportJob) *string { return &j.Status }),
	Plain("progress", func(j *store.ExportJob) *float64 { return &j.Progress }),
	Plain("file_name", func(j *store.ExportJob) *string { return &j.FileName }),
	Plain("content_type", func(j *store.ExportJob) *string { return &j.ContentType }),
	Plain("content", func(j *store.ExportJob) *[]byte { return &j.Content }),
	Plain("failure_msg", func(j *store.ExportJob) *string { return &j.FailureMsg }),
	Time("finished_at", func(j *store.ExportJob) *time.Time { return &j.FinishedAt }),
	Time("expires_at", func(j *store.ExportJob) *time.Time { return &j.ExpiresAt }),
}

// ExportJob is every column of a job.
var ExportJob = append([]Field[store.ExportJob]{
	Plain("id", func(j *store.ExportJob) *string { return &j.ID }),
	Plain("account_id", func(j *store.ExportJob) *int64 { return &j.AccountID }),
	Plain("kind", func(j *store.ExportJob) *string { return &j.Kind }),
	JSON("params", func(j *store.ExportJob) *[]byte { return &j.Params }),
	Time("created_at", func(j *store.ExportJob) *time.Time { return &j.CreatedAt }),
}, ExportJobState...)
