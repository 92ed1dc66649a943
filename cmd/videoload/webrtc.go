package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// viewWebRTC plays a stream as a browser does over WHEP: a recvonly
// offer for video and audio with every candidate gathered, POSTed as
// application/sdp, the answer applied, then RTP until ctx ends. ICE runs
// on loopback only. Frames are counted by the RTP marker bit. A latency
// viewer puts packets back in order first (a retransmitted packet comes
// late); a frame "arrives" when its last missing packet does, before
// any playout delay or decoding a browser would add.
func viewWebRTC(ctx context.Context, address string, st *viewerStats, onAU auFunc) error {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return err
	}
	ir := &interceptor.Registry{}
	// NACKs and receiver reports, as a browser sends them.
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}

	ended := make(chan error, 2)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			select {
			case ended <- fmt.Errorf("peer connection %s", s):
			default:
			}
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		var reorder *reorderer
		if onAU != nil {
			f := &format.H264{PayloadTyp: uint8(tr.PayloadType()), PacketizationMode: 1}
			dec, err := f.CreateDecoder()
			if err != nil {
				return
			}
			reorder = newReorderer(func(pkt *rtp.Packet, at time.Time) {
				if au, err := dec.Decode(pkt); err == nil {
					onAU(au, at)
				}
			})
		}
		first := true
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if first {
				st.sessions.Add(1)
				first = false
			}
			st.bytes.Add(int64(len(pkt.Payload)))
			if pkt.Marker {
				st.frames.Add(1)
			}
			if reorder != nil {
				reorder.push(pkt, time.Now())
			}
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil
	}
	answer, location, err := postOffer(ctx, address, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	defer deleteSession(address, location)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-ended:
		return err
	}
}

// postOffer is WHEP's POST: the offer in, the answer and the session's
// resource URL out.
func postOffer(ctx context.Context, address, offer string) (answer, location string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, strings.NewReader(offer))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("WHEP POST: %s: %.200s", resp.Status, body)
	}
	if len(body) == 0 {
		return "", "", errors.New("WHEP POST: empty answer")
	}
	return string(body), resp.Header.Get("Location"), nil
}

// deleteSession ends the WHEP session, as a player that stops does.
func deleteSession(address, location string) {
	if location == "" {
		return
	}
	base, err := url.Parse(address)
	if err != nil {
		return
	}
	ref, err := url.Parse(location)
	if err != nil {
		return
	}
	u := base.ResolveReference(ref)
	if u.RawQuery == "" {
		u.RawQuery = base.RawQuery // the token, where the relay wants one
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// reorderWait is how long a WebRTC viewer waits for a missing packet (a
// NACK's retransmission) before giving up on it, as a browser's jitter
// buffer does; the frames behind the gap wait with it.
const reorderWait = 500 * time.Millisecond

// reorderer puts RTP packets back in sequence order over UDP, so that a
// frame completed by a retransmitted packet counts, and arrives when
// that packet did.
type reorderer struct {
	started bool
	next    uint16 // sequence number due
	waiting map[uint16]reordered
	out     func(pkt *rtp.Packet, at time.Time)
}

type reordered struct {
	pkt *rtp.Packet
	at  time.Time
}

func newReorderer(out func(*rtp.Packet, time.Time)) *reorderer {
	return &reorderer{waiting: map[uint16]reordered{}, out: out}
}

func (r *reorderer) push(pkt *rtp.Packet, at time.Time) {
	seq := pkt.SequenceNumber
	if !r.started {
		r.started, r.next = true, seq
	}
	if int16(seq-r.next) < 0 {
		return // late: already given up on, or a duplicate
	}
	r.waiting[seq] = reordered{pkt, at}
	for {
		r.drain(at)
		if len(r.waiting) == 0 {
			return
		}
		// A gap: skip it once the oldest packet behind it has waited long
		// enough, or the wait holds more than a few frames.
		oldest, first, dist := at, r.next, -1
		for s, w := range r.waiting {
			if w.at.Before(oldest) {
				oldest = w.at
			}
			// Every waiting packet is ahead of next: the nearest is first.
			if d := int(s - r.next); dist < 0 || d < dist {
				first, dist = s, d
			}
		}
		if at.Sub(oldest) < reorderWait && len(r.waiting) < 2000 {
			return
		}
		r.next = first
	}
}

// drain hands on every packet that is next in sequence; they become
// available now, when the last of them arrived.
func (r *reorderer) drain(now time.Time) {
	for {
		w, ok := r.waiting[r.next]
		if !ok {
			return
		}
		delete(r.waiting, r.next)
		r.next++
		r.out(w.pkt, now)
	}
}
