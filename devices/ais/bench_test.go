package ais

import (
	"strings"
	"testing"
)

// BenchmarkDecode measures one sentence per operation through the whole
// Decoder (framing, reassembly, decoding), on one goroutine:
//
//	go test -run x -bench Decode -benchmem ./devices/ais
//
// "mixed" replays every sentence of the reference cases that decode (all
// types, 1 to 3 fragments); "position" is a class A report, the bulk of
// real traffic.
func BenchmarkDecode(b *testing.B) {
	var mixed, position []string
	for _, c := range loadCases(b) {
		if c.Expect != "decode" {
			continue
		}
		mixed = append(mixed, c.Sentences...)
		if c.Type >= 1 && c.Type <= 3 {
			position = append(position, c.Sentences...)
		}
	}
	for _, bc := range []struct {
		name  string
		lines []string
	}{{"mixed", mixed}, {"position", position}} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder(Config{})
			msgs := make([]Message, 0, 4)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				var err error
				msgs, err = d.Append(msgs[:0], bc.lines[n%len(bc.lines)])
				if err != nil && !strings.Contains(err.Error(), "expired") {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sentences/s")
		})
	}
}
