package sim

import (
	"fmt"
	"math"
	"strings"
)

// positionReport is an AIS class A position report (message type 1) of
// the unit's own vessel.
type positionReport struct {
	mmsi       uint32
	moving     bool // under way using engine, else at anchor
	lat, lon   float64
	speedKn    float64
	courseDeg  float64
	headingDeg int // 0–359
	second     int // UTC second of the fix
}

// aivdo encodes r as the single !AIVDO sentence an AIS unit reports its
// own vessel with (ITU-R M.1371-5 §3.3.7.2.2 layout, NMEA 0183 framing).
func (r positionReport) aivdo() string {
	var b bitWriter
	status := uint64(1) // at anchor
	if r.moving {
		status = 0 // under way using engine
	}
	b.put(6, 1)                                            // message type
	b.put(2, 0)                                            // repeat indicator
	b.put(30, uint64(r.mmsi))                              // MMSI
	b.put(4, status)                                       // navigational status
	b.put(8, uint64(0x80))                                 // rate of turn: not available (-128)
	b.put(10, uint64(min(1022, math.Round(r.speedKn*10)))) // SOG, 0.1 kn
	b.put(1, 0)                                            // position accuracy: > 10 m
	b.put(28, twos(math.Round(r.lon*600000), 28))          // 1/10000 minute
	b.put(27, twos(math.Round(r.lat*600000), 27))
	b.put(12, uint64(math.Mod(math.Round(r.courseDeg*10), 3600))) // COG, 0.1°
	b.put(9, uint64(r.headingDeg%360))                            // true heading
	b.put(6, uint64(r.second%60))                                 // time stamp
	b.put(2, 0)                                                   // manoeuvre: not available
	b.put(3, 0)                                                   // spare
	b.put(1, 0)                                                   // RAIM off
	b.put(19, 0)                                                  // radio status
	payload, fill := b.armoured()
	body := fmt.Sprintf("AIVDO,1,1,,A,%s,%d", payload, fill)
	return fmt.Sprintf("!%s*%02X", body, nmeaChecksum(body))
}

// twos is v as a width-bit two's complement field.
func twos(v float64, width int) uint64 {
	return uint64(int64(v)) & (1<<width - 1)
}

// bitWriter packs fields most significant bit first.
type bitWriter struct{ bits []byte }

func (w *bitWriter) put(width int, v uint64) {
	for i := width - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i)&1)
	}
}

// armoured is the 6-bit ASCII armouring of the bits and the fill bits
// added to complete the last character.
func (w *bitWriter) armoured() (string, int) {
	fill := (6 - len(w.bits)%6) % 6
	bits := append(w.bits, make([]byte, fill)...)
	var sb strings.Builder
	for i := 0; i < len(bits); i += 6 {
		v := bits[i]<<5 | bits[i+1]<<4 | bits[i+2]<<3 | bits[i+3]<<2 | bits[i+4]<<1 | bits[i+5]
		if v < 40 {
			sb.WriteByte(v + 48)
		} else {
			sb.WriteByte(v + 56)
		}
	}
	return sb.String(), fill
}

// nmeaChecksum is the XOR of the characters between '!' and '*'.
func nmeaChecksum(body string) byte {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return c
}
