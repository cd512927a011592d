package main

import (
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

func pushImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func TestScanImageCLI(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := imagetest.Standard()
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, host+"/app:1", img)
	clean, err := imagetest.Build([]imagetest.Entry{imagetest.File("etc/motd", []byte("hi\n"))})
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, host+"/clean:1", clean)
	dir := t.TempDir()
	archive := filepath.Join(dir, "app.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")

	tests := []struct {
		name     string
		args     []string
		code     int
		findings int
		cached   float64
		stderr   string
	}{
		{"findings", []string{host + "/app:1"}, 1, 2, 0, ""},
		{"rescan from the cache", []string{host + "/app:1"}, 1, 2, 3, ""},
		{"show hidden", []string{"--show-hidden", host + "/app:1"}, 1, 5, 3, ""},
		{"clean", []string{host + "/clean:1"}, 0, 0, 0, ""},
		{"tarball", []string{"--tarball", archive}, 1, 2, 0, ""},
		{"not found", []string{host + "/nope:1"}, 2, -1, 0, "image not found"},
		{"bad reference", []string{"UPPER/Case::x"}, 2, -1, 0, "image reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"scan", "image", "--format", "json", "--cache-dir", cache}, tc.args...)
			r := vigil(t, nil, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
			}
			if tc.findings < 0 {
				return
			}
			objs := decodeLines(t, r.stdout)
			if len(objs) != tc.findings+1 {
				t.Fatalf("%d JSON lines, want %d: %s", len(objs), tc.findings+1, r.stdout)
			}
			sum := objs[len(objs)-1]
			if sum["type"] != "summary" || sum["cached_layers"] != tc.cached {
				t.Errorf("summary %v", sum)
			}
			for _, f := range objs[:tc.findings] {
				if f["type"] != "finding" || f["layer_digest"] == "" || f["path"] == "" || f["virus_name"] == "" {
					t.Errorf("finding %v", f)
				}
			}
		})
	}

	r := vigil(t, nil, "scan", "image", "--no-cache", host+"/app:1")
	if r.code != 1 || !strings.Contains(r.stdout, "usr/bin/kworker") || !strings.Contains(r.stdout, "IMAGE SCAN SUMMARY") {
		t.Errorf("table: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
