package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/dockspool"
)

// The dock station protocol (采集站): a station signs in with HTTP Basic
// (its id and the secret issued at registration), opens an offload for
// the docked recorder, then sends each file with PUT, in one request or
// in pieces with Content-Range, and asks with HEAD how much arrived. The
// service hashes while it receives, refuses a file whose SHA-256 is not
// the one the station declared (422 hash_mismatch) and answers 201 with
// confirmed:true only once the file is in the vault, hashed again on the
// way: only then may the station free the recorder's storage.

// EvidenceDeps are the collaborators of the dock and evidence API; with a
// nil Vault those routes answer 503.
type EvidenceDeps struct {
	Vault *fleet.Vault
	// Spool keeps partly received files; its MaxSize caps a file.
	Spool *dockspool.Spool
	// StallAfter is how long an offload with files outstanding may go
	// without a byte before the dock page calls it stalled; 0 is
	// fleet.DefaultStallAfter.
	StallAfter time.Duration
	// ProgressEvery is how often a file's bytes are recorded while they
	// arrive (dock_progress.go); 0 is every 2 s.
	ProgressEvery time.Duration
}

// Headers of the dock protocol.
const (
	HeaderContentSHA256 = "X-Content-SHA256" // hex SHA-256 the station took of the whole file
	HeaderRecordedStart = "X-Recorded-Start" // RFC 3339, when the recording started
	HeaderRecordedEnd   = "X-Recorded-End"   // RFC 3339, optional
	HeaderDurationMS    = "X-Duration-Ms"    // optional
	HeaderPosition      = "X-Position"       // "lat,lon" WGS-84, optional
	HeaderUploadOffset  = "Upload-Offset"    // bytes received so far
	HeaderUploadLength  = "Upload-Length"    // the file's declared size
	HeaderEvidenceID    = "X-Evidence-Id"    // the item a complete file became
	EHashMismatchCode   = "hash_mismatch"    // error code of a refused file, status 422
	ctxStation          = "web.station"
	dockRealm           = `Basic realm="fleet-dock", charset="UTF-8"`
)

type evidenceAPI struct {
	EvidenceDeps
}

func newEvidenceAPI(d EvidenceDeps) *evidenceAPI { return &evidenceAPI{EvidenceDeps: d} }

// evidenceRoutes registers the dock and evidence routes. It is the one
// list of them; they are described in openapi.json.
func (s *Server) evidenceRoutes() {
	ev := s.ev
	dock := s.public.Group("/dock", ev.available, s.stationAuth)
	dock.POST("/offloads", ev.openOffload)
	dock.HEAD("/offloads/:id/files/*name", ev.uploadStatus)
	dock.PUT("/offloads/:id/files/*name", ev.upload)

	a := s.api.Group("", ev.available)
	a.GET("/dock/stations", ev.listStations)
	a.POST("/dock/stations", ev.createStation)
	a.GET("/dock/offloads", ev.listOffloads)
	a.GET("/dock/offloads/:id", ev.getOffload)
	a.GET("/evidence", ev.search)
	a.POST("/evidence/verify", ev.verify)
	a.GET("/evidence/:id", ev.get)
	a.GET("/evidence/:id/content", ev.content)
	a.GET("/evidence/:id/custody", ev.custody)
	a.POST("/evidence/:id/hold", ev.hold)
	a.POST("/evidence/:id/release", ev.release)
	a.POST("/evidence/:id/classify", ev.classify)
	a.DELETE("/evidence/:id", ev.delete)
}

func (ev *evidenceAPI) available(c *gin.Context) {
	if ev == nil || ev.Vault == nil || ev.Spool == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "the evidence vault is not configured on this server"))
		return
	}
	c.Next()
}

