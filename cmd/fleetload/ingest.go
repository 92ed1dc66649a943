package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// ingestConfig is the ingest mode: devices over MQTT through fleetd to
// InfluxDB.
type ingestConfig struct {
	common
	fleetd       string  // fleetd binary; "" builds cmd/fleetd
	mosquitto    bool    // start Mosquitto and point fleetd at it (-mqtt-url)
	mosquittoBin string  //
	mqttURL      string  // an external broker already running; fleetd consumes from it
	devices      int     // registered
	connections  int     // connected and reporting
	rate         float64 // messages per second, all devices together
	duration     time.Duration
	warmup       time.Duration
	qos          int
	senders      int
	markers      int
	poll         time.Duration
	register     string // store or api
	connectConc  int
	drain        time.Duration // longest wait, after sending, for everything to land
	ceiling      float64       // InfluxDB-alone points/s, for the share; 0 leaves it out
	perf         string        // perf.data file: profile fleetd with perf during the window
	preload      bool          // give every registered device a series in InfluxDB first
	client       string        // paho or raw
	fleetdEnv    []string      // added to fleetd's environment (GOGC=…)
}

func (c ingestConfig) check() error {
	switch {
	case c.register != "store" && c.register != "api":
		return fmt.Errorf("-register is store or api")
	case c.connections < 1 || c.connections > c.devices:
		return fmt.Errorf("-connections must be between 1 and -devices")
	case c.rate <= 0:
		return fmt.Errorf("-rate must be positive")
	case float64(c.connections)/c.rate < 0.01:
		// Two reports of a device in the same millisecond would share a
		// point in InfluxDB and read as a loss.
		return fmt.Errorf("each device would report more than 100 times a second: raise -connections")
	case c.qos != 0 && c.qos != 1:
		return fmt.Errorf("-qos is 0 or 1")
	case c.senders < 1 || c.markers < 1 || c.markers > c.connections:
		return fmt.Errorf("-senders ≥ 1 and 1 ≤ -markers ≤ -connections")
	case c.client != "paho" && c.client != "raw":
		return fmt.Errorf("-client is paho or raw")
	case c.mosquitto && c.mqttURL != "":
		return fmt.Errorf("-mosquitto and -mqtt-url exclude each other")
	}
	return nil
}

func (c ingestConfig) brokerName() string {
	switch {
	case c.mosquitto:
		return "Mosquitto (fleetd consumes with -mqtt-url)"
	case c.mqttURL != "":
		return "external broker " + c.mqttURL
	}
	return "embedded broker (mochi, in fleetd)"
}

// ingestRun is one run of the ingest mode, phase by phase: servers up,
// devices registered and connected, the open-loop send with the window
// measured, the drain, the report.
type ingestRun struct {
	cfg ingestConfig
	out io.Writer
	env *env
	fd  *fleetdProc
	hc  *http.Client

	devs             []loadDevice
	unit             string
	regTook          time.Duration
	preloaded        string
	brokerURL        string
	brokerName       string // the process holding the device connections
	brokerPID        int
	idle, conn       loadproc.Stat // the broker before and after the devices connected
	self             loadproc.Stat // this process with its clients connected
	connTook         time.Duration
	conns            []*deviceConn
	cst              connStats
	st               *sendStats
	tr               *tracker
	start            time.Time
	window           [2]time.Time
	polls, pollFails int
}

// windowResult is what was measured over the window.
type windowResult struct {
	uses    []procUse
	busy    float64 // machine cores busy
	m0, m1  metrics // fleetd's counters at its edges
	loadEnd string
}

// drainResult is what happened after the last send.
type drainResult struct {
	took     time.Duration
	mEnd     metrics
	stored   int64 // points of the run in InfluxDB
	countErr error
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "fleetload: "+format+"\n", args...) }

func runIngest(ctx context.Context, cfg ingestConfig, out io.Writer) error {
	if err := cfg.check(); err != nil {
		return err
	}
	env, err := openInflux(ctx, cfg.common)
	if err != nil {
		return err
	}
	defer env.close()
	r := &ingestRun{cfg: cfg, out: out, env: env, hc: &http.Client{},
		st: &sendStats{lag: newHistogram(time.Millisecond, 30*time.Second)}}
	if err := r.startServices(ctx); err != nil {
		return err
	}
	if err := r.connect(ctx); err != nil {
		return err
	}
	defer disconnectDevices(r.conns, cfg.connectConc)
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollWG sync.WaitGroup
	pollWG.Go(func() { r.polls, r.pollFails = r.tr.poll(pollCtx, env.influx, cfg.poll, time.Minute) })
	defer func() { stopPoll(); pollWG.Wait() }()

	w, err := r.send(ctx)
	if err != nil {
		return err
	}
	d := r.drain(ctx)
	stopPoll()
	pollWG.Wait()
	r.report(w, d)
	return nil
}

