package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/mqtt"
	"github.com/lawfleet/fleet/ingest/mqttbroker"
	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/internal/testenv"
)

// register knows devices dev0…dev9 with secret "s-"+id.
type register struct{}

func (register) LookupDevice(_ context.Context, id string) (fleet.Device, error) {
	if strings.HasPrefix(id, "dev") {
		return fleet.Device{ID: id, Kind: fleet.KindRecorder, UnitID: "unit_1"}, nil
	}
	return fleet.Device{}, fleet.Errorf(fleet.ENOTFOUND, "not found")
}

func (r register) AuthenticateDevice(ctx context.Context, id, secret string) (fleet.Device, error) {
	if secret != "s-"+id {
		return fleet.Device{}, fleet.Errorf(fleet.EUNAUTHORIZED, "wrong secret")
	}
	return r.LookupDevice(ctx, id)
}

type sink struct {
	mu     sync.Mutex
	points []series.Point
}

func (s *sink) Write(_ context.Context, pts []series.Point) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points = append(s.points, pts...)
	return nil
}

func (s *sink) snapshot() []series.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.points)
}

// keys identifies points by device and time, for counting duplicates.
func (s *sink) keys() []string {
	var k []string
	for _, p := range s.snapshot() {
		k = append(k, p.Tags["device"]+"@"+strconv.FormatInt(p.Time.UnixMilli(), 10))
	}
	return k
}

// node is one fleetd's ingest: pipeline + consumer, running until the test
// ends.
type node struct {
	reg      *prometheus.Registry
	sink     *sink
	live     *ingest.Live
	consumer *mqtt.Consumer
	stop     func()
}

