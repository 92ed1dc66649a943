package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
)

// A province-scale register for the coverage benchmark, written straight
// into the tables with multi-row INSERTs in one transaction: through the
// register it would take hours (a million rows, each with its audit
// entry). The history follows the register's rules: one open assignment
// per recorder, an officer holds one recorder at a time, every status
// change is a device_changes row, annual reviews renewed each January.

// genConfig sizes the province. The defaults are the issue's: 3,000
// units, 60,000 officers, 70,000 recorders, about a million rows of
// assignments and status changes.
type genConfig struct {
	Cities, CountiesPerCity, StationsPerCounty int
	Officers, Recorders                        int
	From, Now                                  time.Time // history starts; "now"
	CheckinDays                                int       // days before Now with check-ins
	CheckinRate                                float64   // chance an assigned recorder is heard from on a day
	Seed                                       uint64
}

func provinceScale(now time.Time) genConfig {
	return genConfig{Cities: 17, CountiesPerCity: 11, StationsPerCounty: 15, Officers: 60_000, Recorders: 70_000,
		From: time.Date(2023, 1, 1, 0, 0, 0, 0, fleet.Zone), Now: now, CheckinDays: 60, CheckinRate: 0.3, Seed: 4}
}

// genStats counts the rows written.
type genStats struct {
	Units, Officers, Versions, Recorders, Changes, Assignments, Checkins int
	ProvinceID                                                           string
}

func (s genStats) String() string {
	return fmt.Sprintf("%d units, %d officers (%d versions), %d recorders, %d status changes + %d assignments = %d history rows, %d check-in days",
		s.Units, s.Officers, s.Versions, s.Recorders, s.Changes, s.Assignments, s.Changes+s.Assignments, s.Checkins)
}

// bulk buffers rows of one table and writes them in multi-row INSERTs.
type bulk struct {
	ctx   context.Context
	tx    *sql.Tx
	table string
	cols  []string
	per   int // rows per statement
	rows  []any
	stmt  *sql.Stmt
	deps  []*bulk // tables this one refers to: written out first
	// positional makes the placeholders "?": modernc's SQLite looks each
	// "$n" up by name, which costs O(n²) in a statement of 30,000.
	positional bool
}

func newBulk(ctx context.Context, tx *sql.Tx, dialect sqlstore.Dialect, table string, cols ...string) *bulk {
	// Under both databases' limits on parameters (SQLite 32,766).
	return &bulk{ctx: ctx, tx: tx, table: table, cols: cols, per: min(1000, 30_000/len(cols)),
		positional: dialect == sqlstore.SQLite}
}

