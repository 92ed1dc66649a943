package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// The coverage source on both databases: the engine over the store must
// give the figures the history implies, see changes made through the
// register (by this process or another) without reloading, and keep the
// provinces' milestone plans.

var covAdmin = fleet.User{ID: "usr-admin", Username: "admin", Role: fleet.RoleAdmin}

// covDay is the report day; covAt is an instant on a day of 2026 in China.
var covDay = fleet.NewDate(2026, time.June, 15)

func covAt(m time.Month, d, hour int) time.Time {
	return time.Date(2026, m, d, hour, 0, 0, 0, fleet.Zone)
}

// covClock is the register's settable clock.
type covClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *covClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *covClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type covFigures struct{ eligible, equipped, active, spare int }

func covReport(t *testing.T, c *fleet.Coverage, unit string, day fleet.Date) fleet.CoverageReport {
	t.Helper()
	r, err := c.Report(t.Context(), covAdmin, fleet.CoverageQuery{UnitID: unit, At: day, Depth: fleet.CoverageDepthAll})
	if err != nil {
		t.Fatalf("report %s on %s: %v", unit, day, err)
	}
	return r
}

func covFiguresOf(r fleet.CoverageReport) covFigures {
	return covFigures{r.Eligible, r.Equipped, r.Active, r.Spare}
}

func covOfficerState(unit string) fleet.OfficerState {
	return fleet.OfficerState{UnitID: unit, Frontline: true, DutyStatus: fleet.OnDuty, Certificate: fleet.Certificate{
		Number: "ZF-1", IssuedOn: fleet.NewDate(2020, 1, 1), ExpiresOn: fleet.NewDate(2029, 12, 31),
		AnnualReviewUntil: fleet.NewDate(2026, 12, 31), Status: fleet.CertValid}}
}

