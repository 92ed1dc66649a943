package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// The tests drive the API over real HTTP (httptest.NewServer) against a
// real register on a real store: SQLite by default, PostgreSQL too where
// sqltest.Each is used and FLEET_TEST_POSTGRES_URL is set.

// testNow is the register's clock in tests: mid-2026, before the policy
// deadline, in China Standard Time.
var testNow = time.Date(2026, 6, 15, 10, 0, 0, 0, fleet.Zone)

const adminPassword = "admin-secret-1"

// clock is a settable clock for the register.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testEnv struct {
	t       testing.TB
	srv     *httptest.Server
	server  *Server
	reg     *fleet.Register
	clock   *clock
	metrics *prometheus.Registry
	logs    *syncBuffer
}

// newEnv starts the API over store with a bootstrapped admin; deps may
// adjust the dependencies (readiness checks, UI).
func newEnv(t testing.TB, store fleet.Store, adjust ...func(*Deps)) *testEnv {
	t.Helper()
	clk := &clock{t: testNow}
	reg := fleet.NewRegister(store, clk.Now)
	if _, err := reg.Bootstrap(context.Background(), adminPassword); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	logs := &syncBuffer{}
	deps := Deps{
		Register: reg,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  prometheus.NewRegistry(),
	}
	for _, f := range adjust {
		f(&deps)
	}
	s := New(Config{}, deps)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{t: t, srv: srv, server: s, reg: reg, clock: clk, metrics: deps.Metrics, logs: logs}
}

// sqliteEnv is newEnv on a fresh SQLite store.
func sqliteEnv(t testing.TB, adjust ...func(*Deps)) *testEnv {
	t.Helper()
	return newEnv(t, sqltest.SQLite(t), adjust...)
}

// client is a caller with (or without) a bearer token.
type client struct {
	e     *testEnv
	token string
	user  Me
}

func (e *testEnv) anon() *client { return &client{e: e} }

// login signs in over HTTP and fails the test if that does not work.
func (e *testEnv) login(t testing.TB, username, password string) *client {
	t.Helper()
	var res loginResponse
	e.anon().mustDo(t, http.MethodPost, "/api/v1/session", map[string]string{"username": username, "password": password}, http.StatusOK, &res)
	if res.Token == "" {
		t.Fatalf("login %s: no token", username)
	}
	return &client{e: e, token: res.Token, user: res.User}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// raw is a request body sent as is, with its Content-Type.
type raw struct {
	contentType string
	body        []byte
}

// do sends a request. body is nil (no body), a raw, a string (sent as
// JSON text) or any value to marshal as JSON.
func (c *client) do(t testing.TB, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case raw:
		rd, ctype = bytes.NewReader(b.body), b.contentType
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// mustDo sends a request, requires status, and decodes the answer into
// out (if not nil).
func (c *client) mustDo(t testing.TB, method, path string, body any, status int, out any) response {
	t.Helper()
	r := c.do(t, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// mustFail sends a request that must fail with status and the JSON error
// envelope; it returns the error.
func (c *client) mustFail(t testing.TB, method, path string, body any, status int) ErrorDetail {
	t.Helper()
	r := c.do(t, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r.errorDetail(t)
}

func (r response) errorDetail(t testing.TB) ErrorDetail {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q: %s", ct, r.body)
	}
	var eb ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("not an error envelope (%v): %s", err, r.body)
	}
	return eb.Error
}

// list fetches every page of a list endpoint.
func list[T any](t testing.TB, c *client, path string) []T {
	t.Helper()
	var all []T
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	after := ""
	for range 1000 {
		p := path
		if after != "" {
			p += sep + "after=" + after
		}
		var page List[T]
		c.mustDo(t, http.MethodGet, p, nil, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.Next == nil {
			return all
		}
		after = *page.Next
	}
	t.Fatalf("list %s: does not end", path)
	return nil
}

// auditCount is the number of audit entries, read past the API so that
// it sees everything.
func (e *testEnv) auditCount() int {
	e.t.Helper()
	admin := fleet.User{ID: "test", Username: "test", Role: fleet.RoleAdmin}
	n, after := 0, ""
	for {
		items, next, err := e.reg.Audit(context.Background(), admin, fleet.AuditFilter{Page: fleet.Page{Limit: 500, After: after}})
		if err != nil {
			e.t.Fatalf("audit: %v", err)
		}
		n += len(items)
		if next == "" {
			return n
		}
		after = next
	}
}

// org is the unit tree most tests share: a province, a city, two
// counties under it, and a station under county A.
type org struct {
	province, city, countyA, countyB, stationA fleet.Unit
}

func (e *testEnv) seedOrg(t testing.TB, admin *client) org {
	t.Helper()
	var o org
	mk := func(to *fleet.Unit, parent, code, name string, level fleet.UnitLevel) {
		admin.mustDo(t, http.MethodPost, "/api/v1/units", fleet.UnitInput{ParentID: parent, Code: code, Name: name, Level: level}, http.StatusCreated, to)
	}
	mk(&o.province, "", "HB", "湖北省交通运输综合行政执法局", fleet.LevelProvince)
	mk(&o.city, o.province.ID, "HB-WH", "武汉市交通运输综合行政执法支队", fleet.LevelCity)
	mk(&o.countyA, o.city.ID, "HB-WH-JA", "江岸区大队", fleet.LevelCounty)
	mk(&o.countyB, o.city.ID, "HB-WH-HS", "洪山区大队", fleet.LevelCounty)
	mk(&o.stationA, o.countyA.ID, "HB-WH-JA-01", "江岸区第一中队", fleet.LevelStation)
	return o
}

// user creates a user over the API and signs them in.
func (e *testEnv) user(t testing.TB, admin *client, username string, role fleet.Role, unitID string) *client {
	t.Helper()
	const pw = "password-123"
	admin.mustDo(t, http.MethodPost, "/api/v1/users", fleet.UserInput{Username: username, Password: pw, Name: username, Role: role, UnitID: unitID}, http.StatusCreated, nil)
	return e.login(t, username, pw)
}

func yes() *bool { b := true; return &b }

// officerIn is a valid, eligible officer input.
func officerIn(unitID, name, badge string) fleet.OfficerInput {
	return fleet.OfficerInput{UnitID: unitID, Name: name, BadgeNo: badge, Frontline: yes(), DutyStatus: fleet.OnDuty,
		Certificate: fleet.Certificate{Number: "ZF" + badge, IssuedOn: fleet.NewDate(2024, 1, 1),
			ExpiresOn: fleet.NewDate(2029, 12, 31), AnnualReviewUntil: fleet.NewDate(2026, 12, 31), Status: fleet.CertValid}}
}
