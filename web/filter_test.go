package web

import (
	"net/http"
	"slices"
	"testing"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// TestListFilters checks what the UI relies on: choosing a unit lists its
// whole subtree, and the desk reads a day's movements newest first.
func TestListFilters(t *testing.T) {
	e := newEnv(t, sqltest.SQLite(t))
	admin := e.login(t, "admin", adminPassword)
	o := e.seedOrg(t, admin)

	var inStation, inCountyB fleet.Officer
	admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.stationA.ID, "张伟", "F1001"), http.StatusCreated, &inStation)
	admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyB.ID, "李娜", "F1002"), http.StatusCreated, &inCountyB)
	var recA, recB fleet.NewDevice
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "REC-A", UnitID: o.stationA.ID}, http.StatusCreated, &recA)
	admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "REC-B", UnitID: o.countyB.ID}, http.StatusCreated, &recB)

	ids := func(path string) []string {
		var l List[map[string]any]
		admin.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it["id"].(string))
		}
		return out
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/api/v1/officers?unit_id=" + o.countyA.ID, []string{inStation.ID}},
		{"/api/v1/officers?unit_id=" + o.city.ID, []string{inStation.ID, inCountyB.ID}},
		{"/api/v1/officers?unit_id=" + o.countyB.ID, []string{inCountyB.ID}},
		{"/api/v1/devices?unit_id=" + o.countyA.ID, []string{recA.ID}},
		{"/api/v1/devices?unit_id=" + o.city.ID, []string{recA.ID, recB.ID}},
	}
	for _, tt := range tests {
		if got := ids(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("GET %s = %v, want %v", tt.path, got, tt.want)
		}
	}
	mgrB := e.user(t, admin, "mgr.hs", fleet.RoleEquipmentManager, o.countyB.ID)
	mgrB.mustDo(t, http.MethodGet, "/api/v1/devices?unit_id="+o.countyA.ID, nil, http.StatusBadRequest, nil)

	var a1, a2 fleet.Assignment
	admin.mustDo(t, http.MethodPost, "/api/v1/devices/"+recA.ID+"/checkout", fleet.CheckoutInput{OfficerID: inStation.ID}, http.StatusCreated, &a1)
	admin.mustDo(t, http.MethodPost, "/api/v1/devices/"+recB.ID+"/checkout", fleet.CheckoutInput{OfficerID: inCountyB.ID}, http.StatusCreated, &a2)
	if got := ids("/api/v1/assignments?order=newest"); !slices.Equal(got, []string{a2.ID, a1.ID}) {
		t.Errorf("newest first = %v", got)
	}
	if got := ids("/api/v1/assignments?since=2000-01-01"); !slices.Equal(got, []string{a1.ID, a2.ID}) {
		t.Errorf("since 2000 = %v", got)
	}
	if got := ids("/api/v1/assignments?since=2099-01-01T00:00:00Z"); len(got) != 0 {
		t.Errorf("since 2099 = %v", got)
	}
	for _, bad := range []string{"since=yesterday", "order=random"} {
		admin.mustDo(t, http.MethodGet, "/api/v1/assignments?"+bad, nil, http.StatusBadRequest, nil)
	}
}
