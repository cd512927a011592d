package store

import (
	"context"
	"fmt"
	"time"
)

// The operator side of tcss runtime trojan-file events (issue 5):
// DescribeVirusList's query, status changes (ModifyVirusFileStatus),
// per-account settings, the auto-isolation samples and the quarantine
// records the agents' file isolation leaves, and growing a scan task's
// targets as agents discover containers.

// VirusAdmin is everything of this file a Store provides.
type VirusAdmin interface {
	VirusEventAdmin
	Settings
	VirusSamples
	ScanTargetAdder
}

// VirusEventAdmin queries and changes an account's VirusEvents.
type VirusEventAdmin interface {
	// QueryVirusEvents answers DescribeVirusList: the events matching q,
	// joined with their host and threat, and the filtered total.
	QueryVirusEvents(ctx context.Context, accountID int64, q VirusEventQuery) (Page[VirusEvent], error)
	// CountVirusContainers counts the distinct (host, container id) pairs of
	// the events matching q (paging and order ignored); events without a
	// container id are not counted.
	CountVirusContainers(ctx context.Context, accountID int64, q VirusEventQuery) (int64, error)
	// UpdateVirusEvents applies u to the events ids of the account that pass
	// u's From* guards, and returns how many changed. Ids of other accounts
	// change nothing.
	UpdateVirusEvents(ctx context.Context, accountID int64, ids []int64, u VirusEventUpdate) (int64, error)
	// DeleteVirusEvents deletes the events ids of the account and returns
	// how many.
	DeleteVirusEvents(ctx context.Context, accountID int64, ids []int64) (int64, error)
}

// VirusOrder is the sort key of VirusEventQuery; ties go by id in the same
// direction.
type VirusOrder int

const (
	VirusByModifyTime VirusOrder = iota // latest detection (the zero value)
	VirusByCreateTime                   // first detection
	VirusByFileName                     // text columns sort bytewise on every backend
	VirusByFilePath
	VirusByContainerName
	VirusByImageName
	VirusByVirusName
)

// VirusEventQuery is DescribeVirusList's filters and paging. Values of one
// filter are OR'ed; filters are AND'ed.
type VirusEventQuery struct {
	IDs            []int64 // exact
	HostUUIDs      TextFilter
	FileNames      TextFilter
	FilePaths      TextFilter
	VirusNames     TextFilter
	ContainerNames TextFilter
	ContainerIDs   TextFilter
	ImageNames     TextFilter
	ImageIDs       TextFilter
	MD5s           TextFilter
	// RealTime keeps the real-time (SourceType 2, true) or the scan
	// (false) events.
	RealTime          *bool
	TaskIDs           []int64  // exact
	Statuses          []string // exact
	ContainerStatuses []string // exact
	NetStatuses       []string // exact ContainerNetStatus; "" matches the empty status
	IsolateModes      []string // exact
	// Time bounds, inclusive; zero is open. TimeRange ("events seen during
	// [a, b]") is CreatedTo = b, ModifiedFrom = a.
	CreatedFrom, CreatedTo   time.Time
	ModifiedFrom, ModifiedTo time.Time
	OperatedFrom             time.Time // OperationTime at or after
	OrderBy                  VirusOrder
	Desc                     bool
	Limit                    int // 0: no limit
	Offset                   int
}

// Validate checks q; the backends call it before building SQL.
func (q VirusEventQuery) Validate() error {
	for _, f := range []struct {
		name string
		f    TextFilter
	}{{"HostUUIDs", q.HostUUIDs}, {"FileNames", q.FileNames}, {"FilePaths", q.FilePaths}, {"VirusNames", q.VirusNames},
		{"ContainerNames", q.ContainerNames}, {"ContainerIDs", q.ContainerIDs}, {"ImageNames", q.ImageNames},
		{"ImageIDs", q.ImageIDs}, {"MD5s", q.MD5s}} {
		if err := f.f.validate(f.name); err != nil {
			return err
		}
	}
	if len(q.IDs) > MaxSelectionIDs {
		return fmt.Errorf("%w: at most %d ids in a virus event query", ErrInvalid, MaxSelectionIDs)
	}
	for _, l := range [][]string{q.Statuses, q.ContainerStatuses, q.NetStatuses, q.IsolateModes} {
		if len(l) > MaxFilterValues {
			return fmt.Errorf("%w: a virus event filter has more than %d values", ErrInvalid, MaxFilterValues)
		}
	}
	if len(q.TaskIDs) > MaxFilterValues {
		return fmt.Errorf("%w: filter TaskIDs has more than %d values", ErrInvalid, MaxFilterValues)
	}
	if q.OrderBy < VirusByModifyTime || q.OrderBy > VirusByVirusName {
		return fmt.Errorf("%w: unknown virus event order %d", ErrInvalid, int(q.OrderBy))
	}
	return validatePaging(q.Limit, q.Offset)
}

