package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lawfleet/fleet/fleet"
)

// Page sizes: a list without a limit gets defaultLimit items, and no list
// returns more than maxLimit, whatever it asks for.
const (
	defaultLimit = 50
	maxLimit     = 500
)

func pageLimit(p fleet.Page) int {
	switch {
	case p.Limit <= 0:
		return defaultLimit
	case p.Limit > maxLimit:
		return maxLimit
	}
	return p.Limit
}

// tx is one transaction; it implements fleet.Tx.
type tx struct {
	tx *sql.Tx
	db *DB
}

var _ fleet.Tx = (*tx)(nil)

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// filter collects the conditions and arguments of a list query. Only
// fixed SQL fragments from this package go into conds; every value from
// outside goes through arg as a $n parameter.
type filter struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filter) where(cond string) { f.conds = append(f.conds, cond) }

// scope limits col, a unit path, to the subtree at prefix ("" is
// everything). It is a range scan [prefix, next) rather than LIKE, so that
// it uses the index on units.path and '_' or '%' in a path are plain
// characters. Both databases compare paths bytewise (SQLite's BINARY,
// PostgreSQL's COLLATE "C" on the column).
func (f *filter) scope(col, prefix string) error {
	if prefix == "" {
		return nil
	}
	end, ok := prefixEnd(prefix)
	if !ok {
		return fleet.Invalid("scope", "not a unit path")
	}
	f.where(col + " >= " + f.arg(prefix) + " AND " + col + " < " + f.arg(end))
	return nil
}

// contains adds a case-insensitive substring match of q on any of cols.
// Both sides go through the database's LOWER, so they fold alike.
func (f *filter) contains(q string, cols ...string) {
	if q == "" {
		return
	}
	p := f.arg("%" + escapeLike(q) + "%")
	var ors []string
	for _, c := range cols {
		ors = append(ors, "LOWER("+c+") LIKE LOWER("+p+") ESCAPE '\\'")
	}
	f.where("(" + strings.Join(ors, " OR ") + ")")
}

// sql returns "base WHERE … ORDER BY order LIMIT n".
func (f *filter) sql(base, order string, limit int) string {
	var b strings.Builder
	b.WriteString(base)
	if len(f.conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(f.conds, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(order)
	b.WriteString(" LIMIT ")
	b.WriteString(f.arg(limit))
	return b.String()
}

// escapeLike makes s match itself literally in a LIKE pattern with
// ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, in bytewise (= code point) order: prefix with its last rune
// incremented. Unit paths end in '/', so in practice this turns "/a/b/"
// into "/a/b0". It reports false when there is no such string, which only
// invalid UTF-8 or a prefix ending in U+10FFFF could cause.
func prefixEnd(prefix string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(prefix)
	if r == utf8.RuneError || r == utf8.MaxRune {
		return "", false
	}
	next := r + 1
	if next >= 0xD800 && next <= 0xDFFF { // surrogates are not valid UTF-8
		next = 0xE000
	}
	return prefix[:len(prefix)-size] + string(next), true
}

// list runs a keyset-paged query that fetches limit+1 rows, to know
// whether another page exists without counting, and returns at most limit
// items with the cursor of the next page ("" at the end).
func list[T any](ctx context.Context, t *tx, op, query string, args []any, limit int,
	scan func(rowScanner) (T, error), cursor func(T) string) ([]T, string, error) {
	items, err := all(ctx, t, op, query, args, scan)
	if err != nil {
		return nil, "", err
	}
	if len(items) > limit {
		items = items[:limit]
		return items, cursor(items[limit-1]), nil
	}
	return items, "", nil
}

// all runs a query and scans every row.
func all[T any](ctx context.Context, t *tx, op, query string, args []any,
	scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.fail(ctx, err, op)
	}
	defer rows.Close()
	items := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		items = append(items, v)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(ctx, err, op)
	}
	return items, nil
}

// exec runs a write and returns the number of rows it touched.
func (t *tx) exec(ctx context.Context, op, query string, args []any, refs ...ref) (int64, error) {
	res, err := t.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, t.fail(ctx, err, op, refs...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %s: rows affected: %w", op, err)
	}
	return n, nil
}

// exists reports whether table has a row with id; table is always a
// constant of this package, never input.
func (t *tx) exists(ctx context.Context, table, id string) (bool, error) {
	var one int
	err := t.tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = $1", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, t.fail(ctx, err, "look up "+table)
	}
	return true, nil
}

// versioned finishes an optimistic update (UPDATE … WHERE id = $1 AND
// version = $2): no row touched means the record is gone or someone saved
// it since the caller read it.
func (t *tx) versioned(ctx context.Context, n int64, table, entity, id string) error {
	if n > 0 {
		return nil
	}
	ok, err := t.exists(ctx, table, id)
	if err != nil {
		return err
	} else if !ok {
		return fleet.Errorf(fleet.ENOTFOUND, "%s not found", entity)
	}
	return &fleet.Error{Code: fleet.ECONFLICT, Field: "version",
		Message: entity + " was changed by someone else; reload and try again"}
}

// Values as stored. Times are Unix milliseconds, so anything finer than a
// millisecond is dropped; dates are YYYY-MM-DD; an empty optional value is
// NULL.

func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func date(d fleet.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.String()
}

// Scanners for the same, back into fleet types.

// msTime scans Unix milliseconds into a UTC time.
type msTime struct{ t *time.Time }

func (m msTime) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*m.t = time.UnixMilli(x).UTC()
	case nil:
		*m.t = time.Time{}
	default:
		return fmt.Errorf("time: want integer milliseconds, got %T", v)
	}
	return nil
}

// msTimePtr scans nullable Unix milliseconds; NULL is a nil pointer.
type msTimePtr struct{ t **time.Time }

func (m msTimePtr) Scan(v any) error {
	if v == nil {
		*m.t = nil
		return nil
	}
	var t time.Time
	if err := (msTime{&t}).Scan(v); err != nil {
		return err
	}
	*m.t = &t
	return nil
}

// nullString scans nullable text; NULL is "".
type nullString struct{ s *string }

func (n nullString) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.s = ""
	case string:
		*n.s = x
	case []byte:
		*n.s = string(x)
	default:
		return fmt.Errorf("text: got %T", v)
	}
	return nil
}

// dateCol scans a nullable YYYY-MM-DD; NULL is the zero Date.
type dateCol struct{ d *fleet.Date }

func (c dateCol) Scan(v any) error {
	var s string
	if err := (nullString{&s}).Scan(v); err != nil {
		return err
	}
	if s == "" {
		*c.d = fleet.Date{}
		return nil
	}
	d, err := fleet.ParseDate(s)
	if err != nil {
		return err
	}
	*c.d = d
	return nil
}
