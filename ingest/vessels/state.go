package vessels

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/lawfleet/fleet/devices/ais"
	"github.com/lawfleet/fleet/ingest/series"
)

// maxMMSI is the largest MMSI a station can have: nine digits.
const maxMMSI = 999_999_999

// Vessel is what the service knows of one vessel (GET /api/v1/vessels):
// its latest position and the static data it last sent. Absent values are
// null (lat, lon) or left out. TS is when the position was received,
// LastSeen when any message of the vessel was.
type Vessel struct {
	MMSI        string    `json:"mmsi"`
	Name        string    `json:"name,omitempty"`
	CallSign    string    `json:"callsign,omitempty"`
	IMO         *int      `json:"imo,omitempty"`
	ShipType    *int      `json:"shiptype,omitempty"` // ITU-R M.1371 ship and cargo type, 1–99
	Lat         *float64  `json:"lat"`
	Lon         *float64  `json:"lon"`
	SpeedKn     *float64  `json:"speed_kn,omitempty"`
	CourseDeg   *float64  `json:"course_deg,omitempty"`
	HeadingDeg  *int      `json:"heading_deg,omitempty"`
	Status      *int      `json:"status,omitempty"` // navigational status, 0–15 (class A only)
	TS          time.Time `json:"ts,omitzero"`
	LastSeen    time.Time `json:"last_seen"`
	Enforcement bool      `json:"enforcement"`
	DeviceID    string    `json:"device_id,omitempty"` // the AIS unit of an enforcement vessel
	LengthM     *int      `json:"length_m,omitempty"`
	WidthM      *int      `json:"width_m,omitempty"`
	DraughtM    *float64  `json:"draught_m,omitempty"`
	Destination string    `json:"destination,omitempty"`
}

// BBox is a bounding box in WGS-84 degrees; edges are inside. It does not
// cross the antimeridian.
type BBox struct {
	MinLon, MinLat, MaxLon, MaxLat float64
}

// Contains reports whether the point lies in b.
func (b BBox) Contains(lat, lon float64) bool {
	return lon >= b.MinLon && lon <= b.MaxLon && lat >= b.MinLat && lat <= b.MaxLat
}

// MaxList bounds one answer of Vessels.
const MaxList = 10000

// Filter selects vessels of the live view.
type Filter struct {
	BBox        *BBox  // only vessels with a position inside; nil: all, with or without a position
	Enforcement *bool  // only enforcement vessels (true) or only the others (false)
	After       uint32 // only MMSIs above this: the cursor of the previous page
	Limit       int    // at most this many, 1 to MaxList; 0 means MaxList
}

// Vessels returns the vessels heard within LiveFor that match f, by MMSI,
// and whether more match beyond the limit.
func (t *Tracker) Vessels(f Filter) (items []Vessel, more bool) {
	limit := f.Limit
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	cutoff := t.now().Add(-t.cfg.LiveFor)
	s := t.state
	s.mu.RLock()
	defer s.mu.RUnlock()
	var match []*vessel
	for _, v := range s.byMMSI {
		switch {
		case v.mmsi <= f.After, v.lastSeen.Before(cutoff):
		case f.Enforcement != nil && v.enforcement != *f.Enforcement:
		case f.BBox != nil && (!v.hasPos || !f.BBox.Contains(v.pos.lat, v.pos.lon)):
		default:
			match = append(match, v)
		}
	}
	slices.SortFunc(match, func(a, b *vessel) int { return cmp.Compare(a.mmsi, b.mmsi) })
	if len(match) > limit {
		match, more = match[:limit], true
	}
	items = make([]Vessel, len(match))
	for i, v := range match {
		items[i] = v.view()
	}
	return items, more
}

// Vessel returns one vessel of the live view.
func (t *Tracker) Vessel(mmsi uint32) (Vessel, bool) {
	s := t.state
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := s.byMMSI[mmsi]
	if v == nil || v.lastSeen.Before(t.now().Add(-t.cfg.LiveFor)) {
		return Vessel{}, false
	}
	return v.view(), true
}

