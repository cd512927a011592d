package sqlite

import (
	"context"
	"database/sql"
	"fmt"

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
	now := micros(s.now())
	args := append([]any{accountID, h.UUID, now, now}, cols.Values(cols.Host, codec, &h)...)
	var out store.Host
	err = s.w.QueryRowContext(ctx, upsertHostSQL, args...).Scan(cols.Dests(cols.HostRead, codec, &out)...)
	if isForeignKey(err) {
		return store.Host{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	if err != nil {
		return store.Host{}, fmt.Errorf("sqlite: upserting host %q: %w", h.UUID, err)
	}
	return out, nil
}

func (s *Store) GetHost(ctx context.Context, accountID int64, uuid string) (store.Host, error) {
	var h store.Host
	err := s.r.QueryRowContext(ctx, "SELECT "+cols.Names(cols.HostRead, "")+" FROM hosts WHERE account_id = ? AND uuid = ?",
		accountID, uuid).Scan(cols.Dests(cols.HostRead, codec, &h)...)
	if err != nil {
		return store.Host{}, notFound(err, "host %q", uuid)
	}
	return h, nil
}

func hostWhere(accountID int64, q store.HostQuery) *where {
	w := &where{}
	w.add("account_id = ?", accountID)
	if q.UUIDs.Set() {
		text(w, q.UUIDs, "uuid")
	}
	if q.IPOrName.Set() {
		text(w, q.IPOrName, "host_name", "private_ip", "public_ip")
	}
	if len(q.QUUIDs) > 0 {
		in(w, "quuid", q.QUUIDs)
	}
	if len(q.InstanceIDs) > 0 {
		in(w, "instance_id", q.InstanceIDs)
	}
	if q.Online != nil {
		w.add("online = ?", *q.Online)
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
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+cols.Names(cols.HostRead, "")+" FROM hosts"+w.String()+
			" ORDER BY host_name, uuid"+limitOffset(q.Limit, q.Offset), w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h store.Host
			if err := rows.Scan(cols.Dests(cols.HostRead, codec, &h)...); err != nil {
				return err
			}
			page.Items = append(page.Items, h)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ok bool
		if page.Total, ok = prep.KnownTotal(len(page.Items), q.Limit, q.Offset); ok {
			return nil
		}
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM hosts"+w.String(), w.args...).Scan(&page.Total)
	})
	if err != nil {
		return store.Page[store.Host]{}, fmt.Errorf("sqlite: querying hosts: %w", err)
	}
	return page, nil
}

// limitOffset renders paging; limit 0 is no limit.
func limitOffset(limit, offset int) string {
	switch {
	case limit > 0:
		return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	case offset > 0:
		return fmt.Sprintf(" LIMIT -1 OFFSET %d", offset)
	}
	return ""
}
