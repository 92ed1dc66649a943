package devices

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// appendTelemetryV1 is AppendTelemetry as it was with encoding/json, the
// reference that the tokenizer-based decoder must agree with.
func appendTelemetryV1(dst []Telemetry, payload []byte, now time.Time) ([]Telemetry, error) {
	if err := checkSize(payload); err != nil {
		return dst, err
	}
	switch firstByte(payload) {
	case '{':
		var w wireTelemetry
		if err := json.Unmarshal(payload, &w); err != nil {
			return dst, decodeError(err)
		}
		t, err := w.telemetry(now)
		if err != nil {
			return dst, err
		}
		return append(dst, t), nil
	case '[':
		if overBatch(payload) {
			return dst, refuse(ReasonTooMany, "", "more than "+strconv.Itoa(MaxBatch)+" samples")
		}
		var ws []wireTelemetry
		if err := json.Unmarshal(payload, &ws); err != nil {
			return dst, decodeError(err)
		}
		if len(ws) == 0 {
			return dst, refuse(ReasonEmpty, "", "empty array")
		}
		orig := dst
		for i := range ws {
			t, err := ws[i].telemetry(now)
			if err != nil {
				err.Field = "[" + strconv.Itoa(i) + "]." + err.Field
				return orig, err
			}
			dst = append(dst, t)
		}
		return dst, nil
	default:
		return dst, shapeError(payload, "telemetry is a JSON object or array")
	}
}

// compareDecoders fails t when the two decoders disagree on payload: on
// accepting it, on the reason and the field at fault, or on any value.
// The one intended difference: a wrong type inside an array now names the
// element ("[2].lat" where encoding/json said "lat").
func compareDecoders(t testing.TB, payload []byte) {
	t.Helper()
	got, err := DecodeTelemetry(payload, now)
	want, werr := appendTelemetryV1(nil, payload, now)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%.200q: got %v, want %v", payload, err, werr)
	}
	if err != nil {
		gf, wf := fieldOf(err), fieldOf(werr)
		if ReasonOf(err) != ReasonOf(werr) {
			t.Fatalf("%.200q: reason %q (%v), want %q (%v)", payload, ReasonOf(err), err, ReasonOf(werr), werr)
		}
		if gf != wf && !(ReasonOf(err) == ReasonType && strings.HasPrefix(gf, "[") && strings.HasSuffix(gf, "]."+wf)) {
			t.Fatalf("%.200q: field %q (%v), want %q (%v)", payload, gf, err, wf, werr)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%.200q: %d samples, want %d", payload, len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if !g.Time.Equal(w.Time) {
			t.Fatalf("%.200q: [%d] time %v, want %v", payload, i, g.Time, w.Time)
		}
		fs := [...][2]*float64{{g.Lat, w.Lat}, {g.Lon, w.Lon}, {g.AltM, w.AltM}, {g.SpeedKmh, w.SpeedKmh},
			{g.HeadingDeg, w.HeadingDeg}, {g.BatteryPct, w.BatteryPct}, {g.StorageFreeMB, w.StorageFreeMB},
			{g.StorageTotalMB, w.StorageTotalMB}, {g.SignalDBm, w.SignalDBm}}
		for j, f := range fs {
			if (f[0] == nil) != (f[1] == nil) || f[0] != nil && math.Float64bits(*f[0]) != math.Float64bits(*f[1]) {
				t.Fatalf("%.200q: [%d] float field %d: %v, want %v", payload, i, j, f[0], f[1])
			}
		}
		bs := [...][2]*bool{{g.Charging, w.Charging}, {g.Recording, w.Recording}}
		for j, b := range bs {
			if (b[0] == nil) != (b[1] == nil) || b[0] != nil && *b[0] != *b[1] {
				t.Fatalf("%.200q: [%d] bool field %d: %v, want %v", payload, i, j, b[0], b[1])
			}
		}
	}
}

