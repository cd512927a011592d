package registry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		url       string
		host      string
		scheme    string
		plainHTTP bool
		bad       bool
	}{
		{url: "https://harbor.example.com", host: "harbor.example.com", scheme: "https"},
		{url: "https://harbor.example.com/", host: "harbor.example.com", scheme: "https"},
		{url: "harbor.example.com:8443", host: "harbor.example.com:8443", scheme: "https"},
		{url: "http://10.0.0.5:5000", host: "10.0.0.5:5000", scheme: "http", plainHTTP: true},
		{url: "127.0.0.1:5000", host: "127.0.0.1:5000", scheme: "https", plainHTTP: true},
		{url: "localhost:5000", host: "localhost:5000", scheme: "https", plainHTTP: true},
		{url: "https://[::1]:5000", host: "[::1]:5000", scheme: "https"},
		{url: "https://10.0.0.5", host: "10.0.0.5", scheme: "https"},
		{url: "", bad: true},
		{url: "ftp://x.example", bad: true},
		{url: "https://u:p@x.example", bad: true},
		{url: "https://x.example/project", bad: true},
		{url: "https://x.example?q=1", bad: true},
		{url: "https://", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			e, err := ParseEndpoint(tt.url, false)
			if tt.bad {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("err = %v, want ErrBadURL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Host != tt.host || e.Scheme != tt.scheme || e.PlainHTTP != tt.plainHTTP {
				t.Fatalf("got %+v", e)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	open := newTestRegistry(t, "", "")
	locked := newTestRegistry(t, "alice", "s3cret")
	notReg := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notReg.Close)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>hello</html>")
	}))
	t.Cleanup(html.Close)
	tlsReg := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		fmt.Fprint(w, "{}")
	}))
	t.Cleanup(tlsReg.Close)
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	pool := x509.NewCertPool()
	pool.AddCert(tlsReg.Certificate())

	tests := []struct {
		name     string
		c        *Client
		reg      store.Registry
		password string
		want     error // nil: success
		class    string
	}{
		{name: "open registry", reg: store.Registry{URL: "http://" + open.host}},
		{name: "open registry, bare loopback host", reg: store.Registry{URL: open.host}},
		{name: "basic auth, right password", reg: store.Registry{URL: "http://" + locked.host, Username: "alice"}, password: "s3cret"},
		{name: "basic auth, wrong password", reg: store.Registry{URL: "http://" + locked.host, Username: "alice"}, password: "nope", want: ErrUnauthorized, class: "Unauthorized"},
		{name: "basic auth, no credentials", reg: store.Registry{URL: "http://" + locked.host}, want: ErrUnauthorized},
		{name: "unreachable", reg: store.Registry{URL: "http://" + closed}, want: ErrUnreachable, class: "Unreachable"},
		{name: "not a registry", reg: store.Registry{URL: "http://" + strings.TrimPrefix(notReg.URL, "http://")}, want: ErrNotRegistry, class: "NotRegistry"},
		{name: "html page", reg: store.Registry{URL: html.URL}, want: ErrNotRegistry},
		{name: "untrusted certificate", reg: store.Registry{URL: tlsReg.URL}, want: ErrTLS, class: "TLS"},
		{name: "untrusted certificate, insecure", reg: store.Registry{URL: tlsReg.URL, Insecure: true}},
		{name: "trusted certificate", c: New(WithRootCAs(pool)), reg: store.Registry{URL: tlsReg.URL}},
		{name: "bad url", reg: store.Registry{URL: "ftp://x"}, want: ErrBadURL, class: "BadURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c == nil {
				c = New(WithCheckTimeout(5 * time.Second))
			}
			err := c.Check(t.Context(), tt.reg, tt.password)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			var c2 interface{ Class() string }
			if tt.class != "" && (!errors.As(err, &c2) || c2.Class() != tt.class) {
				t.Fatalf("class of %v is not %s", err, tt.class)
			}
			if strings.Contains(err.Error(), tt.password) && tt.password != "" {
				t.Fatalf("error %q leaks the password", err)
			}
		})
	}
}

// TestCheckRefusesDowngrade: an https:// URL of a private-range host must
// not fall back to plain HTTP (ggcr would).
func TestCheckRefusesDowngrade(t *testing.T) {
	c := New(WithCheckTimeout(2 * time.Second))
	rt := c.transport(Endpoint{Host: "10.0.0.1:5000", Scheme: "https"})
	req, _ := http.NewRequest(http.MethodGet, "http://10.0.0.1:5000/v2/", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("plain HTTP to an https registry: %v", err)
	}
}

