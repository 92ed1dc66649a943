// Package sim simulates a fleet of devices speaking the MQTT contract:
// body-worn recorders on patrol or in their dock, vehicle terminals on the
// road and AIS units on the river, each publishing telemetry, events and
// its retained online/offline state under fleet/v1/{id}/, with batteries
// that drain and charge, storage that fills and is offloaded, occasional
// SOS calls and devices that drop off the network for a while.
//
// It scales to 100,000 devices on bounded goroutines: devices are sharded
// over a fixed set of workers, and each worker's devices are spread over
// time buckets that one ticker walks through, so there is no goroutine or
// timer per device. A device belongs to one worker, so its messages go out
// in order. Connecting and disconnecting, which wait on the network, run
// on a separate bounded pool.
//
// The package owns the device behaviour and the schedule; it reaches the
// broker only through the small Dialer and Conn interfaces (the paho
// adapter is in devices/sim/paho). It imports the standard library, fleet
// and devices, and no MQTT client.
package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
)

// Conn is one device's connection to the broker.
type Conn interface {
	// Publish sends a message; it may return before the broker has it.
	Publish(topic string, qos byte, retained bool, payload []byte) error
	// Connected reports whether the connection is still up.
	Connected() bool
	// Close disconnects cleanly: the broker does not publish the will.
	Close()
}

// Dialer connects a device with its credentials, and with the retained
// will "offline" on its state topic.
type Dialer interface {
	Dial(ctx context.Context, d Device) (Conn, error)
}

// Role is how a simulated device behaves.
type Role int

const (
	Patrol  Role = iota // a recorder with an officer on duty
	Docked              // a recorder in its dock at the station
	Vehicle             // a vehicle terminal
	Vessel              // an AIS unit on an enforcement boat
)

// Device is one device to simulate.
type Device struct {
	ID     string
	Secret string // MQTT password
	Kind   fleet.DeviceKind
	Role   Role
	Origin LatLon // the centre of its city: its routes are around it
	Home   LatLon // its station, where a recorder docks (zero: Origin)
	MMSI   string // an AIS unit's: it also reports its vessel as !AIVDO
	// Firmware is the version it runs, for firmware updates.
	Firmware string
}

// RoleOf is the behaviour of a device of kind k in status s, and false for
// a device that stays silent (in repair, lost, retired).
func RoleOf(k fleet.DeviceKind, s fleet.DeviceStatus) (Role, bool) {
	switch {
	case k == fleet.KindRecorder && s == fleet.StatusAssigned:
		return Patrol, true
	case k == fleet.KindRecorder && s == fleet.StatusInStock:
		return Docked, true
	case k == fleet.KindVehicleTerminal && s.InService():
		return Vehicle, true
	case k == fleet.KindAISUnit && s.InService():
		return Vessel, true
	}
	return 0, false
}

// Config tunes the simulation. Zero values take the defaults.
type Config struct {
	Interval     time.Duration // telemetry period of a device on the move (default 5 s)
	Buckets      int           // time slots per Interval (default Interval/100 ms)
	Workers      int           // device shards (default 2×GOMAXPROCS)
	Dialers      int           // connections opened or closed at once (default 32)
	Seed         uint64        // random seed of the behaviour
	SOSPerHour   float64       // SOS calls per hour, fleet-wide (default 2)
	DropsPerHour float64       // devices going offline per hour, fleet-wide (default 6)
	StatsEvery   time.Duration // how often to log counters (default 30 s)
	// Firmware, when set, makes every device answer firmware.update
	// commands as a real one does (download, verify, install, reboot).
	Firmware *FirmwareConfig
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Buckets <= 0 {
		c.Buckets = max(1, int(c.Interval/(100*time.Millisecond)))
	}
	if c.Workers <= 0 {
		c.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if c.Dialers <= 0 {
		c.Dialers = 32
	}
	if c.SOSPerHour == 0 {
		c.SOSPerHour = 2
	}
	if c.DropsPerHour == 0 {
		c.DropsPerHour = 6
	}
	if c.StatsEvery <= 0 {
		c.StatsEvery = 30 * time.Second
	}
	return c
}

// Stats are the simulation's counters.
type Stats struct {
	Online          int64 // devices connected now
	Connects        int64
	ConnectFailures int64
	Telemetry       int64 // telemetry messages published
	Events          int64
	PublishErrors   int64
	LateTicks       int64 // ticks a busy worker missed: its devices skipped a beat
}

// Sim is a running fleet of simulated devices.
type Sim struct {
	cfg   Config
	dial  Dialer
	log   *slog.Logger
	devs  []*device
	rates rates

	online, connects, connectFailures, telemetry, events, publishErrors, lateTicks atomic.Int64
	lastErr                                                                        atomic.Value // string: a sample dial error
}

// New prepares a simulation of devs; Run starts it.
func New(cfg Config, devs []Device, dial Dialer, logger *slog.Logger) *Sim {
	cfg = cfg.withDefaults()
	s := &Sim{cfg: cfg, dial: dial, log: logger.With("component", "sim")}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x73696d)) // "sim"
	areas := map[LatLon]*area{}                      // devices of a city share its routes
	patrols := 0
	for _, d := range devs {
		a := areas[d.Origin]
		if a == nil {
			v := areaAround(d.Origin)
			a = &v
			areas[d.Origin] = a
		}
		dev := newDevice(d, a, rng)
		if cfg.Firmware != nil {
			dev.fw = firmwareAgent(*cfg.Firmware, dev, rng.Uint64())
		}
		s.devs = append(s.devs, dev)
		if d.Role == Patrol {
			patrols++
		}
	}
	s.rates = rates{sos: perDeviceHour(cfg.SOSPerHour, patrols), drop: perDeviceHour(cfg.DropsPerHour, len(devs))}
	return s
}

