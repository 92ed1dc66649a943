-- Alerts raised by ingest (issue 5) for PostgreSQL; mirrors
-- migrations/sqlite, where the columns are explained. alert_json is TEXT,
-- not JSONB, so that the stored alert is returned byte for byte, as on
-- SQLite.
--
-- No Down section, as in 00001: this is the record of who acknowledged
-- which SOS, and no tool should drop it.

-- +goose Up
CREATE TABLE alerts (
    id         TEXT COLLATE "C" NOT NULL,
    device_id  TEXT COLLATE "C" NOT NULL,
    unit_id    TEXT COLLATE "C" NOT NULL,
    kind       TEXT    NOT NULL,
    priority   TEXT    NOT NULL,
    sort_rank  INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    raised_at  BIGINT  NOT NULL,
    acked_at   BIGINT,
    acked_by   TEXT,
    cleared_at BIGINT,
    version    BIGINT  NOT NULL,
    alert_json TEXT    NOT NULL,
    CONSTRAINT alerts_pkey PRIMARY KEY (id)
);
CREATE INDEX alerts_unit ON alerts (unit_id);
CREATE INDEX alerts_device ON alerts (device_id, raised_at);
CREATE INDEX alerts_ranked ON alerts (state, sort_rank, raised_at, id);
CREATE INDEX alerts_newest ON alerts (raised_at, id);
