package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// TestOpenAPICoversRoutes checks the document against the router both
// ways, that its references resolve, and that its schemas name the same
// fields as the Go types they describe.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := New(Config{}, Deps{})
	missing, err := s.UndocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("route %s is not in openapi.json", m)
	}

	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	routes := map[string]bool{}
	for _, r := range s.engine.Routes() {
		routes[strings.ToLower(r.Method)+" "+openapiPath(r.Path)] = true
	}
	for p, ops := range doc["paths"].(map[string]any) {
		for m := range ops.(map[string]any) {
			if m == "parameters" {
				continue
			}
			if !routes[m+" "+p] {
				t.Errorf("openapi.json documents %s %s, which is not routed", strings.ToUpper(m), p)
			}
		}
	}

	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)

	// Schemas list the fields of their Go types, no more and no less.
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	types := map[string]any{
		"Unit": fleet.Unit{}, "UnitInput": fleet.UnitInput{}, "UnitPatch": fleet.UnitPatch{},
		"Certificate": fleet.Certificate{}, "Officer": fleet.Officer{}, "OfficerInput": fleet.OfficerInput{},
		"OfficerPatch": fleet.OfficerPatch{}, "OfficerResult": fleet.OfficerResult{}, "OfficerVersion": fleet.OfficerVersion{},
		"Device": fleet.Device{}, "NewDevice": fleet.NewDevice{}, "DeviceInput": fleet.DeviceInput{},
		"DevicePatch": fleet.DevicePatch{}, "DeviceChange": fleet.DeviceChange{},
		"Assignment": fleet.Assignment{}, "CheckoutInput": fleet.CheckoutInput{}, "CheckinInput": fleet.CheckinInput{},
		"User": fleet.User{}, "UserInput": fleet.UserInput{}, "UserPatch": fleet.UserPatch{}, "Me": Me{},
		"LoginRequest": loginRequest{}, "LoginResponse": loginResponse{}, "PasswordRequest": passwordRequest{},
		"AuditEntry": fleet.AuditEntry{}, "RowError": fleet.RowError{}, "ImportResult": fleet.ImportResult{},
		"ImportRejected": importRejected{}, "Error": ErrorBody{}, "ErrorDetail": ErrorDetail{}, "Ready": readyResponse{},
		"UnitList": List[fleet.Unit]{},
	}
	for name, v := range types {
		sch, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		var want []string
		for k := range jsonFields(reflect.TypeOf(v)) {
			want = append(want, k)
		}
		got := schemaProps(schemas, sch)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v; the Go type has %v", name, got, want)
		}
	}
}

func resolves(doc map[string]any, ref string) bool {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// schemaProps lists a schema's property names, following allOf.
func schemaProps(schemas map[string]any, sch map[string]any) []string {
	var out []string
	props, _ := sch["properties"].(map[string]any)
	for k := range props {
		out = append(out, k)
	}
	if all, ok := sch["allOf"].([]any); ok {
		out = nil
		for _, part := range all {
			p := part.(map[string]any)
			if ref, ok := p["$ref"].(string); ok {
				p = schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
			}
			out = append(out, schemaProps(schemas, p)...)
		}
	}
	return out
}

func TestOperationalEndpoints(t *testing.T) {
	failing := errors.New("connection refused")
	e := sqliteEnv(t, func(d *Deps) {
		d.Ready = map[string]Check{
			"influx": func(context.Context) error { return failing },
			"broker": func(context.Context) error { return nil },
		}
	})
	anon := e.anon()

	var h map[string]string
	anon.mustDo(t, http.MethodGet, "/healthz", nil, http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Errorf("healthz = %v", h)
	}

	var ready readyResponse
	r := anon.do(t, http.MethodGet, "/readyz", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	_ = json.Unmarshal(r.body, &ready)
	if !slices.Equal(ready.Failed, []string{"influx"}) || ready.Checks["register"] != "ok" || ready.Checks["broker"] != "ok" ||
		ready.Error == nil || ready.Error.Field != "influx" || ready.Error.Code != fleet.EUNAVAILABLE {
		t.Errorf("readyz = %s", r.body)
	}
	failing = nil
	anon.mustDo(t, http.MethodGet, "/readyz", nil, http.StatusOK, nil)

	// Requests are counted by route template, not by path.
	admin := e.login(t, "admin", adminPassword)
	admin.mustFail(t, http.MethodGet, "/api/v1/units/unit_x1", nil, http.StatusNotFound)
	admin.mustFail(t, http.MethodGet, "/api/v1/units/unit_x2", nil, http.StatusNotFound)
	admin.mustFail(t, http.MethodGet, "/api/v1/no/such/thing", nil, http.StatusNotFound)
	r = anon.do(t, http.MethodGet, "/metrics", nil)
	m := string(r.body)
	for _, want := range []string{
		`fleet_http_requests_total{code="404",method="GET",route="/api/v1/units/:id"} 2`,
		`fleet_http_requests_total{code="200",method="POST",route="/api/v1/session"} 1`,
		`fleet_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`fleet_http_request_duration_seconds_bucket{method="GET",route="/api/v1/units/:id",le="+Inf"} 2`,
		`fleet_http_requests_in_flight 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, "unit_x1") {
		t.Error("metrics carry raw paths")
	}
}

func TestMiddleware(t *testing.T) {
	e := sqliteEnv(t)
	e.server.Mount(func(api *gin.RouterGroup) {
		api.GET("/test/panic", func(*gin.Context) { panic("boom") })
		api.GET("/test/internal", func(c *gin.Context) {
			WriteError(c, errors.New("dial tcp 10.1.2.3:5432: password authentication failed"))
		})
		api.GET("/test/me", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"user": Actor(c).Username}) })
	})
	e.server.MountPublic(func(api *gin.RouterGroup) {
		api.GET("/test/public", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })
	})
	admin := e.login(t, "admin", adminPassword)

	// Mounted routes get the signed-in user; public ones need no token.
	var who map[string]string
	admin.mustDo(t, http.MethodGet, "/api/v1/test/me", nil, http.StatusOK, &who)
	if who["user"] != "admin" {
		t.Errorf("mounted route sees %v", who)
	}
	e.anon().mustFail(t, http.MethodGet, "/api/v1/test/me", nil, http.StatusUnauthorized)
	e.anon().mustDo(t, http.MethodGet, "/api/v1/test/public", nil, http.StatusOK, nil)

	// Internal failures: a generic message out, the details in the log
	// with the request id.
	for _, p := range []string{"/api/v1/test/panic", "/api/v1/test/internal"} {
		r := admin.do(t, http.MethodGet, p, nil)
		d := r.errorDetail(t)
		if r.status != http.StatusInternalServerError || d.Code != fleet.EINTERNAL || d.Message != "internal error" {
			t.Errorf("%s: %d %+v", p, r.status, d)
		}
		id := r.header.Get(RequestIDHeader)
		if id == "" || !strings.Contains(e.logs.String(), "request_id="+id) {
			t.Errorf("%s: request id %q not in the log", p, id)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "boom") || !strings.Contains(logs, "password authentication failed") {
		t.Errorf("internal errors not logged:\n%s", logs)
	}

	// Headers: security everywhere, no caching of API answers, the
	// caller's request id kept.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	req.Header.Set(RequestIDHeader, "trace-42")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
		RequestIDHeader: "trace-42", "Content-Security-Policy": DefaultCSP,
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(e.logs.String(), `request_id=trace-42 method=GET path=/api/v1/me route=/api/v1/me status=200`) {
		t.Errorf("no access log line:\n%s", e.logs.String())
	}
	// A hostile request id is replaced.
	req.Header.Set(RequestIDHeader, "x\" injected=1")
	res, err = e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get(RequestIDHeader); got == "" || strings.Contains(got, "injected") {
		t.Errorf("request id %q", got)
	}
}

