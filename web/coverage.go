package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// Coverage toward the 2026 target (配置率): the report of a unit and its
// children on a day, the lists a manager acts on, the monthly series, the
// provinces' milestone plans, and the report as XLSX or CSV to send
// upward (coverage_export.go). The figures and every rule, scope and
// permission included, come from fleet.Coverage; these handlers only
// translate. A unit outside the user's subtree is not found (404).

// MountCoverage connects the coverage routes to the engine. The routes
// are always registered, so that the router and openapi.json agree; until
// MountCoverage (or with a nil engine) they answer 503. Call it before
// serving.
func MountCoverage(s *Server, c *fleet.Coverage) { s.cov = c }

func (s *Server) coverageRoutes() {
	g := s.api.Group("/coverage", s.coverageGate)
	g.GET("", s.coverageReport)
	g.GET("/actions", s.coverageActions)
	g.GET("/series", s.coverageSeries)
	g.GET("/milestones", s.getMilestones)
	g.PUT("/milestones", s.putMilestones)
	g.GET("/export", s.coverageExport)
}

func (s *Server) coverageGate(c *gin.Context) {
	if s.cov == nil {
		WriteError(c, fleet.Errorf(fleet.EUNAVAILABLE, "coverage reports are not running on this server"))
		return
	}
	c.Next()
}

// DefaultCoverageDepth is how many levels of children a report includes
// unless depth says otherwise: the unit's direct children, as a manager
// drills down one level at a time.
const DefaultCoverageDepth = 1

// coverageQuery reads unit, at and depth (0 to 3, or "all").
func coverageQuery(c *gin.Context) (fleet.CoverageQuery, error) {
	q := fleet.CoverageQuery{UnitID: c.Query("unit"), Depth: DefaultCoverageDepth}
	var err error
	if q.At, err = covDateQuery(c, "at"); err != nil {
		return q, err
	}
	switch d := c.Query("depth"); d {
	case "":
	case "all":
		q.Depth = fleet.CoverageDepthAll
	default:
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 3 {
			return q, fleet.Invalid("depth", "depth must be 0, 1, 2, 3 or all")
		}
		q.Depth = n
	}
	return q, nil
}

// covDateQuery reads an optional YYYY-MM-DD query parameter.
func covDateQuery(c *gin.Context, name string) (fleet.Date, error) {
	v := c.Query(name)
	if v == "" {
		return fleet.Date{}, nil
	}
	d, err := fleet.ParseDate(v)
	if err != nil {
		return fleet.Date{}, fleet.Invalid(name, "%s must be a date YYYY-MM-DD", name)
	}
	return d, nil
}

func (s *Server) coverageReport(c *gin.Context) {
	q, err := coverageQuery(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	r, err := s.cov.Report(c.Request.Context(), Actor(c), q)
	answer(c, http.StatusOK, r, err)
}

func (s *Server) coverageActions(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	q := fleet.ActionQuery{UnitID: c.Query("unit"), List: c.Query("list"), Page: page}
	if q.At, err = covDateQuery(c, "at"); err != nil {
		WriteError(c, err)
		return
	}
	if v := c.Query("days"); v != "" {
		if q.Days, err = strconv.Atoi(v); err != nil || q.Days < 1 {
			WriteError(c, fleet.Invalid("days", "days must be a whole number from 1 to %d", fleet.MaxActionDays))
			return
		}
	}
	if q.List == "" {
		WriteError(c, fleet.Invalid("list", "list is required: unequipped, to_take_back, cert_due or not_seen"))
		return
	}
	l, err := s.cov.Actions(c.Request.Context(), Actor(c), q)
	answer(c, http.StatusOK, l, err)
}

func (s *Server) coverageSeries(c *gin.Context) {
	from, err := covDateQuery(c, "from")
	if err != nil {
		WriteError(c, err)
		return
	}
	to, err := covDateQuery(c, "to")
	if err != nil {
		WriteError(c, err)
		return
	}
	series, err := s.cov.Series(c.Request.Context(), Actor(c), c.Query("unit"), from, to)
	answer(c, http.StatusOK, series, err)
}

func (s *Server) getMilestones(c *gin.Context) {
	m, err := s.cov.Milestones(c.Request.Context(), Actor(c), c.Query("province"))
	answer(c, http.StatusOK, m, err)
}

func (s *Server) putMilestones(c *gin.Context) {
	var in fleet.MilestoneInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	m, err := s.cov.SetMilestones(c.Request.Context(), Actor(c), c.Query("province"), in)
	answer(c, http.StatusOK, m, err)
}
