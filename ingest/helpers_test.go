package ingest

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/series"
)

// recWriter is the series sink of these tests: it records what it gets.
type recWriter struct {
	mu      sync.Mutex
	points  []series.Point
	batches int
	err     error
	block   chan struct{} // when set, Write waits for it
}

func (w *recWriter) Write(ctx context.Context, pts []series.Point) error {
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.points = append(w.points, pts...)
	w.batches++
	return nil
}

func (w *recWriter) snapshot() []series.Point {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.points)
}

// directory is a fake register: known devices, lookups counted.
type directory struct {
	mu      sync.Mutex
	devices map[string]fleet.Device
	lookups int
	err     error
}

func newDirectory(ds ...fleet.Device) *directory {
	d := &directory{devices: make(map[string]fleet.Device)}
	for _, dev := range ds {
		d.devices[dev.ID] = dev
	}
	return d
}

func (d *directory) LookupDevice(_ context.Context, id string) (fleet.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.err != nil {
		return fleet.Device{}, d.err
	}
	dev, ok := d.devices[id]
	if !ok {
		return fleet.Device{}, fleet.Errorf(fleet.ENOTFOUND, "device not found")
	}
	return dev, nil
}

// checkins records check-ins.
type checkins struct {
	mu  sync.Mutex
	got []checkin
}

func (c *checkins) RecordCheckin(_ context.Context, id string, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, checkin{id, t})
	return nil
}

func (c *checkins) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// assignments is a fake AssignmentChecker.
type assignments map[string]bool

func (a assignments) OpenAssignment(_ context.Context, id string) (bool, error) { return a[id], nil }

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// metric returns the value of the counter or gauge name with the given
// label values (name=value pairs), 0 when absent.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
		return sum
	}
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func msg(id string, kind devices.TopicKind, payload string, at time.Time) devices.Message {
	return devices.Message{DeviceID: id, Kind: kind, Payload: []byte(payload), Received: at}
}
