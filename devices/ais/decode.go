package ais

import "fmt"

// DecodePayload decodes one complete payload taken out of its sentences:
// the armoured characters of every fragment, concatenated, and the fill
// bits of the last one. It enforces the armouring alphabet. Use a Decoder
// for NMEA lines; this is for payloads that arrive some other way.
func DecodePayload(payload string, fillBits int) (Message, error) {
	var m Message
	var p bits
	if fillBits < 0 || fillBits > 5 {
		return m, fmt.Errorf("%w: fill bits %d", ErrMalformed, fillBits)
	}
	if err := p.appendArmoured(payload, false); err != nil {
		return m, err
	}
	if err := p.dropFill(fillBits); err != nil {
		return m, err
	}
	err := decodeBits(&m, &p)
	return m, err
}

// decodeBits fills m from a de-armoured payload. Fields are read in the
// order of ITU-R M.1371-5 annex 8; each reader stops yielding fields
// where the payload ends.
func decodeBits(m *Message, p *bits) error {
	if p.n < 38 {
		return fmt.Errorf("%w: %d bits, the header alone needs 38", ErrTruncated, p.n)
	}
	r := reader{p: p}
	m.Type = uint8(r.raw(6))
	m.Repeat = uint8(r.raw(2))
	m.MMSI = uint32(r.raw(30))

	var full int // the standard's length for the type, to flag short payloads
	switch m.Type {
	case 1, 2, 3:
		full = decodeClassA(m, &r)
	case 4, 11:
		full = decodeBaseStation(m, &r)
	case 5:
		full = decodeStaticVoyage(m, &r)
	case 9:
		full = decodeSAR(m, &r)
	case 18:
		full = decodeClassB(m, &r)
	case 19:
		full = decodeClassBExtended(m, &r)
	case 21:
		full = decodeAidToNavigation(m, &r)
	case 24:
		full = decodeStaticB(m, &r)
	case 27:
		full = decodeLongRange(m, &r)
	case 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 20, 22, 23, 25, 26:
		m.Undecoded = true
	default:
		return fmt.Errorf("%w: %d (MMSI %d)", ErrUnknownType, m.Type, m.MMSI)
	}
	m.Truncated = p.n < full
	return nil
}

// reader walks a payload field by field. Every method advances past its
// field whether or not the payload holds it, so a decoder is a straight
// list of fields in standard order.
type reader struct {
	p   *bits
	off int
	buf [32]byte // scratch for text fields
}

func (r *reader) skip(width int) { r.off += width }

// raw reads a field the caller has already checked is present.
func (r *reader) raw(width int) uint64 {
	v, _ := r.p.u(r.off, width)
	r.off += width
	return v
}

func (r *reader) uint(width int) (uint64, bool) {
	v, ok := r.p.u(r.off, width)
	r.off += width
	return v, ok
}

func (r *reader) int(width int) (int64, bool) {
	v, ok := r.p.s(r.off, width)
	r.off += width
	return v, ok
}

func (r *reader) u8(width int) Opt[uint8] {
	v, ok := r.uint(width)
	return Opt[uint8]{uint8(v), ok}
}

func (r *reader) u16(width int) Opt[uint16] {
	v, ok := r.uint(width)
	return Opt[uint16]{uint16(v), ok}
}

func (r *reader) u32(width int) Opt[uint32] {
	v, ok := r.uint(width)
	return Opt[uint32]{uint32(v), ok}
}

func (r *reader) flag() Opt[bool] {
	v, ok := r.uint(1)
	return Opt[bool]{v == 1, ok}
}

// text reads n characters. The string allocates only when it is not
// empty; trimmed padding costs nothing.
func (r *reader) text(n int) Opt[string] {
	b, ok := r.p.text(r.buf[:0], r.off, n)
	r.off += 6 * n
	if !ok {
		return Opt[string]{}
	}
	return some(string(b))
}

// Quantities with a "not available" value or a range come through these,
// so the sentinels never leave the package.

// tenths reads a value sent in tenths, absent at or above limit: SOG
// (1023 = n/a, limit 1023), COG (3600 = n/a, above is invalid, limit
// 3600) and draught (no limit: pass 1<<width).
func (r *reader) tenths(width int, limit uint64) Opt[float64] {
	v, ok := r.uint(width)
	if !ok || v >= limit {
		return Opt[float64]{}
	}
	return some(float64(v) / 10)
}

// whole reads an integer quantity, absent at or above limit: heading (511
// = n/a, 360-510 invalid), type 9 SOG (1023), altitude (4095), type 27 SOG
// (63) and COG (511).
func (r *reader) whole(width int, limit uint64) Opt[uint16] {
	v, ok := r.uint(width)
	if !ok || v >= limit {
		return Opt[uint16]{}
	}
	return some(uint16(v))
}

// lonLat reads a longitude then a latitude in units of 1/perDegree
// degree. Each is absent when not available (181, 91) or out of range:
// a longitude of 190° is as unusable as the sentinel.
func (r *reader) lonLat(m *Message, lonWidth, latWidth int, perDegree float64) {
	if v, ok := r.int(lonWidth); ok {
		if d := float64(v) / perDegree; d >= -180 && d <= 180 {
			m.LonDeg = some(d)
		}
	}
	if v, ok := r.int(latWidth); ok {
		if d := float64(v) / perDegree; d >= -90 && d <= 90 {
			m.LatDeg = some(d)
		}
	}
}

// dimensions reads the reference point: to bow and stern (9 bits each),
// port and starboard (6 bits each), in metres.
func (r *reader) dimensions(m *Message) {
	m.ToBowM = r.u16(9)
	m.ToSternM = r.u16(9)
	m.ToPortM = r.u8(6)
	m.ToStarboardM = r.u8(6)
}
