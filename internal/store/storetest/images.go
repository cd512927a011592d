package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func testRegistries(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	start := time.Now()
	r := store.Registry{
		Name: "harbor-prod", URL: "https://harbor.example.com", Type: "harbor", Username: "robot$scan",
		PasswordEnc: []byte{9, 8, 7}, NetType: "public", Version: "V2", Region: "ap-guangzhou", InstanceID: "tcr-1",
		Insecure: true, SpeedLimit: 100, SyncMode: 1, NeedScan: true, WebhookURL: "https://vigil/webhook", WebhookToken: "tok",
		ConnectMsg: "success", SyncStatus: "SYNCED", SyncFailReason: "", LatestSyncTime: at(0),
		ConnDetectHosts: []string{"h-1", "h-2"},
	}
	got := must(s.CreateRegistry(ctx(t), a.ID, r))(t)
	if got.ID == 0 || got.AccountID != a.ID {
		t.Fatalf("created registry id %d account %d", got.ID, got.AccountID)
	}
	recent(t, "CreatedAt", got.CreatedAt, start)
	want := r
	want.ID, want.AccountID, want.CreatedAt, want.UpdatedAt, want.LatestSyncTime = got.ID, a.ID, got.CreatedAt, got.CreatedAt, store.UTC(r.LatestSyncTime)
	checkEqual(t, "CreateRegistry", got, want)
	checkEqual(t, "GetRegistry", must(s.GetRegistry(ctx(t), a.ID, got.ID))(t), want)

	second := must(s.CreateRegistry(ctx(t), a.ID, store.Registry{Name: "quay", URL: "https://quay.io"}))(t)
	// Names are unique per account, not globally.
	must(s.CreateRegistry(ctx(t), b.ID, store.Registry{Name: "harbor-prod", URL: "https://other"}))(t)
	list := must(s.ListRegistries(ctx(t), a.ID))(t)
	if len(list) != 2 || list[0].ID != got.ID || list[1].ID != second.ID {
		t.Errorf("ListRegistries = %+v", list)
	}

	_, err := s.CreateRegistry(ctx(t), a.ID, store.Registry{Name: "harbor-prod", URL: "https://x"})
	wantErr(t, err, store.ErrConflict, "CreateRegistry(duplicate name)")
	_, err = s.CreateRegistry(ctx(t), a.ID, store.Registry{URL: "https://x"})
	wantErr(t, err, store.ErrInvalid, "CreateRegistry(no name)")
	_, err = s.CreateRegistry(ctx(t), a.ID, store.Registry{Name: "x"})
	wantErr(t, err, store.ErrInvalid, "CreateRegistry(no URL)")
	_, err = s.CreateRegistry(ctx(t), b.ID+100, store.Registry{Name: "x", URL: "https://x"})
	wantErr(t, err, store.ErrNotFound, "CreateRegistry(unknown account)")
	_, err = s.GetRegistry(ctx(t), a.ID, 1<<40)
	wantErr(t, err, store.ErrNotFound, "GetRegistry(missing)")
}

