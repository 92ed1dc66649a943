package fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Full-process recording (执法全过程记录), DOMAIN.md "Records and
// evidence": an enforcement case (案件) goes through nodes — inspection,
// evidence collection, notification, decision, service of documents — and
// each node must have its audio-video record. A node with no recording is
// a listed failure (执法节点缺失记录), and legal/audit staff review at
// least 10% of a year's cases (案卷评查).

// CaseStatus is open until the case is closed (办结).
type CaseStatus string

const (
	CaseOpen   CaseStatus = "open"
	CaseClosed CaseStatus = "closed"
)

// EnforcementCase is one case file. Number is the agency's case number
// (案号), unique; it is what evidence items carry in case_number.
type EnforcementCase struct {
	ID       string     `json:"id"`
	Number   string     `json:"number"`
	Title    string     `json:"title,omitempty"`
	UnitID   string     `json:"unit_id"`
	UnitPath string     `json:"-"` // filled in by the store
	Status   CaseStatus `json:"status"`
	OpenedAt time.Time  `json:"opened_at"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	// CreatedBy is the user who opened it in the system.
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Version   int       `json:"version"`
}

// CaseInput opens a case.
type CaseInput struct {
	Number   string    `json:"number"`
	Title    string    `json:"title"`
	UnitID   string    `json:"unit_id"`
	OpenedAt time.Time `json:"opened_at"`
}

// NodeKind is a stage of the enforcement process that must be recorded.
type NodeKind string

const (
	NodeInspection         NodeKind = "inspection"          // 检查
	NodeEvidenceCollection NodeKind = "evidence_collection" // 调查取证
	NodeNotification       NodeKind = "notification"        // 告知
	NodeDecision           NodeKind = "decision"            // 决定
	NodeService            NodeKind = "service"             // 送达
)

func (k NodeKind) Valid() bool {
	switch k {
	case NodeInspection, NodeEvidenceCollection, NodeNotification, NodeDecision, NodeService:
		return true
	}
	return false
}

// CaseNode is one node of a case: what was done, when, by which officer.
// Its window is [StartAt, EndAt]; a node without an end is an instant.
type CaseNode struct {
	ID        string     `json:"id"`
	CaseID    string     `json:"case_id"`
	Kind      NodeKind   `json:"kind"`
	StartAt   time.Time  `json:"start_at"`
	EndAt     *time.Time `json:"end_at,omitempty"`
	OfficerID string     `json:"officer_id"`
	Note      string     `json:"note,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
}

// CaseNodeInput adds a node. OfficerID defaults to the signed-in user's
// officer.
type CaseNodeInput struct {
	Kind      NodeKind   `json:"kind"`
	StartAt   time.Time  `json:"start_at"`
	EndAt     *time.Time `json:"end_at"`
	OfficerID string     `json:"officer_id"`
	Note      string     `json:"note"`
}

// CaseLink ties an evidence item to a case, and optionally to one node
// of it (NodeID "" is the case as a whole).
type CaseLink struct {
	CaseID   string    `json:"case_id"`
	ItemID   string    `json:"item_id"`
	NodeID   string    `json:"node_id,omitempty"`
	LinkedBy string    `json:"linked_by"`
	LinkedAt time.Time `json:"linked_at"`
}

// CaseLinkInput links an item; Reason goes into the item's custody.
type CaseLinkInput struct {
	ItemID string `json:"item_id"`
	NodeID string `json:"node_id"`
	Reason string `json:"reason"`
}

// CaseFile is a case with its nodes and links, as the API shows it.
type CaseFile struct {
	EnforcementCase
	Nodes []CaseNode `json:"nodes"`
	Links []CaseLink `json:"links"`
}

// CaseFilter selects cases. Scope is set by the service.
type CaseFilter struct {
	Scope  string
	UnitID string
	Status CaseStatus
	// ClosedFrom, ClosedTo select cases closed in [ClosedFrom, ClosedTo).
	ClosedFrom, ClosedTo *time.Time
	// OpenedFrom, OpenedTo select cases opened in [OpenedFrom, OpenedTo).
	OpenedFrom, OpenedTo *time.Time
	Page
}

// span is a closed time interval; an instant has End == Start.
type span struct{ Start, End time.Time }

func (s span) overlaps(o span) bool { return !s.Start.After(o.End) && !o.Start.After(s.End) }

func (n CaseNode) window() span {
	if n.EndAt != nil {
		return span{n.StartAt, *n.EndAt}
	}
	return span{n.StartAt, n.StartAt}
}

// recorded is the span an item's recording covers: to its end, else its
// duration, else the instant it started (a photo).
func recorded(it EvidenceItem) span {
	switch {
	case it.EndAt != nil:
		return span{it.StartAt, *it.EndAt}
	case it.DurationMS > 0:
		return span{it.StartAt, it.StartAt.Add(time.Duration(it.DurationMS) * time.Millisecond)}
	}
	return span{it.StartAt, it.StartAt}
}

// LinkedItem is an item linked to a case, with the link.
type LinkedItem struct {
	Link CaseLink
	Item EvidenceItem
}

// NodeCovered reports whether node has its recording among the case's
// linked items: a live item that overlaps the node's window and was
// either recorded by the node's officer or linked to this node
// explicitly (a colleague's recorder filmed it). An explicit link still
// needs the overlap: footage from another hour does not record the node.
func NodeCovered(node CaseNode, linked []LinkedItem) bool {
	w := node.window()
	for _, l := range linked {
		if l.Item.DeletedAt != nil || !recorded(l.Item).overlaps(w) {
			continue
		}
		if l.Link.NodeID == node.ID || (l.Item.OfficerID != "" && l.Item.OfficerID == node.OfficerID) {
			return true
		}
	}
	return false
}

