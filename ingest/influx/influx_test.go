package influx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/ingest/spool"
	"github.com/lawfleet/fleet/internal/testenv"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startStore opens a Store on in (or url) with its spool in dir and runs
// its sender until the test ends.
func startStore(t *testing.T, url, bucket, dir string, cfg Config) *Store {
	t.Helper()
	cfg.URL, cfg.Bucket, cfg.SpoolDir = url, bucket, dir
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 500 * time.Millisecond
	}
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
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

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trackPoints makes n telemetry points for dev, one a second from start;
// every third has speed and heading.
func trackPoints(dev string, start time.Time, from, n int) []series.Point {
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

func writeAll(t *testing.T, s *Store, pts []series.Point, per int) {
	t.Helper()
	for i := 0; i < len(pts); i += per {
		if err := s.Write(t.Context(), pts[i:min(i+per, len(pts))]); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

var start = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestInflux(t *testing.T) {
	t.Parallel()
	in := testenv.StartInflux(t)
	s := startStore(t, in.URL, in.Bucket, t.TempDir(), Config{Token: in.Token, Org: in.Org})
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	t.Run("written points are queryable", func(t *testing.T) {
		const n = 1000
		pts := trackPoints("rec-1", start, 0, n)
		writeAll(t, s, pts, 100)
		waitFor(t, "points in InfluxDB", 30*time.Second, func() bool { return s.Stats().PointsWritten >= n })
		got, err := s.Track(ctx, "rec-1", start, start.Add(time.Hour), 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("Track returned %d points, want %d", len(got), n)
		}
		for i, p := range got {
			want := pts[i]
			if !p.Time.Equal(want.Time) || p.Lat != want.Fields["lat"] || p.Lon != want.Fields["lon"] {
				t.Fatalf("point %d = %+v, want %v", i, p, want)
			}
			if sp, ok := want.Fields["speed_kmh"]; ok != (p.SpeedKmh != nil) || ok && *p.SpeedKmh != sp {
				t.Fatalf("point %d speed %v, want %v", i, p.SpeedKmh, sp)
			}
			if h, ok := want.Fields["heading_deg"]; ok != (p.HeadingDeg != nil) || ok && *p.HeadingDeg != h {
				t.Fatalf("point %d heading %v, want %v", i, p.HeadingDeg, h)
			}
		}
	})

	t.Run("track spans and downsampling", func(t *testing.T) {
		// rec-2: 600 points over 10 minutes, then the device moves unit
		// (a second series) for 100 more.
		pts := trackPoints("rec-2", start, 0, 600)
		moved := trackPoints("rec-2", start, 600, 100)
		for i := range moved {
			moved[i].Tags = map[string]string{"device": "rec-2", "unit": "330200", "kind": "recorder"}
		}
		writeAll(t, s, append(pts, moved...), 250)
		waitFor(t, "points", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })

		tests := []struct {
			name     string
			from, to time.Time
			max      int
			wantN    int // exact count, or -1 for "at most max and evenly spread"
		}{
			{"all", start, start.Add(time.Hour), 1000, 700},
			{"exactly max", start, start.Add(time.Hour), 700, 700},
			{"half open range", start.Add(100 * time.Second), start.Add(200 * time.Second), 1000, 100},
			{"downsampled", start, start.Add(700 * time.Second), 100, 100},
			{"downsampled thinned", start, start.Add(700 * time.Second), 20, 20},
			{"downsampled odd", start, start.Add(time.Hour), 33, -1},
			{"one point", start, start.Add(time.Hour), 1, 1},
			{"empty span", start.Add(-time.Hour), start, 10, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Track(ctx, "rec-2", tt.from, tt.to, tt.max)
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantN >= 0 && len(got) != tt.wantN {
					t.Fatalf("got %d points, want %d", len(got), tt.wantN)
				}
				if len(got) > tt.max {
					t.Fatalf("got %d points, more than max %d", len(got), tt.max)
				}
				for i, p := range got {
					if p.Time.Before(tt.from) || !p.Time.Before(tt.to) {
						t.Fatalf("point %v outside [%v, %v)", p.Time, tt.from, tt.to)
					}
					if i > 0 && !p.Time.After(got[i-1].Time) {
						t.Fatalf("not in time order at %d", i)
					}
					// Every point is a real fix.
					k := int(p.Time.Sub(start) / time.Second)
					if p.Lat != 30+float64(k)*1e-4 {
						t.Fatalf("point at %v has lat %v, not the fix at that time", p.Time, p.Lat)
					}
				}
				switch tt.name {
				case "downsampled":
					// 700 fixes in 100 buckets of 7 s from start: the
					// last fix of each.
					for i, p := range got {
						if want := start.Add(time.Duration(7*i+6) * time.Second); !p.Time.Equal(want) {
							t.Fatalf("bucket %d: %v, want %v", i, p.Time, want)
						}
					}
				case "downsampled thinned":
					// 35 fixes per 35 s bucket, thinned to every 8th:
					// one real fix per bucket, in its last 8 s.
					for i, p := range got {
						lo, hi := start.Add(time.Duration(35*i+27)*time.Second), start.Add(time.Duration(35*i+35)*time.Second)
						if p.Time.Before(lo) || !p.Time.Before(hi) {
							t.Fatalf("bucket %d: %v not in [%v, %v)", i, p.Time, lo, hi)
						}
					}
				}
			})
		}
	})

	t.Run("device ids that need quoting", func(t *testing.T) {
		for _, dev := range []string{`we"ird\id`, "with space,comma=eq", "执法记录仪-01", "dollar${x}"} {
			pts := trackPoints(dev, start, 0, 5)
			writeAll(t, s, pts, 5)
			waitFor(t, "points", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
			got, err := s.Track(ctx, dev, start, start.Add(time.Hour), 100)
			if err != nil {
				t.Fatalf("%q: %v", dev, err)
			}
			if len(got) != 5 {
				t.Fatalf("%q: got %d points, want 5", dev, len(got))
			}
		}
	})

	t.Run("a rejected batch is dropped and the queue goes on", func(t *testing.T) {
		before := s.Stats()
		ok := trackPoints("rec-3", start, 0, 10)
		// speed_kmh is a float in this shard: a string is a type conflict,
		// which InfluxDB answers with 400 "partial write … dropped=1".
		bad := trackPoints("rec-3", start, 10, 10)
		bad[5].Fields["speed_kmh"] = "fast"
		writeAll(t, s, ok, 10)
		waitFor(t, "good points", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
		writeAll(t, s, bad, 10)
		writeAll(t, s, trackPoints("rec-3", start, 20, 10), 10)
		waitFor(t, "queue drained", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
		st := s.Stats()
		if st.BatchesDropped != before.BatchesDropped+1 || st.PointsDropped != before.PointsDropped+1 {
			t.Fatalf("dropped %d batches/%d points, want 1/1", st.BatchesDropped-before.BatchesDropped, st.PointsDropped-before.PointsDropped)
		}
		got, err := s.Track(ctx, "rec-3", start, start.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		// InfluxDB kept the 9 good points of the partial write.
		if len(got) != 29 {
			t.Fatalf("got %d points, want 29", len(got))
		}
	})

	t.Run("invalid points are skipped and counted", func(t *testing.T) {
		before := s.Stats().PointsInvalid
		err := s.Write(ctx, []series.Point{
			{Measurement: series.Telemetry, Tags: map[string]string{"device": "x"}, Time: start},
			{Measurement: series.Telemetry, Fields: map[string]any{"lat": math.NaN()}, Time: start},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Stats().PointsInvalid - before; got != 2 {
			t.Fatalf("PointsInvalid +%d, want +2", got)
		}
	})

	t.Run("events and vessels", func(t *testing.T) {
		err := s.Write(ctx, []series.Point{
			{Measurement: series.Event, Tags: map[string]string{"device": "rec-4", "unit": "u", "kind": "recorder", "type": "sos"},
				Fields: map[string]any{"detail": `按下 "SOS" 键`}, Time: start},
			{Measurement: series.Vessel, Tags: map[string]string{"mmsi": "412345678"},
				Fields: map[string]any{"lat": 29.9, "lon": 122.1, "speed_kn": 11.5, "course_deg": 87.0}, Time: start},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "queue drained", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
		if st := s.Stats(); st.BatchesDropped > 1 {
			t.Fatalf("events or vessels rejected: %+v", st)
		}
	})

	t.Run("writer crash replays unacknowledged batches", func(t *testing.T) {
		testCrash(t, in, s)
	})

	t.Run("a full spool refuses writes", func(t *testing.T) {
		testSpoolFull(t, in)
	})
}

// TestInfluxOutage stops InfluxDB while points stream in and starts it
// again: every point arrives, and order is kept (a later write of the same
// point wins).
func TestInfluxOutage(t *testing.T) {
	t.Parallel()
	in := testenv.StartInflux(t)
	s := startStore(t, in.URL, in.Bucket, t.TempDir(), Config{FlushInterval: 50 * time.Millisecond})
	ctx := t.Context()
	const batches, per = 40, 50
	pts := trackPoints("rec-out", start, 0, batches*per)
	// The same instant written before the outage and rewritten during it:
	// if the queue kept order, the rewrite wins.
	marker := func(lat float64) []series.Point {
		return []series.Point{{Measurement: series.Telemetry, Tags: map[string]string{"device": "rec-order"},
			Fields: map[string]any{"lat": lat, "lon": 1.0}, Time: start}}
	}
	if err := s.Write(ctx, marker(1)); err != nil {
		t.Fatal(err)
	}
	for b := range batches {
		if b == batches/4 {
			waitFor(t, "first quarter written", 30*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
			in.Stop()
		}
		if b == batches/2 {
			if err := s.Write(ctx, marker(2)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Write(ctx, pts[b*per:(b+1)*per]); err != nil {
			t.Fatalf("Write during outage: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "the sender to notice the outage", 30*time.Second, func() bool { return s.Stats().BatchesFailed > 0 })
	if st := s.Stats(); st.Spool.Unacked == 0 {
		t.Fatalf("nothing waiting during the outage: %+v", st)
	}
	in.Start()
	waitFor(t, "the spool to drain", 60*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })

	got, err := s.Track(ctx, "rec-out", start, start.Add(24*time.Hour), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != batches*per {
		t.Fatalf("after the outage InfluxDB has %d points, want %d", len(got), batches*per)
	}
	for i, p := range got {
		if !p.Time.Equal(pts[i].Time) || p.Lat != pts[i].Fields["lat"] {
			t.Fatalf("point %d = %+v, want %+v", i, p, pts[i])
		}
	}
	m, err := s.Track(ctx, "rec-order", start, start.Add(time.Second), 10)
	if err != nil || len(m) != 1 || m[0].Lat != 2 {
		t.Fatalf("order not kept: %+v %v", m, err)
	}
	st := s.Stats()
	if st.Retries == 0 || st.BatchesDropped != 0 {
		t.Fatalf("want retries and no drops: %+v", st)
	}
	t.Logf("outage stats: %+v", st)
}

// testCrash kills a writer process mid-stream, without Close, and checks
// that a new Store on its spool sends every point whose Write returned.
func testCrash(t *testing.T, in *testenv.Influx, reader *Store) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "INFLUX_CRASH_CHILD="+dir, "INFLUX_CRASH_URL="+in.URL, "INFLUX_CRASH_BUCKET="+in.Bucket)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	written := 0
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			written = n
			if written >= 3000 {
				break
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for sc.Scan() { // Writes that returned before the signal landed
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			written = n
		}
	}
	cmd.Wait()
	if written < 3000 {
		t.Fatalf("child wrote only %d points", written)
	}

	// Look before sending: the kill must have left batches unsent, or
	// this test proves nothing.
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := sp.Stats()
	sp.Close()
	t.Logf("spool after kill: %+v (child reported %d points)", st, written)
	if st.Unacked == 0 {
		t.Fatal("nothing left unsent at the kill")
	}
	s := startStore(t, in.URL, in.Bucket, dir, Config{})
	waitFor(t, "replay", 60*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
	got, err := reader.Track(t.Context(), "rec-crash", start, start.Add(24*time.Hour), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < written {
		t.Fatalf("InfluxDB has %d points, the killed writer had accepted %d", len(got), written)
	}
	for i, p := range got {
		if want := start.Add(time.Duration(i) * time.Second); !p.Time.Equal(want) {
			t.Fatalf("point %d at %v, want %v: a gap", i, p.Time, want)
		}
	}
}

// TestCrashChild is the killed writer of testCrash. It sends as it goes,
// slowly (1 s flush), so that the kill finds both sent and unsent batches.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("INFLUX_CRASH_CHILD")
	if dir == "" {
		t.Skip("only runs as the child of the crash test")
	}
	s, err := New(Config{URL: os.Getenv("INFLUX_CRASH_URL"), Bucket: os.Getenv("INFLUX_CRASH_BUCKET"),
		SpoolDir: dir, FlushInterval: time.Second, BatchLines: 1000}, nil)
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(1)
	}
	go s.Run(context.Background()) // never stopped: the parent kills us
	pts := trackPoints("rec-crash", start, 0, 100_000)
	for i := 0; i < len(pts); i += 50 {
		if err := s.Write(context.Background(), pts[i:i+50]); err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		fmt.Println(i + 50)
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Hour)
}

// testSpoolFull fills the spool while InfluxDB is unreachable: Write
// refuses with ErrFull instead of growing, and everything it accepted is
// delivered once InfluxDB is there.
func testSpoolFull(t *testing.T, in *testenv.Influx) {
	dir := t.TempDir()
	down := closedPort(t)
	const maxBytes = 256 << 10
	cfg := Config{Spool: spool.Options{MaxBytes: maxBytes, SegmentBytes: 32 << 10}}
	s := startStore(t, down, in.Bucket, dir, cfg)
	accepted := 0
	var full error
	for i := 0; i < 100_000; i += 20 {
		err := s.Write(t.Context(), trackPoints("rec-full", start, i, 20))
		if err != nil {
			full = err
			break
		}
		accepted += 20
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("Write with a full spool = %v, want ErrFull", full)
	}
	st := s.Stats()
	if st.Spool.Bytes > maxBytes || st.WriteRejected != 1 || accepted == 0 {
		t.Fatalf("accepted %d points, stats %+v", accepted, st)
	}
	t.Logf("spool full after %d points, %d bytes", accepted, st.Spool.Bytes)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = startStore(t, in.URL, in.Bucket, dir, cfg)
	waitFor(t, "spool drained", 60*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
	got, err := s.Track(t.Context(), "rec-full", start, start.Add(1000*time.Hour), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != accepted {
		t.Fatalf("InfluxDB has %d points, Write accepted %d", len(got), accepted)
	}
	if err := s.Write(t.Context(), trackPoints("rec-full", start, accepted, 20)); err != nil {
		t.Fatalf("Write after draining: %v", err)
	}
}

// closedPort returns a URL where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestSenderStatusCodes scripts responses InfluxDB cannot be made to give
// on demand (5xx, 429, 404) with a fake /api/v2/write.
func TestSenderStatusCodes(t *testing.T) {
	tests := []struct {
		name        string
		codes       []int // responses before the batch is settled
		wantWritten uint64
		wantDropped uint64
		wantRetries uint64
	}{
		{"ok", []int{204}, 1, 0, 0},
		{"server error then ok", []int{500, 503, 204}, 1, 0, 2},
		{"rate limited then ok", []int{429, 204}, 1, 0, 1},
		{"missing database is kept, not dropped", []int{404, 404, 204}, 1, 0, 2},
		{"unauthorized is kept", []int{401, 204}, 1, 0, 1},
		{"bad request is dropped", []int{400}, 0, 1, 0},
		{"unprocessable is dropped", []int{422}, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var bodies sync.Map
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v2/write" {
					http.NotFound(w, r)
					return
				}
				n := int(calls.Add(1)) - 1
				b, _ := io.ReadAll(r.Body)
				bodies.Store(n, string(b))
				code := 204
				if n < len(tt.codes) {
					code = tt.codes[n]
				}
				if code == 429 {
					w.Header().Set("Retry-After", "0")
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			s := startStore(t, srv.URL, "telemetry/autogen", t.TempDir(),
				Config{RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
			if err := s.Write(t.Context(), trackPoints("d", start, 0, 3)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "settled", 10*time.Second, func() bool { return s.Stats().Spool.Unacked == 0 })
			st := s.Stats()
			if st.BatchesWritten != tt.wantWritten || st.BatchesDropped != tt.wantDropped || st.Retries != tt.wantRetries {
				t.Fatalf("stats %+v", st)
			}
			if int(calls.Load()) != len(tt.codes) {
				t.Fatalf("%d requests, want %d", calls.Load(), len(tt.codes))
			}
			first, _ := bodies.Load(0)
			last, _ := bodies.Load(len(tt.codes) - 1)
			if first != last || strings.Count(first.(string), "\n") != 3 {
				t.Fatalf("retried a different body: %q vs %q", first, last)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retry     bool
		wantAfter time.Duration
	}{
		{"network", &http2.Error{Err: errors.New("connection refused")}, true, 0},
		{"timeout", context.DeadlineExceeded, true, 0},
		{"503 with Retry-After", &http2.Error{StatusCode: 503, RetryAfter: 7}, true, 7 * time.Second},
		{"429", &http2.Error{StatusCode: 429}, true, 0},
		{"404 database not found", &http2.Error{StatusCode: 404}, true, 0},
		{"400 partial write", &http2.Error{StatusCode: 400, Message: "partial write: dropped=3"}, false, 0},
		{"413 too large", &http2.Error{StatusCode: 413}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, after := classify(fmt.Errorf("wrapped: %w", tt.err))
			if retry != tt.retry || after != tt.wantAfter {
				t.Fatalf("classify = %v, %v; want %v, %v", retry, after, tt.retry, tt.wantAfter)
			}
		})
	}
}

func TestDroppedCount(t *testing.T) {
	tests := []struct {
		msg  string
		n    uint64
		okay bool
	}{
		{`partial write: field type conflict: input field "speed_kmh" on measurement "telemetry" is type string, already exists as type float dropped=1`, 1, true},
		{"partial write: points beyond retention policy dropped=250", 250, true},
		{"unable to parse 'x': missing fields", 0, false},
	}
	for _, tt := range tests {
		n, ok := droppedCount(errors.New(tt.msg))
		if n != tt.n || ok != tt.okay {
			t.Errorf("%q: %d %v", tt.msg, n, ok)
		}
	}
}

func TestFluxString(t *testing.T) {
	tests := map[string]string{
		"rec-1":     `"rec-1"`,
		`a"b\c`:     `"a\"b\\c"`,
		"x${y}":     `"x\${y}"`,
		"cost $5":   `"cost $5"`,
		"line\nnew": `"line\nnew"`,
	}
	for in, want := range tests {
		if got := fluxString(in); got != want {
			t.Errorf("fluxString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestTrackArguments(t *testing.T) {
	s, err := New(Config{URL: "http://127.0.0.1:1", Bucket: "b", SpoolDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name     string
		dev      string
		from, to time.Time
		max      int
	}{
		{"no device", "", start, start.Add(time.Hour), 10},
		{"reversed span", "d", start.Add(time.Hour), start, 10},
		{"empty span", "d", start, start, 10},
		{"no points allowed", "d", start, start.Add(time.Hour), 0},
	}
	for _, tt := range tests {
		if _, err := s.Track(t.Context(), tt.dev, tt.from, tt.to, tt.max); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestBucketWidth(t *testing.T) {
	tests := []struct {
		span time.Duration
		max  int
		want time.Duration
	}{
		{700 * time.Second, 70, 10 * time.Second},
		{time.Hour, 33, 109090909091},
		{3, 10, 1},
	}
	for _, tt := range tests {
		if got := bucketWidth(start, start.Add(tt.span), tt.max); got != tt.want {
			t.Errorf("bucketWidth(%v, %d) = %v, want %v", tt.span, tt.max, got, tt.want)
		}
	}
}

// BenchmarkWriteSpool is the cost per point of Write: encoding plus the
// append to the spool (one write(2) per call), with the default fsync
// interval. Batches of 100 points, as an ingest worker hands them over.
func BenchmarkWriteSpool(b *testing.B) {
	for _, per := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("points_per_call=%d", per), func(b *testing.B) {
			s, err := New(Config{URL: "http://127.0.0.1:1", Bucket: "b", SpoolDir: b.TempDir(),
				Spool: spool.Options{MaxBytes: 1 << 40}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			pts := make([]series.Point, per)
			for i := range pts {
				pts[i] = telemetryPoint(i)
			}
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := s.Write(ctx, pts); err != nil {
					b.Fatal(err)
				}
			}
			reportPerPoint(b, cpu0, per)
		})
	}
}

// BenchmarkPipeline is our whole per-point cost: Write (encode, spool
// append) plus the sender (spool read, batching, HTTP request) to a server
// that discards the body, so InfluxDB's own cost is left out. The timing
// includes draining the spool. cpu-ns/point is the process's CPU time (user
// + system, the discarding server included) per point: what the ingest
// side takes from the two cores it shares with InfluxDB.
func BenchmarkPipeline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL, Bucket: "b", SpoolDir: b.TempDir(), Spool: spool.Options{MaxBytes: 1 << 40}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(context.Background()) })
	defer func() { s.Close(); wg.Wait() }()
	pts := make([]series.Point, 100)
	for i := range pts {
		pts[i] = telemetryPoint(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if err := s.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
	for s.Stats().Spool.Unacked > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	reportPerPoint(b, cpu0, len(pts))
}
