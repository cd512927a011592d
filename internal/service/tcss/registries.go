package tcss

import (
	"context"

	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/store"
)

// RegistryProber checks that vigil can reach a registry and that the
// credentials are accepted.
type RegistryProber interface {
	// Check connects with the plaintext password; the error says why not.
	Check(ctx context.Context, r store.Registry, password string) error
}

// RegistrySyncer enumerates a registry's repositories and tags into the
// store's image list.
type RegistrySyncer interface {
	Sync(ctx context.Context, accountID, registryID int64) (store.SyncResult, error)
}

func (h *handlers) registerRegistryActions(mux *server.Mux) {}
