package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/alertstore"
	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/ingest/vessels"
	"github.com/lawfleet/fleet/internal/testenv"
	"github.com/lawfleet/fleet/web"
)

// The devices and vessels of the command centre test.
const (
	vehicleSN    = "CZ-E2E-0001"
	offlineSN    = "DSJ-E2E-0003"
	patrolName   = "HAIXUN 0601"
	patrolMMSI   = "413000601"
	freighterMMS = "413123456"
	ackNote      = "已联系当事人，派员前往"
)

// liveWorld is the live side of the service in the test: the real live state, hub and alert
// engine of package ingest (alerts kept in the register's database through ingest/alertstore),
// mounted on the server as fleetd mounts them. Tracks and vessels come from small fakes, since
// their real sources need InfluxDB and AIS radio traffic.
type liveWorld struct {
	live    *ingest.Live
	hub     *ingest.Hub
	alerts  *ingest.Alerts
	vehicle fleet.NewDevice
	offline fleet.NewDevice
	track   []series.TrackPoint
}

func (w *liveWorld) setup(t *testing.T) func(*service, *web.Server) {
	return func(svc *service, server *web.Server) {
		t.Helper()
		ctx := t.Context()
		var err error
		if w.vehicle, err = svc.reg.CreateDevice(ctx, svc.admin, fleet.DeviceInput{Kind: fleet.KindVehicleTerminal, Serial: vehicleSN, Model: "VT-4G", UnitID: svc.city.ID}); err != nil {
			t.Fatalf("create vehicle terminal: %v", err)
		}
		if w.offline, err = svc.reg.CreateDevice(ctx, svc.admin, fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: offlineSN, Model: "DSJ-V9", UnitID: svc.city.ID}); err != nil {
			t.Fatalf("create recorder: %v", err)
		}
		// The recorder is with the officer, as on a shift: the map names the holder.
		if _, err = svc.reg.Checkout(ctx, svc.admin, svc.recorder.ID, fleet.CheckoutInput{OfficerID: svc.officer.ID}); err != nil {
			t.Fatalf("check out the recorder: %v", err)
		}
		if w.hub, err = ingest.NewHub(ingest.HubConfig{}, nil); err != nil {
			t.Fatal(err)
		}
		if w.live, err = ingest.NewLive(ingest.LiveConfig{}, w.hub, nil); err != nil {
			t.Fatal(err)
		}
		store := alertstore.New(svc.db)
		if w.alerts, err = ingest.NewAlerts(ingest.AlertsConfig{}, store, svc.reg, w.hub, nil, nil); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for i := range 30 {
			at := now.Add(time.Duration(i-30) * time.Minute)
			w.track = append(w.track, series.TrackPoint{Time: at, Lat: 30.585 + float64(i)*0.0005, Lon: 114.295 + float64(i)*0.0004,
				SpeedKmh: ptr(5.0), HeadingDeg: ptr(35.0)})
		}
		server.MountLive(web.LiveDeps{Positions: w.live, Feed: w.hub, Alerts: w.alerts, AlertList: store,
			Tracks: fakeTracks{points: w.track}})
		web.MountVessels(server, fakeVessels{list: []vessels.Vessel{
			{MMSI: patrolMMSI, Name: patrolName, Lat: ptr(30.588), Lon: ptr(114.312), SpeedKn: ptr(8.5), HeadingDeg: ptr(220),
				TS: now, LastSeen: now, Enforcement: true},
			{MMSI: freighterMMS, Name: "CHANG JIANG 1", Lat: ptr(30.584), Lon: ptr(114.322), SpeedKn: ptr(6.0), CourseDeg: ptr(60.0),
				TS: now, LastSeen: now},
		}})

		// Telemetry already applied when the page opens.
		w.report(svc.recorder.ID, fleet.KindRecorder, svc.city.ID, 30.5928, 114.3055, 0, 0, 86)
		w.report(w.vehicle.ID, fleet.KindVehicleTerminal, svc.city.ID, 30.6010, 114.2800, 42, 90, 100)
		w.report(w.offline.ID, fleet.KindRecorder, svc.city.ID, 30.5750, 114.3300, 0, 0, 12)
		w.live.SetState(ingest.DeviceRef{ID: w.offline.ID, Kind: fleet.KindRecorder, UnitID: svc.city.ID}, devices.StateOffline, time.Now())
	}
}

