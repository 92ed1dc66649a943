package sqlstore

import (
	"context"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

const deviceCols = `d.id, d.kind, d.serial, d.model, d.unit_id, d.status, d.firmware_version,
	d.rtsp_url, d.mmsi, d.secret_hash, d.last_seen_at, d.created_at, d.version`

func scanDevice(s rowScanner) (fleet.Device, error) {
	var d fleet.Device
	err := s.Scan(&d.ID, &d.Kind, &d.Serial, &d.Model, &d.UnitID, &d.Status, &d.FirmwareVersion,
		&d.RTSPURL, &d.MMSI, &d.SecretHash, msTimePtr{&d.LastSeenAt}, msTime{&d.CreatedAt}, &d.Version)
	return d, err
}

func (t *tx) Device(ctx context.Context, id string) (fleet.Device, error) {
	d, err := scanDevice(t.tx.QueryRowContext(ctx,
		"SELECT "+deviceCols+" FROM devices d WHERE d.id = $1", id))
	if err != nil {
		return fleet.Device{}, t.notFound(ctx, err, "device", "get device")
	}
	return d, nil
}

func (t *tx) DeviceBySerial(ctx context.Context, serial string) (fleet.Device, error) {
	d, err := scanDevice(t.tx.QueryRowContext(ctx,
		"SELECT "+deviceCols+" FROM devices d WHERE d.serial = $1", serial))
	if err != nil {
		return fleet.Device{}, t.notFound(ctx, err, "device", "get device by serial")
	}
	return d, nil
}

func (t *tx) Devices(ctx context.Context, f fleet.DeviceFilter) ([]fleet.Device, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.Kind != "" {
		q.where("d.kind = " + q.arg(f.Kind))
	}
	if f.Status != "" {
		q.where("d.status = " + q.arg(f.Status))
	}
	q.contains(f.Query, "d.serial", "d.model")
	if f.After != "" {
		q.where("d.id > " + q.arg(f.After))
	}
	limit := pageLimit(f.Page)
	query := q.sql("SELECT "+deviceCols+" FROM devices d JOIN units u ON u.id = d.unit_id", "d.id", limit+1)
	return list(ctx, t, "list devices", query, q.args, limit, scanDevice,
		func(d fleet.Device) string { return d.ID })
}

// CreateDevice stores a new device at version 1.
func (t *tx) CreateDevice(ctx context.Context, d fleet.Device) error {
	_, err := t.exec(ctx, "create device",
		`INSERT INTO devices (id, kind, serial, model, unit_id, status, firmware_version,
			rtsp_url, mmsi, secret_hash, last_seen_at, created_at, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)`,
		[]any{d.ID, d.Kind, d.Serial, d.Model, d.UnitID, d.Status, d.FirmwareVersion,
			d.RTSPURL, d.MMSI, d.SecretHash, msPtr(d.LastSeenAt), ms(d.CreatedAt)},
		ref{"unit_id", "unit", "units", d.UnitID})
	return err
}

// UpdateDevice saves d if it is still at d.Version, the version the caller
// read, and moves it to d.Version+1. It leaves last_seen_at alone: that
// belongs to RecordCheckin, and a copy read before a check-in must not
// move it back.
func (t *tx) UpdateDevice(ctx context.Context, d fleet.Device) error {
	n, err := t.exec(ctx, "update device",
		`UPDATE devices SET kind = $3, serial = $4, model = $5, unit_id = $6, status = $7,
			firmware_version = $8, rtsp_url = $9, mmsi = $10, secret_hash = $11,
			version = version + 1
		WHERE id = $1 AND version = $2`,
		[]any{d.ID, d.Version, d.Kind, d.Serial, d.Model, d.UnitID, d.Status,
			d.FirmwareVersion, d.RTSPURL, d.MMSI, d.SecretHash},
		ref{"unit_id", "unit", "units", d.UnitID})
	if err != nil {
		return err
	}
	return t.versioned(ctx, n, "devices", "device", d.ID)
}

func (t *tx) AddDeviceChange(ctx context.Context, c fleet.DeviceChange) error {
	_, err := t.exec(ctx, "add device change",
		`INSERT INTO device_changes (device_id, at, status, unit_id, reason, changed_by)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		[]any{c.DeviceID, ms(c.At), c.Status, c.UnitID, c.Reason, c.By},
		ref{"device_id", "device", "devices", c.DeviceID},
		ref{"unit_id", "unit", "units", c.UnitID})
	return err
}

// DeviceChanges returns the lifecycle oldest first; changes in the same
// millisecond keep the order they were added in.
func (t *tx) DeviceChanges(ctx context.Context, deviceID string) ([]fleet.DeviceChange, error) {
	cs, err := all(ctx, t, "list device changes",
		`SELECT device_id, at, status, unit_id, reason, changed_by
		FROM device_changes WHERE device_id = $1 ORDER BY at, seq`,
		[]any{deviceID},
		func(s rowScanner) (fleet.DeviceChange, error) {
			var c fleet.DeviceChange
			err := s.Scan(&c.DeviceID, msTime{&c.At}, &c.Status, &c.UnitID, &c.Reason, &c.By)
			return c, err
		})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		if ok, err := t.exists(ctx, "devices", deviceID); err != nil {
			return nil, err
		} else if !ok {
			return nil, fleet.Errorf(fleet.ENOTFOUND, "device not found")
		}
	}
	return cs, nil
}

// RecordCheckin moves last_seen_at forward to t (never back: check-ins
// from a dock offload arrive late and out of order) and notes the civil day
// of t in fleet.Zone once. It does not bump the device's version: check-ins
// arrive every few seconds and must not make an operator's edit conflict.
func (t *tx) RecordCheckin(ctx context.Context, deviceID string, at time.Time) error {
	n, err := t.exec(ctx, "record check-in",
		`UPDATE devices
		SET last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN $2 ELSE last_seen_at END
		WHERE id = $1`,
		[]any{deviceID, ms(at)})
	if err != nil {
		return err
	} else if n == 0 {
		return fleet.Errorf(fleet.ENOTFOUND, "device not found")
	}
	_, err = t.exec(ctx, "record check-in day",
		`INSERT INTO device_checkins (device_id, day) VALUES ($1, $2)
		ON CONFLICT (device_id, day) DO NOTHING`,
		[]any{deviceID, fleet.DateOf(at).String()})
	return err
}
