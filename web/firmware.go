package web

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/firmware"
	"github.com/lawfleet/fleet/fleet"
)

// Firmware over the air (issue 9). Managers upload signed images and run
// campaigns with the bearer-token routes; devices download the image they
// were told to install from the public download route, with the job token
// of their firmware.update command in the query, or with HTTP Basic (device
// id and MQTT secret). Downloads honour Range, so a weak 4G link resumes.

// FirmwareService is what the firmware routes need (*firmware.Manager).
type FirmwareService interface {
	UploadImage(ctx context.Context, actor fleet.User, in firmware.ImageInput, r io.Reader) (firmware.Image, error)
	Images(ctx context.Context, actor fleet.User, model string, p fleet.Page) ([]firmware.Image, string, error)
	Image(ctx context.Context, actor fleet.User, id string) (firmware.Image, error)
	CreateCampaign(ctx context.Context, actor fleet.User, in firmware.CampaignInput) (firmware.CampaignView, error)
	Campaigns(ctx context.Context, actor fleet.User, p fleet.Page) ([]firmware.CampaignView, string, error)
	Campaign(ctx context.Context, actor fleet.User, id string) (firmware.CampaignView, error)
	CampaignJobs(ctx context.Context, actor fleet.User, id string) ([]firmware.Job, error)
	Pause(ctx context.Context, actor fleet.User, id, reason string) (firmware.CampaignView, error)
	Resume(ctx context.Context, actor fleet.User, id, reason string) (firmware.CampaignView, error)
	Cancel(ctx context.Context, actor fleet.User, id, reason string) (firmware.CampaignView, error)
	OpenDownload(ctx context.Context, imageID string, cr firmware.DownloadCredentials) (firmware.Image, fleet.Blob, error)
}

// Error codes of refused images (status 422).
const (
	EBadSignatureCode = firmware.EBadSignature
	firmwareRealm     = `Basic realm="fleet-firmware", charset="UTF-8"`
)

type firmwareAPI struct {
	svc atomic.Pointer[FirmwareService]
}

// MountFirmware serves the firmware routes with svc; until then they
// answer 503.
func (s *Server) MountFirmware(svc FirmwareService) { s.firmwareAPI().svc.Store(&svc) }

func (s *Server) firmwareAPI() *firmwareAPI {
	if s.fw == nil {
		s.fw = &firmwareAPI{}
	}
	return s.fw
}

// firmwareRoutes registers the firmware routes; they are described in
// openapi.json.
func (s *Server) firmwareRoutes() {
	fw := s.firmwareAPI()
	a := s.api.Group("/firmware", fw.available)
	a.GET("/images", fw.listImages)
	a.POST("/images", fw.upload)
	a.GET("/images/:id", fw.getImage)
	a.GET("/campaigns", fw.listCampaigns)
	a.POST("/campaigns", fw.createCampaign)
	a.GET("/campaigns/:id", fw.getCampaign)
	a.GET("/campaigns/:id/jobs", fw.listJobs)
	a.POST("/campaigns/:id/pause", fw.act(FirmwareService.Pause))
	a.POST("/campaigns/:id/resume", fw.act(FirmwareService.Resume))
	a.POST("/campaigns/:id/cancel", fw.act(FirmwareService.Cancel))

	p := s.public.Group("/firmware", fw.available)
	p.GET("/images/:id/download", fw.download)
	p.HEAD("/images/:id/download", fw.download)
}

func (fw *firmwareAPI) service() FirmwareService {
	if p := fw.svc.Load(); p != nil {
		return *p
	}
	return nil
}

func (fw *firmwareAPI) available(c *gin.Context) {
	if fw.service() == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "firmware updates are not configured on this server"))
		return
	}
	c.Next()
}

// writeFirmwareError is WriteError with 422 for an image whose bytes or
// signature do not check out, under its own code.
func writeFirmwareError(c *gin.Context, err error) {
	msg := fleet.ErrorMessage(err)
	for _, code := range []string{firmware.EBadSignature, firmware.EHashMismatch} {
		if fleet.ErrorCode(err) != fleet.EINTERNAL && strings.HasPrefix(msg, code+":") {
			c.AbortWithStatusJSON(http.StatusUnprocessableEntity, ErrorBody{Error: ErrorDetail{
				Code: code, Message: msg, Field: fleet.ErrorField(err)}})
			return
		}
	}
	WriteError(c, err)
}