// Empty reports whether some bounds exclude everything.
func (q VirusEventQuery) Empty() bool {
	bad := func(a, b time.Time) bool { return !a.IsZero() && !b.IsZero() && a.After(b) }
	return bad(q.CreatedFrom, q.CreatedTo) || bad(q.ModifiedFrom, q.ModifiedTo)
}

// Match is the query's semantics in Go (without paging), what the SQL of
// every backend agrees with; e is a read event (Host and Threat filled).
func (q VirusEventQuery) Match(e VirusEvent) bool {
	in := func(l []string, v string) bool {
		if len(l) == 0 {
			return true
		}
		for _, x := range l {
			if x == v {
				return true
			}
		}
		return false
	}
	after := func(t, from time.Time) bool { return from.IsZero() || !t.Before(UTC(from)) }
	before := func(t, to time.Time) bool { return to.IsZero() || !t.After(UTC(to)) }
	if len(q.IDs) > 0 {
		found := false
		for _, id := range q.IDs {
			found = found || id == e.ID
		}
		if !found {
			return false
		}
	}
	if len(q.TaskIDs) > 0 {
		found := false
		for _, id := range q.TaskIDs {
			found = found || id == e.TaskID
		}
		if !found {
			return false
		}
	}
	return q.HostUUIDs.Match(e.Host.UUID) && q.FileNames.Match(e.FileName) && q.FilePaths.Match(e.FilePath) &&
		q.VirusNames.Match(e.VirusName) && q.ContainerNames.Match(e.ContainerName) && q.ContainerIDs.Match(e.ContainerID) &&
		q.ImageNames.Match(e.ImageName) && q.ImageIDs.Match(e.ImageID) && q.MD5s.Match(e.FileMD5) &&
		(q.RealTime == nil || *q.RealTime == (e.SourceType == VirusSourceRealTime)) &&
		in(q.Statuses, e.Status) && in(q.ContainerStatuses, e.ContainerStatus) && in(q.NetStatuses, e.ContainerNetStatus) &&
		in(q.IsolateModes, e.IsolateMode) &&
		after(e.CreateTime, q.CreatedFrom) && before(e.CreateTime, q.CreatedTo) &&
		after(e.ModifyTime, q.ModifiedFrom) && before(e.ModifyTime, q.ModifiedTo) &&
		(q.OperatedFrom.IsZero() || !e.OperationTime.IsZero() && after(e.OperationTime, q.OperatedFrom))
}

// VirusSourceRealTime is VirusEvent.SourceType of real-time monitoring.
const VirusSourceRealTime = 2

// VirusEventUpdate is what UpdateVirusEvents changes: each non-nil field is
// set. The From* guards restrict the change to events whose current value
// is one of theirs (empty: any), so a late or repeated request cannot move
// an event backwards (e.g. only an ISOLATING container becomes ISOLATED).
type VirusEventUpdate struct {
	FromStatuses    []string
	FromNetStatuses []string // "" matches the empty status

	Status                       *string
	SubStatus                    *string
	Mark                         *string
	ContainerNetStatus           *string
	ContainerNetSubStatus        *string
	ContainerIsolateOperationSrc *string
	IsolateMode                  *string
	// OperationTime, when not zero, is stored as the time of the change.
	OperationTime time.Time
}

// Validate checks u.
func (u VirusEventUpdate) Validate(ids []int64) error {
	if len(ids) > MaxSelectionIDs {
		return fmt.Errorf("%w: at most %d ids in a selection", ErrInvalid, MaxSelectionIDs)
	}
	if len(u.FromStatuses) > MaxFilterValues || len(u.FromNetStatuses) > MaxFilterValues {
		return fmt.Errorf("%w: too many guard values", ErrInvalid)
	}
	if u.Status != nil && *u.Status == "" {
		return fmt.Errorf("%w: empty virus event status", ErrInvalid)
	}
	if u.Status == nil && u.SubStatus == nil && u.Mark == nil && u.ContainerNetStatus == nil && u.ContainerNetSubStatus == nil &&
		u.ContainerIsolateOperationSrc == nil && u.IsolateMode == nil && u.OperationTime.IsZero() {
		return fmt.Errorf("%w: a virus event update changes nothing", ErrInvalid)
	}
	return nil
}

