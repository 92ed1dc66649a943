package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// The register's resources: each handler decodes, calls the register with
// the signed-in user, and encodes. Rules live in package fleet.

// answer writes v with status, or the error.
func answer(c *gin.Context, status int, v any, err error) {
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(status, v)
}

// ---- units ----

func (s *Server) listUnits(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.UnitFilter{Page: page}
	if p := c.Query("parent_id"); p != "" {
		f.ParentID = &p
	}
	items, next, err := s.reg.Units(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (s *Server) createUnit(c *gin.Context) {
	var in fleet.UnitInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	u, err := s.reg.CreateUnit(c.Request.Context(), Actor(c), in)
	answer(c, http.StatusCreated, u, err)
}

func (s *Server) getUnit(c *gin.Context) {
	u, err := s.reg.Unit(c.Request.Context(), Actor(c), c.Param("id"))
	answer(c, http.StatusOK, u, err)
}

func (s *Server) updateUnit(c *gin.Context) {
	var p fleet.UnitPatch
	if err := DecodeJSON(c, &p); err != nil {
		WriteError(c, err)
		return
	}
	u, err := s.reg.UpdateUnit(c.Request.Context(), Actor(c), c.Param("id"), p)
	answer(c, http.StatusOK, u, err)
}

// ---- officers ----

func (s *Server) listOfficers(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.OfficerFilter{UnitID: c.Query("unit_id"), Query: c.Query("q"), Page: page}
	items, next, err := s.reg.Officers(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (s *Server) createOfficer(c *gin.Context) {
	var in fleet.OfficerInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	o, err := s.reg.CreateOfficer(c.Request.Context(), Actor(c), in)
	answer(c, http.StatusCreated, o, err)
}

func (s *Server) getOfficer(c *gin.Context) {
	o, err := s.reg.Officer(c.Request.Context(), Actor(c), c.Param("id"))
	answer(c, http.StatusOK, o, err)
}

func (s *Server) updateOfficer(c *gin.Context) {
	var p fleet.OfficerPatch
	if err := DecodeJSON(c, &p); err != nil {
		WriteError(c, err)
		return
	}
	res, err := s.reg.UpdateOfficer(c.Request.Context(), Actor(c), c.Param("id"), p)
	answer(c, http.StatusOK, res, err)
}

func (s *Server) officerHistory(c *gin.Context) {
	vs, err := s.reg.OfficerHistory(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, vs, "")
}

// ---- devices ----

func (s *Server) listDevices(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	actor := Actor(c)
	if serial := c.Query("serial"); serial != "" {
		// A barcode scan: exact match, answered as a list of zero or one.
		d, err := s.reg.DeviceBySerial(c.Request.Context(), actor, serial)
		switch {
		case isCode(err, fleet.ENOTFOUND):
			WriteList(c, []fleet.Device{}, "")
		case err != nil:
			WriteError(c, err)
		default:
			WriteList(c, []fleet.Device{d}, "")
		}
		return
	}
	f := fleet.DeviceFilter{Kind: fleet.DeviceKind(c.Query("kind")), Status: fleet.DeviceStatus(c.Query("status")),
		UnitID: c.Query("unit_id"), Query: c.Query("q"), Page: page}
	if f.Kind != "" && !f.Kind.Valid() {
		WriteError(c, fleet.Invalid("kind", "kind must be recorder, vehicle_terminal or ais_unit"))
		return
	}
	if f.Status != "" && !f.Status.Valid() {
		WriteError(c, fleet.Invalid("status", "status must be in_stock, assigned, in_repair, lost or retired"))
		return
	}
	items, next, err := s.reg.Devices(c.Request.Context(), actor, f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (s *Server) createDevice(c *gin.Context) {
	var in fleet.DeviceInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	d, err := s.reg.CreateDevice(c.Request.Context(), Actor(c), in)
	if err == nil {
		c.Header("Location", "/api/v1/devices/"+d.ID)
	}
	answer(c, http.StatusCreated, d, err)
}

func (s *Server) getDevice(c *gin.Context) {
	d, err := s.reg.Device(c.Request.Context(), Actor(c), c.Param("id"))
	answer(c, http.StatusOK, d, err)
}

func (s *Server) updateDevice(c *gin.Context) {
	var p fleet.DevicePatch
	if err := DecodeJSON(c, &p); err != nil {
		WriteError(c, err)
		return
	}
	d, err := s.reg.UpdateDevice(c.Request.Context(), Actor(c), c.Param("id"), p)
	answer(c, http.StatusOK, d, err)
}

func (s *Server) deviceHistory(c *gin.Context) {
	cs, err := s.reg.DeviceHistory(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, cs, "")
}

func (s *Server) rotateSecret(c *gin.Context) {
	d, err := s.reg.RotateDeviceSecret(c.Request.Context(), Actor(c), c.Param("id"))
	answer(c, http.StatusOK, d, err)
}

// ---- assignments ----

func (s *Server) checkout(c *gin.Context) {
	var in fleet.CheckoutInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	a, err := s.reg.Checkout(c.Request.Context(), Actor(c), c.Param("id"), in)
	answer(c, http.StatusCreated, a, err)
}

func (s *Server) checkin(c *gin.Context) {
	var in fleet.CheckinInput
	if err := decodeOptional(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	a, err := s.reg.Checkin(c.Request.Context(), Actor(c), c.Param("id"), in)
	answer(c, http.StatusOK, a, err)
}

func (s *Server) listAssignments(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	open, err := boolQuery(c, "open")
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.AssignmentFilter{DeviceID: c.Query("device"), OfficerID: c.Query("officer"), OpenOnly: open, Page: page}
	if v := c.Query("since"); v != "" {
		if f.Since, err = parseSince(v); err != nil {
			WriteError(c, err)
			return
		}
	}
	switch c.Query("order") {
	case "", "oldest":
	case "newest":
		f.NewestFirst = true
	default:
		WriteError(c, fleet.Invalid("order", "order must be oldest or newest"))
		return
	}
	items, next, err := s.reg.Assignments(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

// parseSince reads a day (YYYY-MM-DD, from its start in China time) or an
// RFC 3339 instant.
func parseSince(v string) (time.Time, error) {
	if d, err := fleet.ParseDate(v); err == nil && d.InRange() {
		return d.Start(), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fleet.Invalid("since", "since must be YYYY-MM-DD or an RFC 3339 time")
}

// ---- users ----

func (s *Server) listUsers(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := s.reg.Users(c.Request.Context(), Actor(c), fleet.UserFilter{Page: page})
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (s *Server) createUser(c *gin.Context) {
	var in fleet.UserInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	u, err := s.reg.CreateUser(c.Request.Context(), Actor(c), in)
	answer(c, http.StatusCreated, u, err)
}

func (s *Server) getUser(c *gin.Context) {
	u, err := s.reg.User(c.Request.Context(), Actor(c), c.Param("id"))
	answer(c, http.StatusOK, u, err)
}

func (s *Server) updateUser(c *gin.Context) {
	var p fleet.UserPatch
	if err := DecodeJSON(c, &p); err != nil {
		WriteError(c, err)
		return
	}
	u, err := s.reg.UpdateUser(c.Request.Context(), Actor(c), c.Param("id"), p)
	answer(c, http.StatusOK, u, err)
}

// ---- audit (read only: the log has no write endpoint) ----

func (s *Server) listAudit(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.AuditFilter{Entity: c.Query("entity"), EntityID: c.Query("entity_id"), ActorID: c.Query("actor"), Page: page}
	items, next, err := s.reg.Audit(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}
