-- The evidence vault (issue 7) for SQLite; mirrors migrations/postgres.
-- Files live in the blob store under their SHA-256; these tables keep who
-- recorded what, where and when, and the chain of custody.

-- +goose Up
CREATE TABLE dock_stations (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    unit_id     TEXT    NOT NULL REFERENCES units (id),
    secret_hash TEXT    NOT NULL,
    disabled    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX dock_stations_unit_id ON dock_stations (unit_id);

CREATE TABLE evidence_offloads (
    id         TEXT    NOT NULL PRIMARY KEY,
    station_id TEXT    NOT NULL REFERENCES dock_stations (id),
    device_id  TEXT    NOT NULL REFERENCES devices (id),
    unit_id    TEXT    NOT NULL REFERENCES units (id),
    opened_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX evidence_offloads_device ON evidence_offloads (device_id, opened_at);

CREATE TABLE evidence_items (
    id             TEXT    NOT NULL PRIMARY KEY,
    sha256         TEXT    NOT NULL,
    size_bytes     INTEGER NOT NULL,
    file_type      TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    device_id      TEXT    NOT NULL REFERENCES devices (id),
    officer_id     TEXT    REFERENCES officers (id),
    unit_id        TEXT    NOT NULL REFERENCES units (id),
    station_id     TEXT    NOT NULL REFERENCES dock_stations (id),
    offload_id     TEXT    NOT NULL REFERENCES evidence_offloads (id),
    start_at       INTEGER NOT NULL,
    end_at         INTEGER,
    duration_ms    INTEGER NOT NULL,
    lat            REAL,
    lon            REAL,
    ingested_at    INTEGER NOT NULL,
    category       TEXT    NOT NULL,
    case_number    TEXT    NOT NULL,
    case_closed_at INTEGER,
    retain_until   INTEGER,
    legal_hold     INTEGER NOT NULL,
    hold_reason    TEXT    NOT NULL,
    deleted_at     INTEGER,
    deleted_by     TEXT    NOT NULL,
    delete_reason  TEXT    NOT NULL,
    version        INTEGER NOT NULL
) STRICT;
-- A file is in the vault once: the same bytes sent again find this item.
CREATE UNIQUE INDEX evidence_items_live_sha256 ON evidence_items (sha256) WHERE deleted_at IS NULL;
CREATE INDEX evidence_items_sha256 ON evidence_items (sha256);
CREATE INDEX evidence_items_unit ON evidence_items (unit_id, start_at);
CREATE INDEX evidence_items_officer ON evidence_items (officer_id, start_at);
CREATE INDEX evidence_items_device ON evidence_items (device_id, start_at);
CREATE INDEX evidence_items_case ON evidence_items (case_number);
CREATE INDEX evidence_items_due ON evidence_items (retain_until) WHERE deleted_at IS NULL;

-- One hash chain over all items. No foreign key to evidence_items: the
-- log must outlive anything it names. prev_hash is unique, so the chain
-- cannot fork even if two writers raced.
CREATE TABLE evidence_custody (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id    TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL UNIQUE,
    entry_hash TEXT    NOT NULL
) STRICT;
CREATE INDEX evidence_custody_item ON evidence_custody (item_id, seq);

-- +goose StatementBegin
CREATE TRIGGER evidence_custody_no_update BEFORE UPDATE ON evidence_custody
BEGIN
    SELECT RAISE(ABORT, 'evidence_custody is append-only: UPDATE refused');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER evidence_custody_no_delete BEFORE DELETE ON evidence_custody
BEGIN
    SELECT RAISE(ABORT, 'evidence_custody is append-only: DELETE refused');
END;
-- +goose StatementEnd
