package mqttbroker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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
	"github.com/lawfleet/fleet/ingest/mqttbroker"
	"github.com/lawfleet/fleet/ingest/series"
)

// register is a fake fleet.Register: device secrets and units.
type register struct {
	secrets map[string]string
	devices map[string]fleet.Device
}

func newRegister() *register {
	r := &register{secrets: map[string]string{}, devices: map[string]fleet.Device{}}
	for i, id := range []string{"rec1", "rec2", "rec3"} {
		r.secrets[id] = "secret-" + id
		r.devices[id] = fleet.Device{ID: id, Kind: fleet.KindRecorder, UnitID: "unit_" + strconv.Itoa(i%2)}
	}
	return r
}

func (r *register) AuthenticateDevice(_ context.Context, id, secret string) (fleet.Device, error) {
	if id == "rec_down" {
		return fleet.Device{}, errors.New("database is down")
	}
	if s, ok := r.secrets[id]; !ok || s != secret {
		return fleet.Device{}, fleet.Errorf(fleet.EUNAUTHORIZED, "unknown device or wrong secret")
	}
	return r.devices[id], nil
}

func (r *register) LookupDevice(_ context.Context, id string) (fleet.Device, error) {
	if d, ok := r.devices[id]; ok {
		return d, nil
	}
	return fleet.Device{}, fleet.Errorf(fleet.ENOTFOUND, "not found")
}

func (r *register) OpenAssignment(_ context.Context, id string) (bool, error) {
	return id == "rec1", nil
}

// sink records the points written.
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

// env is an embedded broker on a loopback port in front of a real
// pipeline.
type env struct {
	reg    *prometheus.Registry
	sink   *sink
	live   *ingest.Live
	alerts *ingest.Alerts
	broker *mqttbroker.Broker
}

func newEnv(t *testing.T, live ingest.LiveConfig, pcfg ingest.Config) *env {
	t.Helper()
	e := &env{reg: prometheus.NewRegistry(), sink: &sink{}}
	reg := newRegister()
	logger := testLogger()
	hub, err := ingest.NewHub(ingest.HubConfig{}, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	if e.live, err = ingest.NewLive(live, hub, e.reg); err != nil {
		t.Fatal(err)
	}
	if e.alerts, err = ingest.NewAlerts(ingest.AlertsConfig{}, ingest.NewMemoryAlertStore(0), reg, hub, e.reg, logger); err != nil {
		t.Fatal(err)
	}
	if pcfg.FlushInterval == 0 {
		pcfg.FlushInterval = 10 * time.Millisecond
	}
	p, err := ingest.NewPipeline(pcfg, ingest.Deps{
		Writer: e.sink, Directory: reg, Live: e.live, Alerts: e.alerts, Registry: e.reg, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.broker, err = mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, reg, p, e.reg, logger); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if err := e.broker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.broker.Close() // intake first, then the pipeline drains
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return e
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// dial connects a paho client; conn receives the TCP connection so that a
// test can cut it (which makes the broker send the will).
func dial(broker, clientID, user, pass string, configure func(*paho.ClientOptions)) (paho.Client, *net.Conn, error) {
	var conn net.Conn
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true).
		SetProtocolVersion(4). // no second try with MQTT 3.1 after a refusal
		SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", uri.Host, 5*time.Second)
			conn = c
			return c, err
		})
	if configure != nil {
		configure(opts)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, nil, err
	}
	return c, &conn, nil
}

func (e *env) url() string { return "tcp://" + e.broker.Addr() }

