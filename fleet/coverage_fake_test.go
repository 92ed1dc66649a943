package fleet

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeSource is a CoverageSource in memory, with the same feed semantics
// as the SQL store: every change names its entity in an audit-like feed,
// check-ins have a feed of their own. The SQL store's own tests check that
// it answers like this on SQLite and PostgreSQL.
type fakeSource struct {
	mu        sync.Mutex
	units     []Unit
	officers  map[string]*fakeOfficer
	recorders map[string]*fakeRecorder
	plans     map[string]MilestonePlan
	feed      []fakeEntry
	checkins  []fakeCheckin
	loads     int
}

type fakeOfficer struct {
	id, name, badge string
	versions        []OfficerVersion
}

type fakeRecorder struct {
	id, serial string
	changes    []DeviceChange
	asgs       []Assignment
}

type fakeEntry struct{ entity, id string }

type fakeCheckin struct {
	id string
	d  Date
}

func newFakeSource() *fakeSource {
	return &fakeSource{officers: map[string]*fakeOfficer{}, recorders: map[string]*fakeRecorder{},
		plans: map[string]MilestonePlan{}}
}

func (f *fakeSource) touch(entity, id string) { f.feed = append(f.feed, fakeEntry{entity, id}) }

func (f *fakeSource) position() CoverageCursor {
	return CoverageCursor{Audit: int64(len(f.feed)), Checkin: int64(len(f.checkins))}
}

func (f *fakeSource) sendOfficer(b *CoverageBatch, o *fakeOfficer) {
	b.Officer(o.id, o.name, o.badge)
	for i, v := range o.versions {
		b.OfficerVersion(v, int64(i))
	}
}

func (f *fakeSource) sendRecorder(b *CoverageBatch, r *fakeRecorder) {
	b.Recorder(r.id, r.serial, "DSJ-V9")
	for i, c := range r.changes {
		b.DeviceChange(c, int64(i))
	}
	for _, a := range r.asgs {
		b.Assignment(a)
	}
}

func (f *fakeSource) LoadCoverage(ctx context.Context, b *CoverageBatch) (CoverageCursor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	b.Units(slices.Clone(f.units))
	for _, p := range f.plans {
		b.Plan(p)
	}
	for _, o := range f.officers {
		f.sendOfficer(b, o)
	}
	for _, r := range f.recorders {
		f.sendRecorder(b, r)
	}
	for _, c := range f.checkins {
		b.Checkin(c.id, c.d)
	}
	return f.position(), nil
}

func (f *fakeSource) CoverageChanges(ctx context.Context, since CoverageCursor, maxEntries int, b *CoverageBatch) (CoverageCursor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	touched := f.feed[since.Audit:]
	if len(touched) > maxEntries {
		return since, ErrCoverageResync
	}
	units := false
	for _, e := range touched {
		units = units || e.entity == "unit"
	}
	if units {
		b.Units(slices.Clone(f.units))
	}
	for _, e := range touched {
		switch e.entity {
		case "officer":
			f.sendOfficer(b, f.officers[e.id])
		case "device":
			f.sendRecorder(b, f.recorders[e.id])
		case "coverage_plan":
			b.Plan(f.plans[e.id])
		}
	}
	for _, c := range f.checkins[since.Checkin:] {
		b.Checkin(c.id, c.d)
	}
	return f.position(), nil
}

func (f *fakeSource) SaveMilestonePlan(ctx context.Context, p MilestonePlan, e *AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans[p.ProvinceID] = p
	f.touch("coverage_plan", p.ProvinceID)
	return nil
}

// world builds a register history in a fakeSource, by the day.
type world struct {
	t   testing.TB
	src *fakeSource
}

func newWorld(t testing.TB) *world { return &world{t: t, src: newFakeSource()} }