// Settings are small per-account values (JSON documents) by key.
type Settings interface {
	// GetAccountSetting returns the value stored under key, or ErrNotFound.
	GetAccountSetting(ctx context.Context, accountID int64, key string) ([]byte, error)
	// PutAccountSetting creates or replaces the value (valid JSON, else
	// ErrInvalid) under key.
	PutAccountSetting(ctx context.Context, accountID int64, key string, value []byte) error
}

// AutoIsolateSample is a file MD5 whose later occurrences the agents
// isolate automatically (or, switched off, never do).
type AutoIsolateSample struct {
	MD5         string // lower-case hex
	VirusName   string
	AutoIsolate bool
	ModifyTime  time.Time
}

// AutoIsolateSampleQuery is DescribeVirusAutoIsolateSampleList's filters
// and paging.
type AutoIsolateSampleQuery struct {
	MD5s        TextFilter
	VirusNames  TextFilter
	AutoIsolate *bool
	ByMD5       bool // order by MD5 instead of ModifyTime; ties by MD5
	Desc        bool
	Limit       int // 0: no limit
	Offset      int
}

// Validate checks q.
func (q AutoIsolateSampleQuery) Validate() error {
	if err := q.MD5s.validate("MD5s"); err != nil {
		return err
	}
	if err := q.VirusNames.validate("VirusNames"); err != nil {
		return err
	}
	return validatePaging(q.Limit, q.Offset)
}

// QuarantineSample is a file an agent moved to its quarantine.
type QuarantineSample struct {
	ID           int64
	HostUUID     string // required on record
	VirusEventID int64  // 0: none (or the event was deleted since)
	OriginalPath string // required
	MD5          string
	SHA256       string
	Size         int64
	VirusName    string
	StorageKey   string // where the agent keeps the encrypted sample
	Status       string // QuarantineIsolated (default) or QuarantineRestored
	AutoIsolated bool
	CreatedAt    time.Time // defaults to now
	RestoredAt   time.Time
}

// Quarantine sample states.
const (
	QuarantineIsolated = "ISOLATED"
	QuarantineRestored = "RESTORED"
)

// QuarantineQuery filters an account's quarantine samples, newest first.
type QuarantineQuery struct {
	HostUUIDs     []string // exact
	MD5s          []string // exact, lower-case
	VirusEventIDs []int64
	Statuses      []string
	Limit         int // 0: no limit
	Offset        int
}

// VirusSamples keeps the auto-isolation samples and the quarantine records.
type VirusSamples interface {
	// UpsertAutoIsolateSamples creates or replaces samples by MD5 (ModifyTime
	// defaults to now; MD5s are lower-cased and must be MD5s).
	UpsertAutoIsolateSamples(ctx context.Context, accountID int64, samples []AutoIsolateSample) error
	// GetAutoIsolateSample returns the sample of md5, or ErrNotFound.
	GetAutoIsolateSample(ctx context.Context, accountID int64, md5 string) (AutoIsolateSample, error)
	QueryAutoIsolateSamples(ctx context.Context, accountID int64, q AutoIsolateSampleQuery) (Page[AutoIsolateSample], error)
	// RecordQuarantineSample stores s for the host s.HostUUID of the account
	// (ErrNotFound otherwise; an unknown VirusEventID is stored as none).
	RecordQuarantineSample(ctx context.Context, accountID int64, s QuarantineSample) (QuarantineSample, error)
	QueryQuarantineSamples(ctx context.Context, accountID int64, q QuarantineQuery) (Page[QuarantineSample], error)
	// SetQuarantineSampleStatus moves sample id to status; RestoredAt is set
	// to at for QuarantineRestored and cleared otherwise.
	SetQuarantineSampleStatus(ctx context.Context, accountID, id int64, status string, at time.Time) error
}

// ScanTargetAdder grows a task as its agents report what they found to
// scan (the containers of an "all containers" scan).
type ScanTargetAdder interface {
	// AddScanTargets adds the targets the task does not have yet (by kind
	// and id; the others are left as they are) and refreshes its counters.
	// A task of another account is ErrNotFound.
	AddScanTargets(ctx context.Context, accountID, taskID int64, targets []ScanTarget) error
}

// Validate checks a quarantine query.
func (q QuarantineQuery) Validate() error {
	if len(q.HostUUIDs) > MaxFilterValues || len(q.MD5s) > MaxFilterValues || len(q.VirusEventIDs) > MaxSelectionIDs || len(q.Statuses) > MaxFilterValues {
		return fmt.Errorf("%w: a quarantine filter has too many values", ErrInvalid)
	}
	return validatePaging(q.Limit, q.Offset)
}
