package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest"
	"github.com/lawfleet/fleet/ingest/series"
)

// The command centre's live picture and history (issue 5):
//
//	GET  /api/v1/live/positions        last state of every device in the user's subtree
//	POST /api/v1/live/ticket           a 60-second, single-use ticket for the event stream
//	GET  /api/v1/live/events           Server-Sent Events: positions, states, device events, alerts
//	GET  /api/v1/alerts                alerts in the subtree, SOS first, then newest first
//	GET  /api/v1/alerts/{id}           one alert with its timeline
//	POST /api/v1/alerts/{id}/ack       a commander acknowledges an alert
//	GET  /api/v1/devices/{id}/track    a device's positions over a time range
//
// Scope: ingest knows devices by unit id, not by unit path, and its live
// state and hub filter with a function of the unit id. The functions given
// here look the unit's path up in a cache (unitPaths) and test it against
// the user's scope, as the register does for its own records. The hub
// calls its function on ingest's goroutine, so that one never waits for
// the database: an unknown unit is let through to the stream's own
// goroutine, which looks it up and decides (see events).
//
// Acknowledgements are also written to the register's audit log: the
// alert's timeline says who acknowledged it, but the alert row can be
// rewritten while the audit log is append-only, and auditors look for what
// a person did in one place.

// LivePositions is the live state of the devices (*ingest.Live).
type LivePositions interface {
	Snapshot(scope func(unitID string) bool) []ingest.LivePosition
}

// LiveFeed fans live events out to subscribers (*ingest.Hub).
type LiveFeed interface {
	Subscribe(scope func(unitID string) bool) (*ingest.Subscription, error)
}

// AlertActions reads and acknowledges one alert (*ingest.Alerts).
type AlertActions interface {
	Get(ctx context.Context, id string) (ingest.Alert, error)
	Ack(ctx context.Context, alertID, userID, note string) (ingest.Alert, error)
}

// AlertLister lists stored alerts by unit path (*alertstore.Store).
type AlertLister interface {
	QueryAlerts(ctx context.Context, q fleet.AlertQuery) ([]ingest.Alert, string, error)
}

// TrackQuerier reads a device's track from the time-series store
// (series.Querier: InfluxDB or the embedded store).
type TrackQuerier interface {
	Track(ctx context.Context, deviceID string, from, to time.Time, maxPoints int) ([]series.TrackPoint, error)
}

// UnitPaths resolves a unit id to its path (*fleet.Register); ENOTFOUND
// for an unknown unit.
type UnitPaths interface {
	UnitPath(ctx context.Context, id string) (string, error)
}

// LiveDeps connects the live routes to ingest. A nil collaborator makes
// its routes answer 503. Zero durations take the defaults shown.
type LiveDeps struct {
	Positions LivePositions // GET /live/positions
	Feed      LiveFeed      // GET /live/events
	Alerts    AlertActions  // GET /alerts/{id}, POST /alerts/{id}/ack
	AlertList AlertLister   // GET /alerts
	Tracks    TrackQuerier  // GET /devices/{id}/track
	Units     UnitPaths     // nil: the server's register

	// TicketKey signs event-stream tickets (32 random bytes). Processes
	// that share a load balancer must share the key, since the ticket and
	// the stream may reach different ones; nil draws a random key, which
	// is right for a single process.
	TicketKey []byte

	UnitPathTTL time.Duration // how long a unit's path is trusted; default 1m
	Heartbeat   time.Duration // comment line on an idle stream; default 15s
	TicketTTL   time.Duration // default 60s
	// MaxStream ends a stream after this long; the browser reconnects and
	// authenticates again, so a disabled user or a changed role takes
	// effect within it. Default 30m.
	MaxStream time.Duration
	// WriteTimeout bounds each write to a stream, so that a client that
	// stops reading is dropped instead of holding a goroutine. Default 30s.
	WriteTimeout time.Duration
}

