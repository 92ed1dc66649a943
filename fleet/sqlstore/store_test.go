package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
)

// The unit tree every test starts from. c1x and c_1/cz1 are the traps:
// c1x's path starts with c1's id, and c_1 holds LIKE's wildcard, which
// would match cz1 if a scope were a bare LIKE pattern.
//
//	/p/          province
//	/p/c1/       city
//	/p/c1/s1/    station
//	/p/c1x/      city
//	/p/c_1/      city
//	/p/cz1/      city
type tree struct {
	p, c1, s1, c1x, cu1, cz1 fleet.Unit
}

func child(parent fleet.Unit, id string, level fleet.UnitLevel) fleet.Unit {
	return fleet.Unit{ID: id, ParentID: parent.ID, Code: "CODE-" + id, Name: "Unit " + id,
		Level: level, Path: parent.ChildPath(id), Version: 1}
}

func seed(t *testing.T, s *sqlstore.DB) tree {
	t.Helper()
	var tr tree
	tr.p = child(fleet.Unit{Path: "/"}, "p", fleet.LevelProvince)
	tr.c1 = child(tr.p, "c1", fleet.LevelCity)
	tr.s1 = child(tr.c1, "s1", fleet.LevelStation)
	tr.c1x = child(tr.p, "c1x", fleet.LevelCity)
	tr.cu1 = child(tr.p, "c_1", fleet.LevelCity)
	tr.cz1 = child(tr.p, "cz1", fleet.LevelCity)
	update(t, s, func(tx fleet.Tx) error {
		for _, u := range []fleet.Unit{tr.p, tr.c1, tr.s1, tr.c1x, tr.cu1, tr.cz1} {
			if err := tx.CreateUnit(t.Context(), u); err != nil {
				return err
			}
		}
		return nil
	})
	return tr
}

// at is a fixed instant, whole milliseconds in UTC as the store returns it.
func at(day, hour, min int) time.Time {
	return time.Date(2024, time.May, day, hour, min, 0, 0, time.UTC)
}

func officer(id string, u fleet.Unit) fleet.Officer {
	return fleet.Officer{
		ID: id, Name: "Officer " + id, BadgeNo: "B-" + id,
		EffectiveOn: fleet.NewDate(2024, time.January, 1), Version: 1,
		OfficerState: fleet.OfficerState{
			UnitID: u.ID, Frontline: true, DutyStatus: fleet.OnDuty,
			Certificate: fleet.Certificate{
				Number:            "CERT-" + id,
				IssuedOn:          fleet.NewDate(2023, time.March, 1),
				ExpiresOn:         fleet.NewDate(2028, time.February, 29),
				AnnualReviewUntil: fleet.NewDate(2024, time.December, 31),
				Status:            fleet.CertValid,
			},
		},
	}
}

func device(id string, u fleet.Unit) fleet.Device {
	return fleet.Device{
		ID: id, Kind: fleet.KindRecorder, Serial: "SN-" + id, Model: "DSJ-V9",
		UnitID: u.ID, Status: fleet.StatusInStock, FirmwareVersion: "1.0.0",
		SecretHash: "hash-" + id, CreatedAt: at(1, 8, 0), Version: 1,
	}
}

func user(id string, u fleet.Unit) fleet.User {
	return fleet.User{
		ID: id, Username: "user-" + id, Name: "User " + id, Role: fleet.RoleEquipmentManager,
		UnitID: u.ID, UnitPath: u.Path, PasswordHash: "pw-" + id, CreatedAt: at(1, 9, 0), Version: 1,
	}
}

func update(t *testing.T, s *sqlstore.DB, fn func(fleet.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, s *sqlstore.DB, fn func(fleet.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// get reads one value in a View.
func get[T any](t *testing.T, s *sqlstore.DB, fn func(fleet.Tx) (T, error)) T {
	t.Helper()
	var v T
	view(t, s, func(tx fleet.Tx) (err error) { v, err = fn(tx); return err })
	return v
}

func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	var fe *fleet.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want a *fleet.Error with code %s", err, code)
	}
	if fe.Code != code || fe.Field != field {
		t.Fatalf("error = %v (code %q, field %q), want code %q, field %q", err, fe.Code, fe.Field, code, field)
	}
	if fe.Message == "" {
		t.Fatalf("error %v has no message", err)
	}
}

func wantEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := []string{}
	for _, v := range items {
		out = append(out, id(v))
	}
	return out
}

func unitID(u fleet.Unit) string       { return u.ID }
func officerID(o fleet.Officer) string { return o.ID }
func deviceID(d fleet.Device) string   { return d.ID }
func userID(u fleet.User) string       { return u.ID }

func TestUnits(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()

		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.Unit(ctx, "s1") }), tr.s1)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.UnitByCode(ctx, "CODE-c1x") }), tr.c1x)

		root := ""
		parent := "p"
		for _, tc := range []struct {
			name string
			f    fleet.UnitFilter
			want []string
		}{
			{"all", fleet.UnitFilter{}, []string{"c1", "c1x", "c_1", "cz1", "p", "s1"}},
			{"roots", fleet.UnitFilter{ParentID: &root}, []string{"p"}},
			{"children", fleet.UnitFilter{ParentID: &parent}, []string{"c1", "c1x", "c_1", "cz1"}},
			{"subtree", fleet.UnitFilter{Scope: tr.c1.Path}, []string{"c1", "s1"}},
			{"wildcard subtree", fleet.UnitFilter{Scope: tr.cu1.Path}, []string{"c_1"}},
			{"children in scope", fleet.UnitFilter{Scope: tr.c1.Path, ParentID: &parent}, []string{"c1"}},
		} {
			units, next, err := func() (u []fleet.Unit, next string, err error) {
				err = s.View(ctx, func(tx fleet.Tx) error { u, next, err = tx.Units(ctx, tc.f); return err })
				return
			}()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := ids(units, unitID); !slices.Equal(got, tc.want) || next != "" {
				t.Errorf("%s: got %v next %q, want %v", tc.name, got, next, tc.want)
			}
		}

		renamed := tr.s1
		renamed.Name = "Station One"
		renamed.Code = "CODE-S1-NEW"
		update(t, s, func(tx fleet.Tx) error { return tx.UpdateUnit(ctx, renamed, renamed.Path) })
		renamed.Version = 2
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.Unit(ctx, "s1") }), renamed)
	})
}

