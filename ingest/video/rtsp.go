package video

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/lawfleet/fleet/fleet"
)

// rtspSession is what the relay knows of an RTSP session it accepted: a
// device's push, or one of the service's own readers.
type rtspSession struct {
	deviceID string
	push     bool
	stream   *stream // push: the stream it feeds, once recording
	held     *path   // reader: the path acquired at PLAY
}

// errRefused closes the connection after a refusal that is not about
// credentials (gortsplib closes on any error a handler returns).
var errRefused = errors.New("refused")

// rtspHandler implements gortsplib's server callbacks; they run on
// gortsplib's connection and session goroutines.
type rtspHandler struct{ r *Relay }

func pathID(p string) string { return strings.Trim(p, "/") }

func status(code base.StatusCode) *base.Response { return &base.Response{StatusCode: code} }

// refuse counts and logs a refusal (at most once per reason per LogEvery).
func (r *Relay) refuse(reason, deviceID string, conn *gortsplib.ServerConn) {
	r.m.refused.WithLabelValues(reason).Inc()
	r.noisy.Log(r.log, slog.LevelWarn, "refused:"+reason, time.Now(), "RTSP refused",
		"reason", reason, "path", deviceID, "remote", conn.NetConn().RemoteAddr().String())
}

// OnAnnounce checks a push: the credentials must be a device's own, and
// the path that device's id.
func (h *rtspHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	r := h.r
	id := pathID(ctx.Path)

	var cred headers.Authorization
	if err := cred.Unmarshal(ctx.Request.Header["Authorization"]); err != nil || cred.Username == "" {
		// No credentials yet: gortsplib answers 401 with the challenge.
		return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
	}
	if cred.Method != headers.AuthMethodBasic {
		r.refuse(RefusedCredentials, id, ctx.Conn)
		return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
	}

	// Bounded: a flood of pushes waits here, not in the register.
	wait, cancel := context.WithTimeout(r.ctx, r.cfg.CallTimeout)
	defer cancel()
	select {
	case r.authSem <- struct{}{}:
	case <-wait.Done():
		r.refuse(RefusedAuthBusy, id, ctx.Conn)
		return status(base.StatusServiceUnavailable), errRefused
	}
	d, err := r.auth.AuthenticateDevice(wait, cred.Username, cred.BasicPass)
	<-r.authSem
	switch code := fleet.ErrorCode(err); {
	case code == fleet.EUNAUTHORIZED || code == fleet.ENOTFOUND:
		r.refuse(RefusedCredentials, id, ctx.Conn)
		return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
	case err != nil:
		r.refuse(RefusedUnavailable, id, ctx.Conn)
		r.noisy.Log(r.log, slog.LevelError, "auth-error", time.Now(), "check push credentials", "err", err)
		return status(base.StatusServiceUnavailable), errRefused
	}

	switch {
	case !validID(id):
		r.refuse(RefusedBadPath, id, ctx.Conn)
		return status(base.StatusNotFound), errRefused
	case id != d.ID:
		r.refuse(RefusedWrongPath, id, ctx.Conn)
		return status(base.StatusForbidden), errRefused
	case d.Kind == fleet.KindAISUnit:
		r.refuse(RefusedNoVideo, id, ctx.Conn)
		return status(base.StatusForbidden), errRefused
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return status(base.StatusServiceUnavailable), errRefused
	}
	if p := r.paths[id]; p != nil && p.puller != nil {
		// The relay pulls this device: one source per path.
		r.refuse(RefusedBusy, id, ctx.Conn)
		return status(base.StatusMethodNotValidInThisState), errRefused
	}
	r.sessions[ctx.Session] = &rtspSession{deviceID: id, push: true}
	return status(base.StatusOK), nil
}

// OnRecord makes the push the path's source.
func (h *rtspHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	r := h.r
	ss := ctx.Session
	r.mu.Lock()
	info := r.sessions[ss]
	if info == nil || !info.push || r.closed {
		r.mu.Unlock()
		return status(base.StatusBadRequest), errRefused
	}
	p := r.pathLocked(info.deviceID)
	if p.puller != nil {
		r.mu.Unlock()
		r.refuse(RefusedBusy, info.deviceID, ctx.Conn)
		return status(base.StatusMethodNotValidInThisState), errRefused
	}
	// The newest push wins: a recorder that lost its link and came back
	// must not wait for its old session to time out.
	old := p.pusher
	p.pusher = ss
	p.idleSince = time.Time{}
	r.mu.Unlock()
	if old != nil && old != ss {
		old.Close()
	}

	st, err := r.newStream(info.deviceID, "push", ss.AnnouncedDescription())
	if err != nil {
		r.pushEnded(ss)
		return status(base.StatusInternalServerError), err
	}
	r.mu.Lock()
	info.stream = st
	r.mu.Unlock()
	if !r.sourceReady(p, ss, st) {
		st.close()
		return status(base.StatusServiceUnavailable), errRefused
	}
	ss.OnPacketRTPAny(func(medi *description.Media, forma format.Format, pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS2(medi, pkt)
		st.writeRTP(medi, forma, pkt, pts, ok)
	})
	r.log.Info("push started", "device", info.deviceID, "remote", ctx.Conn.NetConn().RemoteAddr().String())
	return status(base.StatusOK), nil
}

