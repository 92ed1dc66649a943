package ais

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A type 1 report from gpsd's sample (gpsd-sample-001): MMSI 371798000.
const (
	type1      = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"
	type1Body  = "AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0"
	type1MMSI  = 371798000
	badSumLine = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4B"
)

// tagged prefixes sentence with an NMEA 4.0 tag block holding fields and
// its correct checksum.
func tagged(fields, sentence string) string {
	return fmt.Sprintf(`\%s*%02X\%s`, fields, checksum(fields), sentence)
}

type framingCase struct {
	name    string
	cfg     Config
	in      string
	wantErr error // nil: no error
	msgs    int
	skipped uint64
	check   func(t *testing.T, m *Message) // nil: the message is type1's
}

func TestFraming(t *testing.T) {
	lenient := Config{IgnoreChecksum: true, LenientArmour: true}
	tests := []framingCase{
		{name: "plain", in: type1, msgs: 1, check: func(t *testing.T, m *Message) {
			if m.MMSI != type1MMSI || m.Talker != "AI" || m.Own || m.Channel != 'A' || m.TagSource != "" || m.TagTime.Valid {
				t.Errorf("got %+v", m)
			}
		}},
		{name: "leading space", in: " " + type1, msgs: 1},
		{name: "CRLF", in: type1 + "\r\n", msgs: 1},
		{name: "trailing spaces", in: type1 + "   ", msgs: 1},
		{name: "raishub suffix", in: type1 + ",raishub,1342569600", msgs: 1},
		{name: "receiver suffix", in: type1 + ",s28089,d-103,T39.44353985,x147521,r08TPHI1,1242958962", msgs: 1},
		{name: "lower-case checksum", in: strings.Replace(type1, "*4A", "*4a", 1), msgs: 1},
		{name: "VDO is own report", in: nmea(strings.Replace(type1Body, "AIVDM", "AIVDO", 1)), msgs: 1, check: func(t *testing.T, m *Message) {
			if !m.Own {
				t.Error("VDO not marked Own")
			}
		}},
		{name: "channel 2", in: nmea(strings.Replace(type1Body, ",A,", ",2,", 1)), msgs: 1, check: func(t *testing.T, m *Message) {
			if m.Channel != '2' {
				t.Errorf("channel %q", m.Channel)
			}
		}},
		{name: "no channel", in: nmea(strings.Replace(type1Body, ",A,", ",,", 1)), msgs: 1, check: func(t *testing.T, m *Message) {
			if m.Channel != 0 {
				t.Errorf("channel %q", m.Channel)
			}
		}},
		{name: "tag block", in: tagged("g:1-1-4512,s:FooBar,c:1428451253", type1), msgs: 1, check: func(t *testing.T, m *Message) {
			if m.TagSource != "FooBar" || m.TagTime != some(int64(1428451253)) {
				t.Errorf("tag source %q time %v", m.TagSource, m.TagTime)
			}
		}},
		{name: "tag block with unknown fields", in: tagged("s:rORBCOMM000,q:u,c:1426032001,T:2015-03-11 00.00.01", type1), msgs: 1},
		{name: "tag block bad checksum", in: `\s:FooBar,c:1428451253*00\` + type1, wantErr: ErrChecksum},
		{name: "tag block bad checksum, lenient", cfg: lenient, in: `\s:FooBar,c:1428451253*00\` + type1, msgs: 1},
		{name: "tag block without checksum", in: `\s:FooBar\` + type1, wantErr: ErrChecksum},
		{name: "tag block unterminated", in: `\s:FooBar*11` + type1, wantErr: ErrMalformed},
		{name: "tag block bad time", in: tagged("c:12x", type1), wantErr: ErrMalformed},
		{name: "tag block bad group", in: tagged("g:3-2-1", type1), wantErr: ErrMalformed},
		{name: "tag block alone", in: tagged("c:1", ""), wantErr: ErrMalformed},
		{name: "PGHP skipped", in: "$PGHP,1,2008,5,9,0,0,0,10,338,2,,1,09*17", skipped: 1},
		{name: "PGHP then AIS", in: "$PGHP,1,2004,12,21,23,59,58,999,219,219000001,219000002,1,6D*56\r\n" + type1, msgs: 1, skipped: 1},
		{name: "other sentences skipped", in: "$GPRMC,,V,,,,,,,,,,N*53\n!AIABM,1,1,0,123456789,0,6,0,0*00", skipped: 2},
		{name: "bad checksum", in: badSumLine, wantErr: ErrChecksum},
		{name: "bad checksum, lenient", cfg: lenient, in: badSumLine, msgs: 1},
		{name: "no checksum", in: "!" + type1Body, wantErr: ErrChecksum},
		{name: "no checksum, lenient", cfg: lenient, in: "!" + type1Body, msgs: 1},
		{name: "checksum one digit", in: "!" + type1Body + "*4", wantErr: ErrMalformed},
		{name: "checksum three digits", in: type1 + "0", wantErr: ErrMalformed},
		{name: "no start delimiter", in: type1[1:], wantErr: ErrMalformed},
		{name: "garbage", in: "hello", wantErr: ErrMalformed},
		{name: "empty lines", in: "\r\n\n  \n"},
		{name: "six fields", in: nmea("AIVDM,1,1,,15RTgt0PAso;90TKcjM8h6g208CQ,0"), wantErr: ErrMalformed},
		{name: "eight fields", in: nmea(type1Body + ",0"), wantErr: ErrMalformed},
		{name: "fragment count 0", in: nmea("AAVDM,0,1,,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"), wantErr: ErrMalformed},
		{name: "fragment number 0", in: nmea("AIVDM,1,0,,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"), wantErr: ErrMalformed},
		{name: "fragment number above count", in: nmea("AIVDM,2,3,1,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"), wantErr: ErrMalformed},
		{name: "sequence id not a digit", in: nmea("AIVDM,2,1,x,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"), wantErr: ErrMalformed},
		{name: "channel too long", in: nmea("AIVDM,1,1,,AB,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"), wantErr: ErrMalformed},
		{name: "fill bits 6", in: nmea("AIVDM,1,1,,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,6"), wantErr: ErrMalformed},
		{name: "fill bits missing", in: nmea("AIVDM,1,1,,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,"), wantErr: ErrMalformed},
		{name: "fill bits without payload", in: nmea("AIVDM,1,1,,B,,2"), wantErr: ErrMalformed},
		{name: "empty payload", in: nmea("AIVDM,1,1,0,A,,0"), wantErr: ErrTruncated},
		// pyais issue 88: a '!' inside the payload. pyais reads it as 0.
		{name: "character outside the alphabet", in: nmea("AIVDM,1,1,,B,3815;`100!PhmnPPwL=3OmUd0Dg:,0"), wantErr: ErrMalformed},
		{name: "character outside the alphabet, lenient", cfg: lenient, in: nmea("AIVDM,1,1,,B,3815;`100!PhmnPPwL=3OmUd0Dg:,0"), msgs: 1, check: func(t *testing.T, m *Message) {
			if m.Type != 3 || m.MMSI != 538004384 {
				t.Errorf("type %d MMSI %d", m.Type, m.MMSI)
			}
		}},
		{name: "payload too long", in: nmea("AIVDM,1,1,,A," + strings.Repeat("1", maxPayloadChars+1) + ",0"), wantErr: ErrMalformed},
		{name: "several lines, one bad", in: type1 + "\n" + badSumLine + "\n" + type1, wantErr: ErrChecksum, msgs: 2},
	}
	for _, talker := range []string{"AI", "AN", "AR", "AA", "AB", "BS", "SA"} {
		tests = append(tests, framingCase{name: "talker " + talker, in: nmea(talker + type1Body[2:]), msgs: 1, check: func(t *testing.T, m *Message) {
			if m.Talker != talker {
				t.Errorf("talker %q", m.Talker)
			}
		}})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.cfg)
			msgs, err := d.Feed(tt.in)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if len(msgs) != tt.msgs {
				t.Fatalf("%d messages, want %d", len(msgs), tt.msgs)
			}
			if s := d.Stats(); s.Skipped != tt.skipped {
				t.Errorf("skipped %d, want %d", s.Skipped, tt.skipped)
			}
			for i := range msgs {
				if tt.check != nil {
					tt.check(t, &msgs[i])
				} else if msgs[i].MMSI != type1MMSI {
					t.Errorf("MMSI %d", msgs[i].MMSI)
				}
			}
		})
	}
}

func TestParseTagBlock(t *testing.T) {
	tb, err := parseTagBlock("s:APIDSSRC1,g:2-2-05628,n:08795,c:0002780323,x:123445*67", false)
	if err != nil {
		t.Fatal(err)
	}
	want := tagBlock{source: "APIDSSRC1", time: some(int64(2780323)), group: 5628, groupN: 2, groupOf: 2}
	if tb != want {
		t.Errorf("got %+v, want %+v", tb, want)
	}
}

func TestLineSeparators(t *testing.T) {
	for _, sep := range []string{"\n", "\r\n", "\r", "\n\n", "\r\n\r\n"} {
		d := NewDecoder(Config{})
		msgs, err := d.Feed(type1 + sep + type1 + sep)
		if err != nil || len(msgs) != 2 || d.Stats().Lines != 2 {
			t.Errorf("separator %q: %d messages, %d lines, error %v", sep, len(msgs), d.Stats().Lines, err)
		}
	}
}
