package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

var insertRegistrySQL = insertSQL("registries", append([]string{"account_id"}, fieldNames(cols.Registry)...)) + " RETURNING id"

func (s *Store) CreateRegistry(ctx context.Context, accountID int64, r store.Registry) (store.Registry, error) {
	r, err := prep.Registry(r)
	if err != nil {
		return store.Registry{}, err
	}
	r.AccountID = accountID
	r.CreatedAt = store.UTC(s.now())
	r.UpdatedAt = r.CreatedAt
	err = s.w.QueryRowContext(ctx, insertRegistrySQL, append([]any{accountID}, cols.Values(cols.Registry, codec, &r)...)...).Scan(&r.ID)
	switch {
	case isUnique(err):
		return store.Registry{}, fmt.Errorf("%w: registry %q exists", store.ErrConflict, r.Name)
	case isForeignKey(err):
		return store.Registry{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.Registry{}, fmt.Errorf("sqlite: creating registry: %w", err)
	}
	return r, nil
}

func (s *Store) GetRegistry(ctx context.Context, accountID, id int64) (store.Registry, error) {
	var r store.Registry
	err := s.r.QueryRowContext(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries WHERE account_id = ? AND id = ?",
		accountID, id).Scan(cols.Dests(cols.RegistryRead, codec, &r)...)
	if err != nil {
		return store.Registry{}, notFound(err, "registry %d", id)
	}
	return r, nil
}

func (s *Store) ListRegistries(ctx context.Context, accountID int64) ([]store.Registry, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries WHERE account_id = ? ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing registries: %w", err)
	}
	defer rows.Close()
	var out []store.Registry
	for rows.Next() {
		var r store.Registry
		if err := rows.Scan(cols.Dests(cols.RegistryRead, codec, &r)...); err != nil {
			return nil, fmt.Errorf("sqlite: listing registries: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Registry images.

var upsertImageSQL = upsertSQL("registry_images", append([]string{"account_id"}, fieldNames(cols.RegistryImage)...),
	"account_id, registry_id, namespace, name, tag", fieldNames(cols.RegistryImageUpdated)) +
	" RETURNING " + cols.Names(cols.RegistryImageRead, "")

func (s *Store) UpsertRegistryImage(ctx context.Context, accountID int64, img store.RegistryImage) (store.RegistryImage, error) {
	img, err := prep.RegistryImage(img)
	if err != nil {
		return store.RegistryImage{}, err
	}
	img.CreatedAt = store.UTC(s.now())
	img.UpdatedAt = img.CreatedAt
	var out store.RegistryImage
	err = s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT name FROM registries WHERE account_id = ? AND id = ?", accountID, img.RegistryID).
			Scan(&out.RegistryName)
		if err != nil {
			return notFound(err, "registry %d", img.RegistryID)
		}
		err = tx.QueryRowContext(ctx, upsertImageSQL, append([]any{accountID}, cols.Values(cols.RegistryImage, codec, &img)...)...).
			Scan(cols.Dests(cols.RegistryImageRead, codec, &out)...)
		if err != nil {
			return fmt.Errorf("sqlite: upserting image %s/%s:%s: %w", img.Namespace, img.Name, img.Tag, err)
		}
		return nil
	})
	if err != nil {
		return store.RegistryImage{}, err
	}
	return out, nil
}

var imageSelect = cols.Names(cols.RegistryImageRead, "i.") + ", r.name"

func scanImage(row interface{ Scan(...any) error }) (store.RegistryImage, error) {
	var img store.RegistryImage
	err := row.Scan(append(cols.Dests(cols.RegistryImageRead, codec, &img), &img.RegistryName)...)
	return img, err
}

func (s *Store) GetRegistryImage(ctx context.Context, accountID, id int64) (store.RegistryImage, error) {
	img, err := scanImage(s.r.QueryRowContext(ctx, "SELECT "+imageSelect+
		" FROM registry_images i JOIN registries r ON r.id = i.registry_id WHERE i.account_id = ? AND i.id = ?", accountID, id))
	if err != nil {
		return store.RegistryImage{}, notFound(err, "image %d", id)
	}
	return img, nil
}

func (s *Store) FindRegistryImage(ctx context.Context, accountID int64, ref store.ImageRef) (store.RegistryImage, error) {
	img, err := scanImage(s.r.QueryRowContext(ctx, "SELECT "+imageSelect+
		` FROM registry_images i JOIN registries r ON r.id = i.registry_id AND r.account_id = i.account_id
		WHERE i.account_id = ? AND r.name = ? AND i.namespace = ? AND i.name = ? AND i.tag = ?`,
		accountID, ref.RegistryName, ref.Namespace, ref.Name, ref.Tag))
	if err != nil {
		return store.RegistryImage{}, notFound(err, "image %s %s/%s:%s", ref.RegistryName, ref.Namespace, ref.Name, ref.Tag)
	}
	return img, nil
}

// Image viruses.

var upsertImageVirusSQL = insertSQL("image_viruses",
	append([]string{"account_id", "image_id", "threat_id"}, fieldNames(cols.ImageVirus)...)) +
	" ON CONFLICT (image_id, path, threat_id) DO UPDATE SET " + setExcluded(fieldNames(cols.ImageVirusUpdated)) +
	", first_scan_time = min(first_scan_time, excluded.first_scan_time)"

func imageExists(ctx context.Context, q querier, accountID, imageID int64) error {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM registry_images WHERE account_id = ? AND id = ?", accountID, imageID).Scan(&one)
	if err != nil {
		return notFound(err, "image %d", imageID)
	}
	return nil
}

func (s *Store) UpsertImageViruses(ctx context.Context, accountID, imageID int64, viruses []store.ImageVirus) error {
	viruses, err := prep.ImageViruses(viruses)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := imageExists(ctx, tx, accountID, imageID); err != nil {
			return err
		}
		if len(viruses) == 0 {
			return nil
		}
		threats, err := s.threatIDs(ctx, tx, prep.Names(viruses, func(v store.ImageVirus) string { return v.VirusName }))
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, upsertImageVirusSQL)
		if err != nil {
			return fmt.Errorf("sqlite: upserting image viruses: %w", err)
		}
		defer stmt.Close()
		for i := range viruses {
			v := &viruses[i]
			args := append([]any{accountID, imageID, threats[v.VirusName]}, cols.Values(cols.ImageVirus, codec, v)...)
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("sqlite: upserting image virus %q: %w", v.Path, err)
			}
		}
		return nil
	})
}

