package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// AlertKind is the condition an alert is about.
type AlertKind string

const (
	AlertSOS        AlertKind = "sos"         // SOS button; cleared by the device's sos_clear
	AlertLowBattery AlertKind = "low_battery" // event, or battery_pct under LowBatteryPct while not charging
	AlertStorageLow AlertKind = "storage_low" // event storage_full, or free/total under StorageLowFrac
	AlertTamper     AlertKind = "tamper"      // cleared when acknowledged: nothing else ends it
	AlertOffline    AlertKind = "offline"     // offline while assigned to an officer
)

// Priority orders alerts on the commander's screen.
type Priority string

const (
	PriorityCritical Priority = "critical"
	PriorityHigh     Priority = "high"
	PriorityWarning  Priority = "warning"
)

// Priority is the kind's priority.
func (k AlertKind) Priority() Priority {
	switch k {
	case AlertSOS:
		return PriorityCritical
	case AlertTamper, AlertOffline:
		return PriorityHigh
	}
	return PriorityWarning
}

// clearedByAck reports whether acknowledging ends the alert: true for
// conditions that no device message ends.
func (k AlertKind) clearedByAck() bool { return k == AlertTamper }

// Timeline actions, and the actor of steps not taken by a user.
const (
	ActionRaised   = "raised"
	ActionAcked    = "acked"
	ActionCleared  = "cleared"
	ActionReopened = "reopened" // the condition was reported again after an ack

	ByDevice = "device"
	BySystem = "system"
)

// MaxTimeline bounds an alert's timeline; later reopen steps are counted in
// Repeats only.
const MaxTimeline = 32

// MaxAckNote bounds the note of an ack or resolve (characters).
const MaxAckNote = 1000

// Alert is one raised condition of one device, open until cleared.
type Alert struct {
	ID         string           `json:"id"`
	Kind       AlertKind        `json:"kind"`
	Priority   Priority         `json:"priority"`
	DeviceID   string           `json:"device_id"`
	DeviceKind fleet.DeviceKind `json:"device_kind,omitempty"`
	UnitID     string           `json:"unit_id"`
	Detail     string           `json:"detail,omitempty"`
	Lat        *float64         `json:"lat,omitempty"` // the device's last position when raised
	Lon        *float64         `json:"lon,omitempty"`
	PositionTS time.Time        `json:"position_ts,omitzero"`
	RaisedAt   time.Time        `json:"raised_at"`
	LastAt     time.Time        `json:"last_at"` // the condition last reported
	Repeats    int              `json:"repeats"` // reports while open after the first
	AckedAt    *time.Time       `json:"acked_at,omitempty"`
	AckedBy    string           `json:"acked_by,omitempty"`
	ClearedAt  *time.Time       `json:"cleared_at,omitempty"`
	ClearedBy  string           `json:"cleared_by,omitempty"` // ByDevice, BySystem or a user id
	Timeline   []AlertStep      `json:"timeline"`
	Version    int              `json:"version"` // increases with every change
}

// AlertStep is one entry of an alert's timeline.
type AlertStep struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	By     string    `json:"by"`
	Note   string    `json:"note,omitempty"`
}

// Open reports whether the alert is not cleared.
func (a *Alert) Open() bool { return a.ClearedAt == nil }

func (a *Alert) clone() Alert {
	c := *a
	c.Timeline = slices.Clone(a.Timeline)
	return c
}

func (a *Alert) step(at time.Time, action, by, note string) {
	if len(a.Timeline) < MaxTimeline || action != ActionReopened {
		a.Timeline = append(a.Timeline, AlertStep{At: at, Action: action, By: by, Note: note})
	}
	a.Version++
}

// AlertFilter selects alerts.
type AlertFilter struct {
	Scope    func(unitID string) bool // nil: every unit
	DeviceID string
	OpenOnly bool
	Limit    int // <= 0: all
}

func (f AlertFilter) match(a *Alert) bool {
	return (f.Scope == nil || f.Scope(a.UnitID)) && (f.DeviceID == "" || f.DeviceID == a.DeviceID) &&
		(!f.OpenOnly || a.Open())
}

