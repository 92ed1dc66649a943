package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
)

// viewerStats is what one viewer received. Counters only grow; the
// report takes their difference over the measured window.
type viewerStats struct {
	frames   atomic.Int64 // video access units
	bytes    atomic.Int64 // video payload
	sessions atomic.Int64 // sessions that got as far as receiving
	failures atomic.Int64 // sessions that failed or broke off

	mu      sync.Mutex
	lastErr error
}

func (s *viewerStats) failed(err error) {
	s.failures.Add(1)
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

func (s *viewerStats) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

var errNoFrames = errors.New("no frames received")

// auFunc takes a whole access unit and when it was complete on arrival.
type auFunc func(au [][]byte, arrived time.Time)

// viewFunc reads one stream until ctx ends or the session fails.
type viewFunc func(ctx context.Context, url string, st *viewerStats, onAU auFunc) error

// keepViewing runs view again after each failure, a second later, until
// ctx ends: a viewer that lost its stream comes back, as a player does.
func keepViewing(ctx context.Context, view viewFunc, url string, st *viewerStats, onAU auFunc) {
	for ctx.Err() == nil {
		err := view(ctx, url, st, onAU)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("session ended")
		}
		st.failed(err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// latencyRecorder collects marker latencies while on.
type latencyRecorder struct {
	mu      sync.Mutex
	on      bool
	samples []time.Duration
	marks   []mark // of each sample, for the CSV
	frames  int    // access units seen while on
}

func (l *latencyRecorder) au(au [][]byte, arrived time.Time) {
	m, ok := findMark(au)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	l.frames++
	if ok {
		l.samples = append(l.samples, arrived.Sub(m.sent))
		l.marks = append(l.marks, m)
	}
}

func (l *latencyRecorder) setOn(on bool) {
	l.mu.Lock()
	l.on = on
	l.mu.Unlock()
}

func (l *latencyRecorder) result() (samples []time.Duration, marks []mark, frames int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.samples), slices.Clone(l.marks), l.frames
}

// viewRTSP reads the stream's H.264 over RTSP (interleaved in TCP). Frames
// are counted by the RTP marker bit, which ends each access unit, so a
// plain viewer costs this process next to nothing; a latency viewer
// depacketizes.
func viewRTSP(ctx context.Context, address string, st *viewerStats, onAU auFunc) error {
	u, err := base.ParseURL(address)
	if err != nil {
		return err
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		c.Close()
	}()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return errors.New("no H.264 track")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return err
	}
	var dec *rtph264.Decoder
	if onAU != nil {
		if dec, err = forma.CreateDecoder(); err != nil {
			return err
		}
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		st.bytes.Add(int64(len(pkt.Payload)))
		if pkt.Marker {
			st.frames.Add(1)
		}
		if dec != nil {
			if au, err := dec.Decode(pkt); err == nil {
				onAU(au, time.Now())
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	st.sessions.Add(1)
	return c.Wait()
}

// runMarker publishes the pattern's frames to url at 25 fps over RTSP,
// each access unit with a SEI that carries the time it was sent, until
// ctx ends; it reconnects after a failure.
func runMarker(ctx context.Context, url string, pat *pattern, sent *atomic.Int64, logf func(string, ...any)) {
	for ctx.Err() == nil {
		err := publishMarker(ctx, url, pat, sent)
		if ctx.Err() != nil {
			return
		}
		logf("marker source: %v (again in 1 s)", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func publishMarker(ctx context.Context, url string, pat *pattern, sent *atomic.Int64) error {
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: pat.sps, PPS: pat.pps}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(url, &description.Session{Medias: []*description.Media{medi}}); err != nil {
		return err
	}
	defer c.Close()
	enc, err := forma.CreateEncoder()
	if err != nil {
		return err
	}
	const frame = time.Second / patternFPS
	start := time.Now()
	failed := make(chan error, 1)
	go func() { failed <- c.Wait() }()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-time.After(time.Until(start.Add(time.Duration(n) * frame))):
		}
		// Start from a key frame: the pattern begins with one.
		au := withMark(pat.aus[n%len(pat.aus)], mark{sent: time.Now(), seq: uint32(n)})
		pkts, err := enc.Encode(au)
		if err != nil {
			return err
		}
		ts := uint32(n * 90000 / patternFPS)
		for _, pkt := range pkts {
			pkt.Timestamp = ts
			if err := c.WritePacketRTP(medi, pkt); err != nil {
				return err
			}
		}
		sent.Add(1)
	}
}
