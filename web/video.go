package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/video"
)

// VideoSource is the live video relay.
type VideoSource interface {
	Live(ctx context.Context, deviceID string) (video.LiveInfo, error)
	Handler() http.Handler
}

// MountVideo connects the relay: its HLS and WHEP (WebRTC) endpoints are
// served under /video/ and GET /api/v1/devices/{id}/live answers with the
// playback URLs. Until then both answer 503.
func (s *Server) MountVideo(v VideoSource) { s.video = v }

func (s *Server) videoRoutes() {
	relay := func(c *gin.Context) {
		if s.video == nil {
			WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "live video is not enabled"))
			return
		}
		s.video.Handler().ServeHTTP(c.Writer, c.Request)
	}
	s.engine.GET("/video/*path", relay)
	s.engine.HEAD("/video/*path", relay)
	// WHEP: POST an offer to /video/{id}/whep, DELETE (or PATCH, refused)
	// the session resource it answers with.
	s.engine.POST("/video/*path", relay)
	s.engine.DELETE("/video/*path", relay)
	s.engine.PATCH("/video/*path", relay)
	s.api.GET("/devices/:id/live", s.deviceLive)
}

func (s *Server) deviceLive(c *gin.Context) {
	if s.video == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "live video is not enabled"))
		return
	}
	actor, id := Actor(c), c.Param("id")
	if err := s.mayWatch(c.Request.Context(), actor, id); err != nil {
		WriteError(c, err)
		return
	}
	info, err := s.video.Live(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return
	}
	// Browsers fetch playlists and segments without our header, so the
	// token rides in the query; gohlslib carries it into every URL of the
	// playlist.
	token, _ := c.Get(ctxToken)
	tok, _ := token.(string)
	info.HLS += "?token=" + url.QueryEscape(tok)
	if info.WebRTC != nil {
		// The WHEP client could send the header, but one way for both is simpler.
		whep := *info.WebRTC + "?token=" + url.QueryEscape(tok)
		info.WebRTC = &whep
	}
	c.JSON(http.StatusOK, info)
}

// mayWatch checks that actor may watch device id: permission live.watch
// and the device in actor's subtree.
func (s *Server) mayWatch(ctx context.Context, actor fleet.User, id string) error {
	if !actor.Role.Can(fleet.PermWatchLive) {
		return fleet.Errorf(fleet.EFORBIDDEN, "role %s may not watch live video", actor.Role)
	}
	_, err := s.reg.Device(ctx, actor, id)
	return err
}

// AuthorizeVideo is the relay's check of an HLS or WHEP request: a live session
// token (header or ?token=) whose user may watch deviceID. Decisions are
// kept for videoAuthTTL (video_cache.go).
func (s *Server) AuthorizeVideo(r *http.Request, deviceID string) error {
	token := videoToken(r)
	if token == "" {
		return fleet.Errorf(fleet.EUNAUTHORIZED, "sign in first")
	}
	k := newVideoAuthKey(token, deviceID)
	if e, ok := s.videoAuth.get(k); ok {
		return e.err
	}
	u, err := s.reg.Authenticate(r.Context(), token)
	if err == nil {
		// VideoViewer asks next for the same request.
		s.videoAuth.put(newVideoAuthKey(token, ""), u.ID, nil)
		err = s.mayWatch(r.Context(), u, deviceID)
	}
	s.videoAuth.put(k, u.ID, err)
	return err
}

// VideoViewer names the user behind an HLS request, by id, for the audit.
func (s *Server) VideoViewer(r *http.Request) string {
	token := videoToken(r)
	if token == "" {
		return ""
	}
	k := newVideoAuthKey(token, "")
	if e, ok := s.videoAuth.get(k); ok {
		return e.userID
	}
	u, err := s.reg.Authenticate(r.Context(), token)
	s.videoAuth.put(k, u.ID, err)
	if err != nil {
		return ""
	}
	return u.ID
}

// VideoAudit writes each viewing session to the audit log: who watched
// which device, from when to when.
type VideoAudit struct {
	reg    *fleet.Register
	logger *slog.Logger

	mu      sync.Mutex
	started map[[2]string]time.Time // (device, viewer) → start
}

// maxOpenViews bounds the starts remembered; the relay caps viewers too.
const maxOpenViews = 10_000

func NewVideoAudit(reg *fleet.Register, logger *slog.Logger) *VideoAudit {
	return &VideoAudit{reg: reg, logger: logger, started: map[[2]string]time.Time{}}
}

func (a *VideoAudit) ViewStarted(deviceID, viewer string, at time.Time) {
	a.mu.Lock()
	if len(a.started) < maxOpenViews {
		a.started[[2]string{deviceID, viewer}] = at
	}
	a.mu.Unlock()
	a.record(deviceID, viewer, "video.view_start", map[string]any{"from": at.UTC()})
}

func (a *VideoAudit) ViewEnded(deviceID, viewer string, at time.Time) {
	key := [2]string{deviceID, viewer}
	a.mu.Lock()
	from, ok := a.started[key]
	delete(a.started, key)
	a.mu.Unlock()
	after := map[string]any{"to": at.UTC()}
	if ok {
		after["from"] = from.UTC()
	}
	a.record(deviceID, viewer, "video.view_end", after)
}

func (a *VideoAudit) record(deviceID, viewer, action string, after map[string]any) {
	// The relay calls from its own goroutines with no request context.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := a.reg.LookupUser(ctx, viewer)
	if err != nil {
		u = fleet.User{ID: viewer, Username: viewer}
	}
	unitID := ""
	if d, err := a.reg.LookupDevice(ctx, deviceID); err == nil {
		unitID = d.UnitID
	}
	if err := a.reg.RecordAudit(ctx, u, action, "device", deviceID, unitID, nil, after); err != nil {
		a.logger.Error("audit video viewing", "device", deviceID, "viewer", viewer, "err", err)
	}
}

// videoToken is the session token of a video request: the bearer header
// (WHEP) or ?token= (HLS, whose player cannot set headers).
func videoToken(r *http.Request) string {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		token = strings.TrimSpace(r.URL.Query().Get("token"))
	}
	return token
}
