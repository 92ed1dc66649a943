// Package influx stores ingest's time series in InfluxDB: it implements
// series.Writer and series.Querier over the InfluxDB 2.x API that InfluxDB
// 1.8 also serves (bucket "database/retention-policy", org "", token "" or
// "user:password"), through github.com/influxdata/influxdb-client-go/v2.
//
// Writes go through a durable spool: Write encodes points to line protocol
// and appends them to an on-disk spool.Spool, and once it returns nil the
// points survive a crash of this process and any InfluxDB outage. A single
// sender (Run) reads the spool in order, posts batches of up to BatchLines
// lines or whatever arrived within FlushInterval, retries what may succeed
// later (network errors, 5xx, 429, and 401/403/404, which are configuration
// that an operator can fix) with capped exponential back-off, and
// acknowledges a batch only once InfluxDB took it. A batch InfluxDB rejects
// for its content (400, e.g. a partial write or a line it cannot parse) is
// logged, counted and dropped, so one bad batch cannot wedge the queue. The
// spool is bounded: when InfluxDB stays away long enough to fill it, Write
// returns an error wrapping ErrFull and the caller decides what to drop.
//
// Delivery is at least once: after a crash a batch may be sent twice,
// which InfluxDB absorbs because a point with the same series and time
// overwrites itself.
//
// It imports series and spool from this module and no other package of it.
package influx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/lawfleet/fleet/ingest/series"
	"github.com/lawfleet/fleet/ingest/spool"
)

// ErrFull is returned (wrapped) by Write when the spool is at its cap.
var ErrFull = spool.ErrFull

// ErrClosed is returned by Write, Run and Track after Close.
var ErrClosed = errors.New("influx: closed")

// Config says where InfluxDB and the spool are and how to batch. Zero
// durations and sizes take the defaults shown.
type Config struct {
	URL    string // e.g. http://127.0.0.1:8086
	Token  string // "" without authentication, "user:password" for 1.8
	Org    string // "" for 1.8
	Bucket string // "telemetry/autogen" for 1.8

	SpoolDir string        // required: where unsent points wait
	Spool    spool.Options // its cap and fsync policy; its Logger is set here

	BatchLines     int           // lines per write request (default 5,000)
	BatchBytes     int           // and at most this many bytes (default 4 MiB)
	FlushInterval  time.Duration // longest a smaller batch waits (default 200 ms)
	RetryMin       time.Duration // first back-off (default 250 ms)
	RetryMax       time.Duration // back-off cap (default 30 s)
	RequestTimeout time.Duration // per HTTP request (default 30 s)
	// DrainTimeout bounds the last flush when Run stops (default 5 s);
	// whatever is left stays in the spool for the next start.
	DrainTimeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.BatchLines <= 0 {
		c.BatchLines = 5000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 4 << 20
	}
	def(&c.FlushInterval, 200*time.Millisecond)
	def(&c.RetryMin, 250*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.DrainTimeout, 5*time.Second)
	return c
}

// Stats counts what the store did since New.
type Stats struct {
	PointsWritten  uint64 // lines InfluxDB accepted
	PointsInvalid  uint64 // points Write skipped: no measurement or no encodable field
	WriteRejected  uint64 // Write calls refused because the spool was full
	BatchesWritten uint64
	BatchesFailed  uint64 // write requests that failed (each attempt)
	Retries        uint64 // attempts after a recoverable failure
	BatchesDropped uint64 // batches InfluxDB rejected for their content
	PointsDropped  uint64 // lines in those batches (InfluxDB may have kept some of a partial write)
	Spool          spool.Stats
}

// Store is a series.Writer and series.Querier on InfluxDB.
type Store struct {
	cfg    Config
	log    *slog.Logger
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
	spool  *spool.Spool

	bufs sync.Pool // *writeBuf, so that Write allocates nothing per call

	mu      sync.Mutex
	closed  bool
	running bool
	cancel  context.CancelFunc // stops Run
	done    chan struct{}      // closed when Run returns

	pointsWritten, pointsInvalid, writeRejected atomic.Uint64
	batchesWritten, batchesFailed, retries      atomic.Uint64
	batchesDropped, pointsDropped               atomic.Uint64
	lastFailLog, lastDropLog, dropsSinceLastLog atomic.Int64
}

var (
	_ series.Writer  = (*Store)(nil)
	_ series.Querier = (*Store)(nil)
)

// New opens the spool and prepares the client; it does not contact
// InfluxDB (see Ping), so the service starts and buffers while InfluxDB is
// down. Call Run to send and Close to stop.
func New(cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.URL == "" || cfg.Bucket == "" || cfg.SpoolDir == "" {
		return nil, errors.New("influx: URL, Bucket and SpoolDir are required")
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "influx")
	so := cfg.Spool
	so.Logger = log.With("spool", cfg.SpoolDir)
	sp, err := spool.Open(cfg.SpoolDir, so)
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	opts := influxdb2.DefaultOptions().
		SetApplicationName("fleet").
		SetHTTPRequestTimeout(uint(cfg.RequestTimeout / time.Second)).
		// Retries are ours (and survive restarts); the blocking API does
		// not retry, this only keeps the option coherent.
		SetMaxRetries(0)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	s := &Store{
		cfg:    cfg,
		log:    log,
		client: client,
		write:  client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		query:  client.QueryAPI(cfg.Org),
		spool:  sp,
	}
	s.bufs.New = func() any { return &writeBuf{buf: make([]byte, 0, 16<<10)} }
	if st := sp.Stats(); st.Unacked > 0 {
		log.Info("resuming unsent points from spool", "batches", st.Unacked, "bytes", st.Bytes)
	}
	return s, nil
}

