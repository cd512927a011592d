package storetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// testImageScan covers the image-scanning contract (store/imagescan.go):
// registry administration, image sync and scans, scan tasks and their
// claims, the layer cache and export jobs.
func testImageScan(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	t.Run("RegistryAdmin", func(t *testing.T) { testRegistryAdmin(t, s, a, b) })
	t.Run("DeleteRegistry", func(t *testing.T) { testDeleteRegistry(t, s, a, b) })
	t.Run("SyncRegistryImages", func(t *testing.T) { testSyncRegistryImages(t, s, a, b) })
	t.Run("RecordImageScan", func(t *testing.T) { testRecordImageScan(t, s, a, b) })
	t.Run("QueryRegistryImages", func(t *testing.T) { testQueryRegistryImages(t, s) })
	t.Run("ScanTasks", func(t *testing.T) { testScanTasks(t, s, a, b) })
	t.Run("ClaimScanTask", func(t *testing.T) { testClaimScanTask(t, s, a, b) })
	t.Run("ClaimScanTaskConcurrent", func(t *testing.T) { testClaimConcurrent(t, s, a, b) })
	t.Run("LayerScans", func(t *testing.T) { testLayerScans(t, s) })
	t.Run("ExportJobs", func(t *testing.T) { testExportJobs(t, s, a, b) })
}

// sameJSONDoc reports whether two JSON documents are equal as values
// (PostgreSQL's JSONB does not keep the spelling).
func sameJSONDoc(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %q is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want %q is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func testRegistryAdmin(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	reg := must(s.CreateRegistry(c, a.ID, store.Registry{
		Name: "harbor", URL: "https://harbor.example.com", Type: "harbor", ConnectMsg: "ok", SyncStatus: "Success",
		SyncFailReason: "", LatestSyncTime: at(0), ConnDetectHosts: []string{"h-1"},
	}))(t)
	other := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "quay", URL: "https://quay.io", Type: "quay"}))(t)
	bReg := must(s.CreateRegistry(c, b.ID, store.Registry{Name: "b-reg", URL: "https://b.example.com", Type: "harbor"}))(t)

	t.Run("Update", func(t *testing.T) {
		time.Sleep(2 * time.Millisecond)
		u := store.Registry{
			ID: reg.ID, Name: "harbor-prod", URL: "https://harbor2.example.com", Type: "harbor", Username: "robot",
			PasswordEnc: []byte{1, 2, 3}, NetType: "private", Version: "V2", Region: "ap-beijing", InstanceID: "tcr-2",
			Insecure: true, SpeedLimit: 5, SyncMode: 1, NeedScan: true, WebhookURL: "https://hook", WebhookToken: "secret",
			ConnDetectHosts: []string{"h-2", "h-3"},
			// Sync state and times in the argument are ignored.
			ConnectMsg: "ignored", SyncStatus: "ignored", LatestSyncTime: at(time.Hour), CreatedAt: at(time.Hour),
		}
		got := must(s.UpdateRegistry(c, a.ID, u))(t)
		want := u
		want.AccountID = a.ID
		want.ConnectMsg, want.SyncStatus, want.SyncFailReason, want.LatestSyncTime = "ok", "Success", "", store.UTC(at(0))
		want.CreatedAt, want.UpdatedAt = reg.CreatedAt, got.UpdatedAt
		checkEqual(t, "UpdateRegistry", got, want)
		if !got.UpdatedAt.After(reg.UpdatedAt) {
			t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, reg.UpdatedAt)
		}
		checkEqual(t, "GetRegistry after update", must(s.GetRegistry(c, a.ID, reg.ID))(t), want)
	})
	t.Run("UpdateErrors", func(t *testing.T) {
		_, err := s.UpdateRegistry(c, a.ID, store.Registry{ID: reg.ID, Name: "quay", URL: "https://x"})
		wantErr(t, err, store.ErrConflict, "UpdateRegistry(name of another registry)")
		_, err = s.UpdateRegistry(c, a.ID, store.Registry{ID: reg.ID, URL: "https://x"})
		wantErr(t, err, store.ErrInvalid, "UpdateRegistry(no name)")
		_, err = s.UpdateRegistry(c, b.ID, store.Registry{ID: reg.ID, Name: "stolen", URL: "https://x"})
		wantErr(t, err, store.ErrNotFound, "UpdateRegistry(another account's)")
		_, err = s.UpdateRegistry(c, a.ID, store.Registry{ID: 1 << 40, Name: "x", URL: "https://x"})
		wantErr(t, err, store.ErrNotFound, "UpdateRegistry(missing)")
		// b may use a's names.
		must(s.UpdateRegistry(c, b.ID, store.Registry{ID: bReg.ID, Name: "quay", URL: "https://b.example.com", Type: "harbor"}))(t)
		if got := must(s.GetRegistry(c, a.ID, reg.ID))(t); got.Name != "harbor-prod" {
			t.Errorf("a's registry changed by failed updates: %+v", got)
		}
	})
	t.Run("SetRegistrySync", func(t *testing.T) {
		if err := s.SetRegistrySync(c, a.ID, reg.ID, store.RegistrySync{ConnectMsg: "timeout", SyncStatus: "Failed", SyncFailReason: "dial tcp"}); err != nil {
			t.Fatal(err)
		}
		got := must(s.GetRegistry(c, a.ID, reg.ID))(t)
		if got.ConnectMsg != "timeout" || got.SyncStatus != "Failed" || got.SyncFailReason != "dial tcp" || got.Name != "harbor-prod" {
			t.Errorf("after SetRegistrySync: %+v", got)
		}
		sameTime(t, "LatestSyncTime kept (zero given)", got.LatestSyncTime, at(0))
		if err := s.SetRegistrySync(c, a.ID, reg.ID, store.RegistrySync{SyncStatus: "Success", LatestSyncTime: at(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got = must(s.GetRegistry(c, a.ID, reg.ID))(t)
		sameTime(t, "LatestSyncTime", got.LatestSyncTime, at(2*time.Hour))
		if got.SyncFailReason != "" || got.ConnectMsg != "" {
			t.Errorf("sync state not replaced: %+v", got)
		}
		wantErr(t, s.SetRegistrySync(c, b.ID, reg.ID, store.RegistrySync{SyncStatus: "x"}), store.ErrNotFound, "SetRegistrySync(another account's)")
		wantErr(t, s.SetRegistrySync(c, a.ID, 1<<40, store.RegistrySync{}), store.ErrNotFound, "SetRegistrySync(missing)")
	})
	t.Run("GetRegistryForWebhook", func(t *testing.T) {
		got := must(s.GetRegistryForWebhook(c, reg.ID))(t)
		if got.AccountID != a.ID || got.WebhookToken != "secret" {
			t.Errorf("GetRegistryForWebhook = %+v", got)
		}
		checkEqual(t, "GetRegistryForWebhook", got, must(s.GetRegistry(c, a.ID, reg.ID))(t))
		if got := must(s.GetRegistryForWebhook(c, bReg.ID))(t); got.AccountID != b.ID {
			t.Errorf("b's registry: account %d", got.AccountID)
		}
		_, err := s.GetRegistryForWebhook(c, 1<<40)
		wantErr(t, err, store.ErrNotFound, "GetRegistryForWebhook(missing)")
	})
	t.Run("QueryRegistries", func(t *testing.T) {
		third := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "Jfrog_1", URL: "https://art.example.com", Type: "jfrog"}))(t)
		tests := []struct {
			name  string
			acct  int64
			q     store.RegistryQuery
			want  []int64
			total int64
		}{
			{"all by id", a.ID, store.RegistryQuery{}, []int64{reg.ID, other.ID, third.ID}, 3},
			{"desc", a.ID, store.RegistryQuery{Desc: true}, []int64{third.ID, other.ID, reg.ID}, 3},
			{"name substring folds case", a.ID, store.RegistryQuery{Names: store.TextFilter{Values: []string{"HARBOR", "jfrog"}}}, []int64{reg.ID, third.ID}, 2},
			{"name underscore literal", a.ID, store.RegistryQuery{Names: store.TextFilter{Values: []string{"g_"}}}, []int64{third.ID}, 1},
			{"name exact", a.ID, store.RegistryQuery{Names: store.TextFilter{Values: []string{"harbor"}, Exact: true}}, nil, 0},
			{"url", a.ID, store.RegistryQuery{URLs: store.TextFilter{Values: []string{"quay.io"}}}, []int64{other.ID}, 1},
			{"types", a.ID, store.RegistryQuery{Types: []string{"harbor", "jfrog"}}, []int64{reg.ID, third.ID}, 2},
			{"page", a.ID, store.RegistryQuery{Limit: 1, Offset: 1}, []int64{other.ID}, 3},
			{"past the end", a.ID, store.RegistryQuery{Limit: 2, Offset: 5}, nil, 3},
			{"other account", b.ID, store.RegistryQuery{Names: store.TextFilter{Values: []string{"harbor"}}}, nil, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := must(s.QueryRegistries(c, tt.acct, tt.q))(t)
				if got := ids(p.Items, func(r store.Registry) int64 { return r.ID }); !equalIDs(got, tt.want) || p.Total != tt.total {
					t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tt.want, tt.total)
				}
			})
		}
		_, err := s.QueryRegistries(c, a.ID, store.RegistryQuery{Limit: -1})
		wantErr(t, err, store.ErrInvalid, "QueryRegistries(negative limit)")
	})
}

