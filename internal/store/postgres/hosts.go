package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

var upsertHostSQL = func() string {
	c := append([]string{"account_id", "uuid", "created_at", "updated_at"}, fieldNames(cols.Host)...)
	return upsertSQL("hosts", c, "account_id, uuid", append([]string{"updated_at"}, fieldNames(cols.Host)...)) +
		" RETURNING " + cols.Names(cols.HostRead, "")
}()

func (s *Store) UpsertHost(ctx context.Context, accountID int64, h store.Host) (store.Host, error) {
	h, err := prep.Host(h)
	if err != nil {
		return store.Host{}, err
	}
	now := store.UTC(s.now())
	args := append([]any{accountID, h.UUID, now, now}, cols.Values(cols.Host, codec, &h)...)
	var out store.Host
	err = s.pool.QueryRow(ctx, upsertHostSQL, args...).Scan(cols.Dests(cols.HostRead, codec, &out)...)
	if isForeignKey(err) {
		return store.Host{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	if err != nil {
		return store.Host{}, fmt.Errorf("postgres: upserting host %q: %w", h.UUID, err)
	}
	return out, nil
}

func (s *Store) GetHost(ctx context.Context, accountID int64, uuid string) (store.Host, error) {
	var h store.Host
	err := s.pool.QueryRow(ctx, "SELECT "+cols.Names(cols.HostRead, "")+" FROM hosts WHERE account_id = $1 AND uuid = $2",
		accountID, uuid).Scan(cols.Dests(cols.HostRead, codec, &h)...)
	if err != nil {
		return store.Host{}, notFound(err, "host %q", uuid)
	}
	return h, nil
}

func hostWhere(accountID int64, q store.HostQuery) *where {
	w := &where{}
	w.add("account_id = %s", accountID)
	if q.UUIDs.Set() {
		text(w, q.UUIDs, "uuid")
	}
	if q.IPOrName.Set() {
		text(w, q.IPOrName, "host_name", "private_ip", "public_ip")
	}
	if len(q.QUUIDs) > 0 {
		w.add("quuid = ANY(%s)", q.QUUIDs)
	}
	if len(q.InstanceIDs) > 0 {
		w.add("instance_id = ANY(%s)", q.InstanceIDs)
	}
	if q.Online != nil {
		w.add("online = %s", *q.Online)
	}
	hostStatsWhere(w, q)
	return w
}

func (s *Store) QueryHosts(ctx context.Context, accountID int64, q store.HostQuery) (store.Page[store.Host], error) {
	if err := q.Validate(); err != nil {
		return store.Page[store.Host]{}, err
	}
	w := hostWhere(accountID, q)
	var page store.Page[store.Host]
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT "+cols.Names(cols.HostRead, "")+" FROM hosts"+w.String()+
			" ORDER BY host_name, uuid"+limitOffset(q.Limit, q.Offset), w.args...)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Host, error) {
			var h store.Host
			err := r.Scan(cols.Dests(cols.HostRead, codec, &h)...)
			return h, err
		})
		if err != nil {
			return err
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		return tx.QueryRow(ctx, "SELECT COUNT(*) FROM hosts"+w.String(), w.args...).Scan(&page.Total)
	})
	if err != nil {
		return store.Page[store.Host]{}, fmt.Errorf("postgres: querying hosts: %w", err)
	}
	return page, nil
}
