// Package migrate loads a backend's embedded, versioned schema migrations.
// Applying them is the backend's job (each has its own locking); this package
// only turns a directory of NNNN_name.sql files into an ordered, checked list.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
)

// Migration is one schema step.
type Migration struct {
	Version int64  // NNNN from the file name, > 0
	Name    string // file name
	SQL     string
}

var fileName = regexp.MustCompile(`^([0-9]{4,})_[a-z0-9_]+\.sql$`)

// Load reads every *.sql file in dir of fsys. Names must be NNNN_name.sql with
// versions unique and counting up from 1 without gaps, so a missing file is
// caught at build time rather than in production.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrate: file %q is not named NNNN_name.sql", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migrate: file %q: %w", e.Name(), err)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version - b.Version) })
	for i, m := range ms {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migrate: expected version %d, found %q", i+1, m.Name)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migrate: no migrations in %q", dir)
	}
	return ms, nil
}

// Pending returns the migrations whose versions are not in applied, checking
// that applied has no version this binary does not know (a newer binary
// migrated the database: running an older one against it is refused).
func Pending(all []Migration, applied []int64) ([]Migration, error) {
	known := make(map[int64]bool, len(all))
	for _, m := range all {
		known[m.Version] = true
	}
	done := make(map[int64]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("migrate: the database has schema version %d, newer than this binary knows (%d): upgrade vigil", v, all[len(all)-1].Version)
		}
		done[v] = true
	}
	var pending []Migration
	for _, m := range all {
		if !done[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}
