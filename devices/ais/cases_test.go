package ais

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// refCase is one line of testdata/cases.jsonl; see testdata/README.md.
type refCase struct {
	ID                string              `json:"id"`
	Type              int                 `json:"type"`
	Sentences         []string            `json:"sentences"`
	Expect            string              `json:"expect"`
	Expected          map[string]any      `json:"expected"`
	ExpectedUnits     string              `json:"expected_units"`
	Tolerance         map[string]float64  `json:"tolerance"`
	Alternatives      map[string][]string `json:"alternatives"`
	ChecksumOK        []*bool             `json:"checksum_ok"`
	ExpectedTagBlock  map[string]any      `json:"expected_tagblock"`
	ExpectedNMEA      map[string]any      `json:"expected_nmea"`
	ExpectedCommState map[string]any      `json:"expected_comm_state"`
}

func loadCases(tb testing.TB) []refCase {
	tb.Helper()
	f, err := os.Open("testdata/cases.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []refCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c refCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("cases.jsonl line %d: %v", len(cases)+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

// view is what a case's expectation is compared with: one message, or
// the merge of a type 24 part A and part B (see mergeStaticB).
type view struct {
	m      Message
	merged bool
}

func num[T uint8 | uint16 | uint32 | int8 | int64 | float64](o Opt[T]) (any, bool) {
	return float64(o.V), o.Valid
}

func flag(o Opt[bool]) (any, bool) { return o.V, o.Valid }

func str(o Opt[string]) (any, bool) { return o.V, o.Valid }

// schema maps every field name of the normalized schema (testdata
// README) to the Message field that carries it. A normalized expectation
// naming a field missing here fails the test, so nothing goes unchecked.
var schema = map[string]func(v *view) (any, bool){
	"type":     func(v *view) (any, bool) { return float64(v.m.Type), true },
	"repeat":   func(v *view) (any, bool) { return float64(v.m.Repeat), true },
	"mmsi":     func(v *view) (any, bool) { return float64(v.m.MMSI), true },
	"status":   func(v *view) (any, bool) { return num(v.m.Status) },
	"turn":     func(v *view) (any, bool) { return num(v.m.TurnRaw) },
	"speed":    func(v *view) (any, bool) { return num(v.m.SpeedKnots) },
	"accuracy": func(v *view) (any, bool) { return flag(v.m.Accuracy) },
	"lon":      func(v *view) (any, bool) { return num(v.m.LonDeg) },
	"lat":      func(v *view) (any, bool) { return num(v.m.LatDeg) },
	"course":   func(v *view) (any, bool) { return num(v.m.CourseDeg) },
	"heading":  func(v *view) (any, bool) { return num(v.m.HeadingDeg) },
	"second":   func(v *view) (any, bool) { return num(v.m.Second) },
	"maneuver": func(v *view) (any, bool) { return num(v.m.Maneuver) },
	"raim":     func(v *view) (any, bool) { return flag(v.m.RAIM) },
	"radio":    func(v *view) (any, bool) { return num(v.m.Radio) },
	"alt":      func(v *view) (any, bool) { return num(v.m.AltitudeM) },
	"gnss":     func(v *view) (any, bool) { return flag(v.m.GNSS) },
	"regional": func(v *view) (any, bool) { return num(v.m.Regional) },
	"reserved": func(v *view) (any, bool) { return num(v.m.Reserved) },
	"cs":       func(v *view) (any, bool) { return flag(v.m.CS) },
	"display":  func(v *view) (any, bool) { return flag(v.m.Display) },
	"dsc":      func(v *view) (any, bool) { return flag(v.m.DSC) },
	"band":     func(v *view) (any, bool) { return flag(v.m.Band) },
	"msg22":    func(v *view) (any, bool) { return flag(v.m.Msg22) },
	"assigned": func(v *view) (any, bool) { return flag(v.m.Assigned) },
	// The schema has dte as the raw bit, 0 or 1.
	"dte": func(v *view) (any, bool) {
		if v.m.DTE.V {
			return 1.0, v.m.DTE.Valid
		}
		return 0.0, v.m.DTE.Valid
	},
	"year":         func(v *view) (any, bool) { return num(v.m.Year) },
	"month":        func(v *view) (any, bool) { return num(v.m.Month) },
	"day":          func(v *view) (any, bool) { return num(v.m.Day) },
	"hour":         func(v *view) (any, bool) { return num(v.m.Hour) },
	"minute":       func(v *view) (any, bool) { return num(v.m.Minute) },
	"epfd":         func(v *view) (any, bool) { return num(v.m.EPFD) },
	"ais_version":  func(v *view) (any, bool) { return num(v.m.AISVersion) },
	"imo":          func(v *view) (any, bool) { return num(v.m.IMO) },
	"callsign":     func(v *view) (any, bool) { return str(v.m.CallSign) },
	"shipname":     func(v *view) (any, bool) { return str(v.m.ShipName) },
	"shiptype":     func(v *view) (any, bool) { return num(v.m.ShipType) },
	"to_bow":       func(v *view) (any, bool) { return num(v.m.ToBowM) },
	"to_stern":     func(v *view) (any, bool) { return num(v.m.ToSternM) },
	"to_port":      func(v *view) (any, bool) { return num(v.m.ToPortM) },
	"to_starboard": func(v *view) (any, bool) { return num(v.m.ToStarboardM) },
	"eta_month":    func(v *view) (any, bool) { return num(v.m.ETAMonth) },
	"eta_day":      func(v *view) (any, bool) { return num(v.m.ETADay) },
	"eta_hour":     func(v *view) (any, bool) { return num(v.m.ETAHour) },
	"eta_minute":   func(v *view) (any, bool) { return num(v.m.ETAMinute) },
	"draught":      func(v *view) (any, bool) { return num(v.m.DraughtM) },
	"destination":  func(v *view) (any, bool) { return str(v.m.Destination) },
	"part": func(v *view) (any, bool) {
		if v.merged {
			return "AB", true
		}
		return string(v.m.Part.V), v.m.Part.Valid
	},
	"vendorid":         func(v *view) (any, bool) { return str(v.m.VendorID) },
	"vendorid_legacy7": func(v *view) (any, bool) { return v.m.VendorIDLegacy() },
	"model":            func(v *view) (any, bool) { return num(v.m.Model) },
	"serial":           func(v *view) (any, bool) { return num(v.m.Serial) },
	"mothership_mmsi":  func(v *view) (any, bool) { return num(v.m.MothershipMMSI) },
	"aid_type":         func(v *view) (any, bool) { return num(v.m.AidType) },
	"name":             func(v *view) (any, bool) { return str(v.m.Name) },
	"off_position":     func(v *view) (any, bool) { return flag(v.m.OffPosition) },
	"virtual_aid":      func(v *view) (any, bool) { return flag(v.m.VirtualAid) },
	// pyais's rate of turn in deg/min, rounded as pyais does.
	"rot": func(v *view) (any, bool) {
		r, ok := v.m.RateOfTurn()
		return math.Round(r), ok
	},
}

// absentByDesign says when a reference value must come out absent: the
// schema keeps the standard's "not available" values and out-of-range
// positions as numbers, where the Message leaves the field absent. This
// is the documented mapping, not a disagreement with the reference.
func absentByDesign(typ int, field string, want any) bool {
	x, ok := want.(float64)
	if !ok {
		return false
	}
	switch field {
	case "lat":
		return x < -90 || x > 90 // includes 91, n/a
	case "lon":
		return x < -180 || x > 180 // includes 181, n/a
	case "speed":
		switch typ {
		case 9:
			return x == 1023
		case 27:
			return x == 63
		}
		return x == 102.3
	case "course", "heading":
		return x >= 360 // 360 (511 for type 27 and heading) is n/a; above is invalid
	case "turn":
		return x == -128
	case "alt":
		return x == 4095
	}
	return false
}

// deviations are the reference values this decoder deliberately does not
// reproduce, per case and field, with what it gives instead (nil =
// absent). The data is left as it is.
var deviations = map[string]map[string]struct {
	why string
	got any
}{
	"gpsd-sample-096": {"radio": {
		why: "the sentence has 5 fill bits, so the payload is 163 bits and ends 5 bits into " +
			"the 19-bit radio field. gpsd reads the 14 bits that are there as a number " +
			"(1076 = 34463>>5, see gpsd-sample-097 for the same report with 0 fill bits); " +
			"no station sent that value. A field the payload cuts is absent here.",
		got: nil,
	}},
}

// normalizedTypes are the types the schema normalizes and this package
// decodes.
var normalizedTypes = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 9: true, 11: true, 18: true, 19: true, 21: true, 24: true, 27: true}

var pairingID = regexp.MustCompile(`-24([AB])-(\d+)$`)

// TestReferenceCases walks every case in testdata/cases.jsonl and checks
// every expected field, with these documented mappings from the
// reference semantics to this package's:
//
//   - "Not available" values (lat 91, lon 181, speed 102.3/1023/63,
//     course 360/511, heading 511, turn -128, alt 4095) and positions out
//     of range are expected absent (absentByDesign).
//   - gpsd merges a type 24 part A with the next part B of the same MMSI
//     into one "AB" record; this package emits both parts, and the test
//     merges them (name from A, the rest from B) before comparing. A lone
//     part, for which gpsd emits nothing (no_output_gpsd_pairing), must
//     come out as that part on its own.
//   - Types the schema does not normalize (gpsd_unscaled_verbatim,
//     source_native) are not decoded: they must come out Undecoded with
//     the right type, repeat indicator and MMSI, and no position.
//   - Where we think a reference value is wrong, deviations says why, and
//     the test checks what we give instead.
func TestReferenceCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) != 225 {
		t.Errorf("%d cases, want 225: the copy in testdata is not the one the README describes", len(cases))
	}
	expects := map[string]int{}
	for _, c := range cases {
		expects[c.Expect]++
		t.Run(c.ID, func(t *testing.T) {
			checkChecksums(t, c)
			switch c.Expect {
			case "decode":
				msgs, err := feedAll(Config{}, c.Sentences)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				checkDecoded(t, c, msgs)
			case "decode_lenient":
				// Decodes only if the checksum or the armouring alphabet is
				// not enforced: strict must refuse it, lenient must decode it.
				msgs, err := feedAll(Config{}, c.Sentences)
				if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrMalformed) {
					t.Errorf("strict: error %v, want a checksum or armouring error", err)
				}
				checkNoMessages(t, "strict", msgs)
				msgs, err = feedAll(Config{IgnoreChecksum: true, LenientArmour: true}, c.Sentences)
				if err != nil {
					t.Fatalf("lenient: error: %v", err)
				}
				checkDecoded(t, c, msgs)
			case "decode_partial":
				cfg := Config{}
				for _, ok := range c.ChecksumOK {
					if ok != nil && !*ok {
						cfg.IgnoreChecksum = true // the note gives the right checksum
					}
				}
				msgs, err := feedAll(cfg, c.Sentences)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				checkDecoded(t, c, msgs)
			case "decode_payload_only":
				// The source decoded the payload without its other fragments.
				// A Decoder waits for them (and, strict, rejects the bad
				// checksum this case has); DecodePayload decodes it.
				msgs, _ := feedAll(Config{}, c.Sentences)
				checkNoMessages(t, "strict", msgs)
				msgs, err := feedAll(Config{IgnoreChecksum: true}, c.Sentences)
				if err != nil {
					t.Errorf("lenient: error %v, want the fragment held", err)
				}
				checkNoMessages(t, "lenient", msgs)
				var payload strings.Builder
				fill := 0
				for _, s := range c.Sentences {
					f := strings.Split(strings.SplitN(s, "*", 2)[0], ",")
					payload.WriteString(f[5])
					fill, _ = strconv.Atoi(f[6])
				}
				m, err := DecodePayload(payload.String(), fill)
				if err != nil {
					t.Fatalf("DecodePayload: %v", err)
				}
				checkDecoded(t, c, []Message{m})
			case "no_output":
				msgs, _ := feedAll(Config{}, c.Sentences)
				checkNoMessages(t, "strict", msgs)
			case "no_output_gpsd_pairing":
				checkPairing(t, c)
			case "error":
				msgs, err := feedAll(Config{}, c.Sentences)
				if err == nil {
					t.Error("no error")
				}
				checkNoMessages(t, "strict", msgs)
			case "checksum_error":
				msgs, err := feedAll(Config{}, c.Sentences)
				if !errors.Is(err, ErrChecksum) {
					t.Errorf("error %v, want ErrChecksum", err)
				}
				checkNoMessages(t, "strict", msgs)
				if c.Expected != nil {
					msgs, err = feedAll(Config{IgnoreChecksum: true}, c.Sentences)
					if err != nil {
						t.Fatalf("IgnoreChecksum: error: %v", err)
					}
					checkDecoded(t, c, msgs)
				}
			case "split_only":
				// Only the tag-block grouping is asserted: framing must
				// accept every line and read the tag block.
				msgs, err := feedAll(Config{IgnoreChecksum: true, LenientArmour: true}, c.Sentences)
				if err != nil {
					t.Errorf("error: %v", err)
				}
				for i := range msgs {
					checkTagBlock(t, c, &msgs[i])
				}
			default:
				t.Fatalf("expect %q is not handled by this test", c.Expect)
			}
		})
	}
	t.Logf("cases by expect: %v", expects)
}

