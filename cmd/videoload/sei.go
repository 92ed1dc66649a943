package main

import (
	"bytes"
	"encoding/binary"
	"time"
)

// The marker source puts its send time in every access unit as an H.264
// SEI message of type user_data_unregistered (ITU-T H.264 D.1.7): a
// 16-byte UUID that names the sender, then our payload. Relays pass SEI
// through untouched (neither gortsplib's server, gohlslib's muxer nor
// MediaMTX drop it), so a viewer can read the time back on arrival, over
// any protocol, with no clock but this machine's.

// markerUUID identifies our SEI among others (x264 writes its settings in
// the same kind of message, with its own UUID).
var markerUUID = [16]byte{0x7f, 0x3c, 0x2a, 0x1e, 0x9b, 0x4d, 0x4c, 0x8e,
	0xa6, 0xf5, 0x2d, 0x1b, 0x0e, 0x9c, 0x8a, 0x47}

const (
	naluTypeSEI                  = 6
	seiUserDataUnregistered      = 5
	markerPayloadLen             = 16 + 8 + 4 // UUID, send time (Unix ns), sequence number
	rbspStopBit             byte = 0x80
)

// mark is what a marker SEI carries.
type mark struct {
	sent time.Time
	seq  uint32
}

// encodeMarkerSEI returns a SEI NAL unit carrying m.
func encodeMarkerSEI(m mark) []byte {
	rbsp := make([]byte, 0, 2+markerPayloadLen+1)
	rbsp = append(rbsp, seiUserDataUnregistered, markerPayloadLen)
	rbsp = append(rbsp, markerUUID[:]...)
	rbsp = binary.BigEndian.AppendUint64(rbsp, uint64(m.sent.UnixNano()))
	rbsp = binary.BigEndian.AppendUint32(rbsp, m.seq)
	rbsp = append(rbsp, rbspStopBit)
	return append([]byte{naluTypeSEI}, addEmulationPrevention(rbsp)...)
}

// decodeMarkerSEI finds our mark in a NAL unit: false if it is not a SEI
// or carries no message of ours.
func decodeMarkerSEI(nalu []byte) (mark, bool) {
	if len(nalu) < 2 || nalu[0]&0x1f != naluTypeSEI {
		return mark{}, false
	}
	b := removeEmulationPrevention(nalu[1:])
	// sei_message()s until the stop bit: type and size are each coded as
	// a run of 0xFF bytes (255 each) plus a last byte.
	for len(b) > 1 || (len(b) == 1 && b[0] != rbspStopBit) {
		typ, n, ok := seiNumber(b)
		if !ok {
			return mark{}, false
		}
		b = b[n:]
		size, n, ok := seiNumber(b)
		if !ok || n+size > len(b) {
			return mark{}, false
		}
		payload := b[n : n+size]
		b = b[n+size:]
		if typ == seiUserDataUnregistered && size == markerPayloadLen && bytes.Equal(payload[:16], markerUUID[:]) {
			ns := int64(binary.BigEndian.Uint64(payload[16:24]))
			return mark{sent: time.Unix(0, ns), seq: binary.BigEndian.Uint32(payload[24:28])}, true
		}
	}
	return mark{}, false
}

func seiNumber(b []byte) (v, n int, ok bool) {
	for n < len(b) {
		v += int(b[n])
		n++
		if b[n-1] != 0xff {
			return v, n, true
		}
	}
	return 0, 0, false
}

// addEmulationPrevention inserts 0x03 after every two zero bytes that
// are followed by a byte ≤ 3, so that the payload cannot contain a start
// code (H.264 7.4.1).
func addEmulationPrevention(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/2)
	zeros := 0
	for _, c := range rbsp {
		if zeros == 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// removeEmulationPrevention drops the 0x03 of every 0x00 0x00 0x03.
func removeEmulationPrevention(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros == 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// findMark looks for our SEI in an access unit's NAL units.
func findMark(au [][]byte) (mark, bool) {
	for _, nalu := range au {
		if m, ok := decodeMarkerSEI(nalu); ok {
			return m, true
		}
	}
	return mark{}, false
}
