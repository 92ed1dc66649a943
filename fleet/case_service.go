package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cases is the full-process recording service: enforcement cases, their
// nodes, their links to evidence, the missing-records report and the
// review sample. It works through the vault so that a link changes the
// item's retention with the vault's own rules and custody log.
type Cases struct {
	v     *Vault
	store CaseStore
}

// NewCases returns the case service over the vault's store, which must
// also keep cases (the SQL store does); otherwise EUNAVAILABLE.
func NewCases(v *Vault) (*Cases, error) {
	if v == nil {
		return nil, Errorf(EUNAVAILABLE, "the evidence vault is not configured on this server")
	}
	cs, ok := v.store.(CaseStore)
	if !ok {
		return nil, Errorf(EUNAVAILABLE, "the evidence store does not keep enforcement cases")
	}
	return &Cases{v: v, store: cs}, nil
}

// Who may do what with cases. Cases belong to enforcement staff: officers
// open cases and record their nodes in their own unit's subtree and link
// their own recordings; legal/audit staff read cases, link any footage of
// their subtree (they classify evidence already) and run the reports;
// administrators do everything. Equipment managers and commanders keep
// devices and watch the map, not case files, so they have no access.
var caseRoles = map[string][]Role{
	"read":   {RoleAdmin, RoleAuditor, RoleOfficer},
	"write":  {RoleAdmin, RoleOfficer},
	"link":   {RoleAdmin, RoleAuditor, RoleOfficer},
	"report": {RoleAdmin, RoleAuditor},
}

func caseAllowed(actor User, op, path string) error {
	if !slices.Contains(caseRoles[op], actor.Role) {
		return Errorf(EFORBIDDEN, "role %s may not %s enforcement cases", actor.Role, op)
	}
	if !PathContains(actor.Scope(), path) {
		return Errorf(EFORBIDDEN, "outside your unit")
	}
	return nil
}

// caseIn loads a case of actor's subtree that actor may op on; a case
// outside the subtree is not found.
func (cs *Cases) caseIn(ctx context.Context, tx CaseTx, actor User, op, id string) (EnforcementCase, error) {
	c, err := tx.Case(ctx, id)
	if err != nil {
		return c, err
	}
	if err := inScope(actor, c.UnitPath, "case"); err != nil {
		return c, err
	}
	return c, caseAllowed(actor, op, c.UnitPath)
}

// caseUnit resolves a unit of actor's subtree named in field; "" is the
// actor's own unit ("" path for an administrator bound to none).
func caseUnit(ctx context.Context, tx Tx, actor User, field, id string) (Unit, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		if actor.UnitID == "" {
			return Unit{Path: actor.Scope()}, nil
		}
		id = actor.UnitID
	}
	u, err := tx.Unit(ctx, id)
	if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), u.Path)) {
		return u, Invalid(field, "unit %q does not exist in your subtree", id)
	}
	return u, err
}

// notFuture refuses a time in the future, with a minute of grace for
// clocks that disagree.
func (cs *Cases) notFuture(field string, t time.Time) error {
	if t.After(cs.v.now().Add(time.Minute)) {
		return Invalid(field, "%s is in the future", field)
	}
	return nil
}

// Create opens a case at a unit of actor's subtree.
func (cs *Cases) Create(ctx context.Context, actor User, in CaseInput) (c EnforcementCase, err error) {
	number, err := checkText("number", in.Number, 64, true)
	if err != nil {
		return c, err
	}
	title, err := checkText("title", in.Title, 200, false)
	if err != nil {
		return c, err
	}
	if in.OpenedAt.IsZero() {
		return c, Invalid("opened_at", "opened_at is required")
	}
	if err := cs.notFuture("opened_at", in.OpenedAt); err != nil {
		return c, err
	}
	if strings.TrimSpace(in.UnitID) == "" {
		return c, Invalid("unit_id", "unit_id is required")
	}
	err = cs.store.UpdateCases(ctx, func(tx CaseTx) error {
		u, err := caseUnit(ctx, tx, actor, "unit_id", in.UnitID)
		if err != nil {
			return err
		}
		if err := caseAllowed(actor, "write", u.Path); err != nil {
			return err
		}
		now := cs.v.now().UTC()
		c = EnforcementCase{ID: NewID("case"), Number: number, Title: title, UnitID: u.ID, UnitPath: u.Path,
			Status: CaseOpen, OpenedAt: in.OpenedAt.UTC(), CreatedBy: actor.ID, CreatedAt: now, Version: 1}
		if err := tx.CreateCase(ctx, c); err != nil {
			return err
		}
		return cs.v.audit(ctx, tx, actor, "case.create", "case", c.ID, c.UnitID, "", c)
	})
	return c, err
}