func (b *bulk) insert(rows int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "INSERT INTO %s (%s) VALUES ", b.table, strings.Join(b.cols, ", "))
	p := 1
	for r := range rows {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for c := range b.cols {
			if c > 0 {
				sb.WriteString(", ")
			}
			if b.positional {
				sb.WriteByte('?')
			} else {
				sb.WriteString("$" + strconv.Itoa(p))
			}
			p++
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

func (b *bulk) add(vals ...any) error {
	b.rows = append(b.rows, vals...)
	if len(b.rows) == b.per*len(b.cols) {
		if err := flushAll(b.deps...); err != nil {
			return err
		}
		if b.stmt == nil {
			var err error
			if b.stmt, err = b.tx.PrepareContext(b.ctx, b.insert(b.per)); err != nil {
				return fmt.Errorf("prepare %s: %w", b.table, err)
			}
		}
		if _, err := b.stmt.ExecContext(b.ctx, b.rows...); err != nil {
			return fmt.Errorf("insert %s: %w", b.table, err)
		}
		b.rows = b.rows[:0]
	}
	return nil
}

func (b *bulk) flush() error {
	if err := flushAll(b.deps...); err != nil {
		return err
	}
	if len(b.rows) > 0 {
		if _, err := b.tx.ExecContext(b.ctx, b.insert(len(b.rows)/len(b.cols)), b.rows...); err != nil {
			return fmt.Errorf("insert %s: %w", b.table, err)
		}
		b.rows = b.rows[:0]
	}
	if b.stmt != nil {
		err := b.stmt.Close()
		b.stmt = nil
		return err
	}
	return nil
}

const dayMs = int64(24 * time.Hour / time.Millisecond)

// generateProvince fills an empty store.
func generateProvince(ctx context.Context, db *sqlstore.DB, cfg genConfig) (st genStats, err error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 42))
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return st, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	from, now := cfg.From.UnixMilli(), cfg.Now.UnixMilli()
	between := func(a, b int64) int64 { return a + rng.Int64N(max(1, b-a)) }
	date := func(ms int64) string { return fleet.DateOf(time.UnixMilli(ms)).String() }

	// Units: province → cities → counties → stations.
	units := newBulk(ctx, tx, db.Dialect(), "units", "id", "parent_id", "code", "name", "level", "path", "version")
	var stations, counties []string
	siblings := map[string][]string{} // a county's stations
	unit := func(id, parent, path, name string, level fleet.UnitLevel) error {
		st.Units++
		var p any
		if parent != "" {
			p = parent
		}
		return units.add(id, p, "HB-"+id, name, string(level), path, 1)
	}
	st.ProvinceID = "p"
	if err := unit("p", "", "/p/", "湖北省交通运输综合行政执法局", fleet.LevelProvince); err != nil {
		return st, err
	}
	for c := range cfg.Cities {
		cid := fmt.Sprintf("c%02d", c)
		cpath := "/p/" + cid + "/"
		if err := unit(cid, "p", cpath, fmt.Sprintf("第%d市支队", c+1), fleet.LevelCity); err != nil {
			return st, err
		}
		for x := range cfg.CountiesPerCity {
			xid := fmt.Sprintf("%sx%02d", cid, x)
			xpath := cpath + xid + "/"
			if err := unit(xid, cid, xpath, fmt.Sprintf("第%d市第%d县大队", c+1, x+1), fleet.LevelCounty); err != nil {
				return st, err
			}
			counties = append(counties, xid)
			for s := range cfg.StationsPerCounty {
				sid := fmt.Sprintf("%ss%02d", xid, s)
				if err := unit(sid, xid, xpath+sid+"/", fmt.Sprintf("第%d市第%d县第%d中队", c+1, x+1, s+1), fleet.LevelStation); err != nil {
					return st, err
				}
				stations = append(stations, sid)
				siblings[xid] = append(siblings[xid], sid)
			}
		}
	}
	if err := units.flush(); err != nil {
		return st, err
	}

	// Officers, with a version per change: yearly review renewals, some
	// moves, transfers out, retirements and long leaves.
	officers := newBulk(ctx, tx, db.Dialect(), "officers", "id", "name", "badge_no", "unit_id", "frontline", "duty_status",
		"cert_number", "cert_issued_on", "cert_expires_on", "cert_review_until", "cert_status", "effective_on", "version")
	versions := newBulk(ctx, tx, db.Dialect(), "officer_versions", "officer_id", "effective_on", "recorded_at", "recorded_by", "unit_id",
		"frontline", "duty_status", "cert_number", "cert_issued_on", "cert_expires_on", "cert_review_until", "cert_status")
	versions.deps = []*bulk{officers}
	byStation := map[string][]int{}
	officerIDs := make([]string, cfg.Officers)
	for i := range cfg.Officers {
		id := fmt.Sprintf("ofc%06d", i)
		officerIDs[i] = id
		home := stations[rng.IntN(len(stations))]
		if rng.IntN(20) == 0 {
			home = counties[rng.IntN(len(counties))]
		}
		byStation[home] = append(byStation[home], i)
		s := fleet.OfficerState{UnitID: home, Frontline: rng.IntN(100) >= 8, DutyStatus: fleet.OnDuty,
			Certificate: fleet.Certificate{Number: fmt.Sprintf("ZF%08d", i), Status: fleet.CertValid}}
		eff := between(from, from+540*dayMs)
		s.Certificate.IssuedOn = fleet.DateOf(time.UnixMilli(eff - rng.Int64N(5*365)*dayMs))
		s.Certificate.ExpiresOn = fleet.DateOf(time.UnixMilli(eff + (500+rng.Int64N(6*365))*dayMs))
		s.Certificate.AnnualReviewUntil = fleet.NewDate(fleet.DateOf(time.UnixMilli(eff)).Year(), time.December, 31)
		effDate := fleet.DateOf(time.UnixMilli(eff))
		var vrows [][]any // written after the officer's own row
		add := func(d fleet.Date, s fleet.OfficerState) {
			st.Versions++
			c := s.Certificate
			vrows = append(vrows, []any{id, d.String(), d.Start().UnixMilli() + int64(st.Versions%1000), "gen", s.UnitID,
				s.Frontline, string(s.DutyStatus), c.Number, c.IssuedOn.String(), c.ExpiresOn.String(),
				c.AnnualReviewUntil.String(), string(c.Status)})
		}
		add(effDate, s)
		// Each January the review is renewed, unless this officer lets
		// it lapse; a few move, leave or retire along the way.
		for y := effDate.Year() + 1; y <= cfg.Now.Year(); y++ {
			if s.DutyStatus != fleet.OnDuty {
				break
			}
			d := fleet.NewDate(y, time.January, 1+rng.IntN(20))
			if rng.IntN(30) > 0 {
				s.Certificate.AnnualReviewUntil = fleet.NewDate(y, time.December, 31)
			}
			switch r := rng.IntN(100); {
			case r < 4:
				s.UnitID = stations[rng.IntN(len(stations))]
			case r < 6:
				s.DutyStatus, s.Certificate.Status = fleet.TransferredOut, fleet.CertRevoked
			case r < 7:
				s.DutyStatus = fleet.Retired
			case r < 8:
				s.DutyStatus = fleet.LongLeave
			}
			if d.Start().UnixMilli() > now {
				break
			}
			add(d, s)
			effDate = d
		}
		c := s.Certificate
		if err := officers.add(id, "警员"+strconv.Itoa(i), "B"+strconv.Itoa(i), s.UnitID, s.Frontline, string(s.DutyStatus),
			c.Number, c.IssuedOn.String(), c.ExpiresOn.String(), c.AnnualReviewUntil.String(), string(c.Status),
			effDate.String(), 1); err != nil {
			return st, err
		}
		for _, v := range vrows {
			if err := versions.add(v...); err != nil {
				return st, err
			}
		}
		st.Officers++
	}
	if err := officers.flush(); err != nil {
		return st, err
	}
	if err := versions.flush(); err != nil {
		return st, err
	}

	// Recorders: bought in waves, handed out to officers of their station
	// (one at a time each), returned, sometimes repaired, a few lost or
	// retired.
	devices := newBulk(ctx, tx, db.Dialect(), "devices", "id", "kind", "serial", "model", "unit_id", "status", "firmware_version",
		"rtsp_url", "mmsi", "secret_hash", "last_seen_at", "created_at", "version")
	changes := newBulk(ctx, tx, db.Dialect(), "device_changes", "device_id", "at", "status", "unit_id", "reason", "changed_by")
	assignments := newBulk(ctx, tx, db.Dialect(), "assignments", "id", "device_id", "officer_id", "unit_id", "start_at", "end_at",
		"start_by", "end_by", "end_reason", "note")
	checkins := newBulk(ctx, tx, db.Dialect(), "device_checkins", "device_id", "day")
	changes.deps, assignments.deps, checkins.deps = []*bulk{devices}, []*bulk{devices}, []*bulk{devices}
	type row struct {
		b    *bulk
		vals []any
	}
	freeFrom := make([]int64, cfg.Officers) // when each officer can take a recorder
	waves := []int64{from + 60*dayMs, from + 400*dayMs, from + 750*dayMs, from + 1000*dayMs, from + 1150*dayMs}
	for i := range cfg.Recorders {
		id := fmt.Sprintf("dev%06d", i)
		home := stations[rng.IntN(len(stations))]
		born := waves[rng.IntN(len(waves))] + rng.Int64N(60*dayMs)
		if born > now-10*dayMs {
			born = now - 10*dayMs - rng.Int64N(30*dayMs)
		}
		status := fleet.StatusInStock
		var hist []row // written after the device's own row
		later := func(b *bulk, vals ...any) error {
			hist = append(hist, row{b, vals})
			return nil
		}
		change := func(at int64, s fleet.DeviceStatus, reason string) error {
			st.Changes++
			status = s
			return later(changes, id, at, string(s), home, reason, "gen")
		}
		if err := change(born, fleet.StatusInStock, "registered"); err != nil {
			return st, err
		}
		t := born + rng.Int64N(20*dayMs)
		var lastSeen any
		for n := 0; t < now; n++ {
			pool := byStation[home]
			o := -1
			for try := 0; try < 8 && len(pool) > 0; try++ {
				if c := pool[rng.IntN(len(pool))]; freeFrom[c] <= t {
					o = c
					break
				}
			}
			if o < 0 {
				t += (2 + rng.Int64N(10)) * dayMs
				continue
			}
			end := t + (4+rng.Int64N(44))*dayMs
			var endAt any
			if end < now {
				endAt = end
				freeFrom[o] = end
			} else {
				freeFrom[o] = now + 1
			}
			st.Assignments++
			if err := later(assignments, fmt.Sprintf("asg%06d-%02d", i, n), id, officerIDs[o], home, t, endAt,
				"gen", "", "", ""); err != nil {
				return st, err
			}
			if err := change(t, fleet.StatusAssigned, "checkout"); err != nil {
				return st, err
			}
			if end >= now {
				// Out now: heard from on some of the last days.
				for d := cfg.CheckinDays; d >= 0; d-- {
					if rng.Float64() < cfg.CheckinRate {
						day := now - int64(d)*dayMs
						st.Checkins++
						lastSeen = day
						if err := later(checkins, id, date(day)); err != nil {
							return st, err
						}
					}
				}
				break
			}
			t = end
			if err := change(t, fleet.StatusInStock, "checkin"); err != nil {
				return st, err
			}
			switch r := rng.IntN(100); {
			case r < 12:
				t += rng.Int64N(3 * dayMs)
				if err := change(t, fleet.StatusInRepair, "repair"); err != nil {
					return st, err
				}
				t += (5 + rng.Int64N(25)) * dayMs
				if t >= now {
					break
				}
				if err := change(t, fleet.StatusInStock, "repaired"); err != nil {
					return st, err
				}
			case r < 17:
				// Moved to another station of the county, in stock.
				t += rng.Int64N(5 * dayMs)
				sib := siblings[home[:len(home)-3]]
				home = sib[rng.IntN(len(sib))]
				if err := change(t, fleet.StatusInStock, "moved"); err != nil {
					return st, err
				}
			case r < 18 && rng.IntN(2) == 0:
				t += rng.Int64N(10 * dayMs)
				if err := change(t, fleet.StatusLost, "lost"); err != nil {
					return st, err
				}
				t = now
			case r < 18:
				t += rng.Int64N(10 * dayMs)
				if err := change(t, fleet.StatusRetired, "worn out"); err != nil {
					return st, err
				}
				t = now
			}
			t += (1 + rng.Int64N(10)) * dayMs
		}
		st.Recorders++
		if err := devices.add(id, string(fleet.KindRecorder), "SN"+id, "DSJ-V9", home, string(status), "1.0.0",
			"", "", "gen", lastSeen, born, 1); err != nil {
			return st, err
		}
		for _, r := range hist {
			if err := r.b.add(r.vals...); err != nil {
				return st, err
			}
		}
	}
	for _, b := range []*bulk{devices, changes, assignments, checkins} {
		if err := b.flush(); err != nil {
			return st, err
		}
	}
	return st, tx.Commit()
}

// flushAll writes out pending rows, devices first for the foreign keys.
func flushAll(bs ...*bulk) error {
	for _, b := range bs {
		if err := b.flushPending(); err != nil {
			return err
		}
	}
	return nil
}

// flushPending writes the buffered rows but keeps the prepared statement.
func (b *bulk) flushPending() error {
	if len(b.rows) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(b.ctx, b.insert(len(b.rows)/len(b.cols)), b.rows...); err != nil {
		return fmt.Errorf("insert %s: %w", b.table, err)
	}
	b.rows = b.rows[:0]
	return nil
}
