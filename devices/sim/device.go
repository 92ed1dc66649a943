package sim

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
)

// Behaviour constants, from what such devices do in service.
const (
	recorderStorageMB = 65536 // a 64 GB recorder
	recordingMBPerMin = 15    // 1080p video with audio
	storageFullMB     = 500   // below this the recorder refuses to record
	drainPctPerHour   = 9.0   // idle with GPS and 4G on: about 11 h
	recordPctPerHour  = 6.0   // extra while recording
	chargePctPerHour  = 45.0  // in the dock
	lowBatteryPct     = 15
	flatBatteryPct    = 3  // the officer docks it at the end of the shift
	chargedPct        = 95 // and takes it out again
	dockedEvery       = 6  // a docked recorder reports every 6th period
	jitterM           = 25 // spread of devices on one road
)

// rates are per-device probabilities per hour of the random happenings.
type rates struct{ sos, drop float64 }

// message is one MQTT message a device sends.
type message struct {
	kind     devices.TopicKind
	qos      byte
	retained bool
	payload  []byte
}

// outcome is what one step of a device produced.
type outcome struct {
	msgs      []message
	goOffline bool // the device drops off the network after msgs
}

type activity int

const (
	standing activity = iota
	walking
	riding   // an officer in a patrol car, or a vehicle driving
	charging // a recorder in its dock at the end of a shift
)

// device is a simulated device. The connection fields are shared between
// the device's worker and the dialer pool, under mu; everything else
// belongs to the worker alone.
type device struct {
	Device

	fw *FirmwareAgent // nil unless the simulation runs firmware updates
	// busy mirrors recording for the firmware agent, which runs on other
	// goroutines than the worker that owns the behaviour.
	busy atomic.Bool

	mu       sync.Mutex
	conn     Conn
	dialing  bool
	stopped  bool
	retryAt  time.Time
	nFailure int

	home        LatLon // the dock or berth
	cur         cursor
	jitterN     float64
	jitterE     float64
	act         activity
	actUntil    time.Time
	speedKmh    float64
	batteryPct  float64
	storageFree float64
	recording   bool
	signalDBm   float64
	sosUntil    time.Time
	lowWarned   bool
	fullWarned  bool
	powerOnAt   time.Time // while powered off: when it comes back
	poweredOff  bool
	announceOn  bool // say power_on once connected again
	last        time.Time
	steps       int
	mmsi        uint32 // 0: no AIS reports
}

func newDevice(d Device, a *area, rng *rand.Rand) *device {
	home := d.Home
	if home == (LatLon{}) {
		home = d.Origin
	}
	dv := &device{Device: d, home: home, signalDBm: -60 - 45*rng.Float64(),
		jitterN: (rng.Float64()*2 - 1) * jitterM, jitterE: (rng.Float64()*2 - 1) * jitterM}
	lines := a.roads
	if d.Role == Vessel && len(a.waters) > 0 {
		lines = a.waters
	}
	line := lines[rng.IntN(len(lines))]
	dv.cur = cursor{line: line, seg: rng.IntN(len(line) - 1), back: rng.IntN(2) == 0}
	a0, b0 := dv.cur.ends()
	dv.cur.offM = rng.Float64() * distanceM(a0, b0)
	if m, err := strconv.ParseUint(d.MMSI, 10, 32); err == nil && len(d.MMSI) == 9 {
		dv.mmsi = uint32(m)
	}
	switch d.Role {
	case Patrol:
		dv.batteryPct = 25 + 75*rng.Float64()
		dv.storageFree = recorderStorageMB * (0.2 + 0.75*rng.Float64())
	case Docked:
		dv.batteryPct = 60 + 40*rng.Float64()
		dv.storageFree = recorderStorageMB
		dv.act = charging
	}
	return dv
}

// ---- connection state (under mu) ----

func (d *device) connection() Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

func (d *device) detach() {
	d.mu.Lock()
	d.conn = nil
	d.mu.Unlock()
}

// startDial marks a dial as under way, unless one is or it is pointless.
func (d *device) startDial() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.dialing || d.conn != nil {
		return false
	}
	d.dialing = true
	return true
}

// dialFailed ends a dial that failed for the n-th time in a row; the next
// try waits a capped exponential back-off with jitter.
func (d *device) dialFailed(now time.Time, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dialing, d.nFailure = false, n
	wait := time.Duration(0)
	if n > 0 {
		wait = min(time.Minute, time.Second<<min(n, 6))
		wait += time.Duration(rand.Int64N(int64(wait)/2 + 1)) // spread the herd
	}
	d.retryAt = now.Add(wait)
}

func (d *device) failures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nFailure
}

// attach installs a new connection; false when the device was stopped
// meanwhile and the caller must close it.
func (d *device) attach(c Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dialing = false
	if d.stopped {
		return false
	}
	d.conn, d.nFailure = c, 0
	return true
}

// stop ends the device's life and returns its connection, if any.
func (d *device) stop() Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	c := d.conn
	d.conn = nil
	return c
}

