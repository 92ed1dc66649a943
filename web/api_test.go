package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// TestRegisterAPI walks the register through its API the way an agency
// uses it, on SQLite and on PostgreSQL: units, officers, devices, the
// assignment rules, scope, roles and the audit log.
func TestRegisterAPI(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, store *sqlstore.DB) {
		e := newEnv(t, store)
		admin := e.login(t, "admin", adminPassword)
		o := e.seedOrg(t, admin)
		mgrA := e.user(t, admin, "mgr.ja", fleet.RoleEquipmentManager, o.countyA.ID)
		commander := e.user(t, admin, "cmd.wh", fleet.RoleCommander, o.city.ID)
		auditor := e.user(t, admin, "audit.hb", fleet.RoleAuditor, o.province.ID)

		t.Run("me", func(t *testing.T) {
			var me Me
			mgrA.mustDo(t, http.MethodGet, "/api/v1/me", nil, http.StatusOK, &me)
			if me.Username != "mgr.ja" || me.Role != fleet.RoleEquipmentManager || me.Unit == nil || me.Unit.ID != o.countyA.ID {
				t.Fatalf("me = %+v", me)
			}
			if !slices.Contains(me.Permissions, fleet.PermManageDevices) || slices.Contains(me.Permissions, fleet.PermManageUsers) {
				t.Errorf("permissions = %v", me.Permissions)
			}
			var adm map[string]any
			admin.mustDo(t, http.MethodGet, "/api/v1/me", nil, http.StatusOK, &adm)
			if u, ok := adm["unit"]; !ok || u != nil {
				t.Errorf("admin's unit = %v, want null", adm["unit"])
			}
		})

		t.Run("units", func(t *testing.T) {
			var u fleet.Unit
			mgrA.mustDo(t, http.MethodPost, "/api/v1/units", fleet.UnitInput{ParentID: o.countyA.ID, Code: "HB-WH-JA-02", Name: "江岸区第二中队", Level: fleet.LevelStation}, http.StatusCreated, &u)
			if u.ID == "" || u.ParentID != o.countyA.ID {
				t.Fatalf("created %+v", u)
			}
			var got fleet.Unit
			mgrA.mustDo(t, http.MethodGet, "/api/v1/units/"+u.ID, nil, http.StatusOK, &got)
			if got.Code != "HB-WH-JA-02" {
				t.Errorf("get = %+v", got)
			}
			mgrA.mustDo(t, http.MethodPatch, "/api/v1/units/"+u.ID, map[string]string{"name": "江岸区二中队"}, http.StatusOK, &got)
			if got.Name != "江岸区二中队" || got.Version != u.Version+1 {
				t.Errorf("patched = %+v", got)
			}
			// The manager's list is their subtree only.
			units := list[fleet.Unit](t, mgrA, "/api/v1/units")
			for _, x := range units {
				if !fleet.PathContains(o.countyA.Path, x.Path) {
					t.Errorf("county A's manager lists %s (%s)", x.Code, x.Path)
				}
			}
			if len(units) != 3 {
				t.Errorf("county A's manager lists %d units, want 3", len(units))
			}
			children := list[fleet.Unit](t, admin, "/api/v1/units?parent_id="+o.city.ID)
			if len(children) != 2 {
				t.Errorf("city has %d children, want 2", len(children))
			}
			// Another county is invisible and untouchable.
			mgrA.mustFail(t, http.MethodGet, "/api/v1/units/"+o.countyB.ID, nil, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodPatch, "/api/v1/units/"+o.countyB.ID, map[string]string{"name": "x"}, http.StatusNotFound)
			d := mgrA.mustFail(t, http.MethodPost, "/api/v1/units", fleet.UnitInput{ParentID: o.countyB.ID, Code: "HB-WH-HS-09", Name: "x", Level: fleet.LevelStation}, http.StatusForbidden)
			if d.Field != "parent_id" {
				t.Errorf("create under county B: %+v", d)
			}
			admin.mustFail(t, http.MethodGet, "/api/v1/units/unit_nope", nil, http.StatusNotFound)
		})

		var offA, offA2, offB fleet.Officer
		t.Run("officers", func(t *testing.T) {
			mgrA.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.stationA.ID, "张三", "420101"), http.StatusCreated, &offA)
			mgrA.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyA.ID, "李四", "420102"), http.StatusCreated, &offA2)
			admin.mustDo(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyB.ID, "王五", "420201"), http.StatusCreated, &offB)
			if offA.ID == "" || offA.EffectiveOn != fleet.DateOf(testNow) || offA.Certificate.Status != fleet.CertValid {
				t.Fatalf("created %+v", offA)
			}
			var got fleet.Officer
			mgrA.mustDo(t, http.MethodGet, "/api/v1/officers/"+offA.ID, nil, http.StatusOK, &got)
			if got.Name != "张三" || got.Certificate.ExpiresOn != fleet.NewDate(2029, 12, 31) {
				t.Errorf("get = %+v", got)
			}
			// Dates travel as YYYY-MM-DD.
			r := mgrA.mustDo(t, http.MethodGet, "/api/v1/officers/"+offA.ID, nil, http.StatusOK, nil)
			var rawOff map[string]any
			_ = json.Unmarshal(r.body, &rawOff)
			if cert := rawOff["certificate"].(map[string]any); cert["issued_on"] != "2024-01-01" {
				t.Errorf("issued_on = %v", cert["issued_on"])
			}
			dup := officerIn(o.countyA.ID, "重复", "420101")
			mgrA.mustFail(t, http.MethodPost, "/api/v1/officers", dup, http.StatusConflict)

			var res fleet.OfficerResult
			mgrA.mustDo(t, http.MethodPatch, "/api/v1/officers/"+offA2.ID, map[string]any{"name": "李四光"}, http.StatusOK, &res)
			if res.Name != "李四光" || res.RecordersToReturn == nil {
				t.Errorf("patched = %+v", res)
			}
			found := list[fleet.Officer](t, mgrA, "/api/v1/officers?q=李四")
			if len(found) != 1 || found[0].ID != offA2.ID {
				t.Errorf("search = %+v", found)
			}
			byUnit := list[fleet.Officer](t, mgrA, "/api/v1/officers?unit_id="+o.stationA.ID)
			if len(byUnit) != 1 || byUnit[0].ID != offA.ID {
				t.Errorf("by unit = %+v", byUnit)
			}
			// Scope: county B's officer does not exist for county A.
			for _, x := range list[fleet.Officer](t, mgrA, "/api/v1/officers") {
				if x.ID == offB.ID {
					t.Error("county A's manager lists county B's officer")
				}
			}
			mgrA.mustFail(t, http.MethodGet, "/api/v1/officers/"+offB.ID, nil, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodPatch, "/api/v1/officers/"+offB.ID, map[string]string{"name": "x"}, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodGet, "/api/v1/officers/"+offB.ID+"/history", nil, http.StatusNotFound)
			d := mgrA.mustFail(t, http.MethodPatch, "/api/v1/officers/"+offA.ID, map[string]string{"unit_id": o.countyB.ID}, http.StatusForbidden)
			if d.Field != "unit_id" {
				t.Errorf("move to county B: %+v", d)
			}
			d = mgrA.mustFail(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyB.ID, "赵六", "420299"), http.StatusForbidden)
			if d.Field != "unit_id" {
				t.Errorf("create in county B: %+v", d)
			}
			// Roles: a commander reads but does not change the register.
			commander.mustDo(t, http.MethodGet, "/api/v1/officers/"+offA.ID, nil, http.StatusOK, nil)
			commander.mustFail(t, http.MethodPost, "/api/v1/officers", officerIn(o.countyA.ID, "赵六", "420199"), http.StatusForbidden)
		})

		var rec1, rec2, rec3, recB fleet.NewDevice
		t.Run("devices", func(t *testing.T) {
			r := mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0001", Model: "DSJ-V9", UnitID: o.countyA.ID, FirmwareVersion: "1.0.0"}, http.StatusCreated, &rec1)
			if rec1.MQTTSecret == "" || rec1.Status != fleet.StatusInStock || r.header.Get("Location") != "/api/v1/devices/"+rec1.ID {
				t.Fatalf("created %+v (Location %q)", rec1, r.header.Get("Location"))
			}
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0002", UnitID: o.stationA.ID}, http.StatusCreated, &rec2)
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0003", UnitID: o.stationA.ID}, http.StatusCreated, &rec3)
			admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-9001", UnitID: o.countyB.ID}, http.StatusCreated, &recB)
			var vt fleet.NewDevice
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindVehicleTerminal, Serial: "VT-01", UnitID: o.countyA.ID, RTSPURL: "rtsp://10.0.0.9/live"}, http.StatusCreated, &vt)

			// The secret is shown once: reading the device does not give it.
			r = mgrA.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec1.ID, nil, http.StatusOK, nil)
			var rawDev map[string]any
			_ = json.Unmarshal(r.body, &rawDev)
			if _, leaked := rawDev["mqtt_secret"]; leaked {
				t.Error("GET device shows the MQTT secret")
			}
			if _, err := e.reg.AuthenticateDevice(t.Context(), rec1.ID, rec1.MQTTSecret); err != nil {
				t.Errorf("issued secret does not authenticate: %v", err)
			}
			var rotated fleet.NewDevice
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices/"+rec1.ID+"/secret", nil, http.StatusOK, &rotated)
			if rotated.MQTTSecret == "" || rotated.MQTTSecret == rec1.MQTTSecret {
				t.Error("rotation gave no new secret")
			}
			if _, err := e.reg.AuthenticateDevice(t.Context(), rec1.ID, rec1.MQTTSecret); err == nil {
				t.Error("old secret still works after rotation")
			}

			var d fleet.Device
			mgrA.mustDo(t, http.MethodPatch, "/api/v1/devices/"+rec1.ID, map[string]string{"firmware_version": "1.1.0", "model": "DSJ-V10"}, http.StatusOK, &d)
			if d.FirmwareVersion != "1.1.0" || d.Model != "DSJ-V10" {
				t.Errorf("patched = %+v", d)
			}
			// Filters and the barcode lookup.
			if got := list[fleet.Device](t, mgrA, "/api/v1/devices?kind=vehicle_terminal"); len(got) != 1 || got[0].ID != vt.ID {
				t.Errorf("kind filter = %+v", got)
			}
			if got := list[fleet.Device](t, mgrA, "/api/v1/devices?serial=DSJ-0002"); len(got) != 1 || got[0].ID != rec2.ID {
				t.Errorf("serial lookup = %+v", got)
			}
			if got := list[fleet.Device](t, mgrA, "/api/v1/devices?serial=DSJ-00"); len(got) != 0 {
				t.Errorf("serial lookup is not exact: %+v", got)
			}
			if got := list[fleet.Device](t, mgrA, "/api/v1/devices?serial=DSJ-9001"); len(got) != 0 {
				t.Errorf("serial lookup crosses the scope: %+v", got)
			}
			if got := list[fleet.Device](t, mgrA, "/api/v1/devices?q=DSJ"); len(got) != 3 {
				t.Errorf("q=DSJ gives %d devices, want 3 (county A's recorders)", len(got))
			}
			// Scope and roles.
			mgrA.mustFail(t, http.MethodGet, "/api/v1/devices/"+recB.ID, nil, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodPatch, "/api/v1/devices/"+recB.ID, map[string]string{"status": "lost"}, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodPost, "/api/v1/devices/"+recB.ID+"/secret", nil, http.StatusNotFound)
			mgrA.mustFail(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-9002", UnitID: o.countyB.ID}, http.StatusForbidden)
			commander.mustFail(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-0004", UnitID: o.countyA.ID}, http.StatusForbidden)
			commander.mustFail(t, http.MethodPatch, "/api/v1/devices/"+rec1.ID, map[string]string{"model": "x"}, http.StatusForbidden)
			if got := list[fleet.Device](t, commander, "/api/v1/devices"); len(got) != 5 {
				t.Errorf("the city's commander sees %d devices, want 5", len(got))
			}
		})

		t.Run("assignments", func(t *testing.T) {
			checkout := func(dev fleet.NewDevice, off fleet.Officer, another bool) response {
				return mgrA.do(t, http.MethodPost, "/api/v1/devices/"+dev.ID+"/checkout",
					fleet.CheckoutInput{OfficerID: off.ID, AllowAnother: another, Note: "早班"})
			}
			var a fleet.Assignment
			r := checkout(rec1, offA, false)
			if r.status != http.StatusCreated {
				t.Fatalf("checkout: %d %s", r.status, r.body)
			}
			_ = json.Unmarshal(r.body, &a)
			if a.DeviceID != rec1.ID || a.OfficerID != offA.ID || a.EndAt != nil {
				t.Fatalf("assignment = %+v", a)
			}
			// Already out.
			if r := checkout(rec1, offA2, false); r.status != http.StatusConflict {
				t.Errorf("checkout of an assigned recorder: %d %s", r.status, r.body)
			}
			// A second recorder for the same officer only on purpose.
			if r := checkout(rec2, offA, false); r.status != http.StatusConflict || r.errorDetail(t).Field != "officer_id" {
				t.Errorf("second recorder: %d %s", r.status, r.body)
			}
			if r := checkout(rec2, offA, true); r.status != http.StatusCreated {
				t.Errorf("second recorder allowed: %d %s", r.status, r.body)
			}
			// Recorders out of service cannot be handed out.
			for _, st := range []fleet.DeviceStatus{fleet.StatusInRepair, fleet.StatusLost, fleet.StatusRetired} {
				var dv fleet.NewDevice
				mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder, Serial: "DSJ-X-" + string(st), UnitID: o.countyA.ID}, http.StatusCreated, &dv)
				mgrA.mustDo(t, http.MethodPatch, "/api/v1/devices/"+dv.ID, map[string]string{"status": string(st), "reason": "test"}, http.StatusOK, nil)
				if r := checkout(dv, offA2, false); r.status != http.StatusConflict {
					t.Errorf("checkout of a recorder %s: %d %s", st, r.status, r.body)
				}
			}
			// A county cannot hand out another county's recorder, nor to
			// another county's officer.
			if r := checkout(recB, offA2, false); r.status != http.StatusNotFound {
				t.Errorf("checkout of county B's recorder: %d %s", r.status, r.body)
			}
			if r := checkout(rec3, offB, false); r.status != http.StatusForbidden {
				t.Errorf("checkout to county B's officer: %d %s", r.status, r.body)
			}
			// Check-in.
			var in fleet.Assignment
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices/"+rec2.ID+"/checkin", fleet.CheckinInput{Note: "归还"}, http.StatusOK, &in)
			if in.EndAt == nil || in.EndReason != "checkin" {
				t.Errorf("checkin = %+v", in)
			}
			mgrA.mustFail(t, http.MethodPost, "/api/v1/devices/"+rec2.ID+"/checkin", nil, http.StatusConflict)
			var dv fleet.Device
			mgrA.mustDo(t, http.MethodGet, "/api/v1/devices/"+rec2.ID, nil, http.StatusOK, &dv)
			if dv.Status != fleet.StatusInStock {
				t.Errorf("after checkin the recorder is %s", dv.Status)
			}
			open := list[fleet.Assignment](t, mgrA, "/api/v1/assignments?officer="+offA.ID+"&open=true")
			if len(open) != 1 || open[0].DeviceID != rec1.ID {
				t.Errorf("open assignments of officer A = %+v", open)
			}
			if all := list[fleet.Assignment](t, mgrA, "/api/v1/assignments?device="+rec2.ID); len(all) != 1 || all[0].EndAt == nil {
				t.Errorf("rec2's assignments = %+v", all)
			}

			// A status change of an assigned recorder ends its assignment.
			if r := checkout(rec3, offA2, false); r.status != http.StatusCreated {
				t.Fatalf("checkout rec3: %d %s", r.status, r.body)
			}
			mgrA.mustDo(t, http.MethodPatch, "/api/v1/devices/"+rec3.ID, map[string]string{"status": "in_repair", "reason": "屏幕损坏"}, http.StatusOK, &dv)
			if dv.Status != fleet.StatusInRepair {
				t.Errorf("rec3 is %s", dv.Status)
			}
			if open := list[fleet.Assignment](t, mgrA, "/api/v1/assignments?device="+rec3.ID+"&open=true"); len(open) != 0 {
				t.Errorf("rec3 still assigned: %+v", open)
			}
			hist := list[fleet.DeviceChange](t, mgrA, "/api/v1/devices/"+rec3.ID+"/history")
			if len(hist) != 3 || hist[2].Status != fleet.StatusInRepair || hist[2].Reason != "屏幕损坏" {
				t.Errorf("rec3 history = %+v", hist)
			}

			// Transferring an officer out revokes the certificate and lists
			// the recorders to take back.
			var res fleet.OfficerResult
			mgrA.mustDo(t, http.MethodPatch, "/api/v1/officers/"+offA.ID, map[string]any{"duty_status": "transferred_out"}, http.StatusOK, &res)
			if res.Certificate.Status != fleet.CertRevoked || res.DutyStatus != fleet.TransferredOut {
				t.Errorf("after transfer: %+v", res.Officer)
			}
			if len(res.RecordersToReturn) != 1 || res.RecordersToReturn[0].DeviceID != rec1.ID {
				t.Errorf("recorders_to_return = %+v", res.RecordersToReturn)
			}
			versions := list[fleet.OfficerVersion](t, mgrA, "/api/v1/officers/"+offA.ID+"/history")
			if len(versions) != 2 || versions[1].DutyStatus != fleet.TransferredOut || versions[1].EffectiveOn != fleet.DateOf(testNow) {
				t.Errorf("history = %+v", versions)
			}
			// Not on duty: no new recorder.
			if r := checkout(rec2, offA, true); r.status != http.StatusConflict {
				t.Errorf("checkout to a transferred officer: %d %s", r.status, r.body)
			}
			mgrA.mustDo(t, http.MethodPost, "/api/v1/devices/"+rec1.ID+"/checkin", nil, http.StatusOK, nil)
		})

		t.Run("users", func(t *testing.T) {
			users := list[fleet.User](t, admin, "/api/v1/users")
			if len(users) != 4 {
				t.Errorf("admin lists %d users, want 4", len(users))
			}
			var u fleet.User
			admin.mustDo(t, http.MethodGet, "/api/v1/users/"+mgrA.user.ID, nil, http.StatusOK, &u)
			if u.Username != "mgr.ja" {
				t.Errorf("get user = %+v", u)
			}
			r := admin.mustDo(t, http.MethodPatch, "/api/v1/users/"+mgrA.user.ID, map[string]any{"name": "江岸装备员"}, http.StatusOK, &u)
			if u.Name != "江岸装备员" {
				t.Errorf("patched = %+v", u)
			}
			var rawUser map[string]any
			_ = json.Unmarshal(r.body, &rawUser)
			if _, leaked := rawUser["password_hash"]; leaked {
				t.Error("user JSON carries the password hash")
			}
			mgrA.mustFail(t, http.MethodGet, "/api/v1/users", nil, http.StatusForbidden)
			mgrA.mustFail(t, http.MethodPost, "/api/v1/users", fleet.UserInput{Username: "x.y", Password: "password-123", Role: fleet.RoleOfficer, UnitID: o.countyA.ID}, http.StatusForbidden)
			admin.mustFail(t, http.MethodPost, "/api/v1/users", fleet.UserInput{Username: "mgr.ja", Password: "password-123", Role: fleet.RoleOfficer, UnitID: o.countyA.ID}, http.StatusConflict)
		})

		t.Run("pagination", func(t *testing.T) {
			for i := range 7 {
				mgrA.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindAISUnit, Serial: fmt.Sprintf("AIS-%02d", i), UnitID: o.stationA.ID, MMSI: fmt.Sprintf("41300000%d", i)}, http.StatusCreated, nil)
			}
			var seen []string
			after := ""
			pages := 0
			for {
				var page List[fleet.Device]
				p := "/api/v1/devices?kind=ais_unit&limit=3"
				if after != "" {
					p += "&after=" + after
				}
				mgrA.mustDo(t, http.MethodGet, p, nil, http.StatusOK, &page)
				pages++
				if len(page.Items) > 3 {
					t.Fatalf("page of %d items with limit 3", len(page.Items))
				}
				for _, d := range page.Items {
					seen = append(seen, d.Serial)
				}
				if page.Next == nil {
					break
				}
				after = *page.Next
			}
			if pages != 3 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 7 {
				t.Errorf("paged through %d pages: %v", pages, seen)
			}
			mgrA.mustFail(t, http.MethodGet, "/api/v1/devices?limit=0", nil, http.StatusBadRequest)
			d := mgrA.mustFail(t, http.MethodGet, "/api/v1/devices?limit=abc", nil, http.StatusBadRequest)
			if d.Field != "limit" {
				t.Errorf("bad limit: %+v", d)
			}
			var empty map[string]any
			mgrA.mustDo(t, http.MethodGet, "/api/v1/assignments?officer=ofc_none", nil, http.StatusOK, &empty)
			if items, ok := empty["items"].([]any); !ok || len(items) != 0 || empty["next"] != nil {
				t.Errorf("empty list = %v", empty)
			}
		})

		t.Run("audit", func(t *testing.T) {
			// Who did what to which record, with the record before and after.
			entries := list[fleet.AuditEntry](t, auditor, "/api/v1/audit?entity=device&entity_id="+rec3.ID)
			var statusChange *fleet.AuditEntry
			for i, x := range entries {
				if x.Action == "device.update" && x.Actor == "mgr.ja" && len(x.Before) > 0 && len(x.After) > 0 {
					var before, after fleet.Device
					_ = json.Unmarshal(x.Before, &before)
					_ = json.Unmarshal(x.After, &after)
					if before.Status == fleet.StatusAssigned && after.Status == fleet.StatusInRepair {
						statusChange = &entries[i]
					}
				}
			}
			if statusChange == nil {
				t.Fatalf("no audit entry for rec3's repair: %+v", entries)
			}
			if statusChange.ActorID != mgrA.user.ID || statusChange.At.IsZero() {
				t.Errorf("entry = %+v", statusChange)
			}
			byActor := list[fleet.AuditEntry](t, auditor, "/api/v1/audit?actor="+commander.user.ID)
			if len(byActor) != 0 {
				t.Errorf("the commander changed nothing, yet the log has %+v", byActor)
			}
			created := list[fleet.AuditEntry](t, auditor, "/api/v1/audit?entity=officer&entity_id="+offA.ID)
			if len(created) < 2 || created[len(created)-1].Action != "officer.create" {
				t.Errorf("officer A's entries = %+v", created)
			}
			// Newest first.
			for i := 1; i < len(created); i++ {
				if created[i].Seq > created[i-1].Seq {
					t.Errorf("audit not newest first: %d before %d", created[i-1].Seq, created[i].Seq)
				}
			}
			// Roles and scope.
			mgrA.mustFail(t, http.MethodGet, "/api/v1/audit", nil, http.StatusForbidden)
			// No way to alter the log.
			n := e.auditCount()
			seq := fmt.Sprint(statusChange.Seq)
			for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				for _, p := range []string{"/api/v1/audit", "/api/v1/audit/" + seq} {
					r := admin.do(t, m, p, `{"action":"nothing happened"}`)
					if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
						t.Errorf("%s %s: %d %s", m, p, r.status, r.body)
					}
					r.errorDetail(t)
				}
			}
			if got := e.auditCount(); got != n {
				t.Errorf("audit entries %d → %d", n, got)
			}
		})

		t.Run("logout", func(t *testing.T) {
			c := e.login(t, "cmd.wh", "password-123")
			c.mustDo(t, http.MethodGet, "/api/v1/me", nil, http.StatusOK, nil)
			r := c.mustDo(t, http.MethodDelete, "/api/v1/session", nil, http.StatusNoContent, nil)
			if len(r.body) != 0 {
				t.Errorf("204 with a body: %s", r.body)
			}
			c.mustFail(t, http.MethodGet, "/api/v1/me", nil, http.StatusUnauthorized)
			// Other sessions of the same user live on.
			commander.mustDo(t, http.MethodGet, "/api/v1/me", nil, http.StatusOK, nil)
		})
	})
}

