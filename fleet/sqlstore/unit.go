package sqlstore

import (
	"context"
	"strings"

	"github.com/lawfleet/fleet/fleet"
)

const unitCols = "u.id, u.parent_id, u.code, u.name, u.level, u.path, u.version"

func scanUnit(s rowScanner) (fleet.Unit, error) {
	var u fleet.Unit
	err := s.Scan(&u.ID, nullString{&u.ParentID}, &u.Code, &u.Name, &u.Level, &u.Path, &u.Version)
	return u, err
}

func (t *tx) Unit(ctx context.Context, id string) (fleet.Unit, error) {
	u, err := scanUnit(t.tx.QueryRowContext(ctx, "SELECT "+unitCols+" FROM units u WHERE u.id = $1", id))
	if err != nil {
		return fleet.Unit{}, t.notFound(ctx, err, "unit", "get unit")
	}
	return u, nil
}

func (t *tx) UnitByCode(ctx context.Context, code string) (fleet.Unit, error) {
	u, err := scanUnit(t.tx.QueryRowContext(ctx, "SELECT "+unitCols+" FROM units u WHERE u.code = $1", code))
	if err != nil {
		return fleet.Unit{}, t.notFound(ctx, err, "unit", "get unit by code")
	}
	return u, nil
}

func (t *tx) Units(ctx context.Context, f fleet.UnitFilter) ([]fleet.Unit, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.ParentID != nil {
		if *f.ParentID == "" {
			q.where("u.parent_id IS NULL") // the roots
		} else {
			q.where("u.parent_id = " + q.arg(*f.ParentID))
		}
	}
	if f.After != "" {
		q.where("u.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+unitCols+" FROM units u", "u.id", limit+1)
	return list(ctx, t, "list units", query, q.args, limit, scanUnit,
		func(u fleet.Unit) string { return u.ID })
}

// CreateUnit stores a new unit at version 1, whatever u.Version says:
// every record starts there.
func (t *tx) CreateUnit(ctx context.Context, u fleet.Unit) error {
	_, err := t.exec(ctx, "create unit",
		`INSERT INTO units (id, parent_id, code, name, level, path, version)
		VALUES ($1, $2, $3, $4, $5, $6, 1)`,
		[]any{u.ID, nullIfEmpty(u.ParentID), u.Code, u.Name, u.Level, u.Path},
		ref{"parent_id", "unit", "units", u.ParentID})
	return err
}

// UpdateUnit saves u if it is still at u.Version, the version the caller
// read, and moves it to u.Version+1. When the path changed (a move to
// another parent) one statement rewrites the path prefix of every
// descendant and bumps their versions too, since their stored path
// changed: a client holding a descendant read before the move then gets a
// conflict instead of writing the old path back. An empty oldPath means
// "not moved".
func (t *tx) UpdateUnit(ctx context.Context, u fleet.Unit, oldPath string) error {
	moved := oldPath != "" && u.Path != oldPath
	if moved && strings.HasPrefix(u.Path, oldPath) {
		return fleet.Invalid("parent_id", "a unit cannot move under itself")
	}
	n, err := t.exec(ctx, "update unit",
		`UPDATE units SET parent_id = $3, code = $4, name = $5, level = $6, path = $7,
			version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{u.ID, u.Version, nullIfEmpty(u.ParentID), u.Code, u.Name, u.Level, u.Path},
		ref{"parent_id", "unit", "units", u.ParentID})
	if err != nil {
		return err
	}
	if err := t.versioned(ctx, n, "units", "unit", u.ID); err != nil {
		return err
	}
	if !moved {
		return nil
	}
	end, ok := prefixEnd(oldPath)
	if !ok {
		return fleet.Invalid("path", "not a unit path")
	}
	// CASTs because PostgreSQL cannot infer a parameter's type inside
	// length() or ||; SQLite ignores them.
	_, err = t.exec(ctx, "move unit subtree",
		`UPDATE units
		SET path = CAST($1 AS TEXT) || substr(path, length(CAST($2 AS TEXT)) + 1),
			version = version + 1
		WHERE path > $2 AND path < $3 AND id <> $4`,
		[]any{u.Path, oldPath, end, u.ID})
	return err
}
