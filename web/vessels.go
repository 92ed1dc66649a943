package web

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
	"github.com/lawfleet/fleet/ingest/vessels"
)

// The vessels of the AIS picture: GET /api/v1/vessels and
// GET /api/v1/vessels/{mmsi}, for the command centre's map.
//
// Who sees what: AIS is broadcast in the clear, so every vessel's position
// and static data are shown to every user who may watch the live map
// (live.watch), and so is the enforcement flag, so that a commander can
// tell a neighbouring unit's patrol boat from a freighter. What the
// register knows is scoped as everywhere else: the device id of an
// enforcement vessel's AIS unit is shown only when that unit lies in the
// user's subtree.

// VesselSource is the live picture of vessels; *vessels.Tracker
// implements it.
type VesselSource interface {
	Vessels(f vessels.Filter) (items []vessels.Vessel, more bool)
	Vessel(mmsi uint32) (vessels.Vessel, bool)
}

// MountVessels connects the vessel routes to v. The routes themselves are
// always registered, so that the router and openapi.json agree; until
// MountVessels (or with a nil v) they answer 503. Call it before serving.
func MountVessels(s *Server, v VesselSource) { s.vessels = v }

func (s *Server) vesselRoutes() {
	s.api.GET("/vessels", s.vesselGate, s.listVessels)
	s.api.GET("/vessels/:mmsi", s.vesselGate, s.getVessel)
}

// vesselGate lets through users who may watch the live map, once vessel
// tracking is connected.
func (s *Server) vesselGate(c *gin.Context) {
	if actor := Actor(c); !actor.Role.Can(fleet.PermWatchLive) {
		WriteError(c, fleet.Errorf(fleet.EFORBIDDEN, "role %s may not watch the live map", actor.Role))
		return
	}
	if s.vessels == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "vessel tracking is not running on this server"))
		return
	}
	c.Next()
}

func (s *Server) listVessels(c *gin.Context) {
	var f vessels.Filter
	if v, ok := c.GetQuery("bbox"); ok {
		b, err := parseBBox(v)
		if err != nil {
			WriteError(c, err)
			return
		}
		f.BBox = &b
	}
	if c.Query("enforcement") != "" {
		b, err := boolQuery(c, "enforcement")
		if err != nil {
			WriteError(c, err)
			return
		}
		f.Enforcement = &b
	}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > vessels.MaxList {
			WriteError(c, fleet.Invalid("limit", "limit must be an integer from 1 to %d", vessels.MaxList))
			return
		}
		f.Limit = n
	}
	if v := c.Query("after"); v != "" {
		mmsi, ok := vessels.ParseMMSI(v)
		if !ok {
			WriteError(c, fleet.Invalid("after", "after must be the 9-digit MMSI of the previous page's next"))
			return
		}
		f.After = mmsi
	}

	items, more := s.vessels.Vessels(f)
	if err := s.scopeVessels(c.Request.Context(), Actor(c), items); err != nil {
		WriteError(c, err)
		return
	}
	next := ""
	if more && len(items) > 0 {
		next = items[len(items)-1].MMSI
	}
	WriteList(c, items, next)
}

func (s *Server) getVessel(c *gin.Context) {
	mmsi, ok := vessels.ParseMMSI(c.Param("mmsi"))
	if !ok {
		WriteError(c, fleet.Invalid("mmsi", "mmsi must be 9 digits"))
		return
	}
	v, ok := s.vessels.Vessel(mmsi)
	if !ok {
		WriteError(c, fleet.Errorf(fleet.ENOTFOUND, "no vessel %s heard recently", c.Param("mmsi")))
		return
	}
	items := []vessels.Vessel{v}
	if err := s.scopeVessels(c.Request.Context(), Actor(c), items); err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, items[0])
}

// parseBBox reads minLon,minLat,maxLon,maxLat in WGS-84 degrees.
func parseBBox(s string) (vessels.BBox, error) {
	const want = "bbox must be minLon,minLat,maxLon,maxLat in degrees"
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return vessels.BBox{}, fleet.Invalid("bbox", "%s: 4 numbers", want)
	}
	var n [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return vessels.BBox{}, fleet.Invalid("bbox", "%s: %q is not a number", want, p)
		}
		n[i] = f
	}
	b := vessels.BBox{MinLon: n[0], MinLat: n[1], MaxLon: n[2], MaxLat: n[3]}
	switch {
	case b.MinLon < -180 || b.MaxLon > 180 || b.MinLat < -90 || b.MaxLat > 90:
		return b, fleet.Invalid("bbox", "%s: longitudes within ±180, latitudes within ±90", want)
	case b.MinLon >= b.MaxLon || b.MinLat >= b.MaxLat:
		return b, fleet.Invalid("bbox", "%s: each minimum below its maximum", want)
	}
	return b, nil
}

// maxUnitPages bounds the listing of a user's AIS units (500 a page).
const maxUnitPages = 200

// scopeVessels blanks the device id of enforcement vessels whose AIS unit
// lies outside actor's subtree (see the top of this file).
func (s *Server) scopeVessels(ctx context.Context, actor fleet.User, items []vessels.Vessel) error {
	n := 0
	for i := range items {
		if items[i].DeviceID != "" {
			n++
		}
	}
	if n == 0 || actor.Scope() == "" { // nothing to hide, or a root administrator
		return nil
	}
	visible := map[string]bool{}
	if s.reg != nil {
		after := ""
		for range maxUnitPages {
			page, next, err := s.reg.Devices(ctx, actor, fleet.DeviceFilter{Kind: fleet.KindAISUnit,
				Page: fleet.Page{Limit: MaxListLimit, After: after}})
			if err != nil {
				return err
			}
			for _, d := range page {
				visible[d.ID] = true
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	for i := range items {
		if !visible[items[i].DeviceID] {
			items[i].DeviceID = ""
		}
	}
	return nil
}
