package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// common is what every mode is told.
type common struct {
	work       string // working directory; "" makes a temporary one
	keep       bool   // keep the working directory (logs, data) afterwards
	influxd    string // influxd binary
	influxURL  string // an InfluxDB already running (with the telemetry database); "" starts influxd
	snapshotMB int    // InfluxDB's cache-snapshot-memory-size; 0 keeps its default (25 MB)
}

// env is the servers a run started, stopped in reverse order by close.
type env struct {
	dir      string
	tempDir  bool
	keep     bool
	influx   *influxClient
	children []*loadproc.Child // in start order
	named    map[string]int
}

func openInflux(ctx context.Context, c common) (*env, error) {
	e := &env{dir: c.work, keep: c.keep, named: map[string]int{"fleetload": os.Getpid()}}
	if e.dir == "" {
		d, err := os.MkdirTemp("", "fleetload-")
		if err != nil {
			return nil, err
		}
		e.dir, e.tempDir = d, true
	} else if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	if c.influxURL != "" {
		e.influx = newInfluxClient(c.influxURL, 4)
		if err := e.influx.ping(ctx); err != nil {
			e.close()
			return nil, fmt.Errorf("InfluxDB at %s: %w", c.influxURL, err)
		}
		return e, nil
	}
	if _, err := os.Stat(c.influxd); err != nil {
		e.close()
		return nil, fmt.Errorf("influxd binary: %w (build it as ../shared/INFRA.md says, or pass -influxd)", err)
	}
	ch, in, err := startInfluxd(ctx, c.influxd, filepath.Join(e.dir, "influxdb"), c.snapshotMB)
	if err != nil {
		e.close()
		return nil, err
	}
	e.add(ch)
	e.influx = in
	return e, nil
}

func (e *env) add(c *loadproc.Child) {
	e.children = append(e.children, c)
	e.named[c.Name()] = c.PID()
}

func (e *env) pids() map[string]int { return e.named }

// close stops the children, last started first, and removes a temporary
// working directory unless asked to keep it.
func (e *env) close() {
	for i := len(e.children) - 1; i >= 0; i-- {
		c := e.children[i]
		if err := c.Stop(30 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "fleetload:", err)
		}
	}
	e.children = nil
	if e.tempDir && !e.keep {
		os.RemoveAll(e.dir)
	} else {
		fmt.Fprintln(os.Stderr, "fleetload: logs and data kept in", e.dir)
	}
}
