package sqlstore

import (
	"context"

	"github.com/lawfleet/fleet/fleet"
)

// Enforcement cases, their nodes and their links to evidence
// (migrations/*/00005_cases.sql). The same tx type serves fleet.CaseTx,
// so a link, the item's new retention and its custody entry commit
// together.

var (
	_ fleet.CaseStore = (*DB)(nil)
	_ fleet.CaseTx    = (*tx)(nil)
)

// UpdateCases is Update for cases; writers are serialised as for the
// vault, which the custody chain relies on when a link reclassifies.
func (db *DB) UpdateCases(ctx context.Context, fn func(fleet.CaseTx) error) error {
	return db.Update(ctx, func(t fleet.Tx) error { return fn(t.(*tx)) })
}

// ViewCases is View for cases.
func (db *DB) ViewCases(ctx context.Context, fn func(fleet.CaseTx) error) error {
	return db.View(ctx, func(t fleet.Tx) error { return fn(t.(*tx)) })
}

const caseCols = `c.id, c.number, c.title, c.unit_id, u.path, c.status, c.opened_at, c.closed_at,
	c.created_by, c.created_at, c.version`

const caseFrom = ` FROM enforcement_cases c JOIN units u ON u.id = c.unit_id`

func scanCase(s rowScanner) (fleet.EnforcementCase, error) {
	var c fleet.EnforcementCase
	err := s.Scan(&c.ID, &c.Number, &c.Title, &c.UnitID, &c.UnitPath, &c.Status, msTime{&c.OpenedAt},
		msTimePtr{&c.ClosedAt}, &c.CreatedBy, msTime{&c.CreatedAt}, &c.Version)
	return c, err
}

func (t *tx) Case(ctx context.Context, id string) (fleet.EnforcementCase, error) {
	c, err := scanCase(t.tx.QueryRowContext(ctx, "SELECT "+caseCols+caseFrom+" WHERE c.id = $1", id))
	if err != nil {
		return c, t.notFound(ctx, err, "case", "get case")
	}
	return c, nil
}

