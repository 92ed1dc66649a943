package ingest

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices"
)

func decode(t *testing.T, payload string, now time.Time) []devices.Telemetry {
	t.Helper()
	s, err := devices.DecodeTelemetry([]byte(payload), now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var refA = DeviceRef{ID: "rec1", Kind: "recorder", UnitID: "unit_a"}

func TestLiveTelemetryOrder(t *testing.T) {
	l, err := NewLive(LiveConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, new := now.Add(-time.Minute), now
	if !l.ApplyTelemetry(refA, decode(t, `{"ts":`+ms(new)+`,"lat":31,"lon":115,"battery_pct":50}`, now), now) {
		t.Error("first message did not bring the device online")
	}
	// An older sample (a backlog, a reordered delivery) does not move the device back.
	if l.ApplyTelemetry(refA, decode(t, `{"ts":`+ms(old)+`,"lat":30,"lon":114,"battery_pct":90}`, now), now) {
		t.Error("came online twice")
	}
	d, _ := l.Get("rec1")
	if *d.Lat != 31 || *d.BatteryPct != 50 || !d.TS.Equal(time.UnixMilli(new.UnixMilli())) {
		t.Fatalf("older sample applied: %+v", d)
	}
	// No fix: the position stays, the status moves on.
	later := now.Add(time.Second)
	l.ApplyTelemetry(refA, decode(t, `{"ts":`+ms(later)+`,"lat":0,"lon":0,"battery_pct":49,"charging":true}`, now), now)
	d, _ = l.Get("rec1")
	if *d.Lat != 31 || *d.BatteryPct != 49 || !*d.Charging {
		t.Fatalf("after a no-fix sample: %+v", d)
	}
	// A batch applies its newest position whatever the order in the array.
	l.ApplyTelemetry(refA, decode(t, `[{"ts":`+ms(later.Add(2*time.Second))+`,"lat":33,"lon":117},{"ts":`+ms(later.Add(time.Second))+`,"lat":32,"lon":116}]`, now), now)
	d, _ = l.Get("rec1")
	if *d.Lat != 33 {
		t.Fatalf("batch: lat %v, want 33", *d.Lat)
	}
}

func TestLiveStates(t *testing.T) {
	l, _ := NewLive(LiveConfig{OfflineAfter: time.Minute}, nil, nil)
	now := time.Now()
	if !l.SetState(refA, devices.StateOnline, now) {
		t.Error("online: no change reported")
	}
	if l.SetState(refA, devices.StateOnline, now) {
		t.Error("online twice: change reported")
	}
	if !l.SetState(refA, devices.StateOffline, now) {
		t.Error("offline (will): no change reported")
	}
	if on, _ := l.ApplyEvent(refA, devices.Event{Time: now, Type: devices.EventRecordStart}, now); !on {
		t.Error("event did not bring the device online")
	}
	if d, _ := l.Get("rec1"); !*d.Recording {
		t.Error("record_start did not set recording")
	}
	if _, off := l.ApplyEvent(refA, devices.Event{Time: now, Type: devices.EventPowerOff}, now); !off {
		t.Error("power_off did not take the device offline")
	}
	if !l.Seen(refA, now) {
		t.Error("Seen did not bring the device online")
	}
	// Silence.
	if got := l.Silent(now.Add(59 * time.Second)); len(got) != 0 || l.ExpireSilent("rec1", now.Add(59*time.Second)) {
		t.Fatalf("silent too early: %v", got)
	}
	got := l.Silent(now.Add(61 * time.Second))
	if len(got) != 1 || got[0] != refA {
		t.Fatalf("silent %v", got)
	}
	l.Seen(refA, now.Add(60*time.Second)) // heard from after the sweep found it
	if l.ExpireSilent("rec1", now.Add(61*time.Second)) {
		t.Fatal("expired a device heard from since")
	}
	if !l.ExpireSilent("rec1", now.Add(3*time.Minute)) || l.ExpireSilent("rec1", now.Add(4*time.Minute)) {
		t.Fatal("ExpireSilent: want true once")
	}
	if got := l.Silent(now.Add(5 * time.Minute)); len(got) != 0 {
		t.Fatalf("offline device still silent: %v", got)
	}
}

func TestLiveSnapshot(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, _ := NewLive(LiveConfig{MaxDevices: 2}, nil, reg)
	now := time.Now()
	l.ApplyTelemetry(DeviceRef{ID: "b", Kind: "recorder", UnitID: "u1"}, decode(t, telemetry(now, `,"recording":true,"heading_deg":90`), now), now)
	l.SetState(DeviceRef{ID: "a", Kind: "ais_unit", UnitID: "u2"}, devices.StateOnline, now)
	l.SetState(DeviceRef{ID: "c", UnitID: "u1"}, devices.StateOnline, now) // over MaxDevices

	all := l.Snapshot(nil)
	if len(all) != 2 || all[0].DeviceID != "a" || all[1].DeviceID != "b" {
		t.Fatalf("snapshot %+v", all)
	}
	if got := metric(t, reg, "fleet_live_untracked_total"); got != 1 {
		t.Errorf("untracked = %v", got)
	}
	u1 := l.Snapshot(func(unit string) bool { return unit == "u1" })
	if len(u1) != 1 || u1[0].DeviceID != "b" {
		t.Fatalf("scoped snapshot %+v", u1)
	}
	b, err := json.Marshal(u1[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"battery_pct", "device_id", "heading_deg", "kind", "last_seen", "lat", "lon", "online",
		"recording", "speed_kmh", "status_ts", "ts", "unit_id"}
	if len(keys) != len(want) {
		t.Fatalf("JSON keys %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("JSON keys %v, want %v", keys, want)
		}
	}
	// A device without a position says so with nulls.
	b, _ = json.Marshal(all[0])
	if string(b) == "" || fieldsOf(t, b)["lat"] != nil || fieldsOf(t, b)["online"] != true {
		t.Fatalf("no-position JSON %s", b)
	}
}

func fieldsOf(t *testing.T, b []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHubSlowSubscriber(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, _ := NewHub(HubConfig{Buffer: 4, MaxSubscribers: 2}, reg)
	slow, _ := h.Subscribe(nil)
	scoped, _ := h.Subscribe(func(u string) bool { return u == "u1" })
	if _, err := h.Subscribe(nil); err != ErrTooManySubscribers {
		t.Fatalf("third subscriber: %v", err)
	}
	for i := range 10 {
		h.Publish(LiveEvent{Type: "position", UnitID: "u1", Data: i}) // never blocks
	}
	h.Publish(LiveEvent{Type: "position", UnitID: "u2", Data: 10})
	if slow.Dropped() != 7 || scoped.Dropped() != 6 {
		t.Fatalf("dropped %d and %d, want 7 and 6", slow.Dropped(), scoped.Dropped())
	}
	var got []any
	for len(slow.Events()) > 0 {
		got = append(got, (<-slow.Events()).Data)
	}
	if len(got) != 4 || got[0] != 7 || got[3] != 10 {
		t.Fatalf("slow subscriber kept %v, want the newest 4 (7…10)", got)
	}
	if got := metric(t, reg, "fleet_live_events_dropped_total"); got != 13 {
		t.Errorf("dropped_total = %v", got)
	}
	slow.Close()
	slow.Close()
	if _, ok := <-slow.Events(); ok {
		t.Error("channel open after Close")
	}
	if got := metric(t, reg, "fleet_live_subscribers"); got != 1 {
		t.Errorf("subscribers = %v", got)
	}
	if _, err := h.Subscribe(nil); err != nil {
		t.Fatalf("subscribe after a Close: %v", err)
	}
}
