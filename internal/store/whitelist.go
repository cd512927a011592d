package store

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// The operator side of risk-process events (cwp ModifyRiskEventsStatus) and
// the malware whitelists that suppress future events (cwp
// CreateMalwareWhiteList …; tcss AddOrModifyVirusWhiteListRule … uses the
// same rules with Product "tcss").

// RiskEventStatus changes and deletes an account's risk-process events in
// bulk. The per-(host, threat, status) counts stay exact: the schema's
// triggers follow every UPDATE of handle_status and every DELETE.
type RiskEventStatus interface {
	// SetRiskEventsStatus sets the HandleStatus (and StatusTime = at) of the
	// selected events of the account that do not already have it, and
	// returns how many changed. Ids of other accounts select nothing.
	SetRiskEventsStatus(ctx context.Context, accountID int64, sel RiskEventSelection, status HandleStatus, at time.Time) (int64, error)
	// DeleteRiskEvents deletes the selected events and returns how many.
	DeleteRiskEvents(ctx context.Context, accountID int64, sel RiskEventSelection) (int64, error)
	// SelectRiskEvents returns the selected events (at most limit, 0: all),
	// by id, in a light form.
	SelectRiskEvents(ctx context.Context, accountID int64, sel RiskEventSelection, limit int) ([]RiskEventRef, error)
}

// MaxSelectionIDs bounds RiskEventSelection's IDs and ExcludeIDs.
const MaxSelectionIDs = 10_000

// RiskEventSelection names events: either IDs, or All events matching
// Filter except ExcludeIDs. Filter's host, virus name, path, pid, start-time
// and status filters apply in both cases (with IDs: to narrow them, e.g. "only
// those still killing"); its paging and order are ignored.
type RiskEventSelection struct {
	IDs        []int64
	All        bool
	ExcludeIDs []int64
	Filter     RiskProcessEventQuery
}

// Validate checks sel: it must select by IDs or All.
func (sel RiskEventSelection) Validate() error {
	if len(sel.IDs) == 0 && !sel.All {
		return fmt.Errorf("%w: a selection needs IDs or All", ErrInvalid)
	}
	if len(sel.IDs) > MaxSelectionIDs || len(sel.ExcludeIDs) > MaxSelectionIDs {
		return fmt.Errorf("%w: at most %d ids in a selection", ErrInvalid, MaxSelectionIDs)
	}
	q := sel.Filter
	q.Limit, q.Offset = 0, 0
	return q.Validate()
}

// RiskEventRef is the part of a RiskProcessEvent the operator's actions need.
type RiskEventRef struct {
	ID               int64
	HostUUID         string
	QUUID            string
	PID              int64
	ProcessStartTime time.Time
	ExePath          string
	ExeMD5           string
	VirusName        string
	HandleStatus     HandleStatus
}

// Whitelists are the rules that keep matching files from becoming events.
type Whitelists interface {
	// CreateWhitelistRule stores r (normalized by NormalizeWhitelistRule)
	// for the account; ID, EventsCount and the times are set by the store.
	CreateWhitelistRule(ctx context.Context, accountID int64, r WhitelistRule) (WhitelistRule, error)
	// UpdateWhitelistRule replaces the rule r.ID of the account and product
	// (its MD5 set included); EventsCount and CreatedAt are kept.
	UpdateWhitelistRule(ctx context.Context, accountID int64, r WhitelistRule) (WhitelistRule, error)
	GetWhitelistRule(ctx context.Context, accountID int64, product WhitelistProduct, id int64) (WhitelistRule, error)
	// QueryWhitelistRules lists the account's rules of q.Product.
	QueryWhitelistRules(ctx context.Context, accountID int64, q WhitelistQuery) (Page[WhitelistRule], error)
	// DeleteWhitelistRules deletes the rules ids of the account and product,
	// all or none: an id the account does not have is ErrNotFound and
	// nothing is deleted.
	DeleteWhitelistRules(ctx context.Context, accountID int64, product WhitelistProduct, ids []int64) error
	// MatchWhitelist checks files of one host (hostQUUID; for tcss each
	// file's ImageID) against the account's rules of product and returns,
	// per file, the id of the lowest-numbered matching rule or 0. MD5 rules
	// are found through the whitelist_md5 index; custom rules are few per
	// account and matched in Go (WhitelistRule.Matches).
	MatchWhitelist(ctx context.Context, accountID int64, product WhitelistProduct, hostQUUID string, files []WhitelistFile) ([]int64, error)
	// AddWhitelistHits adds n to the EventsCount of each rule id of the
	// account (rules that no longer exist are skipped).
	AddWhitelistHits(ctx context.Context, accountID int64, hits map[int64]int64) error
}

// WhitelistProduct says which API a rule belongs to.
type WhitelistProduct string

