package video

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/lawfleet/fleet/fleet"
)

// WHEP (WebRTC-HTTP egress protocol): a browser POSTs its SDP offer to
// {HTTPPrefix}/{device id}/whep and gets 201 with the answer and, in
// Location, its session resource, which DELETE ends. There is no trickle
// ICE (PATCH answers 405): the relay gathers its candidates before it
// answers, which with one UDP port is immediate.
//
// A session counts as a viewer from the POST: it holds the path, so the
// first one starts the source, and the POST waits up to ReadyTimeout for
// the stream to go live before it answers. It is audited from when the
// peer connects to when it closes, fails, is deleted or never connects.
// When the source goes away while the peer is connected (a pull that
// reconnects, a recorder whose push broke off), the session follows the
// next stream of the path if one comes within ReadyTimeout.

// maxOfferBytes bounds an SDP offer; browsers' are a few kilobytes.
const maxOfferBytes = 64 << 10

// webrtcPlan is what a session sends of a stream: its H.264 video and
// one audio track that WebRTC carries as is.
type webrtcPlan struct {
	video       *format.H264
	videoCodecs []webrtc.RTPCodecCapability // the stream's profile first
	audio       format.Format               // *format.Opus or *format.G711
	audioCodec  webrtc.RTPCodecCapability
	audioPT     webrtc.PayloadType
}

// codecError says that a stream has nothing WebRTC can carry, naming its
// codecs.
type codecError struct {
	msg    string
	codecs []string
}

func (e *codecError) Error() string { return e.msg }

// planWebRTC picks the tracks of desc a browser can play over WebRTC:
// H.264 video (browsers decode neither H.265 nor MPEG-4 over WebRTC, at
// least Chromium does not), and Opus or 8 kHz mono G.711 audio. A stream
// with video none of which is H.264 is refused rather than played as
// sound alone: the player should fall back to HLS, which carries H.265.
func planWebRTC(desc *description.Session) (webrtcPlan, error) {
	var p webrtcPlan
	var all, video []string
	for _, medi := range desc.Medias {
		for _, forma := range medi.Formats {
			all = append(all, forma.Codec())
			if medi.Type == description.MediaTypeVideo {
				video = append(video, forma.Codec())
			}
			switch f := forma.(type) {
			case *format.H264:
				if p.video == nil && f.PacketizationMode < 2 {
					sps, _ := f.SafeParams()
					p.video, p.videoCodecs = f, h264Capabilities(sps)
				}
			case *format.Opus:
				if p.audio == nil {
					p.audio, p.audioPT = f, 111
					p.audioCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
						Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
				}
			case *format.G711:
				if p.audio == nil && f.SampleRate == 8000 && f.ChannelCount == 1 {
					p.audio, p.audioPT = f, 8
					p.audioCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}
					if f.MULaw {
						p.audioPT, p.audioCodec.MimeType = 0, webrtc.MimeTypePCMU
					}
				}
			}
		}
	}
	switch {
	case p.video == nil && len(video) > 0:
		return p, &codecError{codecs: video, msg: fmt.Sprintf(
			"the stream's video is %s, which browsers cannot play over WebRTC (H.264 only); play it over HLS",
			strings.Join(video, ", "))}
	case p.video == nil && p.audio == nil:
		return p, &codecError{codecs: all, msg: fmt.Sprintf(
			"the stream has no track WebRTC can carry (it has %s)", strings.Join(all, ", "))}
	}
	return p, nil
}

// whepSession is one WebRTC viewer. Its fields are set before run starts
// and then read only, except where noted.
type whepSession struct {
	r        *Relay
	id       string
	deviceID string
	viewer   string
	path     *path // held from the POST until the session ends
	plan     webrtcPlan
	pc       *webrtc.PeerConnection
	senders  []*webrtc.RTPSender
	video    *webrtc.TrackLocalStaticRTP // nil without video
	audio    *webrtc.TrackLocalStaticRTP // nil without audio
	// videoEnc re-packetizes H.264 for the WebRTC MTU; one per session, so
	// that sequence numbers run on across sources.
	videoEnc *rtph264.Encoder
	// nextAudioSeq continues the audio sequence numbers across sources.
	// Written only by the feed that is current.
	nextAudioSeq uint16
	audioSeqSet  bool

	ctx       context.Context // ends the session: DELETE, ICE failure, relay closing
	cancel    context.CancelFunc
	reason    atomic.Pointer[string] // why the session ended, the first reason given
	connected chan struct{}          // closed when ICE and DTLS are up
	isUp      atomic.Bool            // the same, for the feeds
	done      chan struct{}          // closed when run has cleaned up
}

