package server

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
)

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		role   Role
		action string
		want   bool
	}{
		{RoleAdmin, "ModifyRiskEventsStatus", true},
		{RoleAdmin, "DescribeVirusDetail", true},
		{RoleReadOnly, "DescribeVirusDetail", true},
		{RoleReadOnly, "ExportVirusList", true},
		{RoleReadOnly, "DescribeAssetImageRegistryVirusListExport", true},
		{RoleReadOnly, "ModifyRiskEventsStatus", false},
		{RoleReadOnly, "CreateVirusScanTask", false},
		{RoleReadOnly, "SyncAssetImageRegistryAsset", false},
		{Role("guest"), "DescribeVirusDetail", false},
	}
	for _, tt := range tests {
		if got := tt.role.Allows(tt.action); got != tt.want {
			t.Errorf("%s.Allows(%s) = %v", tt.role, tt.action, got)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(20, func() time.Time { return now })
	k := limitKey{1, "2018-02-28", "DescribeRiskProcessEvents"}
	allowed := 0
	for i := 0; i < 50; i++ {
		if l.allow(k) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("burst allowed %d, want 20", allowed)
	}
	if !l.allow(limitKey{2, "2018-02-28", "DescribeRiskProcessEvents"}) || !l.allow(limitKey{1, "2018-02-28", "DescribeMachines"}) {
		t.Fatal("the limit leaked to another account or action")
	}
	now = now.Add(500 * time.Millisecond)
	allowed = 0
	for i := 0; i < 50; i++ {
		if l.allow(k) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("after 0.5 s allowed %d, want 10", allowed)
	}
	// Idle buckets are forgotten (they would be full again anyway).
	now = now.Add(2 * idleAfter)
	l.allow(limitKey{3, "v", "a"})
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets kept after idling", len(l.buckets))
	}
	if off := newRateLimiter(0, time.Now); !off.allow(k) {
		t.Fatal("a zero limit must disable limiting")
	}
}

// fakeSpec documents two actions; tests register a handler for one.
type fakeSpec struct{}

func (fakeSpec) Service() string                             { return "cwp" }
func (fakeSpec) Version() string                             { return "2018-02-28" }
func (fakeSpec) HasAction(name string) bool                  { return name == "Done" || name == "NotYet" }
func (fakeSpec) Validate(_ string, b []byte) ([]byte, error) { return b, nil }
func (fakeSpec) FormToJSON(string, url.Values) ([]byte, error) {
	return []byte("{}"), nil
}

type fakeResp struct{ RequestId string }

func (r *fakeResp) SetRequestId(id string) { r.RequestId = id }

// TestRoute: a documented action without a handler is UnsupportedOperation,
// an undocumented one InvalidAction, an unknown version NoSuchVersion.
func TestRoute(t *testing.T) {
	m := NewMux(fakeSpec{})
	Handle(m, "2018-02-28", "Done", func(context.Context, *Call, *struct{}) (*fakeResp, error) { return &fakeResp{}, nil })
	// Routing only: "Done" resolves to its handler, "NotYet" to the
	// UnsupportedOperation one, which is invoked.
	tests := []struct {
		ver, action string
		want        api.Code
	}{
		{"2018-02-28", "Done", ""},
		{"2018-02-28", "NotYet", api.UnsupportedOperation},
		{"2018-02-28", "Nope", api.InvalidAction},
		{"2000-01-01", "Done", api.NoSuchVersion},
		{"", "Done", api.MissingParameter},
		{"2018-02-28", "", api.MissingParameter},
	}
	for _, tt := range tests {
		_, h, err := m.route(tt.ver, tt.action)
		if err == nil && tt.action == "NotYet" {
			_, err = h(context.Background(), &Call{}, []byte("{}"))
		}
		var got api.Code
		if err != nil {
			got = api.AsError(err).Code
		}
		if got != tt.want {
			t.Errorf("%s %s: code %q, want %q", tt.ver, tt.action, got, tt.want)
		}
	}
}