// report applies one telemetry sample to the live state, as the ingest pipeline does.
func (w *liveWorld) report(id string, kind fleet.DeviceKind, unit string, lat, lon, speed, heading, battery float64) {
	rec := true
	w.live.ApplyTelemetry(ingest.DeviceRef{ID: id, Kind: kind, UnitID: unit}, []devices.Telemetry{{
		Time: time.Now(), Lat: &lat, Lon: &lon, SpeedKmh: &speed, HeadingDeg: &heading, BatteryPct: &battery, Recording: &rec,
	}}, time.Now())
}

func ptr[T any](v T) *T { return &v }

type fakeTracks struct{ points []series.TrackPoint }

func (f fakeTracks) Track(_ context.Context, _ string, from, to time.Time, maxPoints int) ([]series.TrackPoint, error) {
	var out []series.TrackPoint
	for _, p := range f.points {
		if !p.Time.Before(from) && p.Time.Before(to) && len(out) < maxPoints {
			out = append(out, p)
		}
	}
	return out, nil
}

type fakeVessels struct{ list []vessels.Vessel }

func (f fakeVessels) Vessels(flt vessels.Filter) ([]vessels.Vessel, bool) {
	var out []vessels.Vessel
	for _, v := range f.list {
		if flt.BBox == nil || (v.Lat != nil && v.Lon != nil && flt.BBox.Contains(*v.Lat, *v.Lon)) {
			out = append(out, v)
		}
	}
	return out, false
}

func (f fakeVessels) Vessel(mmsi uint32) (vessels.Vessel, bool) {
	for _, v := range f.list {
		if v.MMSI == vessels.FormatMMSI(mmsi) {
			return v, true
		}
	}
	return vessels.Vessel{}, false
}

// streams counts event-stream tickets and can end the open event streams, as a server restart
// or a proxy's timeout would.
type streams struct {
	tickets atomic.Int32
	mu      sync.Mutex
	cancel  []context.CancelFunc
}

func (s *streams) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/live/ticket":
			s.tickets.Add(1)
		case "/api/v1/live/events":
			ctx, cancel := context.WithCancel(r.Context())
			s.mu.Lock()
			s.cancel = append(s.cancel, cancel)
			s.mu.Unlock()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

func (s *streams) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cancel {
		c()
	}
	s.cancel = nil
}

