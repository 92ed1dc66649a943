package video

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/lawfleet/fleet/fleet"
)

var (
	errClosed   = fleet.Errorf(fleet.EUNAVAILABLE, "the video relay is not running")
	errNotReady = fleet.Errorf(fleet.EUNAVAILABLE, "the stream is not live yet")
)

// path is one device's place in the relay: at most one source, any number
// of viewers. Its fields are guarded by Relay.mu; a path leaves the
// registry when nothing holds it and nothing feeds it, so the registry
// grows only with the devices in use.
type path struct {
	id      string
	rtspURL string // from the register at the last acquire: pull if set, else ask to push

	demand    int       // viewers holding the path: HLS sessions, RTSP readers, Live calls
	idleSince time.Time // when demand fell to 0 with a source running; zero otherwise

	requested bool      // StartStream called (or under way) and no StopStream since
	lastAsk   time.Time // when StartStream was last called
	puller    *puller
	pusher    *gortsplib.ServerSession
	stream    *stream // nil until media flows

	failed  bool   // the last StartStream failed
	lastErr string // why the last pull or StartStream failed; cleared when live

	changed chan struct{} // closed and replaced whenever stream or the error changes
}

// running reports whether something feeds p or was asked to.
func (p *path) running() bool {
	return p.puller != nil || p.pusher != nil || p.requested || p.stream != nil
}

func (p *path) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (r *Relay) pathLocked(id string) *path {
	p := r.paths[id]
	if p == nil {
		p = &path{id: id, changed: make(chan struct{})}
		r.paths[id] = p
	}
	return p
}

func (r *Relay) forgetLocked(p *path) {
	if p.demand == 0 && !p.running() && r.paths[p.id] == p {
		delete(r.paths, p.id)
	}
}

// acquire holds deviceID's path for a viewer and starts its source if
// nothing feeds it. Every successful acquire is paired with a release.
func (r *Relay) acquire(ctx context.Context, id string) (*path, error) {
	if !validID(id) {
		return nil, fleet.Errorf(fleet.ENOTFOUND, "no device %q", id)
	}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	d, err := r.devices.LookupDevice(lctx, id)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("video: look up device %s: %w", id, err)
	}
	switch {
	case d.Kind == fleet.KindAISUnit:
		return nil, fleet.Errorf(fleet.EINVALID, "device %s has no video", id)
	case d.Status == fleet.StatusRetired:
		return nil, fleet.Errorf(fleet.EINVALID, "device %s is retired", id)
	}

	r.mu.Lock()
	if r.closed || !r.started {
		r.mu.Unlock()
		return nil, errClosed
	}
	p := r.pathLocked(id)
	p.rtspURL = d.RTSPURL
	p.demand++
	p.idleSince = time.Time{}
	ask := r.ensureSourceLocked(p)
	r.mu.Unlock()
	if ask {
		r.askToPush(ctx, p)
	}
	return p, nil
}

// release gives back what acquire took; IdleStop after the last release
// the housekeeper stops the source.
func (r *Relay) release(p *path) {
	r.mu.Lock()
	r.releaseLocked(p, time.Now())
	r.mu.Unlock()
}

func (r *Relay) releaseLocked(p *path, now time.Time) {
	p.demand--
	if p.demand > 0 {
		return
	}
	if p.running() {
		p.idleSince = now
	} else {
		r.forgetLocked(p)
	}
}

// ensureSourceLocked starts what feeds p when nothing does: a pull if the
// device has an RTSP URL. For a recorder it marks p requested and reports
// that StartStream must be called, which the caller does outside the lock.
func (r *Relay) ensureSourceLocked(p *path) (ask bool) {
	if r.closed || p.stream != nil || p.pusher != nil || p.puller != nil || p.requested {
		return false
	}
	if p.rtspURL != "" {
		r.startPullLocked(p)
		return false
	}
	if r.starter == nil {
		return false // wait for the recorder to push by itself
	}
	p.requested, p.failed, p.lastErr, p.lastAsk = true, false, "", time.Now()
	return true
}

// reaskLocked reports whether a recorder that viewers wait for, and that
// has not pushed (or could not be asked), should be asked again: the
// command may have been lost, or the MQTT side been down. At most once per
// StartRetry.
func (r *Relay) reaskLocked(p *path, now time.Time) bool {
	if r.closed || r.starter == nil || p.rtspURL != "" || p.stream != nil || p.pusher != nil ||
		now.Sub(p.lastAsk) < r.cfg.StartRetry {
		return false
	}
	p.requested = false
	return r.ensureSourceLocked(p)
}

// askToPush tells a recorder to push. A failure leaves p not requested,
// so that the next viewer or Live call asks again.
func (r *Relay) askToPush(ctx context.Context, p *path) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	err := r.starter.StartStream(ctx, p.id)
	cancel()
	r.mu.Lock()
	if err != nil {
		p.requested, p.failed, p.lastErr = false, true, err.Error()
		p.notifyLocked()
		r.forgetLocked(p)
	} else {
		p.failed = false
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("ask recorder to stream", "device", p.id, "err", err)
	} else {
		r.log.Info("asked recorder to stream", "device", p.id)
	}
}

