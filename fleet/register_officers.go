package fleet

import (
	"context"
	"fmt"
)

// OfficerInput creates an officer, or updates one by badge number in an
// import. EffectiveOn is the day the state takes effect (default today).
type OfficerInput struct {
	UnitID      string      `json:"unit_id"`
	Name        string      `json:"name"`
	BadgeNo     string      `json:"badge_no"`
	Frontline   *bool       `json:"frontline"`
	DutyStatus  DutyStatus  `json:"duty_status"`
	Certificate Certificate `json:"certificate"`
	EffectiveOn Date        `json:"effective_on"`
}

// OfficerPatch changes an officer; nil fields stay. A change of post,
// duty or certificate becomes a new version effective on EffectiveOn.
type OfficerPatch struct {
	UnitID      *string      `json:"unit_id"`
	Name        *string      `json:"name"`
	BadgeNo     *string      `json:"badge_no"`
	Frontline   *bool        `json:"frontline"`
	DutyStatus  *DutyStatus  `json:"duty_status"`
	Certificate *Certificate `json:"certificate"`
	EffectiveOn Date         `json:"effective_on"`
}

// OfficerResult is an officer after a change, with the recorders the
// officer holds but may no longer keep: a manager must take them back.
type OfficerResult struct {
	Officer
	RecordersToReturn []Assignment `json:"recorders_to_return"`
}

func (in *OfficerInput) validate(today Date) error {
	var err error
	if in.Name, err = checkText("name", in.Name, 64, true); err != nil {
		return err
	}
	if in.BadgeNo, err = checkPattern("badge_no", in.BadgeNo, badgePattern, "letters, digits or '-', at most 32"); err != nil {
		return err
	}
	if in.Frontline == nil {
		return Invalid("frontline", "frontline is required (true or false)")
	}
	if in.DutyStatus == "" {
		in.DutyStatus = OnDuty
	}
	if !in.DutyStatus.Valid() {
		return Invalid("duty_status", "duty_status must be on_duty, transferred_out, retired or long_leave")
	}
	if err := checkCertificate(&in.Certificate); err != nil {
		return err
	}
	return checkEffective(&in.EffectiveOn, today)
}

// checkEffective defaults an effective date to today and refuses the
// future: the register records what happened, not what is planned.
func checkEffective(d *Date, today Date) error {
	if d.IsZero() {
		*d = today
	}
	if err := checkDate("effective_on", *d, true); err != nil {
		return err
	}
	if d.After(today) {
		return Invalid("effective_on", "effective_on %s is in the future", *d)
	}
	return nil
}

// transferRule applies the rule for officers leaving an enforcement post:
// the certificate is revoked with the transfer.
func transferRule(s *OfficerState) {
	if s.DutyStatus == TransferredOut && s.Certificate.Number != "" {
		s.Certificate.Status = CertRevoked
	}
}

// CreateOfficer adds an officer to a unit in actor's subtree.
func (r *Register) CreateOfficer(ctx context.Context, actor User, in OfficerInput) (o Officer, err error) {
	if err := in.validate(DateOf(r.now())); err != nil {
		return Officer{}, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		o, err = r.createOfficer(ctx, tx, actor, in)
		return err
	})
	return o, err
}

func (r *Register) createOfficer(ctx context.Context, tx Tx, actor User, in OfficerInput) (Officer, error) {
	if _, err := unitIn(ctx, tx, actor, PermManageOfficers, in.UnitID, "unit_id"); err != nil {
		return Officer{}, err
	}
	o := Officer{ID: NewID("ofc"), Name: in.Name, BadgeNo: in.BadgeNo, EffectiveOn: in.EffectiveOn, Version: 1,
		OfficerState: OfficerState{UnitID: in.UnitID, Frontline: *in.Frontline, DutyStatus: in.DutyStatus, Certificate: in.Certificate}}
	transferRule(&o.OfficerState)
	if err := tx.CreateOfficer(ctx, o); err != nil {
		return Officer{}, err
	}
	if err := tx.AddOfficerVersion(ctx, r.version(actor, o)); err != nil {
		return Officer{}, err
	}
	return o, r.audit(ctx, tx, actor, "officer.create", "officer", o.ID, o.UnitID, nil, o)
}

func (r *Register) version(actor User, o Officer) OfficerVersion {
	return OfficerVersion{OfficerID: o.ID, EffectiveOn: o.EffectiveOn, RecordedAt: r.now().UTC(),
		RecordedBy: actor.ID, OfficerState: o.OfficerState}
}

