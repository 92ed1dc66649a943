package fleet

import (
	"context"
	"strings"
)

// UnitInput creates a unit. ParentID is empty only for a province.
type UnitInput struct {
	ParentID string    `json:"parent_id"`
	Code     string    `json:"code"`
	Name     string    `json:"name"`
	Level    UnitLevel `json:"level"`
}

// UnitPatch changes a unit; nil fields stay.
type UnitPatch struct {
	ParentID *string `json:"parent_id"`
	Code     *string `json:"code"`
	Name     *string `json:"name"`
}

func (in *UnitInput) validate() error {
	var err error
	if in.Code, err = checkPattern("code", in.Code, codePattern, "letters, digits, '-' or '_', at most 32"); err != nil {
		return err
	}
	if in.Name, err = checkText("name", in.Name, 64, true); err != nil {
		return err
	}
	if !in.Level.Valid() {
		return Invalid("level", "level must be province, city, county or station")
	}
	if in.Level == LevelProvince && in.ParentID != "" {
		return Invalid("parent_id", "a province has no parent")
	}
	if in.Level != LevelProvince && in.ParentID == "" {
		return Invalid("parent_id", "parent_id is required below province level")
	}
	return nil
}

// CreateUnit adds a unit under its parent; only a register-wide
// administrator creates provinces.
func (r *Register) CreateUnit(ctx context.Context, actor User, in UnitInput) (u Unit, err error) {
	if err := in.validate(); err != nil {
		return Unit{}, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		id := NewID("unit")
		u = Unit{ID: id, ParentID: in.ParentID, Code: in.Code, Name: in.Name, Level: in.Level, Version: 1}
		if in.ParentID == "" {
			if err := authorize(actor, PermManageUnits, ""); err != nil || actor.Scope() != "" {
				return Errorf(EFORBIDDEN, "only a register-wide administrator creates provinces")
			}
			u.Path = "/" + id + "/"
		} else {
			parent, err := unitIn(ctx, tx, actor, PermManageUnits, in.ParentID, "parent_id")
			if err != nil {
				return err
			}
			if in.Level.Depth() <= parent.Level.Depth() {
				return Invalid("level", "a %s cannot sit under a %s", in.Level, parent.Level)
			}
			u.Path = parent.ChildPath(id)
		}
		if err := tx.CreateUnit(ctx, u); err != nil {
			return err
		}
		return r.audit(ctx, tx, actor, "unit.create", "unit", u.ID, u.ID, nil, u)
	})
	return u, err
}

// UpdateUnit renames, recodes or moves a unit within actor's subtree.
func (r *Register) UpdateUnit(ctx context.Context, actor User, id string, p UnitPatch) (u Unit, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		before, err := tx.Unit(ctx, id)
		if err != nil {
			return err
		}
		if err := inScope(actor, before.Path, "unit"); err != nil {
			return err
		}
		if err := authorize(actor, PermManageUnits, before.Path); err != nil {
			return err
		}
		u = before
		if p.Name != nil {
			if u.Name, err = checkText("name", *p.Name, 64, true); err != nil {
				return err
			}
		}
		if p.Code != nil {
			if u.Code, err = checkPattern("code", *p.Code, codePattern, "letters, digits, '-' or '_', at most 32"); err != nil {
				return err
			}
		}
		if p.ParentID != nil && *p.ParentID != before.ParentID {
			if before.Level == LevelProvince || *p.ParentID == "" {
				return Invalid("parent_id", "a province cannot move and other units need a parent")
			}
			if before.Path == actor.Scope() {
				return Errorf(EFORBIDDEN, "you cannot move your own unit")
			}
			parent, err := unitIn(ctx, tx, actor, PermManageUnits, *p.ParentID, "parent_id")
			if err != nil {
				return err
			}
			if strings.HasPrefix(parent.Path, before.Path) {
				return Invalid("parent_id", "a unit cannot move under itself")
			}
			if before.Level.Depth() <= parent.Level.Depth() {
				return Invalid("parent_id", "a %s cannot sit under a %s", before.Level, parent.Level)
			}
			u.ParentID, u.Path = parent.ID, parent.ChildPath(u.ID)
		}
		if err := tx.UpdateUnit(ctx, u, before.Path); err != nil {
			return err
		}
		u.Version++
		return r.audit(ctx, tx, actor, "unit.update", "unit", u.ID, u.ID, before, u)
	})
	return u, err
}

// Unit returns one unit in actor's subtree.
func (r *Register) Unit(ctx context.Context, actor User, id string) (u Unit, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if u, err = tx.Unit(ctx, id); err != nil {
			return err
		}
		return inScope(actor, u.Path, "unit")
	})
	return u, err
}

// Units lists units in actor's subtree.
func (r *Register) Units(ctx context.Context, actor User, f UnitFilter) (items []Unit, next string, err error) {
	f.Scope = actor.Scope()
	err = r.store.View(ctx, func(tx Tx) error {
		items, next, err = tx.Units(ctx, f)
		return err
	})
	return items, next, err
}
