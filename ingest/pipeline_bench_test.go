//go:build unix

package ingest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/series"
)

// countWriter counts points and drops them.
type countWriter struct {
	points atomic.Int64
}

func (w *countWriter) Write(_ context.Context, pts []series.Point) error {
	w.points.Add(int64(len(pts)))
	return nil
}

// BenchmarkPipelineTelemetry is the cost of one telemetry message from
// Handle to the series writer, with live state and alerts, on the
// pipeline's default shards: decoding, the device cache, points, live
// state, alerts and check-ins. The payload is fleetload's (10 fields).
// cpu-ns/msg counts every goroutine of the process, the collector too.
func BenchmarkPipelineTelemetry(b *testing.B) {
	const nDevices = 5000
	reg := prometheus.NewRegistry()
	dir := newDirectory()
	hub, err := NewHub(HubConfig{}, reg)
	if err != nil {
		b.Fatal(err)
	}
	live, err := NewLive(LiveConfig{}, hub, reg)
	if err != nil {
		b.Fatal(err)
	}
	alerts, err := NewAlerts(AlertsConfig{}, NewMemoryAlertStore(100), nil, hub, reg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	w := &countWriter{}
	p, err := NewPipeline(Config{}, Deps{Writer: w, Directory: dir, Checkins: &checkins{},
		Live: live, Alerts: alerts, Registry: reg, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	ids := make([]string, nDevices)
	payloads := make([][]byte, nDevices)
	for i := range ids {
		ids[i] = fmt.Sprintf("bwc-%06d", i)
		dir.devices[ids[i]] = fleet.Device{ID: ids[i], Kind: fleet.KindRecorder, UnitID: "unit_" + strconv.Itoa(i%50)}
		payloads[i] = fmt.Appendf(nil, `{"ts":%d,"lat":%.6f,"lon":%.6f,"speed_kmh":%d.5,"heading_deg":%.1f,"battery_pct":%d,`+
			`"charging":false,"storage_free_mb":%d,"storage_total_mb":65536,"recording":%t,"signal_dbm":%d}`,
			now.UnixMilli(), 30.4+float64(i%997)*0.0004, 114.1+float64(i%991)*0.0004, i%60, float64(i%3600)/10,
			60+i%40, 40000+i%20000, i%4 != 0, -60-i%40)
	}
	send := func(n int) {
		for i := range n {
			d := i % nDevices
			m := devices.Message{DeviceID: ids[d], Kind: devices.TopicTelemetry, Payload: payloads[d], Received: now}
			if err := p.Handle(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	wait := func(points int64) {
		for w.points.Load() < points {
			time.Sleep(time.Millisecond)
		}
	}
	send(nDevices) // every device looked up, online, with a live state
	wait(nDevices)

	base := w.points.Load()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	send(b.N)
	wait(base + int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
