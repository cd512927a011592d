package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

const wlCols = "r.id, r.account_id, r.product, r.mode, r.match_type, r.is_global, r.quuids, r.image_ids, r.file_names, " +
	"r.file_dirs, r.file_extensions, r.remark, r.events_count, r.created_at, r.updated_at"

func scanWhitelist(row interface{ Scan(...any) error }) (store.WhitelistRule, error) {
	var r store.WhitelistRule
	var quuids, images, names, dirs, exts string
	if err := row.Scan(&r.ID, &r.AccountID, &r.Product, &r.Mode, &r.MatchType, &r.IsGlobal, &quuids, &images, &names,
		&dirs, &exts, &r.Remark, &r.EventsCount, &microTime{&r.CreatedAt}, &microTime{&r.UpdatedAt}); err != nil {
		return r, err
	}
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
	now := micros(s.now())
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO whitelist_rules (account_id, product, mode, match_type, is_global, quuids,
			image_ids, file_names, file_dirs, file_extensions, remark, events_count, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id`,
			accountID, string(r.Product), int(r.Mode), int(r.MatchType), r.IsGlobal, prep.JSONList(r.QUUIDs),
			prep.JSONList(r.ImageIDs), prep.JSONList(r.FileNames), prep.JSONList(r.FileDirs), prep.JSONList(r.FileExtensions),
			r.Remark, now, now).Scan(&id)
		if isForeignKey(err) {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: creating whitelist rule: %w", err)
		}
		return insertWhitelistMD5(ctx, tx, accountID, id, r.MD5s)
	})
	if err != nil {
		return store.WhitelistRule{}, err
	}
	return s.GetWhitelistRule(ctx, accountID, r.Product, id)
}

func insertWhitelistMD5(ctx context.Context, tx *sql.Tx, accountID, ruleID int64, md5s []string) error {
	if len(md5s) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO whitelist_md5 (rule_id, account_id, md5)
		SELECT ?, ?, value FROM json_each(?)`, ruleID, accountID, prep.JSONList(md5s)); err != nil {
		return fmt.Errorf("sqlite: storing whitelist MD5s: %w", err)
	}
	return nil
}

