-- Offload progress for the dock page (issue 7) for PostgreSQL; mirrors
-- migrations/sqlite. One row per file of an offload, written by the
-- upload path as bytes arrive, and the offload's totals kept beside it so
-- that a list of offloads (and its status filter) reads no file rows.

-- +goose Up
CREATE TABLE evidence_offload_files (
    offload_id     TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         TEXT COLLATE "C" NOT NULL,
    received_bytes BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    evidence_id    TEXT COLLATE "C",
    error_code     TEXT   NOT NULL,
    error          TEXT   NOT NULL,
    announced_at   BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT evidence_offload_files_pkey PRIMARY KEY (offload_id, name),
    CONSTRAINT evidence_offload_files_offload_id_fkey FOREIGN KEY (offload_id) REFERENCES evidence_offloads (id),
    CONSTRAINT evidence_offload_files_evidence_id_fkey FOREIGN KEY (evidence_id) REFERENCES evidence_items (id)
);

ALTER TABLE evidence_offloads
    ADD COLUMN files_announced BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN files_received  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN files_confirmed BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN files_failed    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bytes_received  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bytes_declared  BIGINT NOT NULL DEFAULT 0,
    -- NULL until a file is announced or begun: the offload's opened_at.
    ADD COLUMN last_activity_at BIGINT;
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

UPDATE evidence_offloads o SET
    files_announced = t.n,
    files_received  = t.n,
    files_confirmed = t.n,
    bytes_received  = t.bytes,
    bytes_declared  = t.bytes,
    last_activity_at = t.last_at
FROM (SELECT offload_id, COUNT(*) AS n, SUM(size_bytes) AS bytes, MAX(updated_at) AS last_at
      FROM evidence_offload_files GROUP BY offload_id) t
WHERE t.offload_id = o.id;
