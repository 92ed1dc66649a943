// Package spool is a durable, bounded, on-disk FIFO of opaque records: the
// buffer between ingest and a time-series store that may be slow or down.
//
// Records are appended to segment files (append-only, each record
// length-prefixed and CRC-32C checked), read back in order by a single
// reader and acknowledged; segments whose records are all acknowledged are
// deleted. The total size of the segment files is capped: Append returns
// ErrFull instead of growing, so back-pressure reaches the producer. After a
// crash, a torn or corrupt tail of the last segment is detected by its CRC
// and truncated, and unacknowledged records are replayed on the next Open
// (delivery is at least once: acknowledgements are persisted without fsync,
// so a crash can replay a few acknowledged records).
//
// It is standard library only and imports nothing of this module. A segment
// WAL such as github.com/tidwall/wal was considered, but it has no total size
// cap, no reader/acknowledge cursor that survives a restart and keeps an
// in-memory index per entry; what we need on top of it would be as large as
// this package.
//
// On-disk layout of dir:
//
//	LOCK                     flock(2)ed while open, so two processes never share a spool
//	ACK                      index of the first unacknowledged record (+ CRC)
//	00000000000000000042.seg a segment whose first record has index 42
//
// A segment starts with an 8-byte magic; each record is
// len uint32 LE | crc32c(len ‖ payload) uint32 LE | payload.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors returned by the spool.
var (
	// ErrFull is returned by Append when the records would take the spool
	// over Options.MaxBytes. Nothing was written; the caller must slow down,
	// retry later or drop and count.
	ErrFull = errors.New("spool: full")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrTooLarge is returned by Append for a record that cannot fit in a
	// segment.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrEmptyRecord is returned by Append for a zero-length record: a
	// zero-filled tail after a power loss must never parse as records.
	ErrEmptyRecord = errors.New("spool: empty record")
	// ErrLocked is returned by Open when another Spool (in this or another
	// process) has the directory open.
	ErrLocked = errors.New("spool: directory in use")
)

const (
	segMagic   = "FSPOOL\x00\x01" // name and format version 1
	headerLen  = int64(len(segMagic))
	recHdrLen  = 8
	segSuffix  = ".seg"
	ackName    = "ACK"
	lockName   = "LOCK"
	nameDigits = 20 // fits any uint64, so names sort as numbers
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options bound the spool and choose its fsync policy. The zero value is
// usable: every zero field takes the default shown.
type Options struct {
	// MaxBytes caps the total size of the segment files (default 1 GiB).
	// Acknowledged records still inside the oldest segment count until that
	// segment is deleted, which is why segments are small relative to it.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started (default
	// 32 MiB, at most MaxBytes/4). A single record may not exceed it.
	SegmentBytes int64
	// SyncEvery makes Append fsync after this many calls since the last
	// fsync; 1 fsyncs every call (strongest, slowest). 0 leaves it to
	// SyncInterval.
	SyncEvery int
	// SyncInterval is how often a background goroutine fsyncs appended
	// data (default 200 ms; negative disables it). What was appended is in
	// the operating system once Append returns and survives a crash of this
	// process; only a power loss or kernel crash can lose the last interval.
	SyncInterval time.Duration
	// Logger receives recovery and fsync problems (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 32 << 20
	}
	// Keep at least four segments under the cap so that deleting the
	// acknowledged head segment frees a useful share of it.
	o.SegmentBytes = min(o.SegmentBytes, max(o.MaxBytes/4, headerLen+recHdrLen+1))
	if o.SyncInterval == 0 {
		o.SyncInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats is a snapshot of the spool's size and history since Open.
type Stats struct {
	Bytes          int64  // size of all segment files on disk
	Segments       int    // number of segment files
	Unacked        uint64 // records appended and not yet acknowledged
	Unread         uint64 // records appended and not yet returned by Read
	Appended       uint64 // records appended since Open
	Full           uint64 // Append calls refused with ErrFull since Open
	TruncatedBytes int64  // bytes of torn or corrupt data cut off since Open
	SyncErrors     uint64 // failed fsyncs since Open
}

// segment is one file; first is the index of its first record.
type segment struct {
	first uint64
	size  int64 // bytes in the file that hold valid data
}

func segName(first uint64) string {
	return fmt.Sprintf("%0*d%s", nameDigits, first, segSuffix)
}

// Spool is safe for concurrent Append from many goroutines; Read and Ack
// belong to one consumer goroutine.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File
	ack  *os.File

	mu       sync.Mutex
	closed   bool
	err      error     // sticky: the active segment is in an unknown state
	segs     []segment // oldest first; the last one is active
	active   *os.File
	bytes    int64  // sum of segs[i].size
	next     uint64 // index the next appended record gets
	acked    uint64 // index of the first unacknowledged record
	unsynced int    // Append calls since the last fsync
	dirty    bool   // the active segment has data not yet fsynced
	wbuf     []byte // reused framing buffer, guarded by mu

	// Reader state: only the consumer goroutine touches it.
	rseg  uint64        // first index of the segment being read
	rfile *os.File      // open handle on that segment
	roff  int64         // offset of the next record in it
	ridx  atomic.Uint64 // index of the next record to read (atomic for Stats)
	rbuf  []byte        // reused: records returned by Read alias it

	notify chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup

	appended, full, syncErrs atomic.Uint64
	truncated                atomic.Int64
}

// Open opens or creates the spool in dir, recovers from a torn tail and
// positions the reader at the first unacknowledged record.
func Open(dir string, opts Options) (*Spool, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: open lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", dir, err)
	}
	s := &Spool{
		dir:    dir,
		opts:   opts,
		log:    opts.Logger,
		lock:   lock,
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if opts.SyncInterval > 0 {
		s.wg.Add(1)
		go s.syncLoop()
	}
	return s, nil
}

// recover rebuilds the in-memory state from the directory.
func (s *Spool) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: list %s: %w", s.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("spool: stat %s: %w", name, err)
		}
		s.segs = append(s.segs, segment{first: first, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})

	s.ack, err = os.OpenFile(filepath.Join(s.dir, ackName), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("spool: open ack: %w", err)
	}
	acked, ackOK := readAck(s.ack)

	if len(s.segs) == 0 {
		// Continue the numbering after an emptied spool, so an old ACK
		// never covers new records.
		if err := s.createSegment(acked); err != nil {
			return err
		}
	} else {
		if err := s.recoverTail(); err != nil {
			return err
		}
		// Earlier segments were fsynced when they were closed; their
		// records are checked as they are read.
		for _, g := range s.segs {
			s.bytes += g.size
		}
	}

	first := s.segs[0].first
	switch {
	case !ackOK || acked < first:
		acked = first
	case acked > s.next:
		// Acknowledged records lost to a power failure: they were
		// delivered, so nothing is missing; start after what survived.
		acked = s.next
	}
	s.acked = acked
	if err := s.writeAck(); err != nil {
		return err
	}
	if err := s.deleteAcked(); err != nil {
		return err
	}
	return s.seekReader(acked)
}