// stationAuth requires a registered station's HTTP Basic credentials.
func (s *Server) stationAuth(c *gin.Context) {
	id, secret, ok := c.Request.BasicAuth()
	if !ok || id == "" || secret == "" {
		c.Header("WWW-Authenticate", dockRealm)
		WriteError(c, fleet.Errorf(fleet.EUNAUTHORIZED, "dock stations sign in with HTTP Basic: station id and secret"))
		return
	}
	st, err := s.ev.Vault.AuthenticateStation(c.Request.Context(), id, secret)
	if err != nil {
		c.Header("WWW-Authenticate", dockRealm)
		WriteError(c, err)
		return
	}
	c.Set(ctxStation, st)
	c.Next()
}

func stationOf(c *gin.Context) fleet.DockStation {
	v, _ := c.Get(ctxStation)
	st, _ := v.(fleet.DockStation)
	return st
}

// writeEvidenceError is WriteError with the one status the shared table
// lacks: 422 for bytes that do not hash to their declared SHA-256.
func writeEvidenceError(c *gin.Context, err error) {
	if fleet.HashMismatch(err) {
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, ErrorBody{Error: ErrorDetail{
			Code: EHashMismatchCode, Message: fleet.ErrorMessage(err), Field: fleet.ErrorField(err)}})
		return
	}
	WriteError(c, err)
}

// OffloadRequest opens an offload; name the device by id or serial.
// Files, optional, announces what the station will send, so that the
// dock page shows the whole offload's progress from the start.
type OffloadRequest struct {
	DeviceID string                `json:"device_id"`
	Serial   string                `json:"serial"`
	Files    []fleet.AnnouncedFile `json:"files,omitempty"`
}

func (ev *evidenceAPI) openOffload(c *gin.Context) {
	var in OffloadRequest
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	files, err := ev.checkManifest(in.Files)
	if err != nil {
		WriteError(c, err)
		return
	}
	o, err := ev.Vault.OpenOffload(c.Request.Context(), stationOf(c), in.DeviceID, in.Serial)
	if err != nil {
		WriteError(c, err)
		return
	}
	if err := ev.Vault.AnnounceFiles(c.Request.Context(), stationOf(c), o.ID, files); err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, o)
}

// UploadStatus answers an upload request.
type UploadStatus struct {
	Name          string `json:"name"`
	SizeBytes     int64  `json:"size_bytes"`
	ReceivedBytes int64  `json:"received_bytes"`
	Complete      bool   `json:"complete"`
	// Confirmed is true once the file is in the vault and its hash
	// checked: the station may then delete it from the recorder.
	Confirmed bool                `json:"confirmed"`
	SHA256    string              `json:"sha256"`
	Item      *fleet.EvidenceItem `json:"item,omitempty"`
}

// fileTarget reads the offload (of this station) and file name of an
// upload request.
func (ev *evidenceAPI) fileTarget(c *gin.Context) (fleet.Offload, string, error) {
	name := strings.TrimPrefix(c.Param("name"), "/")
	if _, err := fleet.CheckFileName(name); err != nil {
		return fleet.Offload{}, "", err
	}
	o, err := ev.Vault.StationOffload(c.Request.Context(), stationOf(c), c.Param("id"))
	return o, name, err
}