// Get returns a case with its nodes and links.
func (cs *Cases) Get(ctx context.Context, actor User, id string) (f CaseFile, err error) {
	err = cs.store.ViewCases(ctx, func(tx CaseTx) error {
		c, err := cs.caseIn(ctx, tx, actor, "read", id)
		if err != nil {
			return err
		}
		f.EnforcementCase = c
		if f.Nodes, err = tx.CaseNodes(ctx, c.ID); err != nil {
			return err
		}
		linked, err := tx.CaseLinks(ctx, c.ID)
		if err != nil {
			return err
		}
		f.Links = make([]CaseLink, 0, len(linked))
		for _, l := range linked {
			f.Links = append(f.Links, l.Link)
		}
		return nil
	})
	return f, err
}

// List lists the cases of actor's subtree (or of f.UnitID's) by id.
func (cs *Cases) List(ctx context.Context, actor User, f CaseFilter) (items []EnforcementCase, next string, err error) {
	if err := caseAllowed(actor, "read", actor.Scope()); err != nil {
		return nil, "", err
	}
	if f.Status != "" && f.Status != CaseOpen && f.Status != CaseClosed {
		return nil, "", Invalid("status", "status must be open or closed")
	}
	err = cs.store.ViewCases(ctx, func(tx CaseTx) error {
		u, err := caseUnit(ctx, tx, actor, "unit", f.UnitID)
		if err != nil {
			return err
		}
		f.Scope = u.Path
		items, next, err = tx.Cases(ctx, f)
		return err
	})
	return items, next, err
}

// AddNode records a node of an open case. The node's officer defaults to
// the signed-in officer and must be an officer of actor's subtree.
func (cs *Cases) AddNode(ctx context.Context, actor User, caseID string, in CaseNodeInput) (n CaseNode, err error) {
	if !in.Kind.Valid() {
		return n, Invalid("kind", "kind must be inspection, evidence_collection, notification, decision or service")
	}
	if in.StartAt.IsZero() {
		return n, Invalid("start_at", "start_at is required")
	}
	if in.EndAt != nil && in.EndAt.Before(in.StartAt) {
		return n, Invalid("end_at", "the node ends before it starts")
	}
	if err := cs.notFuture("start_at", in.StartAt); err != nil {
		return n, err
	}
	note, err := checkText("note", in.Note, 500, false)
	if err != nil {
		return n, err
	}
	officerID := strings.TrimSpace(in.OfficerID)
	if officerID == "" {
		officerID = actor.OfficerID
	}
	if officerID == "" {
		return n, Invalid("officer_id", "officer_id is required: you are not linked to an officer")
	}
	err = cs.store.UpdateCases(ctx, func(tx CaseTx) error {
		c, err := cs.caseIn(ctx, tx, actor, "write", caseID)
		if err != nil {
			return err
		}
		if c.Status != CaseOpen {
			return Errorf(ECONFLICT, "case %s is closed; its nodes can no longer change", c.Number)
		}
		o, err := tx.Officer(ctx, officerID)
		if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), pathOf(ctx, tx, o.UnitID))) {
			return Invalid("officer_id", "officer %q does not exist in your subtree", officerID)
		} else if err != nil {
			return err
		}
		n = CaseNode{ID: NewID("node"), CaseID: c.ID, Kind: in.Kind, StartAt: in.StartAt.UTC(), EndAt: utcPtr(in.EndAt),
			OfficerID: o.ID, Note: note, CreatedBy: actor.ID, CreatedAt: cs.v.now().UTC()}
		if err := tx.CreateCaseNode(ctx, n); err != nil {
			return err
		}
		return cs.v.audit(ctx, tx, actor, "case.node", "case", c.ID, c.UnitID, "", n)
	})
	return n, err
}