func testDeleteRegistry(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	reg := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "doomed", URL: "https://doomed"}))(t)
	keep := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "kept", URL: "https://kept"}))(t)
	img := must(s.UpsertRegistryImage(c, a.ID, store.RegistryImage{RegistryID: reg.ID, Name: "app", Tag: "v1"}))(t)
	kept := must(s.UpsertRegistryImage(c, a.ID, store.RegistryImage{RegistryID: keep.ID, Name: "app", Tag: "v1"}))(t)
	for _, id := range []int64{img.ID, kept.ID} {
		if err := s.RecordImageScan(c, a.ID, id, store.ImageScanRecord{
			Digest: "sha256:d", ScanStatus: "SCANNED", ScanTime: at(0),
			Layers:  []store.ImageLayer{{Digest: "sha256:l1", Size: 10}},
			Viruses: []store.ImageVirus{{Path: "/x", VirusName: "Virus.Del"}},
		}); err != nil {
			t.Fatal(err)
		}
	}

	wantErr(t, s.DeleteRegistry(c, b.ID, reg.ID), store.ErrNotFound, "DeleteRegistry(another account's)")
	must(s.GetRegistry(c, a.ID, reg.ID))(t)
	if err := s.DeleteRegistry(c, a.ID, reg.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetRegistry(c, a.ID, reg.ID)
	wantErr(t, err, store.ErrNotFound, "GetRegistry(deleted)")
	_, err = s.GetRegistryImage(c, a.ID, img.ID)
	wantErr(t, err, store.ErrNotFound, "GetRegistryImage(of a deleted registry)")
	_, err = s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{})
	wantErr(t, err, store.ErrNotFound, "QueryImageViruses(of a deleted registry)")
	wantErr(t, s.DeleteRegistry(c, a.ID, reg.ID), store.ErrNotFound, "DeleteRegistry(twice)")

	// The other registry's image, its findings included, is untouched.
	if got := must(s.GetRegistryImage(c, a.ID, kept.ID))(t); got.VirusCount != 1 {
		t.Errorf("kept image: %+v", got)
	}
	if p := must(s.QueryImageViruses(c, a.ID, kept.ID, store.ImageVirusQuery{}))(t); p.Total != 1 {
		t.Errorf("kept image has %d findings, want 1", p.Total)
	}
}

func imageKey(img store.RegistryImage) string { return img.Namespace + "/" + img.Name + ":" + img.Tag }

func imagesByKey(t *testing.T, s store.Store, accountID, registryID int64) map[string]store.RegistryImage {
	t.Helper()
	p := must(s.QueryRegistryImages(ctx(t), accountID, store.RegistryImageQuery{RegistryIDs: []int64{registryID}}))(t)
	out := make(map[string]store.RegistryImage, len(p.Items))
	for _, img := range p.Items {
		out[imageKey(img)] = img
	}
	return out
}

func testSyncRegistryImages(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	reg := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "sync", URL: "https://sync"}))(t)
	listing := []store.RegistryImage{
		{Namespace: "library", Name: "nginx", Tag: "1.25", Digest: "sha256:n1", Size: 100, IsLatest: false},
		{Namespace: "library", Name: "nginx", Tag: "latest", Digest: "sha256:n2", Size: 120, IsLatest: true},
		{Namespace: "library", Name: "redis", Tag: "7", Digest: "sha256:r7", ImageCreateTime: at(-time.Hour)},
		// Scan state in a listing is not taken; RegistryID is the argument's.
		{RegistryID: 999, Namespace: "team", Name: "app", Tag: "v1", ScanStatus: "SCANNED", VirusCount: 3},
	}
	start := time.Now()
	res := must(s.SyncRegistryImages(c, a.ID, reg.ID, listing))(t)
	if res != (store.SyncResult{Added: 4}) {
		t.Errorf("first sync = %+v, want 4 added", res)
	}
	first := imagesByKey(t, s, a.ID, reg.ID)
	if len(first) != 4 {
		t.Fatalf("after first sync: %d images", len(first))
	}
	app := first["team/app:v1"]
	if app.RegistryID != reg.ID || app.RegistryName != "sync" || app.ScanStatus != "" || app.VirusCount != 0 || app.AccountID != a.ID {
		t.Errorf("synced image: %+v", app)
	}
	recent(t, "CreatedAt", app.CreatedAt, start)
	sameTime(t, "ImageCreateTime", first["library/redis:7"].ImageCreateTime, at(-time.Hour))
	if n := first["library/nginx:latest"]; !n.IsLatest || n.Size != 120 || n.Digest != "sha256:n2" {
		t.Errorf("nginx:latest = %+v", n)
	}

	// Scans resolve what a listing does not know.
	nginx := first["library/nginx:1.25"]
	redis := first["library/redis:7"]
	for _, img := range []store.RegistryImage{nginx, redis} {
		if err := s.RecordImageScan(c, a.ID, img.ID, store.ImageScanRecord{
			Digest: img.Digest, ImageID: "sha256:cfg-" + img.Name, OSName: "debian", Size: img.Size, ScanStatus: "SCANNED", ScanTime: at(0),
			Layers:  []store.ImageLayer{{Digest: "sha256:base", Size: 1}},
			Viruses: []store.ImageVirus{{Path: "/bin/x", VirusName: "Virus.Sync", RiskLevel: "3"}},
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Unchanged", func(t *testing.T) {
		res := must(s.SyncRegistryImages(c, a.ID, reg.ID, listing))(t)
		if res != (store.SyncResult{}) {
			t.Errorf("same listing again = %+v, want nothing changed", res)
		}
		got := imagesByKey(t, s, a.ID, reg.ID)
		for k, img := range first {
			if got[k].ID != img.ID {
				t.Errorf("%s: id %d, was %d", k, got[k].ID, img.ID)
			}
		}
		n := got["library/nginx:1.25"]
		if n.ScanStatus != "SCANNED" || n.ImageID != "sha256:cfg-nginx" || n.OSName != "debian" || n.VirusCount != 1 {
			t.Errorf("scan state or resolved metadata lost by a sync: %+v", n)
		}
	})

	t.Run("Changes", func(t *testing.T) {
		next := []store.RegistryImage{
			{Namespace: "library", Name: "nginx", Tag: "1.25", Digest: "sha256:n1-new", Size: 101}, // new digest: rescan
			{Namespace: "library", Name: "nginx", Tag: "latest", Digest: "sha256:n2", Size: 120, IsLatest: false},
			{Namespace: "team", Name: "app", Tag: "v1"}, // unchanged (nothing listed)
			{Namespace: "library", Name: "alpine", Tag: "3", Digest: "sha256:a3"},
			{Namespace: "library", Name: "alpine", Tag: "3", Digest: "sha256:a3-dup"}, // the last entry of a key wins
			// redis:7 is gone.
		}
		res := must(s.SyncRegistryImages(c, a.ID, reg.ID, next))(t)
		if res != (store.SyncResult{Added: 1, Updated: 2, Removed: 1}) {
			t.Errorf("sync = %+v, want 1 added, 2 updated, 1 removed", res)
		}
		got := imagesByKey(t, s, a.ID, reg.ID)
		if len(got) != 4 {
			t.Errorf("after sync: %d images, want 4", len(got))
		}
		n := got["library/nginx:1.25"]
		if n.ID != nginx.ID || n.Digest != "sha256:n1-new" || n.Size != 101 || n.ScanStatus != "" || n.ImageID != "" {
			t.Errorf("digest change: %+v (id was %d)", n, nginx.ID)
		}
		if l := got["library/nginx:latest"]; l.ID != first["library/nginx:latest"].ID || l.IsLatest {
			t.Errorf("nginx:latest = %+v", l)
		}
		if al := got["library/alpine:3"]; al.Digest != "sha256:a3-dup" {
			t.Errorf("alpine:3 digest %q", al.Digest)
		}
		if got["team/app:v1"].ID != app.ID {
			t.Errorf("app:v1 id changed")
		}
		_, err := s.GetRegistryImage(c, a.ID, redis.ID)
		wantErr(t, err, store.ErrNotFound, "GetRegistryImage(removed by sync)")
		_, err = s.QueryImageViruses(c, a.ID, redis.ID, store.ImageVirusQuery{})
		wantErr(t, err, store.ErrNotFound, "QueryImageViruses(removed by sync)")
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := s.SyncRegistryImages(c, b.ID, reg.ID, nil)
		wantErr(t, err, store.ErrNotFound, "SyncRegistryImages(another account's registry)")
		_, err = s.SyncRegistryImages(c, a.ID, 1<<40, nil)
		wantErr(t, err, store.ErrNotFound, "SyncRegistryImages(missing registry)")
		_, err = s.SyncRegistryImages(c, a.ID, reg.ID, []store.RegistryImage{{Tag: "no-name"}})
		wantErr(t, err, store.ErrInvalid, "SyncRegistryImages(no name)")
		if got := imagesByKey(t, s, a.ID, reg.ID); len(got) != 4 {
			t.Errorf("failed syncs changed the images: %d", len(got))
		}
	})

	t.Run("Empty", func(t *testing.T) {
		res := must(s.SyncRegistryImages(c, a.ID, reg.ID, nil))(t)
		if res != (store.SyncResult{Removed: 4}) {
			t.Errorf("empty listing = %+v, want 4 removed", res)
		}
	})
}

