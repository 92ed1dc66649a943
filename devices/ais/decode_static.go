package ais

// Static data: ship identity, dimensions and voyage, and aids to
// navigation. Each decoder starts after the 38-bit header and returns the
// standard length of its message type in bits.

// decodeStaticVoyage: type 5, class A static and voyage related data.
func decodeStaticVoyage(m *Message, r *reader) int {
	m.AISVersion = r.u8(2)
	m.IMO = r.u32(30)
	m.CallSign = r.text(7)
	m.ShipName = r.text(20)
	m.ShipType = r.u8(8)
	r.dimensions(m)
	m.EPFD = r.u8(4)
	m.ETAMonth = r.u8(4)
	m.ETADay = r.u8(5)
	m.ETAHour = r.u8(5)
	m.ETAMinute = r.u8(6)
	m.DraughtM = r.tenths(8, 1<<8)
	m.Destination = r.text(20)
	m.DTE = r.flag()
	return 424
}

// decodeStaticB: type 24, class B static data, sent as two independent
// one-sentence messages. Each part is decoded on its own, as pyais and
// libais do; gpsd instead holds part A until a part B with the same MMSI
// comes and emits them merged. Merging static data per MMSI belongs to
// whoever keeps vessel state, and a decoder that held part A would lose it
// whenever part B is lost.
func decodeStaticB(m *Message, r *reader) int {
	part, ok := r.uint(2)
	if !ok {
		return 40
	}
	switch part {
	case 0:
		m.Part = some(byte('A'))
		m.ShipName = r.text(20)
		return 160 // some units add 8 spare bits
	case 1:
		m.Part = some(byte('B'))
		m.ShipType = r.u8(8)
		if v, ok := r.p.u(r.off, 42); ok {
			m.vendorBits = v
		}
		m.VendorID = r.text(3)
		m.Model = r.u8(4)
		m.Serial = r.u32(20)
		m.CallSign = r.text(7)
		// An auxiliary craft (MMSI 98xxxxxxx) sends its mother ship's MMSI
		// where others send their dimensions.
		if m.MMSI/10000000 == 98 {
			m.MothershipMMSI = r.u32(30)
		} else {
			r.dimensions(m)
		}
		return 168
	}
	// Parts 2 and 3 are not defined.
	m.Undecoded = true
	return 0
}

// maxNameExtension is the longest type 21 name extension, 84 bits.
const maxNameExtension = 14

// decodeAidToNavigation: type 21, aid-to-navigation report. Names longer
// than 20 characters continue in an extension after the fixed fields.
func decodeAidToNavigation(m *Message, r *reader) int {
	m.AidType = r.u8(5)
	var full [20 + maxNameExtension]byte
	name, nameOK := r.p.text(full[:0], r.off, 20)
	r.skip(120)
	m.Accuracy = r.flag()
	r.lonLat(m, 28, 27, fine)
	r.dimensions(m)
	m.EPFD = r.u8(4)
	m.Second = r.u8(6)
	m.OffPosition = r.flag()
	m.Regional = r.u8(8)
	m.RAIM = r.flag()
	m.VirtualAid = r.flag()
	m.Assigned = r.flag()
	r.skip(1)
	if nameOK {
		// The extension is appended as sent after trimming both parts, so
		// "FORT PIERCE INLET LB" + " 6" keeps its space, as gpsd does.
		n := len(name)
		if chars := min((r.p.n-r.off)/6, maxNameExtension); chars > 0 {
			ext, _ := r.p.text(full[n:n], r.off, chars)
			n += len(ext)
		}
		m.Name = some(string(full[:n]))
	}
	return 272
}
