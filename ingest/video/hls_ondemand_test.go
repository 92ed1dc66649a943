package video_test

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// The HLS muxer is the costliest reader of a stream, so the relay makes
// one only for HLS viewers: a stream watched over RTSP alone has none; the
// first HLS request makes it and plays; when HLS requests stop for
// ViewerTimeout it is closed while the RTSP reader goes on; and the next
// HLS viewer gets a new one that plays again.
func TestHLSMuxerOnDemand(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-HLS-1", "")
	const viewerTimeout = 1500 * time.Millisecond
	r := startRelay(t, video.Config{IdleStop: time.Minute, ViewerTimeout: viewerTimeout},
		video.Deps{Auth: reg, Devices: reg})
	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID)); err != nil {
		t.Fatal(err)
	}

	var packets atomic.Int64
	c := playRTSP(t, r, rec.ID, &packets)
	defer c.Close()
	waitFor(t, liveWait, "RTP packets at the RTSP reader", func() bool { return packets.Load() > 100 })
	if video.HLSMuxing(r.Relay, rec.ID) {
		t.Fatal("a stream with only an RTSP reader has an HLS muxer")
	}
	if v := r.metric(t, "fleet_video_hls_sent_bytes_total", nil); v != 0 {
		t.Errorf("HLS bytes sent with no HLS viewer: %v", v)
	}

	waitForHLS(t, r, ffprobe, rec.ID)
	// One more request, to know when the last one ended.
	res, err := http.Get(r.http.URL + "/video/" + rec.ID + "/index.m3u8?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	played := time.Now()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("multivariant playlist: %s", res.Status)
	}
	if !video.HLSMuxing(r.Relay, rec.ID) {
		t.Fatal("no HLS muxer right after HLS played")
	}

	waitFor(t, liveWait, "the HLS muxer to close", func() bool { return !video.HLSMuxing(r.Relay, rec.ID) })
	if quiet := time.Since(played); quiet < viewerTimeout {
		t.Errorf("HLS muxer closed %v after the last request, before ViewerTimeout %v", quiet, viewerTimeout)
	}
	before := packets.Load()
	waitFor(t, liveWait, "RTP packets at the RTSP reader after HLS closed", func() bool { return packets.Load() > before+50 })
	if v := r.metric(t, "fleet_video_streams_active", nil); v != 1 {
		t.Errorf("streams active = %v, want 1: closing HLS must leave the stream", v)
	}

	waitForHLS(t, r, ffprobe, rec.ID)
	if !video.HLSMuxing(r.Relay, rec.ID) {
		t.Error("no HLS muxer for the second HLS viewer")
	}
}

// playRTSP reads deviceID from the relay as its own RTSP reader, retrying
// while the push is not live yet, and counts the RTP packets.
func playRTSP(t *testing.T, r *relay, deviceID string, packets *atomic.Int64) *gortsplib.Client {
	t.Helper()
	user, pass := r.ReaderCredentials()
	u, err := base.ParseURL("rtsp://" + user + ":" + pass + "@" + r.RTSPAddr().String() + "/" + deviceID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(liveWait)
	for {
		c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: ptr(gortsplib.TransportTCP)}
		err := c.Start2()
		if err == nil {
			var desc *description.Session
			if desc, _, err = c.Describe(u); err == nil {
				err = c.SetupAll(desc.BaseURL, desc.Medias)
			}
			if err == nil {
				c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { packets.Add(1) })
				_, err = c.Play(nil)
			}
			if err == nil {
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("RTSP reader of %s: %v", deviceID, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
