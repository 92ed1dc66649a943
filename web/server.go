// Package web is the HTTP face of the service: the Gin JSON API under
// /api/v1 (with its OpenAPI document), the health, readiness and metrics
// endpoints, and the embedded browser UI served at /.
//
// Handlers are thin: decode the request, call the fleet register with the
// signed-in user, encode the answer. Every rule (scope, permissions,
// assignment rules, the audit log) lives in package fleet; this package
// only translates. It must not import storage adapters (fleet/sqlstore) or
// cmd; the wiring hands it a *fleet.Register.
package web

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
)

// Config tunes the HTTP layer. Zero values take the defaults below.
type Config struct {
	// MaxBodyBytes bounds a JSON request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxImportBytes bounds an officer roster upload (default 20 MiB).
	MaxImportBytes int64
	// ReadyTimeout bounds each readiness check (default 2 s).
	ReadyTimeout time.Duration
	// Map configures the command-centre map (tiles); its tile server is
	// added to the default CSP's img-src.
	Map MapConfig
	// ContentSecurityPolicy overrides DefaultCSP, e.g. to allow a map
	// tile server in img-src.
	ContentSecurityPolicy string
	// TrustedProxies are the proxies (IPs or CIDRs) whose X-Forwarded-For
	// is believed for the client address in logs; none by default.
	TrustedProxies []string
	// MaxConcurrentLogins bounds the password checks running at once
	// (default half the CPUs, at least 1). Each costs a deliberately slow
	// hash, so a burst of sign-ins must not take every core from the API.
	MaxConcurrentLogins int
	// LoginWait is how long a sign-in waits for a slot before 503
	// (default 10 s).
	LoginWait time.Duration
}

// Default limits.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxImportBytes = 20 << 20
	DefaultReadyTimeout   = 2 * time.Second
)

// DefaultCSP lets the embedded UI load its own scripts, styles, images and
// media (blob: for HLS/WebRTC players) and nothing from elsewhere; inline
// styles are allowed because UI libraries set them, inline scripts are not.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; font-src 'self' data:; " +
	"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxImportBytes <= 0 {
		c.MaxImportBytes = DefaultMaxImportBytes
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.ContentSecurityPolicy == "" {
		c.ContentSecurityPolicy = cspWithTiles(DefaultCSP, c.Map)
	}
	if c.MaxConcurrentLogins <= 0 {
		c.MaxConcurrentLogins = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.LoginWait <= 0 {
		c.LoginWait = 10 * time.Second
	}
	return c
}

// Check is one readiness check; a non-nil error makes /readyz answer 503.
type Check func(ctx context.Context) error

// Deps are the collaborators of the server.
type Deps struct {
	Register *fleet.Register
	Logger   *slog.Logger // nil: discard
	// Metrics receives the HTTP metrics and is served at /metrics; nil
	// creates a private registry.
	Metrics *prometheus.Registry
	// Ready names the readiness checks. The register's store is always
	// checked, as "register".
	Ready map[string]Check
	// UI is the browser application, served at / with index.html for
	// every unknown path (a single-page app); nil serves no UI.
	UI fs.FS
	// Evidence serves the dock offload and evidence routes (dock.go);
	// zero answers 503 there.
	Evidence EvidenceDeps
}

// Server is the HTTP API. Build it with New, add routes with Mount, then
// serve Handler.
type Server struct {
	cfg        Config
	reg        *fleet.Register
	logger     *slog.Logger
	metrics    *prometheus.Registry
	ready      map[string]Check
	ui         fs.FS
	engine     *gin.Engine
	api        *gin.RouterGroup // /api/v1, bearer token required
	public     *gin.RouterGroup // /api/v1, no token
	reqMetrics *httpMetrics
	logins     chan struct{} // a slot per password check allowed at once
	ev         *evidenceAPI
	vessels    VesselSource // nil until MountVessels: the vessel routes answer 503
	video      VideoSource  // nil until MountVideo: video routes answer 503
	live       *liveAPI     // live positions, events, alerts, tracks (live.go); 503 until MountLive
	fw         *firmwareAPI // firmware images, campaigns, downloads (firmware.go); 503 until MountFirmware

	cov *fleet.Coverage // coverage reports (coverage.go); 503 until MountCoverage

	videoAuth videoAuthCache // decisions of AuthorizeVideo and VideoViewer (video_cache.go)
}

