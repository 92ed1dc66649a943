package video_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/ingest/video"
)

// Generous: two cores shared with other builds, and ffmpeg encoding.
const (
	liveWait  = 45 * time.Second
	testToken = "token-of-officer-1"
	testUser  = "officer-1"
)

// register is a real fleet register on SQLite with one province unit.
type register struct {
	*fleet.Register
	admin  fleet.User
	unitID string
}

func newRegister(t *testing.T) *register {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"), nil)
	if err != nil {
		t.Fatalf("open register: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	reg := fleet.NewRegister(db, nil)
	// A register-wide administrator as the actor, without signing in:
	// the password hash would cost seconds under -race.
	admin := fleet.User{ID: "usr_video_test", Username: "video-test", Role: fleet.RoleAdmin}
	u, err := reg.CreateUnit(ctx, admin, fleet.UnitInput{Code: "p1", Name: "省交通运输厅", Level: fleet.LevelProvince})
	if err != nil {
		t.Fatalf("create unit: %v", err)
	}
	return &register{Register: reg, admin: admin, unitID: u.ID}
}

func (r *register) device(t *testing.T, kind fleet.DeviceKind, serial, rtspURL string) fleet.NewDevice {
	t.Helper()
	d, err := r.CreateDevice(t.Context(), r.admin, fleet.DeviceInput{
		Kind: kind, Serial: serial, Model: "test", UnitID: r.unitID, RTSPURL: rtspURL})
	if err != nil {
		t.Fatalf("create device: %v", err)
	}
	return d
}

// auditLog is the Auditor: it keeps what it was told.
type auditLog struct {
	mu             sync.Mutex
	started, ended []string // "device viewer"
}

func (a *auditLog) ViewStarted(deviceID, viewer string, _ time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = append(a.started, deviceID+" "+viewer)
}

func (a *auditLog) ViewEnded(deviceID, viewer string, _ time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = append(a.ended, deviceID+" "+viewer)
}

func (a *auditLog) counts() (started, ended int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.started), len(a.ended)
}

// relay is a started relay with its HLS handler on an HTTP test server.
type relay struct {
	*video.Relay
	http    *httptest.Server
	metrics *prometheus.Registry
	audit   *auditLog
}

func startRelay(t *testing.T, cfg video.Config, deps video.Deps) *relay {
	t.Helper()
	cfg.RTSPAddr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	audit := &auditLog{}
	deps.Registry = reg
	deps.Auditor = audit
	deps.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps.Authorize = func(r *http.Request, deviceID string) error {
		if r.URL.Query().Get("token") != testToken {
			return fleet.Errorf(fleet.EUNAUTHORIZED, "bad token")
		}
		return nil
	}
	deps.Viewer = func(*http.Request) string { return testUser }
	rl, err := video.New(cfg, deps)
	if err != nil {
		t.Fatalf("video.New: %v", err)
	}
	if err := rl.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	srv := httptest.NewServer(rl.Handler())
	// Cleanups run last-in first-out: the relay closes first, which ends
	// blocked playlist requests, then the HTTP server.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { rl.Close() })
	return &relay{Relay: rl, http: srv, metrics: reg, audit: audit}
}

func (r *relay) pushURL(d fleet.NewDevice, path string) string {
	return fmt.Sprintf("rtsp://%s:%s@%s/%s", d.ID, d.MQTTSecret, r.RTSPAddr(), path)
}

// metric sums the samples of a counter or gauge whose labels include labels.
func (r *relay) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := r.metrics.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// process is a child process (ffmpeg) killed by PID when the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess starts bin; it may be called from any goroutine (it does
// not end the test on failure).
func startProcess(t *testing.T, bin string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // ffmpeg exits 1 when the server closes the connection
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", filepath.Base(bin), p.cmd.Process.Pid, tail(p.out.String(), 30))
		}
	})
	return p, nil
}

