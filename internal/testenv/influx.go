package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// influxReadyTimeout bounds start-up: with Flux enabled InfluxDB answers /ping after about 6 s on
// an idle machine, but took 25-50 s while other builds loaded both cores, so this is generous.
const influxReadyTimeout = 120 * time.Second

// InfluxDatabase is the database StartInflux creates, and InfluxBucket its v2-compatible bucket.
const (
	InfluxDatabase = "telemetry"
	InfluxBucket   = InfluxDatabase + "/autogen"
)

// Influx is an InfluxDB 1.8 server for one test, serving both the 1.x API and the 2.x
// compatibility API (/api/v2/write, Flux on /api/v2/query) that influxdb-client-go/v2 uses.
type Influx struct {
	URL    string // http://127.0.0.1:port
	Bucket string // "telemetry/autogen": database/retention policy
	Org    string // empty: InfluxDB 1.8 ignores it
	Token  string // empty: authentication is off

	t    testing.TB
	proc *process
}

// StartInflux starts InfluxDB 1.8 with its data in a t.TempDir(), waits until it answers, creates
// the telemetry database, and stops it when the test ends.
func StartInflux(t testing.TB) *Influx {
	t.Helper()
	bin := binary(t, EnvInfluxd, cachedBinary("influxd"), "influxd")
	dir := t.TempDir()
	in := &Influx{Bucket: InfluxBucket, t: t}
	for attempt := 1; ; attempt++ {
		httpPort, rpcPort := FreePort(t), FreePort(t)
		conf := filepath.Join(dir, "influxd.conf")
		if err := os.WriteFile(conf, []byte(influxConfig(dir, httpPort, rpcPort)), 0o644); err != nil {
			t.Fatalf("testenv: influxd config: %v", err)
		}
		in.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		in.proc = &process{bin: bin, args: []string{"run", "-config", conf}, logPath: filepath.Join(dir, "influxd.log")}
		err := in.start()
		if err == nil {
			break
		}
		if attempt < 3 && in.proc.portTaken() {
			_ = in.proc.stop()
			continue
		}
		_ = in.proc.stop()
		t.Fatalf("testenv: influxd: %v\n%s", err, in.proc.logTail(30))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: influxd log (%s), last lines:\n%s", in.proc.logPath, in.proc.logTail(20))
		}
		if err := in.proc.stop(); err != nil {
			t.Errorf("testenv: stop influxd: %v", err)
		}
	})
	if err := in.query("CREATE DATABASE " + InfluxDatabase); err != nil {
		t.Fatalf("testenv: influxd: create database: %v", err)
	}
	return in
}

// influxConfig is the whole influxd configuration: everything on loopback, nothing reported home.
func influxConfig(dir string, httpPort, rpcPort int) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%[3]d"

[meta]
  dir = %[1]q

[data]
  dir = %[2]q
  wal-dir = %[4]q
  query-log-enabled = false
  # A fleet tagged by device id passes the default limit of 100,000 values per tag.
  max-values-per-tag = 0

[monitor]
  # No _internal database: it only adds writes.
  store-enabled = false

[http]
  bind-address = "127.0.0.1:%[5]d"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
`, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), rpcPort, filepath.Join(dir, "wal"), httpPort)
}

// Stop stops the server (SIGTERM) and waits for it to exit, so a test can see how its code copes
// with InfluxDB gone. Call it from the test's goroutine.
func (in *Influx) Stop() {
	in.t.Helper()
	if err := in.proc.stop(); err != nil {
		in.t.Fatalf("testenv: stop influxd: %v", err)
	}
}

// Start starts a stopped server again on the same port with the same data.
func (in *Influx) Start() {
	in.t.Helper()
	if err := in.start(); err != nil {
		_ = in.proc.stop()
		in.t.Fatalf("testenv: restart influxd: %v\n%s", err, in.proc.logTail(30))
	}
}

func (in *Influx) start() error {
	began := time.Now()
	if err := in.proc.start(); err != nil {
		return err
	}
	if err := in.proc.waitReady(influxReadyTimeout, in.ping); err != nil {
		return err
	}
	// Start-up time is the first thing to look at when a test around a restart is slow.
	in.t.Logf("testenv: influxd ready at %s after %v", in.URL, time.Since(began).Round(time.Millisecond))
	return nil
}

func (in *Influx) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("/ping: %s", resp.Status)
	}
	return nil
}

// query runs an InfluxQL statement that changes something (hence POST).
func (in *Influx) query(q string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := url.Values{"q": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/query", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	// InfluxQL reports a failed statement with 200 and an "error" member.
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"error"`) {
		return fmt.Errorf("%s: %s: %s", q, resp.Status, b)
	}
	return nil
}
