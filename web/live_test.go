package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lawfleet/fleet/devices"
	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/fleet/sqlstore/sqltest"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/alertstore"
	"github.com/lawfleet/fleet/ingest/series"
)

// The live routes are tested end to end: telemetry goes into the real
// ingest pipeline (the register as its device directory, the real live
// state, hub and alert engine, alerts persisted by ingest/alertstore in the
// same SQLite register), and comes out over HTTP.
//
// The one stand-in is the time-series store: memSeries below keeps the
// points the pipeline writes and answers Track with the stores' bucket
// rule. The embedded store (ingest/tsembed) is not committed yet; once it
// is, it can replace memSeries here unchanged (it is a series.Writer and
// series.Querier too).

// memSeries is a series.Writer and series.Querier in memory.
type memSeries struct {
	mu     sync.Mutex
	points []series.Point
	asked  []int // maxPoints of each Track call
}

func (m *memSeries) Write(_ context.Context, pts []series.Point) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.points = append(m.points, pts...)
	return nil
}

func (m *memSeries) Track(_ context.Context, deviceID string, from, to time.Time, maxPoints int) ([]series.TrackPoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, maxPoints)
	var out []series.TrackPoint
	for _, p := range m.points {
		lat, ok1 := p.Fields["lat"].(float64)
		lon, ok2 := p.Fields["lon"].(float64)
		if p.Measurement != series.Telemetry || p.Tags["device"] != deviceID || !ok1 || !ok2 ||
			p.Time.Before(from) || !p.Time.Before(to) {
			continue
		}
		tp := series.TrackPoint{Time: p.Time.UTC(), Lat: lat, Lon: lon}
		if v, ok := p.Fields["speed_kmh"].(float64); ok {
			tp.SpeedKmh = &v
		}
		if v, ok := p.Fields["heading_deg"].(float64); ok {
			tp.HeadingDeg = &v
		}
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b series.TrackPoint) int { return a.Time.Compare(b.Time) })
	if len(out) <= maxPoints {
		return out, nil
	}
	// The stores' rule: maxPoints equal buckets from from, the last fix of each.
	width := (to.Sub(from) + time.Duration(maxPoints) - 1) / time.Duration(maxPoints)
	var down []series.TrackPoint
	for _, p := range out {
		b := p.Time.Sub(from) / width
		if n := len(down); n > 0 && down[n-1].Time.Sub(from)/width == b {
			down[n-1] = p
			continue
		}
		down = append(down, p)
	}
	return down, nil
}

func (m *memSeries) lastAsked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.asked) == 0 {
		return 0
	}
	return m.asked[len(m.asked)-1]
}

// liveEnv is the API with ingest behind it, the org tree, three devices
// and users of each kind that matters.
type liveEnv struct {
	*testEnv
	org                     org
	devA, devA2, devB       fleet.Device // station A (county A), county A, county B
	admin, cmdA, cmdB, offA *client
	pipe                    *ingest.Pipeline
	hub                     *ingest.Hub
	series                  *memSeries
}

