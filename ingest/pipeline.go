package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
	"github.com/lawfleet/fleet/ingest/series"
)

// DeviceDirectory looks a device up in the register (fleet.Register
// implements it). The pipeline caches the answers; an error with code
// fleet.ENOTFOUND means no such device.
type DeviceDirectory interface {
	LookupDevice(ctx context.Context, id string) (fleet.Device, error)
}

// CheckinRecorder notes that a device was heard from; it feeds the
// "active recorder" figure (fleet.Register implements it).
type CheckinRecorder interface {
	RecordCheckin(ctx context.Context, deviceID string, t time.Time) error
}

// NMEAHandler takes the NMEA 0183 lines an AIS unit publishes (the AIS
// decoder in devices/ais, wired by cmd). Payload must not be modified.
type NMEAHandler interface {
	HandleNMEA(ctx context.Context, deviceID string, payload []byte, received time.Time) error
}

// FirmwareHandler takes a device's firmware job progress (the rollout
// state in firmware/, wired by cmd).
type FirmwareHandler interface {
	HandleFirmwareProgress(ctx context.Context, deviceID string, p devices.FirmwareProgress) error
}

// Config tunes the pipeline. Zero values take the defaults.
type Config struct {
	Workers       int           // shards, each one goroutine and one queue; default 4
	QueueLen      int           // messages per shard queue; default 1024
	BatchSize     int           // points per series write; default 500
	FlushInterval time.Duration // longest a point waits for its batch; default 250ms

	DirectoryTTL     time.Duration // how long a looked-up device is trusted; default 5m
	DirectoryMissTTL time.Duration // how long "not found" or a failed look-up is; default 30s
	LookupTimeout    time.Duration // one directory look-up; default 5s
	MaxDevices       int           // cached devices and check-in marks per shard; default 1<<20

	CheckinEvery time.Duration // at most one check-in per device per this; default 1h
	CheckinQueue int           // pending check-ins; when full, one is retried later; default 4096

	SweepEvery    time.Duration // how often silent devices are marked offline; default 30s
	LogEvery      time.Duration // rejected payloads are logged at most once per kind and reason per this; default 1m
	ShutdownGrace time.Duration // how long Run's shutdown may take to drain; default 10s
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.QueueLen, 1024)
	// A batch here only saves spool writes (the InfluxDB writer batches
	// again, by 5,000 lines): 500 points fill in 100 ms at 20,000 messages
	// a second on 4 shards, and a quiet shard hands over within 250 ms,
	// which keeps a point's wait here well under the publish-to-queryable
	// target of 2 s at any rate, for a few dozen spool writes a second.
	def(&c.BatchSize, 500)
	defd(&c.FlushInterval, 250*time.Millisecond)
	defd(&c.DirectoryTTL, 5*time.Minute)
	defd(&c.DirectoryMissTTL, 30*time.Second)
	defd(&c.LookupTimeout, 5*time.Second)
	def(&c.MaxDevices, 1<<20)
	defd(&c.CheckinEvery, time.Hour)
	def(&c.CheckinQueue, 4096)
	defd(&c.SweepEvery, 30*time.Second)
	defd(&c.LogEvery, time.Minute)
	defd(&c.ShutdownGrace, 10*time.Second)
	return c
}

// Deps are the pipeline's collaborators. Writer and Directory are
// required; the rest may be nil.
type Deps struct {
	Writer    series.Writer
	Directory DeviceDirectory
	Checkins  CheckinRecorder
	NMEA      NMEAHandler
	Firmware  FirmwareHandler
	Live      *Live
	Alerts    *Alerts
	Registry  prometheus.Registerer // nil: metrics are kept but not exported
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now
}

