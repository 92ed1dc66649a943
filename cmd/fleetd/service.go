package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/firmware/sqlfirmware"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/blobstore/disk"
	"github.com/lawfleet/fleet/fleet/blobstore/s3"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/alertstore"
	"github.com/lawfleet/fleet/ingest/dockspool"
	"github.com/lawfleet/fleet/ingest/influx"
	"github.com/lawfleet/fleet/ingest/mqtt"
	"github.com/lawfleet/fleet/ingest/mqttbroker"
	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/ingest/tsembed"
	"github.com/lawfleet/fleet/ingest/vessels"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/web"
	"github.com/lawfleet/fleet/web/ui"
)

// Main is the running service. Run starts every component in order;
// Close stops them in reverse, intake first, so queues drain.
type Main struct {
	cfg    Config
	logger *slog.Logger
	out    io.Writer // where the generated admin password is printed once

	metrics  *prometheus.Registry
	store    *sqlstore.DB
	register *fleet.Register
	series   interface {
		series.Writer
		series.Querier
		Ping(context.Context) error
	}
	live     *ingest.Live
	hub      *ingest.Hub
	alerts   *ingest.Alerts
	alertDB  *alertstore.Store
	pipeline *ingest.Pipeline
	vessels  *vessels.Tracker
	broker   *mqttbroker.Broker // nil with an external broker
	firmware *firmware.Manager
	fwPublic ed25519.PublicKey // devices trust images this key signed
	relay    *video.Relay
	vault    *fleet.Vault
	dock     *dockspool.Spool
	api      *web.Server
	httpLn   net.Listener
	adminPW  string // the first admin's password when this start set it

	closers []func() error // in start order
}

func NewMain(cfg Config, logger *slog.Logger, out io.Writer) *Main {
	return &Main{cfg: cfg, logger: logger, out: out}
}

// HTTPAddr is the address the API listens on, once Run has returned.
func (m *Main) HTTPAddr() string { return m.httpLn.Addr().String() }

// MQTTAddr is the embedded broker's address ("" with an external one).
func (m *Main) MQTTAddr() string {
	if m.broker == nil {
		return ""
	}
	return m.broker.Addr()
}

// Run starts the service and returns once it is serving.
func (m *Main) Run(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"data directory", func(context.Context) error { return mkdirData(m.cfg) }},
		{"register", m.openRegister},
		{"time series", m.openSeries},
		{"live state", m.openLive},
		{"firmware", m.startFirmware},
		{"ingest", m.startIngest},
		{"evidence", m.openEvidence},
		{"api", m.buildAPI},
		{"video", m.startVideo},
		{"http", m.serveHTTP},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if m.cfg.Demo {
		m.goRun("demo", m.runDemo, nil)
	}
	return nil
}

