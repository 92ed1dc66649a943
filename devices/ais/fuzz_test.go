package ais

import (
	"strings"
	"testing"
)

// FuzzDecoder feeds arbitrary text, seeded with every reference case:
// the decoder must not panic, must never return a position out of range,
// and must keep its pending groups within bounds.
func FuzzDecoder(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add(strings.Join(c.Sentences, "\n"))
		for _, s := range c.Sentences {
			f.Add(s)
		}
	}
	f.Add(tagged("g:1-2-4512,s:FooBar,c:1428451253", type1))
	f.Add("$PGHP,1,2008,5,9,0,0,0,10,338,2,,1,09*17\n" + type1)

	configs := []Config{
		{},
		// Lenient and tight: random text rarely has a right checksum, so
		// this is where the payload decoders and the assembler get fuzzed.
		{IgnoreChecksum: true, LenientArmour: true, MaxPending: 2, MaxAge: 3},
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, cfg := range configs {
			d := NewDecoder(cfg)
			msgs, _ := d.Feed(data)
			// Once more, so leftovers from the first pass meet new lines.
			msgs, _ = d.Append(msgs, data)
			for i := range msgs {
				checkSane(t, &msgs[i])
			}
			if n := len(d.asm.pending); n > d.cfg.MaxPending {
				t.Fatalf("%d groups pending", n)
			}
		}
		// The same bytes as a payload in the armouring alphabet, so that
		// every input reaches the message decoders with arbitrary bits.
		armoured := make([]byte, len(data))
		for i := range armoured {
			v := data[i] & 0x3f
			armoured[i] = v + '0'
			if v >= 40 {
				armoured[i] += 8
			}
		}
		for _, p := range []string{data, string(armoured)} {
			m, err := DecodePayload(p, len(data)%6)
			if err == nil {
				checkSane(t, &m)
			}
		}
	})
}
