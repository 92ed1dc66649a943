package main

import (
	"bytes"
	"testing"
	"time"
)

func TestMarkerSEIRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    mark
	}{
		{"now", mark{sent: time.Unix(1_795_000_000, 123_456_789), seq: 42}},
		// Zero bytes in the payload need emulation prevention: 00 00 00
		// would otherwise read as a start code.
		{"zero bytes", mark{sent: time.Unix(0, 1<<32), seq: 0}},
		{"epoch", mark{sent: time.Unix(0, 0), seq: 3}},
		{"max seq", mark{sent: time.Unix(0, 0x0000_0300_0000_0003), seq: 0xffff_ffff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nalu := encodeMarkerSEI(tt.m)
			if nalu[0] != naluTypeSEI {
				t.Fatalf("NAL header %#x, want SEI", nalu[0])
			}
			// No start code may appear inside a NAL unit.
			for _, sc := range [][]byte{{0, 0, 0}, {0, 0, 1}, {0, 0, 2}} {
				if bytes.Contains(nalu, sc) {
					t.Fatalf("% x contains % x", nalu, sc)
				}
			}
			got, ok := decodeMarkerSEI(nalu)
			if !ok {
				t.Fatalf("decode % x: no mark", nalu)
			}
			if !got.sent.Equal(tt.m.sent) || got.seq != tt.m.seq {
				t.Fatalf("decoded %v #%d, want %v #%d", got.sent, got.seq, tt.m.sent, tt.m.seq)
			}
		})
	}
}

func TestDecodeMarkerSEI(t *testing.T) {
	want := mark{sent: time.Unix(1_795_000_000, 5), seq: 7}
	ours := encodeMarkerSEI(want)
	otherUUID := bytes.Clone(ours)
	otherUUID[3] ^= 0xff // first byte of the UUID (no emulation bytes before it)
	// An x264-style message (same type, another UUID, 300 bytes: a size
	// coded over two bytes) followed by ours in the same NAL unit.
	x264 := append([]byte{naluTypeSEI, seiUserDataUnregistered, 0xff, 300 - 255}, bytes.Repeat([]byte{'x'}, 300)...)
	twoMessages := append(x264, ours[1:]...)
	tests := []struct {
		name string
		nalu []byte
		ok   bool
	}{
		{"ours", ours, true},
		{"after another message", twoMessages, true},
		{"other UUID", otherUUID, false},
		{"other message only", append(x264, rbspStopBit), false},
		{"slice, not SEI", append([]byte{0x65}, ours[1:]...), false},
		{"truncated", ours[:len(ours)-6], false},
		{"empty SEI", []byte{naluTypeSEI}, false},
		{"size beyond the end", []byte{naluTypeSEI, seiUserDataUnregistered, 0xff}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeMarkerSEI(tt.nalu)
			if ok != tt.ok {
				t.Fatalf("found %t, want %t", ok, tt.ok)
			}
			if ok && (!got.sent.Equal(want.sent) || got.seq != want.seq) {
				t.Fatalf("decoded %v #%d, want %v #%d", got.sent, got.seq, want.sent, want.seq)
			}
		})
	}
}

func TestEmulationPrevention(t *testing.T) {
	tests := []struct{ rbsp, escaped []byte }{
		{[]byte{0, 0, 0}, []byte{0, 0, 3, 0}},
		{[]byte{0, 0, 1, 0, 0, 2}, []byte{0, 0, 3, 1, 0, 0, 3, 2}},
		{[]byte{0, 0, 3}, []byte{0, 0, 3, 3}},
		{[]byte{0, 0, 4, 0, 0}, []byte{0, 0, 4, 0, 0}},
		{[]byte{0, 0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3, 0}},
		{[]byte{1, 2, 3}, []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		if got := addEmulationPrevention(tt.rbsp); !bytes.Equal(got, tt.escaped) {
			t.Errorf("add(% x) = % x, want % x", tt.rbsp, got, tt.escaped)
		}
		if got := removeEmulationPrevention(tt.escaped); !bytes.Equal(got, tt.rbsp) {
			t.Errorf("remove(% x) = % x, want % x", tt.escaped, got, tt.rbsp)
		}
	}
}

func TestAccessUnits(t *testing.T) {
	sps, pps, sei := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x06, 5}
	idr0, idr1 := []byte{0x65, 0x88}, []byte{0x65, 0x40} // first_mb_in_slice 0, then not 0
	p0, p1 := []byte{0x41, 0x9a}, []byte{0x41, 0x20}
	stream := []byte{}
	for _, n := range [][]byte{sps, pps, sei, idr0, idr1, p0, p1, p0} {
		stream = append(append(stream, 0, 0, 0, 1), n...)
	}
	aus := accessUnits(splitAnnexB(stream))
	want := [][][]byte{{sps, pps, sei, idr0, idr1}, {p0, p1}, {p0}}
	if len(aus) != len(want) {
		t.Fatalf("%d access units, want %d: %x", len(aus), len(want), aus)
	}
	for i := range want {
		if len(aus[i]) != len(want[i]) {
			t.Fatalf("access unit %d: %x, want %x", i, aus[i], want[i])
		}
		for j := range want[i] {
			if !bytes.Equal(aus[i][j], want[i][j]) {
				t.Fatalf("access unit %d: %x, want %x", i, aus[i], want[i])
			}
		}
	}
	marked := withMark(aus[1], mark{sent: time.Unix(1, 0), seq: 1})
	if len(marked) != 3 || marked[0][0] != naluTypeSEI {
		t.Fatalf("withMark: %x, want the SEI before the first slice", marked)
	}
	if _, ok := findMark(marked); !ok {
		t.Fatal("findMark: no mark in a marked access unit")
	}
}
