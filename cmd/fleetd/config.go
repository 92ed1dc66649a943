package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything fleetd is told at start. Each flag is also read
// from the environment as FLEET_<NAME> (upper case, '-' → '_'); a flag on
// the command line wins.
type Config struct {
	DataDir       string
	HTTPAddr      string
	MQTTAddr      string // embedded broker listener; "" disables it
	MQTTURL       string // external broker; replaces the embedded one
	MQTTUser      string
	MQTTPassword  string
	RTSPAddr      string
	PublicHost    string // host devices reach this service at, for URLs sent to them
	WebRTCUDP     string // UDP address of the relay's WebRTC media; "" disables WebRTC
	WebRTCTCP     string // ICE-TCP address for WebRTC; "" off
	WebRTCIPs     string // comma-separated addresses advertised to browsers for WebRTC
	AISUDP        string // shore-station NMEA over UDP; "" off
	AISTCP        string // shore-station NMEA over TCP; "" off
	Tiles         string // map tile URL template; "" draws the map without tiles
	TilesAttrib   string
	TicketKey     string // signs live-event tickets; the same on every process behind one balancer
	DB            string
	InfluxURL     string
	InfluxToken   string
	InfluxOrg     string
	InfluxBucket  string
	Evidence      string
	AdminPassword string
	LogLevel      slog.Level
	Demo          bool
	DemoOfficers  int

	// VideoReaderSecret is the password of the relay's own RTSP readers
	// (video.DefaultReaderUsername); "" makes a random one at each start.
	VideoReaderSecret string

	// GCPercent and MemoryLimit tune the garbage collector (see gc.go);
	// GOGC and GOMEMLIMIT in the environment win over them. MemoryLimit is
	// in bytes: 0 none, memoryLimitAuto a share of the machine's memory.
	GCPercent   int
	MemoryLimit int64

	// EvidenceOrphanGrace is how old a stored file no item holds must be
	// before the orphan sweep removes it.
	EvidenceOrphanGrace time.Duration
	// DockSpoolMaxIdle is how long a partial dock upload may receive
	// nothing before it is removed.
	DockSpoolMaxIdle time.Duration
}

// ParseConfig reads flags from args and the environment.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("fleetd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data", "data", "directory for the embedded register, time series and evidence")
	fs.StringVar(&c.HTTPAddr, "http", ":8080", "HTTP listen address (API and web UI)")
	fs.StringVar(&c.MQTTAddr, "mqtt", ":1883", "embedded MQTT broker listen address")
	fs.StringVar(&c.MQTTURL, "mqtt-url", "", "external MQTT broker URL (tcp://host:1883); disables the embedded broker")
	fs.StringVar(&c.MQTTUser, "mqtt-user", "", "username of the ingest consumer at the external broker")
	fs.StringVar(&c.MQTTPassword, "mqtt-password", "", "password of the ingest consumer at the external broker")
	fs.StringVar(&c.RTSPAddr, "rtsp", ":8554", "RTSP listen address of the video relay")
	fs.StringVar(&c.VideoReaderSecret, "video-reader-secret", "", "password of the relay's own RTSP readers (user fleet-reader); default random")
	fs.StringVar(&c.PublicHost, "public-host", "", "host name or address devices reach this service at (default: the host name)")
	fs.StringVar(&c.WebRTCUDP, "webrtc-udp", ":8189", "UDP address of the video relay's WebRTC media, one port for every viewer; empty disables WebRTC")
	fs.StringVar(&c.WebRTCTCP, "webrtc-tcp", "", "TCP address for WebRTC over ICE-TCP, for browsers whose UDP is blocked (off by default)")
	fs.StringVar(&c.WebRTCIPs, "webrtc-ips", "", "comma-separated IP addresses advertised to browsers for WebRTC besides the local ones, e.g. a 1:1 NAT's public address (default: -public-host if it is an IP address)")
	fs.StringVar(&c.AISUDP, "ais-udp", "", "listen for AIS NMEA from shore stations on this UDP address (off by default)")
	fs.StringVar(&c.AISTCP, "ais-tcp", "", "listen for AIS NMEA from shore stations on this TCP address (off by default)")
	fs.StringVar(&c.Tiles, "tiles", "", "map tile URL template, e.g. https://tiles.internal/{z}/{x}/{y}.png (default none: the map works offline)")
	fs.StringVar(&c.TilesAttrib, "tiles-attribution", "", "attribution shown for the map tiles")
	fs.StringVar(&c.TicketKey, "live-ticket-key", "", "key signing live-event tickets, shared by every fleetd behind one balancer (default: random per process)")
	fs.StringVar(&c.DB, "db", "", "register database: postgres://… or a SQLite file (default DATA/fleet.db)")
	fs.StringVar(&c.InfluxURL, "influx-url", "", "InfluxDB URL; empty uses the embedded time-series store")
	fs.StringVar(&c.InfluxToken, "influx-token", "", "InfluxDB token (1.8: user:password)")
	fs.StringVar(&c.InfluxOrg, "influx-org", "", "InfluxDB organisation")
	fs.StringVar(&c.InfluxBucket, "influx-bucket", "telemetry/autogen", "InfluxDB bucket")
	fs.StringVar(&c.Evidence, "evidence", "", "evidence store: s3://… or a directory (default DATA/evidence)")
	fs.DurationVar(&c.EvidenceOrphanGrace, "evidence-orphan-grace", 24*time.Hour, "remove stored evidence files that no item holds once they are this old")
	fs.DurationVar(&c.DockSpoolMaxIdle, "dock-spool-max-idle", 7*24*time.Hour, "remove partial dock uploads that received nothing for this long")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "password of the first admin on an empty register (default: generated and printed once)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&c.Demo, "demo", false, "seed a demo province and run the device simulator against this service")
	fs.IntVar(&c.DemoOfficers, "demo-officers", 300, "officers in the demo province")
	fs.IntVar(&c.GCPercent, "gc-percent", defaultGCPercent, "garbage collector percent, as GOGC (which wins if set)")
	c.MemoryLimit = memoryLimitAuto
	fs.Func("memory-limit", "soft memory limit, as GOMEMLIMIT (which wins if set): a size such as 3GiB, off, or auto (the default: half of the machine's or the container's memory)",
		func(v string) (err error) { c.MemoryLimit, err = parseMemoryLimit(v); return err })

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "FLEET_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !set[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	if c.GCPercent <= 0 {
		return c, fmt.Errorf("-gc-percent must be positive (GOGC=off turns the collector off)")
	}
	if c.DB == "" {
		c.DB = filepath.Join(c.DataDir, "fleet.db")
	}
	if c.Evidence == "" {
		c.Evidence = filepath.Join(c.DataDir, "evidence")
	}
	if c.MQTTURL != "" {
		c.MQTTAddr = ""
	}
	return c, nil
}

func mkdirData(c Config) error {
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}