// MissingRecord is a node without a recording (执法节点缺失记录).
type MissingRecord struct {
	CaseID     string     `json:"case_id"`
	CaseNumber string     `json:"case_number"`
	UnitID     string     `json:"unit_id"`
	Node       CaseNode   `json:"node"`
	CaseStatus CaseStatus `json:"case_status"`
}

// MissingRecordsReport lists the uncovered nodes of a unit's subtree.
type MissingRecordsReport struct {
	UnitID       string          `json:"unit_id"`
	From         *time.Time      `json:"from,omitempty"`
	To           *time.Time      `json:"to,omitempty"`
	CasesChecked int             `json:"cases_checked"`
	NodesChecked int             `json:"nodes_checked"`
	Missing      []MissingRecord `json:"missing"`
}

// Review sampling (案卷评查).
const (
	DefaultReviewPercent = 10
	MinReviewPercent     = 10
)

// ReviewSample is the cases drawn for review of a unit's year.
type ReviewSample struct {
	UnitID  string `json:"unit_id"`
	Year    int    `json:"year"`
	Percent int    `json:"percent"`
	// Seed is what the draw is derived from ("unit_id:year"): the same
	// seed over the same cases draws the same sample, so an auditor can
	// re-run it and get the cases the reviewers got.
	Seed       string          `json:"seed"`
	TotalCases int             `json:"total_cases"`
	Strata     []ReviewStratum `json:"strata"`
	Cases      []ReviewedCase  `json:"cases"`
}

// ReviewStratum is one sub-unit's share of the sample.
type ReviewStratum struct {
	UnitID  string `json:"unit_id"`
	Cases   int    `json:"cases"`
	Sampled int    `json:"sampled"`
}

// ReviewedCase is a drawn case and the stratum it was drawn from.
type ReviewedCase struct {
	EnforcementCase
	StratumUnitID string `json:"stratum_unit_id"`
}

// stratumOf is the sub-unit of root (path rootPath) that a case of unit
// path belongs to: root's direct child on the path, or root itself for
// cases filed at root.
func stratumOf(rootID, rootPath, path string) string {
	rest := strings.TrimPrefix(path, rootPath)
	if id, _, ok := strings.Cut(rest, "/"); ok && id != "" {
		return id
	}
	return rootID
}

// drawKey orders a stratum's cases for the draw: SHA-256 of the seed
// and the case number. It depends on nothing but the seed and the case
// itself, so neither insertion order nor cases added to other units
// change which cases of a stratum come first.
func drawKey(seed, number string) string {
	h := sha256.Sum256([]byte(seed + "\x00" + number))
	return hex.EncodeToString(h[:])
}

// SampleCases draws at least percent of the cases from every stratum
// (rounded up, so every sub-unit with cases is represented and the whole
// sample is at least percent of the total). unitOf gives a case's
// stratum. The result is ordered by stratum, then draw order.
func SampleCases(seed string, percent int, cases []EnforcementCase, stratum func(EnforcementCase) string) ([]ReviewStratum, []ReviewedCase) {
	groups := map[string][]EnforcementCase{}
	for _, c := range cases {
		s := stratum(c)
		groups[s] = append(groups[s], c)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	strata := make([]ReviewStratum, 0, len(keys))
	drawn := []ReviewedCase{}
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g, func(a, b EnforcementCase) int {
			return cmp.Or(cmp.Compare(drawKey(seed, a.Number), drawKey(seed, b.Number)), cmp.Compare(a.ID, b.ID))
		})
		n := (len(g)*percent + 99) / 100
		for _, c := range g[:n] {
			drawn = append(drawn, ReviewedCase{EnforcementCase: c, StratumUnitID: k})
		}
		strata = append(strata, ReviewStratum{UnitID: k, Cases: len(g), Sampled: n})
	}
	return strata, drawn
}

// ReviewSeed is the seed of a unit's year.
func ReviewSeed(unitID string, year int) string { return unitID + ":" + strconv.Itoa(year) }

// CaseStore is the storage of cases. The SQL adapter implements it over
// the same database as the vault, so a link, the item's new retention
// and its custody entry commit together.
type CaseStore interface {
	UpdateCases(ctx context.Context, fn func(CaseTx) error) error
	ViewCases(ctx context.Context, fn func(CaseTx) error) error
}

// CaseTx is a transaction over the register, the vault and the cases.
// Missing records are ENOTFOUND, a duplicate case number ECONFLICT.
type CaseTx interface {
	EvidenceTx

	Case(ctx context.Context, id string) (EnforcementCase, error)
	Cases(ctx context.Context, f CaseFilter) ([]EnforcementCase, string, error)
	CreateCase(ctx context.Context, c EnforcementCase) error
	// UpdateCase saves status and closing date if c is still at c.Version.
	UpdateCase(ctx context.Context, c EnforcementCase) error

	CaseNodes(ctx context.Context, caseID string) ([]CaseNode, error)
	CreateCaseNode(ctx context.Context, n CaseNode) error

	// CaseLinks lists a case's links with their items, by item id.
	CaseLinks(ctx context.Context, caseID string) ([]LinkedItem, error)
	// CreateCaseLink stores a link; the same (item, node) twice is ECONFLICT.
	CreateCaseLink(ctx context.Context, l CaseLink) error
}
