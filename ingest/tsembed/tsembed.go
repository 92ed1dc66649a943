// Package tsembed is the time-series store for the quick start: it
// implements series.Writer and series.Querier on an SQLite file of its own
// (modernc.org/sqlite, no cgo), so the service runs without InfluxDB.
//
// Write converts points to rows and puts them on a bounded in-memory queue
// (ErrFull when it is at its cap); one goroutine (Run) inserts them in
// transactions of up to BatchPoints rows or every FlushInterval, and deletes
// points older than Retention on a ticker. Points still queued when the
// process dies are lost: this store is for trying the service and small
// fleets, and production uses the influx package with its durable spool.
//
// Telemetry rows are keyed by (device, ts) and a second write of the same
// instant merges its fields into the first, as InfluxDB does for a point
// of the same series and time. Other measurements are kept as JSON rows.
//
// It imports series from this module and no other package of it.
package tsembed

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lawfleet/fleet/ingest/series"
)

// Errors returned by the store.
var (
	// ErrFull is returned by Write when the queue holds QueuePoints points:
	// the disk is not keeping up, and the caller decides what to drop.
	ErrFull = errors.New("tsembed: queue full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("tsembed: closed")
)

// DefaultFile is the name the service gives the database in its data
// directory, beside (never inside) the register's database.
const DefaultFile = "timeseries.db"

// Options tune the store; zero values take the defaults shown.
type Options struct {
	QueuePoints       int           // points waiting to be inserted, at most (default 100,000)
	BatchPoints       int           // rows per transaction, at most (default 5,000)
	FlushInterval     time.Duration // longest a queued point waits (default 200 ms)
	Retention         time.Duration // age at which points are deleted (default 30 days; negative keeps all)
	RetentionInterval time.Duration // how often old points are deleted (default 1 h)
}

func (o Options) withDefaults() Options {
	if o.QueuePoints <= 0 {
		o.QueuePoints = 100_000
	}
	if o.BatchPoints <= 0 {
		o.BatchPoints = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.Retention == 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Hour
	}
	return o
}

// Stats counts what the store did since Open.
type Stats struct {
	Queued        int    // points waiting now
	PointsWritten uint64 // rows inserted or merged
	PointsInvalid uint64 // points skipped: no measurement, no fields, or telemetry without device
	WriteRejected uint64 // Write calls refused with ErrFull
	InsertErrors  uint64 // failed transactions (their points are lost)
	PointsDeleted uint64 // rows removed by retention
}

const schema = `
CREATE TABLE IF NOT EXISTS telemetry (
	device      TEXT    NOT NULL,
	ts          INTEGER NOT NULL, -- Unix ns
	lat         REAL,
	lon         REAL,
	speed_kmh   REAL,
	heading_deg REAL,
	tags        TEXT    NOT NULL, -- JSON object: the tags other than device
	fields      TEXT    NOT NULL, -- JSON object: the fields other than the four above
	PRIMARY KEY (device, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_ts ON telemetry (ts);
CREATE TABLE IF NOT EXISTS points (
	measurement TEXT    NOT NULL,
	ts          INTEGER NOT NULL, -- Unix ns
	tags        TEXT    NOT NULL, -- JSON object
	fields      TEXT    NOT NULL  -- JSON object
);
CREATE INDEX IF NOT EXISTS points_measurement_ts ON points (measurement, ts);
CREATE INDEX IF NOT EXISTS points_ts ON points (ts);
`

// A later write of the same device and instant fills in or overwrites
// fields, never blanks them, like InfluxDB's per-field upsert.
const insertTelemetry = `
INSERT INTO telemetry (device, ts, lat, lon, speed_kmh, heading_deg, tags, fields)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device, ts) DO UPDATE SET
	lat         = coalesce(excluded.lat, lat),
	lon         = coalesce(excluded.lon, lon),
	speed_kmh   = coalesce(excluded.speed_kmh, speed_kmh),
	heading_deg = coalesce(excluded.heading_deg, heading_deg),
	tags        = json_patch(tags, excluded.tags),
	fields      = json_patch(fields, excluded.fields)`

const insertPoint = `INSERT INTO points (measurement, ts, tags, fields) VALUES (?, ?, ?, ?)`

// row is a point ready for insertion, prepared on the caller's goroutine.
type row struct {
	telemetry   bool
	measurement string // or device, for telemetry
	ts          int64
	pos         [4]sql.NullFloat64 // lat, lon, speed_kmh, heading_deg
	tags        string
	fields      string
}

// Store is a series.Writer and series.Querier on SQLite.
type Store struct {
	db   *sql.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	queue   []row
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	wake    chan struct{} // capacity 1: the queue reached BatchPoints

	written, invalid, rejected, insertErrs, deleted atomic.Uint64
}

var (
	_ series.Writer  = (*Store)(nil)
	_ series.Querier = (*Store)(nil)
)

// Open opens or creates the database file at path (its directory must
// exist). Call Run to insert and Close to stop.
func Open(ctx context.Context, path string, opts Options, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// WAL lets Track read while the writer inserts; NORMAL sync is
	// durable against a crash of the process, which is what this store
	// promises (the queue itself is not durable anyway).
	q := url.Values{"_pragma": {"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)"}}
	// A plain file name, not a "file:" URI, so that '#', '%' and spaces
	// in the path are taken literally; the driver splits at the first '?'.
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("tsembed: path %q must not contain '?'", path)
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("tsembed: open %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("tsembed: schema %s: %w", path, err)
	}
	opts = opts.withDefaults()
	return &Store{
		db:   db,
		opts: opts,
		log:  logger.With("component", "tsembed"),
		wake: make(chan struct{}, 1),
	}, nil
}

// Write queues the points for insertion. It returns ErrFull, queuing
// nothing, when they would take the queue over QueuePoints. Points that
// cannot be stored are skipped and counted.
func (s *Store) Write(ctx context.Context, points []series.Point) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows := make([]row, 0, len(points))
	now := time.Now()
	for i := range points {
		r, ok := toRow(&points[i], now)
		if !ok {
			s.invalid.Add(1)
			continue
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if len(s.queue)+len(rows) > s.opts.QueuePoints {
		s.rejected.Add(1)
		return ErrFull
	}
	s.queue = append(s.queue, rows...)
	if len(s.queue) >= s.opts.BatchPoints {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

var positionFields = [4]string{"lat", "lon", "speed_kmh", "heading_deg"}

func toRow(p *series.Point, now time.Time) (row, bool) {
	if p.Measurement == "" || len(p.Fields) == 0 {
		return row{}, false
	}
	ts := p.Time
	if ts.IsZero() {
		ts = now // InfluxDB stamps a point without time on arrival, too
	}
	r := row{measurement: p.Measurement, ts: ts.UnixNano()}
	tags, fields := p.Tags, p.Fields
	if p.Measurement == series.Telemetry {
		dev := p.Tags["device"]
		if dev == "" {
			return row{}, false
		}
		r.telemetry, r.measurement = true, dev
		tags = without(p.Tags, "device")
		rest := make(map[string]any, len(p.Fields))
		for k, v := range p.Fields {
			rest[k] = v
		}
		for i, k := range positionFields {
			if f, ok := toFloat(p.Fields[k]); ok {
				r.pos[i] = sql.NullFloat64{Float64: f, Valid: true}
				delete(rest, k)
			}
		}
		fields = rest
	}
	tj, err1 := json.Marshal(nonNil(tags))
	fj, err2 := json.Marshal(fields)
	if err1 != nil || err2 != nil {
		return row{}, false // NaN or a value JSON cannot hold
	}
	r.tags, r.fields = string(tj), string(fj)
	return r, true
}

func without(m map[string]string, key string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, v == v // not NaN
	case float32:
		return float64(v), v == v
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	}
	return 0, false
}

// Run inserts queued points and applies retention until ctx is done or
// Close is called; then it inserts what is still queued and returns.
func (s *Store) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return errors.New("tsembed: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.running, s.cancel, s.done = true, cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	defer close(done)
	defer cancel()

	flush := time.NewTicker(s.opts.FlushInterval)
	defer flush.Stop()
	retention := time.NewTicker(s.opts.RetentionInterval)
	defer retention.Stop()
	s.applyRetention(ctx, time.Now()) // a restart after a long stop catches up at once
	for {
		select {
		case <-ctx.Done():
			// Intake has stopped (Close) or the service is going down:
			// keep what was accepted.
			s.flush(context.WithoutCancel(ctx))
			return nil
		case <-s.wake:
		case <-flush.C:
		case <-retention.C:
			s.applyRetention(ctx, time.Now())
		}
		s.flush(ctx)
	}
}

// flush inserts everything queued, BatchPoints rows per transaction.
func (s *Store) flush(ctx context.Context) {
	for {
		s.mu.Lock()
		n := min(len(s.queue), s.opts.BatchPoints)
		batch := s.queue[:n:n]
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if err := s.insert(ctx, batch); err != nil {
			s.insertErrs.Add(1)
			s.log.Error("inserting points failed; batch lost", "points", n, "err", err)
		} else {
			s.written.Add(uint64(n))
		}
	}
}

func (s *Store) insert(ctx context.Context, rows []row) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var tel, pts *sql.Stmt
	for i := range rows {
		r := &rows[i]
		if r.telemetry {
			if tel == nil {
				if tel, err = tx.PrepareContext(ctx, insertTelemetry); err != nil {
					return fmt.Errorf("prepare: %w", err)
				}
			}
			_, err = tel.ExecContext(ctx, r.measurement, r.ts, r.pos[0], r.pos[1], r.pos[2], r.pos[3], r.tags, r.fields)
		} else {
			if pts == nil {
				if pts, err = tx.PrepareContext(ctx, insertPoint); err != nil {
					return fmt.Errorf("prepare: %w", err)
				}
			}
			_, err = pts.ExecContext(ctx, r.measurement, r.ts, r.tags, r.fields)
		}
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retentionSlice bounds one delete statement, so a first run over months
// of old data does not hold the write lock (and the insert queue) for long.
const retentionSlice = 6 * time.Hour

// applyRetention deletes points older than Retention, oldest first, a
// slice at a time, inserting queued points between slices.
func (s *Store) applyRetention(ctx context.Context, now time.Time) {
	if s.opts.Retention < 0 {
		return
	}
	cutoff := now.Add(-s.opts.Retention).UnixNano()
	for _, table := range []string{"telemetry", "points"} {
		for ctx.Err() == nil {
			var oldest sql.NullInt64
			if err := s.db.QueryRowContext(ctx, "SELECT min(ts) FROM "+table).Scan(&oldest); err != nil {
				s.log.Error("retention: oldest point", "table", table, "err", err)
				break
			}
			if !oldest.Valid || oldest.Int64 >= cutoff {
				break
			}
			upTo := min(cutoff, oldest.Int64+int64(retentionSlice))
			res, err := s.db.ExecContext(ctx, "DELETE FROM "+table+" WHERE ts < ?", upTo)
			if err != nil {
				s.log.Error("retention: delete", "table", table, "err", err)
				break
			}
			n, _ := res.RowsAffected()
			s.deleted.Add(uint64(n))
			s.flush(ctx)
		}
	}
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	q := len(s.queue)
	s.mu.Unlock()
	return Stats{
		Queued:        q,
		PointsWritten: s.written.Load(),
		PointsInvalid: s.invalid.Load(),
		WriteRejected: s.rejected.Load(),
		InsertErrors:  s.insertErrs.Load(),
		PointsDeleted: s.deleted.Load(),
	}
}

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("tsembed: ping: %w", err)
	}
	return nil
}

// Close stops intake, lets Run insert what is queued, waits for it and
// closes the database. Without Run, queued points are inserted here.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	// Whatever arrived after Run stopped, or without Run at all.
	s.flush(context.Background())
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("tsembed: close: %w", err)
	}
	return nil
}