func TestUnitMoveRewritesSubtree(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		s2 := child(tr.s1, "s2", fleet.LevelStation)
		u := user("u1", tr.s1)
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateUnit(ctx, s2); err != nil {
				return err
			}
			return tx.CreateUser(ctx, u)
		})

		// Move c1 (with s1 and s2 below it) under c1x.
		moved := tr.c1
		moved.ParentID = tr.c1x.ID
		moved.Path = tr.c1x.ChildPath("c1")
		update(t, s, func(tx fleet.Tx) error { return tx.UpdateUnit(ctx, moved, tr.c1.Path) })

		want := map[string]string{
			"p": "/p/", "c1x": "/p/c1x/", "c1": "/p/c1x/c1/", "s1": "/p/c1x/c1/s1/",
			"s2": "/p/c1x/c1/s1/s2/", "c_1": "/p/c_1/", "cz1": "/p/cz1/",
		}
		got := map[string]string{}
		view(t, s, func(tx fleet.Tx) error {
			units, _, err := tx.Units(ctx, fleet.UnitFilter{})
			for _, u := range units {
				got[u.ID] = u.Path
			}
			return err
		})
		wantEqual(t, got, want)

		// The descendants' versions moved on with their paths, so a copy read
		// before the move cannot write the old path back.
		stale := tr.s1
		err := s.Update(ctx, func(tx fleet.Tx) error { return tx.UpdateUnit(ctx, stale, stale.Path) })
		wantErr(t, err, fleet.ECONFLICT, "version")

		// A user's scope follows the unit.
		gotUser := get(t, s, func(tx fleet.Tx) (fleet.User, error) { return tx.User(ctx, "u1") })
		if gotUser.UnitPath != "/p/c1x/c1/s1/" {
			t.Errorf("user UnitPath = %q after the move", gotUser.UnitPath)
		}
		subtree := get(t, s, func(tx fleet.Tx) ([]fleet.Unit, error) {
			u, _, err := tx.Units(ctx, fleet.UnitFilter{Scope: "/p/c1x/"})
			return u, err
		})
		wantEqual(t, ids(subtree, unitID), []string{"c1", "c1x", "s1", "s2"})

		// Moving a unit under itself would make a cycle.
		c1 := get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.Unit(ctx, "c1") })
		loop := c1
		loop.ParentID = "s1"
		loop.Path = "/p/c1x/c1/s1/c1/"
		err = s.Update(ctx, func(tx fleet.Tx) error { return tx.UpdateUnit(ctx, loop, c1.Path) })
		wantErr(t, err, fleet.EINVALID, "parent_id")
	})
}

func TestOfficers(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		zhang := officer("o1", tr.s1)
		zhang.Name = "ZHANG Wei 张伟"
		li := officer("o2", tr.c1x)
		li.Name = "Li Na 李娜"
		li.Certificate = fleet.Certificate{} // no certificate: dates stay zero
		li.Frontline = false
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateOfficer(ctx, zhang); err != nil {
				return err
			}
			return tx.CreateOfficer(ctx, li)
		})

		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Officer, error) { return tx.Officer(ctx, "o1") }), zhang)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Officer, error) { return tx.OfficerByBadge(ctx, "B-o2") }), li)

		for _, tc := range []struct {
			name string
			f    fleet.OfficerFilter
			want []string
		}{
			{"all", fleet.OfficerFilter{}, []string{"o1", "o2"}},
			{"by unit", fleet.OfficerFilter{UnitID: "c1x"}, []string{"o2"}},
			{"name any case", fleet.OfficerFilter{Query: "zhang"}, []string{"o1"}},
			{"chinese name", fleet.OfficerFilter{Query: "李娜"}, []string{"o2"}},
			{"badge", fleet.OfficerFilter{Query: "b-O2"}, []string{"o2"}},
			{"no match", fleet.OfficerFilter{Query: "wang"}, []string{}},
		} {
			got := get(t, s, func(tx fleet.Tx) ([]fleet.Officer, error) {
				o, _, err := tx.Officers(ctx, tc.f)
				return o, err
			})
			if !slices.Equal(ids(got, officerID), tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, ids(got, officerID), tc.want)
			}
		}

		// Transfer: the domain reads, changes and passes back what it read.
		moved := zhang
		moved.UnitID = tr.cz1.ID
		moved.DutyStatus = fleet.TransferredOut
		moved.Certificate.Status = fleet.CertSuspended
		moved.EffectiveOn = fleet.NewDate(2024, time.June, 1)
		update(t, s, func(tx fleet.Tx) error { return tx.UpdateOfficer(ctx, moved) })
		moved.Version = 2
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Officer, error) { return tx.Officer(ctx, "o1") }), moved)
	})
}

func TestOfficerVersionsOrdered(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		o := officer("o1", tr.s1)
		version := func(effective fleet.Date, recorded time.Time, status fleet.DutyStatus) fleet.OfficerVersion {
			st := o.OfficerState
			st.DutyStatus = status
			return fleet.OfficerVersion{OfficerID: o.ID, EffectiveOn: effective, RecordedAt: recorded,
				RecordedBy: "admin", OfficerState: st}
		}
		jan, mar := fleet.NewDate(2024, time.January, 1), fleet.NewDate(2024, time.March, 1)
		// Added out of order: a back-dated version, and a correction for
		// March recorded after the first March version.
		march := version(mar, at(2, 10, 0), fleet.LongLeave)
		january := version(jan, at(3, 10, 0), fleet.OnDuty)
		correction := version(mar, at(4, 10, 0), fleet.Retired)
		correction.Certificate = fleet.Certificate{}
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateOfficer(ctx, o); err != nil {
				return err
			}
			for _, v := range []fleet.OfficerVersion{march, correction, january} {
				if err := tx.AddOfficerVersion(ctx, v); err != nil {
					return err
				}
			}
			return nil
		})
		got := get(t, s, func(tx fleet.Tx) ([]fleet.OfficerVersion, error) { return tx.OfficerVersions(ctx, "o1") })
		wantEqual(t, got, []fleet.OfficerVersion{january, march, correction})
		if v, _ := fleet.StateAt(got, mar); v.DutyStatus != fleet.Retired {
			t.Errorf("state in March = %s, want the correction", v.DutyStatus)
		}

		// No history is an empty list; no officer is not found.
		update(t, s, func(tx fleet.Tx) error { return tx.CreateOfficer(ctx, officer("o2", tr.s1)) })
		if got := get(t, s, func(tx fleet.Tx) ([]fleet.OfficerVersion, error) { return tx.OfficerVersions(ctx, "o2") }); len(got) != 0 {
			t.Errorf("versions of o2 = %v, want none", got)
		}
		err := s.View(ctx, func(tx fleet.Tx) error { _, err := tx.OfficerVersions(ctx, "ghost"); return err })
		wantErr(t, err, fleet.ENOTFOUND, "")
	})
}