func (m *Main) openRegister(ctx context.Context) (err error) {
	m.metrics = prometheus.NewRegistry()
	m.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m.store, err = sqlstore.Open(ctx, m.cfg.DB, m.logger); err != nil {
		return err
	}
	m.onClose(m.store.Close)
	m.register = fleet.NewRegister(m.store, nil)
	generated, err := m.register.Bootstrap(ctx, m.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	if generated != "" {
		m.adminPW = generated
		fmt.Fprintf(m.out, "\nFirst start: user admin, password %s (shown once; change it after signing in)\n\n", generated)
	}
	return nil
}

// openSeries opens InfluxDB when configured, else the embedded store.
func (m *Main) openSeries(ctx context.Context) error {
	if m.cfg.InfluxURL != "" {
		s, err := influx.New(influx.Config{URL: m.cfg.InfluxURL, Token: m.cfg.InfluxToken, Org: m.cfg.InfluxOrg,
			Bucket: m.cfg.InfluxBucket, SpoolDir: filepath.Join(m.cfg.DataDir, "influx-spool")}, m.logger)
		if err != nil {
			return err
		}
		m.metrics.MustRegister(s.Collector())
		m.series = s
		m.goRun("influx", s.Run, s.Close)
		return nil
	}
	s, err := tsembed.Open(ctx, filepath.Join(m.cfg.DataDir, tsembed.DefaultFile), tsembed.Options{}, m.logger)
	if err != nil {
		return err
	}
	m.series = s
	m.goRun("tsembed", s.Run, s.Close)
	return nil
}

func (m *Main) openLive(ctx context.Context) (err error) {
	if m.hub, err = ingest.NewHub(ingest.HubConfig{}, m.metrics); err != nil {
		return err
	}
	if m.live, err = ingest.NewLive(ingest.LiveConfig{}, m.hub, m.metrics); err != nil {
		return err
	}
	m.alertDB = alertstore.New(m.store)
	m.alerts, err = ingest.NewAlerts(ingest.AlertsConfig{}, m.alertDB, m.register, m.hub, m.metrics, m.logger)
	if err != nil {
		return err
	}
	return m.alerts.Restore(ctx)
}

// startFirmware starts the firmware manager before ingest, which hands it
// progress reports. Its signing key is generated under the data directory
// on first start; offline keys' public halves go in DATA/firmware/trusted.pub.
// Commands go out through the embedded broker (looked up when sent: it
// starts after this step); with an external broker campaigns cannot start.
func (m *Main) startFirmware(context.Context) error {
	dir := filepath.Join(m.cfg.DataDir, "firmware")
	key, err := firmware.LoadOrCreateSigningKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		return err
	}
	m.fwPublic = key.Public().(ed25519.PublicKey)
	trusted, err := firmware.LoadTrustedKeys(filepath.Join(dir, "trusted.pub"))
	if err != nil {
		return err
	}
	blobs, err := disk.New(filepath.Join(dir, "images"))
	if err != nil {
		return err
	}
	notify := firmware.NotifierFunc(func(ctx context.Context, id, name string, v any) error {
		if m.broker == nil {
			return fleet.Errorf(fleet.EUNAVAILABLE, "firmware commands need the embedded MQTT broker")
		}
		return ingest.NewCommands(m.broker, nil).Send(ctx, id, name, v)
	})
	live := firmware.LiveStateFunc(func(id string) (firmware.DeviceStatus, bool) {
		p, ok := m.live.Get(id)
		return firmware.DeviceStatus{Online: p.Online, Recording: p.Recording != nil && *p.Recording,
			BatteryPct: p.BatteryPct, Charging: p.Charging != nil && *p.Charging}, ok
	})
	m.firmware, err = firmware.New(firmware.Config{TempDir: dir}, firmware.Deps{Store: sqlfirmware.New(m.store),
		Blobs: blobs, Keys: &firmware.Keys{Signer: key, Trusted: trusted}, Devices: m.register, Live: live,
		Notifier: notify, Logger: m.logger, DownloadURL: m.publicURL})
	if err != nil {
		return err
	}
	m.goRun("firmware", m.firmware.Run, m.firmware.Close)
	return nil
}

// publicURL is the address devices reach an API path at.
func (m *Main) publicURL(path string) string {
	host := m.cfg.PublicHost
	if host == "" {
		host, _ = os.Hostname()
	}
	_, port, _ := net.SplitHostPort(m.httpLn.Addr().String())
	return "http://" + net.JoinHostPort(host, port) + path
}

