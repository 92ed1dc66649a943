package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lawfleet/fleet/fleet"
)

// ref is a foreign key that a write sets: the JSON field that carries it,
// the entity it names (for the message), the referenced table and the id.
// Writes list their refs so that a foreign key violation can be reported
// as the field at fault, which SQLite does not tell.
type ref struct {
	field, entity, table, id string
}

// notFound turns sql.ErrNoRows from a single-row read into ENOTFOUND
// naming entity, and wraps anything else.
func (t *tx) notFound(ctx context.Context, err error, entity, op string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fleet.Errorf(fleet.ENOTFOUND, "%s not found", entity)
	}
	return t.fail(ctx, err, op)
}

// fail classifies err from a statement of op: a unique violation becomes
// ECONFLICT, a foreign key violation EINVALID (refs say which field), a
// busy database EUNAVAILABLE; the rest is wrapped with op.
func (t *tx) fail(ctx context.Context, err error, op string, refs ...ref) error {
	if fe := uniqueViolation(err); fe != nil {
		return fe
	}
	if constraint, ok := foreignKeyViolation(err); ok {
		return t.foreignKeyError(ctx, constraint, refs)
	}
	return t.db.classify(fmt.Errorf("sqlstore: %s: %w", op, err))
}

// classify marks errors that a retry may cure as EUNAVAILABLE, keeping the
// driver's error in the chain for the log.
func (db *DB) classify(err error) error {
	var (
		se *sqlite.Error
		pe *pgconn.PgError
	)
	transient := false
	switch {
	case errors.As(err, &se):
		code := se.Code() & 0xff // the primary code under the extended one
		transient = code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	case errors.As(err, &pe):
		switch pe.Code {
		case "40001", // serialization_failure
			"40P01", // deadlock_detected
			"55P03", // lock_not_available
			"53300", // too_many_connections
			"57P03": // cannot_connect_now
			transient = true
		}
	}
	if transient {
		return fmt.Errorf("%w: %w", fleet.Errorf(fleet.EUNAVAILABLE, "the database is busy; try again"), err)
	}
	return err
}

// uniqueViolation returns the ECONFLICT for a unique-key clash, or nil if
// err is not one.
func uniqueViolation(err error) *fleet.Error {
	var (
		key string
		se  *sqlite.Error
		pe  *pgconn.PgError
	)
	switch {
	case errors.As(err, &se):
		if se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return nil
		}
		key = sqliteUniqueColumns(se.Error())
	case errors.As(err, &pe):
		if pe.Code != "23505" { // unique_violation
			return nil
		}
		key = pe.ConstraintName
	default:
		return nil
	}

	// SQLite names the clash "table.column", PostgreSQL by the constraint
	// names in migrations/postgres: each case lists both spellings.
	conflict := func(field, msg string) *fleet.Error {
		return &fleet.Error{Code: fleet.ECONFLICT, Field: field, Message: msg}
	}
	switch key {
	case "units.id", "units_pkey":
		return conflict("id", "unit id already exists")
	case "units.code", "units_code_key":
		return conflict("code", "unit code already in use")
	case "units.path", "units_path_key":
		return conflict("path", "unit path already in use")
	case "officers.id", "officers_pkey":
		return conflict("id", "officer id already exists")
	case "officers.badge_no", "officers_badge_no_key":
		return conflict("badge_no", "badge number already registered")
	case "devices.id", "devices_pkey":
		return conflict("id", "device id already exists")
	case "devices.serial", "devices_serial_key":
		return conflict("serial", "serial already registered")
	case "assignments.id", "assignments_pkey":
		return conflict("id", "assignment id already exists")
	case "assignments.device_id", "assignments_one_open_per_device":
		return conflict("device_id", "device already has an open assignment")
	case "users.id", "users_pkey":
		return conflict("id", "user id already exists")
	case "users.username", "users_username_key":
		return conflict("username", "username already taken")
	case "sessions.token_hash", "sessions_pkey":
		return conflict("", "session already exists")
	}
	return conflict("", "record already exists")
}

// sqliteUniqueColumns extracts "table.column" from SQLite's message
// "UNIQUE constraint failed: table.column[, table.column…]", taking the
// first column of a composite key.
func sqliteUniqueColumns(msg string) string {
	const marker = "UNIQUE constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	cols := msg[i+len(marker):]
	if j := strings.IndexAny(cols, ", "); j >= 0 {
		cols = cols[:j]
	}
	return cols
}

// foreignKeyViolation reports whether err is a foreign key violation and,
// on PostgreSQL, the column it concerns (SQLite does not say).
func foreignKeyViolation(err error) (column string, ok bool) {
	var (
		se *sqlite.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &se):
		return "", se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	case errors.As(err, &pe):
		if pe.Code != "23503" { // foreign_key_violation
			return "", false
		}
		// Constraints are named <table>_<column>_fkey in migrations/postgres.
		c := strings.TrimPrefix(pe.ConstraintName, pe.TableName+"_")
		return strings.TrimSuffix(c, "_fkey"), true
	}
	return "", false
}

// foreignKeyError names the field whose id refers to nothing. On
// PostgreSQL the constraint says which; on SQLite each ref is looked up,
// which is safe there because a failed statement leaves the transaction
// usable (PostgreSQL's would be aborted, but it never gets here).
func (t *tx) foreignKeyError(ctx context.Context, column string, refs []ref) error {
	for _, r := range refs {
		if column != "" {
			if r.field == column {
				return fleet.Invalid(r.field, "no such %s %q", r.entity, r.id)
			}
			continue
		}
		ok, err := t.exists(ctx, r.table, r.id)
		if err != nil {
			return err
		} else if !ok {
			return fleet.Invalid(r.field, "no such %s %q", r.entity, r.id)
		}
	}
	if column != "" {
		return fleet.Invalid(column, "refers to a record that does not exist")
	}
	return fleet.Errorf(fleet.EINVALID, "refers to a record that does not exist")
}