func (s *whepSession) end(reason string) {
	s.reason.CompareAndSwap(nil, &reason)
	s.cancel()
}

// serveWHEP answers a WHEP offer.
func (r *Relay) serveWHEP(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, fleet.Errorf(fleet.ENOTFOUND, "no such stream"))
		return
	}
	if r.rtc == nil {
		writeError(w, http.StatusNotFound, fleet.Errorf(fleet.ENOTFOUND, "WebRTC is not enabled on this relay"))
		return
	}
	if err := r.authorize(req, id); err != nil {
		writeError(w, authStatus(err), err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/sdp" {
		writeError(w, http.StatusUnsupportedMediaType,
			&fleet.Error{Code: "unsupported_media_type", Message: "the offer must be sent as application/sdp"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxOfferBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge,
				&fleet.Error{Code: "too_large", Message: fmt.Sprintf("an SDP offer has at most %d bytes", maxOfferBytes)})
		} else {
			writeError(w, http.StatusBadRequest, fleet.Invalid("offer", "the offer could not be read"))
		}
		return
	}
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(body)}
	if _, err := offer.Unmarshal(); err != nil {
		writeError(w, http.StatusBadRequest, fleet.Invalid("offer", "not an SDP offer: %v", err))
		return
	}
	if r.viewersFull() {
		r.m.refused.WithLabelValues(RefusedViewers).Inc()
		writeError(w, http.StatusServiceUnavailable, fleet.Errorf(fleet.EUNAVAILABLE, "too many viewers"))
		return
	}

	p, err := r.acquire(req.Context(), id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	held := true // until the session takes the path over
	defer func() {
		if held {
			r.release(p)
		}
	}()
	st, err := r.waitLive(req.Context(), p)
	if err != nil {
		if req.Context().Err() == nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, statusOf(err), err)
		}
		return
	}
	plan, err := planWebRTC(st.desc)
	if err != nil {
		writeCodecError(w, err)
		return
	}
	s, answer, err := r.openWHEP(req, id, p, plan, offer)
	if err != nil {
		var ce *codecError
		switch {
		case errors.As(err, &ce):
			writeCodecError(w, err)
		case req.Context().Err() != nil:
		default:
			if fleet.ErrorCode(err) == fleet.EINTERNAL {
				r.log.Error("open WebRTC session", "device", id, "err", err)
			}
			writeError(w, statusOfWHEP(err), err)
		}
		return
	}
	held = false
	if err := r.startWHEP(s, st); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", r.cfg.HTTPPrefix+"/"+id+"/whep/"+s.id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// openWHEP builds the peer connection of a session and its answer.