// startIngest starts the pipeline, then its intake: the embedded broker
// or a consumer of the external one.
func (m *Main) startIngest(ctx context.Context) (err error) {
	m.vessels, err = vessels.New(vessels.Config{}, vessels.Deps{Writer: m.series, Register: m.register,
		Registry: m.metrics, Logger: m.logger})
	if err != nil {
		return err
	}
	if err := m.vessels.Start(ctx); err != nil {
		return err
	}
	m.onClose(m.vessels.Close)
	for network, addr := range map[string]string{"udp": m.cfg.AISUDP, "tcp": m.cfg.AISTCP} {
		if addr == "" {
			continue
		}
		if _, err := m.vessels.Listen(ctx, network, addr); err != nil {
			return fmt.Errorf("AIS %s listener: %w", network, err)
		}
	}
	m.pipeline, err = ingest.NewPipeline(ingest.Config{}, ingest.Deps{Writer: m.series, Directory: m.register,
		Checkins: m.register, NMEA: m.vessels, Live: m.live, Firmware: m.firmware, Alerts: m.alerts, Registry: m.metrics,
		Logger: m.logger})
	if err != nil {
		return err
	}
	m.goRun("pipeline", m.pipeline.Run, nil)

	if m.cfg.MQTTURL != "" {
		host, _ := os.Hostname()
		c, err := mqtt.New(mqtt.Config{URL: m.cfg.MQTTURL, ClientID: "fleetd-" + host,
			Username: m.cfg.MQTTUser, Password: m.cfg.MQTTPassword},
			m.pipeline, m.metrics, m.logger)
		if err != nil {
			return err
		}
		m.goRun("mqtt consumer", c.Run, c.Close)
		return nil
	}
	m.broker, err = mqttbroker.New(mqttbroker.Config{Addr: m.cfg.MQTTAddr}, m.register, m.pipeline,
		m.metrics, m.logger)
	if err != nil {
		return err
	}
	if err := m.broker.Start(ctx); err != nil {
		return err
	}
	m.onClose(m.broker.Close)
	return nil
}

// openEvidence opens the evidence store: S3 for s3:// URLs, else a
// directory.
func (m *Main) openEvidence(ctx context.Context) error {
	var blobs fleet.BlobStore
	if strings.HasPrefix(m.cfg.Evidence, "s3://") {
		cfg, err := s3.ParseURL(m.cfg.Evidence)
		if err != nil {
			return err
		}
		if blobs, err = s3.New(ctx, cfg); err != nil {
			return err
		}
	} else {
		d, err := disk.New(m.cfg.Evidence)
		if err != nil {
			return err
		}
		blobs = d
	}
	vault, err := fleet.NewVault(m.store, blobs, fleet.RetentionPolicy{}, nil, m.logger)
	if err != nil {
		return err
	}
	m.vault = vault
	if m.dock, err = dockspool.New(filepath.Join(m.cfg.DataDir, "dock-spool"), 8<<30); err != nil {
		return err
	}
	integrity := fleet.NewIntegritySweep(vault, 24*time.Hour, func(r fleet.VerifyReport) {
		m.logger.Error("evidence integrity problem", "report", r)
	}, m.logger)
	retention := fleet.NewRetentionSweep(vault, time.Hour, m.logger)
	orphanFiles := prometheus.NewCounter(prometheus.CounterOpts{Name: "fleet_evidence_orphan_files_removed_total",
		Help: "Stored evidence files no item held, removed after the grace period."})
	dock := m.dock
	m.metrics.MustRegister(orphanFiles, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "fleet_dock_spool_abandoned_total", Help: "Partial dock uploads removed after receiving nothing for -dock-spool-max-idle."},
		func() float64 { n, _ := dock.Removed(); return float64(n) }))
	orphans := fleet.NewOrphanSweep(vault, 6*time.Hour, m.cfg.EvidenceOrphanGrace, func(fleet.BlobInfo) { orphanFiles.Inc() }, m.logger)
	spoolSweep := fleet.NewTaskSweep("dock-spool", time.Hour, m.dock.IdleSweep(m.cfg.DockSpoolMaxIdle, m.logger), m.logger)
	for name, sw := range map[string]*fleet.Sweep{"integrity sweep": integrity, "retention sweep": retention,
		"orphan sweep": orphans, "dock spool sweep": spoolSweep} {
		m.goRun(name, func(ctx context.Context) error { sw.Run(ctx); return nil }, nil)
	}
	return nil
}

func (m *Main) buildAPI(context.Context) error {
	ready := map[string]web.Check{"timeseries": m.series.Ping}
	m.api = web.New(web.Config{Map: web.MapConfig{TileURL: m.cfg.Tiles, TileAttribution: m.cfg.TilesAttrib}}, web.Deps{
		Register: m.register,
		Logger:   m.logger,
		Metrics:  m.metrics,
		Ready:    ready,
		UI:       ui.FS(),
		Evidence: web.EvidenceDeps{Vault: m.vault, Spool: m.dock},
	})
	m.api.MountFirmware(m.firmware)
	web.MountVessels(m.api, m.vessels)
	cov := fleet.NewCoverage(m.store, fleet.CoverageConfig{Logger: m.logger})
	m.goRun("coverage", cov.Run, nil)
	web.MountCoverage(m.api, cov)
	m.api.MountLive(web.LiveDeps{Positions: m.live, Feed: m.hub, Alerts: m.alerts, AlertList: m.alertDB,
		Tracks: m.series, TicketKey: []byte(m.cfg.TicketKey)})
	return nil
}

