package vessels

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/series"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func num(v any) float64 { f, _ := v.(float64); return f }

// TestReferenceSentences feeds sentences of the reference cases (types 1,
// 5, 18, 19, 21, 24A+B) and checks the vessel state against the values
// gpsd decoded for them.
func TestReferenceSentences(t *testing.T) {
	cases := loadCases(t)
	for _, id := range []string{"gpsd-sample-001", "gpsd-sample-006", "gpsd-sample-045", "gpsd-sample-048",
		"gpsd-sample-051", "gpsd-sample-055"} {
		t.Run(id, func(t *testing.T) {
			c, ok := cases[id]
			if !ok {
				t.Fatalf("case %s is missing", id)
			}
			want := c.Expected
			e := newEnv(t, Config{}, nil)
			e.feed(t, "dev_ais1", c.Sentences...)
			v := e.vessel(t, uint32(num(want["mmsi"])))

			if v.MMSI != FormatMMSI(uint32(num(want["mmsi"]))) || v.Enforcement || v.DeviceID != "" {
				t.Errorf("identity: %+v", v)
			}
			_, hasPos := want["lat"]
			if hasPos {
				if v.Lat == nil || v.Lon == nil || !near(*v.Lat, num(want["lat"])) || !near(*v.Lon, num(want["lon"])) {
					t.Errorf("position %v,%v; want %v,%v", v.Lat, v.Lon, want["lat"], want["lon"])
				}
				if !v.TS.Equal(testNow) {
					t.Errorf("ts %v", v.TS)
				}
			} else if v.Lat != nil || v.Lon != nil || !v.TS.IsZero() {
				t.Errorf("static data only, yet position %v,%v at %v", v.Lat, v.Lon, v.TS)
			}
			if s, ok := want["speed"]; ok && (v.SpeedKn == nil || !near(*v.SpeedKn, num(s))) {
				t.Errorf("speed_kn %v, want %v", v.SpeedKn, s)
			}
			if s, ok := want["course"]; ok && (v.CourseDeg == nil || !near(*v.CourseDeg, num(s))) {
				t.Errorf("course_deg %v, want %v", v.CourseDeg, s)
			}
			if h, ok := want["heading"]; ok {
				if num(h) == 511 && v.HeadingDeg != nil {
					t.Errorf("heading 511 (not available) kept as %d", *v.HeadingDeg)
				} else if num(h) != 511 && (v.HeadingDeg == nil || *v.HeadingDeg != int(num(h))) {
					t.Errorf("heading_deg %v, want %v", v.HeadingDeg, h)
				}
			}
			if s, ok := want["status"]; ok && (v.Status == nil || *v.Status != int(num(s))) {
				t.Errorf("status %v, want %v", v.Status, s)
			}
			name := want["shipname"]
			if n, ok := want["name"]; ok {
				name = n
			}
			if name != nil && v.Name != name {
				t.Errorf("name %q, want %q", v.Name, name)
			}
			if cs, ok := want["callsign"]; ok && v.CallSign != cs {
				t.Errorf("callsign %q, want %q", v.CallSign, cs)
			}
			if imo, ok := want["imo"]; ok && num(imo) != 0 && (v.IMO == nil || *v.IMO != int(num(imo))) {
				t.Errorf("imo %v, want %v", v.IMO, imo)
			}
			if st, ok := want["shiptype"]; ok && (v.ShipType == nil || *v.ShipType != int(num(st))) {
				t.Errorf("shiptype %v, want %v", v.ShipType, st)
			}
			if _, ok := want["to_bow"]; ok {
				l, w := int(num(want["to_bow"])+num(want["to_stern"])), int(num(want["to_port"])+num(want["to_starboard"]))
				if v.LengthM == nil || *v.LengthM != l || v.WidthM == nil || *v.WidthM != w {
					t.Errorf("length %v width %v, want %d, %d", v.LengthM, v.WidthM, l, w)
				}
			}
			if d, ok := want["destination"]; ok && v.Destination != d {
				t.Errorf("destination %q, want %q", v.Destination, d)
			}
			if d, ok := want["draught"]; ok && (v.DraughtM == nil || !near(*v.DraughtM, num(d))) {
				t.Errorf("draught_m %v, want %v", v.DraughtM, d)
			}

			// History: one point per position, tagged with the MMSI only.
			points := e.w.all()
			if !hasPos {
				if len(points) != 0 {
					t.Fatalf("static data wrote %d points", len(points))
				}
				return
			}
			if len(points) != 1 {
				t.Fatalf("%d points, want 1", len(points))
			}
			p := points[0]
			if p.Measurement != series.Vessel || len(p.Tags) != 1 || p.Tags["mmsi"] != v.MMSI || !p.Time.Equal(testNow) {
				t.Errorf("point %+v", p)
			}
			if !near(p.Fields["lat"].(float64), *v.Lat) || !near(p.Fields["lon"].(float64), *v.Lon) ||
				p.Fields["enforcement"] != false {
				t.Errorf("fields %v", p.Fields)
			}
			if _, ok := p.Fields["heading_deg"]; ok != (v.HeadingDeg != nil) {
				t.Errorf("heading_deg field %v with heading %v", p.Fields["heading_deg"], v.HeadingDeg)
			}
		})
	}
}

