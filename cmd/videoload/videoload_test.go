package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lawfleet/fleet/internal/testenv"
)

// TestRunFleetd runs the whole tool briefly against fleetd built from
// this module: two ffmpeg pushers, two LL-HLS viewers, and the marker
// stream read over HLS and WebRTC. Every viewer must receive the
// pattern's frames and the latencies must be plausible. (MediaMTX is
// left out: building it takes a minute and the module download.)
func TestRunFleetd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fleetd and ffmpeg")
	}
	ffmpegBin, _ := testenv.FFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-k", "2", "-m", "2", "-viewer", "hls", "-latency", "hls,webrtc",
		"-duration", "5s", "-warmup", "1s", "-pattern-seconds", "4", "-relays", "fleetd",
		"-ffmpeg", ffmpegBin, "-work", t.TempDir()}, &stdout, &stderr)
	t.Logf("output:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var result string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "RESULT ") {
			result = line
		}
	}
	if result == "" {
		t.Fatal("no RESULT line")
	}
	field := func(name string) float64 {
		t.Helper()
		m := regexp.MustCompile(` ` + name + `=([0-9.]+)`).FindStringSubmatch(result)
		if m == nil {
			t.Fatalf("RESULT has no %s: %s", name, result)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if n := field("fleetd_silent"); n != 0 {
		t.Errorf("%v viewers received nothing", n)
	}
	if cpu := field("fleetd_cpu_cores"); cpu <= 0 || cpu > 2 {
		t.Errorf("fleetd CPU %v cores: not measured", cpu)
	}
	// LL-HLS parts are 200 ms: a frame waits at most that for its part,
	// plus the machine's noise.
	if p50 := field("fleetd_hls_p50_ms"); p50 > 1000 {
		t.Errorf("HLS p50 latency %v ms", p50)
	}
	if strings.Contains(stdout.String(), "has no -webrtc-udp flag") {
		t.Log("this fleetd has no WebRTC: its latency is not checked")
	} else if p50 := field("fleetd_webrtc_p50_ms"); p50 > 500 {
		t.Errorf("WebRTC p50 latency %v ms", p50)
	}
	if !strings.Contains(stdout.String(), "2 of 2 received frames") {
		t.Errorf("not every viewer received frames")
	}
}
