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
	// Scratch for sorting, reused across points.
	tags   []pair[string]
	fields []pair[any]
	// orders remembers, per measurement, the keys its points had, sorted:
	// a point whose keys are all known is read in that order, one lookup
	// per key, instead of iterating its map and sorting, which was most of
	// the cost of a telemetry point (BenchmarkEncode).
	orders []keyOrder
}

type pair[V any] struct {
	k string
	v V
}

// keyOrder is the sorted union of the tag keys, and of the field keys, of
// the points of one measurement.
type keyOrder struct {
	measurement  string
	tags, fields []string
}

// Bounds of encoder.orders: points with many keys, or of many
// measurements, are sorted as they come.
const (
	maxOrders    = 16
	maxOrderKeys = 32
)

// order returns the keyOrder of measurement m, nil when there is no room
// for another.
func (e *encoder) order(m string) *keyOrder {
	for i := range e.orders {
		if e.orders[i].measurement == m {
			return &e.orders[i]
		}
	}
	if len(e.orders) == maxOrders {
		return nil
	}
	e.orders = append(e.orders, keyOrder{measurement: m})
	return &e.orders[len(e.orders)-1]
}

// sortedPairs returns the entries of m sorted by key in dst's storage.
// known (nil: none) is a sorted list of keys seen before: when it holds
// every key of m, and not many more, the pairs are looked up in its order;
// otherwise they are collected and sorted, and known learns the keys.
func sortedPairs[V any](dst []pair[V], m map[string]V, known *[]string) []pair[V] {
	dst = dst[:0]
	if known != nil && len(m) > 0 && len(*known) <= 2*len(m)+4 {
		for _, k := range *known {
			if v, ok := m[k]; ok {
				dst = append(dst, pair[V]{k, v})
			}
		}
		if len(dst) == len(m) {
			return dst
		}
		dst = dst[:0]
	}
	for k, v := range m {
		dst = append(dst, pair[V]{k, v})
	}
	slices.SortFunc(dst, func(a, b pair[V]) int { return strings.Compare(a.k, b.k) })
	if known != nil {
		*known = mergeKeys(*known, dst)
	}
	return dst
}

// mergeKeys returns the sorted union of known and the keys of sorted, or
// known when it has them all or the union would be over maxOrderKeys.
func mergeKeys[V any](known []string, sorted []pair[V]) []string {
	n, i := len(known), 0
	for _, p := range sorted {
		for i < len(known) && known[i] < p.k {
			i++
		}
		if i == len(known) || known[i] != p.k {
			n++
		}
	}
	if n == len(known) || n > maxOrderKeys {
		return known
	}
	out := make([]string, 0, n)
	i = 0
	for _, p := range sorted {
		for i < len(known) && known[i] < p.k {
			out = append(out, known[i])
			i++
		}
		if i < len(known) && known[i] == p.k {
			i++
		}
		out = append(out, p.k)
	}
	return append(out, known[i:]...)
}

// appendPoint appends p as one line to dst. ok is false, with dst as it
// was, when the point has no valid measurement or no encodable field.
func (e *encoder) appendPoint(dst []byte, p *series.Point) (_ []byte, ok bool) {
	if p.Measurement == "" || strings.HasSuffix(p.Measurement, `\`) {
		return dst, false
	}
	start := len(dst)
	dst = appendEscaped(dst, p.Measurement, nameEscapes)

	var knownTags, knownFields *[]string
	if o := e.order(p.Measurement); o != nil {
		knownTags, knownFields = &o.tags, &o.fields
	}
	e.tags = sortedPairs(e.tags, p.Tags, knownTags)
	for _, t := range e.tags {
		if t.k == "" || t.v == "" || strings.HasSuffix(t.k, `\`) || strings.HasSuffix(t.v, `\`) {
			continue
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.k, keyEscapes)
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.v, keyEscapes)
	}

	e.fields = sortedPairs(e.fields, p.Fields, knownFields)
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
