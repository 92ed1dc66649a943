package vessels

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/series"
)

// testNow is the tracker's clock in tests.
var testNow = time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a series.Writer that keeps what it is given: the writer is
// an interface of one method whose real implementations have their own
// tests; here the points themselves are what is checked.
type recorder struct {
	mu     sync.Mutex
	points []series.Point
	err    error
}

func (r *recorder) Write(_ context.Context, ps []series.Point) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.points = append(r.points, ps...)
	return nil
}

func (r *recorder) all() []series.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]series.Point(nil), r.points...)
}

// env is a tracker with a recorder, a clock and its own metrics registry.
type env struct {
	tr    *Tracker
	w     *recorder
	clock *clock
	reg   *prometheus.Registry
}

func newEnv(t testing.TB, cfg Config, register Register) *env {
	t.Helper()
	e := &env{w: &recorder{}, clock: &clock{t: testNow}, reg: prometheus.NewRegistry()}
	tr, err := New(cfg, Deps{Writer: e.w, Register: register, Registry: e.reg, Logger: testLogger(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	e.tr = tr
	return e
}

// feed hands lines to the tracker as one MQTT payload of device.
func (e *env) feed(t testing.TB, device string, lines ...string) {
	t.Helper()
	payload := strings.Join(lines, "\r\n") + "\r\n"
	if err := e.tr.HandleNMEA(context.Background(), device, []byte(payload), e.clock.Now()); err != nil {
		t.Fatalf("HandleNMEA(%s): %v", device, err)
	}
}

func (e *env) vessel(t testing.TB, mmsi uint32) Vessel {
	t.Helper()
	v, ok := e.tr.Vessel(mmsi)
	if !ok {
		t.Fatalf("vessel %09d is not tracked", mmsi)
	}
	return v
}

// metric is the value of a counter or gauge with the given label
// values (name=value pairs), summed over the other labels; 0 when absent.
func (e *env) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// refCase is one reference decoding of devices/ais/testdata/cases.jsonl.
type refCase struct {
	ID        string         `json:"id"`
	Type      int            `json:"type"`
	Sentences []string       `json:"sentences"`
	Expect    string         `json:"expect"`
	Expected  map[string]any `json:"expected"`
}

func loadCases(t testing.TB) map[string]refCase {
	t.Helper()
	f, err := os.Open("../../devices/ais/testdata/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := map[string]refCase{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c refCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cases[c.ID] = c
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// report is a class A position report (type 1) or a class B one (18) to
// encode for a test, where the reference cases have no sentence of the
// MMSI a test needs.
type report struct {
	typ        int // 1 or 18; 0 means 1
	mmsi       uint32
	status     int // 0-15
	lat, lon   float64
	speedKn    float64
	courseDeg  float64
	headingDeg int // 511: not available
}

// sentence encodes r as !AIVDM (or !AIVDO when own).
func (r report) sentence(own bool) string {
	var b bitWriter
	if r.typ == 18 {
		b.put(6, 18)
		b.put(2, 0)
		b.put(30, uint64(r.mmsi))
		b.put(8, 0) // regional reserved
		b.put(10, uint64(math.Round(r.speedKn*10)))
		b.put(1, 0)
		b.put(28, twos(math.Round(r.lon*600000), 28))
		b.put(27, twos(math.Round(r.lat*600000), 27))
		b.put(12, uint64(math.Round(r.courseDeg*10)))
		b.put(9, uint64(r.headingDeg))
		b.put(6, 30)
		b.put(2, 0)
		b.put(1, 1) // CS unit
		b.put(1, 0)
		b.put(1, 0)
		b.put(1, 1)
		b.put(1, 0)
		b.put(1, 0)
		b.put(1, 0)
		b.put(20, 0)
	} else {
		b.put(6, 1)
		b.put(2, 0)
		b.put(30, uint64(r.mmsi))
		b.put(4, uint64(r.status))
		b.put(8, 0x80) // rate of turn: not available
		b.put(10, uint64(math.Round(r.speedKn*10)))
		b.put(1, 0)
		b.put(28, twos(math.Round(r.lon*600000), 28))
		b.put(27, twos(math.Round(r.lat*600000), 27))
		b.put(12, uint64(math.Round(r.courseDeg*10)))
		b.put(9, uint64(r.headingDeg))
		b.put(6, 30)
		b.put(2, 0)
		b.put(3, 0)
		b.put(1, 0)
		b.put(19, 0)
	}
	payload, fill := b.armoured()
	talker := "AIVDM"
	if own {
		talker = "AIVDO"
	}
	return frame(fmt.Sprintf("%s,1,1,,A,%s,%d", talker, payload, fill))
}

// frame adds '!' and the checksum to a sentence body.
func frame(body string) string {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return fmt.Sprintf("!%s*%02X", body, c)
}

func twos(v float64, width int) uint64 { return uint64(int64(v)) & (1<<width - 1) }

type bitWriter struct{ bits []byte }

func (w *bitWriter) put(width int, v uint64) {
	for i := width - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i)&1)
	}
}

func (w *bitWriter) armoured() (string, int) {
	fill := (6 - len(w.bits)%6) % 6
	bits := append(w.bits, make([]byte, fill)...)
	var sb strings.Builder
	for i := 0; i < len(bits); i += 6 {
		v := bits[i]<<5 | bits[i+1]<<4 | bits[i+2]<<3 | bits[i+3]<<2 | bits[i+4]<<1 | bits[i+5]
		if v < 40 {
			sb.WriteByte(v + 48)
		} else {
			sb.WriteByte(v + 56)
		}
	}
	return sb.String(), fill
}

// registry is a real register on SQLite with one unit, as the tracker's
// Register and to create AIS units in.
type registry struct {
	reg   *fleet.Register
	admin fleet.User
	unit  fleet.Unit
}

func newRegistry(t testing.TB) *registry {
	t.Helper()
	reg := fleet.NewRegister(sqltest.SQLite(t), nil)
	// An administrator with no unit, acting directly on the register:
	// bootstrapping and signing in would only add slow password hashes.
	admin := fleet.User{ID: "usr_test", Username: "test", Role: fleet.RoleAdmin}
	unit, err := reg.CreateUnit(context.Background(), admin, fleet.UnitInput{Code: "HB", Name: "湖北省交通运输综合行政执法局", Level: fleet.LevelProvince})
	if err != nil {
		t.Fatal(err)
	}
	return &registry{reg: reg, admin: admin, unit: unit}
}

// aisUnit registers an AIS unit with mmsi ("" for none) and returns its id.
func (r *registry) aisUnit(t testing.TB, serial, mmsi string) string {
	t.Helper()
	nd, err := r.reg.CreateDevice(context.Background(), r.admin, fleet.DeviceInput{Kind: fleet.KindAISUnit,
		Serial: serial, Model: "AIS-B600", UnitID: r.unit.ID, MMSI: mmsi})
	if err != nil {
		t.Fatal(err)
	}
	return nd.ID
}