// covHistory writes a history straight into the store, with explicit
// dates and instants, as the brief's "through the store" scenario:
//
//	/p/ → /p/c/ → /p/c/s/, /p/c/s2/
//	o1 at s, eligible; holds r1 from 1 Feb; r1 in repair 1-10 June.
//	o2 at s, review lapsed on 31 March, renewed from 10 April; holds r2
//	   1 Jan - 1 May.
//	o3 at s, moves to s2 on 1 March.
//	r3 spare at s2; v1 a vehicle terminal, assigned nowhere (ignored).
func covHistory(t *testing.T, s *sqlstore.DB) {
	t.Helper()
	ctx := t.Context()
	unit := func(id, parent string, level fleet.UnitLevel, path string) fleet.Unit {
		return fleet.Unit{ID: id, ParentID: parent, Code: "C-" + id, Name: "单位" + id, Level: level, Path: path, Version: 1}
	}
	err := s.Update(ctx, func(tx fleet.Tx) error {
		for _, u := range []fleet.Unit{unit("p", "", fleet.LevelProvince, "/p/"), unit("c", "p", fleet.LevelCity, "/p/c/"),
			unit("s", "c", fleet.LevelStation, "/p/c/s/"), unit("s2", "c", fleet.LevelStation, "/p/c/s2/")} {
			if err := tx.CreateUnit(ctx, u); err != nil {
				return err
			}
		}
		long := fleet.NewDate(2025, 1, 1)
		officer := func(id string, versions ...fleet.OfficerVersion) error {
			first := versions[0]
			if err := tx.CreateOfficer(ctx, fleet.Officer{ID: id, Name: "警员" + id, BadgeNo: "B-" + id,
				EffectiveOn: first.EffectiveOn, Version: 1, OfficerState: first.OfficerState}); err != nil {
				return err
			}
			for i, v := range versions {
				v.OfficerID, v.RecordedAt, v.RecordedBy = id, covAt(1, 1, 0).Add(time.Duration(i)*time.Minute), "test"
				if err := tx.AddOfficerVersion(ctx, v); err != nil {
					return err
				}
			}
			return nil
		}
		lapsed, renewed, moved := covOfficerState("s"), covOfficerState("s"), covOfficerState("s2")
		lapsed.Certificate.AnnualReviewUntil = fleet.NewDate(2026, 3, 31)
		if err := officer("o1", fleet.OfficerVersion{EffectiveOn: long, OfficerState: covOfficerState("s")}); err != nil {
			return err
		}
		if err := officer("o2", fleet.OfficerVersion{EffectiveOn: long, OfficerState: lapsed},
			fleet.OfficerVersion{EffectiveOn: fleet.NewDate(2026, 4, 10), OfficerState: renewed}); err != nil {
			return err
		}
		if err := officer("o3", fleet.OfficerVersion{EffectiveOn: long, OfficerState: covOfficerState("s")},
			fleet.OfficerVersion{EffectiveOn: fleet.NewDate(2026, 3, 1), OfficerState: moved}); err != nil {
			return err
		}
		device := func(id, unit string, kind fleet.DeviceKind, changes ...fleet.DeviceChange) error {
			if err := tx.CreateDevice(ctx, fleet.Device{ID: id, Kind: kind, Serial: "SN-" + id, Model: "DSJ", UnitID: unit,
				Status: changes[len(changes)-1].Status, CreatedAt: changes[0].At, Version: 1}); err != nil {
				return err
			}
			for _, c := range changes {
				c.DeviceID, c.UnitID, c.By = id, unit, "test"
				if err := tx.AddDeviceChange(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}
		reg := fleet.DeviceChange{At: covAt(1, 1, 9), Status: fleet.StatusInStock}
		ch := func(m time.Month, d int, st fleet.DeviceStatus) fleet.DeviceChange {
			return fleet.DeviceChange{At: covAt(m, d, 9), Status: st}
		}
		if err := device("r1", "s", fleet.KindRecorder, reg, ch(2, 1, fleet.StatusAssigned),
			ch(6, 1, fleet.StatusInRepair), ch(6, 10, fleet.StatusAssigned)); err != nil {
			return err
		}
		if err := device("r2", "s", fleet.KindRecorder, reg, ch(1, 1, fleet.StatusAssigned), ch(5, 1, fleet.StatusInStock)); err != nil {
			return err
		}
		if err := device("r3", "s2", fleet.KindRecorder, reg); err != nil {
			return err
		}
		if err := device("v1", "s2", fleet.KindVehicleTerminal, reg); err != nil {
			return err
		}
		end := covAt(5, 1, 9)
		for _, a := range []fleet.Assignment{
			{ID: "a1", DeviceID: "r1", OfficerID: "o1", UnitID: "s", StartAt: covAt(2, 1, 9), StartBy: "test"},
			{ID: "a2", DeviceID: "r2", OfficerID: "o2", UnitID: "s", StartAt: covAt(1, 1, 9), EndAt: &end, StartBy: "test"},
		} {
			if err := tx.CreateAssignment(ctx, a); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			id string
			at time.Time
		}{{"r1", covAt(6, 14, 20)}, {"r2", covAt(2, 20, 8)}, {"v1", covAt(6, 14, 8)}} {
			if err := tx.RecordCheckin(ctx, c.id, c.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCoverageFromStore(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		covHistory(t, s)
		c := fleet.NewCoverage(s, fleet.CoverageConfig{Now: func() time.Time { return covAt(6, 30, 12) }})
		tests := []struct {
			day  fleet.Date
			unit string
			want covFigures
		}{
			{fleet.NewDate(2026, 1, 15), "p", covFigures{3, 1, 0, 2}},  // o2 holds r2; r1 and r3 in stock
			{fleet.NewDate(2026, 2, 15), "s", covFigures{3, 2, 0, 0}},  // r2 heard from only on 20 Feb
			{fleet.NewDate(2026, 2, 28), "s2", covFigures{0, 0, 0, 1}}, // o3 still at s
			{fleet.NewDate(2026, 3, 1), "s2", covFigures{1, 0, 0, 1}},  // o3 moved
			{fleet.NewDate(2026, 4, 5), "p", covFigures{2, 1, 0, 1}},   // o2's review lapsed
			{fleet.NewDate(2026, 5, 2), "p", covFigures{3, 1, 0, 2}},   // o2 renewed; r2 back in stock
			{fleet.NewDate(2026, 6, 5), "p", covFigures{3, 0, 0, 2}},   // r1 in repair
			{covDay, "p", covFigures{3, 1, 1, 2}},                      // r1 back, heard from on 14 June
			{covDay, "s", covFigures{2, 1, 1, 1}},
		}
		for _, tc := range tests {
			if got := covFiguresOf(covReport(t, c, tc.unit, tc.day)); got != tc.want {
				t.Errorf("%s on %s: %+v, want %+v", tc.unit, tc.day, got, tc.want)
			}
		}
		l, err := c.Actions(t.Context(), covAdmin, fleet.ActionQuery{UnitID: "p", At: fleet.NewDate(2026, 4, 5), List: fleet.ActionToTakeBack})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != 1 || l.Items[0].Recorder.ID != "r2" || l.Items[0].Officer.ID != "o2" || l.Items[0].Reason != fleet.ReasonReviewLapsed {
			t.Errorf("to take back on 5 April: %+v", l.Items)
		}
		l, err = c.Actions(t.Context(), covAdmin, fleet.ActionQuery{UnitID: "p", At: covDay, List: fleet.ActionNotSeen})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != 2 || l.Items[0].Recorder.ID != "r2" || l.Items[0].LastSeenOn != fleet.NewDate(2026, 2, 20) ||
			l.Items[1].Recorder.ID != "r3" || !l.Items[1].LastSeenOn.IsZero() {
			t.Errorf("not seen on %s: %+v", covDay, l.Items)
		}
	})
}

// countingSource counts full loads, to tell a refresh from a reload.
type countingSource struct {
	fleet.CoverageSource
	mu    sync.Mutex
	loads int
}

func (c *countingSource) LoadCoverage(ctx context.Context, b *fleet.CoverageBatch) (fleet.CoverageCursor, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.CoverageSource.LoadCoverage(ctx, b)
}

func (c *countingSource) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// TestCoverageFeed changes the register through one store while an
// engine reads through another store on the same database, as two fleetd
// processes would: every answer includes the changes committed before it,
// and no answer needs a reload.
func TestCoverageFeed(t *testing.T) {
	sqltest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		writer, reader := sqltest.Open(t, dsn), sqltest.Open(t, dsn)
		clock := &covClock{t: covAt(6, 15, 10)}
		reg := fleet.NewRegister(writer, clock.now)
		if _, err := reg.Bootstrap(ctx, "admin-secret-1"); err != nil {
			t.Fatal(err)
		}
		_, admin, err := reg.Login(ctx, "admin", "admin-secret-1")
		if err != nil {
			t.Fatal(err)
		}
		src := &countingSource{CoverageSource: reader}
		c := fleet.NewCoverage(src, fleet.CoverageConfig{Now: clock.now})
		today := fleet.DateOf(clock.now())
		figures := func() covFigures { return covFiguresOf(covReport(t, c, "", today)) }

		p, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "HB", Name: "湖北省", Level: fleet.LevelProvince})
		if err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{}) {
			t.Fatalf("empty province: %+v", got)
		}
		s, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{ParentID: p.ID, Code: "HB-1", Name: "一站", Level: fleet.LevelStation})
		if err != nil {
			t.Fatal(err)
		}
		yes := true
		in := fleet.OfficerInput{UnitID: s.ID, Name: "张三", BadgeNo: "42", Frontline: &yes, Certificate: fleet.Certificate{
			Number: "ZF-42", IssuedOn: fleet.NewDate(2024, 1, 1), ExpiresOn: fleet.NewDate(2029, 1, 1),
			AnnualReviewUntil: fleet.NewDate(2026, 12, 31)}}
		o, err := reg.CreateOfficer(ctx, admin, in)
		if err != nil {
			t.Fatal(err)
		}
		d, err := reg.CreateDevice(ctx, admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "R-1", Model: "DSJ", UnitID: s.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreateDevice(ctx, admin, fleet.DeviceInput{Kind: fleet.KindVehicleTerminal, Serial: "V-1", Model: "MDVR", UnitID: s.ID}); err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{1, 0, 0, 1}) {
			t.Errorf("officer and spare: %+v", got)
		}
		clock.set(covAt(6, 15, 11))
		if _, err := reg.Checkout(ctx, admin, d.ID, fleet.CheckoutInput{OfficerID: o.ID}); err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{1, 1, 0, 0}) {
			t.Errorf("after check-out: %+v", got)
		}
		if err := reg.RecordCheckin(ctx, d.ID, clock.now()); err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{1, 1, 1, 0}) {
			t.Errorf("after a check-in: %+v", got)
		}
		repair := fleet.StatusInRepair
		clock.set(covAt(6, 15, 12))
		if _, err := reg.UpdateDevice(ctx, admin, d.ID, fleet.DevicePatch{Status: &repair}); err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{1, 0, 0, 0}) {
			t.Errorf("recorder in repair: %+v", got)
		}
		out := fleet.TransferredOut
		if _, err := reg.UpdateOfficer(ctx, admin, o.ID, fleet.OfficerPatch{DutyStatus: &out}); err != nil {
			t.Fatal(err)
		}
		if got := figures(); got != (covFigures{}) {
			t.Errorf("officer transferred out: %+v", got)
		}
		// The morning's figures are history now, and stay as they were:
		// the officer and the recorder are those of 11:00.
		if got := covFiguresOf(covReport(t, c, p.ID, today.AddDays(-1))); got != (covFigures{}) {
			t.Errorf("yesterday: %+v", got)
		}
		if n := src.count(); n != 1 {
			t.Errorf("%d full loads, want 1: changes come from the feed", n)
		}
		// A fresh engine loads the same state.
		fresh := fleet.NewCoverage(reader, fleet.CoverageConfig{Now: clock.now})
		if got, want := covReport(t, fresh, p.ID, today), covReport(t, c, p.ID, today); covFiguresOf(got) != covFiguresOf(want) {
			t.Errorf("fresh engine %+v, refreshed engine %+v", covFiguresOf(got), covFiguresOf(want))
		}
	})
}

