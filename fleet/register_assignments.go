package fleet

import (
	"context"
	"fmt"
)

// CheckoutInput hands a recorder to an officer. AllowAnother lets a
// manager give an officer a second recorder on purpose.
type CheckoutInput struct {
	OfficerID    string `json:"officer_id"`
	AllowAnother bool   `json:"allow_another"`
	Note         string `json:"note"`
}

// CheckinInput takes a recorder back.
type CheckinInput struct {
	Note string `json:"note"`
}

// Checkout hands recorder deviceID to an officer (领用). Refused when the
// device is not a recorder, is not in stock (in repair, lost, retired or
// already out), when the officer is not on duty, or when the officer
// already holds a recorder and the manager did not allow another.
func (r *Register) Checkout(ctx context.Context, actor User, deviceID string, in CheckoutInput) (a Assignment, err error) {
	note, err := checkText("note", in.Note, 200, false)
	if err != nil {
		return a, err
	}
	if in.OfficerID == "" {
		return a, Invalid("officer_id", "officer_id is required")
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		d, err := r.deviceIn(ctx, tx, actor, PermAssign, deviceID)
		if err != nil {
			return err
		}
		o, err := tx.Officer(ctx, in.OfficerID)
		if ErrorCode(err) == ENOTFOUND {
			return Invalid("officer_id", "officer %s does not exist", in.OfficerID)
		} else if err != nil {
			return err
		}
		if err := authorize(actor, PermAssign, pathOf(ctx, tx, o.UnitID)); err != nil {
			return &Error{Code: EFORBIDDEN, Field: "officer_id", Message: "officer is outside your unit"}
		}
		if d.Kind != KindRecorder {
			return Invalid("device", "only recorders are handed to officers; %s is a %s", d.Serial, d.Kind)
		}
		switch d.Status {
		case StatusInStock:
		case StatusAssigned:
			open, _, err := tx.Assignments(ctx, AssignmentFilter{DeviceID: d.ID, OpenOnly: true, Page: Page{Limit: 1}})
			if err != nil {
				return err
			}
			holder := "an officer"
			if len(open) == 1 {
				if h, err := tx.Officer(ctx, open[0].OfficerID); err == nil {
					holder = fmt.Sprintf("%s (%s)", h.Name, h.BadgeNo)
				}
			}
			return Errorf(ECONFLICT, "recorder %s is already with %s; check it in first", d.Serial, holder)
		default:
			return Errorf(ECONFLICT, "recorder %s is %s and cannot be handed out", d.Serial, d.Status)
		}
		if o.DutyStatus != OnDuty {
			return &Error{Code: ECONFLICT, Field: "officer_id",
				Message: fmt.Sprintf("officer %s is %s, not on duty", o.BadgeNo, o.DutyStatus)}
		}
		held, _, err := tx.Assignments(ctx, AssignmentFilter{OfficerID: o.ID, OpenOnly: true, Page: Page{Limit: 1}})
		if err != nil {
			return err
		}
		if len(held) > 0 && !in.AllowAnother {
			return &Error{Code: ECONFLICT, Field: "officer_id",
				Message: fmt.Sprintf("officer %s already holds a recorder; set allow_another to hand out a second", o.BadgeNo)}
		}
		now := r.now().UTC()
		a = Assignment{ID: NewID("asg"), DeviceID: d.ID, OfficerID: o.ID, UnitID: o.UnitID,
			StartAt: now, StartBy: actor.ID, Note: note}
		if err := tx.CreateAssignment(ctx, a); err != nil {
			return err
		}
		before := d
		d.Status = StatusAssigned
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		if err := tx.AddDeviceChange(ctx, DeviceChange{DeviceID: d.ID, At: now, Status: StatusAssigned,
			UnitID: d.UnitID, Reason: "checkout " + o.BadgeNo, By: actor.ID}); err != nil {
			return err
		}
		if err := r.audit(ctx, tx, actor, "device.checkout", "assignment", a.ID, a.UnitID, nil, a); err != nil {
			return err
		}
		return r.audit(ctx, tx, actor, "device.update", "device", d.ID, d.UnitID, before, d)
	})
	return a, err
}

// Checkin takes recorder deviceID back into stock (归还).
func (r *Register) Checkin(ctx context.Context, actor User, deviceID string, in CheckinInput) (a Assignment, err error) {
	note, err := checkText("note", in.Note, 200, false)
	if err != nil {
		return a, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		d, err := r.deviceIn(ctx, tx, actor, PermAssign, deviceID)
		if err != nil {
			return err
		}
		if d.Status != StatusAssigned {
			return Errorf(ECONFLICT, "recorder %s is not checked out", d.Serial)
		}
		if a, err = r.endOpen(ctx, tx, actor, d.ID, "checkin", note); err != nil {
			return err
		}
		before := d
		d.Status = StatusInStock
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		if err := tx.AddDeviceChange(ctx, DeviceChange{DeviceID: d.ID, At: *a.EndAt, Status: StatusInStock,
			UnitID: d.UnitID, Reason: "checkin", By: actor.ID}); err != nil {
			return err
		}
		return r.audit(ctx, tx, actor, "device.update", "device", d.ID, d.UnitID, before, d)
	})
	return a, err
}

// endAssignment ends the open assignment of a device leaving "assigned"
// for another status.
func (r *Register) endAssignment(ctx context.Context, tx Tx, actor User, deviceID, reason, note string) error {
	_, err := r.endOpen(ctx, tx, actor, deviceID, reason, note)
	return err
}

func (r *Register) endOpen(ctx context.Context, tx Tx, actor User, deviceID, reason, note string) (Assignment, error) {
	open, _, err := tx.Assignments(ctx, AssignmentFilter{DeviceID: deviceID, OpenOnly: true, Page: Page{Limit: 1}})
	if err != nil {
		return Assignment{}, err
	}
	if len(open) == 0 {
		return Assignment{}, Errorf(ECONFLICT, "device has no open assignment")
	}
	before := open[0]
	a := before
	now := r.now().UTC()
	a.EndAt, a.EndBy, a.EndReason = &now, actor.ID, reason
	if note != "" {
		a.Note = note
	}
	if err := tx.EndAssignment(ctx, a); err != nil {
		return Assignment{}, err
	}
	return a, r.audit(ctx, tx, actor, "device.checkin", "assignment", a.ID, a.UnitID, before, a)
}

// Assignments lists assignments in actor's subtree in the order they began.
func (r *Register) Assignments(ctx context.Context, actor User, f AssignmentFilter) (items []Assignment, next string, err error) {
	f.Scope = actor.Scope()
	err = r.store.View(ctx, func(tx Tx) error {
		items, next, err = tx.Assignments(ctx, f)
		return err
	})
	return items, next, err
}
