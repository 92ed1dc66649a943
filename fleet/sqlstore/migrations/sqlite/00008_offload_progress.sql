-- Offload progress for the dock page (issue 7) for SQLite; mirrors
-- migrations/postgres. One row per file of an offload, written by the
-- upload path as bytes arrive, and the offload's totals kept beside it so
-- that a list of offloads (and its status filter) reads no file rows.

-- +goose Up
CREATE TABLE evidence_offload_files (
    offload_id     TEXT    NOT NULL REFERENCES evidence_offloads (id),
    name           TEXT    NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT    NOT NULL,
    received_bytes INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    evidence_id    TEXT    REFERENCES evidence_items (id),
    error_code     TEXT    NOT NULL,
    error          TEXT    NOT NULL,
    announced_at   INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (offload_id, name)
) STRICT;

ALTER TABLE evidence_offloads ADD COLUMN files_announced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_offloads ADD COLUMN files_received  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_offloads ADD COLUMN files_confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_offloads ADD COLUMN files_failed    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_offloads ADD COLUMN bytes_received  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_offloads ADD COLUMN bytes_declared  INTEGER NOT NULL DEFAULT 0;
-- NULL until a file is announced or begun: the offload's opened_at.
ALTER TABLE evidence_offloads ADD COLUMN last_activity_at INTEGER;
CREATE INDEX evidence_offloads_station ON evidence_offloads (station_id, id);
CREATE INDEX evidence_offloads_unit ON evidence_offloads (unit_id, id);

-- Offloads from before this migration: their stored items are their
-- confirmed files (a name sent twice in one offload keeps the first).
INSERT INTO evidence_offload_files (offload_id, name, size_bytes, sha256, received_bytes, state,
    evidence_id, error_code, error, announced_at, updated_at)
SELECT e.offload_id, e.file_name, e.size_bytes, e.sha256, e.size_bytes, 'confirmed',
    e.id, '', '', e.ingested_at, e.ingested_at
FROM evidence_items e WHERE e.offload_id IS NOT NULL ORDER BY e.id
ON CONFLICT (offload_id, name) DO NOTHING;

UPDATE evidence_offloads SET
    files_announced = (SELECT COUNT(*) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id),
    files_received  = (SELECT COUNT(*) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id),
    files_confirmed = (SELECT COUNT(*) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id),
    bytes_received  = (SELECT COALESCE(SUM(f.size_bytes), 0) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id),
    bytes_declared  = (SELECT COALESCE(SUM(f.size_bytes), 0) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id),
    last_activity_at = (SELECT MAX(f.updated_at) FROM evidence_offload_files f WHERE f.offload_id = evidence_offloads.id);
