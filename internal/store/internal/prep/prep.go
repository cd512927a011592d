// Package prep checks and normalizes what callers hand the store, once for
// every backend: required fields, defaults, times in UTC at microsecond
// precision, and the merging of duplicate keys inside one batch. A backend
// calls it before opening a transaction, so bad input never reaches SQL.
package prep

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// LikeEscape is the escape character of every pattern this package builds;
// SQL must say ESCAPE '\'.
const LikeEscape = `\`

// Contains returns a LIKE pattern that matches s as a substring, with every
// '%', '_' and '\' in s taken literally.
func Contains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// FoldASCII lowers ASCII letters only: the case folding substring filters
// promise on every backend (SQLite's LIKE folds exactly these).
func FoldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// JSONList encodes a list of strings for a JSON column; nil is "[]".
func JSONList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always encodes
	return string(b)
}

// ParseJSONList decodes a JSON column written by JSONList; empty or "[]" is nil.
func ParseJSONList(s string) ([]string, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decoding JSON list %.40q: %w", s, err)
	}
	return l, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{store.ErrInvalid}, args...)...)
}

// AccountName checks an account name.
func AccountName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("account name is empty")
	}
	return nil
}

// APIKey checks and defaults a key to create.
func APIKey(k store.APIKey, now time.Time) (store.APIKey, error) {
	if k.SecretID == "" {
		return k, invalid("API key SecretId is empty")
	}
	if !k.Role.Valid() {
		return k, invalid("API key %s: unknown role %q", k.SecretID, k.Role)
	}
	if k.Status == "" {
		k.Status = store.KeyEnabled
	}
	if !k.Status.Valid() {
		return k, invalid("API key %s: unknown status %q", k.SecretID, k.Status)
	}
	if len(k.SecretKeyEnc) == 0 {
		return k, invalid("API key %s: encrypted SecretKey is empty", k.SecretID)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	k.CreatedAt = store.UTC(k.CreatedAt)
	k.LastUsedAt = store.UTC(k.LastUsedAt)
	return k, nil
}

// Host checks and normalizes a host to upsert.
func Host(h store.Host) (store.Host, error) {
	if h.UUID == "" {
		return h, invalid("host UUID is empty")
	}
	h.LastSeen = store.UTC(h.LastSeen)
	return h, nil
}

// Threats checks catalog entries; a name given twice keeps the last entry.
func Threats(in []store.Threat, now time.Time) ([]store.Threat, error) {
	out := make([]store.Threat, 0, len(in))
	at := make(map[string]int, len(in))
	for _, t := range in {
		if t.Name == "" {
			return nil, invalid("threat name is empty")
		}
		t.UpdatedAt = store.UTC(now)
		if i, ok := at[t.Name]; ok {
			out[i] = t
			continue
		}
		at[t.Name] = len(out)
		out = append(out, t)
	}
	return out, nil
}

// riskKey is RiskProcessEvent's dedup key inside a batch.
type riskKey struct {
	host  string
	pid   int64
	start time.Time
	rule  string
}

// RiskProcessEvents checks and normalizes a batch and merges events sharing a
// dedup key the way the database merges them: the first one's fields, the
// earliest FirstDetectTime and the latest DetectTime. It returns the distinct
// events and, for each input event, the index of its distinct event.
func RiskProcessEvents(in []store.RiskProcessEvent) (distinct []store.RiskProcessEvent, index []int, err error) {
	index = make([]int, len(in))
	at := make(map[riskKey]int, len(in))
	for i, e := range in {
		switch {
		case e.HostUUID == "":
			return nil, nil, invalid("risk process event %d: host UUID is empty", i)
		case e.VirusName == "":
			return nil, nil, invalid("risk process event %d: virus name is empty", i)
		case e.ProcessStartTime.IsZero():
			return nil, nil, invalid("risk process event %d: process start time is not set", i)
		case e.DetectTime.IsZero():
			return nil, nil, invalid("risk process event %d: detect time is not set", i)
		case e.PID < 0 || e.PPID < 0:
			return nil, nil, invalid("risk process event %d: negative process id", i)
		case !e.HandleStatus.Valid():
			return nil, nil, invalid("risk process event %d: unknown handle status %d", i, int(e.HandleStatus))
		}
		e.ID, e.AccountID, e.Host, e.Threat = 0, 0, store.Host{}, store.Threat{}
		e.ProcessStartTime = store.UTC(e.ProcessStartTime)
		e.DetectTime = store.UTC(e.DetectTime)
		e.FirstDetectTime = store.UTC(e.FirstDetectTime)
		e.StatusTime = store.UTC(e.StatusTime)
		if e.FirstDetectTime.IsZero() || e.FirstDetectTime.After(e.DetectTime) {
			e.FirstDetectTime = e.DetectTime
		}
		k := riskKey{e.HostUUID, e.PID, e.ProcessStartTime, e.RuleName}
		if j, ok := at[k]; ok {
			d := &distinct[j]
			d.DetectTime = later(d.DetectTime, e.DetectTime)
			d.FirstDetectTime = earlier(d.FirstDetectTime, e.FirstDetectTime)
			index[i] = j
			continue
		}
		at[k] = len(distinct)
		index[i] = len(distinct)
		distinct = append(distinct, e)
	}
	return distinct, index, nil
}

type virusKey struct{ host, container, path, md5 string }

// VirusEvents checks, defaults and normalizes a batch and merges events
// sharing a key: the last one's details, the earliest CreateTime and the
// latest ModifyTime. It returns the distinct events and, for each input
// event, the index of its distinct event.
func VirusEvents(in []store.VirusEvent) (distinct []store.VirusEvent, index []int, err error) {
	index = make([]int, len(in))
	at := make(map[virusKey]int, len(in))
	for i, e := range in {
		switch {
		case e.HostUUID == "":
			return nil, nil, invalid("virus event %d: host UUID is empty", i)
		case e.FilePath == "":
			return nil, nil, invalid("virus event %d: file path is empty", i)
		case e.VirusName == "":
			return nil, nil, invalid("virus event %d: virus name is empty", i)
		case e.ModifyTime.IsZero():
			return nil, nil, invalid("virus event %d: modify time is not set", i)
		case e.FileSize < 0 || e.Process.PID < 0:
			return nil, nil, invalid("virus event %d: negative size or process id", i)
		}
		e.ID, e.AccountID, e.Host, e.Threat = 0, 0, store.Host{}, store.Threat{}
		if e.FileName == "" {
			e.FileName = path.Base(e.FilePath)
		}
		if e.Status == "" {
			e.Status = store.VirusStatusNone
		}
		e.ModifyTime = store.UTC(e.ModifyTime)
		e.CreateTime = store.UTC(e.CreateTime)
		if e.CreateTime.IsZero() || e.CreateTime.After(e.ModifyTime) {
			e.CreateTime = e.ModifyTime
		}
		e.OperationTime = store.UTC(e.OperationTime)
		e.FileAccessTime = store.UTC(e.FileAccessTime)
		e.FileModifyTime = store.UTC(e.FileModifyTime)
		k := virusKey{e.HostUUID, e.ContainerID, e.FilePath, e.FileMD5}
		if j, ok := at[k]; ok {
			d := distinct[j]
			e.CreateTime = earlier(d.CreateTime, e.CreateTime)
			e.ModifyTime = later(d.ModifyTime, e.ModifyTime)
			distinct[j] = e
			index[i] = j
			continue
		}
		at[k] = len(distinct)
		index[i] = len(distinct)
		distinct = append(distinct, e)
	}
	return distinct, index, nil
}

// Registry checks a registry to create.
func Registry(r store.Registry) (store.Registry, error) {
	if r.Name == "" {
		return r, invalid("registry name is empty")
	}
	if r.URL == "" {
		return r, invalid("registry %q: URL is empty", r.Name)
	}
	if r.SpeedLimit < 0 {
		return r, invalid("registry %q: negative speed limit", r.Name)
	}
	r.LatestSyncTime = store.UTC(r.LatestSyncTime)
	return r, nil
}

// RegistryImage checks an image to upsert.
func RegistryImage(img store.RegistryImage) (store.RegistryImage, error) {
	if img.RegistryID <= 0 {
		return img, invalid("image %q: registry id is not set", img.Name)
	}
	if img.Name == "" {
		return img, invalid("image name is empty")
	}
	if img.Size < 0 || img.VirusCount < 0 {
		return img, invalid("image %q: negative size or count", img.Name)
	}
	img.ImageCreateTime = store.UTC(img.ImageCreateTime)
	img.ScanTime = store.UTC(img.ScanTime)
	return img, nil
}

type imageVirusKey struct{ path, virus string }

// ImageViruses checks a batch of scan findings; a (path, virus) given twice
// keeps the last finding.
func ImageViruses(in []store.ImageVirus) ([]store.ImageVirus, error) {
	out := make([]store.ImageVirus, 0, len(in))
	at := make(map[imageVirusKey]int, len(in))
	for i, v := range in {
		switch {
		case v.Path == "":
			return nil, invalid("image virus %d: path is empty", i)
		case v.VirusName == "":
			return nil, invalid("image virus %d: virus name is empty", i)
		case v.LatestScanTime.IsZero():
			return nil, invalid("image virus %d: latest scan time is not set", i)
		case v.FileSize < 0:
			return nil, invalid("image virus %d: negative file size", i)
		}
		v.ID, v.ImageID, v.Threat = 0, 0, store.Threat{}
		v.LatestScanTime = store.UTC(v.LatestScanTime)
		v.FirstScanTime = v.LatestScanTime
		if v.FileName == "" {
			v.FileName = path.Base(v.Path)
		}
		k := imageVirusKey{v.Path, v.VirusName}
		if j, ok := at[k]; ok {
			v.FirstScanTime = earlier(out[j].FirstScanTime, v.FirstScanTime)
			v.LatestScanTime = later(out[j].LatestScanTime, v.LatestScanTime)
			out[j] = v
			continue
		}
		at[k] = len(out)
		out = append(out, v)
	}
	return out, nil
}

// Names returns the distinct values of name over items, in first-seen order.
func Names[T any](items []T, name func(T) string) []string {
	seen := make(map[string]bool, len(items))
	var out []string
	for _, it := range items {
		n := name(it)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// KnownTotal returns a query's total when its page already tells it, so the
// COUNT can be skipped: a page shorter than the limit is the last one —
// unless it is empty because the offset is past the end.
func KnownTotal(n, limit, offset int) (int64, bool) {
	if (limit == 0 || n < limit) && (n > 0 || offset == 0) {
		return int64(offset + n), true
	}
	return 0, false
}