// recoverTail opens the last segment for appending, cutting off a torn or
// corrupt tail, and counts its records to learn the next index.
func (s *Spool) recoverTail() error {
	last := &s.segs[len(s.segs)-1]
	path := filepath.Join(s.dir, segName(last.first))
	f, err := os.OpenFile(path, os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", path, err)
	}
	valid, n, err := scanValid(f, last.size)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: scan %s: %w", path, err)
	}
	dropped := last.size - valid
	if valid < headerLen {
		// Torn while being created, or not a segment at all: start it
		// again. Either way it holds no record we could trust.
		if err := writeHeader(f); err != nil {
			f.Close()
			return err
		}
		valid = headerLen
	}
	if dropped > 0 {
		s.log.Warn("truncating torn spool tail", "segment", segName(last.first),
			"valid_bytes", valid, "dropped_bytes", dropped)
		if err := f.Truncate(valid); err != nil {
			f.Close()
			return fmt.Errorf("spool: truncate %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("spool: sync %s: %w", path, err)
		}
		s.truncated.Add(dropped)
	}
	last.size = valid
	s.active = f
	s.next = last.first + n
	return nil
}

// scanValid returns the length of the valid prefix of a segment of the
// given size and the number of records in it. A missing or wrong magic
// gives a valid length of 0.
func scanValid(f *os.File, size int64) (valid int64, n uint64, err error) {
	hdr := make([]byte, headerLen)
	if size < headerLen {
		return 0, 0, nil
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return 0, 0, err
	}
	if string(hdr) != segMagic {
		return 0, 0, nil
	}
	r := io.NewSectionReader(f, 0, size)
	buf := make([]byte, 0, 64<<10)
	off := headerLen
	for {
		rec, next, ok, err := readRecord(r, off, size, buf)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return off, n, nil
		}
		buf = rec[:0]
		off = next
		n++
	}
}

