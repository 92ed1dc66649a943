package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/devices/ais"
	"github.com/lawfleet/fleet/fleet"
)

// fakeBroker stands in for a broker in the timer-heavy engine tests, which
// run in a synctest bubble; devices/sim/paho tests the real thing.
type fakeBroker struct {
	refuseFirst int  // refuse each device's first n dials
	record      bool // keep every message (else only count)

	mu     sync.Mutex
	dials  map[string]int
	msgs   []pub
	count  atomic.Int64
	closed atomic.Int64
}

type pub struct {
	id       string
	kind     devices.TopicKind
	retained bool
	payload  string
	at       time.Time
}

func newFakeBroker() *fakeBroker { return &fakeBroker{dials: map[string]int{}, record: true} }

func (b *fakeBroker) Dial(ctx context.Context, d Device) (Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dials[d.ID]++
	if b.dials[d.ID] <= b.refuseFirst {
		return nil, errors.New("connection refused: not authorised")
	}
	if d.Secret != "secret-"+d.ID {
		return nil, errors.New("bad secret")
	}
	return &fakeConn{b: b, id: d.ID}, nil
}

type fakeConn struct {
	b       *fakeBroker
	id      string
	closed  atomic.Bool
	dropped atomic.Bool
}

func (c *fakeConn) Publish(topic string, qos byte, retained bool, payload []byte) error {
	if c.closed.Load() || c.dropped.Load() {
		return errors.New("not connected")
	}
	tp, err := devices.ParseTopic(topic)
	if err != nil || tp.DeviceID != c.id || !devices.MayPublish(c.id, topic) {
		return fmt.Errorf("topic %s refused for %s", topic, c.id)
	}
	c.b.count.Add(1)
	if c.b.record {
		c.b.mu.Lock()
		c.b.msgs = append(c.b.msgs, pub{c.id, tp.Kind, retained, string(payload), time.Now()})
		c.b.mu.Unlock()
	}
	return nil
}

func (c *fakeConn) Connected() bool { return !c.closed.Load() && !c.dropped.Load() }
func (c *fakeConn) Close() {
	if !c.closed.Swap(true) {
		c.b.closed.Add(1)
	}
}