// position is one position report that passed the sanity checks.
type position struct {
	lat, lon   float64
	speedKn    ais.Opt[float64]
	courseDeg  ais.Opt[float64]
	headingDeg ais.Opt[uint16]
	status     ais.Opt[uint8]
}

// vessel is the state of one MMSI. Values are kept as the decoder gives
// them (absent is absent) and turned into pointers only for the API.
type vessel struct {
	mmsi uint32
	tags map[string]string // series tags, shared read-only by all its points

	pos      position
	hasPos   bool
	posAt    time.Time
	lastSeen time.Time

	name, callSign, destination string
	imo                         ais.Opt[uint32]
	shipType                    ais.Opt[uint8]
	lengthM, widthM             ais.Opt[uint16]
	draughtM                    ais.Opt[float64]

	enforcement bool
	deviceID    string

	prev, next *vessel // recency list, most recently heard at head
}

func (v *vessel) view() Vessel {
	out := Vessel{
		MMSI: FormatMMSI(v.mmsi), Name: v.name, CallSign: v.callSign, Destination: v.destination,
		IMO: intPtr(v.imo), ShipType: intPtr(v.shipType), LengthM: intPtr(v.lengthM), WidthM: intPtr(v.widthM),
		DraughtM: ptr(v.draughtM), LastSeen: v.lastSeen, Enforcement: v.enforcement, DeviceID: v.deviceID,
	}
	if v.hasPos {
		lat, lon := v.pos.lat, v.pos.lon
		out.Lat, out.Lon, out.TS = &lat, &lon, v.posAt
		out.SpeedKn, out.CourseDeg = ptr(v.pos.speedKn), ptr(v.pos.courseDeg)
		out.HeadingDeg, out.Status = intPtr(v.pos.headingDeg), intPtr(v.pos.status)
	}
	return out
}

func ptr[T any](o ais.Opt[T]) *T {
	if !o.Valid {
		return nil
	}
	v := o.V
	return &v
}

func intPtr[T uint8 | uint16 | uint32](o ais.Opt[T]) *int {
	if !o.Valid {
		return nil
	}
	v := int(o.V)
	return &v
}

func some[T any](v T) ais.Opt[T] { return ais.Opt[T]{V: v, Valid: true} }

// merge takes the static data of a type 5, 19, 21 or 24 message. Absent,
// empty and "not available" values leave what is known.
func (v *vessel) merge(m *ais.Message) {
	name := m.ShipName
	if m.Type == 21 {
		name = m.Name // an aid to navigation's name, extension included
	}
	setText(&v.name, name)
	setText(&v.callSign, m.CallSign)
	setText(&v.destination, m.Destination)
	if x, ok := m.IMO.Get(); ok && x >= 1_000_000 && x <= 9_999_999 { // IMO numbers have 7 digits
		v.imo = some(x)
	}
	if x, ok := m.ShipType.Get(); ok && x != 0 {
		v.shipType = some(x)
	}
	if m.ToBowM.Valid && m.ToSternM.Valid {
		if l := m.ToBowM.V + m.ToSternM.V; l > 0 {
			v.lengthM = some(l)
		}
	}
	if m.ToPortM.Valid && m.ToStarboardM.Valid {
		if w := uint16(m.ToPortM.V) + uint16(m.ToStarboardM.V); w > 0 {
			v.widthM = some(w)
		}
	}
	if x, ok := m.DraughtM.Get(); ok && x > 0 {
		v.draughtM = some(x)
	}
}

func setText(dst *string, o ais.Opt[string]) {
	if s, ok := o.Get(); ok && s != "" && s != *dst {
		*dst = s
	}
}

// reason is why a position was not stored.
type reason uint8