func TestUI(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>执法记录仪</title>")},
		"assets/app.js": {Data: []byte("console.log('app')")},
	}
	e := sqliteEnv(t, func(d *Deps) { d.UI = ui })
	anon := e.anon()
	tests := []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", "执法记录仪"},
		{"GET", "/index.html", 200, "text/html", "执法记录仪"},
		{"GET", "/assets/app.js", 200, "javascript", "console.log"},
		{"GET", "/officers/ofc_1/history", 200, "text/html", "执法记录仪"}, // the SPA's own route
		{"HEAD", "/devices", 200, "text/html", ""},
		{"GET", "/assets/missing.js", 404, "application/json", "not_found"},
		{"GET", "/api/v1/nothing", 404, "application/json", "not_found"},
		{"GET", "/api", 404, "application/json", "not_found"},
		{"POST", "/", 404, "application/json", "not_found"},
		{"GET", "/healthz", 200, "application/json", "ok"},
	}
	for _, tt := range tests {
		r := anon.do(t, tt.method, tt.path, nil)
		if r.status != tt.status || !strings.Contains(r.header.Get("Content-Type"), tt.ctype) || !strings.Contains(string(r.body), tt.body) {
			t.Errorf("%s %s: %d %q %q", tt.method, tt.path, r.status, r.header.Get("Content-Type"), r.body)
		}
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: security headers missing", tt.method, tt.path)
		}
	}

	// Without a UI, / is a JSON 404.
	bare := New(Config{}, Deps{Register: e.reg})
	w := httptest.NewRecorder()
	bare.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "not_found") {
		t.Errorf("no UI: %d %s", w.Code, w.Body.String())
	}
}

// TestLoginSlots checks that password checks queue for a bounded number
// of slots and give up with 503 rather than pile up.
func TestLoginSlots(t *testing.T) {
	e := sqliteEnv(t)
	s := New(Config{MaxConcurrentLogins: 1, LoginWait: 20 * time.Millisecond}, Deps{Register: e.reg})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := &client{e: &testEnv{t: t, srv: srv}}

	s.logins <- struct{}{} // a sign-in in progress
	d := c.mustFail(t, http.MethodPost, "/api/v1/session", loginRequest{Username: "admin", Password: adminPassword}, http.StatusServiceUnavailable)
	if d.Code != fleet.EUNAVAILABLE {
		t.Errorf("busy: %+v", d)
	}
	<-s.logins
	c.mustDo(t, http.MethodPost, "/api/v1/session", loginRequest{Username: "admin", Password: adminPassword}, http.StatusOK, nil)
	if len(s.logins) != 0 {
		t.Error("the slot was not given back")
	}
}