func (s *Store) UpdateWhitelistRule(ctx context.Context, accountID int64, r store.WhitelistRule) (store.WhitelistRule, error) {
	r, err := store.NormalizeWhitelistRule(r)
	if err != nil {
		return store.WhitelistRule{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE whitelist_rules SET mode = ?, match_type = ?, is_global = ?, quuids = ?,
			image_ids = ?, file_names = ?, file_dirs = ?, file_extensions = ?, remark = ?, updated_at = ?
			WHERE account_id = ? AND product = ? AND id = ?`,
			int(r.Mode), int(r.MatchType), r.IsGlobal, prep.JSONList(r.QUUIDs), prep.JSONList(r.ImageIDs),
			prep.JSONList(r.FileNames), prep.JSONList(r.FileDirs), prep.JSONList(r.FileExtensions), r.Remark,
			micros(s.now()), accountID, string(r.Product), r.ID)
		if err := affected(res, err, "whitelist rule %d", r.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM whitelist_md5 WHERE rule_id = ?", r.ID); err != nil {
			return fmt.Errorf("sqlite: replacing whitelist MD5s: %w", err)
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
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanWhitelist(tx.QueryRowContext(ctx, "SELECT "+wlCols+" FROM whitelist_rules r WHERE r.account_id = ? AND r.product = ? AND r.id = ?",
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
func fillWhitelistMD5(ctx context.Context, tx *sql.Tx, rules []store.WhitelistRule) error {
	if len(rules) == 0 {
		return nil
	}
	pos := make(map[int64]int, len(rules))
	ids := make([]int64, len(rules))
	for i, r := range rules {
		pos[r.ID], ids[i] = i, r.ID
	}
	rows, err := tx.QueryContext(ctx, "SELECT rule_id, md5 FROM whitelist_md5 WHERE rule_id IN (SELECT value FROM json_each(?)) ORDER BY rule_id, md5", jsonIDs(ids))
	if err != nil {
		return fmt.Errorf("sqlite: reading whitelist MD5s: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var md5 string
		if err := rows.Scan(&id, &md5); err != nil {
			return fmt.Errorf("sqlite: reading whitelist MD5s: %w", err)
		}
		r := &rules[pos[id]]
		r.MD5s = append(r.MD5s, md5)
	}
	return rows.Err()
}

// jsonExists is a condition "some element of the JSON list column matches f".
func jsonExists(w *where, column string, f store.TextFilter) {
	sub := &where{}
	text(sub, f, "j.value")
	w.add("EXISTS (SELECT 1 FROM json_each("+column+") j"+sub.String()+")", sub.args...)
}

func (s *Store) QueryWhitelistRules(ctx context.Context, accountID int64, q store.WhitelistQuery) (store.Page[store.WhitelistRule], error) {
	var page store.Page[store.WhitelistRule]
	if err := q.Validate(); err != nil {
		return page, err
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		w := &where{}
		w.add("r.account_id = ?", accountID)
		w.add("r.product = ?", string(q.Product))
		if len(q.Modes) > 0 {
			in(w, "r.mode", q.Modes)
		}
		if q.MD5s.Set() {
			sub := &where{}
			sub.add("m.rule_id = r.id")
			text(sub, q.MD5s, "m.md5")
			w.add("EXISTS (SELECT 1 FROM whitelist_md5 m"+sub.String()+")", sub.args...)
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
			hw.add("account_id = ?", accountID)
			text(hw, q.HostIPs, "private_ip", "public_ip")
			rows, err := tx.QueryContext(ctx, "SELECT quuid FROM hosts"+hw.String(), hw.args...)
			if err != nil {
				return fmt.Errorf("sqlite: whitelist host filter: %w", err)
			}
			var quuids []string
			for rows.Next() {
				var qu string
				if err := rows.Scan(&qu); err != nil {
					rows.Close()
					return err
				}
				quuids = append(quuids, qu)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(quuids) == 0 {
				return nil
			}
			w.add("(r.is_global = 1 OR EXISTS (SELECT 1 FROM json_each(r.quuids) j WHERE j.value IN (SELECT value FROM json_each(?))))",
				prep.JSONList(quuids))
		}
		order := map[store.WhitelistOrder]string{
			store.WhitelistByCreateTime:  "r.created_at",
			store.WhitelistByModifyTime:  "r.updated_at",
			store.WhitelistByEventsCount: "r.events_count",
		}[q.OrderBy]
		d := desc(q.Desc)
		rows, err := tx.QueryContext(ctx, "SELECT "+wlCols+" FROM whitelist_rules r"+w.String()+
			" ORDER BY "+order+d+", r.id"+d+limitOffset(q.Limit, q.Offset), w.args...)
		if err != nil {
			return fmt.Errorf("sqlite: querying whitelist rules: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanWhitelist(rows)
			if err != nil {
				return fmt.Errorf("sqlite: querying whitelist rules: %w", err)
			}
			page.Items = append(page.Items, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := fillWhitelistMD5(ctx, tx, page.Items); err != nil {
			return err
		}
		return s.total(ctx, tx, &page.Total, len(page.Items), q.Limit, q.Offset,
			"SELECT COUNT(*) FROM whitelist_rules r"+w.String(), w.args)
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
	return s.write(ctx, func(tx *sql.Tx) error {
		found, err := queryInt64s(ctx, tx, "SELECT id FROM whitelist_rules WHERE account_id = ? AND product = ? AND id IN (SELECT value FROM json_each(?))",
			accountID, string(product), jsonIDs(ids))
		if err != nil {
			return fmt.Errorf("sqlite: deleting whitelist rules: %w", err)
		}
		for _, id := range ids {
			if !slices.Contains(found, id) {
				return fmt.Errorf("%w: whitelist rule %d", store.ErrNotFound, id)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM whitelist_rules WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
			accountID, jsonIDs(found)); err != nil {
			return fmt.Errorf("sqlite: deleting whitelist rules: %w", err)
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
	err := s.read(ctx, func(tx *sql.Tx) error {
		if len(md5s) > 0 {
			rows, err := tx.QueryContext(ctx, `SELECT m.md5, `+wlCols+` FROM whitelist_md5 m JOIN whitelist_rules r ON r.id = m.rule_id
				WHERE m.account_id = ? AND m.md5 IN (SELECT value FROM json_each(?)) AND r.product = ?`,
				accountID, prep.JSONList(md5s), string(product))
			if err != nil {
				return fmt.Errorf("sqlite: matching whitelist: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var md5 string
				r, err := scanWhitelist(prefixScanner{rows, &md5})
				if err != nil {
					return fmt.Errorf("sqlite: matching whitelist: %w", err)
				}
				r.MD5s = []string{md5}
				byMD5[md5] = append(byMD5[md5], r)
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+wlCols+" FROM whitelist_rules r WHERE r.account_id = ? AND r.product = ? AND r.mode = ?",
			accountID, string(product), int(store.WhitelistModeCustom))
		if err != nil {
			return fmt.Errorf("sqlite: matching whitelist: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanWhitelist(rows)
			if err != nil {
				return fmt.Errorf("sqlite: matching whitelist: %w", err)
			}
			custom = append(custom, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		out[i] = store.FirstWhitelistMatch(hostQUUID, f, byMD5[strings.ToLower(f.MD5)], custom)
	}
	return out, nil
}

// prefixScanner scans the first column into first and the rest into the
// caller's destinations.
type prefixScanner struct {
	row   interface{ Scan(...any) error }
	first any
}

func (p prefixScanner) Scan(dest ...any) error { return p.row.Scan(append([]any{p.first}, dest...)...) }

func (s *Store) AddWhitelistHits(ctx context.Context, accountID int64, hits map[int64]int64) error {
	if len(hits) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "UPDATE whitelist_rules SET events_count = events_count + ? WHERE account_id = ? AND id = ?",
				hits[id], accountID, id); err != nil {
				return fmt.Errorf("sqlite: counting whitelist hits: %w", err)
			}
		}
		return nil
	})
}
