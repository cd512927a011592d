package prep

import (
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// AutoIsolateSamples checks samples to upsert: MD5s lower-cased and valid,
// ModifyTime defaulting to now; a later duplicate of an MD5 wins.
func AutoIsolateSamples(in []store.AutoIsolateSample, now time.Time) ([]store.AutoIsolateSample, error) {
	out := make([]store.AutoIsolateSample, 0, len(in))
	at := make(map[string]int, len(in))
	for _, a := range in {
		a.MD5 = strings.ToLower(strings.TrimSpace(a.MD5))
		if !store.IsMD5(a.MD5) {
			return nil, invalid("auto-isolate sample: %q is not an MD5", a.MD5)
		}
		if a.ModifyTime.IsZero() {
			a.ModifyTime = now
		}
		a.ModifyTime = store.UTC(a.ModifyTime)
		if i, ok := at[a.MD5]; ok {
			out[i] = a
			continue
		}
		at[a.MD5] = len(out)
		out = append(out, a)
	}
	return out, nil
}

// QuarantineSample checks a sample to record and fills its defaults.
func QuarantineSample(q store.QuarantineSample, now time.Time) (store.QuarantineSample, error) {
	if q.HostUUID == "" || q.OriginalPath == "" {
		return q, invalid("quarantine sample: host and original path are required")
	}
	if q.Size < 0 || q.VirusEventID < 0 {
		return q, invalid("quarantine sample: negative size or event id")
	}
	q.MD5 = strings.ToLower(q.MD5)
	if q.Status == "" {
		q.Status = store.QuarantineIsolated
	}
	if q.Status != store.QuarantineIsolated && q.Status != store.QuarantineRestored {
		return q, invalid("quarantine sample: unknown status %q", q.Status)
	}
	if q.CreatedAt.IsZero() {
		q.CreatedAt = now
	}
	q.CreatedAt, q.RestoredAt = store.UTC(q.CreatedAt), store.UTC(q.RestoredAt)
	q.ID = 0
	return q, nil
}