// readRecord reads and checks the record at off; ok is false if what is
// there (up to end) is not a complete, intact record.
func readRecord(r io.ReaderAt, off, end int64, buf []byte) (payload []byte, next int64, ok bool, err error) {
	if end-off < recHdrLen {
		return nil, off, false, nil
	}
	var hdr [recHdrLen]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return nil, off, false, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if n == 0 || n > end-off-recHdrLen {
		return nil, off, false, nil
	}
	payload = slices.Grow(buf[:0], int(n))[:n]
	if _, err := r.ReadAt(payload, off+recHdrLen); err != nil {
		return nil, off, false, err
	}
	if recordCRC(hdr[0:4], payload) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, off, false, nil
	}
	return payload, off + recHdrLen + n, true, nil
}

func recordCRC(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(lenBytes, castagnoli), castagnoli, payload)
}

func writeHeader(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("spool: reset %s: %w", f.Name(), err)
	}
	if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
		return fmt.Errorf("spool: write header %s: %w", f.Name(), err)
	}
	return nil
}

// createSegment starts a new active segment whose first record is first.
// Caller holds mu (or is Open).
func (s *Spool) createSegment(first uint64) error {
	path := filepath.Join(s.dir, segName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: create %s: %w", path, err)
	}
	if err := writeHeader(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	// The new name must survive a power loss before records are
	// acknowledged to the producer from it.
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: sync %s: %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	s.segs = append(s.segs, segment{first: first, size: headerLen})
	s.bytes += headerLen
	s.active = f
	s.next = first
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

func readAck(f *os.File) (uint64, bool) {
	var b [12]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return 0, false
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:8]), true
}

// writeAck persists s.acked in place. It is not fsynced: losing it only
// replays acknowledged records, and a torn write fails its CRC, which
// replays from the oldest segment.
func (s *Spool) writeAck() error {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], s.acked)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := s.ack.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("spool: write ack: %w", err)
	}
	return nil
}

// deleteAcked removes every segment, except the active one, whose records
// are all acknowledged. Caller holds mu (or is Open).
func (s *Spool) deleteAcked() error {
	for len(s.segs) > 1 && s.segs[1].first <= s.acked {
		path := filepath.Join(s.dir, segName(s.segs[0].first))
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: delete %s: %w", path, err)
		}
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	return nil
}

// Append writes the records, in order, as one write. Once it returns nil
// the records survive a crash of this process (and, per the fsync policy, of
// the machine). It returns ErrFull, writing nothing, when they would take
// the spool over MaxBytes. Records are copied; the caller keeps them.
func (s *Spool) Append(records [][]byte) error {
	if len(records) == 0 {
		return nil
	}
	total := int64(0)
	for _, r := range records {
		if len(r) == 0 {
			return ErrEmptyRecord
		}
		if int64(len(r))+recHdrLen+headerLen > s.opts.SegmentBytes {
			return fmt.Errorf("%w: %d bytes, segment is %d", ErrTooLarge, len(r), s.opts.SegmentBytes)
		}
		total += recHdrLen + int64(len(r))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	if s.active == nil {
		if err := s.createSegment(s.next); err != nil {
			return err
		}
	}
	cur := &s.segs[len(s.segs)-1]
	rotate := cur.size > headerLen && cur.size+total > s.opts.SegmentBytes
	need := total
	if rotate {
		need += headerLen
	}
	if s.bytes+need > s.opts.MaxBytes {
		s.full.Add(1)
		return ErrFull
	}
	if rotate {
		if err := s.rotate(); err != nil {
			return err
		}
		cur = &s.segs[len(s.segs)-1]
	}

	buf := s.wbuf[:0]
	for _, r := range records {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		buf = binary.LittleEndian.AppendUint32(buf, recordCRC(buf[len(buf)-4:], r))
		buf = append(buf, r...)
	}
	// Keep the buffer for the next call unless one huge call grew it.
	if cap(buf) <= 4<<20 {
		s.wbuf = buf
	}
	if _, err := s.active.WriteAt(buf, cur.size); err != nil {
		// Cut off whatever part was written so the next record does not
		// land behind garbage; if even that fails, stop accepting.
		if terr := s.active.Truncate(cur.size); terr != nil {
			s.err = fmt.Errorf("spool: segment unusable after failed write: %w", errors.Join(err, terr))
		}
		return fmt.Errorf("spool: write: %w", err)
	}
	cur.size += total
	s.bytes += total
	s.next += uint64(len(records))
	s.appended.Add(uint64(len(records)))
	s.dirty = true
	s.unsynced++
	if s.opts.SyncEvery > 0 && s.unsynced >= s.opts.SyncEvery {
		if err := s.active.Sync(); err != nil {
			s.syncErrs.Add(1)
			return fmt.Errorf("spool: fsync: %w", err)
		}
		s.dirty, s.unsynced = false, 0
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// rotate closes the active segment durably and starts the next one.
// Caller holds mu.
func (s *Spool) rotate() error {
	if err := s.active.Sync(); err != nil {
		s.syncErrs.Add(1)
		return fmt.Errorf("spool: fsync before rotation: %w", err)
	}
	if err := s.active.Close(); err != nil {
		return fmt.Errorf("spool: close segment: %w", err)
	}
	s.active = nil
	s.dirty, s.unsynced = false, 0
	// If this fails there is no active segment; the next Append tries
	// again.
	return s.createSegment(s.next)
}

// syncLoop fsyncs appended data every SyncInterval, outside mu so that
// producers are not held up by the disk.
func (s *Spool) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		f, dirty := s.active, s.dirty
		s.dirty, s.unsynced = false, 0
		s.mu.Unlock()
		if !dirty || f == nil {
			continue
		}
		// A concurrent rotation may close f; it fsyncs it first, so a
		// "file already closed" here has nothing left to do.
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.syncErrs.Add(1)
			s.log.Error("spool fsync failed", "err", err)
		}
	}
}