// startServices registers the devices and starts Mosquitto (if asked)
// and fleetd; InfluxDB is already up.
func (r *ingestRun) startServices(ctx context.Context) error {
	cfg := r.cfg
	bin := cfg.fleetd
	if bin == "" {
		logf("building fleetd")
		var err error
		if bin, err = buildFleetd(ctx, r.env.dir); err != nil {
			return err
		}
	}
	dataDir := filepath.Join(r.env.dir, "fleetd-data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	var err error
	if cfg.register == "store" {
		logf("registering %d devices in bulk through the store", cfg.devices)
		if r.devs, r.unit, r.regTook, err = seedRegister(ctx, filepath.Join(dataDir, "fleet.db"), cfg.devices); err != nil {
			return fmt.Errorf("seed register: %w", err)
		}
	}
	mqttURL := cfg.mqttURL
	if cfg.mosquitto {
		mq, u, err := startMosquitto(cfg.mosquittoBin, r.env.dir)
		if err != nil {
			return err
		}
		r.env.add(mq)
		mqttURL = u
	}
	if r.fd, err = startFleetd(bin, dataDir, r.env.influx.url, mqttURL, cfg.fleetdEnv); err != nil {
		return err
	}
	r.env.add(r.fd.Child)
	if cfg.register == "api" {
		logf("registering %d devices through the HTTP API", cfg.devices)
		if r.devs, r.unit, r.regTook, err = registerViaAPI(ctx, "http://"+r.fd.httpAddr, cfg.devices, 8); err != nil {
			return fmt.Errorf("register via API: %w", err)
		}
	}
	logf("registered %d devices in %s", len(r.devs), r.regTook.Round(time.Millisecond))
	r.preloaded = "no"
	if cfg.preload {
		logf("giving %d devices a series in InfluxDB", len(r.devs))
		took, err := preload(ctx, r.env.influx, r.devs, r.unit)
		if err != nil {
			return fmt.Errorf("preload InfluxDB: %w", err)
		}
		r.preloaded = fmt.Sprintf("all %d (took %s)", len(r.devs), took.Round(time.Millisecond))
	}
	r.brokerURL = mqttURL
	if r.brokerURL == "" {
		r.brokerURL = "tcp://" + r.fd.mqttAddr
	}
	// The broker holds the device connections: fleetd's embedded one, or
	// Mosquitto.
	r.brokerName, r.brokerPID = "fleetd", r.fd.PID()
	if pid, ok := r.env.pids()["mosquitto"]; ok {
		r.brokerName, r.brokerPID = "mosquitto", pid
	}
	return nil
}

// connect connects the devices and picks the markers.
func (r *ingestRun) connect(ctx context.Context) error {
	cfg := r.cfg
	r.idle, _ = loadproc.Sample(r.brokerPID)
	logf("connecting %d devices to %s", cfg.connections, r.brokerURL)
	began := time.Now()
	conns, err := connectDevices(ctx, r.brokerURL, cfg.client, r.devs[:cfg.connections], cfg.connectConc, &r.cst, r.st)
	if err != nil {
		return fmt.Errorf("connect devices: %w", err)
	}
	r.conns, r.connTook = conns, time.Since(began)
	time.Sleep(time.Second) // let the connects settle before measuring memory
	r.conn, _ = loadproc.Sample(r.brokerPID)
	r.self, _ = loadproc.Sample(os.Getpid())

	// Markers spread evenly over the devices, hence over the shards.
	ids := make([]string, cfg.markers)
	for i := range ids {
		c := conns[i*cfg.connections/cfg.markers]
		c.marker, ids[i] = i, c.id
	}
	r.start = time.Now().Add(500 * time.Millisecond)
	r.window = [2]time.Time{r.start.Add(cfg.warmup), r.start.Add(cfg.warmup + cfg.duration)}
	r.tr = newTracker(ids, r.window)
	return nil
}

// send runs the senders until the window ends, measuring the window, and
// waits for them.
func (r *ingestRun) send(ctx context.Context) (windowResult, error) {
	cfg := r.cfg
	senders := min(cfg.senders, cfg.connections)
	var wg sync.WaitGroup
	for w := range senders {
		var mine []*deviceConn
		for i := w; i < len(r.conns); i += senders {
			mine = append(mine, r.conns[i])
		}
		s := &sender{conns: mine, end: r.window[1], window: r.window, qos: byte(cfg.qos), markers: r.tr, st: r.st,
			sched: newSchedule(r.start, cfg.rate*float64(len(mine))/float64(cfg.connections), float64(w)/float64(senders))}
		wg.Go(func() { s.run(ctx) })
	}
	defer wg.Wait()
	r.header()
	w, err := r.watch(ctx)
	if err != nil {
		return w, err
	}
	return w, nil
}

func (r *ingestRun) header() {
	cfg := r.cfg
	perDevice := time.Duration(float64(time.Second) * float64(cfg.connections) / cfg.rate)
	fmt.Fprintf(r.out, "fleetload ingest: %s, QoS %d, %s clients\n", cfg.brokerName(), cfg.qos, cfg.client)
	if len(cfg.fleetdEnv) > 0 {
		fmt.Fprintf(r.out, "fleetd environment: %v\n", cfg.fleetdEnv)
	}
	fmt.Fprintf(r.out, "devices: %d registered (%s, %s); %d connected (in %s), each reporting every %s: %.0f msg/s offered\n",
		cfg.devices, cfg.register, r.regTook.Round(time.Millisecond), cfg.connections, r.connTook.Round(time.Millisecond),
		perDevice, cfg.rate)
	fmt.Fprintf(r.out, "  (the target, 100,000 devices each every 5 s, is 20,000 msg/s through %.0f× the connections)\n",
		100000/float64(cfg.connections))
	fmt.Fprintf(r.out, "series in InfluxDB before the run: %s\n", r.preloaded)
	fmt.Fprintf(r.out, "window: %s after a %s warm-up; load average before: %s\n", cfg.duration, cfg.warmup, loadproc.Loadavg())
}

// watch scrapes fleetd every second, logs progress every five, and
// measures CPU and counters between the window's edges.
func (r *ingestRun) watch(ctx context.Context) (windowResult, error) {
	var w windowResult
	meter := newCPUMeter(r.env.pids())
	var perf *exec.Cmd
	defer func() {
		if perf != nil {
			_ = perf.Wait()
		}
	}()
	var last metrics
	var lastSent int64
	lastAt := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	warm := time.NewTimer(time.Until(r.window[0]))
	done := time.NewTimer(time.Until(r.window[1]))
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-warm.C:
			meter.reset()
			w.m0, _ = scrape(ctx, r.hc, r.fd.httpAddr)
			perf = r.startPerf()
		case <-done.C:
			w.uses, w.busy = meter.read([]string{"fleetload", "fleetd", "mosquitto", "influxd"})
			w.m1, _ = scrape(ctx, r.hc, r.fd.httpAddr)
			w.loadEnd = loadproc.Loadavg()
			return w, nil
		case <-tick.C:
			meter.sample()
			if n%5 != 0 {
				continue
			}
			m, err := scrape(ctx, r.hc, r.fd.httpAddr)
			if err != nil {
				logf("scrape fleetd: %v", err)
				continue
			}
			if last != nil {
				dt := time.Since(lastAt).Seconds()
				logf("t=%3.0fs sent %6.0f/s, written %6.0f/s, shard queues %5.0f, spool unacked %3.0f, lost connections %d",
					time.Since(r.start).Seconds(), float64(r.st.sent.Load()-lastSent)/dt,
					(m.sum("fleet_influx_points_written_total")-last.sum("fleet_influx_points_written_total"))/dt,
					m.sum("fleet_ingest_queue_length"), m.sum("fleet_influx_spool_unacked_batches"), r.cst.lost.Load())
			}
			last, lastAt, lastSent = m, time.Now(), r.st.sent.Load()
		}
	}
}

