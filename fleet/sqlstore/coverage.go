package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// The coverage engine's source (fleet.CoverageSource): whole-table scans
// for a load, and the audit log as a change feed for refreshes. Scans
// have no ORDER BY on purpose: the engine sorts each entity's history
// itself (by the seq passed along for ties), and an unordered scan is the
// cheapest read of a million rows on both databases.

var _ fleet.CoverageSource = (*DB)(nil)

// feedEntities are the audit entities whose changes move coverage.
var feedEntities = []string{"unit", "officer", "device", "assignment", "coverage_plan"}

// inChunk bounds the ids of one "IN (…)" list: well under both databases'
// limits on parameters, and small because modernc's SQLite looks "$n" up
// by name, at a cost that grows with the square of their number.
const inChunk = 200

// LoadCoverage sends the whole history from one read snapshot.
func (db *DB) LoadCoverage(ctx context.Context, b *fleet.CoverageBatch) (cur fleet.CoverageCursor, err error) {
	err = db.View(ctx, func(ftx fleet.Tx) error {
		t := ftx.(*tx)
		if cur, err = t.feedPosition(ctx); err != nil {
			return err
		}
		if err := t.coverageUnits(ctx, b); err != nil {
			return err
		}
		if err := t.coveragePlans(ctx, nil, b); err != nil {
			return err
		}
		if err := t.coverageOfficers(ctx, nil, b); err != nil {
			return err
		}
		if err := t.coverageRecorders(ctx, nil, b); err != nil {
			return err
		}
		return t.each(ctx, "load check-ins", "SELECT device_id, day FROM device_checkins", nil,
			func(s rowScanner) error {
				var id string
				var d fleet.Date
				if err := s.Scan(&id, dayCol{&d}); err != nil {
					return err
				}
				b.Checkin(id, d)
				return nil
			})
	})
	return cur, err
}

// CoverageChanges sends the current history of everything the audit log
// names after since, and the check-in days recorded after since.
func (db *DB) CoverageChanges(ctx context.Context, since fleet.CoverageCursor, maxEntries int, b *fleet.CoverageBatch) (cur fleet.CoverageCursor, err error) {
	err = db.View(ctx, func(ftx fleet.Tx) error {
		t := ftx.(*tx)
		if cur, err = t.feedPosition(ctx); err != nil {
			return err
		}
		if cur.Audit > since.Audit {
			if err := t.coverageTouched(ctx, since.Audit, cur.Audit, maxEntries, b); err != nil {
				return err
			}
		}
		if cur.Checkin <= since.Checkin {
			return nil
		}
		return t.each(ctx, "read new check-ins",
			"SELECT device_id, day FROM device_checkins WHERE seq > $1 AND seq <= $2",
			[]any{since.Checkin, cur.Checkin},
			func(s rowScanner) error {
				var id string
				var d fleet.Date
				if err := s.Scan(&id, dayCol{&d}); err != nil {
					return err
				}
				b.Checkin(id, d)
				return nil
			})
	})
	return cur, err
}