// TestCoverageMilestonesStored saves a plan through one engine and reads
// it through another (by the feed) and through a fresh one (by a load).
func TestCoverageMilestonesStored(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		ctx := t.Context()
		covHistory(t, s)
		now := func() time.Time { return covAt(6, 30, 12) }
		a := fleet.NewCoverage(s, fleet.CoverageConfig{Now: now})
		b := fleet.NewCoverage(s, fleet.CoverageConfig{Now: now})
		before := covReport(t, b, "p", covDay)
		in := fleet.MilestoneInput{StartRate: ptrTo(0.1), Targets: []fleet.YearTarget{{Year: 2024, Rate: 0.2}, {Year: 2025, Rate: 0.5}}}
		m, err := a.SetMilestones(ctx, covAdmin, "p", in)
		if err != nil {
			t.Fatal(err)
		}
		check := func(name string, m fleet.Milestones) {
			t.Helper()
			if m.StartRate != 0.1 || !m.StartRateSet || len(m.Targets) != 3 || m.Targets[0].Rate != 0.2 || !m.Targets[0].Set ||
				m.Targets[1].Rate != 0.5 || m.Targets[2].Rate != 1 || m.Targets[2].Set || m.UpdatedBy != covAdmin.ID {
				t.Errorf("%s: %+v", name, m)
			}
		}
		check("saved", m)
		for name, c := range map[string]*fleet.Coverage{"other engine": b, "fresh engine": fleet.NewCoverage(s, fleet.CoverageConfig{Now: now})} {
			got, err := c.Milestones(ctx, covAdmin, "p")
			if err != nil {
				t.Fatal(err)
			}
			check(name, got)
		}
		after := covReport(t, b, "p", covDay)
		if *before.Milestone == *after.Milestone {
			t.Errorf("the milestone line did not move: %v", *after.Milestone)
		}
		entries, _, err := fleet.NewRegister(s, now).Audit(ctx, covAdmin, fleet.AuditFilter{Entity: "coverage_plan", EntityID: "p"})
		if err != nil || len(entries) != 1 || entries[0].Action != "coverage.milestones" {
			t.Errorf("audit: %+v, %v", entries, err)
		}
		// Back to the defaults: the edits are gone everywhere.
		if _, err := a.SetMilestones(ctx, covAdmin, "p", fleet.MilestoneInput{}); err != nil {
			t.Fatal(err)
		}
		got, err := b.Milestones(ctx, covAdmin, "p")
		if err != nil || got.StartRateSet || got.Targets[0].Set || got.Targets[1].Set {
			t.Errorf("after a reset: %+v, %v", got, err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestCheckinFeedSeq checks the feed column the coverage migration adds:
// every new check-in day gets the next number, a repeat gets none.
func TestCheckinFeedSeq(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		ctx := t.Context()
		covHistory(t, s)
		for _, at := range []time.Time{covAt(6, 20, 8), covAt(6, 20, 9), covAt(6, 21, 8)} {
			if err := s.Update(ctx, func(tx fleet.Tx) error { return tx.RecordCheckin(ctx, "r3", at) }); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := s.SQL().QueryContext(ctx, "SELECT device_id, day, seq FROM device_checkins ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		last := int64(0)
		for rows.Next() {
			var id, day string
			var seq int64
			if err := rows.Scan(&id, &day, &seq); err != nil {
				t.Fatal(err)
			}
			if seq <= last {
				t.Errorf("seq %d after %d", seq, last)
			}
			last = seq
			got = append(got, id+" "+day)
		}
		want := []string{"r1 2026-06-14", "r2 2026-02-20", "v1 2026-06-14", "r3 2026-06-20", "r3 2026-06-21"}
		if len(got) != len(want) {
			t.Fatalf("rows %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("rows %v, want %v", got, want)
				break
			}
		}
	})
}
