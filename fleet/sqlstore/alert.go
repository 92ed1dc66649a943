package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lawfleet/fleet/fleet"
)

// Alerts live in the register's database but outside its transactions:
// ingest saves them from its workers, one statement each, and they are not
// part of any register change. See fleet.AlertRecord for the split between
// columns and the JSON document, and migrations/*/00004_alerts.sql.

// upsertAlert inserts a record or replaces the stored one unless that has
// a higher version: saves of one alert may arrive out of order, and the
// newest state must win. An equal version is rewritten (a retried save).
const upsertAlert = `INSERT INTO alerts (id, device_id, unit_id, kind, priority, sort_rank, state,
		raised_at, acked_at, acked_by, cleared_at, version, alert_json)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (id) DO UPDATE SET
		device_id = excluded.device_id, unit_id = excluded.unit_id, kind = excluded.kind,
		priority = excluded.priority, sort_rank = excluded.sort_rank, state = excluded.state,
		raised_at = excluded.raised_at, acked_at = excluded.acked_at, acked_by = excluded.acked_by,
		cleared_at = excluded.cleared_at, version = excluded.version, alert_json = excluded.alert_json
	WHERE alerts.version <= excluded.version`

const alertColumns = `a.id, a.device_id, a.unit_id, a.kind, a.priority, a.sort_rank, a.state,
	a.raised_at, a.acked_at, a.acked_by, a.cleared_at, a.version, a.alert_json`

// SaveAlertRecord stores r unless a higher version of it is stored.
func (db *DB) SaveAlertRecord(ctx context.Context, r fleet.AlertRecord) error {
	switch {
	case r.ID == "":
		return errors.New("sqlstore: save alert: empty id")
	case !r.State.Valid():
		return fmt.Errorf("sqlstore: save alert %s: bad state %q", r.ID, r.State)
	case len(r.Doc) == 0:
		return fmt.Errorf("sqlstore: save alert %s: empty document", r.ID)
	}
	_, err := db.write.ExecContext(ctx, upsertAlert,
		r.ID, r.DeviceID, r.UnitID, r.Kind, r.Priority, r.Rank, string(r.State),
		ms(r.RaisedAt), msPtr(r.AckedAt), nullIfEmpty(r.AckedBy), msPtr(r.ClearedAt), r.Version, string(r.Doc))
	if err != nil {
		return db.classify(fmt.Errorf("sqlstore: save alert %s: %w", r.ID, err))
	}
	return nil
}

// AlertRecord returns the record of alert id, or ENOTFOUND.
func (db *DB) AlertRecord(ctx context.Context, id string) (r fleet.AlertRecord, err error) {
	err = db.alertView(ctx, func(t *tx) error {
		row := t.tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts a WHERE a.id = $1`, id)
		r, err = scanAlert(row)
		if err != nil {
			return t.notFound(ctx, err, "alert", "get alert")
		}
		return nil
	})
	return r, err
}

// AlertRecords lists the records q selects, a page at a time (at most 500,
// 50 by default), with the cursor of the next page ("" at the end). The
// scope applies to the path of the alert's unit now, so an alert follows
// its unit when the unit moves in the tree.
func (db *DB) AlertRecords(ctx context.Context, q fleet.AlertQuery) (items []fleet.AlertRecord, next string, err error) {
	var f filter
	if err := f.scope("u.path", q.Scope); err != nil {
		return nil, "", err
	}
	if q.DeviceID != "" {
		f.where("a.device_id = " + f.arg(q.DeviceID))
	}
	if q.Kind != "" {
		f.where("a.kind = " + f.arg(q.Kind))
	}
	if len(q.States) > 0 {
		ps := make([]string, len(q.States))
		for i, s := range q.States {
			ps[i] = f.arg(string(s))
		}
		f.where("a.state IN (" + strings.Join(ps, ", ") + ")")
	}
	if q.After != "" {
		c, ok := parseAlertCursor(q.After)
		if !ok {
			return nil, "", fleet.Invalid("after", "not a cursor of the alert list")
		}
		newer := "(a.raised_at < " + f.arg(c.raised) + " OR (a.raised_at = " + f.arg(c.raised) +
			" AND a.id < " + f.arg(c.id) + "))"
		if q.Ranked {
			newer = "(a.sort_rank > " + f.arg(c.rank) + " OR (a.sort_rank = " + f.arg(c.rank) + " AND " + newer + "))"
		}
		f.where(newer)
	}
	order := "a.raised_at DESC, a.id DESC"
	if q.Ranked {
		order = "a.sort_rank, " + order
	}
	limit := pageLimit(q.Page)
	// The join is needed only to scope; without a scope it is left out so
	// that alerts of units the register does not know are listed too.
	from := `SELECT ` + alertColumns + ` FROM alerts a`
	if q.Scope != "" {
		from += ` JOIN units u ON u.id = a.unit_id`
	}
	query := f.sql(from, order, limit+1)
	err = db.alertView(ctx, func(t *tx) error {
		items, next, err = list(ctx, t, "list alerts", query, f.args, limit, scanAlert, alertCursor)
		return err
	})
	return items, next, err
}

// alertView runs fn in a read-only transaction of the register.
func (db *DB) alertView(ctx context.Context, fn func(*tx) error) error {
	return db.View(ctx, func(t fleet.Tx) error { return fn(t.(*tx)) })
}

func scanAlert(s rowScanner) (fleet.AlertRecord, error) {
	var (
		r     fleet.AlertRecord
		state string
		doc   string
	)
	err := s.Scan(&r.ID, &r.DeviceID, &r.UnitID, &r.Kind, &r.Priority, &r.Rank, &state,
		msTime{&r.RaisedAt}, msTimePtr{&r.AckedAt}, nullString{&r.AckedBy}, msTimePtr{&r.ClearedAt},
		&r.Version, &doc)
	r.State, r.Doc = fleet.AlertState(state), []byte(doc)
	return r, err
}

// An alert cursor is "rank:raised_ms:id" of the last item of a page; the
// id comes last since it is the only part that could hold a colon.
type alertKey struct {
	rank   int
	raised int64
	id     string
}

func alertCursor(r fleet.AlertRecord) string {
	return strconv.Itoa(r.Rank) + ":" + strconv.FormatInt(ms(r.RaisedAt), 10) + ":" + r.ID
}

func parseAlertCursor(s string) (alertKey, bool) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return alertKey{}, false
	}
	rank, err1 := strconv.Atoi(parts[0])
	raised, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return alertKey{}, false
	}
	return alertKey{rank: rank, raised: raised, id: parts[2]}, true
}
