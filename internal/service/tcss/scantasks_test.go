package tcss_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/spec"
	apitcss "github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/tcss"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

type schema struct{ *spec.Schema }

func (s schema) HasAction(name string) bool { _, ok := s.Action(name); return ok }

// keys maps SecretId → account; every SecretKey is "secret".
type keys map[string]int64

func (k keys) LookupKey(_ context.Context, id string) (server.Key, error) {
	acct, ok := k[id]
	if !ok {
		return server.Key{}, server.ErrKeyNotFound
	}
	return server.Key{SecretID: id, SecretKey: "secret", AccountID: acct, Role: server.RoleAdmin}, nil
}

type env struct {
	st       store.Store
	h        http.Handler
	exports  *export.Manager
	woken    int
	a, b     store.Account
	reg      store.Registry
	imgs     []store.RegistryImage // in account a: app:v1, app:v2 (latest), evil:v1
	download *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st}
	if e.a, err = st.CreateAccount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = st.CreateAccount(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = st.CreateRegistry(ctx, e.a.ID, store.Registry{Name: "r1", URL: "https://reg.example", Type: "harbor", InstanceID: "tcr-1"}); err != nil {
		t.Fatal(err)
	}
	for _, im := range []store.RegistryImage{
		{Namespace: "ns", Name: "app", Tag: "v1"}, {Namespace: "ns", Name: "app", Tag: "v2", IsLatest: true}, {Namespace: "other", Name: "evil", Tag: "v1", IsLatest: true},
	} {
		im.RegistryID = e.reg.ID
		img, err := st.UpsertRegistryImage(ctx, e.a.ID, im)
		if err != nil {
			t.Fatal(err)
		}
		e.imgs = append(e.imgs, img)
	}
	dl := http.NewServeMux()
	e.download = httptest.NewServer(dl)
	t.Cleanup(e.download.Close)
	e.exports, err = export.New(st, bytes.Repeat([]byte("s"), 32), export.WithPublicURL(e.download.URL))
	if err != nil {
		t.Fatal(err)
	}
	dl.Handle("GET /exports/", e.exports.Handler())
	mux := server.NewMux(schema{apitcss.Schema()})
	tcss.Register(mux, tcss.Deps{Store: st, WakeScans: func() { e.woken++ }, Exports: e.exports})
	e.h = server.New(mux, keys{"AKIDa": e.a.ID, "AKIDb": e.b.ID}).Handler(nil)
	return e
}

// call invokes action as SecretId id and returns the Response object.
func (e *env) call(t *testing.T, id, action string, req any) map[string]any {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "http://127.0.0.1:9750/", bytes.NewReader(body))
	r.Host = "127.0.0.1:9750"
	r.Header.Set("X-TC-Action", action)
	r.Header.Set("X-TC-Version", tcss.Version)
	r.Header.Set("X-TC-Language", "en-US")
	api.SignTC3(r, body, id, "secret", "tcss", time.Now())
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	var out struct{ Response map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: %v: %s", action, err, rec.Body)
	}
	return out.Response
}

func errCode(resp map[string]any) string {
	if e, ok := resp["Error"].(map[string]any); ok {
		return fmt.Sprint(e["Code"]) + ": " + fmt.Sprint(e["Message"])
	}
	return ""
}

