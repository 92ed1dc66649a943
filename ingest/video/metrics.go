package video

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons: the reason label of fleet_video_refused_total.
const (
	RefusedCredentials = "bad_credentials"  // unknown device or wrong secret on a push
	RefusedWrongPath   = "wrong_path"       // a device pushing to another device's path
	RefusedBadPath     = "bad_path"         // a path that cannot be a device id
	RefusedNoVideo     = "no_video"         // a device kind without video (AIS unit)
	RefusedBusy        = "busy"             // a push to a device the relay is pulling from
	RefusedAuthBusy    = "auth_busy"        // too many credential checks under way
	RefusedUnavailable = "auth_unavailable" // the register could not answer
	RefusedReader      = "reader_credentials"
	RefusedViewers     = "too_many_viewers" // MaxViewers sessions are open
)

// Stream error kinds: the kind label of fleet_video_stream_errors_total.
// They are per packet and noisy, so they are counted and logged at most
// once per kind and LogEvery.
const (
	errPacketsLost = "packets_lost" // RTP sequence gaps (UDP loss, a lossy 4G link)
	errDecode      = "decode"       // RTP that does not depacketize
	errMux         = "mux"          // the HLS muxer refused an access unit
	errQueueFull   = "queue_full"   // a reader fell behind and a packet was dropped
	errWrite       = "write"        // writing to an RTSP reader failed
)

type metrics struct {
	refused         *prometheus.CounterVec
	streams         *prometheus.GaugeVec
	viewers         *prometheus.GaugeVec
	sessions        *prometheus.CounterVec
	receivedBytes   *prometheus.CounterVec
	hlsSentBytes    prometheus.Counter
	webrtcSentBytes prometheus.Counter
	pullFailures    prometheus.Counter
	streamErrors    *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_video_refused_total",
			Help: "RTSP pushes and reads, and HLS viewing sessions, the video relay refused, by reason.",
		}, []string{"reason"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleet_video_streams_active",
			Help: "Live device streams in the relay, by source (push: a recorder pushes; pull: the relay pulls a terminal).",
		}, []string{"source"}),
		viewers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleet_video_viewers",
			Help: "Open viewing sessions, by protocol (hls and webrtc: browsers; rtsp: the service's own readers).",
		}, []string{"protocol"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_video_view_sessions_total",
			Help: "Viewing sessions opened, by protocol.",
		}, []string{"protocol"}),
		receivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_video_received_bytes_total",
			Help: "RTP payload bytes received from devices, by source.",
		}, []string{"source"}),
		hlsSentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_video_hls_sent_bytes_total",
			Help: "HLS playlist, init and segment bytes sent to browsers.",
		}),
		webrtcSentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_video_webrtc_sent_bytes_total",
			Help: "RTP payload bytes sent to browsers over WebRTC.",
		}),
		pullFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_video_pull_failures_total",
			Help: "Pulls from vehicle terminals that failed or broke off (each is retried with back-off).",
		}),
		streamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_video_stream_errors_total",
			Help: "Per-packet stream problems, by kind (packets_lost, decode, mux, queue_full, write).",
		}, []string{"kind"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.refused, m.streams, m.viewers, m.sessions, m.receivedBytes,
		m.hlsSentBytes, m.webrtcSentBytes, m.pullFailures, m.streamErrors}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("video: register metrics: %w", err)
		}
	}
	return nil
}
