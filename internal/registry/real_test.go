package registry

import (
	"os"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// TestRealRegistry runs against a real distribution registry when
// VIGIL_TEST_REGISTRY names one (e.g. Debian's docker-registry on
// 127.0.0.1:5000, without auth): push, check, list.
func TestRealRegistry(t *testing.T) {
	host := os.Getenv("VIGIL_TEST_REGISTRY")
	if host == "" {
		t.Skip("VIGIL_TEST_REGISTRY not set")
	}
	tr := &testRegistry{host: host}
	digest := tr.push(t, "vigil-test/real", "v1", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	c := New()
	r := store.Registry{URL: "http://" + host, Type: "other"}
	if err := c.Check(t.Context(), r, ""); err != nil {
		t.Fatalf("Check: %v", err)
	}
	imgs, err := c.List(t.Context(), r, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if img.Namespace == "vigil-test" && img.Name == "real" && img.Tag == "v1" {
			if img.Digest != digest || img.OSName != "linux" {
				t.Fatalf("listed %+v, pushed %s", img, digest)
			}
			return
		}
	}
	t.Fatalf("vigil-test/real:v1 not listed in %d images", len(imgs))
}