// writeBuf is the per-call scratch of Write.
type writeBuf struct {
	enc encoder
	buf []byte
}

// Write encodes the points and appends them to the spool as one record.
// When it returns nil the points are durable; sending happens in Run.
// Points that cannot be encoded (no measurement or no valid field) are
// skipped and counted, not an error. With the spool full it returns an
// error wrapping ErrFull and keeps nothing.
//
// Each call is one write to the spool file, so callers should hand over
// points in batches (a few hundred), not one by one.
func (s *Store) Write(ctx context.Context, points []series.Point) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wb := s.bufs.Get().(*writeBuf)
	defer s.bufs.Put(wb)
	buf := wb.buf[:0]
	var ok bool
	invalid := 0
	for i := range points {
		if buf, ok = wb.enc.appendPoint(buf, &points[i]); !ok {
			invalid++
		}
	}
	// Keep a grown buffer for the next call, unless one huge call made it
	// big enough to be worth giving back.
	if cap(buf) <= 1<<20 {
		wb.buf = buf
	}
	if invalid > 0 {
		s.pointsInvalid.Add(uint64(invalid))
	}
	if len(buf) == 0 {
		return nil
	}
	if err := s.spool.Append([][]byte{buf}); err != nil {
		if errors.Is(err, spool.ErrFull) {
			s.writeRejected.Add(1)
		}
		if errors.Is(err, spool.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("influx: spool: %w", err)
	}
	return nil
}

// Run sends spooled points to InfluxDB until ctx is done or Close is
// called, then flushes what it can within DrainTimeout. It returns nil on
// a normal stop.
func (s *Store) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return errors.New("influx: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.running, s.cancel, s.done = true, cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	defer close(done)
	defer cancel()

	for {
		b, err := s.gather(ctx, true)
		if err != nil {
			return err
		}
		// A batch interrupted by the stop was read but not acknowledged:
		// the drain must start with it, or acknowledging a later one
		// would skip it.
		if ctx.Err() != nil || !s.deliver(ctx, b) {
			return s.drain(b)
		}
	}
}

var newline = []byte{'\n'}

// batch is one write request's worth of spooled records.
type batch struct {
	body  strings.Builder
	lines int
	next  uint64 // spool index to acknowledge after it
}

// gather collects records from the spool until the batch is full or, once
// it has something, FlushInterval has passed; wait false returns at once
// with whatever is there.
func (s *Store) gather(ctx context.Context, wait bool) (*batch, error) {
	b := &batch{}
	var deadline time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r, err := s.spool.Read(s.cfg.BatchBytes - b.body.Len())
		if err != nil {
			return nil, fmt.Errorf("influx: read spool: %w", err)
		}
		if len(r.Records) > 0 {
			if b.body.Len() == 0 {
				b.body.Grow(min(s.cfg.BatchBytes, 1<<20))
				deadline = time.Now().Add(s.cfg.FlushInterval)
			}
			for _, rec := range r.Records {
				b.body.Write(rec)
				b.lines += bytes.Count(rec, newline)
			}
			b.next = r.Next
			if b.lines >= s.cfg.BatchLines || b.body.Len() >= s.cfg.BatchBytes {
				return b, nil
			}
			continue
		}
		if r.Next > b.next {
			b.next = r.Next // the spool skipped damaged records: acknowledge them too
		}
		if !wait || ctx.Err() != nil {
			return b, nil
		}
		wake := time.Hour
		if b.lines > 0 {
			wake = time.Until(deadline)
			if wake <= 0 {
				return b, nil
			}
		}
		if timer == nil {
			timer = time.NewTimer(wake)
		} else {
			timer.Reset(wake)
		}
		select {
		case <-ctx.Done():
			return b, nil
		case <-s.spool.Notify():
		case <-timer.C:
		}
	}
}

// deliver sends b until InfluxDB takes it or rejects it for good (done is
// true, and it is acknowledged), or ctx ends (done is false).
func (s *Store) deliver(ctx context.Context, b *batch) (done bool) {
	if b.lines == 0 {
		s.ack(b.next)
		return true
	}
	body := b.body.String()
	backoff := s.cfg.RetryMin
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.retries.Add(1)
		}
		err := s.post(ctx, body)
		if err == nil {
			s.pointsWritten.Add(uint64(b.lines))
			s.batchesWritten.Add(1)
			if attempt > 0 {
				s.log.Info("InfluxDB writes recovered", "attempts", attempt+1)
			}
			s.ack(b.next)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.batchesFailed.Add(1)
		retry, wait := classify(err)
		if !retry {
			s.drop(b, err)
			return true
		}
		wait = max(wait, backoff)
		wait = min(wait, s.cfg.RetryMax)
		s.logFailure(err, attempt, wait)
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.RetryMax)
	}
}