// Pipeline is the ingest Handler: the MQTT adapters call Handle for every
// message; Handle queues it on the shard of its device (so one device's
// messages are processed in order, by one goroutine) and blocks while that
// queue is full, which pushes back on the broker connection. Each shard
// decodes, writes points in batches (by size or FlushInterval), updates the
// live state and the alerts, and records check-ins.
//
// Processing order per message: decode (devices) → look up the device
// (cached) → points into the shard's batch → live state → alerts →
// check-in.
type Pipeline struct {
	cfg      Config
	writer   series.Writer
	dir      DeviceDirectory
	checkinR CheckinRecorder
	nmea     NMEAHandler
	firmware FirmwareHandler
	live     *Live
	alerts   *Alerts
	log      *slog.Logger
	now      func() time.Time

	shards   []*shard
	checkins chan checkin

	mu       sync.RWMutex // held shared by Handle; exclusively to close
	closed   bool
	stopping chan struct{} // closed first at shutdown: wakes blocked Handle calls
	running  atomic.Bool

	m    *pipelineMetrics
	logs *logthrottle.Throttle
}

type checkin struct {
	id string
	at time.Time
}

// work is one item of a shard queue: a device message, or (silent set) a
// check whether the device has been silent since then, queued by the
// sweeper so that a device's offline transition is serialised with its
// messages.
type work struct {
	m      devices.Message
	silent time.Time
	ref    DeviceRef
}

// shard is one worker's state; only its goroutine touches it, so its
// caches need no lock (a device always lands on the same shard).
type shard struct {
	q         chan work
	batch     []series.Point
	devices   map[string]*dirEntry
	checkedIn map[string]time.Time
	tbuf      []devices.Telemetry
}

type dirEntry struct {
	ref     DeviceRef
	tags    map[string]string // shared by all points of the device: read-only
	found   bool
	expires time.Time
}

// Rejection reasons of the pipeline itself, beside devices.Reason.
const (
	ReasonUnknownDevice = "unknown_device"
)

// NewPipeline returns a pipeline; Run starts it.
func NewPipeline(cfg Config, deps Deps) (*Pipeline, error) {
	if deps.Writer == nil || deps.Directory == nil {
		return nil, errors.New("ingest: pipeline needs a series writer and a device directory")
	}
	cfg = cfg.withDefaults()
	p := &Pipeline{
		cfg:      cfg,
		writer:   deps.Writer,
		dir:      deps.Directory,
		checkinR: deps.Checkins,
		nmea:     deps.NMEA,
		firmware: deps.Firmware,
		live:     deps.Live,
		alerts:   deps.Alerts,
		log:      deps.Logger,
		now:      deps.Now,
		checkins: make(chan checkin, cfg.CheckinQueue),
		stopping: make(chan struct{}),
		logs:     logthrottle.New(cfg.LogEvery),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "ingest")
	if p.now == nil {
		p.now = time.Now
	}
	p.shards = make([]*shard, cfg.Workers)
	for i := range p.shards {
		p.shards[i] = &shard{
			q:         make(chan work, cfg.QueueLen),
			devices:   make(map[string]*dirEntry),
			checkedIn: make(map[string]time.Time),
		}
	}
	m, err := newPipelineMetrics(deps.Registry, p.queued)
	if err != nil {
		return nil, err
	}
	p.m = m
	return p, nil
}

// Handle queues m for processing. It blocks while the device's shard is
// full (counted in fleet_ingest_queue_blocked_total), and returns ctx's
// error or ErrClosed if it has to give up; the message is then not
// processed, and an adapter that can still refuse it (no PUBACK) should.
func (p *Pipeline) Handle(ctx context.Context, m devices.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.m.dropped.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	q := p.shards[shardOf(m.DeviceID, len(p.shards))].q
	w := work{m: m}
	select {
	case q <- w:
		return nil
	default:
	}
	p.m.blocked.Inc()
	start := time.Now()
	defer func() { p.m.blockedSeconds.Add(time.Since(start).Seconds()) }()
	select {
	case q <- w:
		return nil
	case <-ctx.Done():
		p.m.dropped.WithLabelValues("canceled").Inc()
		return ctx.Err()
	case <-p.stopping:
		p.m.dropped.WithLabelValues("closed").Inc()
		return ErrClosed
	}
}

