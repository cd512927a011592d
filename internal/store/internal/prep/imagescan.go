package prep

import (
	"encoding/json"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// JSONDoc checks an opaque JSON document the store keeps for its caller;
// empty becomes def ("{}" or "[]"). Invalid JSON is refused here rather than
// by PostgreSQL's JSONB (SQLite would store it as is).
func JSONDoc(what string, b []byte, def string) ([]byte, error) {
	if len(b) == 0 {
		return []byte(def), nil
	}
	if !json.Valid(b) {
		return nil, invalid("%s is not valid JSON", what)
	}
	return b, nil
}

// RegistrySync normalizes a sync outcome.
func RegistrySync(s store.RegistrySync) store.RegistrySync {
	s.LatestSyncTime = store.UTC(s.LatestSyncTime)
	return s
}

// ImageKey is an image's natural key inside its registry.
type ImageKey struct{ Namespace, Name, Tag string }

// KeyOf returns img's key.
func KeyOf(img store.RegistryImage) ImageKey { return ImageKey{img.Namespace, img.Name, img.Tag} }

// SyncImages checks a registry's full listing for SyncRegistryImages: every
// image belongs to registryID, carries no scan state (that is recorded by
// scans only), and a (namespace, name, tag) given twice keeps the last entry.
func SyncImages(registryID int64, in []store.RegistryImage) ([]store.RegistryImage, error) {
	out := make([]store.RegistryImage, 0, len(in))
	at := make(map[ImageKey]int, len(in))
	for _, img := range in {
		img.RegistryID = registryID
		img, err := RegistryImage(img)
		if err != nil {
			return nil, err
		}
		img.ID, img.AccountID, img.RegistryName = 0, 0, ""
		img.ScanStatus, img.ScanTime, img.ScanError, img.VirusCount = "", time.Time{}, "", 0
		img.CreatedAt, img.UpdatedAt = time.Time{}, time.Time{}
		k := KeyOf(img)
		if j, ok := at[k]; ok {
			out[j] = img
			continue
		}
		at[k] = len(out)
		out = append(out, img)
	}
	return out, nil
}

// MergeSyncedImage applies a listing entry to the stored image of the same
// key. A listing often knows less than a scan resolved (a tag list has no
// config digest or OS), so a zero field keeps the stored value — unless the
// digest changed: then the stored metadata describes other content and is
// replaced as listed, and the scan state is reset so the image is scanned
// again. IsLatest always follows the listing. changed reports whether any
// stored column differs.
func MergeSyncedImage(stored, listed store.RegistryImage) (merged store.RegistryImage, changed bool) {
	merged = stored
	if listed.Digest != "" && listed.Digest != stored.Digest {
		merged.Digest = listed.Digest
		merged.ImageID, merged.OSName, merged.Size, merged.ImageCreateTime = listed.ImageID, listed.OSName, listed.Size, listed.ImageCreateTime
		merged.ScanStatus, merged.ScanError = "", ""
	} else {
		if listed.ImageID != "" {
			merged.ImageID = listed.ImageID
		}
		if listed.OSName != "" {
			merged.OSName = listed.OSName
		}
		if listed.Size != 0 {
			merged.Size = listed.Size
		}
		if !listed.ImageCreateTime.IsZero() {
			merged.ImageCreateTime = listed.ImageCreateTime
		}
	}
	merged.IsLatest = listed.IsLatest
	changed = merged.Digest != stored.Digest || merged.ImageID != stored.ImageID || merged.OSName != stored.OSName ||
		merged.Size != stored.Size || !merged.ImageCreateTime.Equal(stored.ImageCreateTime) ||
		merged.IsLatest != stored.IsLatest || merged.ScanStatus != stored.ScanStatus || merged.ScanError != stored.ScanError
	return merged, changed
}

// ImageScanRecord checks a scan outcome. Findings without a LatestScanTime
// get ScanTime; a (path, virus) given twice keeps the last finding.
func ImageScanRecord(r store.ImageScanRecord) (store.ImageScanRecord, error) {
	if r.ScanTime.IsZero() {
		return r, invalid("image scan record: scan time is not set")
	}
	if r.Size < 0 {
		return r, invalid("image scan record: negative size")
	}
	r.ScanTime = store.UTC(r.ScanTime)
	r.ImageCreateTime = store.UTC(r.ImageCreateTime)
	for i, l := range r.Layers {
		if l.Digest == "" {
			return r, invalid("image scan record: layer %d has no digest", i)
		}
		if l.Size < 0 {
			return r, invalid("image scan record: layer %d has a negative size", i)
		}
	}
	vs := make([]store.ImageVirus, len(r.Viruses))
	for i, v := range r.Viruses {
		if v.LatestScanTime.IsZero() {
			v.LatestScanTime = r.ScanTime
		}
		vs[i] = v
	}
	var err error
	if r.Viruses, err = ImageViruses(vs); err != nil {
		return r, err
	}
	return r, nil
}

// TaskStatus checks a scan task or target status.
func TaskStatus(status string) error {
	switch status {
	case store.TaskPending, store.TaskRunning:
		return nil
	}
	if store.TaskDone(status) {
		return nil
	}
	return invalid("unknown task status %q", status)
}

// TaskKind checks a scan task kind.
func TaskKind(k store.ScanTaskKind) error {
	switch k {
	case store.TaskRegistryImage, store.TaskContainerVirus, store.TaskHostMalware:
		return nil
	}
	return invalid("unknown scan task kind %q", k)
}

// ScanTarget checks and normalizes a target to store or update.
func ScanTarget(t store.ScanTarget) (store.ScanTarget, error) {
	switch t.Kind {
	case "image", "host", "container":
	default:
		return t, invalid("scan target %q: unknown kind %q", t.TargetID, t.Kind)
	}
	if t.TargetID == "" {
		return t, invalid("scan target of kind %s: empty id", t.Kind)
	}
	if t.Status == "" {
		t.Status = store.TaskPending
	}
	if err := TaskStatus(t.Status); err != nil {
		return t, err
	}
	if t.Progress < 0 || t.Progress > 100 {
		return t, invalid("scan target %q: progress %d out of 0..100", t.TargetID, t.Progress)
	}
	if t.RiskCount < 0 {
		return t, invalid("scan target %q: negative risk count", t.TargetID)
	}
	t.StartedAt, t.FinishedAt = store.UTC(t.StartedAt), store.UTC(t.FinishedAt)
	return t, nil
}

// ScanTask checks a task to create and its targets, and derives the
// read-only counters from the targets. A target given twice is ErrInvalid.
func ScanTask(t store.ScanTask, targets []store.ScanTarget, now time.Time) (store.ScanTask, []store.ScanTarget, error) {
	if err := TaskKind(t.Kind); err != nil {
		return t, nil, err
	}
	if t.Status == "" {
		t.Status = store.TaskPending
	}
	if err := TaskStatus(t.Status); err != nil {
		return t, nil, err
	}
	if t.TimeoutSecs < 0 {
		return t, nil, invalid("scan task: negative timeout")
	}
	var err error
	if t.Params, err = JSONDoc("scan task params", t.Params, "{}"); err != nil {
		return t, nil, err
	}
	t.ID, t.AccountID = 0, 0
	t.CreatedAt = store.UTC(now)
	t.StartedAt, t.FinishedAt, t.LeaseUntil = store.UTC(t.StartedAt), store.UTC(t.FinishedAt), store.UTC(t.LeaseUntil)
	t.TargetTotal, t.TargetDone, t.RiskCount = int64(len(targets)), 0, 0
	out := make([]store.ScanTarget, len(targets))
	seen := make(map[[2]string]bool, len(targets))
	for i, tg := range targets {
		if tg, err = ScanTarget(tg); err != nil {
			return t, nil, err
		}
		k := [2]string{tg.Kind, tg.TargetID}
		if seen[k] {
			return t, nil, invalid("scan task: target %s %q given twice", tg.Kind, tg.TargetID)
		}
		seen[k] = true
		tg.TaskID = 0
		if store.TaskDone(tg.Status) {
			t.TargetDone++
		}
		t.RiskCount += tg.RiskCount
		out[i] = tg
	}
	return t, out, nil
}

// Claim checks ClaimScanTask's and RenewScanTask's arguments.
func Claim(owner string, lease time.Duration) error {
	if owner == "" {
		return invalid("scan task owner is empty")
	}
	if lease <= 0 {
		return invalid("scan task lease %v is not positive", lease)
	}
	return nil
}

// LayerScan checks a layer cache entry; ScannedAt defaults to now.
func LayerScan(ls store.LayerScan, now time.Time) (store.LayerScan, error) {
	if ls.LayerDigest == "" {
		return ls, invalid("layer scan: empty layer digest")
	}
	if ls.FileCount < 0 || ls.BytesScanned < 0 {
		return ls, invalid("layer scan %s: negative count", ls.LayerDigest)
	}
	if ls.ScannedAt.IsZero() {
		ls.ScannedAt = now
	}
	ls.ScannedAt = store.UTC(ls.ScannedAt)
	var err error
	ls.Findings, err = JSONDoc("layer scan findings", ls.Findings, "[]")
	return ls, err
}

func exportStatus(status string) error {
	switch status {
	case store.ExportPending, store.ExportRunning, store.ExportSuccess, store.ExportFailure:
		return nil
	}
	return invalid("unknown export job status %q", status)
}

// ExportJob checks a job to create (now is its CreatedAt) or, with now zero,
// the fields of a job to update.
func ExportJob(j store.ExportJob, now time.Time) (store.ExportJob, error) {
	if j.ID == "" {
		return j, invalid("export job id is empty")
	}
	if j.Status == "" && !now.IsZero() {
		j.Status = store.ExportPending
	}
	if err := exportStatus(j.Status); err != nil {
		return j, err
	}
	if j.Progress < 0 || j.Progress > 100 || j.Progress != j.Progress {
		return j, invalid("export job %s: progress %v out of 0..100", j.ID, j.Progress)
	}
	if !now.IsZero() {
		if j.Kind == "" {
			return j, invalid("export job %s: kind is empty", j.ID)
		}
		var err error
		if j.Params, err = JSONDoc("export job params", j.Params, "{}"); err != nil {
			return j, err
		}
		j.CreatedAt = store.UTC(now)
	}
	j.FinishedAt, j.ExpiresAt = store.UTC(j.FinishedAt), store.UTC(j.ExpiresAt)
	return j, nil
}
