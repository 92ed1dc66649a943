package tsembed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/ingest/series"
)

var start = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func open(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run opens a store and runs it until the test ends.
func run(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s := open(t, path, o)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(context.Background()); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
	return s
}

func waitWritten(t *testing.T, s *Store, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().PointsWritten < n {
		if time.Now().After(deadline) {
			t.Fatalf("written %d of %d", s.Stats().PointsWritten, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// trackPoints makes n telemetry points for dev, one a second from start;
// every third has speed and heading (as in the influx tests).
func trackPoints(dev string, from, n int) []series.Point {
	pts := make([]series.Point, 0, n)
	for i := from; i < from+n; i++ {
		f := map[string]any{"lat": 30 + float64(i)*1e-4, "lon": 120 + float64(i)*1e-4, "battery_pct": int64(i % 100)}
		if i%3 == 0 {
			f["speed_kmh"] = float64(i % 120)
			f["heading_deg"] = float64(i % 360)
		}
		pts = append(pts, series.Point{
			Measurement: series.Telemetry,
			Tags:        map[string]string{"device": dev, "unit": "330100", "kind": "recorder"},
			Fields:      f,
			Time:        start.Add(time.Duration(i) * time.Second),
		})
	}
	return pts
}

func TestTrack(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{})
	ctx := t.Context()
	pts := append(trackPoints("rec-2", 0, 700), trackPoints("other", 0, 50)...)
	for i := 0; i < len(pts); i += 100 {
		if err := s.Write(ctx, pts[i:min(i+100, len(pts))]); err != nil {
			t.Fatal(err)
		}
	}
	waitWritten(t, s, uint64(len(pts)))

	tests := []struct {
		name     string
		dev      string
		from, to time.Time
		max      int
		wantN    int // exact, or -1: at most max
	}{
		{"all", "rec-2", start, start.Add(time.Hour), 1000, 700},
		{"exactly max", "rec-2", start, start.Add(time.Hour), 700, 700},
		{"half open range", "rec-2", start.Add(100 * time.Second), start.Add(200 * time.Second), 1000, 100},
		{"downsampled", "rec-2", start, start.Add(700 * time.Second), 70, 70},
		{"downsampled odd", "rec-2", start, start.Add(time.Hour), 33, -1},
		{"one point", "rec-2", start, start.Add(time.Hour), 1, 1},
		{"empty span", "rec-2", start.Add(-time.Hour), start, 10, 0},
		{"other device", "other", start, start.Add(time.Hour), 1000, 50},
		{"unknown device", "nobody", start, start.Add(time.Hour), 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Track(ctx, tt.dev, tt.from, tt.to, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantN >= 0 && len(got) != tt.wantN {
				t.Fatalf("got %d points, want %d", len(got), tt.wantN)
			}
			if len(got) > tt.max {
				t.Fatalf("got %d points, more than %d", len(got), tt.max)
			}
			for i, p := range got {
				if p.Time.Before(tt.from) || !p.Time.Before(tt.to) {
					t.Fatalf("point %v outside the span", p.Time)
				}
				if i > 0 && !p.Time.After(got[i-1].Time) {
					t.Fatalf("not in time order at %d", i)
				}
				k := int(p.Time.Sub(start) / time.Second)
				if p.Lat != 30+float64(k)*1e-4 || p.Lon != 120+float64(k)*1e-4 {
					t.Fatalf("point at %v is not the fix at that time: %+v", p.Time, p)
				}
				if hasSpeed := k%3 == 0; hasSpeed != (p.SpeedKmh != nil) || hasSpeed != (p.HeadingDeg != nil) ||
					hasSpeed && (*p.SpeedKmh != float64(k%120) || *p.HeadingDeg != float64(k%360)) {
					t.Fatalf("point %d: speed %v heading %v", k, p.SpeedKmh, p.HeadingDeg)
				}
			}
			if tt.name == "downsampled" {
				for i, p := range got {
					if want := start.Add(time.Duration(10*i+9) * time.Second); !p.Time.Equal(want) {
						t.Fatalf("bucket %d: %v, want %v", i, p.Time, want)
					}
				}
			}
		})
	}
}

func TestTrackArguments(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ts.db"), Options{})
	tests := []struct {
		name     string
		dev      string
		from, to time.Time
		max      int
		want     error
	}{
		{"no device", "", start, start.Add(time.Hour), 10, nil},
		{"reversed span", "d", start.Add(time.Hour), start, 10, nil},
		{"no points allowed", "d", start, start.Add(time.Hour), 0, nil},
		{"closed", "d", start, start.Add(time.Hour), 10, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == ErrClosed {
				s.Close()
			}
			_, err := s.Track(t.Context(), tt.dev, tt.from, tt.to, tt.max)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Track = %v, want an error (%v)", err, tt.want)
			}
		})
	}
}

// A second report of the same instant fills in fields, as in InfluxDB.
func TestSameInstantMerges(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{})
	ctx := t.Context()
	tags := map[string]string{"device": "d1", "unit": "u"}
	writes := [][]series.Point{
		{{Measurement: series.Telemetry, Tags: tags, Fields: map[string]any{"lat": 1.0, "lon": 2.0, "battery_pct": int64(50)}, Time: start}},
		{{Measurement: series.Telemetry, Tags: tags, Fields: map[string]any{"speed_kmh": 30.0, "recording": true}, Time: start}},
		{{Measurement: series.Telemetry, Tags: tags, Fields: map[string]any{"lat": 1.5, "battery_pct": int64(49)}, Time: start}},
	}
	for _, w := range writes {
		if err := s.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
		waitWritten(t, s, s.Stats().PointsWritten+1)
	}
	got, err := s.Track(ctx, "d1", start, start.Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Lat != 1.5 || got[0].Lon != 2 || got[0].SpeedKmh == nil || *got[0].SpeedKmh != 30 {
		t.Fatalf("merged point = %+v", got)
	}
	var fields string
	if err := s.db.QueryRowContext(ctx, `SELECT fields FROM telemetry WHERE device = 'd1'`).Scan(&fields); err != nil {
		t.Fatal(err)
	}
	if fields != `{"battery_pct":49,"recording":true}` {
		t.Fatalf("fields = %s", fields)
	}
}

func TestWriteSkipsInvalid(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{})
	err := s.Write(t.Context(), []series.Point{
		{Measurement: series.Telemetry, Fields: map[string]any{"lat": 1.0}, Time: start},                                           // no device
		{Measurement: series.Telemetry, Tags: map[string]string{"device": "d"}, Time: start},                                       // no fields
		{Fields: map[string]any{"x": 1.0}, Time: start},                                                                            // no measurement
		{Measurement: series.Event, Tags: map[string]string{"device": "d"}, Fields: map[string]any{"x": math.Inf(1)}, Time: start}, // not JSON
		{Measurement: series.Telemetry, Tags: map[string]string{"device": "d"}, Fields: map[string]any{"lat": 1.0, "lon": 1.0}},    // ok, stamped now
	})
	if err != nil {
		t.Fatal(err)
	}
	waitWritten(t, s, 1)
	if st := s.Stats(); st.PointsInvalid != 4 || st.PointsWritten != 1 {
		t.Fatalf("stats %+v", st)
	}
	got, err := s.Track(t.Context(), "d", time.Now().Add(-time.Minute), time.Now().Add(time.Second), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("point without time: %+v %v", got, err)
	}
}

func TestOtherMeasurements(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{})
	err := s.Write(t.Context(), []series.Point{
		{Measurement: series.Event, Tags: map[string]string{"device": "d", "type": "sos"}, Fields: map[string]any{"detail": "按下 SOS"}, Time: start},
		{Measurement: series.Vessel, Tags: map[string]string{"mmsi": "412345678"}, Fields: map[string]any{"lat": 29.9, "lon": 122.1, "speed_kn": 11.5}, Time: start},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitWritten(t, s, 2)
	var tags, fields string
	err = s.db.QueryRowContext(t.Context(), `SELECT tags, fields FROM points WHERE measurement = ?`, series.Event).Scan(&tags, &fields)
	if err != nil || tags != `{"device":"d","type":"sos"}` || fields != `{"detail":"按下 SOS"}` {
		t.Fatalf("event row %s %s %v", tags, fields, err)
	}
}

// TestQueueFull: without a running inserter the queue fills to its cap,
// refuses what does not fit, and Close still stores what it accepted.
func TestQueueFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ts.db")
	s := open(t, path, Options{QueuePoints: 100})
	ctx := t.Context()
	steps := []struct {
		from, n int
		want    error
	}{
		{0, 60, nil},
		{60, 50, ErrFull},
		{60, 40, nil},
		{100, 1, ErrFull},
	}
	for _, st := range steps {
		if err := s.Write(ctx, trackPoints("d", st.from, st.n)); !errors.Is(err, st.want) {
			t.Fatalf("Write(%d points) = %v, want %v", st.n, err, st.want)
		}
	}
	if st := s.Stats(); st.Queued != 100 || st.WriteRejected != 2 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, trackPoints("d", 0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	s = open(t, path, Options{})
	defer s.Close()
	got, err := s.Track(ctx, "d", start, start.Add(time.Hour), 1000)
	if err != nil || len(got) != 100 {
		t.Fatalf("after reopen %d points, %v", len(got), err)
	}
}

func TestRetention(t *testing.T) {
	now := time.Now()
	old := func(dev string, age time.Duration) []series.Point {
		return []series.Point{
			{Measurement: series.Telemetry, Tags: map[string]string{"device": dev}, Fields: map[string]any{"lat": 1.0, "lon": 1.0}, Time: now.Add(-age)},
			{Measurement: series.Event, Tags: map[string]string{"device": dev}, Fields: map[string]any{"detail": "x"}, Time: now.Add(-age)},
		}
	}
	tests := []struct {
		name      string
		retention time.Duration
		ages      []time.Duration
		wantLeft  int // telemetry rows
	}{
		{"default 30 days", 0, []time.Duration{400 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, time.Hour}, 2},
		{"seven days", 7 * 24 * time.Hour, []time.Duration{8 * 24 * time.Hour, 6 * 24 * time.Hour}, 1},
		{"keep forever", -1, []time.Duration{4000 * 24 * time.Hour}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "ts.db"), Options{Retention: tt.retention})
			defer s.Close()
			for i, age := range tt.ages {
				if err := s.Write(t.Context(), old(fmt.Sprint("d", i), age)); err != nil {
					t.Fatal(err)
				}
			}
			s.flush(t.Context())
			s.applyRetention(t.Context(), now)
			var tel, pts int
			s.db.QueryRow(`SELECT count(*) FROM telemetry`).Scan(&tel)
			s.db.QueryRow(`SELECT count(*) FROM points`).Scan(&pts)
			if tel != tt.wantLeft || pts != tt.wantLeft {
				t.Fatalf("left %d telemetry and %d other rows, want %d each", tel, pts, tt.wantLeft)
			}
			if got := s.Stats().PointsDeleted; got != uint64(2*(len(tt.ages)-tt.wantLeft)) {
				t.Fatalf("PointsDeleted = %d", got)
			}
		})
	}
}