func TestDevices(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		rec := device("d1", tr.s1)
		rec.RTSPURL = "rtsp://10.0.0.5:554/live"
		ais := device("d2", tr.c1x)
		ais.Kind, ais.Model, ais.MMSI, ais.Status = fleet.KindAISUnit, "AIS-B600", "412345678", fleet.StatusInRepair
		seen := at(2, 3, 4)
		ais.LastSeenAt = &seen
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateDevice(ctx, rec); err != nil {
				return err
			}
			return tx.CreateDevice(ctx, ais)
		})
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Device, error) { return tx.Device(ctx, "d1") }), rec)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Device, error) { return tx.DeviceBySerial(ctx, "SN-d2") }), ais)

		for _, tc := range []struct {
			name string
			f    fleet.DeviceFilter
			want []string
		}{
			{"all", fleet.DeviceFilter{}, []string{"d1", "d2"}},
			{"kind", fleet.DeviceFilter{Kind: fleet.KindAISUnit}, []string{"d2"}},
			{"status", fleet.DeviceFilter{Status: fleet.StatusInStock}, []string{"d1"}},
			{"model", fleet.DeviceFilter{Query: "b600"}, []string{"d2"}},
			{"serial", fleet.DeviceFilter{Query: "sn-d1"}, []string{"d1"}},
			{"kind and scope", fleet.DeviceFilter{Kind: fleet.KindAISUnit, Scope: tr.c1.Path}, []string{}},
		} {
			got := get(t, s, func(tx fleet.Tx) ([]fleet.Device, error) {
				d, _, err := tx.Devices(ctx, tc.f)
				return d, err
			})
			if !slices.Equal(ids(got, deviceID), tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, ids(got, deviceID), tc.want)
			}
		}

		// An update carries a stale LastSeenAt; the stored one must survive.
		changed := rec
		changed.Status = fleet.StatusAssigned
		changed.FirmwareVersion = "1.2.0"
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.RecordCheckin(ctx, "d1", at(5, 0, 0)); err != nil {
				return err
			}
			return tx.UpdateDevice(ctx, changed)
		})
		changed.Version = 2
		last := at(5, 0, 0)
		changed.LastSeenAt = &last
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Device, error) { return tx.Device(ctx, "d1") }), changed)

		// Lifecycle history, oldest first, same-instant changes in order added.
		changes := []fleet.DeviceChange{
			{DeviceID: "d1", At: at(1, 8, 0), Status: fleet.StatusInStock, UnitID: "s1", By: "admin"},
			{DeviceID: "d1", At: at(3, 8, 0), Status: fleet.StatusInRepair, UnitID: "s1", Reason: "screen", By: "admin"},
			{DeviceID: "d1", At: at(3, 8, 0), Status: fleet.StatusInStock, UnitID: "c1x", Reason: "fixed", By: "admin"},
		}
		update(t, s, func(tx fleet.Tx) error {
			for _, i := range []int{1, 2, 0} {
				if err := tx.AddDeviceChange(ctx, changes[i]); err != nil {
					return err
				}
			}
			return nil
		})
		wantEqual(t, get(t, s, func(tx fleet.Tx) ([]fleet.DeviceChange, error) { return tx.DeviceChanges(ctx, "d1") }),
			changes)
		err := s.View(ctx, func(tx fleet.Tx) error { _, err := tx.DeviceChanges(ctx, "ghost"); return err })
		wantErr(t, err, fleet.ENOTFOUND, "")
	})
}

func TestRecordCheckin(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		update(t, s, func(tx fleet.Tx) error { return tx.CreateDevice(ctx, device("d1", tr.s1)) })

		// 15:30 UTC on 1 May is 23:30 in China; 16:10 UTC is already 2 May there.
		late := at(1, 15, 30)
		earlier := at(1, 2, 0)
		nextDay := at(1, 16, 10)
		for _, ts := range []time.Time{late, late, earlier, nextDay, earlier} {
			update(t, s, func(tx fleet.Tx) error { return tx.RecordCheckin(ctx, "d1", ts) })
		}

		d := get(t, s, func(tx fleet.Tx) (fleet.Device, error) { return tx.Device(ctx, "d1") })
		if d.LastSeenAt == nil || !d.LastSeenAt.Equal(nextDay) {
			t.Errorf("last_seen_at = %v, want %v (the latest, not the last recorded)", d.LastSeenAt, nextDay)
		}
		if d.Version != 1 {
			t.Errorf("version = %d after check-ins, want 1", d.Version)
		}
		rows, err := s.SQL().QueryContext(ctx, "SELECT day FROM device_checkins WHERE device_id = $1 ORDER BY day", "d1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var days []string
		for rows.Next() {
			var day string
			if err := rows.Scan(&day); err != nil {
				t.Fatal(err)
			}
			days = append(days, day)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, days, []string{"2024-05-01", "2024-05-02"})

		err = s.Update(ctx, func(tx fleet.Tx) error { return tx.RecordCheckin(ctx, "ghost", late) })
		wantErr(t, err, fleet.ENOTFOUND, "")
	})
}