func (s *Store) QueryImageViruses(ctx context.Context, accountID, imageID int64, q store.ImageVirusQuery) (store.Page[store.ImageVirus], error) {
	var page store.Page[store.ImageVirus]
	if err := q.Validate(); err != nil {
		return page, err
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := imageExists(ctx, tx, accountID, imageID); err != nil {
			return err
		}
		w := &where{}
		w.add("v.account_id = ? AND v.image_id = ?", accountID, imageID)
		if len(q.RiskLevels) > 0 {
			in(w, "v.risk_level", q.RiskLevels)
		}
		if q.Names.Set() {
			text(w, q.Names, "t.name")
		}
		from := " FROM image_viruses v JOIN threats t ON t.id = v.threat_id"
		rows, err := tx.QueryContext(ctx, "SELECT "+cols.Names(cols.ImageVirusRead, "v.")+", t.name, "+cols.Names(cols.Threat, "t.")+
			from+w.String()+" ORDER BY v.risk_level DESC, v.path, v.id"+limitOffset(q.Limit, q.Offset), w.args...)
		if err != nil {
			return fmt.Errorf("sqlite: querying image viruses: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v store.ImageVirus
			dests := append(cols.Dests(cols.ImageVirusRead, codec, &v), &v.Threat.Name)
			if err := rows.Scan(append(dests, cols.Dests(cols.Threat, codec, &v.Threat)...)...); err != nil {
				return fmt.Errorf("sqlite: querying image viruses: %w", err)
			}
			v.VirusName = v.Threat.Name
			page.Items = append(page.Items, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: querying image viruses: %w", err)
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+from+w.String(), w.args...).Scan(&page.Total); err != nil {
			return fmt.Errorf("sqlite: counting image viruses: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Page[store.ImageVirus]{}, err
	}
	return page, nil
}