// Cases are scoped by the unit the case is filed under, paged by id.
func (t *tx) Cases(ctx context.Context, f fleet.CaseFilter) ([]fleet.EnforcementCase, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.Status != "" {
		q.where("c.status = " + q.arg(f.Status))
	}
	if f.ClosedFrom != nil {
		q.where("c.closed_at >= " + q.arg(ms(*f.ClosedFrom)))
	}
	if f.ClosedTo != nil {
		q.where("c.closed_at < " + q.arg(ms(*f.ClosedTo)))
	}
	if f.OpenedFrom != nil {
		q.where("c.opened_at >= " + q.arg(ms(*f.OpenedFrom)))
	}
	if f.OpenedTo != nil {
		q.where("c.opened_at < " + q.arg(ms(*f.OpenedTo)))
	}
	if f.After != "" {
		q.where("c.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+caseCols+caseFrom, "c.id", limit+1)
	return list(ctx, t, "list cases", query, q.args, limit, scanCase,
		func(c fleet.EnforcementCase) string { return c.ID })
}

func (t *tx) CreateCase(ctx context.Context, c fleet.EnforcementCase) error {
	_, err := t.exec(ctx, "create case",
		`INSERT INTO enforcement_cases (id, number, title, unit_id, status, opened_at, closed_at, created_by,
			created_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)`,
		[]any{c.ID, c.Number, c.Title, c.UnitID, c.Status, ms(c.OpenedAt), msPtr(c.ClosedAt), c.CreatedBy,
			ms(c.CreatedAt)},
		ref{"unit_id", "unit", "units", c.UnitID})
	if fleet.ErrorCode(err) == fleet.ECONFLICT {
		// The shared table does not know this table's keys; the id is
		// random, so the clash is the case number.
		return &fleet.Error{Code: fleet.ECONFLICT, Field: "number", Message: "case number " + c.Number + " is already registered"}
	}
	return err
}

// UpdateCase saves what may change after a case is opened.
func (t *tx) UpdateCase(ctx context.Context, c fleet.EnforcementCase) error {
	n, err := t.exec(ctx, "update case",
		`UPDATE enforcement_cases SET status = $3, closed_at = $4, version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{c.ID, c.Version, c.Status, msPtr(c.ClosedAt)})
	if err != nil {
		return err
	}
	return t.versioned(ctx, n, "enforcement_cases", "case", c.ID)
}

const nodeCols = `id, case_id, kind, start_at, end_at, officer_id, note, created_by, created_at`

func scanNode(s rowScanner) (fleet.CaseNode, error) {
	var n fleet.CaseNode
	err := s.Scan(&n.ID, &n.CaseID, &n.Kind, msTime{&n.StartAt}, msTimePtr{&n.EndAt}, &n.OfficerID, &n.Note,
		&n.CreatedBy, msTime{&n.CreatedAt})
	return n, err
}

// CaseNodes are in the order they happened. A case has a handful of
// nodes, so they are not paged.
func (t *tx) CaseNodes(ctx context.Context, caseID string) ([]fleet.CaseNode, error) {
	return all(ctx, t, "list case nodes",
		"SELECT "+nodeCols+" FROM case_nodes WHERE case_id = $1 ORDER BY start_at, id",
		[]any{caseID}, scanNode)
}

func (t *tx) CreateCaseNode(ctx context.Context, n fleet.CaseNode) error {
	_, err := t.exec(ctx, "create case node",
		`INSERT INTO case_nodes (id, case_id, kind, start_at, end_at, officer_id, note, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		[]any{n.ID, n.CaseID, n.Kind, ms(n.StartAt), msPtr(n.EndAt), n.OfficerID, n.Note, n.CreatedBy,
			ms(n.CreatedAt)},
		ref{"case_id", "case", "enforcement_cases", n.CaseID},
		ref{"officer_id", "officer", "officers", n.OfficerID})
	return err
}

// CaseLinks joins each link to its item (itemCols alias the item "e").
func (t *tx) CaseLinks(ctx context.Context, caseID string) ([]fleet.LinkedItem, error) {
	return all(ctx, t, "list case links",
		`SELECT l.case_id, l.item_id, l.node_id, l.linked_by, l.linked_at, `+itemCols+`
		FROM case_links l JOIN evidence_items e ON e.id = l.item_id
		WHERE l.case_id = $1 ORDER BY l.item_id, l.node_id`,
		[]any{caseID}, func(s rowScanner) (fleet.LinkedItem, error) {
			var li fleet.LinkedItem
			it, err := scanItem(prefixScanner{s, []any{&li.Link.CaseID, &li.Link.ItemID, &li.Link.NodeID,
				&li.Link.LinkedBy, msTime{&li.Link.LinkedAt}}})
			li.Item = it
			return li, err
		})
}

func (t *tx) CreateCaseLink(ctx context.Context, l fleet.CaseLink) error {
	_, err := t.exec(ctx, "create case link",
		`INSERT INTO case_links (case_id, item_id, node_id, linked_by, linked_at) VALUES ($1, $2, $3, $4, $5)`,
		[]any{l.CaseID, l.ItemID, l.NodeID, l.LinkedBy, ms(l.LinkedAt)},
		ref{"case_id", "case", "enforcement_cases", l.CaseID},
		ref{"item_id", "evidence item", "evidence_items", l.ItemID})
	if fleet.ErrorCode(err) == fleet.ECONFLICT {
		return &fleet.Error{Code: fleet.ECONFLICT, Field: "item_id", Message: "evidence item " + l.ItemID + " is already linked there"}
	}
	return err
}

// prefixScanner scans its own columns first, then hands the rest of the
// row to the scanner of a joined table.
type prefixScanner struct {
	s   rowScanner
	pre []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.s.Scan(append(p.pre, dest...)...) }