// startVideo starts the RTSP relay; with the embedded broker, recorders
// are told over MQTT to push when someone wants to watch.
func (m *Main) startVideo(context.Context) (err error) {
	deps := video.Deps{Auth: m.register, Devices: m.register,
		Auditor:   web.NewVideoAudit(m.register, m.logger.With("component", "video-audit")),
		Authorize: m.api.AuthorizeVideo, Viewer: m.api.VideoViewer,
		Recordings: web.RecordingVault{Vault: m.vault},
		Logger:     m.logger, Registry: m.metrics}
	if m.broker != nil {
		deps.Starter = ingest.NewCommands(m.broker, m.pushURL)
	}
	vcfg := video.Config{RTSPAddr: m.cfg.RTSPAddr, WebRTCUDPAddr: m.cfg.WebRTCUDP, ReaderSecret: m.cfg.VideoReaderSecret,
		RecordDir: filepath.Join(m.cfg.DataDir, "recording")} // beside the evidence by default
	if vcfg.WebRTCUDPAddr != "" {
		vcfg.WebRTCTCPAddr, vcfg.WebRTCHostIPs = m.cfg.WebRTCTCP, m.webrtcIPs()
	}
	if m.relay, err = video.New(vcfg, deps); err != nil {
		return err
	}
	if err := m.relay.Start(); err != nil {
		return err
	}
	m.onClose(m.relay.Close)
	m.api.MountVideo(m.relay)
	// An SOS records the device's stream; closed before the relay.
	sos := newSOSRecorder(m.relay, m.register, m.logger)
	m.alerts.OnRaise(sos.raised)
	m.onClose(sos.close)
	return nil
}

// webrtcIPs are the addresses advertised in the relay's WebRTC candidates
// besides its local ones: -webrtc-ips, else -public-host if it is an IP
// address (a host name cannot be a candidate).
func (m *Main) webrtcIPs() []string {
	var ips []string
	for _, ip := range strings.Split(m.cfg.WebRTCIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 && net.ParseIP(m.cfg.PublicHost) != nil {
		ips = []string{m.cfg.PublicHost}
	}
	return ips
}

// pushURL is where a recorder pushes its stream: this host's RTSP port.
func (m *Main) pushURL(deviceID string) string {
	host := m.cfg.PublicHost
	if host == "" {
		host, _ = os.Hostname()
	}
	_, port, _ := net.SplitHostPort(m.relay.RTSPAddr().String())
	return "rtsp://" + net.JoinHostPort(host, port) + "/" + deviceID
}

func (m *Main) serveHTTP(context.Context) error {
	ln, err := net.Listen("tcp", m.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	m.httpLn = ln
	// No ReadTimeout: dock offloads stream files of several GB.
	srv := &http.Server{Handler: m.api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	srv.RegisterOnShutdown(m.api.CloseLive) // event streams would hold Shutdown
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.logger.Error("http server", "err", err)
		}
	}()
	m.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	m.logger.Info("serving", "http", ln.Addr().String(), "mqtt", m.MQTTAddr(), "rtsp", m.relay.RTSPAddr())
	return nil
}

// goRun runs a component's Run in a goroutine; at Close its context is
// cancelled, Run is waited for, then stop (if any) is called.
func (m *Main) goRun(name string, run func(context.Context) error, stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.logger.Error("component stopped", "component", name, "err", err)
		}
	}()
	m.onClose(func() error {
		cancel()
		wg.Wait()
		if stop != nil {
			return stop()
		}
		return nil
	})
}

func (m *Main) onClose(f func() error) { m.closers = append(m.closers, f) }

// Close stops every started component in reverse order of start.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}