func startNode(t *testing.T, cfg mqtt.Config) *node {
	t.Helper()
	n := &node{reg: prometheus.NewRegistry(), sink: &sink{}}
	var err error
	if n.live, err = ingest.NewLive(ingest.LiveConfig{}, nil, n.reg); err != nil {
		t.Fatal(err)
	}
	p, err := ingest.NewPipeline(ingest.Config{FlushInterval: 10 * time.Millisecond}, ingest.Deps{
		Writer: n.sink, Directory: register{}, Live: n.live, Registry: n.reg, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxReconnectInterval == 0 {
		cfg.MaxReconnectInterval = 500 * time.Millisecond
	}
	if n.consumer, err = mqtt.New(cfg, p, n.reg, testLogger()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pDone, cDone := make(chan error, 1), make(chan error, 1)
	go func() { pDone <- p.Run(ctx) }()
	go func() { cDone <- n.consumer.Run(context.Background()) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			_ = n.consumer.Close() // intake first
			if err := <-cDone; err != nil {
				t.Error(err)
			}
			cancel()
			if err := <-pDone; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(n.stop)
	eventually(t, 10*time.Second, "consumer subscribed", func() bool {
		return n.consumer.Connected() && metric(t, n.reg, "fleet_mqtt_consumer_connects_total") >= 1
	})
	time.Sleep(100 * time.Millisecond) // the SUBACK follows the CONNACK
	return n
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// publisher is a device (or many: anonymous on Mosquitto).
func publisher(t *testing.T, url, id, user, pass string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publishTelemetry(t *testing.T, c paho.Client, device string, at time.Time) {
	t.Helper()
	payload := fmt.Sprintf(`{"ts":%d,"lat":30.5,"lon":114.3,"battery_pct":70}`, at.UnixMilli())
	tok := c.Publish(devices.DeviceTopic(device, devices.TopicTelemetry), 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

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
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
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
			found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigFilters(t *testing.T) {
	got := mqtt.Config{Group: "g"}.Filters()
	if len(got) != 5 || got["$share/g/fleet/v1/+/telemetry"] != 1 || got["$share/g/fleet/v1/+/nmea"] != 1 {
		t.Fatalf("filters %v", got)
	}
	got = mqtt.Config{NoShare: true, QoS0: true}.Filters()
	if _, ok := got["fleet/v1/+/state"]; !ok || got["fleet/v1/+/state"] != 0 {
		t.Fatalf("filters %v", got)
	}
	if _, err := mqtt.New(mqtt.Config{URL: "tcp://x:1"}, nil, nil, nil); err == nil {
		t.Fatal("New without client id")
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"gopher://127.0.0.1:1", "127.0.0.1:1883", "tcp://[::1"} {
		if _, err := mqtt.New(mqtt.Config{URL: u, ClientID: "x"}, discard{}, nil, nil); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
}

func TestRunUntilClose(t *testing.T) {
	// No broker on this port: Run keeps trying until Close.
	c, err := mqtt.New(mqtt.Config{URL: "tcp://127.0.0.1:1", ClientID: "x"}, discard{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- c.Run(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	_ = c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("second Run")
	}
}

func TestMosquittoTelemetry(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	n := startNode(t, mqtt.Config{URL: m.URL, ClientID: "fleetd-a"})
	dev := publisher(t, m.URL, "dev1", "", "")
	now := time.Now()
	publishTelemetry(t, dev, "dev1", now)
	tok := dev.Publish("fleet/v1/dev1/state", 1, true, "online")
	tok.WaitTimeout(5 * time.Second)

	eventually(t, 10*time.Second, "point", func() bool { return len(n.sink.snapshot()) == 1 })
	p := n.sink.snapshot()[0]
	if p.Tags["device"] != "dev1" || p.Tags["unit"] != "unit_1" || p.Fields["battery_pct"] != 70.0 {
		t.Fatalf("point %+v", p)
	}
	eventually(t, 5*time.Second, "live state", func() bool {
		d, ok := n.live.Get("dev1")
		return ok && d.Online && d.Lat != nil && *d.Lat == 30.5
	})

	// Malformed payloads, including 1 MB (Mosquitto passes it on), are
	// refused and counted; nothing is written.
	bad := []string{`{"ts":`, `{"ts":1,"lat":"x"}`, `{"ts":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"lat":200,"lon":1}`,
		`{"ts":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"x":"` + strings.Repeat("y", 1<<20) + `"}`}
	for _, b := range bad {
		tok := dev.Publish("fleet/v1/dev1/telemetry", 1, false, b)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	eventually(t, 10*time.Second, "rejections", func() bool {
		return metric(t, n.reg, "fleet_ingest_rejected_total") == float64(len(bad))
	})
	if metric(t, n.reg, "fleet_ingest_rejected_total", "reason", "too_large") != 1 {
		t.Error("1 MB payload not counted as too_large")
	}
	if got := len(n.sink.snapshot()); got != 1 {
		t.Fatalf("%d points, want 1", got)
	}
}

// TestMosquittoRestart stops the broker mid-stream: the consumer reconnects,
// subscribes again (the broker forgot everything: no persistence), and the
// messages published after the restart arrive.
func TestMosquittoRestart(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	n := startNode(t, mqtt.Config{URL: m.URL, ClientID: "fleetd-restart"})
	dev := publisher(t, m.URL, "dev1", "", "")
	base := time.Now().Add(-time.Minute)
	for i := range 20 {
		publishTelemetry(t, dev, "dev1", base.Add(time.Duration(i)*time.Millisecond))
	}
	eventually(t, 10*time.Second, "first batch", func() bool { return len(n.sink.snapshot()) == 20 })

	m.Stop()
	eventually(t, 10*time.Second, "connection lost", func() bool {
		return metric(t, n.reg, "fleet_mqtt_consumer_connection_lost_total") == 1
	})
	m.Start()
	eventually(t, 20*time.Second, "reconnected", func() bool {
		return metric(t, n.reg, "fleet_mqtt_consumer_connects_total") == 2
	})

	// Probe until the new subscription delivers, then send a batch.
	dev2 := publisher(t, m.URL, "dev2", "", "")
	probe := base.Add(time.Second)
	eventually(t, 10*time.Second, "subscription after restart", func() bool {
		probe = probe.Add(time.Millisecond)
		publishTelemetry(t, dev2, "dev2", probe)
		time.Sleep(20 * time.Millisecond)
		_, ok := n.live.Get("dev2")
		return ok
	})
	before := len(n.sink.snapshot())
	later := base.Add(10 * time.Second)
	for i := range 30 {
		publishTelemetry(t, dev2, "dev3", later.Add(time.Duration(i)*time.Millisecond))
	}
	eventually(t, 10*time.Second, "batch after restart", func() bool { return len(n.sink.snapshot()) >= before+30 })
}

// TestMosquittoSharedSubscription runs two consumers in the group: each
// message reaches exactly one of them.
func TestMosquittoSharedSubscription(t *testing.T) {
	m := testenv.StartMosquitto(t, "max_queued_messages 10000")
	a := startNode(t, mqtt.Config{URL: m.URL, ClientID: "fleetd-a"})
	b := startNode(t, mqtt.Config{URL: m.URL, ClientID: "fleetd-b"})
	dev := publisher(t, m.URL, "simulator", "", "")
	base := time.Now().Add(-time.Hour)
	const perDevice, nDevices = 40, 5
	for i := range perDevice {
		for d := range nDevices {
			publishTelemetry(t, dev, "dev"+strconv.Itoa(d), base.Add(time.Duration(i)*time.Second))
		}
	}
	total := perDevice * nDevices
	eventually(t, 20*time.Second, "all messages", func() bool {
		return len(a.sink.snapshot())+len(b.sink.snapshot()) >= total
	})
	time.Sleep(200 * time.Millisecond) // let duplicates, if any, arrive
	ka, kb := a.sink.keys(), b.sink.keys()
	if len(ka) == 0 || len(kb) == 0 {
		t.Fatalf("load not split: %d and %d", len(ka), len(kb))
	}
	seen := map[string]bool{}
	for _, k := range append(ka, kb...) {
		if seen[k] {
			t.Fatalf("duplicate %s", k)
		}
		seen[k] = true
	}
	if len(seen) != total {
		t.Fatalf("%d distinct messages, want %d", len(seen), total)
	}
	t.Logf("split %d / %d", len(ka), len(kb))
}

// TestMosquittoQueuedWhileAway: QoS 1 messages published while the
// consumer is away are kept for its session (same client id, clean session
// false) and delivered when it comes back.
func TestMosquittoQueuedWhileAway(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	cfg := mqtt.Config{URL: m.URL, ClientID: "fleetd-away"}
	first := startNode(t, cfg)
	first.stop()
	dev := publisher(t, m.URL, "dev1", "", "")
	base := time.Now().Add(-time.Minute)
	for i := range 25 {
		publishTelemetry(t, dev, "dev1", base.Add(time.Duration(i)*time.Millisecond))
	}
	second := startNode(t, cfg)
	eventually(t, 10*time.Second, "queued messages", func() bool { return len(second.sink.snapshot()) == 25 })
}

// TestEmbeddedBrokerConsumer: the paho consumer also works against the
// embedded broker with its internal credentials (a second fleetd, or a
// tool, reading a first one's broker).
func TestEmbeddedBrokerConsumer(t *testing.T) {
	b, err := mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, register{}, discard{}, nil, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	user, pass := b.InternalCredentials()
	url := "tcp://" + b.Addr()
	n := startNode(t, mqtt.Config{URL: url, ClientID: "fleetd-x", Username: user, Password: pass})
	dev := publisher(t, url, "dev4", "dev4", "s-dev4")
	publishTelemetry(t, dev, "dev4", time.Now())
	eventually(t, 10*time.Second, "point via embedded broker", func() bool { return len(n.sink.snapshot()) == 1 })

	// A device's credentials do not get it the service's view: the
	// subscriptions are refused, counted, and retried.
	spy := startNode(t, mqtt.Config{URL: url, ClientID: "dev5", Username: "dev5", Password: "s-dev5"})
	eventually(t, 10*time.Second, "subscription refused", func() bool {
		return metric(t, spy.reg, "fleet_mqtt_consumer_subscribe_failures_total") >= 1
	})
	publishTelemetry(t, dev, "dev4", time.Now())
	eventually(t, 10*time.Second, "second point", func() bool { return len(n.sink.snapshot()) == 2 })
	if len(spy.sink.snapshot()) != 0 {
		t.Fatal("a device read other devices' telemetry")
	}
}

type discard struct{}

func (discard) Handle(context.Context, devices.Message) error { return errors.New("discarded") }