// shardOf is FNV-1a of the device id, modulo n.
func shardOf(id string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

func (p *Pipeline) queued() float64 {
	n := 0
	for _, s := range p.shards {
		n += len(s.q)
	}
	return float64(n)
}

// Run processes messages until ctx is done, then shuts down: it refuses
// new messages, drains the queues, flushes the last batches and pending
// check-ins (within ShutdownGrace) and returns. Stop the adapters that
// call Handle first, so that nothing they accepted is refused.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("ingest: pipeline already ran")
	}
	// Work outlives ctx so the queues can drain; ShutdownGrace bounds it.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var workers, aux sync.WaitGroup
	for _, s := range p.shards {
		workers.Go(func() { p.work(work, s) })
	}
	aux.Go(func() { p.recordCheckins(work) })
	aux.Go(func() { p.sweep(ctx) })

	<-ctx.Done()
	grace := time.AfterFunc(p.cfg.ShutdownGrace, cancelWork)
	defer grace.Stop()

	close(p.stopping)
	p.mu.Lock() // waits for Handle calls under way
	p.closed = true
	p.mu.Unlock()
	for _, s := range p.shards {
		close(s.q)
	}
	workers.Wait()
	close(p.checkins)
	aux.Wait()
	return nil
}

func (p *Pipeline) work(ctx context.Context, s *shard) {
	tick := time.NewTicker(p.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case w, ok := <-s.q:
			if !ok {
				p.flush(ctx, s)
				return
			}
			if !w.silent.IsZero() {
				p.expire(ctx, w.ref, w.silent)
				continue
			}
			p.process(ctx, s, w.m)
			if len(s.batch) >= p.cfg.BatchSize {
				p.flush(ctx, s)
			}
		case <-tick.C:
			p.flush(ctx, s)
		}
	}
}

// flush hands the shard's batch to the writer. The slice is not reused:
// the writer may keep it.
func (p *Pipeline) flush(ctx context.Context, s *shard) {
	if len(s.batch) == 0 {
		return
	}
	batch := s.batch
	s.batch = make([]series.Point, 0, min(len(batch), p.cfg.BatchSize))
	if err := p.writer.Write(ctx, batch); err != nil {
		p.m.pointsDropped.Add(float64(len(batch)))
		p.logs.Log(p.log, slog.LevelError, "write", p.now(), "series write refused, points dropped",
			"points", len(batch), "error", err)
		return
	}
	p.m.points.Add(float64(len(batch)))
}

