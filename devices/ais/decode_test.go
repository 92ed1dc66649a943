package ais

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func decodeOne(t *testing.T, line string) Message {
	t.Helper()
	msgs, err := NewDecoder(Config{}).Feed(line)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	return msgs[0]
}

const deg = 600000 // 1/10000 minute per degree

// TestNotAvailable: the standard's "not available" values and values out
// of range come out absent, and the limits just inside come out present.
func TestNotAvailable(t *testing.T) {
	type want struct {
		lat, lon, speed, course Opt[float64]
		heading                 Opt[uint16]
		turn                    Opt[int8]
	}
	tests := []struct {
		name string
		w    *payloadWriter
		want want
	}{
		{"all not available", classA(1, -128, 1023, 181*deg, 91*deg, 3600, 511), want{}},
		{"out of range", classA(1, -128, 1023, -190*deg, 100*deg, 3601, 400), want{}},
		{"limits", classA(1, 127, 1022, -180*deg, 90*deg, 3599, 359), want{
			lat: some(90.0), lon: some(-180.0), speed: some(102.2), course: some(359.9), heading: some(uint16(359)), turn: some(int8(127)),
		}},
		{"zero", classA(1, 0, 0, 0, 0, 0, 0), want{
			lat: some(0.0), lon: some(0.0), speed: some(0.0), course: some(0.0), heading: some(uint16(0)), turn: some(int8(0)),
		}},
		{"latitude only", classA(1, 0, 0, 181*deg, 45*deg, 0, 0), want{
			lat: some(45.0), speed: some(0.0), course: some(0.0), heading: some(uint16(0)), turn: some(int8(0)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeOne(t, vdm(tt.w))
			got := want{m.LatDeg, m.LonDeg, m.SpeedKnots, m.CourseDeg, m.HeadingDeg, m.TurnRaw}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			_, _, ok := m.Position()
			if ok != (tt.want.lat.Valid && tt.want.lon.Valid) {
				t.Errorf("Position() ok = %v", ok)
			}
		})
	}

	t.Run("type 27", func(t *testing.T) {
		w := header(27, 1).put(1, 0).put(1, 0).put(4, 0).put(18, 181*600).put(17, 91*600).put(6, 63).put(9, 511).put(1, 0).put(1, 0)
		m := decodeOne(t, vdm(w))
		if m.LatDeg.Valid || m.LonDeg.Valid || m.SpeedKnots.Valid || m.CourseDeg.Valid || !m.GNSS.Valid {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("type 9", func(t *testing.T) {
		w := header(9, 111232511).put(12, 4095).put(10, 1023).put(1, 0).put(28, 181*deg).put(27, 91*deg).put(12, 3600).
			put(6, 60).put(8, 0).put(1, 0).put(3, 0).put(1, 0).put(1, 0).put(20, 0)
		m := decodeOne(t, vdm(w))
		if m.AltitudeM.Valid || m.SpeedKnots.Valid || m.LatDeg.Valid || m.LonDeg.Valid || m.CourseDeg.Valid || !m.Radio.Valid {
			t.Errorf("got %+v", m)
		}
	})
}

// TestTruncated: a short payload yields the fields it holds.
func TestTruncated(t *testing.T) {
	t.Run("type 5 cut after the name", func(t *testing.T) {
		w := header(5, 244538000).put(2, 1).put(30, 7382902).text("PE6851", 7).text("ARCTIC SUNRISE", 20)
		m := decodeOne(t, vdm(w))
		if !m.Truncated || m.ShipName != some("ARCTIC SUNRISE") || m.CallSign != some("PE6851") || m.IMO != some(uint32(7382902)) {
			t.Errorf("got %+v", m)
		}
		if m.ShipType.Valid || m.Destination.Valid || m.DraughtM.Valid || m.DTE.Valid {
			t.Errorf("fields past the end present: %+v", m)
		}
	})
	t.Run("type 1 cut inside the latitude", func(t *testing.T) {
		w := classA(1, 0, 0, 10*deg, 20*deg, 0, 0)
		w.bits = w.bits[:100]
		m := decodeOne(t, vdm(w))
		if !m.Truncated || m.LonDeg != some(10.0) || m.LatDeg.Valid || m.CourseDeg.Valid {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("type 21 without its flags", func(t *testing.T) {
		w := header(21, 995126020).put(5, 1).text("SIMPSON ROCK", 20).put(1, 1).put(28, 175*deg).put(27, -36*deg).
			put(30, 0).put(4, 7).put(6, 10)
		m := decodeOne(t, vdm(w))
		if !m.Truncated || m.Name != some("SIMPSON ROCK") || m.Second != some(uint8(10)) || m.OffPosition.Valid || m.RAIM.Valid {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("header only", func(t *testing.T) {
		m := decodeOne(t, vdm(header(1, 123456789)))
		if !m.Truncated || m.MMSI != 123456789 || m.Status.Valid {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("no MMSI", func(t *testing.T) {
		w := header(1, 123456789)
		w.bits = w.bits[:30]
		_, err := NewDecoder(Config{}).Feed(vdm(w))
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("error %v, want ErrTruncated", err)
		}
	})
}

func TestStaticB(t *testing.T) {
	t.Run("auxiliary craft", func(t *testing.T) {
		// pyais test_msg_type_24_b_aux_craft.
		m := decodeOne(t, "!AIVDO,1,1,,A,H>W@vFTe6??406t2??21J0Wg8Jb0,0*6F")
		if m.MMSI != 980696666 || m.Part != some(byte('B')) || m.ShipType != some(uint8(45)) || m.VendorID != some("FOO") ||
			m.Model != some(uint8(1)) || m.CallSign != some("BOOBAZ") || m.MothershipMMSI != some(uint32(666666666)) || !m.Own {
			t.Errorf("got %+v", m)
		}
		if m.ToBowM.Valid || m.ToStarboardM.Valid {
			t.Error("dimensions present for an auxiliary craft")
		}
	})
	t.Run("part A", func(t *testing.T) {
		m := decodeOne(t, vdm(header(24, 271041815).put(2, 0).text("PROGUY", 20)))
		if m.Part != some(byte('A')) || m.ShipName != some("PROGUY") || m.CallSign.Valid || m.Truncated {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("undefined part", func(t *testing.T) {
		m := decodeOne(t, vdm(header(24, 271041815).put(2, 2).text("PROGUY", 20)))
		if !m.Undecoded || m.Part.Valid || m.ShipName.Valid {
			t.Errorf("got %+v", m)
		}
	})
}

// TestLongSentence: a type 5 sent in one sentence longer than NMEA's 82
// characters decodes like the same payload in two fragments.
func TestLongSentence(t *testing.T) {
	two := []string{"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C", "!AIVDM,2,2,1,A,88888888880,2*25"}
	msgs, err := NewDecoder(Config{}).Feed(strings.Join(two, "\r\n"))
	if err != nil || len(msgs) != 1 {
		t.Fatalf("two fragments: %v, %d messages", err, len(msgs))
	}
	one := decodeOne(t, nmea("AIVDM,1,1,,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp888888888880,2"))
	if one != msgs[0] {
		t.Errorf("one sentence %+v\ntwo fragments %+v", one, msgs[0])
	}
	if one.ShipName != some("EVER DIADEM") || one.Destination != some("NEW YORK") || one.Truncated {
		t.Errorf("got %+v", one)
	}
}

func TestUnknownType(t *testing.T) {
	for _, typ := range []int{0, 28, 63} {
		d := NewDecoder(Config{})
		msgs, err := d.Feed(vdm(header(typ, 1).put(130, 0)))
		if !errors.Is(err, ErrUnknownType) || len(msgs) != 0 || d.Stats().UnknownType != 1 {
			t.Errorf("type %d: %d messages, error %v", typ, len(msgs), err)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	m, err := DecodePayload("15RTgt0PAso;90TKcjM8h6g208CQ", 0)
	if err != nil || m.MMSI != type1MMSI || m.SpeedKnots != some(12.3) {
		t.Errorf("got %+v, %v", m, err)
	}
	for _, bad := range []struct {
		payload string
		fill    int
	}{{"15RTgt0PAso;90TKcjM8h6g208CQ", 6}, {"15RTgt0PAso;90TKcjM8h6g208C!", 0}, {"", 1}} {
		if _, err := DecodePayload(bad.payload, bad.fill); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q fill %d: error %v, want ErrMalformed", bad.payload, bad.fill, err)
		}
	}
	if _, err := DecodePayload("", 0); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty payload: error %v, want ErrTruncated", err)
	}
}

func TestTime(t *testing.T) {
	tests := []struct {
		y           int64
		mo, d, h    int64
		mi, s       int64
		want        time.Time
		wantPresent bool
	}{
		{2007, 5, 14, 19, 57, 39, time.Date(2007, 5, 14, 19, 57, 39, 0, time.UTC), true},
		{0, 0, 0, 24, 60, 60, time.Time{}, false},
		{2012, 6, 1, 24, 60, 60, time.Time{}, false},
		{2023, 2, 31, 0, 0, 0, time.Time{}, false},
	}
	for _, tt := range tests {
		w := header(4, 3669702).put(14, tt.y).put(4, tt.mo).put(5, tt.d).put(5, tt.h).put(6, tt.mi).put(6, tt.s).
			put(1, 0).put(28, 0).put(27, 0).put(4, 1).put(10, 0).put(1, 0).put(19, 0)
		m := decodeOne(t, vdm(w))
		got, ok := m.Time()
		if ok != tt.wantPresent || !got.Equal(tt.want) {
			t.Errorf("%d-%d-%d %d:%d:%d: got %v %v", tt.y, tt.mo, tt.d, tt.h, tt.mi, tt.s, got, ok)
		}
	}
	m := decodeOne(t, type1)
	if _, ok := m.Time(); ok {
		t.Error("a type 1 has no date")
	}
}

func TestRateOfTurn(t *testing.T) {
	tests := []struct {
		raw  int64
		want float64
		ok   bool
	}{{0, 0, true}, {4, 1, true}, {-4, -1, true}, {126, 709, true}, {127, 0, false}, {-127, 0, false}, {-128, 0, false}}
	for _, tt := range tests {
		m := decodeOne(t, vdm(classA(1, tt.raw, 0, 0, 0, 0, 0)))
		got, ok := m.RateOfTurn()
		if ok != tt.ok || math.Round(got) != tt.want {
			t.Errorf("ROT %d: got %v %v, want %v %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}
