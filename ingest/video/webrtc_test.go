package video_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// webrtcConfig is a relay config with WebRTC on a loopback UDP port.
func webrtcConfig(cfg video.Config) video.Config {
	cfg.WebRTCUDPAddr = "127.0.0.1:0"
	return cfg
}

// whepClient is a WebRTC player as a browser would be: recvonly video and
// audio, a complete offer POSTed to the WHEP endpoint. It keeps to
// loopback candidates, so that no check leaves the machine.
type whepClient struct {
	pc       *webrtc.PeerConnection
	location string

	mu     sync.Mutex
	tracks []string             // MIME types of the tracks received
	aus    []videoAU            // access units depacketized from the video track
	marker map[uint32]time.Time // video RTP timestamp → when its last packet arrived
	audio  int                  // audio packets received
	errs   []error
}

type videoAU struct {
	ts    uint32
	types []h264.NALUType
}

func (a videoAU) has(t h264.NALUType) bool { return slices.Contains(a.types, t) }

// whepPost POSTs offer to url and returns the response, its body read.
func whepPost(t *testing.T, url, contentType, offer string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// newWHEPClient builds the peer connection and its complete offer.
func newWHEPClient(t *testing.T) (*whepClient, string) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	c := &whepClient{pc: pc, marker: map[uint32]time.Time{}}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mime := tr.Codec().MimeType
		c.mu.Lock()
		c.tracks = append(c.tracks, mime)
		c.mu.Unlock()
		if !strings.EqualFold(mime, webrtc.MimeTypeH264) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				c.mu.Lock()
				c.audio++
				c.mu.Unlock()
			}
		}
		dec, _ := (&format.H264{PacketizationMode: 1}).CreateDecoder()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			if len(pkt.Payload)+12 > 1200 {
				c.fail(fmt.Errorf("RTP packet of %d bytes, over the 1200 of WebRTC", len(pkt.Payload)+12))
			}
			au, err := dec.Decode(pkt)
			if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				continue
			}
			if err != nil {
				c.fail(fmt.Errorf("depacketize: %w", err))
				continue
			}
			a := videoAU{ts: pkt.Timestamp}
			for _, n := range au {
				if len(n) > 0 {
					a.types = append(a.types, h264.NALUType(n[0]&0x1f))
				}
			}
			c.mu.Lock()
			c.aus = append(c.aus, a)
			if pkt.Marker {
				c.marker[pkt.Timestamp] = now
			}
			c.mu.Unlock()
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return c, pc.LocalDescription().SDP
}

func (c *whepClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, err)
	}
}

func (c *whepClient) snapshot() (aus []videoAU, audio int, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.aus), c.audio, slices.Clone(c.errs)
}

// play opens a WHEP session on url and sets its answer.
func (c *whepClient) play(t *testing.T, url, offer string) {
	t.Helper()
	res, body := whepPost(t, url, "application/sdp", offer)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST: %s %s", res.Status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("answer Content-Type %q", ct)
	}
	c.location = res.Header.Get("Location")
	if c.location == "" {
		t.Fatal("no Location for the session")
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatalf("set answer: %v\n%s", err, body)
	}
}

// rtspMarkers reads deviceID from the relay over RTSP, as the relay's own
// readers do, and notes when the last packet of each video frame arrived:
// the relay's receive time, give or take a loopback hop.
func rtspMarkers(t *testing.T, r *relay, deviceID string) (func() map[uint32]time.Time, error) {
	user, pass := r.ReaderCredentials()
	u, err := base.ParseURL("rtsp://" + user + ":" + pass + "@" + r.RTSPAddr().String() + "/" + deviceID)
	if err != nil {
		return nil, err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: ptr(gortsplib.TransportTCP)}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[uint32]time.Time{}
	desc, _, err := c.Describe(u)
	if err == nil {
		err = c.SetupAll(desc.BaseURL, desc.Medias)
	}
	if err == nil {
		c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
			if m.Type == description.MediaTypeVideo && pkt.Marker {
				now := time.Now()
				mu.Lock()
				seen[pkt.Timestamp] = now
				mu.Unlock()
			}
		})
		_, err = c.Play(nil)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(c.Close)
	return func() map[uint32]time.Time {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}, nil
}

