package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

const wlCols = "r.id, r.account_id, r.product, r.mode, r.match_type, r.is_global, r.quuids::text, r.image_ids::text, " +
	"r.file_names::text, r.file_dirs::text, r.file_extensions::text, r.remark, r.events_count, r.created_at, r.updated_at"

func scanWhitelist(row pgx.Row, extra ...any) (store.WhitelistRule, error) {
	var r store.WhitelistRule
	var product string
	var mode, match int32
	var quuids, images, names, dirs, exts string
	dests := append(append([]any(nil), extra...), &r.ID, &r.AccountID, &product, &mode, &match, &r.IsGlobal, &quuids, &images, &names,
		&dirs, &exts, &r.Remark, &r.EventsCount, codec.TimeDest(&r.CreatedAt), codec.TimeDest(&r.UpdatedAt))
	if err := row.Scan(dests...); err != nil {
		return r, err
	}
	r.Product, r.Mode, r.MatchType = store.WhitelistProduct(product), store.WhitelistMode(mode), store.WhitelistMatchType(match)
	for _, l := range []struct {
		dst *[]string
		s   string
	}{{&r.QUUIDs, quuids}, {&r.ImageIDs, images}, {&r.FileNames, names}, {&r.FileDirs, dirs}, {&r.FileExtensions, exts}} {
		v, err := prep.ParseJSONList(l.s)
		if err != nil {
			return r, err
		}
		*l.dst = v
	}
	return r, nil
}

func (s *Store) CreateWhitelistRule(ctx context.Context, accountID int64, r store.WhitelistRule) (store.WhitelistRule, error) {
	r, err := store.NormalizeWhitelistRule(r)
	if err != nil {
		return store.WhitelistRule{}, err
	}
	now := store.UTC(s.now())
	var id int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO whitelist_rules (account_id, product, mode, match_type, is_global, quuids,
			image_ids, file_names, file_dirs, file_extensions, remark, events_count, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10::jsonb, $11, 0, $12, $12) RETURNING id`,
			accountID, string(r.Product), int32(r.Mode), int32(r.MatchType), r.IsGlobal, prep.JSONList(r.QUUIDs),
			prep.JSONList(r.ImageIDs), prep.JSONList(r.FileNames), prep.JSONList(r.FileDirs), prep.JSONList(r.FileExtensions),
			r.Remark, now).Scan(&id)
		if isForeignKey(err) {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		if err != nil {
			return fmt.Errorf("postgres: creating whitelist rule: %w", err)
		}
		return insertWhitelistMD5(ctx, tx, accountID, id, r.MD5s)
	})
	if err != nil {
		return store.WhitelistRule{}, err
	}
	return s.GetWhitelistRule(ctx, accountID, r.Product, id)
}

func insertWhitelistMD5(ctx context.Context, tx pgx.Tx, accountID, ruleID int64, md5s []string) error {
	if len(md5s) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO whitelist_md5 (rule_id, account_id, md5) SELECT $1, $2, unnest($3::text[])`,
		ruleID, accountID, md5s); err != nil {
		return fmt.Errorf("postgres: storing whitelist MD5s: %w", err)
	}
	return nil
}

