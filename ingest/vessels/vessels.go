// Package vessels keeps the picture of the vessels around the enforcement
// boats. It takes the NMEA 0183 lines that AIS units publish over MQTT
// (through ingest.Pipeline, as its NMEAHandler) and, optionally, that
// shore stations send over UDP or TCP; it decodes them with devices/ais,
// one decoder per source so that multi-sentence messages are never pieced
// together from two receivers; it keeps each vessel's latest position and
// its static data merged from message types 5, 19, 21 and 24; it marks the
// enforcement vessels (the MMSIs of registered AIS units, and the own-ship
// reports of those units); and it writes each position to the series store
// (measurement vessel, tag mmsi).
//
// Processing order per payload: the source's decoder → bad input counted
// by kind and skipped → per message: enforcement look-up → position sanity
// checks → live state → history point. Everything is bounded: decoders
// (LRU), vessels (the stalest is evicted; vessels silent for LiveFor are
// dropped), listener lines and TCP connections.
//
// It depends on the domain (devices/ais, fleet) and the series boundary
// only: no store, no MQTT library, no HTTP. The register comes in through
// the Register interface declared here.
package vessels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/devices/ais"
	"github.com/lawfleet/fleet/ingest/internal/logthrottle"
	"github.com/lawfleet/fleet/ingest/series"
)

// ErrClosed is returned by Listen and Start once the tracker is closed.
var ErrClosed = errors.New("vessels: tracker closed")

// Config tunes the tracker. Zero values take the defaults.
type Config struct {
	// MaxSources caps the decoders kept, one per source (an AIS unit, a
	// UDP peer, a TCP connection); the least recently used is dropped,
	// with the fragments it was holding. Default 4096.
	MaxSources int
	// MaxVessels caps the vessels tracked; the one heard from least
	// recently is evicted to make room. Default 50000.
	MaxVessels int
	// LiveFor is how long a silent vessel stays in the live view (and in
	// memory). Default 6h: a moored vessel reports every 3 minutes, a
	// class B one every 6, but coverage has gaps.
	LiveFor time.Duration
	// SweepEvery is how often silent vessels are dropped. Default 1m.
	SweepEvery time.Duration
	// DedupWindow: a vessel's position identical to its last one within
	// this time is not stored again (several receivers hear one
	// broadcast). Default 10s.
	DedupWindow time.Duration

	// DirectoryTTL is how long the list of registered AIS units is
	// trusted; DirectoryRetry how long after a failed refresh it is asked
	// again; LookupTimeout bounds one refresh. Defaults 1m, 10s, 5s.
	DirectoryTTL   time.Duration
	DirectoryRetry time.Duration
	LookupTimeout  time.Duration

	// MaxLineBytes bounds a line on the listeners; longer lines are
	// dropped and counted. Default 512 (a sentence is at most 82
	// characters, a tag block adds some).
	MaxLineBytes int
	// MaxConns caps the TCP connections served at once, over all TCP
	// listeners; more are closed at once and counted. Default 64.
	MaxConns int
	// IdleTimeout closes a TCP connection silent for this long. Default 10m.
	IdleTimeout time.Duration

	// LogEvery: bad input is logged at most once per kind per this; the
	// exact counts are in the metrics. Default 1m.
	LogEvery time.Duration

	// Decoder configures each source's decoder (strict checksums by default).
	Decoder ais.Config
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxSources, 4096)
	def(&c.MaxVessels, 50000)
	defd(&c.LiveFor, 6*time.Hour)
	defd(&c.SweepEvery, time.Minute)
	defd(&c.DedupWindow, 10*time.Second)
	defd(&c.DirectoryTTL, time.Minute)
	defd(&c.DirectoryRetry, 10*time.Second)
	defd(&c.LookupTimeout, 5*time.Second)
	def(&c.MaxLineBytes, 512)
	c.MaxLineBytes = max(c.MaxLineBytes, 16) // bufio's smallest buffer
	def(&c.MaxConns, 64)
	defd(&c.IdleTimeout, 10*time.Minute)
	defd(&c.LogEvery, time.Minute)
	return c
}

// Deps are the tracker's collaborators; all may be nil. Without a Writer
// no history is written; without a Register no vessel is marked as an
// enforcement vessel.
type Deps struct {
	Writer   series.Writer
	Register Register
	Registry prometheus.Registerer // nil: metrics are kept but not exported
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now
}

// Tracker is the live picture of vessels and the NMEA intake that feeds
// it. HandleNMEA, Vessels and Vessel are safe for concurrent use.
//
// Lifecycle: New, then Start (the sweeper) and Listen (optional feeds),
// then Close, which stops the listeners first and waits for every
// goroutine the tracker started.
type Tracker struct {
	cfg  Config
	w    series.Writer
	dir  *directory
	log  *slog.Logger
	now  func() time.Time
	m    *metrics
	logs *logthrottle.Throttle

	srcs  *sources
	state *state

	mu      sync.Mutex // guards closed, cancels, started
	closed  bool
	started bool
	cancels []context.CancelFunc
	wg      sync.WaitGroup
	conns   chan struct{} // a slot per TCP connection served
	connSeq uint64        // guarded by mu
}