// startPerf profiles fleetd with perf over the window, if asked.
func (r *ingestRun) startPerf() *exec.Cmd {
	if r.cfg.perf == "" {
		return nil
	}
	perf := exec.Command("perf", "record", "-F", "499", "-g", "-o", r.cfg.perf, "-p", strconv.Itoa(r.fd.PID()),
		"--", "sleep", strconv.Itoa(int(r.cfg.duration.Seconds())))
	perf.Stdout, perf.Stderr = io.Discard, os.Stderr
	if err := perf.Start(); err != nil {
		logf("perf: %v", err)
		return nil
	}
	return perf
}

// drain waits until fleetd has written everything sent and the markers
// have all been seen (or cfg.drain passes), then counts the run's points
// in InfluxDB.
func (r *ingestRun) drain(ctx context.Context) drainResult {
	var d drainResult
	began := time.Now()
	for {
		m, err := scrape(ctx, r.hc, r.fd.httpAddr)
		if err == nil {
			d.mEnd = m
		}
		_, _, pending := r.tr.result()
		if err == nil && m.sum("fleet_influx_points_written_total") >= float64(r.st.acked.Load()) &&
			m.sum("fleet_influx_spool_unacked_batches") == 0 && pending == 0 {
			break
		}
		if time.Since(began) > r.cfg.drain || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	d.took = time.Since(began)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d.stored, d.countErr = r.env.influx.count(cctx, r.start.Add(-time.Second), r.window[1].Add(time.Second))
	return d
}

func (r *ingestRun) report(w windowResult, d drainResult) {
	cfg, out, st := r.cfg, r.out, r.st
	secs := cfg.duration.Seconds()
	written := (w.m1.sum("fleet_influx_points_written_total") - w.m0.sum("fleet_influx_points_written_total")) / secs
	handled := (w.m1.sum("fleet_ingest_messages_total") - w.m0.sum("fleet_ingest_messages_total")) / secs
	offered := float64(st.inWindow.Load()) / secs
	lat, seen, pending := r.tr.result()
	ls := summarize(lat)
	fmt.Fprintf(out, "\n%-34s %10s\n", "throughput in the window", "msg/s")
	fmt.Fprintf(out, "%-34s %10.0f\n", "  offered (due in the window)", offered)
	fmt.Fprintf(out, "%-34s %10.0f\n", "  handled by ingest", handled)
	fmt.Fprintf(out, "%-34s %10.0f\n", "  written to InfluxDB by fleetd", written)
	if cfg.ceiling > 0 {
		fmt.Fprintf(out, "%-34s %9.0f%%  of InfluxDB alone (%.0f points/s)\n", "  share of the ceiling", 100*written/cfg.ceiling, cfg.ceiling)
	}
	fmt.Fprintf(out, "\nlatency publish → queryable, %d samples from %d marker devices (poll every %s; upper bound):\n",
		ls.n, cfg.markers, cfg.poll)
	fmt.Fprintf(out, "  p50 %s   p90 %s   p99 %s   p99.9 %s   max %s\n", ms(ls.p50), ms(ls.p90), ms(ls.p99), ms(ls.p999), ms(ls.mx))
	fmt.Fprintf(out, "sender lateness against the open-loop plan: p50 %s   p99 %s   max %s\n",
		ms(st.lag.percentile(50)), ms(st.lag.percentile(99)), ms(st.lag.max))

	missing := st.acked.Load() - d.stored
	fmt.Fprintf(out, "\ncompleteness over the whole run (warm-up included):\n")
	fmt.Fprintf(out, "  sent %d, completed by the client %d (failed %d, timed out %d), connections lost %d\n",
		st.sent.Load(), st.acked.Load(), st.failed.Load(), st.timedOut.Load(), r.cst.lost.Load())
	if d.countErr != nil {
		fmt.Fprintf(out, "  InfluxDB count failed: %v\n", d.countErr)
	} else {
		fmt.Fprintf(out, "  in InfluxDB %d: missing %d; drained %s after the last send\n", d.stored, missing, d.took.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "  marker messages seen %d, never seen %d; marker polls %d (%d failed)\n", seen, pending, r.polls, r.pollFails)
	var trouble []string
	for _, name := range troubleMetrics {
		if v := d.mEnd.sum(name); v != 0 {
			trouble = append(trouble, fmt.Sprintf("%s=%.0f", name, v))
		}
	}
	if len(trouble) == 0 {
		fmt.Fprintf(out, "  fleetd's refusal, drop and failure counters: all zero\n")
	} else {
		fmt.Fprintf(out, "  fleetd counters not zero: %v\n", trouble)
	}
	fmt.Fprintf(out, "  back-pressure: shard queues blocked %.0f times, %.1f s in all\n",
		d.mEnd.sum("fleet_ingest_queue_blocked_total"), d.mEnd.sum("fleet_ingest_queue_blocked_seconds_total"))

	fmt.Fprintln(out)
	printUses(out, w.uses, w.busy)
	if handled > 0 {
		fmt.Fprintf(out, "CPU per message handled:")
		for _, u := range w.uses {
			fmt.Fprintf(out, "  %s %.0f µs", u.name, u.cores*1e6/handled)
		}
		fmt.Fprintln(out)
	}
	perConn := float64(r.conn.RSSKB-r.idle.RSSKB) / float64(cfg.connections)
	fmt.Fprintf(out, "%s memory: %.0f MB before the devices connected, %.0f MB with %d connections: %.1f KB per connection, about %.0f MB at 100,000 (linear)\n",
		r.brokerName, float64(r.idle.RSSKB)/1024, float64(r.conn.RSSKB)/1024, cfg.connections, perConn,
		(float64(r.idle.RSSKB)+perConn*100000)/1024)
	fmt.Fprintf(out, "fleetd's Go runtime at the end of the window: heap in use %.0f MB, goroutine stacks %.0f MB (%.0f goroutines), from the OS %.0f MB\n",
		w.m1.sum("go_memstats_heap_inuse_bytes")/(1<<20), w.m1.sum("go_memstats_stack_inuse_bytes")/(1<<20),
		w.m1.sum("go_goroutines"), w.m1.sum("go_memstats_sys_bytes")/(1<<20))
	// Allocation per message does not depend on what else the machine
	// runs, unlike CPU time: the steadiest measure of fleetd's own work.
	allocPerMsg := (w.m1.sum("go_memstats_alloc_bytes_total") - w.m0.sum("go_memstats_alloc_bytes_total")) / max(handled*secs, 1)
	gcCycles := w.m1.sum("go_gc_duration_seconds_count") - w.m0.sum("go_gc_duration_seconds_count")
	fmt.Fprintf(out, "fleetd's Go runtime in the window: %.0f bytes allocated per message handled, %.0f garbage collections\n",
		allocPerMsg, gcCycles)
	fmt.Fprintf(out, "fleetload memory with its %d %s clients: %.0f MB\n", cfg.connections, cfg.client, float64(r.self.RSSKB)/1024)
	fmt.Fprintf(out, "load average: before the window see above; at its end %s\n", w.loadEnd)

	lossless := missing == 0 && d.countErr == nil && pending == 0 && r.cst.lost.Load() == 0 &&
		st.failed.Load() == 0 && st.timedOut.Load() == 0
	share := ""
	if cfg.ceiling > 0 {
		share = fmt.Sprintf(" ceiling_share=%.0f%%", 100*written/cfg.ceiling)
	}
	fd, in, gen, mq := use(w.uses, "fleetd"), use(w.uses, "influxd"), use(w.uses, "fleetload"), use(w.uses, "mosquitto")
	fmt.Fprintf(out, "\nRESULT mode=ingest broker=%s client=%s qos=%d connections=%d offered=%.0f written=%.0f msg/s%s "+
		"lossless=%t missing=%d p50=%s p99=%s max=%s fleetd_cores=%.2f fleetd_us_per_msg=%.0f fleetd_cpu_wait=%.2f "+
		"fleetd_alloc_b_per_msg=%.0f fleetd_gcs=%.0f influxd_cores=%.2f fleetload_cores=%.2f mosquitto_cores=%.2f others_cores=%.2f "+
		"fleetd_rss_mb=%.0f influxd_rss_mb=%.0f load=%q\n",
		brokerTag(cfg), cfg.client, cfg.qos, cfg.connections, offered, written, share,
		lossless, missing, ms(ls.p50), ms(ls.p99), ms(ls.mx), fd.cores, fd.cores*1e6/max(handled, 1), fd.wait,
		allocPerMsg, gcCycles, in.cores, gen.cores, mq.cores, othersOf(w.uses, w.busy), fd.peak, in.peak, w.loadEnd)
}

func brokerTag(c ingestConfig) string {
	switch {
	case c.mosquitto:
		return "mosquitto"
	case c.mqttURL != "":
		return "external"
	}
	return "embedded"
}

// use is the named process's figures (zero if it did not run).
func use(uses []procUse, name string) procUse {
	for _, u := range uses {
		if u.name == name {
			return u
		}
	}
	return procUse{name: name}
}

func othersOf(uses []procUse, busy float64) float64 {
	var ours float64
	for _, u := range uses {
		ours += u.cores
	}
	return max(busy-ours, 0)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + "ms"
}
