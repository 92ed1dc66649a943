package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// summary is the percentiles the report prints.
type summary struct {
	n                 int
	p50, p90, p99, mx time.Duration
}

// summarize takes nearest-rank percentiles.
func summarize(samples []time.Duration) summary {
	s := slices.Clone(samples)
	slices.Sort(s)
	out := summary{n: len(s)}
	if len(s) == 0 {
		return out
	}
	rank := func(p float64) time.Duration {
		r := max(int(math.Ceil(p/100*float64(len(s))-1e-9)), 1)
		return s[min(r, len(s))-1]
	}
	out.p50, out.p90, out.p99, out.mx = rank(50), rank(90), rank(99), s[len(s)-1]
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// streams is how many streams the relay relays: the K pushed and the
// marker.
func streams(cfg config) int { return cfg.k + 1 }

// perStream is the relay's CPU in milliseconds per second per stream.
func perStream(cfg config, r *result) float64 {
	return r.relayUse.cores * 1000 / float64(streams(cfg))
}

// viewerFigures sums up the load viewers of a run.
type viewerFigures struct {
	silent           int     // viewers that received no frame in the window
	fpsMin, fpsAvg   float64 // frames per second per viewer
	kbpsAvg, mbpsAll float64
}

func figures(r *result) viewerFigures {
	var f viewerFigures
	if len(r.frames) == 0 {
		return f
	}
	secs := r.wall.Seconds()
	f.fpsMin = math.Inf(1)
	var frames, bytes int64
	for i, n := range r.frames {
		if n == 0 {
			f.silent++
		}
		f.fpsMin = min(f.fpsMin, float64(n)/secs)
		frames += n
		bytes += r.bytes[i]
	}
	f.fpsAvg = float64(frames) / secs / float64(len(r.frames))
	f.mbpsAll = float64(bytes) * 8 / secs / 1e6
	f.kbpsAvg = f.mbpsAll * 1000 / float64(len(r.frames))
	return f
}

var latencyNotes = map[string]string{
	protoRTSP:   "arrival = last RTP packet of the frame",
	protoHLS:    "arrival = the LL-HLS part holding the frame downloaded",
	protoWebRTC: "arrival = frame complete (packets reordered, retransmissions waited for), before a browser's playout delay",
}

func printResult(w io.Writer, cfg config, r *result) {
	fmt.Fprintf(w, "\n== %s: K=%d sources (+1 marker), M=%d %s viewers, %s measured after %s warm-up\n",
		relayTitle(cfg, r.relay), cfg.k, cfg.m, cfg.viewer, r.wall.Round(time.Second), cfg.warmup)
	fmt.Fprintf(w, "   load average before %s, after %s; machine busy %.2f of 2 cores in the window\n",
		r.loadBefore, r.loadAfter, r.machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tCPU cores\tRSS MB\tpeak RSS MB\t")
	fmt.Fprintf(tw, "%s\t%.3f\t%.1f\t%.1f\t\n", r.relay, r.relayUse.cores, r.relayUse.rssMB, r.relayUse.peakMB)
	fmt.Fprintf(tw, "ffmpeg pushers ×%d\t%.3f\t%.1f\t%.1f\t\n", cfg.k, r.pusherUse.cores, r.pusherUse.rssMB, r.pusherUse.peakMB)
	fmt.Fprintf(tw, "videoload (viewers, marker)\t%.3f\t%.1f\t%.1f\t\n", r.toolUse.cores, r.toolUse.rssMB, r.toolUse.peakMB)
	tw.Flush()
	fmt.Fprintf(w, "   relay CPU per relayed stream: %.2f ms/s (%d streams)\n", perStream(cfg, r), streams(cfg))
	f := figures(r)
	fmt.Fprintf(w, "   viewers: %d of %d received frames (%d silent); per viewer %.1f fps avg, %.1f min (source %d fps), %.0f kbit/s; all together %.1f Mbit/s\n",
		cfg.m-f.silent, cfg.m, f.silent, f.fpsAvg, f.fpsMin, patternFPS, f.kbpsAvg, f.mbpsAll)
	fmt.Fprintf(w, "   ready: every viewer had a frame %s after the first started (%d never did; %d session attempts failed before the window); in the window %d viewer sessions failed or broke off; %d pusher restarts in the run\n",
		r.readyIn.Round(time.Millisecond), r.notReady, r.startFails, r.failures, r.restarts)
	if r.lastErr != nil {
		fmt.Fprintf(w, "   last viewer error: %v\n", r.lastErr)
	}
	if len(cfg.latency) == 0 {
		return
	}
	fmt.Fprintf(w, "   latency, marker stream (send → arrival, ms; %d frames sent in the window):\n", r.markerSent)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   protocol\tn\tp50\tp90\tp99\tmax\tnote")
	for _, proto := range cfg.latency {
		lr := r.latency[proto]
		if lr == nil || len(lr.samples) == 0 {
			var why error = errNoFrames
			if lr != nil && lr.err != nil {
				why = lr.err
			}
			fmt.Fprintf(tw, "   %s\t0\t-\t-\t-\t-\tn/a: %v\n", proto, why)
			continue
		}
		s := summarize(lr.samples)
		fmt.Fprintf(tw, "   %s\t%d\t%s\t%s\t%s\t%s\t%s\n", proto, s.n, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.mx), latencyNotes[proto])
	}
	tw.Flush()
}

func relayTitle(cfg config, name string) string {
	switch {
	case name == relayMediaMTX && cfg.alwaysRemux:
		return "MediaMTX " + mediamtxVersion + " (HLS of every stream: hlsAlwaysRemux)"
	case name == relayMediaMTX:
		return "MediaMTX " + mediamtxVersion + " (HLS on demand)"
	}
	return "fleetd (this module; HLS on demand)"
}

// printComparison prints the relays side by side and the RESULT line.
func printComparison(w io.Writer, cfg config, results []*result) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== side by side: K=%d M=%d viewer=%s, %s each\n", cfg.k, cfg.m, cfg.viewer, cfg.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, cell func(*result) string) {
		fmt.Fprint(tw, label+"\t")
		for _, r := range results {
			fmt.Fprint(tw, cell(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("", func(r *result) string { return r.relay })
	row("relay CPU, cores", func(r *result) string { return fmt.Sprintf("%.3f", r.relayUse.cores) })
	row("CPU per stream, ms/s", func(r *result) string { return fmt.Sprintf("%.2f", perStream(cfg, r)) })
	row("relay RSS MB (peak)", func(r *result) string {
		return fmt.Sprintf("%.0f (%.0f)", r.relayUse.rssMB, r.relayUse.peakMB)
	})
	row("viewers with frames", func(r *result) string {
		return fmt.Sprintf("%d/%d", cfg.m-figures(r).silent, cfg.m)
	})
	row("fps per viewer (min)", func(r *result) string {
		f := figures(r)
		return fmt.Sprintf("%.1f (%.1f)", f.fpsAvg, f.fpsMin)
	})
	for _, proto := range cfg.latency {
		row(proto+" latency p50/p99 ms", func(r *result) string {
			lr := r.latency[proto]
			if lr == nil || len(lr.samples) == 0 {
				return "n/a"
			}
			s := summarize(lr.samples)
			return ms(s.p50) + " / " + ms(s.p99)
		})
	}
	row("load avg before", func(r *result) string { return strings.Fields(r.loadBefore + " ?")[0] })
	tw.Flush()

	fields := []string{fmt.Sprintf("k=%d", cfg.k), fmt.Sprintf("m=%d", cfg.m), "viewer=" + cfg.viewer}
	if slices.Contains(cfg.relays, relayMediaMTX) {
		fields = append(fields, "mediamtx_hls="+map[bool]string{false: "on_demand", true: "always"}[cfg.alwaysRemux])
	}
	byName := map[string]*result{}
	for _, r := range results {
		byName[r.relay] = r
		p := r.relay + "_"
		f := figures(r)
		fields = append(fields, fmt.Sprintf("%scpu_cores=%.3f", p, r.relayUse.cores),
			fmt.Sprintf("%scpu_ms_per_stream=%.2f", p, perStream(cfg, r)),
			fmt.Sprintf("%srss_mb=%.0f", p, r.relayUse.peakMB),
			fmt.Sprintf("%ssilent=%d", p, f.silent))
		for _, proto := range cfg.latency {
			if lr := r.latency[proto]; lr != nil && len(lr.samples) > 0 {
				s := summarize(lr.samples)
				fields = append(fields, fmt.Sprintf("%s%s_p50_ms=%s", p, proto, ms(s.p50)),
					fmt.Sprintf("%s%s_p99_ms=%s", p, proto, ms(s.p99)))
			}
		}
	}
	if a, b := byName[relayFleetd], byName[relayMediaMTX]; a != nil && b != nil && b.relayUse.cores > 0 {
		fields = append(fields, fmt.Sprintf("cpu_ratio_fleetd_to_mediamtx=%.2f", a.relayUse.cores/b.relayUse.cores))
	}
	fmt.Fprintln(w, "RESULT "+strings.Join(fields, " "))
}
