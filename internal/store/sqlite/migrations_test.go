package sqlite

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/store/internal/migrate"
)

// migrationCount is how many rows schema_migrations holds once every
// embedded migration is applied.
func migrationCount(t *testing.T) int {
	t.Helper()
	all, err := migrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}
