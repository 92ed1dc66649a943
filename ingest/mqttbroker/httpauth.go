package mqttbroker

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
)

// HTTPAuthConfig configures the HTTP hooks for external brokers. Zero
// values take the defaults.
type HTTPAuthConfig struct {
	// ServiceUsername and ServiceSecret are the credentials of the
	// service's own clients (the ingest consumers): allowed to connect,
	// publish and subscribe anywhere. Empty: no service user.
	ServiceUsername string
	ServiceSecret   string

	// DenyStatus is the HTTP status of a deny. The default, 200 with
	// {"result":"deny"}, is what EMQX 5 requires: EMQX 5 reads any other
	// status as "ignore", and an ignored authorization falls through to
	// its no_match setting, "allow" by default. Set 403 for brokers that
	// read the status only (mosquitto-go-auth with http_response_mode
	// status, EMQX 4).
	DenyStatus int

	AuthTimeout time.Duration // one credential check; default 5s
	LogEvery    time.Duration // refusals are logged at most once per reason per this; default 1m
}

// HTTPAuth answers an external broker's authentication and ACL requests
// with the embedded broker's rules, so that the same device credentials
// work on Mosquitto (mosquitto-go-auth, http backend) and EMQX (HTTP
// authentication and authorization).
//
// Requests: POST (or PUT, or GET with a query) with a JSON or form body
// of username, password, clientid (auth) and username, clientid, topic,
// and action ("publish" | "subscribe", EMQX 5) or acc (1 read, 2 write,
// 3 read and write, 4 subscribe: Mosquitto; EMQX 4's 1 subscribe, 2
// publish read the same) (ACL).
//
// Answer: Content-Type application/json, {"result":"allow","ok":true} or
// {"result":"deny","ok":false,"error":…}: "result" for EMQX 5, "ok" and
// "error" for mosquitto-go-auth's json response mode; status 200, or
// DenyStatus on deny. Configure mosquitto-go-auth with
// auth_opt_http_response_mode json (or status with DenyStatus 403), and
// EMQX's authorization with no_match = deny. Serve these handlers only
// where the broker reaches them, not on the public API.
type HTTPAuth struct {
	cfg  HTTPAuthConfig
	auth DeviceAuthenticator
	log  *slog.Logger
	logs *logthrottle.Throttle

	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// NewHTTPAuth returns the hooks; reg (may be nil) gets their metrics.
func NewHTTPAuth(cfg HTTPAuthConfig, auth DeviceAuthenticator, reg prometheus.Registerer, logger *slog.Logger) (*HTTPAuth, error) {
	if auth == nil {
		return nil, errors.New("mqttbroker: HTTP auth needs a device authenticator")
	}
	if cfg.DenyStatus == 0 {
		cfg.DenyStatus = http.StatusOK
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 5 * time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &HTTPAuth{
		cfg: cfg, auth: auth,
		log:  logger.With("component", "mqttbroker.httpauth"),
		logs: logthrottle.New(cfg.LogEvery),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_mqtt_httpauth_requests_total", Help: "External broker auth and ACL requests, by endpoint and result.",
		}, []string{"endpoint", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_mqtt_httpauth_refused_total", Help: "Denied external broker requests, by reason.",
		}, []string{"reason"}),
	}
	if err := register(reg, h.requests, h.refused); err != nil {
		return nil, err
	}
	return h, nil
}

// authRequest is the union of both endpoints' fields.
type authRequest struct {
	Username string          `json:"username"`
	Password string          `json:"password"`
	ClientID string          `json:"clientid"`
	Topic    string          `json:"topic"`
	Action   string          `json:"action"`
	Acc      json.RawMessage `json:"acc"`
}

const maxAuthBody = 8 << 10

func parseAuthRequest(w http.ResponseWriter, r *http.Request) (authRequest, error) {
	var req authRequest
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodGet:
	default:
		return req, errors.New("method not allowed")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAuthBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, err
		}
		return req, nil
	}
	if err := r.ParseForm(); err != nil {
		return req, err
	}
	req.Username, req.Password, req.ClientID = r.Form.Get("username"), r.Form.Get("password"), r.Form.Get("clientid")
	req.Topic, req.Action = r.Form.Get("topic"), r.Form.Get("action")
	if acc := r.Form.Get("acc"); acc != "" {
		req.Acc = json.RawMessage(strconv.Quote(acc))
	}
	return req, nil
}

// AuthHandler answers POST /mqtt/auth: may this client connect?
func (h *HTTPAuth) AuthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := parseAuthRequest(w, r)
		if err != nil {
			h.deny(w, "auth", RefusedBadRequest, err.Error())
			return
		}
		if reason, msg := h.authenticate(r.Context(), req); reason != "" {
			h.deny(w, "auth", reason, msg, "client", truncate(req.ClientID), "username", truncate(req.Username))
			return
		}
		h.allow(w, "auth")
	})
}