func fleetOf(n int, origin LatLon) []Device {
	roles := []struct {
		kind fleet.DeviceKind
		role Role
	}{
		{fleet.KindRecorder, Patrol}, {fleet.KindRecorder, Patrol}, {fleet.KindRecorder, Patrol},
		{fleet.KindRecorder, Docked}, {fleet.KindVehicleTerminal, Vehicle}, {fleet.KindAISUnit, Vessel},
	}
	var ds []Device
	for i := range n {
		r := roles[i%len(roles)]
		id := fmt.Sprintf("dev_%s_%03d", r.kind, i)
		d := Device{ID: id, Secret: "secret-" + id, Kind: r.kind, Role: r.role, Origin: origin, Home: offsetM(origin, 300, -200)}
		if r.role == Vessel {
			d.MMSI = fmt.Sprintf("413%06d", i)
		}
		ds = append(ds, d)
	}
	return ds
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runFor runs s for d of (bubble) time and stops it.
func runFor(t *testing.T, s *Sim, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRoleOf(t *testing.T) {
	tests := []struct {
		kind   fleet.DeviceKind
		status fleet.DeviceStatus
		role   Role
		ok     bool
	}{
		{fleet.KindRecorder, fleet.StatusAssigned, Patrol, true},
		{fleet.KindRecorder, fleet.StatusInStock, Docked, true},
		{fleet.KindRecorder, fleet.StatusInRepair, 0, false},
		{fleet.KindRecorder, fleet.StatusLost, 0, false},
		{fleet.KindRecorder, fleet.StatusRetired, 0, false},
		{fleet.KindVehicleTerminal, fleet.StatusInStock, Vehicle, true},
		{fleet.KindVehicleTerminal, fleet.StatusInRepair, 0, false},
		{fleet.KindAISUnit, fleet.StatusInStock, Vessel, true},
	}
	for _, tt := range tests {
		role, ok := RoleOf(tt.kind, tt.status)
		if role != tt.role || ok != tt.ok {
			t.Errorf("RoleOf(%s, %s) = %v, %v; want %v, %v", tt.kind, tt.status, role, ok, tt.role, tt.ok)
		}
	}
}

// TestSimulation runs a small mixed fleet for half an hour of bubble time
// and checks every message against the contract's codec and the story
// each device tells.
func TestSimulation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBroker()
		devs := append(fleetOf(24, Wuhan), fleetOf(6, LatLon{30.692, 111.286})...) // and a few in 宜昌
		for i := 24; i < len(devs); i++ {
			devs[i].ID += "_yc"
			devs[i].Secret = "secret-" + devs[i].ID
		}
		const period = time.Second
		s := New(Config{Interval: period, Buckets: 10, Workers: 3, Dialers: 4, Seed: 1,
			SOSPerHour: 60, DropsPerHour: 40}, devs, b, quiet())
		const span = 30 * time.Minute
		runFor(t, s, span)

		byID := map[string][]pub{}
		for _, m := range b.msgs {
			byID[m.id] = append(byID[m.id], m)
		}
		events := map[devices.EventType]int{}
		for _, d := range devs {
			msgs := byID[d.ID]
			if len(msgs) < 2 {
				t.Fatalf("%s sent %d messages", d.ID, len(msgs))
			}
			if first := msgs[0]; first.kind != devices.TopicState || first.payload != "online" || !first.retained {
				t.Errorf("%s: first message %+v, want retained online", d.ID, first)
			}
			if last := msgs[len(msgs)-1]; last.kind != devices.TopicState || last.payload != "offline" || !last.retained {
				t.Errorf("%s: last message %+v, want retained offline", d.ID, last)
			}
			var lastTS time.Time
			telemetry, nmea, online := 0, 0, true
			for _, m := range msgs {
				switch m.kind {
				case devices.TopicState:
					online = m.payload == "online"
				case devices.TopicTelemetry:
					if !online {
						t.Errorf("%s sent telemetry while it said it was offline", d.ID)
					}
					ts, err := devices.DecodeTelemetry([]byte(m.payload), m.at)
					if err != nil {
						t.Fatalf("%s: telemetry %s: %v", d.ID, m.payload, err)
					}
					tm := ts[0]
					if !tm.Time.After(lastTS) {
						t.Errorf("%s: telemetry out of order at %s", d.ID, tm.Time)
					}
					lastTS = tm.Time
					if !tm.HasPosition() || distanceM(LatLon{*tm.Lat, *tm.Lon}, d.Origin) > 40_000 {
						t.Errorf("%s: position %s far from its city", d.ID, m.payload)
					}
					if (tm.BatteryPct != nil) != (d.Kind == fleet.KindRecorder) {
						t.Errorf("%s (%s): battery_pct present %v", d.ID, d.Kind, tm.BatteryPct != nil)
					}
					telemetry++
				case devices.TopicNMEA:
					ms, err := ais.NewDecoder(ais.Config{}).Feed(m.payload)
					if err != nil || len(ms) != 1 || fmt.Sprintf("%09d", ms[0].MMSI) != d.MMSI {
						t.Fatalf("%s: nmea %s: %v %+v", d.ID, m.payload, err, ms)
					}
					if lat, lon, ok := ms[0].Position(); !ok || distanceM(LatLon{lat, lon}, d.Origin) > 40_000 {
						t.Errorf("%s: AIS position %s far from its city", d.ID, m.payload)
					}
					nmea++
				case devices.TopicEvent:
					ev, err := devices.DecodeEvent([]byte(m.payload), m.at)
					if err != nil {
						t.Fatalf("%s: event %s: %v", d.ID, m.payload, err)
					}
					events[ev.Type]++
				default:
					t.Errorf("%s: unexpected topic kind %s", d.ID, m.kind)
				}
			}
			if (nmea > 0) != (d.MMSI != "") || (nmea > 0 && nmea != telemetry) {
				t.Errorf("%s (mmsi %q): %d AIS reports, %d telemetry", d.ID, d.MMSI, nmea, telemetry)
			}
			steps := int(span / period)
			switch d.Role {
			case Docked:
				if telemetry < steps/dockedEvery/2 || telemetry > steps/dockedEvery*2 {
					t.Errorf("docked %s sent %d telemetry in %d periods", d.ID, telemetry, steps)
				}
			default:
				if telemetry < steps/2 || telemetry > steps+1 {
					t.Errorf("%s sent %d telemetry in %d periods", d.ID, telemetry, steps)
				}
			}
		}
		for _, e := range []devices.EventType{devices.EventSOS, devices.EventSOSClear, devices.EventRecordStart,
			devices.EventRecordStop, devices.EventPowerOff, devices.EventPowerOn} {
			if events[e] == 0 {
				t.Errorf("no %s event: %v", e, events)
			}
		}
		st := s.Stats()
		if st.Online != 0 || st.PublishErrors != 0 || st.Connects < int64(len(devs)) || st.LateTicks != 0 {
			t.Errorf("stats %+v", st)
		}
		if int(b.closed.Load()) != int(st.Connects) {
			t.Errorf("%d connections closed of %d made", b.closed.Load(), st.Connects)
		}
	})
}