const (
	reasonNone       reason = iota
	reasonTruncated         // the payload ended before the standard length
	reasonNoPosition        // latitude or longitude not available
	reasonOutOfRange        // outside WGS-84, or 0°N 0°E (a unit with no fix)
	reasonBadMMSI           // MMSI 0 or above nine digits
	reasons                 // count
)

var reasonNames = [reasons]string{"", "truncated", "no_position", "out_of_range", "bad_mmsi"}

// carries tells which message types update a vessel: with a position,
// with static data, or both. Base stations (4, 11) and SAR aircraft (9)
// are not vessels.
func carries(typ uint8) (pos, static bool) {
	switch typ {
	case 1, 2, 3, 18, 27:
		return true, false
	case 19, 21:
		return true, true
	case 5, 24:
		return false, true
	}
	return false, false
}

// positionOf applies the sanity checks every stored position passes.
func positionOf(m *ais.Message) (position, reason) {
	if m.Truncated {
		return position{}, reasonTruncated
	}
	lat, lon, ok := m.Position()
	if !ok {
		return position{}, reasonNoPosition
	}
	if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) || (lat == 0 && lon == 0) {
		return position{}, reasonOutOfRange
	}
	return position{lat: lat, lon: lon, speedKn: m.SpeedKnots, courseDeg: m.CourseDeg,
		headingDeg: m.HeadingDeg, status: m.Status}, reasonNone
}

// apply updates the vessel of m and returns the history point of its
// position, if it carries a new one.
func (t *Tracker) apply(u *units, deviceID string, m *ais.Message, at time.Time) (series.Point, bool) {
	hasPos, hasStatic := carries(m.Type)
	if m.Undecoded || (!hasPos && !hasStatic) {
		return series.Point{}, false
	}
	if m.MMSI == 0 || m.MMSI > maxMMSI {
		t.m.rejected[reasonBadMMSI].Inc()
		return series.Point{}, false
	}
	var p position
	if hasPos {
		var r reason
		if p, r = positionOf(m); r != reasonNone {
			t.m.rejected[r].Inc()
			hasPos = false
		}
	}
	if !hasPos && !hasStatic {
		return series.Point{}, false
	}

	s := t.state
	s.mu.Lock()
	deviceID, enforcement := s.enforcement(u, deviceID, m)
	v, evicted := s.upsert(m.MMSI, at)
	v.enforcement, v.deviceID = enforcement, deviceID
	if hasStatic {
		v.merge(m)
	}
	store := false
	if hasPos {
		d := at.Sub(v.posAt)
		store = !v.hasPos || v.pos != p || d >= t.cfg.DedupWindow || d <= -t.cfg.DedupWindow
		if !v.hasPos || !at.Before(v.posAt) { // a late report goes to history only
			v.pos, v.posAt, v.hasPos = p, at, true
		}
	}
	tags := v.tags
	s.mu.Unlock()

	if evicted > 0 {
		t.m.vesselsEvicted[evictCap].Add(float64(evicted))
	}
	if !store {
		if hasPos {
			t.m.duplicates.Inc()
		}
		return series.Point{}, false
	}
	return vesselPoint(tags, &p, enforcement, at), true
}

// vesselPoint is the history point of a position (see series.Vessel).
func vesselPoint(tags map[string]string, p *position, enforcement bool, at time.Time) series.Point {
	f := make(map[string]any, 7)
	f["lat"], f["lon"] = p.lat, p.lon
	if x, ok := p.speedKn.Get(); ok {
		f["speed_kn"] = x
	}
	if x, ok := p.courseDeg.Get(); ok {
		f["course_deg"] = x
	}
	if x, ok := p.headingDeg.Get(); ok {
		f["heading_deg"] = float64(x) // float, as the telemetry's heading_deg
	}
	if x, ok := p.status.Get(); ok {
		f["status"] = int64(x)
	}
	f["enforcement"] = enforcement
	return series.Point{Measurement: series.Vessel, Tags: tags, Fields: f, Time: at}
}