// Track limits.
const (
	DefaultTrackSpan      = 24 * time.Hour
	MaxTrackSpan          = 31 * 24 * time.Hour
	DefaultTrackMaxPoints = 2000
	MaxTrackPoints        = 10000
)

// maxCachedUnits bounds the unit path cache; past it the cache starts over.
const maxCachedUnits = 100_000

// maxOutstandingTickets bounds the single-use record of redeemed tickets.
const maxOutstandingTickets = 100_000

// liveAPI holds the live routes' collaborators; its routes are always
// registered, so that the router and openapi.json agree.
type liveAPI struct {
	s *Server

	mu      sync.Mutex
	st      *liveState // nil until MountLive
	closing chan struct{}
	closed  bool
}

type liveState struct {
	d       LiveDeps
	units   *unitPaths
	tickets *tickets
}

// MountLive connects the live, alert and track routes to ingest. Call it
// once, before serving; until then those routes answer 503.
func (s *Server) MountLive(d LiveDeps) {
	if d.Units == nil && s.reg != nil {
		d.Units = s.reg
	}
	def := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	def(&d.UnitPathTTL, time.Minute)
	def(&d.Heartbeat, 15*time.Second)
	def(&d.TicketTTL, 60*time.Second)
	def(&d.MaxStream, 30*time.Minute)
	def(&d.WriteTimeout, 30*time.Second)
	key := d.TicketKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	st := &liveState{d: d, tickets: newTickets(key, d.TicketTTL)}
	if d.Units != nil {
		st.units = newUnitPaths(d.Units, d.UnitPathTTL)
	}
	s.live.mu.Lock()
	s.live.st = st
	s.live.mu.Unlock()
}

// CloseLive ends every open event stream and refuses new ones, so that
// http.Server.Shutdown (which waits for handlers) is not held up by them:
// register it with http.Server.RegisterOnShutdown. Browsers reconnect to
// whichever process serves next.
func (s *Server) CloseLive() {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if !s.live.closed {
		s.live.closed = true
		close(s.live.closing)
	}
}

func (s *Server) liveRoutes() {
	s.live = &liveAPI{s: s, closing: make(chan struct{})}
	l := s.live
	a := s.api
	a.GET("/live/positions", l.positions)
	a.POST("/live/ticket", l.ticket)
	// The stream authenticates itself: EventSource cannot send a header,
	// so it takes a ticket in the query as well as a bearer token.
	s.public.GET("/live/events", l.events)
	a.GET("/alerts", l.listAlerts)
	a.GET("/alerts/:id", l.getAlert)
	a.POST("/alerts/:id/ack", l.ackAlert)
	a.GET("/devices/:id/track", l.track)
}

// state returns the mounted state, or answers 503 and returns nil when
// MountLive has not been called or the route's collaborator is missing.
func (l *liveAPI) state(c *gin.Context, have func(*LiveDeps) bool) *liveState {
	l.mu.Lock()
	st := l.st
	l.mu.Unlock()
	if st == nil || !have(&st.d) || st.units == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "live data is not connected on this server"))
		return nil
	}
	return st
}

// may answers 403 unless actor holds perm.
func may(c *gin.Context, actor fleet.User, perm fleet.Permission) bool {
	if actor.Role.Can(perm) {
		return true
	}
	WriteError(c, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not do this (%s)", actor.Role, perm))
	return false
}

// GET /live/positions?kind=
func (l *liveAPI) positions(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.Positions != nil })
	if st == nil {
		return
	}
	kind := fleet.DeviceKind(c.Query("kind"))
	if kind != "" && !kind.Valid() {
		WriteError(c, fleet.Invalid("kind", "kind must be recorder, vehicle_terminal or ais_unit"))
		return
	}
	items, err := st.snapshot(c.Request.Context(), actor.Scope())
	if err != nil {
		WriteError(c, err)
		return
	}
	if kind != "" {
		n := 0
		for _, p := range items {
			if p.Kind == kind {
				items[n] = p
				n++
			}
		}
		items = items[:n]
	}
	WriteList(c, items, "")
}

