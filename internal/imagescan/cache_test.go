package imagescan_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
	"github.com/vigil-sec/vigil/internal/store"
)

// fakeLayerScans is a map-backed store.LayerScans (the real store has its
// own suite in storetest).
// Like the real store it is safe for concurrent use.
type fakeLayerScans struct {
	mu sync.Mutex
	m  map[string]store.LayerScan
}

func (f *fakeLayerScans) GetLayerScan(_ context.Context, d, ev, rv string) (store.LayerScan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ls, ok := f.m[d+"|"+ev+"|"+rv]
	if !ok {
		return store.LayerScan{}, fmt.Errorf("layer scan: %w", store.ErrNotFound)
	}
	return ls, nil
}

func (f *fakeLayerScans) PutLayerScan(_ context.Context, ls store.LayerScan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[ls.LayerDigest+"|"+ls.EngineVersion+"|"+ls.RulesetVersion] = ls
	return nil
}

func TestStoreCache(t *testing.T) {
	host, _ := startRegistry(t, nil)
	push(t, host+"/app:1", mustImage(t)(imagetest.Standard()))
	fake := &fakeLayerScans{m: map[string]store.LayerScan{}}
	s := imagescan.New(testEngine(t), imagescan.WithLayerCache(imagescan.StoreCache(fake)), imagescan.WithHidden(true))
	for i := range 2 {
		rep, err := s.ScanRemote(t.Context(), imagescan.Target{Ref: host + "/app:1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) != 5 || rep.Layers[0].Cached != (i == 1) {
			t.Fatalf("pass %d: findings %v, layer 0 %+v", i, paths(rep.Findings), rep.Layers[0])
		}
		var hidden []string
		for _, f := range rep.Findings {
			if f.Hidden {
				hidden = append(hidden, f.Path)
			}
		}
		if !slices.Equal(hidden, imagetest.StandardHidden) {
			t.Errorf("pass %d: hidden %v", i, hidden)
		}
	}
	if len(fake.m) != 3 {
		t.Fatalf("%d store entries", len(fake.m))
	}
	for _, ls := range fake.m {
		if ls.EngineVersion != imagescan.EngineVersion || ls.RulesetVersion == "" || len(ls.Findings) == 0 || ls.ScannedAt.IsZero() {
			t.Errorf("entry %+v", ls)
		}
	}
}
