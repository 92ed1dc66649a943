package fleet

import (
	"context"
	"time"
)

// Store is the register's storage. Implementations: fleet/sqlstore
// (SQLite and PostgreSQL). Every method of Tx returns an *Error with
// ENOTFOUND for a missing record and ECONFLICT for a unique-key clash.
type Store interface {
	// Update runs fn in one read-write transaction, committed if fn
	// returns nil. Writers are serialised, so a rule checked in fn still
	// holds at commit.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Page bounds a list: at most Limit items after the opaque cursor After.
type Page struct {
	Limit int
	After string
}

// Lists return their items and the cursor of the next page ("" at the end).

type UnitFilter struct {
	Scope    string // unit path prefix; "" is everything
	ParentID *string
	Page
}

type OfficerFilter struct {
	Scope  string
	UnitID string // exactly this unit; the register narrows Scope instead for a subtree
	Query  string // name or badge number contains
	Page
}

type DeviceFilter struct {
	Scope  string
	UnitID string // the register narrows Scope to this unit's subtree
	Kind   DeviceKind
	Status DeviceStatus
	Query  string // serial or model contains
	Page
}

type AssignmentFilter struct {
	Scope     string
	DeviceID  string
	OfficerID string
	OpenOnly  bool
	// Since keeps assignments that began or ended at or after it: the
	// movements of a day at the assignment desk.
	Since       time.Time
	NewestFirst bool
	Page
}

type UserFilter struct {
	Scope string
	Page
}

type AuditFilter struct {
	Scope    string // entries of units under this path; "" everything
	Entity   string
	EntityID string
	ActorID  string
	Page
}

// Tx is a transaction over the register.
type Tx interface {
	Unit(ctx context.Context, id string) (Unit, error)
	UnitByCode(ctx context.Context, code string) (Unit, error)
	Units(ctx context.Context, f UnitFilter) ([]Unit, string, error)
	CreateUnit(ctx context.Context, u Unit) error
	// UpdateUnit saves u; when u.Path changed it rewrites the paths of
	// the whole subtree below it.
	UpdateUnit(ctx context.Context, u Unit, oldPath string) error

	Officer(ctx context.Context, id string) (Officer, error)
	OfficerByBadge(ctx context.Context, badgeNo string) (Officer, error)
	Officers(ctx context.Context, f OfficerFilter) ([]Officer, string, error)
	CreateOfficer(ctx context.Context, o Officer) error
	UpdateOfficer(ctx context.Context, o Officer) error
	AddOfficerVersion(ctx context.Context, v OfficerVersion) error
	// OfficerVersions returns an officer's history oldest first.
	OfficerVersions(ctx context.Context, officerID string) ([]OfficerVersion, error)

	Device(ctx context.Context, id string) (Device, error)
	DeviceBySerial(ctx context.Context, serial string) (Device, error)
	Devices(ctx context.Context, f DeviceFilter) ([]Device, string, error)
	CreateDevice(ctx context.Context, d Device) error
	UpdateDevice(ctx context.Context, d Device) error
	AddDeviceChange(ctx context.Context, c DeviceChange) error
	// DeviceChanges returns a device's lifecycle history oldest first.
	DeviceChanges(ctx context.Context, deviceID string) ([]DeviceChange, error)
	// RecordCheckin notes that a device was heard from (telemetry or a
	// dock offload) at t; it feeds the "active recorder" figure.
	RecordCheckin(ctx context.Context, deviceID string, t time.Time) error

	Assignment(ctx context.Context, id string) (Assignment, error)
	Assignments(ctx context.Context, f AssignmentFilter) ([]Assignment, string, error)
	CreateAssignment(ctx context.Context, a Assignment) error
	// EndAssignment saves EndAt, EndBy and EndReason of a.
	EndAssignment(ctx context.Context, a Assignment) error

	User(ctx context.Context, id string) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	Users(ctx context.Context, f UserFilter) ([]User, string, error)
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, tokenHash string) (Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error

	// AppendAudit assigns e.Seq and stores e.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// Audit lists entries newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, string, error)
}
