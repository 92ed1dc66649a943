-- The register's schema for SQLite. It mirrors migrations/postgres
-- table for table and column for column, so that the store runs one set of
-- statements on both: times are INTEGER Unix milliseconds (UTC), dates TEXT
-- YYYY-MM-DD, booleans INTEGER 0/1. STRICT makes SQLite refuse a value of
-- the wrong type instead of storing it silently.
--
-- There is no Down section on purpose: undoing the first migration would
-- drop the audit log, and no tool should be able to do that.

-- +goose Up
CREATE TABLE units (
    id        TEXT    NOT NULL PRIMARY KEY,
    parent_id TEXT    REFERENCES units (id),
    code      TEXT    NOT NULL UNIQUE,
    name      TEXT    NOT NULL,
    level     TEXT    NOT NULL,
    -- Materialised path "/root/…/id/": a subtree is the range [path, next).
    path      TEXT    NOT NULL UNIQUE,
    version   INTEGER NOT NULL
) STRICT;
CREATE INDEX units_parent_id ON units (parent_id);

CREATE TABLE officers (
    id                TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL,
    badge_no          TEXT    NOT NULL UNIQUE,
    unit_id           TEXT    NOT NULL REFERENCES units (id),
    frontline         INTEGER NOT NULL,
    duty_status       TEXT    NOT NULL,
    cert_number       TEXT    NOT NULL,
    cert_issued_on    TEXT,
    cert_expires_on   TEXT,
    cert_review_until TEXT,
    cert_status       TEXT    NOT NULL,
    effective_on      TEXT,
    version           INTEGER NOT NULL
) STRICT;
CREATE INDEX officers_unit_id ON officers (unit_id);

CREATE TABLE officer_versions (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    officer_id        TEXT    NOT NULL REFERENCES officers (id),
    effective_on      TEXT    NOT NULL,
    recorded_at       INTEGER NOT NULL,
    recorded_by       TEXT    NOT NULL,
    unit_id           TEXT    NOT NULL REFERENCES units (id),
    frontline         INTEGER NOT NULL,
    duty_status       TEXT    NOT NULL,
    cert_number       TEXT    NOT NULL,
    cert_issued_on    TEXT,
    cert_expires_on   TEXT,
    cert_review_until TEXT,
    cert_status       TEXT    NOT NULL
) STRICT;
CREATE INDEX officer_versions_officer_effective ON officer_versions (officer_id, effective_on);

CREATE TABLE devices (
    id               TEXT    NOT NULL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    serial           TEXT    NOT NULL UNIQUE,
    model            TEXT    NOT NULL,
    unit_id          TEXT    NOT NULL REFERENCES units (id),
    status           TEXT    NOT NULL,
    firmware_version TEXT    NOT NULL,
    rtsp_url         TEXT    NOT NULL,
    mmsi             TEXT    NOT NULL,
    secret_hash      TEXT    NOT NULL,
    last_seen_at     INTEGER,
    created_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_unit_id ON devices (unit_id);

CREATE TABLE device_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT    NOT NULL REFERENCES devices (id),
    at         INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    unit_id    TEXT    NOT NULL REFERENCES units (id),
    reason     TEXT    NOT NULL,
    changed_by TEXT    NOT NULL
) STRICT;
CREATE INDEX device_changes_device_at ON device_changes (device_id, at);

-- One row per device and civil day (fleet.Zone) on which it was heard from.
CREATE TABLE device_checkins (
    device_id TEXT NOT NULL REFERENCES devices (id),
    day       TEXT NOT NULL,
    PRIMARY KEY (device_id, day)
) STRICT;
CREATE INDEX device_checkins_day ON device_checkins (day);

CREATE TABLE assignments (
    id         TEXT    NOT NULL PRIMARY KEY,
    device_id  TEXT    NOT NULL REFERENCES devices (id),
    officer_id TEXT    NOT NULL REFERENCES officers (id),
    unit_id    TEXT    NOT NULL REFERENCES units (id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER,
    start_by   TEXT    NOT NULL,
    end_by     TEXT    NOT NULL,
    end_reason TEXT    NOT NULL,
    note       TEXT    NOT NULL
) STRICT;
-- A device is with at most one officer at a time; the domain checks this
-- too, and this index holds even if a bug slips past the check.
CREATE UNIQUE INDEX assignments_one_open_per_device ON assignments (device_id) WHERE end_at IS NULL;
CREATE INDEX assignments_device_start ON assignments (device_id, start_at);
CREATE INDEX assignments_officer_id ON assignments (officer_id);
CREATE INDEX assignments_unit_id ON assignments (unit_id);

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    unit_id       TEXT    REFERENCES units (id),
    officer_id    TEXT    REFERENCES officers (id),
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL
) STRICT;
CREATE INDEX users_unit_id ON users (unit_id);

CREATE TABLE sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);

-- No foreign keys: an audit entry must outlive anything it names, and
-- actors include the system itself.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    unit_id     TEXT,
    before_json TEXT,
    after_json  TEXT,
    reason      TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_unit ON audit_log (unit_id, seq);

-- The log is append-only in the database itself, not only in this
-- package, so that raw SQL cannot rewrite history either.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
-- +goose StatementEnd
