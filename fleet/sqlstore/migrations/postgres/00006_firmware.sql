-- Firmware over the air (issue 9) for PostgreSQL; mirrors
-- migrations/sqlite, where the tables are explained.

-- +goose Up
CREATE TABLE firmware_images (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    model         TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    size_bytes    BIGINT  NOT NULL,
    sha256        TEXT    NOT NULL,
    signature     TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    release_notes TEXT    NOT NULL,
    uploaded_by   TEXT    NOT NULL,
    uploaded_at   BIGINT  NOT NULL,
    CONSTRAINT firmware_images_model_version UNIQUE (model, version)
);

CREATE TABLE firmware_campaigns (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    unit_path     TEXT COLLATE "C" NOT NULL,
    state         TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    version       BIGINT  NOT NULL,
    campaign_json TEXT    NOT NULL
);
CREATE INDEX firmware_campaigns_scope ON firmware_campaigns (unit_path, id);
CREATE INDEX firmware_campaigns_state ON firmware_campaigns (state);

CREATE TABLE firmware_jobs (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    campaign_id      TEXT COLLATE "C" NOT NULL REFERENCES firmware_campaigns (id),
    device_id        TEXT COLLATE "C" NOT NULL,
    wave             INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    from_version     TEXT    NOT NULL,
    reported_version TEXT    NOT NULL,
    progress_pct     DOUBLE PRECISION NOT NULL,
    attempts         INTEGER NOT NULL,
    error            TEXT    NOT NULL,
    token_hash       TEXT    NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX firmware_jobs_campaign ON firmware_jobs (campaign_id, wave, id);
CREATE INDEX firmware_jobs_device ON firmware_jobs (device_id, state);

-- +goose Down
DROP TABLE firmware_jobs;
DROP TABLE firmware_campaigns;
DROP TABLE firmware_images;