// snapshot is the live state of the devices under scope. The live state
// calls the scope function under its lock, so that function only reads the
// cache; units it does not find there are looked up afterwards and the
// snapshot taken again (all units then known).
func (st *liveState) snapshot(ctx context.Context, scope string) ([]ingest.LivePosition, error) {
	if scope == "" {
		return st.d.Positions.Snapshot(nil), nil
	}
	missing := map[string]bool{}
	items := st.d.Positions.Snapshot(func(unitID string) bool {
		e, ok := st.units.peek(unitID)
		if !ok {
			missing[unitID] = true
			return false
		}
		return e.within(scope)
	})
	if len(missing) == 0 {
		return items, nil
	}
	resolved := make(map[string]unitPath, len(missing))
	for id := range missing {
		e, err := st.units.get(ctx, id)
		if err != nil {
			return nil, err
		}
		resolved[id] = e
	}
	return st.d.Positions.Snapshot(func(unitID string) bool {
		e, ok := resolved[unitID]
		if !ok {
			e, ok = st.units.peek(unitID)
		}
		return ok && e.within(scope)
	}), nil
}

// visible reports whether a record of unit unitID lies under scope.
func (st *liveState) visible(ctx context.Context, scope, unitID string) (bool, error) {
	if scope == "" {
		return true, nil
	}
	e, err := st.units.get(ctx, unitID)
	if err != nil {
		return false, err
	}
	return e.within(scope), nil
}

// ticketResponse is the answer of POST /live/ticket.
type ticketResponse struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// POST /live/ticket
func (l *liveAPI) ticket(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.Feed != nil })
	if st == nil {
		return
	}
	t, exp := st.tickets.issue(actor, time.Now())
	c.JSON(http.StatusOK, ticketResponse{Ticket: t, ExpiresAt: exp})
}

// Event names of the stream, by ingest's LiveEvent.Type.
var sseNames = map[string]string{
	"position": "position", // a LivePosition that moved or came online
	"status":   "state",    // a LivePosition whose online/offline changed
	"alert":    "alert",    // an alert raised, reopened, acknowledged or cleared
	"event":    "device",   // a device event (record_start, power_off, …)
}

