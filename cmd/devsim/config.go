package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// config is everything devsim is told, from flags and DEVSIM_* variables.
type config struct {
	command      string // seed or run
	api          string
	user         string
	password     string
	seed         uint64
	officers     int
	devices      int
	mqtt         string
	rtsp         string
	state        string
	demoPassword string
	concurrency  int
	wait         time.Duration
	logLevel     slog.Level
	interval     time.Duration
	sosPerHour   float64
	dropsPerHour float64
}

const usage = `usage: devsim [seed|run|demo] [flags]

  seed  create the demo province 湖北省 (420000) through the HTTP API, unless it
        exists, and save device ids and MQTT secrets in the -state file (default)
  run   connect the devices of the -state file to the -mqtt broker and simulate
        them (patrols, batteries, SOS, dropouts) until interrupted
  demo  seed, then run

Every flag can also be set as DEVSIM_<NAME> (upper case, '-' as '_'); a flag on
the command line wins. -password defaults to $FLEET_ADMIN_PASSWORD.

flags:
`

// parseConfig reads args (without the program name) and the environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{command: "seed"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.command, args = args[0], args[1:]
	}
	if cfg.command != "seed" && cfg.command != "run" && cfg.command != "demo" {
		return cfg, fmt.Errorf("unknown command %q: want seed, run or demo", cfg.command)
	}
	fs := flag.NewFlagSet("devsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.api, "api", "http://127.0.0.1:8080", "base `URL` of the fleet service")
	fs.StringVar(&cfg.user, "user", "admin", "register-wide administrator to sign in as")
	fs.StringVar(&cfg.password, "password", "", "its password (default $FLEET_ADMIN_PASSWORD)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "random seed: the same seed gives the same province")
	fs.IntVar(&cfg.officers, "officers", 300, "number of officers")
	fs.IntVar(&cfg.devices, "devices", 0, "number of recorders (0: about 90% of eligible officers plus spares)")
	fs.StringVar(&cfg.mqtt, "mqtt", "127.0.0.1:1883", "`ADDR` of the MQTT broker, for the telemetry (run)")
	fs.StringVar(&cfg.rtsp, "rtsp", "127.0.0.1:8554", "`ADDR` of the RTSP server that vehicle terminals' stream URLs name")
	fs.StringVar(&cfg.state, "state", "devsim-state.json", "state `FILE`: device ids and MQTT secrets (mode 0600)")
	fs.StringVar(&cfg.demoPassword, "demo-password", "fleet-demo-2026", "password of the demo users")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "HTTP requests in flight at once")
	fs.DurationVar(&cfg.wait, "wait", 30*time.Second, "how long to wait for the service to come up")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	fs.DurationVar(&cfg.interval, "interval", 5*time.Second, "telemetry period of a device on the move (run)")
	fs.Float64Var(&cfg.sosPerHour, "sos-per-hour", 2, "SOS calls per hour across the fleet; negative: none (run)")
	fs.Float64Var(&cfg.dropsPerHour, "drops-per-hour", 6, "devices dropping offline per hour across the fleet; negative: none (run)")

	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "DEVSIM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !set[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			set[f.Name] = true
		}
	})
	if !set["password"] {
		cfg.password = getenv("FLEET_ADMIN_PASSWORD")
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	switch {
	case c.officers < 1 || c.officers > 200_000:
		return fmt.Errorf("-officers %d: want 1 to 200000", c.officers)
	case c.devices < 0 || c.devices > 1_000_000:
		return fmt.Errorf("-devices %d: want 0 to 1000000", c.devices)
	case c.concurrency < 1 || c.concurrency > 256:
		return fmt.Errorf("-concurrency %d: want 1 to 256", c.concurrency)
	case c.state == "":
		return errors.New("-state is required")
	case c.interval < 100*time.Millisecond:
		return fmt.Errorf("-interval %s: want at least 100ms", c.interval)
	case c.command != "run" && c.password == "":
		return errors.New("no password: set -password, DEVSIM_PASSWORD or FLEET_ADMIN_PASSWORD")
	case len(c.demoPassword) < 8:
		return errors.New("-demo-password must be at least 8 characters")
	}
	return nil
}
