package fleet

import (
	"context"
	"strings"
)

// DeviceInput registers a device.
type DeviceInput struct {
	Kind            DeviceKind `json:"kind"`
	Serial          string     `json:"serial"`
	Model           string     `json:"model"`
	UnitID          string     `json:"unit_id"`
	FirmwareVersion string     `json:"firmware_version"`
	RTSPURL         string     `json:"rtsp_url"`
	MMSI            string     `json:"mmsi"`
}

// DevicePatch changes a device; nil fields stay. Status moves the device
// through its lifecycle (in_stock, in_repair, lost, retired); "assigned"
// is reached only by a check-out.
type DevicePatch struct {
	Model           *string       `json:"model"`
	UnitID          *string       `json:"unit_id"`
	FirmwareVersion *string       `json:"firmware_version"`
	RTSPURL         *string       `json:"rtsp_url"`
	MMSI            *string       `json:"mmsi"`
	Status          *DeviceStatus `json:"status"`
	Reason          string        `json:"reason"`
}

// NewDevice is a just-registered device with its MQTT secret, which is
// shown this once and stored only as a hash.
type NewDevice struct {
	Device
	MQTTSecret string `json:"mqtt_secret"`
}

func checkKindFields(kind DeviceKind, rtsp, mmsi string) (string, string, error) {
	rtsp, err := checkRTSPURL("rtsp_url", rtsp)
	if err != nil {
		return "", "", err
	}
	mmsi = strings.TrimSpace(mmsi)
	if mmsi != "" {
		if kind != KindAISUnit {
			return "", "", Invalid("mmsi", "only AIS units have an mmsi")
		}
		if !mmsiPattern.MatchString(mmsi) {
			return "", "", Invalid("mmsi", "mmsi must be 9 digits")
		}
	}
	if rtsp != "" && kind == KindAISUnit {
		return "", "", Invalid("rtsp_url", "AIS units have no video stream")
	}
	return rtsp, mmsi, nil
}

// CreateDevice registers a device in stock at a unit of actor's subtree
// and issues its MQTT secret.
func (r *Register) CreateDevice(ctx context.Context, actor User, in DeviceInput) (nd NewDevice, err error) {
	if !in.Kind.Valid() {
		return nd, Invalid("kind", "kind must be recorder, vehicle_terminal or ais_unit")
	}
	if in.Serial, err = checkPattern("serial", in.Serial, serialPattern, "letters, digits, '.', '_' or '-', at most 64"); err != nil {
		return nd, err
	}
	if in.Model, err = checkText("model", in.Model, 64, false); err != nil {
		return nd, err
	}
	if in.FirmwareVersion, err = checkText("firmware_version", in.FirmwareVersion, 32, false); err != nil {
		return nd, err
	}
	if in.RTSPURL, in.MMSI, err = checkKindFields(in.Kind, in.RTSPURL, in.MMSI); err != nil {
		return nd, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		if _, err := unitIn(ctx, tx, actor, PermManageDevices, in.UnitID, "unit_id"); err != nil {
			return err
		}
		now := r.now().UTC()
		secret := newToken(32)
		d := Device{ID: NewID("dev"), Kind: in.Kind, Serial: in.Serial, Model: in.Model, UnitID: in.UnitID,
			Status: StatusInStock, FirmwareVersion: in.FirmwareVersion, RTSPURL: in.RTSPURL, MMSI: in.MMSI,
			SecretHash: HashToken(secret), CreatedAt: now, Version: 1}
		if err := tx.CreateDevice(ctx, d); err != nil {
			return err
		}
		if err := tx.AddDeviceChange(ctx, DeviceChange{DeviceID: d.ID, At: now, Status: d.Status,
			UnitID: d.UnitID, Reason: "registered", By: actor.ID}); err != nil {
			return err
		}
		nd = NewDevice{Device: d, MQTTSecret: secret}
		return r.audit(ctx, tx, actor, "device.create", "device", d.ID, d.UnitID, nil, d)
	})
	return nd, err
}

// RotateDeviceSecret issues a new MQTT secret; the old one stops working.
func (r *Register) RotateDeviceSecret(ctx context.Context, actor User, id string) (nd NewDevice, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		d, err := r.deviceIn(ctx, tx, actor, PermManageDevices, id)
		if err != nil {
			return err
		}
		secret := newToken(32)
		d.SecretHash = HashToken(secret)
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		d.Version++
		nd = NewDevice{Device: d, MQTTSecret: secret}
		return r.audit(ctx, tx, actor, "device.rotate_secret", "device", d.ID, d.UnitID, nil, nil)
	})
	return nd, err
}

