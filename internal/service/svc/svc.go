// Package svc holds what the handlers of every service share: filter and
// paging rules, time formats, store-error mapping.
package svc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/store"
)

// Filter is one entry of a request's Filters list, whatever its API type
// (cwp Filter, tcss AssetFilters, RunTimeFilters…).
type Filter struct {
	Param  string // position in the request ("Filters.2"), for messages; set by Filters
	Name   string
	Values []string
	Exact  bool // ExactMatch: true = equality; absent/false = substring (the docs contradict each other; vigil documents this choice)
}

// MaxFilterValues bounds the values of one filter.
const MaxFilterValues = 100

// Filters checks a request's filters against the names an action knows and
// returns them by name. param is the request member ("Filters"). Values are
// required and non-empty; a name may appear once.
func Filters(param string, fs []Filter, known ...string) (map[string]Filter, error) {
	out := make(map[string]Filter, len(fs))
	for i, f := range fs {
		name := fmt.Sprintf("%s.%d.Name", param, i)
		ok := false
		for _, k := range known {
			if f.Name == k {
				ok = true
				break
			}
		}
		if !ok {
			return nil, api.ErrInvalidParameterValue(name,
				fmt.Sprintf("unknown filter %q; known filters: %s.", f.Name, strings.Join(known, ", ")),
				fmt.Sprintf("未知过滤条件 %q，支持：%s。", f.Name, strings.Join(known, "、")))
		}
		if _, dup := out[f.Name]; dup {
			return nil, api.ErrInvalidParameterValue(name,
				fmt.Sprintf("the filter %q is given twice; put all values in one filter.", f.Name),
				fmt.Sprintf("过滤条件 %q 重复，请将取值放在同一个过滤条件中。", f.Name))
		}
		if len(f.Values) == 0 {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("%s.%d.Values", param, i),
				"at least one value is required.", "至少需要一个取值。")
		}
		if len(f.Values) > MaxFilterValues {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("%s.%d.Values", param, i),
				fmt.Sprintf("at most %d values are allowed.", MaxFilterValues), fmt.Sprintf("最多 %d 个取值。", MaxFilterValues))
		}
		f.Param = fmt.Sprintf("%s.%d", param, i)
		out[f.Name] = f
	}
	return out, nil
}

// Text converts a filter to a store text filter.
func (f Filter) Text() store.TextFilter { return store.TextFilter{Values: f.Values, Exact: f.Exact} }

// ValueParam names a value of the filter for messages ("Filters.2.Values.0").
func (f Filter) ValueParam(i int) string { return fmt.Sprintf("%s.Values.%d", f.Param, i) }

// Paging applies the usual Limit (default 10, 1..100) and Offset (>= 0) rules.
func Paging(limit, offset *int64) (int, int, error) {
	l, o := int64(10), int64(0)
	if limit != nil {
		l = *limit
		if l < 1 || l > 100 {
			return 0, 0, api.ErrInvalidParameterValue("Limit", fmt.Sprintf("must be between 1 and 100, got %d.", l), fmt.Sprintf("取值范围为 1～100，实际为 %d。", l))
		}
	}
	if offset != nil {
		o = *offset
		if o < 0 {
			return 0, 0, api.ErrInvalidParameterValue("Offset", fmt.Sprintf("must be >= 0, got %d.", o), fmt.Sprintf("须大于等于 0，实际为 %d。", o))
		}
		if o > 1<<31 {
			return 0, 0, api.ErrInvalidParameterValue("Offset", "is too large.", "取值过大。")
		}
	}
	return int(l), int(o), nil
}

// PagingU is Paging for uint64 Limit/Offset (tcss).
func PagingU(limit, offset *uint64) (int, int, error) {
	var l, o *int64
	if limit != nil {
		v := int64(min(*limit, 1<<62))
		l = &v
	}
	if offset != nil {
		v := int64(min(*offset, 1<<62))
		o = &v
	}
	return Paging(l, o)
}

// Desc parses Order (ASC|DESC, default DESC).
func Desc(order *string) (bool, error) {
	if order == nil {
		return true, nil
	}
	switch *order {
	case "DESC", "desc":
		return true, nil
	case "ASC", "asc":
		return false, nil
	}
	return false, api.ErrInvalidParameterValue("Order", fmt.Sprintf("must be ASC or DESC, got %q.", *order), fmt.Sprintf("取值须为 ASC 或 DESC，实际为 %q。", *order))
}

// Time formats of the official examples (see docs/api.md).
const (
	CwpTime      = time.DateTime                   // "2023-09-16 18:28:00", in the server's time zone
	RegistryTime = "2006-01-02 15:04:05 -0700 MST" // "2021-01-30 03:31:56 +0000 UTC"
)

// FormatCwp formats t as cwp does; the zero time is "".
func FormatCwp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(CwpTime)
}

// FormatRFC3339 formats t as DescribeVirusDetail does ("2024-08-27T03:30:37Z"); zero is "".
func FormatRFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// FormatRegistry formats t as the registry virus list does; zero is "".
func FormatRegistry(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(RegistryTime)
}

// ParseTime reads a time value of a filter: "2006-01-02 15:04:05" or
// "2006-01-02" in loc, or RFC 3339.
func ParseTime(param, s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.DateTime, time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, api.ErrInvalidParameterValue(param,
		fmt.Sprintf("%q is not a time; use \"2006-01-02 15:04:05\".", s),
		fmt.Sprintf("%q 不是合法时间，格式应为 \"2006-01-02 15:04:05\"。", s))
}

// ParseInt reads an integer filter value.
func ParseInt(param, s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, api.ErrInvalidParameterValue(param, fmt.Sprintf("%q is not an integer.", s), fmt.Sprintf("%q 不是整数。", s))
	}
	return n, nil
}

// StoreError maps a store error to the protocol: not found (including another
// account's row) is ResourceNotFound naming what was asked for; anything else
// is internal.
func StoreError(err error, param, value string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.NewError(api.ResourceNotFound,
			fmt.Sprintf("%s %q does not exist.", param, value),
			fmt.Sprintf("%s %q 对应的资源不存在。", param, value)).Wrap(err)
	case errors.Is(err, store.ErrInvalid):
		return api.NewError(api.InvalidParameterValue, "A parameter value is not allowed: "+err.Error(), "参数取值错误："+err.Error()).Wrap(err)
	}
	return err
}

// Strings converts []*string (generated types) to []string, dropping nils.
func Strings(ps []*string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// StringPtrs converts to the generated types' []*string; never nil, so an
// empty list encodes as [].
func StringPtrs(ss []string) []*string {
	out := make([]*string, len(ss))
	for i := range ss {
		out[i] = &ss[i]
	}
	return out
}