// New builds the server and registers every route of the register API.
func New(cfg Config, deps Deps) *Server {
	// Gin's mode is process-wide; release mode silences its debug output
	// (route dumps, warnings on stdout), which would bypass slog.
	gin.SetMode(gin.ReleaseMode)

	s := &Server{
		cfg:     cfg.withDefaults(),
		reg:     deps.Register,
		logger:  deps.Logger,
		metrics: deps.Metrics,
		ready:   map[string]Check{},
		ui:      deps.UI,
		ev:      newEvidenceAPI(deps.Evidence),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "web")
	if s.metrics == nil {
		s.metrics = prometheus.NewRegistry()
	}
	for name, check := range deps.Ready {
		s.ready[name] = check
	}
	if s.reg != nil {
		if _, ok := s.ready["register"]; !ok {
			s.ready["register"] = s.reg.Ping
		}
	}
	s.reqMetrics = newHTTPMetrics(s.metrics)
	s.logins = make(chan struct{}, s.cfg.MaxConcurrentLogins)

	e := gin.New()
	e.RedirectTrailingSlash = false // an API path is exact
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		s.logger.Warn("bad trusted proxies; trusting none", "err", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.Use(s.requestID, s.accessLog, s.reqMetrics.middleware, s.recoverPanic, s.securityHeaders)
	e.NoRoute(s.noRoute)
	e.NoMethod(func(c *gin.Context) {
		WriteError(c, &fleet.Error{Code: EMETHOD, Message: "method " + c.Request.Method + " is not allowed here"})
	})
	s.engine = e

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(metricsHandler(s.metrics)))

	s.public = e.Group("/api/v1", s.apiDefaults)
	s.api = s.public.Group("", s.authenticate)
	s.routes()
	return s
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Mount lets another component add its authenticated routes under
// /api/v1 (live positions, alerts, video, evidence …). Handlers find the
// signed-in user with Actor, decode with DecodeJSON, answer lists with
// WriteList and failures with WriteError. Call Mount before serving, and
// describe the new routes in openapi.json.
func (s *Server) Mount(fn func(api *gin.RouterGroup)) { fn(s.api) }

// MountPublic adds routes under /api/v1 that need no bearer token, for
// callers with their own credentials (dock stations, devices).
func (s *Server) MountPublic(fn func(api *gin.RouterGroup)) { fn(s.public) }

// routes is the one list of the register API's routes.
func (s *Server) routes() {
	p, a := s.public, s.api

	p.GET("/openapi.json", s.openapi)
	p.POST("/session", s.login)
	a.DELETE("/session", s.logout)
	a.GET("/me", s.me)
	a.POST("/me/password", s.changePassword)

	a.GET("/units", s.listUnits)
	a.POST("/units", s.createUnit)
	a.GET("/units/:id", s.getUnit)
	a.PATCH("/units/:id", s.updateUnit)

	a.GET("/officers", s.listOfficers)
	a.POST("/officers", s.createOfficer)
	a.POST("/officers/import", s.importOfficers)
	a.GET("/officers/import/template", s.importTemplate)
	a.GET("/officers/:id", s.getOfficer)
	a.PATCH("/officers/:id", s.updateOfficer)
	a.GET("/officers/:id/history", s.officerHistory)

	a.GET("/devices", s.listDevices)
	a.POST("/devices", s.createDevice)
	a.GET("/devices/:id", s.getDevice)
	a.PATCH("/devices/:id", s.updateDevice)
	a.GET("/devices/:id/history", s.deviceHistory)
	a.POST("/devices/:id/secret", s.rotateSecret)
	a.POST("/devices/:id/checkout", s.checkout)
	a.POST("/devices/:id/checkin", s.checkin)
	a.GET("/assignments", s.listAssignments)

	a.GET("/users", s.listUsers)
	a.POST("/users", s.createUser)
	a.GET("/users/:id", s.getUser)
	a.PATCH("/users/:id", s.updateUser)

	a.GET("/audit", s.listAudit)
	a.GET("/ui/config", s.uiConfig)

	s.evidenceRoutes()
	s.caseRoutes()
	s.vesselRoutes()
	s.liveRoutes()
	s.videoRoutes()
	s.recordingRoutes()
	s.firmwareRoutes()
	s.coverageRoutes()
}
