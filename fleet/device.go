package fleet

import "time"

// DeviceKind is what a device is.
type DeviceKind string

const (
	KindRecorder        DeviceKind = "recorder"         // 执法记录仪
	KindVehicleTerminal DeviceKind = "vehicle_terminal" // 车载终端
	KindAISUnit         DeviceKind = "ais_unit"         // 船载AIS
)

func (k DeviceKind) Valid() bool {
	switch k {
	case KindRecorder, KindVehicleTerminal, KindAISUnit:
		return true
	}
	return false
}

// DeviceStatus is a device's lifecycle state.
type DeviceStatus string

const (
	StatusInStock  DeviceStatus = "in_stock"
	StatusAssigned DeviceStatus = "assigned"
	StatusInRepair DeviceStatus = "in_repair"
	StatusLost     DeviceStatus = "lost"
	StatusRetired  DeviceStatus = "retired"
)

func (s DeviceStatus) Valid() bool {
	switch s {
	case StatusInStock, StatusAssigned, StatusInRepair, StatusLost, StatusRetired:
		return true
	}
	return false
}

// InService reports whether a device in status s can be used: a recorder
// in repair, lost or retired equips nobody.
func (s DeviceStatus) InService() bool { return s == StatusInStock || s == StatusAssigned }

// Device is a recorder, vehicle terminal or AIS unit in the register.
// SecretHash is the hash of the MQTT secret issued at registration; the
// secret itself is shown once and never stored.
type Device struct {
	ID              string       `json:"id"`
	Kind            DeviceKind   `json:"kind"`
	Serial          string       `json:"serial"`
	Model           string       `json:"model"`
	UnitID          string       `json:"unit_id"`
	Status          DeviceStatus `json:"status"`
	FirmwareVersion string       `json:"firmware_version"`
	RTSPURL         string       `json:"rtsp_url,omitempty"`
	MMSI            string       `json:"mmsi,omitempty"`
	SecretHash      string       `json:"-"`
	LastSeenAt      *time.Time   `json:"last_seen_at,omitempty"`
	CreatedAt       time.Time    `json:"created_at"`
	Version         int          `json:"version"`
}

// DeviceChange is one entry of a device's lifecycle history: the status and
// owning unit in force from At on.
type DeviceChange struct {
	DeviceID string       `json:"device_id"`
	At       time.Time    `json:"at"`
	Status   DeviceStatus `json:"status"`
	UnitID   string       `json:"unit_id"`
	Reason   string       `json:"reason,omitempty"`
	By       string       `json:"by"`
}
