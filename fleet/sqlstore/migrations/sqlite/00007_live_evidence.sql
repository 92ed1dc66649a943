-- Evidence recorded from a live stream (issue 6) for SQLite; mirrors
-- migrations/postgres. A segment the video relay recorded (a commander's
-- request, an SOS) comes from no dock station and no offload: station_id
-- and offload_id become nullable, and source says where an item came
-- from. A CHECK keeps the two kinds apart: a dock item names its station
-- and offload, a live one neither.
--
-- SQLite cannot drop NOT NULL in place: the table is rebuilt as its
-- documented procedure says (foreign keys off, new table, copy, drop,
-- rename, indexes), outside goose's transaction because the foreign_keys
-- pragma is a no-op inside one. Tables that reference evidence_items
-- (case_links, evidence_offload_files) refer to it by name and keep
-- working once the new table has that name.

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE evidence_items_new (
    id             TEXT    NOT NULL PRIMARY KEY,
    sha256         TEXT    NOT NULL,
    size_bytes     INTEGER NOT NULL,
    file_type      TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    device_id      TEXT    NOT NULL REFERENCES devices (id),
    officer_id     TEXT    REFERENCES officers (id),
    unit_id        TEXT    NOT NULL REFERENCES units (id),
    station_id     TEXT    REFERENCES dock_stations (id),
    offload_id     TEXT    REFERENCES evidence_offloads (id),
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
    version        INTEGER NOT NULL,
    source         TEXT    NOT NULL DEFAULT 'dock',
    CHECK ((source = 'dock' AND station_id IS NOT NULL AND offload_id IS NOT NULL) OR
           (source = 'live' AND station_id IS NULL AND offload_id IS NULL))
) STRICT;
INSERT INTO evidence_items_new (id, sha256, size_bytes, file_type, file_name, device_id, officer_id, unit_id,
    station_id, offload_id, start_at, end_at, duration_ms, lat, lon, ingested_at, category, case_number,
    case_closed_at, retain_until, legal_hold, hold_reason, deleted_at, deleted_by, delete_reason, version, source)
SELECT id, sha256, size_bytes, file_type, file_name, device_id, officer_id, unit_id,
    station_id, offload_id, start_at, end_at, duration_ms, lat, lon, ingested_at, category, case_number,
    case_closed_at, retain_until, legal_hold, hold_reason, deleted_at, deleted_by, delete_reason, version, 'dock'
FROM evidence_items;
DROP TABLE evidence_items;
ALTER TABLE evidence_items_new RENAME TO evidence_items;
CREATE UNIQUE INDEX evidence_items_live_sha256 ON evidence_items (sha256) WHERE deleted_at IS NULL;
CREATE INDEX evidence_items_sha256 ON evidence_items (sha256);
CREATE INDEX evidence_items_unit ON evidence_items (unit_id, start_at);
CREATE INDEX evidence_items_officer ON evidence_items (officer_id, start_at);
CREATE INDEX evidence_items_device ON evidence_items (device_id, start_at);
CREATE INDEX evidence_items_case ON evidence_items (case_number);
CREATE INDEX evidence_items_due ON evidence_items (retain_until) WHERE deleted_at IS NULL;
COMMIT;
PRAGMA foreign_keys = ON;