// Link ties an evidence item to an open case (and to one of its nodes if
// NodeID is set). The item becomes case footage: category case (a
// permanent item stays permanent, the longest period wins), the case
// number, and no retention date while the case is open, so that it
// cannot be deleted; the change goes into the item's custody. An item
// belongs to one case.
func (cs *Cases) Link(ctx context.Context, actor User, caseID string, in CaseLinkInput) (l CaseLink, it EvidenceItem, err error) {
	reason, err := checkText("reason", in.Reason, 500, false)
	if err != nil {
		return l, it, err
	}
	err = cs.store.UpdateCases(ctx, func(tx CaseTx) error {
		c, err := cs.caseIn(ctx, tx, actor, "link", caseID)
		if err != nil {
			return err
		}
		if c.Status != CaseOpen {
			return Errorf(ECONFLICT, "case %s is closed; link footage while it is open", c.Number)
		}
		before, err := tx.EvidenceItem(ctx, strings.TrimSpace(in.ItemID))
		if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), pathOf(ctx, tx, before.UnitID))) {
			return Invalid("item_id", "evidence item %q does not exist in your subtree", in.ItemID)
		} else if err != nil {
			return err
		}
		// Officers cannot read footage (evidenceRoles), so they may only
		// link what their own recorder recorded.
		if actor.Role == RoleOfficer && (actor.OfficerID == "" || before.OfficerID != actor.OfficerID) {
			return &Error{Code: EFORBIDDEN, Field: "item_id", Message: "officers may link only their own recordings"}
		}
		switch {
		case before.DeletedAt != nil:
			return Errorf(ECONFLICT, "evidence item %s is deleted", before.ID)
		case before.CaseNumber != "" && before.CaseNumber != c.Number:
			return Errorf(ECONFLICT, "evidence item %s belongs to case %s", before.ID, before.CaseNumber)
		}
		if in.NodeID != "" {
			nodes, err := tx.CaseNodes(ctx, c.ID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(nodes, func(n CaseNode) bool { return n.ID == in.NodeID }) {
				return Invalid("node_id", "node %q is not a node of case %s", in.NodeID, c.Number)
			}
		}
		l = CaseLink{CaseID: c.ID, ItemID: before.ID, NodeID: in.NodeID, LinkedBy: actor.ID, LinkedAt: cs.v.now().UTC()}
		if err := tx.CreateCaseLink(ctx, l); err != nil {
			return err
		}
		it = before
		if before.CaseNumber != c.Number || (before.Category != CategoryCase && before.Category != CategoryPermanent) {
			if it.Category != CategoryPermanent {
				it.Category = CategoryCase
			}
			it.CaseNumber, it.CaseClosedAt = c.Number, nil
			it.RetainUntil = cs.v.policy.RetainUntil(it)
			if err := cs.v.save(ctx, tx, actor, before, &it, CustodyClassify, reason,
				fmt.Sprintf("category=%s case=%s linked", it.Category, c.Number)); err != nil {
				return err
			}
		}
		return cs.v.audit(ctx, tx, actor, "case.link", "case", c.ID, c.UnitID, reason, l)
	})
	return l, it, err
}

// CloseInput closes a case; ClosedAt defaults to now.
type CloseInput struct {
	ClosedAt *time.Time `json:"closed_at"`
	Reason   string     `json:"reason"`
}

// Close closes a case and starts the retention clock of its footage:
// every linked item is kept until the closing date plus the policy's
// case years (or longer, by the longest-period rule), each change in the
// item's custody.
func (cs *Cases) Close(ctx context.Context, actor User, id string, in CloseInput) (c EnforcementCase, err error) {
	reason, err := checkText("reason", in.Reason, 500, false)
	if err != nil {
		return c, err
	}
	closedAt := cs.v.now().UTC()
	if in.ClosedAt != nil {
		if err := cs.notFuture("closed_at", *in.ClosedAt); err != nil {
			return c, err
		}
		closedAt = in.ClosedAt.UTC()
	}
	err = cs.store.UpdateCases(ctx, func(tx CaseTx) error {
		before, err := cs.caseIn(ctx, tx, actor, "write", id)
		if err != nil {
			return err
		}
		if before.Status != CaseOpen {
			return Errorf(ECONFLICT, "case %s is already closed", before.Number)
		}
		if closedAt.Before(before.OpenedAt) {
			return Invalid("closed_at", "the case closes before it opened")
		}
		c = before
		c.Status, c.ClosedAt = CaseClosed, &closedAt
		if err := tx.UpdateCase(ctx, c); err != nil {
			return err
		}
		c.Version++
		linked, err := tx.CaseLinks(ctx, c.ID)
		if err != nil {
			return err
		}
		done := map[string]bool{}
		for _, l := range linked {
			prev := l.Item
			if done[prev.ID] || prev.DeletedAt != nil || prev.CaseNumber != c.Number {
				continue
			}
			done[prev.ID] = true
			it := prev
			it.CaseClosedAt = &closedAt
			it.RetainUntil = cs.v.policy.RetainUntil(it)
			if err := cs.v.save(ctx, tx, actor, prev, &it, CustodyClassify, reason,
				fmt.Sprintf("case=%s closed=%s", c.Number, closedAt.Format(time.RFC3339))); err != nil {
				return err
			}
		}
		return cs.v.audit(ctx, tx, actor, "case.close", "case", c.ID, c.UnitID, reason, c)
	})
	return c, err
}