// TestStaticMerge: a position and the static data of types 5 and 24
// arrive in separate payloads and end up on one vessel; later static data
// overrides, absent values keep what was known.
func TestStaticMerge(t *testing.T) {
	cases := loadCases(t)
	e := newEnv(t, Config{}, nil)

	// EVER DIADEM (type 5 of the reference cases) under way in the
	// Yangtze estuary.
	e.feed(t, "dev_ais1", report{mmsi: 351759000, status: 0, lat: 31.2, lon: 121.9, speedKn: 14.2, courseDeg: 95.5, headingDeg: 96}.sentence(false))
	e.clock.Advance(time.Second)
	e.feed(t, "dev_ais1", cases["gpsd-sample-006"].Sentences...)
	v := e.vessel(t, 351759000)
	if v.Name != "EVER DIADEM" || v.CallSign != "3FOF8" || v.IMO == nil || *v.IMO != 9134270 || v.Destination != "NEW YORK" ||
		v.ShipType == nil || *v.ShipType != 70 || v.LengthM == nil || *v.LengthM != 295 || v.WidthM == nil || *v.WidthM != 32 ||
		v.DraughtM == nil || *v.DraughtM != 12.2 {
		t.Errorf("static data not merged: %+v", v)
	}
	if v.Lat == nil || *v.Lat != 31.2 || v.SpeedKn == nil || *v.SpeedKn != 14.2 || v.HeadingDeg == nil || *v.HeadingDeg != 96 ||
		v.Status == nil || *v.Status != 0 || !v.TS.Equal(testNow) || !v.LastSeen.Equal(testNow.Add(time.Second)) {
		t.Errorf("position lost or moved by static data: %+v", v)
	}

	// Class B: 24A (name) and 24B (call sign, type, dimensions) in two
	// payloads, then a type 18 position of the same vessel.
	ab := cases["gpsd-sample-055"].Sentences
	e.feed(t, "dev_ais1", ab[0])
	if v := e.vessel(t, 271041815); v.Name != "PROGUY" || v.CallSign != "" || v.Lat != nil {
		t.Errorf("after 24A: %+v", v)
	}
	e.feed(t, "dev_ais1", ab[1])
	e.feed(t, "dev_ais1", report{typ: 18, mmsi: 271041815, lat: 41.0, lon: 29.0, speedKn: 3, courseDeg: 10, headingDeg: 511}.sentence(false))
	v = e.vessel(t, 271041815)
	if v.Name != "PROGUY" || v.CallSign != "TC6163" || v.ShipType == nil || *v.ShipType != 60 || *v.LengthM != 15 || *v.WidthM != 5 ||
		v.Lat == nil || *v.Lat != 41 || v.HeadingDeg != nil || v.Status != nil {
		t.Errorf("24A + 24B + 18: %+v", v)
	}

	// A type 5 with IMO 0 and no destination (not available) keeps what
	// an earlier one said.
	e.feed(t, "dev_ais1", cases["gpsd-sample-067"].Sentences...)
	first := e.vessel(t, 271010059)
	if first.IMO != nil || first.Destination != "" || first.Name != "HEALTH CONTROL 13" {
		t.Errorf("type 5 with IMO 0: %+v", first)
	}
}

