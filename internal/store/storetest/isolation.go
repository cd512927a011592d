package storetest

import (
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// testTenantIsolation gives account a one of everything and checks, method by
// method, that account b can neither see nor change it: every answer is
// ErrNotFound or an empty result, and a's data is unchanged afterwards.
func testTenantIsolation(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	c := ctx(t)

	key := must(s.CreateAPIKey(c, a.ID, store.APIKey{SecretID: "AKIDa", Role: store.RoleAdmin, SecretKeyEnc: []byte("x")}))(t)
	host := newHost(t, s, a.ID, store.Host{UUID: "host-a", Name: "only-a", PrivateIP: "10.9.9.9"})
	riskID := must(s.InsertRiskProcessEvents(c, a.ID, []store.RiskProcessEvent{
		riskEvent("host-a", 1, "/tmp/a", "Virus.A", 0, time.Hour, store.HandlePending)}))(t)[0]
	virusID := must(s.InsertVirusEvents(c, a.ID, []store.VirusEvent{
		{HostUUID: "host-a", FilePath: "/tmp/a", VirusName: "Virus.A", ModifyTime: at(0)}}))(t)[0]
	reg := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "reg-a", URL: "https://a"}))(t)
	img := must(s.UpsertRegistryImage(c, a.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "ns", Name: "img", Tag: "v1"}))(t)
	if err := s.UpsertImageViruses(c, a.ID, img.ID, []store.ImageVirus{{Path: "/x", VirusName: "Virus.A", RiskLevel: "4", LatestScanTime: at(0)}}); err != nil {
		t.Fatal(err)
	}
	// b has a host of its own, so b's writes that fail do so for a's data only.
	newHost(t, s, b.ID, store.Host{UUID: "host-b"})

	notFound := func(name string, err error) {
		t.Run(name, func(t *testing.T) { wantErr(t, err, store.ErrNotFound, name) })
	}

	// APIKeys.
	notFound("SetAPIKeyStatus", s.SetAPIKeyStatus(c, b.ID, key.SecretID, store.KeyDisabled))
	notFound("TouchAPIKey", s.TouchAPIKey(c, b.ID, key.SecretID, at(time.Hour)))
	t.Run("ListAPIKeys", func(t *testing.T) {
		if keys := must(s.ListAPIKeys(c, b.ID))(t); len(keys) != 0 {
			t.Errorf("b lists %d keys", len(keys))
		}
	})
	t.Run("APIKeyUnchanged", func(t *testing.T) {
		k := must(s.GetAPIKey(c, key.SecretID))(t)
		if k.Status != store.KeyEnabled || !k.LastUsedAt.IsZero() || k.AccountID != a.ID {
			t.Errorf("a's key changed: %+v", k)
		}
	})

	// Risk process events.
	_, err := s.GetRiskProcessEvent(c, b.ID, riskID)
	notFound("GetRiskProcessEvent", err)
	// a's host UUID names no host of b (until b creates its own, below).
	_, err = s.InsertRiskProcessEvents(c, b.ID, []store.RiskProcessEvent{riskEvent("host-a", 1, "/tmp/a", "Virus.A", 0, time.Hour, 0)})
	notFound("InsertRiskProcessEvents", err)
	t.Run("QueryRiskProcessEvents", func(t *testing.T) {
		for _, q := range []store.RiskProcessEventQuery{
			{},
			{IPOrName: store.TextFilter{Values: []string{"only-a"}}},
			{IPOrName: store.TextFilter{Values: []string{"10.9.9.9"}, Exact: true}},
			{VirusNames: store.TextFilter{Values: []string{"Virus.A"}, Exact: true}},
			{FilePaths: store.TextFilter{Values: []string{"/tmp/a"}}},
		} {
			p := must(s.QueryRiskProcessEvents(c, b.ID, q))(t)
			if len(p.Items) != 0 || p.Total != 0 {
				t.Errorf("b sees a's events with %+v: %d items, total %d", q, len(p.Items), p.Total)
			}
		}
	})

	// Virus events.
	_, err = s.GetVirusEvent(c, b.ID, virusID)
	notFound("GetVirusEvent", err)
	_, err = s.InsertVirusEvents(c, b.ID, []store.VirusEvent{{HostUUID: "host-a", FilePath: "/tmp/a", VirusName: "Virus.A", ModifyTime: at(0)}})
	notFound("InsertVirusEvents", err)

	// Hosts.
	_, err = s.GetHost(c, b.ID, host.UUID)
	notFound("GetHost", err)
	t.Run("QueryHosts", func(t *testing.T) {
		p := must(s.QueryHosts(c, b.ID, store.HostQuery{UUIDs: store.TextFilter{Values: []string{"host-a"}, Exact: true}}))(t)
		if len(p.Items) != 0 || p.Total != 0 {
			t.Errorf("b finds a's host: %+v", p)
		}
	})
	t.Run("UpsertHost", func(t *testing.T) {
		// The same UUID in b is b's own host; a's is untouched.
		hb := newHost(t, s, b.ID, store.Host{UUID: host.UUID, Name: "b-side"})
		if hb.ID == host.ID || hb.AccountID != b.ID {
			t.Errorf("b's upsert of a's UUID reused the row: %+v", hb)
		}
		if h := must(s.GetHost(c, a.ID, host.UUID))(t); h.Name != "only-a" {
			t.Errorf("a's host renamed to %q", h.Name)
		}
	})

	// Registries and images.
	_, err = s.GetRegistry(c, b.ID, reg.ID)
	notFound("GetRegistry", err)
	t.Run("ListRegistries", func(t *testing.T) {
		if l := must(s.ListRegistries(c, b.ID))(t); len(l) != 0 {
			t.Errorf("b lists %d registries", len(l))
		}
	})
	_, err = s.UpsertRegistryImage(c, b.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "ns", Name: "img", Tag: "v1", Digest: "evil"})
	notFound("UpsertRegistryImage", err)
	_, err = s.GetRegistryImage(c, b.ID, img.ID)
	notFound("GetRegistryImage", err)
	_, err = s.FindRegistryImage(c, b.ID, store.ImageRef{RegistryName: "reg-a", Namespace: "ns", Name: "img", Tag: "v1"})
	notFound("FindRegistryImage", err)
	notFound("UpsertImageViruses", s.UpsertImageViruses(c, b.ID, img.ID, []store.ImageVirus{{Path: "/evil", VirusName: "V", LatestScanTime: at(0)}}))
	_, err = s.QueryImageViruses(c, b.ID, img.ID, store.ImageVirusQuery{})
	notFound("QueryImageViruses", err)

	t.Run("AccountAUnchanged", func(t *testing.T) {
		if got := must(s.GetRegistryImage(c, a.ID, img.ID))(t); got.Digest != "" {
			t.Errorf("a's image digest = %q", got.Digest)
		}
		p := must(s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{}))(t)
		if p.Total != 1 || p.Items[0].Path != "/x" {
			t.Errorf("a's image viruses changed: %+v", p)
		}
		if got := must(s.GetRiskProcessEvent(c, a.ID, riskID))(t); got.HostUUID != "host-a" {
			t.Errorf("a's event = %+v", got)
		}
	})
}

