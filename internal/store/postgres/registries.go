package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	err = s.pool.QueryRow(ctx, insertRegistrySQL, append([]any{accountID}, cols.Values(cols.Registry, codec, &r)...)...).Scan(&r.ID)
	switch {
	case isUnique(err):
		return store.Registry{}, fmt.Errorf("%w: registry %q exists", store.ErrConflict, r.Name)
	case isForeignKey(err):
		return store.Registry{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	case err != nil:
		return store.Registry{}, fmt.Errorf("postgres: creating registry: %w", err)
	}
	return r, nil
}

func scanRegistry(row pgx.Row) (store.Registry, error) {
	var r store.Registry
	err := row.Scan(cols.Dests(cols.RegistryRead, codec, &r)...)
	return r, err
}

func (s *Store) GetRegistry(ctx context.Context, accountID, id int64) (store.Registry, error) {
	r, err := scanRegistry(s.pool.QueryRow(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries WHERE account_id = $1 AND id = $2",
		accountID, id))
	if err != nil {
		return store.Registry{}, notFound(err, "registry %d", id)
	}
	return r, nil
}

func (s *Store) ListRegistries(ctx context.Context, accountID int64) ([]store.Registry, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+cols.Names(cols.RegistryRead, "")+" FROM registries WHERE account_id = $1 ORDER BY id", accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Registry, error) { return scanRegistry(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing registries: %w", err)
	}
	return out, nil
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT name FROM registries WHERE account_id = $1 AND id = $2", accountID, img.RegistryID).
			Scan(&out.RegistryName)
		if err != nil {
			return notFound(err, "registry %d", img.RegistryID)
		}
		err = tx.QueryRow(ctx, upsertImageSQL, append([]any{accountID}, cols.Values(cols.RegistryImage, codec, &img)...)...).
			Scan(cols.Dests(cols.RegistryImageRead, codec, &out)...)
		if err != nil {
			return fmt.Errorf("postgres: upserting image %s/%s:%s: %w", img.Namespace, img.Name, img.Tag, err)
		}
		return nil
	})
	if err != nil {
		return store.RegistryImage{}, err
	}
	return out, nil
}

var imageSelect = cols.Names(cols.RegistryImageRead, "i.") + ", r.name"

func scanImage(row pgx.Row) (store.RegistryImage, error) {
	var img store.RegistryImage
	err := row.Scan(append(cols.Dests(cols.RegistryImageRead, codec, &img), &img.RegistryName)...)
	return img, err
}

func (s *Store) GetRegistryImage(ctx context.Context, accountID, id int64) (store.RegistryImage, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, "SELECT "+imageSelect+
		" FROM registry_images i JOIN registries r ON r.id = i.registry_id WHERE i.account_id = $1 AND i.id = $2", accountID, id))
	if err != nil {
		return store.RegistryImage{}, notFound(err, "image %d", id)
	}
	return img, nil
}

func (s *Store) FindRegistryImage(ctx context.Context, accountID int64, ref store.ImageRef) (store.RegistryImage, error) {
	img, err := scanImage(s.pool.QueryRow(ctx, "SELECT "+imageSelect+
		` FROM registry_images i JOIN registries r ON r.id = i.registry_id AND r.account_id = i.account_id
		WHERE i.account_id = $1 AND r.name = $2 AND i.namespace = $3 AND i.name = $4 AND i.tag = $5`,
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
	", first_scan_time = LEAST(image_viruses.first_scan_time, excluded.first_scan_time)"

func imageExists(ctx context.Context, tx pgx.Tx, accountID, imageID int64) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM registry_images WHERE account_id = $1 AND id = $2", accountID, imageID).Scan(&one)
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
	return s.write(ctx, func(tx pgx.Tx) error {
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
		b := &pgx.Batch{}
		for i := range viruses {
			v := &viruses[i]
			b.Queue(upsertImageVirusSQL, append([]any{accountID, imageID, threats[v.VirusName]}, cols.Values(cols.ImageVirus, codec, v)...)...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: upserting image viruses: %w", err)
		}
		return nil
	})
}

func (s *Store) QueryImageViruses(ctx context.Context, accountID, imageID int64, q store.ImageVirusQuery) (store.Page[store.ImageVirus], error) {
	var page store.Page[store.ImageVirus]
	if err := q.Validate(); err != nil {
		return page, err
	}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if err := imageExists(ctx, tx, accountID, imageID); err != nil {
			return err
		}
		w := &where{}
		w.add("v.account_id = %s AND v.image_id = %s", accountID, imageID)
		if len(q.RiskLevels) > 0 {
			w.add("v.risk_level = ANY(%s)", q.RiskLevels)
		}
		if q.Names.Set() {
			text(w, q.Names, "t.name")
		}
		from := " FROM image_viruses v JOIN threats t ON t.id = v.threat_id"
		rows, _ := tx.Query(ctx, "SELECT "+cols.Names(cols.ImageVirusRead, "v.")+", t.name, "+cols.Names(cols.Threat, "t.")+
			from+w.String()+" ORDER BY v.risk_level DESC, v.path, v.id"+limitOffset(q.Limit, q.Offset), w.args...)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ImageVirus, error) {
			var v store.ImageVirus
			dests := append(cols.Dests(cols.ImageVirusRead, codec, &v), &v.Threat.Name)
			err := r.Scan(append(dests, cols.Dests(cols.Threat, codec, &v.Threat)...)...)
			v.VirusName = v.Threat.Name
			return v, err
		})
		if err != nil {
			return fmt.Errorf("postgres: querying image viruses: %w", err)
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*)"+from+w.String(), w.args...).Scan(&page.Total); err != nil {
			return fmt.Errorf("postgres: counting image viruses: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Page[store.ImageVirus]{}, err
	}
	return page, nil
}
