package ingest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
)

// LivePosition is the last known state of a device, as the command
// centre's map shows it (GET /api/v1/live/positions). TS is the device's
// time of the position; each status field is the newest value the device
// reported. The pointed-to values are never changed, so copies may share
// them.
type LivePosition struct {
	DeviceID       string           `json:"device_id"`
	Kind           fleet.DeviceKind `json:"kind"`
	UnitID         string           `json:"unit_id"`
	TS             time.Time        `json:"ts,omitzero"`
	Lat            *float64         `json:"lat"`
	Lon            *float64         `json:"lon"`
	AltM           *float64         `json:"alt_m,omitempty"`
	SpeedKmh       *float64         `json:"speed_kmh,omitempty"`
	HeadingDeg     *float64         `json:"heading_deg,omitempty"`
	BatteryPct     *float64         `json:"battery_pct,omitempty"`
	Charging       *bool            `json:"charging,omitempty"`
	StorageFreeMB  *float64         `json:"storage_free_mb,omitempty"`
	StorageTotalMB *float64         `json:"storage_total_mb,omitempty"`
	Recording      *bool            `json:"recording,omitempty"`
	SignalDBm      *float64         `json:"signal_dbm,omitempty"`
	StatusTS       time.Time        `json:"status_ts,omitzero"` // device time of the newest status value
	Online         bool             `json:"online"`
	LastSeen       time.Time        `json:"last_seen,omitzero"` // when the service last heard from it
}

// LiveConfig tunes the live state. Zero values take the defaults.
type LiveConfig struct {
	OfflineAfter time.Duration // silence after which a device is offline; default 5m
	MaxDevices   int           // devices tracked; default 1<<20
}

// Live is the live state of every device heard from: position, status and
// online/offline (from the retained state topic, the will message, and
// silence). Changes are published to the Hub. Safe for concurrent use.
type Live struct {
	cfg LiveConfig
	hub *Hub

	mu      sync.RWMutex
	devices map[string]*LivePosition

	untracked prometheus.Counter
}

// NewLive returns an empty live state publishing to hub (which may be nil).
func NewLive(cfg LiveConfig, hub *Hub, reg prometheus.Registerer) (*Live, error) {
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 5 * time.Minute
	}
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = 1 << 20
	}
	l := &Live{cfg: cfg, hub: hub, devices: make(map[string]*LivePosition)}
	l.untracked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleet_live_untracked_total", Help: "Updates for devices beyond the live state's MaxDevices.",
	})
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_live_devices", Help: "Devices in the live state.",
	}, func() float64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return float64(len(l.devices))
	})
	online := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_live_devices_online", Help: "Devices in the live state that are online.",
	}, func() float64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		n := 0
		for _, d := range l.devices {
			if d.Online {
				n++
			}
		}
		return float64(n)
	})
	if err := register(reg, l.untracked, tracked, online); err != nil {
		return nil, err
	}
	return l, nil
}

// entry returns the device's state, creating it; nil when MaxDevices is
// reached. Call with l.mu held.
func (l *Live) entry(ref DeviceRef) *LivePosition {
	d := l.devices[ref.ID]
	if d == nil {
		if len(l.devices) >= l.cfg.MaxDevices {
			l.untracked.Inc()
			return nil
		}
		d = &LivePosition{DeviceID: ref.ID}
		l.devices[ref.ID] = d
	}
	// The register may have moved the device to another unit.
	if ref.Kind != "" {
		d.Kind = ref.Kind
	}
	if ref.UnitID != "" {
		d.UnitID = ref.UnitID
	}
	return d
}

// heard marks d online as of at; it reports whether d was offline.
func heard(d *LivePosition, at time.Time) bool {
	was := d.Online
	d.Online = true
	if at.After(d.LastSeen) {
		d.LastSeen = at
	}
	return !was
}

// ApplyTelemetry applies samples (in any order) received at received. A
// sample older than what is known does not overwrite it, so a backlog or
// a reordered delivery cannot move a device back in time. It reports
// whether the device came online.
func (l *Live) ApplyTelemetry(ref DeviceRef, samples []devices.Telemetry, received time.Time) (cameOnline bool) {
	l.mu.Lock()
	d := l.entry(ref)
	if d == nil {
		l.mu.Unlock()
		return false
	}
	cameOnline = heard(d, received)
	moved := false
	for i := range samples {
		t := &samples[i]
		if t.HasPosition() && !t.Time.Before(d.TS) {
			d.TS, d.Lat, d.Lon = t.Time, t.Lat, t.Lon
			d.AltM, d.SpeedKmh, d.HeadingDeg = t.AltM, t.SpeedKmh, t.HeadingDeg
			moved = true
		}
		if !t.Time.Before(d.StatusTS) {
			d.StatusTS = t.Time
			set(&d.BatteryPct, t.BatteryPct)
			set(&d.Charging, t.Charging)
			set(&d.StorageFreeMB, t.StorageFreeMB)
			set(&d.StorageTotalMB, t.StorageTotalMB)
			set(&d.Recording, t.Recording)
			set(&d.SignalDBm, t.SignalDBm)
		}
	}
	snap := *d
	l.mu.Unlock()
	if (moved || cameOnline) && l.listening() {
		l.publish("position", snap)
	}
	return cameOnline
}

