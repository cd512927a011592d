package server

import (
	"testing"
	"time"
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
