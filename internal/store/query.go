package store

import (
	"fmt"
	"strings"
	"time"
)

// MaxFilterValues bounds the values of one filter, so a request cannot build
// an unbounded statement.
const MaxFilterValues = 1000

// Page is one page of a query's rows and the number of rows the query matches
// without Limit and Offset.
type Page[T any] struct {
	Items []T
	Total int64
}

// TextFilter matches a text column against several values, OR'ed. Exact
// selects equality; otherwise a value matches as a substring, with ASCII
// letters compared case-insensitively (and all other characters, '%', '_'
// and '\' included, literally) on every backend. An empty filter (no values)
// matches everything.
type TextFilter struct {
	Values []string
	Exact  bool
}

// Set reports whether the filter constrains anything.
func (f TextFilter) Set() bool { return len(f.Values) > 0 }

// Match is the filter's semantics in Go: what the SQL of every backend must
// agree with.
func (f TextFilter) Match(s string) bool {
	if !f.Set() {
		return true
	}
	for _, v := range f.Values {
		if f.Exact && s == v || !f.Exact && containsFold(s, v) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub is in s, folding ASCII letters only (SQLite's
// LIKE folds no others).
func containsFold(s, sub string) bool {
	return strings.Contains(asciiLower(s), asciiLower(sub))
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (f TextFilter) validate(name string) error {
	if len(f.Values) > MaxFilterValues {
		return fmt.Errorf("%w: filter %s has %d values, at most %d allowed", ErrInvalid, name, len(f.Values), MaxFilterValues)
	}
	return nil
}

// EventOrder is the sort key of RiskProcessEventQuery. Ties are broken by id
// in the same direction, so paging is stable.
type EventOrder int

const (
	OrderByDetectTime EventOrder = iota // latest detection time (the zero value)
	OrderByStartTime                    // process start time
)

func (o EventOrder) String() string {
	switch o {
	case OrderByDetectTime:
		return "DetectTime"
	case OrderByStartTime:
		return "StartTime"
	}
	return fmt.Sprintf("EventOrder(%d)", int(o))
}

// RiskProcessEventQuery is DescribeRiskProcessEvents' filters and paging.
// Values of one filter are OR'ed; filters are AND'ed.
type RiskProcessEventQuery struct {
	HostIDs    TextFilter // host UUIDs
	IPOrName   TextFilter // host name, private IP or public IP
	VirusNames TextFilter
	FilePaths  TextFilter // process executable path
	ProcessIDs []int64    // exact
	// StartFrom and StartTo bound the process start time, inclusive; zero is
	// open. An empty interval matches nothing.
	StartFrom      time.Time
	StartTo        time.Time
	HandleStatuses []HandleStatus
	OrderBy        EventOrder
	Desc           bool
	Limit          int // 0: no limit
	Offset         int
}

// Validate checks q; the backends call it before building SQL.
func (q RiskProcessEventQuery) Validate() error {
	for _, f := range []struct {
		name string
		f    TextFilter
	}{{"HostIDs", q.HostIDs}, {"IPOrName", q.IPOrName}, {"VirusNames", q.VirusNames}, {"FilePaths", q.FilePaths}} {
		if err := f.f.validate(f.name); err != nil {
			return err
		}
	}
	if len(q.ProcessIDs) > MaxFilterValues {
		return fmt.Errorf("%w: filter ProcessIDs has %d values, at most %d allowed", ErrInvalid, len(q.ProcessIDs), MaxFilterValues)
	}
	for _, s := range q.HandleStatuses {
		if !s.Valid() {
			return fmt.Errorf("%w: unknown handle status %d", ErrInvalid, int(s))
		}
	}
	if q.OrderBy != OrderByDetectTime && q.OrderBy != OrderByStartTime {
		return fmt.Errorf("%w: unknown order %v", ErrInvalid, q.OrderBy)
	}
	return validatePaging(q.Limit, q.Offset)
}

// EmptyRange reports whether the start-time bounds exclude everything.
func (q RiskProcessEventQuery) EmptyRange() bool {
	return !q.StartFrom.IsZero() && !q.StartTo.IsZero() && q.StartFrom.After(q.StartTo)
}

// HostQuery is a filter over an account's hosts.
type HostQuery struct {
	UUIDs    TextFilter
	IPOrName TextFilter // host name, private IP or public IP
	Names    TextFilter // host name
	IPs      TextFilter // private or public IP
	OS       TextFilter
	QUUIDs   []string // exact
	// InstanceIDs matches exactly.
	InstanceIDs []string
	// Online is the stored flag alone (the agent's last word); whether a host
	// is online now also depends on LastSeen: use SeenSince/SeenBefore.
	Online *bool
	// SeenSince, when set, keeps the hosts online at a cutoff: Online set and
	// LastSeen strictly after SeenSince. SeenBefore, when set, keeps the
	// complement: Online unset, never seen, or LastSeen at or before
	// SeenBefore. With the cutoff now - offline window, they select the hosts
	// online and offline at now.
	SeenSince  time.Time
	SeenBefore time.Time
	// HasPendingRiskEvents keeps the hosts with (true) or without (false) a
	// risk-process event in HandlePending.
	HasPendingRiskEvents *bool
	// CreatedSince keeps the hosts created at or after it.
	CreatedSince time.Time
	Limit        int // 0: no limit
	Offset       int
}

// Validate checks q.
func (q HostQuery) Validate() error {
	for _, f := range []struct {
		name string
		f    TextFilter
	}{{"UUIDs", q.UUIDs}, {"IPOrName", q.IPOrName}, {"Names", q.Names}, {"IPs", q.IPs}, {"OS", q.OS}} {
		if err := f.f.validate(f.name); err != nil {
			return err
		}
	}
	if len(q.QUUIDs) > MaxFilterValues || len(q.InstanceIDs) > MaxFilterValues {
		return fmt.Errorf("%w: a host filter has more than %d values", ErrInvalid, MaxFilterValues)
	}
	return validatePaging(q.Limit, q.Offset)
}

// ImageVirusQuery is DescribeAssetImageRegistryVirusList's filters and paging.
type ImageVirusQuery struct {
	RiskLevels []string   // exact
	Names      TextFilter // virus name
	Limit      int        // 0: no limit
	Offset     int
}

// Validate checks q.
func (q ImageVirusQuery) Validate() error {
	if err := q.Names.validate("Names"); err != nil {
		return err
	}
	if len(q.RiskLevels) > MaxFilterValues {
		return fmt.Errorf("%w: filter RiskLevels has more than %d values", ErrInvalid, MaxFilterValues)
	}
	return validatePaging(q.Limit, q.Offset)
}

func validatePaging(limit, offset int) error {
	if limit < 0 {
		return fmt.Errorf("%w: negative limit %d", ErrInvalid, limit)
	}
	if offset < 0 {
		return fmt.Errorf("%w: negative offset %d", ErrInvalid, offset)
	}
	return nil
}

// UTC returns t in UTC truncated to the microsecond: the form every backend
// stores and returns. The zero time stays zero.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
