package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lawfleet/fleet/internal/loadproc"
)

// result is one relay's run.
type result struct {
	relay      string
	wall       time.Duration // measured window
	relayUse   usage
	pusherUse  usage
	toolUse    usage
	machine    float64 // busy cores, whole machine
	frames     []int64 // per load viewer, in the window
	bytes      []int64
	failures   int64 // load viewer sessions that failed or broke off in the window
	startFails int64 // ... before it (e.g. asked for a path not yet published)
	lastErr    error // of some load viewer, for the report
	restarts   int64 // pusher restarts, whole run
	markerSent int64 // marker frames sent in the window
	latency    map[string]*latencyResult
	readyIn    time.Duration // from the first viewer's start to every viewer having a frame
	notReady   int           // viewers still without a frame when the wait ended
	loadBefore string
	loadAfter  string
}

type latencyResult struct {
	samples []time.Duration
	marks   []mark // of each sample
	frames  int    // access units received in the window
	err     error  // why there are none
}

// viewerFor returns the function that views streams over proto.
func viewerFor(proto string) viewFunc {
	switch proto {
	case protoHLS:
		return viewHLS
	case protoWebRTC:
		return viewWebRTC
	}
	return viewRTSP
}

func urlFor(r relay, proto string, i int) string {
	switch proto {
	case protoHLS:
		return r.hlsURL(i)
	case protoWebRTC:
		return r.whepURL(i)
	}
	return r.rtspURL(i)
}

// startRelay starts the named relay; its binary is in cfg (see
// prepareBinaries).
func startRelay(ctx context.Context, cfg config, name, dir string) (relay, error) {
	switch name {
	case relayFleetd:
		return startFleetd(ctx, cfg.fleetd, dir, cfg.k+1, cfg.fleetdEnv, cfg.fleetdArgs)
	case relayMediaMTX:
		return startMediaMTX(cfg.mediamtx, dir, cfg.k, cfg.alwaysRemux)
	}
	return nil, fmt.Errorf("unknown relay %q", name)
}

// prepareBinaries builds what cfg does not name, before anything is
// measured: fleetd from this module, MediaMTX from its module (cached).
func prepareBinaries(ctx context.Context, cfg *config, dir string, logf func(string, ...any)) error {
	if slices.Contains(cfg.relays, relayFleetd) && cfg.fleetd == "" {
		logf("building fleetd")
		bin, err := buildFleetd(ctx, dir)
		if err != nil {
			return err
		}
		cfg.fleetd = bin
	}
	if slices.Contains(cfg.relays, relayMediaMTX) && cfg.mediamtx == "" {
		cfg.mediamtx = defaultMediaMTX()
		if err := ensureMediaMTX(ctx, cfg.mediamtx, logf); err != nil {
			return err
		}
	}
	return nil
}

