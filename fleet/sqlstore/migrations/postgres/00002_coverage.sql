-- Coverage toward the 2026 target (issue 4). Mirrors migrations/sqlite.
--
-- coverage_plans and coverage_targets hold what a province edited of its
-- milestone plan; a province without a row follows the default line.
--
-- device_checkins gains seq, a change feed: the coverage engine keeps the
-- check-in days in memory and reads only the rows after the last seq it
-- saw. Writers are serialised by the advisory lock of DB.Update, held to
-- commit, so seq grows in commit order and a reader never skips a row that
-- commits late. (ON CONFLICT DO NOTHING still draws a number: gaps are
-- harmless.)
--
-- No Down section: the plans are the provinces' decisions, not to be
-- dropped by a tool.

-- +goose Up
CREATE TABLE coverage_plans (
    province_id TEXT COLLATE "C" NOT NULL,
    plan_start  TEXT,
    start_rate  DOUBLE PRECISION,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL,
    CONSTRAINT coverage_plans_pkey PRIMARY KEY (province_id),
    CONSTRAINT coverage_plans_province_id_fkey FOREIGN KEY (province_id) REFERENCES units (id)
);

CREATE TABLE coverage_targets (
    province_id TEXT COLLATE "C" NOT NULL,
    year        INTEGER          NOT NULL,
    rate        DOUBLE PRECISION NOT NULL,
    CONSTRAINT coverage_targets_pkey PRIMARY KEY (province_id, year),
    CONSTRAINT coverage_targets_province_id_fkey FOREIGN KEY (province_id) REFERENCES coverage_plans (province_id)
);

ALTER TABLE device_checkins ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX device_checkins_seq ON device_checkins (seq);