// GET /live/events[?ticket=]
func (l *liveAPI) events(c *gin.Context) {
	st := l.state(c, func(d *LiveDeps) bool { return d.Feed != nil })
	if st == nil {
		return
	}
	actor, err := l.streamActor(c, st)
	if err != nil {
		if isCode(err, fleet.EUNAUTHORIZED) {
			c.Header("WWW-Authenticate", `Bearer realm="fleet"`)
		}
		WriteError(c, err)
		return
	}
	c.Set(ctxActor, actor) // for the access log
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	select {
	case <-l.closing:
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "the server is shutting down"))
		return
	default:
	}

	scope := actor.Scope()
	var hubScope func(string) bool
	if scope != "" {
		// Runs on ingest's goroutine: cache only. Unknown (or expired)
		// units pass, and the loop below decides with a real lookup.
		hubScope = func(unitID string) bool {
			e, ok := st.units.peek(unitID)
			return !ok || e.within(scope)
		}
	}
	sub, err := st.d.Feed.Subscribe(hubScope)
	if errors.Is(err, ingest.ErrTooManySubscribers) {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "too many live streams open; try again later"))
		return
	} else if err != nil {
		WriteError(c, err)
		return
	}
	defer sub.Close()

	ctx := c.Request.Context()
	log := requestLogger(c)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Status(http.StatusOK)
	w := &sseWriter{rc: http.NewResponseController(c.Writer), w: c.Writer, timeout: st.d.WriteTimeout}
	// net/http keeps a write deadline on the connection, for the next
	// request on it too, unless the server has a WriteTimeout of its own.
	defer func() { _ = w.rc.SetWriteDeadline(time.Time{}) }()
	// The retry hint and a first comment send the headers at once, so the
	// client knows the stream is open before the first event.
	w.buf = append(w.buf, "retry: 3000\n: connected\n\n"...)
	if err := w.flush(); err != nil {
		return
	}

	heartbeat := time.NewTicker(st.d.Heartbeat)
	defer heartbeat.Stop()
	maxStream := time.NewTimer(st.d.MaxStream)
	defer maxStream.Stop()
	var (
		seq      uint64 // id of the last event; jumps when events were dropped
		dropped  uint64
		lookups  int // failed unit lookups, logged once per stream
		events   = sub.Events()
		maxBatch = 256 // events written before a flush
	)
	// send frames ev into the buffer if the user may see it.
	send := func(ev ingest.LiveEvent) {
		if scope != "" {
			ok, err := st.visible(ctx, scope, ev.UnitID)
			if err != nil {
				if lookups++; lookups == 1 {
					log.Warn("live stream: unit lookup failed; event skipped", "unit", ev.UnitID, "err", err)
				}
				return
			}
			if !ok {
				return
			}
		}
		name, ok := sseNames[ev.Type]
		if !ok {
			return
		}
		data := ev.Data
		if a, ok := data.(ingest.Alert); ok {
			data = viewAlert(a)
		}
		b, err := json.Marshal(data)
		if err != nil {
			log.Error("live stream: encode event", "type", ev.Type, "err", err)
			return
		}
		d := sub.Dropped()
		seq += 1 + (d - dropped)
		dropped = d
		w.event(seq, name, b)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.closing:
			return
		case <-maxStream.C:
			return
		case <-heartbeat.C:
			w.buf = append(w.buf, ": heartbeat\n\n"...)
		case ev, ok := <-events:
			if !ok {
				return
			}
			heartbeat.Reset(st.d.Heartbeat) // beats only on an idle stream
			send(ev)
			// Drain what is already queued before flushing once.
			for range maxBatch {
				select {
				case ev, ok = <-events:
				default:
					ok = false
				}
				if !ok {
					break
				}
				send(ev)
			}
		}
		if err := w.flush(); err != nil {
			return // the client went away or stopped reading
		}
	}
}

// sseWriter frames Server-Sent Events into a buffer and flushes it with a
// deadline.
type sseWriter struct {
	rc      *http.ResponseController
	w       http.ResponseWriter
	timeout time.Duration
	buf     []byte
}

// event appends one event; data is one line of JSON.
func (w *sseWriter) event(id uint64, name string, data []byte) {
	w.buf = append(w.buf, "id: "...)
	w.buf = strconv.AppendUint(w.buf, id, 10)
	w.buf = append(w.buf, "\nevent: "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, "\ndata: "...)
	w.buf = append(w.buf, data...)
	w.buf = append(w.buf, "\n\n"...)
}

func (w *sseWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := w.w.Write(w.buf)
	if len(w.buf) > 64<<10 {
		w.buf = nil // do not keep a burst's buffer for the stream's life
	} else {
		w.buf = w.buf[:0]
	}
	if err != nil {
		return err
	}
	return w.rc.Flush()
}

// streamActor authenticates the event stream: a bearer header when there
// is one, else ?ticket=.
func (l *liveAPI) streamActor(c *gin.Context, st *liveState) (fleet.User, error) {
	if h := c.GetHeader("Authorization"); h != "" {
		token, ok := bearer(h)
		if !ok {
			return fleet.User{}, fleet.Errorf(fleet.EUNAUTHORIZED, "send Authorization: Bearer <token>, or ?ticket= from POST /api/v1/live/ticket")
		}
		return l.s.reg.Authenticate(c.Request.Context(), token)
	}
	t := c.Query("ticket")
	if t == "" {
		return fleet.User{}, fleet.Errorf(fleet.EUNAUTHORIZED, "sign in first: send a bearer token, or ?ticket= from POST /api/v1/live/ticket")
	}
	return st.tickets.redeem(t, time.Now())
}