// TestCommandCentre drives the command centre in Chromium with no tile server: the map opens
// with its graticule and loads nothing from another host; a device whose telemetry is in the live
// state has a marker; a position pushed through the hub moves it, also after the event stream was
// cut (a new ticket is fetched); an SOS raised by the alert engine appears in the panel and over
// the map, is located and acknowledged with a note (and the engine records who did it); the
// track plays back; vessels are drawn with enforcement vessels apart and named.
func TestCommandCentre(t *testing.T) {
	chromium := testenv.Chromium(t)
	w := &liveWorld{}
	st := &streams{}
	svc := startServiceWrapped(t, st.wrap, w.setup(t))
	b := newBrowser(t, chromium)
	// The screenshots show the page at 1280×800, the command centre's smallest screen.
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
	rec := svc.recorder.ID

	b.do("open the sign-in page", chromedp.Navigate(svc.url+"/"), chromedp.WaitVisible(chromedp.ID("login-username")))
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("login-username"), "admin"),
		chromedp.SendKeys(chromedp.ID("login-password"), adminPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app-shell")))
	b.waitText("#nav-command", "指挥中心")
	if got := evalJS[string](b, "nav badge", `document.querySelector('#nav-command .soon') ? 'placeholder' : ''`); got != "" {
		t.Error("the command centre is still marked as coming later in the navigation")
	}

	b.do("open the command centre", chromedp.Click(chromedp.ID("nav-command")))
	b.waitJS("the map is ready", `document.querySelector('#command-map')?.dataset.ready === 'true'`)

	// No tiles are configured: no tile images, a graticule, and nothing fetched elsewhere.
	if n := evalJS[int](b, "tile images", `document.querySelectorAll('#command-map .leaflet-tile-pane img').length`); n != 0 {
		t.Errorf("%d tile images with no tile server configured", n)
	}
	b.waitJS("the graticule is drawn", `document.querySelectorAll('#command-map .graticule canvas').length > 0`)
	if src := evalJS[string](b, "tile source", `document.querySelector('#command-map').dataset.tiles`); src != "none" {
		t.Errorf("tile source = %q, want none", src)
	}

	// Markers by kind and state, from the live state before the page opened.
	b.waitJS("the recorder's marker", fmt.Sprintf(`!!document.querySelector('.dm[data-device=%q]')`, rec))
	b.waitJS("the recorder is online", fmt.Sprintf(`document.querySelector('.dm[data-device=%q]').dataset.state === 'online'`, rec))
	b.waitJS("the vehicle moves east", fmt.Sprintf(`(() => { const el = document.querySelector('.dm.dm-vehicle_terminal[data-device=%q]');
		return !!el && el.classList.contains('is-moving') && /rotate\(90deg\)/.test(el.querySelector('.dm-arrow').style.transform); })()`, w.vehicle.ID))
	b.waitJS("the silent recorder is offline", fmt.Sprintf(`document.querySelector('.dm[data-device=%q]')?.dataset.state === 'offline'`, w.offline.ID))
	b.waitText("#map-counts", "在线 2 / 3")

	// Vessels: the enforcement vessel named and apart from the freighter.
	b.waitText(".vm.vm-enforcement .vm-name", patrolName)
	b.waitJS("the other vessel", fmt.Sprintf(`!!document.querySelector('.vm.vm-other[data-mmsi=%q]')`, freighterMMS))

	// An enforcement vessel chosen on the map shows its AIS data.
	b.do("choose the patrol vessel", chromedp.Click(chromedp.CSS(".vm.vm-enforcement")))
	b.waitText("#device-title", patrolName)
	b.waitText("#device-facts", patrolMMSI)
	b.shot("command-vessel")

	// The keyboard reaches the markers: Enter on a focused marker selects it.
	b.do("choose the vehicle with the keyboard",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('.dm[data-device=%q]').focus()`, w.vehicle.ID)),
		chromedp.KeyEvent("\r"))
	b.waitText("#device-title", vehicleSN)
	b.waitText("#device-facts", "42")

	// A new position pushed through the hub moves the marker.
	b.waitJS("the live feed is connected", `document.getElementById('live-status').dataset.state === 'live'`)
	w.report(rec, fleet.KindRecorder, svc.city.ID, 30.6011, 114.3122, 18, 45, 85)
	b.waitJS("the marker moved", fmt.Sprintf(`(() => { const el = document.querySelector('.dm[data-device=%q]');
		return el && el.dataset.lat === '30.6011' && el.dataset.lon === '114.3122' && el.classList.contains('is-moving'); })()`, rec))

	// An SOS from the recorder: in the panel, over the map, on the marker.
	pos, _ := w.live.Get(rec)
	w.alerts.Event(t.Context(), ingest.DeviceRef{ID: rec, Kind: fleet.KindRecorder, UnitID: svc.city.ID},
		devices.Event{Time: time.Now(), Type: devices.EventSOS}, time.Now(), &pos)
	b.waitText("#alert-list .alert-item.kind-sos", "SOS")
	b.waitText("#alert-list .alert-item.kind-sos", recorderSN)
	b.waitText("#sos-banner", recorderSN)
	b.waitJS("the marker shows the SOS", fmt.Sprintf(`document.querySelector('.dm[data-device=%q]')?.dataset.state === 'sos'`, rec))
	b.shot("command-sos")

	// Locate it: the device is selected and its details shown.
	b.do("locate the SOS", chromedp.Click(chromedp.CSS("#alert-list .alert-item.kind-sos .alert-main")))
	b.waitText("#device-title", recorderSN)
	b.waitText("#device-facts", officerName)
	b.waitJS("the marker is selected", fmt.Sprintf(`document.querySelector('.dm[data-device=%q]')?.classList.contains('is-selected')`, rec))

	// Acknowledge it with a note.
	b.do("acknowledge the SOS",
		chromedp.Click(chromedp.CSS("#alert-list .alert-item.kind-sos .alert-ack")),
		chromedp.WaitVisible(chromedp.ID("ack-dialog")),
		chromedp.SendKeys(chromedp.ID("ack-note"), ackNote),
		chromedp.Click(chromedp.ID("ack-save")),
		chromedp.WaitNotPresent(chromedp.ID("ack-dialog")))
	b.waitJS("the SOS is listed as acknowledged", `!!document.querySelector('#alert-list .alert-item.kind-sos.state-acked')`)
	open, err := w.alerts.List(t.Context(), ingest.AlertFilter{DeviceID: rec, OpenOnly: true})
	if err != nil || len(open) != 1 {
		t.Fatalf("open alerts of the recorder: %v, %v", open, err)
	}
	if a := open[0]; a.AckedAt == nil || a.AckedBy != svc.admin.ID || a.Timeline[len(a.Timeline)-1].Note != ackNote {
		t.Errorf("after the ack the alert is %+v; want acknowledged by %s with the note", a, svc.admin.ID)
	}
	b.do("open the timeline", chromedp.Click(chromedp.CSS("#alert-list .alert-item.kind-sos .alert-timeline")))
	b.waitText("#alert-timeline", ackNote)
	b.waitText("#alert-timeline", "确认")
	b.do("close the timeline", chromedp.Click(chromedp.CSS("#alert-timeline .dialog-head .icon-btn")),
		chromedp.WaitNotPresent(chromedp.ID("alert-timeline")))

	// Live video: the device goes on the video wall; the relay is not part of this server, so
	// its tile says why nothing plays, and closing the tile empties the wall.
	// The vendored hls.js (the wall's HLS player) loads under the page's CSP.
	tile := fmt.Sprintf(`#video-wall .wall-tile[data-device=%q]`, rec)
	b.do("watch the recorder", chromedp.Click(chromedp.ID("device-video")), chromedp.WaitVisible(chromedp.ID("video-wall")))
	b.waitJS("the tile explains", fmt.Sprintf(`(() => { const el = document.querySelector(%q);
		return !!el && el.dataset.state === 'failed' && !!el.querySelector('.wall-msg .alert.error'); })()`, tile))
	b.waitText(tile+" .wall-tile-title", recorderSN)
	b.waitText(tile+" .wall-tile-title", officerName)
	b.waitText(tile+" .wall-state", "无法启动")
	b.waitText("#wall-status", recorderSN)
	b.do("close the tile", chromedp.Click(chromedp.CSS(tile+" .wall-close")))
	b.waitJS("the wall is empty and hidden", `document.querySelectorAll('#video-wall .wall-tile').length === 0 && document.getElementById('video-wall').hidden`)
	if ok := evalJS[bool](b, "hls.js", `import('/vendor/hls/hls.light.min.mjs').then((m) => m.default.isSupported())`); !ok {
		t.Error("the vendored hls.js does not load or finds no Media Source Extensions")
	}

	// Track playback of the last hour.
	b.do("play back the last hour", chromedp.Click(chromedp.ID("track-1h")))
	b.waitText("#track-title", recorderSN)
	b.waitText("#track-summary", "30")
	b.waitJS("the track is drawn", `document.querySelectorAll('#command-map path.track-line').length === 1`)
	b.do("play", chromedp.Click(chromedp.ID("track-play")))
	b.waitJS("the playback advances", `Number(document.getElementById('track-slider').value) > 0`)
	b.shot("command-track")
	b.do("close the track", chromedp.Click(chromedp.ID("track-close")))
	b.waitJS("the track is gone", `document.getElementById('track-bar').hidden && !document.querySelector('#command-map path.track-line')`)

	// The stream is cut: the page takes a new ticket, and positions flow again.
	before := st.tickets.Load()
	st.endAll()
	deadline := time.Now().Add(stepTimeout)
	for st.tickets.Load() <= before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st.tickets.Load() <= before {
		t.Fatal("the page did not ask for a new ticket after the event stream ended")
	}
	b.waitJS("the live feed is back", `document.getElementById('live-status').dataset.state === 'live'`)
	w.report(rec, fleet.KindRecorder, svc.city.ID, 30.6050, 114.3200, 20, 80, 84)
	b.waitJS("the marker moved after the reconnect", fmt.Sprintf(`document.querySelector('.dm[data-device=%q]')?.dataset.lat === '30.605'`, rec))

	// Nothing came from another host, and no link leads to one.
	if ext := evalJS[[]string](b, "resources", `performance.getEntriesByType('resource').map((e) => e.name).filter((n) => !n.startsWith(location.origin))`); len(ext) > 0 {
		t.Errorf("the page loaded from other hosts: %v", ext)
	}
	if links := evalJS[[]string](b, "links", `[...document.querySelectorAll('a[href]')].map((a) => a.href).filter((h) => !h.startsWith(location.origin))`); len(links) > 0 {
		t.Errorf("the page links to other hosts: %v", links)
	}

	// The page is rebuilt in English (map, feed and panel torn down and made again).
	b.do("switch to English", chromedp.Click(chromedp.ID("lang-toggle")))
	b.waitText("#alerts-title", "Alerts")
	b.waitJS("the map is ready again", `document.querySelector('#command-map')?.dataset.ready === 'true'`)
	b.waitText("#alert-list", "Acknowledged")
	b.waitJS("the feed reconnects", `document.getElementById('live-status').dataset.state === 'live'`)
	b.shot("command-en")

	b.checkConsole()
}

// waitJS waits until a JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	evalJS[bool](b, "wait: "+what, fmt.Sprintf(`new Promise((resolve, reject) => {
		const end = Date.now() + %d;
		(function poll() {
			let ok = false;
			try { ok = Boolean(%s); } catch (e) { ok = false; }
			if (ok) return resolve(true);
			if (Date.now() > end) return reject(new Error('still false: ' + %s));
			setTimeout(poll, 50);
		})();
	})`, (stepTimeout-2*time.Second).Milliseconds(), expr, jsString(expr)))
}

func jsString(s string) string {
	b, _ := json.Marshal(strings.Join(strings.Fields(s), " "))
	return string(b)
}

// shot saves a screenshot of the viewport (1280×800) in the test's artifact directory (kept
// with go test -artifacts), for looking at the layout.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// TestCommandCentreWithoutLive opens the command centre on a server where live data is not
// connected (the live routes answer 503): the map still opens, says so, and polls. A tile
// source set in this browser through the base map dialog is used, and can be dropped again.
func TestCommandCentreWithoutLive(t *testing.T) {
	chromium := testenv.Chromium(t)
	var tiles atomic.Int32
	svc := startServiceWrapped(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/tiles/") {
				tiles.Add(1)
				w.Header().Set("Content-Type", "image/png")
				w.Write(tilePNG(t))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	b := newBrowser(t, chromium)
	b.do("sign in",
		chromedp.Navigate(svc.url+"/#/command"),
		chromedp.WaitVisible(chromedp.ID("login-username")),
		chromedp.SendKeys(chromedp.ID("login-username"), "admin"),
		chromedp.SendKeys(chromedp.ID("login-password"), adminPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app-shell")))
	b.waitJS("the map is ready", `document.querySelector('#command-map')?.dataset.ready === 'true'`)
	b.waitText("#map-notice", "实时位置服务未连接")
	b.waitJS("the page polls", `document.getElementById('live-status').dataset.state === 'polling'`)
	b.waitJS("the graticule is drawn", `document.querySelectorAll('#command-map .graticule canvas').length > 0`)
	if v := evalJS[string](b, "vessels", `document.querySelector('#command-map').dataset.vessels || ''`); v != "unavailable" {
		t.Errorf("vessels state = %q, want unavailable", v)
	}

	b.do("open the base map dialog",
		chromedp.Click(chromedp.CSS("#layer-menu > summary")),
		chromedp.Click(chromedp.ID("map-basemap")),
		chromedp.WaitVisible(chromedp.ID("basemap-dialog")),
		chromedp.SendKeys(chromedp.ID("tiles-url"), "tiles.png"),
		chromedp.Click(chromedp.ID("basemap-save")))
	b.waitJS("a bad template is refused", `document.getElementById('tiles-url').getAttribute('aria-invalid') === 'true'`)
	b.shot("basemap-dialog")
	b.do("set a tile template",
		chromedp.SetValue(chromedp.ID("tiles-url"), "/tiles/{z}/{x}/{y}.png"),
		chromedp.SendKeys(chromedp.ID("tiles-attribution"), "测试底图"),
		chromedp.Click(chromedp.ID("basemap-save")),
		chromedp.WaitNotPresent(chromedp.ID("basemap-dialog")))
	b.waitJS("tiles are shown", `document.querySelector('#command-map').dataset.tiles === 'local' &&
		document.querySelectorAll('#command-map .leaflet-tile-pane img.leaflet-tile-loaded').length > 0`)
	b.waitText("#command-map .leaflet-control-attribution", "测试底图")
	b.do("open the layer menu", chromedp.Click(chromedp.CSS("#layer-menu > summary")))
	b.shot("command-tiles-layers")
	b.do("close the layer menu", chromedp.Click(chromedp.CSS("#layer-menu > summary")))
	if tiles.Load() == 0 {
		t.Error("no tile was requested")
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("app-shell")))
	b.waitJS("the tile source is kept", `document.querySelector('#command-map')?.dataset.tiles === 'local'`)
	b.do("drop the tile source",
		chromedp.Click(chromedp.CSS("#layer-menu > summary")),
		chromedp.Click(chromedp.ID("map-basemap")),
		chromedp.WaitVisible(chromedp.ID("basemap-dialog")),
		chromedp.Click(chromedp.ID("basemap-reset")),
		chromedp.WaitNotPresent(chromedp.ID("basemap-dialog")))
	b.waitJS("no tiles again", `document.querySelector('#command-map').dataset.tiles === 'none' &&
		document.querySelectorAll('#command-map .leaflet-tile-pane img').length === 0`)
	b.checkConsole()
}

// tilePNG is a 256×256 map tile: a plain colour.
func tilePNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	draw.Draw(img, img.Bounds(), &image.Uniform{C: color.RGBA{R: 0xd8, G: 0xe8, B: 0xd0, A: 0xff}}, image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Error(err)
	}
	return buf.Bytes()
}
