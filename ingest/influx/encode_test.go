package influx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"

	"github.com/lawfleet/fleet/ingest/series"
)

var t0 = time.Date(2025, 3, 1, 8, 30, 0, 123456789, time.UTC)

// clientLine encodes p the way the client library does for WritePoint.
func clientLine(t *testing.T, p series.Point) string {
	t.Helper()
	var buf bytes.Buffer
	enc := lp.NewEncoder(&buf)
	enc.SetFieldTypeSupport(lp.UintSupport)
	if _, err := enc.Encode(write.NewPoint(p.Measurement, p.Tags, p.Fields, p.Time)); err != nil {
		return "error: " + err.Error()
	}
	return buf.String()
}

func TestEncodeMatchesClient(t *testing.T) {
	tests := []struct {
		name string
		p    series.Point
	}{
		{"telemetry", series.Point{
			Measurement: series.Telemetry,
			Tags:        map[string]string{"device": "rec-0001", "unit": "u-42", "kind": "recorder"},
			Fields: map[string]any{"lat": 31.2304, "lon": 121.4737, "speed_kmh": 42.5, "heading_deg": 270.0,
				"battery_pct": int64(87), "charging": false, "recording": true, "storage_free_mb": int64(10240)},
			Time: t0,
		}},
		{"no tags", series.Point{Measurement: "m", Fields: map[string]any{"v": 1.0}, Time: t0}},
		{"no time", series.Point{Measurement: "m", Tags: map[string]string{"a": "b"}, Fields: map[string]any{"v": int64(-3)}}},
		{"escapes in names", series.Point{
			Measurement: "my meas,ure=ment",
			Tags:        map[string]string{"ta g": "v,a=l ue", "t\tab": "new\nline"},
			Fields:      map[string]any{"fi=eld,x y": "str \"quoted\" back\\slash\ttab\nnl"},
			Time:        t0,
		}},
		{"unicode", series.Point{
			Measurement: series.Event,
			Tags:        map[string]string{"device": "执法记录仪-07", "type": "sos"},
			Fields:      map[string]any{"detail": "一键报警 (SOS), 路口=东"},
			Time:        t0,
		}},
		{"empty tag value skipped", series.Point{Measurement: "m", Tags: map[string]string{"a": "", "b": "x"}, Fields: map[string]any{"v": true}, Time: t0}},
		{"float formats", series.Point{Measurement: "m", Fields: map[string]any{
			"big": 1e21, "small": 1.5e-7, "neg": -1.25, "negzero": math.Copysign(0, -1), "whole": 5.0, "f32": float32(0.1)}, Time: t0}},
		{"int kinds", series.Point{Measurement: "m", Fields: map[string]any{
			"i": 7, "i32": int32(-7), "min": int64(math.MinInt64)}, Time: t0}},
		{"NaN field skipped", series.Point{Measurement: "m", Fields: map[string]any{"a": math.NaN(), "b": math.Inf(1), "c": 1.0}, Time: t0}},
		{"before 1970", series.Point{Measurement: "m", Fields: map[string]any{"v": 1.0}, Time: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	var e encoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := e.appendPoint(nil, &tt.p)
			if !ok {
				t.Fatal("not encoded")
			}
			if want := clientLine(t, tt.p); string(got) != want {
				t.Fatalf("\n got %q\nwant %q", got, want)
			}
		})
	}
}