func (s *Store) UpdateWhitelistRule(ctx context.Context, accountID int64, r store.WhitelistRule) (store.WhitelistRule, error) {
	r, err := store.NormalizeWhitelistRule(r)
	if err != nil {
		return store.WhitelistRule{}, err
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE whitelist_rules SET mode = $1, match_type = $2, is_global = $3, quuids = $4::jsonb,
			image_ids = $5::jsonb, file_names = $6::jsonb, file_dirs = $7::jsonb, file_extensions = $8::jsonb, remark = $9,
			updated_at = $10 WHERE account_id = $11 AND product = $12 AND id = $13`,
			int32(r.Mode), int32(r.MatchType), r.IsGlobal, prep.JSONList(r.QUUIDs), prep.JSONList(r.ImageIDs),
			prep.JSONList(r.FileNames), prep.JSONList(r.FileDirs), prep.JSONList(r.FileExtensions), r.Remark,
			store.UTC(s.now()), accountID, string(r.Product), r.ID)
		if err != nil {
			return fmt.Errorf("postgres: updating whitelist rule %d: %w", r.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: whitelist rule %d", store.ErrNotFound, r.ID)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM whitelist_md5 WHERE rule_id = $1", r.ID); err != nil {
			return fmt.Errorf("postgres: replacing whitelist MD5s: %w", err)
		}
		return insertWhitelistMD5(ctx, tx, accountID, r.ID, r.MD5s)
	})
	if err != nil {
		return store.WhitelistRule{}, err
	}
	return s.GetWhitelistRule(ctx, accountID, r.Product, r.ID)
}

func (s *Store) GetWhitelistRule(ctx context.Context, accountID int64, product store.WhitelistProduct, id int64) (store.WhitelistRule, error) {
	var r store.WhitelistRule
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanWhitelist(tx.QueryRow(ctx, "SELECT "+wlCols+" FROM whitelist_rules r WHERE r.account_id = $1 AND r.product = $2 AND r.id = $3",
			accountID, string(product), id))
		if err != nil {
			return notFound(err, "whitelist rule %d", id)
		}
		rules := []store.WhitelistRule{r}
		if err := fillWhitelistMD5(ctx, tx, rules); err != nil {
			return err
		}
		r = rules[0]
		return nil
	})
	return r, err
}

// fillWhitelistMD5 reads the MD5s of rules, sorted.
func fillWhitelistMD5(ctx context.Context, tx pgx.Tx, rules []store.WhitelistRule) error {
	if len(rules) == 0 {
		return nil
	}
	pos := make(map[int64]int, len(rules))
	ids := make([]int64, len(rules))
	for i, r := range rules {
		pos[r.ID], ids[i] = i, r.ID
	}
	rows, _ := tx.Query(ctx, "SELECT rule_id, md5 FROM whitelist_md5 WHERE rule_id = ANY($1) ORDER BY rule_id, md5 COLLATE \"C\"", ids)
	var id int64
	var md5 string
	_, err := pgx.ForEachRow(rows, []any{&id, &md5}, func() error {
		r := &rules[pos[id]]
		r.MD5s = append(r.MD5s, md5)
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: reading whitelist MD5s: %w", err)
	}
	return nil
}

// jsonExists adds "some element of the JSON list column matches f".
func jsonExists(w *where, column string, f store.TextFilter) {
	subquery(w, "EXISTS", "1 FROM jsonb_array_elements_text("+column+") j(v)", func(sub *where) { text(sub, f, "j.v") })
}

func (s *Store) QueryWhitelistRules(ctx context.Context, accountID int64, q store.WhitelistQuery) (store.Page[store.WhitelistRule], error) {
	var page store.Page[store.WhitelistRule]
	if err := q.Validate(); err != nil {
		return page, err
	}
	err := s.read(ctx, func(tx pgx.Tx) error {
		w := &where{}
		w.add("r.account_id = %s", accountID)
		w.add("r.product = %s", string(q.Product))
		if len(q.Modes) > 0 {
			modes := make([]int32, len(q.Modes))
			for i, m := range q.Modes {
				modes[i] = int32(m)
			}
			w.add("r.mode = ANY(%s)", modes)
		}
		if q.MD5s.Set() {
			subquery(w, "EXISTS", "1 FROM whitelist_md5 m", func(sub *where) {
				sub.conds = append(sub.conds, "m.rule_id = r.id")
				text(sub, q.MD5s, "m.md5")
			})
		}
		if q.FileNames.Set() {
			jsonExists(w, "r.file_names", q.FileNames)
		}
		if q.FileDirs.Set() {
			jsonExists(w, "r.file_dirs", q.FileDirs)
		}
		if q.FileExtensions.Set() {
			jsonExists(w, "r.file_extensions", q.FileExtensions)
		}
		if q.HostIPs.Set() {
			hw := &where{}
			hw.add("account_id = %s", accountID)
			text(hw, q.HostIPs, "private_ip", "public_ip")
			rows, _ := tx.Query(ctx, "SELECT quuid FROM hosts"+hw.String(), hw.args...)
			quuids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("postgres: whitelist host filter: %w", err)
			}
			if len(quuids) == 0 {
				return nil
			}
			w.add("(r.is_global OR r.quuids ?| %s::text[])", quuids)
		}
		order := map[store.WhitelistOrder]string{
			store.WhitelistByCreateTime:  "r.created_at",
			store.WhitelistByModifyTime:  "r.updated_at",
			store.WhitelistByEventsCount: "r.events_count",
		}[q.OrderBy]
		d := ""
		if q.Desc {
			d = " DESC"
		}
		rows, _ := tx.Query(ctx, "SELECT "+wlCols+" FROM whitelist_rules r"+w.String()+
			" ORDER BY "+order+d+", r.id"+d+limitOffset(q.Limit, q.Offset), w.args...)
		var err error
		page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.WhitelistRule, error) { return scanWhitelist(row) })
		if err != nil {
			return fmt.Errorf("postgres: querying whitelist rules: %w", err)
		}
		if err := fillWhitelistMD5(ctx, tx, page.Items); err != nil {
			return err
		}
		return total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset, "SELECT COUNT(*) FROM whitelist_rules r"+w.String(), w.args)
	})
	return page, err
}

func (s *Store) DeleteWhitelistRules(ctx context.Context, accountID int64, product store.WhitelistProduct, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > store.MaxSelectionIDs {
		return fmt.Errorf("%w: at most %d rule ids", store.ErrInvalid, store.MaxSelectionIDs)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT id FROM whitelist_rules WHERE account_id = $1 AND product = $2 AND id = ANY($3) ORDER BY id FOR UPDATE",
			accountID, string(product), ids)
		found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("postgres: deleting whitelist rules: %w", err)
		}
		for _, id := range ids {
			if !slices.Contains(found, id) {
				return fmt.Errorf("%w: whitelist rule %d", store.ErrNotFound, id)
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM whitelist_rules WHERE account_id = $1 AND id = ANY($2)", accountID, found); err != nil {
			return fmt.Errorf("postgres: deleting whitelist rules: %w", err)
		}
		return nil
	})
}

func (s *Store) MatchWhitelist(ctx context.Context, accountID int64, product store.WhitelistProduct, hostQUUID string, files []store.WhitelistFile) ([]int64, error) {
	out := make([]int64, len(files))
	if len(files) == 0 {
		return out, nil
	}
	var md5s []string
	for _, f := range files {
		if m := strings.ToLower(f.MD5); store.IsMD5(m) && !slices.Contains(md5s, m) {
			md5s = append(md5s, m)
		}
	}
	byMD5 := map[string][]store.WhitelistRule{}
	var custom []store.WhitelistRule
	err := s.read(ctx, func(tx pgx.Tx) error {
		if len(md5s) > 0 {
			rows, _ := tx.Query(ctx, `SELECT m.md5, `+wlCols+` FROM whitelist_md5 m JOIN whitelist_rules r ON r.id = m.rule_id
				WHERE m.account_id = $1 AND m.md5 = ANY($2) AND r.product = $3`, accountID, md5s, string(product))
			_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
				var md5 string
				r, err := scanWhitelist(row, &md5)
				if err != nil {
					return struct{}{}, err
				}
				r.MD5s = []string{md5}
				byMD5[md5] = append(byMD5[md5], r)
				return struct{}{}, nil
			})
			if err != nil {
				return fmt.Errorf("postgres: matching whitelist: %w", err)
			}
		}
		rows, _ := tx.Query(ctx, "SELECT "+wlCols+" FROM whitelist_rules r WHERE r.account_id = $1 AND r.product = $2 AND r.mode = $3",
			accountID, string(product), int32(store.WhitelistModeCustom))
		var err error
		custom, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.WhitelistRule, error) { return scanWhitelist(row) })
		if err != nil {
			return fmt.Errorf("postgres: matching whitelist: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		out[i] = store.FirstWhitelistMatch(hostQUUID, f, byMD5[strings.ToLower(f.MD5)], custom)
	}
	return out, nil
}

func (s *Store) AddWhitelistHits(ctx context.Context, accountID int64, hits map[int64]int64) error {
	if len(hits) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	slices.Sort(ids) // one lock order for concurrent callers
	ns := make([]int64, len(ids))
	for i, id := range ids {
		ns[i] = hits[id]
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE whitelist_rules r SET events_count = r.events_count + u.n
			FROM (SELECT unnest($2::bigint[]) AS id, unnest($3::bigint[]) AS n) u
			WHERE r.account_id = $1 AND r.id = u.id`, accountID, ids, ns); err != nil {
			return fmt.Errorf("postgres: counting whitelist hits: %w", err)
		}
		return nil
	})
}
