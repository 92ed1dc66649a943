// Command fleetload measures the telemetry path on this machine: how many
// device messages a second go from MQTT over TCP through fleetd's ingest
// into InfluxDB, how long a message takes to become queryable, and what
// CPU and memory that costs; and, for scale, what InfluxDB alone takes.
//
//	fleetload influx-ceiling [flags]   line protocol straight to InfluxDB
//	fleetload ingest [flags]           devices → broker → fleetd → InfluxDB
//
// It starts what it measures as child processes (influxd, fleetd built
// from this module, Mosquitto on request) on loopback ports, and stops
// them by PID when done. See BENCHMARKS.md for figures and how they were
// taken.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: fleetload influx-ceiling|ingest [flags]

  influx-ceiling  write line protocol straight to InfluxDB (N writers, batches
                  of 5,000, 100,000 device tags) and print points per second
  ingest          register devices, connect them over MQTT and publish
                  telemetry at a fixed rate through fleetd into InfluxDB; print
                  throughput, publish→queryable latency, CPU and memory

"fleetload MODE -h" lists the mode's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "fleetload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// FLEETLOAD_CPUPROFILE profiles this tool itself: the generator's own
	// cost, which shares the machine with what it measures.
	if path := os.Getenv("FLEETLOAD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no mode given")
	}
	switch args[0] {
	case "influx-ceiling":
		cfg, err := parseCeiling(args[1:], stderr)
		if err != nil {
			return err
		}
		return runCeiling(ctx, cfg, stdout)
	case "ingest":
		cfg, err := parseIngest(args[1:], stderr)
		if err != nil {
			return err
		}
		return runIngest(ctx, cfg, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown mode %q", args[0])
}

func defaultInfluxd() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "fleet-test", "bin", "influxd")
}

func commonFlags(fs *flag.FlagSet, c *common) {
	fs.StringVar(&c.work, "work", "", "working directory for data and logs (default: a temporary one, removed afterwards)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory")
	fs.StringVar(&c.influxd, "influxd", defaultInfluxd(), "influxd 1.8 binary to start")
	fs.StringVar(&c.influxURL, "influx-url", "", "use this InfluxDB (database telemetry must exist) instead of starting one")
	fs.IntVar(&c.snapshotMB, "influx-snapshot-mb", 0, "cache-snapshot-memory-size of the influxd started, in MB (0: its default, 25)")
}

func parseCeiling(args []string, stderr io.Writer) (ceilingConfig, error) {
	var c ceilingConfig
	fs := flag.NewFlagSet("fleetload influx-ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.common)
	fs.IntVar(&c.writers, "writers", 1, "concurrent writers")
	fs.IntVar(&c.batch, "batch", 5000, "points per write request")
	fs.IntVar(&c.devices, "devices", 100000, "distinct device tags")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 15*time.Second, "time before measuring (series creation)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.writers < 1 || c.batch < 1 || c.devices < 1 || c.duration <= 0 || c.warmup < 0 {
		return c, errors.New("-writers, -batch, -devices and -duration must be positive")
	}
	return c, nil
}

func parseIngest(args []string, stderr io.Writer) (ingestConfig, error) {
	var c ingestConfig
	fs := flag.NewFlagSet("fleetload ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.common)
	fs.StringVar(&c.fleetd, "fleetd", "", "fleetd binary (default: go build ./cmd/fleetd into the working directory)")
	fs.BoolVar(&c.mosquitto, "mosquitto", false, "start Mosquitto and run fleetd against it (-mqtt-url) instead of its embedded broker")
	fs.StringVar(&c.mosquittoBin, "mosquitto-bin", "/usr/sbin/mosquitto", "Mosquitto binary")
	fs.StringVar(&c.mqttURL, "mqtt-url", "", "an external MQTT broker already running (anonymous devices); fleetd consumes from it")
	fs.IntVar(&c.devices, "devices", 100000, "devices registered")
	fs.IntVar(&c.connections, "connections", 5000, "devices connected and reporting (one MQTT connection each)")
	fs.Float64Var(&c.rate, "rate", 20000, "messages per second offered, all devices together")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 15*time.Second, "time at the full rate before measuring")
	fs.StringVar(&c.client, "client", "paho", "device MQTT client: paho, or raw (the same packets, about half the generator's CPU)")
	fs.IntVar(&c.qos, "qos", 0, "publish QoS (devices send telemetry at 0)")
	fs.IntVar(&c.senders, "senders", 8, "sending goroutines")
	fs.IntVar(&c.markers, "markers", 20, "devices whose messages are followed into InfluxDB for latency")
	fs.DurationVar(&c.poll, "poll", 100*time.Millisecond, "how often the markers' points are looked for")
	fs.StringVar(&c.register, "register", "store", "how devices are registered: store (bulk, fast) or api (POST /api/v1/devices)")
	fs.IntVar(&c.connectConc, "connect-concurrency", 32, "device connections made at once")
	fs.DurationVar(&c.drain, "drain", 2*time.Minute, "longest wait after sending for everything to land")
	fs.Float64Var(&c.ceiling, "ceiling", 0, "InfluxDB-alone points/s (from influx-ceiling), to print our share of it")
	fs.BoolVar(&c.preload, "preload", true, "write one old point per registered device to InfluxDB first, so it holds every device's series as in production")
	fs.StringVar(&c.perf, "perf", "", "record a perf profile of fleetd during the window into this file")
	fs.Func("fleetd-env", "`KEY=VALUE` added to fleetd's environment, e.g. GOGC=400 (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		c.fleetdEnv = append(c.fleetdEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.check()
}