// TestMovement checks that devices on the move cover plausible ground.
func TestMovement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBroker()
		devs := fleetOf(6, Wuhan)
		runFor(t, New(Config{Interval: 5 * time.Second, Seed: 3, SOSPerHour: -1, DropsPerHour: -1}, devs, b, quiet()), time.Hour)
		path := map[string][]devices.Telemetry{}
		for _, m := range b.msgs {
			if m.kind == devices.TopicTelemetry {
				ts, _ := devices.DecodeTelemetry([]byte(m.payload), m.at)
				path[m.id] = append(path[m.id], ts...)
			}
		}
		for _, d := range devs {
			p := path[d.ID]
			travelled := 0.0
			for i := 1; i < len(p); i++ {
				step := distanceM(LatLon{*p[i-1].Lat, *p[i-1].Lon}, LatLon{*p[i].Lat, *p[i].Lon})
				dt := p[i].Time.Sub(p[i-1].Time).Hours()
				if step/1000/dt > 120 {
					t.Errorf("%s jumped %.0f m in %s", d.ID, step, p[i].Time.Sub(p[i-1].Time))
				}
				travelled += step
			}
			switch d.Role {
			case Docked:
				if travelled > 10 {
					t.Errorf("docked %s moved %.0f m", d.ID, travelled)
				}
			default:
				if travelled < 1000 {
					t.Errorf("%s (%v) moved only %.0f m in an hour", d.ID, d.Role, travelled)
				}
			}
		}
	})
}

// TestDialBackoff: a broker that refuses devices at first; they get in
// after backing off, without hammering it.
func TestDialBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBroker()
		b.refuseFirst = 3
		devs := fleetOf(12, Wuhan)
		s := New(Config{Interval: time.Second, Seed: 1, SOSPerHour: -1, DropsPerHour: -1}, devs, b, quiet())
		runFor(t, s, 2*time.Minute)
		for _, d := range devs {
			if n := b.dials[d.ID]; n != 4 {
				t.Errorf("%s dialled %d times, want 4 (3 refused, then in)", d.ID, n)
			}
		}
		if st := s.Stats(); st.ConnectFailures != 36 || st.Connects != 12 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestReconnect: when the broker drops a connection, the device dials
// again and carries on.
func TestReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newFakeBroker()
		devs := fleetOf(6, Wuhan)
		s := New(Config{Interval: time.Second, Seed: 1, SOSPerHour: -1, DropsPerHour: -1}, devs, b, quiet())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(10 * time.Second)
		for _, d := range s.devs {
			d.connection().(*fakeConn).dropped.Store(true)
		}
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		if st := s.Stats(); st.Connects != 12 || st.Online != 0 {
			t.Errorf("stats %+v, want every device connected twice", st)
		}
		for _, d := range devs {
			if b.dials[d.ID] != 2 {
				t.Errorf("%s dialled %d times", d.ID, b.dials[d.ID])
			}
		}
	})
}

// TestScale runs 100,000 devices for a minute of bubble time: every
// device reports on schedule, on a fixed number of goroutines.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 devices")
	}
	synctest.Test(t, func(t *testing.T) {
		const n = 100_000
		b := newFakeBroker()
		b.record = false
		var devs []Device
		for i := range n {
			id := fmt.Sprintf("dev_%06d", i)
			devs = append(devs, Device{ID: id, Secret: "secret-" + id, Kind: fleet.KindVehicleTerminal, Role: Vehicle, Origin: Wuhan})
		}
		cfg := Config{Interval: 5 * time.Second, Buckets: 10, Workers: 4, Dialers: 64, Seed: 1, SOSPerHour: -1, DropsPerHour: -1}
		s := New(cfg, devs, b, quiet())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		before := runtime.NumGoroutine()
		go func() { done <- s.Run(ctx) }()
		time.Sleep(30 * time.Second)
		if g := runtime.NumGoroutine() - before; g > cfg.Workers+cfg.Dialers+5 {
			t.Errorf("%d goroutines for %d devices", g, n)
		}
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		st := s.Stats()
		// Connecting 100,000 devices takes the first periods (dials are
		// bounded); after that each device reports every 5 s.
		if st.Connects != n || st.Telemetry < 4*n || st.Telemetry > 9*n {
			t.Errorf("stats %+v: want %d devices reporting 4 to 8 times each", st, n)
		}
	})
}