// Paths are taken literally: no URI parsing of '#', '%' or spaces.
func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data dir #1 %20", DefaultFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, Options{})
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), "/tmp/x?y.db", Options{}, nil); err == nil {
		t.Fatal("a path with '?' was accepted")
	}
}

// The retention ticker runs inside Run.
func TestRetentionTicker(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{Retention: time.Hour, RetentionInterval: 20 * time.Millisecond})
	p := []series.Point{{Measurement: series.Telemetry, Tags: map[string]string{"device": "d"},
		Fields: map[string]any{"lat": 1.0}, Time: time.Now().Add(-2 * time.Hour)}}
	if err := s.Write(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().PointsDeleted == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retention never ran: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Writers, the inserter and Track at once; run with -race.
func TestConcurrentWriteTrack(t *testing.T) {
	s := run(t, filepath.Join(t.TempDir(), "ts.db"), Options{BatchPoints: 200, FlushInterval: 5 * time.Millisecond})
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			dev := fmt.Sprint("w", w)
			for i := 0; i < 1000; i += 50 {
				if err := s.Write(ctx, trackPoints(dev, i, 50)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := s.Track(ctx, "w0", start, start.Add(time.Hour), 100); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	waitWritten(t, s, 4000)
	for w := range 4 {
		got, err := s.Track(ctx, fmt.Sprint("w", w), start, start.Add(time.Hour), 5000)
		if err != nil || len(got) != 1000 {
			t.Fatalf("w%d: %d points, %v", w, len(got), err)
		}
	}
}

// BenchmarkWriteInsert is the cost per point of the embedded store: Write
// on the caller's goroutine plus the insert in Run's transactions.
func BenchmarkWriteInsert(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "ts.db"), Options{QueuePoints: 1 << 30})
	defer s.Close()
	pts := trackPoints("d", 0, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Distinct instants so every point is an insert, not a merge.
		for j := range pts {
			pts[j].Time = start.Add(time.Duration(i*100+j) * time.Millisecond)
		}
		i++
		if err := s.Write(context.Background(), pts); err != nil {
			b.Fatal(err)
		}
		if s.Stats().Queued >= 5000 {
			s.flush(context.Background())
		}
	}
	s.flush(context.Background())
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pts)), "ns/point")
}