func testRecordImageScan(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	reg := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "rec", URL: "https://rec"}))(t)
	img := must(s.UpsertRegistryImage(c, a.ID, store.RegistryImage{RegistryID: reg.ID, Namespace: "ns", Name: "app", Tag: "v1", Digest: "sha256:old"}))(t)
	if err := s.UpsertThreats(c, []store.Threat{{Name: "Known.Trojan", Desc: store.Localized{EN: "known"}}}); err != nil {
		t.Fatal(err)
	}

	t1, t2 := at(0), at(24*time.Hour)
	rec := store.ImageScanRecord{
		Digest: "sha256:new", ImageID: "sha256:cfg", OSName: "alpine", Size: 5 << 20, ImageCreateTime: at(-48 * time.Hour),
		Layers:     []store.ImageLayer{{Digest: "sha256:l1", Size: 100}, {Digest: "sha256:l2", Size: 200}},
		ScanStatus: "SCANNED", ScanTime: t1,
		Viruses: []store.ImageVirus{
			{Path: "/bin/keep", VirusName: "Known.Trojan", RiskLevel: "4", FileMD5: "m1", LayerDigest: "sha256:l1"},
			{Path: "/bin/gone", VirusName: "Brand.New.Name", RiskLevel: "2"},
		},
	}
	if err := s.RecordImageScan(c, a.ID, img.ID, rec); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetRegistryImage(c, a.ID, img.ID))(t)
	want := img
	want.Digest, want.ImageID, want.OSName, want.Size, want.ImageCreateTime = "sha256:new", "sha256:cfg", "alpine", 5<<20, store.UTC(at(-48*time.Hour))
	want.ScanStatus, want.ScanTime, want.VirusCount, want.UpdatedAt = "SCANNED", store.UTC(t1), 2, got.UpdatedAt
	checkEqual(t, "image after RecordImageScan", got, want)
	p := must(s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{}))(t)
	if p.Total != 2 || p.Items[0].Path != "/bin/keep" || p.Items[0].Threat.Desc.EN != "known" || p.Items[1].VirusName != "Brand.New.Name" {
		t.Fatalf("findings: %+v", p)
	}
	sameTime(t, "LatestScanTime defaults to ScanTime", p.Items[0].LatestScanTime, t1)
	// A name the catalog lacked got a bare entry, as UpsertImageViruses does.
	must(s.GetThreat(c, "Brand.New.Name"))(t)

	t.Run("Rescan", func(t *testing.T) {
		r2 := store.ImageScanRecord{
			ScanStatus: "SCANNED", ScanTime: t2, ScanError: "partial",
			Layers: []store.ImageLayer{{Digest: "sha256:l3", Size: 1}},
			Viruses: []store.ImageVirus{
				{Path: "/bin/keep", VirusName: "Known.Trojan", RiskLevel: "3", FileMD5: "m2"},
				{Path: "/bin/added", VirusName: "Known.Trojan", RiskLevel: "1", LatestScanTime: t2},
			},
		}
		if err := s.RecordImageScan(c, a.ID, img.ID, r2); err != nil {
			t.Fatal(err)
		}
		got := must(s.GetRegistryImage(c, a.ID, img.ID))(t)
		// Metadata the record leaves empty is kept.
		if got.Digest != "sha256:new" || got.ImageID != "sha256:cfg" || got.Size != 5<<20 || got.ScanError != "partial" || got.VirusCount != 2 {
			t.Errorf("image after rescan: %+v", got)
		}
		sameTime(t, "ScanTime", got.ScanTime, t2)
		p := must(s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{}))(t)
		var paths []string
		for _, v := range p.Items {
			paths = append(paths, v.Path)
			switch v.Path {
			case "/bin/keep":
				sameTime(t, "kept finding FirstScanTime", v.FirstScanTime, t1)
				sameTime(t, "kept finding LatestScanTime", v.LatestScanTime, t2)
				if v.RiskLevel != "3" || v.FileMD5 != "m2" || v.LayerDigest != "" {
					t.Errorf("kept finding not updated: %+v", v)
				}
			case "/bin/added":
				sameTime(t, "new finding FirstScanTime", v.FirstScanTime, t2)
			}
		}
		if !slices.Equal(paths, []string{"/bin/keep", "/bin/added"}) {
			t.Errorf("findings after rescan: %v, want [/bin/keep /bin/added]", paths)
		}
	})

	t.Run("Clean", func(t *testing.T) {
		if err := s.RecordImageScan(c, a.ID, img.ID, store.ImageScanRecord{ScanStatus: "SCANNED", ScanTime: t2.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if got := must(s.GetRegistryImage(c, a.ID, img.ID))(t); got.VirusCount != 0 {
			t.Errorf("VirusCount = %d after a clean scan", got.VirusCount)
		}
		if p := must(s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{}))(t); p.Total != 0 {
			t.Errorf("%d findings after a clean scan", p.Total)
		}
	})

	t.Run("SetImageScanStatus", func(t *testing.T) {
		if err := s.RecordImageScan(c, a.ID, img.ID, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.SetImageScanStatus(c, a.ID, img.ID, "FAILED", "pull: 401"); err != nil {
			t.Fatal(err)
		}
		got := must(s.GetRegistryImage(c, a.ID, img.ID))(t)
		if got.ScanStatus != "FAILED" || got.ScanError != "pull: 401" || got.VirusCount != 2 {
			t.Errorf("after SetImageScanStatus: %+v", got)
		}
		sameTime(t, "ScanTime kept", got.ScanTime, t1)
		if p := must(s.QueryImageViruses(c, a.ID, img.ID, store.ImageVirusQuery{}))(t); p.Total != 2 {
			t.Errorf("SetImageScanStatus touched the findings: %d", p.Total)
		}
		wantErr(t, s.SetImageScanStatus(c, b.ID, img.ID, "SCANNING", ""), store.ErrNotFound, "SetImageScanStatus(another account's)")
		wantErr(t, s.SetImageScanStatus(c, a.ID, 1<<40, "SCANNING", ""), store.ErrNotFound, "SetImageScanStatus(missing)")
	})

	t.Run("Errors", func(t *testing.T) {
		wantErr(t, s.RecordImageScan(c, b.ID, img.ID, rec), store.ErrNotFound, "RecordImageScan(another account's)")
		wantErr(t, s.RecordImageScan(c, a.ID, 1<<40, rec), store.ErrNotFound, "RecordImageScan(missing)")
		noTime := rec
		noTime.ScanTime = time.Time{}
		wantErr(t, s.RecordImageScan(c, a.ID, img.ID, noTime), store.ErrInvalid, "RecordImageScan(no scan time)")
		noPath := rec
		noPath.Viruses = []store.ImageVirus{{VirusName: "x"}}
		wantErr(t, s.RecordImageScan(c, a.ID, img.ID, noPath), store.ErrInvalid, "RecordImageScan(finding without path)")
		noLayer := rec
		noLayer.Layers = []store.ImageLayer{{Size: 1}}
		wantErr(t, s.RecordImageScan(c, a.ID, img.ID, noLayer), store.ErrInvalid, "RecordImageScan(layer without digest)")
		if got := must(s.GetRegistryImage(c, a.ID, img.ID))(t); got.ScanStatus != "FAILED" {
			t.Errorf("a failed RecordImageScan changed the image: %+v", got)
		}
	})
}

func testQueryRegistryImages(t *testing.T, s store.Store) {
	c := ctx(t)
	// Accounts of their own: the query sees all of an account's images.
	a, b := newAccount(t, s, "query-a"), newAccount(t, s, "query-b")
	harbor := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "Harbor-Prod", URL: "https://h", Type: "harbor"}))(t)
	quay := must(s.CreateRegistry(c, a.ID, store.Registry{Name: "quay-dev", URL: "https://q", Type: "quay"}))(t)
	must(s.SyncRegistryImages(c, a.ID, harbor.ID, []store.RegistryImage{
		{Namespace: "library", Name: "nginx", Tag: "1.25", Digest: "sha256:n125", Size: 100},
		{Namespace: "library", Name: "nginx", Tag: "latest", Digest: "sha256:nlat", Size: 120, IsLatest: true, ImageCreateTime: at(-time.Hour)},
		{Namespace: "library", Name: "redis", Tag: "7", Digest: "sha256:r7", Size: 50, IsLatest: true, ImageCreateTime: at(-3 * time.Hour)},
		{Namespace: "team", Name: "app", Tag: "v1", Digest: "sha256:a1", Size: 300},
	}))(t)
	must(s.SyncRegistryImages(c, a.ID, quay.ID, []store.RegistryImage{
		{Namespace: "library", Name: "nginx", Tag: "1.24", Digest: "sha256:n124", Size: 90, ImageCreateTime: at(-2 * time.Hour)},
		{Namespace: "Team", Name: "App_X", Tag: "v2", Digest: "sha256:ax2", Size: 10, IsLatest: true},
	}))(t)
	bReg := must(s.CreateRegistry(c, b.ID, store.Registry{Name: "Harbor-Prod", URL: "https://h", Type: "harbor"}))(t)
	must(s.SyncRegistryImages(c, b.ID, bReg.ID, []store.RegistryImage{{Namespace: "library", Name: "nginx", Tag: "1.25"}}))(t)

	byKey := imagesByKey(t, s, a.ID, harbor.ID)
	for k, v := range imagesByKey(t, s, a.ID, quay.ID) {
		byKey[k] = v
	}
	scan := func(key string, at time.Time, viruses int) {
		t.Helper()
		r := store.ImageScanRecord{ScanStatus: "SCANNED", ScanTime: at}
		for i := range viruses {
			r.Viruses = append(r.Viruses, store.ImageVirus{Path: fmt.Sprintf("/v%d", i), VirusName: "Virus.Q"})
		}
		if err := s.RecordImageScan(c, a.ID, byKey[key].ID, r); err != nil {
			t.Fatal(err)
		}
	}
	scan("library/nginx:1.25", at(time.Hour), 2)
	scan("library/redis:7", at(0), 0)
	scan("Team/App_X:v2", at(2*time.Hour), 1)
	if err := s.SetImageScanStatus(c, a.ID, byKey["team/app:v1"].ID, "FAILED", "boom"); err != nil {
		t.Fatal(err)
	}
	all := must(s.QueryRegistryImages(c, a.ID, store.RegistryImageQuery{}))(t).Items
	if len(all) != 6 {
		t.Fatalf("QueryRegistryImages() = %d images, want 6", len(all))
	}
	for _, img := range all {
		want := map[int64]string{harbor.ID: "Harbor-Prod", quay.ID: "quay-dev"}[img.RegistryID]
		if img.RegistryName != want || img.AccountID != a.ID {
			t.Errorf("%s: RegistryName %q account %d", imageKey(img), img.RegistryName, img.AccountID)
		}
	}
	checkEqual(t, "queried image", all[0], must(s.GetRegistryImage(c, a.ID, all[0].ID))(t))

	id := func(key string) int64 { return byKey[key].ID }
	// model answers a query in Go from the images' stored fields.
	model := func(keep func(store.RegistryImage) bool, key func(store.RegistryImage) int, desc bool) []int64 {
		var out []store.RegistryImage
		for _, img := range all {
			if keep == nil || keep(img) {
				out = append(out, img)
			}
		}
		slices.SortFunc(out, func(x, y store.RegistryImage) int {
			r := 0
			if key != nil {
				r = key(x) - key(y)
			}
			if r == 0 {
				r = cmp.Compare(x.ID, y.ID)
			}
			if desc {
				r = -r
			}
			return r
		})
		return ids(out, func(i store.RegistryImage) int64 { return i.ID })
	}
	// rank turns a sort key into an int by its position among all images'.
	rank := func(f func(store.RegistryImage) string) func(store.RegistryImage) int {
		var keys []string
		for _, img := range all {
			keys = append(keys, f(img))
		}
		slices.Sort(keys)
		return func(img store.RegistryImage) int { i, _ := slices.BinarySearch(keys, f(img)); return i }
	}
	timeKey := func(f func(store.RegistryImage) time.Time) func(store.RegistryImage) int {
		return rank(func(img store.RegistryImage) string {
			if f(img).IsZero() { // unset sorts first ascending
				return ""
			}
			return fmt.Sprintf("%020d", f(img).UnixMicro())
		})
	}
	yes, no := true, false
	tf := func(exact bool, v ...string) store.TextFilter { return store.TextFilter{Values: v, Exact: exact} }

	tests := []struct {
		name  string
		q     store.RegistryImageQuery
		want  []int64
		total int64
	}{
		{"all", store.RegistryImageQuery{}, model(nil, nil, false), 6},
		{"ids", store.RegistryImageQuery{IDs: []int64{id("library/redis:7"), id("team/app:v1"), 1 << 40}},
			[]int64{id("library/redis:7"), id("team/app:v1")}, 2},
		{"exclude ids", store.RegistryImageQuery{ExcludeIDs: []int64{id("library/redis:7"), id("team/app:v1")}},
			model(func(i store.RegistryImage) bool { return i.Name != "redis" && i.Name != "app" }, nil, false), 4},
		{"registry ids", store.RegistryImageQuery{RegistryIDs: []int64{quay.ID}},
			model(func(i store.RegistryImage) bool { return i.RegistryID == quay.ID }, nil, false), 2},
		{"registry name folds case", store.RegistryImageQuery{RegistryNames: tf(false, "harbor")},
			model(func(i store.RegistryImage) bool { return i.RegistryID == harbor.ID }, nil, false), 4},
		{"registry name exact", store.RegistryImageQuery{RegistryNames: tf(true, "quay-dev")},
			model(func(i store.RegistryImage) bool { return i.RegistryID == quay.ID }, nil, false), 2},
		{"registry types", store.RegistryImageQuery{RegistryTypes: []string{"quay"}},
			model(func(i store.RegistryImage) bool { return i.RegistryID == quay.ID }, nil, false), 2},
		{"namespace", store.RegistryImageQuery{Namespaces: tf(true, "team")}, []int64{id("team/app:v1")}, 1},
		{"namespace folds case", store.RegistryImageQuery{Namespaces: tf(false, "TEAM")}, []int64{id("team/app:v1"), id("Team/App_X:v2")}, 2},
		{"name substring", store.RegistryImageQuery{Names: tf(false, "app")}, []int64{id("team/app:v1"), id("Team/App_X:v2")}, 2},
		{"name underscore literal", store.RegistryImageQuery{Names: tf(false, "p_")}, []int64{id("Team/App_X:v2")}, 1},
		{"names exact", store.RegistryImageQuery{Names: tf(true, "nginx", "redis")},
			model(func(i store.RegistryImage) bool { return i.Name == "nginx" || i.Name == "redis" }, nil, false), 4},
		{"tag", store.RegistryImageQuery{Tags: tf(false, "1.2")}, []int64{id("library/nginx:1.25"), id("library/nginx:1.24")}, 2},
		{"digest", store.RegistryImageQuery{Digests: tf(true, "sha256:r7")}, []int64{id("library/redis:7")}, 1},
		{"scan statuses", store.RegistryImageQuery{ScanStatuses: []string{"FAILED", ""}},
			[]int64{id("library/nginx:latest"), id("team/app:v1"), id("library/nginx:1.24")}, 3},
		{"only latest", store.RegistryImageQuery{OnlyLatest: true},
			model(func(i store.RegistryImage) bool { return i.IsLatest }, nil, false), 3},
		{"has virus", store.RegistryImageQuery{HasVirus: &yes}, []int64{id("library/nginx:1.25"), id("Team/App_X:v2")}, 2},
		{"has no virus", store.RegistryImageQuery{HasVirus: &no},
			model(func(i store.RegistryImage) bool { return i.VirusCount == 0 }, nil, false), 4},
		{"filters and", store.RegistryImageQuery{Names: tf(true, "nginx"), OnlyLatest: true, RegistryIDs: []int64{harbor.ID}},
			[]int64{id("library/nginx:latest")}, 1},
		{"page", store.RegistryImageQuery{Limit: 2, Offset: 2}, model(nil, nil, false)[2:4], 6},
		{"page desc", store.RegistryImageQuery{Desc: true, Limit: 4}, model(nil, nil, true)[:4], 6},
		{"past the end", store.RegistryImageQuery{Limit: 2, Offset: 10}, nil, 6},
		{"no match", store.RegistryImageQuery{Tags: tf(true, "nope"), Limit: 5}, nil, 0},
	}
	orders := []struct {
		name string
		o    store.ImageOrder
		key  func(store.RegistryImage) int
	}{
		{"id", store.ImageOrderByID, nil},
		{"name", store.ImageOrderByName, rank(func(i store.RegistryImage) string { return i.Name })},
		{"tag", store.ImageOrderByTag, rank(func(i store.RegistryImage) string { return i.Tag })},
		{"size", store.ImageOrderBySize, func(i store.RegistryImage) int { return int(i.Size) }},
		{"scan time", store.ImageOrderByScanTime, timeKey(func(i store.RegistryImage) time.Time { return i.ScanTime })},
		{"virus count", store.ImageOrderByVirusCount, func(i store.RegistryImage) int { return int(i.VirusCount) }},
		{"create time", store.ImageOrderByCreateTime, timeKey(func(i store.RegistryImage) time.Time { return i.ImageCreateTime })},
	}
	for _, o := range orders {
		for _, d := range []bool{false, true} {
			tests = append(tests, struct {
				name  string
				q     store.RegistryImageQuery
				want  []int64
				total int64
			}{fmt.Sprintf("order %s desc=%v", o.name, d), store.RegistryImageQuery{OrderBy: o.o, Desc: d}, model(nil, o.key, d), 6})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(s.QueryRegistryImages(c, a.ID, tt.q))(t)
			if got := ids(p.Items, func(i store.RegistryImage) int64 { return i.ID }); !equalIDs(got, tt.want) || p.Total != tt.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, p.Total, tt.want, tt.total)
			}
		})
	}
	t.Run("other account", func(t *testing.T) {
		p := must(s.QueryRegistryImages(c, b.ID, store.RegistryImageQuery{IDs: []int64{id("library/nginx:1.25")}}))(t)
		if len(p.Items) != 0 || p.Total != 0 {
			t.Errorf("b sees a's image: %+v", p)
		}
		p = must(s.QueryRegistryImages(c, b.ID, store.RegistryImageQuery{RegistryIDs: []int64{harbor.ID}}))(t)
		if len(p.Items) != 0 {
			t.Errorf("b sees a's registry's images: %+v", p)
		}
		if p := must(s.QueryRegistryImages(c, b.ID, store.RegistryImageQuery{}))(t); p.Total != 1 {
			t.Errorf("b has %d images, want 1", p.Total)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for name, q := range map[string]store.RegistryImageQuery{
			"order":  {OrderBy: store.ImageOrderByCreateTime + 1},
			"limit":  {Limit: -1},
			"offset": {Offset: -1},
		} {
			_, err := s.QueryRegistryImages(c, a.ID, q)
			wantErr(t, err, store.ErrInvalid, "QueryRegistryImages(bad "+name+")")
		}
	})
}

