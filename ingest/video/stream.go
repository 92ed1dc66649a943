package video

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// unit is one RTP packet on its way from a source to a reader, with the
// presentation time the source decoded for it (in the format's clock
// rate). The packet is the reader's own shallow copy: read-only, since
// its payload is shared.
type unit struct {
	media  *description.Media
	format format.Format
	pkt    *rtp.Packet
	pts    int64
	ptsOK  bool
	ntp    time.Time // when the relay received it
}

// reader takes a stream's packets through a bounded queue into its own
// goroutine, so that a slow consumer loses packets (counted) instead of
// holding up the source. The HLS muxer is one, each WebRTC session and
// each recording another.
type reader struct {
	queue   chan unit
	consume func(unit)
	stop    chan struct{}
	done    chan struct{}
	dropped func()
}

func newReader(size int, consume func(unit), dropped func()) *reader {
	return &reader{queue: make(chan unit, size), consume: consume, dropped: dropped,
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (rd *reader) push(u unit) {
	select {
	case rd.queue <- u:
	default:
		rd.dropped()
	}
}

func (rd *reader) run() {
	defer close(rd.done)
	for {
		select {
		case u := <-rd.queue:
			rd.consume(u)
		case <-rd.stop:
			return
		}
	}
}

// close stops the goroutine and waits for it; queued packets are dropped.
func (rd *reader) close() {
	close(rd.stop)
	<-rd.done
}

// stream is a live source's media as the relay fans it out: the RTSP
// ServerStream for RTSP readers, and readers with their own goroutines.
// It lives as long as its source's session.
type stream struct {
	r        *Relay
	deviceID string
	source   string // "push" or "pull"
	desc     *description.Session
	rtsp     *gortsplib.ServerStream
	received prometheus.Counter

	mu      sync.RWMutex
	readers []*reader
	closed  bool

	// The HLS muxer is made on demand, as MediaMTX makes its own: at the
	// first HLS request, and closed when HLS requests have stopped for
	// ViewerTimeout, so that streams watched only over WebRTC or RTSP, or
	// only recorded, cost no remuxing (hls.go). Guarded by hlsMu, which is
	// taken before Relay.mu and st.mu, never after. hlsUsed is what the
	// muxer's idle timer looks at.
	hlsMu   sync.Mutex
	hls     *hlsMuxer
	hlsNone bool      // the stream has no track HLS can carry
	hlsGone bool      // the stream has closed: no new muxer
	hlsBusy int       // HLS requests being served by hls
	hlsUsed time.Time // when the last of them ended

	closeOnce sync.Once
}

// newStream builds the stream of a source that has described its media.
func (r *Relay) newStream(deviceID, source string, desc *description.Session) (*stream, error) {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	rs := &gortsplib.ServerStream{Server: srv, Desc: desc}
	if err := rs.Initialize(); err != nil {
		return nil, fmt.Errorf("video: stream of %s: %w", deviceID, err)
	}
	st := &stream{r: r, deviceID: deviceID, source: source, desc: desc, rtsp: rs,
		received: r.m.receivedBytes.WithLabelValues(source)}
	r.m.streams.WithLabelValues(source).Inc()
	r.log.Info("stream live", "device", deviceID, "source", source, "media", describe(desc))
	return st, nil
}

// addReader starts rd on the stream; false when the relay is closing.
func (st *stream) addReader(rd *reader) bool {
	st.r.mu.Lock()
	defer st.r.mu.Unlock()
	if st.r.closed {
		return false
	}
	st.mu.Lock()
	if st.closed { // the source ended meanwhile: close would never stop rd
		st.mu.Unlock()
		return false
	}
	st.readers = append(st.readers, rd)
	st.mu.Unlock()
	st.r.wg.Add(1)
	go func() {
		defer st.r.wg.Done()
		rd.run()
	}()
	return true
}

// removeReader takes rd off the stream and stops it, for a reader that
// leaves while the stream goes on (a recording stopped). It returns once
// rd's goroutine has ended, also when the stream's close got there first.
func (st *stream) removeReader(rd *reader) {
	st.mu.Lock()
	i := slices.Index(st.readers, rd)
	if i >= 0 {
		// A new slice: close may hold the old one.
		st.readers = slices.Concat(st.readers[:i], st.readers[i+1:])
	}
	st.mu.Unlock()
	if i >= 0 {
		rd.close()
		return
	}
	<-rd.done
}

// writeRTP fans one packet out. It runs on the source's goroutine and
// never blocks on a reader.
func (st *stream) writeRTP(medi *description.Media, forma format.Format, pkt *rtp.Packet, pts int64, ptsOK bool) {
	now := time.Now()
	st.received.Add(float64(len(pkt.Payload)))
	// Held through the RTSP write too: close waits for writes under way
	// before it closes what they write to.
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed {
		return
	}
	for _, rd := range st.readers {
		// ServerStream rewrites the SSRC of the packet it is given, so each
		// reader gets its own header; the payload is shared and never written.
		cp := *pkt
		rd.push(unit{media: medi, format: forma, pkt: &cp, pts: pts, ptsOK: ptsOK, ntp: now})
	}
	if err := st.rtsp.WritePacketRTPWithNTP(medi, pkt, now); err != nil {
		st.r.streamError(errWrite, st.deviceID, err)
	}
}

func (st *stream) close() {
	st.closeOnce.Do(func() {
		st.mu.Lock()
		st.closed = true
		readers := st.readers
		st.readers = nil
		st.mu.Unlock()
		for _, rd := range readers {
			rd.close()
		}
		st.hlsMu.Lock()
		h := st.hls
		st.hls, st.hlsGone = nil, true
		st.hlsMu.Unlock()
		if h != nil {
			h.close() // ends the HLS requests it holds
		}
		st.rtsp.Close() // disconnects its RTSP readers
		st.r.m.streams.WithLabelValues(st.source).Dec()
		st.r.log.Info("stream closed", "device", st.deviceID, "source", st.source)
	})
}

// streamError counts a per-packet problem and logs it now and then.
func (r *Relay) streamError(kind, deviceID string, err error) {
	r.m.streamErrors.WithLabelValues(kind).Inc()
	r.noisy.Log(r.log, slog.LevelWarn, "stream:"+kind, time.Now(), "stream error", "kind", kind, "device", deviceID, "err", err)
}

// describe lists a description's formats for the log, e.g. "H264 MPEG-4 Audio".
func describe(desc *description.Session) string {
	s := ""
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if s != "" {
				s += " "
			}
			s += f.Codec()
		}
	}
	return s
}
