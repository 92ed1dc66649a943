package ais

// Position reports. Each decoder starts after the 38-bit header and
// returns the standard length of its message type in bits.

// Per-degree scales of the position fields: 1/10000 minute for most
// types, 1/10 minute for long-range type 27.
const (
	fine   = 600000
	coarse = 600
)

func float(o Opt[uint16]) Opt[float64] { return Opt[float64]{float64(o.V), o.Valid} }

// decodeClassA: types 1, 2 and 3, the class A position report.
func decodeClassA(m *Message, r *reader) int {
	m.Status = r.u8(4)
	if v, ok := r.int(8); ok && v != -128 {
		m.TurnRaw = some(int8(v))
	}
	m.SpeedKnots = r.tenths(10, 1023)
	m.Accuracy = r.flag()
	r.lonLat(m, 28, 27, fine)
	m.CourseDeg = r.tenths(12, 3600)
	m.HeadingDeg = r.whole(9, 360)
	m.Second = r.u8(6)
	m.Maneuver = r.u8(2)
	r.skip(3)
	m.RAIM = r.flag()
	m.Radio = r.u32(19)
	return 168
}

// decodeBaseStation: type 4 (base station report) and type 11 (UTC and
// date response), which share a layout.
func decodeBaseStation(m *Message, r *reader) int {
	m.Year = r.u16(14)
	m.Month = r.u8(4)
	m.Day = r.u8(5)
	m.Hour = r.u8(5)
	m.Minute = r.u8(6)
	m.Second = r.u8(6)
	m.Accuracy = r.flag()
	r.lonLat(m, 28, 27, fine)
	m.EPFD = r.u8(4)
	r.skip(10)
	m.RAIM = r.flag()
	m.Radio = r.u32(19)
	return 168
}

// decodeSAR: type 9, the SAR aircraft position report. Speed is in whole
// knots here.
func decodeSAR(m *Message, r *reader) int {
	m.AltitudeM = r.whole(12, 4095)
	m.SpeedKnots = float(r.whole(10, 1023))
	m.Accuracy = r.flag()
	r.lonLat(m, 28, 27, fine)
	m.CourseDeg = r.tenths(12, 3600)
	m.Second = r.u8(6)
	m.Regional = r.u8(8)
	m.DTE = r.flag()
	r.skip(3)
	m.Assigned = r.flag()
	m.RAIM = r.flag()
	m.Radio = r.u32(20)
	return 168
}

// classBCommon reads the part types 18 and 19 share, up to the second.
func classBCommon(m *Message, r *reader) {
	m.Reserved = r.u8(8)
	m.SpeedKnots = r.tenths(10, 1023)
	m.Accuracy = r.flag()
	r.lonLat(m, 28, 27, fine)
	m.CourseDeg = r.tenths(12, 3600)
	m.HeadingDeg = r.whole(9, 360)
	m.Second = r.u8(6)
}

// decodeClassB: type 18, the standard class B position report.
func decodeClassB(m *Message, r *reader) int {
	classBCommon(m, r)
	m.Regional = r.u8(2)
	m.CS = r.flag()
	m.Display = r.flag()
	m.DSC = r.flag()
	m.Band = r.flag()
	m.Msg22 = r.flag()
	m.Assigned = r.flag()
	m.RAIM = r.flag()
	m.Radio = r.u32(20)
	return 168
}

// decodeClassBExtended: type 19, the extended class B report, which adds
// static data to the position.
func decodeClassBExtended(m *Message, r *reader) int {
	classBCommon(m, r)
	m.Regional = r.u8(4)
	m.ShipName = r.text(20)
	m.ShipType = r.u8(8)
	r.dimensions(m)
	m.EPFD = r.u8(4)
	m.RAIM = r.flag()
	m.DTE = r.flag()
	m.Assigned = r.flag()
	return 312
}

// decodeLongRange: type 27, the long-range (satellite) position report,
// with coarse position, whole-knot speed and whole-degree course.
func decodeLongRange(m *Message, r *reader) int {
	m.Accuracy = r.flag()
	m.RAIM = r.flag()
	m.Status = r.u8(4)
	r.lonLat(m, 18, 17, coarse)
	m.SpeedKnots = float(r.whole(6, 63))
	m.CourseDeg = float(r.whole(9, 360))
	m.GNSS = r.flag()
	return 96
}
