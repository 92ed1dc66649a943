package fleet

import (
	"encoding/json"
	"time"
)

// Alerts are raised by ingest (package ingest owns the rules and the Alert
// type); the register's database keeps them so that they survive restarts
// and can be listed by unit. The register sees an alert the way it sees an
// audit entry: a few columns it finds, scopes and orders by, and the whole
// record as JSON that it stores and returns untouched. That keeps this
// package free of telemetry concepts and ingest free of SQL: the adapter in
// ingest/alertstore translates ingest.Alert to AlertRecord, and
// fleet/sqlstore stores AlertRecords.

// AlertState is where an alert stands for the command centre.
type AlertState string

const (
	AlertOpen    AlertState = "open"    // neither acknowledged nor cleared
	AlertAcked   AlertState = "acked"   // acknowledged by a commander, condition ongoing
	AlertCleared AlertState = "cleared" // the condition ended (acknowledged or not)
)

// Valid reports whether s is one of the states.
func (s AlertState) Valid() bool {
	return s == AlertOpen || s == AlertAcked || s == AlertCleared
}

// AlertStateOf is the state of an alert acknowledged at acked and cleared
// at cleared (nil: not yet).
func AlertStateOf(acked, cleared *time.Time) AlertState {
	switch {
	case cleared != nil:
		return AlertCleared
	case acked != nil:
		return AlertAcked
	}
	return AlertOpen
}

// AlertRecord is an alert as the register keeps it. Doc is the alert
// itself (JSON, timeline included) and is the truth; the other fields are
// copied from it for finding and ordering. Version increases with every
// change of the alert: a store keeps the record with the highest Version,
// because saves may arrive out of order.
type AlertRecord struct {
	ID        string
	DeviceID  string
	UnitID    string
	Kind      string
	Priority  string
	Rank      int // lists that ask for it put lower ranks first (SOS is 0)
	State     AlertState
	RaisedAt  time.Time
	AckedAt   *time.Time
	AckedBy   string
	ClearedAt *time.Time
	Version   int
	Doc       json.RawMessage
}

// AlertQuery selects alert records. Pages are keyset pages: After is the
// cursor a previous page returned.
type AlertQuery struct {
	Scope    string       // unit path prefix of the alert's unit; "" is everything
	DeviceID string       // "" any
	Kind     string       // "" any
	States   []AlertState // any of these; empty: all
	// Ranked orders by Rank, then newest first (SOS first on the
	// commander's screen); otherwise newest first. Newest is by RaisedAt,
	// then by ID.
	Ranked bool
	Page
}