func testScanTasks(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	start := time.Now()
	targets := []store.ScanTarget{
		{Kind: "image", TargetID: "9"},
		{Kind: "image", TargetID: "10"},
		{Kind: "image", TargetID: "1", Status: store.TaskFinished, RiskCount: 4, Progress: 100},
	}
	task := must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: store.TaskRegistryImage, Params: []byte(`{"All": true, "Images": [1, 2]}`), TimeoutSecs: 3600}, targets))(t)
	if task.ID == 0 || task.AccountID != a.ID || task.Status != store.TaskPending || task.TargetTotal != 3 || task.TargetDone != 1 ||
		task.RiskCount != 4 || task.Owner != "" || !task.StartedAt.IsZero() || task.TimeoutSecs != 3600 {
		t.Errorf("CreateScanTask = %+v", task)
	}
	recent(t, "CreatedAt", task.CreatedAt, start)
	got := must(s.GetScanTask(c, a.ID, task.ID))(t)
	sameJSONDoc(t, "Params", got.Params, []byte(`{"All": true, "Images": [1, 2]}`))
	got.Params, task.Params = nil, nil
	checkEqual(t, "GetScanTask", got, task)

	t.Run("ListScanTargets", func(t *testing.T) {
		list := must(s.ListScanTargets(c, a.ID, task.ID))(t)
		var order []string
		for _, tg := range list {
			order = append(order, tg.TargetID)
			if tg.TaskID != task.ID || tg.Kind != "image" {
				t.Errorf("target %+v", tg)
			}
		}
		if !slices.Equal(order, []string{"9", "10", "1"}) {
			t.Errorf("targets in order %v, want insertion order [9 10 1]", order)
		}
		if list[0].Status != store.TaskPending || list[2].Status != store.TaskFinished || list[2].RiskCount != 4 {
			t.Errorf("targets: %+v", list)
		}
		_, err := s.ListScanTargets(c, b.ID, task.ID)
		wantErr(t, err, store.ErrNotFound, "ListScanTargets(another account's)")
	})

	t.Run("LatestScanTask", func(t *testing.T) {
		next := must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: store.TaskRegistryImage}, nil))(t)
		must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: store.TaskHostMalware}, nil))(t)
		must(s.CreateScanTask(c, b.ID, store.ScanTask{Kind: store.TaskRegistryImage}, nil))(t)
		if got := must(s.LatestScanTask(c, a.ID, store.TaskRegistryImage))(t); got.ID != next.ID {
			t.Errorf("LatestScanTask = %d, want %d", got.ID, next.ID)
		}
		sameJSONDoc(t, "default Params", next.Params, []byte(`{}`))
		_, err := s.LatestScanTask(c, a.ID, store.TaskContainerVirus)
		wantErr(t, err, store.ErrNotFound, "LatestScanTask(no task of the kind)")
		_, err = s.LatestScanTask(c, a.ID, "bogus")
		wantErr(t, err, store.ErrInvalid, "LatestScanTask(unknown kind)")
		_, err = s.GetScanTask(c, b.ID, task.ID)
		wantErr(t, err, store.ErrNotFound, "GetScanTask(another account's)")
	})

	t.Run("UpdateScanTarget", func(t *testing.T) {
		upd := store.ScanTarget{TaskID: task.ID, Kind: "image", TargetID: "9", Status: store.TaskFinished, Progress: 100, RiskCount: 2,
			StartedAt: at(0), FinishedAt: at(time.Minute)}
		if err := s.UpdateScanTarget(c, a.ID, upd); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateScanTarget(c, a.ID, store.ScanTarget{TaskID: task.ID, Kind: "image", TargetID: "10", Status: store.TaskRunning, Progress: 50, Error: "slow"}); err != nil {
			t.Fatal(err)
		}
		want := upd
		want.StartedAt, want.FinishedAt = store.UTC(upd.StartedAt), store.UTC(upd.FinishedAt)
		checkEqual(t, "updated target", must(s.ListScanTargets(c, a.ID, task.ID))(t)[0], want)
		got := must(s.GetScanTask(c, a.ID, task.ID))(t)
		if got.TargetDone != 2 || got.RiskCount != 6 || got.TargetTotal != 3 {
			t.Errorf("task counters after updates: done %d risks %d total %d, want 2 6 3", got.TargetDone, got.RiskCount, got.TargetTotal)
		}
		wantErr(t, s.UpdateScanTarget(c, b.ID, upd), store.ErrNotFound, "UpdateScanTarget(another account's)")
		missing := upd
		missing.TargetID = "404"
		wantErr(t, s.UpdateScanTarget(c, a.ID, missing), store.ErrNotFound, "UpdateScanTarget(missing)")
		bad := upd
		bad.Progress = 101
		wantErr(t, s.UpdateScanTarget(c, a.ID, bad), store.ErrInvalid, "UpdateScanTarget(progress 101)")
		bad = upd
		bad.Status = "DONE"
		wantErr(t, s.UpdateScanTarget(c, a.ID, bad), store.ErrInvalid, "UpdateScanTarget(unknown status)")
	})

	t.Run("SetScanTaskStatus", func(t *testing.T) {
		before := time.Now()
		if err := s.SetScanTaskStatus(c, a.ID, task.ID, store.TaskRunning, ""); err != nil {
			t.Fatal(err)
		}
		running := must(s.GetScanTask(c, a.ID, task.ID))(t)
		if running.Status != store.TaskRunning || !running.FinishedAt.IsZero() {
			t.Errorf("running task: %+v", running)
		}
		recent(t, "StartedAt", running.StartedAt, before)
		time.Sleep(2 * time.Millisecond)
		if err := s.SetScanTaskStatus(c, a.ID, task.ID, store.TaskRunning, ""); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "StartedAt kept", must(s.GetScanTask(c, a.ID, task.ID))(t).StartedAt, running.StartedAt)

		wantErr(t, s.SetScanTaskStatus(c, b.ID, task.ID, store.TaskStopped, ""), store.ErrNotFound, "SetScanTaskStatus(another account's)")
		wantErr(t, s.SetScanTaskStatus(c, a.ID, 1<<40, store.TaskStopped, ""), store.ErrNotFound, "SetScanTaskStatus(missing)")
		wantErr(t, s.SetScanTaskStatus(c, a.ID, task.ID, "DONE", ""), store.ErrInvalid, "SetScanTaskStatus(unknown status)")

		if err := s.SetScanTaskStatus(c, a.ID, task.ID, store.TaskStopped, "stopped by user"); err != nil {
			t.Fatal(err)
		}
		done := must(s.GetScanTask(c, a.ID, task.ID))(t)
		if done.Status != store.TaskStopped || done.Error != "stopped by user" || done.TargetDone != 3 || done.RiskCount != 6 || done.Owner != "" {
			t.Errorf("stopped task: %+v", done)
		}
		recent(t, "FinishedAt", done.FinishedAt, before)
		sameTime(t, "StartedAt kept when final", done.StartedAt, running.StartedAt)
		var statuses []string
		for _, tg := range must(s.ListScanTargets(c, a.ID, task.ID))(t) {
			statuses = append(statuses, tg.Status)
			if tg.Status == store.TaskStopped && tg.FinishedAt.IsZero() {
				t.Errorf("target %s has no FinishedAt", tg.TargetID)
			}
		}
		// The finished target stays finished; the others are stopped with the task.
		if want := []string{store.TaskFinished, store.TaskStopped, store.TaskFinished}; !slices.Equal(statuses, want) {
			t.Errorf("target statuses %v, want %v", statuses, want)
		}
		wantErr(t, s.SetScanTaskStatus(c, a.ID, task.ID, store.TaskRunning, ""), store.ErrConflict, "SetScanTaskStatus(already final)")
		wantErr(t, s.SetScanTaskStatus(c, a.ID, task.ID, store.TaskFinished, ""), store.ErrConflict, "SetScanTaskStatus(final again)")
	})

	t.Run("Errors", func(t *testing.T) {
		for name, tc := range map[string]struct {
			t       store.ScanTask
			targets []store.ScanTarget
		}{
			"unknown kind":      {store.ScanTask{Kind: "bogus"}, nil},
			"unknown status":    {store.ScanTask{Kind: store.TaskHostMalware, Status: "DONE"}, nil},
			"bad params":        {store.ScanTask{Kind: store.TaskHostMalware, Params: []byte("{nope")}, nil},
			"negative timeout":  {store.ScanTask{Kind: store.TaskHostMalware, TimeoutSecs: -1}, nil},
			"target kind":       {store.ScanTask{Kind: store.TaskHostMalware}, []store.ScanTarget{{Kind: "vm", TargetID: "x"}}},
			"target id":         {store.ScanTask{Kind: store.TaskHostMalware}, []store.ScanTarget{{Kind: "host"}}},
			"duplicate target":  {store.ScanTask{Kind: store.TaskHostMalware}, []store.ScanTarget{{Kind: "host", TargetID: "h"}, {Kind: "host", TargetID: "h"}}},
			"target progress":   {store.ScanTask{Kind: store.TaskHostMalware}, []store.ScanTarget{{Kind: "host", TargetID: "h", Progress: -1}}},
			"target risk count": {store.ScanTask{Kind: store.TaskHostMalware}, []store.ScanTarget{{Kind: "host", TargetID: "h", RiskCount: -1}}},
		} {
			_, err := s.CreateScanTask(c, a.ID, tc.t, tc.targets)
			wantErr(t, err, store.ErrInvalid, "CreateScanTask("+name+")")
		}
		_, err := s.CreateScanTask(c, b.ID+1000, store.ScanTask{Kind: store.TaskHostMalware}, nil)
		wantErr(t, err, store.ErrNotFound, "CreateScanTask(unknown account)")
	})
}

