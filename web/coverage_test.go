package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xuri/excelize/v2"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// coverageEnv is newEnv with a coverage engine mounted before serving,
// on the register's clock.
func coverageEnv(t testing.TB, store *sqlstore.DB) (*testEnv, *fleet.Coverage) {
	t.Helper()
	clk := &clock{t: testNow}
	reg := fleet.NewRegister(store, clk.Now)
	if _, err := reg.Bootstrap(context.Background(), adminPassword); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	cov := fleet.NewCoverage(store, fleet.CoverageConfig{Now: clk.Now})
	s := New(Config{}, Deps{Register: reg, Metrics: prometheus.NewRegistry()})
	MountCoverage(s, cov)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{t: t, srv: srv, server: s, reg: reg, clock: clk, metrics: prometheus.NewRegistry(), logs: &syncBuffer{}}, cov
}

// coverageScenario builds, through the API, a city of five eligible
// officers on testNow (see TestCoverageAPI for the figures).
type coverageScenario struct {
	org
	officers map[string]fleet.Officer
	devices  map[string]fleet.NewDevice
}

func seedCoverage(t *testing.T, e *testEnv, admin *client) coverageScenario {
	t.Helper()
	sc := coverageScenario{org: e.seedOrg(t, admin), officers: map[string]fleet.Officer{}, devices: map[string]fleet.NewDevice{}}
	today := fleet.DateOf(testNow)
	officer := func(key, unit string, mod func(*fleet.OfficerInput)) {
		in := officerIn(unit, "警员"+key, key)
		if mod != nil {
			mod(&in)
		}
		var o fleet.Officer
		admin.mustDo(t, http.MethodPost, "/api/v1/officers", in, http.StatusCreated, &o)
		sc.officers[key] = o
	}
	device := func(key, unit string) {
		var d fleet.NewDevice
		admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "SN-" + key, Model: "DSJ-V9", UnitID: unit}, http.StatusCreated, &d)
		sc.devices[key] = d
	}
	checkout := func(dev, off string) {
		admin.mustDo(t, http.MethodPost, "/api/v1/devices/"+sc.devices[dev].ID+"/checkout", fleet.CheckoutInput{OfficerID: sc.officers[off].ID}, http.StatusCreated, nil)
	}
	status := func(dev string, s fleet.DeviceStatus) {
		admin.mustDo(t, http.MethodPatch, "/api/v1/devices/"+dev, fleet.DevicePatch{Status: &s}, http.StatusOK, nil)
	}
	officer("A1", sc.stationA.ID, nil)
	officer("A2", sc.stationA.ID, nil)
	officer("A3", sc.stationA.ID, nil)
	officer("A4", sc.stationA.ID, func(in *fleet.OfficerInput) { no := false; in.Frontline = &no })
	officer("B1", sc.countyB.ID, nil)
	officer("B2", sc.countyB.ID, func(in *fleet.OfficerInput) { in.Certificate.AnnualReviewUntil = today.AddDays(-1) })
	officer("B3", sc.countyB.ID, func(in *fleet.OfficerInput) { in.Certificate.ExpiresOn = today.AddDays(20) })
	for key, unit := range map[string]string{"R1": sc.stationA.ID, "R2": sc.stationA.ID, "R3": sc.countyB.ID, "R4": sc.countyB.ID,
		"R5": sc.countyB.ID, "R6": sc.stationA.ID, "R7": sc.countyA.ID} {
		device(key, unit)
	}
	checkout("R1", "A1")
	checkout("R2", "A2")
	checkout("R3", "B1")
	checkout("R4", "B2")
	status(sc.devices["R3"].ID, fleet.StatusInRepair) // ends B1's assignment
	status(sc.devices["R7"].ID, fleet.StatusLost)
	if err := e.reg.RecordCheckin(context.Background(), sc.devices["R1"].ID, testNow); err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestCoverageAPI checks the figures of a scenario built through the API,