// drain makes one attempt to send what is left when Run stops, starting
// with b, so a clean shutdown leaves InfluxDB current; what fails stays in
// the spool for the next start.
func (s *Store) drain(b *batch) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	for {
		if b.lines > 0 {
			if err := s.post(ctx, b.body.String()); err != nil {
				s.log.Warn("could not flush InfluxDB writes on stop; they stay in the spool", "err", err)
				return nil
			}
			s.pointsWritten.Add(uint64(b.lines))
			s.batchesWritten.Add(1)
		}
		s.ack(b.next)
		if b.lines == 0 {
			return nil
		}
		var err error
		if b, err = s.gather(ctx, false); err != nil {
			return err
		}
	}
}

// jitter spreads retries of several instances over ±20 % of d.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(d*2/5+1)
}

func (s *Store) post(ctx context.Context, body string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return s.write.WriteRecord(ctx, body)
}

func (s *Store) ack(next uint64) {
	if next == 0 {
		return
	}
	if err := s.spool.Ack(next); err != nil && !errors.Is(err, spool.ErrClosed) {
		// The batch is in InfluxDB; failing to record that only means it
		// is sent again after a restart.
		s.log.Error("spool ack failed", "err", err)
	}
}

// classify says whether a failed write may succeed later, and how long
// the server asked us to wait.
func classify(err error) (retry bool, wait time.Duration) {
	var he *http2.Error
	if !errors.As(err, &he) {
		return true, 0 // timeouts and the like
	}
	if he.RetryAfter > 0 {
		wait = time.Duration(he.RetryAfter) * time.Second
	}
	switch code := he.StatusCode; {
	case code == 0: // no response: network
		return true, wait
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return true, wait
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound:
		// Wrong token or a missing database: every batch would fail the
		// same way, and dropping them would lose everything until an
		// operator fixes it. Keep them; the spool's cap bounds the wait.
		return true, wait
	}
	return false, 0
}

func (s *Store) drop(b *batch, err error) {
	lines := uint64(b.lines)
	if n, ok := droppedCount(err); ok && n <= lines {
		lines = n // a partial write kept the rest
	}
	s.batchesDropped.Add(1)
	s.pointsDropped.Add(lines)
	s.dropsSinceLastLog.Add(1)
	// One line per 10 s at most: a stream of bad points must not flood the log.
	if now := time.Now().UnixNano(); now-s.lastDropLog.Load() >= int64(10*time.Second) {
		s.lastDropLog.Store(now)
		s.log.Error("InfluxDB rejected a batch; dropped", "err", err, "lines", b.lines,
			"batches_dropped_since_last_log", s.dropsSinceLastLog.Swap(0))
	}
	s.ack(b.next)
}

// droppedCount reads InfluxDB 1.x's "partial write: … dropped=N".
func droppedCount(err error) (uint64, bool) {
	msg := err.Error()
	i := strings.LastIndex(msg, "dropped=")
	if i < 0 {
		return 0, false
	}
	digits := msg[i+len("dropped="):]
	end := 0
	for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	n, perr := strconv.ParseUint(digits[:end], 10, 64)
	return n, perr == nil
}

func (s *Store) logFailure(err error, attempt int, wait time.Duration) {
	// The first failure of an outage, then one line per 30 s.
	now := time.Now().UnixNano()
	if attempt == 0 || now-s.lastFailLog.Load() >= int64(30*time.Second) {
		s.lastFailLog.Store(now)
		st := s.spool.Stats()
		s.log.Warn("InfluxDB write failed; will retry", "err", err, "attempt", attempt+1,
			"retry_in", wait, "spool_bytes", st.Bytes, "spool_unacked", st.Unacked)
	}
}

// Ping checks that InfluxDB answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("influx: ping: %w", err)
	}
	if !ok {
		return errors.New("influx: ping: not ready")
	}
	return nil
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		PointsWritten:  s.pointsWritten.Load(),
		PointsInvalid:  s.pointsInvalid.Load(),
		WriteRejected:  s.writeRejected.Load(),
		BatchesWritten: s.batchesWritten.Load(),
		BatchesFailed:  s.batchesFailed.Load(),
		Retries:        s.retries.Load(),
		BatchesDropped: s.batchesDropped.Load(),
		PointsDropped:  s.pointsDropped.Load(),
		Spool:          s.spool.Stats(),
	}
}

// Close stops Run (which flushes for up to DrainTimeout), waits for it,
// and closes the spool and the client. Unsent points stay on disk.
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
	err := s.spool.Close()
	s.client.Close()
	if err != nil {
		return fmt.Errorf("influx: close spool: %w", err)
	}
	return nil
}
