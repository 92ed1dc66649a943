package video_test

import (
	"context"
	"errors"
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
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// recorder is the StreamStarter: where the MQTT side would publish
// stream.start, it has ffmpeg push as the recorder would.
type recorder struct {
	t      *testing.T
	ffmpeg string
	url    string

	mu            sync.Mutex
	failures      int // the first calls fail, as when the MQTT side is down
	starts, stops int
	proc          *process
}

func (rc *recorder) StartStream(_ context.Context, deviceID string) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.starts++
	if rc.starts <= rc.failures {
		return fleet.Errorf(fleet.EUNAVAILABLE, "MQTT broker unreachable")
	}
	if rc.proc != nil && !rc.proc.exited() {
		return nil // already pushing: stream.start is idempotent
	}
	p, err := pushTestPattern(rc.t, rc.ffmpeg, rc.url)
	rc.proc = p
	return err
}

// StopStream only counts: the relay must close the push itself too.
func (rc *recorder) StopStream(context.Context, string) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.stops++
	return nil
}

func (rc *recorder) counts() (starts, stops int, proc *process) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.starts, rc.stops, rc.proc
}

// A viewer asks for a recorder's HLS: the relay asks the recorder to push
// (StreamStarter), ffmpeg pushes H.264 + AAC with the device's own
// credentials, and the HLS output decodes as the 640x360 H.264 it was
// given. When the viewer goes quiet the session is audited as ended, the
// recorder told to stop, and the push closed.
func TestPushOnDemandToHLS(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-001", "")
	starter := &recorder{t: t, ffmpeg: ffmpeg}
	r := startRelay(t, video.Config{IdleStop: 2 * time.Second, ViewerTimeout: 2 * time.Second},
		video.Deps{Auth: reg, Devices: reg, Starter: starter})
	starter.url = r.pushURL(rec, rec.ID)

	// Without the token nothing is served, and nothing is started.
	res, err := http.Get(r.http.URL + "/video/" + rec.ID + "/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: status %d, want 401", res.StatusCode)
	}
	if starts, _, _ := starter.counts(); starts != 0 {
		t.Fatalf("an unauthorised request started the recorder")
	}

	codecs := waitForHLS(t, r, ffprobe, rec.ID)
	if !slices.ContainsFunc(codecs, func(c string) bool { return strings.HasPrefix(c, "avc1") }) ||
		!slices.ContainsFunc(codecs, func(c string) bool { return strings.HasPrefix(c, "mp4a") }) {
		t.Errorf("HLS codecs %v, want H.264 (avc1) and AAC (mp4a)", codecs)
	}
	if starts, _, _ := starter.counts(); starts != 1 {
		t.Errorf("StartStream called %d times, want 1", starts)
	}
	if started, _ := r.audit.counts(); started != 1 {
		t.Errorf("%d viewing sessions audited as started, want 1 (%v)", started, r.audit.started)
	}
	for name, labels := range map[string]map[string]string{
		"fleet_video_streams_active":       {"source": "push"},
		"fleet_video_viewers":              {"protocol": "hls"},
		"fleet_video_received_bytes_total": {"source": "push"},
		"fleet_video_hls_sent_bytes_total": nil,
	} {
		if v := r.metric(t, name, labels); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", name, labels, v)
		}
	}

	info, err := r.Live(t.Context(), rec.ID)
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	if info.State != video.StateLive || info.HLS != "/video/"+rec.ID+"/index.m3u8" || info.WebRTC != nil {
		t.Errorf("Live = %+v, want state live and the HLS path", info)
	}

	// The viewer leaves: after ViewerTimeout the session ends, after
	// IdleStop the source stops.
	waitFor(t, liveWait, "the viewing session to end", func() bool { _, ended := r.audit.counts(); return ended == 1 })
	waitFor(t, liveWait, "StopStream", func() bool { _, stops, _ := starter.counts(); return stops == 1 })
	_, _, proc := starter.counts()
	waitFor(t, liveWait, "the relay to close the push", proc.exited)
	waitFor(t, liveWait, "the stream to close", func() bool {
		return r.metric(t, "fleet_video_streams_active", nil) == 0
	})
	if info, err := r.Live(t.Context(), rec.ID); err != nil || info.State == video.StateLive {
		t.Errorf("Live after stop = %+v, %v; want not live", info, err)
	}
}

// When the recorder cannot be told to start, Live says so; a viewer that
// keeps asking gets 503s, and the relay asks the recorder again every
// StartRetry until it pushes and HLS plays.
func TestRecorderAskedAgain(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-001", "")
	starter := &recorder{t: t, ffmpeg: ffmpeg, failures: 2}
	r := startRelay(t, video.Config{StartRetry: time.Second, ReadyTimeout: 2 * time.Second},
		video.Deps{Auth: reg, Devices: reg, Starter: starter})
	starter.url = r.pushURL(rec, rec.ID)

	info, err := r.Live(t.Context(), rec.ID)
	if err != nil || info.State != video.StateFailed {
		t.Fatalf("Live = %+v, %v; want state failed", info, err)
	}
	res, err := http.Get(r.http.URL + "/video/" + rec.ID + "/index.m3u8?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("HLS while the recorder cannot be asked: %s, want 503 with Retry-After", res.Status)
	}
	waitForHLS(t, r, ffprobe, rec.ID)
	if starts, _, _ := starter.counts(); starts != 3 {
		t.Errorf("StartStream called %d times, want 3 (two failures, then success)", starts)
	}
}