// process runs one message through the steps listed on Pipeline.
func (p *Pipeline) process(ctx context.Context, s *shard, m devices.Message) {
	recv := m.Received
	if recv.IsZero() {
		recv = p.now()
	}
	p.m.message(m.Kind)
	switch m.Kind {
	case devices.TopicTelemetry:
		samples, err := devices.AppendTelemetry(s.tbuf[:0], m.Payload, recv)
		if err != nil {
			p.reject(m, string(devices.ReasonOf(err)), err)
			return
		}
		s.tbuf = samples
		e, ok := p.device(ctx, s, m)
		if !ok {
			return
		}
		latest := 0
		for i := range samples {
			if pt, ok := telemetryPoint(e, &samples[i]); ok {
				s.batch = append(s.batch, pt)
			}
			if samples[i].Time.After(samples[latest].Time) {
				latest = i
			}
		}
		if p.live != nil && p.live.ApplyTelemetry(e.ref, samples, recv) {
			p.cameOnline(ctx, e.ref, recv)
		}
		if p.alerts != nil {
			p.alerts.Telemetry(ctx, e.ref, &samples[latest], recv)
		}
		clear(s.tbuf) // drop references to this message's values

	case devices.TopicEvent:
		ev, err := devices.DecodeEvent(m.Payload, recv)
		if err != nil {
			p.reject(m, string(devices.ReasonOf(err)), err)
			return
		}
		e, ok := p.device(ctx, s, m)
		if !ok {
			return
		}
		s.batch = append(s.batch, eventPoint(e, ev))
		var cameOnline, wentOffline bool
		if p.live != nil {
			cameOnline, wentOffline = p.live.ApplyEvent(e.ref, ev, recv)
		}
		if cameOnline {
			p.cameOnline(ctx, e.ref, recv)
		}
		if p.alerts != nil {
			var where *LivePosition
			if p.live != nil && ev.Type == devices.EventSOS {
				if lp, ok := p.live.Get(e.ref.ID); ok {
					where = &lp
				}
			}
			p.alerts.Event(ctx, e.ref, ev, recv, where)
			if wentOffline {
				p.alerts.Offline(ctx, e.ref, recv)
			}
		}

	case devices.TopicState:
		st, err := devices.DecodeState(m.Payload)
		if devices.ReasonOf(err) == devices.ReasonEmpty {
			return // a retained state being cleared: nothing to say
		} else if err != nil {
			p.reject(m, string(devices.ReasonOf(err)), err)
			return
		}
		e, ok := p.device(ctx, s, m)
		if !ok {
			return
		}
		if p.live != nil && p.live.SetState(e.ref, st, recv) && p.alerts != nil {
			if st == devices.StateOnline {
				p.alerts.Online(ctx, e.ref, recv)
			} else {
				p.alerts.Offline(ctx, e.ref, recv)
			}
		}
		if st == devices.StateOffline {
			return // the broker's will message: not heard from the device
		}

	case devices.TopicNMEA:
		if err := devices.CheckNMEA(m.Payload); err != nil {
			p.reject(m, string(devices.ReasonOf(err)), err)
			return
		}
		e, ok := p.device(ctx, s, m)
		if !ok {
			return
		}
		p.seen(ctx, e.ref, recv)
		if p.nmea != nil {
			if err := p.nmea.HandleNMEA(ctx, e.ref.ID, m.Payload, recv); err != nil {
				p.m.hookErrors.WithLabelValues("nmea").Inc()
				p.logs.Log(p.log, slog.LevelWarn, "hook/nmea", p.now(), "NMEA handler failed", "device", e.ref.ID, "error", err)
			}
		}

	case devices.TopicFirmware:
		fp, err := devices.DecodeFirmware(m.Payload, recv)
		if err != nil {
			p.reject(m, string(devices.ReasonOf(err)), err)
			return
		}
		e, ok := p.device(ctx, s, m)
		if !ok {
			return
		}
		p.seen(ctx, e.ref, recv)
		if p.firmware != nil {
			if err := p.firmware.HandleFirmwareProgress(ctx, e.ref.ID, fp); err != nil {
				p.m.hookErrors.WithLabelValues("firmware").Inc()
				p.logs.Log(p.log, slog.LevelWarn, "hook/firmware", p.now(), "firmware handler failed", "device", e.ref.ID, "error", err)
			}
		}

	default:
		p.reject(m, string(devices.ReasonTopic), fmt.Errorf("topic kind %s is not ingested", m.Kind))
		return
	}
	p.checkin(s, m.DeviceID, recv)
}

func (p *Pipeline) seen(ctx context.Context, ref DeviceRef, at time.Time) {
	if p.live != nil && p.live.Seen(ref, at) {
		p.cameOnline(ctx, ref, at)
	}
}

func (p *Pipeline) cameOnline(ctx context.Context, ref DeviceRef, at time.Time) {
	if p.alerts != nil {
		p.alerts.Online(ctx, ref, at)
	}
}

func (p *Pipeline) reject(m devices.Message, reason string, err error) {
	p.m.rejected.WithLabelValues(m.Kind.String(), reason).Inc()
	p.logs.Log(p.log, slog.LevelWarn, m.Kind.String()+"/"+reason, p.now(), "payload rejected",
		"device", m.DeviceID, "kind", m.Kind.String(), "reason", reason, "error", err)
}

// device looks the message's device up, through the shard's cache. A
// device the register does not know is rejected. When the register cannot
// answer, the data is still taken, tagged with the device id alone, rather
// than lost; the look-up is retried after DirectoryMissTTL.
func (p *Pipeline) device(ctx context.Context, s *shard, m devices.Message) (*dirEntry, bool) {
	now := p.now()
	id := m.DeviceID
	e := s.devices[id]
	if e == nil || !now.Before(e.expires) {
		e = p.lookup(ctx, id, e, now)
		if len(s.devices) >= p.cfg.MaxDevices {
			clear(s.devices)
		}
		s.devices[id] = e
	}
	if !e.found {
		p.reject(m, ReasonUnknownDevice, errors.New("device not in the register"))
	}
	return e, e.found
}

