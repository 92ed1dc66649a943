package video

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"

	"github.com/lawfleet/fleet/fleet"
)

func hlsVariant(s string) (gohlslib.MuxerVariant, error) {
	switch s {
	case "lowLatency":
		return gohlslib.MuxerVariantLowLatency, nil
	case "fmp4":
		return gohlslib.MuxerVariantFMP4, nil
	case "mpegts":
		return gohlslib.MuxerVariantMPEGTS, nil
	}
	return 0, fmt.Errorf("video: HLS variant %q: want lowLatency, fmp4 or mpegts", s)
}

// hlsMuxer turns a stream's RTP into HLS: a reader that depacketizes the
// first video and the first audio track HLS can carry and feeds them to a
// gohlslib muxer, which serves the playlists and segments from memory.
type hlsMuxer struct {
	muxer  *gohlslib.Muxer
	reader *reader
	write  map[format.Format]func(unit)

	// ready is closed once the muxer has taken a random-access video unit
	// (or, without video, an audio unit): a segment follows shortly. The
	// handler waits for it with a timeout, because gohlslib holds a
	// playlist request until there is a segment, with no timeout of its own.
	ready     chan struct{}
	readyOnce sync.Once
	hasVideo  bool

	idle *time.Timer // closes the muxer when HLS requests have stopped; set by useHLS
}

func (h *hlsMuxer) markReady() { h.readyOnce.Do(func() { close(h.ready) }) }

// newHLSMuxer returns nil, nil when the stream has no track HLS can carry
// (e.g. G.711 audio only, which HLS cannot hold without transcoding).
func newHLSMuxer(r *Relay, deviceID string, desc *description.Session, log *slog.Logger) (*hlsMuxer, error) {
	variant, err := hlsVariant(r.cfg.HLSVariant)
	if err != nil {
		return nil, err
	}
	h := &hlsMuxer{
		muxer: &gohlslib.Muxer{
			Variant:            variant,
			SegmentCount:       r.cfg.HLSSegmentCount,
			SegmentMinDuration: r.cfg.HLSSegmentMinDuration,
			PartMinDuration:    r.cfg.HLSPartMinDuration,
			OnEncodeError:      func(err error) { r.streamError(errMux, deviceID, err) },
		},
		write: make(map[format.Format]func(unit)),
		ready: make(chan struct{}),
	}
	var video, audio bool
	var skipped []string
	for _, medi := range desc.Medias {
		for _, forma := range medi.Formats {
			isVideo := medi.Type == description.MediaTypeVideo
			if (isVideo && video) || (!isVideo && audio) {
				skipped = append(skipped, forma.Codec())
				continue
			}
			track, write, err := h.track(r, deviceID, forma, variant)
			if err != nil {
				return nil, err
			}
			if track == nil {
				skipped = append(skipped, forma.Codec())
				continue
			}
			h.muxer.Tracks = append(h.muxer.Tracks, track)
			h.write[forma] = write
			video = video || track.Codec.IsVideo()
			audio = audio || !track.Codec.IsVideo()
		}
	}
	if len(skipped) > 0 {
		log.Info("tracks not in HLS", "codecs", skipped)
	}
	if len(h.muxer.Tracks) == 0 {
		return nil, nil
	}
	h.hasVideo = video
	if err := h.muxer.Start(); err != nil {
		return nil, fmt.Errorf("video: HLS muxer of %s: %w", deviceID, err)
	}
	h.reader = newReader(r.cfg.ReaderQueue, h.consume, func() {
		r.streamError(errQueueFull, deviceID, errors.New("HLS muxer behind, packet dropped"))
	})
	return h, nil
}

func (h *hlsMuxer) consume(u unit) {
	if w := h.write[u.format]; w != nil {
		w(u)
	}
}

func (h *hlsMuxer) close() {
	if h.idle != nil {
		h.idle.Stop()
	}
	h.muxer.Close()
}

var errNoHLS = fleet.Errorf(fleet.ENOTFOUND, "the stream has no track HLS can carry")

// useHLS returns st's HLS muxer for one request, making it if this is the
// first HLS request since the stream went live or since the muxer was
// closed for want of requests. A new muxer starts at the stream's next
// random-access unit; the request waits for it (waitHLS) as the first
// request of a new stream does. Every successful call is paired with
// doneHLS.
func (st *stream) useHLS() (*hlsMuxer, error) {
	st.hlsMu.Lock()
	defer st.hlsMu.Unlock()
	if st.hls == nil {
		switch {
		case st.hlsGone:
			return nil, errNotReady // the source has just ended; the player retries
		case st.hlsNone:
			return nil, errNoHLS
		}
		log := st.r.log.With("device", st.deviceID)
		h, err := newHLSMuxer(st.r, st.deviceID, st.desc, log)
		if err != nil {
			return nil, err
		}
		if h == nil {
			st.hlsNone = true
			return nil, errNoHLS
		}
		if !st.addReader(h.reader) { // the stream or the relay closed meanwhile
			h.close()
			return nil, errNotReady
		}
		// Checked once per ViewerTimeout rather than re-armed by every
		// request: an LL-HLS viewer makes several a second.
		h.idle = time.AfterFunc(st.r.cfg.ViewerTimeout, func() { st.closeIdleHLS(h) })
		st.hls = h
		log.Debug("HLS muxer started")
	}
	st.hlsBusy++
	return st.hls, nil
}