func testClaimScanTask(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	kind := store.TaskHostMalware
	drainTasks(t, s, kind)
	// Tasks of other kinds, and final ones, are never claimed.
	must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: store.TaskContainerVirus}, nil))(t)
	must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: kind, Status: store.TaskFinished}, nil))(t)
	first := must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: kind}, []store.ScanTarget{{Kind: "host", TargetID: "h1"}}))(t)
	second := must(s.CreateScanTask(c, b.ID, store.ScanTask{Kind: kind}, nil))(t)

	before := time.Now()
	got, ok, err := s.ClaimScanTask(c, kind, "server-1", time.Hour)
	if err != nil || !ok {
		t.Fatalf("ClaimScanTask = %v, %v", ok, err)
	}
	if got.ID != first.ID || got.AccountID != a.ID || got.Status != store.TaskRunning || got.Owner != "server-1" || got.TargetTotal != 1 {
		t.Errorf("claimed %+v, want task %d running for server-1", got, first.ID)
	}
	recent(t, "StartedAt", got.StartedAt, before)
	if d := got.LeaseUntil.Sub(got.StartedAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("LeaseUntil %v is %v after the claim, want an hour", got.LeaseUntil, d)
	}
	checkEqual(t, "claimed task", must(s.GetScanTask(c, a.ID, first.ID))(t), got)

	// Claiming is across accounts: the next one is b's.
	got2, ok, err := s.ClaimScanTask(c, kind, "server-2", time.Hour)
	if err != nil || !ok || got2.ID != second.ID || got2.AccountID != b.ID {
		t.Fatalf("second claim = %+v, %v, %v; want b's task %d", got2, ok, err, second.ID)
	}
	if _, ok, err := s.ClaimScanTask(c, kind, "server-3", time.Hour); err != nil || ok {
		t.Errorf("third claim = %v, %v; want none available", ok, err)
	}

	t.Run("Renew", func(t *testing.T) {
		if err := s.RenewScanTask(c, first.ID, "server-1", 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		renewed := must(s.GetScanTask(c, a.ID, first.ID))(t)
		if !renewed.LeaseUntil.After(got.LeaseUntil) {
			t.Errorf("lease %v not extended past %v", renewed.LeaseUntil, got.LeaseUntil)
		}
		wantErr(t, s.RenewScanTask(c, first.ID, "server-2", time.Hour), store.ErrConflict, "RenewScanTask(not the owner)")
		wantErr(t, s.RenewScanTask(c, 1<<40, "server-1", time.Hour), store.ErrNotFound, "RenewScanTask(missing)")
		wantErr(t, s.RenewScanTask(c, first.ID, "", time.Hour), store.ErrInvalid, "RenewScanTask(no owner)")
		wantErr(t, s.RenewScanTask(c, first.ID, "server-1", 0), store.ErrInvalid, "RenewScanTask(no lease)")
	})

	t.Run("LeaseExpiry", func(t *testing.T) {
		drainTasks(t, s, store.TaskContainerVirus)
		task := must(s.CreateScanTask(c, a.ID, store.ScanTask{Kind: store.TaskContainerVirus}, nil))(t)
		if cl, ok, err := s.ClaimScanTask(c, store.TaskContainerVirus, "crashy", 50*time.Millisecond); err != nil || !ok || cl.ID != task.ID {
			t.Fatalf("claim = %+v, %v, %v", cl, ok, err)
		}
		claimed := must(s.GetScanTask(c, a.ID, task.ID))(t)
		if _, ok, _ := s.ClaimScanTask(c, store.TaskContainerVirus, "rescuer", time.Hour); ok {
			t.Fatal("a task under a live lease was claimed again")
		}
		time.Sleep(120 * time.Millisecond)
		took, ok, err := s.ClaimScanTask(c, store.TaskContainerVirus, "rescuer", time.Hour)
		if err != nil || !ok || took.ID != task.ID || took.Owner != "rescuer" || took.Status != store.TaskRunning {
			t.Fatalf("claim after expiry = %+v, %v, %v", took, ok, err)
		}
		sameTime(t, "StartedAt kept by a takeover", took.StartedAt, claimed.StartedAt)
		wantErr(t, s.RenewScanTask(c, task.ID, "crashy", time.Hour), store.ErrConflict, "RenewScanTask(lease taken over)")
		if err := s.RenewScanTask(c, task.ID, "rescuer", time.Hour); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FinalReleases", func(t *testing.T) {
		if err := s.SetScanTaskStatus(c, a.ID, first.ID, store.TaskFinished, ""); err != nil {
			t.Fatal(err)
		}
		done := must(s.GetScanTask(c, a.ID, first.ID))(t)
		if done.Owner != "" || !done.LeaseUntil.IsZero() {
			t.Errorf("final task still claimed: owner %q lease %v", done.Owner, done.LeaseUntil)
		}
		wantErr(t, s.RenewScanTask(c, first.ID, "server-1", time.Hour), store.ErrConflict, "RenewScanTask(final task)")
	})

	t.Run("Invalid", func(t *testing.T) {
		_, _, err := s.ClaimScanTask(c, kind, "", time.Hour)
		wantErr(t, err, store.ErrInvalid, "ClaimScanTask(no owner)")
		_, _, err = s.ClaimScanTask(c, kind, "x", 0)
		wantErr(t, err, store.ErrInvalid, "ClaimScanTask(no lease)")
		_, _, err = s.ClaimScanTask(c, "bogus", "x", time.Hour)
		wantErr(t, err, store.ErrInvalid, "ClaimScanTask(unknown kind)")
	})
}

