package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/internal/loadproc"
)

// loadDevice is a registered device the tool may connect as.
type loadDevice struct {
	ID, Secret string
}

const adminPassword = "fleetload-admin-1" // of the throw-away register only

func newSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// seedRegister creates the register that fleetd will open (a SQLite file)
// with its first admin, one province and n recorders. Devices go in by
// the thousand per transaction through the store's own CreateDevice: the
// register's CreateDevice makes one transaction per device with its
// history and audit rows, minutes for 100,000; this fast path skips those
// two rows, which ingest never reads.
func seedRegister(ctx context.Context, dbPath string, n int) ([]loadDevice, string, time.Duration, error) {
	began := time.Now()
	db, err := sqlstore.Open(ctx, dbPath, nil)
	if err != nil {
		return nil, "", 0, err
	}
	defer db.Close()
	reg := fleet.NewRegister(db, nil)
	if _, err := reg.Bootstrap(ctx, adminPassword); err != nil {
		return nil, "", 0, err
	}
	_, admin, err := reg.Login(ctx, "admin", adminPassword)
	if err != nil {
		return nil, "", 0, err
	}
	unit, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "420000", Name: "湖北省", Level: fleet.LevelProvince})
	if err != nil {
		return nil, "", 0, err
	}
	devs := make([]loadDevice, n)
	now := time.Now().UTC()
	const chunk = 5000
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		err := db.Update(ctx, func(tx fleet.Tx) error {
			for i := lo; i < hi; i++ {
				d := loadDevice{ID: fleet.NewID("dev"), Secret: newSecret()}
				if err := tx.CreateDevice(ctx, fleet.Device{ID: d.ID, Kind: fleet.KindRecorder,
					Serial: fmt.Sprintf("LOAD-%06d", i), UnitID: unit.ID, Status: fleet.StatusInStock,
					SecretHash: fleet.HashToken(d.Secret), CreatedAt: now, Version: 1}); err != nil {
					return err
				}
				devs[i] = d
			}
			return nil
		})
		if err != nil {
			return nil, "", 0, fmt.Errorf("seed devices %d–%d: %w", lo, hi, err)
		}
	}
	return devs, unit.ID, time.Since(began), nil
}

// buildFleetd builds cmd/fleetd of the module this tool is run in.
func buildFleetd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "fleetd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/lawfleet/fleet/cmd/fleetd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build fleetd (run from the module, or pass -fleetd): %w", err)
	}
	return bin, nil
}

var servingLine = regexp.MustCompile(`msg=serving http=(\S+) mqtt=(\S*)`)

// fleetdProc is the service under test, a child process.
type fleetdProc struct {
	*loadproc.Child
	httpAddr, mqttAddr string
}

// startFleetd runs fleetd on loopback ports of its choosing and reads
// them from its "serving" log line.
func startFleetd(bin, dataDir, influxURL, mqttURL string, env []string) (*fleetdProc, error) {
	args := []string{"-data", dataDir, "-http", "127.0.0.1:0", "-rtsp", "127.0.0.1:0",
		"-influx-url", influxURL, "-influx-bucket", influxBucket, "-admin-password", adminPassword,
		"-log-level", "info"}
	if mqttURL != "" {
		args = append(args, "-mqtt-url", mqttURL)
	} else {
		args = append(args, "-mqtt", "127.0.0.1:0")
	}
	c, err := loadproc.Start("fleetd", bin, args, filepath.Join(filepath.Dir(dataDir), "fleetd.log"), loadproc.Options{Env: env})
	if err != nil {
		return nil, err
	}
	f := &fleetdProc{Child: c}
	err = c.WaitFor(time.Minute, func() error {
		b, _ := os.ReadFile(c.LogPath())
		m := servingLine.FindSubmatch(b)
		if m == nil {
			return fmt.Errorf("no serving line yet")
		}
		f.httpAddr, f.mqttAddr = string(m[1]), strings.Trim(string(m[2]), `"`)
		return nil
	})
	if err != nil {
		c.Stop(15 * time.Second)
		return nil, err
	}
	return f, nil
}

// registerViaAPI creates n recorders through the HTTP API, as an operator
// would, with conc requests at a time.
func registerViaAPI(ctx context.Context, base string, n, conc int) ([]loadDevice, string, time.Duration, error) {
	began := time.Now()
	cl := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path, token string, body, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var s struct{ Token string }
	if err := call("POST", "/api/v1/session", "", map[string]string{"username": "admin", "password": adminPassword}, &s); err != nil {
		return nil, "", 0, err
	}
	var u fleet.Unit
	if err := call("POST", "/api/v1/units", s.Token, fleet.UnitInput{Code: "420000", Name: "湖北省", Level: fleet.LevelProvince}, &u); err != nil {
		return nil, "", 0, err
	}
	devs := make([]loadDevice, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var d fleet.NewDevice
				err := call("POST", "/api/v1/devices", s.Token,
					fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: fmt.Sprintf("LOAD-%06d", i), UnitID: u.ID}, &d)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				devs[i] = loadDevice{ID: d.ID, Secret: d.MQTTSecret}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, "", 0, firstErr
	}
	return devs, u.ID, time.Since(began), ctx.Err()
}

// preload writes one point per device straight to InfluxDB, an hour
// back, so that its index holds every registered device's series, as in
// production, although only some of them connect during the run.
func preload(ctx context.Context, in *influxClient, devs []loadDevice, unit string) (time.Duration, error) {
	began := time.Now()
	base := time.Now().Add(-time.Hour).UnixNano()
	buf := make([]byte, 0, 5000*300)
	for lo := 0; lo < len(devs); lo += 5000 {
		buf = buf[:0]
		for i := lo; i < min(lo+5000, len(devs)); i++ {
			s := makeSample(i, 0, 0)
			buf = s.appendLine(buf, devs[i].ID, unit, base+int64(i))
		}
		if err := in.write(ctx, buf); err != nil {
			return 0, err
		}
	}
	return time.Since(began), nil
}

// metrics is one scrape of fleetd's /metrics: series (name with labels)
// to value.
type metrics map[string]float64

func scrape(ctx context.Context, cl *http.Client, addr string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format, enough for counters and
// gauges.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds every series of the metric name, whatever its labels.
func (m metrics) sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// troubleMetrics are the counters that should stay at zero in a clean
// run: anything refused, dropped or failed on the way to InfluxDB.
var troubleMetrics = []string{
	"fleet_ingest_rejected_total",
	"fleet_ingest_points_dropped_total",
	"fleet_ingest_queue_dropped_total",
	"fleet_mqtt_broker_refused_total",
	"fleet_mqtt_broker_dropped_total",
	"fleet_mqtt_consumer_dropped_total",
	"fleet_mqtt_consumer_connection_lost_total",
	"fleet_influx_write_rejected_total",
	"fleet_influx_batches_failed_total",
	"fleet_influx_points_dropped_total",
	"fleet_influx_points_invalid_total",
}
