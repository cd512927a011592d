package imagescan_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

var fastRetry = remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 3}

// blobOf is a middleware acting on GETs of one blob only.
func blobOf(digest v1.Hash, fn func(w http.ResponseWriter, r *http.Request, next http.Handler)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+digest.String()) {
				fn(w, r, next)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// recorded serves the request into a buffer, for middlewares that alter the
// body.
func recorded(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// hugeHeaderTar is a tar whose only entry claims size bytes and holds none.
func hugeHeaderTar(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "big.img", Typeflag: tar.TypeReg, Size: size, Mode: 0o644,
		Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	_ = tw.Flush() // no Close: it would insist on the data
	return append(buf.Bytes(), make([]byte, 1024)...)
}

func TestHostileLayers(t *testing.T) {
	zeros := make([]byte, 32<<20)
	bomb, err := imagetest.Layer(imagetest.Gzip, imagetest.File("zeros", zeros))
	if err != nil {
		t.Fatal(err)
	}
	var many []imagetest.Entry
	for i := range 32 {
		many = append(many, imagetest.File(fmt.Sprintf("zeros%d", i), zeros[:1<<20]))
	}
	manyZeros, err := imagetest.Layer(imagetest.Zstd, many...)
	if err != nil {
		t.Fatal(err)
	}
	huge, err := imagetest.LayerFromTar(imagetest.Gzip, hugeHeaderTar(t, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := imagetest.Layer(imagetest.None, imagetest.File("a.txt", bytes.Repeat([]byte("a"), 4096)))
	if err != nil {
		t.Fatal(err)
	}
	normal, err := imagetest.Layer(imagetest.Gzip, imagetest.File("b.txt", bytes.Repeat([]byte("b"), 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	digestOf := func(l v1.Layer) v1.Hash { d, _ := l.Digest(); return d }

	tests := []struct {
		name  string
		layer v1.Layer
		mw    func(http.Handler) http.Handler
		opts  []imagescan.Option
		want  error
		msg   string
	}{
		{name: "gzip bomb: ratio", layer: bomb, opts: []imagescan.Option{imagescan.WithMaxRatio(100, 1<<20)},
			want: imagescan.ErrCompressionRatio, msg: "ratio"},
		{name: "zstd bomb: total size", layer: manyZeros, opts: []imagescan.Option{imagescan.WithMaxLayerBytes(8 << 20)},
			want: imagescan.ErrLayerTooLarge, msg: "8388608"},
		{name: "entry claiming 1 TiB", layer: huge, want: imagescan.ErrLayerTooLarge, msg: "big.img"},
		{name: "entry claiming 1 TiB, allowed", layer: huge, opts: []imagescan.Option{imagescan.WithMaxLayerBytes(1 << 41)},
			want: imagescan.ErrCorruptLayer},
		{name: "truncated blob", layer: normal, want: imagescan.ErrCorruptLayer,
			mw: blobOf(digestOf(normal), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				rec := recorded(next, r)
				body := rec.Body.Bytes()
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body[:len(body)/2]) // the server hangs up early
			})},
		{name: "digest mismatch", layer: plain, want: imagescan.ErrDigestMismatch, msg: "sha256",
			mw: blobOf(digestOf(plain), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				rec := recorded(next, r)
				body := bytes.Clone(rec.Body.Bytes())
				body[1024] = 'X' // inside a.txt's content: the tar still parses
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				_, _ = w.Write(body)
			})},
		{name: "registry stalls mid-layer", layer: normal, want: imagescan.ErrIdleTimeout,
			opts: []imagescan.Option{imagescan.WithIdleTimeout(300 * time.Millisecond)},
			mw: blobOf(digestOf(normal), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				body := recorded(next, r).Body.Bytes()
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				_, _ = w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				select { // never sends the rest
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host, _ := startRegistry(t, tc.mw)
			img := mustImage(t)(imagetest.FromLayers("linux/amd64", tc.layer))
			push(t, host+"/bad:1", img)
			opts := append([]imagescan.Option{imagescan.WithRetryBackoff(fastRetry)}, tc.opts...)
			start := time.Now()
			_, err := imagescan.New(testEngine(t), opts...).ScanRemote(t.Context(), imagescan.Target{Ref: host + "/bad:1"})
			if !errIs(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			t.Logf("%v", err)
		})
	}
}

func TestRegistryAnswers(t *testing.T) {
	img := mustImage(t)(imagetest.Standard())
	failing := func(status int, times int64, counter *atomic.Int64) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") && counter.Add(1) <= times {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					fmt.Fprintf(w, `{"errors":[{"code":"X","message":"injected %d"}]}`, status)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	tests := []struct {
		name   string
		status int
		times  int64
		want   error // nil: the scan succeeds after retries
		calls  int64
	}{
		{"401", http.StatusUnauthorized, 1 << 30, imagescan.ErrUnauthorized, 1},
		{"403", http.StatusForbidden, 1 << 30, imagescan.ErrUnauthorized, 1},
		{"404", http.StatusNotFound, 1 << 30, imagescan.ErrNotFound, 1},
		{"429 then OK", http.StatusTooManyRequests, 2, nil, 3},
		{"503 then OK", http.StatusServiceUnavailable, 2, nil, 3},
		{"500 forever", http.StatusInternalServerError, 1 << 30, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			var armed atomic.Bool
			host, _ := startRegistry(t, func(next http.Handler) http.Handler {
				f := failing(tc.status, tc.times, &n)(next)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if armed.Load() {
						f.ServeHTTP(w, r)
						return
					}
					next.ServeHTTP(w, r)
				})
			})
			push(t, host+"/app:1", img)
			armed.Store(true)
			rep, err := imagescan.New(testEngine(t), imagescan.WithRetryBackoff(fastRetry)).
				ScanRemote(t.Context(), imagescan.Target{Ref: host + "/app:1"})
			switch {
			case tc.name == "500 forever":
				if err == nil || !strings.Contains(err.Error(), "500") {
					t.Fatalf("error %v", err)
				}
			case tc.want != nil:
				if !errIs(err, tc.want) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
				if n.Load() != tc.calls {
					t.Errorf("%d manifest requests, want %d (no retry)", n.Load(), tc.calls)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Findings) != len(imagetest.StandardVisible) || n.Load() != tc.calls {
					t.Errorf("findings %d, manifest requests %d", len(rep.Findings), n.Load())
				}
			}
			t.Logf("%v", err)
		})
	}
}

func TestUnsupportedManifests(t *testing.T) {
	host, srv := startRegistry(t, nil)
	put := func(ref, mediaType, body string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, srv.URL+"/v2/odd/manifests/"+ref, strings.NewReader(body))
		req.Header.Set("Content-Type", mediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("put %s: %s", ref, resp.Status)
		}
	}
	put("unknown", "application/vnd.example.unknown+json", `{"schemaVersion":2}`)
	put("helm", "application/vnd.oci.image.manifest.v1+json",
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	for _, ref := range []string{"unknown", "helm"} {
		_, err := imagescan.New(testEngine(t)).ScanRemote(t.Context(), imagescan.Target{Ref: host + "/odd:" + ref})
		if !errIs(err, imagescan.ErrUnsupported) {
			t.Errorf("%s: error %v", ref, err)
		}
		t.Logf("%s: %v", ref, err)
	}
}

func TestTLSRegistry(t *testing.T) {
	srv := httptest.NewTLSServer(registryHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	img := mustImage(t)(imagetest.Standard())
	ref, _ := nameRef(host + "/tls:1")
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	s := imagescan.New(testEngine(t), imagescan.WithRetryBackoff(fastRetry))
	if _, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host + "/tls:1"}); err == nil {
		t.Fatal("an unverified certificate was accepted")
	}
	rep, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host + "/tls:1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != len(imagetest.StandardVisible) {
		t.Errorf("findings %v", paths(rep.Findings))
	}
}