// alertView is an alert as the API shows it: with its state.
type alertView struct {
	ingest.Alert
	State fleet.AlertState `json:"state"`
}

func viewAlert(a ingest.Alert) alertView {
	return alertView{Alert: a, State: fleet.AlertStateOf(a.AckedAt, a.ClearedAt)}
}

// alertKinds are the kinds ?kind= accepts.
var alertKinds = map[ingest.AlertKind]bool{
	ingest.AlertSOS: true, ingest.AlertLowBattery: true, ingest.AlertStorageLow: true,
	ingest.AlertTamper: true, ingest.AlertOffline: true,
}

// GET /alerts?state=&kind=&device=&limit=&after=
func (l *liveAPI) listAlerts(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.AlertList != nil })
	if st == nil {
		return
	}
	q := fleet.AlertQuery{Scope: actor.Scope(), Ranked: true, DeviceID: c.Query("device")}
	if s := fleet.AlertState(c.Query("state")); s != "" {
		if !s.Valid() {
			WriteError(c, fleet.Invalid("state", "state must be open, acked or cleared"))
			return
		}
		q.States = []fleet.AlertState{s}
	}
	if k := ingest.AlertKind(c.Query("kind")); k != "" {
		if !alertKinds[k] {
			WriteError(c, fleet.Invalid("kind", "kind must be sos, low_battery, storage_low, tamper or offline"))
			return
		}
		q.Kind = string(k)
	}
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	q.Page = page
	items, next, err := st.d.AlertList.QueryAlerts(c.Request.Context(), q)
	if err != nil {
		WriteError(c, err)
		return
	}
	views := make([]alertView, len(items))
	for i, a := range items {
		views[i] = viewAlert(a)
	}
	WriteList(c, views, next)
}

// alertIn returns alert id if it lies in actor's subtree; outside it, it
// does not exist.
func (st *liveState) alertIn(ctx context.Context, actor fleet.User, id string) (ingest.Alert, error) {
	a, err := st.d.Alerts.Get(ctx, id)
	if err != nil {
		return ingest.Alert{}, err
	}
	ok, err := st.visible(ctx, actor.Scope(), a.UnitID)
	if err != nil {
		return ingest.Alert{}, err
	}
	if !ok {
		return ingest.Alert{}, fleet.Errorf(fleet.ENOTFOUND, "alert not found")
	}
	return a, nil
}

// GET /alerts/{id}
func (l *liveAPI) getAlert(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.Alerts != nil })
	if st == nil {
		return
	}
	a, err := st.alertIn(c.Request.Context(), actor, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, viewAlert(a))
}

// ackRequest is the body of POST /alerts/{id}/ack (optional).
type ackRequest struct {
	Note string `json:"note"`
}

