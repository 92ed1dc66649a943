// Package video is the live video relay: it takes streams in from devices
// over RTSP and hands them to command-centre browsers as low-latency HLS
// and WebRTC.
//
// Sources. A 4G body-worn recorder pushes (ANNOUNCE/RECORD) to
// rtsp://host:8554/{device id} when told to over MQTT, authenticating with
// its own device id and MQTT secret; a vehicle terminal exposes an RTSP URL
// (its rtsp_url in the register) that the relay pulls, over TCP or UDP,
// with the credentials in the URL, reconnecting with capped exponential
// back-off. Streams are passed through (H.264, H.265, AAC, Opus, G.711):
// nothing is transcoded.
//
// On demand. Each device has at most one path: one source feeding any
// number of viewers. The first viewer (an HLS or WebRTC session, an RTSP
// reader, or a call to Live) starts the source: a pull, or a StreamStarter call that the
// MQTT side turns into fleet/v1/{id}/cmd/stream.start. IdleStop after the
// last viewer has gone, the source is stopped (the pull closed, or
// stream.stop sent and the push closed). A push that arrives with no viewer
// is accepted and relayed, and stops IdleStop later unless someone watches.
// A recorder that viewers wait for and that does not push (the command was
// lost, the MQTT side was down, its push broke off) is asked again, at most
// once per StartRetry. One housekeeping goroutine ends quiet viewing
// sessions and stops idle sources; all registry state is under one mutex,
// and nothing that waits (register, StreamStarter, gortsplib) is called
// with it held.
//
// Out. Every live path has a gortsplib ServerStream (for the service's own
// RTSP readers). Its HLS muxer (gohlslib, low-latency fMP4 by default) is
// made by the first HLS request and closed ViewerTimeout after the last,
// as MediaMTX does: a stream watched only over WebRTC or recorded costs no
// remuxing. It is served by Handler under
// {HTTPPrefix}/{device id}/index.m3u8. Each HLS request is checked by the
// Authorize hook; a viewer's requests form one viewing session, reported to
// the Auditor when it starts and when it has been quiet for ViewerTimeout.
// G.711 has no place in HLS without transcoding, so HLS carries only the
// video and AAC/Opus audio. With WebRTCUDPAddr set, browsers can also play
// over WebRTC, signalled with WHEP at {HTTPPrefix}/{device id}/whep
// (webrtc_whep.go): H.264 video and Opus or G.711 audio as they come, all
// sessions through one UDP port; H.265, which browsers do not play over
// WebRTC, is refused there and left to HLS. StartRecording records a
// stream into the evidence store as MP4 segments (record.go), holding it
// as a viewer does; a commander asks for it, or an SOS.
//
// Data path. Source callbacks (gortsplib's goroutines) hand each RTP
// packet to the path's stream, which writes it to the RTSP readers (their
// queues are gortsplib's) and to each reader's bounded queue; a reader that
// falls behind loses packets, counted, and never slows the source or other
// readers. The HLS muxer is one such reader, depacketizing in its own
// goroutine; each WebRTC session is another, re-packetizing H.264 for the
// WebRTC MTU and starting each viewer at a keyframe; a recording is a
// third, writing segment files as it goes.
//
// Authentication. Register secrets are stored as hashes, so a push can be
// checked only with the secret itself: the RTSP server offers Basic auth
// (not Digest, which needs the plain secret on the server). Wrong or
// unknown credentials get 401, a push to another device's path or from a
// device without video 403; each refusal is counted by reason. Over plain
// RTSP the secret crosses the network as it does in an MQTT CONNECT
// without TLS; where the network is not trusted, RTSPS (gortsplib's
// Server.TLSConfig) is the next step. RTSP readers authenticate with the
// relay's internal reader credential: browsers do not speak RTSP.
//
// It imports the domain (fleet, devices), gortsplib, gohlslib, pion/webrtc
// and Prometheus; never a store, the MQTT client or the web layer, which reach
// it through the small interfaces declared here.
package video

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// DeviceAuthenticator checks a device's credentials; an error with code
// fleet.EUNAUTHORIZED (or fleet.ENOTFOUND) means refused, any other error
// that the register could not answer. fleet.Register implements it.
type DeviceAuthenticator interface {
	AuthenticateDevice(ctx context.Context, id, secret string) (fleet.Device, error)
}

