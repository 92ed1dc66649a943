// Command videoload measures the live video relay on this machine: K
// sources pushed over RTSP by ffmpeg, M viewers spread over them, and what
// that costs the relay in CPU and memory; and, on one more source whose
// frames carry their send time, the latency from push to viewer over
// RTSP, LL-HLS and WebRTC. It runs the same load, one relay after the
// other in one run, through fleetd (built from this module) and through
// MediaMTX v1.14.0 (built from its module at run time, cached under
// ~/.cache/fleet-test/bin), and prints them side by side and a RESULT
// line.
//
//	videoload -k 50 -m 50 -viewer rtsp -relays fleetd,mediamtx
//
// The pattern (640x360, 25 fps, H.264 baseline) is encoded once; each
// pusher loops it with -c copy, so the pushers cost little and the same
// for both relays. The marker source is this process: it publishes the
// pattern's frames with a SEI message carrying the send time, and one
// viewer per protocol reads it back (sei.go). Viewers and the marker run
// in this process; the relays and pushers are child processes on
// loopback ports, stopped by PID when done. fleetd lets RTSP readers in
// only with its reader password, which the tool sets where fleetd has a
// -video-reader-secret flag; without it RTSP viewers of fleetd are not
// measured. See BENCHMARKS.md for figures and how they were taken.
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
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "videoload:", err)
		os.Exit(1)
	}
}

// Viewer protocols.
const (
	protoRTSP   = "rtsp"
	protoHLS    = "hls"
	protoWebRTC = "webrtc"
)

var allProtocols = []string{protoRTSP, protoHLS, protoWebRTC}

// Relays.
const (
	relayFleetd   = "fleetd"
	relayMediaMTX = "mediamtx"
)

type config struct {
	k, m     int
	viewer   string   // protocol of the M load viewers
	latency  []string // protocols of the viewers on the marker stream
	duration time.Duration
	warmup   time.Duration
	relays   []string
	work     string
	keep     bool

	fleetd     string   // binary; "" builds cmd/fleetd
	fleetdEnv  []string // KEY=VALUE added to fleetd's environment
	fleetdArgs []string // extra fleetd flags
	mediamtx   string   // binary; "" builds (or reuses) the cached one
	// alwaysRemux has MediaMTX make HLS of every stream whether watched or not.
	alwaysRemux bool
	ffmpeg      string

	seconds int    // length of the test pattern, looped by the pushers
	bitrate string // of the test pattern, ffmpeg syntax
	gop     int    // frames between key frames
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("videoload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.k, "k", 10, "sources pushed by ffmpeg (the marker source comes on top)")
	fs.IntVar(&c.m, "m", 20, "viewers, spread round-robin over the K sources")
	fs.StringVar(&c.viewer, "viewer", protoRTSP, "protocol of the M viewers: rtsp, hls or webrtc")
	latency := fs.String("latency", strings.Join(allProtocols, ","), "protocols whose latency is measured on the marker stream (comma-separated; empty for none)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 10*time.Second, "time after every viewer started before measuring")
	relays := fs.String("relays", relayFleetd+","+relayMediaMTX, "relays to measure, one after the other: fleetd, mediamtx")
	fs.StringVar(&c.work, "work", "", "working directory for the test pattern, data and logs (default: a temporary one, removed afterwards)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory")
	fs.StringVar(&c.fleetd, "fleetd", "", "fleetd binary (default: go build ./cmd/fleetd into the working directory)")
	fs.StringVar(&c.mediamtx, "mediamtx", "", "MediaMTX binary (default: "+defaultMediaMTX()+", built from the v1.14.0 module if missing)")
	fs.BoolVar(&c.alwaysRemux, "mediamtx-always-remux", false, "have MediaMTX make HLS of every stream whether watched or not (hlsAlwaysRemux); fleetd, like MediaMTX by default, makes it on demand")
	fs.StringVar(&c.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	fs.IntVar(&c.seconds, "pattern-seconds", 30, "length of the encoded test pattern that the pushers loop")
	fs.StringVar(&c.bitrate, "bitrate", "1000k", "video bitrate of the test pattern (640x360, 25 fps)")
	fs.IntVar(&c.gop, "gop", 50, "frames from one key frame to the next (25 fps: 50 is 2 s)")
	fs.Func("fleetd-env", "`KEY=VALUE` added to fleetd's environment (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		c.fleetdEnv = append(c.fleetdEnv, v)
		return nil
	})
	fs.Func("fleetd-arg", "extra fleetd `flag`, e.g. -fleetd-arg=-log-level=warn (repeatable)", func(v string) error {
		c.fleetdArgs = append(c.fleetdArgs, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.relays = splitList(*relays)
	c.latency = splitList(*latency)
	return c, c.check()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func (c config) check() error {
	switch {
	case c.k < 1:
		return errors.New("-k: at least one source")
	case c.m < 0:
		return errors.New("-m: not negative")
	case !slices.Contains(allProtocols, c.viewer):
		return fmt.Errorf("-viewer %q: want rtsp, hls or webrtc", c.viewer)
	case c.duration <= 0 || c.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case len(c.relays) == 0:
		return errors.New("-relays: name at least one")
	case c.seconds < 2 || c.gop < 1:
		return errors.New("-pattern-seconds at least 2, -gop at least 1")
	}
	for _, p := range c.latency {
		if !slices.Contains(allProtocols, p) {
			return fmt.Errorf("-latency %q: want rtsp, hls or webrtc", p)
		}
	}
	for _, r := range c.relays {
		if r != relayFleetd && r != relayMediaMTX {
			return fmt.Errorf("-relays %q: want fleetd or mediamtx", r)
		}
	}
	return nil
}

func defaultMediaMTX() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "fleet-test", "bin", "mediamtx-"+mediamtxVersion)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	dir, cleanup, err := workDir(cfg.work, cfg.keep, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "videoload: "+format+"\n", a...)
	}

	if err := prepareBinaries(ctx, &cfg, dir, logf); err != nil {
		return err
	}
	pat, err := preparePattern(ctx, cfg, dir, logf)
	if err != nil {
		return err
	}
	var results []*result
	for _, name := range cfg.relays {
		if ctx.Err() != nil {
			break
		}
		res, err := runRelay(ctx, cfg, name, dir, pat, logf)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, res)
		printResult(stdout, cfg, res)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	printComparison(stdout, cfg, results)
	return nil
}

// workDir makes or opens the working directory; cleanup removes a
// temporary one unless it is to be kept.
func workDir(dir string, keep bool, stderr io.Writer) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		abs, err := filepath.Abs(dir)
		return abs, func() {}, err
	}
	d, err := os.MkdirTemp("", "videoload-")
	if err != nil {
		return "", nil, err
	}
	return d, func() {
		if keep {
			fmt.Fprintln(stderr, "videoload: logs and data kept in", d)
			return
		}
		os.RemoveAll(d)
	}, nil
}