func (st *stream) doneHLS() {
	st.hlsMu.Lock()
	st.hlsBusy--
	st.hlsUsed = time.Now()
	st.hlsMu.Unlock()
}

// closeIdleHLS closes h, st's HLS muxer, when no HLS request has come for
// ViewerTimeout (its last HLS viewer has gone, as the viewing session
// ends); the stream goes on for its other readers. A request still held
// (a blocking playlist reload) keeps the muxer. It runs on h's timer; if
// the stream closes meanwhile, h is no longer st's and it does nothing.
func (st *stream) closeIdleHLS(h *hlsMuxer) {
	idle := st.r.cfg.ViewerTimeout
	st.hlsMu.Lock()
	if st.hls != h {
		st.hlsMu.Unlock()
		return
	}
	if st.hlsBusy > 0 {
		h.idle.Reset(idle)
		st.hlsMu.Unlock()
		return
	}
	if wait := idle - time.Since(st.hlsUsed); wait > 0 {
		h.idle.Reset(wait)
		st.hlsMu.Unlock()
		return
	}
	st.hls = nil
	st.hlsMu.Unlock()
	st.removeReader(h.reader)
	h.close()
	st.r.log.Debug("HLS muxer closed: no HLS viewer", "device", st.deviceID)
}

// track maps a format to an HLS track and the function that writes its
// packets, or nil if HLS cannot carry it in this variant. Decoders keep
// state between packets; they run only on the reader's goroutine.
func (h *hlsMuxer) track(r *Relay, deviceID string, forma format.Format, variant gohlslib.MuxerVariant) (*gohlslib.Track, func(unit), error) {
	m := h.muxer
	decodeErr := func(err error) { r.streamError(errDecode, deviceID, err) }
	// wrote counts an error, or marks the muxer ready after the first
	// unit a player can start from.
	wrote := func(err error, video, randomAccess bool) {
		switch {
		case err != nil:
			r.streamError(errMux, deviceID, err)
		case video && randomAccess, !video && !h.hasVideo:
			h.markReady()
		}
	}
	mpegts := variant == gohlslib.MuxerVariantMPEGTS

	switch f := forma.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		params := &h264Params{sps: sps, pps: pps}
		track := &gohlslib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}, ClockRate: f.ClockRate()}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("video: H.264 decoder: %w", err)
		}
		return track, func(u unit) {
			au, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			case err != nil:
				decodeErr(err)
			case u.ptsOK:
				au = params.complete(au)
				wrote(m.WriteH264(track, u.ntp, u.pts, au), true, randomAccessH264(au))
			}
		}, nil

	case *format.H265:
		if mpegts {
			return nil, nil, nil
		}
		vps, sps, pps := f.SafeParams()
		params := &h265Params{vps: vps, sps: sps, pps: pps}
		track := &gohlslib.Track{Codec: &codecs.H265{VPS: vps, SPS: sps, PPS: pps}, ClockRate: f.ClockRate()}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("video: H.265 decoder: %w", err)
		}
		return track, func(u unit) {
			au, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtph265.ErrMorePacketsNeeded), errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
			case err != nil:
				decodeErr(err)
			case u.ptsOK:
				au = params.complete(au)
				wrote(m.WriteH265(track, u.ntp, u.pts, au), true, randomAccessH265(au))
			}
		}, nil

	case *format.MPEG4Audio:
		// HLS times AAC in samples: the RTP clock must be the sample rate.
		if f.Config == nil || f.ClockRate() != f.Config.SampleRate {
			return nil, nil, nil
		}
		track := &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: *f.Config}, ClockRate: f.ClockRate()}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("video: AAC decoder: %w", err)
		}
		return track, func(u unit) {
			aus, err := dec.Decode(u.pkt)
			switch {
			case errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded):
			case err != nil:
				decodeErr(err)
			case u.ptsOK:
				wrote(m.WriteMPEG4Audio(track, u.ntp, u.pts, aus), false, true)
			}
		}, nil

	case *format.Opus:
		if mpegts {
			return nil, nil, nil
		}
		track := &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: f.ChannelCount}, ClockRate: f.ClockRate()}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("video: Opus decoder: %w", err)
		}
		return track, func(u unit) {
			pkt, err := dec.Decode(u.pkt)
			switch {
			case err != nil:
				decodeErr(err)
			case u.ptsOK:
				wrote(m.WriteOpus(track, u.ntp, u.pts, [][]byte{pkt}), false, true)
			}
		}, nil
	}
	// G.711, and anything else: relayed over RTSP, not in HLS.
	return nil, nil, nil
}

