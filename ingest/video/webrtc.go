package video

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// WebRTC output. Browsers get a stream over WebRTC with WHEP signalling
// (webrtc_whep.go); this file holds what all sessions share: one UDP port
// for every session (ICE UDP mux), an optional ICE-TCP port for browsers
// whose UDP is blocked, and the addresses advertised in ICE candidates.
// The relay answers offers and never offers itself; it sends and never
// receives media.

const (
	// webrtcGatherTimeout bounds the wait for ICE gathering before the
	// answer goes out (no trickle). With the muxes it is immediate; the
	// bound is for a host whose interface listing hangs.
	webrtcGatherTimeout = 5 * time.Second
	// webrtcConnectTimeout ends a session whose peer never connects
	// (a browser that went away after POST, or a network that drops UDP).
	webrtcConnectTimeout = 30 * time.Second
	// webrtcPayloadMaxSize keeps RTP packets within the smallest MTU a
	// WebRTC path may have: 1200 bytes of RTP, as browsers assume.
	webrtcPayloadMaxSize = 1188
	// webrtcNACKBuffer is how many sent packets per track each session
	// keeps for retransmission on NACK (a power of two): about half a
	// second of 2 Mbit/s video, and about 300 kB per viewer.
	webrtcNACKBuffer = 256
)

// rtcServer is the relay's WebRTC transport, shared by all sessions.
type rtcServer struct {
	settings webrtc.SettingEngine
	udp      ice.UDPMux
	udpAddr  net.Addr
	tcp      ice.TCPMux // nil without ICE-TCP
	tcpLn    net.Listener
}

func (c Config) validateWebRTC() error {
	if c.WebRTCUDPAddr == "" {
		if c.WebRTCTCPAddr != "" || len(c.WebRTCHostIPs) > 0 {
			return fmt.Errorf("video: WebRTC TCP address and host IPs need a WebRTC UDP address")
		}
		return nil
	}
	for _, addr := range []string{c.WebRTCUDPAddr, c.WebRTCTCPAddr} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("video: WebRTC address %q: %w", addr, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("video: WebRTC address %q: bad port", addr)
		}
	}
	for _, ip := range c.WebRTCHostIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("video: WebRTC host IP %q is not an IP address", ip)
		}
	}
	return nil
}

// startWebRTC opens the WebRTC ports; without WebRTCUDPAddr it does
// nothing and the relay serves no WebRTC.
func (r *Relay) startWebRTC() error {
	if r.cfg.WebRTCUDPAddr == "" {
		return nil
	}
	logs := &pionLogs{log: r.log.With("component", "video-webrtc"), noisy: r.noisy}
	conn, err := net.ListenPacket("udp", r.cfg.WebRTCUDPAddr)
	if err != nil {
		return fmt.Errorf("video: WebRTC UDP port %s: %w", r.cfg.WebRTCUDPAddr, err)
	}
	// On an unspecified address the mux lists the host's interfaces for
	// its candidates; pion notes that a socket per interface suits
	// multi-homed hosts better, which is the operator's call (bind a
	// specific address).
	s := &rtcServer{udp: webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), conn), udpAddr: conn.LocalAddr()}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if r.cfg.WebRTCTCPAddr != "" {
		ln, err := net.Listen("tcp", r.cfg.WebRTCTCPAddr)
		if err != nil {
			s.udp.Close()
			return fmt.Errorf("video: WebRTC TCP port %s: %w", r.cfg.WebRTCTCPAddr, err)
		}
		s.tcpLn = ln
		s.tcp = webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), ln, 8)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}

	se := &s.settings
	se.LoggerFactory = logs
	se.SetICEUDPMux(s.udp)
	if s.tcp != nil {
		se.SetICETCPMux(s.tcp)
	}
	se.SetNetworkTypes(networks)
	// mDNS would open multicast sockets for nothing: the relay's
	// candidates are plain addresses, and a browser's .local candidate is
	// learnt as peer-reflexive from its checks anyway.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A relay bound to loopback (tests, a reverse proxy on the same host)
	// has only loopback candidates.
	if ua, ok := s.udpAddr.(*net.UDPAddr); ok && ua.IP.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(r.cfg.WebRTCHostIPs) > 0 {
		// Appended, not replacing: browsers on the relay's own network
		// still reach its local addresses, remote ones the advertised.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: r.cfg.WebRTCHostIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode: webrtc.ICEAddressRewriteAppend,
		}); err != nil {
			s.close()
			return fmt.Errorf("video: WebRTC host IPs: %w", err)
		}
	}
	// A browser that vanished without DELETE is noticed within about 15 s,
	// as a quiet HLS viewer is by default.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	r.rtc = s
	return nil
}

