package ais

import (
	"encoding/binary"
	"fmt"
)

// maxPayloadChars bounds one message's armoured payload, all fragments
// together. The longest AIS message is 5 slots, 1008 bits (168
// characters); twice that leaves room for odd senders while a stream of
// garbage cannot grow a pending group without bound.
const maxPayloadChars = 2 * 168

// badArmour marks bytes outside the armouring alphabet in armourValue.
const badArmour = 0xff

// armourValue maps an armouring character to its 6-bit value: '0'..'W'
// are 0..39 and '`'..'w' are 40..63 (ITU-R M.1371 and IEC 61162-1 table 7).
// A table keeps the per-character work to one load on the hot path.
var armourValue = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= 'W':
			t[c] = byte(c - '0')
		case c >= '`' && c <= 'w':
			t[c] = byte(c - '0' - 8)
		default:
			t[c] = badArmour
		}
	}
	return t
}()

// bits is a payload de-armoured into a bit string, most significant bit
// first. Bytes past n may hold fill bits; readers never look past n.
type bits struct {
	b []byte // payload bytes, then at least slack zero bytes
	n int
}

// slack is the zero padding kept after the payload bytes.
const slack = 8

func (p *bits) reset() {
	p.b = p.b[:0]
	p.n = 0
}

// appendArmoured de-armours s onto the end of p. Characters outside the
// alphabet are an error unless lenient, which reads them as 0 as pyais
// does; gpsd and libais reject such sentences.
func (p *bits) appendArmoured(s string, lenient bool) error {
	if (p.n+6*len(s))/6 > maxPayloadChars {
		return fmt.Errorf("%w: payload longer than %d characters", ErrMalformed, maxPayloadChars)
	}
	// Grow once. The slack of 8 bytes past the payload lets u load a
	// whole word at any byte of it, and the loop below store one.
	need := (p.n+6*len(s)+7)>>3 + slack
	if need > cap(p.b) {
		nb := make([]byte, len(p.b), max(need, 2*cap(p.b), 64))
		copy(nb, p.b)
		p.b = nb
	}
	old := len(p.b)
	p.b = p.b[:need]
	clear(p.b[old:])

	// Collect bits in a word and store them 32 at a time; a character at
	// a time costs twice as much on the hot path.
	at, pending := p.n>>3, p.n&7
	var acc uint64
	if pending > 0 {
		acc = uint64(p.b[at] >> (8 - pending))
	}
	for i := 0; i < len(s); i++ {
		v := armourValue[s[i]]
		if v == badArmour {
			if !lenient {
				return fmt.Errorf("%w: payload character %q is outside the armouring alphabet", ErrMalformed, s[i])
			}
			v = 0
		}
		acc = acc<<6 | uint64(v)
		pending += 6
		if pending >= 32 {
			pending -= 32
			binary.BigEndian.PutUint32(p.b[at:], uint32(acc>>pending))
			at += 4
		}
	}
	for pending >= 8 {
		pending -= 8
		p.b[at] = byte(acc >> pending)
		at++
	}
	if pending > 0 {
		p.b[at] = byte(acc << (8 - pending))
	}
	p.n += 6 * len(s)
	return nil
}

// dropFill removes the fill bits of the last fragment.
func (p *bits) dropFill(fill int) error {
	if fill > p.n {
		return fmt.Errorf("%w: %d fill bits but only %d payload bits", ErrMalformed, fill, p.n)
	}
	p.n -= fill
	return nil
}

// u reads the unsigned field of width bits (at most 57) at bit offset off.
// It is false when the payload ends before the field does: a field cut in
// two is absent rather than read as a smaller number.
func (p *bits) u(off, width int) (uint64, bool) {
	if off+width > p.n {
		return 0, false
	}
	if width == 0 {
		return 0, true
	}
	// One big-endian word from the field's first byte holds the whole
	// field: at most 7 bits before it and 57 bits of it.
	w := binary.BigEndian.Uint64(p.b[off>>3:])
	return w << uint(off&7) >> uint(64-width), true
}

// s reads a two's complement field like u.
func (p *bits) s(off, width int) (int64, bool) {
	v, ok := p.u(off, width)
	sh := uint(64 - width)
	return int64(v<<sh) >> sh, ok
}

// sixbitChar maps a 6-bit value to the AIS character set: 0-31 are
// '@'..'_', 32-63 are ' '..'?'.
func sixbitChar(v byte) byte {
	if v < 32 {
		return v + 64
	}
	return v
}

// trimText removes the trailing '@' padding and spaces. gpsd stops at the
// first '@' instead; libais and pyais trim only the tail, which keeps text
// a sender put after an '@' and is what the reference cases prefer.
func trimText(b []byte) []byte {
	n := len(b)
	for n > 0 && (b[n-1] == '@' || b[n-1] == ' ') {
		n--
	}
	return b[:n]
}

// text reads n 6-bit characters at off into buf and returns them trimmed.
// It is false when the payload ends before the last character.
func (p *bits) text(buf []byte, off, n int) ([]byte, bool) {
	if off+6*n > p.n {
		return nil, false
	}
	buf = buf[:0]
	for i := range n {
		v, _ := p.u(off+6*i, 6)
		buf = append(buf, sixbitChar(byte(v)))
	}
	return trimText(buf), true
}