func (r *Relay) openWHEP(req *http.Request, id string, p *path, plan webrtcPlan, offer webrtc.SessionDescription) (*whepSession, string, error) {
	pc, err := r.newPeerConnection(plan)
	if err != nil {
		return nil, "", err
	}
	ok := false
	defer func() {
		if !ok {
			pc.Close()
		}
	}()
	ctx, cancel := context.WithCancel(r.ctx)
	s := &whepSession{r: r, id: rand.Text(), deviceID: id, viewer: r.viewerOf(req), path: p, plan: plan, pc: pc,
		ctx: ctx, cancel: cancel, connected: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if !ok {
			cancel()
		}
	}()
	if err := pc.SetRemoteDescription(offer); err != nil {
		return nil, "", fleet.Invalid("offer", "the offer cannot be used: %v", err)
	}
	// Added after the offer, so that they take the browser's recvonly
	// transceivers instead of adding m-lines the answer could not carry.
	add := func(c webrtc.RTPCodecCapability, kind string) (*webrtc.TrackLocalStaticRTP, error) {
		t, err := webrtc.NewTrackLocalStaticRTP(c, kind, "fleet-"+id)
		if err != nil {
			return nil, fmt.Errorf("video: %s track: %w", kind, err)
		}
		sender, err := pc.AddTrack(t)
		if err != nil {
			return nil, fmt.Errorf("video: add %s track: %w", kind, err)
		}
		s.senders = append(s.senders, sender)
		return t, nil
	}
	if plan.video != nil {
		if s.video, err = add(plan.videoCodecs[0], "video"); err != nil {
			return nil, "", err
		}
		s.videoEnc = &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: webrtcPayloadMaxSize}
		if err := s.videoEnc.Init(); err != nil {
			return nil, "", fmt.Errorf("video: H.264 packetizer: %w", err)
		}
	}
	if plan.audio != nil {
		if s.audio, err = add(plan.audioCodec, "audio"); err != nil {
			return nil, "", err
		}
	}
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			if s.isUp.CompareAndSwap(false, true) {
				close(s.connected)
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.end("connection " + state.String())
		}
	})

	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fleet.Invalid("offer", "no answer to this offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("video: set answer: %w", err)
	}
	t := time.NewTimer(webrtcGatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C: // answer with the candidates there are
	case <-req.Context().Done():
		return nil, "", req.Context().Err()
	}
	local := pc.LocalDescription()
	if !answerSends(local) {
		return nil, "", &codecError{codecs: codecsOf(plan), msg: fmt.Sprintf(
			"the offer accepts none of the stream's codecs (%s)", strings.Join(codecsOf(plan), ", "))}
	}
	ok = true
	return s, local.SDP, nil
}

// answerSends reports whether an answer sends at least one track.
func answerSends(d *webrtc.SessionDescription) bool {
	if d == nil {
		return false
	}
	parsed, err := d.Unmarshal()
	if err != nil {
		return false
	}
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Port.Value == 0 || len(m.MediaName.Formats) == 0 {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == sdp.AttrKeySendOnly || a.Key == sdp.AttrKeySendRecv {
				return true
			}
		}
	}
	return false
}

func codecsOf(p webrtcPlan) []string {
	var c []string
	if p.video != nil {
		c = append(c, p.video.Codec())
	}
	if p.audio != nil {
		c = append(c, p.audio.Codec())
	}
	return c
}

// viewersFull reports whether MaxViewers viewing sessions are open.
func (r *Relay) viewersFull() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.viewers)+len(r.whep) >= r.cfg.MaxViewers
}