// Notify returns a channel that receives a value after records are
// appended. Its capacity is one: a value means "there may be more to read".
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Batch is what Read returns. Records alias a buffer that the next Read
// reuses: copy what must outlive it.
type Batch struct {
	Records [][]byte
	// Next is the index after the last record: pass it to Ack.
	Next uint64
}

// Read returns the next unread records in order, at least one and, beyond
// the first, no more than maxBytes of payload. It does not block: when
// everything has been read it returns an empty batch. Records are not
// removed until acknowledged, and a reopened spool reads from the first
// unacknowledged record again.
func (s *Spool) Read(maxBytes int) (Batch, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Batch{}, ErrClosed
		}
		lim := s.readLimitLocked()
		s.mu.Unlock()
		if s.rfile != nil && s.roff < lim.end {
			return s.readFrom(lim, maxBytes)
		}
		if !lim.hasNext {
			return Batch{Next: s.ridx.Load()}, nil
		}
		if err := s.openReader(lim.next); err != nil {
			return Batch{}, err
		}
	}
}

func (s *Spool) readFrom(lim readLimit, maxBytes int) (Batch, error) {
	// One ReadAt for the whole batch; a first record larger than the
	// budget is read on its own below.
	want := min(lim.end-s.roff, int64(max(maxBytes, 0))+recHdrLen*64)
	s.rbuf = slices.Grow(s.rbuf[:0], int(want))[:want]
	if _, err := s.rfile.ReadAt(s.rbuf, s.roff); err != nil {
		return Batch{}, fmt.Errorf("spool: read %s: %w", s.rfile.Name(), err)
	}
	var b Batch
	var payload int
	pos := int64(0)
	for pos+recHdrLen <= int64(len(s.rbuf)) {
		h := s.rbuf[pos : pos+recHdrLen]
		n := int64(binary.LittleEndian.Uint32(h[0:4]))
		if n == 0 || s.roff+pos+recHdrLen+n > lim.end {
			break // reported as corrupt below
		}
		if len(b.Records) > 0 && payload+int(n) > maxBytes {
			break
		}
		if pos+recHdrLen+n > int64(len(s.rbuf)) {
			if len(b.Records) > 0 {
				break
			}
			// pos is 0 here: read the oversized first record exactly.
			s.rbuf = slices.Grow(s.rbuf[:0], int(recHdrLen+n))[:recHdrLen+n]
			if _, err := s.rfile.ReadAt(s.rbuf, s.roff); err != nil {
				return Batch{}, fmt.Errorf("spool: read %s: %w", s.rfile.Name(), err)
			}
			h = s.rbuf[:recHdrLen]
		}
		p := s.rbuf[pos+recHdrLen : pos+recHdrLen+n]
		if recordCRC(h[0:4], p) != binary.LittleEndian.Uint32(h[4:8]) {
			break
		}
		b.Records = append(b.Records, p)
		payload += int(n)
		pos += recHdrLen + n
	}
	if len(b.Records) == 0 {
		// Not even one intact record where one must be: skip the damage
		// rather than wedge the queue; the next Read goes on after it.
		s.skipCorrupt(lim)
		return Batch{Next: s.ridx.Load()}, nil
	}
	s.roff += pos
	b.Next = s.ridx.Add(uint64(len(b.Records)))
	return b, nil
}