// wantsConnection reports whether the device, powered on and not
// connected, should dial now.
func (d *device) wantsConnection(now time.Time) bool {
	if d.poweredOff {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.stopped && !d.dialing && d.conn == nil && !now.Before(d.retryAt)
}

// ---- behaviour (worker only) ----

// advance moves the device on to now and returns what it publishes; with
// connected false it lives on but says nothing.
func (d *device) advance(now time.Time, rng *rand.Rand, r rates, interval time.Duration, connected bool) outcome {
	dt := interval
	if !d.last.IsZero() {
		dt = min(now.Sub(d.last), 10*interval) // after a stall, no leaps
	}
	d.last = now
	d.steps++
	defer func() { d.busy.Store(d.recording) }()
	hours := dt.Hours()
	if d.poweredOff {
		if now.Before(d.powerOnAt) {
			return outcome{}
		}
		d.poweredOff, d.announceOn = false, true
	}
	var ev []event
	d.move(now, dt, rng)
	if d.Kind == fleet.KindRecorder {
		ev = d.recorder(now, dt, rng, r, ev)
	}
	d.signalDBm = clamp(d.signalDBm+rng.NormFloat64()*2, -115, -55)
	if !connected {
		return outcome{}
	}
	var out outcome
	if d.announceOn {
		d.announceOn = false
		ev = append([]event{{devices.EventPowerOn, "设备开机"}}, ev...)
	}
	if rng.Float64() < r.drop*hours {
		d.poweredOff, d.powerOnAt = true, now.Add(time.Minute+time.Duration(rng.Int64N(int64(9*time.Minute))))
		ev = append(ev, event{devices.EventPowerOff, "设备关机"})
		out.goOffline = true
	}
	if d.Role != Docked || d.steps%dockedEvery == 1 || len(ev) > 0 {
		out.msgs = append(out.msgs, message{kind: devices.TopicTelemetry, payload: d.telemetry(now)})
	}
	if d.mmsi != 0 {
		out.msgs = append(out.msgs, message{kind: devices.TopicNMEA, payload: []byte(d.nmea(now))})
	}
	for _, e := range ev {
		out.msgs = append(out.msgs, message{kind: devices.TopicEvent, qos: 1, payload: e.encode(now)})
	}
	if out.goOffline {
		out.msgs = append(out.msgs, message{kind: devices.TopicState, qos: 1, retained: true, payload: []byte(devices.StateOffline)})
	}
	return out
}

// move follows the device's activity: patrolling on foot or by car,
// driving, sailing, or sitting in the dock.
func (d *device) move(now time.Time, dt time.Duration, rng *rand.Rand) {
	if d.act == charging {
		d.speedKmh = 0
		return
	}
	if !now.Before(d.actUntil) {
		d.act, d.actUntil = d.nextActivity(now, rng)
		switch d.act {
		case standing:
			d.speedKmh = 0
		case walking:
			d.speedKmh = 3 + 3*rng.Float64()
		case riding:
			if d.Role == Vessel {
				d.speedKmh = 8 + 14*rng.Float64()
			} else {
				d.speedKmh = 25 + 35*rng.Float64()
			}
		}
	}
	if d.speedKmh > 0 {
		d.speedKmh = clamp(d.speedKmh*(1+rng.NormFloat64()*0.05), 1, 90)
		d.cur.advance(d.speedKmh / 3.6 * dt.Seconds())
	}
}

func (d *device) nextActivity(now time.Time, rng *rand.Rand) (activity, time.Time) {
	minutes := func(lo, hi float64) time.Time {
		return now.Add(time.Duration((lo + (hi-lo)*rng.Float64()) * float64(time.Minute)))
	}
	p := rng.Float64()
	switch d.Role {
	case Patrol:
		switch {
		case p < 0.5:
			return walking, minutes(2, 10)
		case p < 0.8:
			return standing, minutes(1, 5)
		}
		return riding, minutes(2, 8)
	case Vehicle, Vessel:
		if p < 0.75 {
			return riding, minutes(3, 15)
		}
		return standing, minutes(2, 10)
	}
	return standing, minutes(5, 10)
}

// recorder runs a body-worn recorder's battery, storage, recording and
// SOS button.
func (d *device) recorder(now time.Time, dt time.Duration, rng *rand.Rand, r rates, ev []event) []event {
	hours, minutes := dt.Hours(), dt.Minutes()
	if d.act == charging {
		d.batteryPct = math.Min(100, d.batteryPct+chargePctPerHour*hours)
		d.storageFree = recorderStorageMB // the dock offloads and frees it
		d.fullWarned, d.lowWarned = false, false
		if d.recording {
			d.recording = false
			ev = append(ev, event{devices.EventRecordStop, "入座充电"})
		}
		if d.Role == Patrol && d.batteryPct >= chargedPct {
			d.act, d.actUntil = standing, now // back on patrol
		}
		return ev
	}
	drain := drainPctPerHour
	if d.recording {
		drain += recordPctPerHour
		d.storageFree = math.Max(0, d.storageFree-recordingMBPerMin*minutes)
	}
	d.batteryPct = math.Max(0, d.batteryPct-drain*hours)

	if !d.sosUntil.IsZero() && !now.Before(d.sosUntil) {
		d.sosUntil = time.Time{}
		ev = append(ev, event{devices.EventSOSClear, "求助已解除"})
	} else if d.sosUntil.IsZero() && rng.Float64() < r.sos*hours {
		d.sosUntil = now.Add(time.Minute + time.Duration(rng.Int64N(int64(2*time.Minute))))
		ev = append(ev, event{devices.EventSOS, "一键求助"})
		if !d.recording && d.storageFree > storageFullMB {
			d.recording = true
			ev = append(ev, event{devices.EventRecordStart, "求助自动录像"})
		}
	}
	switch {
	case d.storageFree <= storageFullMB:
		if !d.fullWarned {
			d.fullWarned = true
			ev = append(ev, event{devices.EventStorageFull, "存储空间不足"})
		}
		if d.recording {
			d.recording = false
			ev = append(ev, event{devices.EventRecordStop, "存储已满"})
		}
	case !d.recording && d.sosUntil.IsZero() && rng.Float64() < minutes/20:
		d.recording = true // an enforcement action begins
		ev = append(ev, event{devices.EventRecordStart, "执法记录"})
	case d.recording && d.sosUntil.IsZero() && rng.Float64() < minutes/10:
		d.recording = false
		ev = append(ev, event{devices.EventRecordStop, "执法记录结束"})
	}
	if d.batteryPct < lowBatteryPct && !d.lowWarned {
		d.lowWarned = true
		ev = append(ev, event{devices.EventLowBattery, "电量低"})
	}
	if d.batteryPct <= flatBatteryPct && d.sosUntil.IsZero() {
		d.act = charging // end of shift: into the dock
		if d.recording {
			d.recording = false
			ev = append(ev, event{devices.EventRecordStop, "电量耗尽"})
		}
	}
	return ev
}

// position is where the device is: on its route, or at home in the dock.
func (d *device) position() (LatLon, float64) {
	if d.act == charging {
		return offsetM(d.home, d.jitterN/5, d.jitterE/5), 0
	}
	p, heading := d.cur.position()
	return offsetM(p, d.jitterN, d.jitterE), heading
}

// wireTelemetry is the contract's telemetry JSON.
type wireTelemetry struct {
	TS             int64    `json:"ts"`
	Lat            float64  `json:"lat"`
	Lon            float64  `json:"lon"`
	SpeedKmh       float64  `json:"speed_kmh"`
	HeadingDeg     float64  `json:"heading_deg"`
	BatteryPct     *float64 `json:"battery_pct,omitempty"`
	Charging       *bool    `json:"charging,omitempty"`
	StorageFreeMB  *float64 `json:"storage_free_mb,omitempty"`
	StorageTotalMB *float64 `json:"storage_total_mb,omitempty"`
	Recording      *bool    `json:"recording,omitempty"`
	SignalDBm      float64  `json:"signal_dbm"`
}

func (d *device) telemetry(now time.Time) []byte {
	p, heading := d.position()
	w := wireTelemetry{TS: now.UnixMilli(), Lat: round(p.Lat, 6), Lon: round(p.Lon, 6),
		SpeedKmh: round(d.speedKmh, 1), HeadingDeg: round(math.Mod(heading, 360), 1), SignalDBm: math.Round(d.signalDBm)}
	switch d.Kind {
	case fleet.KindRecorder:
		battery, charging := round(d.batteryPct, 1), d.act == charging && d.batteryPct < 100
		free, total, rec := math.Round(d.storageFree), float64(recorderStorageMB), d.recording
		w.BatteryPct, w.Charging, w.StorageFreeMB, w.StorageTotalMB, w.Recording = &battery, &charging, &free, &total, &rec
	case fleet.KindVehicleTerminal:
		// Powered by the vehicle and recording in a loop: no battery, and
		// the storage stays near full by design.
		free, total, rec := float64(20480+int(d.jitterE)*10), float64(262144), true
		w.StorageFreeMB, w.StorageTotalMB, w.Recording = &free, &total, &rec
	}
	b, _ := json.Marshal(w) // plain numbers and bools: cannot fail
	return b
}

// nmea is the AIS unit's own-vessel report, as its NMEA output gives it.
func (d *device) nmea(now time.Time) string {
	p, heading := d.position()
	h := int(math.Round(heading)) % 360
	return positionReport{mmsi: d.mmsi, moving: d.speedKmh > 0, lat: p.Lat, lon: p.Lon, speedKn: d.speedKmh / 1.852,
		courseDeg: heading, headingDeg: h, second: now.UTC().Second()}.aivdo()
}

type event struct {
	typ    devices.EventType
	detail string
}

func (e event) encode(now time.Time) []byte {
	b, _ := json.Marshal(struct {
		TS     int64             `json:"ts"`
		Type   devices.EventType `json:"type"`
		Detail string            `json:"detail,omitempty"`
	}{now.UnixMilli(), e.typ, e.detail})
	return b
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}
