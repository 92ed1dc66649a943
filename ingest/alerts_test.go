package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
)

func newAlerts(t *testing.T, assign AssignmentChecker) (*Alerts, *MemoryAlertStore, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	store := NewMemoryAlertStore(100)
	a, err := NewAlerts(AlertsConfig{}, store, assign, nil, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a, store, reg
}

func openAlerts(t *testing.T, a *Alerts) []Alert {
	t.Helper()
	got, err := a.List(context.Background(), AlertFilter{OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func actions(a Alert) string {
	var s []string
	for _, st := range a.Timeline {
		s = append(s, st.Action+":"+st.By)
	}
	return strings.Join(s, ",")
}

func TestAlertSOS(t *testing.T) {
	ctx := context.Background()
	a, _, reg := newAlerts(t, nil)
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now.Add(time.Minute) }
	lat, lon := 30.5, 114.3
	where := &LivePosition{Lat: &lat, Lon: &lon, TS: now}

	a.Event(ctx, refA, devices.Event{Time: now, Type: devices.EventSOS, Detail: "button"}, now, where)
	a.Event(ctx, refA, devices.Event{Time: now, Type: devices.EventSOS}, now.Add(time.Second), where)
	open := openAlerts(t, a)
	if len(open) != 1 {
		t.Fatalf("%d open alerts after two SOS, want 1", len(open))
	}
	al := open[0]
	if al.Kind != AlertSOS || al.Priority != PriorityCritical || al.Repeats != 1 || *al.Lat != 30.5 ||
		al.UnitID != "unit_a" || !al.RaisedAt.Equal(now) || al.Detail != "button" {
		t.Fatalf("alert %+v", al)
	}
	if got := metric(t, reg, "fleet_alerts_raised_total", "kind", "sos"); got != 1 {
		t.Errorf("raised_total = %v", got)
	}

	acked, err := a.Ack(ctx, al.ID, "usr_cmdr", "dispatched patrol 3")
	if err != nil {
		t.Fatal(err)
	}
	if acked.AckedBy != "usr_cmdr" || !acked.AckedAt.Equal(now.Add(time.Minute)) || !acked.Open() {
		t.Fatalf("acked %+v", acked)
	}
	if _, err := a.Ack(ctx, al.ID, "usr_other", ""); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Fatalf("second ack: %v", err)
	}

	// SOS again after the ack: same alert, reopened for attention.
	a.Event(ctx, refA, devices.Event{Time: now, Type: devices.EventSOS}, now.Add(2*time.Minute), nil)
	open = openAlerts(t, a)
	if len(open) != 1 || open[0].ID != al.ID || open[0].AckedAt != nil || open[0].Repeats != 2 {
		t.Fatalf("after SOS following ack: %+v", open)
	}
	if _, err := a.Ack(ctx, al.ID, "usr_cmdr", ""); err != nil {
		t.Fatalf("ack after reopen: %v", err)
	}

	a.Event(ctx, refA, devices.Event{Time: now, Type: devices.EventSOSClear}, now.Add(3*time.Minute), nil)
	if len(openAlerts(t, a)) != 0 {
		t.Fatal("sos_clear did not clear")
	}
	got, err := a.Get(ctx, al.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClearedBy != ByDevice || !got.ClearedAt.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("cleared %+v", got)
	}
	if want := "raised:device,acked:usr_cmdr,reopened:device,acked:usr_cmdr,cleared:device"; actions(got) != want {
		t.Fatalf("timeline %s, want %s", actions(got), want)
	}
	if got.Timeline[1].Note != "dispatched patrol 3" {
		t.Errorf("ack note %q", got.Timeline[1].Note)
	}

	// A new SOS after the clear is a new alert.
	a.Event(ctx, refA, devices.Event{Time: now, Type: devices.EventSOS}, now.Add(4*time.Minute), nil)
	if open := openAlerts(t, a); len(open) != 1 || open[0].ID == al.ID {
		t.Fatalf("SOS after clear: %+v", open)
	}
}

func TestAlertBattery(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newAlerts(t, nil)
	now := time.Now()
	sample := func(payload string) *devices.Telemetry {
		return &decode(t, `{"ts":`+ms(now)+`,`+payload+`}`, now)[0]
	}
	steps := []struct {
		payload string
		open    int
	}{
		{`"battery_pct":50`, 0},
		{`"battery_pct":10,"charging":true`, 0}, // docked: no alert
		{`"battery_pct":14`, 1},
		{`"battery_pct":12`, 1}, // not raised twice
		{`"battery_pct":17`, 1}, // between the thresholds: still open
		{`"battery_pct":20`, 0},
		{`"battery_pct":5`, 1},
		{`"battery_pct":5,"charging":true`, 0},
		{`"storage_free_mb":40,"storage_total_mb":1000`, 1},
		{`"storage_free_mb":80,"storage_total_mb":1000`, 1},
		{`"storage_free_mb":100,"storage_total_mb":1000`, 0},
		{`"storage_free_mb":0,"storage_total_mb":0`, 0}, // no card: no ratio
	}
	for i, s := range steps {
		a.Telemetry(ctx, refA, sample(s.payload), now)
		if got := len(openAlerts(t, a)); got != s.open {
			t.Fatalf("step %d (%s): %d open alerts, want %d", i, s.payload, got, s.open)
		}
	}
	a.Event(ctx, refA, devices.Event{Type: devices.EventStorageFull}, now, nil)
	a.Event(ctx, refA, devices.Event{Type: devices.EventLowBattery}, now, nil)
	open := openAlerts(t, a)
	if len(open) != 2 || open[0].Priority != PriorityWarning {
		t.Fatalf("events: %+v", open)
	}
}

func TestAlertTamperAndResolve(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newAlerts(t, nil)
	now := time.Now()
	a.Event(ctx, refA, devices.Event{Type: devices.EventTamper}, now, nil)
	al := openAlerts(t, a)[0]
	acked, err := a.Ack(ctx, al.ID, "usr_1", "seal checked")
	if err != nil || acked.Open() || acked.ClearedBy != "usr_1" {
		t.Fatalf("ack of tamper: %+v, %v", acked, err)
	}

	a.Event(ctx, refA, devices.Event{Type: devices.EventSOS}, now, nil)
	sos := openAlerts(t, a)[0]
	if _, err := a.Resolve(ctx, sos.ID, "usr_1", "false alarm, officer called in"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Resolve(ctx, sos.ID, "usr_1", ""); fleet.ErrorCode(err) != fleet.ECONFLICT {
		t.Fatalf("second resolve: %v", err)
	}
	// A cleared, unacknowledged alert can still be acknowledged once.
	if got, err := a.Ack(ctx, sos.ID, "usr_2", ""); err != nil || got.AckedBy != "usr_2" {
		t.Fatalf("ack of a cleared alert: %+v %v", got, err)
	}

	for _, tt := range []struct {
		id, user, note, code string
	}{
		{"alr_none", "usr_1", "", fleet.ENOTFOUND},
		{sos.ID, "", "", fleet.EINVALID},
		{sos.ID, "usr_1", strings.Repeat("长", MaxAckNote+1), fleet.EINVALID},
	} {
		if _, err := a.Ack(ctx, tt.id, tt.user, tt.note); fleet.ErrorCode(err) != tt.code {
			t.Errorf("Ack(%q, %q): %v, want %s", tt.id, tt.user, err, tt.code)
		}
	}
}

func TestAlertOffline(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newAlerts(t, assignments{"rec1": true})
	now := time.Now()
	a.Offline(ctx, refA, now)
	a.Offline(ctx, refA, now)
	a.Offline(ctx, DeviceRef{ID: "rec9"}, now) // not assigned
	open := openAlerts(t, a)
	if len(open) != 1 || open[0].Kind != AlertOffline || open[0].Timeline[0].By != BySystem {
		t.Fatalf("open %+v", open)
	}
	a.Online(ctx, refA, now)
	if len(openAlerts(t, a)) != 0 {
		t.Fatal("online did not clear")
	}
	// Without an assignment checker nothing is raised.
	b, _, _ := newAlerts(t, nil)
	b.Offline(ctx, refA, now)
	if len(openAlerts(t, b)) != 0 {
		t.Fatal("offline alert without assignment checker")
	}
}

func TestAlertRestore(t *testing.T) {
	ctx := context.Background()
	a, store, _ := newAlerts(t, nil)
	now := time.Now()
	a.Event(ctx, refA, devices.Event{Type: devices.EventSOS}, now, nil)
	b, err := NewAlerts(AlertsConfig{}, store, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	b.Event(ctx, refA, devices.Event{Type: devices.EventSOS}, now, nil)
	if open := openAlerts(t, b); len(open) != 1 || open[0].Repeats != 1 {
		t.Fatalf("after restore: %+v", open)
	}
}

func TestMemoryAlertStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryAlertStore(3)
	cleared := time.Now()
	for i, id := range []string{"a1", "a2", "a3", "a4"} {
		al := Alert{ID: id, Kind: AlertSOS, UnitID: "u", Version: 1}
		if i == 1 {
			al.ClearedAt = &cleared
		}
		if err := s.SaveAlert(ctx, al); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Alert(ctx, "a2"); fleet.ErrorCode(err) != fleet.ENOTFOUND {
		t.Fatalf("the oldest cleared alert was not the one forgotten: %v", err)
	}
	got, _ := s.Alerts(ctx, AlertFilter{})
	if len(got) != 3 || got[0].ID != "a4" || got[2].ID != "a1" {
		t.Fatalf("list %+v", got)
	}
	// A stale save does not overwrite a newer version.
	_ = s.SaveAlert(ctx, Alert{ID: "a4", Version: 3, Detail: "new"})
	_ = s.SaveAlert(ctx, Alert{ID: "a4", Version: 2, Detail: "old"})
	if al, _ := s.Alert(ctx, "a4"); al.Detail != "new" {
		t.Fatalf("stale save won: %+v", al)
	}
	if got, _ := s.Alerts(ctx, AlertFilter{Limit: 1, Scope: func(u string) bool { return u == "u" }}); len(got) != 1 || got[0].ID != "a3" {
		t.Fatalf("scoped, limited list %+v", got)
	}
}