// The corners where a decoder of one's own most easily departs from
// encoding/json.
func TestTelemetryDecodersAgree(t *testing.T) {
	ts := `"ts":` + tsNow
	cases := []string{
		string(typical),
		`{` + ts + `,"TS":1}`, // case-insensitive, last wins
		`{"Ts":` + tsNow + `,"LAT":1,"Lon":2,"Alt_M":3}`,       // names in any case
		"{\"\u017fpeed_kmh\":5," + ts + "}",                    // ſ folds to s
		"{\"\u212aharging\":true," + ts + "}",                  // K (Kelvin) is not a k of charging: unknown
		"{\"spee\u212a_kmh\":5," + ts + "}",                    // nor of speed_kmh
		"{\"\u212a\":1," + ts + "}",                            // unknown
		`{` + ts + `,"lat":1,"lon":2,"lat":null}`,              // null keeps the earlier value
		`{` + ts + `,"lat":1,"lon":2,"lat":3}`,                 // last wins
		`{` + ts + `,"l\u0061t":1,"lon":2}`,                    // escaped name
		`{` + ts + `,"l\u0041T":1,"lon":2}`,                    // escaped, other case
		`{` + ts + `,"x":"\ud800"}`,                            // lone surrogate in a skipped string
		"{" + ts + ",\"x\":\"\xff\xfe\"}",                      // invalid UTF-8 in a skipped string
		"{" + ts + ",\"\xff\":1}",                              // invalid UTF-8 in a name
		`{` + ts + `,"lat":"x","lon":2 x}`,                     // syntax after a wrong type
		`{` + ts + `,"lat":"x","lon":2}`,                       // wrong type
		`{` + ts + `,"lat":1e999,"lon":2}`,                     // out of range
		`{"ts":1.5,"lat":"x"}`,                                 // first bad member wins
		`{"lat":"x","ts":1.5}`,                                 // first bad member wins
		`{` + ts + `,}`,                                        // trailing comma
		`{` + ts + `}  `,                                       // trailing space
		`{` + ts + `} {}`,                                      // two values
		`{` + ts + `}]`,                                        // stray bracket
		`{` + ts + `,"lat":1,"lon":2,"x":[1,{"y":[]}],"z":{}}`, // nested unknowns
		`{` + ts + `,"ts":null}`,                               // null ts after a value
		`{"ts":null}`,                                          // null ts
		`{"ts":-0}`,                                            // too old
		`{"ts":0` + tsNow + `}`,                                // leading zero: syntax
		`{` + ts + `,"recording":"true"}`,                      // wrong type
		`{` + ts + `,"recording":null,"charging":false}`,       //
		`{` + ts + `,"battery_pct":1E2}`,                       // exponent
		`{` + ts + `,"battery_pct":-0.0}`,                      //
		`{` + ts + `,"battery_pct":1e-400}`,                    // underflow
		`[1,2]`,                                                // shape
		`[{` + ts + `},1]`,                                     // shape after a good sample
		`[1,{"lat":"x"}]`,                                      // a wrong type beats an earlier shape error
		`[1,{"lat":"x"}`,                                       // a syntax error beats both
		`[null]`,                                               // missing ts
		`[{` + ts + `},null]`,                                  //
		`[{` + ts + `},{` + ts + `,"lat":"x"}]`,                // wrong type in an element
		`[{` + ts + `},{` + ts + `,"lat":200,"lon":1}]`,        // range in an element
		`[[],{}]`,          //
		`[ ]`,              //
		`[{` + ts + `}] x`, //
		`[{` + ts + `},]`,  //
		`{"ts":` + tsNow + `,"lat":30,"lon":114,"lat":0,"lon":0}`, // no fix after all
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),   // too deep
		strings.Repeat("[", 9999) + strings.Repeat("]", 9999),     //
		`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,` + ts + `}`,
		`{"x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `,` + ts + `}`,
	}
	for _, c := range cases {
		compareDecoders(t, []byte(c))
	}
}

func FuzzTelemetryDecoders(f *testing.F) {
	f.Add(typical)
	f.Add([]byte(`[{"ts":` + tsNow + `,"LAT":1,"lon":2,"lat":null},null,{"x":"\u00ff"}]`))
	f.Add([]byte(`{"ts":` + tsNow + `,"speed_kmh":"fast","lat":1e400}`))
	f.Add([]byte("{\"\u017fpeed_kmh\":5,\"ts\":" + tsNow + "}"))
	f.Add([]byte(`[1,{"lat":"x"},[]]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		compareDecoders(t, payload)
	})
}

// BenchmarkDecodeTelemetryV1 is the encoding/json decoder, for comparison
// with BenchmarkDecodeTelemetry.
func BenchmarkDecodeTelemetryV1(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	var buf []Telemetry
	for b.Loop() {
		var err error
		buf, err = appendTelemetryV1(buf[:0], typical, now)
		if err != nil {
			b.Fatal(err)
		}
	}
}
