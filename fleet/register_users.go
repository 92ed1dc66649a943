package fleet

import (
	"context"
	"unicode/utf8"
)

// UserInput creates a user.
type UserInput struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	UnitID    string `json:"unit_id"`
	OfficerID string `json:"officer_id"`
}

// UserPatch changes a user; nil fields stay.
type UserPatch struct {
	Password *string `json:"password"`
	Name     *string `json:"name"`
	Role     *Role   `json:"role"`
	UnitID   *string `json:"unit_id"`
	Disabled *bool   `json:"disabled"`
}

func checkPassword(p string) error {
	if n := utf8.RuneCountInString(p); n < 8 || n > 128 {
		return Invalid("password", "password must be 8 to 128 characters")
	}
	return nil
}

// CreateUser adds a user bound to a unit in actor's subtree. Every user
// but a register-wide administrator is bound to a unit.
func (r *Register) CreateUser(ctx context.Context, actor User, in UserInput) (u User, err error) {
	if in.Username, err = checkPattern("username", in.Username, userPattern, "2 to 64 letters, digits, '.', '_' or '-'"); err != nil {
		return u, err
	}
	if err := checkPassword(in.Password); err != nil {
		return u, err
	}
	if in.Name, err = checkText("name", in.Name, 64, false); err != nil {
		return u, err
	}
	if !in.Role.Valid() {
		return u, Invalid("role", "role must be admin, equipment_manager, commander, officer or auditor")
	}
	// The password hash is deliberately slow: refuse the unauthorised
	// before spending it.
	if !actor.Role.Can(PermManageUsers) {
		return u, Errorf(EFORBIDDEN, "role %s may not create users", actor.Role)
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return u, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		u = User{ID: NewID("usr"), Username: in.Username, Name: in.Name, Role: in.Role,
			PasswordHash: hash, CreatedAt: r.now().UTC(), Version: 1}
		if err := r.bindUnit(ctx, tx, actor, &u, in.UnitID); err != nil {
			return err
		}
		if in.OfficerID != "" {
			o, err := tx.Officer(ctx, in.OfficerID)
			if err != nil || !PathContains(actor.Scope(), pathOf(ctx, tx, o.UnitID)) {
				return Invalid("officer_id", "officer %s does not exist", in.OfficerID)
			}
			u.OfficerID = o.ID
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return r.audit(ctx, tx, actor, "user.create", "user", u.ID, u.UnitID, nil, u)
	})
	return u, err
}

// bindUnit binds u to unit id (empty: register-wide, admins only).
func (r *Register) bindUnit(ctx context.Context, tx Tx, actor User, u *User, id string) error {
	if id == "" {
		if u.Role != RoleAdmin {
			return Invalid("unit_id", "unit_id is required for role %s", u.Role)
		}
		if err := authorize(actor, PermManageUsers, ""); err != nil {
			return &Error{Code: EFORBIDDEN, Field: "unit_id", Message: "only a register-wide administrator creates another"}
		}
		u.UnitID, u.UnitPath = "", ""
		return nil
	}
	unit, err := unitIn(ctx, tx, actor, PermManageUsers, id, "unit_id")
	if err != nil {
		return err
	}
	u.UnitID, u.UnitPath = unit.ID, unit.Path
	return nil
}

// UpdateUser changes a user in actor's subtree.
func (r *Register) UpdateUser(ctx context.Context, actor User, id string, p UserPatch) (u User, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		before, err := tx.User(ctx, id)
		if err != nil {
			return err
		}
		if err := inScope(actor, before.UnitPath, "user"); err != nil {
			return err
		}
		if err := authorize(actor, PermManageUsers, before.UnitPath); err != nil {
			return err
		}
		u = before
		if p.Name != nil {
			if u.Name, err = checkText("name", *p.Name, 64, false); err != nil {
				return err
			}
		}
		if p.Role != nil {
			if !p.Role.Valid() {
				return Invalid("role", "role must be admin, equipment_manager, commander, officer or auditor")
			}
			u.Role = *p.Role
		}
		unitID := u.UnitID
		if p.UnitID != nil {
			unitID = *p.UnitID
		}
		if unitID != before.UnitID || u.Role != before.Role {
			if err := r.bindUnit(ctx, tx, actor, &u, unitID); err != nil {
				return err
			}
		}
		if p.Password != nil {
			if err := checkPassword(*p.Password); err != nil {
				return err
			}
			if u.PasswordHash, err = HashPassword(*p.Password); err != nil {
				return err
			}
		}
		if p.Disabled != nil {
			if *p.Disabled && u.ID == actor.ID {
				return Invalid("disabled", "you cannot disable your own account")
			}
			u.Disabled = *p.Disabled
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		u.Version++
		return r.audit(ctx, tx, actor, "user.update", "user", u.ID, u.UnitID, before, u)
	})
	return u, err
}

// ChangePassword lets any user change their own password.
func (r *Register) ChangePassword(ctx context.Context, actor User, old, new string) error {
	if err := checkPassword(new); err != nil {
		return err
	}
	return r.store.Update(ctx, func(tx Tx) error {
		u, err := tx.User(ctx, actor.ID)
		if err != nil {
			return err
		}
		if !CheckPassword(u.PasswordHash, old) {
			return &Error{Code: EINVALID, Field: "old_password", Message: "the current password is wrong"}
		}
		if u.PasswordHash, err = HashPassword(new); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return r.audit(ctx, tx, actor, "user.password", "user", u.ID, u.UnitID, nil, nil)
	})
}

// User returns one user in actor's subtree.
func (r *Register) User(ctx context.Context, actor User, id string) (u User, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		return inScope(actor, u.UnitPath, "user")
	})
	return u, err
}

// Users lists users in actor's subtree.
func (r *Register) Users(ctx context.Context, actor User, f UserFilter) (items []User, next string, err error) {
	if !actor.Role.Can(PermManageUsers) && !actor.Role.Can(PermReadAudit) {
		return nil, "", Errorf(EFORBIDDEN, "role %s may not list users", actor.Role)
	}
	f.Scope = actor.Scope()
	err = r.store.View(ctx, func(tx Tx) error {
		items, next, err = tx.Users(ctx, f)
		return err
	})
	return items, next, err
}