func (p *Pipeline) lookup(ctx context.Context, id string, stale *dirEntry, now time.Time) *dirEntry {
	lctx, cancel := context.WithTimeout(ctx, p.cfg.LookupTimeout)
	d, err := p.dir.LookupDevice(lctx, id)
	cancel()
	switch {
	case err == nil:
		ref := DeviceRef{ID: id, Kind: d.Kind, UnitID: d.UnitID}
		return &dirEntry{ref: ref, tags: deviceTags(ref), found: true, expires: now.Add(p.cfg.DirectoryTTL)}
	case fleet.ErrorCode(err) == fleet.ENOTFOUND:
		p.m.lookups.WithLabelValues("not_found").Inc()
		return &dirEntry{ref: DeviceRef{ID: id}, expires: now.Add(p.cfg.DirectoryMissTTL)}
	}
	p.m.lookups.WithLabelValues("error").Inc()
	p.logs.Log(p.log, slog.LevelError, "directory", now, "device look-up failed", "device", id, "error", err)
	if stale != nil {
		e := *stale
		e.expires = now.Add(p.cfg.DirectoryMissTTL)
		return &e
	}
	ref := DeviceRef{ID: id}
	return &dirEntry{ref: ref, tags: deviceTags(ref), found: true, expires: now.Add(p.cfg.DirectoryMissTTL)}
}

// deviceTags are the series tags of a device (see series.Telemetry).
// Empty values are left out: line protocol has no empty tags.
func deviceTags(ref DeviceRef) map[string]string {
	tags := map[string]string{"device": ref.ID}
	if ref.UnitID != "" {
		tags["unit"] = ref.UnitID
	}
	if ref.Kind != "" {
		tags["kind"] = string(ref.Kind)
	}
	return tags
}

// telemetryPoint converts a sample; a sample with nothing but ts has no
// fields, hence no point (it still counts as a check-in).
func telemetryPoint(e *dirEntry, t *devices.Telemetry) (series.Point, bool) {
	f := make(map[string]any, 11)
	if t.Lat != nil {
		f["lat"], f["lon"] = *t.Lat, *t.Lon
	}
	if t.AltM != nil {
		f["alt_m"] = *t.AltM
	}
	if t.SpeedKmh != nil {
		f["speed_kmh"] = *t.SpeedKmh
	}
	if t.HeadingDeg != nil {
		f["heading_deg"] = *t.HeadingDeg
	}
	if t.BatteryPct != nil {
		f["battery_pct"] = *t.BatteryPct
	}
	if t.Charging != nil {
		f["charging"] = *t.Charging
	}
	if t.StorageFreeMB != nil {
		f["storage_free_mb"] = *t.StorageFreeMB
	}
	if t.StorageTotalMB != nil {
		f["storage_total_mb"] = *t.StorageTotalMB
	}
	if t.Recording != nil {
		f["recording"] = *t.Recording
	}
	if t.SignalDBm != nil {
		f["signal_dbm"] = *t.SignalDBm
	}
	if len(f) == 0 {
		return series.Point{}, false
	}
	return series.Point{Measurement: series.Telemetry, Tags: e.tags, Fields: f, Time: t.Time}, true
}

func eventPoint(e *dirEntry, ev devices.Event) series.Point {
	tags := make(map[string]string, len(e.tags)+1)
	for k, v := range e.tags {
		tags[k] = v
	}
	tags["type"] = string(ev.Type)
	return series.Point{Measurement: series.Event, Tags: tags,
		Fields: map[string]any{"detail": ev.Detail}, Time: ev.Time}
}

// checkin queues a check-in at most once per CheckinEvery per device. A
// full queue skips it; the device's next message tries again.
func (p *Pipeline) checkin(s *shard, id string, at time.Time) {
	if p.checkinR == nil {
		return
	}
	if last, ok := s.checkedIn[id]; ok && at.Sub(last) < p.cfg.CheckinEvery && !at.Before(last) {
		return
	}
	select {
	case p.checkins <- checkin{id: id, at: at}:
		if len(s.checkedIn) >= p.cfg.MaxDevices {
			clear(s.checkedIn)
		}
		s.checkedIn[id] = at
	default:
		p.m.checkins.WithLabelValues("skipped").Inc()
	}
}