func set[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

var (
	vTrue  = true
	vFalse = false
)

// ApplyEvent applies a device event: record_start/record_stop set the
// recording flag, power_off takes the device offline, anything else (and
// power_on) marks it online. It reports the online transitions.
func (l *Live) ApplyEvent(ref DeviceRef, ev devices.Event, received time.Time) (cameOnline, wentOffline bool) {
	l.mu.Lock()
	d := l.entry(ref)
	if d == nil {
		l.mu.Unlock()
		return false, false
	}
	if ev.Type == devices.EventPowerOff {
		wentOffline = d.Online
		d.Online = false
		if received.After(d.LastSeen) {
			d.LastSeen = received
		}
	} else {
		cameOnline = heard(d, received)
	}
	if !ev.Time.Before(d.StatusTS) {
		switch ev.Type {
		case devices.EventRecordStart:
			d.Recording, d.StatusTS = &vTrue, ev.Time
		case devices.EventRecordStop:
			d.Recording, d.StatusTS = &vFalse, ev.Time
		}
	}
	snap := *d
	l.mu.Unlock()
	if l.listening() {
		l.publish("event", LiveDeviceEvent{DeviceID: ref.ID, Kind: snap.Kind, UnitID: snap.UnitID,
			TS: ev.Time, Type: ev.Type, Detail: ev.Detail})
	}
	if (cameOnline || wentOffline) && l.listening() {
		l.publish("status", snap)
	}
	return cameOnline, wentOffline
}

// LiveDeviceEvent is a device event as the live feed carries it.
type LiveDeviceEvent struct {
	DeviceID string            `json:"device_id"`
	Kind     fleet.DeviceKind  `json:"kind"`
	UnitID   string            `json:"unit_id"`
	TS       time.Time         `json:"ts"`
	Type     devices.EventType `json:"type"`
	Detail   string            `json:"detail,omitempty"`
}

// Seen marks a device heard from (any message without a position or
// status of its own). It reports whether the device came online.
func (l *Live) Seen(ref DeviceRef, received time.Time) (cameOnline bool) {
	l.mu.Lock()
	d := l.entry(ref)
	if d == nil {
		l.mu.Unlock()
		return false
	}
	cameOnline = heard(d, received)
	snap := *d
	l.mu.Unlock()
	if cameOnline && l.listening() {
		l.publish("status", snap)
	}
	return cameOnline
}

// SetState applies the device's retained state (or its will message). It
// reports whether online/offline changed.
func (l *Live) SetState(ref DeviceRef, s devices.State, received time.Time) (changed bool) {
	l.mu.Lock()
	d := l.entry(ref)
	if d == nil {
		l.mu.Unlock()
		return false
	}
	if s == devices.StateOnline {
		changed = heard(d, received)
	} else {
		changed = d.Online
		d.Online = false
	}
	snap := *d
	l.mu.Unlock()
	if changed && l.listening() {
		l.publish("status", snap)
	}
	return changed
}

// Silent returns the online devices not heard from for OfflineAfter
// before now. It changes nothing: ExpireSilent does, one device at a time.
func (l *Live) Silent(now time.Time) []DeviceRef {
	cutoff := now.Add(-l.cfg.OfflineAfter)
	var refs []DeviceRef
	l.mu.RLock()
	for _, d := range l.devices {
		if d.Online && d.LastSeen.Before(cutoff) {
			refs = append(refs, DeviceRef{ID: d.DeviceID, Kind: d.Kind, UnitID: d.UnitID})
		}
	}
	l.mu.RUnlock()
	return refs
}

// ExpireSilent takes the device offline if it is online and has not been
// heard from for OfflineAfter before now; it reports whether it did.
func (l *Live) ExpireSilent(deviceID string, now time.Time) bool {
	l.mu.Lock()
	d := l.devices[deviceID]
	if d == nil || !d.Online || !d.LastSeen.Before(now.Add(-l.cfg.OfflineAfter)) {
		l.mu.Unlock()
		return false
	}
	d.Online = false
	snap := *d
	l.mu.Unlock()
	if l.listening() {
		l.publish("status", snap)
	}
	return true
}

// Get returns one device's state.
func (l *Live) Get(deviceID string) (LivePosition, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if d := l.devices[deviceID]; d != nil {
		return *d, true
	}
	return LivePosition{}, false
}

// Snapshot returns the state of every device whose unit scope accepts
// (all when scope is nil), ordered by device id.
func (l *Live) Snapshot(scope func(unitID string) bool) []LivePosition {
	l.mu.RLock()
	out := make([]LivePosition, 0, len(l.devices))
	for _, d := range l.devices {
		if scope == nil || scope(d.UnitID) {
			out = append(out, *d)
		}
	}
	l.mu.RUnlock()
	slices.SortFunc(out, func(a, b LivePosition) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out
}

// listening reports whether the hub has subscribers; callers check it
// before boxing an event, so an idle feed costs no allocation.
func (l *Live) listening() bool { return l.hub != nil && l.hub.Active() }

func (l *Live) publish(typ string, v any) {
	var unit, device string
	switch v := v.(type) {
	case LivePosition:
		unit, device = v.UnitID, v.DeviceID
	case LiveDeviceEvent:
		unit, device = v.UnitID, v.DeviceID
	}
	l.hub.Publish(LiveEvent{Type: typ, UnitID: unit, DeviceID: device, Data: v})
}

// LiveEvent is one message of the live feed (Server-Sent Events): Type is
// "position" or "status" (Data is a LivePosition), "event" (a
// LiveDeviceEvent) or "alert" (an Alert).
type LiveEvent struct {
	Type     string `json:"type"`
	UnitID   string `json:"unit_id"`
	DeviceID string `json:"device_id,omitempty"`
	Data     any    `json:"data"`
}

// HubConfig tunes the hub. Zero values take the defaults.
type HubConfig struct {
	Buffer         int // events buffered per subscriber; default 256
	MaxSubscribers int // default 1000
}

// ErrTooManySubscribers is returned by Subscribe past MaxSubscribers.
var ErrTooManySubscribers = errors.New("ingest: too many live subscribers")

// Hub fans live events out to subscribers (SSE clients), each with a
// bounded buffer. Publish never blocks: when a subscriber's buffer is
// full its oldest event is dropped and counted, so a slow browser loses
// events instead of slowing ingest down.
type Hub struct {
	cfg HubConfig

	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	active atomic.Int32

	published prometheus.Counter
	dropped   prometheus.Counter
}

// NewHub returns a hub without subscribers.
func NewHub(cfg HubConfig, reg prometheus.Registerer) (*Hub, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = 1000
	}
	h := &Hub{cfg: cfg, subs: make(map[*Subscription]struct{})}
	h.published = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleet_live_events_published_total", Help: "Live events published to the hub while it had subscribers.",
	})
	h.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleet_live_events_dropped_total", Help: "Live events dropped because a subscriber's buffer was full.",
	})
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_live_subscribers", Help: "Live feed subscribers.",
	}, func() float64 { return float64(h.active.Load()) })
	if err := register(reg, h.published, h.dropped, subscribers); err != nil {
		return nil, err
	}
	return h, nil
}

