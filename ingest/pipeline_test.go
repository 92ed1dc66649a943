package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/series"
)

var (
	rec1 = fleet.Device{ID: "rec1", Kind: fleet.KindRecorder, UnitID: "unit_a"}
	rec2 = fleet.Device{ID: "rec2", Kind: fleet.KindRecorder, UnitID: "unit_b"}
	veh1 = fleet.Device{ID: "veh1", Kind: fleet.KindVehicleTerminal, UnitID: "unit_a"}
)

// rig is a pipeline with its live state, alerts and fakes, running until
// the test ends (or stop is called).
type rig struct {
	reg      *prometheus.Registry
	writer   *recWriter
	dir      *directory
	checkins *checkins
	hub      *Hub
	live     *Live
	alerts   *Alerts
	store    *MemoryAlertStore
	p        *Pipeline

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func newRig(t *testing.T, cfg Config, live LiveConfig, assign AssignmentChecker) *rig {
	t.Helper()
	r := &rig{
		reg:      prometheus.NewRegistry(),
		writer:   &recWriter{},
		dir:      newDirectory(rec1, rec2, veh1),
		checkins: &checkins{},
		store:    NewMemoryAlertStore(100),
	}
	var err error
	if r.hub, err = NewHub(HubConfig{Buffer: 64}, r.reg); err != nil {
		t.Fatal(err)
	}
	if r.live, err = NewLive(live, r.hub, r.reg); err != nil {
		t.Fatal(err)
	}
	if r.alerts, err = NewAlerts(AlertsConfig{}, r.store, assign, r.hub, r.reg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 10 * time.Millisecond
	}
	r.p, err = NewPipeline(cfg, Deps{
		Writer: r.writer, Directory: r.dir, Checkins: r.checkins,
		Live: r.live, Alerts: r.alerts, Registry: r.reg, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.p.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts the pipeline down and waits for Run.
func (r *rig) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

func (r *rig) handle(t *testing.T, ms ...devices.Message) {
	t.Helper()
	for _, m := range ms {
		if err := r.p.Handle(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) waitPoints(t *testing.T, n int) []series.Point {
	t.Helper()
	eventually(t, 5*time.Second, strconv.Itoa(n)+" points", func() bool { return len(r.writer.snapshot()) >= n })
	return r.writer.snapshot()
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func telemetry(at time.Time, extra string) string {
	return `{"ts":` + ms(at) + `,"lat":30.5928,"lon":114.3055,"speed_kmh":12.5,"battery_pct":80` + extra + `}`
}

func TestPipelineTelemetry(t *testing.T) {
	r := newRig(t, Config{}, LiveConfig{}, nil)
	now := time.Now()
	r.handle(t,
		msg("rec1", devices.TopicTelemetry, telemetry(now.Add(-time.Second), `,"recording":true`), now),
		msg("rec1", devices.TopicTelemetry, `[{"ts":`+ms(now)+`,"lat":30.6,"lon":114.4,"storage_free_mb":900,"storage_total_mb":1000}]`, now),
		msg("veh1", devices.TopicEvent, `{"ts":`+ms(now)+`,"type":"record_start","detail":"ch1"}`, now),
	)
	pts := r.waitPoints(t, 3)

	var p0 series.Point
	for _, p := range pts {
		if p.Tags["device"] == "rec1" {
			p0 = p
			break
		}
	}
	if p0.Measurement != series.Telemetry || !p0.Time.Equal(time.UnixMilli(now.Add(-time.Second).UnixMilli())) {
		t.Errorf("point 0: %+v", p0)
	}
	wantTags := map[string]string{"device": "rec1", "unit": "unit_a", "kind": "recorder"}
	if fmt.Sprint(p0.Tags) != fmt.Sprint(wantTags) {
		t.Errorf("tags %v, want %v", p0.Tags, wantTags)
	}
	if p0.Fields["lat"] != 30.5928 || p0.Fields["speed_kmh"] != 12.5 || p0.Fields["recording"] != true || len(p0.Fields) != 5 {
		t.Errorf("fields %v", p0.Fields)
	}
	var ev series.Point
	for _, p := range pts {
		if p.Measurement == series.Event {
			ev = p
		}
	}
	if ev.Tags["type"] != "record_start" || ev.Tags["kind"] != "vehicle_terminal" || ev.Fields["detail"] != "ch1" {
		t.Errorf("event point %+v", ev)
	}

	lp, ok := r.live.Get("rec1")
	if !ok || *lp.Lat != 30.6 || !lp.Online || *lp.BatteryPct != 80 || *lp.StorageFreeMB != 900 || lp.UnitID != "unit_a" {
		t.Errorf("live %+v", lp)
	}
	if v, _ := r.live.Get("veh1"); v.Recording == nil || !*v.Recording {
		t.Errorf("veh1 recording not set: %+v", v)
	}
	eventually(t, time.Second, "check-ins", func() bool { return r.checkins.count() == 2 })
	if got := metric(t, r.reg, "fleet_ingest_messages_total", "kind", "telemetry"); got != 2 {
		t.Errorf("messages_total{telemetry} = %v", got)
	}
	if got := metric(t, r.reg, "fleet_ingest_points_written_total"); got != 3 {
		t.Errorf("points_written_total = %v", got)
	}
}

func TestPipelineRejects(t *testing.T) {
	now := time.Now()
	tests := []struct {
		kind    devices.TopicKind
		payload string
		reason  string
	}{
		{devices.TopicTelemetry, `{"ts":` + ms(now) + `,"lat":`, "syntax"},
		{devices.TopicTelemetry, `not json`, "syntax"},
		{devices.TopicTelemetry, `{"ts":` + ms(now) + `,"lat":"30","lon":114}`, "wrong_type"},
		{devices.TopicTelemetry, `{"ts":` + ms(now) + `,"lat":200,"lon":114}`, "out_of_range"},
		{devices.TopicTelemetry, `{"ts":` + ms(now.Add(time.Hour)) + `,"lat":30,"lon":114}`, "ts_future"},
		{devices.TopicTelemetry, `{"lat":30,"lon":114}`, "missing"},
		{devices.TopicTelemetry, `{"ts":` + ms(now) + `,"x":"` + strings.Repeat("x", 1<<20) + `"}`, "too_large"},
		{devices.TopicEvent, `{"ts":` + ms(now) + `,"type":"explode"}`, "unknown_value"},
		{devices.TopicState, `maybe`, "unknown_value"},
		{devices.TopicFirmware, `{"ts":` + ms(now) + `}`, "missing"},
		{devices.TopicNMEA, "\x00\x01", "encoding"},
		{devices.TopicCommand, `{}`, "topic"},
	}
	r := newRig(t, Config{}, LiveConfig{}, nil)
	for _, tt := range tests {
		r.handle(t, msg("rec1", tt.kind, tt.payload, now))
	}
	r.stop() // drains the queues
	if pts := r.writer.snapshot(); len(pts) != 0 {
		t.Errorf("%d points written from bad payloads: %+v", len(pts), pts[0])
	}
	want := map[string]float64{}
	for _, tt := range tests {
		want[tt.kind.String()+"/"+tt.reason]++
	}
	for key, n := range want {
		kind, reason, _ := strings.Cut(key, "/")
		if got := metric(t, r.reg, "fleet_ingest_rejected_total", "kind", kind, "reason", reason); got != n {
			t.Errorf("rejected{%s,%s} = %v, want %v", kind, reason, got, n)
		}
	}
	if _, ok := r.live.Get("rec1"); ok {
		t.Error("a rejected message reached the live state")
	}
	if r.checkins.count() != 0 {
		t.Error("a rejected message counted as a check-in")
	}
}

func TestPipelineUnknownDevice(t *testing.T) {
	r := newRig(t, Config{}, LiveConfig{}, nil)
	now := time.Now()
	r.handle(t, msg("ghost", devices.TopicTelemetry, telemetry(now, ""), now),
		msg("ghost", devices.TopicTelemetry, telemetry(now, ""), now))
	r.stop()
	if got := metric(t, r.reg, "fleet_ingest_rejected_total", "reason", ReasonUnknownDevice); got != 2 {
		t.Errorf("unknown_device rejections = %v", got)
	}
	if r.dir.lookups != 1 {
		t.Errorf("%d look-ups, want 1 (the miss is cached)", r.dir.lookups)
	}
	if len(r.writer.snapshot()) != 0 {
		t.Error("points written for an unknown device")
	}
}

func TestPipelineDirectoryDown(t *testing.T) {
	r := newRig(t, Config{}, LiveConfig{}, nil)
	r.dir.err = fleet.Errorf(fleet.EUNAVAILABLE, "database down")
	now := time.Now()
	r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(now, ""), now))
	pts := r.waitPoints(t, 1)
	if fmt.Sprint(pts[0].Tags) != "map[device:rec1]" {
		t.Errorf("tags %v: want the device alone while the register is down", pts[0].Tags)
	}
}

func TestPipelinePerDeviceOrder(t *testing.T) {
	r := newRig(t, Config{Workers: 4, QueueLen: 8, BatchSize: 7}, LiveConfig{}, nil)
	base := time.Now().Add(-time.Hour)
	const n = 300
	var wg sync.WaitGroup
	for _, id := range []string{"rec1", "rec2", "veh1"} {
		wg.Go(func() {
			for i := range n {
				at := base.Add(time.Duration(i) * time.Second)
				if err := r.p.Handle(context.Background(), msg(id, devices.TopicTelemetry, telemetry(at, ""), at)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	pts := r.waitPoints(t, 3*n)
	last := map[string]time.Time{}
	for _, p := range pts {
		id := p.Tags["device"]
		if p.Time.Before(last[id]) {
			t.Fatalf("device %s: point at %v after one at %v", id, p.Time, last[id])
		}
		last[id] = p.Time
	}
}

func TestPipelineBackPressure(t *testing.T) {
	r := newRig(t, Config{Workers: 1, QueueLen: 1, BatchSize: 1}, LiveConfig{}, nil)
	r.writer.block = make(chan struct{})
	now := time.Now()
	m := msg("rec1", devices.TopicTelemetry, telemetry(now, ""), now)
	r.handle(t, m) // taken by the worker, which then blocks in Write
	eventually(t, time.Second, "worker busy", func() bool { return r.p.queued() == 0 })
	r.handle(t, m) // fills the queue

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.p.Handle(ctx, m)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 40*time.Millisecond {
		t.Fatalf("Handle on a full queue: %v after %v; want to block until the deadline", err, time.Since(start))
	}
	if got := metric(t, r.reg, "fleet_ingest_queue_blocked_total"); got != 1 {
		t.Errorf("queue_blocked_total = %v", got)
	}
	if got := metric(t, r.reg, "fleet_ingest_queue_dropped_total", "reason", "canceled"); got != 1 {
		t.Errorf("queue_dropped_total{canceled} = %v", got)
	}

	// A blocked Handle proceeds as soon as there is room.
	handled := make(chan error, 1)
	go func() { handled <- r.p.Handle(context.Background(), m) }()
	time.Sleep(20 * time.Millisecond)
	close(r.writer.block)
	if err := <-handled; err != nil {
		t.Fatal(err)
	}
	r.waitPoints(t, 3)
}

func TestPipelineShutdownDrains(t *testing.T) {
	r := newRig(t, Config{Workers: 2, QueueLen: 100, BatchSize: 1000, FlushInterval: time.Hour}, LiveConfig{}, nil)
	now := time.Now()
	for i := range 50 {
		at := now.Add(time.Duration(i-50) * time.Second)
		r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(at, ""), at), msg("rec2", devices.TopicTelemetry, telemetry(at, ""), at))
	}
	r.stop()
	if got := len(r.writer.snapshot()); got != 100 {
		t.Fatalf("%d points after shutdown, want 100", got)
	}
	if err := r.p.Handle(context.Background(), msg("rec1", devices.TopicTelemetry, telemetry(now, ""), now)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Handle after shutdown: %v", err)
	}
}

func TestPipelineBatches(t *testing.T) {
	r := newRig(t, Config{Workers: 1, BatchSize: 3, FlushInterval: time.Hour}, LiveConfig{}, nil)
	now := time.Now()
	for i := range 7 {
		at := now.Add(time.Duration(i-7) * time.Second)
		r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(at, ""), at))
	}
	r.waitPoints(t, 6)
	time.Sleep(20 * time.Millisecond)
	if n := len(r.writer.snapshot()); n != 6 {
		t.Fatalf("%d points before the deadline, want two batches of 3", n)
	}
	r.stop()
	if n, b := len(r.writer.snapshot()), r.writer.batches; n != 7 || b != 3 {
		t.Fatalf("%d points in %d batches, want 7 in 3", n, b)
	}
}

func TestPipelineWriterRefuses(t *testing.T) {
	r := newRig(t, Config{}, LiveConfig{}, nil)
	r.writer.err = errors.New("buffer full")
	now := time.Now()
	r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(now, ""), now))
	eventually(t, time.Second, "drop counted", func() bool {
		return metric(t, r.reg, "fleet_ingest_points_dropped_total") == 1
	})
}

func TestPipelineCheckinDebounce(t *testing.T) {
	r := newRig(t, Config{Workers: 1}, LiveConfig{}, nil)
	now := time.Now()
	for _, d := range []time.Duration{0, time.Minute, 59 * time.Minute, 61 * time.Minute} {
		at := now.Add(d)
		r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(now, ""), at))
	}
	r.handle(t, msg("rec1", devices.TopicState, "offline", now.Add(3*time.Hour))) // the will: not a check-in
	r.stop()
	if got := r.checkins.count(); got != 2 {
		t.Fatalf("%d check-ins, want 2 (first, and after an hour)", got)
	}
}

func TestPipelineHooks(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := &recWriter{}
	nmea := &nmeaRec{}
	fw := &firmwareRec{}
	p, err := NewPipeline(Config{}, Deps{Writer: w, Directory: newDirectory(rec1), NMEA: nmea, Firmware: fw, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	now := time.Now()
	lines := "!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23\r\n"
	for _, m := range []devices.Message{
		msg("rec1", devices.TopicNMEA, lines, now),
		msg("rec1", devices.TopicFirmware, `{"ts":`+ms(now)+`,"job":"j1","state":"downloading","progress":50}`, now),
	} {
		if err := p.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if nmea.got != lines || fw.got.Job != "j1" || *fw.got.ProgressPct != 50 {
		t.Fatalf("nmea %q, firmware %+v", nmea.got, fw.got)
	}
}

type nmeaRec struct{ got string }

func (n *nmeaRec) HandleNMEA(_ context.Context, _ string, payload []byte, _ time.Time) error {
	n.got = string(payload)
	return nil
}

type firmwareRec struct{ got devices.FirmwareProgress }

func (f *firmwareRec) HandleFirmwareProgress(_ context.Context, _ string, p devices.FirmwareProgress) error {
	f.got = p
	return nil
}

func TestPipelineSilenceOffline(t *testing.T) {
	r := newRig(t, Config{SweepEvery: 10 * time.Millisecond}, LiveConfig{OfflineAfter: 100 * time.Millisecond},
		assignments{"rec1": true})
	sub, err := r.hub.Subscribe(func(unit string) bool { return unit == "unit_a" })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	now := time.Now()
	r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(now, ""), now),
		msg("rec2", devices.TopicState, "online", now))
	eventually(t, time.Second, "online", func() bool { d, _ := r.live.Get("rec2"); return d.Online })
	eventually(t, 2*time.Second, "offline by silence", func() bool {
		a, _ := r.live.Get("rec1")
		b, _ := r.live.Get("rec2")
		return !a.Online && !b.Online
	})
	// rec1 is assigned: offline alert; rec2 is not.
	var open []Alert
	eventually(t, time.Second, "offline alert", func() bool {
		open, _ = r.alerts.List(context.Background(), AlertFilter{OpenOnly: true})
		return len(open) > 0
	})
	time.Sleep(20 * time.Millisecond)
	open, _ = r.alerts.List(context.Background(), AlertFilter{OpenOnly: true})
	if len(open) != 1 || open[0].Kind != AlertOffline || open[0].DeviceID != "rec1" || open[0].Priority != PriorityHigh {
		t.Fatalf("open alerts %+v", open)
	}
	// Back online: the alert clears (and, silent again, rec1 may get a new one).
	later := time.Now()
	r.handle(t, msg("rec1", devices.TopicTelemetry, telemetry(later, ""), later))
	eventually(t, 2*time.Second, "offline alert cleared", func() bool {
		a, err := r.alerts.Get(context.Background(), open[0].ID)
		return err == nil && !a.Open() && a.ClearedBy == ByDevice
	})
	// The subscriber of unit_a saw rec1 but nothing of rec2 (unit_b).
	sawStatus := false
	for len(sub.Events()) > 0 {
		ev := <-sub.Events()
		if ev.UnitID != "unit_a" {
			t.Fatalf("event of %s leaked out of scope: %+v", ev.UnitID, ev)
		}
		if ev.Type == "status" {
			sawStatus = true
		}
	}
	if !sawStatus {
		t.Error("no status event published")
	}
}

func TestShardOf(t *testing.T) {
	seen := map[int]int{}
	for i := range 1000 {
		seen[shardOf("dev_"+strconv.Itoa(i), 4)]++
	}
	for s := range 4 {
		if seen[s] < 150 {
			t.Errorf("shard %d got %d of 1000 devices", s, seen[s])
		}
	}
}

func BenchmarkPipelineProcess(b *testing.B) {
	p, err := NewPipeline(Config{Workers: 1, BatchSize: 1 << 30}, Deps{Writer: &recWriter{}, Directory: newDirectory(rec1)})
	if err != nil {
		b.Fatal(err)
	}
	live, _ := NewLive(LiveConfig{}, nil, nil)
	alerts, _ := NewAlerts(AlertsConfig{}, NewMemoryAlertStore(0), nil, nil, nil, nil)
	p.live, p.alerts = live, alerts
	now := time.Now()
	m := msg("rec1", devices.TopicTelemetry, telemetry(now, `,"recording":true,"signal_dbm":-70`), now)
	s := p.shards[0]
	b.ReportAllocs()
	for b.Loop() {
		p.process(context.Background(), s, m)
		if len(s.batch) > 4096 {
			s.batch = s.batch[:0]
		}
	}
}