// POST /alerts/{id}/ack
func (l *liveAPI) ackAlert(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermAckAlerts) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.Alerts != nil })
	if st == nil {
		return
	}
	var in ackRequest
	if err := decodeOptional(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	a, err := st.alertIn(ctx, actor, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	acked, err := st.d.Alerts.Ack(ctx, a.ID, actor.ID, in.Note)
	if err != nil {
		WriteError(c, err)
		return
	}
	if l.s.reg != nil {
		after := map[string]any{"kind": acked.Kind, "device_id": acked.DeviceID, "acked_at": acked.AckedAt,
			"note": in.Note, "state": fleet.AlertStateOf(acked.AckedAt, acked.ClearedAt)}
		if err := l.s.reg.RecordAudit(ctx, actor, "alert.ack", "alert", acked.ID, acked.UnitID, nil, after); err != nil {
			// The ack stands (its timeline records it); the log line is
			// what tells an operator that the audit log missed it.
			requestLogger(c).Error("alert acknowledged but not audited", "alert", acked.ID, "user", actor.ID, "err", err)
		}
	}
	c.JSON(http.StatusOK, viewAlert(acked))
}

// trackResponse is the answer of GET /devices/{id}/track.
type trackResponse struct {
	DeviceID string              `json:"device_id"`
	From     time.Time           `json:"from"`
	To       time.Time           `json:"to"`
	Points   []series.TrackPoint `json:"points"`
}

// GET /devices/{id}/track?from=&to=&max_points=
func (l *liveAPI) track(c *gin.Context) {
	actor := Actor(c)
	if !may(c, actor, fleet.PermWatchLive) {
		return
	}
	st := l.state(c, func(d *LiveDeps) bool { return d.Tracks != nil })
	if st == nil {
		return
	}
	from, to, maxPoints, err := trackRange(c, time.Now())
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := l.s.reg.Device(ctx, actor, id); err != nil {
		WriteError(c, err)
		return
	}
	points, err := st.d.Tracks.Track(ctx, id, from, to, maxPoints)
	if err != nil {
		if fleet.ErrorCode(err) == fleet.EINTERNAL {
			requestLogger(c).Warn("track query failed", "device", id, "err", err)
			err = fleet.Errorf(fleet.EUNAVAILABLE, "the track history is not available right now")
		}
		WriteError(c, err)
		return
	}
	if points == nil {
		points = []series.TrackPoint{}
	}
	c.JSON(http.StatusOK, trackResponse{DeviceID: id, From: from, To: to, Points: points})
}

// trackRange reads from, to and max_points. to defaults to now and from to
// DefaultTrackSpan before to; a bad range names the field the caller gave.
func trackRange(c *gin.Context, now time.Time) (from, to time.Time, maxPoints int, err error) {
	fromS, toS := c.Query("from"), c.Query("to")
	to = now.UTC()
	if toS != "" {
		if to, err = parseInstant("to", toS); err != nil {
			return
		}
	}
	from = to.Add(-DefaultTrackSpan)
	if fromS != "" {
		if from, err = parseInstant("from", fromS); err != nil {
			return
		}
	}
	blame := "to"
	if toS == "" {
		blame = "from"
	}
	switch {
	case !to.After(from):
		err = fleet.Invalid(blame, "to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
		return
	case to.Sub(from) > MaxTrackSpan:
		err = fleet.Invalid(blame, "the range from %s to %s is longer than 31 days", from.Format(time.RFC3339), to.Format(time.RFC3339))
		return
	}
	maxPoints = DefaultTrackMaxPoints
	if s := c.Query("max_points"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > MaxTrackPoints {
			err = fleet.Invalid("max_points", "max_points must be an integer from 1 to %d", MaxTrackPoints)
			return
		}
		maxPoints = n
	}
	return from, to, maxPoints, nil
}

// parseInstant reads an RFC 3339 time or Unix milliseconds.
func parseInstant(field, s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		// Years 1970 to 9999: a seconds or microseconds value is refused
		// rather than read as a date far off.
		if ms < 0 || ms > 253402300799999 {
			return time.Time{}, fleet.Invalid(field, "%s is out of range as Unix milliseconds", field)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fleet.Invalid(field, "%s must be an RFC 3339 time (2026-06-15T08:00:00+08:00) or Unix milliseconds", field)
	}
	return t.UTC(), nil
}

// unitPaths caches unit id → path. Units move rarely; a move is seen
// within the TTL.
type unitPaths struct {
	src UnitPaths
	ttl time.Duration

	mu sync.RWMutex
	m  map[string]unitPath
}

type unitPath struct {
	path    string
	known   bool // false: no such unit, visible only to the whole-register scope
	expires time.Time
}

func (e unitPath) within(scope string) bool { return e.known && fleet.PathContains(scope, e.path) }

func newUnitPaths(src UnitPaths, ttl time.Duration) *unitPaths {
	return &unitPaths{src: src, ttl: ttl, m: make(map[string]unitPath)}
}

// peek returns a fresh cached entry without waiting for anything.
func (u *unitPaths) peek(id string) (unitPath, bool) {
	u.mu.RLock()
	e, ok := u.m[id]
	u.mu.RUnlock()
	return e, ok && time.Now().Before(e.expires)
}

// get returns the entry, looking the unit up when it is not cached.
func (u *unitPaths) get(ctx context.Context, id string) (unitPath, error) {
	if e, ok := u.peek(id); ok {
		return e, nil
	}
	path, err := u.src.UnitPath(ctx, id)
	e := unitPath{path: path, known: err == nil, expires: time.Now().Add(u.ttl)}
	if err != nil && fleet.ErrorCode(err) != fleet.ENOTFOUND {
		return unitPath{}, fmt.Errorf("web: unit path of %s: %w", id, err)
	}
	u.mu.Lock()
	if len(u.m) >= maxCachedUnits {
		clear(u.m)
	}
	u.m[id] = e
	u.mu.Unlock()
	return e, nil
}

// tickets issues and redeems event-stream tickets: HMAC-signed snapshots
// of the user, valid for ttl and accepted once by this process. They are
// good for GET /live/events only; the bearer token never appears in a URL.
type tickets struct {
	key []byte
	ttl time.Duration

	mu      sync.Mutex
	used    map[string]time.Time // nonce → expiry of redeemed tickets
	sweepAt int                  // size of used at which expired nonces are dropped
}

const ticketPrefix = "lt1."

type ticketClaims struct {
	UserID   string     `json:"sub"`
	Username string     `json:"usr"`
	Role     fleet.Role `json:"role"`
	UnitID   string     `json:"unit,omitempty"`
	UnitPath string     `json:"path,omitempty"`
	Expires  int64      `json:"exp"` // Unix ms
	Nonce    string     `json:"n"`
}

func newTickets(key []byte, ttl time.Duration) *tickets {
	return &tickets{key: key, ttl: ttl, used: make(map[string]time.Time), sweepAt: 1024}
}

func (t *tickets) sign(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(ticketPrefix + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (t *tickets) issue(u fleet.User, now time.Time) (string, time.Time) {
	var n [16]byte
	rand.Read(n[:])
	exp := now.Add(t.ttl)
	claims, _ := json.Marshal(ticketClaims{UserID: u.ID, Username: u.Username, Role: u.Role, UnitID: u.UnitID,
		UnitPath: u.UnitPath, Expires: exp.UnixMilli(), Nonce: hex.EncodeToString(n[:])})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	return ticketPrefix + payload + "." + t.sign(payload), exp
}

var errBadTicket = fleet.Errorf(fleet.EUNAUTHORIZED, "invalid, expired or already used ticket; ask POST /api/v1/live/ticket for a new one")

func (t *tickets) redeem(ticket string, now time.Time) (fleet.User, error) {
	rest, ok := strings.CutPrefix(ticket, ticketPrefix)
	if !ok {
		return fleet.User{}, errBadTicket
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(payload))) {
		return fleet.User{}, errBadTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var cl ticketClaims
	if err != nil || json.Unmarshal(raw, &cl) != nil || cl.Nonce == "" || cl.UserID == "" {
		return fleet.User{}, errBadTicket
	}
	exp := time.UnixMilli(cl.Expires)
	if !now.Before(exp) {
		return fleet.User{}, errBadTicket
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.used[cl.Nonce]; seen {
		return fleet.User{}, errBadTicket
	}
	if len(t.used) >= t.sweepAt {
		// Amortised: a sweep at most every time the set doubles.
		for n, e := range t.used {
			if !now.Before(e) {
				delete(t.used, n)
			}
		}
		t.sweepAt = max(1024, 2*len(t.used))
	}
	if len(t.used) >= maxOutstandingTickets {
		return fleet.User{}, fleet.Errorf(fleet.EUNAVAILABLE, "too many live streams starting; try again shortly")
	}
	t.used[cl.Nonce] = exp
	return fleet.User{ID: cl.UserID, Username: cl.Username, Role: cl.Role, UnitID: cl.UnitID, UnitPath: cl.UnitPath}, nil
}