// New returns a tracker; HandleNMEA works at once, Start and Listen start
// the background parts.
func New(cfg Config, deps Deps) (*Tracker, error) {
	cfg = cfg.withDefaults()
	t := &Tracker{
		cfg:  cfg,
		w:    deps.Writer,
		log:  deps.Logger,
		now:  deps.Now,
		logs: logthrottle.New(cfg.LogEvery),
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("component", "vessels")
	if t.now == nil {
		t.now = time.Now
	}
	t.conns = make(chan struct{}, cfg.MaxConns)
	t.srcs = newSources(cfg.MaxSources, cfg.Decoder)
	t.state = newState(cfg.MaxVessels)
	t.dir = newDirectory(deps.Register, cfg, t.now)
	t.dir.onError = func(err error) {
		t.logs.Log(t.log, slog.LevelWarn, "directory", t.now(), "AIS units not read from the register; the last list is kept", "error", err)
	}
	m, err := newMetrics(deps.Registry, t)
	if err != nil {
		return nil, err
	}
	t.m = m
	return t, nil
}

// HandleNMEA takes one MQTT payload of an AIS unit: one or more NMEA lines
// (ingest.NMEAHandler). The device's decoder keeps the fragments of
// multi-sentence messages between payloads. Bad input is counted and
// skipped, never stored; the error is only for positions the series
// writer refused. payload is neither modified nor kept.
func (t *Tracker) HandleNMEA(ctx context.Context, deviceID string, payload []byte, received time.Time) error {
	return t.handle(ctx, sourceKey{transport: transportMQTT, id: deviceID}, deviceID, string(payload), received)
}

// handle runs one chunk of lines of one source through the steps listed in
// the package comment. deviceID is set for sources that are registered
// devices (MQTT), empty for shore-station feeds.
func (t *Tracker) handle(ctx context.Context, key sourceKey, deviceID, data string, received time.Time) error {
	if received.IsZero() {
		received = t.now()
	}
	units := t.dir.get(ctx)

	src := t.srcs.get(key, t.sourceEvicted)
	src.mu.Lock()
	msgs, err := src.dec.Append(src.msgs[:0], data)
	st := src.dec.Stats()
	t.m.decoded(key.transport, &src.stats, &st)
	src.pending.Store(int64(st.Pending))
	if err != nil {
		t.badInput(key, err)
	}
	var points []series.Point
	for i := range msgs {
		if p, ok := t.apply(units, deviceID, &msgs[i], received); ok {
			points = append(points, p)
		}
	}
	clear(msgs) // drop the strings of this payload
	src.msgs = msgs[:0]
	src.mu.Unlock()

	if len(points) == 0 || t.w == nil {
		return nil
	}
	if err := t.w.Write(ctx, points); err != nil {
		t.m.pointsDropped.Add(float64(len(points)))
		return fmt.Errorf("vessels: write %d positions: %w", len(points), err)
	}
	t.m.points.Add(float64(len(points)))
	return nil
}

// badInput logs a decoder failure, throttled per kind; the counts come
// from the decoder's Stats.
func (t *Tracker) badInput(key sourceKey, err error) {
	kind := errorKind(err)
	t.logs.Log(t.log, slog.LevelDebug, "bad/"+kind, t.now(), "bad NMEA input skipped",
		"transport", key.transport.String(), "source", key.id, "kind", kind, "error", err)
}

// sourceEvicted counts the fragments lost with an evicted decoder.
func (t *Tracker) sourceEvicted(s *source) {
	t.m.sourcesEvicted.Inc()
	if n := s.pending.Load(); n > 0 {
		t.m.bad[kindSourceEvicted].Add(float64(n))
	}
}

// Start starts the sweeper, which drops vessels silent for LiveFor, until
// ctx is done or Close.
func (t *Tracker) Start(ctx context.Context) error {
	t.mu.Lock()
	started := t.started
	t.started = true
	t.mu.Unlock()
	if started {
		return errors.New("vessels: already started")
	}
	return t.goroutine(ctx, func(ctx context.Context) {
		tick := time.NewTicker(t.cfg.SweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if n := t.sweep(t.now()); n > 0 {
					t.log.Debug("silent vessels dropped", "vessels", n)
				}
			}
		}
	})
}

// Close stops the listeners (intake first) and the sweeper, and waits for
// them. HandleNMEA keeps working: the pipeline that calls it has its own
// lifecycle.
func (t *Tracker) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	cancels := t.cancels
	t.cancels = nil
	t.mu.Unlock()
	// Reverse order of start; the listeners and their connections close
	// their sockets as their contexts end, and Wait sees them all out.
	for i := len(cancels) - 1; i >= 0; i-- {
		cancels[i]()
	}
	t.wg.Wait()
	return nil
}

// goroutine runs fn on the tracker's wait group with a context that Close
// cancels; it fails once the tracker is closed.
func (t *Tracker) goroutine(ctx context.Context, fn func(ctx context.Context)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	t.cancels = append(t.cancels, cancel)
	t.wg.Go(func() {
		defer cancel()
		fn(ctx)
	})
	return nil
}

// errorKind is the metric label of a decoder error (the first kind of a
// joined error).
func errorKind(err error) string {
	for _, k := range errKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

var errKinds = []struct {
	err  error
	name string
}{
	{ais.ErrChecksum, "checksum"},
	{ais.ErrMalformed, "malformed"},
	{ais.ErrTruncated, "truncated"},
	{ais.ErrUnknownType, "unknown_type"},
	{ais.ErrOutOfOrder, "out_of_order"},
	{ais.ErrOrphan, "orphan"},
	{ais.ErrIncomplete, "incomplete"},
	{ais.ErrEvicted, "evicted"},
	{ais.ErrExpired, "expired"},
}

// netErrClosed reports whether err says the socket was closed under us.
func netErrClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