// DeviceLookup finds a device's kind and RTSP URL. fleet.Register
// implements it.
type DeviceLookup interface {
	LookupDevice(ctx context.Context, id string) (fleet.Device, error)
}

// StreamStarter tells a recorder to start or stop pushing its camera to
// the relay; the MQTT side implements it by publishing
// fleet/v1/{id}/cmd/stream.start and stream.stop.
type StreamStarter interface {
	StartStream(ctx context.Context, deviceID string) error
	StopStream(ctx context.Context, deviceID string) error
}

// Auditor records who watched which device from when to when. It is called
// from the relay's goroutines and must not block for long.
type Auditor interface {
	ViewStarted(deviceID, viewer string, at time.Time)
	ViewEnded(deviceID, viewer string, at time.Time)
}

// Stream states reported by Live.
const (
	StateIdle     = "idle"     // nothing running; a viewer starts it
	StateStarting = "starting" // a pull is connecting, or a recorder was asked to push
	StateLive     = "live"     // media is flowing
	StateRetrying = "retrying" // a pull keeps failing and is retried with back-off
	StateFailed   = "failed"   // the recorder could not be told to start (MQTT side)
)

// LiveInfo is what GET /api/v1/devices/{id}/live returns.
type LiveInfo struct {
	HLS    string  `json:"hls"`
	WebRTC *string `json:"webrtc"` // WHEP endpoint; null when the relay serves no WebRTC
	State  string  `json:"state"`
}

// DefaultReaderUsername is the RTSP username of the service's own
// readers. Register device ids all start with "dev_", so no device has it;
// it has no colon, which Basic auth cannot carry in a username.
const DefaultReaderUsername = "fleet-reader"

// Config configures the relay. Zero values take the defaults.
type Config struct {
	RTSPAddr string // RTSP listen address; default ":8554"
	// UDP transport for pushes and RTSP readers: an even port and the next
	// one, e.g. ":8000" and ":8001". Empty serves TCP only, which is what
	// recorders behind carrier NAT can use anyway.
	RTSPUDPRTPAddr, RTSPUDPRTCPAddr string

	HTTPPrefix string // where Handler is mounted, and the base of LiveInfo.HLS; default "/video"

	IdleStop      time.Duration // a source runs this long after its last viewer; default 30s
	ViewerTimeout time.Duration // an HLS viewer with no request for this long has left; default 15s
	ReadyTimeout  time.Duration // an HLS request waits this long for its stream to go live; default 10s
	CallTimeout   time.Duration // one register lookup, credential check or StreamStarter call; default 5s
	StartRetry    time.Duration // a recorder that viewers wait for is asked again this often; default 15s

	PullTransport   string        // "tcp", "udp", or "" to try UDP and fall back to TCP
	PullBackoffMin  time.Duration // first wait before a new pull attempt; default 1s
	PullBackoffMax  time.Duration // cap of the doubling wait; default 30s
	PullReadTimeout time.Duration // a pulled source silent this long is dropped; default 10s

	ReaderSecret      string // password of DefaultReaderUsername; "" generates one at New
	MaxViewers        int    // open viewing sessions (HLS and WebRTC), all devices together; default 1000
	MaxConcurrentAuth int    // push credential checks under way at once; default 64
	ReaderQueue       int    // packets queued per reader (the HLS muxer); default 1024

	HLSVariant            string        // "lowLatency" (default), "fmp4" or "mpegts"
	HLSSegmentCount       int           // default 7
	HLSSegmentMinDuration time.Duration // default 1s
	HLSPartMinDuration    time.Duration // default 200ms

	LogEvery time.Duration // noisy events are logged at most once per kind per this; default 1m

	// Recording into the evidence store (record.go).
	RecordDir         string        // segments are written here until stored; default $TMPDIR/fleet-recordings
	RecordSegment     time.Duration // segment length, cut at a keyframe; default 60s
	RecordMaxDuration time.Duration // a recording asked for without a limit stops after this; default 30m
	RecordMaxLimit    time.Duration // the longest recording that may be asked for; default 4h

	// WebRTC (WHEP) output. Every session's media goes through one UDP
	// port (ICE UDP mux), e.g. ":8189"; empty serves no WebRTC.
	WebRTCUDPAddr string
	WebRTCTCPAddr string   // ICE over TCP for browsers whose UDP is blocked; "" off
	WebRTCHostIPs []string // addresses advertised besides the local ones (1:1 NAT, a public address)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.RTSPAddr == "" {
		c.RTSPAddr = ":8554"
	}
	if c.HTTPPrefix == "" {
		c.HTTPPrefix = "/video"
	}
	c.HTTPPrefix = "/" + strings.Trim(c.HTTPPrefix, "/")
	def(&c.IdleStop, 30*time.Second)
	def(&c.ViewerTimeout, 15*time.Second)
	def(&c.ReadyTimeout, 10*time.Second)
	def(&c.CallTimeout, 5*time.Second)
	def(&c.StartRetry, 15*time.Second)
	def(&c.PullBackoffMin, time.Second)
	def(&c.PullBackoffMax, 30*time.Second)
	def(&c.PullReadTimeout, 10*time.Second)
	def(&c.HLSSegmentMinDuration, time.Second)
	def(&c.HLSPartMinDuration, 200*time.Millisecond)
	def(&c.LogEvery, time.Minute)
	if c.PullBackoffMax < c.PullBackoffMin {
		c.PullBackoffMax = c.PullBackoffMin
	}
	if c.MaxViewers <= 0 {
		c.MaxViewers = 1000
	}
	if c.MaxConcurrentAuth <= 0 {
		c.MaxConcurrentAuth = 64
	}
	if c.ReaderQueue <= 0 {
		c.ReaderQueue = 1024
	}
	if c.HLSVariant == "" {
		c.HLSVariant = "lowLatency"
	}
	if c.HLSSegmentCount <= 0 {
		c.HLSSegmentCount = 7
	}
	return c
}