// Subscription is one subscriber's feed.
type Subscription struct {
	hub     *Hub
	scope   func(unitID string) bool
	ch      chan LiveEvent
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe returns a feed of the events whose unit scope accepts (all
// when scope is nil). scope runs on the publishing goroutine: keep it
// cheap. Close the subscription when done.
func (h *Hub) Subscribe(scope func(unitID string) bool) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= h.cfg.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	s := &Subscription{hub: h, scope: scope, ch: make(chan LiveEvent, h.cfg.Buffer)}
	h.subs[s] = struct{}{}
	h.active.Store(int32(len(h.subs)))
	return s, nil
}

// Active reports whether anyone listens; publishers skip building events
// when nobody does.
func (h *Hub) Active() bool { return h.active.Load() > 0 }

// Publish delivers ev to every subscriber in scope, without blocking.
func (h *Hub) Publish(ev LiveEvent) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.subs) == 0 {
		return
	}
	h.published.Inc()
	for s := range h.subs {
		if s.scope != nil && !s.scope(ev.UnitID) {
			continue
		}
		s.offer(ev)
	}
}

func (s *Subscription) offer(ev LiveEvent) {
	for {
		select {
		case s.ch <- ev:
			return
		default:
		}
		select { // full: drop the oldest, then try again
		case <-s.ch:
			s.dropped.Add(1)
			s.hub.dropped.Inc()
		default:
		}
	}
}

// Events is the subscriber's channel; it is closed by Close.
func (s *Subscription) Events() <-chan LiveEvent { return s.ch }

// Dropped is how many events this subscriber lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes the channel.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		delete(h.subs, s)
		h.active.Store(int32(len(h.subs)))
		close(s.ch)
		h.mu.Unlock()
	})
}
