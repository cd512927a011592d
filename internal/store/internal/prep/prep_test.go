package prep

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func TestContains(t *testing.T) {
	for in, want := range map[string]string{
		"":        "%%",
		"abc":     "%abc%",
		"50%":     `%50\%%`,
		"a_b":     `%a\_b%`,
		`C:\x`:    `%C:\\x%`,
		`\%_`:     `%\\\%\_%`,
		"中文/path": "%中文/path%",
	} {
		if got := Contains(in); got != want {
			t.Errorf("Contains(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONList(t *testing.T) {
	for _, l := range [][]string{nil, {"a"}, {"VDC", "TAV", `q"uote`, "中"}} {
		s := JSONList(l)
		got, err := ParseJSONList(s)
		if err != nil || !slices.Equal(got, l) {
			t.Errorf("round trip of %q via %s = %q, %v", l, s, got, err)
		}
	}
	if JSONList(nil) != "[]" {
		t.Errorf("JSONList(nil) = %s", JSONList(nil))
	}
	if _, err := ParseJSONList("{"); err == nil {
		t.Error("ParseJSONList of bad JSON succeeded")
	}
}

func TestKnownTotal(t *testing.T) {
	tests := []struct {
		n, limit, offset int
		total            int64
		ok               bool
	}{
		{0, 10, 0, 0, true},   // empty result
		{3, 10, 0, 3, true},   // short first page
		{3, 10, 20, 23, true}, // short last page
		{10, 10, 0, 0, false}, // full page: more may follow
		{0, 10, 20, 0, false}, // past the end: the total is unknown
		{7, 0, 0, 7, true},    // no limit
		{7, 0, 5, 12, true},   // no limit, offset
		{0, 0, 5, 0, false},   // no limit, past the end
	}
	for _, tt := range tests {
		total, ok := KnownTotal(tt.n, tt.limit, tt.offset)
		if total != tt.total || ok != tt.ok {
			t.Errorf("KnownTotal(%d, %d, %d) = %d, %v; want %d, %v", tt.n, tt.limit, tt.offset, total, ok, tt.total, tt.ok)
		}
	}
}

func TestRiskProcessEventsMerge(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	e := store.RiskProcessEvent{HostUUID: "h", PID: 1, VirusName: "V", RuleName: "r", ProcessStartTime: t0, DetectTime: t0.Add(time.Hour)}
	later := e
	later.DetectTime = t0.Add(3 * time.Hour)
	later.CmdLine = "ignored"
	earlier := e
	earlier.DetectTime = t0.Add(30 * time.Minute)
	other := e
	other.PID = 2
	distinct, index, err := RiskProcessEvents([]store.RiskProcessEvent{e, other, later, earlier})
	if err != nil {
		t.Fatal(err)
	}
	if len(distinct) != 2 || !slices.Equal(index, []int{0, 1, 0, 0}) {
		t.Fatalf("distinct %d, index %v", len(distinct), index)
	}
	d := distinct[0]
	if !d.DetectTime.Equal(later.DetectTime) || !d.FirstDetectTime.Equal(earlier.DetectTime) || d.CmdLine != "" {
		t.Errorf("merged = detect %v first %v cmdline %q", d.DetectTime, d.FirstDetectTime, d.CmdLine)
	}
	if _, _, err := RiskProcessEvents([]store.RiskProcessEvent{{HostUUID: "h"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("invalid event: err = %v", err)
	}
}

func TestVirusEventsMerge(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	e := store.VirusEvent{HostUUID: "h", FilePath: "/a/b.sh", VirusName: "V", ModifyTime: t0}
	again := e
	again.ModifyTime = t0.Add(time.Hour)
	again.RiskLevel = "RISK_HIGH"
	distinct, index, err := VirusEvents([]store.VirusEvent{e, again})
	if err != nil {
		t.Fatal(err)
	}
	d := distinct[0]
	if len(distinct) != 1 || !slices.Equal(index, []int{0, 0}) || d.FileName != "b.sh" || d.Status != store.VirusStatusNone ||
		!d.CreateTime.Equal(t0) || !d.ModifyTime.Equal(again.ModifyTime) || d.RiskLevel != "RISK_HIGH" || d.ModifyTime.Location() != time.UTC {
		t.Errorf("merged = %+v (index %v)", d, index)
	}
}