func TestAssignments(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		update(t, s, func(tx fleet.Tx) error {
			for _, err := range []error{
				tx.CreateOfficer(ctx, officer("o1", tr.s1)),
				tx.CreateOfficer(ctx, officer("o2", tr.c1x)),
				tx.CreateDevice(ctx, device("d1", tr.s1)),
				tx.CreateDevice(ctx, device("d2", tr.c1x)),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		})
		a1 := fleet.Assignment{ID: "a1", DeviceID: "d1", OfficerID: "o1", UnitID: "s1",
			StartAt: at(1, 8, 0), StartBy: "admin", Note: "day shift"}
		update(t, s, func(tx fleet.Tx) error { return tx.CreateAssignment(ctx, a1) })
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Assignment, error) { return tx.Assignment(ctx, "a1") }), a1)

		// The partial unique index refuses a second open assignment of d1,
		// even though nothing in fn checked for it.
		a2 := fleet.Assignment{ID: "a2", DeviceID: "d1", OfficerID: "o2", UnitID: "c1x",
			StartAt: at(1, 9, 0), StartBy: "admin"}
		err := s.Update(ctx, func(tx fleet.Tx) error { return tx.CreateAssignment(ctx, a2) })
		wantErr(t, err, fleet.ECONFLICT, "device_id")

		ended := a1
		end := at(1, 18, 0)
		ended.EndAt, ended.EndBy, ended.EndReason = &end, "admin", "returned"
		update(t, s, func(tx fleet.Tx) error { return tx.EndAssignment(ctx, ended) })
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Assignment, error) { return tx.Assignment(ctx, "a1") }), ended)
		err = s.Update(ctx, func(tx fleet.Tx) error { return tx.EndAssignment(ctx, ended) })
		wantErr(t, err, fleet.ECONFLICT, "")

		// With a1 closed, d1 can go out again.
		a3 := fleet.Assignment{ID: "a3", DeviceID: "d2", OfficerID: "o2", UnitID: "c1x",
			StartAt: at(1, 10, 0), StartBy: "admin"}
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateAssignment(ctx, a2); err != nil {
				return err
			}
			return tx.CreateAssignment(ctx, a3)
		})

		for _, tc := range []struct {
			name string
			f    fleet.AssignmentFilter
			want []string
		}{
			{"all", fleet.AssignmentFilter{}, []string{"a1", "a2", "a3"}},
			{"open", fleet.AssignmentFilter{OpenOnly: true}, []string{"a2", "a3"}},
			{"device", fleet.AssignmentFilter{DeviceID: "d1"}, []string{"a1", "a2"}},
			{"officer open", fleet.AssignmentFilter{OfficerID: "o2", OpenOnly: true}, []string{"a2", "a3"}},
			{"scope by the assignment's unit", fleet.AssignmentFilter{Scope: tr.c1.Path}, []string{"a1"}},
			{"sibling scope", fleet.AssignmentFilter{Scope: tr.c1x.Path, DeviceID: "d1"}, []string{"a2"}},
		} {
			got := get(t, s, func(tx fleet.Tx) ([]fleet.Assignment, error) {
				a, _, err := tx.Assignments(ctx, tc.f)
				return a, err
			})
			if g := ids(got, func(a fleet.Assignment) string { return a.ID }); !slices.Equal(g, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, g, tc.want)
			}
		}

		err = s.Update(ctx, func(tx fleet.Tx) error { return tx.EndAssignment(ctx, fleet.Assignment{ID: "a3"}) })
		wantErr(t, err, fleet.EINVALID, "end_at")
	})
}

func TestUsersAndSessions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		root := fleet.User{ID: "u0", Username: "root", Name: "Root", Role: fleet.RoleAdmin,
			PasswordHash: "pw", CreatedAt: at(1, 0, 0), Version: 1}
		station := user("u1", tr.s1)
		station.OfficerID = "o1"
		sibling := user("u2", tr.c1x)
		sibling.Disabled = true
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateOfficer(ctx, officer("o1", tr.s1)); err != nil {
				return err
			}
			for _, u := range []fleet.User{root, station, sibling} {
				if err := tx.CreateUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.User, error) { return tx.User(ctx, "u0") }), root)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.User, error) { return tx.User(ctx, "u1") }), station)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.User, error) { return tx.UserByUsername(ctx, "user-u2") }), sibling)
		if n := get(t, s, func(tx fleet.Tx) (int, error) { return tx.CountUsers(ctx) }); n != 3 {
			t.Errorf("CountUsers = %d, want 3", n)
		}

		promoted := station
		promoted.Role = fleet.RoleCommander
		promoted.UnitID, promoted.UnitPath = tr.c1.ID, tr.c1.Path
		promoted.OfficerID = ""
		update(t, s, func(tx fleet.Tx) error { return tx.UpdateUser(ctx, promoted) })
		promoted.Version = 2
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.User, error) { return tx.User(ctx, "u1") }), promoted)

		sess := fleet.Session{TokenHash: "th1", UserID: "u1", CreatedAt: at(1, 8, 0), ExpiresAt: at(2, 8, 0)}
		update(t, s, func(tx fleet.Tx) error { return tx.CreateSession(ctx, sess) })
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Session, error) { return tx.Session(ctx, "th1") }), sess)
		update(t, s, func(tx fleet.Tx) error { return tx.DeleteSession(ctx, "th1") })
		err := s.View(ctx, func(tx fleet.Tx) error { _, err := tx.Session(ctx, "th1"); return err })
		wantErr(t, err, fleet.ENOTFOUND, "")
		err = s.Update(ctx, func(tx fleet.Tx) error { return tx.DeleteSession(ctx, "th1") })
		wantErr(t, err, fleet.ENOTFOUND, "")
	})
}

