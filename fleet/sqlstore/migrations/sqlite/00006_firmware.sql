-- Firmware over the air (issue 9): images, rollout campaigns and one job
-- per target device. Mirrors migrations/postgres. Owned by package
-- firmware through its adapter firmware/sqlfirmware; the register's code
-- does not read these tables. Times are Unix milliseconds.
--
-- campaign_json is the campaign as the firmware package wrote it and is
-- the truth; unit_path, state and created_at are copied out of it to scope,
-- find and order campaigns. Jobs are plain columns: the engine updates
-- them one at a time, often.
--
-- device_id carries no foreign key, as in 00004: a job's history must
-- outlive a device's removal from the register.

-- +goose Up
CREATE TABLE firmware_images (
    id            TEXT    NOT NULL PRIMARY KEY,
    model         TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    signature     TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    release_notes TEXT    NOT NULL,
    uploaded_by   TEXT    NOT NULL,
    uploaded_at   INTEGER NOT NULL,
    UNIQUE (model, version)
) STRICT;

CREATE TABLE firmware_campaigns (
    id            TEXT    NOT NULL PRIMARY KEY,
    unit_path     TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    campaign_json TEXT    NOT NULL
) STRICT;
CREATE INDEX firmware_campaigns_scope ON firmware_campaigns (unit_path, id);
CREATE INDEX firmware_campaigns_state ON firmware_campaigns (state);

CREATE TABLE firmware_jobs (
    id               TEXT    NOT NULL PRIMARY KEY,
    campaign_id      TEXT    NOT NULL REFERENCES firmware_campaigns (id),
    device_id        TEXT    NOT NULL,
    wave             INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    from_version     TEXT    NOT NULL,
    reported_version TEXT    NOT NULL,
    progress_pct     REAL    NOT NULL,
    attempts         INTEGER NOT NULL,
    error            TEXT    NOT NULL,
    token_hash       TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX firmware_jobs_campaign ON firmware_jobs (campaign_id, wave, id);
CREATE INDEX firmware_jobs_device ON firmware_jobs (device_id, state);

-- +goose Down
DROP TABLE firmware_jobs;
DROP TABLE firmware_campaigns;
DROP TABLE firmware_images;