func (ev *evidenceAPI) uploadStatus(c *gin.Context) {
	o, name, err := ev.fileTarget(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	u, err := ev.Spool.Status(o.ID, name)
	if err == nil {
		c.Header(HeaderUploadOffset, strconv.FormatInt(u.Received, 10))
		c.Header(HeaderUploadLength, strconv.FormatInt(u.Size, 10))
		c.Status(http.StatusOK)
		return
	}
	if fleet.ErrorCode(err) != fleet.ENOTFOUND {
		WriteError(c, err)
		return
	}
	// Not in progress: perhaps already in the vault (the station lost
	// the confirmation); it can tell by sending the hash.
	if sum, serr := fleet.CheckSHA256(HeaderContentSHA256, c.GetHeader(HeaderContentSHA256)); serr == nil {
		if it, ok := ev.stored(c, sum); ok {
			c.Header(HeaderUploadOffset, strconv.FormatInt(it.SizeBytes, 10))
			c.Header(HeaderUploadLength, strconv.FormatInt(it.SizeBytes, 10))
			c.Header(HeaderEvidenceID, it.ID)
			c.Status(http.StatusOK)
			return
		}
	}
	c.Header(HeaderUploadOffset, "0")
	WriteError(c, fleet.Errorf(fleet.ENOTFOUND, "no upload of %s has begun", name))
}

// stored finds a live item holding sum, through a station's eyes: only
// whether it is stored, never its metadata beyond id and size.
func (ev *evidenceAPI) stored(c *gin.Context, sum string) (fleet.EvidenceItem, bool) {
	it, err := ev.Vault.StoredFile(c.Request.Context(), sum)
	return it, err == nil
}

var contentRangePattern = regexp.MustCompile(`^bytes (\d{1,19})-(\d{1,19})/(\d{1,19})$`)

// parseRange reads "Content-Range: bytes first-last/total"; without it
// the body is the whole file and its length the total.
func parseRange(c *gin.Context) (offset, total int64, err error) {
	h := strings.TrimSpace(c.GetHeader("Content-Range"))
	if h == "" {
		if c.Request.ContentLength < 0 {
			return 0, 0, fleet.Invalid("Content-Length", "send Content-Length, or Content-Range for a piece of the file")
		}
		return 0, c.Request.ContentLength, nil
	}
	m := contentRangePattern.FindStringSubmatch(h)
	if m == nil {
		return 0, 0, fleet.Invalid("Content-Range", "Content-Range must be bytes FIRST-LAST/TOTAL")
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	total, err3 := strconv.ParseInt(m[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || last < first || last >= total {
		return 0, 0, fleet.Invalid("Content-Range", "Content-Range %q is not a range inside the file", h)
	}
	if c.Request.ContentLength >= 0 && c.Request.ContentLength != last-first+1 {
		return 0, 0, fleet.Invalid("Content-Range", "Content-Range covers %d bytes but the body has %d", last-first+1, c.Request.ContentLength)
	}
	return first, total, nil
}

// fileMeta reads the recording's description from the headers.
func fileMeta(c *gin.Context) (u dockspool.Upload, err error) {
	start := c.GetHeader(HeaderRecordedStart)
	if start == "" {
		return u, fleet.Invalid(HeaderRecordedStart, "%s is required: when the recording started (RFC 3339)", HeaderRecordedStart)
	}
	if u.StartAt, err = time.Parse(time.RFC3339Nano, start); err != nil {
		return u, fleet.Invalid(HeaderRecordedStart, "%s must be an RFC 3339 time", HeaderRecordedStart)
	}
	if s := c.GetHeader(HeaderRecordedEnd); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return u, fleet.Invalid(HeaderRecordedEnd, "%s must be an RFC 3339 time", HeaderRecordedEnd)
		}
		u.EndAt = &t
	}
	if s := c.GetHeader(HeaderDurationMS); s != "" {
		if u.DurationMS, err = strconv.ParseInt(s, 10, 64); err != nil || u.DurationMS < 0 {
			return u, fleet.Invalid(HeaderDurationMS, "%s must be a whole number of milliseconds", HeaderDurationMS)
		}
	} else if u.EndAt != nil {
		u.DurationMS = u.EndAt.Sub(u.StartAt).Milliseconds()
	}
	if s := c.GetHeader(HeaderPosition); s != "" {
		la, lo, ok := strings.Cut(s, ",")
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(la), 64)
		lon, err2 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		if !ok || err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return u, fleet.Invalid(HeaderPosition, "%s must be lat,lon in WGS-84 degrees", HeaderPosition)
		}
		u.Lat, u.Lon = &lat, &lon
	}
	return u, nil
}

