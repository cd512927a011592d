package sqlite

import (
	"strings"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/cols"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

type textFilter = store.TextFilter

func fieldNames[T any](fs []cols.Field[T]) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Col
	}
	return out
}

// placeholders returns "?, ?, …" (n of them).
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// insertSQL is "INSERT INTO table (cols) VALUES (?, …)".
func insertSQL(table string, columns []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (" + placeholders(len(columns)) + ")"
}

// upsertSQL is insertSQL plus "ON CONFLICT (conflict) DO UPDATE SET c = excluded.c, …".
func upsertSQL(table string, columns []string, conflict string, update []string) string {
	return insertSQL(table, columns) + " ON CONFLICT (" + conflict + ") DO UPDATE SET " + setExcluded(update)
}

func setExcluded(columns []string) string {
	var b strings.Builder
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}

// where accumulates AND'ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// in adds "col IN (?, …)".
func in[T any](w *where, col string, vals []T) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	w.add(col+" IN ("+placeholders(len(vals))+")", args...)
}

// text adds a TextFilter over one or more columns: any value matching any
// column. Substring matches use LIKE, which in SQLite folds ASCII case.
func text(w *where, f textFilter, columns ...string) {
	var ors []string
	var args []any
	for _, v := range f.Values {
		for _, c := range columns {
			if f.Exact {
				ors = append(ors, c+" = ?")
				args = append(args, v)
			} else {
				ors = append(ors, c+` LIKE ? ESCAPE '\'`)
				args = append(args, prep.Contains(v))
			}
		}
	}
	w.add("("+strings.Join(ors, " OR ")+")", args...)
}