// Where the client would write a line InfluxDB rejects or misreads, we
// skip the part (or the point) instead.
func TestEncodeSkipsUnencodable(t *testing.T) {
	tests := []struct {
		name string
		p    series.Point
		want string // "" means the point is skipped
	}{
		{"no fields", series.Point{Measurement: "m", Tags: map[string]string{"a": "b"}, Time: t0}, ""},
		{"only NaN", series.Point{Measurement: "m", Fields: map[string]any{"a": math.NaN()}, Time: t0}, ""},
		{"no measurement", series.Point{Fields: map[string]any{"a": 1.0}, Time: t0}, ""},
		{"measurement ends in backslash", series.Point{Measurement: `m\`, Fields: map[string]any{"a": 1.0}}, ""},
		{"tag value ends in backslash", series.Point{Measurement: "m", Tags: map[string]string{"a": `x\`, "b": "y"}, Fields: map[string]any{"v": 1.0}}, "m,b=y v=1\n"},
		{"field key ends in backslash", series.Point{Measurement: "m", Fields: map[string]any{`k\`: 1.0, "v": 2.0}}, "m v=2\n"},
		{"unsigned as integer", series.Point{Measurement: "m", Fields: map[string]any{"u": uint64(5), "v": uint32(6)}}, "m u=5i,v=6i\n"},
		{"uint64 too big", series.Point{Measurement: "m", Fields: map[string]any{"u": uint64(math.MaxUint64), "v": 1.0}}, "m v=1\n"},
		{"unsupported type", series.Point{Measurement: "m", Fields: map[string]any{"x": []int{1}, "v": 1.0}}, "m v=1\n"},
	}
	var e encoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := e.appendPoint([]byte("keep\n"), &tt.p)
			if tt.want == "" {
				if ok || string(got) != "keep\n" {
					t.Fatalf("encoded %q, want skipped and dst unchanged", got)
				}
				return
			}
			if !ok || string(got) != "keep\n"+tt.want {
				t.Fatalf("got %q ok=%v, want %q", got, ok, tt.want)
			}
		})
	}
}

// One encoder remembers the key order of each measurement; points whose
// keys come and go, more than it remembers, and of more measurements than
// it keeps, must still come out as the client writes them.
func TestEncodeKeyOrders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var e encoder
	for i := range 3000 {
		p := series.Point{
			Measurement: "m" + strconv.Itoa(rng.IntN(maxOrders+4)),
			Tags:        map[string]string{},
			Fields:      map[string]any{},
			Time:        t0.Add(time.Duration(i)),
		}
		nKeys := 1 + rng.IntN(maxOrderKeys+8)
		if rng.IntN(4) > 0 {
			nKeys = 1 + rng.IntN(6) // mostly few keys, as the services write
		}
		for range nKeys {
			k := "k" + strconv.Itoa(rng.IntN(2*maxOrderKeys))
			p.Fields[k] = float64(rng.IntN(100))
			if rng.IntN(2) == 0 {
				p.Tags["t"+k] = "v"
			}
		}
		got, ok := e.appendPoint(nil, &p)
		if !ok {
			t.Fatal("not encoded")
		}
		if want := clientLine(t, p); string(got) != want {
			t.Fatalf("point %d:\n got %q\nwant %q", i, got, want)
		}
	}
	if len(e.orders) != maxOrders {
		t.Errorf("%d measurements remembered", len(e.orders))
	}
	// It learns the union of the keys, in order.
	e = encoder{}
	for _, keys := range [][]string{{"c", "b"}, {"a"}, {"d", "b"}, {"b"}} {
		p := series.Point{Measurement: "u", Tags: map[string]string{}, Fields: map[string]any{}}
		for _, k := range keys {
			p.Tags[k], p.Fields[k] = "v", 1.0
		}
		e.appendPoint(nil, &p)
	}
	if o := e.orders[0]; !slices.Equal(o.tags, []string{"a", "b", "c", "d"}) || !slices.Equal(o.fields, o.tags) {
		t.Errorf("order %+v", o)
	}
	for _, o := range e.orders {
		if len(o.tags) > maxOrderKeys || len(o.fields) > maxOrderKeys ||
			!slices.IsSorted(o.tags) || !slices.IsSorted(o.fields) {
			t.Fatalf("order %+v", o)
		}
	}
}

// The line-protocol parser must read back exactly what was encoded.
func TestEncodeRoundTrip(t *testing.T) {
	p := series.Point{
		Measurement: "tele metry",
		Tags:        map[string]string{"device": "d,1 =x", "unit": "单位"},
		Fields:      map[string]any{"lat": 31.5, "n": int64(-4), "ok": true, "s": "a \"b\" \\c"},
		Time:        t0,
	}
	var e encoder
	line, _ := e.appendPoint(nil, &p)
	h := lp.NewMetricHandler()
	parser := lp.NewParser(h)
	ms, err := parser.Parse(line)
	if err != nil || len(ms) != 1 {
		t.Fatalf("parse %q: %v", line, err)
	}
	m := ms[0]
	if m.Name() != p.Measurement || !m.Time().Equal(p.Time) {
		t.Fatalf("name/time: %q %v", m.Name(), m.Time())
	}
	for _, tag := range m.TagList() {
		if p.Tags[tag.Key] != tag.Value {
			t.Errorf("tag %q = %q, want %q", tag.Key, tag.Value, p.Tags[tag.Key])
		}
	}
	for _, f := range m.FieldList() {
		if p.Fields[f.Key] != f.Value {
			t.Errorf("field %q = %#v, want %#v", f.Key, f.Value, p.Fields[f.Key])
		}
	}
}

// telemetryPoint is a typical device report, as the MQTT pipeline makes it.
func telemetryPoint(i int) series.Point {
	return series.Point{
		Measurement: series.Telemetry,
		Tags:        map[string]string{"device": "rec-000123", "unit": "330100-07", "kind": "recorder"},
		Fields: map[string]any{
			"lat": 30.2741 + float64(i)*1e-5, "lon": 120.1551, "alt_m": 12.5, "speed_kmh": 36.0,
			"heading_deg": 181.0, "battery_pct": int64(76), "charging": false, "recording": true,
			"storage_free_mb": int64(20480), "signal_dbm": int64(-71),
		},
		Time: t0.Add(time.Duration(i) * time.Second),
	}
}

// BenchmarkEncode is the per-point cost of turning a telemetry point into
// line protocol: ours against the client library's own path.
func BenchmarkEncode(b *testing.B) {
	pts := make([]series.Point, 100)
	for i := range pts {
		pts[i] = telemetryPoint(i)
	}
	b.Run("direct", func(b *testing.B) {
		var e encoder
		buf := make([]byte, 0, 64<<10)
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			buf = buf[:0]
			for i := range pts {
				buf, _ = e.appendPoint(buf, &pts[i])
			}
		}
		reportPerPoint(b, cpu0, len(pts))
	})
	b.Run("client", func(b *testing.B) {
		var buf bytes.Buffer
		enc := lp.NewEncoder(&buf)
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			buf.Reset()
			for i := range pts {
				p := &pts[i]
				enc.Encode(write.NewPoint(p.Measurement, p.Tags, p.Fields, p.Time))
			}
		}
		reportPerPoint(b, cpu0, len(pts))
	})
}

// reportPerPoint adds wall and CPU time per point; CPU time (user + system
// of the whole process, from getrusage) is what matters on two cores shared
// with InfluxDB, and unlike wall time it does not grow when other processes
// take the CPU.
func reportPerPoint(b *testing.B, cpu0 time.Duration, perOp int) {
	n := float64(b.N * perOp)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/point")
	b.ReportMetric(float64(cpuTime()-cpu0)/n, "cpu-ns/point")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
