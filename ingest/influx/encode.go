package influx

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lawfleet/fleet/ingest/series"
)

// encoder turns points into line protocol with nanosecond timestamps.
//
// It produces the same bytes as the client library's own encoder
// (write.NewPoint, whose tags and fields are sorted, then the line-protocol
// Encoder that WritePoint uses), which encode_test.go checks case by case,
// but appends straight into one reused buffer: the client's path allocates
// a Tag or Field per key, a Point and the escaped strings, which cost
// several times more per point (see BenchmarkEncode). Where the client
// would emit a line that InfluxDB rejects or misreads, it skips instead:
// keys or values ending in a backslash (which would escape the separator),
// NaN and ±Inf, unsigned values above MaxInt64 (InfluxDB 1.8 has no
// unsigned type, so uint64 is written as an integer), and value types
// outside series.Point's contract.
type encoder struct {
	// Scratch for sorting, reused across points. Pairs are collected in
	// one pass over each map, which saves a second lookup per key.
	tags   []tagPair
	fields []fieldPair
}

type tagPair struct{ k, v string }

type fieldPair struct {
	k string
	v any
}

// appendPoint appends p as one line to dst. ok is false, with dst as it
// was, when the point has no valid measurement or no encodable field.
func (e *encoder) appendPoint(dst []byte, p *series.Point) (_ []byte, ok bool) {
	if p.Measurement == "" || strings.HasSuffix(p.Measurement, `\`) {
		return dst, false
	}
	start := len(dst)
	dst = appendEscaped(dst, p.Measurement, nameEscapes)

	e.tags = e.tags[:0]
	for k, v := range p.Tags {
		e.tags = append(e.tags, tagPair{k, v})
	}
	slices.SortFunc(e.tags, func(a, b tagPair) int { return strings.Compare(a.k, b.k) })
	for _, t := range e.tags {
		if t.k == "" || t.v == "" || strings.HasSuffix(t.k, `\`) || strings.HasSuffix(t.v, `\`) {
			continue
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.k, keyEscapes)
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.v, keyEscapes)
	}

	e.fields = e.fields[:0]
	for k, v := range p.Fields {
		e.fields = append(e.fields, fieldPair{k, v})
	}
	slices.SortFunc(e.fields, func(a, b fieldPair) int { return strings.Compare(a.k, b.k) })
	sep := byte(' ')
	for _, f := range e.fields {
		if f.k == "" || strings.HasSuffix(f.k, `\`) {
			continue
		}
		mark := len(dst)
		dst = append(dst, sep)
		dst = appendEscaped(dst, f.k, keyEscapes)
		dst = append(dst, '=')
		var good bool
		if dst, good = appendValue(dst, f.v); !good {
			dst = dst[:mark]
			continue
		}
		sep = ','
	}
	if sep == ' ' {
		return dst[:start], false // no field: not a point
	}
	if !p.Time.IsZero() {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Time.UnixNano(), 10)
	}
	return append(dst, '\n'), true
}

func appendValue(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return dst, false
		}
		return strconv.AppendFloat(dst, v, 'f', -1, 64), true
	case int64:
		return append(strconv.AppendInt(dst, v, 10), 'i'), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case string:
		dst = append(dst, '"')
		dst = appendEscaped(dst, v, stringEscapes)
		return append(dst, '"'), true
	case int:
		return append(strconv.AppendInt(dst, int64(v), 10), 'i'), true
	case int32:
		return append(strconv.AppendInt(dst, int64(v), 10), 'i'), true
	case uint32:
		return append(strconv.AppendInt(dst, int64(v), 10), 'i'), true
	case uint64:
		if v > math.MaxInt64 {
			return dst, false
		}
		return append(strconv.AppendInt(dst, int64(v), 10), 'i'), true
	case float32:
		return appendValue(dst, float64(v))
	}
	return dst, false
}

// Escape sets, as the line-protocol encoder of the client library has
// them, as lookup tables: strings.ContainsAny builds its set on every call,
// which was a third of the encoding time.
var (
	nameEscapes   = escapeSet("\t\n\f\r ,")
	keyEscapes    = escapeSet("\t\n\f\r ,=")
	stringEscapes = escapeSet("\t\n\f\r\"\\")
)

type escSet [256]bool

func escapeSet(chars string) *escSet {
	var s escSet
	for i := 0; i < len(chars); i++ {
		s[chars[i]] = true
	}
	return &s
}

func appendEscaped(dst []byte, s string, set *escSet) []byte {
	i := 0
	for i < len(s) && !set[s[i]] {
		i++
	}
	dst = append(dst, s[:i]...)
	// Escapable bytes are ASCII, so UTF-8 sequences pass through whole.
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case !set[c]:
			dst = append(dst, c)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\f':
			dst = append(dst, `\f`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, '\\', c)
		}
	}
	return dst
}
