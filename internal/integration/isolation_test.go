package integration

import (
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/vigil-sec/vigil/internal/api/cwp"
)

// TestTenantIsolation: each account sees only its own data, whatever it asks.
func TestTenantIsolation(t *testing.T) { backends(t, testTenantIsolation) }

func testTenantIsolation(t *testing.T, opts ...serverOption) {
	ts := startServer(t, opts...)
	a, b := ts.newAccount("default"), ts.newAccount("tenant-b")
	fa := seed(t, ts.App.Store, a.ID, "alpha", "10.1.1.1")
	fb := seed(t, ts.App.Store, b.ID, "beta", "10.2.2.2")
	type tenant struct {
		name   string
		c      *common.Client
		own    fixture
		others fixture
	}
	tenants := []tenant{
		{"a", ts.client(a.roID, a.roKey), fa, fb},
		{"b", ts.client(b.roID, b.roKey), fb, fa},
	}
	for _, tn := range tenants {
		t.Run(tn.name, func(t *testing.T) {
			for _, params := range []map[string]any{
				{"Limit": 100},
				{"Filters": []filter{{Name: "HostId", Values: []string{fa.hostUUID, fb.hostUUID}}}},
				{"Filters": []filter{{Name: "IpOrName", Values: []string{"10."}}}},
			} {
				var r cwp.DescribeRiskProcessEventsResponse
				if err := cwpCall(tn.c, "DescribeRiskProcessEvents", params, &r); err != nil {
					t.Fatal(err)
				}
				if *r.TotalCount != 3 {
					t.Fatalf("%v: sees %d events, want its own 3", params, *r.TotalCount)
				}
				for _, e := range r.List {
					if *e.Uuid != tn.own.hostUUID {
						t.Fatalf("sees host %s", *e.Uuid)
					}
				}
			}
			// The other account's ids are not found (not "forbidden": existence is not revealed).
			if code := sdkCode(t, tcssCall(tn.c, "DescribeVirusDetail", map[string]any{"Id": idStr(tn.others.virusEventID)}, nil)); code != "ResourceNotFound" {
				t.Fatalf("virus detail across accounts: %s", code)
			}
			if code := sdkCode(t, tcssCall(tn.c, "DescribeAssetImageRegistryVirusList", map[string]any{"Id": tn.others.imageID}, nil)); code != "ResourceNotFound" {
				t.Fatalf("image viruses across accounts: %s", code)
			}
			info := map[string]any{"ImageInfo": map[string]any{"InstanceName": tn.others.registry, "Namespace": "library", "ImageName": "web", "ImageTag": "1.0", "Force": "false"}}
			if code := sdkCode(t, tcssCall(tn.c, "DescribeAssetImageRegistryVirusList", info, nil)); code != "ResourceNotFound" {
				t.Fatalf("resolved the other account's registry name: %s", code)
			}
			// Its own ids work with the same key.
			if err := tcssCall(tn.c, "DescribeVirusDetail", map[string]any{"Id": idStr(tn.own.virusEventID)}, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}