// TestReassemblyPerSource: fragments are matched within one source only.
// Two units send the same sequence id on the same channel, interleaved.
func TestReassemblyPerSource(t *testing.T) {
	cases := loadCases(t)
	a, b := cases["gpsd-sample-006"].Sentences, cases["gpsd-sample-067"].Sentences
	// Give the second message the first one's sequence id and channel,
	// so that only the source tells them apart.
	b = []string{resequence(b[0], "1", "A"), resequence(b[1], "1", "A")}

	e := newEnv(t, Config{}, nil)
	e.feed(t, "dev_a", a[0])
	e.feed(t, "dev_b", b[0])
	e.feed(t, "dev_a", a[1])
	e.feed(t, "dev_b", b[1])
	if v := e.vessel(t, 351759000); v.Name != "EVER DIADEM" {
		t.Errorf("dev_a's message: %+v", v)
	}
	if v := e.vessel(t, 271010059); v.Name != "HEALTH CONTROL 13" {
		t.Errorf("dev_b's message: %+v", v)
	}
	if n := e.metric(t, "fleet_ais_bad_input_total"); n != 0 {
		t.Errorf("%v bad input counted", n)
	}

	// A part 2 from another source than its part 1 is an orphan there,
	// and the part 1 still completes with its own part 2.
	e2 := newEnv(t, Config{}, nil)
	e2.feed(t, "dev_a", a[0])
	e2.feed(t, "dev_b", a[1])
	if n := e2.metric(t, "fleet_ais_bad_input_total", "kind", "orphan"); n != 1 {
		t.Errorf("orphans = %v, want 1", n)
	}
	if _, ok := e2.tr.Vessel(351759000); ok {
		t.Error("message assembled across sources")
	}
	e2.feed(t, "dev_a", a[1])
	if v := e2.vessel(t, 351759000); v.Name != "EVER DIADEM" {
		t.Errorf("after its own part 2: %+v", v)
	}
	if n := e2.metric(t, "fleet_ais_lines_total", "transport", "mqtt"); n != 3 {
		t.Errorf("lines = %v, want 3", n)
	}
}

// resequence sets the sequence id and channel of a sentence and fixes
// its checksum.
func resequence(s, seq, channel string) string {
	body := strings.TrimPrefix(s[:strings.LastIndexByte(s, '*')], "!")
	f := strings.Split(body, ",")
	f[3], f[4] = seq, channel
	return frame(strings.Join(f, ","))
}

