package fleet

import "context"

// Methods for the service's own pipelines (ingest, video, firmware): they
// act for no user, so they take no actor and change nothing but telemetry
// facts. Everything a person does goes through the actor-taking methods.

// LookupDevice returns a device by id.
func (r *Register) LookupDevice(ctx context.Context, id string) (d Device, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		d, err = tx.Device(ctx, id)
		return err
	})
	return d, err
}

// OpenAssignment reports whether a device is checked out to an officer.
func (r *Register) OpenAssignment(ctx context.Context, deviceID string) (bool, error) {
	var open bool
	err := r.store.View(ctx, func(tx Tx) error {
		as, _, err := tx.Assignments(ctx, AssignmentFilter{DeviceID: deviceID, OpenOnly: true, Page: Page{Limit: 1}})
		open = len(as) > 0
		return err
	})
	return open, err
}

// UnitPath returns the path of a unit, for scoping live data by unit.
func (r *Register) UnitPath(ctx context.Context, id string) (string, error) {
	var path string
	err := r.store.View(ctx, func(tx Tx) error {
		u, err := tx.Unit(ctx, id)
		path = u.Path
		return err
	})
	return path, err
}

// LookupUser returns a user by id, for attributing what the service
// observed a user do (watching video) in the audit log.
func (r *Register) LookupUser(ctx context.Context, id string) (u User, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		u, err = tx.User(ctx, id)
		return err
	})
	return u, err
}
