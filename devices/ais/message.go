package ais

import (
	"math"
	"time"
)

// Opt is a field that may be absent. A field is absent when the message
// type does not carry it, when the sender put the standard's "not
// available" value in it (lat 91, lon 181, SOG 102.3, course 360, heading
// 511, ROT -128, altitude 4095), when the value is out of range, or when a
// short payload ends before the field does. An absent field's V is the
// zero value, never the sentinel, so nothing downstream can store 91/181
// as a position by forgetting a check.
type Opt[T any] struct {
	V     T
	Valid bool
}

// Get returns the value and whether it is present.
func (o Opt[T]) Get() (T, bool) { return o.V, o.Valid }

func some[T any](v T) Opt[T] { return Opt[T]{V: v, Valid: true} }

// Message is one decoded AIS message. Field names follow gpsd's JSON
// names (the normalized schema of our reference cases) with the unit
// appended where the field is a quantity.
//
// Only Type, Repeat and MMSI are always set: a payload too short to hold
// them is an error, not a message.
type Message struct {
	// From the NMEA layer.
	Talker    string     // talker id of the sentence: "AI", "AB", "BS", "SA", …
	Own       bool       // sent as VDO: this station's own report, not one it received
	Channel   byte       // radio channel as given ('A', 'B', '1', '2'), 0 when empty
	TagSource string     // NMEA 4.0 tag block "s:" (source station), "" when absent; points into the input
	TagTime   Opt[int64] // NMEA 4.0 tag block "c:", UNIX time as the receiver sent it (seconds by the standard)

	Type   uint8
	Repeat uint8
	MMSI   uint32

	// Undecoded is set for message types the standard defines but this
	// package does not decode (6, 7, 8, 10, 12-17, 20, 22, 23, 25, 26, and
	// type 24 with an undefined part number): only Type, Repeat and MMSI
	// are filled in.
	Undecoded bool
	// Truncated is set when the payload is shorter than the standard's
	// length for its type; the fields it cuts off are absent.
	Truncated bool

	// Position and motion: types 1-3, 4, 9, 11, 18, 19, 21, 27.
	Status     Opt[uint8]   // navigational status, raw 0-15 (1-3, 27)
	TurnRaw    Opt[int8]    // ROT_AIS as sent, -127..127; see RateOfTurn (1-3)
	SpeedKnots Opt[float64] // speed over ground; 102.2 (or 1022 for type 9) means "that or more"
	Accuracy   Opt[bool]    // position accuracy flag: true = better than 10 m
	LonDeg     Opt[float64] // longitude, east positive, within [-180, 180]
	LatDeg     Opt[float64] // latitude, north positive, within [-90, 90]
	CourseDeg  Opt[float64] // course over ground, [0, 360)
	HeadingDeg Opt[uint16]  // true heading, 0-359
	Second     Opt[uint8]   // UTC second as sent: 60 = not available, 61-63 = positioning system states
	Maneuver   Opt[uint8]   // special manoeuvre indicator (1-3)
	RAIM       Opt[bool]
	Radio      Opt[uint32] // radio status (SOTDMA/ITDMA communication state), raw
	AltitudeM  Opt[uint16] // SAR aircraft altitude; 4094 means "that or more" (9)
	GNSS       Opt[bool]   // raw bit 94 of type 27 (position latency / not a current GNSS fix)
	Regional   Opt[uint8]  // bits reserved for regional applications, raw (9, 18, 19, 21)
	Reserved   Opt[uint8]  // the 8 regional bits after the MMSI, raw (18, 19)
	CS         Opt[bool]   // class B unit type: true = carrier sense, false = SOTDMA (18)
	Display    Opt[bool]   // class B unit has a display (18)
	DSC        Opt[bool]   // class B unit has DSC (18)
	Band       Opt[bool]   // class B unit can use the whole marine band (18)
	Msg22      Opt[bool]   // class B unit accepts channel management by message 22 (18)
	Assigned   Opt[bool]   // assigned mode (9, 18, 19, 21)
	DTE        Opt[bool]   // data terminal not ready (5, 9, 19)

	// UTC date and time of a base station or UTC response: types 4, 11.
	// As sent: 0 means not available for year, month and day, 24 for the
	// hour, 60 for minute and second. See Time.
	Year   Opt[uint16]
	Month  Opt[uint8]
	Day    Opt[uint8]
	Hour   Opt[uint8]
	Minute Opt[uint8]
	EPFD   Opt[uint8] // type of position fixing device, raw 0-15 (4, 5, 11, 19, 21)

	// Static and voyage data: types 5, 19 and 24. Text is trimmed of
	// trailing '@' padding and spaces; a '@' inside the text is kept.
	AISVersion     Opt[uint8]
	IMO            Opt[uint32]
	CallSign       Opt[string]
	ShipName       Opt[string]
	ShipType       Opt[uint8] // raw, including reserved values
	ToBowM         Opt[uint16]
	ToSternM       Opt[uint16]
	ToPortM        Opt[uint8]
	ToStarboardM   Opt[uint8]
	ETAMonth       Opt[uint8] // ETA as sent: 0 month or day, hour 24, minute 60 = not available
	ETADay         Opt[uint8]
	ETAHour        Opt[uint8]
	ETAMinute      Opt[uint8]
	DraughtM       Opt[float64] // 0 = not available, as sent
	Destination    Opt[string]
	Part           Opt[byte]   // type 24 part: 'A' (name) or 'B' (the rest)
	VendorID       Opt[string] // type 24B manufacturer id, 3 characters (ITU-R M.1371-4)
	Model          Opt[uint8]  // type 24B unit model code
	Serial         Opt[uint32] // type 24B unit serial number
	MothershipMMSI Opt[uint32] // type 24B from an auxiliary craft (MMSI 98xxxxxxx), in place of the dimensions

	// Aid to navigation: type 21.
	AidType     Opt[uint8]
	Name        Opt[string] // name with its extension appended
	OffPosition Opt[bool]
	VirtualAid  Opt[bool]

	vendorBits uint64 // the 42 type 24B bits that held a 7-character vendor id before M.1371-4
}

