package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is ggcr's in-memory registry behind httptest, with an
// htpasswd-like Basic-auth gate (what Debian's docker-registry does with
// auth.htpasswd) and catalog pagination (the in-memory registry ignores
// `last` and sends no Link header; distribution paginates with both).
type testRegistry struct {
	srv          *httptest.Server
	host         string
	user, pass   string
	catalogPages atomic.Int64
}

func newTestRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	tr := &testRegistry{user: user, pass: pass}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr.user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != tr.user || p != tr.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="Registry Realm"`)
				w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		if r.URL.Path == "/v2/_catalog" && r.Method == http.MethodGet {
			tr.catalogPages.Add(1)
			paginateCatalog(w, r, inner)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func paginateCatalog(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	all := httptest.NewRecorder()
	inner.ServeHTTP(all, httptest.NewRequest(http.MethodGet, "/v2/_catalog?n=100000", nil))
	var cat struct {
		Repos []string `json:"repositories"`
	}
	_ = json.Unmarshal(all.Body.Bytes(), &cat)
	sort.Strings(cat.Repos)
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 {
		n = 100
	}
	last := r.URL.Query().Get("last")
	i := sort.SearchStrings(cat.Repos, last)
	if last != "" && i < len(cat.Repos) && cat.Repos[i] == last {
		i++
	}
	end := min(i+n, len(cat.Repos))
	page := cat.Repos[i:end]
	if end < len(cat.Repos) {
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?last=%s&n=%d>; rel="next"`, url.QueryEscape(page[len(page)-1]), n))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"repositories": page})
}

// push writes a random image with the given creation time to repo:tag and
// returns its manifest digest.
func (tr *testRegistry) push(t *testing.T, repo, tag string, created time.Time) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: created}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(tr.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.Anonymous
	if tr.user != "" {
		auth = &authn.Basic{Username: tr.user, Password: tr.pass}
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
