package alertstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/alertstore"
)

// The register's database is what the store runs on in production.
var _ alertstore.Records = (*sqlstore.DB)(nil)

var t0 = time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC)

// units creates a province with two counties and returns the counties.
func units(t *testing.T, db *sqlstore.DB) (a, b fleet.Unit) {
	t.Helper()
	ctx := context.Background()
	reg := fleet.NewRegister(db, nil)
	root := fleet.User{ID: "test", Username: "test", Role: fleet.RoleAdmin}
	p, err := reg.CreateUnit(ctx, root, fleet.UnitInput{Code: "HB", Name: "湖北省", Level: fleet.LevelProvince})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(code string) fleet.Unit {
		u, err := reg.CreateUnit(ctx, root, fleet.UnitInput{ParentID: p.ID, Code: code, Name: code, Level: fleet.LevelCounty})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return mk("HB-A"), mk("HB-B")
}

func alert(id string, kind ingest.AlertKind, unit string, raised time.Time, version int) ingest.Alert {
	return ingest.Alert{
		ID: id, Kind: kind, Priority: kind.Priority(), DeviceID: "dev_" + id, DeviceKind: fleet.KindRecorder,
		UnitID: unit, RaisedAt: raised, LastAt: raised, Version: version,
		Timeline: []ingest.AlertStep{{At: raised, Action: ingest.ActionRaised, By: ingest.ByDevice}},
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ids(as []ingest.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func TestRoundTripKeepsHighestVersion(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ua, _ := units(t, db)
		s := alertstore.New(db)

		if _, err := s.Alert(ctx, "alr_none"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
			t.Fatalf("unknown alert: %v", err)
		}

		lat, lon := 30.59, 114.30
		v1 := alert("a1", ingest.AlertSOS, ua.ID, t0, 1)
		v1.Lat, v1.Lon, v1.PositionTS, v1.Detail = &lat, &lon, t0.Add(-time.Second), "按键求救"
		v2 := v1
		v2.Timeline = slices.Clone(v1.Timeline)
		acked := t0.Add(time.Minute)
		v2.AckedAt, v2.AckedBy, v2.Version = &acked, "usr_cmdr", 2
		v2.Timeline = append(v2.Timeline, ingest.AlertStep{At: acked, Action: ingest.ActionAcked, By: "usr_cmdr", Note: "已派巡逻车"})
		v3 := v2
		v3.Timeline = slices.Clone(v2.Timeline)
		cleared := t0.Add(2 * time.Minute)
		v3.ClearedAt, v3.ClearedBy, v3.Version = &cleared, ingest.ByDevice, 3
		v3.Timeline = append(v3.Timeline, ingest.AlertStep{At: cleared, Action: ingest.ActionCleared, By: ingest.ByDevice})

		// Out of order: the newest state must survive the stale saves.
		for _, a := range []ingest.Alert{v1, v3, v2, v1} {
			if err := s.SaveAlert(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Alert(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != asJSON(t, v3) {
			t.Fatalf("stored\n%s\nwant\n%s", asJSON(t, got), asJSON(t, v3))
		}
		// The same version again (a retried save) is harmless.
		if err := s.SaveAlert(ctx, v3); err != nil {
			t.Fatal(err)
		}
		page, _, err := s.QueryAlerts(ctx, fleet.AlertQuery{States: []fleet.AlertState{fleet.AlertCleared}})
		if err != nil || len(page) != 1 || page[0].Timeline[1].Note != "已派巡逻车" {
			t.Fatalf("cleared list %+v, %v", page, err)
		}
	})
}

func TestQueryScopeStateOrderAndPages(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ua, ub := units(t, db)
		s := alertstore.New(db)
		ack := t0.Add(time.Hour)
		save := func(a ingest.Alert) {
			t.Helper()
			if err := s.SaveAlert(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		// In county A: two SOS and three others at increasing times; one
		// battery alert acknowledged, one cleared. In county B: one SOS.
		save(alert("a_bat1", ingest.AlertLowBattery, ua.ID, t0.Add(1*time.Minute), 1))
		save(alert("a_sos1", ingest.AlertSOS, ua.ID, t0.Add(2*time.Minute), 1))
		acked := alert("a_bat2", ingest.AlertLowBattery, ua.ID, t0.Add(3*time.Minute), 2)
		acked.AckedAt, acked.AckedBy = &ack, "usr_1"
		save(acked)
		cleared := alert("a_tamp", ingest.AlertTamper, ua.ID, t0.Add(4*time.Minute), 2)
		cleared.ClearedAt = &ack
		save(cleared)
		save(alert("a_sos2", ingest.AlertSOS, ua.ID, t0.Add(5*time.Minute), 1))
		save(alert("b_sos", ingest.AlertSOS, ub.ID, t0.Add(6*time.Minute), 1))

		tests := []struct {
			name string
			q    fleet.AlertQuery
			want []string
		}{
			{"newest first, everything", fleet.AlertQuery{},
				[]string{"b_sos", "a_sos2", "a_tamp", "a_bat2", "a_sos1", "a_bat1"}},
			{"ranked: SOS first", fleet.AlertQuery{Ranked: true},
				[]string{"b_sos", "a_sos2", "a_sos1", "a_tamp", "a_bat2", "a_bat1"}},
			{"county A, ranked", fleet.AlertQuery{Scope: ua.Path, Ranked: true},
				[]string{"a_sos2", "a_sos1", "a_tamp", "a_bat2", "a_bat1"}},
			{"county B", fleet.AlertQuery{Scope: ub.Path}, []string{"b_sos"}},
			{"open", fleet.AlertQuery{Scope: ua.Path, Ranked: true, States: []fleet.AlertState{fleet.AlertOpen}},
				[]string{"a_sos2", "a_sos1", "a_bat1"}},
			{"acked", fleet.AlertQuery{States: []fleet.AlertState{fleet.AlertAcked}}, []string{"a_bat2"}},
			{"cleared", fleet.AlertQuery{States: []fleet.AlertState{fleet.AlertCleared}}, []string{"a_tamp"}},
			{"kind", fleet.AlertQuery{Kind: "low_battery"}, []string{"a_bat2", "a_bat1"}},
			{"device", fleet.AlertQuery{DeviceID: "dev_a_sos1"}, []string{"a_sos1"}},
			{"unit path of nothing", fleet.AlertQuery{Scope: "/nowhere/"}, nil},
		}
		for _, tt := range tests {
			for _, limit := range []int{0, 1, 2} {
				t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
					q := tt.q
					q.Limit = limit
					var got []string
					for range 20 {
						page, next, err := s.QueryAlerts(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						if limit > 0 && len(page) > limit {
							t.Fatalf("page of %d, limit %d", len(page), limit)
						}
						got = append(got, ids(page)...)
						if next == "" {
							break
						}
						q.After = next
					}
					if !slices.Equal(got, tt.want) {
						t.Fatalf("got %v, want %v", got, tt.want)
					}
				})
			}
		}

		if _, _, err := s.QueryAlerts(ctx, fleet.AlertQuery{Page: fleet.Page{After: "garbage"}}); fleet.ErrorCode(err) != fleet.EINVALID {
			t.Fatalf("bad cursor: %v", err)
		}
		// ingest's own filter: a scope function and a limit, newest first.
		inA := func(u string) bool { return u == ua.ID }
		got, err := s.Alerts(ctx, ingest.AlertFilter{Scope: inA, OpenOnly: true, Limit: 2})
		if err != nil || !slices.Equal(ids(got), []string{"a_sos2", "a_bat2"}) {
			t.Fatalf("Alerts: %v, %v", ids(got), err)
		}
	})
}

// The real alert engine on the persistent store: a restarted engine
// restores the open SOS instead of raising a second one, and an ack of an
// alert cleared meanwhile is written back.
func TestAlertsEngineRestart(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ua, _ := units(t, db)
		s := alertstore.New(db)
		ref := ingest.DeviceRef{ID: "rec1", Kind: fleet.KindRecorder, UnitID: ua.ID}

		a, err := ingest.NewAlerts(ingest.AlertsConfig{}, s, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Event(ctx, ref, devices.Event{Time: t0, Type: devices.EventSOS}, t0, nil)

		b, err := ingest.NewAlerts(ingest.AlertsConfig{}, s, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		b.Event(ctx, ref, devices.Event{Time: t0, Type: devices.EventSOS}, t0.Add(time.Second), nil)
		b.Event(ctx, ref, devices.Event{Time: t0, Type: devices.EventSOSClear}, t0.Add(2*time.Second), nil)
		all, err := s.Alerts(ctx, ingest.AlertFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].Repeats != 1 || all[0].ClearedAt == nil {
			t.Fatalf("after restart: %+v", all)
		}
		acked, err := b.Ack(ctx, all[0].ID, "usr_cmdr", "回访确认")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := s.Alert(ctx, all[0].ID)
		if err != nil || stored.AckedBy != "usr_cmdr" || stored.Version != acked.Version {
			t.Fatalf("ack of a cleared alert not stored: %+v, %v", stored, err)
		}
	})
}
