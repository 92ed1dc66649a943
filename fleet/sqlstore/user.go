package sqlstore

import (
	"context"

	"github.com/lawfleet/fleet/fleet"
)

// Users are read joined to their unit, so that UnitPath (the user's scope)
// is always the unit's current path, even after the unit moved.
const (
	userCols = `us.id, us.username, us.name, us.role, us.unit_id, u.path, us.officer_id,
	us.password_hash, us.disabled, us.created_at, us.version`
	userFrom = " FROM users us LEFT JOIN units u ON u.id = us.unit_id"
)

func scanUser(s rowScanner) (fleet.User, error) {
	var u fleet.User
	err := s.Scan(&u.ID, &u.Username, &u.Name, &u.Role, nullString{&u.UnitID}, nullString{&u.UnitPath},
		nullString{&u.OfficerID}, &u.PasswordHash, &u.Disabled, msTime{&u.CreatedAt}, &u.Version)
	return u, err
}

func (t *tx) User(ctx context.Context, id string) (fleet.User, error) {
	u, err := scanUser(t.tx.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE us.id = $1", id))
	if err != nil {
		return fleet.User{}, t.notFound(ctx, err, "user", "get user")
	}
	return u, nil
}

func (t *tx) UserByUsername(ctx context.Context, username string) (fleet.User, error) {
	u, err := scanUser(t.tx.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE us.username = $1", username))
	if err != nil {
		return fleet.User{}, t.notFound(ctx, err, "user", "get user by username")
	}
	return u, nil
}

// Users in a scope are those bound to a unit in its subtree; users bound
// to no unit (root administrators) appear only in the whole-register scope.
func (t *tx) Users(ctx context.Context, f fleet.UserFilter) ([]fleet.User, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.After != "" {
		q.where("us.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+userCols+userFrom, "us.id", limit+1)
	return list(ctx, t, "list users", query, q.args, limit, scanUser,
		func(u fleet.User) string { return u.ID })
}

func (t *tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, t.fail(ctx, err, "count users")
	}
	return n, nil
}

// CreateUser stores a new user at version 1; u.UnitPath is not stored but
// read from the unit.
func (t *tx) CreateUser(ctx context.Context, u fleet.User) error {
	_, err := t.exec(ctx, "create user",
		`INSERT INTO users (id, username, name, role, unit_id, officer_id,
			password_hash, disabled, created_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)`,
		[]any{u.ID, u.Username, u.Name, u.Role, nullIfEmpty(u.UnitID), nullIfEmpty(u.OfficerID),
			u.PasswordHash, u.Disabled, ms(u.CreatedAt)},
		ref{"unit_id", "unit", "units", u.UnitID},
		ref{"officer_id", "officer", "officers", u.OfficerID})
	return err
}

// UpdateUser saves u if it is still at u.Version, the version the caller
// read, and moves it to u.Version+1.
func (t *tx) UpdateUser(ctx context.Context, u fleet.User) error {
	n, err := t.exec(ctx, "update user",
		`UPDATE users SET username = $3, name = $4, role = $5, unit_id = $6, officer_id = $7,
			password_hash = $8, disabled = $9, version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{u.ID, u.Version, u.Username, u.Name, u.Role, nullIfEmpty(u.UnitID), nullIfEmpty(u.OfficerID),
			u.PasswordHash, u.Disabled},
		ref{"unit_id", "unit", "units", u.UnitID},
		ref{"officer_id", "officer", "officers", u.OfficerID})
	if err != nil {
		return err
	}
	return t.versioned(ctx, n, "users", "user", u.ID)
}

func (t *tx) CreateSession(ctx context.Context, s fleet.Session) error {
	_, err := t.exec(ctx, "create session",
		`INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		[]any{s.TokenHash, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt)},
		ref{"user_id", "user", "users", s.UserID})
	return err
}

// Session returns the session whatever its expiry: judging it is the
// caller's business.
func (t *tx) Session(ctx context.Context, tokenHash string) (fleet.Session, error) {
	var s fleet.Session
	err := t.tx.QueryRowContext(ctx,
		"SELECT token_hash, user_id, created_at, expires_at FROM sessions WHERE token_hash = $1", tokenHash).
		Scan(&s.TokenHash, &s.UserID, msTime{&s.CreatedAt}, msTime{&s.ExpiresAt})
	if err != nil {
		return fleet.Session{}, t.notFound(ctx, err, "session", "get session")
	}
	return s, nil
}

func (t *tx) DeleteSession(ctx context.Context, tokenHash string) error {
	n, err := t.exec(ctx, "delete session", "DELETE FROM sessions WHERE token_hash = $1", []any{tokenHash})
	if err != nil {
		return err
	} else if n == 0 {
		return fleet.Errorf(fleet.ENOTFOUND, "session not found")
	}
	return nil
}
