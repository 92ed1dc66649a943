package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// The full-process recording API (执法全过程记录): enforcement cases, their
// nodes and their links to evidence, the missing-records report
// (执法节点缺失记录) and the review sample (案卷评查). Who may do what is
// decided in fleet (caseRoles): officers open cases, record nodes and
// link their own recordings in their unit's subtree; auditors read and
// run the reports; administrators do everything.

type caseAPI struct {
	cases *fleet.Cases
	err   error // why cases is nil: the routes answer it (503)
}

// caseRoutes registers the case routes over the evidence vault's store;
// without a vault they answer 503. They are described in openapi.json.
func (s *Server) caseRoutes() {
	ca := &caseAPI{}
	if s.ev != nil {
		ca.cases, ca.err = fleet.NewCases(s.ev.Vault)
	} else {
		ca.err = fleet.Errorf(fleet.EUNAVAILABLE, "the evidence vault is not configured on this server")
	}
	a := s.api.Group("/cases", ca.available)
	a.GET("", ca.list)
	a.POST("", ca.create)
	a.GET("/missing-records", ca.missingRecords)
	a.GET("/review-sample", ca.reviewSample)
	a.GET("/:id", ca.get)
	a.POST("/:id/nodes", ca.addNode)
	a.POST("/:id/links", ca.link)
	a.POST("/:id/close", ca.close)
}

func (ca *caseAPI) available(c *gin.Context) {
	if ca.cases == nil {
		WriteError(c, ca.err)
		return
	}
	c.Next()
}

func (ca *caseAPI) list(c *gin.Context) {
	p, err := pageOf(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	f := fleet.CaseFilter{UnitID: c.Query("unit"), Status: fleet.CaseStatus(c.Query("status")), Page: p}
	items, next, err := ca.cases.List(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	WriteList(c, items, next)
}

func (ca *caseAPI) create(c *gin.Context) {
	var in fleet.CaseInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	cs, err := ca.cases.Create(c.Request.Context(), Actor(c), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, cs)
}

func (ca *caseAPI) get(c *gin.Context) {
	f, err := ca.cases.Get(c.Request.Context(), Actor(c), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, f)
}

func (ca *caseAPI) addNode(c *gin.Context) {
	var in fleet.CaseNodeInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	n, err := ca.cases.AddNode(c.Request.Context(), Actor(c), c.Param("id"), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, n)
}

// CaseLinkResult is a new link with the item as it now is (category
// case, retention until the case closes plus the policy's years).
type CaseLinkResult struct {
	Link fleet.CaseLink     `json:"link"`
	Item fleet.EvidenceItem `json:"item"`
}

func (ca *caseAPI) link(c *gin.Context) {
	var in fleet.CaseLinkInput
	if err := DecodeJSON(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	l, it, err := ca.cases.Link(c.Request.Context(), Actor(c), c.Param("id"), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, CaseLinkResult{Link: l, Item: it})
}

func (ca *caseAPI) close(c *gin.Context) {
	var in fleet.CloseInput
	if err := decodeOptional(c, &in); err != nil {
		WriteError(c, err)
		return
	}
	cs, err := ca.cases.Close(c.Request.Context(), Actor(c), c.Param("id"), in)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, cs)
}

func (ca *caseAPI) missingRecords(c *gin.Context) {
	f := fleet.MissingRecordsFilter{UnitID: c.Query("unit")}
	var err error
	if f.From, err = timeQuery(c, "from"); err != nil {
		WriteError(c, err)
		return
	}
	if f.To, err = timeQuery(c, "to"); err != nil {
		WriteError(c, err)
		return
	}
	rep, err := ca.cases.MissingRecords(c.Request.Context(), Actor(c), f)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

func intQuery(c *gin.Context, name string) (int, error) {
	s := c.Query(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fleet.Invalid(name, "%s must be a whole number", name)
	}
	return n, nil
}

func (ca *caseAPI) reviewSample(c *gin.Context) {
	year, err := intQuery(c, "year")
	if err != nil {
		WriteError(c, err)
		return
	}
	percent, err := intQuery(c, "percent")
	if err != nil {
		WriteError(c, err)
		return
	}
	if c.Query("year") == "" {
		WriteError(c, fleet.Invalid("year", "year is required"))
		return
	}
	s, err := ca.cases.ReviewSample(c.Request.Context(), Actor(c), c.Query("unit"), year, percent)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}