// Handler serves HLS at {HTTPPrefix}/{device id}/index.m3u8 and the
// playlists, init files and segments it names. Every request is checked
// with Authorize; the web layer mounts it as is (paths keep the prefix).
func (r *Relay) Handler() http.Handler { return r.handler }

func (r *Relay) serveHLS(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, fleet.Errorf(fleet.ENOTFOUND, "no such stream"))
		return
	}
	if err := r.authorize(req, id); err != nil {
		code := http.StatusForbidden
		switch fleet.ErrorCode(err) {
		case fleet.EUNAUTHORIZED:
			code = http.StatusUnauthorized
		case fleet.ENOTFOUND:
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	v, err := r.openView(req, id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	defer r.endRequest(v)

	st, err := r.waitLive(req.Context(), v.path)
	if err != nil {
		if req.Context().Err() != nil {
			return // the player went away
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, statusOf(err), err)
		return
	}
	h, err := st.useHLS()
	if err != nil {
		if errors.Is(err, errNotReady) {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, statusOf(err), err)
		return
	}
	defer st.doneHLS()
	if !r.waitHLS(req, h) {
		if req.Context().Err() == nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, errNotReady)
		}
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	h.muxer.Handle(cw, req)
	r.m.hlsSentBytes.Add(float64(cw.n))
	if !cw.wrote {
		// gohlslib answers nothing for a name it does not know.
		writeError(w, http.StatusNotFound, fleet.Errorf(fleet.ENOTFOUND, "no such file"))
	}
}

// waitHLS waits up to ReadyTimeout for the muxer to have something to serve.
func (r *Relay) waitHLS(req *http.Request, h *hlsMuxer) bool {
	t := time.NewTimer(r.cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case <-h.ready:
		return true
	case <-req.Context().Done():
	case <-r.ctx.Done():
	case <-t.C:
	}
	return false
}

type viewerKey struct{ deviceID, name string }

// viewer is one HLS viewing session: the requests of one viewer for one
// device, until none has come for ViewerTimeout. Guarded by Relay.mu.
type viewer struct {
	deviceID, name string
	path           *path
	started        time.Time
	lastSeen       time.Time
	inflight       int // requests being served; a blocked playlist reload is not silence
}

// openView finds or opens the viewing session of the request and counts
// the request in it.
func (r *Relay) openView(req *http.Request, id string) (*viewer, error) {
	k := viewerKey{deviceID: id, name: r.viewerOf(req)}
	now := time.Now()
	r.mu.Lock()
	if v := r.viewers[k]; v != nil {
		v.inflight++
		v.lastSeen = now
		ask := r.reaskLocked(v.path, now)
		r.mu.Unlock()
		if ask {
			r.askToPush(req.Context(), v.path)
		}
		return v, nil
	}
	full := len(r.viewers)+len(r.whep) >= r.cfg.MaxViewers // HLS and WebRTC share the cap
	r.mu.Unlock()
	if full {
		r.m.refused.WithLabelValues(RefusedViewers).Inc()
		return nil, fleet.Errorf(fleet.EUNAVAILABLE, "too many viewers")
	}

	p, err := r.acquire(req.Context(), id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if v := r.viewers[k]; v != nil || r.closed {
		// Another request of the same viewer opened the session meanwhile.
		r.releaseLocked(p, now)
		if v != nil {
			v.inflight++
			v.lastSeen = now
		}
		r.mu.Unlock()
		if v == nil {
			return nil, errClosed
		}
		return v, nil
	}
	v := &viewer{deviceID: id, name: k.name, path: p, started: now, lastSeen: now, inflight: 1}
	r.viewers[k] = v
	r.mu.Unlock()

	r.m.viewers.WithLabelValues("hls").Inc()
	r.m.sessions.WithLabelValues("hls").Inc()
	r.log.Info("view started", "device", id, "viewer", k.name)
	if r.auditor != nil {
		r.auditor.ViewStarted(id, k.name, now)
	}
	return v, nil
}

func (r *Relay) endRequest(v *viewer) {
	r.mu.Lock()
	v.inflight--
	v.lastSeen = time.Now()
	r.mu.Unlock()
}

// statusOf maps an error to an HTTP status by its fleet code.
func statusOf(err error) int {
	switch fleet.ErrorCode(err) {
	case fleet.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case fleet.EFORBIDDEN:
		return http.StatusForbidden
	case fleet.ENOTFOUND, fleet.EINVALID:
		return http.StatusNotFound
	case fleet.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers in the API's error shape; internal errors get a
// generic message (fleet.ErrorMessage), so nothing leaks.
func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	code := fleet.ErrorCode(err)
	if status == http.StatusForbidden && code == fleet.EINTERNAL {
		code = fleet.EFORBIDDEN
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": code, "message": fleet.ErrorMessage(err),
	}})
}

// countingWriter counts the bytes sent and notes whether anything was.
type countingWriter struct {
	http.ResponseWriter
	n     int64
	wrote bool
}

func (w *countingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