// runRelay starts the relay, the pushers, the marker source and the
// viewers, waits for every viewer to receive, warms up, measures, and
// stops everything it started.
func runRelay(ctx context.Context, cfg config, name, workDir string, pat *pattern, logf func(string, ...any)) (*result, error) {
	dir := filepath.Join(workDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &result{relay: name, loadBefore: loadproc.Loadavg(), latency: map[string]*latencyResult{}}
	logf("%s: starting (load average %s)", name, res.loadBefore)
	r, err := startRelay(ctx, cfg, name, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := r.stop(); err != nil {
			logf("%v", err)
		}
	}()
	if err := r.serves(cfg.viewer); err != nil {
		return nil, fmt.Errorf("cannot run %s viewers: %w", cfg.viewer, err)
	}

	logf("%s: %d ffmpeg pushers and the marker source", name, cfg.k)
	push := startPushers(ctx, cfg, r, pat, dir, logf)
	defer push.stop()
	var wg sync.WaitGroup
	srcCtx, stopSrc := context.WithCancel(ctx)
	defer func() { stopSrc(); wg.Wait() }()
	var markerSent atomic.Int64
	wg.Go(func() { runMarker(srcCtx, r.pushURL(cfg.k), pat, &markerSent, logf) })
	// Let the pushes be announced before viewers ask for them: a relay
	// may answer a reader of a path nobody publishes with 404.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}

	logf("%s: %d %s viewers over %d streams, latency viewers %v on the marker", name, cfg.m, cfg.viewer, cfg.k, cfg.latency)
	viewCtx, stopViewers := context.WithCancel(ctx)
	var viewWG sync.WaitGroup
	defer func() { stopViewers(); viewWG.Wait() }()
	stats := make([]*viewerStats, cfg.m)
	view := viewerFor(cfg.viewer)
	began := time.Now()
	for i := range cfg.m {
		st := &viewerStats{}
		stats[i] = st
		u := urlFor(r, cfg.viewer, i%cfg.k)
		viewWG.Go(func() { keepViewing(viewCtx, view, u, st, nil) })
		// Spread the session set-ups, as viewers do not all click at once.
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
	recs := map[string]*latencyRecorder{}
	recStats := map[string]*viewerStats{}
	for _, proto := range cfg.latency {
		if err := r.serves(proto); err != nil {
			res.latency[proto] = &latencyResult{err: err}
			continue
		}
		rec, st := &latencyRecorder{}, &viewerStats{}
		recs[proto], recStats[proto] = rec, st
		u := urlFor(r, proto, cfg.k)
		viewWG.Go(func() { keepViewing(viewCtx, viewerFor(proto), u, st, rec.au) })
	}

	// Every viewer should be receiving before the clock starts.
	deadline := time.Now().Add(30*time.Second + time.Duration(cfg.m)*50*time.Millisecond)
	for {
		waiting := 0
		for _, st := range stats {
			if st.frames.Load() == 0 {
				waiting++
			}
		}
		res.readyIn, res.notReady = time.Since(began), waiting
		if waiting == 0 || time.Now().After(deadline) {
			break
		}
		if r.proc().Exited() {
			return nil, fmt.Errorf("%s exited: %s", name, r.proc().LogTail(20))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	logf("%s: viewers receiving after %s (%d still without a frame); warming up %s", name,
		res.readyIn.Round(time.Millisecond), res.notReady, cfg.warmup)
	if err := sleep(ctx, cfg.warmup); err != nil {
		return nil, err
	}

	relayG := &group{pids: func() []int { return []int{r.proc().PID()} }}
	pushG := &group{pids: push.pids}
	toolG := &group{pids: func() []int { return []int{os.Getpid()} }}
	groups := []*group{relayG, pushG, toolG}
	frames0, bytes0 := counters(stats)
	var fails0 int64
	for _, st := range stats {
		fails0 += st.failures.Load()
	}
	sent0 := markerSent.Load()
	for _, g := range groups {
		g.reset()
	}
	busy0, _, _ := loadproc.MachineCPU()
	start := time.Now()
	for _, rec := range recs {
		rec.setOn(true)
	}
	logf("%s: measuring for %s", name, cfg.duration)
	end := start.Add(cfg.duration)
	for time.Now().Before(end) {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return nil, err
		}
		for _, g := range groups {
			g.sample()
		}
		if r.proc().Exited() {
			return nil, fmt.Errorf("%s exited during the run: %s", name, r.proc().LogTail(20))
		}
	}
	res.wall = time.Since(start)
	for _, rec := range recs {
		rec.setOn(false)
	}
	res.relayUse, res.pusherUse, res.toolUse = relayG.read(res.wall), pushG.read(res.wall), toolG.read(res.wall)
	if busy1, _, err := loadproc.MachineCPU(); err == nil {
		res.machine = (busy1 - busy0).Seconds() / res.wall.Seconds()
	}
	frames1, bytes1 := counters(stats)
	for i := range stats {
		res.frames = append(res.frames, frames1[i]-frames0[i])
		res.bytes = append(res.bytes, bytes1[i]-bytes0[i])
		res.failures += stats[i].failures.Load()
		if err := stats[i].err(); err != nil {
			res.lastErr = err
		}
	}
	res.failures -= fails0
	res.startFails = fails0
	res.markerSent = markerSent.Load() - sent0
	res.restarts = push.restarts.Load()
	for proto, rec := range recs {
		lr := &latencyResult{}
		lr.samples, lr.marks, lr.frames = rec.result()
		if lr.frames == 0 {
			lr.err = recStats[proto].err()
			if lr.err == nil {
				lr.err = errNoFrames
			}
		}
		res.latency[proto] = lr
	}

	if len(recs) > 0 {
		csv := filepath.Join(dir, "latency.csv")
		if err := writeLatencyCSV(csv, cfg.latency, res.latency); err != nil {
			logf("%v", err)
		} else {
			logf("%s: every latency sample in %s", name, csv)
		}
	}
	logf("%s: stopping", name)
	stopViewers()
	viewWG.Wait()
	stopSrc()
	wg.Wait()
	push.stop()
	res.loadAfter = loadproc.Loadavg()
	return res, nil
}

func counters(stats []*viewerStats) (frames, bytes []int64) {
	for _, st := range stats {
		frames = append(frames, st.frames.Load())
		bytes = append(bytes, st.bytes.Load())
	}
	return frames, bytes
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pushers are the K ffmpeg processes that push the test pattern, each
// restarted a second after it exits (a relay may close a push, e.g. one
// nobody watches): the load stays K streams.
type pushers struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	cur      map[int]*loadproc.Child
	restarts atomic.Int64
}

func startPushers(ctx context.Context, cfg config, r relay, pat *pattern, dir string, logf func(string, ...any)) *pushers {
	ctx, cancel := context.WithCancel(ctx)
	p := &pushers{cancel: cancel, cur: map[int]*loadproc.Child{}}
	for i := range cfg.k {
		args := []string{"-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1", "-i", pat.file,
			"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", r.pushURL(i)}
		log := filepath.Join(dir, fmt.Sprintf("ffmpeg-%d.log", i))
		p.wg.Go(func() { p.supervise(ctx, i, cfg.ffmpeg, args, log, logf) })
		// ffmpeg takes some CPU to start; not all at once.
		if sleep(ctx, 50*time.Millisecond) != nil {
			break
		}
	}
	return p
}

func (p *pushers) supervise(ctx context.Context, i int, bin string, args []string, log string, logf func(string, ...any)) {
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 {
			p.restarts.Add(1)
			if sleep(ctx, time.Second) != nil {
				return
			}
		}
		// A restart appends: it keeps its predecessor's last words.
		ch, err := loadproc.Start(fmt.Sprintf("ffmpeg-%d", i), bin, args, log, loadproc.Options{Append: n > 0})
		if err != nil {
			logf("pusher %d: %v", i, err)
			continue
		}
		p.mu.Lock()
		p.cur[i] = ch
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			if err := ch.Stop(5 * time.Second); err != nil {
				logf("%v", err)
			}
		case <-ch.Done():
			if n == 0 || n%10 == 9 {
				logf("pusher %d exited (%v): %s", i, ch.Err(), ch.LogTail(2))
			}
		}
		p.mu.Lock()
		delete(p.cur, i)
		p.mu.Unlock()
	}
}

func (p *pushers) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, len(p.cur))
	for _, c := range p.cur {
		out = append(out, c.PID())
	}
	return out
}

func (p *pushers) stop() {
	p.cancel()
	p.wg.Wait()
}

// writeLatencyCSV writes every marker sample: when it was sent and how
// long it took, per protocol; a stall shows as a run of high values at
// the same send time on every protocol.
func writeLatencyCSV(path string, protos []string, lat map[string]*latencyResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"protocol", "seq", "sent_unix_ms", "latency_ms"})
	for _, proto := range protos {
		lr := lat[proto]
		if lr == nil {
			continue
		}
		for i, d := range lr.samples {
			m := lr.marks[i]
			w.Write([]string{proto, strconv.FormatUint(uint64(m.seq), 10),
				strconv.FormatInt(m.sent.UnixMilli(), 10), strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
