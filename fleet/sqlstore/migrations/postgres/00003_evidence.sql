-- The evidence vault (issue 7) for PostgreSQL; mirrors migrations/sqlite.
-- Files live in the blob store under their SHA-256; these tables keep who
-- recorded what, where and when, and the chain of custody.

-- +goose Up
CREATE TABLE dock_stations (
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT    NOT NULL,
    unit_id     TEXT COLLATE "C" NOT NULL,
    secret_hash TEXT    NOT NULL,
    disabled    BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT dock_stations_pkey PRIMARY KEY (id),
    CONSTRAINT dock_stations_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX dock_stations_unit_id ON dock_stations (unit_id);

CREATE TABLE evidence_offloads (
    id         TEXT COLLATE "C" NOT NULL,
    station_id TEXT COLLATE "C" NOT NULL,
    device_id  TEXT COLLATE "C" NOT NULL,
    unit_id    TEXT COLLATE "C" NOT NULL,
    opened_at  BIGINT NOT NULL,
    CONSTRAINT evidence_offloads_pkey PRIMARY KEY (id),
    CONSTRAINT evidence_offloads_station_id_fkey FOREIGN KEY (station_id) REFERENCES dock_stations (id),
    CONSTRAINT evidence_offloads_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id),
    CONSTRAINT evidence_offloads_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX evidence_offloads_device ON evidence_offloads (device_id, opened_at);

CREATE TABLE evidence_items (
    id             TEXT COLLATE "C" NOT NULL,
    sha256         TEXT COLLATE "C" NOT NULL,
    size_bytes     BIGINT  NOT NULL,
    file_type      TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    device_id      TEXT COLLATE "C" NOT NULL,
    officer_id     TEXT COLLATE "C",
    unit_id        TEXT COLLATE "C" NOT NULL,
    station_id     TEXT COLLATE "C" NOT NULL,
    offload_id     TEXT COLLATE "C" NOT NULL,
    start_at       BIGINT  NOT NULL,
    end_at         BIGINT,
    duration_ms    BIGINT  NOT NULL,
    lat            DOUBLE PRECISION,
    lon            DOUBLE PRECISION,
    ingested_at    BIGINT  NOT NULL,
    category       TEXT    NOT NULL,
    case_number    TEXT    NOT NULL,
    case_closed_at BIGINT,
    retain_until   BIGINT,
    legal_hold     BOOLEAN NOT NULL,
    hold_reason    TEXT    NOT NULL,
    deleted_at     BIGINT,
    deleted_by     TEXT    NOT NULL,
    delete_reason  TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    CONSTRAINT evidence_items_pkey PRIMARY KEY (id),
    CONSTRAINT evidence_items_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id),
    CONSTRAINT evidence_items_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES officers (id),
    CONSTRAINT evidence_items_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id),
    CONSTRAINT evidence_items_station_id_fkey FOREIGN KEY (station_id) REFERENCES dock_stations (id),
    CONSTRAINT evidence_items_offload_id_fkey FOREIGN KEY (offload_id) REFERENCES evidence_offloads (id)
);
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
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    item_id    TEXT COLLATE "C" NOT NULL,
    at         BIGINT NOT NULL,
    action     TEXT   NOT NULL,
    actor_id   TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    detail     TEXT   NOT NULL,
    prev_hash  TEXT COLLATE "C" NOT NULL,
    entry_hash TEXT COLLATE "C" NOT NULL,
    CONSTRAINT evidence_custody_pkey PRIMARY KEY (seq),
    CONSTRAINT evidence_custody_prev_hash_key UNIQUE (prev_hash)
);
CREATE INDEX evidence_custody_item ON evidence_custody (item_id, seq);

-- Append-only in the database itself; the verifier catches what a
-- superuser does past these triggers.
-- +goose StatementBegin
CREATE FUNCTION evidence_custody_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evidence_custody is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER evidence_custody_no_update_delete BEFORE UPDATE OR DELETE ON evidence_custody
    FOR EACH ROW EXECUTE FUNCTION evidence_custody_append_only();
CREATE TRIGGER evidence_custody_no_truncate BEFORE TRUNCATE ON evidence_custody
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_custody_append_only();