// recordCheckins writes queued check-ins to the register, one at a time,
// off the shard goroutines.
func (p *Pipeline) recordCheckins(ctx context.Context) {
	for c := range p.checkins {
		if ctx.Err() != nil {
			p.m.checkins.WithLabelValues("skipped").Inc()
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.LookupTimeout)
		err := p.checkinR.RecordCheckin(cctx, c.id, c.at)
		cancel()
		if err != nil {
			p.m.checkins.WithLabelValues("error").Inc()
			p.logs.Log(p.log, slog.LevelError, "checkin", p.now(), "check-in failed", "device", c.id, "error", err)
			continue
		}
		p.m.checkins.WithLabelValues("ok").Inc()
	}
}

// sweep finds devices silent for OfflineAfter and queues an offline check
// for each on its shard, until ctx is done. The check runs between the
// device's messages, so a message that arrives meanwhile wins.
func (p *Pipeline) sweep(ctx context.Context) {
	if p.live == nil {
		return
	}
	tick := time.NewTicker(p.cfg.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := p.now()
		for _, ref := range p.live.Silent(now) {
			p.mu.RLock()
			if p.closed {
				p.mu.RUnlock()
				return
			}
			select {
			case p.shards[shardOf(ref.ID, len(p.shards))].q <- work{silent: now, ref: ref}:
			case <-p.stopping:
			}
			p.mu.RUnlock()
		}
	}
}

// expire takes a device offline if it is still silent as of now.
func (p *Pipeline) expire(ctx context.Context, ref DeviceRef, now time.Time) {
	if p.live.ExpireSilent(ref.ID, now) && p.alerts != nil {
		p.alerts.Offline(ctx, ref, now)
	}
}

type pipelineMetrics struct {
	messages       [devices.TopicCommand + 1]prometheus.Counter
	rejected       *prometheus.CounterVec
	points         prometheus.Counter
	pointsDropped  prometheus.Counter
	blocked        prometheus.Counter
	blockedSeconds prometheus.Counter
	dropped        *prometheus.CounterVec
	lookups        *prometheus.CounterVec
	checkins       *prometheus.CounterVec
	hookErrors     *prometheus.CounterVec
}

func newPipelineMetrics(reg prometheus.Registerer, queued func() float64) (*pipelineMetrics, error) {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleet_ingest_messages_total", Help: "Device messages processed, by topic kind.",
	}, []string{"kind"})
	m := &pipelineMetrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_ingest_rejected_total", Help: "Device messages refused, by topic kind and reason.",
		}, []string{"kind", "reason"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ingest_points_written_total", Help: "Points accepted by the series writer.",
		}),
		pointsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ingest_points_dropped_total", Help: "Points the series writer refused.",
		}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ingest_queue_blocked_total", Help: "Messages that waited for room in a full shard queue (back-pressure on the broker).",
		}),
		blockedSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_ingest_queue_blocked_seconds_total", Help: "Time spent waiting for room in full shard queues.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_ingest_queue_dropped_total", Help: "Messages not queued, by reason (closed, canceled).",
		}, []string{"reason"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_ingest_directory_misses_total", Help: "Device look-ups that found nothing or failed, by result.",
		}, []string{"result"}),
		checkins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_ingest_checkins_total", Help: "Check-ins, by result (ok, error, skipped).",
		}, []string{"result"}),
		hookErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_ingest_hook_errors_total", Help: "Errors of the NMEA and firmware handlers.",
		}, []string{"hook"}),
	}
	for k := range m.messages {
		m.messages[k] = messages.WithLabelValues(devices.TopicKind(k).String())
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleet_ingest_queue_length", Help: "Messages waiting in the shard queues.",
	}, queued)
	err := register(reg, messages, m.rejected, m.points, m.pointsDropped, m.blocked, m.blockedSeconds,
		m.dropped, m.lookups, m.checkins, m.hookErrors, queue)
	return m, err
}

func (m *pipelineMetrics) message(k devices.TopicKind) {
	if int(k) < len(m.messages) {
		m.messages[k].Inc()
	}
}
