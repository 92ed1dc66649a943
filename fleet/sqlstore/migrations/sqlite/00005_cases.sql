-- Full-process recording (issue 7) for SQLite; mirrors migrations/postgres.
-- Enforcement cases, their nodes (inspection, evidence collection,
-- notification, decision, service of documents) and the links from
-- evidence items to a case or one of its nodes. Times are Unix ms.
--
-- No Down section: case files are records and no tool should drop them.

-- +goose Up
CREATE TABLE enforcement_cases (
    id         TEXT    NOT NULL PRIMARY KEY,
    number     TEXT    NOT NULL UNIQUE,
    title      TEXT    NOT NULL,
    unit_id    TEXT    NOT NULL REFERENCES units (id),
    status     TEXT    NOT NULL,
    opened_at  INTEGER NOT NULL,
    closed_at  INTEGER,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
) STRICT;
CREATE INDEX enforcement_cases_unit ON enforcement_cases (unit_id);
CREATE INDEX enforcement_cases_closed ON enforcement_cases (closed_at);

CREATE TABLE case_nodes (
    id         TEXT    NOT NULL PRIMARY KEY,
    case_id    TEXT    NOT NULL REFERENCES enforcement_cases (id),
    kind       TEXT    NOT NULL,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER,
    officer_id TEXT    NOT NULL REFERENCES officers (id),
    note       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX case_nodes_case ON case_nodes (case_id, start_at);
CREATE INDEX case_nodes_officer ON case_nodes (officer_id, start_at);

-- node_id is '' for a link to the case as a whole, so that the primary
-- key also forbids the same case-wide link twice (NULLs never clash).
CREATE TABLE case_links (
    case_id   TEXT    NOT NULL REFERENCES enforcement_cases (id),
    item_id   TEXT    NOT NULL REFERENCES evidence_items (id),
    node_id   TEXT    NOT NULL,
    linked_by TEXT    NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, item_id, node_id)
) STRICT;
CREATE INDEX case_links_item ON case_links (item_id);
