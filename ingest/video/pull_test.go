package video_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
	"github.com/lawfleet/fleet/internal/testenv"
)

// Credentials of the fake camera, which readers must give (Digest or Basic).
const camUser, camPass = "admin", "cam-pass"

// camera is a vehicle terminal's RTSP server: a real gortsplib.Server that
// ffmpeg publishes a test pattern to (no credentials) and that readers
// play with camUser/camPass.
type camera struct {
	srv *gortsplib.Server

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

func startCamera(t *testing.T, addr, udpRTP, udpRTCP string) *camera {
	t.Helper()
	c := &camera{}
	c.srv = &gortsplib.Server{Handler: c, RTSPAddress: addr, UDPRTPAddress: udpRTP, UDPRTCPAddress: udpRTCP}
	if err := c.srv.Start(); err != nil {
		t.Fatalf("camera: %v", err)
	}
	t.Cleanup(c.srv.Close)
	return c
}

func (c *camera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		c.stream.Close()
		c.publisher.Close()
	}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: ctx.Description}
	if err := c.stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	c.publisher = ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *camera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(medi, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.publisher {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
}

func (c *camera) reader(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, *gortsplib.ServerStream, error) {
	if !conn.VerifyCredentials(req, camUser, camPass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.reader(ctx.Conn, ctx.Request)
}

func (c *camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	return c.reader(ctx.Conn, ctx.Request)
}

func (c *camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// freeUDPPair finds an even UDP port whose successor is free too, for a
// camera's RTP and RTCP listeners.
func freeUDPPair(t *testing.T) (rtpAddr, rtcpAddr string) {
	t.Helper()
	for range 100 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port &^ 1
		pc.Close()
		a, err1 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, err2 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		for _, c := range []net.PacketConn{a, b} {
			if c != nil {
				c.Close()
			}
		}
		if err1 == nil && err2 == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

// A vehicle terminal's RTSP URL is pulled (TCP and UDP, with the Digest
// credentials of the URL) when a viewer asks for its HLS. Over TCP, the
// camera then goes away and comes back on the same address: the relay
// keeps retrying and HLS plays again; the service's own RTSP reader gets
// the relayed packets, and a reader with a wrong password is refused. Over
// UDP, the viewer then leaves and the pull stops IdleStop later.
func TestPullRecovers(t *testing.T) {
	ffmpeg, ffprobe := testenv.FFmpeg(t)
	for _, tc := range []struct {
		transport string
		recover   bool          // the camera goes away and comes back
		idle      time.Duration // ViewerTimeout and IdleStop
	}{
		{"tcp", true, 30 * time.Second},
		{"udp", false, 2 * time.Second},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			camAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			var udpRTP, udpRTCP string
			if tc.transport == "udp" {
				udpRTP, udpRTCP = freeUDPPair(t)
			}
			reg := newRegister(t)
			term := reg.device(t, fleet.KindVehicleTerminal, "VT-001",
				"rtsp://"+camUser+":"+camPass+"@"+camAddr+"/cam")
			r := startRelay(t, video.Config{
				PullTransport: tc.transport, PullBackoffMin: 200 * time.Millisecond, PullBackoffMax: time.Second,
				PullReadTimeout: 5 * time.Second, ViewerTimeout: tc.idle, IdleStop: tc.idle,
			}, video.Deps{Auth: reg, Devices: reg})

			cam := startCamera(t, camAddr, udpRTP, udpRTCP)
			ff, err := pushTestPattern(t, ffmpeg, "rtsp://"+camAddr+"/cam")
			if err != nil {
				t.Fatal(err)
			}
			waitForHLS(t, r, ffprobe, term.ID)
			if v := r.metric(t, "fleet_video_streams_active", map[string]string{"source": "pull"}); v != 1 {
				t.Errorf("pulled streams active = %v, want 1", v)
			}
			if !tc.recover {
				waitFor(t, liveWait, "the unwatched pull to stop", func() bool {
					return r.metric(t, "fleet_video_streams_active", nil) == 0
				})
				return
			}
			checkRTSPReader(t, r, term.ID)

			// The camera goes away: the stream closes and the pull retries.
			failures := r.metric(t, "fleet_video_pull_failures_total", nil)
			ff.stop()
			cam.srv.Close() // drops the listener and every session
			waitFor(t, liveWait, "the stream to go down", func() bool {
				info, err := r.Live(t.Context(), term.ID)
				return err == nil && info.State != video.StateLive
			})
			waitFor(t, liveWait, "a failed pull", func() bool {
				return r.metric(t, "fleet_video_pull_failures_total", nil) > failures
			})

			// It comes back on the same address: HLS plays again.
			startCamera(t, camAddr, udpRTP, udpRTCP)
			if _, err := pushTestPattern(t, ffmpeg, "rtsp://"+camAddr+"/cam"); err != nil {
				t.Fatal(err)
			}
			waitForHLS(t, r, ffprobe, term.ID)
			if info, err := r.Live(t.Context(), term.ID); err != nil || info.State != video.StateLive {
				t.Errorf("Live = %+v, %v; want live", info, err)
			}
		})
	}
}

// checkRTSPReader plays deviceID from the relay over RTSP as the service's
// own reader, and checks that a wrong password is refused.
func checkRTSPReader(t *testing.T, r *relay, deviceID string) {
	t.Helper()
	user, pass := r.ReaderCredentials()
	play := func(pass string, packets *atomic.Int64) (*gortsplib.Client, error) {
		u, err := base.ParseURL("rtsp://" + user + ":" + pass + "@" + r.RTSPAddr().String() + "/" + deviceID)
		if err != nil {
			return nil, err
		}
		c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: ptr(gortsplib.TransportTCP)}
		if err := c.Start2(); err != nil {
			return nil, err
		}
		desc, _, err := c.Describe(u)
		if err == nil {
			err = c.SetupAll(desc.BaseURL, desc.Medias)
		}
		if err == nil {
			c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { packets.Add(1) })
			_, err = c.Play(nil)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}

	var bad liberrors.ErrClientBadStatusCode
	if _, err := play("wrong", &atomic.Int64{}); !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
		t.Errorf("reader with a wrong password: %v, want 401", err)
	}
	var packets atomic.Int64
	c, err := play(pass, &packets)
	if err != nil {
		t.Fatalf("RTSP reader: %v", err)
	}
	defer c.Close()
	waitFor(t, liveWait, "RTP packets at the RTSP reader", func() bool { return packets.Load() > 50 })
	if v := r.metric(t, "fleet_video_viewers", map[string]string{"protocol": "rtsp"}); v != 1 {
		t.Errorf("RTSP viewers = %v, want 1", v)
	}
}