// state is the vessels by MMSI, in a recency list for eviction, and the
// own-ship MMSIs the registered units reported.
type state struct {
	mu         sync.RWMutex
	max        int
	byMMSI     map[uint32]*vessel
	head, tail *vessel

	// One own-ship MMSI per registered unit, learnt from its VDO reports,
	// so that other receivers' reports of that vessel are marked too.
	// Bounded by the number of units: only registered units add entries.
	ownByDevice map[string]uint32
	ownByMMSI   map[uint32]string
}

func newState(max int) *state {
	return &state{max: max, byMMSI: make(map[uint32]*vessel),
		ownByDevice: make(map[string]uint32), ownByMMSI: make(map[uint32]string)}
}

// enforcement tells whether m's vessel is an enforcement vessel and which
// AIS unit it carries: an MMSI registered on a unit, a unit's own-ship
// report, or an MMSI a unit reported as its own earlier. Called with mu
// held.
func (s *state) enforcement(u *units, deviceID string, m *ais.Message) (string, bool) {
	if id, ok := u.byMMSI[m.MMSI]; ok {
		return id, true
	}
	if m.Own && deviceID != "" && u.ids[deviceID] {
		if old, ok := s.ownByDevice[deviceID]; !ok || old != m.MMSI {
			if ok && s.ownByMMSI[old] == deviceID {
				delete(s.ownByMMSI, old)
			}
			s.ownByDevice[deviceID] = m.MMSI
			s.ownByMMSI[m.MMSI] = deviceID
		}
		return deviceID, true
	}
	if id, ok := s.ownByMMSI[m.MMSI]; ok && u.ids[id] {
		return id, true
	}
	return "", false
}

// upsert returns mmsi's vessel, heard at at, creating it and evicting the
// least recently heard vessels to stay within max. Called with mu held.
func (s *state) upsert(mmsi uint32, at time.Time) (v *vessel, evicted int) {
	if v = s.byMMSI[mmsi]; v != nil {
		s.unlink(v)
		s.pushFront(v)
		if at.After(v.lastSeen) {
			v.lastSeen = at
		}
		return v, 0
	}
	for len(s.byMMSI) >= s.max && s.tail != nil {
		s.remove(s.tail)
		evicted++
	}
	v = &vessel{mmsi: mmsi, tags: map[string]string{"mmsi": FormatMMSI(mmsi)}, lastSeen: at}
	s.byMMSI[mmsi] = v
	s.pushFront(v)
	return v, evicted
}

// sweep drops the vessels not heard since LiveFor before now and returns
// how many. The recency list is in order of arrival, so it stops at the
// first vessel heard since.
func (t *Tracker) sweep(now time.Time) int {
	cutoff := now.Add(-t.cfg.LiveFor)
	s := t.state
	s.mu.Lock()
	n := 0
	for s.tail != nil && s.tail.lastSeen.Before(cutoff) {
		s.remove(s.tail)
		n++
	}
	s.mu.Unlock()
	if n > 0 {
		t.m.vesselsEvicted[evictSilent].Add(float64(n))
	}
	return n
}

func (s *state) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byMMSI)
}

func (s *state) remove(v *vessel) {
	s.unlink(v)
	delete(s.byMMSI, v.mmsi)
}

func (s *state) pushFront(v *vessel) {
	v.prev, v.next = nil, s.head
	if s.head != nil {
		s.head.prev = v
	}
	s.head = v
	if s.tail == nil {
		s.tail = v
	}
}

func (s *state) unlink(v *vessel) {
	if v.prev != nil {
		v.prev.next = v.next
	} else {
		s.head = v.next
	}
	if v.next != nil {
		v.next.prev = v.prev
	} else {
		s.tail = v.prev
	}
	v.prev, v.next = nil, nil
}
