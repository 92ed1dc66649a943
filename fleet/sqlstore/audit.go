package sqlstore

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/lawfleet/fleet/fleet"
)

// AppendAudit stores e and sets e.Seq to its place in the log. The table
// refuses UPDATE and DELETE (triggers in migrations/), so this is the only
// way entries change.
func (t *tx) AppendAudit(ctx context.Context, e *fleet.AuditEntry) error {
	err := t.tx.QueryRowContext(ctx,
		`INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, unit_id,
			before_json, after_json, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING seq`,
		ms(e.At), e.ActorID, e.Actor, e.Action, e.Entity, e.EntityID, nullIfEmpty(e.UnitID),
		nullIfEmpty(string(e.Before)), nullIfEmpty(string(e.After)), e.Reason).
		Scan(&e.Seq)
	if err != nil {
		return t.fail(ctx, err, "append audit entry")
	}
	return nil
}

// Audit lists entries newest first, keyed on seq; the cursor is a seq in
// decimal. Entries are scoped by the unit they concern; those about no
// unit (sign-ins, root settings) are visible only in the whole-register
// scope, which the inner range condition on u.path gives for free.
func (t *tx) Audit(ctx context.Context, f fleet.AuditFilter) ([]fleet.AuditEntry, string, error) {
	var q filter
	if err := q.scope("u.path", f.Scope); err != nil {
		return nil, "", err
	}
	if f.Entity != "" {
		q.where("a.entity = " + q.arg(f.Entity))
	}
	if f.EntityID != "" {
		q.where("a.entity_id = " + q.arg(f.EntityID))
	}
	if f.ActorID != "" {
		q.where("a.actor_id = " + q.arg(f.ActorID))
	}
	if f.After != "" {
		seq, err := strconv.ParseInt(f.After, 10, 64)
		if err != nil {
			return nil, "", fleet.Invalid("after", "not a cursor of the audit log")
		}
		q.where("a.seq < " + q.arg(seq))
	}
	limit := pageLimit(f.Page)
	query := q.sql(`SELECT a.seq, a.at, a.actor_id, a.actor, a.action, a.entity, a.entity_id,
			a.unit_id, a.before_json, a.after_json, a.reason
		FROM audit_log a LEFT JOIN units u ON u.id = a.unit_id`, "a.seq DESC", limit+1)
	return list(ctx, t, "list audit entries", query, q.args, limit,
		func(s rowScanner) (fleet.AuditEntry, error) {
			var (
				e             fleet.AuditEntry
				before, after string
			)
			err := s.Scan(&e.Seq, msTime{&e.At}, &e.ActorID, &e.Actor, &e.Action, &e.Entity, &e.EntityID,
				nullString{&e.UnitID}, nullString{&before}, nullString{&after}, &e.Reason)
			if before != "" {
				e.Before = json.RawMessage(before)
			}
			if after != "" {
				e.After = json.RawMessage(after)
			}
			return e, err
		},
		func(e fleet.AuditEntry) string { return strconv.FormatInt(e.Seq, 10) })
}