// against the numbers worked out by hand and against the engine asked
// directly, and the lists, series, milestones and exports, on SQLite and
// PostgreSQL.
func TestCoverageAPI(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, store *sqlstore.DB) {
		e, cov := coverageEnv(t, store)
		admin := e.login(t, "admin", adminPassword)
		sc := seedCoverage(t, e, admin)
		today := fleet.DateOf(testNow)

		// Worked out by hand. stationA: A1 (R1, heard from), A2 (R2), A3
		// (none) eligible, A4 not frontline; R6 spare. countyA adds R7,
		// lost. countyB: B1 (R3 went to repair), B3 eligible, B2's review
		// lapsed (R4 to take back); R5 spare.
		type figs struct{ eligible, equipped, active, spare, shortfall, toProcure int }
		want := map[string]figs{
			sc.province.ID: {5, 2, 1, 2, 3, 1}, sc.city.ID: {5, 2, 1, 2, 3, 1},
			sc.countyA.ID: {3, 2, 1, 1, 1, 0}, sc.stationA.ID: {3, 2, 1, 1, 1, 0},
			sc.countyB.ID: {2, 0, 0, 1, 2, 1},
		}
		var r fleet.CoverageReport
		admin.mustDo(t, http.MethodGet, "/api/v1/coverage?unit="+sc.province.ID+"&depth=all", nil, http.StatusOK, &r)
		direct, err := cov.Report(t.Context(), fleet.User{Role: fleet.RoleAdmin}, fleet.CoverageQuery{UnitID: sc.province.ID, Depth: fleet.CoverageDepthAll})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, direct) {
			t.Errorf("API and engine disagree:\nAPI    %+v\nengine %+v", r, direct)
		}
		seen := 0
		for _, n := range flattenCoverage(r) {
			seen++
			w := want[n.Unit.ID]
			got := figs{n.Eligible, n.Equipped, n.Active, n.Spare, n.Shortfall, n.ToProcure}
			if got != w {
				t.Errorf("%s (%s): %+v, want %+v", n.Unit.Name, n.Unit.Level, got, w)
			}
		}
		if seen != 5 || r.At != today || r.Unit.Code != "HB" || r.Unit.Level != fleet.LevelProvince {
			t.Errorf("report of %d units at %s for %+v", seen, r.At, r.Unit)
		}
		if r.Rate == nil || *r.Rate != 0.4 || r.ActiveRate == nil || *r.ActiveRate != 0.2 {
			t.Errorf("rate %v, active rate %v; want 0.4, 0.2", r.Rate, r.ActiveRate)
		}
		// Nobody existed at the plan's start: the line starts at 0 and is
		// at 748/947 by today; 40% is behind it. Nobody was eligible 90
		// days ago either: no trend.
		if r.Milestone == nil || *r.Milestone != 0.7899 || !r.Behind || r.ProjectedFullDate != (fleet.Date{}) ||
			r.ProjectionNote != fleet.ProjectionShortHistory {
			t.Errorf("milestone %v behind %v projection %s (%s)", r.Milestone, r.Behind, r.ProjectedFullDate, r.ProjectionNote)
		}

		// The JSON carries exactly the contract's fields, nulls included.
		var raw map[string]any
		admin.mustDo(t, http.MethodGet, "/api/v1/coverage?unit="+sc.countyA.ID+"&depth=0", nil, http.StatusOK, &raw)
		var keys []string
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		wantKeys := []string{"active", "active_rate", "at", "behind", "children", "eligible", "equipped", "milestone",
			"projected_full_date", "projection_note", "rate", "shortfall", "spare", "to_procure", "unit"}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("keys %v, want %v", keys, wantKeys)
		}
		if raw["projected_full_date"] != nil || len(raw["children"].([]any)) != 0 {
			t.Errorf("projected_full_date %v, children %v", raw["projected_full_date"], raw["children"])
		}
		var empty map[string]any
		emptyUnit := fleet.Unit{}
		admin.mustDo(t, http.MethodPost, "/api/v1/units", fleet.UnitInput{ParentID: sc.countyA.ID, Code: "HB-WH-JA-09", Name: "空中队", Level: fleet.LevelStation}, http.StatusCreated, &emptyUnit)
		admin.mustDo(t, http.MethodGet, "/api/v1/coverage?unit="+emptyUnit.ID, nil, http.StatusOK, &empty)
		if v, ok := empty["rate"]; !ok || v != nil || empty["active_rate"] != nil || empty["eligible"] != 0.0 {
			t.Errorf("a unit with nobody eligible: %v", empty)
		}

		// Scope and permissions: a manager sees their subtree only.
		mgr := e.user(t, admin, "mgr.ja", fleet.RoleEquipmentManager, sc.countyA.ID)
		var own fleet.CoverageReport
		mgr.mustDo(t, http.MethodGet, "/api/v1/coverage", nil, http.StatusOK, &own)
		if own.Unit.ID != sc.countyA.ID || own.Eligible != 3 || len(own.Children) != 2 {
			t.Errorf("manager's default report: %+v", own)
		}
		mgr.mustFail(t, http.MethodGet, "/api/v1/coverage?unit="+sc.province.ID, nil, http.StatusNotFound)
		mgr.mustFail(t, http.MethodGet, "/api/v1/coverage/export?unit="+sc.countyB.ID, nil, http.StatusNotFound)
		officer := e.user(t, admin, "officer.a1", fleet.RoleOfficer, sc.stationA.ID)
		officer.mustFail(t, http.MethodGet, "/api/v1/coverage", nil, http.StatusForbidden)
		e.anon().mustFail(t, http.MethodGet, "/api/v1/coverage", nil, http.StatusUnauthorized)
		for _, bad := range []string{"at=2026-13-01", "at=" + today.AddDays(1).String(), "depth=9", "depth=x"} {
			d := admin.mustFail(t, http.MethodGet, "/api/v1/coverage?unit="+sc.city.ID+"&"+bad, nil, http.StatusBadRequest)
			if field := strings.SplitN(bad, "=", 2)[0]; d.Field != field {
				t.Errorf("%s: field %q", bad, d.Field)
			}
		}

		t.Run("actions", func(t *testing.T) {
			lists := map[string][]string{
				"list=unequipped":          {"A3", "B1", "B3"},
				"list=to_take_back":        {"R4"},
				"list=cert_due&days=30":    {"B3"},
				"list=cert_due&days=10":    {},
				"list=not_seen":            {"R2", "R4", "R5", "R6"},
				"list=not_seen&days=1":     {"R2", "R4", "R5", "R6"},
				"list=unequipped&limit=2":  {"A3", "B1", "B3"},
				"list=to_take_back&days=5": {"R4"},
			}
			for query, want := range lists {
				var got []string
				after := ""
				for range 5 {
					var l fleet.ActionList
					admin.mustDo(t, http.MethodGet, "/api/v1/coverage/actions?unit="+sc.province.ID+"&"+query+after, nil, http.StatusOK, &l)
					for _, it := range l.Items {
						if it.Officer != nil && it.Recorder == nil {
							got = append(got, strings.TrimPrefix(it.Officer.Name, "警员"))
						} else {
							got = append(got, strings.TrimPrefix(it.Recorder.Serial, "SN-"))
						}
						if query == "list=to_take_back" && (it.Reason != fleet.ReasonReviewLapsed || it.Officer.BadgeNo != "B2") {
							t.Errorf("to take back: %+v", it)
						}
						if query == "list=cert_due&days=30" && (it.Reason != fleet.ReasonCertExpires || *it.DaysLeft != 20) {
							t.Errorf("cert due: %+v", it)
						}
					}
					if l.Total != len(want) {
						t.Errorf("%s: total %d, want %d", query, l.Total, len(want))
					}
					if l.Next == nil {
						break
					}
					after = "&after=" + *l.Next
				}
				slices.Sort(got)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("%s: %v, want %v", query, got, want)
				}
			}
			d := admin.mustFail(t, http.MethodGet, "/api/v1/coverage/actions?list=nope&unit="+sc.city.ID, nil, http.StatusBadRequest)
			if d.Field != "list" {
				t.Errorf("bad list: %+v", d)
			}
			admin.mustFail(t, http.MethodGet, "/api/v1/coverage/actions?unit="+sc.city.ID, nil, http.StatusBadRequest)
			admin.mustFail(t, http.MethodGet, "/api/v1/coverage/actions?list=cert_due&days=0&unit="+sc.city.ID, nil, http.StatusBadRequest)
			mgr.mustFail(t, http.MethodGet, "/api/v1/coverage/actions?list=unequipped&unit="+sc.countyB.ID, nil, http.StatusNotFound)
		})

		t.Run("series", func(t *testing.T) {
			var s fleet.CoverageSeries
			admin.mustDo(t, http.MethodGet, "/api/v1/coverage/series?unit="+sc.city.ID+"&from=2026-04-01", nil, http.StatusOK, &s)
			if len(s.Points) != 3 || s.Points[0].At != fleet.NewDate(2026, 4, 30) || s.Points[2].At != today {
				t.Fatalf("points %+v", s.Points)
			}
			if p := s.Points[2]; p.Eligible != 5 || p.Equipped != 2 || *p.Rate != 0.4 || *p.Milestone != *r.Milestone || !p.Behind {
				t.Errorf("today's point %+v", p)
			}
			if p := s.Points[0]; p.Eligible != 0 || p.Rate != nil {
				t.Errorf("April, before anyone was registered: %+v", p)
			}
			admin.mustFail(t, http.MethodGet, "/api/v1/coverage/series?unit="+sc.city.ID+"&from=2026-07-01", nil, http.StatusBadRequest)
			admin.mustFail(t, http.MethodGet, "/api/v1/coverage/series?unit="+sc.city.ID+"&to=nope", nil, http.StatusBadRequest)
		})

		t.Run("xlsx", func(t *testing.T) {
			res := admin.mustDo(t, http.MethodGet, "/api/v1/coverage/export?unit="+sc.province.ID, nil, http.StatusOK, nil)
			if ct := res.header.Get("Content-Type"); ct != coverageXLSXType {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := res.header.Get("Content-Disposition"); !strings.Contains(cd, `filename="coverage-HB-`+today.String()+`.xlsx"`) || !strings.Contains(cd, "filename*=UTF-8''") {
				t.Errorf("Content-Disposition %q", cd)
			}
			f, err := excelize.OpenReader(bytes.NewReader(res.body))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := f.GetSheetList(); !slices.Equal(got, []string{"省", "市", "县", "站", "说明"}) {
				t.Errorf("sheets %v", got)
			}
			cell := func(sheet, ref string) string {
				v, err := f.GetCellValue(sheet, ref)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			rawCell := func(sheet, ref string) string {
				v, err := f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			head, err := f.GetRows("市")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(head[0], coverageHeadings) {
				t.Errorf("headings %v", head[0])
			}
			checks := []struct{ sheet, ref, want string }{
				{"省", "A2", sc.province.Name}, {"省", "B2", "HB"}, {"省", "C2", "5"}, {"省", "D2", "2"},
				{"省", "E2", "40.00%"}, {"省", "F2", "1"}, {"省", "G2", "20.00%"}, {"省", "H2", "78.99%"},
				{"省", "I2", "是"}, {"省", "J2", "数据不足"}, {"省", "K2", "3"}, {"省", "L2", "2"}, {"省", "M2", "1"},
				{"市", "A2", sc.city.Name}, {"市", "A3", ""},
				// Counties in tree order: by code, HB-WH-HS before HB-WH-JA.
				{"县", "A2", sc.countyB.Name}, {"县", "C2", "2"}, {"县", "E2", "0.00%"}, {"县", "M2", "1"},
				{"县", "A3", sc.countyA.Name}, {"县", "E3", "66.67%"},
				{"站", "A2", sc.stationA.Name}, {"站", "A3", "空中队"}, {"站", "C3", "0"}, {"站", "E3", ""}, {"站", "I3", "否"},
				{"站", "J3", "无应配人员"},
				{"说明", "B3", today.String()},
			}
			for _, c := range checks {
				if got := cell(c.sheet, c.ref); got != c.want {
					t.Errorf("%s!%s = %q, want %q", c.sheet, c.ref, got, c.want)
				}
			}
			// Rates are numbers, formatted as percentages.
			if got := rawCell("省", "E2"); got != "0.4" {
				t.Errorf("省!E2 raw %q, want 0.4", got)
			}
			// A county manager's file starts at the county.
			res = mgr.mustDo(t, http.MethodGet, "/api/v1/coverage/export?format=xlsx", nil, http.StatusOK, nil)
			g, err := excelize.OpenReader(bytes.NewReader(res.body))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if got := g.GetSheetList(); !slices.Equal(got, []string{"县", "站", "说明"}) {
				t.Errorf("county manager's sheets %v", got)
			}
		})

		t.Run("csv", func(t *testing.T) {
			res := admin.mustDo(t, http.MethodGet, "/api/v1/coverage/export?format=csv&unit="+sc.city.ID, nil, http.StatusOK, nil)
			if ct := res.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			body, ok := bytes.CutPrefix(res.body, []byte("\xEF\xBB\xBF"))
			if !ok {
				t.Fatalf("no byte-order mark: % x", res.body[:8])
			}
			rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rows[0], append([]string{"层级"}, coverageHeadings...)) {
				t.Errorf("headings %v", rows[0])
			}
			want := [][]string{
				{"市", sc.city.Name, "HB-WH", "5", "2", "40.00%", "1", "20.00%", "78.99%", "是", "数据不足", "3", "2", "1"},
				{"县", sc.countyB.Name, "HB-WH-HS", "2", "0", "0.00%", "0", "0.00%", "78.99%", "是", "数据不足", "2", "1", "1"},
			}
			for i, w := range want {
				if !slices.Equal(rows[i+1], w) {
					t.Errorf("row %d: %v\nwant   %v", i+1, rows[i+1], w)
				}
			}
			if len(rows) != 1+5 {
				t.Errorf("%d rows, want the heading and 5 units", len(rows))
			}
			admin.mustFail(t, http.MethodGet, "/api/v1/coverage/export?format=pdf", nil, http.StatusBadRequest)
		})

		t.Run("milestones", func(t *testing.T) {
			var m fleet.Milestones
			mgr.mustDo(t, http.MethodGet, "/api/v1/coverage/milestones", nil, http.StatusOK, &m)
			if m.Province.ID != sc.province.ID || m.PlanStart != fleet.DefaultPlanStart || len(m.Targets) != 3 || m.UpdatedAt != nil {
				t.Errorf("default plan %+v", m)
			}
			body := map[string]any{"targets": []map[string]any{{"year": 2025, "rate": 0.5}}}
			mgr.mustFail(t, http.MethodPut, "/api/v1/coverage/milestones?province="+sc.province.ID, body, http.StatusForbidden)
			admin.mustDo(t, http.MethodPut, "/api/v1/coverage/milestones?province="+sc.province.ID, body, http.StatusOK, &m)
			if !m.Targets[1].Set || m.Targets[1].Rate != 0.5 || m.UpdatedAt == nil {
				t.Errorf("edited plan %+v", m)
			}
			var after fleet.CoverageReport
			admin.mustDo(t, http.MethodGet, "/api/v1/coverage?unit="+sc.city.ID, nil, http.StatusOK, &after)
			// 2026 runs from 0.5 to 1: 0.5 + 0.5 × 166/365 on 15 June.
			if want := 0.7274; after.Milestone == nil || *after.Milestone != want {
				t.Errorf("milestone after the edit %v, want %v", after.Milestone, want)
			}
			bad := admin.mustFail(t, http.MethodPut, "/api/v1/coverage/milestones?province="+sc.province.ID,
				map[string]any{"targets": []map[string]any{{"year": 2026, "rate": 0.9}}}, http.StatusBadRequest)
			if bad.Field != "targets" {
				t.Errorf("deadline below 100%%: %+v", bad)
			}
			admin.mustFail(t, http.MethodPut, "/api/v1/coverage/milestones?province="+sc.province.ID, map[string]any{"goals": 1}, http.StatusBadRequest)
			admin.mustFail(t, http.MethodPut, "/api/v1/coverage/milestones?province="+sc.city.ID, body, http.StatusBadRequest)
		})
	})
}