func (c Config) validate() error {
	switch c.PullTransport {
	case "", "tcp", "udp":
	default:
		return fmt.Errorf("video: pull transport %q: want tcp, udp or empty", c.PullTransport)
	}
	if _, err := hlsVariant(c.HLSVariant); err != nil {
		return err
	}
	if c.HLSVariant == "lowLatency" && c.HLSSegmentCount < 7 {
		return fmt.Errorf("video: low-latency HLS needs at least 7 segments, not %d", c.HLSSegmentCount)
	}
	if (c.RTSPUDPRTPAddr == "") != (c.RTSPUDPRTCPAddr == "") {
		return errors.New("video: the UDP RTP and RTCP addresses go together")
	}
	return c.validateWebRTC()
}

// Deps are what the relay needs from the rest of the service.
type Deps struct {
	Auth    DeviceAuthenticator // checks pushes; required
	Devices DeviceLookup        // kind and rtsp_url of a device; required
	Starter StreamStarter       // nil: recorders are not asked to push, pushes are still taken
	Auditor Auditor             // nil: viewing sessions are not reported
	// Recordings stores recorded segments (as evidence); nil refuses
	// StartRecording.
	Recordings RecordingSink

	// Authorize decides whether the HTTP request may watch deviceID; it is
	// required, so that video is never served unchecked. An error with code
	// fleet.EUNAUTHORIZED answers 401, fleet.ENOTFOUND 404, any other 403.
	Authorize func(r *http.Request, deviceID string) error
	// Viewer names who is watching, for the audit (e.g. the user id behind
	// the token). nil uses the client address.
	Viewer func(r *http.Request) string

	Logger   *slog.Logger          // nil discards
	Registry prometheus.Registerer // nil leaves the metrics unregistered
}

