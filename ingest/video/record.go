package video

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lawfleet/fleet/fleet"
)

// Recording a live stream into the evidence store. A recording is one
// more reader of a device's stream: it holds the path as a viewer does
// (so the source starts, or keeps running, while it records), writes the
// media into fragmented-MP4 segment files under Config.RecordDir (see
// recMuxer), and hands each closed segment to the RecordingSink, which
// files it as evidence; a stored segment's file is then removed. A segment
// the sink refuses or cannot take after a few tries stays on disk, logged
// and counted, so that footage is never dropped silently.
//
// A recording ends when asked to (StopRecording), when its MaxDuration
// has passed, when the source ends (the recorder stops pushing, the
// terminal's pull breaks off, a newer push replaces it), or when the relay
// closes; each closes its last segment cleanly and stores it before the
// recording counts as stopped. A device has at most one recording at a
// time. Recordings live in the process that holds the stream, as the
// stream itself does.

// RecordingSink stores a closed segment, e.g. as an evidence item. It is
// called from the recording's own goroutine, one segment at a time and in
// order, and may take as long as the store needs (up to its context's
// deadline). It may move seg.Path away; whatever is left there after a nil
// return is removed. An error whose fleet code is EUNAVAILABLE or EINTERNAL
// is retried.
type RecordingSink interface {
	StoreRecording(ctx context.Context, seg RecordedSegment) error
}

// RecordingRequest asks for a device's live stream to be recorded.
type RecordingRequest struct {
	By          string        // user id of who asked, or "system" (an SOS)
	ByName      string        // their user name, for the custody log; default By
	Reason      string        // required: why, for the custody log
	MaxDuration time.Duration // 0: Config.RecordMaxDuration; at most Config.RecordMaxLimit
}

// RecordedSegment is one closed segment of a recording.
type RecordedSegment struct {
	RecordingID string
	DeviceID    string
	Seq         int           // 1, 2, … within the recording
	Start       time.Time     // when its first picture reached the relay
	End         time.Time     // Start + Duration
	Duration    time.Duration // of its media
	Path        string        // the closed MP4 file
	SizeBytes   int64
	SHA256      string   // lower-case hex, taken as the file was written
	Codecs      []string // the stream's formats it carries, e.g. H264, MPEG-4 Audio
	By, ByName  string   // as in the request
	Reason      string
}

// Recording states (RecordingState.State).
const (
	RecordingIdle     = "idle"      // no recording of this device lately
	RecordingWaiting  = "waiting"   // the source was asked for and is not live yet
	RecordingActive   = "recording" // media is being written
	RecordingStopping = "stopping"  // the last segment is being closed and stored
	RecordingStopped  = "stopped"   // ended; the counts are final
)

const (
	defaultRecSegment  = time.Minute
	defaultRecMax      = 30 * time.Minute
	defaultRecLimit    = 4 * time.Hour
	recPartDuration    = time.Second // fragments are flushed to disk about this often
	recStoreTimeout    = 2 * time.Minute
	recStoreAttempts   = 3
	recKeepStopped     = time.Hour // a stopped recording's state is reported this long
	recQueuedSegments  = 1024      // closed segments waiting for the sink, per recording
	maxRecordingReason = 500       // characters, as the vault takes
)

// Why a recording ended (RecordingState.StopCause).
const (
	StopRequested   = "requested"
	StopMaxDuration = "max_duration"
	StopSourceEnded = "source_ended"
	StopRelayClosed = "relay_closed"
	StopUnsupported = "unsupported" // the stream has nothing MP4 can carry
)

// errRecordWrite is the stream error kind of a segment file that could
// not be written (a full disk).
const errRecordWrite = "record_write"

// RecordingState is a device's current or last recording, as
// GET /api/v1/devices/{id}/live/recording reports it.
type RecordingState struct {
	ID          string     `json:"id,omitempty"`
	DeviceID    string     `json:"device_id"`
	State       string     `json:"state"`
	By          string     `json:"by,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	Until       *time.Time `json:"until,omitempty"` // when MaxDuration stops it
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`
	StopCause   string     `json:"stop_cause,omitempty"`
	StoppedBy   string     `json:"stopped_by,omitempty"`
	Codecs      []string   `json:"codecs,omitempty"`
	Segments    int        `json:"segments"`        // stored by the sink
	StoredBytes int64      `json:"stored_bytes"`    // their size
	Failed      int        `json:"failed_segments"` // kept on disk: the sink could not take them
	LastError   string     `json:"last_error,omitempty"`
}

// recorder is the relay's recording side: the sink, the recordings by
// device (guarded by Relay.mu) and the metrics.
type recorder struct {
	sink   RecordingSink
	byDev  map[string]*recording
	active prometheus.Gauge
	segs   *prometheus.CounterVec
	bytes  prometheus.Counter
}

