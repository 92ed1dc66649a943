package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

const (
	influxDatabase = "telemetry"
	influxBucket   = influxDatabase + "/autogen"
)

// startInfluxd starts InfluxDB 1.8 with its data under dir, configured as
// the tests and production are (everything on loopback, nothing reported
// home, no limit on values per tag: a fleet of 100,000 devices tagged by
// id passes the default 100,000), waits until it answers and creates the
// database.
func startInfluxd(ctx context.Context, bin, dir string, snapshotMB int) (*loadproc.Child, *influxClient, error) {
	httpPort, err := loadproc.FreePort()
	if err != nil {
		return nil, nil, err
	}
	rpcPort, err := loadproc.FreePort()
	if err != nil {
		return nil, nil, err
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%[3]d"

[meta]
  dir = %[1]q

[data]
  dir = %[2]q
  wal-dir = %[4]q
  query-log-enabled = false
  max-values-per-tag = 0
%[6]s
[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:%[5]d"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
`, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), rpcPort, filepath.Join(dir, "wal"), httpPort,
		snapshotConf(snapshotMB))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	c, err := loadproc.Start("influxd", bin, []string{"run", "-config", path}, filepath.Join(dir, "influxd.log"), loadproc.Options{})
	if err != nil {
		return nil, nil, err
	}
	in := newInfluxClient(fmt.Sprintf("http://127.0.0.1:%d", httpPort), 4)
	// Start-up takes about 6 s on an idle machine, much longer while
	// others build: be generous.
	if err := c.WaitFor(2*time.Minute, func() error { return in.ping(ctx) }); err != nil {
		c.Stop(10 * time.Second)
		return nil, nil, err
	}
	if err := in.exec(ctx, "CREATE DATABASE "+influxDatabase); err != nil {
		c.Stop(10 * time.Second)
		return nil, nil, err
	}
	return c, in, nil
}

// snapshotConf raises the size at which InfluxDB writes its cache to a
// TSM file (default 25 MB). Every snapshot writes an index entry for each
// series and field it holds; with 100,000 devices × 10 fields nearly all
// of them are in every 25 MB snapshot with one or two values each, and
// the snapshots run back to back.
func snapshotConf(mb int) string {
	if mb <= 0 {
		return ""
	}
	return fmt.Sprintf("  cache-snapshot-memory-size = \"%dm\"\n  cache-max-memory-size = \"%dm\"\n", mb, max(1024, 4*mb))
}

// influxClient speaks InfluxDB 1.8's HTTP API: /ping, InfluxQL on
// /query, and line protocol on /api/v2/write (the endpoint the service's
// client library uses).
type influxClient struct {
	url  string
	http *http.Client
}

func newInfluxClient(base string, conns int) *influxClient {
	tr := &http.Transport{MaxIdleConns: conns + 4, MaxIdleConnsPerHost: conns + 4, IdleConnTimeout: time.Minute}
	return &influxClient{url: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

func (c *influxClient) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/ping", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("/ping: %s", resp.Status)
	}
	return nil
}

// write posts line protocol with nanosecond timestamps.
func (c *influxClient) write(ctx context.Context, body []byte) error {
	u := c.url + "/api/v2/write?" + url.Values{"bucket": {influxBucket}, "precision": {"ns"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("write: %s: %s", resp.Status, b)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// exec runs an InfluxQL statement that changes something (POST).
func (c *influxClient) exec(ctx context.Context, q string) error {
	_, err := c.do(ctx, http.MethodPost, q)
	return err
}

// query runs an InfluxQL query with times in epoch milliseconds.
func (c *influxClient) query(ctx context.Context, q string) ([]influxSeries, error) {
	return c.do(ctx, http.MethodGet, q)
}

// influxSeries is one series of an InfluxQL answer.
type influxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func (c *influxClient) do(ctx context.Context, method, q string) ([]influxSeries, error) {
	v := url.Values{"db": {influxDatabase}, "q": {q}, "epoch": {"ms"}}
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequestWithContext(ctx, method, c.url+"/query?"+v.Encode(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, c.url+"/query", strings.NewReader(v.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	return parseInfluxQL(resp.StatusCode, b)
}

// parseInfluxQL reads an InfluxQL answer; a failed statement comes with
// status 200 and an "error" member.
func parseInfluxQL(status int, b []byte) ([]influxSeries, error) {
	var r struct {
		Results []struct {
			Series []influxSeries `json:"series"`
			Error  string         `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("query: status %d: %.200s", status, b)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("query: %s", r.Error)
	}
	var out []influxSeries
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("query: %s", res.Error)
		}
		out = append(out, res.Series...)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("query: status %d", status)
	}
	return out, nil
}

// count is the number of telemetry points with a position in [from, to].
func (c *influxClient) count(ctx context.Context, from, to time.Time) (int64, error) {
	q := fmt.Sprintf(`SELECT count("lat") FROM "telemetry" WHERE time >= %dms AND time <= %dms`,
		from.UnixMilli(), to.UnixMilli())
	ss, err := c.query(ctx, q)
	if err != nil {
		return 0, err
	}
	if len(ss) == 0 || len(ss[0].Values) == 0 || len(ss[0].Values[0]) < 2 {
		return 0, nil
	}
	n, err := ss[0].Values[0][1].(json.Number).Int64()
	if err != nil {
		return 0, fmt.Errorf("count: %v", ss[0].Values[0][1])
	}
	return n, nil
}
