package sqlstore

import (
	"context"

	"github.com/lawfleet/fleet/fleet"
)

const assignmentCols = `a.id, a.device_id, a.officer_id, a.unit_id, a.start_at, a.end_at,
	a.start_by, a.end_by, a.end_reason, a.note`

func scanAssignment(s rowScanner) (fleet.Assignment, error) {
	var a fleet.Assignment
	err := s.Scan(&a.ID, &a.DeviceID, &a.OfficerID, &a.UnitID, msTime{&a.StartAt}, msTimePtr{&a.EndAt},
		&a.StartBy, &a.EndBy, &a.EndReason, &a.Note)
	return a, err
}

func (t *tx) Assignment(ctx context.Context, id string) (fleet.Assignment, error) {
	a, err := scanAssignment(t.tx.QueryRowContext(ctx,
		"SELECT "+assignmentCols+" FROM assignments a WHERE a.id = $1", id))
	if err != nil {
		return fleet.Assignment{}, t.notFound(ctx, err, "assignment", "get assignment")
	}
	return a, nil
}

// Assignments are scoped by the unit recorded on the assignment (the
// officer's unit at check-out), not by where the officer is now, so a
// transfer does not move past assignments out of the old unit's view.
func (t *tx) Assignments(ctx context.Context, f fleet.AssignmentFilter) ([]fleet.Assignment, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.DeviceID != "" {
		q.where("a.device_id = " + q.arg(f.DeviceID))
	}
	if f.OfficerID != "" {
		q.where("a.officer_id = " + q.arg(f.OfficerID))
	}
	if f.OpenOnly {
		q.where("a.end_at IS NULL")
	}
	if !f.Since.IsZero() {
		since := q.arg(ms(f.Since))
		q.where("(a.start_at >= " + since + " OR a.end_at >= " + since + ")")
	}
	order, after := "a.id", "a.id > "
	if f.NewestFirst {
		order, after = "a.id DESC", "a.id < "
	}
	if f.After != "" {
		q.where(after + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+assignmentCols+" FROM assignments a JOIN units u ON u.id = a.unit_id", order, limit+1)
	return list(ctx, t, "list assignments", query, q.args, limit, scanAssignment,
		func(a fleet.Assignment) string { return a.ID })
}

// CreateAssignment stores a. A second open assignment of the same device
// is refused by a partial unique index with ECONFLICT on device_id.
func (t *tx) CreateAssignment(ctx context.Context, a fleet.Assignment) error {
	_, err := t.exec(ctx, "create assignment",
		`INSERT INTO assignments (id, device_id, officer_id, unit_id, start_at, end_at,
			start_by, end_by, end_reason, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		[]any{a.ID, a.DeviceID, a.OfficerID, a.UnitID, ms(a.StartAt), msPtr(a.EndAt),
			a.StartBy, a.EndBy, a.EndReason, a.Note},
		ref{"device_id", "device", "devices", a.DeviceID},
		ref{"officer_id", "officer", "officers", a.OfficerID},
		ref{"unit_id", "unit", "units", a.UnitID})
	return err
}

// EndAssignment closes an open assignment; ending one twice is ECONFLICT,
// so that two returns of the same recorder cannot both be recorded.
func (t *tx) EndAssignment(ctx context.Context, a fleet.Assignment) error {
	if a.EndAt == nil {
		return fleet.Invalid("end_at", "an ended assignment needs an end time")
	}
	n, err := t.exec(ctx, "end assignment",
		`UPDATE assignments SET end_at = $2, end_by = $3, end_reason = $4
		WHERE id = $1 AND end_at IS NULL`,
		[]any{a.ID, ms(*a.EndAt), a.EndBy, a.EndReason})
	if err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	if ok, err := t.exists(ctx, "assignments", a.ID); err != nil {
		return err
	} else if !ok {
		return fleet.Errorf(fleet.ENOTFOUND, "assignment not found")
	}
	return fleet.Errorf(fleet.ECONFLICT, "assignment already ended")
}