const (
	WhitelistCWP  WhitelistProduct = "cwp"
	WhitelistTCSS WhitelistProduct = "tcss"
)

// WhitelistMode is cwp's Mode.
type WhitelistMode int

const (
	WhitelistModeMD5    WhitelistMode = 0 // MD5 list
	WhitelistModeCustom WhitelistMode = 1 // file name / directory / extension
)

// WhitelistMatchType is cwp's MatchType for custom rules.
type WhitelistMatchType int

const (
	// MatchExact: the file name or extension equals a value; the file is in
	// a listed directory or below it.
	MatchExact WhitelistMatchType = 0
	// MatchFuzzy: a value is a substring (ASCII case folded) of the file
	// name, of its directory, or of its extension.
	MatchFuzzy WhitelistMatchType = 1
)

// WhitelistRule is one whitelist rule. A cwp rule applies to the hosts
// QUUIDs, or every host when IsGlobal; a tcss rule to the images ImageIDs,
// or every image when IsGlobal.
type WhitelistRule struct {
	ID             int64
	AccountID      int64
	Product        WhitelistProduct
	Mode           WhitelistMode
	MatchType      WhitelistMatchType
	IsGlobal       bool
	QUUIDs         []string
	ImageIDs       []string
	MD5s           []string // lower-case hex; read back sorted
	FileNames      []string
	FileDirs       []string
	FileExtensions []string
	Remark         string
	EventsCount    int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Limits of a rule.
const (
	MaxWhitelistValues = 10_000 // MD5s, QUUIDs, image ids
	MaxWhitelistText   = 200    // one file name, directory or extension
	MaxWhitelistNames  = 100    // file names, directories, extensions per rule
)

// NormalizeWhitelistRule checks r and returns it with its lists deduplicated
// (order kept), MD5s lower-cased, directories cleaned and extensions without
// a leading dot. Backends call it before writing.
func NormalizeWhitelistRule(r WhitelistRule) (WhitelistRule, error) {
	bad := func(format string, args ...any) (WhitelistRule, error) {
		return r, fmt.Errorf("%w: whitelist rule: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if r.Product != WhitelistCWP && r.Product != WhitelistTCSS {
		return bad("unknown product %q", r.Product)
	}
	if r.Mode != WhitelistModeMD5 && r.Mode != WhitelistModeCustom {
		return bad("unknown mode %d", r.Mode)
	}
	if r.MatchType != MatchExact && r.MatchType != MatchFuzzy {
		return bad("unknown match type %d", r.MatchType)
	}
	r.MD5s = dedup(r.MD5s, strings.ToLower)
	for _, m := range r.MD5s {
		if !IsMD5(m) {
			return bad("%q is not an MD5 (32 hex digits)", m)
		}
	}
	r.QUUIDs = dedup(r.QUUIDs, strings.TrimSpace)
	r.ImageIDs = dedup(r.ImageIDs, strings.TrimSpace)
	r.FileNames = dedup(r.FileNames, strings.TrimSpace)
	r.FileDirs = dedup(r.FileDirs, func(s string) string {
		if s = strings.TrimSpace(s); s == "" {
			return ""
		}
		return path.Clean(s)
	})
	r.FileExtensions = dedup(r.FileExtensions, func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), ".") })
	if len(r.MD5s) > MaxWhitelistValues || len(r.QUUIDs) > MaxWhitelistValues || len(r.ImageIDs) > MaxWhitelistValues {
		return bad("more than %d MD5s, hosts or images", MaxWhitelistValues)
	}
	for _, l := range [][]string{r.FileNames, r.FileDirs, r.FileExtensions} {
		if len(l) > MaxWhitelistNames {
			return bad("more than %d file names, directories or extensions", MaxWhitelistNames)
		}
		for _, v := range l {
			if len(v) > MaxWhitelistText {
				return bad("%.40q… is longer than %d bytes", v, MaxWhitelistText)
			}
		}
	}
	switch r.Mode {
	case WhitelistModeMD5:
		if len(r.MD5s) == 0 {
			return bad("an MD5 rule needs MD5s")
		}
		if len(r.FileNames)+len(r.FileDirs)+len(r.FileExtensions) > 0 {
			return bad("an MD5 rule has no file names, directories or extensions")
		}
	case WhitelistModeCustom:
		if len(r.FileNames)+len(r.FileDirs)+len(r.FileExtensions) == 0 {
			return bad("a custom rule needs a file name, directory or extension")
		}
		if len(r.MD5s) > 0 {
			return bad("a custom rule has no MD5s")
		}
	}
	if !r.IsGlobal {
		if r.Product == WhitelistCWP && len(r.QUUIDs) == 0 {
			return bad("a rule that is not global needs hosts (QUUIDs)")
		}
		if r.Product == WhitelistTCSS && len(r.ImageIDs) == 0 {
			return bad("a rule that is not global needs images")
		}
	}
	if r.EventsCount < 0 {
		return bad("negative events count")
	}
	return r, nil
}

