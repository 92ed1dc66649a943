package web

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// The evidence API for legal/audit staff and administrators: search,
// view, download the untouched original (ranges for playback), legal
// hold, deletion with a written reason, the custody report and the
// verifier. Every view and download is logged in custody by the vault.

// ReasonHeader carries the reason of a view or download when the query
// has no reason parameter.
const ReasonHeader = "X-Reason"

func reasonOf(c *gin.Context) string {
	if r := c.Query("reason"); r != "" {
		return r
	}
	return c.GetHeader(ReasonHeader)
}

// timeQuery reads an RFC 3339 time or a YYYY-MM-DD day (start of day in
// fleet.Zone).
func timeQuery(c *gin.Context, name string) (*time.Time, error) {
	s := c.Query(name)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return &t, nil
	}
	d, err := fleet.ParseDate(s)
	if err != nil {
		return nil, fleet.Invalid(name, "%s must be YYYY-MM-DD or an RFC 3339 time", name)
	}
	t := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, fleet.Zone)
	return &t, nil
}

func (ev *evidenceAPI) search(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.EvidenceFilter{UnitID: c.Query("unit"), OfficerID: c.Query("officer"), DeviceID: c.Query("device"),
		CaseNumber: c.Query("case"), Page: p}
	if f.From, err = timeQuery(c, "from"); err != nil {
		WriteError(c, err)
		return
	}
	if f.To, err = timeQuery(c, "to"); err != nil {
		WriteError(c, err)
		return
	}
	if f.Deleted, err = boolQuery(c, "deleted"); err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := ev.Vault.Search(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (ev *evidenceAPI) get(c *gin.Context) {
	it, err := ev.Vault.Item(c.Request.Context(), Actor(c), c.Param("id"), reasonOf(c))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

var contentTypes = map[fleet.FileType]string{
	fleet.FileMP4: "video/mp4", fleet.FileWAV: "audio/wav", fleet.FileAAC: "audio/aac", fleet.FileJPG: "image/jpeg",
}

// content serves the original file, byte for byte, with Range support.
// A reason is required and each request is one custody entry (with the
// range asked for), so that a copy can always be traced.
func (ev *evidenceAPI) content(c *gin.Context) {
	action := fleet.CustodyDownload
	if export, err := boolQuery(c, "export"); err != nil {
		WriteError(c, err)
		return
	} else if export {
		action = fleet.CustodyExport
	}
	detail := ""
	if r := c.GetHeader("Range"); r != "" {
		detail = "range " + r
	}
	it, b, err := ev.Vault.OpenContent(c.Request.Context(), Actor(c), c.Param("id"), action, reasonOf(c), detail)
	if err != nil {
		WriteError(c, err)
		return
	}
	defer b.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", contentTypes[it.FileType])
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.FileName}))
	h.Set("Digest", "sha-256="+it.SHA256)
	h.Set(HeaderContentSHA256, it.SHA256)
	h.Set("ETag", `"`+it.SHA256+`"`)
	// The answer is the original bytes: no compression or transformation
	// on the way, and the API's no-store stays.
	h.Set("Cache-Control", "no-store, no-transform")
	http.ServeContent(c.Writer, c.Request, "", it.IngestedAt, b)
}

// CustodyReport is an item with its chain of custody, oldest first.
type CustodyReport struct {
	Item    fleet.EvidenceItem   `json:"item"`
	Entries []fleet.CustodyEntry `json:"entries"`
}

func (ev *evidenceAPI) custody(c *gin.Context) {
	it, entries, err := ev.Vault.CustodyReport(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	if entries == nil {
		entries = []fleet.CustodyEntry{}
	}
	c.JSON(http.StatusOK, CustodyReport{Item: it, Entries: entries})
}

// ReasonRequest carries the written reason of a hold, release or deletion.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

func (ev *evidenceAPI) withReason(c *gin.Context, fn func(reason string) (fleet.EvidenceItem, error)) {
	var in ReasonRequest
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	if strings.TrimSpace(in.Reason) == "" {
		WriteError(c, fleet.Invalid("reason", "a written reason is required"))
		return
	}
	it, err := fn(in.Reason)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (ev *evidenceAPI) hold(c *gin.Context) {
	ev.withReason(c, func(r string) (fleet.EvidenceItem, error) {
		return ev.Vault.Hold(c.Request.Context(), Actor(c), c.Param("id"), r)
	})
}

func (ev *evidenceAPI) release(c *gin.Context) {
	ev.withReason(c, func(r string) (fleet.EvidenceItem, error) {
		return ev.Vault.Release(c.Request.Context(), Actor(c), c.Param("id"), r)
	})
}

func (ev *evidenceAPI) delete(c *gin.Context) {
	ev.withReason(c, func(r string) (fleet.EvidenceItem, error) {
		return ev.Vault.Delete(c.Request.Context(), Actor(c), c.Param("id"), r)
	})
}

func (ev *evidenceAPI) classify(c *gin.Context) {
	var in fleet.ClassifyInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	it, err := ev.Vault.Classify(c.Request.Context(), Actor(c), c.Param("id"), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (ev *evidenceAPI) verify(c *gin.Context) {
	var opts fleet.VerifyOptions
	if err := decodeOptional(c, &opts); err != nil {
		WriteError(c, err)
		return
	}
	rep, err := ev.Vault.Verify(c.Request.Context(), Actor(c), opts)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
