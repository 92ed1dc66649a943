package ais

import (
	"errors"
	"fmt"
	"strings"
)

// errNotAIS marks a well-formed line that is not a VDM/VDO sentence, such
// as a Gatehouse $PGHP wrapper or a $ARVSI signal report. The Decoder
// counts and skips these; they are not errors to the caller.
var errNotAIS = errors.New("ais: not a VDM/VDO sentence")

// sentence is one VDM/VDO sentence after framing and checksum. Its strings
// point into the line it came from.
type sentence struct {
	talker  string // two characters
	own     bool   // VDO rather than VDM
	total   int    // fragments in the message, 1-9
	num     int    // this fragment's number, 1..total
	seq     int    // sequential message id 0-9, -1 when empty
	channel byte   // 0 when empty
	payload string // armoured
	fill    int    // fill bits, 0-5
	tag     tagBlock
}

// tagBlock holds the NMEA 4.0 tag block fields this package uses.
type tagBlock struct {
	source  string     // s: source station
	time    Opt[int64] // c: UNIX time
	group   int        // g: group id, -1 when absent
	groupN  int        // g: sentence number in the group
	groupOf int        // g: sentences in the group
}

// parseSentence frames one line, trimmed of white space (a leading space
// and a trailing CR LF are common): an optional tag block, then
// !ttVDM/!ttVDO with its seven fields and checksum. Anything after the two
// checksum digits (",raishub,1342579715", receiver metadata) is ignored,
// as the checksum has already covered the sentence.
func parseSentence(line string, ignoreChecksum bool) (sentence, error) {
	s := sentence{seq: -1, tag: tagBlock{group: -1}}

	if strings.HasPrefix(line, `\`) {
		end := strings.IndexByte(line[1:], '\\')
		if end < 0 {
			return s, fmt.Errorf("%w: unterminated tag block in %.96q", ErrMalformed, line)
		}
		var err error
		if s.tag, err = parseTagBlock(line[1:1+end], ignoreChecksum); err != nil {
			return s, fmt.Errorf("%w in %.96q", err, line)
		}
		line = line[2+end:]
	}

	if len(line) == 0 || (line[0] != '!' && line[0] != '$') {
		return s, fmt.Errorf("%w: no sentence start ('!' or '$') in %.96q", ErrMalformed, line)
	}

	// One pass finds the commas and the '*' and computes the checksum: a
	// sentence is short, and this is the per-line cost of the whole feed.
	var comma [6]int
	commas, star := 0, len(line)
	var sum byte
	for i := 1; i < len(line); i++ {
		c := line[i]
		if c == '*' {
			star = i
			break
		}
		sum ^= c
		if c == ',' {
			if commas < len(comma) {
				comma[commas] = i
			}
			commas++
		}
	}

	// Look at the address first: other sentences are skipped whatever
	// their checksum, because nothing here reads them.
	addrEnd := star
	if commas > 0 {
		addrEnd = comma[0]
	}
	addr := line[1:addrEnd]
	if len(addr) != 5 || (addr[2:] != "VDM" && addr[2:] != "VDO") {
		return s, errNotAIS
	}
	s.talker, s.own = talker(addr[:2]), addr[2:] == "VDO"

	if star < len(line) {
		want, ok := parseHex2(line[star+1:])
		if !ok {
			return s, fmt.Errorf("%w: checksum is not two hex digits in %.96q", ErrMalformed, line)
		}
		if sum != want && !ignoreChecksum {
			return s, fmt.Errorf("%w: %02X, computed %02X, in %.96q", ErrChecksum, want, sum, line)
		}
	} else if !ignoreChecksum {
		return s, fmt.Errorf("%w: none in %.96q", ErrChecksum, line)
	}

	// The fields are "ttVDM,total,num,seq,channel,payload,fill".
	if commas != len(comma) {
		return s, fmt.Errorf("%w: %d fields, want 7, in %.96q", ErrMalformed, commas+1, line)
	}
	f := [7]string{
		addr,
		line[comma[0]+1 : comma[1]],
		line[comma[1]+1 : comma[2]],
		line[comma[2]+1 : comma[3]],
		line[comma[3]+1 : comma[4]],
		line[comma[4]+1 : comma[5]],
		line[comma[5]+1 : star],
	}

	var ok bool
	if s.total, ok = digit(f[1]); !ok || s.total < 1 {
		return s, fmt.Errorf("%w: fragment count %q in %.96q", ErrMalformed, f[1], line)
	}
	if s.num, ok = digit(f[2]); !ok || s.num < 1 || s.num > s.total {
		return s, fmt.Errorf("%w: fragment number %q of %d in %.96q", ErrMalformed, f[2], s.total, line)
	}
	if f[3] != "" {
		if s.seq, ok = digit(f[3]); !ok {
			return s, fmt.Errorf("%w: sequence id %q in %.96q", ErrMalformed, f[3], line)
		}
	}
	switch len(f[4]) {
	case 0:
	case 1:
		s.channel = f[4][0]
	default:
		return s, fmt.Errorf("%w: channel %q in %.96q", ErrMalformed, f[4], line)
	}
	s.payload = f[5]
	if s.fill, ok = digit(f[6]); !ok || s.fill > 5 {
		return s, fmt.Errorf("%w: fill bits %q in %.96q", ErrMalformed, f[6], line)
	}
	if s.fill > 6*len(s.payload) {
		return s, fmt.Errorf("%w: %d fill bits after %d payload characters in %.96q", ErrMalformed, s.fill, len(s.payload), line)
	}
	return s, nil
}

// parseTagBlock reads "key:value,key:value*hh" (the text between the
// backslashes). Unknown keys are ignored, as NMEA 4.0 lets receivers add
// their own.
func parseTagBlock(tb string, ignoreChecksum bool) (tagBlock, error) {
	t := tagBlock{group: -1}
	if star := strings.LastIndexByte(tb, '*'); star >= 0 {
		sum, ok := parseHex2(tb[star+1:])
		if !ok || len(tb) != star+3 {
			return t, fmt.Errorf("%w: tag block checksum", ErrMalformed)
		}
		tb = tb[:star]
		if got := checksum(tb); got != sum && !ignoreChecksum {
			return t, fmt.Errorf("%w: tag block %02X, computed %02X", ErrChecksum, sum, got)
		}
	} else if !ignoreChecksum {
		return t, fmt.Errorf("%w: tag block has none", ErrChecksum)
	}
	for tb != "" {
		var kv string
		kv, tb, _ = strings.Cut(tb, ",")
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return t, fmt.Errorf("%w: tag block field %q", ErrMalformed, kv)
		}
		switch k {
		case "s":
			t.source = v
		case "c":
			n, ok := atoi(v, 18)
			if !ok {
				return t, fmt.Errorf("%w: tag block time %q", ErrMalformed, v)
			}
			t.time = some(n)
		case "g":
			// "g:n-m-id": sentence n of m in group id.
			a, rest, _ := strings.Cut(v, "-")
			b, c, _ := strings.Cut(rest, "-")
			n, ok1 := atoi(a, 4)
			m, ok2 := atoi(b, 4)
			id, ok3 := atoi(c, 9)
			if !ok1 || !ok2 || !ok3 || n < 1 || n > m {
				return t, fmt.Errorf("%w: tag block group %q", ErrMalformed, v)
			}
			t.groupN, t.groupOf, t.group = int(n), int(m), int(id)
		}
	}
	return t, nil
}

// checksum is the NMEA XOR of every byte between the start delimiter and
// the '*'.
func checksum(s string) byte {
	var x byte
	for i := 0; i < len(s); i++ {
		x ^= s[i]
	}
	return x
}

// parseHex2 reads the two hex digits at the start of s. A third hex digit
// means the line is damaged rather than followed by metadata.
func parseHex2(s string) (byte, bool) {
	if len(s) < 2 || (len(s) > 2 && hexVal(s[2]) < 16) {
		return 0, false
	}
	hi, lo := hexVal(s[0]), hexVal(s[1])
	if hi > 15 || lo > 15 {
		return 0, false
	}
	return hi<<4 | lo, true
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

func digit(s string) (int, bool) {
	if len(s) != 1 || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	return int(s[0] - '0'), true
}

// atoi reads a non-negative decimal of at most maxDigits digits without
// allocating; strconv would do, but its error values allocate.
func atoi(s string, maxDigits int) (int64, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// talker returns the usual AIS talker ids as constants, so that a
// Message kept for long does not keep its whole input line alive.
func talker(id string) string {
	switch id {
	case "AI":
		return "AI"
	case "AB":
		return "AB"
	case "AN":
		return "AN"
	case "AR":
		return "AR"
	case "AS":
		return "AS"
	case "AA":
		return "AA"
	case "BS":
		return "BS"
	case "SA":
		return "SA"
	}
	return id
}