// TestCoverageRoutesDocumented checks that openapi.json describes the
// coverage routes and that its schemas name the Go types' fields.
func TestCoverageRoutesDocumented(t *testing.T) {
	e, _ := coverageEnv(t, sqltest.SQLite(t))
	missing, err := e.server.UndocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		if strings.Contains(m, "/coverage") {
			t.Errorf("route %s is not in openapi.json", m)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	types := map[string]any{
		"CoverageUnit": fleet.CoverageUnit{}, "CoverageReport": fleet.CoverageReport{}, "ActionOfficer": fleet.ActionOfficer{},
		"ActionRecorder": fleet.ActionRecorder{}, "CoverageAction": fleet.CoverageAction{}, "CoverageActionList": fleet.ActionList{},
		"CoveragePoint": fleet.CoveragePoint{}, "CoverageSeries": fleet.CoverageSeries{}, "YearTarget": fleet.YearTarget{},
		"MilestoneTarget": fleet.MilestoneTarget{}, "Milestones": fleet.Milestones{}, "MilestoneInput": fleet.MilestoneInput{},
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

// TestCoverageUnmounted answers 503 until an engine is mounted.
func TestCoverageUnmounted(t *testing.T) {
	e := sqliteEnv(t)
	admin := e.login(t, "admin", adminPassword)
	d := admin.mustFail(t, http.MethodGet, "/api/v1/coverage", nil, http.StatusServiceUnavailable)
	if d.Code != fleet.EUNAVAILABLE {
		t.Errorf("error %+v", d)
	}
}
