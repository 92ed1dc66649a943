package ais

import (
	"errors"
	"testing"
)

// TestBadInput: each kind of bad input is classified by its error and
// its counter, and yields no message with a position.
func TestBadInput(t *testing.T) {
	type5 := fragments(staticVoyage(111111111, "ALPHA"), 3, 4, "A")
	tests := []struct {
		name    string
		lines   []string
		want    error
		counter func(Stats) uint64
	}{
		{"bad checksum", []string{badSumLine}, ErrChecksum, func(s Stats) uint64 { return s.Checksum }},
		{"truncated payload", []string{nmea("AIVDM,1,1,,A,15RTg,0")}, ErrTruncated, func(s Stats) uint64 { return s.TooShort }},
		{"unknown type", []string{vdm(header(30, 371798000).put(130, 0))}, ErrUnknownType, func(s Stats) uint64 { return s.UnknownType }},
		{"part 2 without part 1", type5[1:2], ErrOrphan, func(s Stats) uint64 { return s.Orphan }},
		{"out-of-order parts", []string{type5[0], type5[2]}, ErrOutOfOrder, func(s Stats) uint64 { return s.OutOfOrder }},
		{"malformed", []string{nmea("AIVDM,1,1,,A")}, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			var errs []error
			for _, l := range tt.lines {
				msgs, err := d.Feed(l)
				for i := range msgs {
					if _, _, ok := msgs[i].Position(); ok {
						t.Errorf("message with a position: %+v", msgs[i])
					}
				}
				errs = append(errs, err)
			}
			err := errors.Join(errs...)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if n := tt.counter(d.Stats()); n != 1 {
				t.Errorf("counted %d times, want 1", n)
			}
			if s := d.Stats(); s.Messages != 0 {
				t.Errorf("%d messages", s.Messages)
			}
		})
	}
}

func TestStats(t *testing.T) {
	d := NewDecoder(Config{})
	d.Feed(type1 + "\n" + badSumLine + "\n$PGHP,1*00\n\n" +
		"!AIVDM,1,1,,B,6B?n;be:cbapalgc;i6?Ow4,2*4A\n" + // type 6, gpsd-sample-007
		vdm(header(1, 5)))
	want := Stats{Lines: 5, Skipped: 1, Messages: 3, Undecoded: 1, Truncated: 1, Checksum: 1}
	if got := d.Stats(); got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestAppendAllocs: decoding a position report into a reused slice does
// not allocate; that is the bulk of AIS traffic.
func TestAppendAllocs(t *testing.T) {
	d := NewDecoder(Config{})
	buf := make([]Message, 0, 4)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = d.Append(buf[:0], type1)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per type 1 sentence, want 0", allocs)
	}
	two := fragments(staticVoyage(111111111, "ALPHA"), 2, 3, "A")
	allocs = testing.AllocsPerRun(1000, func() {
		buf, _ = d.Append(buf[:0], two[0])
		buf, _ = d.Append(buf[:0], two[1])
	})
	// Call sign, name and destination are new strings; reassembly itself
	// reuses its buffers.
	if allocs > 3 {
		t.Errorf("%v allocations per two-fragment type 5, want at most 3", allocs)
	}
}