func perDeviceHour(fleetPerHour float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return fleetPerHour / float64(n)
}

// Stats returns the counters so far.
func (s *Sim) Stats() Stats {
	return Stats{Online: s.online.Load(), Connects: s.connects.Load(), ConnectFailures: s.connectFailures.Load(),
		Telemetry: s.telemetry.Load(), Events: s.events.Load(), PublishErrors: s.publishErrors.Load(),
		LateTicks: s.lateTicks.Load()}
}

// job is a connection chore for the dialer pool.
type job struct {
	d     *device
	close Conn // a connection to close first, if any
	dial  bool
}

// Run simulates until ctx ends, then takes every device offline cleanly
// (state "offline", then disconnect) and returns.
func (s *Sim) Run(ctx context.Context) error {
	if len(s.devs) == 0 {
		return fmt.Errorf("sim: no devices to simulate")
	}
	s.log.Info("simulation starting", "devices", len(s.devs), "interval", s.cfg.Interval,
		"workers", s.cfg.Workers, "buckets", s.cfg.Buckets)
	dialCtx, stopDial := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDial()
	// The queue holds a few thousand chores so that a fleet connects as
	// fast as the dialers go, not as fast as ticks come round.
	jobs := make(chan job, max(4*s.cfg.Dialers, 4096))
	var dialers sync.WaitGroup
	for range s.cfg.Dialers {
		dialers.Go(func() { s.dialer(dialCtx, jobs) })
	}

	// Worker w owns devices w, w+W, w+2W, …; within a worker, device k
	// of its own is in bucket k mod B, so the load is even in time.
	ticks := make([]chan time.Time, s.cfg.Workers)
	var workers sync.WaitGroup
	for w := range s.cfg.Workers {
		var mine []*device
		for i := w; i < len(s.devs); i += s.cfg.Workers {
			mine = append(mine, s.devs[i])
		}
		buckets := make([][]*device, s.cfg.Buckets)
		for k, d := range mine {
			buckets[k%s.cfg.Buckets] = append(buckets[k%s.cfg.Buckets], d)
		}
		ticks[w] = make(chan time.Time, 1)
		rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(w)))
		workers.Go(func() { s.worker(buckets, ticks[w], jobs, rng) })
	}

	stats := time.NewTicker(s.cfg.StatsEvery)
	tick := time.NewTicker(s.cfg.Interval / time.Duration(s.cfg.Buckets))
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			for _, ch := range ticks {
				select {
				case ch <- now:
				default:
					s.lateTicks.Add(1) // that worker is still busy with the last tick
				}
			}
		case <-stats.C:
			s.logStats()
		}
	}
	tick.Stop()
	stats.Stop()
	for _, ch := range ticks {
		close(ch)
	}
	workers.Wait() // each worker takes its devices offline on the way out
	stopDial()     // dials still queued fail fast; closes still happen
	close(jobs)
	dialers.Wait()
	s.logStats()
	s.log.Info("simulation stopped")
	return nil
}

func (s *Sim) logStats() {
	st := s.Stats()
	args := []any{"online", st.Online, "of", len(s.devs), "telemetry", st.Telemetry, "events", st.Events,
		"connects", st.Connects, "connect_failures", st.ConnectFailures, "publish_errors", st.PublishErrors,
		"late_ticks", st.LateTicks}
	if e, ok := s.lastErr.Load().(string); ok && st.ConnectFailures > 0 {
		args = append(args, "last_error", e)
	}
	s.log.Info("simulation", args...)
}