// stop kills the process by its PID and waits for it to be reaped.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Encoder settings for pushTestPattern.
var (
	h264AAC = []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", "25", "-c:a", "aac"}
	h265G711 = []string{"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-x265-params", "keyint=25:log-level=error", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"}
)

// pushTestPattern has ffmpeg push a 640x360 test pattern with a sine tone
// to rtspURL over TCP, for at most 50 s, encoded as codec says (default
// H.264 and AAC).
func pushTestPattern(t *testing.T, ffmpeg, rtspURL string, codec ...string) (*process, error) {
	if codec == nil {
		codec = h264AAC
	}
	args := []string{"-hide_banner", "-loglevel", "warning", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-f", "lavfi", "-i", "sine", "-t", "50"}
	args = append(append(args, codec...), "-f", "rtsp", "-rtsp_transport", "tcp", rtspURL)
	return startProcess(t, ffmpeg, args...)
}

// probe is what ffprobe found in an HLS segment.
type probe struct {
	Codec  string `json:"codec_name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Frames string `json:"nb_read_frames"`
}

// probeHLS plays deviceID's HLS as a player would, once: the
// multivariant playlist, the video playlist, its init file and newest
// complete segment; then ffprobe decodes init+segment. It also returns the
// codecs the multivariant playlist announces.
func probeHLS(t *testing.T, r *relay, ffprobe, deviceID string) (probe, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	base, _ := url.Parse(r.http.URL + "/video/" + deviceID + "/index.m3u8?token=" + testToken)
	get := func(ref string) ([]byte, *url.URL, error) {
		u, err := base.Parse(ref)
		if err != nil {
			return nil, nil, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("GET %s: %s %s", u.Path, res.Status, b)
		}
		return b, u, err
	}

	b, _, err := get(base.String())
	if err != nil {
		return probe{}, nil, err
	}
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		return probe{}, nil, fmt.Errorf("multivariant playlist: %w", err)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || len(mv.Variants) == 0 {
		return probe{}, nil, fmt.Errorf("not a multivariant playlist:\n%s", b)
	}
	b, mediaURL, err := get(mv.Variants[0].URI)
	if err != nil {
		return probe{}, nil, err
	}
	pl, err = playlist.Unmarshal(b)
	if err != nil {
		return probe{}, nil, fmt.Errorf("media playlist: %w", err)
	}
	media, ok := pl.(*playlist.Media)
	if !ok || media.Map == nil {
		return probe{}, nil, fmt.Errorf("not an fMP4 media playlist:\n%s", b)
	}
	var seg string
	for _, s := range media.Segments {
		if !s.Gap && s.URI != "" {
			seg = s.URI
		}
	}
	if seg == "" {
		return probe{}, nil, fmt.Errorf("no complete segment yet:\n%s", b)
	}
	initB, _, err := get(mediaURL.ResolveReference(mustParse(media.Map.URI)).String())
	if err != nil {
		return probe{}, nil, err
	}
	segB, _, err := get(mediaURL.ResolveReference(mustParse(seg)).String())
	if err != nil {
		return probe{}, nil, err
	}
	file := filepath.Join(t.TempDir(), "segment.mp4")
	if err := os.WriteFile(file, append(initB, segB...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", file).CombinedOutput()
	if err != nil {
		return probe{}, nil, fmt.Errorf("ffprobe: %v: %s", err, out)
	}
	var res struct{ Streams []probe }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		return probe{}, nil, fmt.Errorf("ffprobe output %s: %v", out, err)
	}
	return res.Streams[0], mv.Variants[0].Codecs, nil
}

func mustParse(ref string) *url.URL {
	u, err := url.Parse(ref)
	if err != nil {
		panic(err)
	}
	return u
}

// waitForHLS retries probeHLS until the stream plays, and checks that it
// decodes as 640x360 video in codec (ffprobe's name, default h264).
func waitForHLS(t *testing.T, r *relay, ffprobe, deviceID string, codec ...string) []string {
	t.Helper()
	want := "h264"
	if len(codec) > 0 {
		want = codec[0]
	}
	deadline := time.Now().Add(liveWait)
	for {
		p, codecs, err := probeHLS(t, r, ffprobe, deviceID)
		if err == nil {
			if p.Codec != want || p.Width != 640 || p.Height != 360 || p.Frames == "" || p.Frames == "0" {
				t.Fatalf("HLS decodes as %+v, want %s 640x360 with frames", p, want)
			}
			return codecs
		}
		if time.Now().After(deadline) {
			t.Fatalf("HLS of %s did not play within %v: %v", deviceID, liveWait, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