// Position returns the reported position when both latitude and longitude
// are present and in range. Use it rather than the two fields to store a
// position: a message can carry a valid latitude with a longitude of
// "not available".
func (m *Message) Position() (latDeg, lonDeg float64, ok bool) {
	if !m.LatDeg.Valid || !m.LonDeg.Valid {
		return 0, 0, false
	}
	return m.LatDeg.V, m.LonDeg.V, true
}

// Time returns the UTC time of a type 4 or 11 message when every part of
// it is present and valid.
func (m *Message) Time() (time.Time, bool) {
	y, mo, d, h, mi, s := m.Year, m.Month, m.Day, m.Hour, m.Minute, m.Second
	if !y.Valid || !mo.Valid || !d.Valid || !h.Valid || !mi.Valid || !s.Valid {
		return time.Time{}, false
	}
	if y.V == 0 || mo.V < 1 || mo.V > 12 || d.V < 1 || h.V > 23 || mi.V > 59 || s.V > 59 {
		return time.Time{}, false
	}
	t := time.Date(int(y.V), time.Month(mo.V), int(d.V), int(h.V), int(mi.V), int(s.V), 0, time.UTC)
	if t.Day() != int(d.V) { // 31 February and the like
		return time.Time{}, false
	}
	return t, true
}

// RateOfTurn converts TurnRaw to degrees per minute, positive to
// starboard. It is false when ROT is absent and for ±127, which only says
// "turning faster than 5° in 30 s" without a rate.
func (m *Message) RateOfTurn() (degPerMin float64, ok bool) {
	if !m.TurnRaw.Valid || m.TurnRaw.V == 127 || m.TurnRaw.V == -127 {
		return 0, false
	}
	r := float64(m.TurnRaw.V) / 4.733
	return math.Copysign(r*r, r), true
}

// VendorIDLegacy returns the type 24B vendor id read the way units built
// before ITU-R M.1371-4 wrote it: 7 characters over the bits that now hold
// the 3-character id, the model and the serial number. gpsd and libais
// report this form. It ends at the first '@': in a current unit's message
// what follows is the model and serial number, not text.
func (m *Message) VendorIDLegacy() (string, bool) {
	if !m.VendorID.Valid || !m.Model.Valid || !m.Serial.Valid {
		return "", false
	}
	var buf [7]byte
	n := 0
	for ; n < len(buf); n++ {
		c := sixbitChar(byte(m.vendorBits >> (6 * (6 - n)) & 0x3f))
		if c == '@' {
			break
		}
		buf[n] = c
	}
	return string(trimText(buf[:n])), true
}
