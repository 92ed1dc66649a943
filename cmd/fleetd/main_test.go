package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/internal/testenv"
)

const adminPW = "admin-password-1"

// startMain runs the whole service on free ports, as fleetd would.
func startMain(t *testing.T, args ...string) *Main {
	t.Helper()
	args = append([]string{"-data", t.TempDir(), "-http", "127.0.0.1:0", "-mqtt", "127.0.0.1:0",
		"-rtsp", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-admin-password", adminPW}, args...)
	cfg, err := ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.DiscardHandler), io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

type api struct {
	t     *testing.T
	base  string
	token string
}

func (a *api) do(method, path string, body, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			a.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// register signs in as admin and registers a recorder in a new province.
func register(t *testing.T, m *Main) (*api, fleet.NewDevice) {
	a := &api{t: t, base: "http://" + m.HTTPAddr()}
	var s struct{ Token string }
	if code := a.do("POST", "/api/v1/session", map[string]string{"username": "admin", "password": adminPW}, &s); code != 200 {
		t.Fatalf("login: %d", code)
	}
	a.token = s.Token
	var u fleet.Unit
	a.do("POST", "/api/v1/units", fleet.UnitInput{Code: "420000", Name: "湖北省", Level: fleet.LevelProvince}, &u)
	var d fleet.NewDevice
	if code := a.do("POST", "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "ZFY-0001", UnitID: u.ID}, &d); code != 201 {
		t.Fatalf("create device: %d", code)
	}
	return a, d
}

func connect(t *testing.T, broker, id, secret string) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func publish(t *testing.T, c paho.Client, topic string, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metric(t *testing.T, m *Main, name string) string {
	resp, err := http.Get("http://" + m.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// TestEmbeddedDefaults runs fleetd as README command 1 does (embedded
// register, broker and time series) and drives it as a device and a
// manager would: over MQTT and HTTP.
func TestEmbeddedDefaults(t *testing.T) {
	m := startMain(t)
	a, d := register(t, m)
	broker := "tcp://" + m.MQTTAddr()

	if _, err := connect(t, broker, d.ID, "wrong-secret"); err == nil {
		t.Fatal("wrong secret accepted")
	}
	c, err := connect(t, broker, d.ID, d.MQTTSecret)
	if err != nil {
		t.Fatalf("device refused: %v", err)
	}
	ts := time.Now().UnixMilli()
	publish(t, c, "fleet/v1/"+d.ID+"/telemetry",
		fmt.Sprintf(`{"ts":%d,"lat":30.59,"lon":114.30,"speed_kmh":12.5,"battery_pct":81}`, ts))
	publish(t, c, "fleet/v1/"+d.ID+"/telemetry", fmt.Sprintf(`{"ts":%d,"lat":200,"lon":114.3}`, ts))

	// A check-in marks the recorder as seen, which the coverage report's
	// active figure counts.
	eventually(t, "check-in", func() bool {
		var got fleet.Device
		a.do("GET", "/api/v1/devices/"+d.ID, nil, &got)
		return got.LastSeenAt != nil
	})
	eventually(t, "point written", func() bool { return metric(t, m, "fleet_ingest_points_written_total") == "1" })
	eventually(t, "lat 200 rejected and counted", func() bool {
		return metric(t, m, `fleet_ingest_rejected_total{kind="telemetry",reason="out_of_range"}`) == "1"
	})
	// An enforcement boat's AIS unit relays its own ship's report.
	var ais fleet.NewDevice
	var units struct{ Items []fleet.Unit }
	a.do("GET", "/api/v1/units", nil, &units)
	if code := a.do("POST", "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindAISUnit, Serial: "AIS-0001",
		UnitID: units.Items[0].ID, MMSI: "371798000"}, &ais); code != 201 {
		t.Fatalf("create AIS unit: %d", code)
	}
	boat, err := connect(t, broker, ais.ID, ais.MQTTSecret)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, boat, "fleet/v1/"+ais.ID+"/nmea", "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\r\n")
	publish(t, boat, "fleet/v1/"+ais.ID+"/nmea", "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*FF")
	var v struct {
		MMSI        string  `json:"mmsi"`
		Lat         float64 `json:"lat"`
		Enforcement bool    `json:"enforcement"`
	}
	eventually(t, "vessel on the map", func() bool {
		return a.do("GET", "/api/v1/vessels/371798000", nil, &v) == 200
	})
	if v.Lat < 48.38 || v.Lat > 48.39 || !v.Enforcement {
		t.Errorf("vessel = %+v, want lat 48.3816 and enforcement", v)
	}
	eventually(t, "bad checksum counted", func() bool {
		return metric(t, m, `fleet_ais_bad_input_total{kind="checksum"}`) == "1"
	})

	// The coverage engine is wired: a province with no eligible officer
	// has no rate (null), not 100 %.
	var cov map[string]any
	if code := a.do("GET", "/api/v1/coverage?unit="+units.Items[0].ID, nil, &cov); code != 200 {
		t.Fatalf("coverage: %d %v", code, cov)
	}
	if cov["eligible"] != 0.0 || cov["rate"] != nil {
		t.Errorf("coverage = %v, want eligible 0 and rate null", cov)
	}

	var ready map[string]any
	if code := a.do("GET", "/readyz", nil, &ready); code != 200 {
		t.Errorf("readyz %d %v", code, ready)
	}
}

// TestExternalServers runs fleetd against a real Mosquitto and InfluxDB,
// as in production: telemetry published with paho reaches InfluxDB.
func TestExternalServers(t *testing.T) {
	mq := testenv.StartMosquitto(t, "")
	in := testenv.StartInflux(t)
	m := startMain(t, "-mqtt-url", mq.URL, "-influx-url", in.URL, "-influx-bucket", in.Bucket)
	_, d := register(t, m)

	c, err := connect(t, mq.URL, d.ID, d.MQTTSecret)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer subscribes asynchronously; keep publishing until a
	// point lands, then check InfluxDB has it.
	from := time.Now().Add(-time.Minute)
	eventually(t, "telemetry in InfluxDB", func() bool {
		publish(t, c, "fleet/v1/"+d.ID+"/telemetry",
			fmt.Sprintf(`{"ts":%d,"lat":30.59,"lon":114.30}`, time.Now().UnixMilli()))
		pts, err := m.series.Track(context.Background(), d.ID, from, time.Now().Add(time.Minute), 100)
		return err == nil && len(pts) > 0 && pts[0].Lat == 30.59
	})
	q := url.Values{"db": {"telemetry"}, "q": {`SELECT count(lat) FROM telemetry WHERE device='` + d.ID + `'`}}
	resp, err := http.Get(in.URL + "/query?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"count"`) {
		t.Errorf("InfluxDB query: %s", b)
	}
}
