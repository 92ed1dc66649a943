package fleet

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"
)

// The coverage engine answers "who was eligible, equipped and active on
// day t" for a whole province in tens of milliseconds. SQL over a million
// history rows cannot, so the engine keeps the history in memory in the
// compact form below, loaded once from a CoverageSource and kept fresh
// from the audit log (see coverage.go). Entities refer to each other by
// int32 index; indices never change once given, because units, officers
// and recorders are never deleted from the register.

// day is a civil date as a day number: days since 1970-01-01. Cheap to
// compare and to step through, unlike Date.
type day = int32

// The bounds of day stand for "no limit" in an interval.
const (
	minDay day = math.MinInt32
	maxDay day = math.MaxInt32
)

func dayOf(d Date) day {
	return day(time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func dateOfDay(n day) Date {
	t := time.Unix(int64(n)*86400, 0).UTC()
	return Date{t.Year(), int(t.Month()), t.Day()}
}

// dayEndMs is Date.End() of day n in Unix milliseconds: the first instant
// of the next day in Zone (UTC+8, no daylight saving).
func dayEndMs(n day) int64 { return (int64(n)+1)*86_400_000 - 8*3_600_000 }

// eligibleSpan is the set of days on which an officer in state s is
// eligible, as the closed interval [from, until]; from > until when never.
// It is OfficerState.Ineligible solved for t: the static conditions
// (frontline, on duty, a valid certificate) hold or not whatever the day,
// and the dated ones bound an interval.
func eligibleSpan(s OfficerState) (from, until day) {
	switch {
	case !s.Frontline, s.DutyStatus != OnDuty, s.Certificate.Number == "",
		s.Certificate.Status != CertValid,
		s.Certificate.ExpiresOn.IsZero(), s.Certificate.AnnualReviewUntil.IsZero():
		return 1, 0
	}
	c := s.Certificate
	from = minDay
	if !c.IssuedOn.IsZero() {
		from = dayOf(c.IssuedOn)
	}
	return from, min(dayOf(c.ExpiresOn), dayOf(c.AnnualReviewUntil))
}

// statusCode packs a DeviceStatus into a byte.
type statusCode uint8

const (
	stUnknown statusCode = iota
	stInStock
	stAssigned
	stInRepair
	stLost
	stRetired
)

var statusCodes = map[DeviceStatus]statusCode{StatusInStock: stInStock, StatusAssigned: stAssigned,
	StatusInRepair: stInRepair, StatusLost: stLost, StatusRetired: stRetired}

var statusNames = [...]DeviceStatus{"", StatusInStock, StatusAssigned, StatusInRepair, StatusLost, StatusRetired}

func (s statusCode) status() DeviceStatus { return statusNames[s] }
func (s statusCode) inService() bool      { return s == stInStock || s == stAssigned }

type cUnit struct {
	Unit
	parent   int32
	province int32 // the root of its tree
	children []int32
	// tin and tout number the unit in a depth-first walk: v is in u's
	// subtree exactly when u.tin <= v.tin < u.tout.
	tin, tout int32
}

// cVersion is the part of an officer version that the counting pass
// reads, kept small so that 60,000 officers' histories stay in cache; the
// full state is beside it in cOfficer.states.
type cVersion struct {
	eff         day
	unit        int32 // -1: a unit the index does not know
	from, until day   // eligibleSpan of the state
}

type cOfficer struct {
	id, name, badge string
	vers            []cVersion     // by eff, then recorded time, then insertion order
	states          []OfficerState // states[i] is the state of vers[i], for the lists' reasons
	pending         []pendingVersion
}

// pendingVersion is a version as a batch receives it, before sorting.
type pendingVersion struct {
	v          cVersion
	recAt, ord int64
	state      OfficerState
}

// versionAt is the index of the version in force on day t, or -1.
func (o *cOfficer) versionAt(t day) int {
	i, _ := slices.BinarySearchFunc(o.vers, t+1, func(v cVersion, t day) int { return cmp.Compare(v.eff, t) })
	return i - 1
}

type cChange struct {
	at     int64 // Unix ms
	ord    int64
	unit   int32
	status statusCode
}

type cAssignment struct {
	start, end int64 // Unix ms; end is math.MaxInt64 while open
	officer    int32
}

type cRecorder struct {
	id, serial, model string
	changes           []cChange     // by at, then ord
	asgs              []cAssignment // by start
	segs              []cSegment    // what changes and asgs mean for coverage, by start
	seen              daySet        // days with a check-in
}

// cSegment is a stretch of a recorder's life, from start to the next
// segment's start, as the counting pass needs it: held in service by an
// officer, spare in stock at a unit, or neither.
type cSegment struct {
	start  int64 // Unix ms
	holder int32 // officer holding it in service, or -1
	spare  int32 // unit it is a spare of (in stock, held by nobody), or -1
}

// segment derives segs from changes and asgs with the same rules as
// changeAt and holderAt, evaluated at every instant where either changes.
func (r *cRecorder) segment() {
	times := make([]int64, 0, len(r.changes)+2*len(r.asgs))
	for _, c := range r.changes {
		times = append(times, c.at)
	}
	for _, a := range r.asgs {
		times = append(times, a.start)
		if a.end != math.MaxInt64 {
			times = append(times, a.end)
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	r.segs = r.segs[:0]
	for _, t := range times {
		ci := r.changeAt(t)
		if ci < 0 {
			continue
		}
		sg := cSegment{start: t, holder: -1, spare: -1}
		if ch := r.changes[ci]; ch.status.inService() {
			if h := r.holderAt(t); h >= 0 {
				sg.holder = h
			} else if ch.status == stInStock {
				sg.spare = ch.unit
			}
		}
		if n := len(r.segs); n > 0 && r.segs[n-1].holder == sg.holder && r.segs[n-1].spare == sg.spare {
			continue
		}
		r.segs = append(r.segs, sg)
	}
}

// changeAt is the index of the change in force at instant ms, or -1.
func (r *cRecorder) changeAt(ms int64) int {
	i, _ := slices.BinarySearchFunc(r.changes, ms+1, func(c cChange, ms int64) int { return cmp.Compare(c.at, ms) })
	return i - 1
}

// holderAt is the officer holding r at instant ms, or -1. The register
// keeps at most one open assignment per device, so the one that started
// last before ms is the only candidate.
func (r *cRecorder) holderAt(ms int64) int32 {
	i, _ := slices.BinarySearchFunc(r.asgs, ms+1, func(a cAssignment, ms int64) int { return cmp.Compare(a.start, ms) })
	if i > 0 && r.asgs[i-1].end > ms {
		return r.asgs[i-1].officer
	}
	return -1
}

// daySet is a set of days as a bitmap from base (a multiple of 64): a
// recorder heard from daily for three years costs 140 bytes, where a list
// of days would cost 4 KB.
type daySet struct {
	base  day
	words []uint64
}

func floor64(d day) day { return d - day(((int64(d)%64)+64)%64) }

func (s *daySet) add(d day) {
	if len(s.words) == 0 {
		s.base = floor64(d)
	}
	if d < s.base {
		nb := floor64(d)
		grown := make([]uint64, int(s.base-nb)/64+len(s.words))
		copy(grown[int(s.base-nb)/64:], s.words)
		s.words, s.base = grown, nb
	}
	i := int(d-s.base) / 64
	for i >= len(s.words) {
		s.words = append(s.words, 0)
	}
	s.words[i] |= 1 << uint((d-s.base)%64)
}

// anyIn reports whether a day of [from, to] is in the set.
func (s *daySet) anyIn(from, to day) bool {
	if len(s.words) == 0 {
		return false
	}
	last := s.base + day(len(s.words))*64 - 1
	from, to = max(from, s.base), min(to, last)
	for from <= to {
		i, lo := int(from-s.base)/64, uint((from-s.base)%64)
		hi := uint(63)
		if wordEnd := s.base + day(i)*64 + 63; to < wordEnd {
			hi = uint((to - s.base) % 64)
		}
		mask := (^uint64(0) >> (63 - hi)) &^ (1<<lo - 1)
		if s.words[i]&mask != 0 {
			return true
		}
		from = s.base + day(i+1)*64
	}
	return false
}

// lastOnOrBefore is the latest day of the set not after d.
func (s *daySet) lastOnOrBefore(d day) (day, bool) {
	if len(s.words) == 0 || d < s.base {
		return 0, false
	}
	i := min(int(d-s.base)/64, len(s.words)-1)
	for ; i >= 0; i-- {
		w := s.words[i]
		if start := s.base + day(i)*64; d < start+63 {
			w &= ^uint64(0) >> (63 - uint(d-start))
		}
		if w != 0 {
			return s.base + day(i)*64 + day(bits.Len64(w)-1), true
		}
	}
	return 0, false
}

// covIndex is the whole history the engine reads. It is changed only by
// apply, under the engine's write lock.
type covIndex struct {
	units        []cUnit
	unitByID     map[string]int32
	order        []int32 // depth-first: every unit after its parent
	roots        []int32
	officers     []cOfficer
	officerByID  map[string]int32
	recorders    []cRecorder
	recorderByID map[string]int32
	plans        map[string]MilestonePlan // by province id
}

func newCovIndex() *covIndex {
	return &covIndex{unitByID: map[string]int32{}, officerByID: map[string]int32{},
		recorderByID: map[string]int32{}, plans: map[string]MilestonePlan{}}
}

// compact moves the histories the counting pass reads into one array
// each, in index order, so that the pass streams through memory instead
// of chasing 130,000 separate slices (it is bound by cache misses, not by
// arithmetic). Slices are capped, so that a later append copies out
// rather than overwriting a neighbour; refreshes replace whole entities
// and leave the arena alone.
func (ix *covIndex) compact() {
	var ns, nw, nv int
	for i := range ix.recorders {
		ns += len(ix.recorders[i].segs)
		nw += len(ix.recorders[i].seen.words)
	}
	for i := range ix.officers {
		nv += len(ix.officers[i].vers)
	}
	segs, words, vers := make([]cSegment, 0, ns), make([]uint64, 0, nw), make([]cVersion, 0, nv)
	for i := range ix.recorders {
		r := &ix.recorders[i]
		at := len(segs)
		segs = append(segs, r.segs...)
		r.segs = segs[at:len(segs):len(segs)]
		at = len(words)
		words = append(words, r.seen.words...)
		r.seen.words = words[at:len(words):len(words)]
	}
	for i := range ix.officers {
		o := &ix.officers[i]
		at := len(vers)
		vers = append(vers, o.vers...)
		o.vers = vers[at:len(vers):len(vers)]
	}
}

// within reports whether unit v lies in u's subtree (u included).
func (ix *covIndex) within(v, u int32) bool {
	return v >= 0 && ix.units[u].tin <= ix.units[v].tin && ix.units[v].tin < ix.units[u].tout
}

// relink rebuilds the tree links after the unit table changed.
func (ix *covIndex) relink() {
	ix.roots = ix.roots[:0]
	for i := range ix.units {
		ix.units[i].children = nil
	}
	for i := range ix.units {
		u := &ix.units[i]
		u.parent = -1
		if p, ok := ix.unitByID[u.ParentID]; ok && u.ParentID != "" {
			u.parent = p
			ix.units[p].children = append(ix.units[p].children, int32(i))
		} else {
			ix.roots = append(ix.roots, int32(i))
		}
	}
	byCode := func(a, b int32) int { return cmp.Compare(ix.units[a].Code, ix.units[b].Code) }
	slices.SortFunc(ix.roots, byCode)
	for i := range ix.units {
		slices.SortFunc(ix.units[i].children, byCode)
	}
	ix.order = ix.order[:0]
	var n int32
	var walk func(u, province int32)
	walk = func(u, province int32) {
		cu := &ix.units[u]
		cu.tin, cu.province = n, province
		n++
		ix.order = append(ix.order, u)
		for _, c := range cu.children {
			walk(c, province)
		}
		ix.units[u].tout = n
	}
	for _, r := range ix.roots {
		walk(r, r)
	}
}

// CoverageBatch receives the register's history from a CoverageSource,
// either all of it (a load) or the full current history of the entities
// that changed (a refresh). The source calls Units first, then announces
// each officer with Officer and each recorder with Recorder before their
// rows: an announcement replaces what the engine knew of that entity.
// Check-ins only ever add. A batch is not safe for concurrent use.
type CoverageBatch struct {
	base      *covIndex // read only here: the index the batch will be applied to
	units     []Unit
	unitsSet  bool
	newUnits  map[string]int32
	offNew    []*cOfficer
	offRepl   map[int32]*cOfficer
	offNewIdx map[string]int32
	recNew    []*cRecorder
	recRepl   map[int32]*cRecorder
	recNewIdx map[string]int32
	checkins  []struct {
		rec int32
		d   day
	}
	plans map[string]MilestonePlan
	rows  int
}

func newBatch(base *covIndex) *CoverageBatch {
	return &CoverageBatch{base: base, newUnits: map[string]int32{}, offRepl: map[int32]*cOfficer{},
		offNewIdx: map[string]int32{}, recRepl: map[int32]*cRecorder{}, recNewIdx: map[string]int32{},
		plans: map[string]MilestonePlan{}}
}

// Rows is how many rows the batch received, for logs.
func (b *CoverageBatch) Rows() int { return b.rows }

// Units replaces the unit tree.
func (b *CoverageBatch) Units(us []Unit) {
	b.rows += len(us)
	b.units, b.unitsSet = us, true
	next := int32(len(b.base.units))
	for _, u := range us {
		if _, ok := b.base.unitByID[u.ID]; !ok {
			if _, ok := b.newUnits[u.ID]; !ok {
				b.newUnits[u.ID] = next
				next++
			}
		}
	}
}

func (b *CoverageBatch) unitRef(id string) int32 {
	if i, ok := b.base.unitByID[id]; ok {
		return i
	}
	if i, ok := b.newUnits[id]; ok {
		return i
	}
	return -1
}

// officerRef returns the index of officer id, giving a new officer one.
func (b *CoverageBatch) officerRef(id string) int32 {
	if i, ok := b.base.officerByID[id]; ok {
		return i
	}
	if i, ok := b.offNewIdx[id]; ok {
		return i
	}
	i := int32(len(b.base.officers) + len(b.offNew))
	b.offNew = append(b.offNew, &cOfficer{id: id})
	b.offNewIdx[id] = i
	return i
}

// officer returns the batch's copy of officer id, starting an empty one
// (which replaces the index's) on first touch.
func (b *CoverageBatch) officer(id string) *cOfficer {
	i := b.officerRef(id)
	if n := int(i) - len(b.base.officers); n >= 0 {
		return b.offNew[n]
	}
	o, ok := b.offRepl[i]
	if !ok {
		old := &b.base.officers[i]
		o = &cOfficer{id: id, name: old.name, badge: old.badge}
		b.offRepl[i] = o
	}
	return o
}

// Officer announces an officer; its versions follow.
func (b *CoverageBatch) Officer(id, name, badgeNo string) {
	b.rows++
	o := b.officer(id)
	o.name, o.badge = name, badgeNo
}

// OfficerVersion adds one version of an officer's history; ord orders the
// versions recorded for the same day at the same instant (the store's
// insertion order).
func (b *CoverageBatch) OfficerVersion(v OfficerVersion, ord int64) {
	b.rows++
	o := b.officer(v.OfficerID)
	from, until := eligibleSpan(v.OfficerState)
	o.pending = append(o.pending, pendingVersion{v: cVersion{eff: dayOf(v.EffectiveOn), unit: b.unitRef(v.UnitID),
		from: from, until: until}, recAt: v.RecordedAt.UnixMilli(), ord: ord, state: v.OfficerState})
}

func (b *CoverageBatch) recorderRef(id string, create bool) int32 {
	if i, ok := b.base.recorderByID[id]; ok {
		return i
	}
	if i, ok := b.recNewIdx[id]; ok {
		return i
	}
	if !create {
		return -1
	}
	i := int32(len(b.base.recorders) + len(b.recNew))
	b.recNew = append(b.recNew, &cRecorder{id: id})
	b.recNewIdx[id] = i
	return i
}

func (b *CoverageBatch) recorder(id string) *cRecorder {
	i := b.recorderRef(id, true)
	if n := int(i) - len(b.base.recorders); n >= 0 {
		return b.recNew[n]
	}
	r, ok := b.recRepl[i]
	if !ok {
		old := &b.base.recorders[i]
		r = &cRecorder{id: id, serial: old.serial, model: old.model}
		b.recRepl[i] = r
	}
	return r
}

// Recorder announces a recorder; its lifecycle changes and assignments
// follow. Other kinds of device do not count toward coverage.
func (b *CoverageBatch) Recorder(id, serial, model string) {
	b.rows++
	r := b.recorder(id)
	r.serial, r.model = serial, model
}

// DeviceChange adds one lifecycle change of a recorder; ord orders changes
// of the same millisecond. Rows of devices that were not announced as
// recorders are ignored, so a source may send every device's rows.
func (b *CoverageBatch) DeviceChange(c DeviceChange, ord int64) {
	b.rows++
	if b.recorderRef(c.DeviceID, false) < 0 {
		return
	}
	r := b.recorder(c.DeviceID)
	r.changes = append(r.changes, cChange{at: c.At.UnixMilli(), ord: ord, unit: b.unitRef(c.UnitID), status: statusCodes[c.Status]})
}

// Assignment adds one assignment of a recorder (others are ignored, as in
// DeviceChange).
func (b *CoverageBatch) Assignment(a Assignment) {
	b.rows++
	if b.recorderRef(a.DeviceID, false) < 0 {
		return
	}
	end := int64(math.MaxInt64)
	if a.EndAt != nil {
		end = a.EndAt.UnixMilli()
	}
	off := b.officerRef(a.OfficerID)
	r := b.recorder(a.DeviceID)
	r.asgs = append(r.asgs, cAssignment{start: a.StartAt.UnixMilli(), end: end, officer: off})
}

// Checkin adds a day on which a device was heard from; days of devices
// that are not recorders are ignored.
func (b *CoverageBatch) Checkin(deviceID string, d Date) {
	b.rows++
	if i := b.recorderRef(deviceID, false); i >= 0 {
		b.checkins = append(b.checkins, struct {
			rec int32
			d   day
		}{i, dayOf(d)})
	}
}

// Plan sets a province's milestone plan.
func (b *CoverageBatch) Plan(p MilestonePlan) {
	b.rows++
	b.plans[p.ProvinceID] = p
}

// Empty reports whether the batch changes nothing.
func (b *CoverageBatch) Empty() bool {
	return !b.unitsSet && len(b.offNew) == 0 && len(b.offRepl) == 0 && len(b.recNew) == 0 &&
		len(b.recRepl) == 0 && len(b.checkins) == 0 && len(b.plans) == 0
}

// historyChanged reports whether the batch changes anything but check-ins.
func (b *CoverageBatch) historyChanged() bool {
	return b.unitsSet || len(b.offNew) > 0 || len(b.offRepl) > 0 || len(b.recNew) > 0 ||
		len(b.recRepl) > 0 || len(b.plans) > 0
}

// prepare sorts the histories the batch holds. It runs before the write
// lock is taken, so that readers wait only for apply.
func (b *CoverageBatch) prepare() {
	sortOfficer := func(o *cOfficer) {
		slices.SortStableFunc(o.pending, func(x, y pendingVersion) int {
			return cmp.Or(cmp.Compare(x.v.eff, y.v.eff), cmp.Compare(x.recAt, y.recAt), cmp.Compare(x.ord, y.ord))
		})
		o.vers, o.states = make([]cVersion, len(o.pending)), make([]OfficerState, len(o.pending))
		for i, p := range o.pending {
			o.vers[i], o.states[i] = p.v, p.state
		}
		o.pending = nil
	}
	sortRecorder := func(r *cRecorder) {
		slices.SortStableFunc(r.changes, func(x, y cChange) int {
			return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.ord, y.ord))
		})
		slices.SortStableFunc(r.asgs, func(x, y cAssignment) int { return cmp.Compare(x.start, y.start) })
		r.segment()
	}
	for _, o := range b.offNew {
		sortOfficer(o)
	}
	for _, o := range b.offRepl {
		sortOfficer(o)
	}
	for _, r := range b.recNew {
		sortRecorder(r)
	}
	for _, r := range b.recRepl {
		sortRecorder(r)
	}
}

// apply writes the batch into its base index.
func (b *CoverageBatch) apply() {
	ix := b.base
	if b.unitsSet {
		grown := make([]cUnit, len(ix.units)+len(b.newUnits))
		copy(grown, ix.units)
		for _, u := range b.units {
			i := b.unitRef(u.ID)
			grown[i] = cUnit{Unit: u}
			ix.unitByID[u.ID] = i
		}
		ix.units = grown
		ix.relink()
	}
	for _, o := range b.offNew {
		ix.officerByID[o.id] = int32(len(ix.officers))
		ix.officers = append(ix.officers, *o)
	}
	for i, o := range b.offRepl {
		ix.officers[i] = *o
	}
	for _, r := range b.recNew {
		ix.recorderByID[r.id] = int32(len(ix.recorders))
		ix.recorders = append(ix.recorders, *r)
	}
	for i, r := range b.recRepl {
		r.seen = ix.recorders[i].seen // check-ins are not part of a refresh
		ix.recorders[i] = *r
	}
	for _, c := range b.checkins {
		ix.recorders[c.rec].seen.add(c.d)
	}
	for id, p := range b.plans {
		ix.plans[id] = p
	}
}