func newLiveEnv(t *testing.T, adjust func(*LiveDeps)) *liveEnv {
	t.Helper()
	store := sqltest.SQLite(t)
	e := &liveEnv{testEnv: newEnv(t, store), series: &memSeries{}}
	e.admin = e.login(t, "admin", adminPassword)
	e.org = e.seedOrg(t, e.admin)
	mkDev := func(serial, unit string) fleet.Device {
		var d fleet.NewDevice
		e.admin.mustDo(t, http.MethodPost, "/api/v1/devices", fleet.DeviceInput{Kind: fleet.KindRecorder,
			Serial: serial, Model: "DSJ-V9", UnitID: unit}, http.StatusCreated, &d)
		return d.Device
	}
	e.devA = mkDev("SN-A-1", e.org.stationA.ID)
	e.devA2 = mkDev("SN-A-2", e.org.countyA.ID)
	e.devB = mkDev("SN-B-1", e.org.countyB.ID)
	e.cmdA = e.user(t, e.admin, "cmd_a", fleet.RoleCommander, e.org.countyA.ID)
	e.cmdB = e.user(t, e.admin, "cmd_b", fleet.RoleCommander, e.org.countyB.ID)
	e.offA = e.user(t, e.admin, "officer_a", fleet.RoleOfficer, e.org.countyA.ID)

	var err error
	if e.hub, err = ingest.NewHub(ingest.HubConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	live, err := ingest.NewLive(ingest.LiveConfig{}, e.hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	alertDB := alertstore.New(store)
	alerts, err := ingest.NewAlerts(ingest.AlertsConfig{}, alertDB, e.reg, e.hub, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One worker, so that messages are applied in the order sent, across
	// devices too: the scope test relies on it.
	e.pipe, err = ingest.NewPipeline(ingest.Config{Workers: 1, FlushInterval: 10 * time.Millisecond},
		ingest.Deps{Writer: e.series, Directory: e.reg, Live: live, Alerts: alerts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.pipe.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	d := LiveDeps{Positions: live, Feed: e.hub, Alerts: alerts, AlertList: alertDB, Tracks: e.series}
	if adjust != nil {
		adjust(&d)
	}
	e.server.MountLive(d)
	t.Cleanup(e.server.CloseLive) // before the test server closes, or its Close waits for the streams
	return e
}

// send hands one device message to the pipeline, received now.
func (e *liveEnv) send(t *testing.T, dev fleet.Device, kind devices.TopicKind, payload string) {
	t.Helper()
	m := devices.Message{DeviceID: dev.ID, Kind: kind, Payload: []byte(payload), Received: time.Now()}
	if err := e.pipe.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func msOf(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func fix(ts time.Time, lat, lon float64) string {
	return fmt.Sprintf(`{"ts":%s,"lat":%v,"lon":%v,"speed_kmh":32.5,"heading_deg":90,"battery_pct":80,"recording":true}`,
		msOf(ts), lat, lon)
}

// positions answers GET /live/positions for c, by device id.
func (e *liveEnv) positions(t *testing.T, c *client, query string) map[string]ingest.LivePosition {
	t.Helper()
	var l List[ingest.LivePosition]
	r := c.mustDo(t, http.MethodGet, "/api/v1/live/positions"+query, nil, http.StatusOK, &l)
	if !strings.Contains(string(r.body), `"next":null`) {
		t.Errorf("positions: next is not null: %s", r.body)
	}
	out := map[string]ingest.LivePosition{}
	for _, p := range l.Items {
		out[p.DeviceID] = p
	}
	return out
}

// waitFor polls cond until it holds, within a generous timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id, name, data string
}

// sseStream reads a Server-Sent Events response in the background.
type sseStream struct {
	res      *http.Response
	events   chan sseEvent
	comments chan string
	ended    chan struct{}
}

// stream opens GET /live/events with the query and bearer token given
// (either may be empty) and returns the response; on 200 it waits for the
// stream's first comment, so the subscription exists on return.
func (e *liveEnv) stream(t *testing.T, query, token string) (*sseStream, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/live/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, res.StatusCode
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events: Content-Type %q", ct)
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 1000), comments: make(chan string, 1000), ended: make(chan struct{})}
	t.Cleanup(func() { res.Body.Close() })
	go s.read()
	select {
	case <-s.comments:
	case <-time.After(10 * time.Second):
		t.Fatal("events: no first comment")
	}
	return s, http.StatusOK
}

func (s *sseStream) read() {
	defer close(s.ended)
	r := bufio.NewReader(s.res.Body)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			select {
			case s.comments <- line:
			default:
			}
		default:
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "id":
				ev.id = v
			case "event":
				ev.name = v
			case "data":
				ev.data = v
			}
		}
	}
}

// next returns the next event, failing after timeout.
func (s *sseStream) next(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.ended:
		t.Fatal("stream ended")
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
	}
	return sseEvent{}
}

