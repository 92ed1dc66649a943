-- Alerts raised by ingest (issue 5), kept in the register's database so
-- that they survive a restart and can be listed by unit. Mirrors
-- migrations/postgres. alert_json is the alert as ingest wrote it, timeline
-- included, and is the truth; the other columns are copied from it to find,
-- scope and order alerts. A save replaces the row only with a higher or
-- equal version, since saves may arrive out of order.
--
-- unit_id and device_id carry no foreign key on purpose: an SOS must be
-- stored even if the register disagrees about the device at that moment.
--
-- No Down section, as in 00001: this is the record of who acknowledged
-- which SOS, and no tool should drop it.

-- +goose Up
CREATE TABLE alerts (
    id         TEXT    NOT NULL PRIMARY KEY,
    device_id  TEXT    NOT NULL,
    unit_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    priority   TEXT    NOT NULL,
    sort_rank  INTEGER NOT NULL, -- lower first in ranked lists (SOS 0)
    state      TEXT    NOT NULL, -- open | acked | cleared
    raised_at  INTEGER NOT NULL,
    acked_at   INTEGER,
    acked_by   TEXT,
    cleared_at INTEGER,
    version    INTEGER NOT NULL,
    alert_json TEXT    NOT NULL
) STRICT;
CREATE INDEX alerts_unit ON alerts (unit_id);
CREATE INDEX alerts_device ON alerts (device_id, raised_at);
CREATE INDEX alerts_ranked ON alerts (state, sort_rank, raised_at, id);
CREATE INDEX alerts_newest ON alerts (raised_at, id);