// dedup applies norm to every value and drops empty and repeated results.
func dedup(in []string, norm func(string) string) []string {
	var out []string
	for _, v := range in {
		if v = norm(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// IsMD5 reports whether s is 32 lower-case hex digits.
func IsMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// WhitelistFile is a file checked against the whitelist.
type WhitelistFile struct {
	MD5     string // any case; empty matches no MD5 rule
	Path    string // absolute path of the file
	ImageID string // tcss: the image it was found in
}

// Matches reports whether r whitelists f on the host hostQUUID (cwp). It is
// the one definition of a match; the backends only preselect candidates.
func (r WhitelistRule) Matches(hostQUUID string, f WhitelistFile) bool {
	if !r.IsGlobal {
		scope := r.QUUIDs
		key := hostQUUID
		if r.Product == WhitelistTCSS {
			scope, key = r.ImageIDs, f.ImageID
		}
		if key == "" || !slices.Contains(scope, key) {
			return false
		}
	}
	if r.Mode == WhitelistModeMD5 {
		return f.MD5 != "" && slices.Contains(r.MD5s, strings.ToLower(f.MD5))
	}
	if f.Path == "" {
		return false
	}
	name, dir := path.Base(f.Path), path.Dir(f.Path)
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		ext = name[i+1:]
	}
	fuzzy := r.MatchType == MatchFuzzy
	anyOf := func(vals []string, ok func(v string) bool) bool {
		return len(vals) == 0 || slices.ContainsFunc(vals, ok)
	}
	return anyOf(r.FileNames, func(v string) bool {
		return fuzzy && containsFold(name, v) || !fuzzy && name == v
	}) && anyOf(r.FileDirs, func(v string) bool {
		return fuzzy && containsFold(dir, v) || !fuzzy && (dir == v || v == "/" || strings.HasPrefix(dir, v+"/"))
	}) && anyOf(r.FileExtensions, func(v string) bool {
		return fuzzy && containsFold(ext, v) || !fuzzy && ext != "" && strings.EqualFold(ext, v)
	})
}

// WhitelistOrder is the sort key of WhitelistQuery; ties go by id.
type WhitelistOrder int

const (
	WhitelistByCreateTime  WhitelistOrder = iota // the zero value
	WhitelistByModifyTime                        // UpdatedAt
	WhitelistByEventsCount                       // EventsCount
)

// WhitelistQuery is DescribeMalwareWhiteList's filters and paging. Values of
// one filter are OR'ed, filters AND'ed; a list filter matches a rule when
// any of its values matches any element of the rule's list.
type WhitelistQuery struct {
	Product        WhitelistProduct // required
	Modes          []WhitelistMode
	MD5s           TextFilter
	FileNames      TextFilter
	FileDirs       TextFilter
	FileExtensions TextFilter
	// HostIPs selects the rules that apply to a host of the account whose
	// private or public IP matches: global rules and those listing it. No
	// such host: no rule.
	HostIPs TextFilter
	OrderBy WhitelistOrder
	Desc    bool
	Limit   int // 0: no limit
	Offset  int
}

// Validate checks q.
func (q WhitelistQuery) Validate() error {
	if q.Product != WhitelistCWP && q.Product != WhitelistTCSS {
		return fmt.Errorf("%w: unknown whitelist product %q", ErrInvalid, q.Product)
	}
	for _, f := range []struct {
		name string
		f    TextFilter
	}{{"MD5s", q.MD5s}, {"FileNames", q.FileNames}, {"FileDirs", q.FileDirs}, {"FileExtensions", q.FileExtensions}, {"HostIPs", q.HostIPs}} {
		if err := f.f.validate(f.name); err != nil {
			return err
		}
	}
	if q.OrderBy < WhitelistByCreateTime || q.OrderBy > WhitelistByEventsCount {
		return fmt.Errorf("%w: unknown whitelist order %d", ErrInvalid, q.OrderBy)
	}
	return validatePaging(q.Limit, q.Offset)
}

// FirstWhitelistMatch returns the lowest id among the candidate rules that
// match f on hostQUUID, or 0. Backends pass the MD5 rules found for f's MD5
// and the account's custom rules.
func FirstWhitelistMatch(hostQUUID string, f WhitelistFile, candidates ...[]WhitelistRule) int64 {
	var best int64
	for _, rs := range candidates {
		for _, r := range rs {
			if (best == 0 || r.ID < best) && r.Matches(hostQUUID, f) {
				best = r.ID
			}
		}
	}
	return best
}