func (e *env) targets(t *testing.T, taskID any) []store.ScanTarget {
	t.Helper()
	id := int64(taskID.(float64))
	ts, err := e.st.ListScanTargets(context.Background(), e.a.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestCreateScanTaskSelection(t *testing.T) {
	e := newEnv(t)
	ids := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, fmt.Sprint(e.imgs[i].ID))
		}
		return out
	}
	tests := []struct {
		name   string
		action string
		req    map[string]any
		want   []string // target ids, or nil with wantErr
		errHas string
	}{
		{"by id", "CreateAssetImageRegistryScanTask", map[string]any{"Id": []int64{e.imgs[1].ID}, "ScanType": []string{"CVE", "VIRUS", "RISK"}}, ids(1), ""},
		{"all", "CreateAssetImageRegistryScanTask", map[string]any{"All": true}, ids(0, 1, 2), ""},
		{"all excluding", "CreateAssetImageRegistryScanTask", map[string]any{"All": true, "ExcludeImageList": []int64{e.imgs[0].ID}}, ids(1, 2), ""},
		{"only latest", "CreateAssetImageRegistryScanTask", map[string]any{"All": true, "OnlyScanLatest": true}, ids(1, 2), ""},
		{"filters", "CreateAssetImageRegistryScanTask", map[string]any{"Filters": []map[string]any{{"Name": "ImageName", "Values": []string{"evil"}}}}, ids(2), ""},
		{"images", "CreateAssetImageRegistryScanTask", map[string]any{"Images": []map[string]any{{"InstanceName": "r1", "Namespace": "ns", "ImageName": "app", "ImageTag": "v1", "Force": "true"}}}, ids(0), ""},
		{"no match", "CreateAssetImageRegistryScanTask", map[string]any{"Filters": []map[string]any{{"Name": "ImageName", "Values": []string{"nothing"}}}}, nil, "InvalidParameterValue: No image is selected by `All/Filters`"},
		{"unknown id", "CreateAssetImageRegistryScanTask", map[string]any{"Id": []int64{999999}}, nil, "ResourceNotFound: Id \"999999\""},
		{"other account's id", "CreateAssetImageRegistryScanTask", map[string]any{"Id": []int64{e.imgs[0].ID}, "_as": "AKIDb"}, nil, "ResourceNotFound"},
		{"nothing chosen", "CreateAssetImageRegistryScanTask", map[string]any{}, nil, "MissingParameter"},
		{"official OneKey example's CVE+RISK still scans for malware", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"All": true, "ScanType": []string{"CVE", "RISK"}}, ids(0, 1, 2), ""},
		{"bad ScanType", "CreateAssetImageRegistryScanTask", map[string]any{"All": true, "ScanType": []string{"VIRUS", "X"}}, nil, "ScanType.1"},
		{"timeout too long", "CreateAssetImageRegistryScanTask", map[string]any{"All": true, "Timeout": 99999999}, nil, "Timeout"},
		{"unknown filter", "CreateAssetImageRegistryScanTask", map[string]any{"Filters": []map[string]any{{"Name": "Nope", "Values": []string{"x"}}}}, nil, "Filters.0.Name"},
		{"onekey all", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"All": true, "ScanType": []string{"VIRUS"}}, ids(0, 1, 2), ""},
		{"onekey namespace latest", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"Namespace": []string{"ns"}, "IsLatest": true}, ids(1), ""},
		{"onekey ids excluded", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"Id": []int64{e.imgs[0].ID, e.imgs[2].ID}, "ExcludeIDs": []int64{e.imgs[2].ID}}, ids(0), ""},
		{"onekey all excluded", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"Id": []int64{e.imgs[0].ID}, "ExcludeIDs": []int64{e.imgs[0].ID}}, nil, "after excluding 1 in `ExcludeIDs`"},
		{"onekey scope 1 without images", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"ScanScope": 1}, nil, "MissingParameter"},
		{"onekey registry type", "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"RegistryType": []string{"quay"}}, nil, "No image is selected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := "AKIDa"
			if v, ok := tc.req["_as"]; ok {
				as = v.(string)
				delete(tc.req, "_as")
			}
			woken := e.woken
			resp := e.call(t, as, tc.action, tc.req)
			if tc.errHas != "" {
				if got := errCode(resp); !strings.Contains(got, tc.errHas) {
					t.Fatalf("error %q, want it to contain %q", got, tc.errHas)
				}
				return
			}
			if got := errCode(resp); got != "" {
				t.Fatal(got)
			}
			var got []string
			for _, tg := range e.targets(t, resp["TaskID"]) {
				got = append(got, tg.TargetID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("targets %v, want %v", got, tc.want)
			}
			if e.woken != woken+1 {
				t.Error("the runner was not woken")
			}
		})
	}
}

