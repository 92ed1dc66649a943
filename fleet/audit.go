package fleet

import (
	"encoding/json"
	"time"
)

// AuditEntry records one change: who did what to which record, when, and
// the record before and after. The log is append-only: stores refuse to
// update or delete entries.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	ActorID  string          `json:"actor_id"`
	Actor    string          `json:"actor"` // username at the time
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	UnitID   string          `json:"unit_id,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}