// await skips events until one named name matches, failing after timeout.
func (s *sseStream) await(t *testing.T, timeout time.Duration, name string, match func(data map[string]any) bool) (sseEvent, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no %s event within %s", name, timeout)
		}
		ev := s.next(t, left)
		var data map[string]any
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatalf("event %s: data %q: %v", ev.name, ev.data, err)
		}
		if ev.name == name && match(data) {
			return ev, data
		}
	}
}

func (e *liveEnv) ticket(t *testing.T, c *client) string {
	t.Helper()
	var tk ticketResponse
	c.mustDo(t, http.MethodPost, "/api/v1/live/ticket", nil, http.StatusOK, &tk)
	if tk.Ticket == "" || time.Until(tk.ExpiresAt) > time.Minute+time.Second || time.Until(tk.ExpiresAt) < 50*time.Second {
		t.Fatalf("ticket %+v", tk)
	}
	return tk.Ticket
}

func TestLive(t *testing.T) {
	e := newLiveEnv(t, nil)
	now := time.Now()

	t.Run("stream: scoped position and SOS within a second, by ticket", func(t *testing.T) {
		a, status := e.stream(t, "?ticket="+url.QueryEscape(e.ticket(t, e.cmdA)), "")
		if status != http.StatusOK {
			t.Fatalf("stream A: %d", status)
		}
		b, status := e.stream(t, "?ticket="+url.QueryEscape(e.ticket(t, e.cmdB)), "")
		if status != http.StatusOK {
			t.Fatalf("stream B: %d", status)
		}

		sent := time.Now()
		e.send(t, e.devA, devices.TopicTelemetry, fix(sent, 30.6, 114.3))
		ev, data := a.await(t, time.Second, "position", func(d map[string]any) bool { return d["device_id"] == e.devA.ID })
		if data["lat"] != 30.6 || data["unit_id"] != e.org.stationA.ID || data["online"] != true || data["recording"] != true {
			t.Errorf("position data %v", data)
		}
		firstID, err := strconv.Atoi(ev.id)
		if err != nil {
			t.Fatalf("event id %q", ev.id)
		}

		e.send(t, e.devA, devices.TopicEvent, `{"ts":`+msOf(time.Now())+`,"type":"sos","detail":"一键求救"}`)
		ev, data = a.await(t, time.Second, "alert", func(d map[string]any) bool { return d["kind"] == "sos" })
		if data["device_id"] != e.devA.ID || data["state"] != "open" || data["priority"] != "critical" ||
			data["lat"] != 30.6 || data["detail"] != "一键求救" {
			t.Errorf("alert data %v", data)
		}
		if id, _ := strconv.Atoi(ev.id); id <= firstID {
			t.Errorf("event ids do not increase: %s after %d", ev.id, firstID)
		}

		// The pipeline has one worker and the hub delivers in publish
		// order, so county B's first event is its own device's position:
		// nothing of county A's came before it.
		e.send(t, e.devB, devices.TopicTelemetry, fix(time.Now(), 30.5, 114.4))
		ev = b.next(t, 10*time.Second)
		if ev.name != "position" || !strings.Contains(ev.data, e.devB.ID) {
			t.Fatalf("county B's first event: %+v", ev)
		}
		// County A does not see county B's device either.
		e.send(t, e.devA2, devices.TopicTelemetry, fix(time.Now(), 30.7, 114.2))
		ev, _ = a.await(t, 10*time.Second, "position", func(d map[string]any) bool { return true })
		if !strings.Contains(ev.data, e.devA2.ID) {
			t.Fatalf("county A got %+v before its own device's position", ev)
		}
	})

	t.Run("stream: authentication", func(t *testing.T) {
		tk := e.ticket(t, e.cmdA)
		if _, status := e.stream(t, "?ticket="+url.QueryEscape(tk), ""); status != http.StatusOK {
			t.Fatalf("first use: %d", status)
		}
		tests := []struct {
			name, query, token string
			status             int
		}{
			{"ticket used twice", "?ticket=" + url.QueryEscape(tk), "", http.StatusUnauthorized},
			{"forged ticket", "?ticket=" + url.QueryEscape(tk[:len(tk)-3]+"AAA"), "", http.StatusUnauthorized},
			{"not a ticket", "?ticket=" + url.QueryEscape(e.cmdA.token), "", http.StatusUnauthorized},
			{"nothing", "", "", http.StatusUnauthorized},
			{"bad bearer", "", "nope", http.StatusUnauthorized},
			{"officer's bearer", "", e.offA.token, http.StatusForbidden},
			{"commander's bearer", "", e.cmdA.token, http.StatusOK},
		}
		for _, tt := range tests {
			if _, status := e.stream(t, tt.query, tt.token); status != tt.status {
				t.Errorf("%s: status %d, want %d", tt.name, status, tt.status)
			}
		}
		e.offA.mustFail(t, http.MethodPost, "/api/v1/live/ticket", nil, http.StatusForbidden)
		e.anon().mustFail(t, http.MethodPost, "/api/v1/live/ticket", nil, http.StatusUnauthorized)
	})

	t.Run("positions scoped per user", func(t *testing.T) {
		e.send(t, e.devB, devices.TopicTelemetry, fix(now, 30.5, 114.4))
		waitFor(t, "three devices live", func() bool { return len(e.positions(t, e.admin, "")) == 3 })

		if got := e.positions(t, e.cmdA, ""); len(got) != 2 || got[e.devA.ID].DeviceID == "" || got[e.devA2.ID].DeviceID == "" {
			t.Errorf("county A commander sees %v", slices.Collect(maps.Keys(got)))
		}
		got := e.positions(t, e.cmdB, "")
		if len(got) != 1 || got[e.devB.ID].Lat == nil || *got[e.devB.ID].Lat != 30.5 || got[e.devB.ID].Kind != fleet.KindRecorder {
			t.Errorf("county B commander sees %+v", got)
		}
		if got := e.positions(t, e.admin, "?kind=ais_unit"); len(got) != 0 {
			t.Errorf("kind filter: %v", got)
		}
		if got := e.positions(t, e.admin, "?kind=recorder"); len(got) != 3 {
			t.Errorf("kind filter: %d", len(got))
		}
		if d := e.admin.mustFail(t, http.MethodGet, "/api/v1/live/positions?kind=drone", nil, http.StatusBadRequest); d.Field != "kind" {
			t.Errorf("bad kind: %+v", d)
		}
		e.offA.mustFail(t, http.MethodGet, "/api/v1/live/positions", nil, http.StatusForbidden)
		e.anon().mustFail(t, http.MethodGet, "/api/v1/live/positions", nil, http.StatusUnauthorized)
	})

	t.Run("alerts: list, scope, ack", func(t *testing.T) {
		// A low-battery alert on county A's second device, newer than the SOS.
		e.send(t, e.devA2, devices.TopicTelemetry, `{"ts":`+msOf(time.Now())+`,"battery_pct":8}`)
		var l List[alertView]
		waitFor(t, "the low battery alert", func() bool {
			l = List[alertView]{}
			e.cmdA.mustDo(t, http.MethodGet, "/api/v1/alerts", nil, http.StatusOK, &l)
			return len(l.Items) == 2
		})
		if l.Items[0].Kind != ingest.AlertSOS || l.Items[1].Kind != ingest.AlertLowBattery {
			t.Fatalf("not SOS first: %s, %s", l.Items[0].Kind, l.Items[1].Kind)
		}
		sos := l.Items[0]
		if sos.State != fleet.AlertOpen || len(sos.Timeline) != 1 || sos.Timeline[0].Action != ingest.ActionRaised {
			t.Fatalf("sos %+v", sos)
		}
		if got := list[alertView](t, e.cmdB, "/api/v1/alerts"); len(got) != 0 {
			t.Errorf("county B sees county A's alerts: %+v", got)
		}
		if got := list[alertView](t, e.admin, "/api/v1/alerts?kind=low_battery"); len(got) != 1 || got[0].DeviceID != e.devA2.ID {
			t.Errorf("kind filter: %+v", got)
		}
		if got := list[alertView](t, e.cmdA, "/api/v1/alerts?limit=1"); len(got) != 2 {
			t.Errorf("paged by one: %d alerts", len(got))
		}
		for _, q := range []string{"state=closed", "kind=fire", "limit=0", "after=nonsense"} {
			field, _, _ := strings.Cut(q, "=")
			if d := e.cmdA.mustFail(t, http.MethodGet, "/api/v1/alerts?"+q, nil, http.StatusBadRequest); d.Field != field {
				t.Errorf("%s: field %q", q, d.Field)
			}
		}
		e.offA.mustFail(t, http.MethodGet, "/api/v1/alerts", nil, http.StatusForbidden)

		path := "/api/v1/alerts/" + sos.ID
		e.cmdB.mustFail(t, http.MethodGet, path, nil, http.StatusNotFound)
		e.cmdB.mustFail(t, http.MethodPost, path+"/ack", map[string]string{"note": "not mine"}, http.StatusNotFound)
		e.offA.mustFail(t, http.MethodPost, path+"/ack", nil, http.StatusForbidden)
		e.cmdA.mustFail(t, http.MethodPost, "/api/v1/alerts/alr_none/ack", nil, http.StatusNotFound)
		if d := e.cmdA.mustFail(t, http.MethodPost, path+"/ack", map[string]any{"note": 5}, http.StatusBadRequest); d.Field != "note" {
			t.Errorf("bad note: %+v", d)
		}
		audits := e.auditCount()

		before := time.Now()
		var acked alertView
		e.cmdA.mustDo(t, http.MethodPost, path+"/ack", map[string]string{"note": "已派江岸一中队前往"}, http.StatusOK, &acked)
		if acked.State != fleet.AlertAcked || acked.AckedBy != e.cmdA.user.ID || acked.AckedAt == nil ||
			acked.AckedAt.Before(before.Add(-time.Second)) || acked.AckedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("acked %+v", acked)
		}
		e.cmdA.mustFail(t, http.MethodPost, path+"/ack", nil, http.StatusConflict)

		var got alertView
		e.cmdA.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &got)
		last := got.Timeline[len(got.Timeline)-1]
		if last.Action != ingest.ActionAcked || last.By != e.cmdA.user.ID || last.Note != "已派江岸一中队前往" {
			t.Errorf("timeline %+v", got.Timeline)
		}
		if got := list[alertView](t, e.cmdA, "/api/v1/alerts?state=acked"); len(got) != 1 || got[0].ID != sos.ID {
			t.Errorf("acked list %+v", got)
		}
		if got := list[alertView](t, e.cmdA, "/api/v1/alerts?state=open"); len(got) != 1 || got[0].Kind != ingest.AlertLowBattery {
			t.Errorf("open list %+v", got)
		}

		// The ack is in the audit log, scoped to the alert's unit.
		if n := e.auditCount(); n != audits+1 {
			t.Fatalf("audit entries %d, want %d", n, audits+1)
		}
		entries := list[fleet.AuditEntry](t, e.admin, "/api/v1/audit?entity=alert&entity_id="+sos.ID)
		if len(entries) != 1 || entries[0].Action != "alert.ack" || entries[0].ActorID != e.cmdA.user.ID ||
			entries[0].UnitID != e.devA.UnitID || !strings.Contains(string(entries[0].After), "已派") {
			t.Errorf("audit %+v", entries)
		}
	})

	t.Run("track", func(t *testing.T) {
		// Six fixes over the last five hours in one batch.
		var b strings.Builder
		b.WriteString("[")
		for i := range 6 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(fix(now.Add(-time.Duration(5-i)*time.Hour), 30+float64(i)/10, 114))
		}
		b.WriteString("]")
		e.send(t, e.devB, devices.TopicTelemetry, b.String())
		path := "/api/v1/devices/" + e.devB.ID + "/track"
		var tr trackResponse
		waitFor(t, "the track written", func() bool {
			tr = trackResponse{}
			e.cmdB.mustDo(t, http.MethodGet, path, nil, http.StatusOK, &tr)
			return len(tr.Points) >= 7
		})
		if tr.DeviceID != e.devB.ID || tr.To.Sub(tr.From) != 24*time.Hour || time.Since(tr.To) > time.Minute {
			t.Errorf("default range %s .. %s", tr.From, tr.To)
		}
		if tr.Points[0].Lat != 30 || tr.Points[0].SpeedKmh == nil || *tr.Points[0].SpeedKmh != 32.5 {
			t.Errorf("first point %+v", tr.Points[0])
		}
		if e.series.lastAsked() != DefaultTrackMaxPoints {
			t.Errorf("max points asked %d", e.series.lastAsked())
		}

		from, to := now.Add(-5*time.Hour-time.Minute), now.Add(-90*time.Minute)
		tr = trackResponse{}
		e.cmdB.mustDo(t, http.MethodGet, path+"?from="+url.QueryEscape(from.Format(time.RFC3339))+"&to="+msOf(to)+"&max_points=2", nil, http.StatusOK, &tr)
		if len(tr.Points) != 2 || e.series.lastAsked() != 2 || !tr.From.Equal(from.Truncate(time.Second)) || !tr.To.Equal(to.Truncate(time.Millisecond)) {
			t.Errorf("downsampled track %+v", tr)
		}

		e.cmdA.mustFail(t, http.MethodGet, path, nil, http.StatusNotFound) // county B's device
		e.offA.mustFail(t, http.MethodGet, "/api/v1/devices/"+e.devA.ID+"/track", nil, http.StatusForbidden)
		e.admin.mustFail(t, http.MethodGet, "/api/v1/devices/dev_none/track", nil, http.StatusNotFound)

		day := 24 * time.Hour
		rfc := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }
		tests := []struct {
			name, query, field string
		}{
			{"from not a time", "from=yesterday", "from"},
			{"to not a time", "to=2026-13-01T00:00:00Z", "to"},
			{"to without zone", "to=2026-06-01T08:00:00", "to"},
			{"from seconds-like negative", "from=-5", "from"},
			{"to far beyond year 9999", "to=99999999999999999", "to"},
			{"to before from", "from=" + rfc(now) + "&to=" + rfc(now.Add(-time.Hour)), "to"},
			{"empty range", "from=" + msOf(now) + "&to=" + msOf(now), "to"},
			{"from in the future, to defaulted", "from=" + rfc(now.Add(time.Hour)), "from"},
			{"longer than 31 days", "from=" + rfc(now.Add(-32*day)) + "&to=" + rfc(now), "to"},
			{"from too early, to defaulted", "from=" + rfc(now.Add(-40*day)), "from"},
			{"max_points zero", "max_points=0", "max_points"},
			{"max_points too many", "max_points=10001", "max_points"},
			{"max_points not a number", "max_points=lots", "max_points"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := e.cmdB.mustFail(t, http.MethodGet, path+"?"+tt.query, nil, http.StatusBadRequest)
				if d.Field != tt.field || d.Code != fleet.EINVALID {
					t.Errorf("error %+v, want field %s", d, tt.field)
				}
			})
		}
		// Exactly 31 days is allowed.
		e.cmdB.mustDo(t, http.MethodGet, path+"?from="+rfc(now.Add(-31*day))+"&to="+rfc(now), nil, http.StatusOK, nil)
	})

	t.Run("every route is documented", func(t *testing.T) {
		missing, err := e.server.UndocumentedRoutes()
		if err != nil || len(missing) > 0 {
			t.Fatalf("undocumented: %v %v", missing, err)
		}
	})
}

