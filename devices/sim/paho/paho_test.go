package paho

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/devices/sim"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/internal/testenv"
)

// recorder is an MQTT client that keeps what it hears.
type recorder struct {
	mu   sync.Mutex
	msgs map[string][]string // topic → payloads
}

func listen(t *testing.T, url, filter string) *recorder {
	t.Helper()
	r := &recorder{msgs: map[string][]string{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("observer-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.msgs[m.Topic()] = append(r.msgs[m.Topic()], string(m.Payload()))
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	return r
}

func (r *recorder) get(topic string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[topic]...)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testDevices(n int) []sim.Device {
	kinds := []struct {
		kind fleet.DeviceKind
		role sim.Role
	}{{fleet.KindRecorder, sim.Patrol}, {fleet.KindVehicleTerminal, sim.Vehicle}, {fleet.KindAISUnit, sim.Vessel}}
	var ds []sim.Device
	for i := range n {
		k := kinds[i%len(kinds)]
		ds = append(ds, sim.Device{ID: fmt.Sprintf("dev_%02d", i), Secret: "s", Kind: k.kind, Role: k.role, Origin: sim.Wuhan})
	}
	return ds
}

// TestSimulationOverMosquitto runs simulated devices against a real broker
// and reads them back as the ingest side would.
func TestSimulationOverMosquitto(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	obs := listen(t, m.URL, devices.TopicRoot+"/#")
	devs := testDevices(9)
	s := sim.New(sim.Config{Interval: 200 * time.Millisecond, Buckets: 4, Workers: 2, Dialers: 4, Seed: 1,
		SOSPerHour: -1, DropsPerHour: -1}, devs, &Dialer{URL: m.URL}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, d := range devs {
		waitFor(t, d.ID+" telemetry", func() bool { return len(obs.get(devices.DeviceTopic(d.ID, devices.TopicTelemetry))) >= 5 })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		for _, p := range obs.get(devices.DeviceTopic(d.ID, devices.TopicTelemetry)) {
			if _, err := devices.DecodeTelemetry([]byte(p), time.Now()); err != nil {
				t.Errorf("%s: telemetry %s: %v", d.ID, p, err)
			}
		}
		state := devices.DeviceTopic(d.ID, devices.TopicState)
		waitFor(t, d.ID+" offline", func() bool {
			st := obs.get(state)
			return len(st) >= 2 && st[0] == "online" && st[len(st)-1] == "offline"
		})
	}
	// The offline state is retained: a late subscriber learns it at once.
	late := listen(t, m.URL, devices.SubscriptionFilter(devices.TopicState))
	for _, d := range devs {
		waitFor(t, d.ID+" retained state", func() bool {
			st := late.get(devices.DeviceTopic(d.ID, devices.TopicState))
			return len(st) == 1 && st[0] == "offline"
		})
	}
	if st := s.Stats(); st.Connects != int64(len(devs)) || st.PublishErrors != 0 || st.Online != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWill cuts a device's connection without a DISCONNECT, as a flat
// battery or a tunnel does: the broker publishes its will, "offline".
func TestWill(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	obs := listen(t, m.URL, devices.SubscriptionFilter(devices.TopicState))
	proxy := newProxy(t, m.Addr)
	d := testDevices(1)[0]
	conn, err := (&Dialer{URL: "tcp://" + proxy.addr(), KeepAlive: 2 * time.Second}).Dial(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	state := devices.DeviceTopic(d.ID, devices.TopicState)
	if err := conn.Publish(state, 1, true, []byte(devices.StateOnline)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "online", func() bool { st := obs.get(state); return len(st) == 1 && st[0] == "online" })
	proxy.cut()
	waitFor(t, "the will", func() bool { st := obs.get(state); return len(st) == 2 && st[1] == "offline" })
	waitFor(t, "the client to notice", func() bool { return !conn.Connected() })
	if err := conn.Publish(devices.DeviceTopic(d.ID, devices.TopicTelemetry), 0, false, []byte(`{}`)); err == nil {
		t.Error("publish on a cut connection succeeded")
	}
}

// proxy forwards TCP to the broker and can cut every connection at once.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(up, c); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

// cut closes both sides of every connection: the broker sees the client
// vanish without a DISCONNECT.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