// A push with a wrong secret, from an unknown device, to another device's
// path, or from a device kind without video is refused and counted; the
// device's own push is accepted with no viewer, and closed IdleStop later.
func TestPushRefused(t *testing.T) {
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-001", "")
	other := reg.device(t, fleet.KindRecorder, "REC-002", "")
	ais := reg.device(t, fleet.KindAISUnit, "AIS-001", "")
	r := startRelay(t, video.Config{IdleStop: 2 * time.Second}, video.Deps{Auth: reg, Devices: reg})

	for _, tc := range []struct {
		name, user, pass, path string
		code                   base.StatusCode
		reason                 string
	}{
		{"wrong secret", rec.ID, "not-the-secret", rec.ID, base.StatusUnauthorized, video.RefusedCredentials},
		{"unknown device", "dev_nobody", "whatever", "dev_nobody", base.StatusUnauthorized, video.RefusedCredentials},
		{"another device's path", rec.ID, rec.MQTTSecret, other.ID, base.StatusForbidden, video.RefusedWrongPath},
		{"device without video", ais.ID, ais.MQTTSecret, ais.ID, base.StatusForbidden, video.RefusedNoVideo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.metric(t, "fleet_video_refused_total", map[string]string{"reason": tc.reason})
			url := "rtsp://" + tc.user + ":" + tc.pass + "@" + r.RTSPAddr().String() + "/" + tc.path
			c := gortsplib.Client{Transport: ptr(gortsplib.TransportTCP)}
			err := c.StartRecording(url, testDescription())
			if err == nil {
				c.Close()
				t.Fatalf("push accepted, want %d", tc.code)
			}
			var bad liberrors.ErrClientBadStatusCode
			if !errors.As(err, &bad) || bad.Code != tc.code {
				t.Fatalf("push refused with %v, want status %d", err, tc.code)
			}
			if after := r.metric(t, "fleet_video_refused_total", map[string]string{"reason": tc.reason}); after != before+1 {
				t.Errorf("refused{reason=%s} went from %v to %v, want +1", tc.reason, before, after)
			}
		})
	}

	// The device's own push, with nobody watching, is accepted…
	c := gortsplib.Client{Transport: ptr(gortsplib.TransportTCP)}
	if err := c.StartRecording(r.pushURL(rec, rec.ID), testDescription()); err != nil {
		t.Fatalf("own push refused: %v", err)
	}
	defer c.Close()
	waitFor(t, liveWait, "the push to be live", func() bool {
		return r.metric(t, "fleet_video_streams_active", map[string]string{"source": "push"}) == 1
	})
	// …and closed by the relay once it has had no viewer for IdleStop.
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(liveWait):
		t.Fatal("an unwatched push was not closed")
	}
}

func ptr[T any](v T) *T { return &v }

// testDescription is an H.264 track as a recorder would announce it.
func testDescription() *description.Session {
	return &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{
			PayloadTyp:        96,
			PacketizationMode: 1,
			SPS: []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00,
				0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20},
			PPS: []byte{0x68, 0xce, 0x3c, 0x80},
		}},
	}}}
}

// An H.265 push with G.711 sound, arriving with nobody watching, is
// accepted; HLS carries its H.265 as is and leaves the G.711 out (HLS
// cannot hold it without transcoding), while the relay's RTSP output
// keeps both.
func TestPushH265WithG711(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	reg := newRegister(t)
	rec := reg.device(t, fleet.KindRecorder, "REC-265", "")
	r := startRelay(t, video.Config{}, video.Deps{Auth: reg, Devices: reg})

	if _, err := pushTestPattern(t, ffmpeg, r.pushURL(rec, rec.ID), h265G711...); err != nil {
		t.Fatal(err)
	}
	codecs := waitForHLS(t, r, ffprobe, rec.ID, "hevc")
	if !slices.ContainsFunc(codecs, func(c string) bool { return strings.HasPrefix(c, "hvc1") || strings.HasPrefix(c, "hev1") }) ||
		slices.ContainsFunc(codecs, func(c string) bool { return strings.HasPrefix(c, "mp4a") }) {
		t.Errorf("HLS codecs %v, want H.265 only", codecs)
	}

	user, pass := r.ReaderCredentials()
	u, err := base.ParseURL("rtsp://" + user + ":" + pass + "@" + r.RTSPAddr().String() + "/" + rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("describe the relayed stream: %v", err)
	}
	var got []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			got = append(got, f.Codec())
		}
	}
	if !slices.Contains(got, "H265") || !slices.Contains(got, "G711") {
		t.Errorf("relayed RTSP formats %v, want H265 and G711", got)
	}
}