// upload takes multipart/form-data: the text fields model, version,
// release_notes, signature and sha256 first, then the part "file", which
// is streamed through the hash to disk, never held in memory.
func (fw *firmwareAPI) upload(c *gin.Context) {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		WriteError(c, &fleet.Error{Code: EMEDIATYPE, Field: "Content-Type",
			Message: "send the image as multipart/form-data: fields model, version, release_notes, signature, sha256, then \"file\""})
		return
	}
	mr := multipart.NewReader(c.Request.Body, params["boundary"])
	var in firmware.ImageInput
	fields := map[string]*string{"model": &in.Model, "version": &in.Version, "release_notes": &in.ReleaseNotes,
		"signature": &in.Signature, "sha256": &in.SHA256}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			WriteError(c, fleet.Invalid("file", "the form has no part \"file\""))
			return
		} else if err != nil {
			WriteError(c, fleet.Invalid("file", "the multipart body is malformed"))
			return
		}
		name := part.FormName()
		if name == "file" {
			img, err := fw.service().UploadImage(c.Request.Context(), Actor(c), in, part)
			if err != nil {
				writeFirmwareError(c, err)
				return
			}
			c.JSON(http.StatusCreated, img)
			return
		}
		dst, ok := fields[name]
		if !ok {
			WriteError(c, fleet.Invalid(name, "unknown field %q; the fields are model, version, release_notes, signature, sha256 and file", name))
			return
		}
		// Fields are short; 8 KiB bounds release notes with room to spare.
		b, err := io.ReadAll(io.LimitReader(part, 8<<10+1))
		if err != nil || len(b) > 8<<10 {
			WriteError(c, fleet.Invalid(name, "%s is too long or unreadable", name))
			return
		}
		*dst = string(b)
	}
}

func (fw *firmwareAPI) listImages(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := fw.service().Images(c.Request.Context(), Actor(c), c.Query("model"), p)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (fw *firmwareAPI) getImage(c *gin.Context) {
	img, err := fw.service().Image(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, img)
}

func (fw *firmwareAPI) createCampaign(c *gin.Context) {
	var in firmware.CampaignInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	v, err := fw.service().CreateCampaign(c.Request.Context(), Actor(c), in)
	if err != nil {
		writeFirmwareError(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (fw *firmwareAPI) listCampaigns(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := fw.service().Campaigns(c.Request.Context(), Actor(c), p)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (fw *firmwareAPI) getCampaign(c *gin.Context) {
	v, err := fw.service().Campaign(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (fw *firmwareAPI) listJobs(c *gin.Context) {
	jobs, err := fw.service().CampaignJobs(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, jobs, "")
}

// CampaignAction is the optional body of pause, resume and cancel.
type CampaignAction struct {
	Reason string `json:"reason"`
}

func (fw *firmwareAPI) act(fn func(FirmwareService, context.Context, fleet.User, string, string) (firmware.CampaignView, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in CampaignAction
		if err := decodeOptional(c, &in); err != nil {
			WriteError(c, err)
			return
		}
		v, err := fn(fw.service(), c.Request.Context(), Actor(c), c.Param("id"), in.Reason)
		if err != nil {
			WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}

// download serves an image to a device that was told to install it, with
// Range and If-Range (http.ServeContent), so an interrupted download
// resumes where it stopped.
func (fw *firmwareAPI) download(c *gin.Context) {
	cr := firmware.DownloadCredentials{JobID: c.Query("job"), Token: c.Query("token")}
	if id, secret, ok := c.Request.BasicAuth(); ok {
		cr.DeviceID, cr.Secret = id, secret
	}
	img, blob, err := fw.service().OpenDownload(c.Request.Context(), c.Param("id"), cr)
	if err != nil {
		if isCode(err, fleet.EUNAUTHORIZED) {
			c.Header("WWW-Authenticate", firmwareRealm)
		}
		WriteError(c, err)
		return
	}
	defer blob.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+img.SHA256+`"`) // a strong validator: If-Range resumes only the same bytes
	h.Set("X-Content-SHA256", img.SHA256)
	h.Set("X-Firmware-Signature", img.Signature)
	h.Set("X-Firmware-Version", img.Version)
	http.ServeContent(c.Writer, c.Request, "", img.UploadedAt, blob)
}
