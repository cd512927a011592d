// Package backend opens the store.Store a configuration names, so that only
// this package (and not the contract package store) imports the drivers.
package backend

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/postgres"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
)

// Open opens target: a postgres:// or postgresql:// URL is a PostgreSQL
// database; anything else is a directory holding the SQLite database
// (created if missing).
func Open(ctx context.Context, target string) (store.Store, error) {
	switch {
	case target == "":
		return nil, fmt.Errorf("store: %w: no database configured (a directory or a postgres:// URL)", store.ErrInvalid)
	case IsPostgres(target):
		return postgres.Open(ctx, target)
	default:
		return sqlite.Open(ctx, target)
	}
}

// IsPostgres reports whether target names a PostgreSQL database.
func IsPostgres(target string) bool {
	t := strings.ToLower(target)
	return strings.HasPrefix(t, "postgres://") || strings.HasPrefix(t, "postgresql://")
}