// feedPosition is the end of both feeds in the transaction's snapshot.
func (t *tx) feedPosition(ctx context.Context) (fleet.CoverageCursor, error) {
	var c fleet.CoverageCursor
	err := t.tx.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(seq), 0) FROM audit_log),
		(SELECT COALESCE(MAX(seq), 0) FROM device_checkins)`).Scan(&c.Audit, &c.Checkin)
	if err != nil {
		return c, t.fail(ctx, err, "read the change feed position")
	}
	return c, nil
}

// coverageTouched sends the history of every entity named by the audit
// entries in (from, to].
func (t *tx) coverageTouched(ctx context.Context, from, to int64, maxEntries int, b *fleet.CoverageBatch) error {
	args := []any{from, to}
	marks := make([]string, len(feedEntities))
	for i, e := range feedEntities {
		args = append(args, e)
		marks[i] = "$" + strconv.Itoa(i+3)
	}
	args = append(args, maxEntries+1)
	var (
		units                                     bool
		officers, devices, assignments, provinces = set{}, set{}, set{}, set{}
		n                                         int
	)
	err := t.each(ctx, "read the audit feed",
		`SELECT entity, entity_id FROM audit_log WHERE seq > $1 AND seq <= $2
		AND entity IN (`+strings.Join(marks, ", ")+`) ORDER BY seq LIMIT $`+strconv.Itoa(len(args)),
		args, func(s rowScanner) error {
			var entity, id string
			if err := s.Scan(&entity, &id); err != nil {
				return err
			}
			n++
			switch entity {
			case "unit":
				units = true
			case "officer":
				officers.add(id)
			case "device":
				devices.add(id)
			case "assignment":
				assignments.add(id)
			case "coverage_plan":
				provinces.add(id)
			}
			return nil
		})
	if err != nil {
		return err
	}
	if n > maxEntries {
		return fleet.ErrCoverageResync
	}
	// An assignment moves its recorder's history; the register also logs
	// the device, but the feed must not depend on that.
	err = t.eachIn(ctx, "look up changed assignments", "SELECT device_id FROM assignments WHERE id IN (%s)",
		assignments.list(), func(s rowScanner) error {
			var id string
			if err := s.Scan(&id); err != nil {
				return err
			}
			devices.add(id)
			return nil
		})
	if err != nil {
		return err
	}
	if units {
		if err := t.coverageUnits(ctx, b); err != nil {
			return err
		}
	}
	if len(provinces) > 0 {
		// A province whose plan row is gone (never, today) falls back to
		// the defaults: announce an empty plan before the stored one.
		for _, id := range provinces.list() {
			b.Plan(fleet.MilestonePlan{ProvinceID: id})
		}
		if err := t.coveragePlans(ctx, provinces.list(), b); err != nil {
			return err
		}
	}
	if len(officers) > 0 {
		if err := t.coverageOfficers(ctx, officers.list(), b); err != nil {
			return err
		}
	}
	if len(devices) > 0 {
		return t.coverageRecorders(ctx, devices.list(), b)
	}
	return nil
}

func (t *tx) coverageUnits(ctx context.Context, b *fleet.CoverageBatch) error {
	var us []fleet.Unit
	err := t.each(ctx, "load units", "SELECT "+unitCols+" FROM units u", nil, func(s rowScanner) error {
		u, err := scanUnit(s)
		us = append(us, u)
		return err
	})
	if err != nil {
		return err
	}
	b.Units(us)
	return nil
}

// coverageOfficers sends officers and their versions: all of them, or
// those in ids.
func (t *tx) coverageOfficers(ctx context.Context, ids []string, b *fleet.CoverageBatch) error {
	err := t.eachOf(ctx, "load officers", "SELECT id, name, badge_no FROM officers", "id", ids,
		func(s rowScanner) error {
			var id, name, badge string
			if err := s.Scan(&id, &name, &badge); err != nil {
				return err
			}
			b.Officer(id, name, badge)
			return nil
		})
	if err != nil {
		return err
	}
	return t.eachOf(ctx, "load officer versions",
		`SELECT seq, officer_id, effective_on, recorded_at, recorded_by, unit_id, frontline, duty_status,
			cert_number, cert_issued_on, cert_expires_on, cert_review_until, cert_status
		FROM officer_versions`, "officer_id", ids,
		func(s rowScanner) error {
			var (
				seq int64
				v   fleet.OfficerVersion
			)
			c := &v.Certificate
			if err := s.Scan(&seq, &v.OfficerID, dateCol{&v.EffectiveOn}, msTime{&v.RecordedAt}, &v.RecordedBy,
				&v.UnitID, &v.Frontline, &v.DutyStatus,
				&c.Number, dateCol{&c.IssuedOn}, dateCol{&c.ExpiresOn}, dateCol{&c.AnnualReviewUntil}, &c.Status); err != nil {
				return err
			}
			b.OfficerVersion(v, seq)
			return nil
		})
}

// coverageRecorders sends recorders with their lifecycle changes and
// assignments: all of them, or those in ids. Rows of other kinds of
// device are left to the batch to ignore, which is cheaper than a join.
func (t *tx) coverageRecorders(ctx context.Context, ids []string, b *fleet.CoverageBatch) error {
	err := t.eachOf(ctx, "load recorders", "SELECT id, serial, model FROM devices WHERE kind = 'recorder'", "id", ids,
		func(s rowScanner) error {
			var id, serial, model string
			if err := s.Scan(&id, &serial, &model); err != nil {
				return err
			}
			b.Recorder(id, serial, model)
			return nil
		})
	if err != nil {
		return err
	}
	err = t.eachOf(ctx, "load device changes", "SELECT seq, device_id, at, status, unit_id FROM device_changes",
		"device_id", ids, func(s rowScanner) error {
			var (
				seq int64
				c   fleet.DeviceChange
			)
			if err := s.Scan(&seq, &c.DeviceID, msTime{&c.At}, &c.Status, &c.UnitID); err != nil {
				return err
			}
			b.DeviceChange(c, seq)
			return nil
		})
	if err != nil {
		return err
	}
	return t.eachOf(ctx, "load assignments", "SELECT device_id, officer_id, start_at, end_at FROM assignments",
		"device_id", ids, func(s rowScanner) error {
			var a fleet.Assignment
			if err := s.Scan(&a.DeviceID, &a.OfficerID, msTime{&a.StartAt}, msTimePtr{&a.EndAt}); err != nil {
				return err
			}
			b.Assignment(a)
			return nil
		})
}

// coveragePlans sends the stored plans: all, or those of ids.
func (t *tx) coveragePlans(ctx context.Context, ids []string, b *fleet.CoverageBatch) error {
	plans := map[string]*fleet.MilestonePlan{}
	var order []string
	err := t.eachOf(ctx, "load milestone plans",
		"SELECT province_id, plan_start, start_rate, updated_at, updated_by FROM coverage_plans", "province_id", ids,
		func(s rowScanner) error {
			var (
				p    fleet.MilestonePlan
				rate sql.NullFloat64
			)
			if err := s.Scan(&p.ProvinceID, dateCol{&p.PlanStart}, &rate, msTime{&p.UpdatedAt}, &p.UpdatedBy); err != nil {
				return err
			}
			if rate.Valid {
				p.StartRate = &rate.Float64
			}
			p.Targets = []fleet.YearTarget{}
			plans[p.ProvinceID] = &p
			order = append(order, p.ProvinceID)
			return nil
		})
	if err != nil {
		return err
	}
	err = t.eachOf(ctx, "load milestone targets", "SELECT province_id, year, rate FROM coverage_targets",
		"province_id", ids, func(s rowScanner) error {
			var (
				id string
				y  fleet.YearTarget
			)
			if err := s.Scan(&id, &y.Year, &y.Rate); err != nil {
				return err
			}
			if p, ok := plans[id]; ok {
				p.Targets = append(p.Targets, y)
			}
			return nil
		})
	if err != nil {
		return err
	}
	for _, id := range order {
		b.Plan(*plans[id])
	}
	return nil
}

// SaveMilestonePlan stores a province's plan, replacing its targets, and
// appends e in the same transaction: the audit entry is what tells every
// engine, in this process or another, to reload the plan.
func (db *DB) SaveMilestonePlan(ctx context.Context, p fleet.MilestonePlan, e *fleet.AuditEntry) error {
	return db.Update(ctx, func(ftx fleet.Tx) error {
		t := ftx.(*tx)
		var rate any
		if p.StartRate != nil {
			rate = *p.StartRate
		}
		if _, err := t.exec(ctx, "save milestone plan",
			`INSERT INTO coverage_plans (province_id, plan_start, start_rate, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (province_id) DO UPDATE SET plan_start = excluded.plan_start,
				start_rate = excluded.start_rate, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			[]any{p.ProvinceID, date(p.PlanStart), rate, ms(p.UpdatedAt), p.UpdatedBy},
			ref{"province", "unit", "units", p.ProvinceID}); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "clear milestone targets",
			"DELETE FROM coverage_targets WHERE province_id = $1", []any{p.ProvinceID}); err != nil {
			return err
		}
		for _, y := range p.Targets {
			if _, err := t.exec(ctx, "save milestone target",
				"INSERT INTO coverage_targets (province_id, year, rate) VALUES ($1, $2, $3)",
				[]any{p.ProvinceID, y.Year, y.Rate}); err != nil {
				return err
			}
		}
		return t.AppendAudit(ctx, e)
	})
}