func TestListCatalogPagination(t *testing.T) {
	tr := newTestRegistry(t, "alice", "s3cret")
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]string{} // ns/name:tag → digest
	for i := range 23 {
		repo := fmt.Sprintf("team%d/app%02d", i%3, i)
		if i%5 == 0 {
			repo = fmt.Sprintf("solo%02d", i)
		}
		for j, tag := range []string{"v1", "v2"} {
			want[repo+":"+tag] = tr.push(t, repo, tag, base.Add(time.Duration(i*10+j)*time.Hour))
		}
	}
	c := New(WithPageSize(5))
	r := store.Registry{URL: "http://" + tr.host, Username: "alice", Type: "other"}
	imgs, err := c.List(t.Context(), r, "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != len(want) {
		t.Fatalf("listed %d images, want %d", len(imgs), len(want))
	}
	for _, img := range imgs {
		key := Repository(img.Namespace, img.Name) + ":" + img.Tag
		if want[key] != img.Digest {
			t.Errorf("%s: digest %s, want %s", key, img.Digest, want[key])
		}
		if img.OSName != "linux" || img.ImageID == "" || img.Size <= 0 || img.ImageCreateTime.IsZero() {
			t.Errorf("%s: metadata not filled: %+v", key, img)
		}
		if strings.Contains(img.Name, "/") || (strings.HasPrefix(key, "team") && img.Namespace == "") {
			t.Errorf("%s: bad split %q / %q", key, img.Namespace, img.Name)
		}
	}
	if got := tr.catalogPages.Load(); got < 5 {
		t.Fatalf("catalog fetched in %d pages, want ≥ 5 (23 repos, page size 5)", got)
	}

	// Bounded config fetches: beyond the budget only what prev knew is kept.
	c = New(WithMaxConfigFetches(3))
	limited, err := c.List(t.Context(), r, "s3cret", imgs[:10])
	if err != nil {
		t.Fatal(err)
	}
	withMeta := 0
	for _, img := range limited {
		if img.ImageID != "" {
			withMeta++
		}
	}
	if withMeta != 13 {
		t.Fatalf("%d images with metadata, want 10 reused + 3 fetched", withMeta)
	}

	// Wrong password: the listing fails as unauthorized, it is never partial.
	if _, err := c.List(t.Context(), r, "wrong", nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("List with a wrong password: %v", err)
	}
}

func TestMarkLatest(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC) }
	imgs := []store.RegistryImage{
		{Namespace: "a", Name: "x", Tag: "v1", ImageCreateTime: at(5)},
		{Namespace: "a", Name: "x", Tag: "latest", ImageCreateTime: at(1)},
		{Namespace: "a", Name: "y", Tag: "v1", ImageCreateTime: at(1)},
		{Namespace: "a", Name: "y", Tag: "v2", ImageCreateTime: at(3)},
		{Namespace: "", Name: "y", Tag: "b"},
		{Namespace: "", Name: "y", Tag: "c"},
		{Namespace: "", Name: "y", Tag: "a", IsLatest: true},
	}
	MarkLatest(imgs)
	var got []string
	for _, img := range imgs {
		if img.IsLatest {
			got = append(got, img.Namespace+"/"+img.Name+":"+img.Tag)
		}
	}
	want := "a/x:latest a/y:v2 /y:c"
	if strings.Join(got, " ") != want {
		t.Fatalf("latest = %v, want %s", got, want)
	}
}

func TestRefAndTarget(t *testing.T) {
	r := store.Registry{URL: "http://127.0.0.1:5000/", Insecure: true}
	img := store.RegistryImage{Namespace: "library", Name: "nginx", Tag: "1.25"}
	ref, plain, insecure := TargetFor(r, img, "pw")
	if ref != "127.0.0.1:5000/library/nginx:1.25" || !plain || !insecure {
		t.Fatalf("TargetFor = %q %v %v", ref, plain, insecure)
	}
	ref, plain, _ = TargetFor(store.Registry{URL: "https://reg.example.com"}, store.RegistryImage{Name: "app", Tag: "v1"}, "")
	if ref != "reg.example.com/app:v1" || plain {
		t.Fatalf("TargetFor = %q %v", ref, plain)
	}
}