func TestAudit(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		entries := []fleet.AuditEntry{
			{At: at(1, 8, 0), ActorID: "u0", Actor: "root", Action: "sign_in", Entity: "session", EntityID: "x"},
			{At: at(1, 9, 0), ActorID: "u1", Actor: "alice", Action: "create", Entity: "device", EntityID: "d1",
				UnitID: tr.s1.ID, After: json.RawMessage(`{"serial":"SN-1"}`)},
			{At: at(1, 10, 0), ActorID: "u1", Actor: "alice", Action: "update", Entity: "device", EntityID: "d1",
				UnitID: tr.s1.ID, Before: json.RawMessage(`{"serial":"SN-1"}`),
				After: json.RawMessage(`{"serial":"SN-2"}`), Reason: "typo"},
			{At: at(1, 11, 0), ActorID: "u2", Actor: "bob", Action: "create", Entity: "device", EntityID: "d2",
				UnitID: tr.c1x.ID},
		}
		update(t, s, func(tx fleet.Tx) error {
			for i := range entries {
				if err := tx.AppendAudit(ctx, &entries[i]); err != nil {
					return err
				}
			}
			return nil
		})
		for i := 1; i < len(entries); i++ {
			if entries[i].Seq <= entries[i-1].Seq {
				t.Fatalf("seqs not increasing: %d then %d", entries[i-1].Seq, entries[i].Seq)
			}
		}

		list := func(f fleet.AuditFilter) ([]fleet.AuditEntry, string) {
			var (
				es   []fleet.AuditEntry
				next string
			)
			view(t, s, func(tx fleet.Tx) (err error) { es, next, err = tx.Audit(ctx, f); return err })
			return es, next
		}
		all, _ := list(fleet.AuditFilter{})
		wantEqual(t, all, []fleet.AuditEntry{entries[3], entries[2], entries[1], entries[0]})

		seqs := func(es []fleet.AuditEntry) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.Seq)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    fleet.AuditFilter
			want []int
		}{
			{"subtree leaves out sibling and unit-less entries", fleet.AuditFilter{Scope: tr.c1.Path}, []int{2, 1}},
			{"sibling", fleet.AuditFilter{Scope: tr.c1x.Path}, []int{3}},
			{"wildcard unit", fleet.AuditFilter{Scope: tr.cu1.Path}, nil},
			{"province", fleet.AuditFilter{Scope: tr.p.Path}, []int{3, 2, 1}},
			{"entity", fleet.AuditFilter{Entity: "device", EntityID: "d1"}, []int{2, 1}},
			{"actor", fleet.AuditFilter{ActorID: "u0"}, []int{0}},
		} {
			got, _ := list(tc.f)
			var want []int64
			for _, i := range tc.want {
				want = append(want, entries[i].Seq)
			}
			if !slices.Equal(seqs(got), want) {
				t.Errorf("%s: got seqs %v, want %v", tc.name, seqs(got), want)
			}
		}

		// Pages newest first, the cursor a seq.
		page1, next := list(fleet.AuditFilter{Page: fleet.Page{Limit: 3}})
		page2, end := list(fleet.AuditFilter{Page: fleet.Page{Limit: 3, After: next}})
		if got := append(seqs(page1), seqs(page2)...); !slices.Equal(got, seqs(all)) || end != "" {
			t.Errorf("pages = %v then cursor %q, want %v", got, end, seqs(all))
		}
		err := s.View(ctx, func(tx fleet.Tx) error {
			_, _, err := tx.Audit(ctx, fleet.AuditFilter{Page: fleet.Page{After: "x'; --"}})
			return err
		})
		wantErr(t, err, fleet.EINVALID, "after")
	})
}

func TestAuditAppendOnlyInDatabase(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		ctx := t.Context()
		e := fleet.AuditEntry{At: at(1, 8, 0), ActorID: "u0", Actor: "root", Action: "sign_in", Entity: "session"}
		update(t, s, func(tx fleet.Tx) error { return tx.AppendAudit(ctx, &e) })

		// Straight to the database, past the store: the triggers refuse.
		stmts := []string{
			"UPDATE audit_log SET actor = 'mallory'",
			"DELETE FROM audit_log",
			"DELETE FROM audit_log WHERE seq = " + strconv.FormatInt(e.Seq, 10),
		}
		if s.Dialect() == sqlstore.Postgres {
			stmts = append(stmts, "TRUNCATE audit_log")
		}
		for _, q := range stmts {
			if _, err := s.SQL().ExecContext(ctx, q); err == nil {
				t.Errorf("%q succeeded on the audit log", q)
			}
		}
		var n int
		var actor string
		if err := s.SQL().QueryRowContext(ctx, "SELECT COUNT(*), MAX(actor) FROM audit_log").Scan(&n, &actor); err != nil {
			t.Fatal(err)
		}
		if n != 1 || actor != "root" {
			t.Errorf("audit log now has %d rows, actor %q; want it untouched", n, actor)
		}
	})
}

func TestPagination(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		const total = 520 // more than the largest page
		var want []string
		update(t, s, func(tx fleet.Tx) error {
			for i := range total {
				d := device(fmt.Sprintf("d%04d", i), tr.s1)
				want = append(want, d.ID)
				if err := tx.CreateDevice(ctx, d); err != nil {
					return err
				}
			}
			return nil
		})
		page := func(p fleet.Page) ([]string, string) {
			var (
				ds   []fleet.Device
				next string
			)
			view(t, s, func(tx fleet.Tx) (err error) {
				ds, next, err = tx.Devices(ctx, fleet.DeviceFilter{Scope: tr.c1.Path, Page: p})
				return err
			})
			return ids(ds, deviceID), next
		}

		// Walk every page of 200: 200, 200, 120.
		var got []string
		after, pages := "", 0
		for {
			items, next := page(fleet.Page{Limit: 200, After: after})
			got = append(got, items...)
			pages++
			if next == "" {
				break
			}
			if next != items[len(items)-1] {
				t.Fatalf("cursor %q is not the last id of the page", next)
			}
			after = next
		}
		if pages != 3 || !slices.Equal(got, want) {
			t.Fatalf("%d pages with %d items, want 3 pages with all %d in order", pages, len(got), total)
		}

		for _, tc := range []struct {
			name  string
			p     fleet.Page
			count int
			next  string
		}{
			{"default limit", fleet.Page{}, 50, "d0049"},
			{"negative limit", fleet.Page{Limit: -1}, 50, "d0049"},
			{"capped at 500", fleet.Page{Limit: 100000}, 500, "d0499"},
			{"exactly the rest", fleet.Page{Limit: 20, After: "d0499"}, 20, ""},
			{"past the end", fleet.Page{After: "d9999"}, 0, ""},
		} {
			items, next := page(tc.p)
			if len(items) != tc.count || next != tc.next {
				t.Errorf("%s: %d items, next %q; want %d, %q", tc.name, len(items), next, tc.count, tc.next)
			}
		}
	})
}