// AlertStore keeps alerts. Saves may arrive out of order: SaveAlert keeps
// the alert with the highest Version. Alert returns an *fleet.Error with
// ENOTFOUND for an unknown id; Alerts lists newest first. The register
// will implement a persistent one; MemoryAlertStore is the bounded
// in-memory one.
type AlertStore interface {
	SaveAlert(ctx context.Context, a Alert) error
	Alert(ctx context.Context, id string) (Alert, error)
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error)
}

// AssignmentChecker tells whether a device is with an officer now
// (fleet.Register implements it).
type AssignmentChecker interface {
	OpenAssignment(ctx context.Context, deviceID string) (bool, error)
}

// AlertsConfig tunes the alert rules. Zero values take the defaults.
type AlertsConfig struct {
	LowBatteryPct      float64       // raise under; default 15
	BatteryRecoverPct  float64       // clear at or over (or when charging); default 20
	StorageLowFrac     float64       // raise when free/total is under; default 0.05
	StorageRecoverFrac float64       // clear at or over; default 0.10
	CallTimeout        time.Duration // assignment checks and store calls; default 5s
	LogEvery           time.Duration // failures are logged at most once per this; default 1m
}

// Alerts raises alerts from device data, once per device and condition
// while it is open, clears them when the condition ends, and records who
// acknowledged them. Open alerts are kept in memory (at most one per
// device and kind); all alerts are written to the AlertStore and published
// to the Hub. Safe for concurrent use.
type Alerts struct {
	cfg    AlertsConfig
	store  AlertStore
	assign AssignmentChecker
	hub    *Hub
	log    *slog.Logger
	now    func() time.Time
	logs   *logthrottle.Throttle

	mu      sync.Mutex
	open    map[alertKey]*Alert
	openID  map[string]*Alert
	onRaise func(Alert) // see OnRaise

	raised, cleared *prometheus.CounterVec
	failures        *prometheus.CounterVec
}

type alertKey struct {
	device string
	kind   AlertKind
}

// NewAlerts returns the alert engine. store is required; assign (without
// which no offline alert is raised) and hub may be nil.
func NewAlerts(cfg AlertsConfig, store AlertStore, assign AssignmentChecker, hub *Hub,
	reg prometheus.Registerer, logger *slog.Logger) (*Alerts, error) {
	if store == nil {
		return nil, errors.New("ingest: alerts need a store")
	}
	if cfg.LowBatteryPct <= 0 {
		cfg.LowBatteryPct = 15
	}
	if cfg.BatteryRecoverPct < cfg.LowBatteryPct {
		cfg.BatteryRecoverPct = max(20, cfg.LowBatteryPct)
	}
	if cfg.StorageLowFrac <= 0 {
		cfg.StorageLowFrac = 0.05
	}
	if cfg.StorageRecoverFrac < cfg.StorageLowFrac {
		cfg.StorageRecoverFrac = max(0.10, cfg.StorageLowFrac)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Alerts{
		cfg: cfg, store: store, assign: assign, hub: hub,
		log:    logger.With("component", "alerts"),
		now:    time.Now,
		logs:   logthrottle.New(cfg.LogEvery),
		open:   make(map[alertKey]*Alert),
		openID: make(map[string]*Alert),
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_alerts_raised_total", Help: "Alerts raised, by kind.",
		}, []string{"kind"}),
		cleared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_alerts_cleared_total", Help: "Alerts cleared, by kind.",
		}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_alerts_failures_total", Help: "Failed alert store writes and assignment checks.",
		}, []string{"call"}),
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_alerts_open", Help: "Open alerts.",
	}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.open))
	})
	if err := register(reg, a.raised, a.cleared, a.failures, open); err != nil {
		return nil, err
	}
	return a, nil
}