func newRecorder(sink RecordingSink, reg prometheus.Registerer) (*recorder, error) {
	rc := &recorder{sink: sink, byDev: make(map[string]*recording),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fleet_video_recordings_active",
			Help: "Live streams being recorded into the evidence store (waiting for their source included).",
		}),
		segs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleet_video_recorded_segments_total",
			Help: "Recorded MP4 segments, by result (stored: the evidence store took it; failed: kept on disk).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleet_video_recorded_bytes_total",
			Help: "Bytes of recorded segments the evidence store took.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{rc.active, rc.segs, rc.bytes} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("video: register metrics: %w", err)
			}
		}
	}
	return rc, nil
}

// recording is one recording of one device. Its mutable fields are
// guarded by Relay.mu.
type recording struct {
	id       string
	deviceID string
	req      RecordingRequest
	started  time.Time
	until    time.Time
	path     *path
	stop     chan struct{} // closed by StopRecording
	done     chan struct{} // closed when stopped and every segment handed on
	segs     chan segmentFile

	state     string
	stoppedBy string
	cause     string
	stoppedAt time.Time
	codecs    []string
	stored    int
	failed    int
	bytes     int64
	lastErr   string
}

func (rec *recording) stateLocked() RecordingState {
	s := RecordingState{ID: rec.id, DeviceID: rec.deviceID, State: rec.state, By: rec.req.By,
		Reason: rec.req.Reason, StopCause: rec.cause, StoppedBy: rec.stoppedBy, Codecs: rec.codecs,
		Segments: rec.stored, StoredBytes: rec.bytes, Failed: rec.failed, LastError: rec.lastErr}
	started, until := rec.started.UTC(), rec.until.UTC()
	s.StartedAt, s.Until = &started, &until
	if !rec.stoppedAt.IsZero() {
		at := rec.stoppedAt.UTC()
		s.StoppedAt = &at
	}
	return s
}

func (rec *recording) finished() bool {
	select {
	case <-rec.done:
		return true
	default:
		return false
	}
}

// recordDefaults fills the recording settings of a Config.
func (c Config) recordDefaults() Config {
	if c.RecordDir == "" {
		c.RecordDir = filepath.Join(os.TempDir(), "fleet-recordings")
	}
	if c.RecordSegment <= 0 {
		c.RecordSegment = defaultRecSegment
	}
	c.RecordSegment = max(c.RecordSegment, time.Second)
	if c.RecordMaxDuration <= 0 {
		c.RecordMaxDuration = defaultRecMax
	}
	if c.RecordMaxLimit <= 0 {
		c.RecordMaxLimit = defaultRecLimit
	}
	c.RecordMaxLimit = max(c.RecordMaxLimit, c.RecordMaxDuration)
	return c
}

// StartRecording starts recording deviceID's live stream: its source is
// started if nothing feeds it, and the recording waits for it (asking a
// recorder again now and then) until it goes live, the recording is
// stopped, or MaxDuration passes. It answers at once with the new
// recording's state. A device already being recorded is ECONFLICT; a
// relay without a RecordingSink EUNAVAILABLE; unknown devices ENOTFOUND,
// devices without video EINVALID.
func (r *Relay) StartRecording(ctx context.Context, deviceID string, req RecordingRequest) (RecordingState, error) {
	cfg := r.cfg.recordDefaults()
	if r.rec.sink == nil {
		return RecordingState{}, fleet.Errorf(fleet.EUNAVAILABLE, "recording live video is not enabled")
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		return RecordingState{}, fleet.Invalid("reason", "reason is required: say why the stream is recorded")
	case utf8.RuneCountInString(req.Reason) > maxRecordingReason:
		return RecordingState{}, fleet.Invalid("reason", "reason is longer than %d characters", maxRecordingReason)
	case req.By == "":
		return RecordingState{}, fleet.Invalid("by", "who asked for the recording is required")
	case req.MaxDuration < 0 || req.MaxDuration > cfg.RecordMaxLimit:
		return RecordingState{}, fleet.Invalid("max_duration", "a recording lasts at most %v", cfg.RecordMaxLimit)
	}
	if req.MaxDuration == 0 {
		req.MaxDuration = cfg.RecordMaxDuration
	}
	if req.ByName == "" {
		req.ByName = req.By
	}
	if err := os.MkdirAll(cfg.RecordDir, 0o750); err != nil {
		return RecordingState{}, fmt.Errorf("video: recording directory: %w", err)
	}

	// Reserved before the source is acquired, so that two requests at
	// once cannot both record.
	now := time.Now()
	rec := &recording{id: fleet.NewID("rec"), deviceID: deviceID, req: req, started: now,
		until: now.Add(req.MaxDuration), stop: make(chan struct{}), done: make(chan struct{}),
		segs: make(chan segmentFile, recQueuedSegments), state: RecordingWaiting}
	r.mu.Lock()
	r.pruneRecordingsLocked(now)
	if cur := r.rec.byDev[deviceID]; cur != nil && !cur.finished() {
		s := cur.stateLocked()
		r.mu.Unlock()
		return s, fleet.Errorf(fleet.ECONFLICT, "device %s is already being recorded (since %s, by %s: %s)",
			deviceID, s.StartedAt.Format(time.RFC3339), s.By, s.Reason)
	}
	prev := r.rec.byDev[deviceID]
	r.rec.byDev[deviceID] = rec
	r.mu.Unlock()

	p, err := r.acquire(ctx, deviceID)
	r.mu.Lock()
	if err == nil && r.closed {
		r.releaseLocked(p, now)
		err = errClosed
	}
	if err != nil {
		if r.rec.byDev[deviceID] == rec {
			if prev != nil {
				r.rec.byDev[deviceID] = prev
			} else {
				delete(r.rec.byDev, deviceID)
			}
		}
		r.mu.Unlock()
		return RecordingState{}, err
	}
	rec.path = p
	state := rec.stateLocked()
	// Added under the lock that Close takes before it waits: no Add after Wait.
	r.wg.Add(1)
	r.mu.Unlock()
	r.rec.active.Inc()
	r.log.Info("recording started", "device", deviceID, "recording", rec.id, "by", req.By, "reason", req.Reason,
		"max", req.MaxDuration)
	go func() {
		defer r.wg.Done()
		r.runRecording(rec, cfg)
	}()
	return state, nil
}