func TestScopes(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		// One officer, device, user and audit entry in each unit, named
		// after it; plus a root user and an audit entry with no unit.
		units := []fleet.Unit{tr.p, tr.c1, tr.s1, tr.c1x, tr.cu1, tr.cz1}
		update(t, s, func(tx fleet.Tx) error {
			for _, u := range units {
				e := fleet.AuditEntry{At: at(1, 8, 0), ActorID: "u0", Actor: "root", Action: "create",
					Entity: "unit", EntityID: u.ID, UnitID: u.ID}
				for _, err := range []error{
					tx.CreateOfficer(ctx, officer("o-"+u.ID, u)),
					tx.CreateDevice(ctx, device("d-"+u.ID, u)),
					tx.CreateUser(ctx, user("u-"+u.ID, u)),
					tx.AppendAudit(ctx, &e),
				} {
					if err != nil {
						return err
					}
				}
			}
			e := fleet.AuditEntry{At: at(1, 8, 0), ActorID: "u0", Actor: "root", Action: "sign_in",
				Entity: "session", EntityID: "-"}
			if err := tx.AppendAudit(ctx, &e); err != nil {
				return err
			}
			return tx.CreateUser(ctx, fleet.User{ID: "u-root", Username: "root", Role: fleet.RoleAdmin,
				CreatedAt: at(1, 0, 0)})
		})

		type scoped struct{ officers, devices, users, audit []string }
		read := func(scope string) scoped {
			var r scoped
			view(t, s, func(tx fleet.Tx) error {
				os, _, err := tx.Officers(ctx, fleet.OfficerFilter{Scope: scope})
				if err != nil {
					return err
				}
				ds, _, err := tx.Devices(ctx, fleet.DeviceFilter{Scope: scope})
				if err != nil {
					return err
				}
				us, _, err := tx.Users(ctx, fleet.UserFilter{Scope: scope})
				if err != nil {
					return err
				}
				es, _, err := tx.Audit(ctx, fleet.AuditFilter{Scope: scope})
				if err != nil {
					return err
				}
				r.officers, r.devices, r.users = ids(os, officerID), ids(ds, deviceID), ids(us, userID)
				r.audit = []string{}
				for _, e := range es {
					r.audit = append(r.audit, e.EntityID)
				}
				slices.Sort(r.audit)
				return nil
			})
			return r
		}
		prefixed := func(prefix string, ids ...string) []string {
			out := []string{}
			for _, id := range ids {
				out = append(out, prefix+id)
			}
			return out
		}
		for _, tc := range []struct {
			scope string
			units []string // whose records are visible, in id order
			extra bool     // plus the unit-less user and audit entry
		}{
			{"", []string{"c1", "c1x", "c_1", "cz1", "p", "s1"}, true},
			{"/p/", []string{"c1", "c1x", "c_1", "cz1", "p", "s1"}, false},
			{"/p/c1/", []string{"c1", "s1"}, false},
			{"/p/c1/s1/", []string{"s1"}, false},
			{"/p/c1x/", []string{"c1x"}, false},
			{"/p/c_1/", []string{"c_1"}, false},
			{"/q/", []string{}, false},
		} {
			got := read(tc.scope)
			want := scoped{
				officers: prefixed("o-", tc.units...),
				devices:  prefixed("d-", tc.units...),
				users:    prefixed("u-", tc.units...),
				audit:    slices.Clone(tc.units),
			}
			if tc.extra {
				want.users = append(want.users, "u-root")
				slices.Sort(want.users)
				want.audit = append(want.audit, "-")
				slices.Sort(want.audit)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("scope %q:\n got %+v\nwant %+v", tc.scope, got, want)
			}
		}
	})
}

func TestUniqueConflicts(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		update(t, s, func(tx fleet.Tx) error {
			for _, err := range []error{
				tx.CreateOfficer(ctx, officer("o1", tr.s1)),
				tx.CreateDevice(ctx, device("d1", tr.s1)),
				tx.CreateDevice(ctx, device("d2", tr.s1)),
				tx.CreateUser(ctx, user("u1", tr.s1)),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		})
		for _, tc := range []struct {
			name  string
			fn    func(fleet.Tx) error
			field string
		}{
			{"serial", func(tx fleet.Tx) error {
				d := device("d3", tr.c1x)
				d.Serial = "SN-d1"
				return tx.CreateDevice(ctx, d)
			}, "serial"},
			{"serial on update", func(tx fleet.Tx) error {
				d := device("d2", tr.s1)
				d.Serial = "SN-d1"
				return tx.UpdateDevice(ctx, d)
			}, "serial"},
			{"badge", func(tx fleet.Tx) error {
				o := officer("o2", tr.c1x)
				o.BadgeNo = "B-o1"
				return tx.CreateOfficer(ctx, o)
			}, "badge_no"},
			{"unit code", func(tx fleet.Tx) error {
				u := child(tr.c1x, "s9", fleet.LevelStation)
				u.Code = tr.s1.Code
				return tx.CreateUnit(ctx, u)
			}, "code"},
			{"username", func(tx fleet.Tx) error {
				u := user("u2", tr.c1x)
				u.Username = "user-u1"
				return tx.CreateUser(ctx, u)
			}, "username"},
			{"device id", func(tx fleet.Tx) error {
				d := device("d1", tr.s1)
				d.Serial = "SN-other"
				return tx.CreateDevice(ctx, d)
			}, "id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, s.Update(ctx, tc.fn), fleet.ECONFLICT, tc.field)
			})
		}
	})
}