// UpdateDevice changes a device. Taking an assigned recorder out of
// service (repair, lost, retired) or back to stock ends its assignment.
func (r *Register) UpdateDevice(ctx context.Context, actor User, id string, p DevicePatch) (d Device, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		before, err := r.deviceIn(ctx, tx, actor, PermManageDevices, id)
		if err != nil {
			return err
		}
		d = before
		if p.Model != nil {
			if d.Model, err = checkText("model", *p.Model, 64, false); err != nil {
				return err
			}
		}
		if p.FirmwareVersion != nil {
			if d.FirmwareVersion, err = checkText("firmware_version", *p.FirmwareVersion, 32, false); err != nil {
				return err
			}
		}
		rtsp, mmsi := d.RTSPURL, d.MMSI
		if p.RTSPURL != nil {
			rtsp = *p.RTSPURL
		}
		if p.MMSI != nil {
			mmsi = *p.MMSI
		}
		if d.RTSPURL, d.MMSI, err = checkKindFields(d.Kind, rtsp, mmsi); err != nil {
			return err
		}
		if p.UnitID != nil && *p.UnitID != d.UnitID {
			if _, err := unitIn(ctx, tx, actor, PermManageDevices, *p.UnitID, "unit_id"); err != nil {
				return err
			}
			d.UnitID = *p.UnitID
		}
		reason, err := checkText("reason", p.Reason, 200, false)
		if err != nil {
			return err
		}
		if p.Status != nil && *p.Status != before.Status {
			if err := r.changeStatus(ctx, tx, actor, &d, before.Status, *p.Status, reason); err != nil {
				return err
			}
		}
		if d.UnitID != before.UnitID && d.Status == before.Status {
			if err := tx.AddDeviceChange(ctx, DeviceChange{DeviceID: d.ID, At: r.now().UTC(), Status: d.Status,
				UnitID: d.UnitID, Reason: "moved", By: actor.ID}); err != nil {
				return err
			}
		}
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		d.Version++
		return r.audit(ctx, tx, actor, "device.update", "device", d.ID, d.UnitID, before, d)
	})
	return d, err
}

func (r *Register) changeStatus(ctx context.Context, tx Tx, actor User, d *Device, from, to DeviceStatus, reason string) error {
	switch {
	case !to.Valid():
		return Invalid("status", "status must be in_stock, in_repair, lost or retired")
	case to == StatusAssigned:
		return Invalid("status", "a device is assigned by checking it out to an officer")
	case from == StatusRetired:
		return Errorf(ECONFLICT, "device %s is retired; a retired device does not return to service", d.Serial)
	}
	if from == StatusAssigned {
		if err := r.endAssignment(ctx, tx, actor, d.ID, string(to), reason); err != nil {
			return err
		}
	}
	d.Status = to
	if reason == "" {
		reason = string(to)
	}
	return tx.AddDeviceChange(ctx, DeviceChange{DeviceID: d.ID, At: r.now().UTC(), Status: to,
		UnitID: d.UnitID, Reason: reason, By: actor.ID})
}

func (r *Register) deviceIn(ctx context.Context, tx Tx, actor User, perm Permission, id string) (Device, error) {
	d, err := tx.Device(ctx, id)
	if err != nil {
		return Device{}, err
	}
	path := pathOf(ctx, tx, d.UnitID)
	if err := inScope(actor, path, "device"); err != nil {
		return Device{}, err
	}
	return d, authorize(actor, perm, path)
}

// Device returns one device in actor's subtree.
func (r *Register) Device(ctx context.Context, actor User, id string) (d Device, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		d, err = r.deviceIn(ctx, tx, actor, PermReadRegister, id)
		return err
	})
	return d, err
}

// DeviceBySerial finds a device by its serial, as a barcode scan gives it.
func (r *Register) DeviceBySerial(ctx context.Context, actor User, serial string) (d Device, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if d, err = tx.DeviceBySerial(ctx, strings.TrimSpace(serial)); err != nil {
			return err
		}
		return inScope(actor, pathOf(ctx, tx, d.UnitID), "device")
	})
	return d, err
}

// DeviceHistory returns a device's lifecycle changes, oldest first.
func (r *Register) DeviceHistory(ctx context.Context, actor User, id string) (cs []DeviceChange, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if _, err := r.deviceIn(ctx, tx, actor, PermReadRegister, id); err != nil {
			return err
		}
		cs, err = tx.DeviceChanges(ctx, id)
		return err
	})
	return cs, err
}

// Devices lists devices in actor's subtree; f.UnitID narrows the list to
// that unit's subtree.
func (r *Register) Devices(ctx context.Context, actor User, f DeviceFilter) (items []Device, next string, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if f.Scope, err = narrowScope(ctx, tx, actor, f.UnitID); err != nil {
			return err
		}
		f.UnitID = ""
		items, next, err = tx.Devices(ctx, f)
		return err
	})
	return items, next, err
}