// feedAll feeds each sentence as its own line to a fresh Decoder, as one
// device's feed would.
func feedAll(cfg Config, sentences []string) ([]Message, error) {
	d := NewDecoder(cfg)
	var msgs []Message
	var errs []error
	for _, s := range sentences {
		var err error
		msgs, err = d.Append(msgs, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return msgs, errors.Join(errs...)
}

func checkNoMessages(t *testing.T, mode string, msgs []Message) {
	t.Helper()
	if len(msgs) != 0 {
		t.Errorf("%s: %d messages, want none: %+v", mode, len(msgs), msgs[0])
	}
}

// checkChecksums checks our XOR against the case's own record of it.
func checkChecksums(t *testing.T, c refCase) {
	t.Helper()
	for i, want := range c.ChecksumOK {
		if want == nil {
			continue
		}
		body, sum, ok := strings.Cut(strings.TrimSpace(c.Sentences[i]), "*")
		got, hexOK := parseHex2(sum)
		if !ok || !hexOK {
			t.Errorf("sentence %d has no checksum", i)
			continue
		}
		if (checksum(body[1:]) == got) != *want {
			t.Errorf("sentence %d: checksum_ok %v, our XOR disagrees", i, *want)
		}
	}
}

// checkDecoded compares the messages of a case with its expectation.
func checkDecoded(t *testing.T, c refCase, msgs []Message) {
	t.Helper()
	for i := range msgs {
		checkSane(t, &msgs[i])
	}
	if !normalizedTypes[c.Type] {
		// gpsd_unscaled_verbatim / source_native: a type this package
		// does not decode must say so rather than produce values.
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		m := msgs[0]
		if !m.Undecoded {
			t.Errorf("type %d not marked Undecoded", m.Type)
		}
		if _, _, ok := m.Position(); ok {
			t.Errorf("undecoded type %d has a position", m.Type)
		}
		compareFields(t, c, &view{m: m}, []string{"type", "repeat", "mmsi"})
		return
	}
	if c.ExpectedUnits != "normalized" {
		t.Fatalf("type %d with units %q", c.Type, c.ExpectedUnits)
	}

	v := &view{}
	switch {
	case c.Type == 24 && c.Expected["part"] == "AB":
		// gpsd emits one record for a part A followed by a part B with the
		// same MMSI; this package emits both parts. The mapping: part A
		// gives the name, part B everything else.
		if len(msgs) != 2 {
			t.Fatalf("%d messages, want part A and part B", len(msgs))
		}
		a, b := msgs[0], msgs[1]
		if a.Part.V != 'A' || b.Part.V != 'B' || a.MMSI != b.MMSI {
			t.Fatalf("got parts %q (MMSI %d) and %q (MMSI %d), want A then B of one MMSI", a.Part.V, a.MMSI, b.Part.V, b.MMSI)
		}
		v.m, v.merged = b, true
		v.m.ShipName = a.ShipName
	default:
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		v.m = msgs[0]
		if v.m.Undecoded {
			t.Fatalf("type %d marked Undecoded", v.m.Type)
		}
	}
	fields := make([]string, 0, len(c.Expected))
	for k := range c.Expected {
		fields = append(fields, k)
	}
	compareFields(t, c, v, fields)
	checkTagBlock(t, c, &v.m)
	checkNMEA(t, c, &v.m)
	if c.ExpectedCommState != nil {
		t.Errorf("expected_comm_state is not checked: the radio status is kept raw (Radio)")
	}
}

func compareFields(t *testing.T, c refCase, v *view, fields []string) {
	t.Helper()
	for _, name := range fields {
		want, ok := c.Expected[name]
		if !ok {
			t.Errorf("%s: not in the expectation", name)
			continue
		}
		get, known := schema[name]
		if !known {
			t.Errorf("%s: field of the expectation not mapped to the Message", name)
			continue
		}
		got, present := get(v)
		if dev, ok := deviations[c.ID][name]; ok {
			// Deliberate deviation: check what we give instead.
			if dev.got == nil && present {
				t.Errorf("%s: got %v, want absent (%s)", name, got, dev.why)
			} else if dev.got != nil && got != dev.got {
				t.Errorf("%s: got %v, want %v (%s)", name, got, dev.got, dev.why)
			}
			continue
		}
		if want == nil || absentByDesign(c.Type, name, want) {
			if present {
				t.Errorf("%s: got %v, want absent (reference %v)", name, got, want)
			}
			continue
		}
		if !present {
			t.Errorf("%s: absent, want %v", name, want)
			continue
		}
		if !matches(c, name, got, want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
}

func matches(c refCase, name string, got, want any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		tol, has := c.Tolerance[name]
		if !has {
			tol = 1e-9
		}
		return ok && math.Abs(g-w) <= tol
	case string:
		if got == w {
			return true
		}
		for _, alt := range c.Alternatives[name] {
			if got == alt {
				return true
			}
		}
		return false
	default:
		return got == want
	}
}

// checkSane applies, to every decoded message, the checks traccar's
// ProtocolTest applies to every position.
func checkSane(t *testing.T, m *Message) {
	t.Helper()
	if lat, ok := m.LatDeg.Get(); ok && (lat < -90 || lat > 90) {
		t.Errorf("latitude %v out of range", lat)
	}
	if lon, ok := m.LonDeg.Get(); ok && (lon < -180 || lon > 180) {
		t.Errorf("longitude %v out of range", lon)
	}
	if s, ok := m.SpeedKnots.Get(); ok && (s < 0 || s > 1022) {
		t.Errorf("speed %v kn out of range", s)
	}
	if cog, ok := m.CourseDeg.Get(); ok && (cog < 0 || cog >= 360) {
		t.Errorf("course %v out of range", cog)
	}
	if h, ok := m.HeadingDeg.Get(); ok && h >= 360 {
		t.Errorf("heading %v out of range", h)
	}
}

// checkPairing: gpsd emits nothing for a lone type 24 part (it waits to
// pair A with B). This package decodes each part, so the mapping is: one
// message, of the part and MMSI the case id names.
func checkPairing(t *testing.T, c refCase) {
	t.Helper()
	sub := pairingID.FindStringSubmatch(c.ID)
	if sub == nil {
		t.Fatalf("id %q does not name the part and MMSI", c.ID)
	}
	msgs, err := feedAll(Config{}, c.Sentences)
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want part %s on its own", len(msgs), sub[1])
	}
	m := msgs[0]
	if m.Type != 24 || m.Undecoded || string(m.Part.V) != sub[1] || strconv.Itoa(int(m.MMSI)) != sub[2] {
		t.Errorf("got type %d part %q MMSI %d, want 24 part %s MMSI %s", m.Type, m.Part.V, m.MMSI, sub[1], sub[2])
	}
	if sub[1] == "A" && !m.ShipName.Valid || sub[1] == "B" && !m.CallSign.Valid {
		t.Errorf("part %s without its fields: %+v", sub[1], m)
	}
}

// checkTagBlock checks pyais's expected_tagblock, when a case has it.
func checkTagBlock(t *testing.T, c refCase, m *Message) {
	t.Helper()
	for k, want := range c.ExpectedTagBlock {
		switch k {
		case "source_station":
			if m.TagSource != want {
				t.Errorf("tag block source %q, want %v", m.TagSource, want)
			}
		case "receiver_timestamp":
			if got := strconv.FormatInt(m.TagTime.V, 10); !m.TagTime.Valid || got != want {
				t.Errorf("tag block time %v, want %v", m.TagTime, want)
			}
		default:
			if want != nil {
				t.Errorf("expected_tagblock %s=%v is not checked", k, want)
			}
		}
	}
}

// checkNMEA checks pyais's expected_nmea, when a case has it.
func checkNMEA(t *testing.T, c refCase, m *Message) {
	t.Helper()
	for k, want := range c.ExpectedNMEA {
		switch k {
		case "talker":
			if m.Talker != want {
				t.Errorf("talker %q, want %v", m.Talker, want)
			}
		case "channel":
			if string(m.Channel) != want {
				t.Errorf("channel %q, want %v", m.Channel, want)
			}
		default:
			t.Errorf("expected_nmea %s=%v is not checked", k, want)
		}
	}
}
