package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
	"github.com/lawfleet/fleet/web/ui"
)

// videoWait bounds the wait for a first picture: the relay asks the device, ffmpeg starts and
// encodes on two cores shared with the browser, and low-latency HLS needs a few parts first.
const videoWait = 60 * time.Second

// pushers is the relay's StreamStarter in the test: where the MQTT side would publish
// stream.start, it has ffmpeg push a 640x360 test pattern to the relay over RTSP with the
// device's own id and secret, as a 4G recorder or a vehicle terminal does.
type pushers struct {
	t       *testing.T
	ffmpeg  string
	secrets map[string]string // device id → MQTT secret
	relay   *video.Relay

	mu      sync.Mutex
	outputs []string // of the pushes, logged when the test fails
	done    map[string]chan struct{}
	starts  map[string]int
	stops   map[string]int
	cancel  context.CancelFunc
	ctx     context.Context
	waiting sync.WaitGroup
}

func (p *pushers) StartStream(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts[id]++
	if d, ok := p.done[id]; ok {
		select {
		case <-d:
		default:
			return nil // already pushing: stream.start is idempotent
		}
	}
	secret, ok := p.secrets[id]
	if !ok {
		return fmt.Errorf("no secret for %s", id)
	}
	url := fmt.Sprintf("rtsp://%s:%s@%s/%s", id, secret, p.relay.RTSPAddr(), id)
	// -t ends the push by itself should the test binary die before its cleanups.
	cmd := exec.CommandContext(p.ctx, p.ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine", "-t", "180",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "25",
		"-c:a", "aac", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	d := make(chan struct{})
	p.done[id] = d
	p.waiting.Add(1)
	go func() {
		defer p.waiting.Done()
		_ = cmd.Wait() // ffmpeg exits 1 when the relay closes the push
		close(d)
		p.mu.Lock()
		p.outputs = append(p.outputs, fmt.Sprintf("ffmpeg push of %s (%v):\n%s", id, cmd.ProcessState, out.String()))
		p.mu.Unlock()
	}()
	return nil
}

// StopStream counts: the relay closes the push itself, and ffmpeg then exits.
func (p *pushers) StopStream(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stops[id]++
	return nil
}

func (p *pushers) counts(id string) (starts, stops int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts[id], p.stops[id]
}

func (p *pushers) close() {
	p.cancel() // kills the ffmpeg processes still running
	p.waiting.Wait()
	if p.t.Failed() {
		for _, o := range p.outputs {
			p.t.Log(o)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// withVideo mounts a real video relay on the server, wired as fleetd's startVideo wires it
// (the register checks pushes, the server authorises viewers and audits them), with p telling
// the devices to push.
func withVideo(t *testing.T, p *pushers, w *liveWorld) func(*service, *web.Server) {
	return func(svc *service, server *web.Server) {
		t.Helper()
		p.secrets = map[string]string{svc.recorder.ID: svc.recorder.MQTTSecret, w.vehicle.ID: w.vehicle.MQTTSecret}
		p.done = map[string]chan struct{}{}
		p.starts, p.stops = map[string]int{}, map[string]int{}
		p.ctx, p.cancel = context.WithCancel(context.Background())
		relay, err := video.New(video.Config{RTSPAddr: "127.0.0.1:0", WebRTCUDPAddr: "127.0.0.1:0",
			IdleStop: 2 * time.Second, ViewerTimeout: 3 * time.Second},
			video.Deps{Auth: svc.reg, Devices: svc.reg, Starter: p,
				Auditor:   web.NewVideoAudit(svc.reg, slog.New(slog.NewTextHandler(t.Output(), nil))),
				Authorize: server.AuthorizeVideo, Viewer: server.VideoViewer,
				Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			t.Fatalf("video.New: %v", err)
		}
		if err := relay.Start(); err != nil {
			t.Fatalf("start the relay: %v", err)
		}
		p.relay = relay
		// Cleanups run last first: the browser and the HTTP server close before these, so no
		// player holds a request open when the relay closes; then the pushes end.
		t.Cleanup(p.close)
		t.Cleanup(func() { relay.Close() })
		server.MountVideo(relay)
	}
}

// whepWatch sits in front of the server as a network between browser and relay would: it
// counts WHEP offers and session DELETEs per device, and for the device in blockICE it removes
// the ICE candidates from the offer and the answer, as a firewall that drops the media's UDP
// would leave the peers with no path: the signalling succeeds and no picture ever comes.
type whepWatch struct {
	blockICE string

	mu      sync.Mutex
	posts   map[string]int
	deletes map[string]int
}

var (
	whepPath     = regexp.MustCompile(`^/video/([^/]+)/whep(/[^/]+)?$`)
	iceCandidate = regexp.MustCompile(`(?m)^a=(candidate|end-of-candidates).*\r?\n`)
)

func (ww *whepWatch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := whepPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			h.ServeHTTP(w, r)
			return
		}
		id := m[1]
		ww.mu.Lock()
		blocked := id == ww.blockICE
		switch {
		case r.Method == http.MethodPost && m[2] == "":
			ww.posts[id]++
		case r.Method == http.MethodDelete && m[2] != "":
			ww.deletes[id]++
		}
		ww.mu.Unlock()
		if r.Method != http.MethodPost || !blocked {
			h.ServeHTTP(w, r)
			return
		}
		offer, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(iceCandidate.ReplaceAll(offer, nil)))
		r.ContentLength = -1
		r.Header.Del("Content-Length")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := iceCandidate.ReplaceAll(rec.Body.Bytes(), nil)
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

func (ww *whepWatch) setBlocked(id string) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	ww.blockICE = id
}

func (ww *whepWatch) counts(id string) (posts, deletes int) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return ww.posts[id], ww.deletes[id]
}

// frames is what the page measured of one tile's <video> over a few seconds.
type frames struct {
	State     string  `json:"state"`
	Transport string  `json:"transport"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Presented int     `json:"presented"` // requestVideoFrameCallback calls
	Decoded   int     `json:"decoded"`   // growth of getVideoPlaybackQuality().totalVideoFrames
	Seconds   float64 `json:"seconds"`
	Mark      bool    `json:"mark"` // the element marked earlier is still the one on the wall
}

// measureFrames counts the frames device id's tile presents for 3 s.
func measureFrames(b *browser, id string) frames {
	b.t.Helper()
	return evalJS[frames](b, "count the frames of "+id, fmt.Sprintf(`(async () => {
		const tile = document.querySelector('#video-wall .wall-tile[data-device=%q]');
		const v = tile.querySelector('video');
		const q0 = v.getVideoPlaybackQuality().totalVideoFrames;
		const t0 = performance.now();
		let presented = 0;
		await new Promise((resolve) => {
			const step = () => {
				presented++;
				if (performance.now() - t0 < 3000) v.requestVideoFrameCallback(step);
			};
			v.requestVideoFrameCallback(step);
			setTimeout(resolve, 3000);
		});
		return { state: tile.dataset.state, transport: tile.dataset.transport, width: v.videoWidth, height: v.videoHeight,
			presented, decoded: v.getVideoPlaybackQuality().totalVideoFrames - q0, seconds: (performance.now() - t0) / 1000,
			mark: tile.dataset.mark === 'kept' };
	})()`, id))
}

// waitLong waits up to timeout for a JavaScript expression to be true.
func (b *browser) waitLong(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`new Promise((resolve, reject) => {
		const end = Date.now() + %d;
		(function poll() {
			let ok = false;
			try { ok = Boolean(%s); } catch (e) { ok = false; }
			if (ok) return resolve(true);
			if (Date.now() > end) return reject(new Error('still false: ' + %s));
			setTimeout(poll, 100);
		})();
	})`, timeout.Milliseconds(), expr, jsString(expr)), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("wait: %s: %v", what, err)
	}
}

// TestVideoWall plays real live video on the command centre's video wall: a real relay, ffmpeg
// pushing a test pattern with each device's own credentials when the relay asks, and Chromium
// decoding it. The recorder chosen on the map goes on the wall and its frames advance at
// 640x360, over WebRTC when the relay offers it; the vehicle terminal joins it (2×2) from behind
// a network that lets no WebRTC media through, so its tile gives WebRTC up (deleting the session)
// and plays HLS; both play at once and keep playing while the map pans; one tile is enlarged
// and restored with the keyboard; closing a tile stops its stream at the relay; after a
// language switch the wall comes back and plays again; a full wall (3×3) refuses a tenth device.
func TestVideoWall(t *testing.T) {
	chromium := testenv.Chromium(t)
	ffmpeg, _ := testenv.FFmpeg(t)
	w := &liveWorld{}
	p := &pushers{t: t, ffmpeg: ffmpeg}
	ww := &whepWatch{posts: map[string]int{}, deletes: map[string]int{}}
	svc := startServiceWrapped(t, ww.wrap, w.setup(t), withVideo(t, p, w))
	rec, veh := svc.recorder.ID, w.vehicle.ID
	ww.setBlocked(veh)
	api := newAPIClient(t, svc.url)

	// WebRTC where the relay offers it and the UI has its WHEP client; HLS otherwise. (Asking
	// also starts the recorder's push, which stops again with no viewer.)
	var live video.LiveInfo
	api.call(http.MethodGet, "/api/v1/devices/"+rec+"/live", "", &live)
	_, err := fs.Stat(ui.FS(), "js/command/whep.js")
	webrtc := err == nil && live.WebRTC != nil
	recWant := "hls"
	if webrtc {
		recWant = "webrtc"
	}
	t.Logf("the relay offers WebRTC: %v; the recorder's tile should play %s", live.WebRTC != nil, recWant)

	b := newBrowser(t, chromium)
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
	b.signIn(svc.url)
	b.do("open the command centre", chromedp.Click(chromedp.ID("nav-command")))
	b.waitJS("the map is ready", `document.querySelector('#command-map')?.dataset.ready === 'true'`)
	if n := evalJS[int](b, "tiles", `document.querySelectorAll('#video-wall .wall-tile').length`); n != 0 {
		t.Fatalf("%d tiles on the wall before any was added", n)
	}

	// The recorder chosen on the map goes on the wall, named with its holder, and plays.
	b.do("choose the recorder", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.dm[data-device=%q]`, rec))))
	b.waitText("#device-facts", officerName)
	b.do("watch it", chromedp.Click(chromedp.ID("device-video")))
	recTile := fmt.Sprintf(`#video-wall .wall-tile[data-device=%q]`, rec)
	b.waitText(recTile+" .wall-tile-title", recorderSN)
	b.waitText(recTile+" .wall-tile-title", officerName)
	b.waitLong("the recorder's picture", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'live'`, recTile), videoWait)
	starts, recStops := p.counts(rec)
	if starts == 0 {
		t.Error("the relay did not ask the recorder to push")
	}
	f := measureFrames(b, rec)
	t.Logf("recorder tile: %+v", f)
	checkFrames(t, "recorder", f, recWant)
	b.waitText(recTile+" .wall-state", "直播中")
	b.shot("video-wall-one")

	// The vehicle terminal joins: two tiles side by side, both playing at once.
	b.do("choose the vehicle terminal", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.dm[data-device=%q]`, veh))))
	b.waitText("#device-title", vehicleSN)
	b.do("watch it", chromedp.Click(chromedp.ID("device-video")))
	vehTile := fmt.Sprintf(`#video-wall .wall-tile[data-device=%q]`, veh)
	b.waitLong("the vehicle's picture", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'live'`, vehTile), videoWait)
	if cols := evalJS[int](b, "wall columns", `getComputedStyle(document.getElementById('wall-grid')).gridTemplateColumns.split(' ').length`); cols != 2 {
		t.Errorf("two tiles in %d columns, want 2 (a 2×2 wall)", cols)
	}
	b.waitText("#wall-count", "2/9")
	if webrtc {
		// The WebRTC attempt that showed nothing was ended at the relay, not left to time out.
		if posts, deletes := ww.counts(veh); posts != 1 || deletes != 1 {
			t.Errorf("the vehicle's tile made %d WHEP offers and %d DELETEs, want 1 and 1 before falling back to HLS", posts, deletes)
		}
	}

	// Watching a device already on the wall adds no second tile.
	b.do("watch the vehicle again", chromedp.Click(chromedp.ID("device-video")))
	b.waitText("#wall-status", vehicleSN)
	if n := evalJS[int](b, "tiles", `document.querySelectorAll('#video-wall .wall-tile').length`); n != 2 {
		t.Errorf("%d tiles after watching the same device twice, want 2", n)
	}

	// The map pans under the wall: the same tiles keep playing.
	b.do("mark the tiles", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#video-wall .wall-tile').forEach((el) => { el.dataset.mark = 'kept'; })`))
	b.do("pan the map",
		chromedp.Focus(chromedp.ID("command-map")),
		chromedp.KeyEvent(kb.ArrowRight+kb.ArrowRight+kb.ArrowDown))
	b.shot("video-wall-two")
	for id, want := range map[string]string{rec: recWant, veh: "hls"} {
		f := measureFrames(b, id)
		t.Logf("tile %s with two on the wall: %+v", id, f)
		checkFrames(t, id, f, want)
		if !f.Mark {
			t.Errorf("tile %s was rebuilt when the map moved", id)
		}
	}

	// Enlarge the recorder's tile with the keyboard: it takes the map's place; Escape gives the
	// map back and leaves the focus on the button.
	b.do("enlarge the recorder", chromedp.Focus(chromedp.CSS(recTile+" .wall-max")), chromedp.KeyEvent("\r"))
	b.waitJS("the tile is enlarged", fmt.Sprintf(`document.querySelector(%q).classList.contains('is-max') &&
		document.querySelector(%q + ' .wall-max').getAttribute('aria-pressed') === 'true' &&
		getComputedStyle(document.querySelector('.cmd-map-wrap')).display === 'none'`, recTile, recTile))
	// At 1280×800 the map's place is about 680×680 px; two tiles side by side had about 340×290.
	if size := evalJS[[]float64](b, "tile size", fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return [r.width, r.height, document.getElementById('wall-grid').clientWidth]; })()`, recTile)); size[0] < 0.95*size[2]-12 || size[1] < 500 {
		t.Errorf("the enlarged tile is %.0fx%.0f px in a wall %.0f px wide, want the wall's width and the map's height", size[0], size[1], size[2])
	}
	b.shot("video-wall-max")
	b.do("restore it", chromedp.KeyEvent(kb.Escape))
	b.waitJS("the map is back", fmt.Sprintf(`!document.querySelector(%q).classList.contains('is-max') &&
		getComputedStyle(document.querySelector('.cmd-map-wrap')).display !== 'none' &&
		document.activeElement === document.querySelector(%q + ' .wall-max')`, recTile, recTile))

	// Fold the wall to its title bar and unfold it: the pictures are still there and playing.
	b.do("fold the wall", chromedp.Click(chromedp.ID("wall-toggle")))
	b.waitJS("the wall is folded", `document.getElementById('wall-grid').hidden &&
		document.getElementById('wall-toggle').getAttribute('aria-expanded') === 'false'`)
	b.shot("video-wall-folded")
	b.do("unfold the wall", chromedp.Click(chromedp.ID("wall-toggle")))
	b.waitJS("the wall is unfolded", `!document.getElementById('wall-grid').hidden`)
	checkFrames(t, "vehicle after unfolding", measureFrames(b, veh), "hls")

	// Close the vehicle's tile: its player stops, so the relay sees the viewer go and stops the
	// stream; the recorder plays on.
	b.do("close the vehicle's tile", chromedp.Click(chromedp.CSS(vehTile+" .wall-close")))
	b.waitJS("one tile left", `document.querySelectorAll('#video-wall .wall-tile').length === 1`)
	waitUntil(t, videoWait, "the relay to stop the vehicle terminal's stream", func() bool { _, stops := p.counts(veh); return stops > 0 })
	if _, stops := p.counts(rec); stops != recStops {
		t.Errorf("the recorder was told to stop %d times while its tile stayed open", stops-recStops)
	}

	// The page is rebuilt in English: the wall comes back from this tab's session and plays.
	b.do("switch to English", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#wall-title", "Video wall")
	b.waitLong("the recorder's picture after the switch", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'live'`, recTile), videoWait)
	b.waitText(recTile+" .wall-state", "Live")
	checkFrames(t, "recorder after the language switch", measureFrames(b, rec), recWant)

	// A full wall: eight more tiles (ids the register does not know, so they fail at once) make
	// a 3×3 wall, and a tenth device is refused with a message.
	b.do("fill the wall", chromedp.Evaluate[chromedp.Void](`(() => {
		const key = Object.keys(sessionStorage).find((k) => k.startsWith('fleet.wall:') && !k.endsWith('.collapsed'));
		const list = JSON.parse(sessionStorage.getItem(key));
		for (let i = 1; i <= 8; i++) list.push({ id: 'dev_missing' + i, label: 'MISSING-' + i });
		sessionStorage.setItem(key, JSON.stringify(list));
	})()`), chromedp.Reload())
	b.waitJS("nine tiles", `document.querySelectorAll('#video-wall .wall-tile').length === 9 &&
		document.querySelectorAll('#video-wall .wall-tile[data-state=failed]').length === 8`)
	if cols := evalJS[int](b, "wall columns", `getComputedStyle(document.getElementById('wall-grid')).gridTemplateColumns.split(' ').length`); cols != 3 {
		t.Errorf("nine tiles in %d columns, want 3 (a 3×3 wall)", cols)
	}
	b.waitJS("the map is ready", `document.querySelector('#command-map')?.dataset.ready === 'true'`)
	b.do("choose the vehicle terminal", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.dm[data-device=%q]`, veh))))
	b.do("watch it", chromedp.Click(chromedp.ID("device-video")))
	b.waitText("#wall-status", "The video wall is full")
	if n := evalJS[int](b, "tiles", `document.querySelectorAll('#video-wall .wall-tile').length`); n != 9 {
		t.Errorf("%d tiles after adding to a full wall, want 9", n)
	}
	b.shot("video-wall-full")

	// Close all: every player stops; a WebRTC session is deleted at the relay.
	b.waitLong("the recorder's picture after the reload", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'live'`, recTile), videoWait)
	_, before := ww.counts(rec)
	b.do("close all", chromedp.Click(chromedp.ID("wall-close-all")))
	b.waitJS("the wall is empty", `document.getElementById('video-wall').hidden && !document.querySelector('#video-wall video')`)
	if webrtc {
		waitUntil(t, stepTimeout, "the recorder's WHEP session to be deleted", func() bool { _, n := ww.counts(rec); return n > before })
	}
	_, recStops = p.counts(rec)
	waitUntil(t, videoWait, "the relay to stop the recorder's stream", func() bool { _, stops := p.counts(rec); return stops > recStops })
	b.checkConsole()
}

// waitUntil polls cond until it holds, or fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkFrames(t *testing.T, what string, f frames, transport string) {
	t.Helper()
	if f.State != "live" || f.Transport != transport {
		t.Errorf("%s: tile state %q over %q, want live over %s", what, f.State, f.Transport, transport)
	}
	if f.Width != 640 || f.Height != 360 {
		t.Errorf("%s: picture %dx%d, want 640x360", what, f.Width, f.Height)
	}
	// 25 frames a second are pushed: a third of them decoded over 3 s leaves room for two busy
	// cores, and the compositor, busier still, must show at least some (a frozen picture shows
	// none).
	if f.Decoded < 25 || f.Presented < 10 {
		t.Errorf("%s: %d frames decoded and %d presented in %.1f s, want at least 25 and 10", what, f.Decoded, f.Presented, f.Seconds)
	}
}
