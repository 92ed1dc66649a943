package sqlstore

import (
	"context"

	"github.com/lawfleet/fleet/fleet"
)

const officerCols = `o.id, o.name, o.badge_no, o.effective_on, o.version,
	o.unit_id, o.frontline, o.duty_status,
	o.cert_number, o.cert_issued_on, o.cert_expires_on, o.cert_review_until, o.cert_status`

func scanOfficer(s rowScanner) (fleet.Officer, error) {
	var o fleet.Officer
	c := &o.Certificate
	err := s.Scan(&o.ID, &o.Name, &o.BadgeNo, dateCol{&o.EffectiveOn}, &o.Version,
		&o.UnitID, &o.Frontline, &o.DutyStatus,
		&c.Number, dateCol{&c.IssuedOn}, dateCol{&c.ExpiresOn}, dateCol{&c.AnnualReviewUntil}, &c.Status)
	return o, err
}

func (t *tx) Officer(ctx context.Context, id string) (fleet.Officer, error) {
	o, err := scanOfficer(t.tx.QueryRowContext(ctx,
		"SELECT "+officerCols+" FROM officers o WHERE o.id = $1", id))
	if err != nil {
		return fleet.Officer{}, t.notFound(ctx, err, "officer", "get officer")
	}
	return o, nil
}

func (t *tx) OfficerByBadge(ctx context.Context, badgeNo string) (fleet.Officer, error) {
	o, err := scanOfficer(t.tx.QueryRowContext(ctx,
		"SELECT "+officerCols+" FROM officers o WHERE o.badge_no = $1", badgeNo))
	if err != nil {
		return fleet.Officer{}, t.notFound(ctx, err, "officer", "get officer by badge")
	}
	return o, nil
}

func (t *tx) Officers(ctx context.Context, f fleet.OfficerFilter) ([]fleet.Officer, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.UnitID != "" {
		q.where("o.unit_id = " + q.arg(f.UnitID))
	}
	q.contains(f.Query, "o.name", "o.badge_no")
	if f.After != "" {
		q.where("o.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+officerCols+" FROM officers o JOIN units u ON u.id = o.unit_id", "o.id", limit+1)
	return list(ctx, t, "list officers", query, q.args, limit, scanOfficer,
		func(o fleet.Officer) string { return o.ID })
}

// CreateOfficer stores a new officer at version 1. Its history is the
// caller's to add with AddOfficerVersion.
func (t *tx) CreateOfficer(ctx context.Context, o fleet.Officer) error {
	c := o.Certificate
	_, err := t.exec(ctx, "create officer",
		`INSERT INTO officers (id, name, badge_no, effective_on, version,
			unit_id, frontline, duty_status,
			cert_number, cert_issued_on, cert_expires_on, cert_review_until, cert_status)
		VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12)`,
		[]any{o.ID, o.Name, o.BadgeNo, date(o.EffectiveOn),
			o.UnitID, o.Frontline, o.DutyStatus,
			c.Number, date(c.IssuedOn), date(c.ExpiresOn), date(c.AnnualReviewUntil), c.Status},
		ref{"unit_id", "unit", "units", o.UnitID})
	return err
}

// UpdateOfficer saves o if it is still at o.Version, the version the
// caller read, and moves it to o.Version+1.
func (t *tx) UpdateOfficer(ctx context.Context, o fleet.Officer) error {
	c := o.Certificate
	n, err := t.exec(ctx, "update officer",
		`UPDATE officers SET name = $3, badge_no = $4, effective_on = $5,
			unit_id = $6, frontline = $7, duty_status = $8,
			cert_number = $9, cert_issued_on = $10, cert_expires_on = $11,
			cert_review_until = $12, cert_status = $13,
			version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{o.ID, o.Version, o.Name, o.BadgeNo, date(o.EffectiveOn),
			o.UnitID, o.Frontline, o.DutyStatus,
			c.Number, date(c.IssuedOn), date(c.ExpiresOn), date(c.AnnualReviewUntil), c.Status},
		ref{"unit_id", "unit", "units", o.UnitID})
	if err != nil {
		return err
	}
	return t.versioned(ctx, n, "officers", "officer", o.ID)
}

func (t *tx) AddOfficerVersion(ctx context.Context, v fleet.OfficerVersion) error {
	c := v.Certificate
	_, err := t.exec(ctx, "add officer version",
		`INSERT INTO officer_versions (officer_id, effective_on, recorded_at, recorded_by,
			unit_id, frontline, duty_status,
			cert_number, cert_issued_on, cert_expires_on, cert_review_until, cert_status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		[]any{v.OfficerID, v.EffectiveOn.String(), ms(v.RecordedAt), v.RecordedBy,
			v.UnitID, v.Frontline, v.DutyStatus,
			c.Number, date(c.IssuedOn), date(c.ExpiresOn), date(c.AnnualReviewUntil), c.Status},
		ref{"officer_id", "officer", "officers", v.OfficerID},
		ref{"unit_id", "unit", "units", v.UnitID})
	return err
}

// OfficerVersions returns the history oldest first: by effective date,
// then by when each version was recorded, so that a correction recorded
// later for the same date comes after (and StateAt picks it).
func (t *tx) OfficerVersions(ctx context.Context, officerID string) ([]fleet.OfficerVersion, error) {
	vs, err := all(ctx, t, "list officer versions",
		`SELECT officer_id, effective_on, recorded_at, recorded_by,
			unit_id, frontline, duty_status,
			cert_number, cert_issued_on, cert_expires_on, cert_review_until, cert_status
		FROM officer_versions WHERE officer_id = $1
		ORDER BY effective_on, recorded_at, seq`,
		[]any{officerID},
		func(s rowScanner) (fleet.OfficerVersion, error) {
			var v fleet.OfficerVersion
			c := &v.Certificate
			err := s.Scan(&v.OfficerID, dateCol{&v.EffectiveOn}, msTime{&v.RecordedAt}, &v.RecordedBy,
				&v.UnitID, &v.Frontline, &v.DutyStatus,
				&c.Number, dateCol{&c.IssuedOn}, dateCol{&c.ExpiresOn}, dateCol{&c.AnnualReviewUntil}, &c.Status)
			return v, err
		})
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		// Tell "no history" from "no such officer".
		if ok, err := t.exists(ctx, "officers", officerID); err != nil {
			return nil, err
		} else if !ok {
			return nil, fleet.Errorf(fleet.ENOTFOUND, "officer not found")
		}
	}
	return vs, nil
}