func (ev *evidenceAPI) upload(c *gin.Context) {
	ctx := c.Request.Context()
	o, name, err := ev.fileTarget(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	sum, err := fleet.CheckSHA256(HeaderContentSHA256, c.GetHeader(HeaderContentSHA256))
	if err != nil {
		WriteError(c, err)
		return
	}
	offset, total, err := parseRange(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	if total <= 0 {
		WriteError(c, fleet.Invalid("size_bytes", "the file %s is empty; zero-length files are not evidence", name))
		return
	}
	if total > ev.Spool.MaxSize() {
		WriteError(c, &fleet.Error{Code: ETOOLARGE, Field: "size_bytes",
			Message: fmt.Sprintf("the file is %d bytes, over the limit of %d", total, ev.Spool.MaxSize())})
		return
	}
	// A file the vault holds already is confirmed without its bytes.
	if it, ok := ev.stored(c, sum); ok {
		_ = ev.Spool.Discard(o.ID, name)
		ev.trackStored(c, o.ID, name, it)
		c.JSON(http.StatusOK, UploadStatus{Name: name, SizeBytes: it.SizeBytes, ReceivedBytes: it.SizeBytes,
			Complete: true, Confirmed: true, SHA256: sum, Item: &it})
		return
	}
	u, err := fileMeta(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	u.OffloadID, u.Name, u.Size, u.SHA256 = o.ID, name, total, sum
	if u, err = ev.Spool.Begin(u); err != nil {
		WriteError(c, err)
		return
	}
	tr := ev.trackFile(c, u)
	u, err = ev.Spool.Write(ctx, o.ID, name, offset, tr.body(offset, c.Request.Body))
	if u.Size > 0 {
		tr.received(u.Received)
	}
	c.Header(HeaderUploadOffset, strconv.FormatInt(u.Received, 10))
	c.Header(HeaderUploadLength, strconv.FormatInt(u.Size, 10))
	if err != nil {
		if fleet.ErrorCode(err) == fleet.EINTERNAL && ctx.Err() == nil {
			// The body broke off: what arrived is kept for a resume.
			err = &fleet.Error{Code: fleet.EINVALID, Field: "body",
				Message: fmt.Sprintf("the body ended early; %d of %d bytes are in, resume from there", u.Received, u.Size)}
		}
		WriteError(c, err)
		return
	}
	status := UploadStatus{Name: name, SizeBytes: u.Size, ReceivedBytes: u.Received, Complete: u.Complete(), SHA256: sum}
	if !u.Complete() {
		c.JSON(http.StatusAccepted, status)
		return
	}
	got, err := u.Sum()
	if err != nil {
		WriteError(c, err)
		return
	}
	if got != sum {
		_ = ev.Spool.Discard(o.ID, name)
		tr.failed(fleet.ErrHashMismatch(sum, got))
		writeEvidenceError(c, fleet.ErrHashMismatch(sum, got))
		return
	}
	// The spool hashed the bytes as they came and they match: the vault
	// may take the file itself (a rename on the disk store) rather than
	// a copy of it. Claimed, so no other request touches it meanwhile.
	path, release, err := ev.Spool.Claim(o.ID, name)
	if err != nil {
		WriteError(c, err)
		return
	}
	defer release()
	it, created, err := ev.Vault.IngestFile(ctx, stationOf(c), o.ID, u.Meta(), sum, u.Size, path)
	if err != nil {
		// Kept for a retry only while the spool still has the bytes; once
		// the store took them a retry must send the file again.
		if _, serr := os.Stat(path); fleet.HashMismatch(err) || errors.Is(serr, fs.ErrNotExist) {
			_ = ev.Spool.Discard(o.ID, name)
			tr.failed(err)
		}
		writeEvidenceError(c, err)
		return
	}
	_ = ev.Spool.Discard(o.ID, name)
	tr.confirmed(it)
	status.Confirmed, status.Item = true, &it
	c.Header(HeaderEvidenceID, it.ID)
	if created {
		c.JSON(http.StatusCreated, status)
	} else {
		c.JSON(http.StatusOK, status)
	}
}

// --- stations, for equipment managers ---

func (ev *evidenceAPI) listStations(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := ev.Vault.DockStations(c.Request.Context(), Actor(c), p)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (ev *evidenceAPI) createStation(c *gin.Context) {
	var in fleet.DockStationInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	ns, err := ev.Vault.RegisterDockStation(c.Request.Context(), Actor(c), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, ns)
}