func TestForeignKeys(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateOfficer(ctx, officer("o1", tr.s1)); err != nil {
				return err
			}
			return tx.CreateDevice(ctx, device("d1", tr.s1))
		})
		ghost := fleet.Unit{ID: "ghost", Path: "/ghost/"}
		for _, tc := range []struct {
			name  string
			fn    func(fleet.Tx) error
			field string
		}{
			{"device unit", func(tx fleet.Tx) error { return tx.CreateDevice(ctx, device("d2", ghost)) }, "unit_id"},
			{"unit parent", func(tx fleet.Tx) error { return tx.CreateUnit(ctx, child(ghost, "s9", fleet.LevelStation)) }, "parent_id"},
			{"assignment officer", func(tx fleet.Tx) error {
				return tx.CreateAssignment(ctx, fleet.Assignment{ID: "a1", DeviceID: "d1", OfficerID: "nobody",
					UnitID: "s1", StartAt: at(1, 8, 0)})
			}, "officer_id"},
			{"user officer", func(tx fleet.Tx) error {
				u := user("u1", tr.s1)
				u.OfficerID = "nobody"
				return tx.CreateUser(ctx, u)
			}, "officer_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, s.Update(ctx, tc.fn), fleet.EINVALID, tc.field)
			})
		}
	})
}

func TestNotFound(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		for _, tc := range []struct {
			name string
			fn   func(fleet.Tx) error
		}{
			{"unit", func(tx fleet.Tx) error { _, err := tx.Unit(ctx, "nope"); return err }},
			{"unit by code", func(tx fleet.Tx) error { _, err := tx.UnitByCode(ctx, "nope"); return err }},
			{"officer", func(tx fleet.Tx) error { _, err := tx.Officer(ctx, "nope"); return err }},
			{"officer by badge", func(tx fleet.Tx) error { _, err := tx.OfficerByBadge(ctx, "nope"); return err }},
			{"device", func(tx fleet.Tx) error { _, err := tx.Device(ctx, "nope"); return err }},
			{"device by serial", func(tx fleet.Tx) error { _, err := tx.DeviceBySerial(ctx, "nope"); return err }},
			{"assignment", func(tx fleet.Tx) error { _, err := tx.Assignment(ctx, "nope"); return err }},
			{"user", func(tx fleet.Tx) error { _, err := tx.User(ctx, "nope"); return err }},
			{"user by name", func(tx fleet.Tx) error { _, err := tx.UserByUsername(ctx, "nope"); return err }},
			{"session", func(tx fleet.Tx) error { _, err := tx.Session(ctx, "nope"); return err }},
			{"update unit", func(tx fleet.Tx) error { return tx.UpdateUnit(ctx, child(tr.p, "nope", fleet.LevelCity), "") }},
			{"update officer", func(tx fleet.Tx) error { return tx.UpdateOfficer(ctx, officer("nope", tr.s1)) }},
			{"update device", func(tx fleet.Tx) error { return tx.UpdateDevice(ctx, device("nope", tr.s1)) }},
			{"update user", func(tx fleet.Tx) error { return tx.UpdateUser(ctx, user("nope", tr.s1)) }},
			{"end assignment", func(tx fleet.Tx) error {
				end := at(1, 8, 0)
				return tx.EndAssignment(ctx, fleet.Assignment{ID: "nope", EndAt: &end})
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := s.Update(ctx, tc.fn)
				wantErr(t, err, fleet.ENOTFOUND, "")
				if fleet.ErrorMessage(err) == "not found" {
					t.Errorf("message %q does not name the entity", fleet.ErrorMessage(err))
				}
			})
		}
	})
}

func TestSQLLookingInputIsData(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		evil := child(tr.p, "e1", fleet.LevelCity)
		evil.Name = `'; DROP TABLE units; --`
		evil.Code = `x' OR '1'='1`
		o := officer("o1", tr.s1)
		o.Name = `Robert'); DROP TABLE officers;--`
		d1 := device("d1", tr.s1)
		d1.Model = `100%_off\`
		d1.Serial = `"; DELETE FROM devices; --`
		d2 := device("d2", tr.s1)
		d2.Model = "plain"
		update(t, s, func(tx fleet.Tx) error {
			for _, err := range []error{
				tx.CreateUnit(ctx, evil), tx.CreateOfficer(ctx, o),
				tx.CreateDevice(ctx, d1), tx.CreateDevice(ctx, d2),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		})
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.UnitByCode(ctx, evil.Code) }), evil)
		wantEqual(t, get(t, s, func(tx fleet.Tx) (fleet.Device, error) { return tx.DeviceBySerial(ctx, d1.Serial) }), d1)
		err := s.View(ctx, func(tx fleet.Tx) error { _, err := tx.UnitByCode(ctx, `' OR ''='`); return err })
		wantErr(t, err, fleet.ENOTFOUND, "")

		// LIKE's wildcards and the escape character in a query are literal.
		for _, q := range []string{"%", "_", `\`, "0%_", `'); drop`} {
			got := get(t, s, func(tx fleet.Tx) ([]string, error) {
				ds, _, err := tx.Devices(ctx, fleet.DeviceFilter{Query: q})
				if err != nil {
					return nil, err
				}
				os, _, err := tx.Officers(ctx, fleet.OfficerFilter{Query: q})
				return append(ids(ds, deviceID), ids(os, officerID)...), err
			})
			want := []string{"d1"}
			if q == `'); drop` {
				want = []string{"o1"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("query %q matched %v, want %v", q, got, want)
			}
		}
		if n := len(get(t, s, func(tx fleet.Tx) ([]fleet.Unit, error) {
			u, _, err := tx.Units(ctx, fleet.UnitFilter{})
			return u, err
		})); n != 7 {
			t.Errorf("%d units left, want 7", n)
		}
	})
}

