package imagescan_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

var (
	engOnce sync.Once
	eng     *engine.Engine
	engErr  error
)

// testEngine is the standard engine with the built-in pack, built once: YARA
// compilation dominates otherwise.
func testEngine(t *testing.T) *engine.Engine {
	t.Helper()
	engOnce.Do(func() {
		opts, err := standard.Options(standard.Config{})
		if err != nil {
			engErr = err
			return
		}
		eng, engErr = engine.New(context.Background(), opts...)
	})
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

// startRegistry serves ggcr's in-memory registry behind mw (nil: none) and
// returns its host:port.
func startRegistry(t *testing.T, mw func(http.Handler) http.Handler) (string, *httptest.Server) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if mw != nil {
		h = mw(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), srv
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func pushIndex(t *testing.T, ref string, idx v1.ImageIndex) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func mustImage(t *testing.T) func(v1.Image, error) v1.Image {
	return func(img v1.Image, err error) v1.Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
}

func paths(fs []imagescan.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func TestStandardImage(t *testing.T) {
	host, _ := startRegistry(t, nil)
	img := mustImage(t)(imagetest.Standard())
	push(t, host+"/app:1", img)
	layers, _ := img.Layers()

	tests := []struct {
		name   string
		hidden bool
		want   []string
	}{
		{"final image", false, imagetest.StandardVisible},
		{"with hidden", true, slices.Sorted(slices.Values(append(slices.Clone(imagetest.StandardVisible), imagetest.StandardHidden...)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := imagescan.New(testEngine(t), imagescan.WithHidden(tc.hidden))
			rep, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host + "/app:1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(rep.Findings); !slices.Equal(got, tc.want) {
				t.Fatalf("findings %v, want %v", got, tc.want)
			}
			for _, f := range rep.Findings {
				if slices.Contains(imagetest.StandardHidden, f.Path) != f.Hidden {
					t.Errorf("%s: Hidden=%v", f.Path, f.Hidden)
				}
				if f.MD5 == "" || f.SHA256 == "" || f.LayerDigest == "" {
					t.Errorf("%s: incomplete finding %+v", f.Path, f)
				}
			}
			byPath := map[string]imagescan.Finding{}
			for _, f := range rep.Findings {
				byPath[f.Path] = f
			}
			d2, _ := layers[1].Digest()
			if f := byPath["tmp/eicar.com"]; f.LayerDigest != d2.String() || f.Rule != imagetest.EICARRule {
				t.Errorf("tmp/eicar.com: layer %s rule %s", f.LayerDigest, f.Rule)
			}
			if f := byPath["usr/bin/kworker"]; f.Rule != imagetest.MinerRule {
				t.Errorf("kworker rule %s", f.Rule)
			}
			d, _ := img.Digest()
			if rep.Digest != d.String() || rep.OS != "linux" || rep.Architecture != "amd64" || len(rep.Layers) != 3 {
				t.Errorf("report %+v", rep)
			}
			if rep.Layers[0].Files != 5 || rep.Layers[0].Bytes == 0 || rep.Size == 0 {
				t.Errorf("layer 0 report %+v", rep.Layers[0])
			}
		})
	}
}

func TestCompressionsAndLinks(t *testing.T) {
	host, _ := startRegistry(t, nil)
	for _, c := range []imagetest.Compression{imagetest.Gzip, imagetest.Zstd, imagetest.None} {
		t.Run(string(c), func(t *testing.T) {
			l, err := imagetest.Layer(c,
				imagetest.File("../../../etc/evil.sh", imagetest.MinerLauncher()), // normalised to etc/evil.sh
				imagetest.File("/abs/eicar", imagetest.EICAR()),
				imagetest.Hardlink("usr/link", "/abs/eicar"),
				imagetest.Symlink("usr/sym", "/etc/shadow"),
				imagetest.Symlink("usr/escape", "../../../../root"),
			)
			if err != nil {
				t.Fatal(err)
			}
			img := mustImage(t)(imagetest.FromLayers("linux/amd64", l))
			push(t, host+"/comp:"+string(c), img)
			rep, err := imagescan.New(testEngine(t)).ScanRemote(t.Context(), imagescan.Target{Ref: host + "/comp:" + string(c)})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"abs/eicar", "etc/evil.sh", "usr/link"}
			if got := paths(rep.Findings); !slices.Equal(got, want) {
				t.Fatalf("findings %v, want %v", got, want)
			}
		})
	}
}

func TestMultiPlatform(t *testing.T) {
	host, _ := startRegistry(t, nil)
	shared, err := imagetest.Layer(imagetest.Gzip, imagetest.File("bin/kworker", imagetest.MinerLauncher()))
	if err != nil {
		t.Fatal(err)
	}
	armTop, _ := imagetest.Layer(imagetest.Gzip, imagetest.File("arm/eicar", imagetest.EICAR()))
	amdTop, _ := imagetest.Layer(imagetest.Gzip, imagetest.File("amd/clean", []byte("ok")))
	arm := mustImage(t)(imagetest.FromLayers("linux/arm64", shared, armTop))
	amd := mustImage(t)(imagetest.FromLayers("linux/amd64", shared, amdTop))
	idx, err := imagetest.MultiPlatform(arm, amd)
	if err != nil {
		t.Fatal(err)
	}
	pushIndex(t, host+"/multi:1", idx)
	idxDigest, _ := idx.Digest()

	rep, err := imagescan.New(testEngine(t)).ScanRemote(t.Context(), imagescan.Target{Ref: host + "/multi:1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Architecture != "amd64" || len(rep.Platforms) != 0 || rep.IndexDigest != idxDigest.String() {
		t.Fatalf("default platform: %+v", rep)
	}
	if got := paths(rep.Findings); !slices.Equal(got, []string{"bin/kworker"}) {
		t.Fatalf("amd64 findings %v", got)
	}

	var progress []imagescan.Progress
	rep, err = imagescan.New(testEngine(t), imagescan.WithAllPlatforms(true),
		imagescan.WithProgress(func(p imagescan.Progress) { progress = append(progress, p) })).
		ScanRemote(t.Context(), imagescan.Target{Ref: host + "/multi:1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Architecture != "amd64" || len(rep.Platforms) != 1 || rep.Platforms[0].Architecture != "arm64" {
		t.Fatalf("all platforms: %+v", rep)
	}
	if got := paths(rep.Platforms[0].Findings); !slices.Equal(got, []string{"arm/eicar", "bin/kworker"}) {
		t.Fatalf("arm64 findings %v", got)
	}
	if !rep.Platforms[0].Layers[0].Cached {
		t.Errorf("the shared layer was read twice: %+v", rep.Platforms[0].Layers)
	}
	if len(progress) == 0 {
		t.Error("no progress reported")
	}

	_, err = imagescan.New(testEngine(t), imagescan.WithPlatform("linux/s390x")).
		ScanRemote(t.Context(), imagescan.Target{Ref: host + "/multi:1"})
	if !errIs(err, imagescan.ErrNoPlatform) {
		t.Fatalf("s390x: %v", err)
	}
}

func TestLayerCache(t *testing.T) {
	host, _ := startRegistry(t, nil)
	var blobGets int
	var mu sync.Mutex
	countHost, _ := startRegistry(t, nil)
	_ = countHost
	host2, _ := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				mu.Lock()
				blobGets++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	_ = host
	img := mustImage(t)(imagetest.Standard())
	push(t, host2+"/app:1", img)
	// A second image sharing all but its top layer.
	top, _ := imagetest.Layer(imagetest.Gzip, imagetest.File("new/eicar", imagetest.EICAR()))
	layers, _ := img.Layers()
	img2 := mustImage(t)(imagetest.FromLayers("linux/amd64", append(layers[:2:2], top)...))
	push(t, host2+"/app:2", img2)

	cache := imagescan.NewMemCache()
	s := imagescan.New(testEngine(t), imagescan.WithLayerCache(cache))
	reset := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := blobGets
		blobGets = 0
		return n
	}
	reset()
	first, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host2 + "/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := reset(); n != 4 { // config + 3 layers
		t.Errorf("first scan: %d blob GETs", n)
	}
	again, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host2 + "/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := reset(); n != 1 { // the config only
		t.Errorf("rescan: %d blob GETs", n)
	}
	if !slices.Equal(paths(first.Findings), paths(again.Findings)) {
		t.Errorf("cached findings %v != %v", paths(again.Findings), paths(first.Findings))
	}
	for _, l := range again.Layers {
		if !l.Cached {
			t.Errorf("layer %s not cached", l.Digest)
		}
	}
	second, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host2 + "/app:2"})
	if err != nil {
		t.Fatal(err)
	}
	if n := reset(); n != 2 { // config + the new top layer
		t.Errorf("second image: %d blob GETs", n)
	}
	// Layer 2 of app:1 (the whiteouts) is gone: opt/old.sh and srv/app/x.sh
	// are back in app:2.
	want := []string{"new/eicar", "opt/old.sh", "srv/app/x.sh", "tmp/eicar.com", "usr/bin/kworker"}
	if got := paths(second.Findings); !slices.Equal(got, want) {
		t.Errorf("app:2 findings %v, want %v", got, want)
	}
	if cache.Len() != 4 {
		t.Errorf("cache holds %d layers", cache.Len())
	}

	// The directory cache gives the same answers.
	dc, err := imagescan.NewDirCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s = imagescan.New(testEngine(t), imagescan.WithLayerCache(dc))
	for range 2 {
		rep, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host2 + "/app:1"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(paths(rep.Findings), imagetest.StandardVisible) {
			t.Errorf("dir cache findings %v", paths(rep.Findings))
		}
	}
	if n := reset(); n != 5 {
		t.Errorf("dir cache: %d blob GETs, want 5", n)
	}
}

func errIs(err, target error) bool { return err != nil && errors.Is(err, target) }

func registryHandler() http.Handler { return registry.New(registry.Logger(log.New(io.Discard, "", 0))) }

func nameRef(s string) (name.Reference, error) { return name.ParseReference(s) }
