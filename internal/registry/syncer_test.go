package registry

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

type fixture struct {
	st      store.Store
	box     *secrets.Box
	account store.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, box: box, account: a}
}

func (f *fixture) addRegistry(t *testing.T, r store.Registry, password string) store.Registry {
	t.Helper()
	r.AccountID = f.account.ID
	enc, err := SealPassword(f.box, r, password)
	if err != nil {
		t.Fatal(err)
	}
	r.PasswordEnc = enc
	if r.Type == "" {
		r.Type = "other"
	}
	created, err := f.st.CreateRegistry(t.Context(), f.account.ID, r)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func (f *fixture) images(t *testing.T, registryID int64) map[string]store.RegistryImage {
	t.Helper()
	p, err := f.st.QueryRegistryImages(t.Context(), f.account.ID, store.RegistryImageQuery{RegistryIDs: []int64{registryID}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.RegistryImage{}
	for _, img := range p.Items {
		out[Repository(img.Namespace, img.Name)+":"+img.Tag] = img
	}
	return out
}

func TestSyncer(t *testing.T) {
	f := newFixture(t)
	tr := newTestRegistry(t, "alice", "s3cret")
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	tr.push(t, "library/nginx", "latest", base)
	tr.push(t, "library/nginx", "1.25", base.Add(time.Hour))
	tr.push(t, "tools", "v1", base)
	tr.push(t, "tools", "v2", base.Add(2*time.Hour))
	reg := f.addRegistry(t, store.Registry{Name: "local", URL: "http://" + tr.host, Username: "alice", NetType: "public"}, "s3cret")

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewSyncer(f.st, f.box, New(), WithSyncClock(func() time.Time { return now }))
	defer s.Close()
	res, err := s.Sync(t.Context(), f.account.ID, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 4 {
		t.Fatalf("sync result %+v, want 4 added", res)
	}
	imgs := f.images(t, reg.ID)
	for key, latest := range map[string]bool{"library/nginx:latest": true, "library/nginx:1.25": false, "tools:v1": false, "tools:v2": true} {
		img, ok := imgs[key]
		if !ok {
			t.Fatalf("%s missing: %v", key, imgs)
		}
		if img.IsLatest != latest || img.Digest == "" || img.OSName != "linux" {
			t.Errorf("%s: %+v", key, img)
		}
	}
	if imgs["library/nginx:latest"].Namespace != "library" || imgs["tools:v1"].Namespace != "" {
		t.Fatalf("namespace split: %+v", imgs)
	}
	got, _ := f.st.GetRegistry(t.Context(), f.account.ID, reg.ID)
	if got.SyncStatus != SyncSuccess || !got.LatestSyncTime.Equal(now) || got.SyncFailReason != "" {
		t.Fatalf("after sync: status %q at %v reason %q", got.SyncStatus, got.LatestSyncTime, got.SyncFailReason)
	}

	// A deleted tag disappears at the next sync; the others keep their ids.
	ref, _ := name.ParseReference(tr.host + "/tools:v1")
	if err := remote.Delete(ref, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	res, err = s.Sync(t.Context(), f.account.ID, reg.ID)
	if err != nil || res.Removed != 1 {
		t.Fatalf("resync: %+v, %v", res, err)
	}
	after := f.images(t, reg.ID)
	if _, ok := after["tools:v1"]; ok || after["tools:v2"].ID != imgs["tools:v2"].ID {
		t.Fatalf("after delete: %v", after)
	}

	// Wrong credentials: failed with the reason, the images stay.
	tr.pass = "rotated"
	if _, err := s.Sync(t.Context(), f.account.ID, reg.ID); err == nil {
		t.Fatal("sync with rotated password succeeded")
	}
	got, _ = f.st.GetRegistry(t.Context(), f.account.ID, reg.ID)
	if got.SyncStatus != SyncFailed || !strings.Contains(got.SyncFailReason, "credentials rejected") || !got.LatestSyncTime.Equal(now) {
		t.Fatalf("after failure: %q %q %v", got.SyncStatus, got.SyncFailReason, got.LatestSyncTime)
	}
	if len(f.images(t, reg.ID)) != 3 {
		t.Fatal("a failed sync removed images")
	}
	tr.pass = "s3cret"

	// Background syncs of one registry coalesce and end by Close.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { s.Go(f.account.ID, reg.ID) })
	}
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _ = f.st.GetRegistry(t.Context(), f.account.ID, reg.ID)
		if got.SyncStatus == SyncSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after background syncs: %q %q", got.SyncStatus, got.SyncFailReason)
		}
	}
	s.Close()
	s.Go(f.account.ID, reg.ID) // after Close: a no-op, not a panic or a leak
	if _, err := s.Sync(t.Context(), f.account.ID, 999999); err == nil {
		t.Fatal("sync of an unknown registry succeeded")
	}
}

func TestWebhook(t *testing.T) {
	f := newFixture(t)
	reg := f.addRegistry(t, store.Registry{Name: "hub", URL: "https://hub.example.com", NetType: "public", WebhookToken: "tok-123"}, "")
	noToken := f.addRegistry(t, store.Registry{Name: "quiet", URL: "https://quiet.example.com", NetType: "public"}, "")
	var wakes atomic.Int64
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, NewWebhookHandler(f.st, func() { wakes.Add(1) }, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	post := func(id int64, auth, contentType string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/registry/"+strconv.FormatInt(id, 10), bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	const distType = "application/vnd.docker.distribution.events.v1+json"
	d1, d2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	dist := func(digest string) []byte {
		return []byte(`{"events":[
		 {"id":"1","action":"push","target":{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:` + strings.Repeat("c", 64) + `","repository":"library/nginx"}},
		 {"id":"2","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest + `","repository":"library/nginx","tag":"1.25"},"request":{"host":"hub.example.com"}},
		 {"id":"3","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest + `","repository":"library/nginx","tag":"1.25"}}]}`)
	}
	harbor := []byte(`{"type":"PUSH_ARTIFACT","occur_at":1700000000,"operator":"admin","event_data":{
	  "resources":[{"digest":"` + d2 + `","tag":"v2","resource_url":"hub.example.com/team/app:v2"}],
	  "repository":{"name":"app","namespace":"team","repo_full_name":"team/app","repo_type":"private"}}}`)

	tests := []struct {
		name     string
		id       int64
		auth     string
		body     []byte
		status   int
		images   int
		wantTask bool
	}{
		{name: "distribution, bearer token", id: reg.ID, auth: "Bearer tok-123", body: dist(d1), status: 200, images: 1, wantTask: true},
		{name: "distribution, same digest again", id: reg.ID, auth: "tok-123", body: dist(d1), status: 200, images: 1, wantTask: true},
		{name: "harbor, raw token", id: reg.ID, auth: "tok-123", body: harbor, status: 200, images: 1, wantTask: true},
		{name: "wrong token", id: reg.ID, auth: "Bearer tok-124", body: dist(d1), status: 401},
		{name: "no token", id: reg.ID, body: dist(d1), status: 401},
		{name: "unknown registry", id: 987654, auth: "Bearer tok-123", body: dist(d1), status: 401},
		{name: "registry without a webhook token", id: noToken.ID, auth: "Bearer ", body: dist(d1), status: 401},
		{name: "malformed JSON", id: reg.ID, auth: "Bearer tok-123", body: []byte(`{"events":[`), status: 400},
		{name: "neither format", id: reg.ID, auth: "Bearer tok-123", body: []byte(`{"hello":1}`), status: 400},
		{name: "oversize body", id: reg.ID, auth: "Bearer tok-123", body: append([]byte(`{"events":[],"pad":"`), bytes.Repeat([]byte("x"), MaxWebhookBody)...), status: 413},
		{name: "no pushes", id: reg.ID, auth: "Bearer tok-123", body: []byte(`{"events":[]}`), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := wakes.Load()
			resp, body := post(tt.id, tt.auth, distType, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != 200 {
				if tt.status == 401 && strings.Contains(string(body), "token") {
					t.Fatalf("401 body tells why: %s", body)
				}
				return
			}
			var res WebhookResult
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if res.Images != tt.images || (res.TaskID != 0) != tt.wantTask || (wakes.Load() > before) != tt.wantTask {
				t.Fatalf("result %+v, wakes %d→%d", res, before, wakes.Load())
			}
			if tt.wantTask {
				task, err := f.st.GetScanTask(t.Context(), f.account.ID, res.TaskID)
				if err != nil || task.Kind != store.TaskRegistryImage || string(task.Params) != `{"source":"webhook"}` {
					t.Fatalf("task %+v, %v", task, err)
				}
				targets, err := f.st.ListScanTargets(t.Context(), f.account.ID, res.TaskID)
				if err != nil || len(targets) != 1 || targets[0].Kind != "image" || targets[0].TargetID != strconv.FormatInt(res.ImageIDs[0], 10) {
					t.Fatalf("targets %+v, %v", targets, err)
				}
			}
		})
	}
	imgs := f.images(t, reg.ID)
	if n := imgs["library/nginx:1.25"]; n.Digest != d1 || n.Namespace != "library" || !n.IsLatest {
		t.Fatalf("nginx:1.25 = %+v", n)
	}
	if a := imgs["team/app:v2"]; a.Digest != d2 || !a.IsLatest {
		t.Fatalf("team/app:v2 = %+v", a)
	}

	// A new push of another tag takes IsLatest over; "latest" keeps it for good.
	post(reg.ID, "tok-123", distType, []byte(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d2+`","repository":"library/nginx","tag":"latest"}}]}`))
	post(reg.ID, "tok-123", distType, []byte(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d2+`","repository":"library/nginx","tag":"1.26"}}]}`))
	imgs = f.images(t, reg.ID)
	if !imgs["library/nginx:latest"].IsLatest || imgs["library/nginx:1.25"].IsLatest || imgs["library/nginx:1.26"].IsLatest {
		t.Fatalf("latest flags: latest=%v 1.25=%v 1.26=%v", imgs["library/nginx:latest"].IsLatest, imgs["library/nginx:1.25"].IsLatest, imgs["library/nginx:1.26"].IsLatest)
	}

	// GET is not accepted.
	resp, err := http.Get(srv.URL + "/webhooks/registry/" + strconv.FormatInt(reg.ID, 10))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}