// startWHEP registers s and starts its goroutines. When the relay is
// closing or full it closes s, releases its path and says why.
func (r *Relay) startWHEP(s *whepSession, st *stream) error {
	r.mu.Lock()
	var err error
	switch {
	case r.closed:
		err = errClosed
	case len(r.viewers)+len(r.whep) >= r.cfg.MaxViewers:
		err = fleet.Errorf(fleet.EUNAVAILABLE, "too many viewers")
		r.m.refused.WithLabelValues(RefusedViewers).Inc()
	}
	if err != nil {
		r.releaseLocked(s.path, time.Now())
		r.mu.Unlock()
		s.cancel()
		s.pc.Close()
		return err
	}
	r.whep[s.id] = s
	r.wg.Add(1 + len(s.senders))
	r.mu.Unlock()
	for _, sender := range s.senders {
		go func() {
			defer r.wg.Done()
			// Reading RTCP lets the interceptors act on it (NACKs are
			// answered from here); it ends when the connection closes.
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	go func() {
		defer r.wg.Done()
		s.run(st)
	}()
	r.log.Info("WebRTC session opened", "device", s.deviceID, "viewer", s.viewer, "session", s.id,
		"codecs", codecsOf(s.plan))
	return nil
}

// run feeds the session from the path's stream until it ends, then
// cleans up: the reader, the peer connection, the path and the audit.
func (s *whepSession) run(st *stream) {
	r := s.r
	var started time.Time
	rd := s.attach(st)
	if rd == nil {
		s.end("the stream ended before the session began")
	}
	connectBy := time.NewTimer(webrtcConnectTimeout)
	defer connectBy.Stop()
	connected := s.connected

loop:
	for rd != nil {
		select {
		case <-connected:
			connected = nil
			started = time.Now()
			r.m.viewers.WithLabelValues("webrtc").Inc()
			r.m.sessions.WithLabelValues("webrtc").Inc()
			r.log.Info("view started", "device", s.deviceID, "viewer", s.viewer, "protocol", "webrtc", "session", s.id)
			if r.auditor != nil {
				r.auditor.ViewStarted(s.deviceID, s.viewer, started)
			}
		case <-connectBy.C:
			if started.IsZero() {
				s.end("the peer did not connect")
				break loop
			}
		case <-s.ctx.Done():
			break loop
		case <-rd.done:
			// The source went away; follow the next one if it comes soon.
			rd = nil
			next, err := r.waitLive(s.ctx, s.path)
			if err != nil {
				if s.ctx.Err() == nil {
					s.end("the source went away")
				}
				break loop
			}
			st, rd = next, s.attach(next)
			if rd == nil {
				s.end("the new source has no track this session carries")
			}
		}
	}

	s.cancel()
	if rd != nil {
		st.removeReader(rd)
	}
	s.pc.Close()
	now := time.Now()
	r.mu.Lock()
	delete(r.whep, s.id)
	r.releaseLocked(s.path, now)
	r.mu.Unlock()
	reason := "relay closing"
	if p := s.reason.Load(); p != nil {
		reason = *p
	}
	if !started.IsZero() {
		r.m.viewers.WithLabelValues("webrtc").Dec()
		r.log.Info("view ended", "device", s.deviceID, "viewer", s.viewer, "protocol", "webrtc",
			"session", s.id, "since", started, "reason", reason)
		if r.auditor != nil {
			r.auditor.ViewEnded(s.deviceID, s.viewer, now)
		}
	} else {
		r.log.Info("WebRTC session closed before connecting", "device", s.deviceID, "session", s.id, "reason", reason)
	}
	close(s.done)
}

// attach starts a feed of st for s; nil if st has no track s carries or
// the relay is closing.
func (s *whepSession) attach(st *stream) *reader {
	f := &whepFeed{s: s, deviceID: s.deviceID}
	for _, medi := range st.desc.Medias {
		for _, forma := range medi.Formats {
			switch fo := forma.(type) {
			case *format.H264:
				if s.video != nil && f.video == nil && fo.PacketizationMode < 2 {
					dec, err := fo.CreateDecoder()
					if err != nil {
						continue
					}
					sps, pps := fo.SafeParams()
					f.video, f.h264, f.dec, f.params = fo, fo, dec, h264Params{sps: sps, pps: pps}
				}
			case *format.Opus:
				if _, same := s.plan.audio.(*format.Opus); same && f.audio == nil {
					f.audio = fo
				}
			case *format.G711:
				if g, same := s.plan.audio.(*format.G711); same && f.audio == nil &&
					fo.MULaw == g.MULaw && fo.SampleRate == 8000 && fo.ChannelCount == 1 {
					f.audio = fo
				}
			}
		}
	}
	if f.video == nil && f.audio == nil {
		return nil
	}
	rd := newReader(s.r.cfg.ReaderQueue, f.consume, f.dropped)
	if !st.addReader(rd) {
		return nil
	}
	return rd
}

// whepFeed takes one stream's packets to a session, on the reader's
// goroutine. Feeds of one session follow each other, never overlap.
type whepFeed struct {
	s        *whepSession
	deviceID string

	video  format.Format
	h264   *format.H264
	dec    *rtph264.Decoder
	params h264Params
	// playing is set by the first IDR sent: a viewer that joins mid-stream
	// can decode nothing before it.
	playing bool
	// lost is set (from the source's goroutine) when the queue dropped a
	// packet: the picture is broken until the next IDR.
	lost atomic.Bool

	audio       format.Format
	audioOffset uint16
	audioSeen   bool
}

func (f *whepFeed) dropped() {
	f.lost.Store(true)
	f.s.r.streamError(errQueueFull, f.deviceID, errors.New("WebRTC session behind, packet dropped"))
}

func (f *whepFeed) consume(u unit) {
	switch u.format {
	case f.video:
		f.writeVideo(u)
	case f.audio:
		f.writeAudio(u)
	}
}

func (f *whepFeed) writeVideo(u unit) {
	s := f.s
	if f.lost.Swap(false) && f.playing {
		f.playing = false
		if dec, err := f.h264.CreateDecoder(); err == nil {
			f.dec = dec // drop the broken access unit under way
		}
	}
	au, err := f.dec.Decode(u.pkt)
	switch {
	case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		return
	case err != nil:
		s.r.streamError(errDecode, f.deviceID, err)
		return
	}
	// Browsers need SPS and PPS before the first IDR; many sources send
	// them only in the SDP.
	au = f.params.complete(au)
	if !f.playing {
		// Before the peer is up nothing reaches it, so the first IDR it
		// can see is one that comes after.
		if !s.isUp.Load() || !randomAccessH264(au) {
			return
		}
		f.playing = true
	}
	pkts, err := s.videoEnc.Encode(au)
	if err != nil {
		s.r.streamError(errMux, f.deviceID, err)
		return
	}
	for _, pkt := range pkts {
		pkt.Timestamp = u.pkt.Timestamp
		s.write(s.video, pkt)
	}
}

func (f *whepFeed) writeAudio(u unit) {
	s := f.s
	pkt := *u.pkt
	if !f.audioSeen {
		f.audioSeen = true
		if s.audioSeqSet {
			f.audioOffset = s.nextAudioSeq - pkt.SequenceNumber
		}
	}
	pkt.SequenceNumber += f.audioOffset
	s.nextAudioSeq, s.audioSeqSet = pkt.SequenceNumber+1, true
	s.write(s.audio, &pkt)
}

// write sends one packet; errors mean the connection is closing, which
// the session notices by itself.
func (s *whepSession) write(t *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet) {
	if err := t.WriteRTP(pkt); err == nil && s.isUp.Load() {
		s.r.m.webrtcSentBytes.Add(float64(len(pkt.Payload)))
	}
}

// serveWHEPDelete ends a session. The session id, 128 random bits known
// only to the client that opened it, is what authorizes the DELETE: a
// token that expired meanwhile must not keep a session open.
func (r *Relay) serveWHEPDelete(w http.ResponseWriter, req *http.Request) {
	id, sid := req.PathValue("id"), req.PathValue("session")
	r.mu.Lock()
	s := r.whep[sid]
	r.mu.Unlock()
	if s == nil || s.deviceID != id {
		writeError(w, http.StatusNotFound, fleet.Errorf(fleet.ENOTFOUND, "no such WebRTC session"))
		return
	}
	s.end("deleted by the viewer")
	// Answered once the session is over, so that the audit is written.
	t := time.NewTimer(r.cfg.CallTimeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	case <-req.Context().Done():
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// serveWHEPPatch refuses trickle ICE and ICE restarts, which WHEP lets a
// server leave out.
func (r *Relay) serveWHEPPatch(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "DELETE")
	writeError(w, http.StatusMethodNotAllowed,
		&fleet.Error{Code: "method_not_allowed", Message: "this relay takes no trickle ICE: send the complete offer"})
}

// authStatus maps a refusal of Authorize to its HTTP status.
func authStatus(err error) int {
	switch fleet.ErrorCode(err) {
	case fleet.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case fleet.ENOTFOUND:
		return http.StatusNotFound
	}
	return http.StatusForbidden
}

// statusOfWHEP is statusOf, with a bad offer a 400 rather than a 404.
func statusOfWHEP(err error) int {
	if fleet.ErrorCode(err) == fleet.EINVALID {
		return http.StatusBadRequest
	}
	return statusOf(err)
}

// writeCodecError answers 422, naming the stream's codecs.
func writeCodecError(w http.ResponseWriter, err error) {
	var ce *codecError
	errors.As(err, &ce)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnprocessableEntity)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": fleet.EINVALID, "field": "codec", "message": ce.msg, "codecs": ce.codecs,
	}})
}
