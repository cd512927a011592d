package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

var insertVirusSQL = insertSQL("virus_events",
	append([]string{"account_id", "host_id", "threat_id"}, fieldNames(cols.VirusEvent)...)) +
	` ON CONFLICT (account_id, host_id, container_id, file_path, file_md5) DO UPDATE SET threat_id = excluded.threat_id, ` +
	setExcluded(fieldNames(cols.VirusEventUpdated)) + `,
		create_time = LEAST(virus_events.create_time, excluded.create_time),
		modify_time = GREATEST(virus_events.modify_time, excluded.modify_time)
	RETURNING id`

func (s *Store) InsertVirusEvents(ctx context.Context, accountID int64, events []store.VirusEvent) ([]int64, error) {
	distinct, index, err := prep.VirusEvents(events)
	if err != nil {
		return nil, err
	}
	if len(distinct) == 0 {
		return []int64{}, nil
	}
	ids := make([]int64, len(distinct))
	err = s.write(ctx, func(tx pgx.Tx) error {
		hosts, err := hostIDs(ctx, tx, accountID, prep.Names(distinct, func(e store.VirusEvent) string { return e.HostUUID }))
		if err != nil {
			return err
		}
		threats, err := s.threatIDs(ctx, tx, prep.Names(distinct, func(e store.VirusEvent) string { return e.VirusName }))
		if err != nil {
			return err
		}
		rows := make([][]any, len(distinct))
		order := make([]int, len(distinct))
		for i := range distinct {
			e := &distinct[i]
			rows[i] = append([]any{accountID, hosts[e.HostUUID], threats[e.VirusName]}, cols.Values(cols.VirusEvent, codec, e)...)
			order[i] = i
		}
		return insertPipelined(ctx, tx, insertVirusSQL, rows, order, ids)
	})
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(events))
	for i, j := range index {
		out[i] = ids[j]
	}
	return out, nil
}

var virusSelect = cols.Names(cols.VirusEventRead, "e.") + ", " + cols.Names(cols.HostRead, "h.") + ", t.name, " + cols.Names(cols.Threat, "t.")

func (s *Store) GetVirusEvent(ctx context.Context, accountID, id int64) (store.VirusEvent, error) {
	var e store.VirusEvent
	dests := cols.Dests(cols.VirusEventRead, codec, &e)
	dests = append(dests, cols.Dests(cols.HostRead, codec, &e.Host)...)
	dests = append(dests, &e.Threat.Name)
	dests = append(dests, cols.Dests(cols.Threat, codec, &e.Threat)...)
	err := s.pool.QueryRow(ctx, "SELECT "+virusSelect+` FROM virus_events e
		JOIN hosts h ON h.id = e.host_id JOIN threats t ON t.id = e.threat_id
		WHERE e.account_id = $1 AND e.id = $2`, accountID, id).Scan(dests...)
	if err != nil {
		return store.VirusEvent{}, notFound(err, "virus event %d", id)
	}
	e.HostUUID = e.Host.UUID
	e.VirusName = e.Threat.Name
	return e, nil
}