// goAskLocked calls askToPush from a goroutine of its own, for callers
// that are gortsplib callbacks or the housekeeper.
func (r *Relay) goAskLocked(p *path) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.askToPush(r.ctx, p)
	}()
}

func (r *Relay) startPullLocked(p *path) {
	pl := newPuller(r, p, p.rtspURL)
	p.puller = pl
	p.failed, p.lastErr = false, ""
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		pl.run()
	}()
}

// sourceReady makes st p's live stream. src is the puller or push session
// that made it; a source that was stopped meanwhile gets false and must
// close st itself.
func (r *Relay) sourceReady(p *path, src any, st *stream) bool {
	r.mu.Lock()
	ok := !r.closed
	switch s := src.(type) {
	case *puller:
		ok = ok && p.puller == s
	case *gortsplib.ServerSession:
		ok = ok && p.pusher == s
	}
	var old *stream
	if ok {
		old, p.stream = p.stream, st
		p.failed, p.lastErr = false, ""
		if p.demand == 0 && p.idleSince.IsZero() {
			p.idleSince = time.Now() // a push nobody asked for: accepted, and stopped if nobody comes
		}
		p.notifyLocked()
	}
	r.mu.Unlock()
	if old != nil {
		old.close()
	}
	return ok
}

// sourceGone takes st off p and closes it. If viewers still hold p, a new
// source is started: a pull that was stopped by a race with the
// housekeeper, or a recorder whose push broke off (asked again at most
// once per StartRetry, so that a push that keeps failing is no loop).
func (r *Relay) sourceGone(p *path, st *stream) {
	r.mu.Lock()
	if p.stream == st {
		p.stream = nil
		p.notifyLocked()
	}
	if p.demand > 0 {
		if p.rtspURL != "" {
			r.ensureSourceLocked(p)
		} else if r.reaskLocked(p, time.Now()) {
			r.goAskLocked(p)
		}
	} else {
		r.forgetLocked(p)
	}
	r.mu.Unlock()
	st.close()
}

// state is LiveInfo.State for p.
func (r *Relay) state(p *path) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case p.stream != nil:
		return StateLive
	case p.failed:
		return StateFailed
	case p.puller != nil && p.lastErr != "":
		return StateRetrying
	case p.puller != nil || p.requested || p.pusher != nil:
		return StateStarting
	}
	return StateIdle
}

// waitLive waits until p has a live stream, ctx ends or ReadyTimeout
// passes. The caller holds p.
func (r *Relay) waitLive(ctx context.Context, p *path) (*stream, error) {
	timer := time.NewTimer(r.cfg.ReadyTimeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		st, changed, failed, lastErr := p.stream, p.changed, p.failed, p.lastErr
		r.mu.Unlock()
		if st != nil {
			return st, nil
		}
		if failed {
			return nil, fleet.Errorf(fleet.EUNAVAILABLE, "the device could not be asked to stream: %s", lastErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.ctx.Done():
			return nil, errClosed
		case <-timer.C:
			return nil, errNotReady
		}
	}
}

// housekeep ends quiet HLS viewing sessions and stops sources that have
// had no viewer for IdleStop, until Close.
func (r *Relay) housekeep() {
	every := min(r.cfg.IdleStop, r.cfg.ViewerTimeout) / 4
	every = max(min(every, time.Second), 20*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			r.sweep(now)
		}
	}
}

func (r *Relay) sweep(now time.Time) {
	type stop struct {
		id   string
		pl   *puller
		push *gortsplib.ServerSession
		tell bool // send StopStream
	}
	var ended []*viewer
	var stops []stop
	r.mu.Lock()
	for k, v := range r.viewers {
		if v.inflight == 0 && now.Sub(v.lastSeen) >= r.cfg.ViewerTimeout {
			delete(r.viewers, k)
			ended = append(ended, v)
			r.releaseLocked(v.path, now)
		}
	}
	for id, p := range r.paths {
		if p.demand > 0 || p.idleSince.IsZero() || now.Sub(p.idleSince) < r.cfg.IdleStop {
			continue
		}
		stops = append(stops, stop{id: id, pl: p.puller, push: p.pusher,
			tell: r.starter != nil && (p.requested || p.pusher != nil)})
		// The pusher and the stream are cleared by the session's and the
		// puller's own ends, which close the stream.
		p.puller, p.requested, p.idleSince = nil, false, time.Time{}
		r.forgetLocked(p)
	}
	r.mu.Unlock()

	for _, v := range ended {
		r.m.viewers.WithLabelValues("hls").Dec()
		r.log.Info("view ended", "device", v.deviceID, "viewer", v.name, "since", v.started)
		if r.auditor != nil {
			r.auditor.ViewEnded(v.deviceID, v.name, v.lastSeen)
		}
	}
	for _, s := range stops {
		r.log.Info("stopping idle stream", "device", s.id, "idle", r.cfg.IdleStop)
		if s.pl != nil {
			s.pl.close()
		}
		if s.tell {
			ctx, cancel := context.WithTimeout(r.ctx, r.cfg.CallTimeout)
			if err := r.starter.StopStream(ctx, s.id); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Warn("ask recorder to stop streaming", "device", s.id, "err", err)
			}
			cancel()
		}
		if s.push != nil {
			s.push.Close() // in case the recorder does not stop by itself
		}
	}
}