// each runs a query and hands every row to fn without collecting them.
func (t *tx) each(ctx context.Context, op, query string, args []any, fn func(rowScanner) error) error {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return t.fail(ctx, err, op)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
	}
	if err := rows.Err(); err != nil {
		return t.fail(ctx, err, op)
	}
	return nil
}

// eachOf runs base over every row (ids nil) or over the rows whose col is
// in ids, in chunks. base may already have a WHERE clause.
func (t *tx) eachOf(ctx context.Context, op, base, col string, ids []string, fn func(rowScanner) error) error {
	if ids == nil {
		return t.each(ctx, op, base, nil, fn)
	}
	join := " WHERE "
	if strings.Contains(base, " WHERE ") {
		join = " AND "
	}
	return t.eachIn(ctx, op, base+join+col+" IN (%s)", ids, fn)
}

// eachIn runs query, whose one %s is replaced by placeholders, for ids in
// chunks of inChunk.
func (t *tx) eachIn(ctx context.Context, op, query string, ids []string, fn func(rowScanner) error) error {
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		marks := make([]string, n)
		args := make([]any, n)
		for i := range n {
			marks[i], args[i] = "$"+strconv.Itoa(i+1), ids[i]
		}
		if err := t.each(ctx, op, fmt.Sprintf(query, strings.Join(marks, ", ")), args, fn); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// dayCol scans a YYYY-MM-DD day like dateCol, without time.Parse: the
// load reads a million of them.
type dayCol struct{ d *fleet.Date }

func (c dayCol) Scan(v any) error {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		n := func(s string) int {
			v := 0
			for _, c := range []byte(s) {
				if c < '0' || c > '9' {
					return -1
				}
				v = v*10 + int(c-'0')
			}
			return v
		}
		if y, m, d := n(s[:4]), n(s[5:7]), n(s[8:]); y >= 0 && m >= 1 && m <= 12 && d >= 1 && d <= 31 {
			*c.d = fleet.NewDate(y, time.Month(m), d)
			return nil
		}
	}
	return dateCol(c).Scan(v)
}

// set is a set of ids.
type set map[string]struct{}

func (s set) add(id string) { s[id] = struct{}{} }

func (s set) list() []string {
	out := make([]string, 0, len(s))
	for id := range s {
		out = append(out, id)
	}
	return out
}
