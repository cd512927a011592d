package regscan

import (
	"context"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/registry"
	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/store"
)

// ImageScan returns the production ScanFunc: imagescan with eng and opts
// (e.g. imagescan.WithLayerCache(imagescan.StoreCache(st))). A Scanner is
// cheap, so each image gets its own, which attributes progress to it.
func ImageScan(eng *engine.Engine, opts ...imagescan.Option) ScanFunc {
	return func(ctx context.Context, t imagescan.Target, progress func(imagescan.Progress)) (*imagescan.Report, error) {
		o := append(append([]imagescan.Option(nil), opts...), imagescan.WithProgress(progress))
		return imagescan.New(eng, o...).ScanRemote(ctx, t)
	}
}

// NewRegistryResolver is the production Resolver: passwords sealed by
// internal/registry under box, references from registry.TargetFor.
func NewRegistryResolver(st store.Registries, box *secrets.Box) Resolver {
	return NewResolver(st, func(r store.Registry) (string, error) { return registry.OpenPassword(box, r) }, registry.TargetFor)
}
