package imagescan_test

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

// tarDir packs dir into a tar file.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		if err := tw.WriteHeader(&tar.Header{Name: rel, Size: fi.Size(), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestScanTarball(t *testing.T) {
	img := mustImage(t)(imagetest.Standard())
	dir := t.TempDir()

	docker := filepath.Join(dir, "docker.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(docker, tag, img); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci.tar")
	tarDir(t, filepath.Join(dir, "layout"), oci)

	cache := imagescan.NewMemCache()
	s := imagescan.New(testEngine(t), imagescan.WithLayerCache(cache))
	for _, file := range []string{docker, oci, oci} {
		rep, err := s.ScanTarball(t.Context(), file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := paths(rep.Findings); !slices.Equal(got, imagetest.StandardVisible) {
			t.Errorf("%s: findings %v", filepath.Base(file), got)
		}
		if len(rep.Layers) != 3 || rep.OS != "linux" {
			t.Errorf("%s: report %+v", filepath.Base(file), rep)
		}
	}
	if cache.Len() != 6 { // docker save layers are keyed by diff ID, layout ones by digest
		t.Errorf("cache holds %d layers", cache.Len())
	}

	if _, err := s.ScanTarball(t.Context(), filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("missing file: no error")
	}
	notImage := filepath.Join(dir, "plain.tar")
	tarDir(t, filepath.Join(dir, "layout", "blobs"), notImage)
	if _, err := s.ScanTarball(t.Context(), notImage); !errIs(err, imagescan.ErrUnsupported) {
		t.Errorf("plain tar: %v", err)
	}
}
