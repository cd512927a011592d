package storetest

import (
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func fullVirusEvent(host string) store.VirusEvent {
	return store.VirusEvent{
		HostUUID: host, ContainerID: "d4c43f9268ec", ContainerName: "/container_name", ContainerStatus: "RUNNING",
		ContainerNetStatus: "ISOLATED", ContainerNetSubStatus: "NONE", ContainerIsolateOperationSrc: "运行时安全/文件查杀",
		ImageID: "sha256:80beff5ff342", ImageName: "centos:7",
		PodName: "web-7f9c", PodIP: "10.0.3.4", PodStatus: "Running", Namespace: "tcss", WorkloadType: "Deployment",
		ClusterID: "cls-dfw3e", ClusterName: "prod", NodeID: "mix-GOmf", NodeName: "node-1", NodeUniqueID: "wer41324",
		NodeType: "NORMAL", NodeSubnetID: "subnet-aau2", NodeSubnetName: "subnet", NodeSubnetCIDR: "10.0.3.0/24",
		FilePath: "/home/virus/specimen_1", FileName: "specimen_1", FileMD5: "81a7701a194c3a", FileSize: 332155,
		FileAccessTime: at(-48 * time.Hour), FileModifyTime: at(-47 * time.Hour),
		VirusName: "Ramnit", RiskLevel: "RISK_CRITICAL", CheckPlatform: []string{"VDC", "TAV"}, SourceType: 2,
		EventType: "恶意文件告警", TaskID: 17, IsolateMode: "AUTO",
		Process: store.ProcessInfo{PID: 433802, Name: "git", Path: "/usr/bin/git", MD5: "472c65af", Argv: "git clone --depth=1",
			Chain: "git(433802)|node(280016)", User: "root", Group: "root", FileAuthority: "-rwxr-xr-x"},
		Parent:   store.RelatedProcess{Path: "/usr/bin/node", Argv: "node dist/index.js", User: "root", Group: "root"},
		Ancestor: store.RelatedProcess{Path: "/usr/local/bin/containerd-shim-runc-v2", Argv: "-namespace k8s.io", User: "0", Group: "0"},
		Status:   "DEAL_ISOLATE", SubStatus: "FILE_NOT_FOUND", Mark: "mark reason",
		CreateTime: at(-time.Hour), ModifyTime: at(0), OperationTime: at(time.Minute),
	}
}

func testVirusEvents(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	h := newHost(t, s, a.ID, store.Host{UUID: "node-1", Name: "hostname", PrivateIP: "10.0.0.1", PublicIP: "10.1.1.1"})
	if err := s.UpsertThreats(ctx(t), []store.Threat{{Name: "Ramnit", Desc: store.Localized{ZH: "蠕虫病毒", EN: "A worm"}}}); err != nil {
		t.Fatal(err)
	}
	full := fullVirusEvent(h.UUID)

	id := must(s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{full}))(t)[0]
	t.Run("RoundTrip", func(t *testing.T) {
		got := must(s.GetVirusEvent(ctx(t), a.ID, id))(t)
		want := full
		want.ID, want.AccountID, want.Host = id, a.ID, h
		want.Threat = must(s.GetThreat(ctx(t), "Ramnit"))(t)
		for _, p := range []*time.Time{&want.FileAccessTime, &want.FileModifyTime, &want.CreateTime, &want.ModifyTime, &want.OperationTime} {
			*p = store.UTC(*p)
		}
		checkEqual(t, "VirusEvent", got, want)
	})
	t.Run("Defaults", func(t *testing.T) {
		e := store.VirusEvent{HostUUID: h.UUID, FilePath: "/tmp/dropper.sh", VirusName: "Sh.Dropper", ModifyTime: at(0)}
		got := must(s.GetVirusEvent(ctx(t), a.ID, must(s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{e}))(t)[0]))(t)
		if got.FileName != "dropper.sh" || got.Status != store.VirusStatusNone || !got.CreateTime.Equal(store.UTC(e.ModifyTime)) ||
			!got.OperationTime.IsZero() || got.CheckPlatform != nil && len(got.CheckPlatform) != 0 {
			t.Errorf("defaults: file name %q, status %q, create %v, operation %v, platforms %v",
				got.FileName, got.Status, got.CreateTime, got.OperationTime, got.CheckPlatform)
		}
	})
	t.Run("Repeat", func(t *testing.T) {
		repeat := full
		repeat.ModifyTime = at(2 * time.Hour)
		repeat.CreateTime = at(time.Hour) // later than stored: kept
		repeat.ContainerStatus = "STOPPED"
		repeat.RiskLevel = "RISK_HIGH"
		repeat.Status, repeat.SubStatus, repeat.Mark = "DEAL_NONE", "", "" // kept from the row
		again := must(s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{repeat, repeat}))(t)
		if again[0] != id || again[1] != id {
			t.Fatalf("repeat ids %v, want %d", again, id)
		}
		got := must(s.GetVirusEvent(ctx(t), a.ID, id))(t)
		sameTime(t, "ModifyTime", got.ModifyTime, repeat.ModifyTime)
		sameTime(t, "CreateTime", got.CreateTime, full.CreateTime)
		if got.ContainerStatus != "STOPPED" || got.RiskLevel != "RISK_HIGH" {
			t.Errorf("details not refreshed: %q %q", got.ContainerStatus, got.RiskLevel)
		}
		if got.Status != full.Status || got.SubStatus != full.SubStatus || got.Mark != full.Mark {
			t.Errorf("handling state changed: %q %q %q", got.Status, got.SubStatus, got.Mark)
		}
		other := full
		other.FileMD5 = "another"
		if oid := must(s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{other}))(t)[0]; oid == id {
			t.Errorf("another md5 got the same id")
		}
	})
	t.Run("Errors", func(t *testing.T) {
		ok := store.VirusEvent{HostUUID: h.UUID, FilePath: "/x", VirusName: "V", ModifyTime: at(0)}
		mod := func(f func(*store.VirusEvent)) store.VirusEvent { e := ok; f(&e); return e }
		for name, tc := range map[string]struct {
			e    store.VirusEvent
			want error
		}{
			"unknown host":  {mod(func(e *store.VirusEvent) { e.HostUUID = "nope" }), store.ErrNotFound},
			"no host":       {mod(func(e *store.VirusEvent) { e.HostUUID = "" }), store.ErrInvalid},
			"no path":       {mod(func(e *store.VirusEvent) { e.FilePath = "" }), store.ErrInvalid},
			"no virus":      {mod(func(e *store.VirusEvent) { e.VirusName = "" }), store.ErrInvalid},
			"no time":       {mod(func(e *store.VirusEvent) { e.ModifyTime = time.Time{} }), store.ErrInvalid},
			"negative size": {mod(func(e *store.VirusEvent) { e.FileSize = -1 }), store.ErrInvalid},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := s.InsertVirusEvents(ctx(t), a.ID, []store.VirusEvent{ok, tc.e})
				wantErr(t, err, tc.want, "InsertVirusEvents")
			})
		}
		_, err := s.GetVirusEvent(ctx(t), a.ID, 1<<40)
		wantErr(t, err, store.ErrNotFound, "GetVirusEvent(missing)")
		if ids, err := s.InsertVirusEvents(ctx(t), a.ID, nil); err != nil || len(ids) != 0 {
			t.Errorf("empty batch = %v, %v", ids, err)
		}
	})
}
