package main

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestReorderer(t *testing.T) {
	t0 := time.Unix(1_795_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type in struct {
		seq uint16
		at  int // ms after t0
	}
	type out struct {
		seq uint16
		at  int
	}
	tests := []struct {
		name string
		in   []in
		want []out
	}{
		{"in order", []in{{10, 0}, {11, 1}, {12, 2}}, []out{{10, 0}, {11, 1}, {12, 2}}},
		{"swapped: the first arrives with the second", []in{{10, 0}, {12, 1}, {11, 2}}, []out{{10, 0}, {11, 2}, {12, 2}}},
		{"retransmitted within the wait", []in{{1, 0}, {3, 40}, {4, 80}, {2, 300}}, []out{{1, 0}, {2, 300}, {3, 300}, {4, 300}}},
		{"given up after the wait", []in{{1, 0}, {3, 40}, {4, 80}, {5, 600}, {2, 700}}, []out{{1, 0}, {3, 600}, {4, 600}, {5, 600}}},
		{"duplicate", []in{{1, 0}, {1, 1}, {2, 2}}, []out{{1, 0}, {2, 2}}},
		{"wraps around", []in{{65534, 0}, {0, 1}, {65535, 2}, {1, 3}}, []out{{65534, 0}, {65535, 2}, {0, 2}, {1, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []out
			r := newReorderer(func(p *rtp.Packet, at time.Time) {
				got = append(got, out{p.SequenceNumber, int(at.Sub(t0) / time.Millisecond)})
			})
			for _, p := range tt.in {
				r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: p.seq}}, ms(p.at))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