// TestSession covers signing in and out and the token's life.
func TestSession(t *testing.T) {
	e := sqliteEnv(t)
	anon := e.anon()

	d := anon.mustFail(t, http.MethodPost, "/api/v1/session", map[string]string{"username": "admin", "password": "wrong"}, http.StatusUnauthorized)
	if d.Code != fleet.EUNAUTHORIZED {
		t.Errorf("wrong password: %+v", d)
	}
	anon.mustFail(t, http.MethodPost, "/api/v1/session", map[string]string{"username": "nobody", "password": "x"}, http.StatusUnauthorized)

	admin := e.login(t, "admin", adminPassword)
	if admin.user.Role != fleet.RoleAdmin || len(admin.user.Permissions) == 0 {
		t.Errorf("login user = %+v", admin.user)
	}

	for _, h := range []string{"", "Bearer", "Bearer ", "Basic YWRtaW46eA==", "Bearer not-a-token", admin.token} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/me", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d (WWW-Authenticate %q)", h, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	}

	// Change password: the old one stops working.
	d = admin.mustFail(t, http.MethodPost, "/api/v1/me/password", passwordRequest{OldPassword: "wrong", NewPassword: "new-password-9"}, http.StatusBadRequest)
	if d.Field != "old_password" {
		t.Errorf("wrong old password: %+v", d)
	}
	d = admin.mustFail(t, http.MethodPost, "/api/v1/me/password", passwordRequest{OldPassword: adminPassword, NewPassword: "short"}, http.StatusBadRequest)
	if d.Field != "new_password" {
		t.Errorf("short new password: %+v", d)
	}
	admin.mustDo(t, http.MethodPost, "/api/v1/me/password", passwordRequest{OldPassword: adminPassword, NewPassword: "new-password-9"}, http.StatusNoContent, nil)
	anon.mustFail(t, http.MethodPost, "/api/v1/session", map[string]string{"username": "admin", "password": adminPassword}, http.StatusUnauthorized)
	fresh := e.login(t, "admin", "new-password-9")

	// Sessions expire after a shift.
	e.clock.Advance(fleet.SessionTTL + time.Minute)
	d = fresh.mustFail(t, http.MethodGet, "/api/v1/me", nil, http.StatusUnauthorized)
	if d.Code != fleet.EUNAUTHORIZED {
		t.Errorf("expired: %+v", d)
	}
}
