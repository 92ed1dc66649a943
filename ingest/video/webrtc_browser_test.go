package video_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// envNetns marks the test binary re-run inside a network namespace of its
// own, where the only interface is loopback.
const envNetns = "FLEET_TEST_WEBRTC_NETNS"

// The browser's own WHEP client (web/ui/static/js/command/whep.js) plays a
// recorder's push in headless Chromium: H.264 High profile (recorders'
// usual; browsers offer it under its own profile-level-id) with Opus
// sound. The video element shows 640x360 frames that advance and has the
// sound track, the view is audited, and close() ends the session.
//
// Chromium gathers ICE candidates on every interface and has no switch to
// keep to loopback, so the test runs in a network namespace with loopback
// only: no connectivity check can leave the machine.
func TestWebRTCInChromium(t *testing.T) {
	chromium := testenv.Chromium(t)
	ffmpeg, _ := testenv.FFmpeg(t)
	if os.Getenv(envNetns) == "" {
		rerunInNetns(t, "TestWebRTCInChromium")
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bring loopback up: %v %s", err, out)
	}

	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-BROWSER", "")
	r := startRelay(t, webrtcConfig(video.Config{ReadyTimeout: liveWait}), video.Deps{Auth: reg, Devices: reg})
	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID), "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-profile:v", "high", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "libopus", "-ar", "48000"); err != nil {
		t.Fatal(err)
	}

	whepJS, err := os.ReadFile(filepath.Join("..", "..", "web", "ui", "static", "js", "command", "whep.js"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/video/", r.Handler())
	mux.HandleFunc("GET /whep.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(whepJS)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><video id="v" muted autoplay playsinline></video>
<script type="module">
import { playWHEP } from '/whep.js';
window.result = { state: 'starting' };
try {
  window.session = await playWHEP(document.getElementById('v'), '/video/%s/whep?token=%s', {});
  window.result = { state: 'answered' };
} catch (e) {
  window.result = { state: 'error', message: String(e.message), status: e.status };
}
</script>`, rec.ID, testToken)
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	ctx := newChromium(t, chromium)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	type playback struct {
		State   string
		Message string
		Width   int
		Height  int
		Frames  int
		Audio   int
	}
	var p playback
	deadline := time.Now().Add(liveWait)
	for {
		var err error
		p, err = chromedp.Run(ctx, chromedp.Evaluate[playback](`(() => { const v = document.getElementById('v');
			return { state: window.result.state, message: window.result.message || '', width: v.videoWidth,
				height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames,
				audio: v.srcObject ? v.srcObject.getAudioTracks().length : 0 }; })()`))
		if err != nil {
			t.Fatalf("read the player: %v", err)
		}
		if p.State == "error" {
			t.Fatalf("playWHEP failed: %s", p.Message)
		}
		if p.Frames >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 50 frames within %v: %+v", liveWait, p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p.Width != 640 || p.Height != 360 || p.Audio != 1 {
		t.Errorf("video is %dx%d with %d sound tracks, want 640x360 with one", p.Width, p.Height, p.Audio)
	}
	t.Logf("Chromium decoded %d frames over WebRTC", p.Frames)
	if started, _ := r.audit.counts(); started != 1 {
		t.Errorf("%d views audited as started, want 1", started)
	}

	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.session.close(), true)`)); err != nil {
		t.Fatalf("close(): %v", err)
	}
	waitFor(t, liveWait, "close() to end the view on the relay", func() bool {
		_, ended := r.audit.counts()
		return ended == 1
	})
}

// newChromium starts headless Chromium for a page on loopback (flags from
// shared/INFRA.md) and returns its tab.
func newChromium(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Loopback candidates, as plain addresses: the namespace has no
		// other interface, and the relay resolves no mDNS names.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return ctx
}

// rerunInNetns runs test again in this test binary, inside a new network
// namespace (unshare -n, which needs root), and reports its outcome.
func rerunInNetns(t *testing.T, test string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err == nil {
		err = exec.Command(unshare, "-n", "true").Run()
	}
	if err != nil {
		msg := fmt.Sprintf("no network namespace for the browser (unshare -n needs root): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	args := []string{"-n", "--", os.Args[0], "-test.run=^" + test + "$", "-test.count=1", "-test.v"}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), envNetns+"=1")
	out, err := cmd.CombinedOutput()
	// The test's own lines and its verdict; everything when it failed.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "_test.go:") || strings.HasPrefix(strings.TrimSpace(l), "--- ") {
			keep = append(keep, l)
		}
	}
	passed := bytes.Contains(out, []byte("--- PASS: "+test))
	if err != nil || !passed {
		t.Fatalf("%s in its network namespace: %v\n%s", test, err, tail(string(out), 80))
	}
	t.Logf("in its network namespace:\n%s", strings.Join(keep, "\n"))
}
