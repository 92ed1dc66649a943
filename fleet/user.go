package fleet

import "time"

// Role is what a user does; permissions follow from it.
type Role string

const (
	RoleAdmin            Role = "admin"
	RoleEquipmentManager Role = "equipment_manager" // 装备管理员
	RoleCommander        Role = "commander"         // 指挥中心
	RoleOfficer          Role = "officer"           // 执法人员
	RoleAuditor          Role = "auditor"           // 法制审核
)

func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleEquipmentManager, RoleCommander, RoleOfficer, RoleAuditor:
		return true
	}
	return false
}

// Permission is one thing a role may do inside its unit's subtree.
type Permission string

const (
	PermReadRegister   Permission = "register.read"
	PermManageUnits    Permission = "units.manage"
	PermManageOfficers Permission = "officers.manage"
	PermManageDevices  Permission = "devices.manage"
	PermAssign         Permission = "assignments.manage"
	PermManageUsers    Permission = "users.manage"
	PermReadAudit      Permission = "audit.read"
	PermReadCoverage   Permission = "coverage.read"
	PermWatchLive      Permission = "live.watch"
	PermAckAlerts      Permission = "alerts.ack"
	// PermRecordLive starts and stops recording a live stream into the
	// evidence store; viewing the evidence stays with legal and audit staff.
	PermRecordLive Permission = "live.record"
)

// permissions is the single table of who may do what.
var permissions = map[Role][]Permission{
	RoleAdmin: {PermReadRegister, PermManageUnits, PermManageOfficers, PermManageDevices,
		PermAssign, PermManageUsers, PermReadAudit, PermReadCoverage, PermWatchLive, PermAckAlerts, PermRecordLive},
	RoleEquipmentManager: {PermReadRegister, PermManageUnits, PermManageOfficers, PermManageDevices,
		PermAssign, PermReadCoverage},
	RoleCommander: {PermReadRegister, PermReadCoverage, PermWatchLive, PermAckAlerts, PermRecordLive},
	RoleOfficer:   {PermReadRegister},
	RoleAuditor:   {PermReadRegister, PermReadAudit, PermReadCoverage},
}

// Permissions lists what role r may do.
func (r Role) Permissions() []Permission {
	return append([]Permission{}, permissions[r]...)
}

// Can reports whether role r holds permission p.
func (r Role) Can(p Permission) bool {
	for _, q := range permissions[r] {
		if q == p {
			return true
		}
	}
	return false
}

// User is a person who signs in. A user is bound to a unit and sees and
// changes only that unit's subtree; an admin with no unit sees everything.
// UnitPath is the bound unit's path, filled in by the store.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	UnitID       string    `json:"unit_id,omitempty"`
	UnitPath     string    `json:"-"`
	OfficerID    string    `json:"officer_id,omitempty"`
	PasswordHash string    `json:"-"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	Version      int       `json:"version"`
}

// Scope is the unit path prefix that bounds what u sees.
func (u User) Scope() string { return u.UnitPath }

// Session is a signed-in user's bearer token, stored only as its hash.
type Session struct {
	TokenHash string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}