func TestOptimisticVersions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		update(t, s, func(tx fleet.Tx) error {
			for _, err := range []error{
				tx.CreateOfficer(ctx, officer("o1", tr.s1)),
				tx.CreateDevice(ctx, device("d1", tr.s1)),
				tx.CreateUser(ctx, user("u1", tr.s1)),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		})
		for _, tc := range []struct {
			name    string
			save    func(tx fleet.Tx, version int) error
			version func(tx fleet.Tx) (int, error)
		}{
			{"unit", func(tx fleet.Tx, v int) error {
				u := tr.s1
				u.Version, u.Name = v, fmt.Sprint("v", v)
				return tx.UpdateUnit(ctx, u, u.Path)
			}, func(tx fleet.Tx) (int, error) { u, err := tx.Unit(ctx, "s1"); return u.Version, err }},
			{"officer", func(tx fleet.Tx, v int) error {
				o := officer("o1", tr.s1)
				o.Version, o.Name = v, fmt.Sprint("v", v)
				return tx.UpdateOfficer(ctx, o)
			}, func(tx fleet.Tx) (int, error) { o, err := tx.Officer(ctx, "o1"); return o.Version, err }},
			{"device", func(tx fleet.Tx, v int) error {
				d := device("d1", tr.s1)
				d.Version, d.Model = v, fmt.Sprint("v", v)
				return tx.UpdateDevice(ctx, d)
			}, func(tx fleet.Tx) (int, error) { d, err := tx.Device(ctx, "d1"); return d.Version, err }},
			{"user", func(tx fleet.Tx, v int) error {
				u := user("u1", tr.s1)
				u.Version, u.Name = v, fmt.Sprint("v", v)
				return tx.UpdateUser(ctx, u)
			}, func(tx fleet.Tx) (int, error) { u, err := tx.User(ctx, "u1"); return u.Version, err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				update(t, s, func(tx fleet.Tx) error { return tc.save(tx, 1) })
				if v := get(t, s, tc.version); v != 2 {
					t.Fatalf("version after one save = %d, want 2", v)
				}
				// A second save of the copy read at version 1 lost the race.
				wantErr(t, s.Update(ctx, func(tx fleet.Tx) error { return tc.save(tx, 1) }), fleet.ECONFLICT, "version")
				update(t, s, func(tx fleet.Tx) error { return tc.save(tx, 2) })
				if v := get(t, s, tc.version); v != 3 {
					t.Fatalf("version after two saves = %d, want 3", v)
				}
			})
		}
	})
}

// Writers must run one at a time: each reads a counter and writes it back
// plus one at the version it read. Interleaved, two would read the same
// version and one would fail with a conflict.
func TestUpdateSerialisesWriters(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()
		const workers, rounds = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for range workers {
			wg.Go(func() {
				for range rounds {
					errs <- s.Update(ctx, func(tx fleet.Tx) error {
						u, err := tx.Unit(ctx, tr.cz1.ID)
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(u.Name)
						u.Name = strconv.Itoa(n + 1)
						return tx.UpdateUnit(ctx, u, u.Path)
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent update: %v", err)
			}
		}
		u := get(t, s, func(tx fleet.Tx) (fleet.Unit, error) { return tx.Unit(ctx, tr.cz1.ID) })
		if u.Name != strconv.Itoa(workers*rounds) || u.Version != 1+workers*rounds {
			t.Errorf("counter = %s at version %d, want %d at %d", u.Name, u.Version, workers*rounds, 1+workers*rounds)
		}
	})
}

func TestTransactions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.DB) {
		tr := seed(t, s)
		ctx := t.Context()

		// fn's error rolls everything back and comes back unchanged.
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx fleet.Tx) error {
			if err := tx.CreateUnit(ctx, child(tr.p, "gone", fleet.LevelCity)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		err = s.View(ctx, func(tx fleet.Tx) error { _, err := tx.Unit(ctx, "gone"); return err })
		wantErr(t, err, fleet.ENOTFOUND, "")

		// A View cannot write.
		err = s.View(ctx, func(tx fleet.Tx) error { return tx.CreateUnit(ctx, child(tr.p, "w", fleet.LevelCity)) })
		if err == nil {
			t.Fatal("a write in View succeeded")
		}

		// A View neither waits for a writer in progress nor sees its work.
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		update(t, s, func(tx fleet.Tx) error {
			if err := tx.CreateUnit(ctx, child(tr.p, "pending", fleet.LevelCity)); err != nil {
				return err
			}
			err := s.View(waitCtx, func(tx fleet.Tx) error { _, err := tx.Unit(waitCtx, "pending"); return err })
			if fleet.ErrorCode(err) != fleet.ENOTFOUND {
				return fmt.Errorf("view during update: %v, want not found without waiting", err)
			}
			return nil
		})
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	sqltest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		versions := func(s *sqlstore.DB) int {
			var n int
			if err := s.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		first, err := sqlstore.Open(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		update(t, first, func(tx fleet.Tx) error {
			return tx.CreateUnit(ctx, child(fleet.Unit{Path: "/"}, "p", fleet.LevelProvince))
		})
		n := versions(first)
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			again := sqltest.Open(t, dsn)
			if got := versions(again); got != n {
				t.Errorf("goose_db_version has %d rows after reopening, had %d", got, n)
			}
			if u := get(t, again, func(tx fleet.Tx) (fleet.Unit, error) { return tx.Unit(ctx, "p") }); u.Path != "/p/" {
				t.Errorf("unit after reopen = %+v", u)
			}
		}
	})
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite:" + filepath.Join(dir, "prefixed.db"),
		"file:" + filepath.Join(dir, "uri.db") + "?cache=private",
		filepath.Join(dir, "odd?name#1%.db"),
	} {
		s := sqltest.Open(t, dsn)
		if s.Dialect() != sqlstore.SQLite {
			t.Errorf("%s opened as %s", dsn, s.Dialect())
		}
		update(t, s, func(tx fleet.Tx) error {
			return tx.CreateUnit(t.Context(), child(fleet.Unit{Path: "/"}, "p", fleet.LevelProvince))
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "odd?name#1%.db")); err != nil {
		t.Errorf("file name with URI characters: %v", err)
	}
	for _, dsn := range []string{":memory:", "file::memory:?cache=shared"} {
		if s, err := sqlstore.Open(t.Context(), dsn, nil); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded; an in-memory database cannot be shared by readers and writer", dsn)
		}
	}
}
