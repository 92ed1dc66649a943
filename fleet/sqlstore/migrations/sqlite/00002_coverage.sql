-- Coverage toward the 2026 target (issue 4). Mirrors migrations/postgres.
--
-- coverage_plans and coverage_targets hold what a province edited of its
-- milestone plan; a province without a row follows the default line.
--
-- device_checkins gains seq, a change feed: the coverage engine keeps the
-- check-in days in memory and reads only the rows after the last seq it
-- saw. Writers are serialised (see DB.Update), so seq grows in commit
-- order and a reader never skips a row that commits late. The trigger
-- numbers each new row MAX + 1 rather than relying on rowid, which VACUUM
-- may renumber.
--
-- No Down section: the plans are the provinces' decisions, not to be
-- dropped by a tool.

-- +goose Up
CREATE TABLE coverage_plans (
    province_id TEXT    NOT NULL PRIMARY KEY REFERENCES units (id),
    plan_start  TEXT,
    start_rate  REAL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL
) STRICT;

CREATE TABLE coverage_targets (
    province_id TEXT    NOT NULL REFERENCES coverage_plans (province_id),
    year        INTEGER NOT NULL,
    rate        REAL    NOT NULL,
    PRIMARY KEY (province_id, year)
) STRICT;

ALTER TABLE device_checkins ADD COLUMN seq INTEGER;
UPDATE device_checkins SET seq = rowid;
CREATE UNIQUE INDEX device_checkins_seq ON device_checkins (seq);

-- +goose StatementBegin
CREATE TRIGGER device_checkins_feed AFTER INSERT ON device_checkins
BEGIN
    UPDATE device_checkins SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM device_checkins)
    WHERE rowid = NEW.rowid;
END;
-- +goose StatementEnd
