-- Full-process recording (issue 7) for PostgreSQL; mirrors
-- migrations/sqlite, where the tables are explained.

-- +goose Up
CREATE TABLE enforcement_cases (
    id         TEXT COLLATE "C" NOT NULL,
    number     TEXT COLLATE "C" NOT NULL,
    title      TEXT    NOT NULL,
    unit_id    TEXT COLLATE "C" NOT NULL,
    status     TEXT    NOT NULL,
    opened_at  BIGINT  NOT NULL,
    closed_at  BIGINT,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    version    BIGINT  NOT NULL,
    CONSTRAINT enforcement_cases_pkey PRIMARY KEY (id),
    CONSTRAINT enforcement_cases_number_key UNIQUE (number),
    CONSTRAINT enforcement_cases_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES units (id)
);
CREATE INDEX enforcement_cases_unit ON enforcement_cases (unit_id);
CREATE INDEX enforcement_cases_closed ON enforcement_cases (closed_at);

CREATE TABLE case_nodes (
    id         TEXT COLLATE "C" NOT NULL,
    case_id    TEXT COLLATE "C" NOT NULL,
    kind       TEXT    NOT NULL,
    start_at   BIGINT  NOT NULL,
    end_at     BIGINT,
    officer_id TEXT COLLATE "C" NOT NULL,
    note       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    CONSTRAINT case_nodes_pkey PRIMARY KEY (id),
    CONSTRAINT case_nodes_case_id_fkey FOREIGN KEY (case_id) REFERENCES enforcement_cases (id),
    CONSTRAINT case_nodes_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES officers (id)
);
CREATE INDEX case_nodes_case ON case_nodes (case_id, start_at);
CREATE INDEX case_nodes_officer ON case_nodes (officer_id, start_at);

CREATE TABLE case_links (
    case_id   TEXT COLLATE "C" NOT NULL,
    item_id   TEXT COLLATE "C" NOT NULL,
    node_id   TEXT COLLATE "C" NOT NULL,
    linked_by TEXT    NOT NULL,
    linked_at BIGINT  NOT NULL,
    CONSTRAINT case_links_pkey PRIMARY KEY (case_id, item_id, node_id),
    CONSTRAINT case_links_case_id_fkey FOREIGN KEY (case_id) REFERENCES enforcement_cases (id),
    CONSTRAINT case_links_item_id_fkey FOREIGN KEY (item_id) REFERENCES evidence_items (id)
);
CREATE INDEX case_links_item ON case_links (item_id);