// MissingRecordsFilter selects the nodes checked.
type MissingRecordsFilter struct {
	UnitID   string
	From, To *time.Time // nodes starting in [From, To)
}

// MissingRecords lists the nodes of the cases of a unit's subtree that
// have no recording (see NodeCovered). Cases are read a page at a time,
// each in its own read transaction, so a large subtree neither holds a
// transaction open nor loads every case at once.
func (cs *Cases) MissingRecords(ctx context.Context, actor User, f MissingRecordsFilter) (rep MissingRecordsReport, err error) {
	var u Unit
	err = cs.store.ViewCases(ctx, func(tx CaseTx) error {
		u, err = caseUnit(ctx, tx, actor, "unit", f.UnitID)
		return err
	})
	if err != nil {
		return rep, err
	}
	if err := caseAllowed(actor, "report", u.Path); err != nil {
		return rep, err
	}
	rep = MissingRecordsReport{UnitID: u.ID, From: f.From, To: f.To, Missing: []MissingRecord{}}
	cf := CaseFilter{Scope: u.Path, Page: Page{Limit: 200}}
	for {
		var page []EnforcementCase
		var next string
		err := cs.store.ViewCases(ctx, func(tx CaseTx) error {
			page, next, err = tx.Cases(ctx, cf)
			if err != nil {
				return err
			}
			for _, c := range page {
				nodes, err := tx.CaseNodes(ctx, c.ID)
				if err != nil {
					return err
				}
				var linked []LinkedItem
				for _, n := range nodes {
					if (f.From != nil && n.StartAt.Before(*f.From)) || (f.To != nil && !n.StartAt.Before(*f.To)) {
						continue
					}
					if linked == nil {
						if linked, err = tx.CaseLinks(ctx, c.ID); err != nil {
							return err
						}
					}
					rep.NodesChecked++
					if !NodeCovered(n, linked) {
						rep.Missing = append(rep.Missing, MissingRecord{CaseID: c.ID, CaseNumber: c.Number,
							UnitID: c.UnitID, Node: n, CaseStatus: c.Status})
					}
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.CasesChecked += len(page)
		if next == "" {
			return rep, nil
		}
		cf.After = next
	}
}

// ReviewSample draws percent (default and minimum 10) of the cases of a
// unit's subtree closed in year (civil year in Zone) for review,
// stratified by the unit's direct sub-units. A case file is reviewed
// once it is complete, so the year's cases are those closed in it.
func (cs *Cases) ReviewSample(ctx context.Context, actor User, unitID string, year, percent int) (s ReviewSample, err error) {
	if percent == 0 {
		percent = DefaultReviewPercent
	}
	if percent < MinReviewPercent || percent > 100 {
		return s, Invalid("percent", "percent must be between %d and 100", MinReviewPercent)
	}
	if year < 2000 || year > 2200 {
		return s, Invalid("year", "year must be a year such as 2026")
	}
	if strings.TrimSpace(unitID) == "" && actor.UnitID == "" {
		return s, Invalid("unit", "name the unit whose cases to sample")
	}
	var u Unit
	err = cs.store.ViewCases(ctx, func(tx CaseTx) error {
		u, err = caseUnit(ctx, tx, actor, "unit", unitID)
		return err
	})
	if err != nil {
		return s, err
	}
	if err := caseAllowed(actor, "report", u.Path); err != nil {
		return s, err
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, Zone)
	to := from.AddDate(1, 0, 0)
	f := CaseFilter{Scope: u.Path, Status: CaseClosed, ClosedFrom: &from, ClosedTo: &to, Page: Page{Limit: 500}}
	var cases []EnforcementCase
	for {
		var page []EnforcementCase
		var next string
		err := cs.store.ViewCases(ctx, func(tx CaseTx) error {
			page, next, err = tx.Cases(ctx, f)
			return err
		})
		if err != nil {
			return s, err
		}
		cases = append(cases, page...)
		if next == "" {
			break
		}
		f.After = next
	}
	s = ReviewSample{UnitID: u.ID, Year: year, Percent: percent, Seed: ReviewSeed(u.ID, year), TotalCases: len(cases)}
	s.Strata, s.Cases = SampleCases(s.Seed, percent, cases, func(c EnforcementCase) string {
		return stratumOf(u.ID, u.Path, c.UnitPath)
	})
	if err := cs.store.UpdateCases(ctx, func(tx CaseTx) error {
		return cs.v.audit(ctx, tx, actor, "case.review_sample", "unit", u.ID, u.ID, "",
			map[string]any{"year": year, "percent": percent, "seed": s.Seed, "sampled": len(s.Cases)})
	}); err != nil {
		return s, err
	}
	return s, nil
}