// UpdateOfficer changes an officer. Changes of unit, post, duty or
// certificate are recorded as a new version from p.EffectiveOn, which may
// be back-dated but not before the officer's latest version.
func (r *Register) UpdateOfficer(ctx context.Context, actor User, id string, p OfficerPatch) (res OfficerResult, err error) {
	today := DateOf(r.now())
	err = r.store.Update(ctx, func(tx Tx) error {
		res, err = r.updateOfficer(ctx, tx, actor, id, p, today)
		return err
	})
	return res, err
}

func (r *Register) updateOfficer(ctx context.Context, tx Tx, actor User, id string, p OfficerPatch, today Date) (OfficerResult, error) {
	before, err := r.officerIn(ctx, tx, actor, id)
	if err != nil {
		return OfficerResult{}, err
	}
	if err := authorize(actor, PermManageOfficers, pathOf(ctx, tx, before.UnitID)); err != nil {
		return OfficerResult{}, err
	}
	o := before
	if p.Name != nil {
		if o.Name, err = checkText("name", *p.Name, 64, true); err != nil {
			return OfficerResult{}, err
		}
	}
	if p.BadgeNo != nil {
		if o.BadgeNo, err = checkPattern("badge_no", *p.BadgeNo, badgePattern, "letters, digits or '-', at most 32"); err != nil {
			return OfficerResult{}, err
		}
	}
	if p.UnitID != nil && *p.UnitID != o.UnitID {
		if _, err := unitIn(ctx, tx, actor, PermManageOfficers, *p.UnitID, "unit_id"); err != nil {
			return OfficerResult{}, err
		}
		o.UnitID = *p.UnitID
	}
	if p.Frontline != nil {
		o.Frontline = *p.Frontline
	}
	if p.DutyStatus != nil {
		if !p.DutyStatus.Valid() {
			return OfficerResult{}, Invalid("duty_status", "duty_status must be on_duty, transferred_out, retired or long_leave")
		}
		o.DutyStatus = *p.DutyStatus
	}
	if p.Certificate != nil {
		c := *p.Certificate
		if err := checkCertificate(&c); err != nil {
			return OfficerResult{}, err
		}
		o.Certificate = c
	}
	transferRule(&o.OfficerState)
	if o.OfficerState != before.OfficerState {
		eff := p.EffectiveOn
		if err := checkEffective(&eff, today); err != nil {
			return OfficerResult{}, err
		}
		if eff.Before(before.EffectiveOn) {
			return OfficerResult{}, Invalid("effective_on", "effective_on %s is before the officer's last change on %s", eff, before.EffectiveOn)
		}
		o.EffectiveOn = eff
		if err := tx.AddOfficerVersion(ctx, r.version(actor, o)); err != nil {
			return OfficerResult{}, err
		}
	}
	if err := tx.UpdateOfficer(ctx, o); err != nil {
		return OfficerResult{}, err
	}
	o.Version++
	if err := r.audit(ctx, tx, actor, "officer.update", "officer", o.ID, o.UnitID, before, o); err != nil {
		return OfficerResult{}, err
	}
	res := OfficerResult{Officer: o, RecordersToReturn: []Assignment{}}
	if !o.Eligible(today) || o.DutyStatus != OnDuty {
		open, _, err := tx.Assignments(ctx, AssignmentFilter{OfficerID: o.ID, OpenOnly: true, Page: Page{Limit: 100}})
		if err != nil {
			return OfficerResult{}, err
		}
		res.RecordersToReturn = open
	}
	return res, nil
}

// pathOf returns the path of unit id, or a path no scope contains.
func pathOf(ctx context.Context, tx Tx, id string) string {
	u, err := tx.Unit(ctx, id)
	if err != nil {
		return "\x00"
	}
	return u.Path
}

func (r *Register) officerIn(ctx context.Context, tx Tx, actor User, id string) (Officer, error) {
	o, err := tx.Officer(ctx, id)
	if err != nil {
		return Officer{}, err
	}
	return o, inScope(actor, pathOf(ctx, tx, o.UnitID), "officer")
}

// Officer returns one officer in actor's subtree.
func (r *Register) Officer(ctx context.Context, actor User, id string) (o Officer, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		o, err = r.officerIn(ctx, tx, actor, id)
		return err
	})
	return o, err
}