// A browser asks for a recorder over WHEP: the POST starts the recorder
// (StreamStarter), waits for its push to go live and answers; over real
// ICE on loopback the player receives H.264 that starts with an IDR
// carrying SPS and PPS (ffmpeg sends them only in the SDP), in packets
// that fit WebRTC's MTU, with frames advancing. The view is audited from
// connect to DELETE, and the recorder is stopped once nobody watches.
func TestWebRTCOnDemandWHEP(t *testing.T) {
	ffmpeg, _ := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-RTC", "")
	starter := &recorder{t: t, ffmpeg: ffmpeg}
	r := startRelay(t, webrtcConfig(video.Config{IdleStop: 2 * time.Second, ReadyTimeout: liveWait}),
		video.Deps{Auth: reg, Devices: reg, Starter: starter})
	starter.url = r.pushURL(rec, rec.ID)
	if r.WebRTCAddr() == nil {
		t.Fatal("WebRTC is not listening")
	}

	whepURL := r.http.URL + "/video/" + rec.ID + "/whep"
	client, offer := newWHEPClient(t)
	// Without the token, or with something else than SDP: refused, and
	// nothing is started.
	if res, body := whepPost(t, whepURL, "application/sdp", offer); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WHEP without token: %s %s, want 401", res.Status, body)
	}
	if res, body := whepPost(t, whepURL+"?token="+testToken, "application/json", offer); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("WHEP offer as JSON: %s %s, want 415", res.Status, body)
	}
	if starts, _, _ := starter.counts(); starts != 0 {
		t.Fatalf("a refused WHEP request asked the recorder to stream")
	}

	posted := time.Now()
	client.play(t, whepURL+"?token="+testToken, offer)
	t.Logf("WHEP answered %v after the POST (recorder asked, push live)", time.Since(posted).Round(time.Millisecond))
	relayTimes, err := rtspMarkers(t, r, rec.ID)
	if err != nil {
		t.Fatalf("RTSP reader for the latency: %v", err)
	}

	// 50 frames: two seconds of a 25 fps pattern with a keyframe a second.
	waitFor(t, liveWait, "50 video frames over WebRTC", func() bool {
		aus, _, _ := client.snapshot()
		return len(aus) >= 50
	})
	aus, _, errs := client.snapshot()
	for _, err := range errs {
		t.Error(err)
	}
	first := aus[0]
	if !first.has(h264.NALUTypeIDR) || !first.has(h264.NALUTypeSPS) || !first.has(h264.NALUTypePPS) {
		t.Errorf("first access unit has NAL units %v, want SPS, PPS and an IDR", first.types)
	}
	idrs := 0
	for i, a := range aus {
		if a.has(h264.NALUTypeIDR) {
			idrs++
			if !a.has(h264.NALUTypeSPS) || !a.has(h264.NALUTypePPS) {
				t.Errorf("IDR %d without SPS/PPS: %v", i, a.types)
			}
		}
		if i > 0 && int32(a.ts-aus[i-1].ts) <= 0 {
			t.Errorf("frame %d: RTP timestamp %d does not advance from %d", i, a.ts, aus[i-1].ts)
		}
	}
	if idrs < 2 {
		t.Errorf("%d IDRs in %d frames, want a keyframe each second", idrs, len(aus))
	}
	if span := aus[len(aus)-1].ts - first.ts; span < 90000*3/2 {
		t.Errorf("50 frames span %d ticks of 90 kHz, want about 2 s", span)
	}
	client.mu.Lock()
	tracks := slices.Clone(client.tracks)
	client.mu.Unlock()
	if !slices.ContainsFunc(tracks, func(m string) bool { return strings.EqualFold(m, webrtc.MimeTypeH264) }) || len(tracks) != 1 {
		t.Errorf("tracks received %v, want H.264 video only (AAC has no place in WebRTC)", tracks)
	}

	// Latency from the relay's receive (its RTSP output) to the player.
	var lat []time.Duration
	relay := relayTimes()
	client.mu.Lock()
	for ts, at := range client.marker {
		if from, ok := relay[ts]; ok {
			lat = append(lat, at.Sub(from))
		}
	}
	client.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		t.Logf("relay receive → WebRTC player, per frame over %d frames: median %v, p90 %v, max %v",
			len(lat), lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
	} else {
		t.Log("no frame seen by both the RTSP reader and the player: latency not measured")
	}

	// Audited as started once connected, and counted as a WebRTC viewer.
	if started, _ := r.audit.counts(); started != 1 {
		t.Errorf("%d views audited as started, want 1 (%v)", started, r.audit.started)
	}
	if v := r.metric(t, "fleet_video_viewers", map[string]string{"protocol": "webrtc"}); v != 1 {
		t.Errorf("WebRTC viewers = %v, want 1", v)
	}
	if v := r.metric(t, "fleet_video_webrtc_sent_bytes_total", nil); v <= 0 {
		t.Errorf("WebRTC sent bytes = %v, want > 0", v)
	}
	if starts, _, _ := starter.counts(); starts != 1 {
		t.Errorf("StartStream called %d times, want once, for the WHEP viewer", starts)
	}
	info, err := r.Live(t.Context(), rec.ID)
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	if info.WebRTC == nil || *info.WebRTC != "/video/"+rec.ID+"/whep" || info.State != video.StateLive {
		t.Errorf("Live() = %+v (webrtc %v), want live with the WHEP path", info, info.WebRTC)
	}

	// No trickle ICE; a DELETE ends the session.
	do := func(method, url string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("a=end-of-candidates\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := do(http.MethodPatch, r.http.URL+client.location); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %s, want 405", res.Status)
	}
	if res := do(http.MethodDelete, r.http.URL+"/video/"+rec.ID+"/whep/not-a-session"); res.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of an unknown session: %s, want 404", res.Status)
	}
	if res := do(http.MethodDelete, r.http.URL+client.location); res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s, want 200", res.Status)
	}
	if _, ended := r.audit.counts(); ended != 1 {
		t.Errorf("%d views audited as ended after DELETE, want 1", ended)
	}
	if v := r.metric(t, "fleet_video_viewers", map[string]string{"protocol": "webrtc"}); v != 0 {
		t.Errorf("WebRTC viewers after DELETE = %v, want 0", v)
	}
	if res := do(http.MethodDelete, r.http.URL+client.location); res.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %s, want 404", res.Status)
	}
	waitFor(t, liveWait, "the player to see the session closed", func() bool {
		s := client.pc.ConnectionState()
		return s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed ||
			s == webrtc.PeerConnectionStateDisconnected
	})
}

