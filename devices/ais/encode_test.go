package ais

import (
	"fmt"
	"strconv"
	"strings"
)

// payloadWriter builds payloads bit by bit, so tests can state the values
// they send (not-available sentinels, out-of-range positions, short
// payloads) instead of hiding them in armoured text.
type payloadWriter struct{ bits []byte }

func (w *payloadWriter) put(width int, v int64) *payloadWriter {
	for i := width - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i)&1)
	}
	return w
}

// text puts s as n 6-bit characters, padded with '@'.
func (w *payloadWriter) text(s string, n int) *payloadWriter {
	for i := range n {
		c := byte('@')
		if i < len(s) {
			c = s[i]
		}
		w.put(6, int64(c&0x3f))
	}
	return w
}

// armoured returns the payload and its fill bits.
func (w *payloadWriter) armoured() (string, int) {
	fill := (6 - len(w.bits)%6) % 6
	b := append(w.bits[:len(w.bits):len(w.bits)], make([]byte, fill)...)
	var sb strings.Builder
	for i := 0; i < len(b); i += 6 {
		v := b[i]<<5 | b[i+1]<<4 | b[i+2]<<3 | b[i+3]<<2 | b[i+4]<<1 | b[i+5]
		if v < 40 {
			sb.WriteByte(v + '0')
		} else {
			sb.WriteByte(v + '0' + 8)
		}
	}
	return sb.String(), fill
}

// header starts a payload with type, repeat 0 and MMSI.
func header(typ int, mmsi int64) *payloadWriter {
	return new(payloadWriter).put(6, int64(typ)).put(2, 0).put(30, mmsi)
}

// nmea adds the start delimiter and a correct checksum to body.
func nmea(body string) string {
	return fmt.Sprintf("!%s*%02X", body, checksum(body))
}

// vdm wraps a whole payload in one !AIVDM sentence on channel A.
func vdm(w *payloadWriter) string {
	p, fill := w.armoured()
	return nmea("AIVDM,1,1,,A," + p + "," + strconv.Itoa(fill))
}

// fragments splits a payload into n !AIVDM sentences with sequence id seq.
func fragments(w *payloadWriter, n, seq int, channel string) []string {
	p, fill := w.armoured()
	size := (len(p) + n - 1) / n
	var out []string
	for i := range n {
		part := p[min(i*size, len(p)):min((i+1)*size, len(p))]
		f := 0
		if i == n-1 {
			f = fill
		}
		out = append(out, nmea(fmt.Sprintf("AIVDM,%d,%d,%d,%s,%s,%d", n, i+1, seq, channel, part, f)))
	}
	return out
}

// classA builds a type 1 report with the raw field values given.
func classA(mmsi, turn, sog, lon, lat, cog, hdg int64) *payloadWriter {
	return header(1, mmsi).
		put(4, 0).      // status
		put(8, turn).   // ROT
		put(10, sog).   // SOG, 1/10 kn
		put(1, 1).      // accuracy
		put(28, lon).   // 1/10000 min
		put(27, lat).   // 1/10000 min
		put(12, cog).   // 1/10 degree
		put(9, hdg).    // degrees
		put(6, 30).     // second
		put(2, 0).      // maneuver
		put(3, 0).      // spare
		put(1, 0).      // RAIM
		put(19, 0x1234) // radio
}
