package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lawfleet/fleet/fleet"
)

// healthz says the process is alive; it checks nothing else, so that a
// slow database does not get the process restarted.
func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyResponse is the answer of /readyz.
type readyResponse struct {
	Status string            `json:"status"` // ok | unavailable
	Checks map[string]string `json:"checks"` // name → "ok" or the failure
	Failed []string          `json:"failed,omitempty"`
	Error  *ErrorDetail      `json:"error,omitempty"`
}

// readyz runs every readiness check concurrently, each with a context
// that ends at the ready timeout, and answers 503 naming those that failed.
func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	res := readyResponse{Status: "ok", Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range s.ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
			defer cancel()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Checks[name] = err.Error()
				res.Failed = append(res.Failed, name)
				requestLogger(c).Warn("not ready", "check", name, "err", err)
				return
			}
			res.Checks[name] = "ok"
		})
	}
	wg.Wait()
	if len(res.Failed) == 0 {
		c.JSON(http.StatusOK, res)
		return
	}
	slices.Sort(res.Failed)
	res.Status = "unavailable"
	res.Error = &ErrorDetail{Code: fleet.EUNAVAILABLE, Field: res.Failed[0],
		Message: "not ready: " + res.Failed[0] + ": " + res.Checks[res.Failed[0]]}
	c.JSON(http.StatusServiceUnavailable, res)
}

// metricsHandler serves the injected registry.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// httpMetrics counts requests by route template (never the raw path, so
// that ids do not explode the series count).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fleet_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fleet_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.inFlight = register(reg, m.inFlight)
	return m
}

// register adds c to reg, reusing an equal collector already there (a
// second server on the same registry, as in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: two different metrics with one name
	}
	return c
}

func (m *httpMetrics) middleware(c *gin.Context) {
	start := time.Now()
	m.inFlight.Inc()
	defer m.inFlight.Dec()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // methods are client-chosen strings: bound them
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
	m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}

func slogLevel(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
