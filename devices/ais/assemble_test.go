package ais

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// staticVoyage builds a 424-bit type 5 payload for mmsi named name.
func staticVoyage(mmsi int64, name string) *payloadWriter {
	return header(5, mmsi).
		put(2, 0).put(30, 9134270).text("CALL", 7).text(name, 20).
		put(8, 70).put(9, 100).put(9, 20).put(6, 5).put(6, 5).put(4, 1).
		put(4, 5).put(5, 15).put(5, 14).put(6, 0).put(8, 122).
		text("NEW YORK", 20).put(1, 0).put(1, 0)
}

// feedLines feeds each line on its own and returns the messages' MMSIs in
// order, every error (a Feed can return several, joined), and the decoder.
func feedLines(cfg Config, lines ...string) ([]uint32, []error, *Decoder) {
	d := NewDecoder(cfg)
	var mmsis []uint32
	var errs []error
	for _, l := range lines {
		msgs, err := d.Feed(l)
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, joined.Unwrap()...)
		} else if err != nil {
			errs = append(errs, err)
		}
		for _, m := range msgs {
			mmsis = append(mmsis, m.MMSI)
		}
	}
	return mmsis, errs, d
}

func TestAssemble(t *testing.T) {
	a := fragments(staticVoyage(111111111, "ALPHA"), 2, 3, "A")
	b := fragments(staticVoyage(222222222, "BRAVO"), 2, 3, "B")
	c := fragments(staticVoyage(333333333, "CHARLIE"), 3, 4, "A")
	single := vdm(classA(444444444, 0, 0, 0, 0, 0, 0))
	// gpsd's channel multiplexing sample: sequence ids 6 on B and 2 on A,
	// interleaved (gpsd-sixbit-0136 and gpsd-sample-006).
	gpsdB := []string{"!AIVDM,2,1,7,B,53aDpaT000010;CKKB0h4Q8TpLDr222222222216<P:656rd07Tai0CKk5hD,0*74", "!AIVDM,2,2,7,B,Q1C`8888880,2*63"}
	gpsdA := []string{"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C", "!AIVDM,2,2,1,A,88888888880,2*25"}
	withTalker := func(s, talker string) string { return nmea(talker + s[3:strings.IndexByte(s, '*')]) }

	tests := []struct {
		name  string
		cfg   Config
		lines []string
		want  []uint32 // MMSIs in the order they come out
		errs  []error  // kinds, in order
		check func(t *testing.T, d *Decoder)
	}{
		{name: "in order", lines: a, want: []uint32{111111111}},
		{name: "three parts", lines: c, want: []uint32{333333333}},
		{name: "gpsd channel multiplexing", lines: []string{gpsdB[0], gpsdA[0], gpsdA[1], gpsdB[1]}, want: []uint32{351759000, 244660390}},
		{name: "same sequence id on both channels", lines: []string{a[0], b[0], b[1], a[1]}, want: []uint32{222222222, 111111111}},
		{name: "single sentence between fragments", lines: []string{a[0], single, a[1]}, want: []uint32{444444444, 111111111}},
		{name: "part 2 without part 1", lines: a[1:], errs: []error{ErrOrphan}},
		{name: "reversed", lines: []string{a[1], a[0]}, errs: []error{ErrOrphan}, check: func(t *testing.T, d *Decoder) {
			if d.Stats().Pending != 1 {
				t.Errorf("pending %d, want part 1 waiting", d.Stats().Pending)
			}
		}},
		{name: "part 3 after part 1", lines: []string{c[0], c[2], c[1]}, errs: []error{ErrOutOfOrder, ErrOrphan}, check: func(t *testing.T, d *Decoder) {
			if d.Stats().Pending != 0 {
				t.Errorf("pending %d, want the group dropped", d.Stats().Pending)
			}
		}},
		{name: "part 2 twice", lines: []string{c[0], c[1], c[1], c[2]}, errs: []error{ErrOutOfOrder, ErrOrphan}},
		{name: "part 1 again", lines: []string{a[0], a[0], a[1]}, want: []uint32{111111111}, errs: []error{ErrIncomplete}},
		{name: "other talker", lines: []string{a[0], withTalker(a[1], "BS")}, errs: []error{ErrOrphan}},
		{name: "VDO does not complete VDM", lines: []string{a[0], nmea(strings.Replace(a[1][1:strings.IndexByte(a[1], '*')], "VDM", "VDO", 1))}, errs: []error{ErrOrphan}},
		{name: "tag source on part 1 only", lines: []string{tagged("g:1-2-77,s:sat1,c:1503079517", a[0]), tagged("g:2-2-77", a[1])}, want: []uint32{111111111}, check: func(t *testing.T, d *Decoder) {
			msgs, _ := NewDecoder(Config{}).Feed(tagged("s:sat1,c:1503079517", a[0]) + "\n" + a[1])
			if len(msgs) != 1 || msgs[0].TagSource != "sat1" || msgs[0].TagTime != some(int64(1503079517)) {
				t.Errorf("tag block not carried to the message: %+v", msgs)
			}
		}},
		{name: "other tag source", lines: []string{tagged("s:rx1", a[0]), tagged("s:rx2", a[1])}, errs: []error{ErrOrphan}},
		{name: "two sources, same sequence id", lines: []string{tagged("s:rx1", a[0]), tagged("s:rx2", a[0]), tagged("s:rx1", a[1])}, want: []uint32{111111111}, check: func(t *testing.T, d *Decoder) {
			if d.Stats().Pending != 1 {
				t.Errorf("pending %d, want rx2's group still waiting", d.Stats().Pending)
			}
		}},
		{name: "evicted", cfg: Config{MaxPending: 2}, lines: []string{a[0], b[0], c[0], a[1], b[1]}, want: []uint32{222222222}, errs: []error{ErrEvicted, ErrOrphan}},
		{name: "expired", cfg: Config{MaxAge: 3}, lines: []string{a[0], single, single, single, a[1]}, want: []uint32{444444444, 444444444, 444444444}, errs: []error{ErrExpired, ErrOrphan}},
		{name: "not expired at MaxAge", cfg: Config{MaxAge: 3}, lines: []string{a[0], single, single, a[1]}, want: []uint32{444444444, 444444444, 111111111}},
		// pyais issue 157: a type 8 whose second fragment is empty.
		{name: "empty last fragment", lines: []string{"!AIVDM,2,1,0,A,8@2R5Ph0GhRbUqe?n>KS?wvlFR06EuOwiOl?wnSwe7wvlOwwsAwwnSGmwvwt,0*4E", "!AIVDM,2,2,0,A,,0*16"}, want: []uint32{2655619}},
		{name: "bad character in part 2", lines: []string{a[0], nmea("AIVDM,2,2,3,A,!!,0")}, errs: []error{ErrMalformed}, check: func(t *testing.T, d *Decoder) {
			if d.Stats().Pending != 0 {
				t.Error("group kept after a bad fragment")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs, d := feedLines(tt.cfg, tt.lines...)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("messages from %v, want %v", got, tt.want)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %v", errs, tt.errs)
			}
			for i := range errs {
				if !errors.Is(errs[i], tt.errs[i]) {
					t.Errorf("error %d: %v, want %v", i, errs[i], tt.errs[i])
				}
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// TestAssembleBounded feeds a stream of first fragments that never
// complete: memory must stay within MaxPending groups.
func TestAssembleBounded(t *testing.T) {
	d := NewDecoder(Config{MaxPending: 8, MaxAge: 1000})
	w := staticVoyage(123456789, "X")
	for i := range 10000 {
		f := fragments(w, 2, i%10, string("AB12"[i%4]))
		if _, err := d.Feed(f[0]); err != nil && !errors.Is(err, ErrEvicted) && !errors.Is(err, ErrIncomplete) {
			t.Fatal(err)
		}
		if n := len(d.asm.pending); n > 8 {
			t.Fatalf("%d groups pending", n)
		}
	}
	if n := len(d.asm.free) + len(d.asm.pending); n > 9 {
		t.Errorf("%d groups allocated, want at most MaxPending+1", n)
	}
	s := d.Stats()
	if s.Evicted+s.Incomplete != 10000-8 {
		t.Errorf("evicted %d + incomplete %d, want every dropped group counted (%d)", s.Evicted, s.Incomplete, 10000-8)
	}
}