// Relay is the video relay: the RTSP server, the pulls, the stream
// registry and the HLS handler.
type Relay struct {
	cfg       Config
	auth      DeviceAuthenticator
	devices   DeviceLookup
	starter   StreamStarter
	auditor   Auditor
	authorize func(*http.Request, string) error
	viewerOf  func(*http.Request) string
	log       *slog.Logger
	m         *metrics
	rec       *recorder // recordings into the evidence store (record.go)
	noisy     *logthrottle.Throttle
	authSem   chan struct{}

	ctx    context.Context // canceled by Close: ends waits and pulls
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the relay starts

	mu       sync.Mutex
	started  bool
	closed   bool
	paths    map[string]*path
	sessions map[*gortsplib.ServerSession]*rtspSession
	viewers  map[viewerKey]*viewer
	whep     map[string]*whepSession // WebRTC sessions by id

	rtc *rtcServer // nil when WebRTC is off; set by Start

	srv      *gortsplib.Server
	rtspAddr net.Addr
	handler  http.Handler

	startOnce, closeOnce sync.Once
	startErr             error
}

// New returns a relay; Start opens its RTSP listener.
func New(cfg Config, deps Deps) (*Relay, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Auth == nil || deps.Devices == nil {
		return nil, errors.New("video: Deps.Auth and Deps.Devices are required")
	}
	if deps.Authorize == nil {
		return nil, errors.New("video: Deps.Authorize is required")
	}
	if cfg.ReaderSecret == "" {
		b := make([]byte, 24)
		rand.Read(b)
		cfg.ReaderSecret = base64.RawURLEncoding.EncodeToString(b)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	viewerOf := deps.Viewer
	if viewerOf == nil {
		viewerOf = func(r *http.Request) string {
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				return host
			}
			return r.RemoteAddr
		}
	}
	m := newMetrics()
	if err := m.register(deps.Registry); err != nil {
		return nil, err
	}
	rec, err := newRecorder(deps.Recordings, deps.Registry)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{
		cfg:       cfg,
		auth:      deps.Auth,
		devices:   deps.Devices,
		starter:   deps.Starter,
		auditor:   deps.Auditor,
		authorize: deps.Authorize,
		viewerOf:  viewerOf,
		log:       logger.With("component", "video"),
		m:         m,
		rec:       rec,
		noisy:     logthrottle.New(cfg.LogEvery),
		authSem:   make(chan struct{}, cfg.MaxConcurrentAuth),
		ctx:       ctx,
		cancel:    cancel,
		paths:     make(map[string]*path),
		sessions:  make(map[*gortsplib.ServerSession]*rtspSession),
		viewers:   make(map[viewerKey]*viewer),
		whep:      make(map[string]*whepSession),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+cfg.HTTPPrefix+"/{id}/{file}", r.serveHLS)
	mux.HandleFunc("POST "+cfg.HTTPPrefix+"/{id}/whep", r.serveWHEP)
	mux.HandleFunc("DELETE "+cfg.HTTPPrefix+"/{id}/whep/{session}", r.serveWHEPDelete)
	mux.HandleFunc("PATCH "+cfg.HTTPPrefix+"/{id}/whep/{session}", r.serveWHEPPatch)
	r.handler = mux
	return r, nil
}

// Start opens the RTSP listener and starts the housekeeping that ends
// quiet viewing sessions and stops idle sources.
func (r *Relay) Start() error {
	r.startOnce.Do(func() { r.startErr = r.start() })
	return r.startErr
}

func (r *Relay) start() error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return errors.New("video: relay closed")
	}
	if err := r.startWebRTC(); err != nil {
		return err
	}
	srv := &gortsplib.Server{
		Handler:        &rtspHandler{r: r},
		RTSPAddress:    r.cfg.RTSPAddr,
		UDPRTPAddress:  r.cfg.RTSPUDPRTPAddr,
		UDPRTCPAddress: r.cfg.RTSPUDPRTCPAddr,
		// Basic only: the register keeps a hash of each secret, and Digest
		// would need the secret itself.
		AuthMethods: []auth.VerifyMethod{auth.VerifyMethodBasic},
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err == nil {
				r.rtspAddr = l.Addr() // before Start returns; read only after
			}
			return l, err
		},
	}
	// Set before Start: the first push may come before Start returns, and
	// its stream needs the server. Sources are taken only from here on.
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	if err := srv.Start(); err != nil {
		r.mu.Lock()
		r.srv = nil
		r.mu.Unlock()
		r.closeWebRTC()
		return fmt.Errorf("video: start RTSP server on %s: %w", r.cfg.RTSPAddr, err)
	}
	r.mu.Lock()
	r.started = true // viewers may start sources from here on
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.housekeep()
	}()
	r.log.Info("started", "rtsp", r.rtspAddr.String(), "hls", r.cfg.HTTPPrefix, "hls_variant", r.cfg.HLSVariant,
		"webrtc_udp", r.WebRTCAddr())
	return nil
}