// TestBadInput: each kind of bad input is counted under its kind and
// skipped; none becomes a vessel or a point.
func TestBadInput(t *testing.T) {
	cases := loadCases(t)
	good := cases["gpsd-sample-001"].Sentences[0] // !AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A
	type5 := cases["gpsd-sample-006"].Sentences
	payload := func(s string) string { return strings.Split(s, ",")[5] }
	part := func(total, num, seq int, p string, fill int) string {
		return frame("AIVDM," + itoa(total) + "," + itoa(num) + "," + itoa(seq) + ",A," + p + "," + itoa(fill))
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		counter string // metric
		label   string // its kind or reason
	}{
		{"bad checksum", []string{strings.Replace(good, "*4A", "*4B", 1)}, "fleet_ais_bad_input_total", "checksum"},
		{"missing checksum", []string{good[:strings.LastIndexByte(good, '*')]}, "fleet_ais_bad_input_total", "checksum"},
		{"truncated payload", []string{part(1, 1, 0, "15RTg", 0)}, "fleet_ais_bad_input_total", "truncated"},
		{"unknown type 0", []string{part(1, 1, 0, "0"+payload(good)[1:], 0)}, "fleet_ais_bad_input_total", "unknown_type"},
		{"unknown type 63", []string{part(1, 1, 0, "w"+payload(good)[1:], 0)}, "fleet_ais_bad_input_total", "unknown_type"},
		{"part 2 without part 1", []string{type5[1]}, "fleet_ais_bad_input_total", "orphan"},
		{"out-of-order parts", []string{part(3, 1, 7, payload(type5[0]), 0), part(3, 3, 7, "0000", 0)}, "fleet_ais_bad_input_total", "out_of_order"},
		{"first part twice", []string{type5[0], type5[0]}, "fleet_ais_bad_input_total", "incomplete"},
		{"malformed", []string{frame("AIVDM,1,1,,A")}, "fleet_ais_bad_input_total", "malformed"},
		{"position cut short", []string{part(1, 1, 0, payload(good)[:20], 0)}, "fleet_ais_positions_rejected_total", "truncated"},
		{"no position (lat 91, lon 181)", []string{report{mmsi: 412000009, lat: 91, lon: 181, headingDeg: 511}.sentence(false)}, "fleet_ais_positions_rejected_total", "no_position"},
		{"0N 0E", []string{report{mmsi: 412000009, lat: 0, lon: 0, headingDeg: 511}.sentence(false)}, "fleet_ais_positions_rejected_total", "out_of_range"},
		{"MMSI 0", []string{report{mmsi: 0, lat: 30, lon: 120, headingDeg: 511}.sentence(false)}, "fleet_ais_positions_rejected_total", "bad_mmsi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{}, nil)
			e.feed(t, "dev_ais1", tc.lines...)
			kind := "kind"
			if strings.Contains(tc.counter, "rejected") {
				kind = "reason"
			}
			if n := e.metric(t, tc.counter, kind, tc.label); n != 1 {
				t.Errorf("%s{%s=%q} = %v, want 1", tc.counter, kind, tc.label, n)
			}
			if items, _ := e.tr.Vessels(Filter{}); len(items) != 0 {
				t.Errorf("stored %+v", items)
			}
			if ps := e.w.all(); len(ps) != 0 {
				t.Errorf("wrote %+v", ps)
			}
			// The source's decoder goes on with the next good line.
			e.feed(t, "dev_ais1", good)
			if len(e.w.all()) != 1 {
				t.Error("good line after bad input not stored")
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// TestUndecodedAndNonVessels: types the decoder does not decode, base
// stations and SAR aircraft are counted, not tracked.
func TestUndecodedAndNonVessels(t *testing.T) {
	cases := loadCases(t)
	e := newEnv(t, Config{}, nil)
	var lines []string
	for _, c := range cases {
		if c.Expect == "decode" && (c.Type == 4 || c.Type == 9 || c.Type == 8 || c.Type == 6) {
			lines = append(lines, c.Sentences...)
		}
	}
	if len(lines) == 0 {
		t.Fatal("no type 4, 6, 8 or 9 case")
	}
	e.feed(t, "dev_ais1", lines...)
	if items, _ := e.tr.Vessels(Filter{}); len(items) != 0 {
		t.Errorf("tracked %d non-vessels", len(items))
	}
	if e.metric(t, "fleet_ais_messages_total") == 0 {
		t.Error("messages not counted")
	}
}

// TestEnforcement: a registered AIS unit's MMSI and a unit's own-ship
// reports mark enforcement vessels, in the state and in the history.
func TestEnforcement(t *testing.T) {
	r := newRegistry(t)
	withMMSI := r.aisUnit(t, "AIS-0001", "412000001")
	noMMSI := r.aisUnit(t, "AIS-0002", "")
	e := newEnv(t, Config{}, r.reg)

	// The unit's MMSI heard by another unit.
	e.feed(t, noMMSI, report{mmsi: 412000001, lat: 30.5, lon: 114.3, speedKn: 8, courseDeg: 45, headingDeg: 44}.sentence(false))
	v := e.vessel(t, 412000001)
	if !v.Enforcement || v.DeviceID != withMMSI {
		t.Errorf("registered MMSI: enforcement %v device %q, want %s", v.Enforcement, v.DeviceID, withMMSI)
	}
	// A unit registered without an MMSI reports its own ship (VDO); a
	// shore station then hears that ship.
	e.feed(t, noMMSI, report{mmsi: 413999999, lat: 30.6, lon: 114.4, headingDeg: 511}.sentence(true))
	if v := e.vessel(t, 413999999); !v.Enforcement || v.DeviceID != noMMSI {
		t.Errorf("own-ship report: %+v", v)
	}
	e.tr.feed(context.Background(), sourceKey{transport: transportUDP, id: "10.0.0.9:5000"},
		[]byte(report{mmsi: 413999999, lat: 30.7, lon: 114.5, headingDeg: 511}.sentence(false)+"\n"))
	if v := e.vessel(t, 413999999); !v.Enforcement || v.DeviceID != noMMSI || *v.Lat != 30.7 {
		t.Errorf("own ship heard by a shore station: %+v", v)
	}
	// A VDO from a device that is no AIS unit, and an ordinary vessel.
	e.feed(t, "dev_unknown", report{mmsi: 414000000, lat: 30.8, lon: 114.6, headingDeg: 511}.sentence(true))
	e.feed(t, noMMSI, report{mmsi: 414000001, lat: 30.9, lon: 114.7, headingDeg: 511}.sentence(false))
	for _, mmsi := range []uint32{414000000, 414000001} {
		if v := e.vessel(t, mmsi); v.Enforcement || v.DeviceID != "" {
			t.Errorf("%d marked: %+v", mmsi, v)
		}
	}

	byMMSI := map[string][]bool{}
	for _, p := range e.w.all() {
		byMMSI[p.Tags["mmsi"]] = append(byMMSI[p.Tags["mmsi"]], p.Fields["enforcement"].(bool))
	}
	for mmsi, want := range map[string]bool{"412000001": true, "413999999": true, "414000000": false, "414000001": false} {
		got := byMMSI[mmsi]
		if len(got) == 0 {
			t.Errorf("no point of %s", mmsi)
		}
		for _, g := range got {
			if g != want {
				t.Errorf("point of %s: enforcement %v, want %v", mmsi, g, want)
			}
		}
	}

	enf := true
	items, _ := e.tr.Vessels(Filter{Enforcement: &enf})
	if len(items) != 2 || items[0].MMSI != "412000001" || items[1].MMSI != "413999999" {
		t.Errorf("enforcement filter: %+v", items)
	}
}

// failingRegister answers its first call with units and fails after.
type failingRegister struct {
	calls int
	units []fleet.Device
}

func (f *failingRegister) Devices(_ context.Context, _ fleet.User, _ fleet.DeviceFilter) ([]fleet.Device, string, error) {
	f.calls++
	if f.calls > 1 {
		return nil, "", errors.New("database is locked")
	}
	return f.units, "", nil
}

// TestDirectoryCache: the list of units is read once per TTL; when the
// register fails, the last list is kept and asked for again sooner.
func TestDirectoryCache(t *testing.T) {
	reg := &failingRegister{units: []fleet.Device{{ID: "dev_1", Kind: fleet.KindAISUnit, MMSI: "412000001", Status: fleet.StatusInStock},
		{ID: "dev_2", Kind: fleet.KindAISUnit, MMSI: "412000002", Status: fleet.StatusRetired}}}
	e := newEnv(t, Config{DirectoryTTL: time.Minute, DirectoryRetry: 10 * time.Second}, reg)
	pos := func(mmsi uint32) string {
		return report{mmsi: mmsi, lat: 30, lon: 120, headingDeg: 511}.sentence(false)
	}
	for range 3 {
		e.feed(t, "dev_9", pos(412000001))
	}
	if reg.calls != 1 {
		t.Errorf("%d register reads within the TTL, want 1", reg.calls)
	}
	e.feed(t, "dev_9", pos(412000002))
	if v := e.vessel(t, 412000002); v.Enforcement {
		t.Error("a retired unit's MMSI marked")
	}
	e.clock.Advance(2 * time.Minute)
	e.feed(t, "dev_9", pos(412000001))
	if v := e.vessel(t, 412000001); !v.Enforcement || reg.calls != 2 {
		t.Errorf("after a failed refresh: %+v, %d calls", v, reg.calls)
	}
	if n := e.metric(t, "fleet_ais_directory_errors_total"); n != 1 {
		t.Errorf("directory errors = %v", n)
	}
	e.clock.Advance(5 * time.Second)
	e.feed(t, "dev_9", pos(412000001))
	if reg.calls != 2 {
		t.Errorf("asked again within the retry delay: %d calls", reg.calls)
	}
	e.clock.Advance(6 * time.Second)
	e.feed(t, "dev_9", pos(412000001))
	if reg.calls != 3 {
		t.Errorf("not asked again after the retry delay: %d calls", reg.calls)
	}
}

// TestBounds: vessels beyond MaxVessels evict the stalest; silent ones
// leave the live view, then memory; decoders beyond MaxSources are
// evicted with their fragments counted.
func TestBounds(t *testing.T) {
	e := newEnv(t, Config{MaxVessels: 2, LiveFor: time.Hour, MaxSources: 1}, nil)
	pos := func(mmsi uint32) string {
		return report{mmsi: mmsi, lat: 30, lon: 120, headingDeg: 511}.sentence(false)
	}
	e.feed(t, "dev_a", pos(412000001))
	e.clock.Advance(time.Minute)
	e.feed(t, "dev_a", pos(412000002))
	e.clock.Advance(time.Minute)
	e.feed(t, "dev_a", pos(412000001)) // heard again: 412000002 is now the stalest
	e.clock.Advance(time.Minute)
	e.feed(t, "dev_a", pos(412000003))
	if _, ok := e.tr.Vessel(412000002); ok {
		t.Error("the stalest vessel was not evicted")
	}
	if items, _ := e.tr.Vessels(Filter{}); len(items) != 2 || items[0].MMSI != "412000001" || items[1].MMSI != "412000003" {
		t.Errorf("after eviction: %+v", items)
	}
	if n := e.metric(t, "fleet_ais_vessels_evicted_total", "reason", "cap"); n != 1 {
		t.Errorf("evicted for the cap = %v", n)
	}

	// 412000001 was last heard 1 minute before 412000003; an hour after
	// that, it has left the live view, and the sweep frees it.
	e.clock.Advance(time.Hour - 30*time.Second)
	if _, ok := e.tr.Vessel(412000001); ok {
		t.Error("silent vessel still in the live view")
	}
	if items, _ := e.tr.Vessels(Filter{}); len(items) != 1 {
		t.Errorf("live view: %+v", items)
	}
	if n := e.tr.sweep(e.clock.Now()); n != 1 || e.metric(t, "fleet_ais_vessels") != 1 {
		t.Errorf("sweep dropped %d, %v left", n, e.metric(t, "fleet_ais_vessels"))
	}

	// One decoder only: dev_b's part 1 is lost when dev_c comes.
	cases := loadCases(t)
	e.feed(t, "dev_b", cases["gpsd-sample-006"].Sentences[0])
	e.feed(t, "dev_c", pos(412000004))
	e.feed(t, "dev_b", cases["gpsd-sample-006"].Sentences[1])
	if n := e.metric(t, "fleet_ais_sources_evicted_total"); n != 3 { // dev_a, dev_b, dev_c
		t.Errorf("sources evicted = %v, want 3", n)
	}
	if n := e.metric(t, "fleet_ais_bad_input_total", "kind", "source_evicted"); n != 1 {
		t.Errorf("fragments lost with a decoder = %v, want 1", n)
	}
	if n := e.metric(t, "fleet_ais_bad_input_total", "kind", "orphan"); n != 1 {
		t.Errorf("orphans = %v, want 1", n)
	}
	if e.metric(t, "fleet_ais_sources") != 1 {
		t.Error("more than MaxSources decoders")
	}
}

// TestHistory: a broadcast heard by two receivers is stored once; a late
// report goes to history without moving the live position back; a
// refused write is an error and counted.
func TestHistory(t *testing.T) {
	e := newEnv(t, Config{DedupWindow: 10 * time.Second}, nil)
	here := report{mmsi: 412000001, lat: 30, lon: 120, speedKn: 5, headingDeg: 90}
	e.feed(t, "dev_a", here.sentence(false))
	e.clock.Advance(2 * time.Second)
	e.feed(t, "dev_b", here.sentence(false))
	if n := len(e.w.all()); n != 1 {
		t.Errorf("%d points for one broadcast heard twice", n)
	}
	if e.metric(t, "fleet_ais_positions_duplicate_total") != 1 {
		t.Error("duplicate not counted")
	}
	e.clock.Advance(time.Minute) // moored: the same position, a minute on
	e.feed(t, "dev_a", here.sentence(false))
	if n := len(e.w.all()); n != 2 {
		t.Errorf("%d points, want 2", n)
	}

	later := e.clock.Now()
	moved := here
	moved.lat = 30.01
	if err := e.tr.HandleNMEA(context.Background(), "dev_b", []byte(moved.sentence(false)), later.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if v := e.vessel(t, 412000001); *v.Lat != 30 || !v.TS.Equal(later) {
		t.Errorf("a late report moved the live position: %+v", v)
	}
	ps := e.w.all()
	if len(ps) != 3 || ps[2].Fields["lat"] != 30.01 || !ps[2].Time.Equal(later.Add(-30*time.Second)) {
		t.Errorf("late report's point: %+v", ps[len(ps)-1])
	}

	e.w.err = errors.New("queue full")
	moved.lat = 30.02
	err := e.tr.HandleNMEA(context.Background(), "dev_b", []byte(moved.sentence(false)), e.clock.Now())
	if err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Errorf("refused write: %v", err)
	}
	if e.metric(t, "fleet_ais_points_dropped_total") != 1 || e.metric(t, "fleet_ais_points_written_total") != 3 {
		t.Error("points written/dropped not counted")
	}
}

// TestFilter: bounding box, enforcement and pages.
func TestFilter(t *testing.T) {
	reg := &failingRegister{units: []fleet.Device{{ID: "dev_1", Kind: fleet.KindAISUnit, MMSI: "412000003"}}}
	e := newEnv(t, Config{}, reg)
	for i, p := range [][2]float64{{30.5, 114.2}, {30.6, 114.3}, {31.2, 121.5}, {22.3, 114.1}} {
		e.feed(t, "dev_a", report{mmsi: uint32(412000001 + i), lat: p[0], lon: p[1], headingDeg: 511}.sentence(false))
	}
	e.feed(t, "dev_a", loadCases(t)["gpsd-sample-006"].Sentences...) // no position
	mmsis := func(items []Vessel) string {
		var s []string
		for _, v := range items {
			s = append(s, v.MMSI)
		}
		return strings.Join(s, " ")
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    Filter
		want string
		more bool
	}{
		{"all", Filter{}, "351759000 412000001 412000002 412000003 412000004", false},
		{"Wuhan", Filter{BBox: &BBox{MinLon: 114, MinLat: 30, MaxLon: 115, MaxLat: 31}}, "412000001 412000002", false},
		{"edges inside", Filter{BBox: &BBox{MinLon: 114.3, MinLat: 30.6, MaxLon: 121.5, MaxLat: 31.2}}, "412000002 412000003", false},
		{"enforcement", Filter{Enforcement: &yes}, "412000003", false},
		{"others in China", Filter{Enforcement: &no, BBox: &BBox{MinLon: 73, MinLat: 18, MaxLon: 135, MaxLat: 54}}, "412000001 412000002 412000004", false},
		{"page 1", Filter{Limit: 2}, "351759000 412000001", true},
		{"page 2", Filter{Limit: 2, After: 412000001}, "412000002 412000003", true},
		{"page 3", Filter{Limit: 2, After: 412000003}, "412000004", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, more := e.tr.Vessels(tc.f)
			if got := mmsis(items); got != tc.want || more != tc.more {
				t.Errorf("got %q more=%v, want %q more=%v", got, more, tc.want, tc.more)
			}
		})
	}
}

func TestFormatMMSI(t *testing.T) {
	for _, tc := range []struct {
		n    uint32
		want string
	}{{412000001, "412000001"}, {4000003, "004000003"}, {0, "000000000"}, {1073741823, "1073741823"}} {
		if got := FormatMMSI(tc.n); got != tc.want {
			t.Errorf("FormatMMSI(%d) = %s", tc.n, got)
		}
		if n, ok := ParseMMSI(tc.want); ok != (len(tc.want) == 9) || (ok && n != tc.n) {
			t.Errorf("ParseMMSI(%s) = %d, %v", tc.want, n, ok)
		}
	}
	for _, s := range []string{"", "12345678", "1234567890", "41200000x", "+12345678", " 12345678"} {
		if _, ok := ParseMMSI(s); ok {
			t.Errorf("ParseMMSI(%q) accepted", s)
		}
	}
}

var _ ingest.NMEAHandler = (*Tracker)(nil)

// TestThroughPipeline wires the tracker into the MQTT pipeline as cmd
// does: an AIS unit's nmea payloads reach it in order, a type 5 split
// over two MQTT messages included; an unknown device's never do.
func TestThroughPipeline(t *testing.T) {
	r := newRegistry(t)
	unit := r.aisUnit(t, "AIS-0001", "")
	e := newEnv(t, Config{}, r.reg)
	p, err := ingest.NewPipeline(ingest.Config{Workers: 2}, ingest.Deps{Writer: &recorder{}, Directory: r.reg, NMEA: e.tr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()

	five := loadCases(t)["gpsd-sample-006"].Sentences
	for _, m := range []devices.Message{
		{DeviceID: "dev_nobody", Kind: devices.TopicNMEA, Payload: []byte(report{mmsi: 412000005, lat: 30, lon: 120, headingDeg: 511}.sentence(false))},
		{DeviceID: unit, Kind: devices.TopicNMEA, Payload: []byte(five[0] + "\r\n")},
		{DeviceID: unit, Kind: devices.TopicNMEA, Payload: []byte(five[1] + "\r\n")},
		{DeviceID: unit, Kind: devices.TopicNMEA, Payload: []byte(report{mmsi: 412000001, lat: 30.5, lon: 114.3, headingDeg: 511}.sentence(true))},
	} {
		m.Received = e.clock.Now()
		if err := p.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // Run drains the queues before it returns
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := e.vessel(t, 351759000); v.Name != "EVER DIADEM" {
		t.Errorf("type 5 over two MQTT messages: %+v", v)
	}
	if v := e.vessel(t, 412000001); !v.Enforcement || v.DeviceID != unit {
		t.Errorf("own ship: %+v", v)
	}
	if _, ok := e.tr.Vessel(412000005); ok {
		t.Error("an unknown device's NMEA was taken")
	}
}

// TestConcurrent runs sources, readers and the sweep at once, for the
// race detector.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, Config{MaxVessels: 50, MaxSources: 3}, nil)
	five := loadCases(t)["gpsd-sample-006"].Sentences
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			dev := "dev_" + itoa(g)
			for i := range 200 {
				pos := report{mmsi: uint32(412000000 + g*1000 + i%60), lat: 30, lon: 120 + float64(i)/1000, headingDeg: 511}
				for _, line := range []string{pos.sentence(i%2 == 0), five[i%2]} {
					if err := e.tr.HandleNMEA(context.Background(), dev, []byte(line), e.clock.Now()); err != nil {
						t.Error(err) // not Fatal: this is not the test's goroutine
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			e.tr.Vessels(Filter{BBox: &BBox{MinLon: 119, MinLat: 29, MaxLon: 121, MaxLat: 31}})
			e.tr.Vessel(412000001)
			e.tr.sweep(e.clock.Now())
		}
	})
	wg.Wait()
	if n := e.metric(t, "fleet_ais_vessels"); n > 50 {
		t.Errorf("%v vessels tracked, cap 50", n)
	}
}
