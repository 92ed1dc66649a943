package video

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// puller pulls a vehicle terminal's RTSP URL into its path, reconnecting
// with capped exponential back-off until closed. The URL's userinfo is
// used for the camera's Basic or Digest challenge.
type puller struct {
	r      *Relay
	p      *path
	rawURL string
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newPuller(r *Relay, p *path, rawURL string) *puller {
	ctx, cancel := context.WithCancel(r.ctx)
	return &puller{r: r, p: p, rawURL: rawURL, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		log: r.log.With("device", p.id, "url", redact(rawURL))}
}

// close stops the pull and waits for it.
func (pl *puller) close() {
	pl.cancel()
	<-pl.done
}

func (pl *puller) run() {
	defer close(pl.done)
	wait := pl.r.cfg.PullBackoffMin
	streak := 0 // failures since the last time the stream was live
	for {
		wasLive, err := pl.once()
		if pl.ctx.Err() != nil {
			return
		}
		if wasLive {
			wait, streak = pl.r.cfg.PullBackoffMin, 0 // a working camera that dropped: retry soon
		}
		streak++
		pl.r.m.pullFailures.Inc()
		pl.r.mu.Lock()
		if pl.p.puller == pl {
			pl.p.lastErr = err.Error()
			pl.p.notifyLocked()
		}
		pl.r.mu.Unlock()
		// The first failure of each device is worth a line; the retries of
		// a fleet of unreachable terminals share one throttled line.
		if streak == 1 {
			pl.log.Warn("pull failed", "err", err, "retry_in", wait)
		} else {
			pl.r.noisy.Log(pl.log, slog.LevelWarn, "pull-retry", time.Now(), "pull failed again", "err", err, "failures", streak, "retry_in", wait)
		}

		// ±20% jitter, so that terminals cut off together do not all
		// come back in the same instant.
		d := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-pl.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, pl.r.cfg.PullBackoffMax)
	}
}

// once connects, reads until the source fails or the puller is closed,
// and reports whether the stream went live.
func (pl *puller) once() (wasLive bool, err error) {
	u, err := base.ParseURL(pl.rawURL)
	if err != nil {
		return false, fmt.Errorf("rtsp url: %w", err)
	}
	c := &gortsplib.Client{
		Scheme:        u.Scheme,
		Host:          u.Host,
		ReadTimeout:   pl.r.cfg.PullReadTimeout,
		WriteTimeout:  pl.r.cfg.PullReadTimeout,
		Transport:     transport(pl.r.cfg.PullTransport),
		OnPacketsLost: func(lost uint64) { pl.r.m.streamErrors.WithLabelValues(errPacketsLost).Add(float64(lost)) },
		OnDecodeError: func(err error) { pl.r.streamError(errDecode, pl.p.id, err) },
		OnTransportSwitch: func(err error) {
			pl.log.Info("pull switched transport", "reason", err)
		},
	}
	if err := c.Start2(); err != nil {
		return false, fmt.Errorf("start client: %w", err)
	}
	// Describe, Setup and Play block on the network: closing the client
	// from another goroutine is what ends them when the puller is closed.
	exit := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-pl.ctx.Done():
		case <-exit:
		}
		c.Close()
	}()
	defer func() {
		close(exit)
		<-watcher
	}()

	desc, _, err := c.Describe(u)
	if err != nil {
		return false, fmt.Errorf("describe: %w", err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return false, fmt.Errorf("setup: %w", err)
	}
	st, err := pl.r.newStream(pl.p.id, "pull", desc)
	if err != nil {
		return false, err
	}
	c.OnPacketRTPAny(func(medi *description.Media, forma format.Format, pkt *rtp.Packet) {
		pts, ok := c.PacketPTS2(medi, pkt)
		st.writeRTP(medi, forma, pkt, pts, ok)
	})
	if _, err := c.Play(nil); err != nil {
		st.close()
		return false, fmt.Errorf("play: %w", err)
	}
	// Live only once the camera has agreed to play.
	if !pl.r.sourceReady(pl.p, pl, st) {
		st.close()
		return false, errors.New("puller stopped")
	}
	defer pl.r.sourceGone(pl.p, st)
	pl.log.Info("pull started")
	if err := c.Wait(); err != nil {
		return true, fmt.Errorf("read: %w", err)
	}
	return true, errors.New("source closed")
}

func transport(s string) *gortsplib.Transport {
	var t gortsplib.Transport
	switch s {
	case "tcp":
		t = gortsplib.TransportTCP
	case "udp":
		t = gortsplib.TransportUDP
	default:
		return nil // gortsplib tries UDP, then TCP
	}
	return &t
}

// redact hides the password of an RTSP URL for the log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