func (h *HTTPAuth) isService(username string) bool {
	return h.cfg.ServiceUsername != "" && username == h.cfg.ServiceUsername
}

// authenticate returns "" or the refusal reason and a message.
func (h *HTTPAuth) authenticate(ctx context.Context, req authRequest) (reason, msg string) {
	if h.isService(req.Username) {
		if h.cfg.ServiceSecret != "" &&
			subtle.ConstantTimeCompare([]byte(req.Password), []byte(h.cfg.ServiceSecret)) == 1 {
			return "", ""
		}
		return RefusedCredentials, "wrong service secret"
	}
	if !devices.ValidDeviceID(req.Username) || (req.ClientID != "" && req.ClientID != req.Username) {
		return RefusedIdentity, "client id and username must both be the device id"
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.AuthTimeout)
	defer cancel()
	_, err := h.auth.AuthenticateDevice(ctx, req.Username, req.Password)
	switch fleet.ErrorCode(err) {
	case "":
		return "", ""
	case fleet.EUNAUTHORIZED, fleet.ENOTFOUND:
		return RefusedCredentials, "unknown device or wrong secret"
	}
	h.logs.Log(h.log, slog.LevelError, "auth-error", time.Now(), "device authentication failed",
		"device", req.Username, "error", err)
	return RefusedUnavailable, "register unavailable"
}

// access is what an ACL request asks for.
type access uint8

const (
	accRead access = 1 << iota // receive messages on a topic
	accWrite
	accSubscribe
)

func parseAccess(req authRequest) (access, bool) {
	switch strings.ToLower(req.Action) {
	case "publish", "pub":
		return accWrite, true
	case "subscribe", "sub":
		return accSubscribe, true
	case "read":
		return accRead, true
	case "all":
		return accWrite | accSubscribe, true
	case "":
	default:
		return 0, false
	}
	raw := strings.Trim(string(req.Acc), `" `)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 7 {
		return 0, false
	}
	return access(n), true // Mosquitto's MOSQ_ACL_READ 1, WRITE 2, SUBSCRIBE 4
}

// ACLHandler answers POST /mqtt/acl: may this client publish to, or
// subscribe to (or receive from), this topic?
func (h *HTTPAuth) ACLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := parseAuthRequest(w, r)
		if err != nil {
			h.deny(w, "acl", RefusedBadRequest, err.Error())
			return
		}
		acc, ok := parseAccess(req)
		if !ok {
			h.deny(w, "acl", RefusedBadRequest, "unknown action or acc")
			return
		}
		if reason := h.authorize(req, acc); reason != "" {
			h.deny(w, "acl", reason, "topic not allowed", "client", truncate(req.ClientID),
				"username", truncate(req.Username), "topic", truncate(req.Topic))
			return
		}
		h.allow(w, "acl")
	})
}

// authorize applies the ACL; it returns "" or the refusal reason. The
// broker only asks about clients it authenticated, so the username is
// trusted here.
func (h *HTTPAuth) authorize(req authRequest, acc access) string {
	if h.isService(req.Username) {
		return ""
	}
	if !devices.ValidDeviceID(req.Username) || (req.ClientID != "" && req.ClientID != req.Username) {
		return RefusedIdentity
	}
	if acc&accWrite != 0 && !devices.MayPublish(req.Username, req.Topic) {
		return RefusedPublish
	}
	if acc&(accRead|accSubscribe) != 0 && !devices.MaySubscribe(req.Username, req.Topic) {
		return RefusedSubscribe
	}
	return ""
}

type authAnswer struct {
	Result      string `json:"result"`
	IsSuperuser bool   `json:"is_superuser"`
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
}

func (h *HTTPAuth) allow(w http.ResponseWriter, endpoint string) {
	h.requests.WithLabelValues(endpoint, "allow").Inc()
	writeAnswer(w, http.StatusOK, authAnswer{Result: "allow", OK: true})
}

func (h *HTTPAuth) deny(w http.ResponseWriter, endpoint, reason, msg string, args ...any) {
	h.requests.WithLabelValues(endpoint, "deny").Inc()
	h.refused.WithLabelValues(reason).Inc()
	h.logs.Log(h.log, slog.LevelWarn, reason, time.Now(), "MQTT client refused",
		append([]any{"endpoint", endpoint, "reason", reason, "detail", msg}, args...)...)
	writeAnswer(w, h.cfg.DenyStatus, authAnswer{Result: "deny", Error: reason})
}

func writeAnswer(w http.ResponseWriter, status int, a authAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}
