package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/devices/sim/seed"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest/mqttbroker"
	"github.com/lawfleet/fleet/web"
)

// collector is the broker's handler: what the service's ingest would get.
type collector struct {
	mu        sync.Mutex
	telemetry map[string]int
}

func (c *collector) Handle(_ context.Context, m devices.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Kind == devices.TopicTelemetry {
		if _, err := devices.DecodeTelemetry(m.Payload, time.Now()); err == nil {
			c.telemetry[m.DeviceID]++
		}
	}
	return nil
}

func (c *collector) devices() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.telemetry)
}

// TestDemo runs "devsim demo" end to end against the real service and its
// embedded broker, which checks every device's id and secret with the
// register: the seeded devices connect with the secrets of the state file.
func TestDemo(t *testing.T) {
	ctx := t.Context()
	reg := fleet.NewRegister(sqltest.SQLite(t), nil)
	if _, err := reg.Bootstrap(ctx, "password123"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{Register: reg}).Handler())
	defer srv.Close()
	got := &collector{telemetry: map[string]int{}}
	broker, err := mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, reg, got, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"demo", "-api", srv.URL, "-officers", "30", "-state", state, "-mqtt", broker.Addr(),
		"-interval", "300ms", "-log-level", "warn"}
	env := map[string]string{"FLEET_ADMIN_PASSWORD": "password123"}
	runCtx, stop := context.WithCancel(ctx)
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, args, func(k string) string { return env[k] }, &stdout, &stderr) }()

	// Wait for the state file, then for every device it simulates.
	var want int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%d of %d devices reported; stderr:\n%s", got.devices(), want, stderr.String())
		}
		if want == 0 {
			if st, err := seed.LoadState(state); err == nil && st.Complete {
				want = len(seed.SimDevices(st))
			}
			continue
		}
		if got.devices() == want {
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("devsim demo: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "seeded 420000") {
		t.Errorf("no summary on stdout:\n%s", stdout.String())
	}
	st, _ := seed.LoadState(state)
	silent := 0
	for _, d := range st.Devices {
		if _, ok := sim.RoleOf(d.Kind, d.Status); !ok {
			silent++
			if got.telemetry[d.ID] > 0 {
				t.Errorf("%s is %s but reported", d.ID, d.Status)
			}
		}
	}
	if silent == 0 || want == 0 {
		t.Errorf("%d simulated and %d silent devices: want both", want, silent)
	}
}
