package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lawfleet/fleet/fleet"
)

// TestBadInput sends input no form would produce and checks that each is
// refused with a 4xx JSON error naming the field, and that nothing
// changed: no audit entry (every change writes one in its transaction)
// and the same officers and devices.
func TestBadInput(t *testing.T) {
	e := sqliteEnv(t)
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)
	var off fleet.Officer
	admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyA.ID, "张三", "420101"), http.StatusCreated, &off)
	var dev fleet.NewDevice
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0001", UnitID: o.countyA.ID}, http.StatusCreated, &dev)

	officerJSON := func(mod string) string {
		return fmt.Sprintf(`{"unit_id":%q,"name":"李四","badge_no":"420102","frontline":true,`+
			`"certificate":{"number":"ZF1","issued_on":"2024-01-01","expires_on":"2029-12-31","annual_review_until":"2026-12-31"}%s}`, o.countyA.ID, mod)
	}
	cert := func(field, value string) string {
		c := map[string]string{"issued_on": `"2024-01-01"`, "expires_on": `"2029-12-31"`, "annual_review_until": `"2026-12-31"`, "number": `"ZF1"`}
		c[field] = value
		return fmt.Sprintf(`{"unit_id":%q,"name":"李四","badge_no":"420102","frontline":true,"certificate":{"number":%s,"issued_on":%s,"expires_on":%s,"annual_review_until":%s}}`,
			o.countyA.ID, c["number"], c["issued_on"], c["expires_on"], c["annual_review_until"])
	}
	big := func(n int) raw {
		return raw{"application/json", []byte(`{"name":"` + strings.Repeat("a", n) + `"}`)}
	}

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
		msg    string // a part of the message, if it matters
	}{
		{"malformed JSON", "POST", "/api/v1/officers", `{"name": "x",}`, 400, "invalid", "body", "line 1, column 14"},
		{"malformed JSON on line 3", "POST", "/api/v1/units", "{\n  \"name\": \"x\"\n  \"code\": \"y\"\n}", 400, "invalid", "body", "line 3"},
		{"truncated JSON", "POST", "/api/v1/officers", `{"name": "x"`, 400, "invalid", "body", "ends early"},
		{"empty body", "POST", "/api/v1/units", raw{"application/json", nil}, 400, "invalid", "body", "empty"},
		{"array body", "POST", "/api/v1/units", `[{"name":"x"}]`, 400, "invalid", "body", ""},
		{"trailing data", "POST", "/api/v1/units", `{"name":"x"} {"name":"y"}`, 400, "invalid", "body", "after the JSON"},
		{"unknown field", "POST", "/api/v1/devices", fmt.Sprintf(`{"kind":"recorder","serial":"S-1","unit_id":%q,"colour":"red"}`, o.countyA.ID), 400, "invalid", "colour", "unknown field"},
		{"unknown nested field", "POST", "/api/v1/officers", cert("number", `"ZF1","grade":3`), 400, "invalid", "certificate.grade", "unknown field"},
		{"field not patchable", "PATCH", "/api/v1/units/" + o.countyA.ID, `{"level":"city"}`, 400, "invalid", "level", "unknown field"},
		{"wrong type bool", "POST", "/api/v1/officers", strings.Replace(officerJSON(""), `"frontline":true`, `"frontline":"yes"`, 1), 400, "invalid", "frontline", "true or false"},
		{"wrong type nested", "POST", "/api/v1/officers", cert("number", `123`), 400, "invalid", "certificate.number", "a string"},
		{"wrong type in patch", "PATCH", "/api/v1/devices/" + dev.ID, `{"status":5}`, 400, "invalid", "status", "a string"},
		{"wrong type id", "POST", "/api/v1/devices/" + dev.ID + "/checkout", `{"officer_id":12}`, 400, "invalid", "officer_id", ""},
		{"date in the wrong format", "POST", "/api/v1/officers", cert("issued_on", `"2024/01/01"`), 400, "invalid", "certificate.issued_on", "YYYY-MM-DD"},
		{"impossible date", "POST", "/api/v1/officers", cert("expires_on", `"2029-02-30"`), 400, "invalid", "certificate.expires_on", ""},
		{"date as a number", "POST", "/api/v1/officers", officerJSON(`,"effective_on":20260101`), 400, "invalid", "effective_on", ""},
		{"date out of range", "POST", "/api/v1/officers", cert("issued_on", `"1800-01-01"`), 400, "invalid", "certificate.issued_on", "out of range"},
		{"date far ahead", "POST", "/api/v1/officers", cert("annual_review_until", `"2999-01-01"`), 400, "invalid", "certificate.annual_review_until", "out of range"},
		{"effective in the future", "POST", "/api/v1/officers", officerJSON(`,"effective_on":"2030-01-01"`), 400, "invalid", "effective_on", "future"},
		{"bad enum", "POST", "/api/v1/officers", officerJSON(`,"duty_status":"asleep"`), 400, "invalid", "duty_status", ""},
		{"duplicate serial", "POST", "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0001", UnitID: o.countyA.ID}, 409, "conflict", "serial", ""},
		{"duplicate badge", "POST", "/api/v1/officers", officerIn(o.countyA.ID, "王五", "420101"), 409, "conflict", "badge_no", ""},
		{"duplicate unit code", "POST", "/api/v1/units", fleet.UnitInput{ParentID: o.city.ID, Code: "HB-WH-JA", Name: "重复", Level: fleet.LevelCounty}, 409, "conflict", "code", ""},
		{"missing required", "POST", "/api/v1/devices", fmt.Sprintf(`{"kind":"recorder","unit_id":%q}`, o.countyA.ID), 400, "invalid", "serial", ""},
		{"unknown unit", "POST", "/api/v1/devices", `{"kind":"recorder","serial":"S-2","unit_id":"unit_nope"}`, 400, "invalid", "unit_id", ""},
		{"text/plain", "POST", "/api/v1/units", raw{"text/plain", []byte(`{"name":"x"}`)}, 415, EMEDIATYPE, "Content-Type", ""},
		{"form post", "POST", "/api/v1/units", raw{"application/x-www-form-urlencoded", []byte(`name=x`)}, 415, EMEDIATYPE, "Content-Type", ""},
		{"no content type", "POST", "/api/v1/units", raw{"", []byte(`{"name":"x"}`)}, 415, EMEDIATYPE, "Content-Type", ""},
		{"just over 1 MiB", "POST", "/api/v1/units", big(DefaultMaxBodyBytes), 413, ETOOLARGE, "body", ""},
		{"10 MB body", "POST", "/api/v1/officers", big(10 << 20), 413, ETOOLARGE, "body", ""},
		{"bad list filter", "GET", "/api/v1/devices?kind=spaceship", nil, 400, "invalid", "kind", ""},
		{"bad bool query", "GET", "/api/v1/assignments?open=maybe", nil, 400, "invalid", "open", ""},
		{"bad limit", "GET", "/api/v1/officers?limit=100000", nil, 400, "invalid", "limit", ""},
		{"bad template format", "GET", "/api/v1/officers/import/template?format=pdf", nil, 400, "invalid", "format", ""},
		{"unknown route", "GET", "/api/v1/nothing-here", nil, 404, "not_found", "", ""},
		{"unknown id", "GET", "/api/v1/devices/dev_nope", nil, 404, "not_found", "", ""},
		{"wrong method", "DELETE", "/api/v1/devices/" + dev.ID, nil, 405, EMETHOD, "", ""},
	}
	counts := func() (audit, officers, devices int) {
		return e.auditCount(), len(list[fleet.Officer](t, admin, "/api/v1/officers")), len(list[fleet.Device](t, admin, "/api/v1/devices"))
	}
	a0, o0, d0 := counts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := admin.mustFail(t, tt.method, tt.path, tt.body, tt.status)
			if d.Code != tt.code || d.Field != tt.field || !strings.Contains(d.Message, tt.msg) {
				t.Errorf("error = %+v, want code %s field %q message containing %q", d, tt.code, tt.field, tt.msg)
			}
			if a, o, dv := counts(); a != a0 || o != o0 || dv != d0 {
				t.Errorf("something changed: audit %d→%d, officers %d→%d, devices %d→%d", a0, a, o0, o, d0, dv)
			}
		})
	}

	t.Run("chunked 10 MB body", func(t *testing.T) {
		// No Content-Length: the limit must stop the read itself.
		body := io.MultiReader(strings.NewReader(`{"name":"`), &zeros{n: 10 << 20})
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/units", body)
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin.token)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r := response{status: res.StatusCode, header: res.Header, body: b}
		if r.status != http.StatusRequestEntityTooLarge || r.errorDetail(t).Code != ETOOLARGE {
			t.Errorf("chunked: %d %s", r.status, b)
		}
	})

	t.Run("big body is not read whole", func(t *testing.T) {
		for _, declared := range []bool{true, false} {
			src := &zeros{n: 10 << 20}
			req := httptest.NewRequest(http.MethodPost, "/api/v1/units", io.MultiReader(strings.NewReader(`{"name":"`), src))
			if declared {
				req.ContentLength = 10<<20 + 9
			} else {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+admin.token)
			w := httptest.NewRecorder()
			e.server.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("declared=%v: status %d", declared, w.Code)
			}
			read := 10<<20 - src.n
			if declared && read != 0 {
				t.Errorf("a body declared too large was read (%d bytes)", read)
			}
			if read > DefaultMaxBodyBytes+64<<10 {
				t.Errorf("declared=%v: %d bytes read, limit %d", declared, read, DefaultMaxBodyBytes)
			}
		}
	})

	t.Run("SQL-looking strings are stored verbatim", func(t *testing.T) {
		names := []string{
			`Robert'); DROP TABLE officers;--`,
			`x' OR '1'='1`,
			`"; DELETE FROM audit_log; --`,
			`%_\`,
		}
		for i, name := range names {
			var got fleet.Officer
			in := officerIn(o.countyB.ID, name, fmt.Sprintf("SQL-%d", i))
			admin.mustDo(t, http.MethodPost, "/api/v1/officers", in, http.StatusCreated, &got)
			admin.mustDo(t, http.MethodGet, "/api/v1/officers/"+got.ID, nil, http.StatusOK, &got)
			if got.Name != name {
				t.Errorf("stored %q as %q", name, got.Name)
			}
		}
		var d fleet.Device
		admin.mustDo(t, http.MethodPatch, "/api/v1/devices/"+dev.ID, map[string]string{"model": `DSJ'; UPDATE devices SET status='lost';--`}, http.StatusOK, &d)
		if d.Model != `DSJ'; UPDATE devices SET status='lost';--` || d.Status != fleet.StatusInStock {
			t.Errorf("device = %+v", d)
		}
		// Search terms are literal: quotes and wildcards match themselves.
		if got := list[fleet.Officer](t, admin, "/api/v1/officers?q=%27%20OR%20%271%27%3D%271"); len(got) != 1 || got[0].Name != names[1] {
			t.Errorf("search for a quote = %+v", got)
		}
		if got := list[fleet.Officer](t, admin, "/api/v1/officers?q=%25"); len(got) != 1 || got[0].Name != names[3] {
			t.Errorf("search for %% = %d officers", len(got))
		}
		admin.mustFail(t, http.MethodGet, "/api/v1/devices/x'%20OR%20'1'='1", nil, http.StatusNotFound)
		if n := len(list[fleet.Officer](t, admin, "/api/v1/officers")); n != o0+len(names) {
			t.Errorf("%d officers, want %d", n, o0+len(names))
		}
	})
}

// zeros is a reader of n '0' bytes that counts what was taken.
type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	copy(p, bytes.Repeat([]byte{'0'}, k))
	z.n -= k
	return k, nil
}
