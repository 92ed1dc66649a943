package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Coverage is the engine behind the allocation-rate reports (配置率): for
// a unit and a day t it counts, over the unit's whole subtree, the
// eligible officers, those equipped with a recorder in service, those
// whose recorder was also heard from lately, the spare recorders in stock,
// and it sets them against the province's milestone line and the trend.
//
// "On day t" means at the end of that day in Zone, t.End(): the officer
// version in force on t, the recorder status in force and the assignments
// open at that instant. History is taken as the register recorded it, so a
// report for a past day shows that day as it was; the unit tree is today's
// (units have no history), so a unit's past figures are those of the
// officers and recorders that were in its current subtree then.
//
// The engine keeps the register's history in memory (coverage_index.go),
// loaded once from a CoverageSource. Before every answer it reads the
// changes since its last look: the audit log, which the register appends
// in the same transaction as every change, and the new check-in days. So
// an answer includes every change committed before the request arrived,
// by this process or another one sharing the database.
type Coverage struct {
	src CoverageSource
	cfg CoverageConfig
	log *slog.Logger

	sem      chan struct{}  // held by the one load or refresh running
	cursor   CoverageCursor // guarded by sem
	lastPoll time.Time      // when the last successful refresh started; guarded by sem
	loaded   time.Time      // when the last full load finished; guarded by sem

	mu  sync.RWMutex
	ix  *covIndex // nil until loaded; written under sem and mu
	gen uint64    // bumped by every change of history (not check-ins); under mu

	baseMu    sync.Mutex
	baselines map[baselineKey]*float64 // province rates at plan starts
}

// CoverageCursor is a position in the register's change feed: the last
// audit entry and the last check-in row the engine has read.
type CoverageCursor struct {
	Audit   int64
	Checkin int64
}

// ErrCoverageResync tells the engine that more changed than a refresh
// should read; it loads everything again instead.
var ErrCoverageResync = errors.New("coverage: too many changes; load the history again")

// CoverageSource is the storage the coverage engine reads (fleet/sqlstore
// implements it).
type CoverageSource interface {
	// LoadCoverage sends the whole history to b from one consistent
	// snapshot: units, officers and their versions, recorders with their
	// lifecycle changes, assignments and check-in days, and the milestone
	// plans. It returns the feed position of that snapshot.
	LoadCoverage(ctx context.Context, b *CoverageBatch) (CoverageCursor, error)
	// CoverageChanges sends to b, from one snapshot, the full current
	// history of every unit tree, officer, recorder and plan named by the
	// audit entries after since, and the check-in days recorded after
	// since; it returns the new position. With more than maxEntries audit
	// entries to read it returns ErrCoverageResync.
	CoverageChanges(ctx context.Context, since CoverageCursor, maxEntries int, b *CoverageBatch) (CoverageCursor, error)
	// SaveMilestonePlan stores a province's plan and appends e to the
	// audit log in the same transaction.
	SaveMilestonePlan(ctx context.Context, p MilestonePlan, e *AuditEntry) error
}

// CoverageConfig tunes the engine; zero values take the defaults.
type CoverageConfig struct {
	PlanStart     Date          // default plan start (DefaultPlanStart); provinces may set their own
	Deadline      Date          // the policy's deadline (DefaultDeadline)
	ActiveDays    int           // a recorder is active if heard from within this many days ending on t (30)
	TrendDays     int           // the projection's trend window (90)
	TrendStepDays int           // its sampling step (15)
	RefreshEvery  time.Duration // how often Run reads the change feed (5 s)
	ReloadEvery   time.Duration // how often Run loads everything again, catching writes made past the register (24 h; negative: never)
	MaxChanges    int           // audit entries a refresh reads before it loads everything instead (20,000)
	Now           func() time.Time
	Logger        *slog.Logger
}