// drainTasks finishes every claimable task of kind left by earlier tests
// sharing the store.
func drainTasks(t *testing.T, s store.Store, kind store.ScanTaskKind) {
	t.Helper()
	for {
		cl, ok, err := s.ClaimScanTask(ctx(t), kind, "drain", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if err := s.SetScanTaskStatus(ctx(t), cl.AccountID, cl.ID, store.TaskFinished, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// testClaimConcurrent lets several servers (goroutines) race for the same
// tasks: each task goes to exactly one of them.
func testClaimConcurrent(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	const tasks, workers = 30, 8
	drainTasks(t, s, store.TaskRegistryImage)
	want := map[int64]bool{}
	for i := range tasks {
		acct := []int64{a.ID, b.ID}[i%2]
		want[must(s.CreateScanTask(c, acct, store.ScanTask{Kind: store.TaskRegistryImage}, nil))(t).ID] = true
	}

	var (
		mu     sync.Mutex
		owners = map[int64][]string{}
		wg     sync.WaitGroup
		errs   = make([]error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			owner := fmt.Sprintf("server-%d", w)
			for {
				task, ok, err := s.ClaimScanTask(c, store.TaskRegistryImage, owner, time.Hour)
				if err != nil {
					errs[w] = err
					return
				}
				if !ok {
					return
				}
				if task.Owner != owner {
					errs[w] = fmt.Errorf("claimed task %d has owner %q", task.ID, task.Owner)
					return
				}
				mu.Lock()
				owners[task.ID] = append(owners[task.ID], owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	per := map[string]int{}
	for id, who := range owners {
		if !want[id] {
			t.Errorf("claimed task %d, not one of this test's", id)
		}
		if len(who) != 1 {
			t.Errorf("task %d claimed by %v", id, who)
		}
		per[who[0]]++
	}
	if len(owners) != tasks {
		t.Errorf("%d of %d tasks claimed", len(owners), tasks)
	}
	t.Logf("claims per server: %v", per)
	for id := range want {
		task, err := s.GetScanTask(c, a.ID, id)
		if err != nil {
			task = must(s.GetScanTask(c, b.ID, id))(t)
		}
		if task.Status != store.TaskRunning || task.Owner != owners[id][0] {
			t.Errorf("task %d: status %s owner %q, claimed by %v", id, task.Status, task.Owner, owners[id])
		}
	}
}

func testLayerScans(t *testing.T, s store.Store) {
	c := ctx(t)
	ls := store.LayerScan{
		LayerDigest: "sha256:layer", EngineVersion: "1.0", RulesetVersion: "r1", ScannedAt: at(0),
		FileCount: 120, BytesScanned: 1 << 20, Findings: []byte(`[{"path":"/bin/x","virus":"V"}]`),
	}
	if err := s.PutLayerScan(c, ls); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetLayerScan(c, "sha256:layer", "1.0", "r1"))(t)
	sameJSONDoc(t, "Findings", got.Findings, ls.Findings)
	want := ls
	want.ScannedAt = store.UTC(ls.ScannedAt)
	got.Findings, want.Findings = nil, nil
	checkEqual(t, "GetLayerScan", got, want)

	// Another rule-set version is another entry.
	_, err := s.GetLayerScan(c, "sha256:layer", "1.0", "r2")
	wantErr(t, err, store.ErrNotFound, "GetLayerScan(other ruleset)")
	_, err = s.GetLayerScan(c, "sha256:layer", "2.0", "r1")
	wantErr(t, err, store.ErrNotFound, "GetLayerScan(other engine)")

	start := time.Now()
	if err := s.PutLayerScan(c, store.LayerScan{LayerDigest: "sha256:layer", EngineVersion: "1.0", RulesetVersion: "r1", FileCount: 7}); err != nil {
		t.Fatal(err)
	}
	got = must(s.GetLayerScan(c, "sha256:layer", "1.0", "r1"))(t)
	if got.FileCount != 7 || got.BytesScanned != 0 {
		t.Errorf("replaced entry: %+v", got)
	}
	sameJSONDoc(t, "default Findings", got.Findings, []byte(`[]`))
	recent(t, "default ScannedAt", got.ScannedAt, start)

	wantErr(t, s.PutLayerScan(c, store.LayerScan{EngineVersion: "1"}), store.ErrInvalid, "PutLayerScan(no digest)")
	wantErr(t, s.PutLayerScan(c, store.LayerScan{LayerDigest: "d", Findings: []byte("[")}), store.ErrInvalid, "PutLayerScan(bad JSON)")
	wantErr(t, s.PutLayerScan(c, store.LayerScan{LayerDigest: "d", FileCount: -1}), store.ErrInvalid, "PutLayerScan(negative count)")
}

func testExportJobs(t *testing.T, s store.Store, a, b store.Account) {
	c := ctx(t)
	start := time.Now()
	job := must(s.CreateExportJob(c, a.ID, store.ExportJob{ID: "job-1", Kind: "image_virus", Params: []byte(`{"ImageId": 7}`)}))(t)
	if job.AccountID != a.ID || job.Status != store.ExportPending || job.Progress != 0 {
		t.Errorf("CreateExportJob = %+v", job)
	}
	recent(t, "CreatedAt", job.CreatedAt, start)
	got := must(s.GetExportJob(c, a.ID, "job-1"))(t)
	sameJSONDoc(t, "Params", got.Params, job.Params)
	got.Params = nil
	want := job
	want.Params = nil
	checkEqual(t, "GetExportJob", got, want)

	content := append([]byte("PK\x03\x04"), 0, 0xff, 0xfe, '\n', 0)
	upd := job
	upd.Status, upd.Progress, upd.FileName, upd.ContentType, upd.Content = store.ExportSuccess, 100, "viruses.xlsx", "application/vnd.ms-excel", content
	upd.FinishedAt, upd.ExpiresAt = at(0), at(time.Hour)
	upd.Kind, upd.CreatedAt = "ignored", at(-time.Hour) // not updatable
	if err := s.UpdateExportJob(c, a.ID, upd); err != nil {
		t.Fatal(err)
	}
	got = must(s.GetExportJob(c, a.ID, "job-1"))(t)
	if !bytes.Equal(got.Content, content) || got.Status != store.ExportSuccess || got.Progress != 100 ||
		got.FileName != "viruses.xlsx" || got.ContentType != "application/vnd.ms-excel" || got.Kind != "image_virus" {
		t.Errorf("updated job: %+v", got)
	}
	sameTime(t, "CreatedAt kept", got.CreatedAt, job.CreatedAt)
	sameTime(t, "FinishedAt", got.FinishedAt, at(0))
	sameTime(t, "ExpiresAt", got.ExpiresAt, at(time.Hour))

	t.Run("Errors", func(t *testing.T) {
		_, err := s.GetExportJob(c, b.ID, "job-1")
		wantErr(t, err, store.ErrNotFound, "GetExportJob(another account's)")
		wantErr(t, s.UpdateExportJob(c, b.ID, upd), store.ErrNotFound, "UpdateExportJob(another account's)")
		missing := upd
		missing.ID = "job-404"
		wantErr(t, s.UpdateExportJob(c, a.ID, missing), store.ErrNotFound, "UpdateExportJob(missing)")
		_, err = s.CreateExportJob(c, a.ID, store.ExportJob{ID: "job-1", Kind: "x"})
		wantErr(t, err, store.ErrConflict, "CreateExportJob(duplicate id)")
		_, err = s.CreateExportJob(c, b.ID, store.ExportJob{ID: "job-1", Kind: "x"})
		wantErr(t, err, store.ErrConflict, "CreateExportJob(id of another account's job)")
		_, err = s.CreateExportJob(c, a.ID, store.ExportJob{Kind: "x"})
		wantErr(t, err, store.ErrInvalid, "CreateExportJob(no id)")
		_, err = s.CreateExportJob(c, a.ID, store.ExportJob{ID: "j", Kind: "x", Status: "DONE"})
		wantErr(t, err, store.ErrInvalid, "CreateExportJob(unknown status)")
		_, err = s.CreateExportJob(c, b.ID+1000, store.ExportJob{ID: "j", Kind: "x"})
		wantErr(t, err, store.ErrNotFound, "CreateExportJob(unknown account)")
		bad := upd
		bad.Progress = 101
		wantErr(t, s.UpdateExportJob(c, a.ID, bad), store.ErrInvalid, "UpdateExportJob(progress 101)")
		if got := must(s.GetExportJob(c, a.ID, "job-1"))(t); !bytes.Equal(got.Content, content) {
			t.Errorf("failed updates changed the job")
		}
	})

	t.Run("DeleteExpired", func(t *testing.T) {
		now := at(2 * time.Hour)
		for _, j := range []struct {
			acct    int64
			id      string
			expires time.Time
		}{
			{a.ID, "old-a", now.Add(-time.Minute)},
			{b.ID, "old-b", now.Add(-time.Hour)},
			{b.ID, "fresh-b", now.Add(time.Minute)},
			{a.ID, "forever", time.Time{}},
		} {
			must(s.CreateExportJob(c, j.acct, store.ExportJob{ID: j.id, Kind: "x", ExpiresAt: j.expires}))(t)
		}
		// job-1 expired at at(time.Hour) too.
		if n := must(s.DeleteExpiredExportJobs(c, now))(t); n != 3 {
			t.Errorf("DeleteExpiredExportJobs = %d, want 3", n)
		}
		for _, j := range []struct {
			acct int64
			id   string
			gone bool
		}{{a.ID, "job-1", true}, {a.ID, "old-a", true}, {b.ID, "old-b", true}, {b.ID, "fresh-b", false}, {a.ID, "forever", false}} {
			_, err := s.GetExportJob(c, j.acct, j.id)
			if j.gone {
				wantErr(t, err, store.ErrNotFound, "GetExportJob(expired "+j.id+")")
			} else if err != nil {
				t.Errorf("GetExportJob(%s): %v", j.id, err)
			}
		}
		if n := must(s.DeleteExpiredExportJobs(c, now))(t); n != 0 {
			t.Errorf("second DeleteExpiredExportJobs = %d, want 0", n)
		}
	})
}