// A stream beats while idle, ends when the client goes (its subscription
// with it), and ends when the server shuts the live routes down.
func TestLiveStreamLifecycle(t *testing.T) {
	e := newLiveEnv(t, func(d *LiveDeps) { d.Heartbeat = 20 * time.Millisecond })

	s, status := e.stream(t, "", e.cmdA.token)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	select {
	case c := <-s.comments:
		if c != ": heartbeat" {
			t.Fatalf("comment %q", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
	s.res.Body.Close()
	waitFor(t, "the subscription to end", func() bool { return !e.hub.Active() })

	s, _ = e.stream(t, "", e.cmdA.token)
	e.server.CloseLive()
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open after CloseLive")
	}
	if _, status := e.stream(t, "", e.cmdA.token); status != http.StatusServiceUnavailable {
		t.Fatalf("after CloseLive: status %d", status)
	}
}

// Until MountLive, the routes exist and answer 503.
func TestLiveNotMounted(t *testing.T) {
	e := sqliteEnv(t)
	admin := e.login(t, "admin", adminPassword)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/live/positions"},
		{http.MethodPost, "/api/v1/live/ticket"},
		{http.MethodGet, "/api/v1/live/events"},
		{http.MethodGet, "/api/v1/alerts"},
		{http.MethodGet, "/api/v1/alerts/alr_1"},
		{http.MethodPost, "/api/v1/alerts/alr_1/ack"},
		{http.MethodGet, "/api/v1/devices/dev_1/track"},
	} {
		admin.mustFail(t, r.method, r.path, nil, http.StatusServiceUnavailable)
	}
}

func TestTickets(t *testing.T) {
	tk := newTickets([]byte("0123456789abcdef0123456789abcdef"), time.Minute)
	u := fleet.User{ID: "usr_1", Username: "cmd", Role: fleet.RoleCommander, UnitID: "u1", UnitPath: "/p/u1/"}
	now := time.Now()
	ticket, exp := tk.issue(u, now)
	if !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("expires %s", exp)
	}
	if _, err := tk.redeem(ticket, now.Add(time.Minute)); fleet.ErrorCode(err) != fleet.EUNAUTHORIZED {
		t.Fatalf("expired ticket: %v", err)
	}
	got, err := tk.redeem(ticket, now.Add(59*time.Second))
	if err != nil || got != u {
		t.Fatalf("redeem: %+v, %v", got, err)
	}
	other := newTickets([]byte("another key, another process....."), time.Minute)
	t2, _ := tk.issue(u, now)
	if _, err := other.redeem(t2, now); err == nil {
		t.Fatal("a ticket signed with another key was accepted")
	}
	shared := newTickets([]byte("0123456789abcdef0123456789abcdef"), time.Minute)
	if _, err := shared.redeem(t2, now); err != nil {
		t.Fatalf("a process sharing the key refused the ticket: %v", err)
	}
}

// The schemas of openapi.json name the fields of the live types.
func TestLiveOpenAPISchemas(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, v := range map[string]any{
		"LivePosition": ingest.LivePosition{}, "LiveDeviceEvent": ingest.LiveDeviceEvent{}, "LiveTicket": ticketResponse{},
		"Alert": alertView{}, "AlertStep": ingest.AlertStep{}, "AckRequest": ackRequest{},
		"Track": trackResponse{}, "TrackPoint": series.TrackPoint{},
		"AlertList": List[alertView]{}, "LivePositionList": List[ingest.LivePosition]{},
	} {
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
