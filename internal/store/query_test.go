package store

import (
	"errors"
	"testing"
	"time"
)

func TestTextFilterMatch(t *testing.T) {
	tests := []struct {
		f    TextFilter
		s    string
		want bool
	}{
		{TextFilter{}, "anything", true},
		{TextFilter{Values: []string{"web"}}, "prod-WEB-01", true},
		{TextFilter{Values: []string{"WEB"}}, "prod-web-01", true},
		{TextFilter{Values: []string{"web"}, Exact: true}, "prod-web-01", false},
		{TextFilter{Values: []string{"prod-web-01"}, Exact: true}, "prod-web-01", true},
		{TextFilter{Values: []string{"Prod-web-01"}, Exact: true}, "prod-web-01", false},
		{TextFilter{Values: []string{"x", "01"}}, "prod-web-01", true},
		{TextFilter{Values: []string{"%"}}, "100%", true},
		{TextFilter{Values: []string{"%"}}, "100", false},
		{TextFilter{Values: []string{"_"}}, "a-b", false},
		{TextFilter{Values: []string{""}}, "", true},
		{TextFilter{Values: []string{"É"}}, "é", false}, // only ASCII folds
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.s); got != tt.want {
			t.Errorf("%+v.Match(%q) = %v, want %v", tt.f, tt.s, got, tt.want)
		}
	}
}

func TestRiskProcessEventQueryValidate(t *testing.T) {
	many := make([]string, MaxFilterValues+1)
	tests := []struct {
		name string
		q    RiskProcessEventQuery
		ok   bool
	}{
		{"zero", RiskProcessEventQuery{}, true},
		{"full", RiskProcessEventQuery{HandleStatuses: []HandleStatus{HandlePending, HandleIgnored}, OrderBy: OrderByStartTime, Limit: 100, Offset: 10}, true},
		{"negative limit", RiskProcessEventQuery{Limit: -1}, false},
		{"negative offset", RiskProcessEventQuery{Offset: -1}, false},
		{"bad status", RiskProcessEventQuery{HandleStatuses: []HandleStatus{6}}, false},
		{"bad order", RiskProcessEventQuery{OrderBy: 2}, false},
		{"too many values", RiskProcessEventQuery{FilePaths: TextFilter{Values: many}}, false},
		{"too many pids", RiskProcessEventQuery{ProcessIDs: make([]int64, MaxFilterValues+1)}, false},
	}
	for _, tt := range tests {
		err := tt.q.Validate()
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

func TestEmptyRange(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		from, to time.Time
		want     bool
	}{
		{time.Time{}, time.Time{}, false},
		{t0, time.Time{}, false},
		{t0, t0, false},
		{t0.Add(time.Second), t0, true},
	} {
		if got := (RiskProcessEventQuery{StartFrom: tt.from, StartTo: tt.to}).EmptyRange(); got != tt.want {
			t.Errorf("EmptyRange(%v, %v) = %v", tt.from, tt.to, got)
		}
	}
}

func TestUTC(t *testing.T) {
	in := time.Date(2024, 1, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	got := UTC(in)
	if got.Location() != time.UTC || !got.Equal(time.Date(2024, 1, 1, 0, 0, 0, 123456000, time.UTC)) {
		t.Errorf("UTC(%v) = %v", in, got)
	}
	if !UTC(time.Time{}).IsZero() {
		t.Error("UTC(zero) is not zero")
	}
}