// WebRTCAddr is the UDP address WebRTC media flows through (useful with
// port 0); nil when WebRTC is off.
func (r *Relay) WebRTCAddr() net.Addr {
	if r.rtc == nil {
		return nil
	}
	return r.rtc.udpAddr
}

func (s *rtcServer) close() {
	s.udp.Close()
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
}

// closeWebRTC closes the shared ports, after every session has ended.
func (r *Relay) closeWebRTC() {
	if r.rtc != nil {
		r.rtc.close()
	}
}

// newPeerConnection builds a peer connection that can send plan's
// tracks. The media engine is per session because the H.264 profile it
// announces is the stream's.
func (r *Relay) newPeerConnection(plan webrtcPlan) (*webrtc.PeerConnection, error) {
	me := &webrtc.MediaEngine{}
	if plan.video != nil {
		pt := webrtc.PayloadType(96)
		for _, c := range plan.videoCodecs {
			if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, fmt.Errorf("video: register %s: %w", c.MimeType, err)
			}
			pt++
		}
	}
	if plan.audio != nil {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: plan.audioCodec,
			PayloadType: plan.audioPT}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("video: register %s: %w", plan.audioCodec.MimeType, err)
		}
	}
	// Only what a sender needs: retransmission on NACK and RTCP sender
	// reports, which browsers use to synchronise audio with video.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNackWithOptions(me, ir, nil, nack.ResponderSize(webrtcNACKBuffer)); err != nil {
		return nil, fmt.Errorf("video: NACK: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("video: RTCP reports: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(r.rtc.settings))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("video: peer connection: %w", err)
	}
	return pc, nil
}

// h264Capabilities are the H.264 codecs a session announces: the
// stream's own profile first, then constrained baseline, which every
// browser offers. Browsers match on the profile, but their decoders play
// any profile they support, so the fallback only widens who negotiates.
func h264Capabilities(sps []byte) []webrtc.RTPCodecCapability {
	mk := func(plid string) webrtc.RTPCodecCapability {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid}
	}
	level := byte(0x1f)
	if len(sps) >= 4 {
		level = sps[3]
	}
	profile := "42e0" // constrained baseline
	if len(sps) >= 3 {
		switch sps[1] {
		case 66:
			if sps[2]&0x40 == 0 {
				profile = "4200" // baseline
			}
		case 77:
			profile = "4d00"
		case 100:
			profile = "6400"
		}
	}
	caps := []webrtc.RTPCodecCapability{mk(fmt.Sprintf("%s%02x", profile, level))}
	if profile != "42e0" {
		caps = append(caps, mk("42e01f"))
	}
	return caps
}

// pionLogs routes pion's logging to the relay's: everything at debug
// level but its errors, which are warnings throttled per scope, since
// they may come per packet or per connectivity check.
type pionLogs struct {
	log   *slog.Logger
	noisy *logthrottle.Throttle
}

func (p *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{p: p, scope: scope}
}

// pionLogger logs pion's warnings at debug level: they come with every
// session's normal course ("Failed to ping without candidate pairs"
// before the answer is set, a closed stream at DELETE). Its errors are
// warnings.
type pionLogger struct {
	p     *pionLogs
	scope string
}

// on reports whether a line at level would be logged: pion's debug lines
// come per packet, and are not even formatted when debug is off.
func (l *pionLogger) on(level slog.Level) bool {
	return l.p.log.Enabled(context.Background(), level)
}

func (l *pionLogger) emit(level slog.Level, msg string) {
	if !l.on(level) {
		return
	}
	msg = strings.TrimSpace(msg)
	if level >= slog.LevelWarn {
		l.p.noisy.Log(l.p.log, level, "pion:"+l.scope, time.Now(), "webrtc", "scope", l.scope, "msg", msg)
		return
	}
	l.p.log.Log(context.Background(), level, "webrtc", "scope", l.scope, "msg", msg)
}

func (l *pionLogger) emitf(level slog.Level, f string, args ...any) {
	if l.on(level) {
		l.emit(level, fmt.Sprintf(f, args...))
	}
}

func (l *pionLogger) Trace(string)                 {}
func (l *pionLogger) Tracef(string, ...any)        {}
func (l *pionLogger) Debug(msg string)             { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Debugf(f string, args ...any) { l.emitf(slog.LevelDebug, f, args...) }
func (l *pionLogger) Info(msg string)              { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(f string, args ...any)  { l.emitf(slog.LevelDebug, f, args...) }
func (l *pionLogger) Warn(msg string)              { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Warnf(f string, args ...any)  { l.emitf(slog.LevelDebug, f, args...) }
func (l *pionLogger) Error(msg string)             { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Errorf(f string, args ...any) { l.emitf(slog.LevelWarn, f, args...) }