// testTimes checks that times in any zone, with digits below the microsecond,
// before 1970 or far ahead, come back as the same instant in UTC truncated to
// the microsecond, and that zero times stay zero.
func testTimes(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	newHost(t, s, a.ID, store.Host{UUID: "h"})
	zones := []*time.Location{time.UTC, time.FixedZone("UTC+8", 8*3600), time.FixedZone("UTC-9:30", -(9*3600 + 1800))}
	instants := []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000001, time.UTC),
		time.Date(2100, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(2024, 8, 27, 3, 30, 37, 0, time.UTC),
	}
	for i, inst := range instants {
		for j, z := range zones {
			tm := inst.In(z)
			e := riskEvent("h", int64(100*i+j), "/p", "V", 0, 0, store.HandlePending)
			e.ProcessStartTime, e.DetectTime, e.FirstDetectTime = tm, tm.Add(time.Second), tm
			id := must(s.InsertRiskProcessEvents(ctx(t), a.ID, []store.RiskProcessEvent{e}))(t)[0]
			got := must(s.GetRiskProcessEvent(ctx(t), a.ID, id))(t)
			sameTime(t, "ProcessStartTime", got.ProcessStartTime, tm)
			sameTime(t, "DetectTime", got.DetectTime, tm.Add(time.Second))
			if !got.StatusTime.IsZero() {
				t.Errorf("zero StatusTime came back as %v", got.StatusTime)
			}
			// The query bounds use the same conversion.
			p := must(s.QueryRiskProcessEvents(ctx(t), a.ID, store.RiskProcessEventQuery{StartFrom: tm, StartTo: tm, ProcessIDs: []int64{e.PID}}))(t)
			if p.Total != 1 {
				t.Errorf("range [%v, %v] finds %d events, want 1", tm, tm, p.Total)
			}
		}
	}
}