// StopRecording stops deviceID's recording and waits, as long as ctx
// allows, for its last segment to be stored; the state it returns says
// whether it got there ("stopped") or not yet ("stopping"). No recording
// under way is ENOTFOUND.
func (r *Relay) StopRecording(ctx context.Context, deviceID, by string) (RecordingState, error) {
	r.mu.Lock()
	rec := r.rec.byDev[deviceID]
	if rec == nil || rec.finished() || rec.stoppedBy != "" {
		r.mu.Unlock()
		return RecordingState{}, fleet.Errorf(fleet.ENOTFOUND, "device %s is not being recorded", deviceID)
	}
	rec.stoppedBy = by
	if rec.stoppedBy == "" {
		rec.stoppedBy = "unknown"
	}
	close(rec.stop)
	r.mu.Unlock()
	select {
	case <-rec.done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return rec.stateLocked(), nil
}

// Recording reports deviceID's recording under way, or its last one
// (kept for an hour after it stopped); state "idle" when there is none.
func (r *Relay) Recording(deviceID string) RecordingState {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneRecordingsLocked(time.Now())
	if rec := r.rec.byDev[deviceID]; rec != nil {
		return rec.stateLocked()
	}
	return RecordingState{DeviceID: deviceID, State: RecordingIdle}
}

// pruneRecordingsLocked forgets recordings stopped long ago, so that the
// map grows only with the devices recorded lately.
func (r *Relay) pruneRecordingsLocked(now time.Time) {
	for id, rec := range r.rec.byDev {
		if rec.finished() && now.Sub(rec.stoppedAt) > recKeepStopped {
			delete(r.rec.byDev, id)
		}
	}
}

func (r *Relay) setRecState(rec *recording, state string) {
	r.mu.Lock()
	rec.state = state
	r.mu.Unlock()
}

func (r *Relay) runRecording(rec *recording, cfg Config) {
	cause := r.record(rec, cfg)
	r.release(rec.path)
	r.mu.Lock()
	rec.state, rec.cause, rec.stoppedAt = RecordingStopped, cause, time.Now()
	s := rec.stateLocked()
	close(rec.done)
	r.mu.Unlock()
	r.rec.active.Dec()
	r.log.Info("recording stopped", "device", rec.deviceID, "recording", rec.id, "cause", cause,
		"segments", s.Segments, "failed", s.Failed, "bytes", s.StoredBytes)
}

// record runs one recording until it ends, and returns why it ended.
func (r *Relay) record(rec *recording, cfg Config) string {
	deadline := time.NewTimer(time.Until(rec.until))
	defer deadline.Stop()
	st, cause := r.awaitStream(rec, deadline.C)
	if st == nil {
		return cause
	}
	mux, err := newRecMuxer(st.desc, cfg.RecordDir, rec.deviceID+"-"+rec.id, cfg.RecordSegment, recPartDuration)
	if err != nil {
		r.mu.Lock()
		rec.lastErr = err.Error()
		r.mu.Unlock()
		r.log.Warn("stream cannot be recorded", "device", rec.deviceID, "recording", rec.id, "media", describe(st.desc), "err", err)
		return StopUnsupported
	}
	if len(mux.skipped) > 0 {
		r.log.Info("tracks not recorded", "device", rec.deviceID, "codecs", mux.skipped)
	}
	mux.fail = func(kind string, err error) { r.streamError(kind, rec.deviceID, err) }
	mux.done = func(sf segmentFile) {
		select {
		case rec.segs <- sf:
		default:
			r.segmentFailed(rec, sf, errors.New("too many segments waiting for the evidence store"))
		}
	}

	stored := make(chan struct{})
	r.wg.Add(1) // inside a goroutine the wait group already counts
	go func() {
		defer r.wg.Done()
		defer close(stored)
		for sf := range rec.segs {
			r.storeSegment(rec, sf, mux.codecs)
		}
	}()

	rd := newReader(r.cfg.ReaderQueue, mux.consume, func() {
		r.streamError(errQueueFull, rec.deviceID, errors.New("recorder behind, packet dropped"))
	})
	cause = StopSourceEnded
	if st.addReader(rd) {
		r.mu.Lock()
		rec.state, rec.codecs = RecordingActive, mux.codecs
		r.mu.Unlock()
		select {
		case <-rd.done: // the stream closed its readers
			if r.ctx.Err() != nil {
				cause = StopRelayClosed
			}
		case <-rec.stop:
			cause = StopRequested
			st.removeReader(rd)
		case <-deadline.C:
			cause = StopMaxDuration
			st.removeReader(rd)
		}
	} else if r.ctx.Err() != nil {
		cause = StopRelayClosed
	}
	// The reader's goroutine has ended: the muxer is this goroutine's now.
	r.setRecState(rec, RecordingStopping)
	mux.closeSegment()
	close(rec.segs)
	<-stored
	return cause
}

// awaitStream waits for rec's path to go live; nil and the cause when the
// recording ends first. A recorder that does not push is asked again at
// most once per StartRetry, as for a waiting viewer.
func (r *Relay) awaitStream(rec *recording, deadline <-chan time.Time) (*stream, string) {
	p := rec.path
	for {
		r.mu.Lock()
		st, changed := p.stream, p.changed
		ask := st == nil && r.reaskLocked(p, time.Now())
		r.mu.Unlock()
		if st != nil {
			return st, ""
		}
		if ask {
			r.askToPush(r.ctx, p)
		}
		retry := time.NewTimer(r.cfg.StartRetry)
		select {
		case <-changed:
		case <-retry.C:
		case <-rec.stop:
			retry.Stop()
			return nil, StopRequested
		case <-deadline:
			retry.Stop()
			return nil, StopMaxDuration
		case <-r.ctx.Done():
			retry.Stop()
			return nil, StopRelayClosed
		}
		retry.Stop()
	}
}

// storeSegment hands one segment to the sink, retrying what may pass
// (the store unavailable, an internal error) a few times. A segment that
// is not stored stays on disk.
func (r *Relay) storeSegment(rec *recording, sf segmentFile, codecs []string) {
	seg := RecordedSegment{RecordingID: rec.id, DeviceID: rec.deviceID, Seq: sf.seq, Start: sf.start.UTC(),
		End: sf.start.Add(sf.duration).UTC(), Duration: sf.duration, Path: sf.path, SizeBytes: sf.size,
		SHA256: sf.sha256, Codecs: codecs, By: rec.req.By, ByName: rec.req.ByName, Reason: rec.req.Reason}
	var err error
	for attempt := 1; attempt <= recStoreAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), recStoreTimeout)
		err = r.rec.sink.StoreRecording(ctx, seg)
		cancel()
		if err == nil {
			break
		}
		code := fleet.ErrorCode(err)
		if attempt == recStoreAttempts || (code != fleet.EUNAVAILABLE && code != fleet.EINTERNAL) {
			break
		}
		// Not r.ctx: the last segments are stored while the relay closes.
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	if err != nil {
		r.segmentFailed(rec, sf, err)
		return
	}
	if rmErr := os.Remove(sf.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		r.log.Warn("remove stored segment", "path", sf.path, "err", rmErr)
	}
	r.rec.segs.WithLabelValues("stored").Inc()
	r.rec.bytes.Add(float64(sf.size))
	r.mu.Lock()
	rec.stored++
	rec.bytes += sf.size
	r.mu.Unlock()
}

func (r *Relay) segmentFailed(rec *recording, sf segmentFile, err error) {
	r.rec.segs.WithLabelValues("failed").Inc()
	r.mu.Lock()
	rec.failed++
	rec.lastErr = fleet.ErrorMessage(err)
	r.mu.Unlock()
	r.log.Error("recorded segment not stored; the file is kept", "device", rec.deviceID, "recording", rec.id,
		"seq", sf.seq, "path", sf.path, "sha256", sf.sha256, "err", err)
}