func TestScanStatusAndStop(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// No task yet.
	resp := e.call(t, "AKIDa", "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{})
	if resp["Status"] != "SCAN_NONE" || resp["ImageTotal"] != 0.0 {
		t.Fatalf("no task: %v", resp)
	}
	resp = e.call(t, "AKIDa", "CreateAssetImageRegistryScanTask", map[string]any{"All": true})
	taskID := resp["TaskID"]
	id := int64(taskID.(float64))
	// Play the runner: first image scanned with a finding, second half done.
	if err := e.st.SetScanTaskStatus(ctx, e.a.ID, id, store.TaskRunning, ""); err != nil {
		t.Fatal(err)
	}
	ts := e.targets(t, taskID)
	now := time.Now()
	ts[0].Status, ts[0].RiskCount, ts[0].Progress, ts[0].StartedAt, ts[0].FinishedAt = store.TaskFinished, 2, 100, now, now
	ts[1].Status, ts[1].Progress, ts[1].StartedAt = store.TaskRunning, 50, now
	for _, tg := range ts[:2] {
		if err := e.st.UpdateScanTarget(ctx, e.a.ID, tg); err != nil {
			t.Fatal(err)
		}
	}
	resp = e.call(t, "AKIDa", "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{"Id": []int64{e.imgs[1].ID}})
	if errCode(resp) != "" {
		t.Fatal(errCode(resp))
	}
	if resp["Status"] != "SCANNING" || resp["ImageTotal"] != 3.0 || resp["ImageScanCnt"] != 1.0 || resp["RiskCount"] != 1.0 ||
		resp["SuccessCount"] != 0.0 || resp["Schedule"] != 50.0 {
		t.Errorf("status %v", resp)
	}
	list, _ := resp["ImageStatus"].([]any)
	if len(list) != 1 {
		t.Fatalf("ImageStatus %v", resp["ImageStatus"])
	}
	p := list[0].(map[string]any)
	if p["ImageId"] != fmt.Sprint(e.imgs[1].ID) || p["ImageTag"] != "v2" || p["InstanceName"] != "r1" || p["ScanStatus"] != "SCANNING" ||
		p["VirusProgress"] != 50.0 || p["RegistryType"] != "harbor" || p["ImageRepoAddress"] != "reg.example" {
		t.Errorf("ImageProgress %v", p)
	}
	resp = e.call(t, "AKIDa", "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{"All": true, "TaskID": taskID})
	if l, _ := resp["ImageStatus"].([]any); len(l) != 3 {
		t.Errorf("All: %d images", len(l))
	}
	// Another account sees neither the task nor its progress.
	if got := errCode(e.call(t, "AKIDb", "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{"TaskID": taskID})); !strings.HasPrefix(got, "ResourceNotFound") {
		t.Errorf("cross-account status: %q", got)
	}
	if got := errCode(e.call(t, "AKIDb", "ModifyAssetImageRegistryScanStop", map[string]any{"TaskID": taskID})); !strings.HasPrefix(got, "ResourceNotFound") {
		t.Errorf("cross-account stop: %q", got)
	}
	// Stop by image: the task scanning it stops.
	if got := errCode(e.call(t, "AKIDa", "ModifyAssetImageRegistryScanStop", map[string]any{"Id": []int64{e.imgs[2].ID}})); got != "" {
		t.Fatal(got)
	}
	task, _ := e.st.GetScanTask(ctx, e.a.ID, id)
	if task.Status != store.TaskStopped {
		t.Fatalf("task %+v", task)
	}
	resp = e.call(t, "AKIDa", "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{})
	if resp["Status"] != "SCAN_CANCELED" || resp["ImageScanCnt"] != 3.0 || resp["Schedule"] != 100.0 || resp["ScanRemainTime"] != 0.0 {
		t.Errorf("after stop: %v", resp)
	}
	// Stopping again is a no-op.
	if got := errCode(e.call(t, "AKIDa", "ModifyAssetImageRegistryScanStop", map[string]any{"TaskID": taskID})); got != "" {
		t.Errorf("second stop: %q", got)
	}
}
