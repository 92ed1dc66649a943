package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices"
)

func TestSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSchedule(t0, 4000, 0.5) // every 250 µs, half a slot late
	tests := []struct {
		now  time.Duration
		want int64 // messages due by now
	}{
		{-time.Second, 0},
		{0, 0},
		{124 * time.Microsecond, 0},
		{125 * time.Microsecond, 1}, // message 0 at 125 µs
		{374 * time.Microsecond, 1},
		{375 * time.Microsecond, 2},
		{time.Second, 4000}, // the last of the first second is due at 999.875 ms
	}
	for _, tc := range tests {
		if got := s.due(t0.Add(tc.now)); got != tc.want {
			t.Errorf("due(%v) = %d, want %d", tc.now, got, tc.want)
		}
	}
	for _, k := range []int64{0, 1, 3999, 400_000_000} {
		at := s.at(k)
		if s.due(at) != k+1 || s.due(at.Add(-time.Nanosecond)) != k {
			t.Errorf("message %d due at %v, but due() there is %d", k, at.Sub(t0), s.due(at))
		}
	}
	// No drift over a long run: a day at 20,000 msg/s is exact to the
	// nanosecond rounding.
	day := newSchedule(t0, 20000, 0)
	if got := day.at(20000 * 86400); !got.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("after a day: %v", got.Sub(t0))
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{90, 900 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, time.Second},
		{0.01, time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 99) != 0 {
		t.Error("no samples: want 0")
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one sample: %v", got)
	}
	// summarize sorts a copy: the caller's order stays.
	in := []time.Duration{3, 1, 2}
	if sm := summarize(in); sm.p50 != 2 || sm.mx != 3 || sm.n != 3 || in[0] != 3 {
		t.Errorf("summarize: %+v, input now %v", sm, in)
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram(time.Millisecond, time.Second)
	for i := range 100 {
		h.add(time.Duration(i) * time.Millisecond) // 0..99 ms
	}
	h.add(-time.Millisecond) // clock noise: counts as on time
	h.add(5 * time.Second)   // beyond the limit: last bucket, max kept
	if got := h.percentile(50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := h.percentile(100); got != 5*time.Second {
		t.Errorf("p100 = %v", got)
	}
	o := newHistogram(time.Millisecond, time.Second)
	o.add(0)
	h.merge(o)
	if h.n != 103 || h.max != 5*time.Second {
		t.Errorf("merge: n %d max %v", h.n, h.max)
	}
	if newHistogram(time.Millisecond, time.Second).percentile(99) != 0 {
		t.Error("empty histogram: want 0")
	}
}

// The payload the senders publish passes the service's own decoder, and
// the line the ceiling writes is what the service's encoder would write.
func TestSample(t *testing.T) {
	now := time.Now()
	s := makeSample(12345, 7, now.UnixMilli())
	got, err := devices.DecodeTelemetry(s.appendJSON(nil), now)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(got) != 1 || got[0].Lat == nil || *got[0].Lat != s.lat || got[0].Time.UnixMilli() != s.tsMs {
		t.Fatalf("decoded %+v", got)
	}
	line := string(s.appendLine(nil, "dev_1", "unit_1", 42))
	want := "telemetry,device=dev_1,kind=recorder,unit=unit_1 battery_pct="
	if !strings.HasPrefix(line, want) || !strings.HasSuffix(line, " 42\n") || strings.Count(line, "=") != 13 {
		t.Errorf("line %q", line)
	}
}

func TestTracker(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	tr := newTracker([]string{"a", "b"}, [2]time.Time{t0, t0.Add(time.Minute)})
	tr.published(0, t0.UnixMilli()-1000) // warm-up: tracked, not sampled
	tr.published(0, t0.UnixMilli())
	tr.published(1, t0.UnixMilli()+5)
	if o, ok := tr.oldest(); !ok || o != t0.UnixMilli()-1000 {
		t.Errorf("oldest %d %v", o, ok)
	}
	at := t0.Add(300 * time.Millisecond)
	tr.observe("a", t0.UnixMilli()-1000, at)
	tr.observe("a", t0.UnixMilli(), at)
	tr.observe("a", t0.UnixMilli(), at.Add(time.Second)) // seen again: ignored
	tr.observe("zz", t0.UnixMilli(), at)                 // not a marker
	lat, seen, pending := tr.result()
	if len(lat) != 1 || lat[0] != 300*time.Millisecond || seen != 2 || pending != 1 {
		t.Errorf("latencies %v, seen %d, pending %d", lat, seen, pending)
	}
	q := markerQuery([]string{"a", "b"}, 5)
	if q != `SELECT "lat" FROM "telemetry" WHERE time >= 5ms AND ("device" = 'a' OR "device" = 'b') GROUP BY "device"` {
		t.Errorf("query %s", q)
	}
}

func TestParseInfluxQL(t *testing.T) {
	body := `{"results":[{"statement_id":0,"series":[{"name":"telemetry","tags":{"device":"a"},"columns":["time","lat"],"values":[[1700000000123,30.5]]}]}]}`
	ss, err := parseInfluxQL(200, []byte(body))
	if err != nil || len(ss) != 1 || ss[0].Tags["device"] != "a" {
		t.Fatalf("%v %+v", err, ss)
	}
	if n, err := ss[0].Values[0][0].(json.Number).Int64(); err != nil || n != 1700000000123 {
		t.Errorf("time %v %v", n, err)
	}
	if _, err := parseInfluxQL(200, []byte(`{"results":[{"statement_id":0,"error":"database not found: x"}]}`)); err == nil {
		t.Error("statement error not reported")
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x y
# TYPE fleet_ingest_messages_total counter
fleet_ingest_messages_total{kind="event"} 2
fleet_ingest_messages_total{kind="telemetry"} 1.5e+06
fleet_ingest_messages_totalx 7
fleet_influx_spool_unacked_batches 0
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.sum("fleet_ingest_messages_total"); got != 1_500_002 {
		t.Errorf("sum %v", got)
	}
	if got := m.sum("fleet_influx_spool_unacked_batches"); got != 0 {
		t.Errorf("gauge %v", got)
	}
}