// Restore loads the open alerts from the store, so that a restart neither
// forgets nor duplicates them. Call it before the pipeline runs.
func (a *Alerts) Restore(ctx context.Context) error {
	open, err := a.store.Alerts(ctx, AlertFilter{OpenOnly: true})
	if err != nil {
		return fmt.Errorf("ingest: restore alerts: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range open {
		al := open[i].clone()
		key := alertKey{al.DeviceID, al.Kind}
		if a.open[key] == nil {
			a.open[key], a.openID[al.ID] = &al, &al
		}
	}
	return nil
}

// OnRaise sets fn to be called with each newly raised alert (not with
// repeats or reopenings), after it is saved and published: e.g. an SOS
// starts recording the device's live stream. fn runs on the ingest
// goroutine that raised the alert and must not block.
func (a *Alerts) OnRaise(fn func(Alert)) {
	a.mu.Lock()
	a.onRaise = fn
	a.mu.Unlock()
}

// Telemetry applies the battery and storage rules to a device's newest
// sample.
func (a *Alerts) Telemetry(ctx context.Context, dev DeviceRef, t *devices.Telemetry, at time.Time) {
	if t.BatteryPct != nil {
		pct := *t.BatteryPct
		charging := t.Charging != nil && *t.Charging
		switch {
		case pct < a.cfg.LowBatteryPct && !charging:
			a.raise(ctx, dev, AlertLowBattery, at, "battery "+strconv.FormatFloat(pct, 'f', 0, 64)+"%", nil, false)
		case pct >= a.cfg.BatteryRecoverPct || charging:
			a.clear(ctx, dev, AlertLowBattery, at, ByDevice, "")
		}
	}
	if t.StorageFreeMB != nil && t.StorageTotalMB != nil && *t.StorageTotalMB > 0 {
		frac := *t.StorageFreeMB / *t.StorageTotalMB
		switch {
		case frac < a.cfg.StorageLowFrac:
			a.raise(ctx, dev, AlertStorageLow, at, "storage "+strconv.FormatFloat(100*frac, 'f', 1, 64)+"% free", nil, false)
		case frac >= a.cfg.StorageRecoverFrac:
			a.clear(ctx, dev, AlertStorageLow, at, ByDevice, "")
		}
	}
}

// Event applies a device event; where is the device's last known
// position (for SOS), or nil.
func (a *Alerts) Event(ctx context.Context, dev DeviceRef, ev devices.Event, at time.Time, where *LivePosition) {
	switch ev.Type {
	case devices.EventSOS:
		a.raise(ctx, dev, AlertSOS, at, ev.Detail, where, true)
	case devices.EventSOSClear:
		a.clear(ctx, dev, AlertSOS, at, ByDevice, ev.Detail)
	case devices.EventLowBattery:
		a.raise(ctx, dev, AlertLowBattery, at, ev.Detail, nil, true)
	case devices.EventStorageFull:
		a.raise(ctx, dev, AlertStorageLow, at, ev.Detail, nil, true)
	case devices.EventTamper:
		a.raise(ctx, dev, AlertTamper, at, ev.Detail, where, true)
	}
}

// Offline raises the offline alert if the device is assigned to an
// officer.
func (a *Alerts) Offline(ctx context.Context, dev DeviceRef, at time.Time) {
	if a.assign == nil {
		return
	}
	a.mu.Lock()
	open := a.open[alertKey{dev.ID, AlertOffline}] != nil
	a.mu.Unlock()
	if open {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	assigned, err := a.assign.OpenAssignment(cctx, dev.ID)
	cancel()
	if err != nil {
		a.failures.WithLabelValues("assignment").Inc()
		a.logs.Log(a.log, slog.LevelError, "assignment", a.now(), "assignment check failed", "device", dev.ID, "error", err)
		return
	}
	if assigned {
		a.raise(ctx, dev, AlertOffline, at, "offline while assigned", nil, false)
	}
}

// Online clears the offline alert.
func (a *Alerts) Online(ctx context.Context, dev DeviceRef, at time.Time) {
	a.clear(ctx, dev, AlertOffline, at, ByDevice, "back online")
}

// raise opens an alert unless one of the kind is open for the device. A
// repeated report (repeat: events, not every telemetry sample) is counted,
// and reopens an acknowledged alert so that it is seen again.
func (a *Alerts) raise(ctx context.Context, dev DeviceRef, kind AlertKind, at time.Time, detail string, where *LivePosition, repeat bool) {
	key := alertKey{dev.ID, kind}
	a.mu.Lock()
	if cur := a.open[key]; cur != nil {
		if !repeat {
			a.mu.Unlock()
			return
		}
		cur.Repeats++
		if at.After(cur.LastAt) {
			cur.LastAt = at
		}
		reopened := cur.AckedAt != nil
		if reopened {
			cur.AckedAt, cur.AckedBy = nil, ""
			cur.step(at, ActionReopened, ByDevice, detail)
		} else {
			cur.Version++
		}
		snap := cur.clone()
		a.mu.Unlock()
		a.save(ctx, snap)
		if reopened {
			a.publish(snap)
		}
		return
	}
	al := &Alert{
		ID: fleet.NewID("alr"), Kind: kind, Priority: kind.Priority(),
		DeviceID: dev.ID, DeviceKind: dev.Kind, UnitID: dev.UnitID, Detail: detail,
		RaisedAt: at, LastAt: at,
	}
	if where != nil && where.Lat != nil {
		al.Lat, al.Lon, al.PositionTS = where.Lat, where.Lon, where.TS
	}
	by := ByDevice
	if kind == AlertOffline {
		by = BySystem
	}
	al.step(at, ActionRaised, by, detail)
	a.open[key], a.openID[al.ID] = al, al
	snap := al.clone()
	hook := a.onRaise
	a.mu.Unlock()
	a.raised.WithLabelValues(string(kind)).Inc()
	a.save(ctx, snap)
	a.publish(snap)
	if hook != nil {
		hook(snap)
	}
}

// clear ends the device's open alert of kind, if any.
func (a *Alerts) clear(ctx context.Context, dev DeviceRef, kind AlertKind, at time.Time, by, note string) {
	a.mu.Lock()
	cur := a.open[alertKey{dev.ID, kind}]
	if cur == nil {
		a.mu.Unlock()
		return
	}
	a.closeLocked(cur, at, by, note)
	snap := cur.clone()
	a.mu.Unlock()
	a.save(ctx, snap)
	a.publish(snap)
}

func (a *Alerts) closeLocked(cur *Alert, at time.Time, by, note string) {
	delete(a.open, alertKey{cur.DeviceID, cur.Kind})
	delete(a.openID, cur.ID)
	cur.ClearedAt, cur.ClearedBy = &at, by
	cur.step(at, ActionCleared, by, note)
	a.cleared.WithLabelValues(string(cur.Kind)).Inc()
}

// Ack records that user userID (a commander) acknowledged alert id, with
// an optional note. A tamper alert is cleared by its ack. Acknowledging
// twice is a conflict; the web layer checks the user's permission and
// scope before calling.
func (a *Alerts) Ack(ctx context.Context, alertID, userID, note string) (Alert, error) {
	if err := checkActor(userID, note); err != nil {
		return Alert{}, err
	}
	a.mu.Lock()
	snap, err := a.ackLocked(ctx, alertID, userID, note, a.now())
	a.mu.Unlock()
	if err != nil {
		return Alert{}, err
	}
	a.publish(snap)
	return snap, nil
}

func (a *Alerts) ackLocked(ctx context.Context, alertID, userID, note string, now time.Time) (Alert, error) {
	cur, open := a.openID[alertID]
	if !open {
		// A cleared alert can still be acknowledged, once.
		stored, err := a.store.Alert(ctx, alertID)
		if err != nil {
			return Alert{}, err
		}
		cur = &stored
	}
	if cur.AckedAt != nil {
		return Alert{}, fleet.Errorf(fleet.ECONFLICT, "alert already acknowledged")
	}
	cur.AckedAt, cur.AckedBy = &now, userID
	cur.step(now, ActionAcked, userID, note)
	if cur.Open() && cur.Kind.clearedByAck() {
		a.closeLocked(cur, now, userID, "")
	}
	snap := cur.clone()
	// An open alert lives on in memory and is saved again at its next
	// change; a cleared one exists only in the store, so its ack must be.
	if err := a.saveErr(ctx, snap); err != nil && !open {
		return Alert{}, err
	}
	return snap, nil
}

// Resolve clears an open alert by hand (the condition ended without the
// device saying so, e.g. a recorder handed in broken).
func (a *Alerts) Resolve(ctx context.Context, alertID, userID, note string) (Alert, error) {
	if err := checkActor(userID, note); err != nil {
		return Alert{}, err
	}
	now := a.now()
	a.mu.Lock()
	cur := a.openID[alertID]
	if cur == nil {
		a.mu.Unlock()
		if _, err := a.store.Alert(ctx, alertID); err != nil {
			return Alert{}, err
		}
		return Alert{}, fleet.Errorf(fleet.ECONFLICT, "alert already cleared")
	}
	a.closeLocked(cur, now, userID, note)
	snap := cur.clone()
	a.mu.Unlock()
	a.save(ctx, snap)
	a.publish(snap)
	return snap, nil
}

func checkActor(userID, note string) error {
	if userID == "" {
		return fleet.Invalid("user_id", "the acknowledging user is required")
	}
	if utf8.RuneCountInString(note) > MaxAckNote {
		return fleet.Invalid("note", "note is longer than %d characters", MaxAckNote)
	}
	return nil
}

// Get returns one alert.
func (a *Alerts) Get(ctx context.Context, id string) (Alert, error) {
	a.mu.Lock()
	if cur := a.openID[id]; cur != nil {
		snap := cur.clone()
		a.mu.Unlock()
		return snap, nil
	}
	a.mu.Unlock()
	return a.store.Alert(ctx, id)
}

// List returns alerts from the store, newest first.
func (a *Alerts) List(ctx context.Context, f AlertFilter) ([]Alert, error) {
	return a.store.Alerts(ctx, f)
}

func (a *Alerts) save(ctx context.Context, al Alert) {
	_ = a.saveErr(ctx, al)
}

func (a *Alerts) saveErr(ctx context.Context, al Alert) error {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	defer cancel()
	if err := a.store.SaveAlert(cctx, al); err != nil {
		a.failures.WithLabelValues("store").Inc()
		a.logs.Log(a.log, slog.LevelError, "store", a.now(), "alert store write failed", "alert", al.ID, "error", err)
		return fmt.Errorf("ingest: save alert: %w", err)
	}
	return nil
}

func (a *Alerts) publish(al Alert) {
	if a.hub != nil && a.hub.Active() {
		a.hub.Publish(LiveEvent{Type: "alert", UnitID: al.UnitID, DeviceID: al.DeviceID, Data: al})
	}
}

// MemoryAlertStore keeps at most max alerts in memory; past that it
// forgets the oldest cleared alert (or, when all are open, the oldest).
type MemoryAlertStore struct {
	max int

	mu    sync.Mutex
	byID  map[string]*Alert
	order []string // oldest first
}

// NewMemoryAlertStore returns an empty store of at most max alerts
// (default 10,000 when max <= 0).
func NewMemoryAlertStore(max int) *MemoryAlertStore {
	if max <= 0 {
		max = 10000
	}
	return &MemoryAlertStore{max: max, byID: make(map[string]*Alert)}
}

// SaveAlert stores al unless a higher version of it is stored.
func (s *MemoryAlertStore) SaveAlert(_ context.Context, al Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := al.clone()
	if cur, ok := s.byID[al.ID]; ok {
		if cur.Version <= al.Version {
			s.byID[al.ID] = &c
		}
		return nil
	}
	s.byID[al.ID] = &c
	s.order = append(s.order, al.ID)
	if len(s.order) > s.max {
		victim := 0
		for i, id := range s.order {
			if !s.byID[id].Open() {
				victim = i
				break
			}
		}
		delete(s.byID, s.order[victim])
		s.order = slices.Delete(s.order, victim, victim+1)
	}
	return nil
}

// Alert returns the alert with id.
func (s *MemoryAlertStore) Alert(_ context.Context, id string) (Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if al, ok := s.byID[id]; ok {
		return al.clone(), nil
	}
	return Alert{}, fleet.Errorf(fleet.ENOTFOUND, "alert not found")
}

// Alerts lists the alerts f selects, newest first.
func (s *MemoryAlertStore) Alerts(_ context.Context, f AlertFilter) ([]Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Alert
	for i := len(s.order) - 1; i >= 0; i-- {
		al := s.byID[s.order[i]]
		if !f.match(al) {
			continue
		}
		out = append(out, al.clone())
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}