// pushEnded takes a closed push session off its path.
func (r *Relay) pushEnded(ss *gortsplib.ServerSession) {
	r.mu.Lock()
	info := r.sessions[ss]
	delete(r.sessions, ss)
	var p *path
	if info != nil && info.push {
		if q := r.paths[info.deviceID]; q != nil && q.pusher == ss {
			q.pusher = nil
			// The recorder stopped or broke off: ask again if viewers wait.
			q.requested = false
			p = q
		}
	}
	r.mu.Unlock()
	if info == nil || !info.push {
		return
	}
	r.log.Info("push ended", "device", info.deviceID)
	switch {
	case p != nil && info.stream != nil:
		r.sourceGone(p, info.stream)
	case info.stream != nil:
		info.stream.close() // replaced by a newer push
	case p != nil:
		r.mu.Lock()
		r.forgetLocked(p)
		r.mu.Unlock()
	}
}

// OnSessionClose ends pushes and releases readers.
func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	r := h.r
	r.mu.Lock()
	info := r.sessions[ctx.Session]
	r.mu.Unlock()
	switch {
	case info == nil:
	case info.push:
		r.pushEnded(ctx.Session)
	default:
		r.mu.Lock()
		delete(r.sessions, ctx.Session)
		r.mu.Unlock()
		if info.held != nil {
			r.release(info.held)
			r.m.viewers.WithLabelValues("rtsp").Dec()
		}
	}
}

// readerAllowed checks the credentials of an RTSP reader: the service's
// own readers only.
func (r *Relay) readerAllowed(conn *gortsplib.ServerConn, req *base.Request, id string) (*base.Response, error) {
	if conn.VerifyCredentials(req, DefaultReaderUsername, r.cfg.ReaderSecret) {
		return nil, nil
	}
	if _, ok := req.Header["Authorization"]; ok {
		r.refuse(RefusedReader, id, conn)
	}
	return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
}

// OnDescribe starts the path's source if needed and waits for it to go
// live, like an HLS request.
func (h *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	r := h.r
	id := pathID(ctx.Path)
	if res, err := r.readerAllowed(ctx.Conn, ctx.Request, id); res != nil {
		return res, nil, err
	}
	p, err := r.acquire(r.ctx, id)
	if err != nil {
		return status(base.StatusNotFound), nil, nil
	}
	defer r.release(p) // PLAY holds the path; until then IdleStop keeps it up
	st, err := r.waitLive(r.ctx, p)
	if err != nil {
		return status(base.StatusNotFound), nil, nil
	}
	return status(base.StatusOK), st.rtsp, nil
}

// OnSetup accepts a push's SETUP as is, and a reader's if the path is live.
func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	r := h.r
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return status(base.StatusOK), nil, nil
	}
	id := pathID(ctx.Path)
	if res, err := r.readerAllowed(ctx.Conn, ctx.Request, id); res != nil {
		return res, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.paths[id]; p != nil && p.stream != nil {
		return status(base.StatusOK), p.stream.rtsp, nil
	}
	return status(base.StatusNotFound), nil, nil
}

// OnPlay holds the path for the reader until its session closes.
func (h *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	r := h.r
	id := pathID(ctx.Path)
	p, err := r.acquire(r.ctx, id)
	if err != nil {
		return status(base.StatusNotFound), nil
	}
	r.mu.Lock()
	if info := r.sessions[ctx.Session]; info != nil || r.closed {
		r.releaseLocked(p, time.Now()) // a second PLAY holds nothing more
		r.mu.Unlock()
		return status(base.StatusOK), nil
	}
	r.sessions[ctx.Session] = &rtspSession{deviceID: id, held: p}
	r.mu.Unlock()
	r.m.viewers.WithLabelValues("rtsp").Inc()
	r.m.sessions.WithLabelValues("rtsp").Inc()
	return status(base.StatusOK), nil
}

// OnPacketsLost, OnDecodeError and OnStreamWriteError are per packet:
// counted, logged now and then.
func (h *rtspHandler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	h.r.m.streamErrors.WithLabelValues(errPacketsLost).Add(float64(ctx.Lost))
	h.r.noisy.Log(h.r.log, slog.LevelWarn, "stream:"+errPacketsLost, time.Now(), "RTP packets lost",
		"lost", ctx.Lost, "path", ctx.Session.SetuppedPath())
}

func (h *rtspHandler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.r.streamError(errDecode, pathID(ctx.Session.SetuppedPath()), ctx.Error)
}

func (h *rtspHandler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.r.streamError(errWrite, pathID(ctx.Session.SetuppedPath()), ctx.Error)
}