func (c CoverageConfig) withDefaults() CoverageConfig {
	if c.PlanStart.IsZero() {
		c.PlanStart = DefaultPlanStart
	}
	if c.Deadline.IsZero() {
		c.Deadline = DefaultDeadline
	}
	if c.ActiveDays <= 0 {
		c.ActiveDays = 30
	}
	if c.TrendDays <= 0 {
		c.TrendDays = 90
	}
	if c.TrendStepDays <= 0 {
		c.TrendStepDays = 15
	}
	if c.RefreshEvery <= 0 {
		c.RefreshEvery = 5 * time.Second
	}
	if c.ReloadEvery == 0 {
		c.ReloadEvery = 24 * time.Hour
	}
	if c.MaxChanges <= 0 {
		c.MaxChanges = 20_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// NewCoverage returns an engine over src. It loads the history on the
// first request, or at once under Run.
func NewCoverage(src CoverageSource, cfg CoverageConfig) *Coverage {
	cfg = cfg.withDefaults()
	return &Coverage{src: src, cfg: cfg, log: cfg.Logger.With("component", "coverage"),
		sem: make(chan struct{}, 1), baselines: map[baselineKey]*float64{}}
}

// Run loads the history, then keeps it fresh until ctx ends, so that
// requests rarely wait for a refresh. Failures are logged and retried on
// the next tick; requests report them.
func (c *Coverage) Run(ctx context.Context) error {
	if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("initial load failed; retrying", "err", err)
	}
	tick := time.NewTicker(c.cfg.RefreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var err error
		if c.reloadDue() {
			err = c.Reload(ctx)
		} else {
			err = c.Refresh(ctx)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("refresh failed", "err", err)
		}
	}
}

func (c *Coverage) reloadDue() bool {
	if c.cfg.ReloadEvery < 0 || !c.lock(context.Background()) {
		return false
	}
	defer c.unlock()
	return !c.loaded.IsZero() && time.Since(c.loaded) >= c.cfg.ReloadEvery
}

func (c *Coverage) lock(ctx context.Context) bool {
	select {
	case c.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Coverage) unlock() { <-c.sem }

// Refresh brings the engine up to date with every change committed before
// the call, loading the whole history if it has none yet.
func (c *Coverage) Refresh(ctx context.Context) error {
	arrived := time.Now()
	if !c.lock(ctx) {
		return ctx.Err()
	}
	defer c.unlock()
	if c.ix != nil && c.lastPoll.After(arrived) {
		return nil // a refresh that started after we arrived has seen what we need
	}
	if c.ix == nil {
		started := time.Now()
		ix, cur, err := c.build(ctx)
		if err != nil {
			return err
		}
		c.install(ix, cur, started)
		return nil
	}
	return c.refresh(ctx)
}

// refresh reads the change feed into the index; the caller holds sem.
func (c *Coverage) refresh(ctx context.Context) error {
	started := time.Now()
	b := newBatch(c.ix)
	cur, err := c.src.CoverageChanges(ctx, c.cursor, c.cfg.MaxChanges, b)
	if errors.Is(err, ErrCoverageResync) {
		// More changed than is worth reading entity by entity (a
		// province-wide import, say): load everything, answers waiting.
		c.log.Info("many changes since the last refresh; loading again")
		ix, cur, err := c.build(ctx)
		if err != nil {
			return err
		}
		c.install(ix, cur, started)
		return nil
	} else if err != nil {
		return fmt.Errorf("coverage: read changes: %w", err)
	}
	b.prepare()
	if !b.Empty() {
		c.mu.Lock()
		b.apply()
		if b.historyChanged() {
			c.gen++
		}
		c.mu.Unlock()
	}
	c.cursor, c.lastPoll = cur, started
	return nil
}

// Reload loads the whole history again, which catches writes made past
// the register (a repair in SQL, a restored backup). Answers go on from
// the old index meanwhile; the new one is swapped in and brought up to
// date with the changes made during the load.
func (c *Coverage) Reload(ctx context.Context) error {
	started := time.Now()
	ix, cur, err := c.build(ctx)
	if err != nil {
		return err
	}
	if !c.lock(ctx) {
		return ctx.Err()
	}
	defer c.unlock()
	c.install(ix, cur, started)
	return c.refresh(ctx)
}

// build loads a new index from the source.
func (c *Coverage) build(ctx context.Context) (*covIndex, CoverageCursor, error) {
	start := time.Now()
	b := newBatch(newCovIndex())
	cur, err := c.src.LoadCoverage(ctx, b)
	if err != nil {
		return nil, cur, fmt.Errorf("coverage: load history: %w", err)
	}
	b.prepare()
	b.apply() // onto an index nobody reads yet
	b.base.compact()
	c.log.Info("history loaded", "rows", b.Rows(), "units", len(b.base.units), "officers", len(b.base.officers),
		"recorders", len(b.base.recorders), "duration_ms", time.Since(start).Milliseconds())
	return b.base, cur, nil
}

// install swaps in a freshly built index; the caller holds sem. started
// is when the load began: it has seen every change committed before.
func (c *Coverage) install(ix *covIndex, cur CoverageCursor, started time.Time) {
	c.mu.Lock()
	c.ix = ix
	c.gen++
	c.mu.Unlock()
	c.cursor, c.loaded, c.lastPoll = cur, time.Now(), started
}

// CoverageUnit names a unit in coverage answers.
type CoverageUnit struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Code  string    `json:"code"`
	Level UnitLevel `json:"level"`
}

func unitRefOf(u *cUnit) CoverageUnit {
	return CoverageUnit{ID: u.ID, Name: u.Name, Code: u.Code, Level: u.Level}
}

// CoverageReport is a unit's coverage on a day, with its children's.
// Rates are fractions from 0 to 1, null when nobody is eligible.
type CoverageReport struct {
	Unit       CoverageUnit `json:"unit"`
	At         Date         `json:"at"`
	Eligible   int          `json:"eligible"`    // 应配人数
	Equipped   int          `json:"equipped"`    // 已配人数
	Rate       *float64     `json:"rate"`        // 配置率
	Active     int          `json:"active"`      // 在用数: equipped and heard from in the active window
	ActiveRate *float64     `json:"active_rate"` // 在用率 = active / eligible
	Milestone  *float64     `json:"milestone"`   // the province's target line on that day; null before the plan starts
	Behind     bool         `json:"behind"`      // rate < milestone
	// ProjectedFullDate is the day the rate reaches 100% at the pace of
	// the trend window, null when it does not (ProjectionNote says why).
	ProjectedFullDate Date             `json:"projected_full_date"`
	ProjectionNote    string           `json:"projection_note"`
	Shortfall         int              `json:"shortfall"`  // 缺口 = eligible − equipped
	Spare             int              `json:"spare"`      // 库存备用: recorders in stock and in service
	ToProcure         int              `json:"to_procure"` // 需采购 = max(0, shortfall − spare)
	Children          []CoverageReport `json:"children"`
}

// CoverageQuery asks for a report. Depth is how many levels of children
// to include: 0 none, 1 the direct children (the default in the API),
// CoverageDepthAll the whole subtree.
type CoverageQuery struct {
	UnitID string
	At     Date
	Depth  int
}

// CoverageDepthAll asks for every level below the unit.
const CoverageDepthAll = -1

// view is one consistent read of the index for an answer.
type view struct {
	c     *Coverage
	ix    *covIndex
	gen   uint64
	today Date
}

// begin checks the actor's permission, refreshes the index and read-locks
// it; the caller must call end.
func (c *Coverage) begin(ctx context.Context, actor User) (*view, error) {
	if !actor.Role.Can(PermReadCoverage) {
		return nil, Errorf(EFORBIDDEN, "role %s may not read coverage", actor.Role)
	}
	if err := c.Refresh(ctx); err != nil {
		return nil, err
	}
	c.mu.RLock()
	return &view{c: c, ix: c.ix, gen: c.gen, today: DateOf(c.cfg.Now())}, nil
}

func (v *view) end() { v.c.mu.RUnlock() }

// unitFor resolves the unit a request names: by default the actor's own,
// or the only province for a register-wide user. Units outside the actor's
// subtree are not found.
func (v *view) unitFor(actor User, id string) (int32, error) {
	if id == "" {
		id = actor.UnitID
	}
	if id == "" {
		if len(v.ix.roots) != 1 {
			return 0, Invalid("unit", "unit is required")
		}
		return v.ix.roots[0], nil
	}
	i, ok := v.ix.unitByID[id]
	if !ok || !PathContains(actor.Scope(), v.ix.units[i].Path) {
		return 0, Errorf(ENOTFOUND, "unit not found")
	}
	return i, nil
}

// dayParam checks a report date: default today, never in the future (the
// register records what happened, not what is planned).
func (v *view) dayParam(field string, d Date) (Date, error) {
	if d.IsZero() {
		return v.today, nil
	}
	if err := checkDate(field, d, true); err != nil {
		return Date{}, err
	}
	if d.After(v.today) {
		return Date{}, Invalid(field, "%s %s is in the future", field, d)
	}
	return d, nil
}

// Report computes a unit's coverage on q.At with its children to q.Depth.
func (c *Coverage) Report(ctx context.Context, actor User, q CoverageQuery) (CoverageReport, error) {
	if q.Depth < CoverageDepthAll {
		return CoverageReport{}, Invalid("depth", "depth must be 0 or more")
	}
	v, err := c.begin(ctx, actor)
	if err != nil {
		return CoverageReport{}, err
	}
	defer v.end()
	u, err := v.unitFor(actor, q.UnitID)
	if err != nil {
		return CoverageReport{}, err
	}
	at, err := v.dayParam("at", q.At)
	if err != nil {
		return CoverageReport{}, err
	}
	t := dayOf(at)
	samples := v.trendDays(t)
	r := reporter{v: v, at: at, samples: samples, counts: v.ix.countAt(samples, int32(c.cfg.ActiveDays), len(samples)-1),
		line: v.line(v.ix.units[u].province)}
	return r.node(u, q.Depth), nil
}

// trendDays are the days sampled for the projection, ending on t.
func (v *view) trendDays(t day) []day {
	step := day(v.c.cfg.TrendStepDays)
	n := day(v.c.cfg.TrendDays) / step
	days := make([]day, 0, n+1)
	for i := n; i >= 0; i-- {
		days = append(days, t-i*step)
	}
	return days
}

type reporter struct {
	v       *view
	at      Date
	samples []day
	counts  [][]unitCounts // by sample, then unit; the last sample is at
	line    milestoneLine
}

func (r *reporter) node(u int32, depth int) CoverageReport {
	last := len(r.samples) - 1
	c := r.counts[last][u]
	n := CoverageReport{Unit: unitRefOf(&r.v.ix.units[u]), At: r.at,
		Eligible: int(c.eligible), Equipped: int(c.equipped), Rate: rate(c.equipped, c.eligible),
		Active: int(c.active), ActiveRate: rate(c.active, c.eligible),
		Shortfall: int(c.eligible - c.equipped), Spare: int(c.spare), Children: []CoverageReport{}}
	n.ToProcure = max(0, n.Shortfall-n.Spare)
	n.Milestone = r.line.at(r.samples[last])
	n.Behind = n.Rate != nil && n.Milestone != nil && *n.Rate < *n.Milestone
	rates := make([]*float64, len(r.samples))
	for j := range r.samples {
		rates[j] = rate(r.counts[j][u].equipped, r.counts[j][u].eligible)
	}
	full, note := project(r.samples, rates, r.samples[last], n.Rate)
	if note == ProjectionOnPace || note == ProjectionReached {
		n.ProjectedFullDate = dateOfDay(full)
	}
	n.ProjectionNote = note
	if depth != 0 {
		for _, ch := range r.v.ix.units[u].children {
			n.Children = append(n.Children, r.node(ch, depth-1))
		}
	}
	return n
}

// baselineKey names a province's measured rate at its plan start, valid
// for one generation of the history.
type baselineKey struct {
	province int32
	start    day
	gen      uint64
}

// plan returns a province's plan with the engine's defaults filled in.
func (v *view) plan(province int32) (MilestonePlan, Date) {
	p := v.ix.plans[v.ix.units[province].ID]
	start := p.PlanStart
	if start.IsZero() {
		start = v.c.cfg.PlanStart
	}
	return p, start
}

// line is a province's milestone line.
func (v *view) line(province int32) milestoneLine {
	l, _ := v.milestones(province)
	return l
}

func (v *view) milestones(province int32) (milestoneLine, Milestones) {
	p, start := v.plan(province)
	var measured *float64
	if p.StartRate == nil {
		measured = v.baseline(province, dayOf(start))
	}
	l, m := buildLine(p, start, v.c.cfg.Deadline, measured)
	m.Province = unitRefOf(&v.ix.units[province])
	return l, m
}

// baseline is a province's rate at the start of its plan. It changes only
// when history is back-dated, so it is cached per generation.
func (v *view) baseline(province int32, start day) *float64 {
	key := baselineKey{province, start, v.gen}
	v.c.baseMu.Lock()
	r, ok := v.c.baselines[key]
	v.c.baseMu.Unlock()
	if ok {
		return r
	}
	c := v.ix.countAt([]day{start}, int32(v.c.cfg.ActiveDays), 1)[0][province]
	r = rate(c.equipped, c.eligible)
	v.c.baseMu.Lock()
	for k := range v.c.baselines {
		if k.gen != v.gen {
			delete(v.c.baselines, k)
		}
	}
	v.c.baselines[key] = r
	v.c.baseMu.Unlock()
	return r
}

// CoveragePoint is a unit's coverage on one day of a series.
type CoveragePoint struct {
	At         Date     `json:"at"`
	Eligible   int      `json:"eligible"`
	Equipped   int      `json:"equipped"`
	Rate       *float64 `json:"rate"`
	Active     int      `json:"active"`
	ActiveRate *float64 `json:"active_rate"`
	Milestone  *float64 `json:"milestone"`
	Behind     bool     `json:"behind"`
}

// CoverageSeries is a unit's coverage month by month.
type CoverageSeries struct {
	Unit   CoverageUnit    `json:"unit"`
	From   Date            `json:"from"`
	To     Date            `json:"to"`
	Points []CoveragePoint `json:"points"`
}

// MaxSeriesMonths bounds a series: ten years of month-ends.
const MaxSeriesMonths = 120

// Series computes a unit's coverage at every month-end from from to to,
// and on to itself when it is not a month-end, so that the line ends on
// the current figures. to defaults to today, from to eleven months before
// the month of to (a year of points).
func (c *Coverage) Series(ctx context.Context, actor User, unitID string, from, to Date) (CoverageSeries, error) {
	v, err := c.begin(ctx, actor)
	if err != nil {
		return CoverageSeries{}, err
	}
	defer v.end()
	u, err := v.unitFor(actor, unitID)
	if err != nil {
		return CoverageSeries{}, err
	}
	if to, err = v.dayParam("to", to); err != nil {
		return CoverageSeries{}, err
	}
	if from.IsZero() {
		from = NewDate(to.Year(), to.Month()-11, 1)
	} else if err := checkDate("from", from, true); err != nil {
		return CoverageSeries{}, err
	}
	if from.After(to) {
		return CoverageSeries{}, Invalid("from", "from %s is after to %s", from, to)
	}
	if months := (to.Year()-from.Year())*12 + int(to.Month()-from.Month()); months > MaxSeriesMonths {
		return CoverageSeries{}, Invalid("from", "a series covers at most %d months", MaxSeriesMonths)
	}
	var days []day
	for m := NewDate(from.Year(), from.Month(), 1); !m.After(to); m = NewDate(m.Year(), m.Month()+1, 1) {
		end := NewDate(m.Year(), m.Month()+1, 1).AddDays(-1)
		if end.After(to) {
			end = to
		}
		if !end.Before(from) {
			days = append(days, dayOf(end))
		}
	}
	counts := v.ix.countAt(days, int32(c.cfg.ActiveDays), 0)
	line := v.line(v.ix.units[u].province)
	s := CoverageSeries{Unit: unitRefOf(&v.ix.units[u]), From: from, To: to, Points: make([]CoveragePoint, len(days))}
	for j, d := range days {
		k := counts[j][u]
		p := CoveragePoint{At: dateOfDay(d), Eligible: int(k.eligible), Equipped: int(k.equipped),
			Rate: rate(k.equipped, k.eligible), Active: int(k.active), ActiveRate: rate(k.active, k.eligible),
			Milestone: line.at(d)}
		p.Behind = p.Rate != nil && p.Milestone != nil && *p.Rate < *p.Milestone
		s.Points[j] = p
	}
	return s, nil
}

// provinceFor resolves the province a milestone request names: by default
// the actor's own. A user may read the plan of the province they work in
// and of any province in their subtree.
func (v *view) provinceFor(actor User, id string) (int32, error) {
	if id == "" {
		if actor.UnitID == "" {
			if len(v.ix.roots) != 1 {
				return 0, Invalid("province", "province is required")
			}
			return v.ix.roots[0], nil
		}
		u, ok := v.ix.unitByID[actor.UnitID]
		if !ok {
			return 0, Errorf(ENOTFOUND, "unit not found")
		}
		return v.ix.units[u].province, nil
	}
	i, ok := v.ix.unitByID[id]
	if !ok {
		return 0, Errorf(ENOTFOUND, "province not found")
	}
	p := v.ix.units[i].Path
	if !PathContains(actor.Scope(), p) && !PathContains(p, actor.Scope()) {
		return 0, Errorf(ENOTFOUND, "province not found")
	}
	if v.ix.units[i].Level != LevelProvince || v.ix.units[i].parent >= 0 {
		return 0, Invalid("province", "unit %s is not a province", v.ix.units[i].Code)
	}
	return i, nil
}

// Milestones returns a province's plan as it applies.
func (c *Coverage) Milestones(ctx context.Context, actor User, provinceID string) (Milestones, error) {
	v, err := c.begin(ctx, actor)
	if err != nil {
		return Milestones{}, err
	}
	defer v.end()
	p, err := v.provinceFor(actor, provinceID)
	if err != nil {
		return Milestones{}, err
	}
	_, m := v.milestones(p)
	return m, nil
}

// SetMilestones replaces a province's edits of its plan. Those who manage
// the province's units (its administrators and equipment managers) set
// its plan; a city cannot change the province's targets.
func (c *Coverage) SetMilestones(ctx context.Context, actor User, provinceID string, in MilestoneInput) (Milestones, error) {
	if !actor.Role.Can(PermReadCoverage) || !actor.Role.Can(PermManageUnits) {
		return Milestones{}, Errorf(EFORBIDDEN, "role %s may not set milestones", actor.Role)
	}
	v, err := c.begin(ctx, actor)
	if err != nil {
		return Milestones{}, err
	}
	p, err := v.provinceFor(actor, provinceID)
	if err != nil {
		v.end()
		return Milestones{}, err
	}
	unit := v.ix.units[p].Unit
	before, hadPlan := v.ix.plans[unit.ID]
	v.end()
	if !PathContains(actor.Scope(), unit.Path) {
		return Milestones{}, Errorf(EFORBIDDEN, "only the province's own managers set its milestones")
	}
	if err := in.validate(v.today, c.cfg.PlanStart, c.cfg.Deadline); err != nil {
		return Milestones{}, err
	}
	plan := MilestonePlan{ProvinceID: unit.ID, PlanStart: in.PlanStart, StartRate: in.StartRate,
		Targets: in.Targets, UpdatedAt: c.cfg.Now().UTC(), UpdatedBy: actor.ID}
	if plan.Targets == nil {
		plan.Targets = []YearTarget{}
	}
	e := &AuditEntry{At: plan.UpdatedAt, ActorID: actor.ID, Actor: actor.Username, Action: "coverage.milestones",
		Entity: "coverage_plan", EntityID: unit.ID, UnitID: unit.ID, After: asJSON(plan)}
	if hadPlan {
		e.Before = asJSON(before)
	}
	if err := c.src.SaveMilestonePlan(ctx, plan, e); err != nil {
		return Milestones{}, err
	}
	return c.Milestones(ctx, actor, unit.ID)
}