// readLimit is how far the reader may go in its segment: end is the valid
// size, endIdx the index of the record that would start there, and next the
// first index of the following segment if hasNext.
type readLimit struct {
	end     int64
	endIdx  uint64
	next    uint64
	hasNext bool
}

func (s *Spool) readLimitLocked() readLimit {
	i, found := slices.BinarySearchFunc(s.segs, s.rseg, func(g segment, first uint64) int {
		switch {
		case g.first < first:
			return -1
		case g.first > first:
			return 1
		}
		return 0
	})
	if !found || s.rfile == nil {
		// The reader's segment was fully read, acknowledged and deleted
		// (or never opened): go on with the first later segment.
		if i >= len(s.segs) {
			i = len(s.segs) - 1
		}
		return readLimit{next: s.segs[i].first, hasNext: true}
	}
	lim := readLimit{end: s.segs[i].size, endIdx: s.next}
	if i+1 < len(s.segs) {
		lim.next, lim.hasNext = s.segs[i+1].first, true
		lim.endIdx = lim.next
	}
	return lim
}

// skipCorrupt moves the reader past a record that fails its check. In a
// sealed segment that is disk damage after it was fsynced; in the active
// one, outside interference. Either way the rest of the segment cannot be
// framed, so it is skipped and counted, and the queue goes on.
func (s *Spool) skipCorrupt(lim readLimit) {
	lost := lim.endIdx - s.ridx.Load()
	s.log.Error("skipping corrupt spool data", "segment", filepath.Base(s.rfile.Name()),
		"offset", s.roff, "bytes", lim.end-s.roff, "records_lost", lost)
	s.truncated.Add(lim.end - s.roff)
	s.roff = lim.end
	s.ridx.Store(lim.endIdx)
}

// openReader points the reader at the start of segment first.
func (s *Spool) openReader(first uint64) error {
	if s.rfile != nil {
		s.rfile.Close()
		s.rfile = nil
	}
	path := filepath.Join(s.dir, segName(first))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", path, err)
	}
	var hdr [headerLen]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || string(hdr[:]) != segMagic {
		// The header was fsynced when the segment was created, so this is
		// damage; its first record will fail its check and be skipped.
		s.log.Error("spool segment has a bad header", "segment", filepath.Base(path), "err", err)
	}
	s.rseg, s.rfile, s.roff = first, f, headerLen
	s.ridx.Store(first)
	return nil
}

// seekReader positions the reader at record index idx.
func (s *Spool) seekReader(idx uint64) error {
	i := len(s.segs) - 1
	for i > 0 && s.segs[i].first > idx {
		i--
	}
	g := s.segs[i]
	if err := s.openReader(g.first); err != nil {
		return err
	}
	// Only lengths are followed here; Read checks each record it returns.
	var hdr [recHdrLen]byte
	idxNow := g.first
	for idxNow < idx {
		if s.roff+recHdrLen > g.size {
			break // damaged sealed segment: Read moves on to the next one
		}
		if _, err := s.rfile.ReadAt(hdr[:], s.roff); err != nil {
			return fmt.Errorf("spool: seek in %s: %w", segName(g.first), err)
		}
		s.roff += recHdrLen + int64(binary.LittleEndian.Uint32(hdr[0:4]))
		idxNow++
	}
	s.roff = min(s.roff, g.size)
	s.ridx.Store(idxNow)
	return nil
}

// Ack marks every record before index next as delivered. Segments that
// hold only delivered records are deleted, freeing space for Append.
func (s *Spool) Ack(next uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if next <= s.acked {
		return nil
	}
	if r := s.ridx.Load(); next > r {
		return fmt.Errorf("spool: ack %d beyond read position %d", next, r)
	}
	s.acked = next
	if err := s.writeAck(); err != nil {
		return err
	}
	return s.deleteAcked()
}

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Bytes:          s.bytes,
		Segments:       len(s.segs),
		Unacked:        s.next - s.acked,
		Unread:         s.next - min(s.ridx.Load(), s.next),
		Appended:       s.appended.Load(),
		Full:           s.full.Load(),
		TruncatedBytes: s.truncated.Load(),
		SyncErrors:     s.syncErrs.Load(),
	}
}

// Close stops the fsync goroutine, fsyncs what was appended and releases
// the directory. Unacknowledged records are read again after Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()

	var errs []error
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync on close: %w", err))
		}
	}
	if err := s.closeFiles(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Spool) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{s.active, s.rfile, s.ack} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.active, s.rfile, s.ack = nil, nil, nil
	// Closing the descriptor releases the flock.
	if err := s.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
