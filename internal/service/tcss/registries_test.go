package tcss

import (
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/registry"
	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// basicAuthRegistry is ggcr's in-memory registry behind an htpasswd-like
// Basic-auth gate.
func basicAuthRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="Registry Realm"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, ref := range []string{"library/nginx:latest", "library/nginx:1.25", "tools:v1"} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := name.ParseReference(host + "/" + ref)
		if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

type env struct {
	h    *handlers
	st   store.Store
	call *server.Call
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, _ := secrets.New(key)
	a, err := st.CreateAccount(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	client := registry.New(registry.WithCheckTimeout(5 * time.Second))
	syncer := registry.NewSyncer(st, box, client, registry.WithInline(true))
	t.Cleanup(syncer.Close)
	h := &handlers{Deps{Store: st, Now: time.Now, Box: box, Registries: client, Syncer: syncer}}
	return &env{h: h, st: st, call: &server.Call{AccountID: a.ID, Language: api.English}}
}

func TestPasswordAADAgrees(t *testing.T) {
	if string(registryPasswordAAD(7, "hub")) != string(registry.PasswordAAD(7, "hub")) {
		t.Fatal("tcss and internal/registry bind registry passwords differently")
	}
}

func TestRegistryActions(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	host := basicAuthRegistry(t, "alice", "s3cret")
	add := func(name, password, typ string) *tcss.AddAssetImageRegistryRegistryDetailResponse {
		t.Helper()
		resp, err := e.h.addRegistry(ctx, e.call, &tcss.AddAssetImageRegistryRegistryDetailRequest{
			Name: api.Ptr(name), Username: api.Ptr("alice"), Password: api.Ptr(password), Url: api.Ptr("http://" + host),
			RegistryType: api.Ptr(typ), NetType: api.Ptr("public"), WebhookToken: api.Ptr("tok"),
		})
		if err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
		return resp
	}

	// Wrong password: HealthCheckErr, nothing saved.
	bad := add("local", "wrong", "other")
	if *bad.RegistryId != 0 || !strings.Contains(*bad.HealthCheckErr, "credentials rejected") {
		t.Fatalf("wrong password: %+v / %q", *bad.RegistryId, *bad.HealthCheckErr)
	}
	// Unknown type: InvalidParameterValue naming RegistryType.
	_, err := e.h.addRegistry(ctx, e.call, &tcss.AddAssetImageRegistryRegistryDetailRequest{
		Name: api.Ptr("x"), Url: api.Ptr("http://" + host), RegistryType: api.Ptr("dockerhub"), NetType: api.Ptr("public")})
	if ae := api.AsError(err); ae == nil || ae.Code != api.InvalidParameterValue || !strings.Contains(ae.Error(), "RegistryType") {
		t.Fatalf("bad type: %v", err)
	}
	_, err = e.h.addRegistry(ctx, e.call, &tcss.AddAssetImageRegistryRegistryDetailRequest{
		Name: api.Ptr("x"), Url: api.Ptr("http://" + host + "/some/path"), RegistryType: api.Ptr("harbor"), NetType: api.Ptr("public")})
	if ae := api.AsError(err); ae == nil || ae.Code != api.InvalidParameterValue || !strings.Contains(ae.Error(), "Url") {
		t.Fatalf("bad url: %v", err)
	}

	ok := add("local", "s3cret", "other")
	id := *ok.RegistryId
	if id == 0 || *ok.HealthCheckErr != "" || *ok.NameRepeatErr != "" {
		t.Fatalf("add: %+v %q %q", id, *ok.HealthCheckErr, *ok.NameRepeatErr)
	}
	stored, _ := e.st.GetRegistry(ctx, e.call.AccountID, id)
	if len(stored.PasswordEnc) == 0 || strings.Contains(string(stored.PasswordEnc), "s3cret") {
		t.Fatal("password not encrypted")
	}
	if dup := add("local", "s3cret", "other"); *dup.RegistryId != 0 || *dup.NameRepeatErr == "" {
		t.Fatalf("duplicate name: %+v", dup)
	}

	// Add synced (inline syncer): the images are listed.
	list, err := e.h.describeRegistryImages(ctx, e.call, &tcss.DescribeAssetImageRegistryListRequest{})
	if err != nil || *list.TotalCount != 3 {
		t.Fatalf("images: %v %v", list, err)
	}
	latest, err := e.h.describeRegistryImages(ctx, e.call, &tcss.DescribeAssetImageRegistryListRequest{
		OnlyShowLatest: api.Ptr(true),
		Filters:        []*tcss.AssetFilters{{Name: api.Ptr("Namespace"), Values: []*string{api.Ptr("library")}, ExactMatch: api.Ptr(true)}},
	})
	if err != nil || *latest.TotalCount != 1 {
		t.Fatalf("latest in library: %+v %v", latest, err)
	}
	img := latest.List[0]
	if *img.ImageName != "nginx" || *img.ImageTag != "latest" || !*img.IsLatestImage || *img.InstanceName != "local" ||
		*img.ImageRepoAddress != host+"/library/nginx" || !strings.HasPrefix(*img.ImageDigest, "sha256:") || *img.RegistryType != "other" || *img.Id == 0 {
		t.Fatalf("image info: %+v", img)
	}
	_, err = e.h.describeRegistryImages(ctx, e.call, &tcss.DescribeAssetImageRegistryListRequest{
		Filters: []*tcss.AssetFilters{{Name: api.Ptr("Nope"), Values: []*string{api.Ptr("x")}}}})
	if ae := api.AsError(err); ae == nil || !strings.Contains(ae.Error(), "Filters.0.Name") {
		t.Fatalf("unknown filter: %v", err)
	}
	_, err = e.h.describeRegistryImages(ctx, e.call, &tcss.DescribeAssetImageRegistryListRequest{By: api.Ptr("Color")})
	if ae := api.AsError(err); ae == nil || !strings.Contains(ae.Error(), "By") {
		t.Fatalf("unknown By: %v", err)
	}

	// Registry list.
	regs, err := e.h.describeRegistryList(ctx, e.call, &tcss.DescribeAssetImageRegistryRegistryListRequest{
		Filters: []*tcss.AssetFilters{{Name: api.Ptr("Name"), Values: []*string{api.Ptr("loc")}}}})
	if err != nil || *regs.TotalCount != 1 {
		t.Fatalf("registry list: %+v %v", regs, err)
	}
	r := regs.List[0]
	if *r.Name != "local" || *r.SyncStatus != registry.SyncSuccess || *r.LatestSyncTime == "" || *r.RegistryRegion != "default" {
		t.Fatalf("registry info: %+v", r)
	}

	// Update with an empty password keeps the stored one; a rename re-seals it.
	upd, err := e.h.updateRegistry(ctx, e.call, &tcss.UpdateAssetImageRegistryRegistryDetailRequest{
		RegistryId: api.Ptr(id), Name: api.Ptr("renamed"), Username: api.Ptr("alice"), Password: api.Ptr(""),
		Url: api.Ptr("http://" + host), RegistryType: api.Ptr("other"), NetType: api.Ptr("public")})
	if err != nil || *upd.HealthCheckErr != "" || *upd.NameRepeatErr != "" {
		t.Fatalf("update: %+v %v", upd, err)
	}
	stored, _ = e.st.GetRegistry(ctx, e.call.AccountID, id)
	if pw, err := registry.OpenPassword(e.h.Box, stored); err != nil || pw != "s3cret" || stored.Name != "renamed" || stored.WebhookToken != "tok" {
		t.Fatalf("after update: %q %v %+v", pw, err, stored.Name)
	}
	upd, err = e.h.updateRegistry(ctx, e.call, &tcss.UpdateAssetImageRegistryRegistryDetailRequest{
		RegistryId: api.Ptr(id), Name: api.Ptr("renamed"), Username: api.Ptr("alice"), Password: api.Ptr("bad"),
		Url: api.Ptr("http://" + host), RegistryType: api.Ptr("other"), NetType: api.Ptr("public")})
	if err != nil || *upd.HealthCheckErr == "" {
		t.Fatalf("update with a wrong password: %+v %v", upd, err)
	}

	// Sync by id, then All; unknown id is ResourceNotFound naming it.
	if _, err := e.h.syncRegistryAsset(ctx, e.call, &tcss.SyncAssetImageRegistryAssetRequest{RegistryIds: []*uint64{api.Ptr(uint64(id))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.syncRegistryAsset(ctx, e.call, &tcss.SyncAssetImageRegistryAssetRequest{All: api.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.h.syncRegistryAsset(ctx, e.call, &tcss.SyncAssetImageRegistryAssetRequest{RegistryIds: []*uint64{api.Ptr(uint64(id)), api.Ptr(uint64(424242))}})
	if ae := api.AsError(err); ae == nil || ae.Code != api.ResourceNotFound || !strings.Contains(ae.Error(), "RegistryIds.1") {
		t.Fatalf("sync unknown: %v", err)
	}

	// Remove: the registry and its images go.
	if _, err := e.h.removeRegistry(ctx, e.call, &tcss.RemoveAssetImageRegistryRegistryDetailRequest{RegistryId: api.Ptr(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetRegistry(ctx, e.call.AccountID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	list, err = e.h.describeRegistryImages(ctx, e.call, &tcss.DescribeAssetImageRegistryListRequest{})
	if err != nil || *list.TotalCount != 0 {
		t.Fatalf("images after remove: %v %v", list.TotalCount, err)
	}
	_, err = e.h.removeRegistry(ctx, e.call, &tcss.RemoveAssetImageRegistryRegistryDetailRequest{RegistryId: api.Ptr(id)})
	if ae := api.AsError(err); ae == nil || ae.Code != api.ResourceNotFound {
		t.Fatalf("remove twice: %v", err)
	}
}
