package testenv_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/internal/testenv"
)

func TestFreePort(t *testing.T) {
	p := testenv.FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("FreePort gave %d, which cannot be bound: %v", p, err)
	}
	l.Close()
}

func TestPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "postgres" || u.User.Username() == "" {
		t.Errorf("DSN %q: want postgres://user@host:port/db", dsn)
	}
}

// TestInflux checks what the service's tests rely on: both write APIs, InfluxQL and Flux queries,
// and data that survives a stop and a restart on the same URL.
func TestInflux(t *testing.T) {
	in := testenv.StartInflux(t)
	if in.Bucket != "telemetry/autogen" || in.Org != "" || in.Token != "" {
		t.Errorf("Bucket, Org, Token = %q, %q, %q", in.Bucket, in.Org, in.Token)
	}
	now := time.Now()

	// The 1.x line protocol endpoint.
	httpDo(t, http.MethodPost, in.URL+"/write?db=telemetry", "",
		fmt.Sprintf("position,device=d1 speed_kmh=42.5 %d", now.UnixNano()), http.StatusNoContent)
	// The 2.x endpoint influxdb-client-go/v2 writes to, addressed by Bucket and Org.
	httpDo(t, http.MethodPost, in.URL+"/api/v2/write?"+url.Values{"bucket": {in.Bucket}, "org": {in.Org}}.Encode(), "",
		fmt.Sprintf("position,device=d2 speed_kmh=17 %d", now.UnixNano()), http.StatusNoContent)

	want := map[string]float64{"d1": 42.5, "d2": 17}
	assertSpeeds(t, in, want)

	flux := fmt.Sprintf(`from(bucket: %q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "position")`, in.Bucket)
	csv := httpDo(t, http.MethodPost, in.URL+"/api/v2/query", "application/vnd.flux", flux, http.StatusOK)
	if !strings.Contains(csv, "42.5") || !strings.Contains(csv, "d2") {
		t.Errorf("Flux query result lacks the points:\n%s", csv)
	}

	in.Stop()
	if resp, err := http.Get(in.URL + "/ping"); err == nil {
		resp.Body.Close()
		t.Fatalf("InfluxDB still answers after Stop: %s", resp.Status)
	}
	in.Start()
	assertSpeeds(t, in, want)
}

// assertSpeeds checks the last speed_kmh of each device through InfluxQL.
func assertSpeeds(t *testing.T, in *testenv.Influx, want map[string]float64) {
	t.Helper()
	q := url.Values{"db": {"telemetry"}, "q": {`SELECT last(speed_kmh) FROM position GROUP BY device`}}
	body := httpDo(t, http.MethodGet, in.URL+"/query?"+q.Encode(), "", "", http.StatusOK)
	var res struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("query result %s: %v", body, err)
	}
	got := map[string]float64{}
	for _, r := range res.Results {
		if r.Error != "" {
			t.Fatalf("query: %s", r.Error)
		}
		for _, s := range r.Series {
			if len(s.Values) == 1 && len(s.Values[0]) == 2 {
				v, _ := s.Values[0][1].(float64)
				got[s.Tags["device"]] = v
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("speeds = %v, want %v (result %s)", got, want, body)
	}
}

func httpDo(t *testing.T, method, u, contentType, body string, wantStatus int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %s, want %d: %s", method, u, resp.Status, wantStatus, b)
	}
	return string(b)
}

func TestMosquitto(t *testing.T) {
	m := testenv.StartMosquitto(t, "")
	if m.URL != "tcp://"+m.Addr {
		t.Errorf("URL %q does not match Addr %q", m.URL, m.Addr)
	}
	if rc := mqttConnect(t, m.Addr); rc != 0 {
		t.Fatalf("CONNACK return code %d, want 0 (accepted)", rc)
	}
	m.Stop()
	if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("broker still accepts connections after Stop")
	}
	m.Start()
	if rc := mqttConnect(t, m.Addr); rc != 0 {
		t.Fatalf("after restart: CONNACK return code %d, want 0", rc)
	}
}

func TestMosquittoExtraConf(t *testing.T) {
	// Without a password file, refusing anonymous clients refuses everyone.
	m := testenv.StartMosquitto(t, "allow_anonymous false")
	if rc := mqttConnect(t, m.Addr); rc != 5 {
		t.Fatalf("CONNACK return code %d, want 5 (not authorised)", rc)
	}
}

// mqttConnect sends an MQTT 3.1.1 CONNECT, the version paho.mqtt.golang speaks, and returns the
// broker's CONNACK return code.
func mqttConnect(t *testing.T, addr string) byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const clientID = "testenv"
	// Variable header: protocol name "MQTT", level 4, clean session, keep-alive 60 s.
	packet := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 60, 0x00, byte(len(clientID))}
	packet = append(packet, clientID...)
	packet = append([]byte{0x10, byte(len(packet))}, packet...)
	if _, err := c.Write(packet); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(bufio.NewReader(c), ack); err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 0x02 {
		t.Fatalf("not a CONNACK: % x", ack)
	}
	return ack[3]
}

func TestFFmpeg(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	for _, bin := range []string{ffmpeg, ffprobe} {
		out, err := exec.Command(bin, "-hide_banner", "-version").CombinedOutput()
		if err != nil {
			t.Errorf("%s -version: %v\n%s", bin, err, out)
		}
	}
}

func TestChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Chromium") {
		t.Errorf("%s --version: %v\n%s", bin, err, out)
	}
}
