package fleet

import "time"

// Assignment is a recorder handed to an officer (领用) from StartAt until
// EndAt (归还); an open assignment has no EndAt.
type Assignment struct {
	ID        string     `json:"id"`
	DeviceID  string     `json:"device_id"`
	OfficerID string     `json:"officer_id"`
	UnitID    string     `json:"unit_id"` // the officer's unit at check-out
	StartAt   time.Time  `json:"start_at"`
	EndAt     *time.Time `json:"end_at,omitempty"`
	StartBy   string     `json:"start_by"`
	EndBy     string     `json:"end_by,omitempty"`
	EndReason string     `json:"end_reason,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// Open reports whether the recorder is still with the officer.
func (a Assignment) Open() bool { return a.EndAt == nil }

// ActiveAt reports whether the assignment held at instant t.
func (a Assignment) ActiveAt(t time.Time) bool {
	return !a.StartAt.After(t) && (a.EndAt == nil || a.EndAt.After(t))
}
