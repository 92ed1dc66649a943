package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// Keys of per-request values in the gin context.
const (
	ctxLogger    = "web.logger"
	ctxRequestID = "web.request_id"
	ctxActor     = "web.actor"
	ctxToken     = "web.token"
	ctxJSONLimit = "web.json_limit"
)

// RequestIDHeader carries the request id to and from clients and proxies.
const RequestIDHeader = "X-Request-Id"

// requestID tags the request with an id (the caller's, when it is sane)
// and a logger carrying it.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(RequestIDHeader)
	if !saneRequestID(id) {
		var b [12]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(ctxRequestID, id)
	c.Set(ctxLogger, s.logger.With("request_id", id))
	c.Header(RequestIDHeader, id)
	c.Next()
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// accessLog writes one slog line per request. The query string is left
// out: it can carry search terms about people.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slogLevel(status)
	// A video player makes several requests a second (LL-HLS playlist
	// reloads and parts), and viewing is audited per session (VideoAudit):
	// its answered requests are logged at debug level only.
	if status < 400 && strings.HasPrefix(c.Request.URL.Path, "/video/") {
		level = slog.LevelDebug
	}
	log := requestLogger(c)
	if !log.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []any{
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"route", c.FullPath(),
		"status", status,
		"bytes", max(c.Writer.Size(), 0),
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		"client", c.ClientIP(),
	}
	if u, ok := actorOf(c); ok {
		attrs = append(attrs, "user", u.Username)
	}
	log.Log(c.Request.Context(), level, "http request", attrs...)
}

// recoverPanic turns a handler panic into a logged 500, except for
// http.ErrAbortHandler, which net/http uses to drop a connection on purpose.
func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		requestLogger(c).Error("handler panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			c.AbortWithStatusJSON(http.StatusInternalServerError,
				ErrorBody{Error: ErrorDetail{Code: fleet.EINTERNAL, Message: "internal error"}})
		}
		c.Abort()
	}()
	c.Next()
}

// securityHeaders applies to every answer, the UI's pages included.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", s.cfg.ContentSecurityPolicy)
	c.Next()
}

// apiDefaults applies to everything under /api/v1: API answers are
// personal data and must not be cached, and JSON bodies have a limit.
func (s *Server) apiDefaults(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Set(ctxJSONLimit, s.cfg.MaxBodyBytes)
	c.Next()
}

func jsonLimit(c *gin.Context) int64 {
	if v, ok := c.Get(ctxJSONLimit); ok {
		if n, ok := v.(int64); ok && n > 0 {
			return n
		}
	}
	return DefaultMaxBodyBytes
}

// authenticate requires "Authorization: Bearer <token>" of a live session.
func (s *Server) authenticate(c *gin.Context) {
	token, ok := bearer(c.GetHeader("Authorization"))
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="fleet"`)
		WriteError(c, fleet.Errorf(fleet.EUNAUTHORIZED, "sign in first: send Authorization: Bearer <token>"))
		return
	}
	u, err := s.reg.Authenticate(c.Request.Context(), token)
	if err != nil {
		if isCode(err, fleet.EUNAUTHORIZED) {
			c.Header("WWW-Authenticate", `Bearer realm="fleet", error="invalid_token"`)
		}
		WriteError(c, err)
		return
	}
	c.Set(ctxActor, u)
	c.Set(ctxToken, token)
	c.Next()
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Actor is the signed-in user of a request that passed authentication.
func Actor(c *gin.Context) fleet.User {
	u, _ := actorOf(c)
	return u
}

func actorOf(c *gin.Context) (fleet.User, bool) {
	v, ok := c.Get(ctxActor)
	if !ok {
		return fleet.User{}, false
	}
	u, ok := v.(fleet.User)
	return u, ok
}

// noRoute answers unknown paths: JSON 404 under /api (and for anything
// that is not a page fetch), the UI otherwise.
func (s *Server) noRoute(c *gin.Context) {
	p := c.Request.URL.Path
	isAPI := p == "/api" || strings.HasPrefix(p, "/api/")
	if !isAPI && s.ui != nil && (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead) {
		s.serveUI(c)
		return
	}
	WriteError(c, fleet.Errorf(fleet.ENOTFOUND, "no such endpoint: %s %s", c.Request.Method, p))
}