func (e *env) device(t *testing.T, id string) paho.Client {
	t.Helper()
	c, _, err := dial(e.url(), id, id, "secret-"+id, nil)
	if err != nil {
		t.Fatalf("device %s: %v", id, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, retained bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// subscribe subscribes to one filter at QoS 1 and returns the SUBACK code.
func subscribe(t *testing.T, c paho.Client, filter string, h paho.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, h)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code // paho keys the result by the filter without $share/…
	}
	t.Fatalf("subscribe %s: no result", filter)
	return 0
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
		time.Sleep(5 * time.Millisecond)
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestTelemetryReachesSinkAndLiveState(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c := e.device(t, "rec1")
	now := time.Now()
	publish(t, c, "fleet/v1/rec1/state", 1, true, "online")
	publish(t, c, "fleet/v1/rec1/telemetry", 1, false,
		`{"ts":`+ms(now)+`,"lat":30.592849,"lon":114.305539,"speed_kmh":4.2,"battery_pct":76,"recording":true}`)
	publish(t, c, "fleet/v1/rec1/telemetry", 0, false,
		`[{"ts":`+ms(now.Add(time.Second))+`,"lat":30.6,"lon":114.31},{"ts":`+ms(now.Add(2*time.Second))+`,"lat":30.7,"lon":114.32}]`)

	eventually(t, 5*time.Second, "3 points", func() bool { return len(e.sink.snapshot()) == 3 })
	p := e.sink.snapshot()[0]
	if p.Tags["device"] != "rec1" || p.Tags["unit"] != "unit_0" || p.Tags["kind"] != "recorder" || p.Fields["lat"] != 30.592849 {
		t.Fatalf("point %+v", p)
	}
	lp, ok := e.live.Get("rec1")
	if !ok || !lp.Online || *lp.Lat != 30.7 || *lp.BatteryPct != 76 || lp.UnitID != "unit_0" {
		t.Fatalf("live %+v", lp)
	}
	if got := metric(t, e.reg, "fleet_mqtt_broker_device_connects_total"); got != 1 {
		t.Errorf("device_connects_total = %v", got)
	}
}

func TestWillMessageTakesDeviceOffline(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c, conn, err := dial(e.url(), "rec2", "rec2", "secret-rec2", func(o *paho.ClientOptions) {
		o.SetWill("fleet/v1/rec2/state", "offline", 1, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	publish(t, c, "fleet/v1/rec2/state", 1, true, "online")
	eventually(t, 5*time.Second, "online", func() bool { d, _ := e.live.Get("rec2"); return d.Online })
	(*conn).Close() // no DISCONNECT: the broker publishes the will
	eventually(t, 5*time.Second, "offline by will", func() bool { d, _ := e.live.Get("rec2"); return !d.Online })
}

func TestConnectRefused(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	user, _ := e.broker.InternalCredentials()
	tests := []struct {
		name, clientID, user, pass, reason string
		will                               string
	}{
		{"wrong secret", "rec1", "rec1", "guess", mqttbroker.RefusedCredentials, ""},
		{"no password", "rec1", "rec1", "", mqttbroker.RefusedCredentials, ""},
		{"unknown device", "rec9", "rec9", "secret-rec9", mqttbroker.RefusedCredentials, ""},
		{"client id is not the username", "rec2", "rec1", "secret-rec1", mqttbroker.RefusedIdentity, ""},
		{"username is not a device id", "a/b", "a/b", "x", mqttbroker.RefusedIdentity, ""},
		{"wrong internal secret", "svc", user, "guess", mqttbroker.RefusedCredentials, ""},
		{"will on a foreign topic", "rec1", "rec1", "secret-rec1", mqttbroker.RefusedWill, "fleet/v1/rec2/state"},
		{"register down", "rec_down", "rec_down", "x", mqttbroker.RefusedUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", tt.reason)
			c, _, err := dial(e.url(), tt.clientID, tt.user, tt.pass, func(o *paho.ClientOptions) {
				if tt.will != "" {
					o.SetWill(tt.will, "offline", 1, true)
				}
			})
			if err == nil {
				c.Disconnect(0)
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), "bad user name or password") && !strings.Contains(err.Error(), "not Authorized") {
				t.Logf("refused with: %v", err)
			}
			if got := metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", tt.reason); got != before+1 {
				t.Fatalf("refused{%s} = %v, want %v", tt.reason, got, before+1)
			}
		})
	}
}

func TestTopicACL(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	rec1 := e.device(t, "rec1")
	now := time.Now()
	good := `{"ts":` + ms(now) + `,"lat":30,"lon":114}`

	// QoS 0 to a foreign topic: dropped; QoS 1: dropped and the client
	// is disconnected (MQTT 3.1.1 has no negative PUBACK).
	publish(t, rec1, "fleet/v1/rec2/telemetry", 0, false, good)
	eventually(t, 5*time.Second, "publish refusal", func() bool {
		return metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", mqttbroker.RefusedPublish) == 1
	})
	rec1.Publish("fleet/v1/rec2/telemetry", 1, false, good).WaitTimeout(time.Second)
	eventually(t, 5*time.Second, "second publish refusal", func() bool {
		return metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", mqttbroker.RefusedPublish) == 2
	})
	eventually(t, 5*time.Second, "disconnect", func() bool { return !rec1.IsConnectionOpen() })

	rec3 := e.device(t, "rec3")
	publish(t, rec3, "fleet/v1/rec3/cmd/firmware.update", 0, false, "{}") // devices do not send commands
	for _, filter := range []string{"fleet/v1/rec1/cmd/#", "fleet/v1/+/cmd/#", "fleet/#", "$share/x/fleet/v1/rec3/cmd/#"} {
		if code := subscribe(t, rec3, filter, nil); code != 0x80 {
			t.Errorf("subscribe %s: granted %#x", filter, code)
		}
	}
	eventually(t, 5*time.Second, "refusals counted", func() bool {
		return metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", mqttbroker.RefusedSubscribe) == 4 &&
			metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", mqttbroker.RefusedPublish) == 3
	})

	// Its own commands it may subscribe to, and gets them.
	got := make(chan string, 1)
	if code := subscribe(t, rec3, "fleet/v1/rec3/cmd/#", func(_ paho.Client, m paho.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	}); code != 1 {
		t.Fatalf("own cmd subscription: code %#x", code)
	}
	if err := e.broker.Publish(devices.CommandTopic("rec3", "stream.start"), []byte(`{"url":"rtsp://x"}`), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != `fleet/v1/rec3/cmd/stream.start {"url":"rtsp://x"}` {
			t.Fatalf("got %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command not delivered")
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(e.sink.snapshot()); n != 0 {
		t.Fatalf("%d points written from refused publishes", n)
	}
	if _, ok := e.live.Get("rec2"); ok {
		t.Fatal("rec1's publish as rec2 reached the live state")
	}
}

func TestMalformedPayloadsRejected(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c := e.device(t, "rec1")
	now := time.Now()
	payloads := []struct{ payload, reason string }{
		{`{"ts":` + ms(now) + `,"lat":30.5,`, "syntax"},
		{`{"ts":` + ms(now) + `,"lat":"30.5","lon":114}`, "wrong_type"},
		{`{"ts":` + ms(now) + `,"battery_pct":true}`, "wrong_type"},
		{`{"ts":` + ms(now) + `,"lat":200,"lon":114}`, "out_of_range"},
		{`{"ts":` + ms(now.Add(24*time.Hour)) + `,"lat":30,"lon":114}`, "ts_future"},
		{`{"ts":` + ms(now) + `,"pad":"` + strings.Repeat("x", 100<<10) + `"}`, "too_large"},
	}
	for _, p := range payloads {
		publish(t, c, "fleet/v1/rec1/telemetry", 1, false, p.payload)
	}
	eventually(t, 5*time.Second, "rejections", func() bool {
		return metric(t, e.reg, "fleet_ingest_rejected_total") == float64(len(payloads))
	})
	for _, p := range payloads {
		if metric(t, e.reg, "fleet_ingest_rejected_total", "kind", "telemetry", "reason", p.reason) == 0 {
			t.Errorf("no rejection counted for %s", p.reason)
		}
	}

	// 1 MB: over the broker's packet limit, the client is cut off.
	c.Publish("fleet/v1/rec1/telemetry", 0, false, strings.Repeat("x", 1<<20)).WaitTimeout(time.Second)
	eventually(t, 5*time.Second, "packet_too_large", func() bool {
		return metric(t, e.reg, "fleet_mqtt_broker_refused_total", "reason", mqttbroker.RefusedPacketTooLarge) == 1
	})
	time.Sleep(50 * time.Millisecond)
	if n := len(e.sink.snapshot()); n != 0 {
		t.Fatalf("%d points written from malformed payloads", n)
	}
	if _, ok := e.live.Get("rec1"); ok {
		t.Fatal("a malformed payload reached the live state")
	}
}

func TestSOSAlertAndAck(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c := e.device(t, "rec1")
	now := time.Now()
	publish(t, c, "fleet/v1/rec1/telemetry", 1, false, `{"ts":`+ms(now)+`,"lat":30.59,"lon":114.30}`)
	publish(t, c, "fleet/v1/rec1/event", 1, false, `{"ts":`+ms(now)+`,"type":"sos","detail":"button"}`)
	publish(t, c, "fleet/v1/rec1/event", 1, false, `{"ts":`+ms(now.Add(time.Second))+`,"type":"sos"}`)
	var open []ingest.Alert
	eventually(t, 5*time.Second, "SOS alert", func() bool {
		open, _ = e.alerts.List(context.Background(), ingest.AlertFilter{OpenOnly: true})
		return len(open) == 1 && open[0].Repeats == 1
	})
	al := open[0]
	if al.Kind != ingest.AlertSOS || al.Priority != ingest.PriorityCritical || al.Lat == nil || *al.Lat != 30.59 {
		t.Fatalf("alert %+v", al)
	}
	before := time.Now()
	acked, err := e.alerts.Ack(context.Background(), al.ID, "usr_commander", "on my way")
	if err != nil {
		t.Fatal(err)
	}
	if acked.AckedBy != "usr_commander" || acked.AckedAt.Before(before) || acked.Timeline[1].Note != "on my way" {
		t.Fatalf("acked %+v", acked)
	}
	publish(t, c, "fleet/v1/rec1/event", 1, false, `{"ts":`+ms(now.Add(2*time.Second))+`,"type":"sos_clear"}`)
	eventually(t, 5*time.Second, "cleared", func() bool {
		a, _ := e.alerts.Get(context.Background(), al.ID)
		return !a.Open() && a.ClearedBy == ingest.ByDevice
	})
	if n := metric(t, e.reg, "fleet_alerts_raised_total", "kind", "sos"); n != 1 {
		t.Fatalf("raised %v SOS alerts, want 1", n)
	}
}

func TestSilenceTakesDeviceOffline(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{OfflineAfter: 200 * time.Millisecond}, ingest.Config{SweepEvery: 20 * time.Millisecond})
	c := e.device(t, "rec1") // assigned: the register says so
	publish(t, c, "fleet/v1/rec1/telemetry", 1, false, `{"ts":`+ms(time.Now())+`,"battery_pct":80}`)
	eventually(t, 5*time.Second, "online", func() bool { d, _ := e.live.Get("rec1"); return d.Online })
	eventually(t, 5*time.Second, "offline after silence", func() bool { d, _ := e.live.Get("rec1"); return !d.Online })
	eventually(t, 5*time.Second, "offline alert", func() bool {
		open, _ := e.alerts.List(context.Background(), ingest.AlertFilter{OpenOnly: true})
		return len(open) == 1 && open[0].Kind == ingest.AlertOffline
	})
}

func TestInternalClientSeesEverything(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	user, pass := e.broker.InternalCredentials()
	svc, _, err := dial(e.url(), "fleetd-monitor", user, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Disconnect(100)
	got := make(chan string, 10)
	if tok := svc.Subscribe("fleet/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c := e.device(t, "rec2")
	publish(t, c, "fleet/v1/rec2/event", 1, false, fmt.Sprintf(`{"ts":%d,"type":"power_on"}`, time.Now().UnixMilli()))
	select {
	case topic := <-got:
		if topic != "fleet/v1/rec2/event" {
			t.Fatalf("got %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("internal client got nothing")
	}
	publish(t, svc, "fleet/v1/rec2/cmd/stream.stop", 1, false, "{}") // service clients may command
}

func TestOnlyStateIsRetained(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c := e.device(t, "rec3")
	now := time.Now()
	publish(t, c, "fleet/v1/rec3/state", 1, true, "online")
	publish(t, c, "fleet/v1/rec3/telemetry", 1, true, `{"ts":`+ms(now)+`,"battery_pct":50}`)
	// mochi acknowledges before it fans out: wait until the telemetry
	// went through, so that the reader below can only get retained copies.
	eventually(t, 5*time.Second, "telemetry processed", func() bool {
		d, _ := e.live.Get("rec3")
		return d.BatteryPct != nil
	})
	user, pass := e.broker.InternalCredentials()
	svc, _, err := dial(e.url(), "late-reader", user, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Disconnect(100)
	got := make(chan string, 10)
	subscribe(t, svc, "fleet/v1/rec3/+", func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	select {
	case topic := <-got:
		if topic != "fleet/v1/rec3/state" {
			t.Fatalf("retained %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained state not delivered")
	}
	select {
	case topic := <-got:
		t.Fatalf("also retained: %s", topic)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBrokerLifecycle(t *testing.T) {
	if _, err := mqttbroker.New(mqttbroker.Config{}, nil, nil, nil, nil); err == nil {
		t.Fatal("New without authenticator and handler")
	}
	b, err := mqttbroker.New(mqttbroker.Config{}, newRegister(), discard{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr() != "" {
		t.Fatalf("addr %q without a listener", b.Addr())
	}
	_ = b.Close() // before Start
	_ = b.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy, _ := mqttbroker.New(mqttbroker.Config{Addr: l.Addr().String()}, newRegister(), discard{}, nil, nil)
	if err := busy.Start(context.Background()); err == nil {
		t.Fatal("started on a busy port")
	}
	_ = busy.Close()

	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	ok, _ := mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, newRegister(), discard{}, reg, nil)
	done := make(chan error)
	go func() { done <- ok.Run(ctx) }()
	eventually(t, 5*time.Second, "listening", func() bool { return ok.Addr() != "" && !strings.HasSuffix(ok.Addr(), ":0") })
	if err := ok.Start(ctx); err == nil {
		t.Fatal("started twice")
	}
	if _, dup := mqttbroker.New(mqttbroker.Config{}, newRegister(), discard{}, reg, nil); dup == nil {
		t.Fatal("second broker registered the same metrics")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type discard struct{}

func (discard) Handle(context.Context, devices.Message) error { return nil }

// Device messages reach the Handler once each, whether they skip mochi's
// subscription index (no service client reading) or go through it (one
// is), and the service client gets its copies from then on.
func TestDeviceMessagesDeliveredOnce(t *testing.T) {
	e := newEnv(t, ingest.LiveConfig{}, ingest.Config{})
	c := e.device(t, "rec1")
	base := time.Now().Add(-time.Minute)
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			publish(t, c, "fleet/v1/rec1/telemetry", byte(i%2), false,
				`{"ts":`+ms(base.Add(time.Duration(i)*time.Millisecond))+`,"battery_pct":50}`)
		}
	}
	count := func(want int) {
		t.Helper()
		eventually(t, 5*time.Second, strconv.Itoa(want)+" points", func() bool { return len(e.sink.snapshot()) >= want })
		time.Sleep(50 * time.Millisecond) // room for a duplicate to show up
		if got := len(e.sink.snapshot()); got != want {
			t.Fatalf("%d points, want %d", got, want)
		}
	}
	send(0, 20)
	count(20)

	user, pass := e.broker.InternalCredentials()
	svc, _, err := dial(e.url(), "fleetd-monitor", user, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Disconnect(100)
	var seen sync.Map
	subscribe(t, svc, "fleet/v1/+/telemetry", func(_ paho.Client, m paho.Message) { seen.Store(string(m.Payload()), true) })
	send(20, 20)
	count(40)
	eventually(t, 5*time.Second, "the service client's copies", func() bool {
		n := 0
		seen.Range(func(any, any) bool { n++; return true })
		return n == 20
	})
}

// failing is a Handler that gives up on every message.
type failing struct{}

func (failing) Handle(context.Context, devices.Message) error { return errors.New("shutting down") }

// A QoS 1 message the Handler gives up on is not acknowledged, so the
// device keeps it and sends it again; the drop is counted.
func TestGivenUpMessageNotAcknowledged(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, err := mqttbroker.New(mqttbroker.Config{Addr: "127.0.0.1:0"}, newRegister(), failing{}, reg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, _, err := dial("tcp://"+b.Addr(), "rec1", "rec1", "secret-rec1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)
	payload := `{"ts":` + ms(time.Now()) + `,"battery_pct":50}`
	if tok := c.Publish("fleet/v1/rec1/telemetry", 1, false, payload); tok.WaitTimeout(500 * time.Millisecond) {
		t.Fatalf("QoS 1 publish acknowledged (err %v)", tok.Error())
	}
	publish(t, c, "fleet/v1/rec1/telemetry", 0, false, payload)
	eventually(t, 5*time.Second, "drops counted", func() bool {
		return metric(t, reg, "fleet_mqtt_broker_dropped_total", "reason", "handler") == 2
	})
}