// OfficerHistory returns an officer's versions, oldest first.
func (r *Register) OfficerHistory(ctx context.Context, actor User, id string) (vs []OfficerVersion, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if _, err := r.officerIn(ctx, tx, actor, id); err != nil {
			return err
		}
		vs, err = tx.OfficerVersions(ctx, id)
		return err
	})
	return vs, err
}

// Officers lists officers in actor's subtree; f.UnitID narrows the list
// to that unit's subtree, as a manager choosing a city expects.
func (r *Register) Officers(ctx context.Context, actor User, f OfficerFilter) (items []Officer, next string, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if f.Scope, err = narrowScope(ctx, tx, actor, f.UnitID); err != nil {
			return err
		}
		f.UnitID = ""
		items, next, err = tx.Officers(ctx, f)
		return err
	})
	return items, next, err
}

// RowError is one rejected row of an import; Row counts from 1 for the
// first data row, as a spreadsheet user sees it below the header.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ImportResult reports an officer import. When Errors is not empty
// nothing was imported.
type ImportResult struct {
	Created int        `json:"created"`
	Updated int        `json:"updated"`
	Errors  []RowError `json:"errors"`
}

// MaxImportRows bounds one import; a province roster fits comfortably.
const MaxImportRows = 100_000

// ImportOfficers creates officers and updates existing ones (matched by
// badge number) from a roster, all or nothing: any bad row rejects the
// whole import, and every bad row is reported.
func (r *Register) ImportOfficers(ctx context.Context, actor User, rows []OfficerInput) (res ImportResult, err error) {
	res.Errors = []RowError{}
	if len(rows) == 0 {
		return res, Invalid("file", "the roster has no data rows")
	}
	if len(rows) > MaxImportRows {
		return res, Invalid("file", "the roster has %d rows; at most %d per import", len(rows), MaxImportRows)
	}
	today := DateOf(r.now())
	seen := make(map[string]int, len(rows))
	for i := range rows {
		if err := rows[i].validate(today); err != nil {
			res.Errors = append(res.Errors, RowError{Row: i + 1, Field: ErrorField(err), Message: ErrorMessage(err)})
			continue
		}
		if first, dup := seen[rows[i].BadgeNo]; dup {
			res.Errors = append(res.Errors, RowError{Row: i + 1, Field: "badge_no",
				Message: fmt.Sprintf("badge_no %s repeats row %d", rows[i].BadgeNo, first)})
		}
		seen[rows[i].BadgeNo] = i + 1
	}
	if len(res.Errors) > 0 {
		return res, nil
	}
	rowFailed := fmt.Errorf("import rejected")
	err = r.store.Update(ctx, func(tx Tx) error {
		for i, in := range rows {
			if err := r.importRow(ctx, tx, actor, in, today, &res); err != nil {
				if code := ErrorCode(err); code == EINTERNAL || code == EUNAVAILABLE {
					return err
				}
				res.Errors = append(res.Errors, RowError{Row: i + 1, Field: ErrorField(err), Message: ErrorMessage(err)})
			}
		}
		if len(res.Errors) > 0 {
			return rowFailed // roll back every row
		}
		return nil
	})
	if err == rowFailed {
		res.Created, res.Updated = 0, 0
		return res, nil
	}
	return res, err
}

func (r *Register) importRow(ctx context.Context, tx Tx, actor User, in OfficerInput, today Date, res *ImportResult) error {
	existing, err := tx.OfficerByBadge(ctx, in.BadgeNo)
	if ErrorCode(err) == ENOTFOUND {
		if _, err := r.createOfficer(ctx, tx, actor, in); err != nil {
			return err
		}
		res.Created++
		return nil
	} else if err != nil {
		return err
	}
	if err := inScope(actor, pathOf(ctx, tx, existing.UnitID), "officer"); err != nil {
		return Invalid("badge_no", "badge_no %s belongs to an officer outside your unit", in.BadgeNo)
	}
	cert := in.Certificate
	p := OfficerPatch{UnitID: &in.UnitID, Name: &in.Name, Frontline: in.Frontline,
		DutyStatus: &in.DutyStatus, Certificate: &cert, EffectiveOn: in.EffectiveOn}
	if in.EffectiveOn.Before(existing.EffectiveOn) {
		// A roster older than the register's last change cannot rewrite
		// history; record it as of today instead.
		p.EffectiveOn = today
	}
	if _, err := r.updateOfficer(ctx, tx, actor, existing.ID, p, today); err != nil {
		return err
	}
	res.Updated++
	return nil
}
