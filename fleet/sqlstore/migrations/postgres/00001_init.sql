-- The register's schema for PostgreSQL. It mirrors migrations/sqlite table
-- for table and column for column, so that the store runs one set of
-- statements on both: times are BIGINT Unix milliseconds (UTC), dates TEXT
-- YYYY-MM-DD.
--
-- Ids and unit paths use COLLATE "C" whatever the database's locale: a
-- subtree is the byte range [path, next) and keyset pages follow byte order,
-- exactly as in SQLite; a linguistic collation would ignore '/' and '_' and
-- break both.
--
-- There is no Down section on purpose: undoing the first migration would
-- drop the audit log, and no tool should be able to do that.

-- +goose Up
CREATE TABLE units (
    id        TEXT COLLATE "C" NOT NULL,
    parent_id TEXT COLLATE "C",
    code      TEXT   NOT NULL,
    name      TEXT   NOT NULL,
    level     TEXT   NOT NULL,
    path      TEXT COLLATE "C" NOT NULL,
    version   BIGINT NOT NULL,
    CONSTRAINT units_pkey PRIMARY KEY (id),
    CONSTRAINT units_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES units (id),
    CONSTRAINT units_code_key UNIQUE (code),
    CONSTRAINT units_path_key UNIQUE (path)
);
CREATE INDEX units_parent_id ON units (parent_id);

CREATE TABLE officers (
    id                TEXT COLLATE "C" NOT NULL,
    name              TEXT    NOT NULL,
    badge_no          TEXT    NOT NULL,
    unit_id           TEXT COLLATE "C" NOT NULL,
    frontline         BOOLEAN NOT NULL,
    duty_status       TEXT    NOT NULL,
    cert_number       TEXT    NOT NULL,
    cert_issued_on    TEXT,
    cert_expires_on   TEXT,
    cert_review_until TEXT,
    cert_status       TEXT    NOT NULL,
    effective_on      TEXT,
    version           BIGINT  NOT NULL,
    CONSTRAINT officers_pkey PRIMARY KEY (id),
    CONSTRAINT officers_badge_no_key UNIQUE (badge_no),
    CONSTRAINT officers_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX officers_unit_id ON officers (unit_id);

CREATE TABLE officer_versions (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY,
    officer_id        TEXT COLLATE "C" NOT NULL,
    effective_on      TEXT    NOT NULL,
    recorded_at       BIGINT  NOT NULL,
    recorded_by       TEXT    NOT NULL,
    unit_id           TEXT COLLATE "C" NOT NULL,
    frontline         BOOLEAN NOT NULL,
    duty_status       TEXT    NOT NULL,
    cert_number       TEXT    NOT NULL,
    cert_issued_on    TEXT,
    cert_expires_on   TEXT,
    cert_review_until TEXT,
    cert_status       TEXT    NOT NULL,
    CONSTRAINT officer_versions_pkey PRIMARY KEY (seq),
    CONSTRAINT officer_versions_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES officers (id),
    CONSTRAINT officer_versions_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX officer_versions_officer_effective ON officer_versions (officer_id, effective_on);

CREATE TABLE devices (
    id               TEXT COLLATE "C" NOT NULL,
    kind             TEXT   NOT NULL,
    serial           TEXT   NOT NULL,
    model            TEXT   NOT NULL,
    unit_id          TEXT COLLATE "C" NOT NULL,
    status           TEXT   NOT NULL,
    firmware_version TEXT   NOT NULL,
    rtsp_url         TEXT   NOT NULL,
    mmsi             TEXT   NOT NULL,
    secret_hash      TEXT   NOT NULL,
    last_seen_at     BIGINT,
    created_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL,
    CONSTRAINT devices_pkey PRIMARY KEY (id),
    CONSTRAINT devices_serial_key UNIQUE (serial),
    CONSTRAINT devices_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX devices_unit_id ON devices (unit_id);

CREATE TABLE device_changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    device_id  TEXT COLLATE "C" NOT NULL,
    at         BIGINT NOT NULL,
    status     TEXT   NOT NULL,
    unit_id    TEXT COLLATE "C" NOT NULL,
    reason     TEXT   NOT NULL,
    changed_by TEXT   NOT NULL,
    CONSTRAINT device_changes_pkey PRIMARY KEY (seq),
    CONSTRAINT device_changes_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id),
    CONSTRAINT device_changes_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX device_changes_device_at ON device_changes (device_id, at);

-- One row per device and civil day (fleet.Zone) on which it was heard from.
CREATE TABLE device_checkins (
    device_id TEXT COLLATE "C" NOT NULL,
    day       TEXT NOT NULL,
    CONSTRAINT device_checkins_pkey PRIMARY KEY (device_id, day),
    CONSTRAINT device_checkins_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id)
);
CREATE INDEX device_checkins_day ON device_checkins (day);

CREATE TABLE assignments (
    id         TEXT COLLATE "C" NOT NULL,
    device_id  TEXT COLLATE "C" NOT NULL,
    officer_id TEXT COLLATE "C" NOT NULL,
    unit_id    TEXT COLLATE "C" NOT NULL,
    start_at   BIGINT NOT NULL,
    end_at     BIGINT,
    start_by   TEXT   NOT NULL,
    end_by     TEXT   NOT NULL,
    end_reason TEXT   NOT NULL,
    note       TEXT   NOT NULL,
    CONSTRAINT assignments_pkey PRIMARY KEY (id),
    CONSTRAINT assignments_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id),
    CONSTRAINT assignments_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES officers (id),
    CONSTRAINT assignments_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
-- A device is with at most one officer at a time; the domain checks this
-- too, and this index holds even if a bug slips past the check.
CREATE UNIQUE INDEX assignments_one_open_per_device ON assignments (device_id) WHERE end_at IS NULL;
CREATE INDEX assignments_device_start ON assignments (device_id, start_at);
CREATE INDEX assignments_officer_id ON assignments (officer_id);
CREATE INDEX assignments_unit_id ON assignments (unit_id);

CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL,
    username      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    unit_id       TEXT COLLATE "C",
    officer_id    TEXT COLLATE "C",
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    version       BIGINT  NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id),
    CONSTRAINT users_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES officers (id)
);
CREATE INDEX users_unit_id ON users (unit_id);

CREATE TABLE sessions (
    token_hash TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (token_hash),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- No foreign keys: an audit entry must outlive anything it names, and
-- actors include the system itself.
CREATE TABLE audit_log (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    at          BIGINT NOT NULL,
    actor_id    TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    entity      TEXT   NOT NULL,
    entity_id   TEXT   NOT NULL,
    unit_id     TEXT COLLATE "C",
    before_json TEXT,
    after_json  TEXT,
    reason      TEXT   NOT NULL,
    CONSTRAINT audit_log_pkey PRIMARY KEY (seq)
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_unit ON audit_log (unit_id, seq);

-- The log is append-only in the database itself, not only in this
-- package, so that raw SQL cannot rewrite history either. TRUNCATE skips
-- row triggers, hence the statement trigger as well.
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