// worker steps the devices of one bucket per tick, cycling through its
// buckets, and shuts its devices down when ticks closes.
func (s *Sim) worker(buckets [][]*device, ticks <-chan time.Time, jobs chan<- job, rng *rand.Rand) {
	b := 0
	for now := range ticks {
		for _, d := range buckets[b] {
			s.step(d, now, jobs, rng)
		}
		b = (b + 1) % len(buckets)
	}
	for _, bucket := range buckets {
		for _, d := range bucket {
			s.shutdown(d)
		}
	}
}

// step advances one device and publishes what it has to say.
func (s *Sim) step(d *device, now time.Time, jobs chan<- job, rng *rand.Rand) {
	conn := d.connection()
	if conn != nil && !conn.Connected() {
		// The broker or the network dropped it: close and dial again.
		d.detach()
		s.online.Add(-1)
		s.enqueue(d, job{d: d, close: conn, dial: true}, jobs)
		conn = nil
	}
	out := d.advance(now, rng, s.rates, s.cfg.Interval, conn != nil)
	if out.goOffline && conn != nil {
		s.publish(d, conn, out.msgs)
		d.detach()
		s.online.Add(-1)
		s.enqueue(d, job{d: d, close: conn}, jobs)
		return
	}
	if conn == nil {
		if d.wantsConnection(now) {
			s.enqueue(d, job{d: d, dial: true}, jobs)
		}
		return
	}
	s.publish(d, conn, out.msgs)
}

func (s *Sim) publish(d *device, conn Conn, msgs []message) {
	for _, m := range msgs {
		if err := conn.Publish(devices.DeviceTopic(d.ID, m.kind), m.qos, m.retained, m.payload); err != nil {
			s.publishErrors.Add(1)
			continue
		}
		switch m.kind {
		case devices.TopicTelemetry:
			s.telemetry.Add(1)
		case devices.TopicEvent:
			s.events.Add(1)
		}
	}
}

// enqueue hands a chore to the dialers without waiting: when they are
// busy, a dial is tried again at the device's next step; a close is done
// here rather than leak the connection.
func (s *Sim) enqueue(d *device, j job, jobs chan<- job) {
	if j.dial && !d.startDial() {
		j.dial = false
	}
	if !j.dial && j.close == nil {
		return
	}
	select {
	case jobs <- j:
	default:
		if j.close != nil {
			j.close.Close()
		}
		if j.dial {
			d.dialFailed(time.Now(), 0)
		}
	}
}

// dialer runs connection chores until jobs is closed.
func (s *Sim) dialer(ctx context.Context, jobs <-chan job) {
	for j := range jobs {
		if j.close != nil {
			j.close.Close()
		}
		if !j.dial {
			continue
		}
		if ctx.Err() != nil {
			j.d.dialFailed(time.Now(), 0)
			continue
		}
		conn, err := s.dial.Dial(ctx, j.d.Device)
		if err != nil {
			s.connectFailures.Add(1)
			s.lastErr.Store(err.Error())
			j.d.dialFailed(time.Now(), j.d.failures()+1)
			continue
		}
		if err := conn.Publish(devices.DeviceTopic(j.d.ID, devices.TopicState), 1, true, []byte(devices.StateOnline)); err != nil {
			conn.Close()
			s.connectFailures.Add(1)
			s.lastErr.Store(err.Error())
			j.d.dialFailed(time.Now(), j.d.failures()+1)
			continue
		}
		if !j.d.attach(conn) {
			// The simulation stopped while this dial was under way.
			offline(j.d, conn)
			continue
		}
		if sub, ok := conn.(Subscriber); ok && j.d.fw != nil {
			if err := j.d.fw.Listen(ctx, sub); err != nil {
				s.lastErr.Store(err.Error())
			}
		}
		s.connects.Add(1)
		s.online.Add(1)
	}
}

// shutdown takes a device offline for good, cleanly.
func (s *Sim) shutdown(d *device) {
	if conn := d.stop(); conn != nil {
		offline(d, conn)
		s.online.Add(-1)
	}
}

// offline publishes the retained offline state and disconnects, as a
// device powering off does.
func offline(d *device, conn Conn) {
	_ = conn.Publish(devices.DeviceTopic(d.ID, devices.TopicState), 1, true, []byte(devices.StateOffline))
	conn.Close()
}
