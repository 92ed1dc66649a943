package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/vessels"
)

// refSentences returns the sentences of reference cases of
// devices/ais/testdata/cases.jsonl by id.
func refSentences(t testing.TB, ids ...string) map[string][]string {
	t.Helper()
	f, err := os.Open("../devices/ais/testdata/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			ID        string   `json:"id"`
			Sentences []string `json:"sentences"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if want[c.ID] {
			out[c.ID] = c.Sentences
		}
	}
	if len(out) != len(ids) {
		t.Fatalf("found %d of the cases %v", len(out), ids)
	}
	return out
}

// asOwn turns a !AIVDM sentence into the !AIVDO an AIS unit sends for its
// own vessel.
func asOwn(s string) string {
	body := strings.Replace(s[1:strings.LastIndexByte(s, '*')], "AIVDM", "AIVDO", 1)
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return fmt.Sprintf("!%s*%02X", body, c)
}

type vesselEnv struct {
	*testEnv
	admin    *client
	org      org
	tracker  *vessels.Tracker
	unitA    string // AIS unit in county A, registered with the MMSI of gpsd-sample-001
	unitB    string // AIS unit in county B, registered without an MMSI
	mmsiA    string
	ownShipB string
}

// newVesselEnv is the API with vessel tracking mounted, two AIS units in
// two counties, and the vessels of a few reference sentences heard.
func newVesselEnv(t *testing.T) *vesselEnv {
	t.Helper()
	e := &vesselEnv{testEnv: sqliteEnv(t)}
	e.admin = e.login(t, "admin", adminPassword)
	e.org = e.seedOrg(t, e.admin)
	var a, b fleet.NewDevice
	e.admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindAISUnit, Serial: "AIS-A",
		Model: "AIS-B600", UnitID: e.org.countyA.ID, MMSI: "371798000"}, http.StatusCreated, &a)
	e.admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindAISUnit, Serial: "AIS-B",
		Model: "AIS-B600", UnitID: e.org.countyB.ID}, http.StatusCreated, &b)
	e.unitA, e.unitB, e.mmsiA, e.ownShipB = a.ID, b.ID, "371798000", "440348000"

	tr, err := vessels.New(vessels.Config{}, vessels.Deps{Register: e.reg, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	e.tracker = tr
	MountVessels(e.server, tr)

	s := refSentences(t, "gpsd-sample-001", "gpsd-sample-002", "gpsd-sample-006", "gpsd-sample-045", "gpsd-sample-048")
	feed := func(device string, lines ...string) {
		if err := tr.HandleNMEA(context.Background(), device, []byte(strings.Join(lines, "\n")), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Unit B hears unit A's vessel (registered MMSI), a freighter, a
	// class B vessel, and reports its own ship (VDO of 440348000).
	feed(e.unitB, s["gpsd-sample-001"]...)
	feed(e.unitB, s["gpsd-sample-006"]...)
	feed(e.unitB, s["gpsd-sample-045"]...)
	feed(e.unitB, s["gpsd-sample-048"]...)
	feed(e.unitB, asOwn(s["gpsd-sample-002"][0]))
	return e
}

func mmsisOf(items []vessels.Vessel) []string {
	var out []string
	for _, v := range items {
		out = append(out, v.MMSI)
	}
	return out
}

func TestVesselsAPI(t *testing.T) {
	e := newVesselEnv(t)
	admin := e.admin

	all := list[vessels.Vessel](t, admin, "/api/v1/vessels")
	if got := mmsisOf(all); !slices.Equal(got, []string{"338087471", "351759000", "367059850", "371798000", "440348000"}) {
		t.Fatalf("vessels = %v", got)
	}
	byMMSI := map[string]vessels.Vessel{}
	for _, v := range all {
		byMMSI[v.MMSI] = v
	}
	if v := byMMSI["371798000"]; !v.Enforcement || v.DeviceID != e.unitA || v.Lat == nil || *v.SpeedKn != 12.3 ||
		*v.HeadingDeg != 215 || *v.Status != 0 || v.TS.IsZero() {
		t.Errorf("unit A's vessel: %+v", v)
	}
	if v := byMMSI["440348000"]; !v.Enforcement || v.DeviceID != e.unitB {
		t.Errorf("unit B's own ship: %+v", v)
	}
	if v := byMMSI["351759000"]; v.Enforcement || v.Name != "EVER DIADEM" || v.Lat != nil || *v.LengthM != 295 || v.Destination != "NEW YORK" {
		t.Errorf("freighter (static data only): %+v", v)
	}

	// The JSON names of the contract, and null for an unknown position.
	var raw struct {
		Items []map[string]any `json:"items"`
	}
	admin.mustDo(t, http.MethodGet, "/api/v1/vessels?enforcement=true", nil, http.StatusOK, &raw)
	if len(raw.Items) != 2 {
		t.Fatalf("enforcement=true: %v", raw.Items)
	}
	for _, k := range []string{"mmsi", "lat", "lon", "speed_kn", "course_deg", "heading_deg", "status", "ts", "enforcement", "device_id"} {
		if _, ok := raw.Items[0][k]; !ok {
			t.Errorf("%s missing from %v", k, raw.Items[0])
		}
	}
	var one map[string]any
	admin.mustDo(t, http.MethodGet, "/api/v1/vessels/351759000", nil, http.StatusOK, &one)
	if one["lat"] != nil || one["name"] != "EVER DIADEM" || one["callsign"] != "3FOF8" || one["imo"] != 9134270.0 ||
		one["shiptype"] != 70.0 || one["width_m"] != 32.0 || one["enforcement"] != false {
		t.Errorf("one vessel: %v", one)
	}
	if _, ok := one["lat"]; !ok {
		t.Error("lat left out instead of null")
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"bbox=-124,48,-123,49", []string{"371798000"}},                                        // Juan de Fuca
		{"bbox=-180,-90,180,90", []string{"338087471", "367059850", "371798000", "440348000"}}, // positions only
		{"bbox=-75,40,-70,44", []string{"338087471", "440348000"}},                             // New York, Maine
		{"bbox=73,18,135,54", nil},                                                             // China: none heard
		{"enforcement=false", []string{"338087471", "351759000", "367059850"}},
		{"enforcement=true&bbox=-80,40,-70,50", []string{"440348000"}},
	} {
		var page List[vessels.Vessel]
		admin.mustDo(t, http.MethodGet, "/api/v1/vessels?"+tc.query, nil, http.StatusOK, &page)
		if got := mmsisOf(page.Items); !slices.Equal(got, tc.want) || page.Next != nil || page.Items == nil {
			t.Errorf("%s: %v (next %v), want %v", tc.query, got, page.Next, tc.want)
		}
	}

	// Pages by MMSI.
	var page List[vessels.Vessel]
	admin.mustDo(t, http.MethodGet, "/api/v1/vessels?limit=2", nil, http.StatusOK, &page)
	if got := mmsisOf(page.Items); !slices.Equal(got, []string{"338087471", "351759000"}) || page.Next == nil || *page.Next != "351759000" {
		t.Errorf("page 1: %v next %v", got, page.Next)
	}
	if got := mmsisOf(list[vessels.Vessel](t, admin, "/api/v1/vessels?limit=2")); !slices.Equal(got, mmsisOf(all)) {
		t.Errorf("paged: %v", got)
	}

	for _, tc := range []struct {
		path, field string
		status      int
	}{
		{"/api/v1/vessels?bbox=", "bbox", 400},
		{"/api/v1/vessels?bbox=1,2,3", "bbox", 400},
		{"/api/v1/vessels?bbox=1,2,3,4,5", "bbox", 400},
		{"/api/v1/vessels?bbox=a,b,c,d", "bbox", 400},
		{"/api/v1/vessels?bbox=NaN,0,10,10", "bbox", 400},
		{"/api/v1/vessels?bbox=-181,0,10,10", "bbox", 400},
		{"/api/v1/vessels?bbox=0,-91,10,10", "bbox", 400},
		{"/api/v1/vessels?bbox=0,0,10,90.5", "bbox", 400},
		{"/api/v1/vessels?bbox=10,0,5,10", "bbox", 400},
		{"/api/v1/vessels?bbox=0,10,10,10", "bbox", 400},
		{"/api/v1/vessels?enforcement=maybe", "enforcement", 400},
		{"/api/v1/vessels?limit=0", "limit", 400},
		{"/api/v1/vessels?limit=10001", "limit", 400},
		{"/api/v1/vessels?after=12345", "after", 400},
		{"/api/v1/vessels/12345678", "mmsi", 400},
		{"/api/v1/vessels/1234567890", "mmsi", 400},
		{"/api/v1/vessels/41200000x", "mmsi", 400},
		{"/api/v1/vessels/999999999", "", 404},
	} {
		d := admin.mustFail(t, http.MethodGet, tc.path, nil, tc.status)
		if d.Field != tc.field {
			t.Errorf("%s: field %q, want %q (%s)", tc.path, d.Field, tc.field, d.Message)
		}
	}
	e.anon().mustFail(t, http.MethodGet, "/api/v1/vessels", nil, http.StatusUnauthorized)
}

// TestVesselsScope: AIS data is shown to everyone who may watch the live
// map; an enforcement vessel's AIS unit only within the user's subtree.
func TestVesselsScope(t *testing.T) {
	e := newVesselEnv(t)
	cmdA := e.user(t, e.admin, "cmd-a", fleet.RoleCommander, e.org.countyA.ID)
	cmdB := e.user(t, e.admin, "cmd-b", fleet.RoleCommander, e.org.countyB.ID)
	cmdCity := e.user(t, e.admin, "cmd-city", fleet.RoleCommander, e.org.city.ID)
	officer := e.user(t, e.admin, "officer", fleet.RoleOfficer, e.org.countyA.ID)
	manager := e.user(t, e.admin, "manager", fleet.RoleEquipmentManager, e.org.city.ID)

	for _, tc := range []struct {
		who     *client
		devices map[string]string // enforcement vessel → device id shown
	}{
		{e.admin, map[string]string{"371798000": e.unitA, "440348000": e.unitB}},
		{cmdCity, map[string]string{"371798000": e.unitA, "440348000": e.unitB}},
		{cmdA, map[string]string{"371798000": e.unitA, "440348000": ""}},
		{cmdB, map[string]string{"371798000": "", "440348000": e.unitB}},
	} {
		items := list[vessels.Vessel](t, tc.who, "/api/v1/vessels?enforcement=true")
		if len(items) != 2 {
			t.Fatalf("%s sees %v", tc.who.user.Username, mmsisOf(items))
		}
		for _, v := range items {
			if !v.Enforcement || v.DeviceID != tc.devices[v.MMSI] {
				t.Errorf("%s: %s enforcement %v device %q, want %q", tc.who.user.Username, v.MMSI, v.Enforcement, v.DeviceID, tc.devices[v.MMSI])
			}
			var one vessels.Vessel
			tc.who.mustDo(t, http.MethodGet, "/api/v1/vessels/"+v.MMSI, nil, http.StatusOK, &one)
			if one.DeviceID != tc.devices[v.MMSI] {
				t.Errorf("%s: GET %s device %q, want %q", tc.who.user.Username, v.MMSI, one.DeviceID, tc.devices[v.MMSI])
			}
		}
		if n := len(list[vessels.Vessel](t, tc.who, "/api/v1/vessels")); n != 5 {
			t.Errorf("%s sees %d vessels, want all 5", tc.who.user.Username, n)
		}
	}
	for _, who := range []*client{officer, manager} {
		who.mustFail(t, http.MethodGet, "/api/v1/vessels", nil, http.StatusForbidden)
		who.mustFail(t, http.MethodGet, "/api/v1/vessels/371798000", nil, http.StatusForbidden)
	}
}

// TestVesselsNotMounted: the routes exist without a tracker and say so.
func TestVesselsNotMounted(t *testing.T) {
	e := sqliteEnv(t)
	admin := e.login(t, "admin", adminPassword)
	d := admin.mustFail(t, http.MethodGet, "/api/v1/vessels", nil, http.StatusServiceUnavailable)
	if d.Code != fleet.EUNAVAILABLE {
		t.Errorf("code %s", d.Code)
	}
	admin.mustFail(t, http.MethodGet, "/api/v1/vessels/371798000", nil, http.StatusServiceUnavailable)
}

// TestVesselsDocumented: the routes are in openapi.json once mounted, and
// the Vessel schema names the Go type's fields.
func TestVesselsDocumented(t *testing.T) {
	s := New(Config{}, Deps{})
	MountVessels(s, nil)
	missing, err := s.UndocumentedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Errorf("undocumented: %v", missing)
	}
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, v := range map[string]any{"Vessel": vessels.Vessel{}, "VesselList": List[vessels.Vessel]{}} {
		sch, ok := schemas[name].(map[string]any)
		if !ok {
			t.Fatalf("schema %s is missing", name)
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