// unit adds a unit under parent ("" for a province).
func (w *world) unit(id, parent string, level UnitLevel) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	path := "/" + id + "/"
	if parent != "" {
		i := slices.IndexFunc(w.src.units, func(u Unit) bool { return u.ID == parent })
		path = w.src.units[i].Path + id + "/"
	}
	w.src.units = append(w.src.units, Unit{ID: id, ParentID: parent, Code: "C-" + id, Name: "单位" + id, Level: level, Path: path, Version: 1})
	w.src.touch("unit", id)
}

// d26 is a day of 2026.
func d26(m time.Month, d int) Date { return NewDate(2026, m, d) }

// eligibleState is a frontline officer on duty with a valid certificate
// to the end of 2029 and a review current to the end of 2026.
func eligibleState(unit string) OfficerState {
	return OfficerState{UnitID: unit, Frontline: true, DutyStatus: OnDuty, Certificate: Certificate{
		Number: "ZF-1", IssuedOn: NewDate(2020, 1, 1), ExpiresOn: NewDate(2029, 12, 31),
		AnnualReviewUntil: NewDate(2026, 12, 31), Status: CertValid}}
}

// officer adds an officer whose first version is in force from eff.
func (w *world) officer(id string, eff Date, s OfficerState) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	w.src.officers[id] = &fakeOfficer{id: id, name: "警员" + id, badge: "B-" + id,
		versions: []OfficerVersion{{OfficerID: id, EffectiveOn: eff, OfficerState: s}}}
	w.src.touch("officer", id)
}

// version adds a version of officer id from eff, changed by mod from the
// latest one.
func (w *world) version(id string, eff Date, mod func(*OfficerState)) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	o := w.src.officers[id]
	v := o.versions[len(o.versions)-1]
	v.EffectiveOn = eff
	v.RecordedAt = v.RecordedAt.Add(time.Second)
	mod(&v.OfficerState)
	o.versions = append(o.versions, v)
	w.src.touch("officer", id)
}

// at is noon of d in Zone.
func at(d Date) time.Time { return d.Start().Add(12 * time.Hour) }

// recorder registers a recorder in stock at unit from instant t.
func (w *world) recorder(id, unit string, t time.Time) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	w.src.recorders[id] = &fakeRecorder{id: id, serial: "SN-" + id,
		changes: []DeviceChange{{DeviceID: id, At: t, Status: StatusInStock, UnitID: unit}}}
	w.src.touch("device", id)
}

// status changes a recorder's status from t, at its current unit.
func (w *world) status(id string, t time.Time, s DeviceStatus) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	r := w.src.recorders[id]
	last := r.changes[len(r.changes)-1]
	r.changes = append(r.changes, DeviceChange{DeviceID: id, At: t, Status: s, UnitID: last.UnitID})
	w.src.touch("device", id)
}

// assign hands recorder dev to officer off from start until end (nil:
// still out), with the status changes the register would record.
func (w *world) assign(dev, off string, start time.Time, end *time.Time) {
	w.status(dev, start, StatusAssigned)
	w.src.mu.Lock()
	r := w.src.recorders[dev]
	r.asgs = append(r.asgs, Assignment{ID: "a-" + dev + start.String(), DeviceID: dev, OfficerID: off, StartAt: start, EndAt: end})
	w.src.mu.Unlock()
	if end != nil {
		w.status(dev, *end, StatusInStock)
	}
}

func (w *world) checkin(dev string, d Date) {
	w.src.mu.Lock()
	defer w.src.mu.Unlock()
	w.src.checkins = append(w.src.checkins, fakeCheckin{dev, d})
}

// engine returns a coverage engine over the world at day today.
func (w *world) engine(today Date) *Coverage {
	return NewCoverage(w.src, CoverageConfig{Now: func() time.Time { return at(today) }})
}

// admin may read everything.
var testAdmin = User{ID: "usr-admin", Username: "admin", Role: RoleAdmin}

func (w *world) report(c *Coverage, unit string, t Date) CoverageReport {
	w.t.Helper()
	r, err := c.Report(context.Background(), testAdmin, CoverageQuery{UnitID: unit, At: t, Depth: CoverageDepthAll})
	if err != nil {
		w.t.Fatalf("report %s at %s: %v", unit, t, err)
	}
	return r
}