func testRegistryImages(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	reg := must(s.CreateRegistry(ctx(t), a.ID, store.Registry{Name: "harbor", URL: "https://harbor"}))(t)
	img := store.RegistryImage{
		RegistryID: reg.ID, Namespace: "library", Name: "nginx", Tag: "1.25", Digest: "sha256:aaa", ImageID: "sha256:cfg",
		OSName: "debian", Size: 70 << 20, ImageCreateTime: at(-24 * time.Hour), IsLatest: true, ScanStatus: "SCANNED",
		ScanTime: at(0), ScanError: "", VirusCount: 2,
	}
	start := time.Now()
	first := must(s.UpsertRegistryImage(ctx(t), a.ID, img))(t)
	if first.ID == 0 || first.AccountID != a.ID || first.RegistryName != "harbor" {
		t.Fatalf("UpsertRegistryImage = %+v", first)
	}
	recent(t, "CreatedAt", first.CreatedAt, start)
	want := img
	want.ID, want.AccountID, want.RegistryName, want.CreatedAt, want.UpdatedAt = first.ID, a.ID, "harbor", first.CreatedAt, first.UpdatedAt
	want.ImageCreateTime, want.ScanTime = store.UTC(img.ImageCreateTime), store.UTC(img.ScanTime)
	checkEqual(t, "UpsertRegistryImage", first, want)
	checkEqual(t, "GetRegistryImage", must(s.GetRegistryImage(ctx(t), a.ID, first.ID))(t), want)

	t.Run("Update", func(t *testing.T) {
		u := img
		u.Digest, u.IsLatest, u.VirusCount, u.ScanTime = "sha256:bbb", false, 0, time.Time{}
		time.Sleep(2 * time.Millisecond)
		got := must(s.UpsertRegistryImage(ctx(t), a.ID, u))(t)
		if got.ID != first.ID || !got.CreatedAt.Equal(first.CreatedAt) || !got.UpdatedAt.After(first.UpdatedAt) {
			t.Errorf("update: id %d created %v updated %v; first %d %v %v", got.ID, got.CreatedAt, got.UpdatedAt, first.ID, first.CreatedAt, first.UpdatedAt)
		}
		if got.Digest != "sha256:bbb" || got.IsLatest || got.VirusCount != 0 || !got.ScanTime.IsZero() {
			t.Errorf("update not applied: %+v", got)
		}
		other := img
		other.Tag = "1.26"
		if o := must(s.UpsertRegistryImage(ctx(t), a.ID, other))(t); o.ID == first.ID {
			t.Errorf("another tag got the same id")
		}
	})
	t.Run("Find", func(t *testing.T) {
		got := must(s.FindRegistryImage(ctx(t), a.ID, store.ImageRef{RegistryName: "harbor", Namespace: "library", Name: "nginx", Tag: "1.25"}))(t)
		if got.ID != first.ID || got.RegistryName != "harbor" {
			t.Errorf("FindRegistryImage = %+v", got)
		}
		for _, ref := range []store.ImageRef{
			{RegistryName: "harbor", Namespace: "library", Name: "nginx", Tag: "9"},
			{RegistryName: "quay", Namespace: "library", Name: "nginx", Tag: "1.25"},
			{RegistryName: "harbor", Namespace: "other", Name: "nginx", Tag: "1.25"},
			{RegistryName: "harbor", Namespace: "library", Name: "NGINX", Tag: "1.25"},
		} {
			_, err := s.FindRegistryImage(ctx(t), a.ID, ref)
			wantErr(t, err, store.ErrNotFound, "FindRegistryImage("+ref.RegistryName+" "+ref.Namespace+"/"+ref.Name+":"+ref.Tag+")")
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := s.UpsertRegistryImage(ctx(t), a.ID, store.RegistryImage{Name: "x"})
		wantErr(t, err, store.ErrInvalid, "UpsertRegistryImage(no registry)")
		_, err = s.UpsertRegistryImage(ctx(t), a.ID, store.RegistryImage{RegistryID: reg.ID})
		wantErr(t, err, store.ErrInvalid, "UpsertRegistryImage(no name)")
		_, err = s.UpsertRegistryImage(ctx(t), a.ID, store.RegistryImage{RegistryID: reg.ID + 1000, Name: "x"})
		wantErr(t, err, store.ErrNotFound, "UpsertRegistryImage(unknown registry)")
		_, err = s.GetRegistryImage(ctx(t), a.ID, 1<<40)
		wantErr(t, err, store.ErrNotFound, "GetRegistryImage(missing)")
	})
}

func testImageViruses(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	reg := must(s.CreateRegistry(ctx(t), a.ID, store.Registry{Name: "harbor", URL: "https://harbor"}))(t)
	img := must(s.UpsertRegistryImage(ctx(t), a.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "ns", Name: "app", Tag: "v1"}))(t)
	empty := must(s.UpsertRegistryImage(ctx(t), a.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "ns", Name: "app", Tag: "v2"}))(t)
	if err := s.UpsertThreats(ctx(t), []store.Threat{{Name: "Php.Trojan.Webshell", Tags: []string{"webshell"}, Desc: store.Localized{ZH: "木马", EN: "trojan"}}}); err != nil {
		t.Fatal(err)
	}

	t1 := at(0)
	findings := []store.ImageVirus{
		{Path: "/bin/webshell", VirusName: "Php.Trojan.Webshell", RiskLevel: "4", Category: "trojan", FileType: "PHP", FileMD5: "d292", FileSize: 40, LayerDigest: "sha256:l1", LatestScanTime: t1},
		{Path: "/usr/bin/xmrig", VirusName: "Linux.Miner.Xmrig", RiskLevel: "3", FileSize: 4 << 20, LatestScanTime: t1},
		{Path: "/opt/miner_2", VirusName: "Linux.Miner.Xmrig", RiskLevel: "3", LatestScanTime: t1},
		{Path: "/opt/tool", VirusName: "Hack.Tool%Scan", RiskLevel: "2", LatestScanTime: t1},
		{Path: "/opt/tool", VirusName: "Linux.Miner.Xmrig", RiskLevel: "1", LatestScanTime: t1}, // same path, other virus
	}
	if err := s.UpsertImageViruses(ctx(t), a.ID, img.ID, findings); err != nil {
		t.Fatal(err)
	}
	paths := func(p store.Page[store.ImageVirus]) []string {
		out := make([]string, len(p.Items))
		for i, v := range p.Items {
			out[i] = v.Path + "|" + v.VirusName
		}
		return out
	}

	t.Run("RoundTrip", func(t *testing.T) {
		p := must(s.QueryImageViruses(ctx(t), a.ID, img.ID, store.ImageVirusQuery{Limit: 1}))(t)
		if len(p.Items) != 1 || p.Total != 5 {
			t.Fatalf("got %d items, total %d", len(p.Items), p.Total)
		}
		want := findings[0]
		want.ID, want.ImageID, want.FileName = p.Items[0].ID, img.ID, "webshell"
		want.FirstScanTime, want.LatestScanTime = store.UTC(t1), store.UTC(t1)
		want.Threat = must(s.GetThreat(ctx(t), "Php.Trojan.Webshell"))(t)
		checkEqual(t, "ImageVirus", p.Items[0], want)
	})

	tests := []struct {
		name  string
		q     store.ImageVirusQuery
		want  []string
		total int64
	}{
		{"all, by risk then path", store.ImageVirusQuery{}, []string{
			"/bin/webshell|Php.Trojan.Webshell", "/opt/miner_2|Linux.Miner.Xmrig", "/usr/bin/xmrig|Linux.Miner.Xmrig",
			"/opt/tool|Hack.Tool%Scan", "/opt/tool|Linux.Miner.Xmrig"}, 5},
		{"risk level", store.ImageVirusQuery{RiskLevels: []string{"3"}}, []string{"/opt/miner_2|Linux.Miner.Xmrig", "/usr/bin/xmrig|Linux.Miner.Xmrig"}, 2},
		{"risk levels OR", store.ImageVirusQuery{RiskLevels: []string{"4", "1"}}, []string{"/bin/webshell|Php.Trojan.Webshell", "/opt/tool|Linux.Miner.Xmrig"}, 2},
		{"name substring folds case", store.ImageVirusQuery{Names: store.TextFilter{Values: []string{"MINER"}}}, []string{
			"/opt/miner_2|Linux.Miner.Xmrig", "/usr/bin/xmrig|Linux.Miner.Xmrig", "/opt/tool|Linux.Miner.Xmrig"}, 3},
		{"name percent is literal", store.ImageVirusQuery{Names: store.TextFilter{Values: []string{"%"}}}, []string{"/opt/tool|Hack.Tool%Scan"}, 1},
		{"name exact", store.ImageVirusQuery{Names: store.TextFilter{Values: []string{"Linux.Miner"}, Exact: true}}, nil, 0},
		{"name and level", store.ImageVirusQuery{Names: store.TextFilter{Values: []string{"xmrig"}}, RiskLevels: []string{"1", "2"}}, []string{"/opt/tool|Linux.Miner.Xmrig"}, 1},
		{"page", store.ImageVirusQuery{Limit: 2, Offset: 1}, []string{"/opt/miner_2|Linux.Miner.Xmrig", "/usr/bin/xmrig|Linux.Miner.Xmrig"}, 5},
		{"past the end", store.ImageVirusQuery{Limit: 2, Offset: 9}, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(s.QueryImageViruses(ctx(t), a.ID, img.ID, tt.q))(t)
			if got := paths(p); !slices.Equal(got, tt.want) && (len(got) > 0 || len(tt.want) > 0) || p.Total != tt.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tt.want, tt.total)
			}
		})
	}

	t.Run("Rescan", func(t *testing.T) {
		t2 := at(24 * time.Hour)
		rescan := []store.ImageVirus{
			{Path: "/bin/webshell", VirusName: "Php.Trojan.Webshell", RiskLevel: "3", FileSize: 41, LatestScanTime: t2},
			{Path: "/new", VirusName: "Linux.Miner.Xmrig", RiskLevel: "2", LatestScanTime: t2},
		}
		if err := s.UpsertImageViruses(ctx(t), a.ID, img.ID, rescan); err != nil {
			t.Fatal(err)
		}
		p := must(s.QueryImageViruses(ctx(t), a.ID, img.ID, store.ImageVirusQuery{}))(t)
		if p.Total != 6 {
			t.Errorf("total after rescan = %d, want 6", p.Total)
		}
		for _, v := range p.Items {
			switch v.Path {
			case "/bin/webshell":
				sameTime(t, "FirstScanTime kept", v.FirstScanTime, t1)
				sameTime(t, "LatestScanTime updated", v.LatestScanTime, t2)
				if v.RiskLevel != "3" || v.FileSize != 41 {
					t.Errorf("rescan did not update fields: %+v", v)
				}
			case "/new":
				sameTime(t, "new FirstScanTime", v.FirstScanTime, t2)
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		p := must(s.QueryImageViruses(ctx(t), a.ID, empty.ID, store.ImageVirusQuery{Limit: 10}))(t)
		if len(p.Items) != 0 || p.Total != 0 {
			t.Errorf("image without findings: %d items, total %d", len(p.Items), p.Total)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := s.QueryImageViruses(ctx(t), a.ID, 1<<40, store.ImageVirusQuery{})
		wantErr(t, err, store.ErrNotFound, "QueryImageViruses(missing image)")
		wantErr(t, s.UpsertImageViruses(ctx(t), a.ID, 1<<40, nil), store.ErrNotFound, "UpsertImageViruses(missing image)")
		for name, v := range map[string]store.ImageVirus{
			"no path":  {VirusName: "v", LatestScanTime: t1},
			"no virus": {Path: "/p", LatestScanTime: t1},
			"no time":  {Path: "/p", VirusName: "v"},
		} {
			wantErr(t, s.UpsertImageViruses(ctx(t), a.ID, img.ID, []store.ImageVirus{v}), store.ErrInvalid, "UpsertImageViruses("+name+")")
		}
		_, err = s.QueryImageViruses(ctx(t), a.ID, img.ID, store.ImageVirusQuery{Offset: -1})
		wantErr(t, err, store.ErrInvalid, "QueryImageViruses(negative offset)")
	})
}
