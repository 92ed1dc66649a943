package fleet

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Register is the fleet register: every read and change of units,
// officers, devices, assignments and users goes through it, so that scope,
// permissions, the assignment rules and the audit log apply everywhere,
// whichever transport asked.
type Register struct {
	store Store
	now   func() time.Time
}

// NewRegister returns a register over store. now is the clock (nil for
// time.Now); tests pass a fixed one.
func NewRegister(store Store, now func() time.Time) *Register {
	if now == nil {
		now = time.Now
	}
	return &Register{store: store, now: now}
}

// SessionTTL is how long a sign-in lasts: one long shift.
const SessionTTL = 12 * time.Hour

// Bootstrap creates the first administrator on an empty register. With an
// empty password it generates one and returns it, to be shown once.
func (r *Register) Bootstrap(ctx context.Context, password string) (generated string, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		if password == "" {
			password = newToken(12)
			generated = password
		}
		hash, err := HashPassword(password)
		if err != nil {
			return err
		}
		u := User{ID: NewID("usr"), Username: "admin", Name: "系统管理员", Role: RoleAdmin,
			PasswordHash: hash, CreatedAt: r.now().UTC(), Version: 1}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return r.audit(ctx, tx, User{ID: "system", Username: "system"}, "user.create", "user", u.ID, "", nil, u)
	})
	return generated, err
}

// Login checks a username and password and opens a session.
func (r *Register) Login(ctx context.Context, username, password string) (token string, u User, err error) {
	err = r.store.Update(ctx, func(tx Tx) error {
		u, err = tx.UserByUsername(ctx, strings.TrimSpace(username))
		if ErrorCode(err) == ENOTFOUND {
			// Spend the same time as a real check so that timing does not
			// tell which usernames exist.
			CheckPassword(dummyHash, password)
			return Errorf(EUNAUTHORIZED, "wrong username or password")
		} else if err != nil {
			return err
		}
		if !CheckPassword(u.PasswordHash, password) || u.Disabled {
			return Errorf(EUNAUTHORIZED, "wrong username or password")
		}
		token = newToken(32)
		now := r.now().UTC()
		return tx.CreateSession(ctx, Session{TokenHash: HashToken(token), UserID: u.ID,
			CreatedAt: now, ExpiresAt: now.Add(SessionTTL)})
	})
	return token, u, err
}

// dummyHash is a valid hash of nothing anyone types.
const dummyHash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// Authenticate returns the user of a session token.
func (r *Register) Authenticate(ctx context.Context, token string) (u User, err error) {
	if token == "" {
		return User{}, Errorf(EUNAUTHORIZED, "sign in first")
	}
	err = r.store.View(ctx, func(tx Tx) error {
		s, err := tx.Session(ctx, HashToken(token))
		if ErrorCode(err) == ENOTFOUND || (err == nil && !r.now().Before(s.ExpiresAt)) {
			return Errorf(EUNAUTHORIZED, "session expired or unknown; sign in again")
		} else if err != nil {
			return err
		}
		u, err = tx.User(ctx, s.UserID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return Errorf(EUNAUTHORIZED, "account disabled")
		}
		return nil
	})
	return u, err
}

// Logout ends a session.
func (r *Register) Logout(ctx context.Context, token string) error {
	return r.store.Update(ctx, func(tx Tx) error {
		return tx.DeleteSession(ctx, HashToken(token))
	})
}

// AuthenticateDevice checks a device's MQTT (or RTSP) credentials. A
// retired device is refused even with the right secret.
func (r *Register) AuthenticateDevice(ctx context.Context, id, secret string) (d Device, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		d, err = tx.Device(ctx, id)
		if ErrorCode(err) == ENOTFOUND {
			return Errorf(EUNAUTHORIZED, "unknown device or wrong secret")
		} else if err != nil {
			return err
		}
		if d.SecretHash == "" || !tokenMatches(secret, d.SecretHash) || d.Status == StatusRetired {
			return Errorf(EUNAUTHORIZED, "unknown device or wrong secret")
		}
		return nil
	})
	return d, err
}

// RecordCheckin notes that a device was heard from at t.
func (r *Register) RecordCheckin(ctx context.Context, deviceID string, t time.Time) error {
	return r.store.Update(ctx, func(tx Tx) error { return tx.RecordCheckin(ctx, deviceID, t) })
}

// Ping reports whether the store answers.
func (r *Register) Ping(ctx context.Context) error { return r.store.Ping(ctx) }

// authorize checks that actor holds perm over a record at unit path.
func authorize(actor User, perm Permission, path string) error {
	if !actor.Role.Can(perm) {
		return Errorf(EFORBIDDEN, "role %s may not do this", actor.Role)
	}
	if !PathContains(actor.Scope(), path) {
		return Errorf(EFORBIDDEN, "outside your unit")
	}
	return nil
}

// unitIn loads the unit that input field names and checks actor's
// permission over it.
func unitIn(ctx context.Context, tx Tx, actor User, perm Permission, id, field string) (Unit, error) {
	if strings.TrimSpace(id) == "" {
		return Unit{}, Invalid(field, "%s is required", field)
	}
	u, err := tx.Unit(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return Unit{}, Invalid(field, "unit %s does not exist", id)
	} else if err != nil {
		return Unit{}, err
	}
	if err := authorize(actor, perm, u.Path); err != nil {
		return Unit{}, &Error{Code: EFORBIDDEN, Field: field, Message: ErrorMessage(err)}
	}
	return u, nil
}

// narrowScope returns the scope of a list: actor's subtree, or the subtree
// of unitID when given, which must lie within it.
func narrowScope(ctx context.Context, tx Tx, actor User, unitID string) (string, error) {
	if unitID == "" {
		return actor.Scope(), nil
	}
	u, err := tx.Unit(ctx, unitID)
	if ErrorCode(err) == ENOTFOUND || (err == nil && !PathContains(actor.Scope(), u.Path)) {
		return "", Invalid("unit_id", "unit %s does not exist", unitID)
	} else if err != nil {
		return "", err
	}
	return u.Path, nil
}

// inScope hides a record outside actor's subtree as not found.
func inScope(actor User, path, what string) error {
	if !PathContains(actor.Scope(), path) {
		return Errorf(ENOTFOUND, "%s not found", what)
	}
	return nil
}

// audit appends one entry to the audit log in the same transaction as
// the change it records.
func (r *Register) audit(ctx context.Context, tx Tx, actor User, action, entity, id, unitID string, before, after any) error {
	e := &AuditEntry{At: r.now().UTC(), ActorID: actor.ID, Actor: actor.Username, Action: action,
		Entity: entity, EntityID: id, UnitID: unitID, Before: asJSON(before), After: asJSON(after)}
	return tx.AppendAudit(ctx, e)
}

func asJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"error":"unencodable"}`)
	}
	return b
}

// Audit lists audit entries within actor's subtree, newest first.
func (r *Register) Audit(ctx context.Context, actor User, f AuditFilter) (items []AuditEntry, next string, err error) {
	if !actor.Role.Can(PermReadAudit) {
		return nil, "", Errorf(EFORBIDDEN, "role %s may not read the audit log", actor.Role)
	}
	f.Scope = actor.Scope()
	err = r.store.View(ctx, func(tx Tx) error {
		items, next, err = tx.Audit(ctx, f)
		return err
	})
	return items, next, err
}
