package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// fakeHarbor is a FAKE of Harbor 2.x, not Harbor: just the distribution
// ping and the project/repository/artifact list endpoints, with Harbor's
// paging (page, page_size) and double-encoded repository names, and the
// catalog refused as Harbor refuses it to users who are not system
// administrators.
func fakeHarbor(t *testing.T) (*httptest.Server, *int) {
	t.Helper()
	type art = map[string]any
	projects := []string{"library", "team"}
	repos := map[string][]string{"library": {"library/nginx", "library/tools/jq"}, "team": {"team/app"}}
	arts := map[string][]art{
		"library/nginx": {
			{"digest": "sha256:" + fmt.Sprintf("%064d", 1), "size": 1000, "extra_attrs": map[string]any{"os": "linux", "created": "2024-03-01T10:00:00Z"},
				"tags": []map[string]any{{"name": "latest"}, {"name": "1.25"}}},
			{"digest": "sha256:" + fmt.Sprintf("%064d", 2), "size": 900, "extra_attrs": map[string]any{"os": "linux", "created": "2023-03-01T10:00:00Z"},
				"tags": []map[string]any{{"name": "1.24"}}},
			{"digest": "sha256:" + fmt.Sprintf("%064d", 3), "size": 5, "tags": nil}, // untagged: not an image anyone pulls by tag
		},
		"library/tools/jq": {{"digest": "sha256:" + fmt.Sprintf("%064d", 4), "size": 50, "extra_attrs": map[string]any{"os": "linux"}, "tags": []map[string]any{{"name": "v1"}}}},
		"team/app":         {{"digest": "sha256:" + fmt.Sprintf("%064d", 5), "size": 70, "tags": []map[string]any{{"name": "main"}}}},
	}
	apiCalls := 0
	page := func(w http.ResponseWriter, r *http.Request, items any) {
		apiCalls++
		// Every list is paged: slice items by page/page_size.
		b, _ := json.Marshal(items)
		var all []json.RawMessage
		_ = json.Unmarshal(b, &all)
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
		if p < 1 || size < 1 {
			http.Error(w, "bad paging", http.StatusBadRequest)
			return
		}
		lo, hi := min((p-1)*size, len(all)), min(p*size, len(all))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
		_ = json.NewEncoder(w).Encode(all[lo:hi])
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized to list catalog"}]}`)
			return
		}
		fmt.Fprint(w, "{}")
	})
	mux.HandleFunc("GET /api/v2.0/projects", func(w http.ResponseWriter, r *http.Request) {
		var ps []map[string]any
		for i, p := range projects {
			ps = append(ps, map[string]any{"name": p, "project_id": i + 1})
		}
		page(w, r, ps)
	})
	mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories", func(w http.ResponseWriter, r *http.Request) {
		var rs []map[string]any
		for _, n := range repos[r.PathValue("project")] {
			rs = append(rs, map[string]any{"name": n})
		}
		page(w, r, rs)
	})
	mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts", func(w http.ResponseWriter, r *http.Request) {
		// {repo} arrives decoded once: "tools%2Fjq" for library/tools/jq.
		repo := r.PathValue("project") + "/" + r.PathValue("repo")
		if r.PathValue("repo") == "tools%2Fjq" {
			repo = "library/tools/jq"
		}
		a, ok := arts[repo]
		if !ok {
			http.Error(w, `{"errors":[{"code":"NOT_FOUND"}]}`, http.StatusNotFound)
			return
		}
		page(w, r, a)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "robot$ci" || p != "tok" {
			w.Header().Set("WWW-Authenticate", `Basic realm="harbor"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}`)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &apiCalls
}

func TestListHarbor(t *testing.T) {
	srv, calls := fakeHarbor(t)
	c := New(WithPageSize(1))
	r := store.Registry{URL: srv.URL, Type: "harbor", Username: "robot$ci"}
	if err := c.Check(t.Context(), r, "tok"); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := c.Check(t.Context(), r, "wrong"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Check with a wrong password: %v", err)
	}
	imgs, err := c.List(t.Context(), r, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.RegistryImage{}
	for _, img := range imgs {
		got[img.Namespace+"|"+img.Name+"|"+img.Tag] = img
	}
	if len(got) != 5 || len(imgs) != 5 {
		t.Fatalf("listed %d images: %v", len(imgs), got)
	}
	n := got["library|nginx|latest"]
	if n.Digest != "sha256:"+fmt.Sprintf("%064d", 1) || n.Size != 1000 || n.OSName != "linux" || !n.ImageCreateTime.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("nginx:latest = %+v", n)
	}
	if _, ok := got["library|tools/jq|v1"]; !ok {
		t.Fatalf("library/tools/jq:v1 missing (double-encoded repository name): %v", got)
	}
	if _, ok := got["team|app|main"]; !ok {
		t.Fatalf("team/app:main missing: %v", got)
	}
	if *calls < 8 {
		t.Fatalf("%d API calls: paging with page_size 1 not followed", *calls)
	}

	// Another type does not try Harbor's API: the refused catalog is the answer.
	r.Type = "other"
	if _, err := c.List(t.Context(), r, "tok", nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("List as type other: %v", err)
	}
}
