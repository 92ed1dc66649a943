package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/dockspool"
)

// Offload progress for the dock page (采集站): the offloads of the user's
// subtree, each with its files, bytes received against the total
// declared, and status (open, in_progress, complete, stalled). The
// upload path records a file's progress in the vault as it goes: when the
// file is begun, every ProgressEvery while bytes arrive, and when it is
// confirmed or refused, so that any fleetd answers, not only the one
// holding the partial file.

// defaultProgressEvery is how often a file's bytes are recorded while a
// request is receiving them.
const defaultProgressEvery = 2 * time.Second

// recordTimeout bounds one progress write, which runs even after the
// station's request was cut (that is when it matters most).
const recordTimeout = 5 * time.Second

func (ev *evidenceAPI) progressEvery() time.Duration {
	if ev.ProgressEvery > 0 {
		return ev.ProgressEvery
	}
	return defaultProgressEvery
}

func (ev *evidenceAPI) listOffloads(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.OffloadFilter{StationID: c.Query("station_id"), DeviceID: c.Query("device_id"), UnitID: c.Query("unit_id"),
		Status: fleet.OffloadStatus(c.Query("status")), StallAfter: ev.StallAfter, Page: p}
	if f.Status != "" && !f.Status.Valid() {
		WriteError(c, fleet.Invalid("status", "status must be open, in_progress, complete or stalled"))
		return
	}
	if f.Since, err = timeQuery(c, "since"); err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := ev.Vault.Offloads(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (ev *evidenceAPI) getOffload(c *gin.Context) {
	d, err := ev.Vault.Offload(c.Request.Context(), Actor(c), c.Param("id"), ev.StallAfter)
	if err != nil {
		WriteError(c, err)
		return
	}
	ev.withSpooled(c, &d)
	c.JSON(http.StatusOK, d)
}

// withSpooled adds the bytes this process's spool holds beyond the last
// recorded progress: those of a request still receiving, since the last
// ProgressEvery tick. Another process's spool is not seen; its progress
// is at most ProgressEvery old.
func (ev *evidenceAPI) withSpooled(c *gin.Context, d *fleet.OffloadDetail) {
	parts, err := ev.Spool.Progress(d.ID)
	if err != nil {
		requestLogger(c).Warn("read spool progress", "offload", d.ID, "err", err)
		return
	}
	spooled := make(map[string]dockspool.Progress, len(parts))
	for _, p := range parts {
		spooled[p.Name] = p
	}
	for i := range d.Files {
		f := &d.Files[i]
		p, ok := spooled[f.Name]
		if !ok || f.State != fleet.OffloadFileReceiving || p.Size != f.SizeBytes || p.SHA256 != f.SHA256 {
			continue
		}
		if n := min(max(p.OnDisk, p.Received), p.Size); n > f.ReceivedBytes {
			d.BytesReceived += n - f.ReceivedBytes
			f.ReceivedBytes = n
		}
	}
}

// checkManifest validates the files a station announces as it opens an
// offload, before the offload is opened.
func (ev *evidenceAPI) checkManifest(files []fleet.AnnouncedFile) ([]fleet.AnnouncedFile, error) {
	files, err := fleet.CheckAnnouncedFiles(files)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if f.SizeBytes > ev.Spool.MaxSize() {
			return nil, &fleet.Error{Code: ETOOLARGE, Field: fmt.Sprintf("files[%d].size_bytes", i),
				Message: fmt.Sprintf("file %s is %d bytes, over the limit of %d", f.Name, f.SizeBytes, ev.Spool.MaxSize())}
		}
	}
	return files, nil
}

// fileTracker records one file's progress while a station sends it.
// Recording is best effort: a failure is logged and never fails the
// upload, whose answer the station relies on to free the recorder.
type fileTracker struct {
	ev    *evidenceAPI
	c     *gin.Context
	st    fleet.DockStation
	file  fleet.OffloadFile
	every time.Duration
	last  time.Time // when the progress was last recorded
}

// trackFile starts tracking an upload the spool has begun, and records
// it as receiving.
func (ev *evidenceAPI) trackFile(c *gin.Context, u dockspool.Upload) *fileTracker {
	t := &fileTracker{ev: ev, c: c, st: stationOf(c), every: ev.progressEvery(),
		file: fleet.OffloadFile{OffloadID: u.OffloadID, Name: u.Name, SizeBytes: u.Size, SHA256: u.SHA256, ReceivedBytes: u.Received,
			State: fleet.OffloadFileReceiving}}
	t.save()
	return t
}

// trackStored records a file the vault held already as confirmed.
func (ev *evidenceAPI) trackStored(c *gin.Context, offloadID, name string, it fleet.EvidenceItem) {
	t := &fileTracker{ev: ev, c: c, st: stationOf(c),
		file: fleet.OffloadFile{OffloadID: offloadID, Name: name, SizeBytes: it.SizeBytes, SHA256: it.SHA256}}
	t.confirmed(it)
}

func (t *fileTracker) save() {
	t.last = time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.c.Request.Context()), recordTimeout)
	defer cancel()
	if err := t.ev.Vault.RecordOffloadFile(ctx, t.st, t.file.OffloadID, t.file); err != nil {
		requestLogger(t.c).Warn("record offload progress", "offload", t.file.OffloadID, "file", t.file.Name, "err", err)
	}
}

// received records the bytes in, if they changed.
func (t *fileTracker) received(n int64) {
	n = min(n, t.file.SizeBytes)
	if n != t.file.ReceivedBytes {
		t.file.ReceivedBytes = n
		t.save()
	}
}

func (t *fileTracker) confirmed(it fleet.EvidenceItem) {
	t.file.State, t.file.ReceivedBytes, t.file.EvidenceID = fleet.OffloadFileConfirmed, t.file.SizeBytes, it.ID
	t.save()
}

// failed records a refusal with its reason; the station may send again.
func (t *fileTracker) failed(err error) {
	t.file.State, t.file.ErrorCode, t.file.Error = fleet.OffloadFileFailed, fleet.ErrorCode(err), fleet.ErrorMessage(err)
	if fleet.HashMismatch(err) {
		t.file.ErrorCode = EHashMismatchCode
	}
	t.save()
}

// body wraps a request body that starts at offset of the file, so that
// its bytes are recorded every t.every while they arrive. Recording
// happens only when bytes come: a station that stops sending leaves its
// last activity where it was, and the offload goes stalled.
func (t *fileTracker) body(offset int64, r io.Reader) io.Reader {
	return &progressReader{t: t, r: r, n: offset}
}

type progressReader struct {
	t *fileTracker
	r io.Reader
	n int64 // the file's bytes up to the end of what was read
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if n > 0 && time.Since(p.t.last) >= p.t.every {
		p.t.received(p.n)
	}
	return n, err
}