// An H.265 stream has nothing a browser can play over WebRTC: the offer
// is refused with 422, naming the codec, rather than answered with a
// session that shows nothing. Bad requests are refused before that.
func TestWebRTCRefusesH265(t *testing.T) {
	ffmpeg, _ := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-265", "")
	r := startRelay(t, webrtcConfig(video.Config{ReadyTimeout: liveWait}), video.Deps{Auth: reg, Devices: reg})
	whepURL := r.http.URL + "/video/" + rec.ID + "/whep?token=" + testToken
	_, offer := newWHEPClient(t)

	for _, tc := range []struct {
		name, url, contentType, body string
		want                         int
	}{
		{"unknown device", r.http.URL + "/video/dev_nobody/whep?token=" + testToken, "application/sdp", offer, http.StatusNotFound},
		{"not SDP", whepURL, "application/sdp", "hello", http.StatusBadRequest},
		{"no token", r.http.URL + "/video/" + rec.ID + "/whep", "application/sdp", offer, http.StatusUnauthorized},
	} {
		if res, body := whepPost(t, tc.url, tc.contentType, tc.body); res.StatusCode != tc.want {
			t.Errorf("%s: %s %s, want %d", tc.name, res.Status, body, tc.want)
		}
	}

	h265 := []string{"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-x265-params", "keyint=25:log-level=error", "-an"}
	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID), h265...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, liveWait, "the H.265 push to be live", func() bool {
		return r.metric(t, "fleet_video_streams_active", map[string]string{"source": "push"}) == 1
	})
	res, body := whepPost(t, whepURL, "application/sdp", offer)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("WHEP on H.265: %s %s, want 422", res.Status, body)
	}
	var e struct {
		Error struct {
			Code, Message string
			Codecs        []string
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || !slices.Contains(e.Error.Codecs, "H265") ||
		!strings.Contains(e.Error.Message, "H265") {
		t.Errorf("422 body %s (%v), want JSON naming H265", body, err)
	}
	if started, _ := r.audit.counts(); started != 0 {
		t.Errorf("a refused WHEP offer was audited as a view")
	}
}

// G.711, which HLS cannot carry, reaches a WebRTC player as is, next to
// the H.264 video. A second viewer beyond MaxViewers is turned away.
func TestWebRTCCarriesG711(t *testing.T) {
	ffmpeg, _ := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-711", "")
	r := startRelay(t, webrtcConfig(video.Config{ReadyTimeout: liveWait, MaxViewers: 1}), video.Deps{Auth: reg, Devices: reg})
	h264G711 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", "25", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}
	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID), h264G711...); err != nil {
		t.Fatal(err)
	}
	client, offer := newWHEPClient(t)
	client.play(t, r.http.URL+"/video/"+rec.ID+"/whep?token="+testToken, offer)
	waitFor(t, liveWait, "G.711 sound and H.264 frames", func() bool {
		aus, audio, _ := client.snapshot()
		return audio >= 50 && len(aus) >= 10
	})
	client.mu.Lock()
	tracks := slices.Clone(client.tracks)
	client.mu.Unlock()
	slices.Sort(tracks)
	if len(tracks) != 2 || !strings.EqualFold(tracks[0], webrtc.MimeTypePCMU) || !strings.EqualFold(tracks[1], webrtc.MimeTypeH264) {
		t.Errorf("tracks %v, want PCMU and H264", tracks)
	}

	_, offer2 := newWHEPClient(t)
	if res, body := whepPost(t, r.http.URL+"/video/"+rec.ID+"/whep?token="+testToken, "application/sdp", offer2); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a viewer beyond MaxViewers: %s %s, want 503", res.Status, body)
	}
	if v := r.metric(t, "fleet_video_refused_total", map[string]string{"reason": video.RefusedViewers}); v != 1 {
		t.Errorf("refused{too_many_viewers} = %v, want 1", v)
	}
}