// RTSPAddr is the address the RTSP server listens on (useful with port 0).
func (r *Relay) RTSPAddr() net.Addr { return r.rtspAddr }

// ReaderCredentials are the RTSP credentials of the service's own readers.
func (r *Relay) ReaderCredentials() (username, password string) {
	return DefaultReaderUsername, r.cfg.ReaderSecret
}

// Close stops taking streams in, closes every push, pull and stream,
// ends the open viewing sessions (reporting them to the Auditor), tells
// recorders still asked to push to stop, and waits for every goroutine.
func (r *Relay) Close() error {
	r.closeOnce.Do(r.close)
	return nil
}

func (r *Relay) close() {
	r.mu.Lock()
	r.closed = true
	srv := r.srv
	// Noted before the pushes end, which forgets that they were asked for.
	var stopIDs []string
	for id, p := range r.paths {
		if p.requested || p.pusher != nil {
			stopIDs = append(stopIDs, id)
		}
	}
	r.mu.Unlock()
	r.cancel() // ends waiting requests and pull back-offs

	// Intake first: closing the server ends every push and RTSP reader;
	// their OnSessionClose callbacks close the push streams.
	if srv != nil {
		srv.Close()
	}

	r.mu.Lock()
	var pullers []*puller
	var streams []*stream
	for _, p := range r.paths {
		p.requested = false
		if p.puller != nil {
			pullers = append(pullers, p.puller)
			p.puller = nil
		}
		if p.stream != nil {
			streams = append(streams, p.stream)
			p.stream = nil
		}
	}
	var ended []*viewer
	for k, v := range r.viewers {
		ended = append(ended, v)
		delete(r.viewers, k)
	}
	r.mu.Unlock()

	for _, pl := range pullers {
		pl.close()
	}
	for _, st := range streams {
		st.close()
	}
	for _, v := range ended {
		r.m.viewers.WithLabelValues("hls").Dec()
		if r.auditor != nil {
			r.auditor.ViewEnded(v.deviceID, v.name, v.lastSeen)
		}
	}
	if r.starter != nil && len(stopIDs) > 0 {
		// Best effort: a recorder left pushing would find the relay gone
		// and retry until told otherwise.
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
		for _, id := range stopIDs {
			if err := r.starter.StopStream(ctx, id); err != nil {
				r.log.Warn("stop stream on close", "device", id, "err", err)
			}
		}
		cancel()
	}
	r.wg.Wait()
	r.closeWebRTC() // after the sessions, which ended with r.ctx
	r.log.Info("closed")
}

// Live reports where a browser plays deviceID and how its stream is. It
// also asks for the stream as a viewer would, so that a player attached
// right after finds it starting or live; if no viewer comes, it stops
// IdleStop later. Unknown devices answer an error with code
// fleet.ENOTFOUND, devices without video fleet.EINVALID.
func (r *Relay) Live(ctx context.Context, deviceID string) (LiveInfo, error) {
	info := LiveInfo{HLS: r.cfg.HTTPPrefix + "/" + deviceID + "/index.m3u8"}
	if r.rtc != nil {
		whep := r.cfg.HTTPPrefix + "/" + deviceID + "/whep"
		info.WebRTC = &whep
	}
	p, err := r.acquire(ctx, deviceID)
	if err != nil {
		return LiveInfo{}, err
	}
	info.State = r.state(p)
	r.release(p)
	return info, nil
}

// validID reports whether id can be a device id in a URL path.
func validID(id string) bool {
	return devices.ValidDeviceID(id) && strings.Trim(id, ".") != ""
}
