package fleet

import (
	"context"
	"errors"
)

// RecordAudit appends one entry to the audit log for something a person
// did to a record the register does not keep, such as a commander's
// acknowledgement of an alert (ingest keeps alerts). Register changes are
// audited by the register itself; this lets the one append-only log answer
// "who did what, and when" for the rest too. The caller has already
// checked the actor's permission and scope; unitID scopes the entry for
// auditors, as it does for register changes.
func (r *Register) RecordAudit(ctx context.Context, actor User, action, entity, id, unitID string, before, after any) error {
	if action == "" || entity == "" || id == "" {
		return errors.New("fleet: audit entry without action, entity or id")
	}
	return r.store.Update(ctx, func(tx Tx) error {
		return r.audit(ctx, tx, actor, action, entity, id, unitID, before, after)
	})
}