// A recorder whose push breaks off and comes back (a 4G link) keeps its
// WebRTC viewers: the session follows the new stream, starting it at a
// keyframe with SPS and PPS, and the view is not audited as ended.
func TestWebRTCFollowsNewPush(t *testing.T) {
	ffmpeg, _ := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-4G", "")
	r := startRelay(t, webrtcConfig(video.Config{ReadyTimeout: liveWait}), video.Deps{Auth: reg, Devices: reg})
	push, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	client, offer := newWHEPClient(t)
	client.play(t, r.http.URL+"/video/"+rec.ID+"/whep?token="+testToken, offer)
	waitFor(t, liveWait, "25 frames from the first push", func() bool {
		aus, _, _ := client.snapshot()
		return len(aus) >= 25
	})

	push.stop() // the uplink drops
	waitFor(t, liveWait, "the first push's stream to close", func() bool {
		return r.metric(t, "fleet_video_streams_active", nil) == 0
	})
	time.Sleep(200 * time.Millisecond) // packets still in flight to the player
	before, _, _ := client.snapshot()
	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, liveWait, "25 frames from the second push", func() bool {
		aus, _, _ := client.snapshot()
		return len(aus) >= len(before)+25
	})
	aus, _, errs := client.snapshot()
	for _, err := range errs {
		t.Error(err)
	}
	if a := aus[len(before)]; !a.has(h264.NALUTypeIDR) || !a.has(h264.NALUTypeSPS) || !a.has(h264.NALUTypePPS) {
		t.Errorf("first frame of the new push has NAL units %v, want SPS, PPS and an IDR", a.types)
	}
	if started, ended := r.audit.counts(); started != 1 || ended != 0 {
		t.Errorf("views audited started %d, ended %d; want one view, still open", started, ended)
	}
	if s := client.pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
		t.Errorf("player's connection is %s, want connected", s)
	}
}
